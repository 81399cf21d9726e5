"""Local development: zero set-up. Debug on, localhost only, fixed development keys."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-secret-key-change-me-0123456789abcdef")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# A fixed development Fernet key so `make run` works on a fresh machine. Never used in production.
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=["bG9jYWwtZGV2LW9ubHktZmVybmV0LWtleS0wMDAwMDA="])
ATLASSIAN_LICENSING_ENFORCED = env.bool("ATLASSIAN_LICENSING_ENFORCED", default=False)

"""Test settings: fast, deterministic, loopback fakes allowed."""

from .base import *  # noqa: F403
from .base import Q_CLUSTER, env

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-production-0123456789"
ALLOWED_HOSTS = ["*"]
FIELD_ENCRYPTION_KEY = ["dGVzdC1vbmx5LWZlcm5ldC1rZXktMDAwMDAwMDAwMDA="]
APP_BASE_URL = "https://deskbridge.test"
ATLASSIAN_APP_KEY = "com.deskbridge.jira.test"
JIRA_ALLOWED_BASE_URLS = ["https://*.atlassian.net", "http://127.0.0.1:*"]
ATLASSIAN_LICENSING_ENFORCED = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
HTTP_CONNECT_TIMEOUT_SECONDS = 2.0
HTTP_READ_TIMEOUT_SECONDS = 5.0
INSTALL_KEYS_TIMEOUT_SECONDS = 2.0
# Tests change tenant rows directly between requests; the cache has its own test that switches it on.
TENANT_CACHE_SECONDS = 0
# Q_CLUSTER["sync"] is read at import time by django-q2: set here, not with override_settings.
Q_CLUSTER = {**Q_CLUSTER, "sync": env.bool("Q_SYNC", default=True)}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tests run inside one transaction that other threads cannot see: the engine works issues in the calling
# thread, except in the tests that switch threads on (transactional, PostgreSQL).
SYNC_PARALLEL_ISSUES = env.int("SYNC_PARALLEL_ISSUES", default=1)

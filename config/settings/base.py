"""Settings shared by every environment. Every knob comes from the environment (see .env.example)."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# Reading .env is opt-in; the real environment always wins over the file.
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default=None)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])

# The public base URL of this deployment: descriptor baseUrl and install-JWT audience.
APP_BASE_URL = env("APP_BASE_URL", default="http://localhost:8000").rstrip("/")
ATLASSIAN_APP_KEY = env("ATLASSIAN_APP_KEY", default="com.deskbridge.jira")
ATLASSIAN_APP_NAME = env("ATLASSIAN_APP_NAME", default="Deskbridge")
ATLASSIAN_APP_VENDOR_NAME = env("ATLASSIAN_APP_VENDOR_NAME", default="Deskbridge")
ATLASSIAN_APP_VENDOR_URL = env("ATLASSIAN_APP_VENDOR_URL", default="https://deskbridge.example.com")
ATLASSIAN_INSTALL_KEYS_URL = env(
    "ATLASSIAN_INSTALL_KEYS_URL", default="https://connect-install-keys.atlassian.com"
).rstrip("/")
JIRA_ALLOWED_BASE_URLS = env.list("JIRA_ALLOWED_BASE_URLS", default=["https://*.atlassian.net"])
# Sites whose base URL matches one of these are development installs: never licence-gated.
ATLASSIAN_DEVELOPMENT_BASE_URLS = env.list("ATLASSIAN_DEVELOPMENT_BASE_URLS", default=[])
# Licence gating for Marketplace installs; switch off only for private deployments.
ATLASSIAN_LICENSING_ENFORCED = env.bool("ATLASSIAN_LICENSING_ENFORCED", default=True)
# Leeway for exp/iat checks of inbound JWTs (seconds; the issue caps it at 30).
ATLASSIAN_JWT_LEEWAY_SECONDS = min(env.int("ATLASSIAN_JWT_LEEWAY_SECONDS", default=30), 30)
# Lifetime of the JWTs we sign for calls to Jira.
ATLASSIAN_OUTBOUND_JWT_TTL_SECONDS = env.int("ATLASSIAN_OUTBOUND_JWT_TTL_SECONDS", default=180)
# Seconds a web process keeps a tenant (and its decrypted secret) for JWT verification; state and licence
# changes made by another process apply within this time. 0 disables the cache.
TENANT_CACHE_SECONDS = env.float("TENANT_CACHE_SECONDS", default=5.0)
INSTALL_KEYS_TIMEOUT_SECONDS = env.float("INSTALL_KEYS_TIMEOUT_SECONDS", default=5.0)

# Outbound HTTP (Jira, helpdesks): (connect, read) timeouts in seconds.
HTTP_CONNECT_TIMEOUT_SECONDS = env.float("HTTP_CONNECT_TIMEOUT_SECONDS", default=5.0)
HTTP_READ_TIMEOUT_SECONDS = env.float("HTTP_READ_TIMEOUT_SECONDS", default=30.0)

ZENDESK_URL_TEMPLATE = env("ZENDESK_URL_TEMPLATE", default="https://{subdomain}.zendesk.com")
# Zendesk OAuth client (Admin Center → Apps and integrations → OAuth Clients); enables "Connect with OAuth".
ZENDESK_OAUTH_CLIENT_ID = env("ZENDESK_OAUTH_CLIENT_ID", default="")
ZENDESK_OAUTH_CLIENT_SECRET = env("ZENDESK_OAUTH_CLIENT_SECRET", default="")
# Zoho Desk: unset in production (each data center's hosts come from connector.clients.zoho_desk); tests and
# the demo point them at a local fake ("{dc}" is replaced by the data-center key).
ZOHO_ACCOUNTS_URL_OVERRIDE = env("ZOHO_ACCOUNTS_URL_OVERRIDE", default="")
ZOHO_DESK_URL_OVERRIDE = env("ZOHO_DESK_URL_OVERRIDE", default="")
# Zoho's search index lags behind writes: a poll reads changes up to this many seconds ago, no later.
ZOHO_SEARCH_SETTLE_SECONDS = env.int("ZOHO_SEARCH_SETTLE_SECONDS", default=30)
# Helpdesks without an account-wide comment stream (Zoho Desk): besides the records a poll finds modified, it
# reads the comments of up to this many linked records not read for SYNC_COMMENT_SWEEP_SECONDS, least recently
# read first (a comment does not always change the record's modified time).
SYNC_COMMENT_SWEEP_LINKS = env.int("SYNC_COMMENT_SWEEP_LINKS", default=10)
SYNC_COMMENT_SWEEP_SECONDS = env.int("SYNC_COMMENT_SWEEP_SECONDS", default=900)
# How often each connection with synchronized items is polled for helpdesk changes (seconds).
SYNC_POLL_SECONDS = env.int("SYNC_POLL_SECONDS", default=300)
# A poll's lease on its connection expires this long after its last sign of life (a killed worker's poll is
# taken over by another machine after this; on the same machine at once).
SYNC_LEASE_SECONDS = env.int("SYNC_LEASE_SECONDS", default=60)
# Runs (and their events) older than this many days are deleted by the daily prune.
SYNC_RUN_RETENTION_DAYS = env.int("SYNC_RUN_RETENTION_DAYS", default=30)
# Issues worked in parallel per poll (one issue never by two threads; bounded per tenant).
SYNC_PARALLEL_ISSUES = env.int("SYNC_PARALLEL_ISSUES", default=16)
# Attachment sync: larger files are skipped (the skip is recorded and said on the issue).
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
# Extra hosts attachment downloads may reach (beyond the helpdesk's own host and its CDNs); "*.example.com"
# matches subdomains; "host:port" pins a port. Credentials are only ever sent to the helpdesk's own host.
HELPDESK_DOWNLOAD_ALLOWED_HOSTS = env.list("HELPDESK_DOWNLOAD_ALLOWED_HOSTS", default=[])
# Where Jira serves attachment bytes: /rest/api/3/attachment/content/{id} answers 303 to Atlassian's media
# host (our JWT is never sent there).
JIRA_DOWNLOAD_ALLOWED_HOSTS = env.list("JIRA_DOWNLOAD_ALLOWED_HOSTS", default=["api.media.atlassian.com"])
# The reconcile (each poll) leaves changes younger than this to their webhook, and looks at most at this
# many recently updated issues per poll.
SYNC_RECONCILE_GRACE_SECONDS = env.int("SYNC_RECONCILE_GRACE_SECONDS", default=60)
SYNC_RECONCILE_MAX_ISSUES = env.int("SYNC_RECONCILE_MAX_ISSUES", default=1000)
# Per Jira user: how often the issue panel may search the helpdesk (the helpdesk's limit is shared).
PANEL_SEARCH_RATE = env("PANEL_SEARCH_RATE", default="30/min")

# Fernet key(s) for secrets at rest; comma-separated for rotation (first key encrypts).
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / ReDoc served from our static files: /api/docs/ needs no CDN
    "encrypted_model_fields",
    "tenants",
    "connector",
    "sync",  # before django_q: its `qcluster` command (clean stop on SIGTERM) replaces django-q2's
    "panel",
    "django_q",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.connect",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Shared by every web and task process (django-q2 cluster stats, schema and permission caches):
# the database by default (`manage.py createcachetable`), Redis via CACHE_URL=redis://… at scale.
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://deskbridge_cache")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.errors.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Deskbridge API",
    "DESCRIPTION": "Configuration, panel and links API of Deskbridge (Jira Cloud ↔ helpdesks).",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Atlassian Connect's JavaScript bridge (``AP``), loaded by every page Jira frames. Not read from the
# environment: only a settings module may point it elsewhere (the local demo serves a stand-in).
CONNECT_ALL_JS_URL = "https://connect-cdn.atl-paas.net/all.js"

# Apps that add modules (pages, panels, webhooks) to the Connect descriptor.
DESCRIPTOR_CONTRIBUTORS: list[str] = ["panel.descriptor.modules", "sync.descriptor.modules"]

# django-q2. Tasks are idempotent and leased per connection; retry must exceed timeout, and
# max_attempts must be set (0 retries forever).
Q_CLUSTER = {
    "name": "deskbridge",
    "orm": "default",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT_SECONDS", default=300),
    "retry": env.int("Q_RETRY_SECONDS", default=360),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=3),
    "catch_up": False,
    "save_limit": 1000,
    "ack_failures": True,
    "poll": 1,
    "label": "Task queue",
}

# Every error report Django renders (mail to admins, any AdminEmailHandler an operator adds) is redacted.
DEFAULT_EXCEPTION_REPORTER = "config.logging.RedactingExceptionReporter"

# `manage.py qcluster` on SIGTERM/SIGINT: how long the tasks in hand may take to finish before the cluster's
# processes are ended (orchestrators send SIGKILL after 10 s by default; tasks are safe to resume).
QCLUSTER_STOP_GRACE_SECONDS = env.float("QCLUSTER_STOP_GRACE_SECONDS", default=7.0)

LOG_LEVEL = env("DJANGO_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        # Building this filter installs config.logging's LogRecord factory: every record is redacted
        # (message, traceback, stack) when it is made, so every handler — including ones added later — sees
        # only redacted text, in every process that calls django.setup() (web, qcluster, manage.py).
        "redact": {"()": "config.logging.install_redaction"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
        # Django's default mail_admins, except that the traceback it renders itself is redacted too.
        "mail_admins": {
            "level": "ERROR",
            "class": "django.utils.log.AdminEmailHandler",
            "filters": ["require_debug_false", "redact"],
            "reporter_class": "config.logging.RedactingExceptionReporter",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Replaces Django's default handlers for "django" (its DEBUG-only console duplicated the root one).
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}

"""Settings of ``make demo`` (``python -m demo.run``): the local development settings, pointed at the simulated
Jira sites and helpdesks (Zendesk, Zoho Desk) the launcher serves on loopback.

The launcher sets the ``DEMO_*`` variables below (and ``ZENDESK_URL_TEMPLATE``, ``ZOHO_*_URL_OVERRIDE``,
``ATLASSIAN_INSTALL_KEYS_URL``, which the base settings read) before it starts ``runserver`` and ``qcluster``
with ``DJANGO_SETTINGS_MODULE=demo.settings``. No production settings module imports this one."""

from pathlib import Path

from config.settings.local import *  # noqa: F403
from config.settings.local import BASE_DIR, DATABASES, env

DEMO_DIR = Path(env("DEMO_DIR", default=str(BASE_DIR / ".demo")))
DATABASES = {
    **DATABASES,
    "default": {
        **env.db("DATABASE_URL", default=f"sqlite:///{DEMO_DIR / 'db.sqlite3'}"),
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
    },
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The web server and the worker share one file: wait for each other's writes instead of failing. A write in
    # a transaction begun as a read cannot wait (SQLite answers "database is locked" at once), so transactions
    # take the write lock when they begin, and WAL lets readers go on meanwhile.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

APP_BASE_URL = env("APP_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# The simulated Jira site is served over plain HTTP on loopback.
JIRA_ALLOWED_BASE_URLS = ["http://127.0.0.1:*", "http://localhost:*"]
ATLASSIAN_DEVELOPMENT_BASE_URLS = ["http://127.0.0.1:*"]
# Files of the simulated services are served from ``localhost`` (their media / CDN host).
HELPDESK_DOWNLOAD_ALLOWED_HOSTS = ["localhost"]
JIRA_DOWNLOAD_ALLOWED_HOSTS = ["localhost"]
# Connect's all.js cannot be reached from a demo machine's browser: the shell serves a stand-in.
CONNECT_ALL_JS_URL = env("DEMO_CONNECT_ALL_JS_URL", default="https://connect-cdn.atl-paas.net/all.js")

# Sync often: every dispatcher run (each minute) polls each connection, and the fakes have no index lag.
SYNC_POLL_SECONDS = env.int("SYNC_POLL_SECONDS", default=10)
# Zoho's search index lags behind writes, so polls read Zoho Desk changes up to this many seconds ago (30 by
# default); the simulated Zoho Desk has no lag, so the demo waits 2 s (the launcher sets it from
# demo.zoho_site.DEMO_ZOHO_SETTLE_SECONDS): Sync now a few seconds after a change in Zoho finds it.
ZOHO_SEARCH_SETTLE_SECONDS = env.int("ZOHO_SEARCH_SETTLE_SECONDS", default=2)
SYNC_RECONCILE_GRACE_SECONDS = env.int("SYNC_RECONCILE_GRACE_SECONDS", default=20)
SYNC_PARALLEL_ISSUES = 1
TENANT_CACHE_SECONDS = 0
HTTP_CONNECT_TIMEOUT_SECONDS = 2.0
HTTP_READ_TIMEOUT_SECONDS = 10.0
LOG_LEVEL = env("DJANGO_LOG_LEVEL", default="WARNING")
LOGGING = {**LOGGING, "root": {**LOGGING["root"], "level": LOG_LEVEL}}  # noqa: F405

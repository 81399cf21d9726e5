"""Operational endpoints: the landing page and health."""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _database_status() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.error("health: database unreachable: %s", type(exc).__name__)
        return {"status": "error", "vendor": connection.vendor, "error": type(exc).__name__}
    return {"status": "ok", "vendor": connection.vendor}


def _queue_status() -> dict:
    try:
        from django_q.brokers import get_broker
        from django_q.status import Stat

        broker = get_broker()
        pending = broker.queue_size()
        clusters = Stat.get_all(broker=broker)
        return {
            "status": "ok",
            "broker": type(broker).__name__.lower(),
            "pending": pending,
            "clusters": len(clusters),
        }
    except Exception as exc:
        logger.warning("health: queue status unavailable: %s", type(exc).__name__)
        return {"status": "error", "error": type(exc).__name__}


def _cache_status() -> dict:
    """The shared cache (queue stats, permission and schema caches): written and read back."""
    probe = secrets.token_hex(8)
    try:
        cache.set("healthz-probe", probe, 30)
        if cache.get("healthz-probe") != probe:
            return {"status": "error", "error": "the value written could not be read back"}
    except Exception as exc:
        logger.warning("health: cache unavailable: %s", type(exc).__name__)
        return {"status": "error", "error": type(exc).__name__}
    return {"status": "ok"}


@require_GET
def healthz(request):
    """200 only when the database, the queue and the shared cache all answer; otherwise 503 "degraded"
    with the part that failed (a load balancer or orchestrator takes the instance out)."""
    database = _database_status()
    up = database["status"] == "ok"
    queue = _queue_status() if up else {"status": "unknown"}
    cache_ = _cache_status() if up else {"status": "unknown"}
    ok = up and queue["status"] == "ok" and cache_["status"] == "ok"
    body = {"status": "ok" if ok else "degraded", "database": database, "queue": queue, "cache": cache_}
    return JsonResponse(body, status=200 if ok else 503)


# What the landing page lists, in the order of the README's URL table: (label, URL name, note).
LANDING_LINKS = [
    ("Atlassian Connect descriptor", "descriptor", "install it from Jira's \u201cUpload app\u201d (development mode)"),
    ("Health (database and queue)", "healthz", ""),
    ("Django admin (operators)", "admin:index", "create a login with manage.py createsuperuser"),
    ("OpenAPI schema", "api-schema", ""),
    ("API docs", "api-docs", ""),
    ("Jira admin page", "panel:admin-page", "an iframe inside Jira: answers 401 when opened on its own"),
    ("Issue panel", "panel:issue-panel", "an iframe inside Jira: answers 401 when opened on its own"),
]


@require_GET
def landing(request):
    """What ``/`` shows a person who opens the server in a browser: where everything is, instead of a 404."""
    links = [
        {"label": label, "url": request.build_absolute_uri(reverse(name)), "note": note}
        for label, name, note in LANDING_LINKS
    ]
    return render(request, "landing.html", {"links": links, "base_url": settings.APP_BASE_URL})

"""Operational endpoints: health."""

from __future__ import annotations

import logging

from django.db import connection
from django.http import JsonResponse
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


@require_GET
def healthz(request):
    database = _database_status()
    queue = _queue_status() if database["status"] == "ok" else {"status": "unknown"}
    ok = database["status"] == "ok" and queue["status"] == "ok"
    body = {"status": "ok" if ok else "degraded", "database": database, "queue": queue}
    return JsonResponse(body, status=200 if database["status"] == "ok" else 503)

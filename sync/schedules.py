"""Every django-q2 schedule of Deskbridge, declared once. ``manage.py apply_schedules`` makes the
database match this list (update_or_create by name; stale ``deskbridge.*`` schedules are removed)."""

from __future__ import annotations

from django_q.models import Schedule

PREFIX = "deskbridge."

SCHEDULES = [
    {
        # One dispatcher for every connection (no schedule row per tenant): enqueues a poll of each one due.
        "name": "deskbridge.sync-dispatch",
        "func": "sync.tasks.sync_dispatch",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
        "repeats": -1,
    },
    {
        # Sync history older than SYNC_RUN_RETENTION_DAYS is deleted once a day.
        "name": "deskbridge.runs-prune",
        "func": "sync.tasks.runs_prune",
        "schedule_type": Schedule.DAILY,
        "repeats": -1,
    },
    {
        "name": "deskbridge.license-refresh",
        "func": "sync.tasks.license_refresh_dispatch",
        "schedule_type": Schedule.MINUTES,
        "minutes": 360,
        "repeats": -1,
    },
]

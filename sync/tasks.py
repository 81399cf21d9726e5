"""django-q2 task functions: take ids, call services, retry only typed transient errors."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from connector.clients.base import ApiError, ApiRateLimited
from connector.clients.jira import JiraClient
from connector.services import tenant_license_refresh
from tenants.models import Tenant
from tenants.selectors import tenants_for_license_check

logger = logging.getLogger(__name__)


def license_refresh_dispatch() -> int:
    """Schedule entry point: one task per active tenant, so one slow site never blocks the others."""
    tenants = tenants_for_license_check()
    for tenant in tenants:
        transaction.on_commit(lambda tid=tenant.pk: async_task("sync.tasks.license_refresh", tid))
    return len(tenants)


def license_refresh(tenant_id: int) -> str:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None or not tenant.is_active:
        return "skipped"
    try:
        tenant = tenant_license_refresh(tenant=tenant)
    except ApiError as exc:
        # Transient or not, the next scheduled run asks again; the stored licence stays as it was.
        logger.warning("licence refresh for %s failed: %s", tenant.client_key, exc.message)
        return f"halted: {exc.message}"
    return tenant.license


def badges_refresh(tenant_id: int, issue_ids: list[str]) -> str:
    """Recompute the badges of these issues. On a rate limit the rest is rescheduled after Retry-After
    (never slept on in a worker)."""
    from .services import badge_update

    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None or not tenant.is_active:
        return "skipped"
    client = JiraClient(tenant)
    for index, issue_id in enumerate(issue_ids):
        try:
            badge_update(tenant=tenant, issue_id=issue_id, client=client)
        except ApiRateLimited as exc:
            rest = issue_ids[index:]
            Schedule.objects.create(
                name=f"deskbridge-once.badges.{tenant_id}.{uuid.uuid4().hex[:12]}",
                func="sync.tasks.badges_refresh",
                args=f"({tenant_id}, {rest!r})",
                schedule_type=Schedule.ONCE,
                next_run=timezone.now() + timedelta(seconds=exc.retry_after or 60),
                repeats=1,
            )
            return f"halted: Jira rate limited; {len(rest)} badge(s) rescheduled"
        except ApiError as exc:
            logger.warning("badge refresh for issue %s failed: %s", issue_id, exc.message)
    return f"updated {len(issue_ids)} badge(s)"


def sync_dispatch() -> int:
    """Schedule entry point (every minute, no catch-up): one poll task per connection that is due, and a
    task for every issue whose inbox events wait with nobody on them (a worker died, a wake-up was lost)."""
    from .engine import connections_due
    from .push import pending_sweep

    due = connections_due()
    for connection_id in due:
        transaction.on_commit(lambda cid=connection_id: async_task("sync.tasks.connection_poll_task", cid, "schedule"))
    pending_sweep()
    return len(due)


def issue_events_task(tenant_id: int, issue_id: str) -> str:
    """Process one issue's pending webhook events (in order; a second task for a busy issue returns)."""
    from .push import issue_events_process

    return issue_events_process(tenant_id=int(tenant_id), issue_id=str(issue_id))


def connection_poll_task(connection_id: int, trigger: str = "schedule") -> str:
    """One poll; the engine takes the connection's lease, so a second worker given the same connection
    returns at once."""
    from .engine import connection_poll

    run = connection_poll(connection_id=connection_id, trigger=trigger)
    return "skipped" if run is None else f"{run.outcome}: {run.reason}".rstrip(": ")


LINK_PASS_RETRY_SECONDS = 15
LINK_PASS_MAX_TRIES = 20


def link_pass_task(link_id: int, trigger: str = "refresh", tries: int = 1) -> str:
    """The pass for one link (Refresh while a poll held the lease, or a retried event). While another
    worker holds the connection's lease it is rescheduled 15 s later (never slept on), up to 5 minutes."""
    from .engine import link_pass
    from .models import Link

    run = link_pass(link_id=link_id, trigger=trigger)
    if run is not None:
        return f"{run.outcome}: {run.reason}".rstrip(": ")
    if tries >= LINK_PASS_MAX_TRIES or not Link.objects.filter(pk=link_id, sync_stopped_at__isnull=True).exists():
        return "skipped"
    Schedule.objects.create(
        name=f"deskbridge-once.link-pass.{link_id}.{uuid.uuid4().hex[:12]}",
        func="sync.tasks.link_pass_task",
        args=f"({int(link_id)}, {str(trigger)!r}, {int(tries) + 1})",
        schedule_type=Schedule.ONCE,
        next_run=timezone.now() + timedelta(seconds=LINK_PASS_RETRY_SECONDS),
        repeats=1,
    )
    return "rescheduled: the connection is being synced by another worker"


def runs_prune() -> int:
    """Daily: delete runs (and their events) older than SYNC_RUN_RETENTION_DAYS, and processed inbox events
    as old (failed ones stay until an admin retries them)."""
    from django.conf import settings

    from .models import SyncRun, WebhookEvent

    cutoff = timezone.now() - timedelta(days=settings.SYNC_RUN_RETENTION_DAYS)
    deleted, _ = SyncRun.objects.filter(started_at__lt=cutoff).delete()
    finished = (WebhookEvent.Status.DONE, WebhookEvent.Status.IGNORED, WebhookEvent.Status.REJECTED)
    inbox, _ = WebhookEvent.objects.filter(status__in=finished, received_at__lt=cutoff).delete()
    return deleted + inbox


def jira_create_task(connection_id: int) -> str:
    """Auto-create from Jira for one connection (queued by the ``jira:issue_created`` webhook)."""
    from .jira_create import jira_create_run

    run = jira_create_run(connection_id=connection_id)
    if run is None:
        return "nothing to do"
    return f"{run.outcome}: {run.counts.get('records_created', 0)} record(s) created"

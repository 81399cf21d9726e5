"""Auto-create from Jira (Jira → helpdesk): new issues of a synchronized item's project and issue type that
match its JQL filter get a helpdesk record each, linked (origin auto).

Which issues are new and match is asked of Jira's search, one JQL query per item (``creation_sweep``):
``project = P AND issuetype = T AND created >= -Nm AND (<filter>)``, read with the fields creation needs, so
a thousand new issues cost a few searches and no per-issue read. Jira indexes a new issue after a short delay,
so a sweep looks back to where the last one stopped less ``SYNC_RECONCILE_GRACE_SECONDS`` and a margin; it
runs when Jira says an issue was created (the ``jira:issue_created`` webhook: at once and once more after the
grace) and with every poll of the connection (which catches deliveries Jira lost). Issues created before the
item's ``create_from_jira_baseline`` (when auto-create was switched on) are never created.

No duplicates: each creation goes through ``sync.create.record_create_for_issue``, whose intent row (unique
per item and issue) is written before the helpdesk is called and whose record carries its origin (Zendesk
``external_id``, a Zoho custom field), looked up before any retry creates again. An issue that already has an
intent or a link through the item is skipped; one a user unlinked is not created again.
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from config.errors import ApplicationError, ValidationFailed
from connector.clients.base import ApiError
from connector.models import ConnectedItem, HelpdeskConnection
from connector.providers import provider_for

from .create import CreateContext, CreateInProgress, _wanted_fields, record_create_for_issue
from .engine import _owner, _owner_is_dead
from .errors import LinkExists
from .models import Link, RecordCreate, SyncEvent, SyncRun
from .push import _parse_time

logger = logging.getLogger(__name__)

#: minutes a sweep looks back beyond where the last one stopped (clock skew between us and Jira)
MARGIN_MINUTES = 2
#: at most one immediate sweep per connection in this many seconds (the one after the grace takes the rest)
IMMEDIATE_SWEEP_SECONDS = 2
#: the actor recorded on links auto-create makes
ACTOR = "deskbridge:auto-create"


def _creating_items(tenant_id: int):
    """The site's items that create records for new Jira issues (switched on, synchronized, not paused)."""
    return ConnectedItem.objects.filter(
        tenant_id=tenant_id, create_from_jira=True, create_from_jira_baseline__isnull=False, is_paused=False
    ).exclude(mode=ConnectedItem.Mode.DISPLAY)


def creation_items(connection: HelpdeskConnection):
    """The connection's items that create records for new Jira issues."""
    return _creating_items(connection.tenant_id).filter(connection=connection)


def _jql(item: ConnectedItem, minutes: int) -> str:
    clauses = [f"project = {item.jira_project_id}"]
    if item.jira_issue_type_id:
        clauses.append(f"issuetype = {item.jira_issue_type_id}")
    clauses.append(f'created >= "-{minutes}m"')
    if item.create_jql.strip():
        clauses.append(f"({item.create_jql.strip()})")
    return " AND ".join(clauses) + " ORDER BY created ASC"


def _created(issue: dict[str, Any]):
    return _parse_time((issue.get("fields") or {}).get("created"))


def creation_sweep(run, item: ConnectedItem, ctx: CreateContext | None = None) -> int:
    """Create a record for each new issue of ``item`` Jira's search finds that has none yet (see the module
    docstring). ``run`` is a ``sync.engine._Run``: its clients make the calls (counted), its events say what
    was done. Returns how many records were created. A rate limit or an unreachable service ends the sweep
    (raised: the caller's run reschedules); where it stopped is kept, so the next sweep continues."""
    provider = provider_for(item.connection.provider)
    now = timezone.now()
    grace = timedelta(seconds=settings.SYNC_RECONCILE_GRACE_SECONDS)
    baseline = item.create_from_jira_baseline
    since = max(item.create_swept_at or baseline, baseline)
    minutes = max(1, math.ceil((now - since).total_seconds() / 60)) + MARGIN_MINUTES
    limit = settings.SYNC_RECONCILE_MAX_ISSUES
    ctx = ctx or CreateContext(client=run.helpdesk())
    created = considered = 0
    reached = now - grace
    pages = run.jira().search_jql_pages(_jql(item, minutes), fields=_wanted_fields(item))
    for issues in pages:  # page by page: issues already taken (the look-back) do not count against the limit
        for issue in _untaken(item, issues):
            moment = _created(issue)
            if moment is None or moment < baseline:
                continue
            if moment > reached:
                continue  # younger than the grace: found again by the next sweep (what the index still lacks)
            if considered >= limit:  # enough for one sweep: the next one continues from here
                reached = moment
                break
            considered += 1
            created += _create_one(run, item, provider, issue, ctx)
        else:
            continue
        break
    ConnectedItem.objects.filter(pk=item.pk, tenant_id=item.tenant_id).update(create_swept_at=reached)
    item.create_swept_at = reached
    return created


def _untaken(item: ConnectedItem, issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issues with neither a link through the item nor a finished (or refused) creation: a record a user
    unlinked is not made again."""
    ids = [str(i["id"]) for i in issues]
    taken = set(
        Link.objects.filter(tenant_id=item.tenant_id, item=item, jira_issue_id__in=ids).values_list(
            "jira_issue_id", flat=True
        )
    ) | set(
        RecordCreate.objects.filter(
            tenant_id=item.tenant_id,
            item=item,
            jira_issue_id__in=ids,
            state__in=[RecordCreate.State.DONE, RecordCreate.State.FAILED],
        ).values_list("jira_issue_id", flat=True)
    )
    return [i for i in issues if str(i["id"]) not in taken]


def _create_one(run, item: ConnectedItem, provider, issue: dict[str, Any], ctx: CreateContext) -> int:
    issue_id, key = str(issue["id"]), str(issue.get("key") or issue["id"])
    try:
        result = record_create_for_issue(
            tenant=item.tenant, item=item, issue_id=issue_id, issue=issue, automatic=True, actor=ACTOR, ctx=ctx
        )
    except (LinkExists, CreateInProgress):
        return 0  # made, or being made, by another sweep or a user
    except ValidationFailed as exc:
        _failed(item, issue_id, exc.message)
        run.event(
            None,
            "created",
            SyncEvent.Result.ERROR,
            f"No {provider.brand} record was created for {key} through {item.name}: {exc.message}",
            item=item,
        )
        return 0
    except ApplicationError as exc:
        cause = exc.__cause__
        if isinstance(cause, ApiError):
            raise cause from exc  # rate limited or unreachable: the run reschedules; nothing is lost
        raise
    run.add("records_created")
    run.event(
        result.link,
        "created",
        SyncEvent.Result.OK,
        f"Created {provider.brand} {provider.object_label(item.helpdesk_object).lower()} {result.record_id} "
        f"from {key}" + (f" ({' '.join(result.warnings)})" if result.warnings else ""),
    )
    return 1


def _failed(item: ConnectedItem, issue_id: str, message: str) -> None:
    """A refusal that retrying cannot cure (a required field with no value, the helpdesk refusing a value):
    the intent is marked failed, so sweeps do not try it again; a user can still create it from the panel."""
    RecordCreate.objects.update_or_create(
        tenant_id=item.tenant_id,
        item=item,
        jira_issue_id=issue_id,
        defaults={"state": RecordCreate.State.FAILED, "error": message[:2000], "attempted_at": None},
        create_defaults={
            "state": RecordCreate.State.FAILED,
            "error": message[:2000],
            "source_key": "",
            "automatic": True,
            "created_by": ACTOR,
        },
    )


ORPHAN_RUN_HOURS = 6  # an auto-create run still running after this long is taken as stopped (a sweep takes on
# at most SYNC_RECONCILE_MAX_ISSUES issues; its worker may be on another machine, which cannot be asked)


def creation_sweeps(run) -> int:
    """Every auto-create item of the run's connection (called by each poll and by ``jira_create_run``)."""
    _orphans_close(run.connection)
    created = 0
    ctx = CreateContext(client=run.helpdesk())
    for item in creation_items(run.connection).select_related("connection__tenant").prefetch_related("mappings"):
        created += creation_sweep(run, item, ctx)
    return created


# --- the webhook's trigger and the task -------------------------------------------------------------------
def creation_connections(*, tenant_id: int, project_id: str) -> list[int]:
    """The connections whose items auto-create records for new issues of this project (one indexed query; the
    issue type and the filter are the sweep's). Empty: a new issue of the project matters to no one."""
    items = _creating_items(tenant_id).filter(jira_project_id=project_id)
    return sorted(set(items.values_list("connection_id", flat=True)))


def issue_created_enqueue(connections: list[int]) -> None:
    """Sweep these connections now, and once more after the grace (Jira's search may not show the new issue
    yet)."""
    now = timezone.now()
    later = now + timedelta(seconds=settings.SYNC_RECONCILE_GRACE_SECONDS + 5)
    for connection_id in connections:
        # A burst of new issues (an import: hundreds of webhooks a minute) makes one sweep now and one after
        # the grace, not one per issue: a sweep takes every new issue its search shows.
        if cache.add(f"deskbridge:create-sweep:{connection_id}", 1, timeout=IMMEDIATE_SWEEP_SECONDS):
            transaction.on_commit(
                lambda c=connection_id: async_task("sync.tasks.jira_create_task", c, group="deskbridge-create")
            )
        args = f"({int(connection_id)},)"
        if Schedule.objects.filter(func="sync.tasks.jira_create_task", args=args, next_run__gt=now).exists():
            continue  # a sweep after the grace is already due: it will see this issue too
        Schedule.objects.create(
            name=f"deskbridge-once.create.{connection_id}.{uuid.uuid4().hex[:12]}",
            func="sync.tasks.jira_create_task",
            args=args,
            schedule_type=Schedule.ONCE,
            next_run=later,
            repeats=1,
        )


def jira_create_run(*, connection_id: int) -> SyncRun | None:
    """One run of the connection's auto-create sweeps (the task behind the webhook), recorded as a run."""
    from .engine import _Run, _run_guarded, halt_reason

    connection = HelpdeskConnection.objects.select_related("tenant").filter(pk=connection_id).first()
    if connection is None or not connection.tenant.is_active or halt_reason(connection) is not None:
        return None
    if not creation_items(connection).exists():
        return None
    run = _Run(
        SyncRun.objects.create(
            tenant_id=connection.tenant_id, connection=connection, trigger=SyncRun.Trigger.WEBHOOK, worker=_owner()
        ),
        connection,
        provider_for(connection.provider),
        direction="to_helpdesk",
    )
    _run_guarded(run, lambda: creation_sweeps(run), {}, summarize=False)
    return run.run


def _orphans_close(connection: HelpdeskConnection) -> None:
    """Auto-create runs whose worker died mid-sweep (killed, its machine lost) say so instead of running
    forever: those whose process on this machine is gone, or that started ``ORPHAN_RUN_HOURS`` ago. What they
    left half done, the sweep in progress takes over (``record_create_for_issue``: the intents)."""
    stale = timezone.now() - timedelta(hours=ORPHAN_RUN_HOURS)
    running = SyncRun.objects.filter(
        tenant_id=connection.tenant_id,
        connection=connection,
        trigger=SyncRun.Trigger.WEBHOOK,
        outcome=SyncRun.Outcome.RUNNING,
    ).exclude(worker="")
    orphans = [
        pk
        for pk, worker, started in running.values_list("pk", "worker", "started_at")
        if started < stale or _owner_is_dead(worker)
    ]
    if orphans:
        SyncRun.objects.filter(pk__in=orphans, outcome=SyncRun.Outcome.RUNNING).update(
            outcome=SyncRun.Outcome.FAILED,
            reason="The worker running this auto-create sweep stopped before it finished; the next sweep took "
            "over the issues it left.",
            finished_at=timezone.now(),
        )

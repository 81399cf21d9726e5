"""The push engine (Jira → helpdesk): processes the webhook inbox, one issue at a time, in order.

A task takes the issue's lease (one worker per issue; other issues run in parallel in other tasks) and
takes every pending event of the issue as one batch. Events our own app account caused are never sources
(echo guard 1). Deliveries come late, twice and out of order, so a batch acts on the issue's *current*
state, read once: the mapped fields' values, its status and its files (one ``GET issue``), and its comments
when an event speaks of comments (one ``GET comments``). Per linked record it then writes, in one update,
every mapped value that differs from what we last wrote (echo guard 3, per-field hashes) and the status
the issue's category calls for; then each new comment and file, exactly once (``CommentMap`` /
``AttachmentMap`` rows written before the helpdesk call, echo guard 2).

Errors: a rate limit (Jira's 429/503 with Retry-After, the helpdesk's 429) puts the batch back for after
the wait (its run and a note on each link say so; the run after the wait says how long it waited); other
transient errors retry with backoff, up to ``MAX_ATTEMPTS``, then the events are marked failed with the
error; a refusal is recorded and the events marked failed at once. Nothing sleeps, and a failing issue
never holds up another's events.

Every write is an update of the linked record: a record the helpdesk answers 404 for (deleted there)
breaks its link (``record_deleted``, as a closed Zendesk ticket stops it), and nothing is recreated.

The reconcile (``reconcile``), run by every poll of a connection, finds changes whose webhook Jira never
delivered (delivery is best effort): one JQL search for recently updated issues of the two-way items'
projects, compared with the issue's ``updated`` as of the last pass that read everything it covers. Jira's
``updated`` moves for comments too, so a pass that did not read the comments (a field or file change, where
comments sync) leaves that mark alone, and the next reconcile reads the issue with its comments once.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from html import escape
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_q.models import Schedule

from connector.adf import adf_to_html, adf_to_text
from connector.clients.base import (
    ApiBadRequest,
    ApiError,
    ApiNotFound,
    ApiRateLimited,
    ApiServerError,
    DownloadRefused,
    DownloadTooLarge,
    RecordClosed,
)
from connector.clients.files import file_size, spool
from connector.clients.jira import JiraClient
from connector.mapping import ValueNotMapped, helpdesk_value, rule_for
from connector.models import ConnectedItem
from connector.providers import provider_for
from tenants.models import Tenant

from .descriptor import SOURCE_PROPERTY
from .engine import (
    HELPDESK_STATUS_KEY,
    JIRA_STATUS_KEY,
    SIDE,
    STATUS_KEY,
    RecordGone,
    _hash,
    _mb,
    _owner,
    _owner_is_dead,
    _Run,
    _run_guarded,
    halt_reason,
    record_call,
    record_deleted,
    seconds_words,
    state_pass_begin,
    state_save,
)
from .inbox import (
    COMMENT_CREATED,
    COMMENT_UPDATED,
    ISSUE_DELETED,
    RECONCILE,
    issue_events_enqueue,
    synthetic_event,
)
from .models import AttachmentMap, CommentMap, IssueState, Link, SyncEvent, SyncRun, SyncState, WebhookEvent

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
ROUNDS_PER_TASK = 10
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = (10, 60, 300, 900)  # before the 2nd, 3rd, 4th and 5th attempt
ISSUE_LEASE_SECONDS = 120
HD_PREFIX = "hd:"  # field_state key of a helpdesk field we write: the hash of the value we last wrote
COMMENT_EVENT_TYPES = ("issue_commented", "issue_comment_edited", "issue_comment_deleted")
STATUS = WebhookEvent.Status


# --- the task's frame: lease, batch, outcome -----------------------------------------------------------
def issue_events_process(*, tenant_id: int, issue_id: str) -> str:
    """Process the issue's pending events (a task per issue; a second task for a busy issue returns). The
    lease is released *before* looking for events that came meanwhile, so none is ever left behind."""
    outcome = "nothing to do"
    for _ in range(ROUNDS_PER_TASK):
        owner = _owner()
        state = _lease_take(tenant_id, issue_id, owner)
        if state is None:
            return "busy: another worker is processing this issue"
        try:
            outcome = _batch(state, owner)
        finally:
            IssueState.objects.filter(pk=state.pk, lease_owner=owner).update(
                lease_owner="", lease_expires_at=None, lease_runs=[]
            )
        if not _due(tenant_id, issue_id).exists():
            return outcome
    issue_events_enqueue(tenant_id=tenant_id, issue_id=issue_id)
    return outcome + "; more events queued"


def _due(tenant_id: int, issue_id: str):
    return WebhookEvent.objects.filter(
        tenant_id=tenant_id, issue_id=issue_id, status=STATUS.PENDING, process_after__lte=timezone.now()
    )


def _lease_take(tenant_id: int, issue_id: str, owner: str) -> IssueState | None:
    IssueState.objects.get_or_create(tenant_id=tenant_id, jira_issue_id=issue_id)
    now = timezone.now()
    with transaction.atomic():
        state = (
            IssueState.objects.select_for_update(skip_locked=True)
            .filter(tenant_id=tenant_id, jira_issue_id=issue_id)
            .first()
        )
        if state is None:
            return None
        live = state.lease_owner and state.lease_expires_at and state.lease_expires_at > now
        if live and not _owner_is_dead(state.lease_owner):
            return None
        if state.lease_owner and state.lease_runs:  # its worker died mid-batch: close the runs it left open
            SyncRun.objects.filter(pk__in=state.lease_runs, outcome=SyncRun.Outcome.RUNNING).update(
                outcome=SyncRun.Outcome.FAILED,
                reason="The worker processing these Jira changes stopped before it finished; they were processed "
                "again from the inbox.",
                finished_at=now,
            )
        state.lease_owner, state.lease_expires_at = owner, now + timedelta(seconds=ISSUE_LEASE_SECONDS)
        state.lease_runs = []
        state.save(update_fields=["lease_owner", "lease_expires_at", "lease_runs"])
    return state


def _finish(events: list[WebhookEvent], status: str, error: str = "") -> None:
    WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).update(
        status=status, last_error=error[:2000], processed_at=timezone.now()
    )


def _reschedule(events: list[WebhookEvent], exc: Exception | None, reason: str) -> str:
    """After an error: wait out a rate limit, retry a transient error with backoff, or fail the events."""
    now = timezone.now()
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, ApiRateLimited | ApiServerError) and (isinstance(exc, ApiRateLimited) or retry_after):
        wait = int(retry_after or 60)
        WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).update(
            process_after=now + timedelta(seconds=wait), last_error=reason[:2000]
        )
        _wake_later(events[0], wait)
        return f"rate limited: retry in {wait} s"
    attempts = max(e.attempts for e in events) + 1
    if isinstance(exc, ApiError) and exc.transient and attempts < MAX_ATTEMPTS:
        wait = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
        WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).update(
            attempts=attempts, process_after=now + timedelta(seconds=wait), last_error=reason[:2000]
        )
        _wake_later(events[0], wait)
        return f"retry {attempts + 1} of {MAX_ATTEMPTS} in {wait} s"
    WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).update(
        attempts=attempts, status=STATUS.FAILED, last_error=reason[:2000], processed_at=now
    )
    return f"failed: {reason}"


def _wake_later(event: WebhookEvent, seconds: int) -> None:
    """A one-off schedule to process the issue after the wait (the dispatcher's sweep is the safety net)."""
    Schedule.objects.create(
        name=f"deskbridge-once.push.{event.issue_id}.{uuid.uuid4().hex[:12]}",
        func="sync.tasks.issue_events_task",
        args=f"({int(event.tenant_id)}, {str(event.issue_id)!r})",
        schedule_type=Schedule.ONCE,
        next_run=timezone.now() + timedelta(seconds=seconds),
        repeats=1,
    )


def _parse_time(value: Any) -> datetime | None:
    """Jira's timestamps (``2026-11-21T10:00:00.000+0000``) as aware datetimes."""
    if not value:
        return None
    text = str(value)
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        return parse_datetime(text)
    except ValueError:
        return None


def _note_seen(state: IssueState, *moments: datetime | None) -> None:
    latest = max([m for m in moments if m is not None], default=None)
    if latest is not None and (state.seen_updated is None or latest > state.seen_updated):
        state.seen_updated = latest
        IssueState.objects.filter(pk=state.pk).update(seen_updated=latest)


def app_account_id(tenant: Tenant) -> str:
    """Our app user's accountId on the site (``GET /myself`` with the app's credentials), learnt once."""
    if not tenant.app_account_id:
        me = JiraClient(tenant).myself()
        tenant.app_account_id = str(me.get("accountId") or "")
        Tenant.objects.filter(pk=tenant.pk).update(app_account_id=tenant.app_account_id)
    return tenant.app_account_id


def _push_links(tenant_id: int, issue_id: str) -> list[Link]:
    return list(
        Link.objects.filter(
            tenant_id=tenant_id,
            jira_issue_id=issue_id,
            item__mode=ConnectedItem.Mode.TWO_WAY,
            item__is_paused=False,
            sync_stopped_at__isnull=True,
            issue_deleted_at__isnull=True,
        )
        .select_related("item__connection__tenant")
        .prefetch_related("item__mappings")
        .order_by("id")
    )


def _batch(state: IssueState, owner: str) -> str:
    tenant_id, issue_id = state.tenant_id, state.jira_issue_id
    events = list(_due(tenant_id, issue_id).order_by("id")[:BATCH_SIZE])
    if not events:
        return "nothing to do"
    tenant = Tenant.objects.get(pk=tenant_id)
    # ``seen_updated`` moves only with a pass that read the issue (``_push_issue``): a batch of our own events
    # must not hide an earlier change whose delivery Jira lost (the reconcile compares against it).
    if not tenant.is_active:
        _finish(events, STATUS.IGNORED, "The app is disabled or uninstalled on this Jira site.")
        return "ignored: tenant inactive"
    if any(e.event_type == ISSUE_DELETED for e in events):
        _issue_deleted(tenant, issue_id, events[-1].issue_key)
        _finish(events, STATUS.DONE)
        return "issue deleted: links marked broken"
    try:
        ours = app_account_id(tenant)
    except ApiError as exc:
        return _reschedule(events, exc, f"Could not learn the app's own Jira account: {exc.message}")
    sources = [e for e in events if not (ours and e.actor_account_id == ours)]
    if not sources:
        _finish(events, STATUS.IGNORED, "Made by Deskbridge itself: never copied back.")
        return "ignored: our own changes"
    links = _push_links(tenant_id, issue_id)
    if not links:
        _finish(events, STATUS.IGNORED, "No two-way link syncs this issue.")
        return "ignored: no two-way link"
    by_connection: dict[int, list[Link]] = defaultdict(list)
    for link in links:
        by_connection[link.item.connection_id].append(link)
    problems: list[str] = []
    for group in by_connection.values():
        connection = group[0].item.connection
        halted = halt_reason(connection)
        if halted is not None:
            problems.append(halted[1])
            continue
        run = _Run(
            SyncRun.objects.create(tenant_id=tenant_id, connection=connection, trigger=SyncRun.Trigger.WEBHOOK),
            connection,
            provider_for(connection.provider),
            direction="to_helpdesk",
        )
        state.lease_runs = [*state.lease_runs, run.run.pk]
        IssueState.objects.filter(pk=state.pk, lease_owner=owner).update(lease_runs=state.lease_runs)
        run.waited_s = _rate_limit_waited(tenant_id, group)
        _run_guarded(run, lambda run=run, group=group: _push_issue(run, state, group, sources), {}, summarize=False)
        if run.error is not None and run.run.outcome != SyncRun.Outcome.SUCCESS:
            if run.run.counts.get("rate_limited_wait_s"):
                _link_notes(run, group, SyncEvent.Result.SKIPPED, run.run.reason)
            return _reschedule(events, run.error, run.run.reason)
        if run.waited_s is not None:
            _link_notes(
                run, group, SyncEvent.Result.OK, f"sent after waiting {seconds_words(run.waited_s)} for a rate limit."
            )
        errors = dict(
            SyncEvent.objects.filter(run=run.run, result=SyncEvent.Result.ERROR)
            .order_by("id")
            .values_list("item_id", "message")
        )
        for item_id, message in errors.items():
            if item_id:
                ConnectedItem.objects.filter(pk=item_id, tenant_id=tenant_id).update(last_error=message[:1000])
        problems += list(errors.values())
    if problems:
        _finish(events, STATUS.FAILED, " ".join(dict.fromkeys(problems)))
        return "failed: " + problems[0]
    _finish(events, STATUS.DONE)
    return f"done: {len(events)} event(s)"


RATE_LIMITED = "rate_limited"  # a link note: a rate limit held the issue's changes back (skipped), or they
# went after the wait (ok)


def _link_notes(run: _Run, links: list[Link], result: str, words: str) -> None:
    """A rate-limit note on each link, on a run that already ended: "SUP-1: <words>"."""
    SyncEvent.objects.bulk_create(
        SyncEvent(
            tenant_id=run.connection.tenant_id,
            run=run.run,
            link=link,
            item_id=link.item_id,
            action=RATE_LIMITED,
            direction="to_helpdesk",
            result=result,
            message=f"{link.jira_issue_key}: {words}"[:2000],
        )
        for link in links
    )


def _rate_limit_waited(tenant_id: int, links: list[Link]) -> int | None:
    """Seconds since a rate limit held these links' changes back, when that is the last thing that happened
    to them (None otherwise): this batch is the one after the wait."""
    last = (
        SyncEvent.objects.filter(tenant_id=tenant_id, link__in=[link.pk for link in links], direction="to_helpdesk")
        .order_by("-id")
        .values_list("action", "result", "created_at")
        .first()
    )
    if last is None or (last[0], last[1]) != (RATE_LIMITED, SyncEvent.Result.SKIPPED):
        return None
    return int((timezone.now() - last[2]).total_seconds())


def _issue_deleted(tenant: Tenant, issue_id: str, issue_key: str) -> None:
    """The issue is gone: every link to it is marked broken (shown on the admin page); nothing is deleted
    in the helpdesk."""
    links = list(
        Link.objects.filter(
            tenant_id=tenant.pk,
            jira_issue_id=issue_id,
            issue_deleted_at__isnull=True,
            record_deleted_at__isnull=True,  # already broken on the helpdesk's side: nothing more breaks
        )
        .select_related("item__connection")
        .order_by("id")
    )
    if not links:
        return
    now = timezone.now()
    Link.objects.filter(pk__in=[link.pk for link in links]).update(issue_deleted_at=now, sync_stopped_at=now)
    by_connection: dict[int, list[Link]] = defaultdict(list)
    for link in links:
        by_connection[link.item.connection_id].append(link)
    for group in by_connection.values():
        connection = group[0].item.connection
        run = SyncRun.objects.create(
            tenant_id=tenant.pk,
            connection=connection,
            trigger=SyncRun.Trigger.WEBHOOK,
            outcome=SyncRun.Outcome.SUCCESS,
            finished_at=now,
        )
        SyncEvent.objects.bulk_create(
            SyncEvent(
                tenant_id=tenant.pk,
                run=run,
                link=link,
                item_id=link.item_id,
                action="deleted",
                direction="to_helpdesk",
                result=SyncEvent.Result.SKIPPED,
                message=f"{issue_key or link.jira_issue_key} was deleted in Jira: the link to "
                f"{link.record_id} is broken. Nothing was deleted in {connection.get_provider_display()}.",
            )
            for link in group
        )


# --- one issue, its links ------------------------------------------------------------------------------
def _wants_comments(events: list[WebhookEvent]) -> bool:
    """Whether an event speaks of comments (then they are read, with their properties). For the others (a
    field or file change, or a reconcile or retry that does not say what changed) the issue read's own
    ``comment`` field tells whether any is new (``_comments_unseen``)."""
    for event in events:
        if event.event_type in (COMMENT_CREATED, COMMENT_UPDATED):
            return True
        if str((event.payload or {}).get("issue_event_type_name") or "") in COMMENT_EVENT_TYPES:
            return True
    return False


def _comments_unseen(run: _Run, links: list[Link], issue: dict) -> bool:
    """Whether the issue's ``comment`` field (as ``GET issue`` gives it: no properties, and only the newest
    when there are many, ``total`` still counting all) holds a comment some comment-syncing link has not
    copied yet, or may not hold them all. Then the comments are read in full; otherwise this pass has seen
    every comment too and no second call is made."""
    field = (issue.get("fields") or {}).get("comment") or {}
    listed = field.get("comments") or []
    total = field.get("total")
    if not isinstance(total, int) or total > len(listed):
        return True  # Jira gave only some (atlassian/atlassian-mcp-server#230: 100 of 120, total says 120)
    ours = run.connection.tenant.app_account_id
    return any(_fresh_comments(link, listed, ours)[1] for link in links if link.item.comment_sync)


def _push_issue(run: _Run, state: IssueState, links: list[Link], events: list[WebhookEvent]) -> None:
    items = {link.item_id: link.item for link in links}
    mappings = [m for item in items.values() for m in item.mappings.all() if m.direction == "to_helpdesk"]
    want_files = any(item.attachment_sync for item in items.values())
    comment_sync = any(item.comment_sync for item in items.values())
    want_comments = comment_sync and _wants_comments(events)
    glance = comment_sync and not want_comments  # the issue read brings its comment field along
    fields = {m.jira_field for m in mappings} | {"status", "updated"}
    fields |= ({"attachment"} if want_files else set()) | ({"comment"} if glance else set())
    issue_id = state.jira_issue_id
    try:
        issue = run.jira().issue_get(issue_id, fields=sorted(fields))
    except ApiNotFound:
        _issue_deleted(run.connection.tenant, issue_id, links[0].jira_issue_key)  # its delete webhook was lost
        return
    key = str(issue.get("key") or links[0].jira_issue_key)
    if any(link.jira_issue_key != key for link in links):  # the issue moved project: its key changed
        Link.objects.filter(tenant_id=run.connection.tenant_id, jira_issue_id=issue_id).update(jira_issue_key=key)
        for link in links:
            link.jira_issue_key = key
    want_comments = want_comments or (glance and _comments_unseen(run, links, issue))
    comments = run.jira().comments(issue_id, expand_properties=True) if want_comments else []
    edited = [e for e in events if e.event_type == COMMENT_UPDATED]
    for link in links:
        link_state = state_pass_begin(link)
        try:
            _link_push(run, link, issue, comments, edited, link_state)
        finally:
            link.field_state = link_state
            state_save(link, {"sync_stopped_at": link.sync_stopped_at} if link.sync_stopped_at else None)
    # Jira's ``updated`` moves for comments too: this pass has seen them all (read in full, or none new in the
    # issue's comment field, which is read with the issue), so the reconcile, which compares against this
    # mark, has nothing left to find up to it.
    _note_seen(state, _parse_time((issue.get("fields") or {}).get("updated")))


def _link_push(run: _Run, link: Link, issue: dict, comments: list[dict], edited: list[WebhookEvent], state) -> None:
    item = link.item
    try:
        _push_values(run, link, issue, state)
        if item.comment_sync:
            _push_comments(run, link, issue, comments, edited)
        if item.attachment_sync:
            _push_files(run, link, issue)
    except RecordClosed:
        link.sync_stopped_at = timezone.now()
        run.event(
            link,
            "closed",
            SyncEvent.Result.SKIPPED,
            f"Ticket {link.record_id} is closed in {run.provider.brand}: a closed ticket cannot be changed or "
            f"reopened, so changes of {link.jira_issue_key} are no longer sent to it.",
        )
    except RecordGone:  # deleted in the helpdesk: an update has nothing to update, and nothing is recreated
        record_deleted(run, link)


def _helpdesk_fields(run: _Run, item: ConnectedItem) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in run.helpdesk_fields(run.connection, item.helpdesk_object)}


def _push_values(run: _Run, link: Link, issue: dict, state: dict) -> None:
    """Mapped fields whose value differs from what we last wrote, and the status, in one update."""
    item, fields = link.item, issue.get("fields") or {}
    values: dict[str, Any] = {}
    digests: dict[str, str] = {}
    mappings = [m for m in item.mappings.all() if m.direction == "to_helpdesk"]
    if mappings:
        jira_types = run.jira_types(run.connection)
        helpdesk = _helpdesk_fields(run, item)
        for mapping in mappings:
            target = helpdesk.get(mapping.helpdesk_field) or {"type": "text"}
            jira_type = jira_types.get(mapping.jira_field, "text")
            rule = rule_for("to_helpdesk", target["type"], jira_type) or "copy"
            raw = fields.get(mapping.jira_field)
            key = HD_PREFIX + mapping.helpdesk_field
            try:
                value = helpdesk_value(
                    rule=rule,
                    value=raw,
                    jira_type=jira_type,
                    helpdesk_type=target["type"],
                    value_map=mapping.value_map or {},
                )
            except ValueError as exc:
                marker = f"skip:{_hash(raw)}"
                if state.get(key) != marker:  # said once per value, not on every event
                    run.event(link, "fields", SyncEvent.Result.SKIPPED, f"{mapping.jira_field}: {exc}")
                    state[key] = marker
                continue
            digest = _hash(value)
            if state.get(key) != digest:
                values[mapping.helpdesk_field], digests[key] = value, digest
    body: dict[str, Any] = {}
    if values:
        try:
            body = run.provider.update_payload(item.helpdesk_object, values)
        except ValueNotMapped as exc:
            run.event(link, "fields", SyncEvent.Result.ERROR, str(exc))
            return
    status, jira_status = _status_target(run, link, fields, state) if item.status_sync else (None, None)
    if status:
        body = _merged(body, run.provider.status_payload(status, item))
    elif jira_status:  # the ticket already sits where Jira's category wants it
        state[JIRA_STATUS_KEY] = jira_status
    if not body:
        return
    try:
        with record_call():
            record = run.provider.record_update(run.helpdesk(), item.helpdesk_object, link.record_id, body)
    except ApiBadRequest as exc:
        if isinstance(exc, RecordClosed):
            raise
        for key, digest in digests.items():
            state[key] = f"refused:{digest}"
        run.event(link, "fields", SyncEvent.Result.ERROR, f"{run.provider.brand} refused the update: {exc.message}")
        return
    state.update(digests)
    words = sorted(values)
    if status:
        state[JIRA_STATUS_KEY] = jira_status  # known only once the ticket holds it: a failed write retries it
        seen = run.provider.record_status(record or {}, item) or status
        state[HELPDESK_STATUS_KEY] = seen
        state[STATUS_KEY] = run.provider.status_value_category(seen, item) or state.get(STATUS_KEY)
        words.append(f"status → {seen}")
        run.add("transitions")
    run.add("tickets_updated")
    run.event(link, "fields", SyncEvent.Result.OK, f"Updated {', '.join(words)} on {link.record_id}")


def _merged(body: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """``body`` with ``part`` merged in, nested objects (Zoho's ``cf``) key by key."""
    merged = dict(body)
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _status_target(run: _Run, link: Link, fields: dict, state: dict) -> tuple[str | None, dict | None]:
    """The record status the issue's status category calls for (or None), and Jira's status to remember
    once that is settled (or None: nothing changed). Only a status change made in Jira is pushed: a status
    equal to the one we last knew (our own move, or the one seen when linked) is not. The caller records
    Jira's status as known only after the write succeeded (or when none is needed), so a failed write is
    retried with its status."""
    status = fields.get("status") or {}
    category = str((status.get("statusCategory") or {}).get("key") or "")
    if not category:
        return None, None
    known = state.get(JIRA_STATUS_KEY) or {}
    now = {"id": str(status.get("id", "")), "category": category}
    if known.get("category") == category:
        state[JIRA_STATUS_KEY] = now
        return None, None
    current = state.get(HELPDESK_STATUS_KEY)
    if not current:  # never seen (linked, not yet pulled): read the record once
        with record_call():
            record = run.provider.fetch_record(run.helpdesk(), link.item.helpdesk_object, link.record_id)
        current = state[HELPDESK_STATUS_KEY] = run.provider.record_status(record, link.item)
    return run.provider.status_for_category(current, category, link.item), now


# --- comments and files -------------------------------------------------------------------------------
def _author(node: dict | None) -> tuple[str, str]:
    node = node or {}
    return str(node.get("accountId") or ""), str(node.get("displayName") or "A Jira user")


def _is_restricted(comment: dict) -> bool:
    """A comment Jira shows to a role or group only, or a Jira Service Management internal note."""
    if comment.get("visibility"):
        return True
    for prop in comment.get("properties") or []:
        if prop.get("key") == "sd.public.comment" and (prop.get("value") or {}).get("internal"):
            return True
    return comment.get("jsdPublic") is False


def _copied_from_helpdesk(comment: dict) -> bool:
    return any(p.get("key") == SOURCE_PROPERTY for p in comment.get("properties") or [])


def _mapped(model, link: Link, ids: list[str]) -> tuple[dict[str, str], set[str]]:
    """For these Jira comment (or file) ids: what each already became in the helpdesk (the exactly-once
    record), and which ones are themselves our copies of helpdesk comments or files (the echo guard)."""
    done = dict(
        model.objects.filter(link=link, source_side=SIDE.JIRA, source_id__in=ids).values_list("source_id", "target_id")
    )
    copies = set(
        model.objects.filter(
            tenant_id=link.tenant_id,
            link__jira_issue_id=link.jira_issue_id,
            source_side=SIDE.HELPDESK,
            target_id__in=ids,
        ).values_list("target_id", flat=True)
    )
    return done, copies


def _fresh_comments(link: Link, comments: list[dict], ours: str) -> tuple[dict[str, str], list[dict]]:
    """What these Jira comments already became for the link (``_mapped``), and the ones still to copy: made
    after the link, not by our app, not copies of helpdesk comments."""
    done, copies = _mapped(CommentMap, link, [str(c.get("id")) for c in comments])
    fresh = [
        c
        for c in comments
        if (_parse_time(c.get("created")) or link.created_at) >= link.created_at
        and _author(c.get("author"))[0] != ours
        and not _copied_from_helpdesk(c)
        and str(c.get("id")) not in copies
        and not done.get(str(c.get("id")))
    ]
    return done, fresh


def _push_comments(run: _Run, link: Link, issue: dict, comments: list[dict], edited: list[WebhookEvent]) -> None:
    """New Jira comments (made after the link) become helpdesk comments, oldest first, each exactly once.
    Comments our app wrote (copies of helpdesk comments) are never copied back."""
    done, fresh = _fresh_comments(link, comments, run.connection.tenant.app_account_id)
    for event in edited:
        comment_id = str(((event.payload or {}).get("comment") or {}).get("id") or "")
        if done.get(comment_id) and done[comment_id] not in ("failed", "skipped"):
            run.event(
                link,
                "comment",
                SyncEvent.Result.SKIPPED,
                f"Comment {comment_id} on {link.jira_issue_key} was edited in Jira; {run.provider.brand} comments "
                "cannot be changed, so the edit was not copied.",
            )
    base = run.connection.tenant.display_url or run.connection.tenant.base_url
    for comment in sorted(fresh, key=lambda c: (str(c.get("created")), int(str(c.get("id")) or 0))):
        comment_id = str(comment.get("id"))
        _, name = _author(comment.get("author"))
        url = f"{base}/browse/{link.jira_issue_key}?focusedCommentId={comment_id}"
        head = f"{name} commented on {link.jira_issue_key}:"
        text = f"{head}\n\n{adf_to_text(comment.get('body'))}"
        html = f'<p><a href="{escape(url)}">{escape(head)}</a></p>{adf_to_html(comment.get("body"))}'
        row, done = _map_row(CommentMap, link, comment_id, f"focusedCommentId={comment_id}", run)
        if not done and _post(run, link, row, text=text, html=html, public=not _is_restricted(comment)):
            run.add("comments")
            run.event(link, "comment", SyncEvent.Result.OK, f"Copied comment {comment_id} to {link.record_id}")


def _map_row(model, link: Link, source_id: str, marker: str, run: _Run):
    """The map row of one Jira comment or file, written before the helpdesk is called. Returns (row, done):
    done when it was copied before, or when a pending row (a write cut short) turns out to have landed —
    found among our agent's recent comments by ``marker``, the link back to the Jira comment or file."""
    row, created = model.objects.get_or_create(
        tenant_id=link.tenant_id, link=link, source_side=SIDE.JIRA, source_id=source_id
    )
    if row.target_id:
        return row, True
    if not created:
        with record_call():
            found = run.provider.agent_comment_find(
                run.helpdesk(), link.item.helpdesk_object, link.record_id, run.connection.agent_id, marker
            )
        if found is not None:
            model.objects.filter(pk=row.pk).update(target_id=str(found))
            return row, True
    return row, False


def _post(run: _Run, link: Link, row, *, text: str, html: str, public: bool, uploads: list[str] | None = None) -> bool:
    """Write the helpdesk comment of a pending map row and complete the row. True when written."""
    model = type(row)
    try:
        with record_call():
            found = run.provider.comment_add(
                run.helpdesk(),
                link.item.helpdesk_object,
                link.record_id,
                text=text,
                html=html,
                public=public,
                uploads=uploads or [],
            )
    except (RecordClosed, RecordGone):  # never written: the row goes with the link's end
        model.objects.filter(pk=row.pk).delete()
        raise
    except ApiBadRequest as exc:
        model.objects.filter(pk=row.pk).update(target_id="failed", note=exc.message[:200])
        run.event(link, "comment", SyncEvent.Result.ERROR, f"{run.provider.brand} refused it: {exc.message}")
        return False
    model.objects.filter(pk=row.pk).update(target_id=str(found or "unknown"))
    return True


def _push_files(run: _Run, link: Link, issue: dict) -> None:
    """New Jira attachments (added after the link, not ones we copied from the helpdesk) are downloaded
    (Jira's redirect to its media host is followed without our JWT), uploaded to the helpdesk, and attached
    to an internal note naming the file and the issue."""
    ours = run.connection.tenant.app_account_id
    files = (issue.get("fields") or {}).get("attachment") or []
    ids = [str(a.get("id")) for a in files]
    if not ids:
        return
    done, copies = _mapped(AttachmentMap, link, ids)
    base = run.connection.tenant.display_url or run.connection.tenant.base_url
    for attachment in sorted(files, key=lambda a: int(str(a.get("id")) or 0)):
        attachment_id = str(attachment.get("id"))
        if done.get(attachment_id) or attachment_id in copies or _author(attachment.get("author"))[0] == ours:
            continue
        if (_parse_time(attachment.get("created")) or link.created_at) < link.created_at:
            continue
        _push_file(run, link, attachment, base)


def _push_file(run: _Run, link: Link, attachment: dict, base: str) -> None:
    attachment_id, name = str(attachment.get("id")), str(attachment.get("filename") or "file")
    size, limit = int(attachment.get("size") or 0), int(settings.ATTACHMENT_MAX_BYTES)
    url = f"{base}/secure/attachment/{attachment_id}/"
    marker = f"/secure/attachment/{attachment_id}/"
    row, done = _map_row(AttachmentMap, link, attachment_id, marker, run)
    if done:
        return

    def skip(why: str) -> None:
        AttachmentMap.objects.filter(pk=row.pk).update(target_id="skipped", note=why[:200])
        run.event(link, "attachment", SyncEvent.Result.SKIPPED, f"{name} was not copied: {why} (ATTACHMENT_MAX_BYTES).")

    if size > limit:
        skip(f"it is {_mb(size)}, over the {_mb(limit)} limit")
        return
    with spool() as buffer:
        try:
            run.jira().attachment_download(
                attachment_id, buffer, max_bytes=limit, allowed_hosts=list(settings.JIRA_DOWNLOAD_ALLOWED_HOSTS)
            )
        except DownloadTooLarge:
            skip(f"it is over the {_mb(limit)} limit")
            return
        except DownloadRefused as exc:
            AttachmentMap.objects.filter(pk=row.pk).update(target_id="refused", note=exc.message[:200])
            run.event(link, "attachment", SyncEvent.Result.ERROR, f"{name} was not copied: {exc.message}.")
            return
        except ApiNotFound:
            AttachmentMap.objects.filter(pk=row.pk).update(target_id="failed", note="gone from Jira")
            run.event(
                link, "attachment", SyncEvent.Result.SKIPPED, f"{name} was deleted from Jira before it was copied."
            )
            return
        buffer.seek(0)
        token = run.provider.upload(
            run.helpdesk(),
            filename=name,
            content_type=str(attachment.get("mimeType") or "application/octet-stream"),
            fileobj=buffer,
            size=file_size(buffer),
        )
    _, author = _author(attachment.get("author"))
    head = f"{author} attached {name} to {link.jira_issue_key}."
    html = f'<p><a href="{escape(url)}">{escape(head)}</a></p>'
    if _post(run, link, row, text=head, html=html, public=False, uploads=[token]):
        run.add("attachments")
        run.event(link, "attachment", SyncEvent.Result.OK, f"Copied {name} to {link.record_id}")


# --- reconcile: changes whose webhook never came --------------------------------------------------------
RECONCILE_PAGE_SIZE = 1000  # asked for; Jira may give fewer per page ("make no assumptions": its notice on
# search page sizes, developer.atlassian.com/cloud/jira/platform/change-notice-for-get-search-max-results/)
RECONCILE_PAGES_PER_POLL = 20  # then the next poll reads on (unless that would not move the search's window)
RECONCILE_MARGIN_MINUTES = 2  # the search looks back this much more than the last reconcile: clock skew


def reconcile(run: _Run, sync_state: SyncState) -> int:
    """A JQL search for issues of the two-way items' projects updated since the last reconcile (less a margin),
    oldest first, read page by page; each linked issue whose change we have not processed gets an inbox event,
    as if its webhook had come. Changes younger than ``SYNC_RECONCILE_GRACE_SECONDS`` are left to their
    webhook (the next poll looks again), and an issue with events pending to them: their pass reads the issue
    as it is then, comments included (``_push_issue``), however long they wait for a rate limit or a retry;
    if they fail in the end, they are listed with the failed events, for an admin to retry.

    At most ``SYNC_RECONCILE_MAX_ISSUES`` issues are queued per poll: then the mark stops at the first issue
    left, and the next poll continues from there (a bulk edit is reconciled over several polls, nothing
    skipped). Issues that need nothing (not linked, already seen, pending, failed) do not count, so each poll
    moves on. A poll reads at most ``RECONCILE_PAGES_PER_POLL`` pages, the mark stopping at the last issue
    read, except where that would not move the next search's window past this one's (more issues changed in
    a minute than those pages hold): then it reads on. Returns how many issues were queued."""
    tenant_id = run.connection.tenant_id
    items = list(
        ConnectedItem.objects.filter(
            tenant_id=tenant_id, connection=run.connection, mode=ConnectedItem.Mode.TWO_WAY, is_paused=False
        )
    )
    if not items:
        return 0
    now = timezone.now()
    reached = now - timedelta(seconds=settings.SYNC_RECONCILE_GRACE_SECONDS)
    since = sync_state.reconciled_at or min(i.created_at for i in items)
    minutes = max(1, math.ceil((now - since).total_seconds() / 60)) + RECONCILE_MARGIN_MINUTES
    projects = ", ".join(sorted({i.jira_project_id for i in items}))
    pages = run.jira().search_jql_pages(
        f'project in ({projects}) AND updated >= "-{minutes}m" ORDER BY updated ASC',
        fields=["updated"],
        page_size=RECONCILE_PAGE_SIZE,
    )
    queued = 0
    for number, page in enumerate(pages, 1):
        for issue_id, key, stamp, moment in _reconcile_candidates(tenant_id, items, page):
            if moment > reached:
                continue  # its webhook may still be on its way; the next poll looks again
            if queued >= settings.SYNC_RECONCILE_MAX_ISSUES:
                reached = moment  # enough for one poll: the next one continues from this issue
                break
            if synthetic_event(  # False: this change has an event already (one that failed: not again)
                tenant_id=tenant_id, issue_id=issue_id, issue_key=key, kind=RECONCILE, key=stamp, updated=stamp
            ):
                queued += 1
                transaction.on_commit(lambda i=issue_id: issue_events_enqueue(tenant_id=tenant_id, issue_id=i))
        else:
            last = _parse_time((page[-1].get("fields") or {}).get("updated")) if page else None
            if number < RECONCILE_PAGES_PER_POLL or last is None or last < since + timedelta(minutes=1):
                continue
            reached = min(reached, last)  # enough pages for one poll: the next one reads on from here
        break
    SyncState.objects.filter(pk=sync_state.pk).update(reconciled_at=reached)
    run.add("reconciled", queued)
    return queued


def _reconcile_candidates(tenant_id: int, items: list[ConnectedItem], page: list[dict]):
    """The issues of one search page (oldest first) that are linked through ``items``, changed since we last
    saw them, and have no events pending (their pass will see the change): (id, key, Jira's ``updated`` as
    given, as a datetime)."""
    updated = {str(i["id"]): (i.get("fields") or {}).get("updated") for i in page}
    linked = dict(
        Link.objects.filter(
            tenant_id=tenant_id,
            item__in=items,
            jira_issue_id__in=list(updated),
            sync_stopped_at__isnull=True,
            issue_deleted_at__isnull=True,
        ).values_list("jira_issue_id", "jira_issue_key")
    )
    seen = dict(
        IssueState.objects.filter(tenant_id=tenant_id, jira_issue_id__in=list(linked)).values_list(
            "jira_issue_id", "seen_updated"
        )
    )
    pending = set(
        WebhookEvent.objects.filter(tenant_id=tenant_id, issue_id__in=list(linked), status=STATUS.PENDING).values_list(
            "issue_id", flat=True
        )
    )
    for issue_id, stamp in updated.items():
        moment = _parse_time(stamp)
        if issue_id not in linked or issue_id in pending or moment is None:
            continue
        if seen.get(issue_id) and moment <= seen[issue_id]:
            continue
        yield issue_id, linked[issue_id], str(stamp), moment


def pending_sweep(*, now: datetime | None = None) -> int:
    """The dispatcher's safety net: issues with due pending events and no live lease (a worker died, a
    wake-up was lost) get a task. Returns how many were enqueued."""
    now = now or timezone.now()
    due = (
        WebhookEvent.objects.filter(status=STATUS.PENDING, process_after__lte=now - timedelta(seconds=10))
        .values_list("tenant_id", "issue_id")
        .distinct()[:1000]
    )
    count = 0
    for tenant_id, issue_id in due:
        owner = (
            IssueState.objects.filter(tenant_id=tenant_id, jira_issue_id=issue_id, lease_expires_at__gt=now)
            .exclude(lease_owner="")
            .values_list("lease_owner", flat=True)
            .first()
        )
        if owner and not _owner_is_dead(owner):
            continue  # a live worker has it (a dead one's lease is taken over by the task)
        issue_events_enqueue(tenant_id=tenant_id, issue_id=issue_id)
        count += 1
    return count


def events_retry(*, tenant_id: int, event_ids: list[int]) -> int:
    """An admin's retry of failed inbox events: back to pending (attempts reset), their refused writes
    forgotten, and the issues queued. Returns how many were queued again."""
    events = list(WebhookEvent.objects.filter(tenant_id=tenant_id, pk__in=event_ids, status=STATUS.FAILED))
    issues = {e.issue_id for e in events if e.issue_id}
    for issue_id in issues:
        links = Link.objects.filter(tenant_id=tenant_id, jira_issue_id=issue_id)
        for model in (CommentMap, AttachmentMap):
            model.objects.filter(link__in=links, source_side=SIDE.JIRA, target_id__in=["failed", "refused"]).delete()
        for link in links:
            state = {
                k: v
                for k, v in (link.field_state or {}).items()
                if not (k.startswith(HD_PREFIX) and str(v).startswith(("refused:", "skip:")))
            }
            Link.objects.filter(pk=link.pk).update(field_state=state)
    WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).update(
        status=STATUS.PENDING, attempts=0, process_after=timezone.now(), last_error="", processed_at=None
    )
    for issue_id in issues:
        transaction.on_commit(lambda i=issue_id: issue_events_enqueue(tenant_id=tenant_id, issue_id=i))
    return len(events)

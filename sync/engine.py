"""The pull engine (helpdesk → Jira): one poll of one connection.

A poll takes the connection's lease (one worker at a time; a lease left by a killed worker expires), reads
the helpdesk's change stream from the stored cursor, and for every changed record that is linked through a
synchronized, unpaused item: writes the mapped fields that changed since our last write (one Jira edit per
issue), moves the issue into the status category of the record (when status sync is on), refreshes the
link's preview from the same data, and stops syncing a link whose record is closed for good. Each link's
state is saved right after its Jira writes, and the cursor advances only after its whole page was applied:
a crash re-reads the page, and re-applying it writes nothing new (per-field hashes).

Comments and files come from the helpdesk's comment stream (one account-wide export, read only when a page
holds a ticket whose item copies comments or files, so an idle poll stays one call); each is copied once
(``CommentMap``/``AttachmentMap`` rows written before the Jira call, completed after; a pending row found
on a retry is looked up in Jira before writing again). Auto-create writes an ``AutoCreate`` intent before
calling Jira and tags the issue with a searchable property, so a crash never makes a second issue.

Work on different issues runs in parallel threads (``SYNC_PARALLEL_ISSUES``; one issue's links always in
one thread). Rate limits end the run as ``halted`` with the next poll set after ``Retry-After`` (the run says
how long it was told to wait, and the next run how long it waited); no worker sleeps.

A linked record the helpdesk answers 404 for (deleted there) breaks its link (``record_deleted``): marked,
said once, never synced or recreated again — in this engine and in the push engine alike. A record the change
stream itself shows deleted (``provider.record_is_deleted``: Zendesk's export lists deleted tickets) breaks its
links the same way at no extra call, and is neither synced nor auto-created from; when a later row shows it
again (a Zendesk ticket restored from deleted tickets), its links heal and sync again — a row made after the
link broke, not one read before a write got the 404. A helpdesk whose stream leaves deleted records out but lists
them apart (Zoho Desk's recycle bin: ``provider.lists_deleted``) has that list read at the comment sweep's
interval (``_deletion_sweep``), and the records of recently broken links read in turn to see them restored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connections, transaction
from django.db import connection as db_connection
from django.db.models import F, Q
from django.utils import timezone

from connector import schema as schema_service
from connector.clients.base import (
    ApiBadRequest,
    ApiError,
    ApiForbidden,
    ApiNotFound,
    ApiRateLimited,
    ApiServerError,
    ApiUnauthorized,
    DownloadRefused,
    DownloadTooLarge,
)
from connector.clients.files import file_size, spool
from connector.clients.jira import JiraClient
from connector.mapping import ValueNotMapped, jira_value, rule_for, text_to_adf
from connector.models import ConnectedItem, HelpdeskConnection
from connector.providers import client_for, provider_for
from connector.providers.base import HelpdeskComment, HelpdeskFile
from connector.services import connection_auth_failure_confirm
from tenants.auth import license_gate_applies

from .descriptor import SOURCE_PROPERTY
from .models import AttachmentMap, AutoCreate, CommentMap, Link, SyncEvent, SyncRun, SyncState

logger = logging.getLogger(__name__)

PAGES_PER_RUN = 20
SYNCHRONIZED = (ConnectedItem.Mode.ONE_WAY, ConnectedItem.Mode.TWO_WAY)
STATUS_KEY = "__status_category__"  # the helpdesk status category last applied
BLOCKED_KEY = "__status_blocked__"
JIRA_STATUS_KEY = "__jira_status__"  # the issue's status as we last knew it: {"id", "category"}
HELPDESK_STATUS_KEY = "__helpdesk_status__"  # the record's own status as we last saw or wrote it
OPENING_KEY = "__opened_at__"  # auto-created links: when the record was created (its opening comment)
EVENT_PAGES_PER_RUN = 5
INTENT_SETTLE_SECONDS = 60  # Jira's search index lags: a pending create is looked up only after this
TRANSITIONS_CACHE_SECONDS = 600
SIDE = CommentMap.Side
DONE_MARKERS = ("skipped", "failed", "refused", "not_copied")


def _owner() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_is_dead(owner: str) -> bool:
    """A lease owner on this machine whose process is gone (a worker killed and restarted here): its lease
    is taken over at once instead of after its expiry. Owners on other machines are never judged."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:30] or not pid.isdigit():
        return False
    try:
        # a killed worker not yet reaped by its parent is a zombie: dead all the same
        return psutil.Process(int(pid)).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def synchronized_items(connection: HelpdeskConnection):
    return ConnectedItem.objects.filter(
        tenant_id=connection.tenant_id, connection=connection, mode__in=SYNCHRONIZED, is_paused=False
    )


def sync_state_get(*, connection: HelpdeskConnection) -> SyncState:
    """The connection's sync state; created on first use with the stream's start: the moment the connection
    gained its first synchronized item, and never less than a minute ago (Zendesk refuses a later one)."""
    state = SyncState.objects.filter(connection=connection).first()
    if state is not None:
        return state
    first = synchronized_items(connection).order_by("created_at").values_list("created_at", flat=True).first()
    latest_allowed = timezone.now() - timedelta(seconds=61)
    start = min(first, latest_allowed) if first else latest_allowed
    state, _ = SyncState.objects.get_or_create(
        connection=connection, defaults={"tenant_id": connection.tenant_id, "start_time": int(start.timestamp())}
    )
    return state


def halt_reason(connection: HelpdeskConnection) -> tuple[str, str] | None:
    """Why this connection may not be synced now (code, words an admin can act on), or None."""
    tenant = connection.tenant
    if not tenant.is_active:
        return "tenant_inactive", "The app is disabled or uninstalled on this Jira site; nothing is synchronized."
    if license_gate_applies(tenant):
        return "license_required", "This Jira site has no active Deskbridge licence; synchronization is paused."
    if connection.status == HelpdeskConnection.Status.REVOKED:
        return "revoked", "The helpdesk connection was revoked; reconnect it on the Deskbridge admin page."
    if connection.status == HelpdeskConnection.Status.AUTH_FAILED:
        return "auth_failed", "The helpdesk rejected the stored credentials; reconnect on the Deskbridge admin page."
    if not synchronized_items(connection).exists():
        return "no_items", "No synchronized item is active on this connection (all display-only or paused)."
    return None


def lease_take(*, connection: HelpdeskConnection, owner: str) -> SyncState | None:
    """Take the connection's lease, or None when another worker holds a live one. ``skip_locked``: a worker
    never waits for another's lock, it moves on."""
    sync_state_get(connection=connection)
    now = timezone.now()
    with transaction.atomic():
        state = SyncState.objects.select_for_update(skip_locked=True).filter(connection=connection).first()
        if state is None:
            return None  # another worker is taking it right now
        live = state.lease_owner and state.lease_expires_at and state.lease_expires_at > now
        if live and not _owner_is_dead(state.lease_owner):
            return None
        if state.lease_owner:  # an expired lease: its worker died mid-run (kill -9, lost machine)
            SyncRun.objects.filter(connection=connection, outcome=SyncRun.Outcome.RUNNING).exclude(
                trigger=SyncRun.Trigger.WEBHOOK  # those belong to issue leases (sync.push)
            ).update(
                outcome=SyncRun.Outcome.FAILED,
                reason="The worker running this poll stopped before it finished; the next poll resumed from the "
                "last saved position.",
                finished_at=now,
            )
        state.lease_owner, state.lease_expires_at = owner, now + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
        state.save(update_fields=["lease_owner", "lease_expires_at"])
    return state


LEASE_EXTEND_EVERY_SECONDS = 10


def _lease_extend(state: SyncState, owner: str, *, force: bool = False) -> None:
    """Push the lease's expiry out while working (a write at most every 10 s, not one per issue)."""
    now = time.monotonic()
    if not force and now - getattr(state, "_extended_at", 0.0) < LEASE_EXTEND_EVERY_SECONDS:
        return
    state._extended_at = now
    SyncState.objects.filter(pk=state.pk, lease_owner=owner).update(
        lease_expires_at=timezone.now() + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    )


def _lease_release(state: SyncState, owner: str, **changes: Any) -> None:
    SyncState.objects.filter(pk=state.pk, lease_owner=owner).update(lease_owner="", lease_expires_at=None, **changes)


@dataclass
class _Run:
    """One run's accumulators, shared by the threads of a poll (guarded by a lock), and per-poll memos
    (schemas, workflow transitions, Jira users by email, author names): read once per poll, not per link."""

    run: SyncRun
    connection: HelpdeskConnection
    provider: Any
    counts: Counter = field(default_factory=Counter)
    events: list[SyncEvent] = field(default_factory=list)
    schemas: dict[str, Any] = field(default_factory=dict)
    memo: dict[Any, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)
    clients: list[Any] = field(default_factory=list)
    error: Exception | None = None  # what ended the run early, if anything (the push engine reschedules on it)
    direction: str = "to_jira"  # what its events record: to_jira (pull) or to_helpdesk (push)
    waited_s: int | None = None  # this run comes after a rate limit stopped an earlier one, this long ago

    # clients: one pair per thread (a requests session is not shared between threads) ------------------
    def jira(self) -> JiraClient:
        if not hasattr(self.local, "jira"):
            self.local.jira = JiraClient(self.connection.tenant)
            with self.lock:
                self.clients.append(self.local.jira)
        return self.local.jira

    def helpdesk(self):
        if not hasattr(self.local, "helpdesk"):
            self.local.helpdesk = client_for(self.connection)
            with self.lock:
                self.clients.append(self.local.helpdesk)
        return self.local.helpdesk

    def api_calls(self) -> dict[str, int]:
        totals = {self.provider.key: 0, "jira": 0}
        for client in self.clients:
            key = "jira" if isinstance(client, JiraClient) else self.provider.key
            totals[key] += client.calls
        return totals

    def credits(self) -> int:
        """Helpdesk API credits spent (clients that bill credits count them; others spend none)."""
        return sum(getattr(c, "credits", 0) for c in self.clients if not isinstance(c, JiraClient))

    def key_lock(self, key: Any) -> threading.Lock:
        with self.lock:
            return self.memo.setdefault(("lock", key), threading.Lock())

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    # memos ------------------------------------------------------------------------------------------
    def jira_types(self, connection) -> dict[str, str]:
        with self.key_lock("schema:jira"):  # parallel threads read Jira's fields once per run
            if "jira" not in self.schemas:
                fields = schema_service.jira_fields(tenant=connection.tenant)
                self.schemas["jira"] = {f["id"]: f["type"] for f in fields}
        return self.schemas["jira"]

    def helpdesk_fields(self, connection, helpdesk_object: str) -> list[dict[str, Any]]:
        key = f"helpdesk:{helpdesk_object}"
        with self.key_lock(f"schema:{key}"):
            if key not in self.schemas:
                self.schemas[key] = schema_service.helpdesk_fields(
                    tenant=connection.tenant,
                    connection=connection,
                    helpdesk_object=helpdesk_object,
                    client=self.helpdesk(),  # the run's client: its calls count in the run
                )
        return self.schemas[key]

    def create_fields(self, item: ConnectedItem) -> dict[str, dict[str, Any]]:
        key = f"createmeta:{item.jira_project_id}:{item.jira_issue_type_id}"
        if key not in self.schemas:
            fields = schema_service.jira_create_fields(
                tenant=self.connection.tenant, project=item.jira_project_id, issue_type_id=item.jira_issue_type_id
            )
            self.schemas[key] = {f["id"]: f for f in fields}
        return self.schemas[key]

    def event(
        self, link: Link | None, action: str, result: str, message: str, *, item: ConnectedItem | None = None
    ) -> None:
        row = SyncEvent(
            tenant_id=self.connection.tenant_id,
            run=self.run,
            link=link,
            item_id=link.item_id if link is not None else (item.pk if item else None),
            action=action,
            direction=self.direction,
            result=result,
            message=message[:2000],
        )
        with self.lock:
            self.events.append(row)
            if result == SyncEvent.Result.ERROR:
                self.counts["errors"] += 1
            elif result == SyncEvent.Result.SKIPPED:
                self.counts["skipped"] += 1

    def flush_events(self) -> None:
        with self.lock:
            rows, self.events = self.events, []
        SyncEvent.objects.bulk_create(rows)


COUNT_KEYS = (
    "tickets_seen",
    "tickets_updated",
    "reconciled",
    "issues_created",
    "records_created",
    "issues_updated",
    "transitions",
    "comments",
    "attachments",
    "skipped",
    "errors",
    "rate_limited_wait_s",  # the wait a rate limit asked for (Retry-After) when it stopped this run
    "waited_s",  # how long ago a rate limit stopped the run this one follows
)
WAIT_COUNT_KEYS = ("rate_limited_wait_s", "waited_s")  # said in the run's reason, in words


def connection_poll(*, connection_id: int, trigger: str = SyncRun.Trigger.SCHEDULE) -> SyncRun | None:
    """One poll of one connection, and the reconcile of its two-way items' Jira side (``sync.push``).
    Returns the run, or None when nothing was run (lease held elsewhere, or a halt already recorded)."""
    from .jira_create import creation_sweeps
    from .push import reconcile

    connection = HelpdeskConnection.objects.select_related("tenant").filter(pk=connection_id).first()
    if connection is None:
        return None
    state = sync_state_get(connection=connection)
    halted = halt_reason(connection)
    if halted is not None:
        return _record_halt(connection, state, trigger, *halted)
    owner = _owner()
    state = lease_take(connection=connection, owner=owner)
    if state is None:
        logger.info("poll of connection %s skipped: another worker holds its lease", connection.pk)
        return None
    provider = provider_for(connection.provider)
    run = _Run(
        SyncRun.objects.create(tenant_id=connection.tenant_id, connection=connection, trigger=trigger),
        connection,
        provider,
    )
    run.waited_s = _poll_waited(run)
    release: dict[str, Any] = {"halted_reason": "", "requested_at": None, "last_poll_at": timezone.now()}

    def work() -> None:
        _intents_sweep(run)
        objects = set(synchronized_items(connection).values_list("helpdesk_object", flat=True))
        for stream in provider.streams(objects):  # one change stream (and cursor) per synchronized object
            for _ in range(PAGES_PER_RUN):
                cursor = (state.cursors or {}).get(stream) or None
                page = provider.changes(
                    run.helpdesk(), stream, cursor=cursor, start_time=None if cursor else state.start_time
                )
                run.add("tickets_seen", len(page.records))
                events_time, events_behind = _apply_page(run, stream, page.records, state, owner)
                with transaction.atomic():
                    run.flush_events()
                    state.cursors = {**(state.cursors or {}), stream: page.cursor or ""}
                    changes: dict[str, Any] = {"cursors": state.cursors}
                    if events_time is not None:
                        state.events_time, state.events_behind = events_time, events_behind
                        changes.update(events_time=events_time, events_behind=events_behind)
                    SyncState.objects.filter(pk=state.pk, lease_owner=owner).update(**changes)
                _lease_extend(state, owner, force=True)
                if page.done:
                    break
        if provider.lists_deleted:
            _deletion_sweep(run, state, owner)
        if provider.comments_per_record:
            _comment_sweep(run, state, owner)
        reconcile(run, state)
        creation_sweeps(run)  # auto-create from Jira: new issues whose webhook never came are caught here
        synchronized_items(connection).update(last_sync_at=timezone.now())

    _run_guarded(run, work, release)
    _lease_release(state, owner, **release)
    return run.run


def _poll_waited(run: _Run) -> int | None:
    """Seconds since a rate limit stopped the connection's previous poll (None: it was not stopped so)."""
    previous = (
        SyncRun.objects.filter(tenant_id=run.connection.tenant_id, connection=run.connection, finished_at__isnull=False)
        .exclude(trigger=SyncRun.Trigger.WEBHOOK)  # the push engine's runs (sync.push)
        .order_by("-started_at", "-id")
        .first()
    )
    if previous is None or not (previous.counts or {}).get("rate_limited_wait_s"):
        return None
    return int((run.run.started_at - previous.finished_at).total_seconds())


def seconds_words(seconds: int) -> str:
    """A wait in words: "60 s", "900 s (about 15 min)", "43200 s (about 12 h)"."""
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds} s (about {round(seconds / 60)} min)"
    return f"{seconds} s (about {round(seconds / 3600)} h)"


def _run_guarded(run: _Run, work, release: dict[str, Any], *, summarize: bool = True, retried: bool = True) -> None:
    """Run ``work`` and end the run with the outcome its errors say (typed errors, in words an admin can act
    on); rate limits set the next poll after ``Retry-After``, and the run records the wait (``retried``: the
    caller does retry after it — the poll's next run, the push's rescheduled events; a single link's pass is
    not retried). A run that follows a rate-limited one (``run.waited_s``) says how long it waited."""
    connection = run.connection
    if run.waited_s is not None:
        run.counts["waited_s"] = run.waited_s
    try:
        try:
            work()
        except Exception as exc:
            run.error = exc
            raise
        run.run.outcome, run.run.reason = SyncRun.Outcome.SUCCESS, ""
        if run.waited_s is not None:
            run.run.reason = f"Ran after waiting {seconds_words(run.waited_s)} for a rate limit."
    except (ApiRateLimited, ApiServerError) as exc:
        if isinstance(exc, ApiServerError) and exc.retry_after is None:
            run.run.outcome = SyncRun.Outcome.HALTED
            run.run.reason = f"{exc.message}; the next poll tries again from where this one stopped."
        else:
            wait = int(exc.retry_after or 60)
            release["next_poll_at"] = timezone.now() + timedelta(seconds=wait)
            run.counts["rate_limited_wait_s"] = wait
            run.run.outcome = SyncRun.Outcome.HALTED
            service = exc.service or "the service"
            why = (
                f"Rate limited by {service}"
                if isinstance(exc, ApiRateLimited)
                else f"{service} asked to wait ({exc.message})"
            )
            run.run.reason = (
                f"{why}: retrying in {seconds_words(wait)}."
                if retried
                else f"{why}: nothing more was synced; try again in {seconds_words(wait)}."
            )
            if type(exc) not in (ApiRateLimited, ApiServerError):  # a limit the client named (Zoho's daily credits)
                run.run.reason += f" {exc.message}."
    except ApiForbidden as exc:
        run.run.outcome = SyncRun.Outcome.HALTED
        help_ = (
            "Check that Deskbridge's app is installed with its permissions in Jira."
            if exc.service == "Jira"
            else run.provider.access_help
        )
        run.run.reason = f"{exc.service} refused access ({exc.message}). {help_}"
    except ApiUnauthorized as exc:
        confirmed = exc.service != "Jira" and connection_auth_failure_confirm(connection=connection)
        run.run.outcome = SyncRun.Outcome.HALTED
        run.run.reason = (
            f"{exc.service} rejected the stored credentials; reconnect on the Deskbridge admin page."
            if confirmed
            else f"{exc.service} refused a request ({exc.message}); the next poll tries again."
        )
    except ApiError as exc:
        run.run.outcome = SyncRun.Outcome.HALTED if exc.transient else SyncRun.Outcome.FAILED
        run.run.reason = f"{exc.message}; the next poll tries again from where this one stopped."
    except Exception as exc:
        logger.exception("sync run %s of connection %s failed", run.run.pk, connection.pk)
        run.run.outcome = SyncRun.Outcome.FAILED
        run.run.reason = f"Unexpected error ({type(exc).__name__}); the next poll retries. Support has the details."
    finally:
        run.flush_events()
        run.run.finished_at = timezone.now()
        run.run.counts = {key: run.counts.get(key, 0) for key in COUNT_KEYS}
        run.run.api_calls = run.api_calls()
        run.run.credits = run.credits()
        run.run.save()
        if summarize:
            _items_summary(run)


def _items_summary(run: _Run) -> None:
    """Each item's latest error, in words an admin can act on: the run's reason when it did not succeed,
    else the last error event of the item in this run (cleared when there was none)."""
    items = synchronized_items(run.connection)
    if run.run.outcome != SyncRun.Outcome.SUCCESS:
        items.update(last_error=run.run.reason[:1000])
        return
    errors = dict(
        SyncEvent.objects.filter(run=run.run, result=SyncEvent.Result.ERROR, item__isnull=False)
        .order_by("id")
        .values_list("item_id", "message")
    )
    for item_id, message in errors.items():
        items.filter(pk=item_id).update(last_error=message[:1000])
    items.exclude(pk__in=list(errors)).exclude(last_error="").update(last_error="")


def link_pass(*, link_id: int, trigger: str = SyncRun.Trigger.REFRESH) -> SyncRun | None:
    """The poll's pass for one link, now, from the record read live (the panel's Refresh on a synchronized
    link, and retries of failed events). None when the connection cannot be synced or another worker holds
    its lease (the caller queues ``sync.tasks.link_pass_task``)."""
    link = (
        Link.objects.select_related("item__connection__tenant")
        .prefetch_related("item__mappings")
        .filter(pk=link_id, sync_stopped_at__isnull=True, item__mode__in=SYNCHRONIZED, item__is_paused=False)
        .first()
    )
    if link is None:
        return None
    item, connection = link.item, link.item.connection
    if halt_reason(connection) is not None:
        return None
    owner = _owner()
    state = lease_take(connection=connection, owner=owner)
    if state is None:
        return None
    provider = provider_for(connection.provider)
    run = _Run(
        SyncRun.objects.create(tenant_id=connection.tenant_id, connection=connection, trigger=trigger),
        connection,
        provider,
    )

    def work() -> None:
        try:
            with record_call():
                record = provider.fetch_record(run.helpdesk(), item.helpdesk_object, link.record_id)
                comments = (
                    provider.record_comments(
                        run.helpdesk(), item.helpdesk_object, link.record_id, files=item.attachment_sync
                    )
                    if item.comment_sync or item.attachment_sync
                    else []
                )
        except RecordGone:
            record_deleted(run, link)
            return
        run.add("tickets_seen")
        field_ids = {m.helpdesk_field for m in item.mappings.all() if m.direction == "to_jira"}
        values = provider.record_values(run.helpdesk(), connection, [record], field_ids) if field_ids else {}
        _link_pass(run, link, record, values.get(link.record_id, {}), comments)
        preview = _previews(run, [link], {link.record_id: record}).get((item.pk, link.record_id))
        _link_save(run, link, record, preview)

    _run_guarded(run, work, {}, summarize=False, retried=False)
    _lease_release(state, owner)
    return run.run


def _record_halt(connection, state, trigger, code: str, reason: str) -> SyncRun | None:
    """A halted poll is recorded once per reason (not every minute); Sync now always records one."""
    now = timezone.now()
    SyncState.objects.filter(pk=state.pk).update(halted_reason=code, requested_at=None, last_poll_at=now)
    if state.halted_reason == code and trigger != SyncRun.Trigger.MANUAL:
        return None
    return SyncRun.objects.create(
        tenant_id=connection.tenant_id,
        connection=connection,
        trigger=trigger,
        outcome=SyncRun.Outcome.HALTED,
        reason=reason,
        finished_at=now,
        counts=dict.fromkeys(COUNT_KEYS, 0),
        api_calls={connection.provider: 0, "jira": 0},
    )


def _item_links(connection, helpdesk_object: str, record_ids):
    """Links of the connection's synchronized, unpaused items to these records, in order."""
    return (
        Link.objects.filter(
            tenant_id=connection.tenant_id,
            item__connection=connection,
            item__helpdesk_object=helpdesk_object,
            item__mode__in=SYNCHRONIZED,
            item__is_paused=False,
            record_id__in=sorted(record_ids),
        )
        .select_related("item")
        .order_by("id")
    )


def _sync_links(connection, helpdesk_object: str, record_ids) -> list[Link]:
    """The links a page of changes syncs: not stopped (closed, broken)."""
    return list(
        _item_links(connection, helpdesk_object, record_ids)
        .filter(sync_stopped_at__isnull=True)
        .prefetch_related("item__mappings")
    )


def _apply_page(run: _Run, stream: str, records, state: SyncState, owner: str) -> tuple[int | None, bool]:
    """Apply one page of changed records of one object: auto-create, then every linked issue's pass (fields,
    status, comments, files, preview). Returns where the comment stream now stands (None: not read)."""
    connection, provider = run.connection, run.provider
    deleted = {str(r["id"]) for r in records if provider.record_is_deleted(r)}
    if deleted:  # never synced into Jira nor auto-created from: their links break (said once each)
        records = [r for r in records if str(r["id"]) not in deleted]
        records_deleted(run, stream, deleted)
    by_id = {str(r["id"]): r for r in records}
    if by_id:
        records_restored(run, stream, by_id)
    created = _auto_create(run, stream, records) if records else []
    links = _sync_links(connection, stream, by_id) if by_id else []
    wants_comments = any(link.item.comment_sync or link.item.attachment_sync for link in links)
    comments: dict[str, list[HelpdeskComment]] = defaultdict(list)
    events_time, events_behind = None, False
    if provider.comments_per_record:
        comments = _record_comments(run, stream, links)
    elif wants_comments or created or state.events_behind:
        start = state.events_time or state.start_time or int(timezone.now().timestamp()) - 3600
        for _ in range(EVENT_PAGES_PER_RUN):
            page = provider.comments_since(run.helpdesk(), start_time=start)
            for comment in page.comments:  # pages repeat the rows at their boundary: one per comment id
                if all(c.id != comment.id for c in comments[comment.record_id]):
                    comments[comment.record_id].append(comment)
            events_time, events_behind = page.next_time, not page.done
            if page.done or page.next_time <= start:
                break
            start = page.next_time
        extra = set(comments) - set(by_id)
        if extra:  # comments on linked tickets whose other changes this page did not carry
            links += [
                link
                for link in _sync_links(connection, stream, extra)
                if link.item.comment_sync or link.item.attachment_sync
            ]
    if not links:
        return events_time, events_behind
    field_ids = {m.helpdesk_field for link in links for m in link.item.mappings.all() if m.direction == "to_jira"}
    linked = [by_id[rid] for rid in sorted({link.record_id for link in links if link.record_id in by_id})]
    values = provider.record_values(run.helpdesk(), connection, linked, field_ids) if field_ids and linked else {}
    previews = _previews(run, [link for link in links if link.record_id in by_id], by_id)
    groups: dict[str, list[Link]] = defaultdict(list)
    for link in links:
        groups[link.jira_issue_id].append(link)

    def issue_pass(group: list[Link]) -> None:
        for link in group:
            record = by_id.get(link.record_id)
            _link_pass(run, link, record, values.get(link.record_id, {}), comments.get(link.record_id, []))
            _link_save(run, link, record, previews.get((link.item_id, link.record_id)))
        _lease_extend(state, owner)

    _in_parallel(issue_pass, list(groups.values()), cap=provider.max_parallel)
    return events_time, events_behind


def _record_comments(run: _Run, stream: str, links: list[Link]) -> dict[str, list[HelpdeskComment]]:
    """Comments (and files) of the changed records whose links copy them, read once per record, in parallel
    (a helpdesk without an account-wide comment stream)."""
    wanted: dict[str, bool] = {}
    for link in links:
        if link.item.comment_sync or link.item.attachment_sync:
            wanted[link.record_id] = wanted.get(link.record_id, False) or link.item.attachment_sync
    found: dict[str, list[HelpdeskComment]] = {}

    def read(record_ids: list[str]) -> None:
        for record_id in record_ids:
            try:
                with record_call():
                    comments = run.provider.record_comments(run.helpdesk(), stream, record_id, files=wanted[record_id])
            except RecordGone:  # deleted in the helpdesk: its links break (a poll never fails on it again)
                for link in links:
                    if link.record_id == record_id:
                        record_deleted(run, link)
                continue
            with run.lock:
                found[record_id] = comments

    _in_parallel(read, [[record_id] for record_id in sorted(wanted)], cap=run.provider.max_parallel)
    Link.objects.filter(pk__in=[link.pk for link in links if link.record_id in found]).update(
        comments_read_at=timezone.now()
    )
    return found


def _comment_sweep(run: _Run, state: SyncState, owner: str) -> None:
    """A helpdesk without a comment stream does not always mark a record modified when a comment is added:
    each poll also reads the comments of up to ``SYNC_COMMENT_SWEEP_LINKS`` linked records that copy comments
    or files and were not read for ``SYNC_COMMENT_SWEEP_SECONDS``, least recently read first. Between sweeps an
    idle poll stays one call per polled object."""
    limit = int(settings.SYNC_COMMENT_SWEEP_LINKS)
    if limit <= 0:
        return
    links = list(
        Link.objects.filter(
            tenant_id=run.connection.tenant_id,
            item__connection=run.connection,
            item__mode__in=SYNCHRONIZED,
            item__is_paused=False,
            item__helpdesk_object__in=sorted(run.provider.syncable_objects),
            sync_stopped_at__isnull=True,
        )
        .filter(Q(item__comment_sync=True) | Q(item__attachment_sync=True))
        .filter(
            Q(comments_read_at__isnull=True)
            | Q(comments_read_at__lt=timezone.now() - timedelta(seconds=settings.SYNC_COMMENT_SWEEP_SECONDS))
        )
        .select_related("item")
        .prefetch_related("item__mappings")
        .order_by(F("comments_read_at").asc(nulls_first=True), "id")[:limit]
    )
    by_object: dict[str, list[Link]] = defaultdict(list)
    for link in links:
        by_object[link.item.helpdesk_object].append(link)
    for stream, group in by_object.items():
        comments = _record_comments(run, stream, group)
        issues: dict[str, list[Link]] = defaultdict(list)
        for link in group:
            if comments.get(link.record_id):
                issues[link.jira_issue_id].append(link)

        def issue_pass(batch: list[Link], comments=comments) -> None:
            for link in batch:
                _link_pass(run, link, None, {}, comments[link.record_id])
                _link_save(run, link, None, None)
            _lease_extend(state, owner)

        _in_parallel(issue_pass, list(issues.values()), cap=run.provider.max_parallel)
    run.flush_events()


DELETED_CURSOR = "__deleted__"  # the deletion sweep's place in SyncState.cursors (no change stream is named so)


def _deletion_sweep(run: _Run, state: SyncState, owner: str) -> None:
    """A helpdesk whose change stream leaves deleted records out but lists them apart (Zoho Desk's recycle
    bin, ``provider.lists_deleted``): at the comment sweep's interval (``SYNC_COMMENT_SWEEP_SECONDS``, from the
    connection's start), a poll of a connection with links to watch reads that list since its last read — every
    linked record in it breaks its links as a 404 would (``records_deleted``) — and reads the records of up to
    ``SYNC_COMMENT_SWEEP_LINKS`` links broken within ``provider.restorable_days``, in turn: a record back in
    the helpdesk (restored) heals its links, which sync again at once. A helpdesk that refuses the list (an
    agent without the permission) is said once; deletions are then seen by 404s only."""
    provider = run.provider
    saved = json.loads((state.cursors or {}).get(DELETED_CURSOR) or "{}")
    began, now = timezone.now(), time.time()
    last = float(saved.get("at") or state.start_time or 0)  # the first read: an interval after the start
    if now - last < settings.SYNC_COMMENT_SWEEP_SECONDS:
        return
    links = Link.objects.filter(
        tenant_id=run.connection.tenant_id,
        item__connection=run.connection,
        item__mode__in=SYNCHRONIZED,
        item__is_paused=False,
        item__helpdesk_object__in=sorted(provider.syncable_objects),
        issue_deleted_at__isnull=True,
    )
    watched: dict[str, set[str]] = defaultdict(set)
    for helpdesk_object, record_id in links.filter(record_deleted_at__isnull=True).values_list(
        "item__helpdesk_object", "record_id"
    ):
        watched[helpdesk_object].add(record_id)
    if watched:
        try:
            page = provider.deleted_records(
                run.helpdesk(), dict(watched), cursor=saved.get("list"), start_time=state.start_time
            )
        except (ApiForbidden, ApiBadRequest, ApiNotFound) as exc:
            if not saved.get("refused"):
                run.event(
                    None,
                    "deleted_records",
                    SyncEvent.Result.SKIPPED,
                    f"{provider.brand} refused to list its deleted records ({exc.message}): a deleted record's "
                    f"links break only when Deskbridge reads or writes it. {provider.deleted_help}",
                )
            saved["refused"] = True
        else:
            saved.pop("refused", None)
            saved["list"] = page.cursor
            for helpdesk_object, record_ids in sorted(page.deleted.items()):
                records_deleted(run, helpdesk_object, record_ids)
    broken = links.filter(record_deleted_at__lt=began)  # not those the list just broke
    saved["next"] = _restored_check(run, broken, int(saved.get("next") or 0), state, owner)
    saved["at"] = now
    with transaction.atomic():
        run.flush_events()
        state.cursors = {**(state.cursors or {}), DELETED_CURSOR: json.dumps(saved)}
        SyncState.objects.filter(pk=state.pk, lease_owner=owner).update(cursors=state.cursors)


def _restored_check(run: _Run, links, after: int, state: SyncState, owner: str) -> int:
    """Read the records of up to ``SYNC_COMMENT_SWEEP_LINKS`` broken ``links`` (broken within the helpdesk's
    restorable days), from the one after link ``after`` on, wrapping around; a record that is back heals every
    link to it, each synced from that read (fields, status, preview; its comments by the comment sweep that
    follows). Returns the last link read, where the next check goes on."""
    since = timezone.now() - timedelta(days=run.provider.restorable_days)
    broken = links.filter(record_deleted_at__isnull=False, record_deleted_at__gte=since).order_by("pk")
    limit = int(settings.SYNC_COMMENT_SWEEP_LINKS)
    batch = list(broken.filter(pk__gt=after)[:limit]) or (list(broken[:limit]) if after else [])
    read: set[tuple[str, str]] = set()
    for helpdesk_object, record_id in ((link.item.helpdesk_object, link.record_id) for link in batch):
        if (helpdesk_object, record_id) in read:
            continue  # links of one record read it once
        read.add((helpdesk_object, record_id))
        try:
            with record_call():
                record = run.provider.fetch_record(run.helpdesk(), helpdesk_object, record_id)
        except RecordGone:
            continue
        if run.provider.record_is_deleted(record):
            continue
        restorable = _stream_links(run.connection, helpdesk_object, [record_id]).filter(record_deleted_at__isnull=False)
        for link in restorable.prefetch_related("item__mappings"):
            record_restored(run, link)
            if link.record_deleted_at is None:  # healed here: sync it from the record just read
                _restored_pass(run, link, record)
        _lease_extend(state, owner)
    return batch[-1].pk if batch else 0


def _restored_pass(run: _Run, link: Link, record: dict[str, Any]) -> None:
    item = link.item
    field_ids = {m.helpdesk_field for m in item.mappings.all() if m.direction == "to_jira"}
    values = run.provider.record_values(run.helpdesk(), run.connection, [record], field_ids) if field_ids else {}
    _link_pass(run, link, record, values.get(link.record_id, {}), [])
    preview = _previews(run, [link], {link.record_id: record}).get((item.pk, link.record_id))
    _link_save(run, link, record, preview)
    Link.objects.filter(pk=link.pk).update(comments_read_at=None)  # first in the comment sweep's line


class RecordGone(ApiNotFound):
    """The helpdesk answered 404 to a read or a write of a linked record: it was deleted there."""


@contextmanager
def record_call() -> Iterator[None]:
    """Around a helpdesk call about one linked record: its 404 means the record is gone (``RecordGone``,
    handled by ``record_deleted``), not an error to retry."""
    try:
        yield
    except ApiNotFound as exc:
        raise RecordGone(exc.message, status=exc.status, body=exc.body, service=exc.service) from exc


def record_noun(provider, helpdesk_object: str) -> str:
    """One record of the object, in words: "Ticket", "Customer", "Time entry"."""
    label = provider.object_label(helpdesk_object)
    if label.endswith("ies"):
        return label[:-3] + "y"
    return label.removesuffix("s")


def record_deleted(run: _Run, link: Link) -> None:
    """The link's record no longer exists in the helpdesk: the link is marked broken and stops syncing (both
    engines leave stopped links alone), said once. Nothing is recreated: the link stays, showing what it
    last synced, until someone unlinks it."""
    now = timezone.now()
    marked = Link.objects.filter(pk=link.pk, record_deleted_at__isnull=True).update(
        record_deleted_at=now, sync_stopped_at=now
    )
    link.record_deleted_at = link.sync_stopped_at = now
    if marked:
        run.event(
            link,
            "record_deleted",
            SyncEvent.Result.SKIPPED,
            f"{record_noun(run.provider, link.item.helpdesk_object)} {link.record_id} no longer exists in "
            f"{run.provider.brand}: the link from {link.jira_issue_key} is broken; nothing was recreated.",
        )


def _stream_links(connection, helpdesk_object: str, record_ids):
    """Links of the connection's synchronized, unpaused items to these records, stopped or not, but not those
    already broken on the Jira side (their issue was deleted: nothing more breaks or heals there)."""
    return _item_links(connection, helpdesk_object, record_ids).filter(issue_deleted_at__isnull=True)


def records_deleted(run: _Run, helpdesk_object: str, record_ids) -> None:
    """Records the change stream shows deleted in the helpdesk: every link to them breaks as on a 404
    (``record_deleted``: marked, said once, nothing recreated) — a link stopped because its ticket was closed
    too, since a deletion schedule may delete closed tickets. No helpdesk call."""
    for link in _stream_links(run.connection, helpdesk_object, record_ids).filter(record_deleted_at__isnull=True):
        record_deleted(run, link)


def records_restored(run: _Run, helpdesk_object: str, rows: dict[str, dict[str, Any]]) -> None:
    """Records the change stream shows again, not deleted (a Zendesk ticket restored from deleted tickets),
    whose links their deletion broke: the links heal (``record_restored``) and this page's pass syncs them
    again. Only a row made after the link was marked broken heals it: a page read before a write got the
    record's 404 still shows the record as it was, and healing from it would only have the next write break
    the link again. No helpdesk call."""
    for link in _stream_links(run.connection, helpdesk_object, rows).filter(record_deleted_at__isnull=False):
        made = run.provider.row_time(rows[link.record_id])
        if made is not None:
            record_restored(run, link, seen_at=datetime.fromtimestamp(made, tz=UTC))


def record_restored(run: _Run, link: Link, *, seen_at: datetime | None = None) -> None:
    """The link's record exists again in the helpdesk: the link is no longer broken nor stopped (a restored
    closed ticket stops it again, as closed, in the pass that follows), said once. ``seen_at``: when the
    helpdesk showed it so (a change-stream row); the link heals only if it was marked broken before then.
    None: the record was just read live."""
    healing = Link.objects.filter(pk=link.pk, record_deleted_at__isnull=False, issue_deleted_at__isnull=True)
    if seen_at is not None:
        healing = healing.filter(record_deleted_at__lt=seen_at)
    healed = healing.update(record_deleted_at=None, sync_stopped_at=None)
    if not healed:
        return
    link.record_deleted_at = link.sync_stopped_at = None
    run.event(
        link,
        "record_restored",
        SyncEvent.Result.OK,
        f"{record_noun(run.provider, link.item.helpdesk_object)} {link.record_id} is back in "
        f"{run.provider.brand} (restored): the link from {link.jira_issue_key} syncs again.",
    )


def _link_save(run: _Run, link: Link, record, preview: dict | None) -> None:
    """Store what a pass learnt: field state, and — when the record itself was read — the fresh preview and,
    for a record closed for good, the end of syncing.

    Pull (helpdesk → Jira) and push (Jira → helpdesk) may pass over one link at the same moment: the state
    is merged under the row's lock (only the keys this pass changed are written), so neither loses the
    other's hashes."""
    changes: dict[str, Any] = {}
    if record is not None:
        link.preview = preview or link.preview
        link.preview_updated_at = timezone.now()
        changes.update(preview=link.preview, preview_updated_at=link.preview_updated_at)
        if run.provider.is_closed(record) and link.sync_stopped_at is None:
            link.sync_stopped_at = timezone.now()
            run.event(link, "closed", SyncEvent.Result.OK, "The ticket is closed; this link no longer syncs.")
    if link.sync_stopped_at is not None:
        changes["sync_stopped_at"] = link.sync_stopped_at
    state_save(link, changes)


def state_pass_begin(link: Link) -> dict[str, Any]:
    """The link's field state for a pass to change; ``state_save`` writes back only what the pass changed."""
    link._state_before = dict(link.field_state or {})
    return dict(link.field_state or {})


def state_save(link: Link, changes: dict[str, Any] | None = None) -> None:
    before = getattr(link, "_state_before", None)
    ours = dict(link.field_state or {})
    with transaction.atomic():
        row = Link.objects.select_for_update().filter(pk=link.pk).values_list("field_state", flat=True).first()
        if row is None:
            return  # unlinked meanwhile
        if before is None:
            merged = ours
        else:
            merged = dict(row or {})
            for key in set(before) | set(ours):
                if key not in ours:
                    merged.pop(key, None)
                elif before.get(key) != ours[key]:
                    merged[key] = ours[key]
        Link.objects.filter(pk=link.pk).update(field_state=merged, **(changes or {}))
    link.field_state = merged
    link._state_before = dict(merged)


def _parallelism() -> int:
    if db_connection.vendor == "sqlite":
        return 1  # one writer at a time: threads would only wait on each other's locks
    return max(1, int(settings.SYNC_PARALLEL_ISSUES))


def _in_parallel(func, groups: list, *, cap: int | None = None) -> None:
    """``func(group)`` for every group, in up to SYNC_PARALLEL_ISSUES threads (and no more than ``cap``: the
    helpdesk's limit of calls in flight), each group in one thread. The first error is raised after every
    started group finished; each thread closes its own database connection."""
    workers = min(_parallelism(), len(groups), cap or len(groups))
    if workers <= 1:
        for group in groups:
            func(group)
        return

    def guarded(group):
        try:
            func(group)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deskbridge-sync") as pool:
        futures = [pool.submit(guarded, group) for group in groups]
    for future in futures:
        future.result()


def _previews(run: _Run, links, by_id) -> dict[tuple[int, str], dict]:
    """The panel's snapshot, from the records the stream gave (related people fetched in batches)."""
    result = {}
    items = {link.item_id: link.item for link in links}
    for item in items.values():
        fields = run.helpdesk_fields(run.connection, item.helpdesk_object)
        records = [by_id[rid] for rid in sorted({link.record_id for link in links if link.item_id == item.pk})]
        for preview in run.provider.previews(
            run.helpdesk(), run.connection, item.helpdesk_object, records, fields, item.display_fields
        ):
            result[(item.pk, preview["id"])] = preview
    return result


def _link_pass(run: _Run, link: Link, record, values, comments: list[HelpdeskComment]) -> None:
    """Everything one link needs from the helpdesk: fields and status (when its record changed), then
    comments and files (when any were made)."""
    item = link.item
    state = state_pass_begin(link)
    try:
        if record is not None:
            previous = state.get(HELPDESK_STATUS_KEY)
            state[HELPDESK_STATUS_KEY] = run.provider.record_status(record, item)
            desired = _desired_fields(run, item, link, values, state)
            if desired:
                _write_fields(run, link, desired, state)
            if item.status_sync:
                if previous is not None and previous != state[HELPDESK_STATUS_KEY]:
                    # Someone changed the record's status: apply its category even if it is the one last
                    # applied (Jira may have left it since, e.g. to a status the record already satisfied).
                    state.pop(STATUS_KEY, None)
                _sync_status(run, link, record, state)
        if comments and (item.comment_sync or item.attachment_sync):
            _sync_comments(run, link, comments, state)
    finally:
        link.field_state = state


def _desired_fields(run: _Run, item, link, values, state, *, only_changed: bool = True) -> dict[str, tuple[Any, str]]:
    connection = run.connection
    mappings = [m for m in item.mappings.all() if m.direction == "to_jira"]
    if not mappings:
        return {}
    jira_types = run.jira_types(connection)
    helpdesk = {f["id"]: f for f in run.helpdesk_fields(connection, item.helpdesk_object)}
    desired = {}
    for mapping in mappings:
        source = helpdesk.get(mapping.helpdesk_field) or {"type": "text", "options": []}
        jira_type = jira_types.get(mapping.jira_field, "text")
        rule = rule_for("to_jira", source["type"], jira_type) or "copy"
        labels = {o["value"]: o["label"] for o in source.get("options") or []}
        raw = values.get(mapping.helpdesk_field)
        try:
            if rule == "email":
                value = _jira_user(run, raw)
            else:
                value = jira_value(
                    rule=rule, value=raw, jira_type=jira_type, value_map=mapping.value_map or {}, option_labels=labels
                )
        except (ValueNotMapped, ValueError) as exc:
            marker = f"skip:{_hash(str(raw))}"
            if state.get(mapping.jira_field) != marker:  # said once per value, not every poll
                run.event(link, "fields", SyncEvent.Result.SKIPPED, f"{mapping.jira_field}: {exc}", item=item)
                state[mapping.jira_field] = marker
            continue
        digest = _hash(value)
        if not only_changed or state.get(mapping.jira_field) != digest:
            desired[mapping.jira_field] = (value, digest)
    return desired


def _jira_user(run: _Run, email: Any) -> dict[str, str] | None:
    """A helpdesk person (by email) as a Jira user field value: the Jira user with that email, looked up
    once per poll and cached an hour. Empty clears the field."""
    if not email:
        return None
    email = str(email).strip().lower()
    key = f"sync-jira-user:{run.connection.tenant_id}:{_hash(email)}"
    account_id = run.memo.get(key) or cache.get(key)
    if account_id is None:
        users = run.jira().user_search(email)
        match = next((u for u in users if str(u.get("emailAddress", "")).lower() == email), None)
        match = match or (users[0] if len(users) == 1 else None)
        account_id = (match or {}).get("accountId") or ""
        cache.set(key, account_id, 3600)
    run.memo[key] = account_id
    if not account_id:
        raise ValueNotMapped(f"no Jira user has the email {email} (or Jira does not show it to apps)")
    return {"accountId": account_id}


def _write_fields(run: _Run, link: Link, desired: dict[str, tuple[Any, str]], state) -> None:
    """One edit for every changed field; a field Jira refuses is reported and the others still apply."""
    pending = dict(desired)
    for _ in range(2):
        try:
            run.jira().issue_edit(link.jira_issue_id, {f: v for f, (v, _) in pending.items()})
        except ApiBadRequest as exc:
            refused = (exc.body or {}).get("errors") if isinstance(exc.body, dict) else None
            if not refused:
                raise
            for field_id, message in refused.items():
                pending.pop(field_id, None)
                state[field_id] = f"refused:{desired.get(field_id, (None, ''))[1]}"
                run.event(link, "fields", SyncEvent.Result.ERROR, f"Jira refused {field_id}: {message}")
            if pending:
                continue
            return
        for field_id, (_, digest) in pending.items():
            state[field_id] = digest
        run.add("issues_updated")
        run.event(link, "fields", SyncEvent.Result.OK, "Updated " + ", ".join(sorted(pending)))
        return


def _issue_status(run: _Run, link: Link, state) -> dict[str, str]:
    issue = run.jira().issue_get(link.jira_issue_id, fields=["status"])
    status = (issue.get("fields") or {}).get("status") or {}
    known = {"id": str(status.get("id", "")), "category": (status.get("statusCategory") or {}).get("key", "")}
    state[JIRA_STATUS_KEY] = known
    return known


def _transitions(run: _Run, link: Link, status_id: str, *, fresh: bool) -> list[dict[str, Any]]:
    """Transitions out of ``status_id`` for issues of the link's project and type: the workflow's, cached
    (per poll and for 10 minutes), unless ``fresh`` (then the issue's own, which may be conditional)."""
    item = link.item
    key = f"sync-transitions:{item.tenant_id}:{item.jira_project_id}:{item.jira_issue_type_id}:{status_id}"
    with run.key_lock(key):  # threads moving issues out of one status read its transitions once
        if not fresh:
            hit = run.memo.get(key) or cache.get(key)
            if hit is not None:
                run.memo[key] = hit
                return hit
        found = run.jira().transitions(link.jira_issue_id)
        listed = [{"id": str(t.get("id")), "to": t.get("to") or {}} for t in found]
        run.memo[key] = listed
        cache.set(key, listed, TRANSITIONS_CACHE_SECONDS)
        return listed


def _sync_status(run: _Run, link: Link, record, state) -> None:
    """Move the issue into the record's status category (new / indeterminate / done) when it is not there,
    through an available transition (one whose target status is named like the record's status first).
    The issue's status is remembered from our last look or move, and the workflow's transitions are
    cached, so a move costs one Jira call; a refused move looks at the issue itself and tries once more."""
    category = run.provider.status_category(record, link.item)
    if not category or state.get(STATUS_KEY) == category:
        return
    known = state.get(JIRA_STATUS_KEY) or _issue_status(run, link, state)
    for attempt in range(2):
        if known.get("category") == category:
            state[STATUS_KEY] = category
            state.pop(BLOCKED_KEY, None)
            return
        choices = [
            t
            for t in _transitions(run, link, known.get("id", ""), fresh=attempt > 0)
            if (t.get("to") or {}).get("statusCategory", {}).get("key") == category
        ]
        if not choices:
            if attempt == 0 and JIRA_STATUS_KEY in (link.field_state or {}):
                known = _issue_status(run, link, state)  # what we remembered may be stale: look once
                continue
            if state.get(BLOCKED_KEY) != category:
                run.event(
                    link,
                    "status",
                    SyncEvent.Result.SKIPPED,
                    f"No transition of {link.jira_issue_key} leads to a '{category}' status from where it is; "
                    "change its workflow or move it by hand.",
                )
                state[BLOCKED_KEY] = category
            return
        wanted = str(record.get("status") or "").lower()
        choice = next((t for t in choices if str(t["to"].get("name", "")).lower() == wanted), choices[0])
        try:
            run.jira().transition(link.jira_issue_id, choice["id"])
        except ApiBadRequest:
            if attempt:
                raise
            known = _issue_status(run, link, state)  # moved by someone else meanwhile: look, then retry
            continue
        target = choice["to"]
        state[JIRA_STATUS_KEY] = {"id": str(target.get("id", "")), "category": category}
        state[STATUS_KEY] = category
        state.pop(BLOCKED_KEY, None)
        run.add("transitions")
        run.event(link, "status", SyncEvent.Result.OK, f"Moved to {target.get('name')}")
        return


# --- comments and files -------------------------------------------------------------------------------
def _source_tag(provider_key: str, kind: str, source_id: str) -> str:
    return f"{provider_key}:{kind}:{source_id}"


def _comment_adf(run: _Run, comment: HelpdeskComment, author: str) -> dict[str, Any]:
    when = datetime.fromtimestamp(comment.created, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    head: list[dict[str, Any]] = []
    if not comment.public:
        head.append({"type": "text", "text": f"[{run.provider.brand} internal note] ", "marks": [{"type": "strong"}]})
    head.append({"type": "text", "text": f"{author} · {when}", "marks": [{"type": "em"}]})
    doc = text_to_adf(comment.body)
    doc["content"].insert(0, {"type": "paragraph", "content": head})
    return doc


def _authors(run: _Run, comments: list[HelpdeskComment]) -> dict[str, str]:
    for comment in comments:  # names the helpdesk gave with the comments
        if comment.author_id and comment.author_name:
            run.memo.setdefault(("author", comment.author_id), comment.author_name)
    missing = {c.author_id for c in comments if c.author_id and ("author", c.author_id) not in run.memo}
    if missing:
        names = run.provider.author_names(run.helpdesk(), missing)
        for author_id in missing:
            run.memo[("author", author_id)] = names.get(author_id) or f"{run.provider.brand} user {author_id}"
    return {c.author_id: run.memo.get(("author", c.author_id), "Unknown author") for c in comments}


def _tagged_comment(run: _Run, link: Link, tag: str) -> str | None:
    """The id of the Jira comment carrying ``tag`` in its source property (a write that may have landed
    before a crash), or None."""
    for comment in run.jira().comments(link.jira_issue_id, expand_properties=True):
        for prop in comment.get("properties") or []:
            if prop.get("key") == SOURCE_PROPERTY and (prop.get("value") or {}).get("key") == tag:
                return str(comment.get("id"))
    return None


def _post_comment_once(run: _Run, link: Link, source_id: str, body: dict[str, Any]) -> bool:
    """Post ``body`` on the issue exactly once for ``source_id`` (pending row first; a pending row found
    again means the comment may exist: look for its tag before posting). True when posted now."""
    row, created = CommentMap.objects.get_or_create(
        tenant_id=link.tenant_id, link=link, source_side=SIDE.HELPDESK, source_id=source_id
    )
    if row.target_id:
        return False
    tag = _source_tag(run.provider.key, "comment", source_id)
    found = None if created else _tagged_comment(run, link, tag)
    if found is None:
        try:
            answer = run.jira().comment_add(link.jira_issue_id, body, properties={SOURCE_PROPERTY: {"key": tag}})
        except ApiBadRequest as exc:
            CommentMap.objects.filter(pk=row.pk).update(target_id="failed", note=exc.message[:200])
            run.event(link, "comment", SyncEvent.Result.ERROR, f"Jira refused comment {source_id}: {exc.message}")
            return False
        found = str(answer.get("id") or "")
    CommentMap.objects.filter(pk=row.pk).update(target_id=found or "unknown")
    return True


def _sync_comments(run: _Run, link: Link, comments: list[HelpdeskComment], state) -> None:
    """Copy the record's new comments (and their files) to the issue, oldest first, each exactly once;
    comments we wrote into the helpdesk ourselves are never copied back."""
    item = link.item
    opened = state.get(OPENING_KEY)
    # An auto-created issue gets the record's whole thread; a linked one what is said after the second it
    # was linked (what came before is history the agent can open in the helpdesk).
    cutoff = int(opened) if opened else int(link.created_at.timestamp()) + 1
    wanted = sorted((c for c in comments if c.created >= cutoff), key=lambda c: (c.created, c.id))
    if not wanted:
        return
    ids = [c.id for c in wanted]
    done = {
        m.source_id: m.target_id
        for m in CommentMap.objects.filter(link=link, source_side=SIDE.HELPDESK, source_id__in=ids)
        if m.target_id
    }
    # Echo guards: what our agent wrote in the helpdesk (guard 1), and comments the maps say we made from
    # Jira comments or files (guard 2), are never copied back.
    echoes = {c.id for c in wanted if run.connection.agent_id and c.author_id == str(run.connection.agent_id)}
    for model in (CommentMap, AttachmentMap):
        echoes |= set(
            model.objects.filter(
                tenant_id=link.tenant_id,
                link__item__connection_id=item.connection_id,
                source_side=SIDE.JIRA,
                target_id__in=ids,
            ).values_list("target_id", flat=True)
        )
    describes = any(m.helpdesk_field == "description" for m in item.mappings.all() if m.direction == "to_jira")
    todo = [c for c in wanted if c.id not in echoes]
    authors = _authors(run, [c for c in todo if c.id not in done and not c.files_only]) if item.comment_sync else {}
    for comment in todo:
        if item.attachment_sync and comment.files:
            _sync_files(run, link, comment)
        if comment.id in done or comment.files_only:
            continue
        opening = bool(opened) and comment.created <= int(opened) + 1
        if not item.comment_sync or (opening and describes):
            CommentMap.objects.get_or_create(
                tenant_id=link.tenant_id,
                link=link,
                source_side=SIDE.HELPDESK,
                source_id=comment.id,
                defaults={"target_id": "not_copied", "note": "the opening message is the issue's description"},
            )
            continue
        body = _comment_adf(run, comment, authors.get(comment.author_id, "Unknown author"))
        if _post_comment_once(run, link, comment.id, body):
            run.add("comments")
            kind = "internal note" if not comment.public else "comment"
            run.event(link, "comment", SyncEvent.Result.OK, f"Copied {kind} {comment.id}")


def _sync_files(run: _Run, link: Link, comment: HelpdeskComment) -> None:
    ids = [f.id for f in comment.files]
    rows = {
        m.source_id: m for m in AttachmentMap.objects.filter(link=link, source_side=SIDE.HELPDESK, source_id__in=ids)
    }
    for file in comment.files:
        row = rows.get(file.id)
        if row is not None and row.target_id:
            continue
        if row is None:
            try:
                row = AttachmentMap.objects.create(
                    tenant_id=link.tenant_id, link=link, source_side=SIDE.HELPDESK, source_id=file.id
                )
            except IntegrityError:
                row = AttachmentMap.objects.get(link=link, source_side=SIDE.HELPDESK, source_id=file.id)
                if row.target_id:
                    continue
            fresh = True
        else:
            fresh = False
        _copy_file(run, link, comment, file, row, fresh=fresh)


def _copy_file(run: _Run, link: Link, comment: HelpdeskComment, file: HelpdeskFile, row, *, fresh: bool) -> None:
    limit = int(settings.ATTACHMENT_MAX_BYTES)
    if not fresh:  # a pending row: the upload may have landed before a crash
        issue = run.jira().issue_get(link.jira_issue_id, fields=["attachment"])
        landed = next(
            (
                a
                for a in (issue.get("fields") or {}).get("attachment") or []
                if a.get("filename") == file.name and int(a.get("size") or -1) == file.size
            ),
            None,
        )
        if landed is not None:
            AttachmentMap.objects.filter(pk=row.pk).update(target_id=str(landed.get("id")))
            return
    if file.size > limit:
        _skip_file(run, link, comment, file, row, f"it is {_mb(file.size)}, over the {_mb(limit)} limit")
        return
    allowed = [*run.provider.download_hosts(run.connection), *settings.HELPDESK_DOWNLOAD_ALLOWED_HOSTS]
    with spool() as buffer:
        try:
            run.helpdesk().download(file.url, buffer, max_bytes=limit, allowed_hosts=allowed)
        except DownloadTooLarge:
            _skip_file(run, link, comment, file, row, f"it is over the {_mb(limit)} limit")
            return
        except DownloadRefused as exc:
            AttachmentMap.objects.filter(pk=row.pk).update(target_id="refused", note=exc.message[:200])
            run.event(link, "attachment", SyncEvent.Result.ERROR, f"{file.name} was not copied: {exc.message}.")
            return
        except ApiNotFound:
            AttachmentMap.objects.filter(pk=row.pk).update(target_id="failed", note="gone from the helpdesk")
            run.event(link, "attachment", SyncEvent.Result.ERROR, f"{file.name} is gone from the helpdesk.")
            return
        try:
            created = run.jira().attachment_add(
                link.jira_issue_id,
                filename=file.name,
                content_type=file.content_type,
                fileobj=buffer,
                size=file_size(buffer),
            )
        except ApiBadRequest as exc:
            AttachmentMap.objects.filter(pk=row.pk).update(target_id="failed", note=exc.message[:200])
            run.event(link, "attachment", SyncEvent.Result.ERROR, f"Jira refused {file.name}: {exc.message}")
            return
    target = str((created or [{}])[0].get("id") or "unknown") if isinstance(created, list) else "unknown"
    AttachmentMap.objects.filter(pk=row.pk).update(target_id=target)
    run.add("attachments")
    run.event(link, "attachment", SyncEvent.Result.OK, f"Copied {file.name}")


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _skip_file(run: _Run, link: Link, comment: HelpdeskComment, file: HelpdeskFile, row, why: str) -> None:
    """A file not copied: recorded, and said on the issue once (a connector comment)."""
    text = (
        f"Deskbridge did not copy the file \u201c{file.name}\u201d from {run.provider.brand} record "
        f"{comment.record_id}: {why} (ATTACHMENT_MAX_BYTES). Open the record in {run.provider.brand} to get it."
    )
    _post_comment_once(run, link, f"skip:{file.id}", text_to_adf(text))
    AttachmentMap.objects.filter(pk=row.pk).update(target_id="skipped", note=why[:200])
    run.event(link, "attachment", SyncEvent.Result.SKIPPED, f"{file.name} was not copied: {why}.")


# --- auto-create ------------------------------------------------------------------------------------------
def _auto_items(connection, helpdesk_object: str) -> list[ConnectedItem]:
    return list(
        synchronized_items(connection)
        .filter(auto_create=True, auto_create_baseline__isnull=False, helpdesk_object=helpdesk_object)
        .prefetch_related("mappings")
    )


def _auto_create(run: _Run, stream: str, records) -> list[Link]:
    """One issue per new record (created after the item's baseline, meeting its conditions) for every
    auto-create item of the object; an intent row is written before Jira is called."""
    items = _auto_items(run.connection, stream)
    if not items:
        return []
    provider, made = run.provider, []
    for item in items:
        baseline = item.auto_create_baseline.timestamp()
        candidates = {
            str(r["id"]): r
            for r in records
            # created at or after the baseline, to the precision the helpdesk's times have
            if provider.created_epoch(r) + provider.time_precision > baseline
            and provider.matches_conditions(r, item.auto_create_conditions or {})
            and not provider.is_closed(r)
        }
        if not candidates:
            continue
        linked = set(Link.objects.filter(item=item, record_id__in=list(candidates)).values_list("record_id", flat=True))
        for record_id, record in candidates.items():
            if record_id in linked:
                continue
            intent, fresh = AutoCreate.objects.get_or_create(tenant_id=item.tenant_id, item=item, record_id=record_id)
            if intent.state != AutoCreate.State.PENDING:
                continue
            link = _create_issue(run, item, intent, record, fresh=fresh)
            if link is not None:
                made.append(link)
    return made


def _intents_sweep(run: _Run) -> None:
    """Pending intents a crash or an error left behind (their page long passed): looked up, then created."""
    settle = timezone.now() - timedelta(seconds=INTENT_SETTLE_SECONDS)
    intents = list(
        AutoCreate.objects.filter(
            tenant_id=run.connection.tenant_id,
            item__connection=run.connection,
            item__mode__in=SYNCHRONIZED,
            item__is_paused=False,
            item__auto_create=True,
            state=AutoCreate.State.PENDING,
        )
        .filter(attempted_at__lt=settle)
        .select_related("item")[:50]
    )
    for intent in intents:
        try:
            record = run.provider.fetch_record(run.helpdesk(), intent.item.helpdesk_object, intent.record_id)
        except ApiNotFound:
            AutoCreate.objects.filter(pk=intent.pk).update(state=AutoCreate.State.FAILED, error="record deleted")
            continue
        _create_issue(run, intent.item, intent, record, fresh=False)


def _intent_key(item: ConnectedItem, record_id: str) -> str:
    return f"{item.external_id}:{record_id}"


def _create_issue(run: _Run, item: ConnectedItem, intent: AutoCreate, record, *, fresh: bool) -> Link | None:
    """Create (or find, after a crash) the issue of one intent and link it."""
    from .services import after_link_created

    record_id = str(record["id"])
    key = _intent_key(item, record_id)
    jira = run.jira()
    if not fresh and intent.attempts:
        if intent.attempted_at and intent.attempted_at > timezone.now() - timedelta(seconds=INTENT_SETTLE_SECONDS):
            return None  # Jira may not have indexed it yet: the sweep looks it up a minute later
        found = jira.search_jql(f'issue.property[{SOURCE_PROPERTY}].key = "{key}"', fields=["summary"], limit=2)
        if found:
            issue = found[0]
            return _link_created(run, item, intent, record, str(issue["id"]), issue.get("key", ""), {}, adopted=True)
    AutoCreate.objects.filter(pk=intent.pk).update(attempts=intent.attempts + 1, attempted_at=timezone.now())
    values = run.provider.record_values(
        run.helpdesk(),
        run.connection,
        [record],
        {m.helpdesk_field for m in item.mappings.all() if m.direction == "to_jira"},
    ).get(record_id, {})
    desired = _desired_fields(run, item, None, values, {}, only_changed=False)
    screen = run.create_fields(item)
    create = {f: v for f, (v, _) in desired.items() if f in screen and v not in (None, "", [])}
    later = {f: (v, d) for f, (v, d) in desired.items() if f not in create and v not in (None, "", [])}
    if not str(create.get("summary") or "").strip():
        create["summary"] = run.provider.default_title(record)[:250]
    later.pop("summary", None)
    create["project"] = {"id": item.jira_project_id}
    create["issuetype"] = {"id": item.jira_issue_type_id}
    try:
        answer = jira.issue_create(
            create, properties={SOURCE_PROPERTY: {"key": key, "record": record_id, "item": item.external_id}}
        )
    except ApiBadRequest as exc:
        AutoCreate.objects.filter(pk=intent.pk).update(state=AutoCreate.State.FAILED, error=exc.message[:1000])
        run.event(
            None,
            "create",
            SyncEvent.Result.ERROR,
            f"Jira refused to create an issue for record {record_id}: {exc.message}. Fix the item's mappings or "
            "the project's create screen, then retry this event.",
            item=item,
        )
        return None
    state = {f: d for f, (v, d) in desired.items() if f in create}
    link = _link_created(run, item, intent, record, str(answer["id"]), answer.get("key", ""), state, adopted=False)
    if later:
        _write_fields(run, link, later, link.field_state)
        Link.objects.filter(pk=link.pk).update(field_state=link.field_state)
    after_link_created(link=link)
    return link


def _link_created(run: _Run, item, intent, record, issue_id: str, issue_key: str, state, *, adopted: bool) -> Link:
    state = dict(state)
    state[OPENING_KEY] = run.provider.created_epoch(record)
    category = run.provider.status_category(record, item)
    if category:
        state[STATUS_KEY] = category  # a new issue stays in its first status on its first pass
    with transaction.atomic():
        link, _ = Link.objects.get_or_create(
            tenant_id=item.tenant_id,
            item=item,
            jira_issue_id=issue_id,
            record_id=str(record["id"]),
            defaults={"jira_issue_key": issue_key, "origin": Link.Origin.AUTO, "field_state": state},
        )
        AutoCreate.objects.filter(pk=intent.pk).update(state=AutoCreate.State.DONE, jira_issue_id=issue_id, error="")
    link.item = item
    run.add("issues_created")
    verb = "Found the issue created before an interruption" if adopted else "Created"
    run.event(link, "create", SyncEvent.Result.OK, f"{verb} {issue_key} for record {record['id']}")
    return link


def connections_due(*, now=None) -> list[int]:
    """Connections the dispatcher enqueues a poll for: those with synchronized items whose last poll is older
    than SYNC_POLL_SECONDS, or with Sync now pending; never before a rate-limit back-off ends, never while a
    live lease is held."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SYNC_POLL_SECONDS)
    ids = ConnectedItem.objects.filter(mode__in=SYNCHRONIZED).values_list("connection_id", flat=True).distinct()
    due = []
    states = {s.connection_id: s for s in SyncState.objects.filter(connection_id__in=list(ids))}
    for connection_id in ids:
        state = states.get(connection_id)
        if state is None:
            due.append(connection_id)
            continue
        if state.next_poll_at and state.next_poll_at > now:
            continue
        if state.lease_owner and state.lease_expires_at and state.lease_expires_at > now:
            continue
        if state.requested_at or state.last_poll_at is None or state.last_poll_at <= cutoff:
            due.append(connection_id)
    return sorted(due)

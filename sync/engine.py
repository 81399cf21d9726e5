"""The pull engine (helpdesk → Jira): one poll of one connection.

A poll takes the connection's lease (one worker at a time; a lease left by a killed worker expires), reads
the helpdesk's change stream from the stored cursor, and for every changed record that is linked through a
synchronized, unpaused item: writes the mapped fields that changed since our last write (one Jira edit per
issue), moves the issue into the status category of the record (when status sync is on), refreshes the
link's preview from the same data, and stops syncing a link whose record is closed for good. Each link's
state is saved right after its Jira writes, and the cursor advances only after its whole page was applied:
a crash re-reads the page, and re-applying it writes nothing new (per-field hashes).

Rate limits end the run as ``halted`` with the next poll set after ``Retry-After``; no worker sleeps.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connector import schema as schema_service
from connector.clients.base import ApiBadRequest, ApiError, ApiForbidden, ApiRateLimited, ApiUnauthorized
from connector.clients.jira import JiraClient
from connector.mapping import ValueNotMapped, jira_value, rule_for
from connector.models import ConnectedItem, HelpdeskConnection
from connector.providers import client_for, provider_for
from connector.services import connection_auth_failure_confirm
from tenants.auth import license_gate_applies

from .models import Link, SyncEvent, SyncRun, SyncState

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60
PAGES_PER_RUN = 20
SYNCHRONIZED = (ConnectedItem.Mode.ONE_WAY, ConnectedItem.Mode.TWO_WAY)
STATUS_KEY = "__status_category__"
BLOCKED_KEY = "__status_blocked__"


def _owner() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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
        if state.lease_owner and state.lease_expires_at and state.lease_expires_at > now:
            return None
        state.lease_owner, state.lease_expires_at = owner, now + timedelta(seconds=LEASE_SECONDS)
        state.save(update_fields=["lease_owner", "lease_expires_at"])
    return state


def _lease_extend(state: SyncState, owner: str) -> None:
    SyncState.objects.filter(pk=state.pk, lease_owner=owner).update(
        lease_expires_at=timezone.now() + timedelta(seconds=LEASE_SECONDS)
    )


def _lease_release(state: SyncState, owner: str, **changes: Any) -> None:
    SyncState.objects.filter(pk=state.pk, lease_owner=owner).update(lease_owner="", lease_expires_at=None, **changes)


@dataclass
class _Run:
    run: SyncRun
    counts: Counter = field(default_factory=Counter)
    events: list[SyncEvent] = field(default_factory=list)
    schemas: dict[str, Any] = field(default_factory=dict)  # per poll: not one cache read per link

    def jira_types(self, connection) -> dict[str, str]:
        if "jira" not in self.schemas:
            fields = schema_service.jira_fields(tenant=connection.tenant)
            self.schemas["jira"] = {f["id"]: f["type"] for f in fields}
        return self.schemas["jira"]

    def helpdesk_fields(self, connection, helpdesk_object: str) -> list[dict[str, Any]]:
        key = f"helpdesk:{helpdesk_object}"
        if key not in self.schemas:
            self.schemas[key] = schema_service.helpdesk_fields(
                tenant=connection.tenant, connection=connection, helpdesk_object=helpdesk_object
            )
        return self.schemas[key]

    def event(self, link: Link, action: str, result: str, message: str) -> None:
        self.events.append(
            SyncEvent(
                tenant_id=link.tenant_id,
                run=self.run,
                link=link,
                item_id=link.item_id,
                action=action,
                result=result,
                message=message,
            )
        )
        if result == SyncEvent.Result.ERROR:
            self.counts["errors"] += 1
        elif result == SyncEvent.Result.SKIPPED:
            self.counts["skipped"] += 1


COUNT_KEYS = (
    "tickets_seen",
    "issues_created",
    "issues_updated",
    "transitions",
    "comments",
    "attachments",
    "skipped",
    "errors",
)


def connection_poll(*, connection_id: int, trigger: str = SyncRun.Trigger.SCHEDULE) -> SyncRun | None:
    """One poll of one connection. Returns the run, or None when nothing was run (lease held elsewhere, or a
    halt already recorded)."""
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
    run = _Run(SyncRun.objects.create(tenant_id=connection.tenant_id, connection=connection, trigger=trigger))
    provider = provider_for(connection.provider)
    helpdesk = client_for(connection)
    jira = JiraClient(connection.tenant)
    release: dict[str, Any] = {"halted_reason": "", "requested_at": None, "last_poll_at": timezone.now()}
    try:
        for _ in range(PAGES_PER_RUN):
            page = provider.changes(
                helpdesk, cursor=state.cursor or None, start_time=None if state.cursor else state.start_time
            )
            run.counts["tickets_seen"] += len(page.records)
            _apply_page(connection, provider, helpdesk, jira, page.records, run, owner, state)
            with transaction.atomic():
                SyncEvent.objects.bulk_create(run.events)
                run.events.clear()
                state.cursor = page.cursor or ""
                SyncState.objects.filter(pk=state.pk, lease_owner=owner).update(cursor=state.cursor)
            _lease_extend(state, owner)
            if page.done:
                break
        run.run.outcome, run.run.reason = SyncRun.Outcome.SUCCESS, ""
        synchronized_items(connection).update(last_sync_at=timezone.now())
    except ApiRateLimited as exc:
        wait = int(exc.retry_after or 60)
        release["next_poll_at"] = timezone.now() + timedelta(seconds=wait)
        run.run.outcome = SyncRun.Outcome.HALTED
        run.run.reason = f"{exc.service or 'The service'} is rate limiting this site; the next poll is in {wait} s."
    except ApiForbidden as exc:
        run.run.outcome = SyncRun.Outcome.HALTED
        run.run.reason = (
            f"{exc.service} refused access ({exc.message}). Reading changes needs a Zendesk admin: reconnect "
            "Deskbridge as an admin on the Deskbridge admin page."
        )
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
        logger.exception("poll of connection %s failed", connection.pk)
        run.run.outcome = SyncRun.Outcome.FAILED
        run.run.reason = f"Unexpected error ({type(exc).__name__}); the next poll retries. Support has the details."
    finally:
        SyncEvent.objects.bulk_create(run.events)
        run.run.finished_at = timezone.now()
        run.run.counts = {key: run.counts.get(key, 0) for key in COUNT_KEYS}
        run.run.api_calls = {provider.key: helpdesk.calls, "jira": jira.calls}
        run.run.save()
        _lease_release(state, owner, **release)
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


def _apply_page(connection, provider, helpdesk, jira, records, run: _Run, owner: str, state: SyncState) -> None:
    if not records:
        return
    by_id = {str(r["id"]): r for r in records}
    links = list(
        Link.objects.filter(
            tenant_id=connection.tenant_id,
            item__connection=connection,
            item__mode__in=SYNCHRONIZED,
            item__is_paused=False,
            record_id__in=list(by_id),
            sync_stopped_at__isnull=True,
        )
        .select_related("item")
        .prefetch_related("item__mappings")
        .order_by("id")
    )
    if not links:
        return
    field_ids = {m.helpdesk_field for link in links for m in link.item.mappings.all() if m.direction == "to_jira"}
    linked_records = [by_id[link.record_id] for link in {link.record_id: link for link in links}.values()]
    values = provider.record_values(helpdesk, connection, linked_records, field_ids) if field_ids else {}
    previews = _previews(connection, provider, helpdesk, links, by_id, run)
    for link in links:
        record = by_id[link.record_id]
        _sync_link(connection, provider, jira, link, record, values.get(link.record_id, {}), run)
        link.preview = previews.get((link.item_id, link.record_id), link.preview)
        link.preview_updated_at = timezone.now()
        if provider.is_closed(record):
            link.sync_stopped_at = timezone.now()
            run.event(link, "closed", SyncEvent.Result.OK, "The ticket is closed; this link no longer syncs.")
        link.save(update_fields=["field_state", "preview", "preview_updated_at", "sync_stopped_at"])
        _lease_extend(state, owner)


def _previews(connection, provider, helpdesk, links, by_id, run: _Run) -> dict[tuple[int, str], dict]:
    """The panel's snapshot, from the records the stream gave (related people fetched in batches)."""
    result = {}
    items = {link.item_id: link.item for link in links}
    for item in items.values():
        fields = run.helpdesk_fields(connection, item.helpdesk_object)
        records = [by_id[rid] for rid in sorted({link.record_id for link in links if link.item_id == item.pk})]
        for preview in provider.previews(
            helpdesk, connection, item.helpdesk_object, records, fields, item.display_fields
        ):
            result[(item.pk, preview["id"])] = preview
    return result


def _sync_link(connection, provider, jira: JiraClient, link: Link, record, values, run: _Run) -> None:
    item = link.item
    state = dict(link.field_state or {})
    desired = _desired_fields(connection, item, link, values, run, state)
    if desired:
        _write_fields(jira, link, desired, run, state)
    if item.status_sync:
        _sync_status(provider, jira, link, record, run, state)
    link.field_state = state


def _desired_fields(connection, item, link, values, run: _Run, state) -> dict[str, tuple[Any, str]]:
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
        try:
            value = jira_value(
                rule=rule,
                value=values.get(mapping.helpdesk_field),
                jira_type=jira_type,
                value_map=mapping.value_map or {},
                option_labels=labels,
            )
        except (ValueNotMapped, ValueError) as exc:
            marker = f"skip:{_hash(str(values.get(mapping.helpdesk_field)))}"
            if state.get(mapping.jira_field) != marker:  # said once per value, not every poll
                run.event(link, "fields", SyncEvent.Result.SKIPPED, f"{mapping.jira_field}: {exc}")
                state[mapping.jira_field] = marker
            continue
        digest = _hash(value)
        if state.get(mapping.jira_field) != digest:
            desired[mapping.jira_field] = (value, digest)
    return desired


def _write_fields(jira: JiraClient, link: Link, desired: dict[str, tuple[Any, str]], run: _Run, state) -> None:
    """One edit for every changed field; a field Jira refuses is reported and the others still apply."""
    pending = dict(desired)
    for _ in range(2):
        try:
            jira.issue_edit(link.jira_issue_id, {f: v for f, (v, _) in pending.items()})
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
        run.counts["issues_updated"] += 1
        run.event(link, "fields", SyncEvent.Result.OK, "Updated " + ", ".join(sorted(pending)))
        return


def _sync_status(provider, jira: JiraClient, link: Link, record, run: _Run, state) -> None:
    """Move the issue into the record's status category (new / indeterminate / done) when it is not there,
    through an available transition (one whose target status is named like the record's status first)."""
    category = provider.status_category(record)
    if not category or state.get(STATUS_KEY) == category:
        return
    issue = jira.issue_get(link.jira_issue_id, fields=["status"])
    current = (((issue.get("fields") or {}).get("status") or {}).get("statusCategory") or {}).get("key")
    if current == category:
        state[STATUS_KEY] = category
        return
    choices = [
        t
        for t in jira.transitions(link.jira_issue_id)
        if (t.get("to") or {}).get("statusCategory", {}).get("key") == category
    ]
    if not choices:
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
    jira.transition(link.jira_issue_id, choice["id"])
    state[STATUS_KEY] = category
    state.pop(BLOCKED_KEY, None)
    run.counts["transitions"] += 1
    run.event(link, "status", SyncEvent.Result.OK, f"Moved to {choice['to'].get('name')}")


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

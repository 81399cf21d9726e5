"""The webhook inbox: Jira's deliveries are stored as they come (JWT checked, deduplicated by the delivery
id) and answered at once; ``sync.push`` processes them later, in order per issue.

The request does no Jira or helpdesk call. An event for an issue no synchronized link names is dropped
after one indexed query (most events of a big site are not ours) and never stored.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from connector.models import ConnectedItem
from tenants.models import Tenant

from .errors import WebhookInvalid
from .models import Link, WebhookEvent

logger = logging.getLogger(__name__)

# What the descriptor subscribes to (sync.descriptor) and what the inbox accepts.
ISSUE_CREATED = "jira:issue_created"  # for auto-create from Jira only (sync.jira_create)
ISSUE_UPDATED = "jira:issue_updated"
ISSUE_DELETED = "jira:issue_deleted"
COMMENT_CREATED = "comment_created"
COMMENT_UPDATED = "comment_updated"
ATTACHMENT_CREATED = "attachment_created"
WEBHOOK_EVENTS = (ISSUE_CREATED, ISSUE_UPDATED, ISSUE_DELETED, COMMENT_CREATED, COMMENT_UPDATED, ATTACHMENT_CREATED)
RECONCILE = "reconcile"  # a change the reconcile found whose webhook never came
RETRY = "retry"  # an admin's retry of the issue's sync


@dataclass(frozen=True)
class Intake:
    """What the endpoint did with one delivery: ``stored`` (new), ``duplicate`` or ``dropped`` (not ours)."""

    outcome: str
    event_id: int | None = None


def parse_delivery(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookInvalid(f"The webhook body is not valid JSON ({exc.__class__.__name__}).") from exc
    if not isinstance(payload, dict):
        raise WebhookInvalid("The webhook body must be a JSON object.")
    return payload


def _issue_of(payload: dict[str, Any]) -> tuple[str, str]:
    issue = payload.get("issue")
    if not isinstance(issue, dict):
        attachment = payload.get("attachment")
        issue = (attachment or {}).get("issue") if isinstance(attachment, dict) else None
    if not isinstance(issue, dict):
        return "", ""
    return str(issue.get("id") or "")[:32], str(issue.get("key") or "")[:64]


def _actor_of(payload: dict[str, Any]) -> str:
    """Who made the change: the event's user, else the comment's (last) author or the attachment's."""
    for path in (("user",), ("comment", "updateAuthor"), ("comment", "author"), ("attachment", "author")):
        node: Any = payload
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get("accountId"):
            return str(node["accountId"])[:128]
    return ""


def _is_ours(*, tenant: Tenant, issue_id: str, event_type: str) -> bool:
    """One indexed query (link_tenant_issue): does a link this event can matter to name the issue? A
    deletion matters to every link whose record still exists (it breaks them); other events only to two-way
    links still syncing (not closed, not broken)."""
    links = Link.objects.filter(tenant_id=tenant.pk, jira_issue_id=issue_id, record_deleted_at__isnull=True)
    if event_type != ISSUE_DELETED:
        links = links.filter(item__mode=ConnectedItem.Mode.TWO_WAY, sync_stopped_at__isnull=True)
    return links.exists()


def webhook_receive(*, tenant: Tenant, delivery_id: str, body: bytes) -> Intake:
    """Store one delivery (or drop it), without calling anyone. Raises WebhookInvalid (400) for a body that
    is not JSON or an event we do not subscribe to; the latter is kept, status rejected, for inspection."""
    delivery_id = (delivery_id or "").strip()
    if not delivery_id:
        raise WebhookInvalid("The X-Atlassian-Webhook-Identifier header is missing; Jira always sends it.")
    payload = parse_delivery(body)
    event_type = str(payload.get("webhookEvent") or "")[:64]
    issue_id, issue_key = _issue_of(payload)
    if event_type not in WEBHOOK_EVENTS:
        _store(tenant, delivery_id[:128], event_type or "(none)", issue_id, issue_key, payload, rejected=True)
        raise WebhookInvalid(
            f"Unknown webhook event {event_type!r}; Deskbridge subscribes to {', '.join(WEBHOOK_EVENTS)}.",
            code="webhook_event_unknown",
        )
    if not issue_id:
        # attachment_created may name no issue: the issue's own update (changelog field "Attachment") and
        # the reconcile bring the file instead.
        return Intake("dropped")
    if not issue_id.isdigit():
        raise WebhookInvalid("The webhook names an issue without a numeric id.")
    if event_type == ISSUE_CREATED:
        return _issue_created(tenant, delivery_id[:128], issue_id, issue_key, payload)
    if not _is_ours(tenant=tenant, issue_id=issue_id, event_type=event_type):
        return Intake("dropped")
    event = _store(tenant, delivery_id[:128], event_type, issue_id, issue_key, payload)
    if event is None:
        return Intake("duplicate")
    transaction.on_commit(lambda: issue_events_enqueue(tenant_id=tenant.pk, issue_id=issue_id))
    return Intake("stored", event.pk)


def _issue_created(tenant: Tenant, delivery_id: str, issue_id: str, issue_key: str, payload: dict) -> Intake:
    """A new issue matters only to items that auto-create records for its project: their connections' sweeps
    are queued (they find the issue through Jira's search, with its filter). Kept as done, so a redelivery is
    known as one."""
    from .jira_create import creation_connections, issue_created_enqueue

    fields = (payload.get("issue") or {}).get("fields") or {}
    project_id = str((fields.get("project") or {}).get("id") or "")
    connections = creation_connections(tenant_id=tenant.pk, project_id=project_id) if project_id else []
    if not connections:
        return Intake("dropped")
    event = _store(tenant, delivery_id, ISSUE_CREATED, issue_id, issue_key, payload, done=True)
    if event is None:
        return Intake("duplicate")
    issue_created_enqueue(connections)
    return Intake("stored", event.pk)


def _store(
    tenant, delivery_id, event_type, issue_id, issue_key, payload, *, rejected=False, done=False
) -> WebhookEvent | None:
    try:
        with transaction.atomic():
            return WebhookEvent.objects.create(
                tenant=tenant,
                delivery_id=delivery_id,
                event_type=event_type,
                issue_id=issue_id,
                issue_key=issue_key,
                actor_account_id=_actor_of(payload),
                payload=payload,
                status=WebhookEvent.Status.REJECTED
                if rejected
                else WebhookEvent.Status.DONE
                if done
                else WebhookEvent.Status.PENDING,
                processed_at=timezone.now() if done else None,
                last_error="Unknown webhook event." if rejected else "",
            )
    except IntegrityError:
        return None  # Jira redelivered an event we already hold


def issue_events_enqueue(*, tenant_id: int, issue_id: str) -> None:
    async_task("sync.tasks.issue_events_task", tenant_id, str(issue_id), group="deskbridge-push")


def synthetic_event(*, tenant_id: int, issue_id: str, issue_key: str, kind: str, key: str, updated: str = "") -> bool:
    """An inbox event no webhook brought (the reconcile's, an admin's retry), deduplicated by ``key``.
    True when it is new; the caller enqueues the issue."""
    payload: dict[str, Any] = {"webhookEvent": kind, "issue": {"id": issue_id, "key": issue_key}}
    if updated:
        payload["issue"]["fields"] = {"updated": updated}
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                tenant_id=tenant_id,
                delivery_id=f"{kind}:{issue_id}:{key}"[:128],
                event_type=kind,
                issue_id=issue_id,
                issue_key=issue_key,
                payload=payload,
                received_at=timezone.now(),
            )
    except IntegrityError:
        return False
    return True

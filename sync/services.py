"""Links between Jira issues and helpdesk records: one service layer for the issue panel and the
links REST API, so both behave the same."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.tasks import async_task

from config.errors import ApplicationError
from connector import schema as schema_service
from connector.clients.base import ApiError, ApiNotFound, ApiRateLimited, ApiUnauthorized, is_numeric_id
from connector.clients.jira import JiraClient
from connector.errors import HelpdeskRateLimited, HelpdeskUnavailable, NotConnected
from connector.models import ConnectedItem
from connector.providers import client_for, provider_for
from connector.services import connected_item_delete, connection_auth_failure_confirm
from tenants.models import Tenant

from .engine import JIRA_STATUS_KEY, link_pass, record_noun
from .errors import (
    AutoManagedLink,
    IssueNotApplicable,
    IssueNotFound,
    JiraUnavailable,
    LinkExists,
    LinkRecordDeleted,
    RecordNotFound,
    SyncNotPossible,
)
from .models import AutoCreate, Link, SyncEvent, SyncRun, SyncState
from .selectors import issue_link_count, link_find

logger = logging.getLogger(__name__)

ISSUE_CONTEXT_MODULE_KEY = "deskbridge-issue-context"


def badge_property_key() -> str:
    return f"com.atlassian.jira.issue:{settings.ATLASSIAN_APP_KEY}:{ISSUE_CONTEXT_MODULE_KEY}:status"


def require_usable(item: ConnectedItem) -> None:
    if item.is_paused or not item.connection.is_connected:
        raise NotConnected(
            f"{item.connection.get_provider_display()} is not connected, so {item.name} is paused. A Jira admin "
            "can reconnect it on the Deskbridge admin page."
        )


def helpdesk_failure(exc: ApiError, item: ConnectedItem) -> Exception:
    label = item.connection.get_provider_display()
    if isinstance(exc, ApiRateLimited):
        wait = int(exc.retry_after or 60)
        return HelpdeskRateLimited(
            f"{label} is rate limiting requests; try again in {wait} seconds.", extra={"retry_after": wait}
        )
    if isinstance(exc, ApiUnauthorized):
        # One refused call does not condemn the connection: a refresh or a second call must confirm it.
        if connection_auth_failure_confirm(connection=item.connection):
            return HelpdeskUnavailable(
                f"{label} rejected the stored credentials. A Jira admin needs to reconnect on the Deskbridge "
                "admin page.",
                code="helpdesk_auth_failed",
            )
        return HelpdeskUnavailable(
            f"{label} refused this request, but the connection still works. Try again.",
            code="helpdesk_auth_retry",
        )
    return HelpdeskUnavailable(f"{label} could not be reached ({exc.message}). Try again shortly.")


def _build_previews(item: ConnectedItem, client, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    provider = provider_for(item.connection.provider)
    fields = schema_service.helpdesk_fields(
        tenant=item.tenant, connection=item.connection, helpdesk_object=item.helpdesk_object
    )
    return provider.previews(client, item.connection, item.helpdesk_object, records, fields, item.display_fields)


def _fetch_preview(item: ConnectedItem, record_id: str, *, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record's preview snapshot (``record``: as the helpdesk just returned it, not read again)."""
    provider = provider_for(item.connection.provider)
    client = client_for(item.connection)
    try:
        if record is None:
            record = provider.fetch_record(client, item.helpdesk_object, record_id)
        return _build_previews(item, client, [record])[0]
    except ApiNotFound as exc:
        label = provider.object_label(item.helpdesk_object).lower().rstrip("s")
        raise RecordNotFound(
            f"{item.connection.get_provider_display()} {label} {record_id} does not exist or the connected agent "
            "cannot see it. Check the id.",
            extra={"record_id": str(record_id)},
        ) from exc
    except ApiError as exc:
        raise helpdesk_failure(exc, item) from exc


BADGE_WRITE_ATTEMPTS = 5


def badge_update(*, tenant: Tenant, issue_id: str, client: JiraClient | None = None) -> None:
    """Set the issue's badge (issue property on the context module) to its number of linked records.

    The count is read after the link change committed; after writing it, it is read again, and written
    again if another change landed meanwhile (whose own write may have come before ours). Whoever writes
    last has checked the count after its write, so the badge ends true however link changes interleave."""
    client = client or JiraClient(tenant)
    written = None
    for _ in range(BADGE_WRITE_ATTEMPTS):
        count = issue_link_count(tenant=tenant, issue_id=issue_id)
        if count == written:
            return
        client.issue_property_set(issue_id, badge_property_key(), {"type": "badge", "value": {"label": str(count)}})
        written = count
    logger.warning("badge of issue %s kept changing; left at %s", issue_id, written)


def item_linked_count_refresh(*, item: ConnectedItem) -> None:
    """The item's linked count, computed by the database in the UPDATE itself (no read-then-write gap)."""
    count = Link.objects.filter(item=OuterRef("pk")).order_by().values("item").annotate(n=Count("pk")).values("n")
    ConnectedItem.objects.filter(pk=item.pk).update(linked_count=Coalesce(Subquery(count), 0))


def _after_change(*, tenant: Tenant, item: ConnectedItem, issue_id: str) -> None:
    """Keep the item's linked count and the issue's badge true (the badge failing never fails a link).
    Runs after the link change committed."""
    item_linked_count_refresh(item=item)
    try:
        badge_update(tenant=tenant, issue_id=issue_id)
    except ApiError as exc:
        logger.warning("badge update failed for issue %s: %s", issue_id, exc.message)


def item_delete(*, tenant: Tenant, item: ConnectedItem) -> None:
    """Delete an SCI with its links, then correct the badges of the issues it was linked to (in a task:
    an item may have thousands of links)."""
    issue_ids = sorted(set(Link.objects.filter(tenant=tenant, item=item).values_list("jira_issue_id", flat=True)))
    with transaction.atomic():
        connected_item_delete(tenant=tenant, item=item)
        if issue_ids:
            transaction.on_commit(lambda: async_task("sync.tasks.badges_refresh", tenant.pk, issue_ids))


def issue_for_item(
    *, tenant: Tenant, item: ConnectedItem, issue_id: str, fields: list[str], not_found: type[ApplicationError]
) -> dict[str, Any]:
    """The Jira issue ``issue_id`` with ``fields`` (one call), after checking it exists and ``item`` applies to
    it (its project; for a synchronized item its issue type). ``not_found`` is the error for a missing issue."""
    try:
        issue = JiraClient(tenant).issue_get(issue_id, fields=sorted({*fields, "project", "issuetype"}))
    except ApiNotFound:
        raise not_found(
            f"Issue {issue_id} does not exist in Jira (or the app cannot see it).", extra={"issue_id": issue_id}
        ) from None
    except ApiError as exc:
        raise JiraUnavailable(f"Jira could not be reached ({exc.message}). Try again shortly.") from exc
    values = issue.get("fields") or {}
    key = issue.get("key") or issue_id
    project = values.get("project") or {}
    if str(project.get("id", "")) != item.jira_project_id and project.get("key") != item.jira_project_key:
        raise IssueNotApplicable(
            f"Issue {key} is not in project {item.jira_project_key} of this integration",
            extra={"issue_id": issue_id},
        )
    issue_type = str((values.get("issuetype") or {}).get("id", ""))
    if item.is_synchronized and issue_type != item.jira_issue_type_id:
        raise IssueNotApplicable(
            f"Issue {key} is not a {item.jira_issue_type_name or item.jira_issue_type_id}, the issue type this "
            "integration synchronizes",
            extra={"issue_id": issue_id},
        )
    return issue


def issue_verify(*, tenant: Tenant, item: ConnectedItem, issue_id: str) -> tuple[str, dict[str, str]]:
    """The issue's current key and status ``{id, category}``, after checking it exists and the item applies
    to it (one Jira call; the status saves the sync engine a look before its first move)."""
    if not is_numeric_id(issue_id):
        raise IssueNotFound("issue_id must be the numeric Jira issue id.", extra={"issue_id": issue_id})
    issue = issue_for_item(tenant=tenant, item=item, issue_id=issue_id, fields=["status"], not_found=IssueNotFound)
    return issue_key_status(issue)


def issue_key_status(issue: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """An issue's key and status ``{id, category}`` as read from Jira (with its ``status`` field)."""
    status = (issue.get("fields") or {}).get("status") or {}
    known = {"id": str(status.get("id", "")), "category": str((status.get("statusCategory") or {}).get("key", ""))}
    return issue.get("key") or "", (known if known["id"] else {})


def link_create(
    *,
    tenant: Tenant,
    item: ConnectedItem,
    issue_id: str,
    issue_key: str,
    record_id: str,
    origin: str = Link.Origin.MANUAL,
    actor: str = "",
    issue: dict[str, Any] | None = None,
    record: dict[str, Any] | None = None,
) -> Link:
    """Link a helpdesk record to an issue. The issue must exist in Jira and be one the item applies to
    (its project; its issue type for synchronized items); the record must exist; duplicates are refused.
    The issue key is taken from Jira, not from the caller. A caller that has just read the issue (checked
    for the item, with its status) or been given the record by the helpdesk passes them (``issue``,
    ``record``): they are not read again.

    The link stands even when its link note cannot be posted: ``link.note_warning`` then says so in words
    for the user ("" when the note was posted or the item posts none)."""
    if item.tenant_id != tenant.pk:
        raise ValueError("item belongs to another tenant")
    require_usable(item)
    record_id, issue_id = str(record_id).strip(), str(issue_id).strip()
    if issue is not None:
        verified_key, status = issue_key_status(issue)
    else:
        verified_key, status = issue_verify(tenant=tenant, item=item, issue_id=issue_id)
    issue_key = verified_key or issue_key
    if link_find(tenant=tenant, item=item, record_id=record_id, issue_id=issue_id):
        raise LinkExists(
            f"{issue_key} is already linked to {record_id} in {item.name}.",
            extra={"record_id": record_id, "issue_id": issue_id},
        )
    preview = _fetch_preview(item, record_id, record=record)
    try:
        with transaction.atomic():
            link = Link.objects.create(
                tenant=tenant,
                item=item,
                jira_issue_id=issue_id,
                jira_issue_key=issue_key,
                record_id=record_id,
                origin=origin,
                created_by=actor or "",
                preview=preview,
                preview_updated_at=timezone.now(),
                field_state={JIRA_STATUS_KEY: status} if status else {},
            )
    except IntegrityError:
        raise LinkExists(
            f"{issue_key} is already linked to {record_id} in {item.name}.",
            extra={"record_id": record_id, "issue_id": issue_id},
        ) from None
    _after_change(tenant=tenant, item=item, issue_id=issue_id)
    link.note_warning = _post_link_note(tenant=tenant, item=item, link=link) if item.link_note else ""
    logger.info("link created: tenant=%s item=%s %s ↔ %s", tenant.pk, item.pk, issue_key, record_id)
    return link


def after_link_created(*, link: Link, client: JiraClient | None = None) -> None:
    """What follows a link made by sync (auto-create): the item's count, the issue's badge, the link note."""
    item = link.item
    item_linked_count_refresh(item=item)
    try:
        badge_update(tenant=item.tenant, issue_id=link.jira_issue_id, client=client)
    except ApiError as exc:
        logger.warning("badge update failed for issue %s: %s", link.jira_issue_id, exc.message)
    if item.link_note:
        _post_link_note(tenant=item.tenant, item=item, link=link)


def sync_words(item: ConnectedItem) -> str:
    """What a link of the item keeps in step, in words for agents ("display only" when nothing)."""
    if not item.is_synchronized:
        return "Display only: nothing is synchronized"
    parts = []
    directions = {m.direction for m in item.mappings.all()}
    if directions:
        parts.append(
            "fields " + ("both ways" if len(directions) == 2 else "to Jira" if "to_jira" in directions else "from Jira")
        )
    parts += [
        what
        for flag, what in (
            (item.status_sync, "status"),
            (item.comment_sync, "comments"),
            (item.attachment_sync, "attachments"),
        )
        if flag
    ]
    way = "Two-way sync" if item.mode == ConnectedItem.Mode.TWO_WAY else "One-way sync to Jira"
    return f"{way} of {', '.join(parts)}" if parts else f"{way} (nothing mapped yet)"


def _post_link_note(*, tenant: Tenant, item: ConnectedItem, link: Link) -> str:
    """Post the link note on the record; returns "" when posted, else a warning in words for the user."""
    url = f"{tenant.display_url or tenant.base_url}/browse/{link.jira_issue_key}"
    text = f"Linked to Jira issue {link.jira_issue_key}: {url}\nDeskbridge item: {item.name} — {sync_words(item)}."
    provider = provider_for(item.connection.provider)
    try:
        provider.post_internal_note(client_for(item.connection), item.helpdesk_object, link.record_id, text)
    except ApiError as exc:
        logger.warning("link note on %s failed: %s", link.record_id, exc.message)
        record = provider.object_label(item.helpdesk_object).lower().rstrip("s")
        return (
            f"Linked, but {provider.brand} refused the link note on {record} {link.record_id} ({exc.message}), so "
            f"its agents do not see that it is linked to {link.jira_issue_key}. Add a note there by hand if they "
            "need it."
        )
    return ""


def link_unlinkable(link) -> bool:
    """Whether a user may unlink ``link`` (a ``Link`` or anything with its ``origin`` and ``record_deleted_at``,
    and maybe ``issue_deleted_at``): one made by hand, or a broken one (its helpdesk record or its Jira issue was
    deleted), whatever its origin. A broken link has nothing left for its item to manage (neither engine syncs
    it, and Jira Cloud cannot restore a deleted issue: https://community.atlassian.com/t5/Jira-articles/
    Why-should-deleting-issues-in-Jira-be-restricted/ba-p/2807270), so one made by sync may go too; the creation
    intent behind it stays, so neither auto-create makes its record or its issue again."""
    return (
        link.origin != Link.Origin.AUTO
        or link.record_deleted_at is not None
        or getattr(link, "issue_deleted_at", None) is not None
    )


def link_delete(*, tenant: Tenant, link: Link, allow_auto: bool = False) -> None:
    """Unlink. Links made by sync (auto) are managed by the item and cannot be removed by hand, unless they are
    broken: their record was deleted in the helpdesk, or their issue in Jira (``link_unlinkable``)."""
    if link.tenant_id != tenant.pk:
        raise ValueError("link belongs to another tenant")
    item, issue_id = link.item, link.jira_issue_id
    with transaction.atomic():
        # Judged on the row as it is now, locked: since the caller read it, a poll may have healed a broken link
        # (its record restored in the helpdesk), which makes a link made by sync the item's again.
        current = Link.objects.select_for_update().filter(pk=link.pk, tenant_id=tenant.pk).first()
        if current is not None:  # None: unlinked meanwhile, nothing more to do
            if not allow_auto and not link_unlinkable(current):
                raise AutoManagedLink(
                    "This link is managed by automatic sync and cannot be removed by hand. A Jira admin can change "
                    "the item's auto-create settings instead."
                )
            if current.issue_deleted_at is not None:
                # Its issue was deleted in Jira. Once no link is left, the record's auto-create intent is what keeps
                # the item's auto-create from the helpdesk from making it an issue again (what a user unlinked is not
                # made again); a record made from the issue has none, so it gets one, done.
                AutoCreate.objects.get_or_create(
                    tenant_id=tenant.pk,
                    item_id=current.item_id,
                    record_id=current.record_id,
                    defaults={"state": AutoCreate.State.DONE, "jira_issue_id": current.jira_issue_id},
                )
            current.delete()
    _after_change(tenant=tenant, item=item, issue_id=issue_id)


def link_refresh(*, tenant: Tenant, link: Link) -> Link:
    """Pull the record live from the helpdesk now and store the new preview snapshot. On a synchronized
    link this is the sync engine's pass for that link (fields, status, comments, files, preview), at once;
    while another worker is syncing the connection the pass is queued and the preview refreshed now."""
    if link.tenant_id != tenant.pk:
        raise ValueError("link belongs to another tenant")
    if link.record_deleted_at is not None:
        provider = provider_for(link.item.connection.provider)
        noun = record_noun(provider, link.item.helpdesk_object)
        raise LinkRecordDeleted(
            f"{noun} {link.record_id} was deleted in {provider.brand}, so this link is broken and there is nothing "
            f"to refresh. Unlink it, then link another {noun.lower()} or create a new one.",
            extra={"record_id": link.record_id},
        )
    require_usable(link.item)
    if link.item.is_synchronized and link.sync_stopped_at is None:
        run = link_pass(link_id=link.pk)
        if run is not None and run.outcome == SyncRun.Outcome.SUCCESS:
            link.refresh_from_db()
            return link
        if run is None:
            transaction.on_commit(lambda: async_task("sync.tasks.link_pass_task", link.pk))
    link.preview = _fetch_preview(link.item, link.record_id)
    link.preview_updated_at = timezone.now()
    link.save(update_fields=["preview", "preview_updated_at"])
    return link


def event_retry(*, event: SyncEvent) -> str:
    """Retry what a failed sync event was about: forget the failure (a refused field, a refused comment or
    file, a failed auto-create) and queue the pass that redoes it. Returns what was queued, in words."""
    from .engine import BLOCKED_KEY
    from .models import AttachmentMap, AutoCreate, CommentMap

    if event.link_id:
        link = Link.objects.filter(pk=event.link_id, tenant_id=event.tenant_id).first()
        if link is None:
            return "the link no longer exists"
        failed = {"target_id__in": ["failed", "refused"]}
        CommentMap.objects.filter(tenant_id=link.tenant_id, link=link, **failed).delete()
        AttachmentMap.objects.filter(tenant_id=link.tenant_id, link=link, **failed).delete()
        state = {
            k: v
            for k, v in (link.field_state or {}).items()
            if k != BLOCKED_KEY and not str(v).startswith(("refused:", "skip:"))
        }
        Link.objects.filter(pk=link.pk).update(field_state=state)
        if event.direction == "to_helpdesk":  # a Jira → helpdesk write: the issue's push is queued again
            from .inbox import RETRY, issue_events_enqueue, synthetic_event

            synthetic_event(
                tenant_id=link.tenant_id,
                issue_id=link.jira_issue_id,
                issue_key=link.jira_issue_key,
                kind=RETRY,
                key=f"event-{event.pk}-{timezone.now().timestamp()}",
            )
            transaction.on_commit(lambda: issue_events_enqueue(tenant_id=link.tenant_id, issue_id=link.jira_issue_id))
            return f"{link.jira_issue_key}: sending it to the helpdesk again was queued"
        transaction.on_commit(lambda: async_task("sync.tasks.link_pass_task", link.pk, "manual"))
        return f"{link.jira_issue_key}: its sync pass was queued"
    if event.item_id:
        reset = AutoCreate.objects.filter(
            tenant_id=event.tenant_id, item_id=event.item_id, state=AutoCreate.State.FAILED
        ).update(state=AutoCreate.State.PENDING, error="", attempted_at=timezone.now() - timedelta(hours=1))
        if reset:
            item = ConnectedItem.objects.select_related("connection").get(pk=event.item_id)
            state = SyncState.objects.filter(connection_id=item.connection_id)
            state.update(requested_at=timezone.now(), next_poll_at=None)
            cid = item.connection_id
            transaction.on_commit(lambda: async_task("sync.tasks.connection_poll_task", cid, "manual"))
            return f"{reset} issue creation(s) queued again"
    return "nothing to retry"


def sync_now(*, tenant: Tenant, connection) -> None:
    """Sync now: enqueue a poll of the connection at once (the dispatcher also sees the request, so a
    restart in between loses nothing). Refused (409) while the connection cannot be synced."""
    from .engine import halt_reason, sync_state_get

    if connection.tenant_id != tenant.pk:
        raise ValueError("connection belongs to another tenant")
    halted = halt_reason(connection)
    if halted is not None:
        raise SyncNotPossible(halted[1], extra={"reason": halted[0]})
    state = sync_state_get(connection=connection)
    SyncState.objects.filter(pk=state.pk).update(requested_at=timezone.now(), next_poll_at=None)
    transaction.on_commit(lambda: async_task("sync.tasks.connection_poll_task", connection.pk, "manual"))

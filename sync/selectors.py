"""Reads of the sync app. Tenant first in every query."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connector.models import ConnectedItem, HelpdeskConnection
from tenants.models import Tenant

from .models import Link, WebhookEvent


def link_get(*, tenant: Tenant, link_id: int) -> Link | None:
    return Link.objects.filter(tenant=tenant, pk=link_id).select_related("item", "item__connection").first()


def link_find(*, tenant: Tenant, item: ConnectedItem, record_id: str, issue_id: str) -> Link | None:
    return Link.objects.filter(tenant=tenant, item=item, record_id=str(record_id), jira_issue_id=str(issue_id)).first()


def links_query(
    *, tenant: Tenant, item: ConnectedItem, ticket_id: str | None = None, issue_id: str | None = None
) -> QuerySet[Link]:
    qs = Link.objects.filter(tenant=tenant, item=item)
    if ticket_id:
        qs = qs.filter(record_id=str(ticket_id))
    if issue_id:
        qs = qs.filter(jira_issue_id=str(issue_id))
    return qs.order_by("id")


def issue_link_count(*, tenant: Tenant, issue_id: str) -> int:
    return Link.objects.filter(tenant=tenant, jira_issue_id=str(issue_id)).count()


@dataclass
class CardLink:
    id: int
    record_id: str
    origin: str
    preview: dict
    preview_updated_at: datetime | None
    sync_stopped_at: datetime | None = None
    record_deleted_at: datetime | None = None


@dataclass
class CardItem:
    id: int
    name: str
    mode: str
    helpdesk_object: str
    jira_issue_type_id: str
    is_paused: bool
    provider: str
    connection_status: str
    links: list[CardLink]


def _cards_sql() -> str:
    item, conn, link = ConnectedItem._meta.db_table, HelpdeskConnection._meta.db_table, Link._meta.db_table
    # Table names come from model metadata, never from input; every value is a bound parameter.
    return (
        "SELECT i.id, i.name, i.mode, i.helpdesk_object, i.jira_issue_type_id, i.is_paused, c.provider, c.status, "  # noqa: S608
        "l.id, l.record_id, l.origin, l.preview, l.preview_updated_at, l.sync_stopped_at, l.record_deleted_at "
        f"FROM {item} i JOIN {conn} c ON c.id = i.connection_id "
        f"LEFT JOIN {link} l ON l.item_id = i.id AND l.tenant_id = i.tenant_id AND l.jira_issue_id = %s "
        "WHERE i.tenant_id = %s AND i.jira_project_id = %s ORDER BY i.name, i.id, l.id"
    )


def _aware(value) -> datetime | None:
    value = parse_datetime(value) if isinstance(value, str) else value
    if value is not None and timezone.is_naive(value):  # SQLite stores UTC without an offset
        value = timezone.make_aware(value, UTC)
    return value


def card_items_for_project(*, tenant: Tenant, project_id: str, issue_id: str) -> list[CardItem]:
    """Every item of a project with its connection and the links of one issue: one query.

    This is the issue panel's hot path (the panel benchmark measures it), so it is one hand-written
    SELECT instead of two ORM queries; the values are normalised the same on PostgreSQL and SQLite.
    """
    with connection.cursor() as cursor:
        cursor.execute(_cards_sql(), [str(issue_id), tenant.pk, str(project_id)])
        rows = cursor.fetchall()
    items: dict[int, CardItem] = {}
    for row in rows:
        item = items.get(row[0])
        if item is None:
            item = items[row[0]] = CardItem(
                id=row[0],
                name=row[1],
                mode=row[2],
                helpdesk_object=row[3],
                jira_issue_type_id=row[4],
                is_paused=bool(row[5]),
                provider=row[6],
                connection_status=row[7],
                links=[],
            )
        if row[8] is not None:
            preview = json.loads(row[11]) if isinstance(row[11], str) else (row[11] or {})
            updated, stopped, gone = (_aware(value) for value in (row[12], row[13], row[14]))
            item.links.append(CardLink(row[8], row[9], row[10], preview, updated, stopped, gone))
    return list(items.values())


def webhook_events_failed(*, tenant: Tenant, limit: int = 50) -> list[WebhookEvent]:
    """The site's inbox events that failed (newest first), for the admin page's retry list."""
    return list(
        WebhookEvent.objects.filter(tenant_id=tenant.pk, status=WebhookEvent.Status.FAILED).order_by("-id")[:limit]
    )


def links_broken(*, tenant: Tenant, side: str = "jira", limit: int = 50) -> list[Link]:
    """Broken links, newest first: those whose Jira issue was deleted (``side="jira"``), or whose helpdesk
    record was (``side="helpdesk"``)."""
    moment = {"jira": "issue_deleted_at", "helpdesk": "record_deleted_at"}[side]
    return list(
        Link.objects.filter(tenant_id=tenant.pk, **{f"{moment}__isnull": False})
        .select_related("item")
        .order_by(f"-{moment}")[:limit]
    )

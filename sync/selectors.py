"""Reads of the sync app. Tenant first in every query."""

from __future__ import annotations

from django.db.models import QuerySet

from connector.models import ConnectedItem
from tenants.models import Tenant

from .models import Link


def links_for_issue(*, tenant: Tenant, issue_id: str, items: list[ConnectedItem]) -> dict[int, list[Link]]:
    """Links of one issue, grouped by item id — one query."""
    grouped: dict[int, list[Link]] = {item.pk: [] for item in items}
    if not items:
        return grouped
    for link in Link.objects.filter(tenant=tenant, jira_issue_id=str(issue_id), item__in=items).order_by("id"):
        grouped[link.item_id].append(link)
    return grouped


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

"""Reads of the connector app. Tenant first in every query."""

from __future__ import annotations

from django.core.cache import cache
from django.db.models import QuerySet

from tenants.models import Tenant

from .clients.jira import JiraClient
from .errors import NotConnected
from .models import ConnectedItem, HelpdeskConnection

ADMIN_CHECK_CACHE_SECONDS = 120


def connection_get(*, tenant: Tenant, connection_id: int) -> HelpdeskConnection | None:
    return HelpdeskConnection.objects.filter(tenant=tenant, pk=connection_id).first()


def connection_for_provider(*, tenant: Tenant, provider: str) -> HelpdeskConnection | None:
    return HelpdeskConnection.objects.filter(tenant=tenant, provider=provider).first()


def connection_active(*, tenant: Tenant) -> HelpdeskConnection | None:
    """The tenant's connected helpdesk (the first connected one)."""
    return (
        HelpdeskConnection.objects.filter(tenant=tenant, status=HelpdeskConnection.Status.CONNECTED)
        .order_by("id")
        .first()
    )


def connection_current(*, tenant: Tenant) -> HelpdeskConnection | None:
    """The helpdesk the site works with (one at a time): the connection that is not revoked, else the one
    revoked last (its items wait, paused, for a reconnect)."""
    return (
        HelpdeskConnection.objects.filter(tenant=tenant)
        .exclude(status=HelpdeskConnection.Status.REVOKED)
        .order_by("id")
        .first()
        or HelpdeskConnection.objects.filter(tenant=tenant, revoked_at__isnull=False).order_by("-revoked_at").first()
    )


def connection_require(*, tenant: Tenant) -> HelpdeskConnection:
    connection = connection_active(tenant=tenant)
    if connection is None:
        raise NotConnected(
            "No helpdesk is connected for this Jira site. A Jira admin can connect one on the Deskbridge "
            "admin page (Apps → Deskbridge)."
        )
    return connection


def items_list(*, tenant: Tenant) -> QuerySet[ConnectedItem]:
    return (
        ConnectedItem.objects.filter(tenant=tenant)
        .select_related("connection")
        .prefetch_related("mappings")
        .order_by("name")
    )


def item_get(*, tenant: Tenant, item_id: int) -> ConnectedItem | None:
    return items_list(tenant=tenant).filter(pk=item_id).first()


def item_get_by_external_id(*, tenant: Tenant, external_id: str) -> ConnectedItem | None:
    return ConnectedItem.objects.filter(tenant=tenant, external_id=external_id).select_related("connection").first()


def item_applies(*, mode: str, item_issue_type_id: str, issue_type_id: str) -> bool:
    """The one rule for which SCIs apply to an issue of their project: display-only items to every issue
    type, synchronized items to their own issue type only."""
    return mode == ConnectedItem.Mode.DISPLAY or item_issue_type_id == str(issue_type_id)


def items_for_issue(*, tenant: Tenant, project_id: str, issue_type_id: str) -> list[ConnectedItem]:
    """Items that apply to an issue (see ``item_applies``), each with its connection."""
    items = (
        ConnectedItem.objects.filter(tenant=tenant, jira_project_id=str(project_id))
        .select_related("connection")
        .order_by("name")
    )
    return [
        item
        for item in items
        if item_applies(mode=item.mode, item_issue_type_id=item.jira_issue_type_id, issue_type_id=issue_type_id)
    ]


def jira_user_is_admin(*, tenant: Tenant, account_id: str | None) -> bool:
    """Does the user hold Jira's global ADMINISTER permission? Asked through Jira's permission check
    API and cached briefly, so revoking admin rights takes effect within two minutes."""
    if not account_id:
        return False
    key = f"jira-admin:{tenant.pk}:{account_id}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    granted = JiraClient(tenant).check_global_permissions(account_id=account_id, permissions=["ADMINISTER"])
    is_admin = "ADMINISTER" in granted
    cache.set(key, is_admin, ADMIN_CHECK_CACHE_SECONDS)
    return is_admin


BROWSE_CHECK_CACHE_SECONDS = 60


def jira_user_can_browse_issue(*, tenant: Tenant, account_id: str | None, issue_id: str) -> bool:
    """Can this Jira user see the issue (BROWSE_PROJECTS on it)? Asked through Jira's permission check
    API, cached for a minute per user and issue."""
    if not account_id or not str(issue_id).isdigit():
        return False
    key = f"jira-browse:{tenant.pk}:{account_id}:{issue_id}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    allowed = JiraClient(tenant).can_browse_issue(account_id=account_id, issue_id=int(issue_id))
    cache.set(key, allowed, BROWSE_CHECK_CACHE_SECONDS)
    return allowed


ISSUE_SCOPE_CACHE_SECONDS = 60


def jira_issue_scope(*, tenant: Tenant, issue_id: str) -> tuple[str, str]:
    """The issue's project id and issue type id, as Jira says (one call, cached a minute per issue)."""
    key = f"jira-issue-scope:{tenant.pk}:{issue_id}"
    cached = cache.get(key)
    if cached is not None:
        return tuple(cached)
    fields = (JiraClient(tenant).issue_get(str(issue_id), fields=["project", "issuetype"]).get("fields")) or {}
    scope = (str((fields.get("project") or {}).get("id", "")), str((fields.get("issuetype") or {}).get("id", "")))
    cache.set(key, list(scope), ISSUE_SCOPE_CACHE_SECONDS)
    return scope

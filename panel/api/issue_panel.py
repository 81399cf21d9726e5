"""The issue panel's JSON API (context JWT from ``AP.context.getToken()``, or the page session the panel
was rendered with). Tenant from the token; the preview comes from our database, never a live call."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from config.errors import ForbiddenError, NotFoundError
from connector.clients.base import ApiError, ApiNotFound, is_numeric_id
from connector.models import ConnectedItem, HelpdeskConnection
from connector.providers import client_for, provider_for
from connector.selectors import (
    connection_active,
    item_applies,
    item_get,
    jira_issue_scope,
    jira_user_can_browse_issue,
)
from sync.errors import JiraUnavailable
from sync.models import Link
from sync.selectors import card_items_for_project, link_get
from sync.services import helpdesk_failure, link_create, link_delete, link_refresh, require_usable
from tenants.auth import JiraContextJWTAuthentication, PageSessionAuthentication, TenantLicensed

PANEL_AUTH = [JiraContextJWTAuthentication, PageSessionAuthentication]


class PanelView(APIView):
    authentication_classes = PANEL_AUTH
    permission_classes = [TenantLicensed]


class LinkOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    record_id = serializers.CharField()
    origin = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField()
    fields = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    preview_updated_at = serializers.DateTimeField(allow_null=True)
    can_unlink = serializers.BooleanField()
    sync_stopped_at = serializers.DateTimeField(allow_null=True, help_text="Closed in the helpdesk: no longer syncs.")


class CardSerializer(serializers.Serializer):
    item = serializers.DictField()
    links = LinkOutSerializer(many=True)


class CardsSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["ok", "disconnected"])
    cards = CardSerializer(many=True)


def link_out(link) -> dict:
    """A link as the panel shows it (a ``Link`` or a ``CardLink`` from the cards query)."""
    preview = link.preview or {}
    return {
        "id": link.id,
        "record_id": link.record_id,
        "origin": link.origin,
        "title": preview.get("title") or link.record_id,
        "url": preview.get("url") or "",
        "fields": preview.get("fields") or [],
        "preview_updated_at": link.preview_updated_at.isoformat() if link.preview_updated_at else None,
        "can_unlink": link.origin == Link.Origin.MANUAL,
        # the ticket was closed: its last state was synced and the link no longer syncs
        "sync_stopped_at": link.sync_stopped_at.isoformat() if getattr(link, "sync_stopped_at", None) else None,
    }


def cards_for_issue(*, tenant, issue_id: str, project_id: str, issue_type_id: str) -> dict:
    """The panel's cards, from our database only: one query whatever the number of links; a second only
    when the project has no items at all (to tell "nothing configured" from "not connected")."""
    rows = card_items_for_project(tenant=tenant, project_id=project_id, issue_id=issue_id)
    applicable = [
        row
        for row in rows
        if item_applies(mode=row.mode, item_issue_type_id=row.jira_issue_type_id, issue_type_id=issue_type_id)
    ]
    is_up = HelpdeskConnection.Status.CONNECTED
    if rows:
        has_connection = any(row.connection_status == is_up for row in rows)
    else:
        has_connection = connection_active(tenant=tenant) is not None
    if not has_connection:
        return {"state": "disconnected", "cards": []}
    connected = [row for row in applicable if row.connection_status == is_up]
    modes = dict(ConnectedItem.Mode.choices)
    cards = []
    for row in connected:
        provider = provider_for(row.provider)
        cards.append(
            {
                "item": {
                    "id": row.id,
                    "name": row.name,
                    "mode": row.mode,
                    "mode_label": modes.get(row.mode, row.mode),
                    "object": row.helpdesk_object,
                    "object_label": provider.object_label(row.helpdesk_object),
                    "synchronized": row.mode != ConnectedItem.Mode.DISPLAY,
                    "paused": row.is_paused,
                },
                "links": [link_out(link) for link in row.links],
            }
        )
    return {"state": "ok", "cards": cards}


@dataclass(frozen=True)
class IssueScope:
    """The issue a panel request is about, with its project and type as Jira says — never as the caller
    says: a bound page session carries what Jira signed on the panel URL; otherwise Jira is asked."""

    issue_id: str
    project_id: str
    issue_type_id: str


ISSUE_ID = OpenApiParameter("issue_id", str, required=True, description="The numeric id of the issue the panel shows.")


@extend_schema(tags=["panel"], parameters=[ISSUE_ID], responses=CardsSerializer)
class CardsView(PanelView):
    def get(self, request):
        scope = require_issue_access(request, request.query_params.get("issue_id", ""))
        return Response(
            cards_for_issue(
                tenant=request.tenant,
                issue_id=scope.issue_id,
                project_id=scope.project_id,
                issue_type_id=scope.issue_type_id,
            )
        )


def require_issue_access(request, issue_id: str) -> IssueScope:
    """The caller must be able to see the issue: a panel session is bound to the issue Jira showed it
    with; a context JWT is checked with Jira's permission API (cached for a minute). Returns the issue's
    project and type from the same trusted source."""
    issue_id = str(issue_id or "").strip()
    if not is_numeric_id(issue_id):
        raise serializers.ValidationError({"issue_id": ["The numeric id of the issue the panel shows."]})
    principal = request.user
    if principal.bound_issue_id is not None:
        if principal.bound_issue_id != issue_id:
            raise _issue_forbidden()
        return IssueScope(issue_id, principal.bound_project_id or "", principal.bound_issue_type_id or "")
    try:
        allowed = jira_user_can_browse_issue(tenant=request.tenant, account_id=principal.account_id, issue_id=issue_id)
        if not allowed:
            raise _issue_forbidden()
        project_id, issue_type_id = jira_issue_scope(tenant=request.tenant, issue_id=issue_id)
    except ApiNotFound:
        raise NotFoundError(f"Issue {issue_id} does not exist in Jira (or the app cannot see it).") from None
    except ApiError as exc:
        raise JiraUnavailable(f"Could not check your access to the issue in Jira ({exc.message}).") from exc
    return IssueScope(issue_id, project_id, issue_type_id)


def _issue_forbidden() -> ForbiddenError:
    return ForbiddenError(
        "You cannot see this issue in Jira, so Deskbridge does not show or change its links.",
        code="issue_forbidden",
    )


def require_item_applies(item, scope: IssueScope) -> None:
    """Search and link only through items that apply to the issue's project and type."""
    applies = item.jira_project_id == scope.project_id and item_applies(
        mode=item.mode, item_issue_type_id=item.jira_issue_type_id, issue_type_id=scope.issue_type_id
    )
    if not applies:
        raise ForbiddenError(
            f"{item.name} does not apply to this issue's project and type, so it cannot search or link here.",
            code="item_not_applicable",
        )


class PanelSearchThrottle(SimpleRateThrottle):
    """Per Jira user (per site): the helpdesk's rate limit is shared by the whole customer, so one user
    typing fast (or a script) must not spend it. Rate: ``PANEL_SEARCH_RATE``."""

    scope = "panel_search"

    def get_rate(self):
        return settings.PANEL_SEARCH_RATE

    def get_cache_key(self, request, view):
        principal = request.user
        return f"throttle_panel_search_{principal.tenant.pk}_{principal.account_id or 'anonymous'}"


def _item(request, item_id) -> object:
    item = item_get(tenant=request.tenant, item_id=item_id)
    if item is None:
        raise NotFoundError("No such connected item.")
    return item


@extend_schema(
    tags=["panel"],
    parameters=[ISSUE_ID, OpenApiParameter("q", str, required=True)],
    responses=inline_serializer(
        "SearchResults",
        {
            "results": serializers.ListField(child=serializers.DictField(child=serializers.CharField())),
            "hint": serializers.CharField(allow_blank=True),
        },
    ),
)
class SearchView(PanelView):
    throttle_classes = [PanelSearchThrottle]

    def get(self, request, item_id: int):
        """Search records as the user types (for the issue the panel shows, through an item that applies to
        it); an empty list comes with a hint to use the id."""
        scope = require_issue_access(request, request.query_params.get("issue_id", ""))
        item = _item(request, item_id)
        require_item_applies(item, scope)
        require_usable(item)
        query = (request.query_params.get("q") or "").strip()[:200]
        provider = provider_for(item.connection.provider)
        try:
            hits = provider.search(client_for(item.connection), item.helpdesk_object, query) if query else []
        except ApiError as exc:
            raise helpdesk_failure(exc, item) from exc
        results = [{"id": h.id, "title": h.title, "subtitle": h.subtitle} for h in hits]
        hint = (
            ""
            if results or not query
            else (
                f"No {provider.object_label(item.helpdesk_object).lower()} match “{query}”. "
                "Type the record's id to link it directly."
            )
        )
        return Response({"results": results, "hint": hint})


class LinkInSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    issue_id = serializers.CharField(max_length=32)
    issue_key = serializers.CharField(max_length=64)
    record_id = serializers.CharField(max_length=64)


@extend_schema(tags=["panel"], request=LinkInSerializer, responses={201: LinkOutSerializer})
class LinkCreateView(PanelView):
    def post(self, request):
        data = LinkInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scope = require_issue_access(request, data.validated_data["issue_id"])
        item = _item(request, data.validated_data["item_id"])
        require_item_applies(item, scope)
        link = link_create(
            tenant=request.tenant,
            item=item,
            issue_id=data.validated_data["issue_id"],
            issue_key=data.validated_data["issue_key"],
            record_id=data.validated_data["record_id"],
            actor=request.jira_account_id or "",
        )
        return Response(link_out(link), status=status.HTTP_201_CREATED)


def _link(request, link_id) -> Link:
    link = link_get(tenant=request.tenant, link_id=link_id)
    if link is None:
        raise NotFoundError("No such link.")
    require_issue_access(request, link.jira_issue_id)
    return link


@extend_schema(tags=["panel"], request=None, responses=LinkOutSerializer)
class LinkRefreshView(PanelView):
    def post(self, request, link_id: int):
        """Pull the record live now and store the new preview."""
        return Response(link_out(link_refresh(tenant=request.tenant, link=_link(request, link_id))))


@extend_schema(tags=["panel"], responses={204: None})
class LinkDeleteView(PanelView):
    def delete(self, request, link_id: int):
        link_delete(tenant=request.tenant, link=_link(request, link_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

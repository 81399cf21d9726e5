"""The issue panel's JSON API (context JWT from ``AP.context.getToken()``, or the page session the panel
was rendered with). Tenant from the token; the preview comes from our database, never a live call."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import OuterRef, Subquery
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from config.errors import ForbiddenError, NotFoundError
from connector.clients.base import ApiError, ApiNotFound, is_numeric_id
from connector.models import ConnectedItem, HelpdeskConnection
from connector.providers import all_providers, client_for, provider_for
from connector.selectors import (
    connection_active,
    item_applies,
    item_get,
    jira_issue_scope,
    jira_user_can_browse_issue,
)
from sync.create import record_create_for_issue, record_create_preview
from sync.errors import JiraUnavailable
from sync.models import Link, SyncEvent
from sync.selectors import card_items_for_project, link_get
from sync.services import (
    helpdesk_failure,
    link_create,
    link_delete,
    link_refresh,
    link_unlinkable,
    require_usable,
    sync_words,
)
from tenants.auth import JiraContextJWTAuthentication, PageSessionAuthentication, TenantLicensed

from .serializers import CreatedRecordSerializer, ErrorSerializer, RecordCreateSerializer

PANEL_AUTH = [JiraContextJWTAuthentication, PageSessionAuthentication]


class PanelView(APIView):
    authentication_classes = PANEL_AUTH
    permission_classes = [TenantLicensed]


class LinkProblemSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=["sync_stopped", "issue_deleted", "record_deleted", "sync_error"])
    message = serializers.CharField()
    at = serializers.DateTimeField(allow_null=True)


class LinkOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    record_id = serializers.CharField()
    origin = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField(allow_blank=True, help_text="The record's status as the helpdesk names it.")
    url = serializers.CharField()
    fields = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    preview_updated_at = serializers.DateTimeField(allow_null=True)
    can_unlink = serializers.BooleanField(
        help_text="Made by hand, or its record was deleted in the helpdesk (a broken link, whatever its origin)."
    )
    sync_stopped_at = serializers.DateTimeField(
        allow_null=True, help_text="Closed or deleted in the helpdesk: no longer syncs (``problems`` says which)."
    )
    problems = LinkProblemSerializer(many=True, help_text="What keeps this link from syncing, in words.")


class LinkCreatedSerializer(LinkOutSerializer):
    warning = serializers.CharField(
        allow_blank=True, help_text="The link was made, but something around it failed (e.g. the link note)."
    )


class CardItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    mode = serializers.CharField()
    mode_label = serializers.CharField()
    object = serializers.CharField()
    object_label = serializers.CharField()
    provider = serializers.CharField()
    brand = serializers.CharField(help_text='The helpdesk as agents know it ("Open in Zendesk").')
    synchronized = serializers.BooleanField()
    paused = serializers.BooleanField()
    read_only = serializers.BooleanField(help_text="The helpdesk is not connected: links are shown, not changed.")
    sync_words = serializers.CharField(allow_blank=True, help_text="What a link of this item keeps in step.")
    last_sync_at = serializers.DateTimeField(allow_null=True)


class CardSerializer(serializers.Serializer):
    item = CardItemSerializer()
    links = LinkOutSerializer(many=True)


class CardsSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["ok", "disconnected"])
    notice = serializers.CharField(allow_blank=True, help_text="Why the cards are read-only and what to do.")
    cards = CardSerializer(many=True)


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _record_status(preview: dict, provider, helpdesk_object: str) -> str:
    """The record's status for the card's lozenge: what the preview says, else a ticket's subtitle (a
    ticket's search summary carries its status)."""
    if preview.get("status"):
        return str(preview["status"])
    if provider is not None and helpdesk_object == provider.ticket_object:
        return str(preview.get("subtitle") or "")
    return ""


def link_out(link, *, provider=None, helpdesk_object: str = "", errors: list | None = None) -> dict:
    """A link as the panel shows it (a ``Link``, or a ``CardLink`` from the cards query with its item's
    provider and object)."""
    if isinstance(link, Link):
        provider = provider_for(link.item.connection.provider)
        helpdesk_object = link.item.helpdesk_object
    preview = link.preview or {}
    brand = provider.brand if provider is not None else "the helpdesk"
    problems = []
    deleted_at = getattr(link, "issue_deleted_at", None)
    record_deleted_at = getattr(link, "record_deleted_at", None)
    stopped_at = getattr(link, "sync_stopped_at", None)
    if deleted_at:
        problems.append(
            {
                "code": "issue_deleted",
                "message": "The Jira issue was deleted: this link is broken and no longer syncs.",
                "at": _iso(deleted_at),
            }
        )
    elif record_deleted_at:
        problems.append(
            {
                "code": "record_deleted",
                "message": f"Deleted in {brand}: this link is broken and no longer syncs; nothing was recreated.",
                "at": _iso(record_deleted_at),
            }
        )
    elif stopped_at:
        problems.append(
            {
                "code": "sync_stopped",
                "message": f"Closed in {brand}: its last state was synced and this link no longer syncs.",
                "at": _iso(stopped_at),
            }
        )
    for message, at in errors or []:
        problems.append({"code": "sync_error", "message": message, "at": _iso(at)})
    return {
        "id": link.id,
        "record_id": link.record_id,
        "origin": link.origin,
        "title": preview.get("title") or link.record_id,
        "status": _record_status(preview, provider, helpdesk_object),
        "url": preview.get("url") or "",
        "fields": preview.get("fields") or [],
        "preview_updated_at": _iso(link.preview_updated_at),
        # made by hand, or broken by its record's deletion (nothing left for sync to manage, whatever its origin)
        "can_unlink": link_unlinkable(link),
        # the ticket was closed (or deleted): the link no longer syncs
        "sync_stopped_at": _iso(stopped_at),
        "problems": problems,
    }


def _link_errors(*, tenant, link_ids: list[int]) -> dict[int, list[tuple[str, object]]]:
    """The errors of each link's latest sync pass (one query whatever the number of links)."""
    if not link_ids:
        return {}
    latest_run = SyncEvent.objects.filter(link_id=OuterRef("link_id")).order_by("-run_id").values("run_id")[:1]
    rows = (
        SyncEvent.objects.filter(
            tenant_id=tenant.pk, link_id__in=link_ids, result=SyncEvent.Result.ERROR, run_id=Subquery(latest_run)
        )
        .order_by("id")
        .values_list("link_id", "message", "created_at")
    )
    errors: dict[int, list[tuple[str, object]]] = {}
    for link_id, message, at in rows:
        errors.setdefault(link_id, []).append((message, at))
    return errors


def _disconnected_notice(brands: set[str], *, links_shown: bool) -> str:
    """Why the panel cannot change links, and what to do."""
    admin_page = "the Deskbridge admin page (Jira settings → Apps → Deskbridge)"
    if not brands:
        return f"No helpdesk is connected for this Jira site. A Jira admin can connect one on {admin_page}."
    helpdesk = " and ".join(sorted(brands))
    verb = "is" if len(brands) == 1 else "are"
    if not links_shown:
        return f"{helpdesk} {verb} not connected. A Jira admin can reconnect on {admin_page}."
    return (
        f"{helpdesk} {verb} not connected, so these links are read-only: they show what was last synced and "
        f"cannot be refreshed, added or unlinked. A Jira admin can reconnect on {admin_page}."
    )


def cards_for_issue(*, tenant, issue_id: str, project_id: str, issue_type_id: str) -> dict:
    """The panel's cards, from our database only: one query whatever the number of links; a second only
    when the project has no items at all (to tell "nothing configured" from "not connected"), and, with
    synchronized items, a constant few for what they sync and their links' sync problems.

    Items whose helpdesk is not connected are read-only: their links stay visible (cards without links
    are left out), with a notice saying why and what to do."""
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
    shown = [row for row in applicable if (row.connection_status == is_up and not row.is_paused) or row.links]
    synchronized_ids = [row.id for row in shown if row.mode != ConnectedItem.Mode.DISPLAY]
    synchronized = (
        {
            i.pk: i
            for i in ConnectedItem.objects.filter(tenant=tenant, pk__in=synchronized_ids).prefetch_related("mappings")
        }
        if synchronized_ids
        else {}
    )
    errors = _link_errors(
        tenant=tenant, link_ids=[link.id for row in shown if row.id in synchronized for link in row.links]
    )
    modes = dict(ConnectedItem.Mode.choices)
    cards = []
    for row in shown:
        provider = provider_for(row.provider)
        read_only = row.connection_status != is_up or row.is_paused
        full = synchronized.get(row.id)
        cards.append(
            {
                "item": {
                    "id": row.id,
                    "name": row.name,
                    "mode": row.mode,
                    "mode_label": modes.get(row.mode, row.mode),
                    "object": row.helpdesk_object,
                    "object_label": provider.object_label(row.helpdesk_object),
                    "provider": row.provider,
                    "brand": provider.brand,
                    "synchronized": row.mode != ConnectedItem.Mode.DISPLAY,
                    "paused": row.is_paused,
                    "read_only": read_only,
                    "sync_words": sync_words(full) if full is not None else "",
                    "last_sync_at": _iso(full.last_sync_at) if full is not None else None,
                },
                "links": [
                    link_out(link, provider=provider, helpdesk_object=row.helpdesk_object, errors=errors.get(link.id))
                    for link in row.links
                ],
            }
        )
    down = {provider_for(row.provider).brand for row in applicable if row.connection_status != is_up or row.is_paused}
    if not has_connection:
        notice = _disconnected_notice(down, links_shown=bool(cards))
        return {"state": "disconnected", "notice": notice, "cards": cards}
    read_only = {card["item"]["brand"] for card in cards if card["item"]["read_only"]}
    notice = _disconnected_notice(read_only, links_shown=True) if read_only else ""
    return {"state": "ok", "notice": notice, "cards": cards}


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


@extend_schema(tags=["panel"], request=LinkInSerializer, responses={201: LinkCreatedSerializer})
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
        return Response(
            {**link_out(link), "warning": getattr(link, "note_warning", "")}, status=status.HTTP_201_CREATED
        )


def _link(request, link_id) -> Link:
    link = link_get(tenant=request.tenant, link_id=link_id)
    if link is None:
        raise NotFoundError("No such link.")
    require_issue_access(request, link.jira_issue_id)
    return link


@extend_schema(tags=["panel"], request=None, responses={200: LinkOutSerializer, 409: ErrorSerializer})
class LinkRefreshView(PanelView):
    def post(self, request, link_id: int):
        """Pull the record live now and store the new preview. 409 ``record_deleted`` when the record was deleted
        in the helpdesk (the link is broken: unlink it)."""
        return Response(link_out(link_refresh(tenant=request.tenant, link=_link(request, link_id))))


@extend_schema(tags=["panel"], responses={204: None, 403: ErrorSerializer})
class LinkDeleteView(PanelView):
    def delete(self, request, link_id: int):
        """Unlink (nothing changes in the helpdesk). A link made by sync is refused (403 ``auto_managed_link``)
        unless its record was deleted in the helpdesk."""
        link_delete(tenant=request.tenant, link=_link(request, link_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- creating a helpdesk record from the issue (Jira → helpdesk) ------------------------------------------


def record_create_actions() -> dict[str, dict[str, str]]:
    """Provider → helpdesk object → the words of the panel's button, for every object Deskbridge can create
    from a Jira issue: "Create ticket" for the helpdesk's tickets, "Create record" for other objects."""
    return {
        provider.key: {
            obj: "Create ticket" if obj == provider.ticket_object else "Create record"
            for obj in sorted(provider.creatable_objects)
        }
        for provider in all_providers()
    }


class RecordCreatedOutSerializer(serializers.Serializer):
    link = LinkOutSerializer()  # as the cards show it
    record = CreatedRecordSerializer()
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="The record was created and linked, but something around it needs attention (e.g. Jira hid the "
        "reporter's email, so the connected agent requests it; the link note was refused).",
    )


@extend_schema(
    tags=["panel"],
    request=RecordCreateSerializer,
    responses={201: RecordCreatedOutSerializer, 400: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
)
class RecordCreateView(PanelView):
    def post(self, request, item_id: int):
        """Create a helpdesk record from the issue the panel shows, through an item that applies to it, and link
        it: the values of the form (``values``: helpdesk field id → value) over what the item's mappings give.
        Whoever may link through the panel may create; 400 with ``extra.fields`` naming the fields to correct."""
        data = RecordCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scope = require_issue_access(request, data.validated_data["issue_id"])
        item = _item(request, item_id)
        require_item_applies(item, scope)
        result = record_create_for_issue(
            tenant=request.tenant,
            item=item,
            issue_id=scope.issue_id,
            values=data.validated_data.get("values") or {},
            actor=request.jira_account_id or "",
        )
        body = {
            "link": link_out(result.link),
            "record": {"id": result.record_id, "url": result.record_url},
            "warnings": result.warnings,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class PreviewFieldSerializer(serializers.Serializer):
    id = serializers.CharField()
    label = serializers.CharField()
    type = serializers.CharField(help_text="The field's normalised type (text, textarea, dropdown, tags, …).")
    required = serializers.BooleanField()
    value = serializers.JSONField(allow_null=True, help_text="What the mappings give, as ``values`` takes it.")
    options = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    html = serializers.BooleanField(help_text="Sent with the issue's formatting unless a value is given for it.")


class RecordPreviewSerializer(serializers.Serializer):
    issue = inline_serializer("PanelPreviewIssue", {"id": serializers.CharField(), "key": serializers.CharField()})
    object = serializers.CharField()
    object_label = serializers.CharField()
    brand = serializers.CharField()
    fields = PreviewFieldSerializer(many=True)
    requester = inline_serializer("PanelPreviewRequester", {"label": serializers.CharField(allow_blank=True)})
    organization = inline_serializer("PanelPreviewOrganization", {"label": serializers.CharField(allow_blank=True)})
    warnings = serializers.ListField(child=serializers.CharField())


@extend_schema(
    tags=["panel"],
    parameters=[ISSUE_ID],
    responses={200: RecordPreviewSerializer, 400: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
)
class RecordPreviewView(PanelView):
    def get(self, request, item_id: int):
        """What Create would send for the issue the panel shows, for the form to show and adjust: the required
        fields and those the item's mappings fill, the requester and organization its rules find, warnings.
        Reads only; the same checks as Create."""
        scope = require_issue_access(request, request.query_params.get("issue_id", ""))
        item = _item(request, item_id)
        require_item_applies(item, scope)
        return Response(record_create_preview(tenant=request.tenant, item=item, issue_id=scope.issue_id))

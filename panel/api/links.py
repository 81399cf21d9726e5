"""The links REST API in the shape of Zendesk's Jira-links API, for scripts and other tools.

``/api/v2/integrations/jira/{external_id}/links`` — ``external_id`` is the SCI's public id — and, beside it,
``…/records`` to create a helpdesk record from a Jira issue and link it (Deskbridge's own). Auth: a tenant
API token as ``Authorization: Bearer <token>`` or Basic ``{email}/token:{token}``. Errors are
``{"errors": [{"code", "title"}]}`` as Zendesk answers them.
"""

from __future__ import annotations

import base64
import binascii

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError
from connector.clients.base import is_numeric_id
from connector.models import ConnectedItem
from connector.selectors import item_get_by_external_id
from sync.create import record_create_for_issue
from sync.models import Link
from sync.selectors import link_find, links_query
from sync.services import link_create, link_delete
from tenants.auth import ApiTokenScope, TenantApiTokenAuthentication, TenantLicensed

from .serializers import CreatedRecordSerializer

MAX_PAGE_SIZE = 100


class LinksApiError(Exception):
    def __init__(self, status_code: int, code: str, title: str, fields: list[str] | None = None):
        super().__init__(title)
        self.status_code, self.code, self.title, self.fields = status_code, code, title, fields


def _errors(status_code: int, code: str, title: str, fields: list[str] | None = None) -> Response:
    error: dict = {"code": code, "title": title}
    if fields:
        error["fields"] = fields
    return Response({"errors": [error]}, status=status_code)


def links_exception_handler(exc, context):
    response = _links_error(exc)
    if response is not None and response.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="deskbridge"'
    return response


def _links_error(exc) -> Response | None:
    if isinstance(exc, LinksApiError):
        return _errors(exc.status_code, exc.code, exc.title, exc.fields)
    if isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
        return _errors(401, "Unauthorized", "Authentication with a Deskbridge API token is required")
    if isinstance(exc, ApplicationError):
        code = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 429: "TooManyRequests"}.get(
            exc.status_code, "BadRequest" if exc.status_code < 500 else "ServiceUnavailable"
        )
        response = _errors(exc.status_code, code, exc.message)
        if exc.extra.get("retry_after") is not None:
            response["Retry-After"] = str(exc.extra["retry_after"])
        return response
    if isinstance(exc, (drf_exceptions.ParseError, drf_exceptions.UnsupportedMediaType)):
        return _errors(400, "BadRequest", "Invalid request body")
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return _errors(405, "MethodNotAllowed", str(exc.detail))
    if isinstance(exc, drf_exceptions.NotAcceptable):
        return _errors(406, "NotAcceptable", "This API answers application/json only")
    if isinstance(exc, drf_exceptions.APIException):
        return _errors(
            exc.status_code, "BadRequest" if exc.status_code < 500 else "ServiceUnavailable", str(exc.detail)
        )
    return None


class LinkSerializer(serializers.Serializer):
    issue_id = serializers.CharField()
    issue_key = serializers.CharField()
    ticket_id = serializers.CharField()


class LinkBodySerializer(serializers.Serializer):
    link = LinkSerializer()


class LinkWarningSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()


class LinkCreatedBodySerializer(LinkBodySerializer):
    warnings = LinkWarningSerializer(
        many=True,
        required=False,
        help_text="Only when something around the new link failed (code LinkNoteFailed: the link note was refused).",
    )


LIST_RESPONSE = inline_serializer(
    "JiraLinksList",
    {
        "count": serializers.IntegerField(),
        "links": LinkSerializer(many=True),
        "meta": inline_serializer(
            "JiraLinksMeta",
            {
                "after": serializers.CharField(help_text='cursor of the last link on this page; "" when empty'),
                "before": serializers.CharField(help_text='cursor of the first link on this page; "" when empty'),
                "has_more": serializers.BooleanField(),
            },
        ),
    },
)
ERROR_RESPONSE = inline_serializer(
    "JiraLinksErrors",
    {
        "errors": serializers.ListField(
            child=inline_serializer(
                "JiraLinksError", {"code": serializers.CharField(), "title": serializers.CharField()}
            )
        )
    },
)


RECORD_ERROR_RESPONSE = inline_serializer(
    "JiraRecordErrors",
    {
        "errors": serializers.ListField(
            child=inline_serializer(
                "JiraRecordError",
                {
                    "code": serializers.CharField(),
                    "title": serializers.CharField(),
                    "fields": serializers.ListField(
                        child=serializers.CharField(),
                        required=False,
                        help_text="The helpdesk fields to give or correct in ``values`` (only when the error is "
                        "about fields, e.g. code RequiredFieldsMissing).",
                    ),
                },
            )
        )
    },
)


def _errors_documented(*statuses: int, shape=ERROR_RESPONSE) -> dict:
    """Every status an operation can answer with ``{"errors": [...]}`` (the schema must list them all)."""
    return {status: shape for status in statuses}


def _out(link: Link) -> dict:
    return {"issue_id": link.jira_issue_id, "issue_key": link.jira_issue_key, "ticket_id": link.record_id}


def _param(params, name: str) -> str | None:
    """A query parameter; sent empty counts as absent (Zendesk's own sample sends ``page[size]=&page[after]=``)."""
    return params.get(name) or None


def _encode_cursor(link_id: int) -> str:
    return base64.urlsafe_b64encode(f"l:{link_id}".encode()).decode().rstrip("=")


def _decode_cursor(value: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        prefix, _, number = raw.partition(":")
        if prefix != "l":
            raise ValueError
        return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise LinksApiError(400, "BadRequest", "Invalid page cursor") from None


class LinksBase(APIView):
    authentication_classes = [TenantApiTokenAuthentication]
    permission_classes = [TenantLicensed, ApiTokenScope]
    token_scope = "links"  # tokens scoped "links" (or "admin") may create and delete links here

    def get_exception_handler(self):
        return links_exception_handler

    def item(self, external_id: str) -> ConnectedItem:
        item = item_get_by_external_id(tenant=self.request.tenant, external_id=external_id)
        if item is None:
            raise LinksApiError(404, "NotFound", "Integration not found")
        if not item.links_api_enabled:
            raise LinksApiError(403, "Forbidden", "Link automation is not allowed for this integration")
        return item


@extend_schema(tags=["links"])
class LinksView(LinksBase):
    @extend_schema(
        parameters=[
            OpenApiParameter("ticket_id", str),
            OpenApiParameter("issue_id", str),
            OpenApiParameter("page[after]", str),
            OpenApiParameter("page[before]", str),
            OpenApiParameter("page[size]", int, description="default 100 (also when sent empty), max 100"),
        ],
        responses={200: LIST_RESPONSE, **_errors_documented(400, 401, 403, 404)},
    )
    def get(self, request, external_id: str):
        item = self.item(external_id)
        params = request.query_params
        after, before = _param(params, "page[after]"), _param(params, "page[before]")
        if after and before:
            raise LinksApiError(400, "BadRequest", "Cannot use both page[after] and page[before] parameters")
        try:
            size = int(_param(params, "page[size]") or MAX_PAGE_SIZE)
        except ValueError:
            raise LinksApiError(400, "BadRequest", "page[size] must be an integer") from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise LinksApiError(400, "BadRequest", f"page[size] must be between 1 and {MAX_PAGE_SIZE}")
        qs = links_query(
            tenant=request.tenant,
            item=item,
            ticket_id=_param(params, "ticket_id"),
            issue_id=_param(params, "issue_id"),
        )
        if before:
            rows = list(qs.filter(id__lt=_decode_cursor(before)).order_by("-id")[: size + 1])
            has_more = len(rows) > size
            rows = list(reversed(rows[:size]))
        else:
            if after:
                qs = qs.filter(id__gt=_decode_cursor(after))
            rows = list(qs[: size + 1])
            has_more = len(rows) > size
            rows = rows[:size]
        # An empty page has empty-string cursors, never null (as in Zendesk's examples).
        meta = {
            "after": _encode_cursor(rows[-1].pk) if rows else "",
            "before": _encode_cursor(rows[0].pk) if rows else "",
            "has_more": has_more,
        }
        return Response({"count": len(rows), "links": [_out(r) for r in rows], "meta": meta})

    @extend_schema(
        request=LinkBodySerializer,
        responses={201: LinkCreatedBodySerializer, **_errors_documented(400, 401, 403, 404, 409, 429, 502, 503)},
    )
    def post(self, request, external_id: str):
        item = self.item(external_id)
        body = LinkBodySerializer(data=request.data)
        if not body.is_valid():
            raise LinksApiError(400, "BadRequest", "Invalid request body")
        data = body.validated_data["link"]
        ticket_id, issue_id = data["ticket_id"].strip(), data["issue_id"].strip()
        if link_find(tenant=request.tenant, item=item, record_id=ticket_id, issue_id=issue_id):
            raise LinksApiError(409, "LinkAlreadyExists", f"Issue is already linked to ticket {ticket_id}")
        if not is_numeric_id(issue_id):
            raise LinksApiError(400, "BadRequest", "issue_id must be the numeric Jira issue id")
        try:
            link = link_create(
                tenant=request.tenant,
                item=item,
                issue_id=issue_id,
                issue_key=data["issue_key"].strip(),
                record_id=ticket_id,
                actor=f"api-token:{request.user.api_token_id}",
            )
        except ApplicationError as exc:
            if exc.code == "link_exists":
                raise LinksApiError(409, "LinkAlreadyExists", f"Issue is already linked to ticket {ticket_id}") from exc
            if exc.code == "record_not_found":
                raise LinksApiError(400, "BadRequest", f"Ticket {ticket_id} does not exist") from exc
            if exc.code == "issue_not_found":
                raise LinksApiError(400, "BadRequest", f"Issue {issue_id} does not exist in Jira") from exc
            if exc.code == "issue_not_applicable":
                raise LinksApiError(400, "BadRequest", exc.message) from exc
            raise
        body = {"link": _out(link)}
        if getattr(link, "note_warning", ""):
            body["warnings"] = [{"code": "LinkNoteFailed", "title": link.note_warning}]
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(tags=["links"])
class LinkDetailView(LinksBase):
    def _link(self, external_id: str, ticket_id: str, issue_id: str) -> Link:
        item = self.item(external_id)
        link = link_find(tenant=self.request.tenant, item=item, record_id=ticket_id, issue_id=issue_id)
        if link is None:
            raise LinksApiError(404, "NotFound", "Link not found")
        return link

    @extend_schema(responses={200: LinkBodySerializer, **_errors_documented(401, 403, 404)})
    def get(self, request, external_id: str, ticket_id: str, issue_id: str):
        return Response({"link": _out(self._link(external_id, ticket_id, issue_id))})

    @extend_schema(responses={204: OpenApiResponse(description="Unlinked"), **_errors_documented(401, 403, 404)})
    def delete(self, request, external_id: str, ticket_id: str, issue_id: str):
        """Unlink (nothing changes in the helpdesk). 403 Forbidden for a link made by sync (auto-create) while its
        record exists; once the record was deleted in the helpdesk, the broken link is unlinked like any other."""
        link = self._link(external_id, ticket_id, issue_id)
        try:
            link_delete(tenant=request.tenant, link=link)
        except ApplicationError as exc:
            raise LinksApiError(403, "Forbidden", exc.message) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecordInSerializer(serializers.Serializer):
    issue_id = serializers.CharField(max_length=32, help_text="The numeric id of the Jira issue.")
    values = serializers.DictField(
        required=False,
        default=dict,
        help_text="Helpdesk field id → value, over what the integration's mappings give (e.g. a subject of your "
        "own, or a required field the issue does not fill).",
    )


class RecordBodySerializer(serializers.Serializer):
    record = RecordInSerializer()


class RecordCreatedBodySerializer(LinkBodySerializer):
    record = CreatedRecordSerializer()
    warnings = LinkWarningSerializer(
        many=True,
        required=False,
        help_text="Only when the record was made and linked but something around it needs attention (code "
        "CreateWarning): e.g. Jira hides the reporter's email, so the connected agent requests the record, or the "
        "helpdesk refused the link note.",
    )


# Application error code → (status, links API code) where scripts need more than the status to act on.
RECORD_ERRORS = {
    "link_exists": (409, "LinkAlreadyExists"),
    "record_create_in_progress": (409, "CreateInProgress"),
    "record_create_unavailable": (400, "CreateUnavailable"),
    "required_fields_missing": (400, "RequiredFieldsMissing"),
    "helpdesk_refused": (400, "HelpdeskRefused"),
    "issue_not_found": (400, "BadRequest"),  # as when linking an issue that does not exist
}


@extend_schema(tags=["links"])
class RecordsView(LinksBase):
    @extend_schema(
        request=RecordBodySerializer,
        responses={
            201: RecordCreatedBodySerializer,
            **_errors_documented(400, 401, 403, 404, 409, 429, 502, 503, shape=RECORD_ERROR_RESPONSE),
        },
    )
    def post(self, request, external_id: str):
        """Create a helpdesk record (a Zendesk ticket) from a Jira issue through this integration and link it,
        as the issue panel's Create does: the fields come from the integration's mappings towards the helpdesk,
        ``values`` override them; the requester is the issue's reporter. 400 RequiredFieldsMissing names the
        ``fields`` to give in ``values``; 409 LinkAlreadyExists when the issue is already linked here."""
        item = self.item(external_id)
        body = RecordBodySerializer(data=request.data)
        if not body.is_valid():
            raise LinksApiError(400, "BadRequest", "Invalid request body")
        data = body.validated_data["record"]
        issue_id = data["issue_id"].strip()
        if not is_numeric_id(issue_id):
            raise LinksApiError(400, "BadRequest", "issue_id must be the numeric Jira issue id")
        try:
            result = record_create_for_issue(
                tenant=request.tenant,
                item=item,
                issue_id=issue_id,
                values=data.get("values") or {},
                actor=f"api-token:{request.user.api_token_id}",
            )
        except ApplicationError as exc:
            mapped = RECORD_ERRORS.get(exc.code)
            fields = exc.extra.get("fields")
            fields = [str(f) for f in fields] if isinstance(fields, list) else None
            if mapped is None and fields is None:
                raise
            status_code, code = mapped or (exc.status_code, "BadRequest")
            raise LinksApiError(status_code, code, exc.message, fields) from exc
        out = {"link": _out(result.link), "record": {"id": result.record_id, "url": result.record_url}}
        if result.warnings:
            out["warnings"] = [{"code": "CreateWarning", "title": warning} for warning in result.warnings]
        return Response(out, status=status.HTTP_201_CREATED)

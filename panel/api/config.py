"""The configuration REST API: connections, SCIs, schema introspection, tenant API tokens.

Auth: ``Authorization: Bearer <tenant API token>`` for scripts, or a context JWT of a Jira admin from the
admin page. Every view is tenant-scoped through ``TenantScopedMixin`` (another tenant's ids are 404).
"""

from __future__ import annotations

from dataclasses import asdict

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ForbiddenError, ValidationFailed
from connector import schema as schema_service
from connector.errors import ItemChanged
from connector.mapping import standard_ticket_preset
from connector.models import ConnectedItem, HelpdeskConnection
from connector.selectors import connection_active, connection_require
from connector.services import (
    ItemSpec,
    connected_item_save,
    connection_revoke,
    zendesk_connect,
    zendesk_oauth_start,
)
from connector.services.connections import API_TOKEN_ACCOUNT_PREFIX, OAUTH_STATE_MAX_AGE
from connector.services.zoho import zoho_connect, zoho_organization_choose, zoho_pending
from sync.create import record_create_for_issue
from sync.models import SyncRun
from sync.services import item_delete, sync_now
from tenants.api import TenantScopedMixin
from tenants.models import ApiToken
from tenants.services import api_token_create, api_token_revoke

from ..permissions import CONFIG_AUTHENTICATION, CONFIG_PERMISSIONS
from . import serializers as s

REFRESH = OpenApiParameter("refresh", bool, description="Reload from the service instead of the cache.")


class RunPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ConfigMixin(TenantScopedMixin):
    authentication_classes = CONFIG_AUTHENTICATION
    permission_classes = CONFIG_PERMISSIONS


@extend_schema(tags=["connections"])
class ConnectionViewSet(ConfigMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = HelpdeskConnection.objects.all()
    serializer_class = s.ConnectionSerializer

    @extend_schema(request=s.OAuthStartSerializer, responses={201: s.OAuthStartedSerializer})
    @action(detail=False, methods=["post"], url_path="zendesk/oauth")
    def zendesk_oauth(self, request):
        """Connect with Zendesk (the primary path): start an OAuth authorization with Deskbridge's global
        OAuth client. Open ``authorize_url`` in a browser signed in to Zendesk as an admin and approve; the
        connection appears (GET /connections) once Zendesk redirects back."""
        data = s.OAuthStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = request.user.account_id or f"{API_TOKEN_ACCOUNT_PREFIX}{request.user.api_token_id}"
        url = zendesk_oauth_start(tenant=request.tenant, account_id=account, subdomain=data.validated_data["subdomain"])
        body = {"authorize_url": url, "expires_in": OAUTH_STATE_MAX_AGE}
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(
        request=s.ZohoConnectSerializer,
        responses={201: s.ConnectionSerializer, 202: s.ZohoPendingSerializer, 400: s.ErrorSerializer},
    )
    @action(detail=False, methods=["post"], url_path="zoho")
    def zoho(self, request):
        """Connect (or reconnect) Zoho Desk with a Self Client: its data center, Client ID, Client Secret and a
        code generated with the required scopes (``GET /api/v1/connections/zoho/scopes``). 201 with the
        connection; 202 with the organizations when the Zoho user belongs to several and ``org_id`` was not
        given: choose one with ``POST /api/v1/connections/zoho/organization`` within 15 minutes."""
        data = s.ZohoConnectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = zoho_connect(tenant=request.tenant, **data.validated_data)
        return self._zoho_answer(connection)

    @extend_schema(
        request=s.ZohoOrganizationSerializer, responses={201: s.ConnectionSerializer, 400: s.ErrorSerializer}
    )
    @action(detail=False, methods=["post"], url_path="zoho/organization")
    def zoho_organization(self, request):
        """Finish a pending Zoho Desk connection with one of the organizations it listed."""
        data = s.ZohoOrganizationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = zoho_organization_choose(tenant=request.tenant, org_id=data.validated_data["org_id"])
        return self._zoho_answer(connection)

    @extend_schema(responses={200: s.ZohoScopesSerializer})
    @action(detail=False, methods=["get"], url_path="zoho/scopes")
    def zoho_scopes(self, request):
        """The scopes a Self Client code must be generated with, and the data centers."""
        from connector.clients.zoho_desk import DATA_CENTERS, REQUIRED_SCOPES

        centers = [{"key": dc.key, "label": dc.label, "desk_host": dc.desk_host} for dc in DATA_CENTERS.values()]
        return Response({"scopes": REQUIRED_SCOPES, "data_centers": centers})

    def _zoho_answer(self, connection):
        pending = zoho_pending(connection)  # tokens waiting for the organization choice
        if pending is not None:
            body = {"pending": True, **pending}
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Cache-Control": "no-store"})
        return Response(s.ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ZendeskConnectSerializer, responses={201: s.ConnectionSerializer})
    def create(self, request):
        """Connect (or reconnect) Zendesk with an agent email and API token, validated against Zendesk. The
        secondary path, for self-hosted and internal deployments; use ``zendesk/oauth`` otherwise."""
        data = s.ZendeskConnectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = zendesk_connect(
            tenant=request.tenant,
            subdomain=data.validated_data["subdomain"],
            email=data.validated_data["email"],
            api_token=data.validated_data["api_token"],
        )
        return Response(s.ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={202: s.SyncQueuedSerializer, 409: s.ErrorSerializer},
        description="Sync now: enqueue a poll of this connection at once (202); 409 while it cannot be synced.",
    )
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        sync_now(tenant=request.tenant, connection=self.get_object())
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=s.ConnectionSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Forget the credentials and pause every item of this connection."""
        connection = connection_revoke(tenant=request.tenant, connection=self.get_object())
        return Response(s.ConnectionSerializer(connection).data)


@extend_schema(tags=["items"])
class ItemViewSet(ConfigMixin, viewsets.ModelViewSet):
    queryset = ConnectedItem.objects.select_related("connection").prefetch_related("mappings")
    serializer_class = s.ItemSerializer
    http_method_names = ["get", "post", "put", "patch", "delete"]

    PARTIAL_UPDATE_ATTEMPTS = 3

    def _save(self, request, item=None, partial=False):
        incoming = s.ItemInputSerializer(data=request.data, partial=partial)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        if not (partial and item):
            connection = item.connection if item else connection_require(tenant=request.tenant)
            saved, warnings = connected_item_save(
                tenant=request.tenant, connection=connection, spec=ItemSpec.from_data(data), item=item
            )
        else:
            # Read, merge, write: the write checks the item is still the version merged onto (under its row
            # lock), so two PATCHes at once both land; a loser merges again onto the winner's result.
            for attempt in range(self.PARTIAL_UPDATE_ATTEMPTS):
                current = self.get_base_queryset().get(pk=item.pk, tenant=request.tenant)
                merged = {**asdict(ItemSpec.from_item(current)), **data}
                try:
                    saved, warnings = connected_item_save(
                        tenant=request.tenant,
                        connection=current.connection,
                        spec=ItemSpec.from_data(merged),
                        item=current,
                        expected_version=current.updated_at,
                    )
                    break
                except ItemChanged:
                    if attempt == self.PARTIAL_UPDATE_ATTEMPTS - 1:
                        raise
        saved = self.get_base_queryset().get(pk=saved.pk)
        return {"item": s.ItemSerializer(saved).data, "warnings": warnings}

    @extend_schema(request=s.ItemInputSerializer, responses={201: s.ItemSavedSerializer})
    def create(self, request):
        return Response(self._save(request), status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ItemInputSerializer, responses=s.ItemSavedSerializer)
    def update(self, request, pk=None, partial=False):
        return Response(self._save(request, item=self.get_object(), partial=partial))

    @extend_schema(request=s.ItemInputSerializer, responses=s.ItemSavedSerializer)
    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        item_delete(tenant=request.tenant, item=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @property
    def token_scope(self) -> str:
        """Creating a record is a link operation: tokens scoped ``links`` may do it; other writes need admin."""
        return "links" if getattr(self, "action", None) == "records" else "admin"

    @extend_schema(
        request=s.RecordCreateSerializer,
        responses={
            201: s.RecordCreatedSerializer,
            400: s.ErrorSerializer,
            404: s.ErrorSerializer,
            409: s.ErrorSerializer,
        },
    )
    @action(detail=True, methods=["post"])
    def records(self, request, pk=None):
        """Create a helpdesk record from a Jira issue through this synchronized item and link it (origin
        manual, with the item's link note): the values come from the item's mappings towards the helpdesk
        (and its helpdesk → Jira mappings read backwards), ``values`` override them; the requester is the
        issue's reporter, found or created by email. 400 for a display-only item or a required field with no
        value, 409 when the issue is already linked through this item, 404 for an unknown issue."""
        item = self.get_object()
        data = s.RecordCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        principal = request.user
        actor = principal.account_id or f"api-token:{principal.api_token_id}"
        result = record_create_for_issue(
            tenant=request.tenant,
            item=item,
            issue_id=data.validated_data["issue_id"],
            values=data.validated_data.get("values") or {},
            actor=actor,
        )
        body = {
            "link": result.link,
            "record": {"id": result.record_id, "url": result.record_url},
            "warnings": result.warnings,
        }
        return Response(s.RecordCreatedSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("project", str, required=True),
            OpenApiParameter("issue_type", str, required=True),
            OpenApiParameter("type_field", str, description="Jira field for the ticket type"),
            OpenApiParameter("requester_name_field", str),
            OpenApiParameter("requester_email_field", str),
            OpenApiParameter("organization_field", str),
            OpenApiParameter("ticket_url_field", str),
        ],
        responses=s.MappingSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def preset(self, request):
        """The standard ticket → Jira issue mappings of the connected helpdesk for a project's create screen,
        to edit and save."""
        project, issue_type = request.query_params.get("project"), request.query_params.get("issue_type")
        missing = {
            name: ["This parameter is required."]
            for name in ("project", "issue_type")
            if not request.query_params.get(name)
        }
        if missing:
            raise ValidationFailed(
                "Give the Jira project and issue type: ?project=KEY&issue_type=ID.", extra={"fields": missing}
            )
        fields = schema_service.jira_create_fields(tenant=request.tenant, project=project, issue_type_id=issue_type)
        targets = {
            "type": request.query_params.get("type_field", ""),
            "requester.name": request.query_params.get("requester_name_field", ""),
            "requester.email": request.query_params.get("requester_email_field", ""),
            "organization.name": request.query_params.get("organization_field", ""),
            "ticket.url": request.query_params.get("ticket_url_field", ""),
        }
        return Response(
            standard_ticket_preset(
                jira_fields=fields,
                jira_priorities=schema_service.jira_priorities(tenant=request.tenant),
                targets=targets,
                provider_key=getattr(connection_active(tenant=request.tenant), "provider", "zendesk"),
            )
        )


def _refresh(request) -> bool:
    return request.query_params.get("refresh") in ("1", "true", "yes")


@extend_schema(tags=["schema"], parameters=[REFRESH], responses=s.SchemaFieldSerializer(many=True))
class HelpdeskFieldsView(APIView):
    authentication_classes = CONFIG_AUTHENTICATION
    permission_classes = CONFIG_PERMISSIONS

    def get(self, request, helpdesk_object: str):
        """Fields of a helpdesk object (system and custom, with drop-down options)."""
        from connector.providers import provider_for

        connection = connection_require(tenant=request.tenant)
        if helpdesk_object not in provider_for(connection.provider).objects:
            raise Http404
        return Response(
            schema_service.helpdesk_fields(
                tenant=request.tenant,
                connection=connection,
                helpdesk_object=helpdesk_object,
                refresh=_refresh(request),
            )
        )


class _JiraSchemaView(APIView):
    authentication_classes = CONFIG_AUTHENTICATION
    permission_classes = CONFIG_PERMISSIONS


@extend_schema(tags=["schema"], parameters=[REFRESH], responses=s.ProjectSerializer(many=True))
class JiraProjectsView(_JiraSchemaView):
    def get(self, request):
        return Response(schema_service.jira_projects(tenant=request.tenant, refresh=_refresh(request)))


@extend_schema(tags=["schema"], parameters=[REFRESH], responses=s.IssueTypeSerializer(many=True))
class JiraIssueTypesView(_JiraSchemaView):
    def get(self, request, project: str):
        return Response(
            schema_service.jira_issue_types(tenant=request.tenant, project=project, refresh=_refresh(request))
        )


@extend_schema(tags=["schema"], parameters=[REFRESH], responses=s.SchemaFieldSerializer(many=True))
class JiraCreateFieldsView(_JiraSchemaView):
    def get(self, request, project: str, issue_type: str):
        """Create metadata: fields on the create screen with required / default / allowed values."""
        return Response(
            schema_service.jira_create_fields(
                tenant=request.tenant, project=project, issue_type_id=issue_type, refresh=_refresh(request)
            )
        )


@extend_schema(tags=["schema"], parameters=[REFRESH], responses=s.SchemaFieldSerializer(many=True))
class JiraFieldsView(_JiraSchemaView):
    def get(self, request):
        return Response(schema_service.jira_fields(tenant=request.tenant, refresh=_refresh(request)))


@extend_schema(tags=["schema"], parameters=[REFRESH], responses=s.PrioritySerializer(many=True))
class JiraPrioritiesView(_JiraSchemaView):
    def get(self, request):
        return Response(schema_service.jira_priorities(tenant=request.tenant, refresh=_refresh(request)))


@extend_schema(tags=["schema"], parameters=[REFRESH], responses=s.StatusSerializer(many=True))
class JiraStatusesView(_JiraSchemaView):
    def get(self, request, project: str):
        """Statuses of a project's workflows with their category (new / indeterminate / done)."""
        return Response(schema_service.jira_statuses(tenant=request.tenant, project=project, refresh=_refresh(request)))


@extend_schema(tags=["tokens"])
class ApiTokenViewSet(ConfigMixin, mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    queryset = ApiToken.objects.all()
    serializer_class = s.ApiTokenSerializer

    @extend_schema(request=s.ApiTokenCreateSerializer, responses={201: s.ApiTokenCreatedSerializer})
    def create(self, request):
        """Create a token (Jira admins only: an API token cannot create tokens). The response carries it
        once; only a hash is stored."""
        if request.user.api_token_id is not None:
            raise ForbiddenError(
                "API tokens cannot create API tokens. A Jira admin creates them on the Deskbridge admin page.",
                code="api_token_cannot_create_tokens",
            )
        data = s.ApiTokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row, token = api_token_create(
            tenant=request.tenant,
            name=data.validated_data["name"],
            created_by=request.user.account_id or "",
            scope=data.validated_data["scope"],
            expires_in_days=data.validated_data.get("expires_in_days"),
        )
        body = {**s.ApiTokenSerializer(row).data, "token": token}
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    def destroy(self, request, pk=None):
        """Revoke a token (kept in the list as revoked)."""
        api_token_revoke(tenant=request.tenant, token_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["sync"])
class RunViewSet(ConfigMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Sync history, newest first: each poll with its outcome, reason, counts and API calls; a run's detail
    lists its events (one per action on a link)."""

    queryset = SyncRun.objects.select_related("connection")
    pagination_class = RunPagination

    def get_serializer_class(self):
        return s.RunDetailSerializer if self.action == "retrieve" else s.RunSerializer

    def get_base_queryset(self):
        queryset = self.queryset.all()
        return queryset.prefetch_related("events") if self.action == "retrieve" else queryset

"""The Jira webhook endpoint: JWT-verified, stored in the inbox, answered 204 at once."""

from __future__ import annotations

import logging

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError
from panel.api.serializers import ErrorSerializer
from tenants.auth import authenticate_jira_request

from .inbox import WEBHOOK_EVENTS, webhook_receive

logger = logging.getLogger(__name__)

DELIVERY_HEADER = "HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER"


class JiraWebhookView(APIView):
    """``POST /jira/webhook``: Jira's Connect webhook deliveries. The JWT is checked here (a real qsh of the
    webhook URL; context tokens are refused), so DRF's own authentication is off."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes: list = []  # the raw body is stored as Jira sent it

    @extend_schema(
        operation_id="jira_webhook",
        tags=["Jira webhooks"],
        summary="Receive a Jira webhook delivery",
        description=(
            "Declared in the app descriptor (`modules.webhooks`, `excludeBody: false`) for "
            + ", ".join(f"`{e}`" for e in WEBHOOK_EVENTS)
            + ". Signed by Jira with a Connect JWT (`Authorization: JWT …`, qsh of this URL). The delivery is "
            "stored in the inbox, deduplicated by `X-Atlassian-Webhook-Identifier`, and processed by a worker; "
            "the answer makes no Jira or helpdesk call. 204 also answers a redelivery and an event for an issue "
            "no two-way link names (dropped, not stored); `X-Deskbridge-Intake` says which (stored, duplicate, "
            "dropped). See GET /api/v1/runs (trigger `webhook`) for what processing did."
        ),
        parameters=[
            OpenApiParameter("Authorization", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
            OpenApiParameter(
                "X-Atlassian-Webhook-Identifier", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True
            ),
        ],
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            204: OpenApiResponse(description="Stored, a redelivery, or not ours."),
            400: OpenApiResponse(ErrorSerializer, description="Not JSON, an unknown event, or no delivery id."),
            401: OpenApiResponse(ErrorSerializer, description="The JWT did not verify."),
            403: OpenApiResponse(ErrorSerializer, description="The app is disabled on this site."),
        },
        auth=[],
    )
    def post(self, request):
        try:
            principal = authenticate_jira_request(request._request, allow_context=False)
            intake = webhook_receive(
                tenant=principal.tenant, delivery_id=request.META.get(DELIVERY_HEADER, ""), body=request.body
            )
        except ApplicationError as exc:
            logger.info("webhook refused (%s): %s", exc.status_code, exc.code)
            return Response(exc.as_dict(), status=exc.status_code)
        return Response(status=204, headers={"X-Deskbridge-Intake": intake.outcome})


jira_webhook = JiraWebhookView.as_view()

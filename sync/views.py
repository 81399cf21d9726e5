"""The Jira webhook endpoint: JWT-verified, stored in the inbox, answered 204 at once."""

from __future__ import annotations

import logging

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.errors import ApplicationError
from tenants.auth import authenticate_jira_request

from .inbox import webhook_receive

logger = logging.getLogger(__name__)

DELIVERY_HEADER = "HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER"


@csrf_exempt
@require_POST
def jira_webhook(request):
    """``POST /jira/webhook``: Connect-JWT signed (a real qsh: context tokens are refused). 204 when stored,
    a redelivery, or not ours; 400 with a reason for a body we cannot use; 401 for a bad signature."""
    try:
        principal = authenticate_jira_request(request, allow_context=False)
        intake = webhook_receive(
            tenant=principal.tenant, delivery_id=request.META.get(DELIVERY_HEADER, ""), body=request.body
        )
    except ApplicationError as exc:
        logger.info("webhook refused (%s): %s", exc.status_code, exc.code)
        return JsonResponse(exc.as_dict(), status=exc.status_code)
    response = HttpResponse(status=204)
    response["X-Deskbridge-Intake"] = intake.outcome
    return response

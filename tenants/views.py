"""The descriptor and the four lifecycle callbacks Jira sends."""

from __future__ import annotations

import json
import logging

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from config.errors import ApplicationError

from . import jwt as connect_jwt
from .descriptor import build_descriptor
from .errors import LifecycleBodyInvalid
from .selectors import tenant_get_by_client_key, tenant_shared_secret_for_issuer
from .services import tenant_install, tenant_set_enabled, tenant_uninstall

logger = logging.getLogger(__name__)


@require_GET
def descriptor(request):
    response = JsonResponse(build_descriptor(), json_dumps_params={"indent": 2})
    response["Cache-Control"] = "no-cache"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _json_body(request):
    try:
        return json.loads(request.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LifecycleBodyInvalid(f"The lifecycle payload is not valid JSON ({exc}).") from exc


def _lifecycle(handler):
    """Common frame: POST only, CSRF-exempt (JWT-authenticated), typed errors → JSON, 204 on success."""

    @csrf_exempt
    @require_POST
    def view(request):
        try:
            handler(request)
        except ApplicationError as exc:
            logger.info("lifecycle %s refused: %s", request.path, exc.code)
            return JsonResponse(exc.as_dict(), status=exc.status_code)
        return HttpResponse(status=204)

    view.__name__ = handler.__name__
    return view


@_lifecycle
def installed(request):
    claims = connect_jwt.verify_install_token(request)
    tenant_install(claims=claims, body=_json_body(request))


@_lifecycle
def uninstalled(request):
    claims = connect_jwt.verify_install_token(request)
    tenant_uninstall(claims=claims, body=_json_body(request))


def _toggle(request, *, enabled: bool) -> None:
    # enabled/disabled are HS256-signed with the shared secret (only install/uninstall are RS256).
    verified = connect_jwt.verify_tenant_token(
        request, secret_for_issuer=tenant_shared_secret_for_issuer, allow_context=False
    )
    tenant = tenant_get_by_client_key(client_key=verified.client_key)
    tenant_set_enabled(tenant=tenant, enabled=enabled, body=_json_body(request))


@_lifecycle
def enabled(request):
    _toggle(request, enabled=True)


@_lifecycle
def disabled(request):
    _toggle(request, enabled=False)

"""Inbound authentication of Jira requests: DRF classes for the JSON API, a decorator for pages.

Every authenticated request carries ``request.tenant`` and ``request.jira_account_id``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import signing
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.utils.log import log_response
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from rest_framework import authentication, permissions

from config.errors import ApplicationError, AuthenticationError, ForbiddenError

from . import jwt as connect_jwt
from .errors import LicenseRequired, TenantInactive
from .models import ApiToken, Tenant
from .selectors import tenant_for_token
from .services import api_token_authenticate, tenant_license_update

logger = logging.getLogger(__name__)


@dataclass
class JiraPrincipal:
    """The authenticated caller: a user (``account_id``) of one Jira site (``tenant``)."""

    tenant: Tenant
    account_id: str | None
    claims: dict[str, Any] = field(repr=False, default_factory=dict)
    is_context_token: bool = False
    api_token_id: int | None = None  # set when authenticated by a tenant API token (scripts)
    api_token_scope: str | None = None  # that token's scope (read | links | admin)
    bound_issue_id: str | None = None  # a page session from the issue panel only serves that issue
    bound_project_id: str | None = None  # … of this project and issue type (as Jira signed them on the panel URL)
    bound_issue_type_id: str | None = None
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def pk(self) -> str | None:
        return self.account_id


def authenticate_jira_request(request, *, allow_context: bool) -> JiraPrincipal:
    """Verify the request's JWT and resolve its tenant. Raises typed errors, writes nothing.

    The tenant usually comes from the short-lived process cache; if the signature does not verify
    against a cached secret, the tenant is read again (the site may have reinstalled and rotated it).
    """
    found: dict[str, Tenant | None] = {}

    def lookup(fresh: bool):
        def secret_for_issuer(client_key: str) -> str | None:
            tenant, cached = tenant_for_token(client_key=client_key, fresh=fresh)
            found["tenant"], found["cached"] = tenant, cached
            if tenant is None or tenant.state == Tenant.State.UNINSTALLED:
                return None
            return tenant.shared_secret

        return secret_for_issuer

    try:
        verified = connect_jwt.verify_tenant_token(
            request, secret_for_issuer=lookup(False), allow_context=allow_context
        )
    except connect_jwt.JwtRejected as exc:
        if not found.get("cached") or exc.code not in ("jwt_signature", "jwt_unknown_issuer"):
            raise
        verified = connect_jwt.verify_tenant_token(request, secret_for_issuer=lookup(True), allow_context=allow_context)
    tenant = found["tenant"]
    if tenant.state == Tenant.State.DISABLED:
        raise TenantInactive(
            "The app is disabled on this Jira site. A Jira admin can enable it under Manage apps.",
            code="tenant_disabled",
        )
    return JiraPrincipal(tenant, verified.account_id, verified.claims, verified.is_context)


# --- page sessions ----------------------------------------------------------------------------------
# Jira's JWT on an iframe load is bound (qsh) to that one GET. Follow-up requests from the page — form
# posts on the admin page, JSON calls when Connect's all.js is not available — carry a short-lived token
# we sign ourselves, bound to the tenant and the Jira user who loaded the page.

PAGE_SESSION_SALT = "deskbridge.page-session"
PAGE_SESSION_MAX_AGE = 3600
PAGE_SESSION_HEADER = "HTTP_X_DESKBRIDGE_SESSION"


def page_session_issue(
    principal: JiraPrincipal, *, issue_id: str | None = None, project_id: str = "", issue_type_id: str = ""
) -> str:
    """A session for follow-up requests of a page Jira loaded. The issue panel binds it to its issue, the
    issue's project and type (Jira signed the panel URL with them, so the binding is Jira's word)."""
    data = {"t": principal.tenant.pk, "k": principal.tenant.client_key, "a": principal.account_id}
    if issue_id:
        data.update(i=str(issue_id), p=str(project_id), y=str(issue_type_id))
    return signing.dumps(data, salt=PAGE_SESSION_SALT)


def page_session_read(token: str) -> JiraPrincipal:
    try:
        data = signing.loads(token, salt=PAGE_SESSION_SALT, max_age=PAGE_SESSION_MAX_AGE)
    except signing.SignatureExpired:
        raise connect_jwt.JwtRejected(
            "This page has been open for too long. Reload it in Jira to continue.", code="session_expired"
        ) from None
    except signing.BadSignature:
        raise connect_jwt.JwtRejected(
            "The page session is not valid. Reload the page in Jira.", code="session_invalid"
        ) from None
    tenant, _ = tenant_for_token(client_key=str(data.get("k", "")))
    if tenant is None or tenant.pk != data.get("t") or tenant.state == Tenant.State.UNINSTALLED:
        raise connect_jwt.JwtRejected("This Jira site is not installed.", code="jwt_unknown_issuer")
    if tenant.state == Tenant.State.DISABLED:
        raise TenantInactive("The app is disabled on this Jira site.", code="tenant_disabled")
    return JiraPrincipal(
        tenant,
        data.get("a"),
        {},
        is_context_token=True,
        bound_issue_id=data.get("i"),
        bound_project_id=data.get("p"),
        bound_issue_type_id=data.get("y"),
    )


class PageSessionAuthentication(authentication.BaseAuthentication):
    """``X-Deskbridge-Session: <token>`` from a page we rendered (fallback for ``AP.context.getToken()``)."""

    def authenticate(self, request):
        token = request._request.META.get(PAGE_SESSION_HEADER)
        if not token:
            return None
        principal = page_session_read(token)
        _attach(request, principal)
        _attach(request._request, principal)
        return principal, None

    def authenticate_header(self, request):
        return 'JWT realm="deskbridge"'


def _attach(request, principal: JiraPrincipal) -> None:
    request.tenant = principal.tenant
    request.jira_account_id = principal.account_id


class JiraJWTAuthentication(authentication.BaseAuthentication):
    """Request-bound JWT (real qsh). Context tokens are refused."""

    allow_context = False

    def authenticate(self, request):
        django_request = request._request
        header = django_request.META.get("HTTP_AUTHORIZATION", "")
        if not django_request.GET.get("jwt") and not header.upper().startswith("JWT "):
            return None  # not ours: let another authenticator try, or answer 401
        principal = authenticate_jira_request(django_request, allow_context=self.allow_context)
        _attach(request, principal)
        _attach(django_request, principal)
        return principal, principal.claims

    def authenticate_header(self, request):
        return 'JWT realm="deskbridge"'


class JiraContextJWTAuthentication(JiraJWTAuthentication):
    """For the JSON endpoints the iframe calls: context tokens (qsh = context-qsh) also accepted."""

    allow_context = True


class TenantApiTokenAuthentication(authentication.BaseAuthentication):
    """Tenant API tokens for scripts: ``Authorization: Bearer <token>`` or Basic ``{email}/token:{token}``
    (the form Zendesk's own curl examples send; the email part is informational)."""

    @method_decorator(sensitive_variables("header", "value", "decoded", "token"))
    def authenticate(self, request):
        header = request._request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            token = value.strip()
        elif scheme == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise AuthenticationError(
                    "The Basic credentials are not valid base64.", code="api_token_invalid"
                ) from None
            user, _, token = decoded.partition(":")
            if not user.endswith("/token"):
                return None
        else:
            return None
        row = api_token_authenticate(token=token)
        if row is None:
            raise AuthenticationError(
                "The API token is unknown or revoked. Create a new one on the Deskbridge admin page in Jira.",
                code="api_token_invalid",
            )
        if row.is_expired:
            raise AuthenticationError(
                f"The API token {row.name!r} expired on {row.expires_at:%Y-%m-%d %H:%M} UTC. A Jira admin can create "
                "a new one on the Deskbridge admin page.",
                code="api_token_expired",
            )
        tenant = row.tenant
        if not tenant.is_active:
            raise TenantInactive(
                "The app is not active on this Jira site; API tokens work again once it is enabled.",
                code="tenant_disabled",
            )
        principal = JiraPrincipal(tenant, None, api_token_id=row.pk, api_token_scope=row.scope)
        _attach(request, principal)
        _attach(request._request, principal)
        return principal, row

    def authenticate_header(self, request):
        return 'Bearer realm="deskbridge"'


class TenantLicensed(permissions.BasePermission):
    """403 ``license_required`` for an unlicensed production tenant."""

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            return False
        if license_gate_applies(tenant):
            raise LicenseRequired(
                "This Jira site has no active Deskbridge licence. A Jira admin can start a trial or "
                "subscribe under Apps → Manage apps.",
                extra={"license": tenant.license},
            )
        return True


class ApiTokenScope(permissions.BasePermission):
    """What a tenant API token may do (other principals pass): ``read`` tokens only read; ``links`` tokens
    also write on views that declare ``token_scope = "links"`` (the links API); ``admin`` tokens write
    everywhere a script may."""

    def has_permission(self, request, view) -> bool:
        principal = request.user
        scope = getattr(principal, "api_token_scope", None)
        if getattr(principal, "api_token_id", None) is None:
            return True
        if request.method in permissions.SAFE_METHODS or scope == ApiToken.Scope.ADMIN:
            return True
        if scope == ApiToken.Scope.LINKS and getattr(view, "token_scope", "admin") == ApiToken.Scope.LINKS:
            return True
        raise ForbiddenError(
            f"This API token's scope ({scope}) does not allow this change. A Jira admin can create a token with "
            "the scope it needs on the Deskbridge admin page.",
            code="api_token_scope",
        )


def license_gate_applies(tenant: Tenant) -> bool:
    return settings.ATLASSIAN_LICENSING_ENFORCED and not tenant.is_licensed


def record_license_from_request(request, tenant: Tenant) -> None:
    """Jira adds ``lic`` to iframe URLs; a missing ``lic`` is not "active"."""
    lic = request.GET.get("lic")
    tenant_license_update(tenant=tenant, license=lic if lic in ("active", "none") else "unknown")


def frame_ancestors(tenant: Tenant | None) -> str:
    """CSP ``frame-ancestors`` for a page Jira frames: the tenant's site; when the tenant is not known (an
    error before it could be identified), the Jira hosts this deployment accepts (JIRA_ALLOWED_BASE_URLS)."""
    if tenant is not None:
        sources = {tenant.base_url}
        if tenant.display_url:
            sources.add(tenant.display_url)
    else:
        sources = {pattern.strip().rstrip("/") for pattern in settings.JIRA_ALLOWED_BASE_URLS if pattern.strip()}
    return "frame-ancestors 'self' " + " ".join(sorted(sources))


def _tenant_of_refused_request(request) -> Tenant | None:
    """Which site framed a request we refused (to let it show our message): read, never trusted, from the
    unverified JWT issuer or the page session's client key. It only widens framing to that site's own URL."""
    client_key = None
    if request.method == "POST" and "session" in request.POST:
        with contextlib.suppress(signing.BadSignature):
            client_key = signing.loads(request.POST["session"], salt=PAGE_SESSION_SALT).get("k")
    else:
        with contextlib.suppress(ApplicationError, ValueError):
            client_key = connect_jwt.unverified_issuer(connect_jwt.extract_token(request))
    if not isinstance(client_key, str) or not client_key:
        return None
    return Tenant.objects.filter(client_key=client_key).first()


def _framed(response, tenant: Tenant | None):
    """Every page Jira frames, error pages included: framable by the site (CSP), never ``X-Frame-Options:
    DENY`` (a blank frame tells the user nothing), and never cached (pages carry a page session, some a new
    API token)."""
    response["Content-Security-Policy"] = frame_ancestors(tenant)
    response.xframe_options_exempt = True
    response["Cache-Control"] = "no-store"
    return response


def jira_page(view=None, *, licensed: bool = True):
    """Decorator for iframe pages Jira loads: request-bound JWT (no context tokens), licence
    recorded from ``lic`` and enforced, CSP ``frame-ancestors`` limited to the tenant's site.

    POSTs from the page's own forms authenticate with the ``session`` field the page rendered
    (``request.page_session``); the page's forms are CSRF-safe because that token is unguessable."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(request, *args, **kwargs):
            try:
                if request.method == "POST" and "session" in request.POST:
                    principal = page_session_read(request.POST["session"])
                else:
                    principal = authenticate_jira_request(request, allow_context=False)
            except ApplicationError as exc:
                logger.info("page auth refused: %s", exc.code)
                response = render(
                    request,
                    "tenants/auth_error.html",
                    {"code": exc.code, "message": exc.message},
                    status=exc.status_code,
                )
                return _framed(response, _tenant_of_refused_request(request))
            _attach(request, principal)
            request.user_principal = principal
            request.page_session = page_session_issue(principal)
            if request.method == "GET":
                record_license_from_request(request, principal.tenant)
            if licensed and license_gate_applies(principal.tenant):
                response = render(request, "tenants/license_required.html", {"tenant": principal.tenant}, status=403)
            else:
                try:
                    response = func(request, *args, **kwargs)
                except Exception as exc:
                    # A crash must still reach the user inside Jira: Django's own 500 page would be sent with
                    # X-Frame-Options DENY, a blank frame. The error is logged (and mailed to the admins) as
                    # Django logs it, with the request, so the sensitive-parameter rules apply to the report.
                    response = render(
                        request,
                        "tenants/page_error.html",
                        {
                            "code": "internal_error",
                            "message": "Deskbridge hit an unexpected error and has been notified. Reload the "
                            "page to try again; nothing was changed unless the page says so.",
                        },
                        status=500,
                    )
                    log_response(
                        "Internal Server Error: %s", request.path, response=response, request=request, exception=exc
                    )
            return _framed(response, principal.tenant)

        wrapper.jira_page = True
        return csrf_exempt(wrapper)

    return decorate(view) if view is not None else decorate

"""Zoho Desk connections: a Self Client's code exchanged for tokens, the organization chosen, the agent
identified; access tokens shared by every worker and renewed under a lock within Zoho's token limits.

The admin makes a Self Client in Zoho's API console (api-console.zoho.<dc>), generates a code with
``REQUIRED_SCOPES`` and pastes the Client ID, Client Secret and code here. The code works once and for a few
minutes, only on its data center's accounts server. When the user belongs to several Desk organizations the
admin picks one: the exchanged tokens wait (encrypted, ``PENDING_SECONDS``) in the connection's credentials
under ``pending`` until then, and nothing the connection already holds changes before the choice is made.
"""

from __future__ import annotations

import logging
import re
import time

from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from config.errors import ValidationFailed
from tenants.models import Tenant

from ..clients.base import (
    ApiConnectionError,
    ApiError,
    ApiForbidden,
    ApiNotFound,
    ApiRateLimited,
    ApiTimeout,
    ApiUnauthorized,
)
from ..clients.zoho_desk import (
    DATA_CENTERS,
    REQUIRED_SCOPES,
    ZohoCreditsExhausted,
    ZohoDeskClient,
    ZohoOAuthError,
    ZohoOrgMismatch,
    ZohoScopeMismatch,
    ZohoTokenLimit,
    accounts_url,
    desk_url,
    token_expiry,
)
from ..errors import HelpdeskError, HelpdeskRateLimited, HelpdeskUnavailable
from ..models import HelpdeskConnection, Provider
from ..providers.base import Identity
from .connections import _mark_auth_failed, _refuse_other_provider, _save_connection

logger = logging.getLogger(__name__)

PENDING_SECONDS = 900  # an organization choice must follow the code exchange within this
REFRESH_MARGIN_SECONDS = 300  # an access token is renewed this long before it expires
TOKENS_PER_WINDOW = 10  # Zoho: at most 10 access tokens per refresh token per 10 minutes
TOKEN_WINDOW_SECONDS = 600
_CLIENT_ID_RE = re.compile(r"[0-9]{4}\.[A-Za-z0-9]{10,64}")
SCOPE_HELP = f"Generate a new code in the Zoho API console with exactly these scopes: {REQUIRED_SCOPES}"


def _dc_clean(dc: str) -> str:
    dc = (dc or "").strip().lower()
    if dc not in DATA_CENTERS:
        raise ValidationFailed(
            "Choose the data center of your Zoho account (the domain you sign in at: zoho.com is us, zoho.eu is "
            "eu, zohocloud.ca is ca, …).",
            code="data_center_invalid",
            extra={"fields": {"data_center": ["Choose one of: " + ", ".join(DATA_CENTERS) + "."]}},
        )
    return dc


def _oauth_error(exc: ApiError, dc: str) -> HelpdeskError:
    """A refused or failed call while connecting, in words the admin can act on."""
    where = DATA_CENTERS[dc].label
    if isinstance(exc, ZohoOAuthError):
        if exc.code == "invalid_client":
            return HelpdeskError(
                f"Zoho's {where} data center does not know this Client ID. Check the data center (the Self Client "
                "lives where your Zoho account does) and copy the Client ID from the Self Client again.",
                code="zoho_client_invalid",
                extra={"fields": {"client_id": ["Unknown in this data center."]}},
            )
        if exc.code in ("invalid_client_secret", "invalid_secret"):
            return HelpdeskError(
                "Zoho did not accept the Client Secret for this Client ID. Copy the Client Secret from the Self "
                "Client's Client Secret tab again.",
                code="zoho_secret_invalid",
                extra={"fields": {"client_secret": ["Does not match the Client ID."]}},
            )
        return HelpdeskError(
            f"Zoho refused the code ({exc.code}): it has expired (a code lasts the minutes chosen when it was "
            f"generated), was already used, or belongs to another data center than {where}. Generate a new code "
            "in the Self Client, check the data center, and save again.",
            code="zoho_code_invalid",
            extra={"fields": {"code": ["Expired, already used, or from another data center."]}},
        )
    if isinstance(exc, ZohoScopeMismatch):
        return HelpdeskError(
            f"The code was generated without a scope Deskbridge needs (SCOPE_MISMATCH). {SCOPE_HELP}",
            code="zoho_scope_mismatch",
            extra={"fields": {"code": ["Missing scopes."]}},
        )
    if isinstance(exc, ZohoOrgMismatch):
        return HelpdeskError(
            "This Zoho Desk organization does not belong to the Zoho user who generated the code "
            "(OAUTH_ORG_MISMATCH). Generate the code as an agent of that organization, or pick one of yours.",
            code="zoho_org_mismatch",
            extra={"fields": {"org_id": ["Not an organization of this Zoho user."]}},
        )
    if isinstance(exc, ZohoCreditsExhausted):
        return HelpdeskRateLimited(
            "This Zoho Desk organization has spent its API credits for today (THRESHOLD_EXCEEDED). They renew "
            "tomorrow; connect then, or ask Zoho for more credits.",
            code="zoho_credits_exhausted",
            extra={"retry_after": int(exc.retry_after or 3600)},
        )
    if isinstance(exc, ZohoTokenLimit):
        return HelpdeskRateLimited(
            "Zoho refused to issue another access token just now (too many in ten minutes). Try again in a few "
            "minutes.",
            code="zoho_token_limit",
            extra={"retry_after": 60},
        )
    if isinstance(exc, ApiRateLimited):
        wait = int(exc.retry_after or 10)
        return HelpdeskRateLimited(
            f"Zoho Desk is answering too many calls of this organization at once (TOO_MANY_REQUESTS). Try again "
            f"in {wait} seconds.",
            extra={"retry_after": wait},
        )
    if isinstance(exc, ApiUnauthorized):
        return HelpdeskError(
            "Zoho Desk did not accept the access token it just issued (INVALID_OAUTH). Generate a new code and "
            "save again.",
            code="helpdesk_auth_failed",
        )
    if isinstance(exc, ApiForbidden):
        return HelpdeskError(
            f"Zoho Desk refused access ({exc.message}). Connect as a Zoho Desk agent whose profile may read and "
            "update tickets.",
            code="helpdesk_forbidden",
        )
    if isinstance(exc, ApiTimeout | ApiConnectionError):
        return HelpdeskUnavailable(
            f"Zoho ({accounts_url(dc)}, {desk_url(dc)}) could not be reached. Try again in a minute; if it persists, "
            "check status.zoho.com.",
            code="helpdesk_unreachable",
        )
    if isinstance(exc, ApiNotFound):
        return HelpdeskError(
            f"Zoho Desk answered 404 at {desk_url(dc)}: Zoho Desk may not be set up for this account in the "
            f"{where} data center.",
            code="helpdesk_not_found",
        )
    return HelpdeskUnavailable(f"Zoho Desk answered unexpectedly: {exc.message}. Try again shortly.")


def zoho_identity(client: ZohoDeskClient) -> Identity:
    """The agent the tokens act as (``/myinfo``). Raises the errors of ``_oauth_error``."""
    try:
        me = client.myinfo()
    except ApiError as exc:
        raise _oauth_error(exc, client.dc) from exc
    if not me.get("id"):
        raise HelpdeskError("Zoho Desk did not say which agent the code belongs to. Generate a new code.")
    name = me.get("name") or " ".join(p for p in (me.get("firstName"), me.get("lastName")) if p)
    return Identity(
        agent_id=str(me["id"]),
        name=str(name or me.get("emailId") or ""),
        email=str(me.get("emailId") or me.get("email") or ""),
        role=str(me.get("roleName") or me.get("roleId") or "agent"),
    )


def _org_summary(org: dict) -> dict:
    return {
        "id": str(org.get("id")),
        "name": str(org.get("companyName") or org.get("portalName") or org.get("id")),
        "portal": str(org.get("portalName") or ""),
        "edition": str(org.get("edition") or ""),
    }


@sensitive_variables("client_secret", "code", "token", "secret")
def zoho_connect(
    *, tenant: Tenant, data_center: str, client_id: str, client_secret: str, code: str, org_id: str = ""
) -> HelpdeskConnection:
    """Exchange a Self Client's code and connect, or — when the Zoho user belongs to several organizations and
    none was named — keep the tokens pending and return the connection with ``pending_organizations``."""
    dc = _dc_clean(data_center)
    client_id, client_secret, code = (client_id or "").strip(), (client_secret or "").strip(), (code or "").strip()
    fields = {}
    if not _CLIENT_ID_RE.fullmatch(client_id):
        fields["client_id"] = ["Paste the Self Client's Client ID (it looks like 1000.ABCDEF…)."]
    if not client_secret or len(client_secret) > 200:
        fields["client_secret"] = ["Paste the Self Client's Client Secret."]
    if not code or len(code) > 500:
        fields["code"] = ["Generate a code in the Self Client (Generate Code tab) and paste it."]
    if fields:
        raise ValidationFailed(
            "Enter the data center, the Self Client's Client ID and Client Secret, and a freshly generated code.",
            code="credentials_missing",
            extra={"fields": fields},
        )
    _refuse_other_provider(tenant=tenant, provider=Provider.ZOHO_DESK)
    try:
        token = ZohoDeskClient(dc=dc).oauth_exchange(client_id=client_id, client_secret=client_secret, code=code)
        listed = ZohoDeskClient(dc=dc, access_token=token["access_token"]).organizations()
        organizations = [_org_summary(o) for o in listed]
    except ApiError as exc:
        raise _oauth_error(exc, dc) from exc
    if not organizations:
        raise HelpdeskError(
            "This Zoho user belongs to no Zoho Desk organization in the "
            f"{DATA_CENTERS[dc].label} data center. Generate the code as a Zoho Desk agent.",
            code="zoho_no_organization",
        )
    secret = {
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": token.get("refresh_token", ""),
        "access_token": token["access_token"],
        "expires_at": token_expiry(token),
        "refreshes": [],
    }
    org_id = (org_id or "").strip()
    if not org_id and len(organizations) == 1:
        org_id = organizations[0]["id"]
    if not org_id:
        return _pending_store(tenant=tenant, dc=dc, secret=secret, organizations=organizations)
    return _complete(tenant=tenant, dc=dc, secret=secret, organizations=organizations, org_id=org_id)


@sensitive_variables("secret", "current")
def _pending_store(*, tenant, dc, secret, organizations) -> HelpdeskConnection:
    """Keep the exchanged tokens until the admin picks an organization (nothing else on the row changes)."""
    with transaction.atomic():
        connection, _ = HelpdeskConnection.objects.select_for_update().get_or_create(
            tenant=tenant,
            provider=Provider.ZOHO_DESK,
            defaults={"settings": {}, "status": HelpdeskConnection.Status.REVOKED},
        )
        current = connection.secret()
        current["pending"] = {
            "dc": dc,
            "secret": secret,
            "organizations": organizations,
            "until": int(time.time()) + PENDING_SECONDS,
        }
        connection.set_secret(current)
        connection.save(update_fields=["credentials", "updated_at"])
    return connection


def zoho_pending(connection: HelpdeskConnection | None) -> dict | None:
    """The organizations waiting for the admin's choice (no secrets), or None."""
    if connection is None or connection.provider != Provider.ZOHO_DESK:
        return None
    pending = connection.secret().get("pending")
    if not pending or pending.get("until", 0) < time.time():
        return None
    return {"data_center": pending["dc"], "organizations": pending["organizations"]}


@sensitive_variables("secret", "pending")
def zoho_organization_choose(*, tenant: Tenant, org_id: str) -> HelpdeskConnection:
    """Finish a pending connection with the organization the admin picked."""
    connection = HelpdeskConnection.objects.filter(tenant=tenant, provider=Provider.ZOHO_DESK).first()
    pending = (connection.secret().get("pending") if connection else None) or {}
    if not pending or pending.get("until", 0) < time.time():
        raise ValidationFailed(
            "There is no Zoho Desk connection waiting for an organization (or it waited more than 15 minutes). "
            "Generate a new code and save again.",
            code="zoho_pending_missing",
        )
    return _complete(
        tenant=tenant,
        dc=pending["dc"],
        secret=pending["secret"],
        organizations=pending["organizations"],
        org_id=str(org_id or "").strip(),
    )


@sensitive_variables("secret", "client")
def _complete(*, tenant, dc, secret, organizations, org_id) -> HelpdeskConnection:
    org = next((o for o in organizations if o["id"] == org_id), None)
    if org is None:
        raise HelpdeskError(
            "Choose one of the Zoho Desk organizations the code's user belongs to.",
            code="zoho_org_mismatch",
            extra={"fields": {"org_id": ["Not an organization of this Zoho user."]}},
        )
    client = ZohoDeskClient(dc=dc, org_id=org_id, access_token=secret["access_token"])
    identity = zoho_identity(client)
    try:
        # The code's scopes are checked where they matter: field metadata (settings) and change search.
        client.organization_fields("tickets")
        client.search("tickets", {"subject": "deskbridge-scope-check"}, limit=1)
    except ApiError as exc:
        raise _oauth_error(exc, dc) from exc
    settings_ = {
        "data_center": dc,
        "org_id": org_id,
        "org_name": org["name"],
        "portal": org["portal"],
        "edition": org["edition"],
        "client_id": secret["client_id"],
    }
    return _save_connection(
        tenant=tenant,
        provider=Provider.ZOHO_DESK,
        settings_=settings_,
        auth_type=HelpdeskConnection.AuthType.OAUTH,
        secret={k: v for k, v in secret.items() if k != "pending"},
        identity=identity,
    )


# --- access tokens --------------------------------------------------------------------------------------------


def _fresh(secret: dict, refused: str | None) -> bool:
    token = secret.get("access_token")
    return bool(token) and token != refused and secret.get("expires_at", 0) - REFRESH_MARGIN_SECONDS > time.time()


@sensitive_variables("secret", "current", "token")
def zoho_access_token(connection: HelpdeskConnection, refused: str | None = None) -> str:
    """An access token for the connection, shared by every worker: the stored one while it has more than five
    minutes left and was not just refused; otherwise renewed once, under the connection's row lock (a worker
    that waited finds the token the first one stored and uses it).

    Zoho issues at most 10 access tokens per refresh token per 10 minutes; past that it refuses (HTTP 200,
    "Access Denied"). Renewals are counted in the credentials: at the limit, the current token is used while
    it is valid, and an expired or refused one raises ``ZohoTokenLimit`` (a rate limit: the poll waits)."""
    secret = connection.secret()
    if _fresh(secret, refused):
        return secret["access_token"]
    with transaction.atomic():
        stored = HelpdeskConnection.objects.select_for_update().get(pk=connection.pk)
        current = stored.secret()
        if stored.status == HelpdeskConnection.Status.REVOKED or not current.get("refresh_token"):
            connection.credentials, connection.status = stored.credentials, stored.status
            raise ApiUnauthorized("The Zoho Desk connection was revoked", status=401, service="Zoho Desk")
        if _fresh(current, refused):
            connection.credentials = stored.credentials  # another worker renewed it while we waited
            return current["access_token"]
        now = time.time()
        recent = [t for t in current.get("refreshes", []) if t > now - TOKEN_WINDOW_SECONDS]
        if len(recent) >= TOKENS_PER_WINDOW:
            if current.get("access_token") != refused and current.get("expires_at", 0) > now:
                return current["access_token"]
            raise ZohoTokenLimit(
                "Zoho Desk's limit of 10 access tokens per 10 minutes is reached; renewing later",
                retry_after=max(30, int(min(recent) + TOKEN_WINDOW_SECONDS - now)),
                service="Zoho Desk",
            )
        dc = stored.settings.get("data_center", "us")
        try:
            token = ZohoDeskClient(dc=dc).oauth_refresh(
                client_id=current.get("client_id", ""),
                client_secret=current.get("client_secret", ""),
                refresh_token=current["refresh_token"],
            )
        except ZohoOAuthError as exc:
            # Marked under the lock and committed before the refusal is raised (outside the transaction).
            _mark_auth_failed(
                stored,
                f"Zoho refused to renew the access token ({exc.code}): the Self Client or its authorization was "
                "deleted or revoked. Generate a new code in the Self Client and connect again.",
            )
            failure = ApiUnauthorized(f"Zoho refused to renew the access token ({exc.code})", service="Zoho Desk")
        else:
            failure = None
            current.update(access_token=token["access_token"], expires_at=token_expiry(token), refreshes=[*recent, now])
            stored.set_secret(current)
            stored.save(update_fields=["credentials", "updated_at"])
    connection.credentials, connection.status = stored.credentials, stored.status
    if failure is not None:
        raise failure
    logger.info("zoho access token renewed: connection=%s", connection.pk)
    return current["access_token"]

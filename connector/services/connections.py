"""Helpdesk connections: connect (validated against the helpdesk), OAuth, revoke, reconnect."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from config.errors import ValidationFailed
from tenants.models import Tenant

from ..clients.base import (
    ApiBadRequest,
    ApiConnectionError,
    ApiError,
    ApiForbidden,
    ApiNotFound,
    ApiRateLimited,
    ApiTimeout,
    ApiUnauthorized,
)
from ..clients.zendesk import ZendeskClient, is_valid_subdomain
from ..errors import HelpdeskError, HelpdeskRateLimited, HelpdeskUnavailable
from ..models import ConnectedItem, HelpdeskConnection, OAuthState, Provider
from ..providers.base import Identity
from ..schema import schema_cache_clear

logger = logging.getLogger(__name__)

OAUTH_STATE_SALT = "deskbridge.zendesk.oauth"
OAUTH_STATE_MAX_AGE = 600
AGENT_ROLES = {"agent", "admin"}


def zendesk_subdomain_clean(value: str) -> str:
    """Accept ``acme``, ``acme.zendesk.com`` or a pasted ``https://acme.zendesk.com/agent/…`` URL."""
    raw = (value or "").strip().lower()
    if "://" in raw or "/" in raw or raw.endswith(".zendesk.com"):
        host = urlsplit(raw if "://" in raw else f"https://{raw}").hostname or ""
        raw = host[: -len(".zendesk.com")] if host.endswith(".zendesk.com") else host
    if len(raw) > 63 or not is_valid_subdomain(raw):
        raise ValidationFailed(
            "Enter your Zendesk subdomain: the part before .zendesk.com (letters, digits and hyphens), "
            "for example 'acme' for https://acme.zendesk.com.",
            code="subdomain_invalid",
            extra={"fields": {"subdomain": ["Enter the part before .zendesk.com, e.g. 'acme'."]}},
        )
    return raw


def _zendesk_error(exc: ApiError, subdomain: str) -> HelpdeskError:
    host = settings.ZENDESK_URL_TEMPLATE.format(subdomain=subdomain)
    if isinstance(exc, ApiUnauthorized):
        return HelpdeskError(
            'Zendesk rejected the email and API token ("Couldn\'t authenticate you"). Check that the email is '
            "the agent's sign-in email, that the token is active, and that token access is enabled in Admin "
            "Center → Apps and integrations → Zendesk API.",
            code="helpdesk_auth_failed",
            extra={"fields": {"api_token": ["Zendesk did not accept this email and token."]}},
        )
    if isinstance(exc, ApiForbidden):
        return HelpdeskError(
            "Zendesk refused access for this user (403). Use an agent or admin account whose role may read "
            "and update tickets.",
            code="helpdesk_forbidden",
        )
    if isinstance(exc, ApiNotFound):
        return HelpdeskError(
            f"No Zendesk account answers at {host}. Check the subdomain (the part before .zendesk.com).",
            code="helpdesk_not_found",
            extra={"fields": {"subdomain": ["No Zendesk account with this subdomain."]}},
        )
    if isinstance(exc, ApiRateLimited):
        wait = int(exc.retry_after) if exc.retry_after is not None else 60
        return HelpdeskRateLimited(
            f"Zendesk is rate limiting this account right now. Try again in {wait} seconds.",
            extra={"retry_after": wait},
        )
    if isinstance(exc, ApiTimeout):
        return HelpdeskUnavailable(
            f"Zendesk at {host} did not answer in time. Try again in a minute; if it persists, check "
            "status.zendesk.com.",
            code="helpdesk_timeout",
        )
    if isinstance(exc, ApiConnectionError):
        return HelpdeskUnavailable(
            f"Could not reach {host}. Check the subdomain; if it is right, Zendesk may be unreachable — try "
            "again shortly.",
            code="helpdesk_unreachable",
            extra={"fields": {"subdomain": ["Could not reach this Zendesk account."]}},
        )
    return HelpdeskUnavailable(f"Zendesk answered unexpectedly: {exc.message}. Try again shortly.")


def _zendesk_identity(client, subdomain: str) -> Identity:
    try:
        user = client.me()
    except ApiError as exc:
        raise _zendesk_error(exc, subdomain) from exc
    if not user or user.get("id") is None:
        # Zendesk answers users/me anonymously (id null) when it did not accept the credentials.
        raise HelpdeskError(
            "Zendesk did not accept these credentials (it answered as an anonymous user). Check the agent "
            "email and the API token, and that token access is enabled in Admin Center.",
            code="helpdesk_auth_failed",
            extra={"fields": {"api_token": ["Zendesk did not accept this email and token."]}},
        )
    role = str(user.get("role") or "")
    if role not in AGENT_ROLES:
        raise HelpdeskError(
            f"{user.get('email') or 'This user'} is a Zendesk {role or 'end user'}, not an agent. Connect with "
            "an agent or admin account: Deskbridge reads and updates tickets as that agent.",
            code="helpdesk_not_agent",
            extra={"fields": {"email": ["This user is not a Zendesk agent or admin."]}},
        )
    return Identity(
        agent_id=str(user["id"]),
        name=str(user.get("name") or ""),
        email=str(user.get("email") or ""),
        role=role,
    )


def _account_key(provider: str, settings_: dict) -> tuple:
    if provider == Provider.ZOHO_DESK:
        return (settings_.get("data_center"), settings_.get("org_id"))
    return (settings_.get("subdomain"),)


def _account_words(provider: str, settings_: dict) -> str:
    if provider == Provider.ZOHO_DESK:
        return f"Zoho Desk organization {settings_.get('org_name') or settings_.get('org_id')}"
    return f"{settings_.get('subdomain')}.zendesk.com"


def _refuse_account_switch(*, tenant: Tenant, provider: str, settings_: dict) -> None:
    """Links hold record ids of one helpdesk account: pointing the connection at another account would
    make every link (and later every sync) address the wrong records."""
    current = HelpdeskConnection.objects.filter(tenant=tenant, provider=provider).first()
    if current is None or not _account_key(provider, current.settings)[0]:
        return
    if _account_key(provider, current.settings) == _account_key(provider, settings_):
        return
    if ConnectedItem.objects.filter(tenant=tenant, connection=current, links__isnull=False).exists():
        old, new = _account_words(provider, current.settings), _account_words(provider, settings_)
        raise HelpdeskError(
            f"This Jira site has links to records of {old}. Connecting {new} instead would point them at the "
            f"wrong records. Reconnect to {old}, or delete the items that hold links first.",
            code="helpdesk_account_switch",
            status_code=409,
            extra={"fields": {"subdomain" if provider == Provider.ZENDESK else "org_id": [f"Links exist for {old}."]}},
        )


def _refuse_other_provider(*, tenant: Tenant, provider: str) -> None:
    """A Jira site works with one helpdesk at a time: another one must be disconnected (Revoke) first."""
    other = (
        HelpdeskConnection.objects.filter(tenant=tenant)
        .exclude(provider=provider)
        .exclude(status=HelpdeskConnection.Status.REVOKED)
        .first()
    )
    if other is not None:
        raise HelpdeskError(
            f"This Jira site is connected to {other.get_provider_display()}. A site works with one helpdesk at a "
            f"time: disconnect {other.get_provider_display()} (Revoke) first, then connect "
            f"{Provider(provider).label}.",
            code="helpdesk_other_connected",
            status_code=409,
        )


@sensitive_variables("secret")
def _save_connection(
    *, tenant: Tenant, provider: str, settings_: dict, auth_type: str, secret: dict, identity: Identity
) -> HelpdeskConnection:
    now = timezone.now()
    with transaction.atomic():
        connection, _ = HelpdeskConnection.objects.select_for_update().get_or_create(
            tenant=tenant, provider=provider, defaults={"settings": settings_}
        )
        _refuse_other_provider(tenant=tenant, provider=provider)
        _refuse_account_switch(tenant=tenant, provider=provider, settings_=settings_)
        connection.settings = settings_
        connection.auth_type = auth_type
        connection.set_secret(secret)
        connection.agent_id = identity.agent_id
        connection.agent_name = identity.name
        connection.agent_email = identity.email
        connection.agent_role = identity.role
        connection.status = HelpdeskConnection.Status.CONNECTED
        connection.last_error = ""
        connection.last_error_at = None
        connection.connected_at = now
        connection.revoked_at = None
        connection.save()
        # Reconnecting restores the items a revoke paused and clears their stale auth errors.
        ConnectedItem.objects.filter(tenant=tenant, connection=connection).update(
            is_paused=False, last_error="", updated_at=now
        )
    schema_cache_clear(tenant=tenant)
    logger.info("helpdesk connected: tenant=%s provider=%s agent=%s", tenant.pk, provider, identity.agent_id)
    return connection


@sensitive_variables("api_token")
def zendesk_connect(*, tenant: Tenant, subdomain: str, email: str, api_token: str) -> HelpdeskConnection:
    """Validate email + API token against Zendesk (GET users/me) and store them encrypted.
    Nothing is saved unless Zendesk confirms an agent or admin. The secondary path, for self-hosted and
    internal deployments: a product used by many Zendesk customers connects with OAuth."""
    subdomain = zendesk_subdomain_clean(subdomain)
    email = (email or "").strip()
    api_token = (api_token or "").strip()
    field_errors = {}
    if not email or "@" not in email:
        field_errors["email"] = ["Enter the agent's sign-in email."]
    if not api_token:
        field_errors["api_token"] = ["Enter an API token (Admin Center → Apps and integrations → Zendesk API)."]
    if field_errors:
        raise ValidationFailed(
            "Enter the agent email and an API token.",
            code="credentials_missing",
            extra={"fields": field_errors},
        )
    _refuse_other_provider(tenant=tenant, provider=Provider.ZENDESK)
    _refuse_account_switch(tenant=tenant, provider=Provider.ZENDESK, settings_={"subdomain": subdomain})
    identity = _zendesk_identity(ZendeskClient(subdomain=subdomain, email=email, api_token=api_token), subdomain)
    return _save_connection(
        tenant=tenant,
        provider=Provider.ZENDESK,
        settings_={"subdomain": subdomain},
        auth_type=HelpdeskConnection.AuthType.API_TOKEN,
        secret={"email": email, "api_token": api_token},
        identity=identity,
    )


# --- OAuth (authorization-code flow with our global OAuth client) -----------------------------------
#
# Zendesk's developer terms require an integration used by many Zendesk customers to authenticate with a
# *global* OAuth client (its identifier starts with ``zdg-``), which works on every customer's subdomain.
# Scope: ``read write``. The per-resource scopes (``tickets:read`` …) do not cover every call we make:
# ``users/me`` and search answer 403 "missing the following required scopes: read" to a token holding only
# resource scopes (Zendesk community thread "OAuth with specific scopes not work", 2022; Zendesk's
# "Announcing more granular OAuth client scopes", August 2026, still lists ``read``/``write`` as the scopes
# that cover search and the incremental exports).
#
# The attempt is bound three ways: the signed ``state`` names the tenant, the Jira user and a nonce; the
# nonce is a row (usable once, 10 minutes); and the browser that opened our start link carries the nonce in
# a cookie, so a callback reached from another browser (a forged or leaked link) is refused.

OAUTH_SCOPE = "read write"
OAUTH_COOKIE = "deskbridge_zd_oauth"


def zendesk_oauth_available() -> bool:
    return bool(settings.ZENDESK_OAUTH_CLIENT_ID and settings.ZENDESK_OAUTH_CLIENT_SECRET)


def zendesk_oauth_redirect_uri() -> str:
    return settings.APP_BASE_URL + reverse("panel:zendesk-oauth-callback")


def _oauth_not_configured() -> ValidationFailed:
    return ValidationFailed(
        "Connect with Zendesk is not set up on this Deskbridge deployment (the operator has not configured "
        "ZENDESK_OAUTH_CLIENT_ID and ZENDESK_OAUTH_CLIENT_SECRET). Connect with an email and API token, or ask "
        "the operator.",
        code="oauth_not_configured",
    )


def zendesk_oauth_start(*, tenant: Tenant, account_id: str, subdomain: str) -> str:
    """Begin "Connect with Zendesk": record the attempt and return our start URL, which the admin opens in
    a browser window (it sets the binding cookie and sends the browser on to Zendesk)."""
    if not zendesk_oauth_available():
        raise _oauth_not_configured()
    subdomain = zendesk_subdomain_clean(subdomain)
    _refuse_other_provider(tenant=tenant, provider=Provider.ZENDESK)
    _refuse_account_switch(tenant=tenant, provider=Provider.ZENDESK, settings_={"subdomain": subdomain})
    attempt = OAuthState.objects.create(
        tenant=tenant, account_id=account_id or "", subdomain=subdomain, nonce=secrets.token_urlsafe(32)
    )
    state = signing.dumps(
        {"t": tenant.pk, "a": attempt.account_id, "s": subdomain, "n": attempt.nonce}, salt=OAUTH_STATE_SALT
    )
    return settings.APP_BASE_URL + reverse("panel:zendesk-oauth-start") + "?" + urlencode({"state": state})


def zendesk_oauth_state_read(state: str) -> dict:
    try:
        return signing.loads(state, salt=OAUTH_STATE_SALT, max_age=OAUTH_STATE_MAX_AGE)
    except signing.SignatureExpired:
        raise ValidationFailed(
            "The Zendesk authorization took too long. Start again with Connect with Zendesk.",
            code="oauth_state_expired",
        ) from None
    except signing.BadSignature:
        raise ValidationFailed(
            "This authorization response was not started from your Deskbridge admin page. Start again with "
            "Connect with Zendesk.",
            code="oauth_state_invalid",
        ) from None


def _oauth_attempt(data: dict) -> OAuthState | None:
    cutoff = timezone.now() - timedelta(seconds=OAUTH_STATE_MAX_AGE)
    return OAuthState.objects.filter(
        tenant_id=data.get("t"),
        account_id=str(data.get("a", "")),
        subdomain=str(data.get("s", "")),
        nonce=str(data.get("n", "")),
        created_at__gte=cutoff,
    ).first()


API_TOKEN_ACCOUNT_PREFIX = "api-token:"


def zendesk_oauth_attempt_get(*, state: str) -> OAuthState:
    """The attempt a start link names (signed, within its lifetime, not yet opened), with its tenant."""
    if not zendesk_oauth_available():
        raise _oauth_not_configured()
    attempt = _oauth_attempt(zendesk_oauth_state_read(state))
    if attempt is None or attempt.opened_at is not None:
        raise ValidationFailed(
            "This Connect with Zendesk link was already used or has expired. Start again on the Deskbridge admin page.",
            code="oauth_state_used",
        )
    return attempt


def zendesk_oauth_open(*, state: str, account_id: str | None = None, tenant_id: int | None = None) -> tuple[str, str]:
    """The browser opens the attempt: mark it opened (once) and return the Zendesk authorize URL and the nonce
    that binds this browser (cookie).

    An attempt a Jira user started opens only for that user on that site (``account_id`` and ``tenant_id`` from
    their page session): a start link handed to someone else — say, another company's Zendesk admin — opens
    nothing. An attempt a script started (API token) opens for whoever confirms it on our confirmation page,
    which names the Jira site it connects to (``account_id`` None)."""
    attempt = zendesk_oauth_attempt_get(state=state)
    by_script = attempt.account_id.startswith(API_TOKEN_ACCOUNT_PREFIX)
    if not by_script and (tenant_id != attempt.tenant_id or not account_id or account_id != attempt.account_id):
        raise ValidationFailed(
            "This Connect with Zendesk link belongs to the Jira admin who started it, on their Jira site. Start "
            "Connect with Zendesk yourself on the Deskbridge admin page in Jira.",
            code="oauth_user_mismatch",
        )
    opened = OAuthState.objects.filter(pk=attempt.pk, opened_at__isnull=True).update(opened_at=timezone.now())
    if not opened:
        raise ValidationFailed(
            "This Connect with Zendesk link was already used. Start again on the Deskbridge admin page.",
            code="oauth_state_used",
        )
    url = ZendeskClient.authorize_url(
        subdomain=attempt.subdomain,
        client_id=settings.ZENDESK_OAUTH_CLIENT_ID,
        redirect_uri=zendesk_oauth_redirect_uri(),
        state=state,
        scope=OAUTH_SCOPE,
    )
    return url, attempt.nonce


def zendesk_oauth_callback_accept(*, state: str, browser_nonce: str) -> tuple[Tenant, str]:
    """Check the callback against the attempt: signed state, same browser (cookie), same tenant and Jira
    user as the attempt, not used before. Consumes the attempt; returns the tenant and subdomain."""
    data = zendesk_oauth_state_read(state)
    if not browser_nonce or not secrets.compare_digest(str(browser_nonce), str(data.get("n", ""))):
        raise ValidationFailed(
            "This Zendesk authorization was not started in this browser. Start again with Connect with Zendesk "
            "on the Deskbridge admin page, in the same browser.",
            code="oauth_browser_mismatch",
        )
    attempt = _oauth_attempt(data)
    consumed = attempt and OAuthState.objects.filter(pk=attempt.pk, used_at__isnull=True).update(used_at=timezone.now())
    if not consumed:
        raise ValidationFailed(
            "This Zendesk authorization was already used or has expired. Start again with Connect with Zendesk.",
            code="oauth_state_used",
        )
    tenant = Tenant.objects.filter(pk=attempt.tenant_id).exclude(state=Tenant.State.UNINSTALLED).first()
    if tenant is None:
        raise ValidationFailed("This Jira site is no longer installed.", code="oauth_state_invalid")
    return tenant, attempt.subdomain


@sensitive_variables("code", "token", "access_token")
def zendesk_oauth_complete(*, tenant: Tenant, subdomain: str, code: str) -> HelpdeskConnection:
    """Exchange the code, check the token may write tickets, validate the agent, store tokens encrypted."""
    try:
        token = ZendeskClient(subdomain=subdomain).oauth_exchange_code(
            code=code,
            client_id=settings.ZENDESK_OAUTH_CLIENT_ID,
            client_secret=settings.ZENDESK_OAUTH_CLIENT_SECRET,
            redirect_uri=zendesk_oauth_redirect_uri(),
        )
    except ApiError as exc:
        raise HelpdeskError(
            f"Zendesk did not accept the authorization ({exc.message}). Start again with Connect with Zendesk.",
            code="helpdesk_auth_failed",
        ) from exc
    access_token = token.get("access_token")
    scopes = set(str(token.get("scope") or "").split())
    if not access_token:
        raise HelpdeskError("Zendesk returned no access token. Start again.", code="helpdesk_auth_failed")
    if not scopes & {"write", "tickets:write"}:
        raise HelpdeskError(
            "The Zendesk authorization does not allow writing tickets (scope "
            f"{' '.join(sorted(scopes)) or 'none'}). Authorize again and grant read and write access.",
            code="helpdesk_scope_missing",
        )
    identity = _zendesk_identity(ZendeskClient(subdomain=subdomain, oauth_token=access_token), subdomain)
    return _save_connection(
        tenant=tenant,
        provider=Provider.ZENDESK,
        settings_={"subdomain": subdomain},
        auth_type=HelpdeskConnection.AuthType.OAUTH,
        secret=_oauth_secret(token, scope=" ".join(sorted(scopes))),
        identity=identity,
    )


def _oauth_secret(token: dict, *, scope: str, previous: dict | None = None) -> dict:
    """What we keep of a token answer. Newer Zendesk accounts issue expiring access tokens with a rotating
    refresh token; older ones a non-expiring access token only."""
    secret = {"access_token": token["access_token"], "scope": scope}
    refresh = token.get("refresh_token") or (previous or {}).get("refresh_token")
    if refresh:
        secret["refresh_token"] = refresh
    if token.get("expires_in"):
        secret["expires_at"] = int(time.time()) + int(token["expires_in"])
    return secret


OAUTH_REFRESH_MARGIN_SECONDS = 300


def _expiring(secret: dict) -> bool:
    expires_at = secret.get("expires_at")
    return expires_at is not None and expires_at - OAUTH_REFRESH_MARGIN_SECONDS <= time.time()


@sensitive_variables("secret", "current", "token", "new_secret")
def zendesk_oauth_access_token(connection: HelpdeskConnection, *, force: bool = False) -> str:
    """A usable access token, refreshed first when it expires within five minutes (or when ``force``: a
    call was refused with the token we hold).

    Zendesk rotates refresh tokens, so a refresh consumes the one we hold. Refreshing happens under the
    connection's row lock (PostgreSQL) with a re-read after taking it: a second worker waits, then finds the
    token the first stored and uses it instead of spending the consumed refresh token. This is the one place
    a transaction spans an HTTP call: one token request with the client's timeouts.
    """
    secret = connection.secret()
    if not secret.get("refresh_token") or not (force or _expiring(secret)):
        return secret.get("access_token", "")
    failure: ApiError | None = None
    with transaction.atomic():
        stored = HelpdeskConnection.objects.select_for_update().get(pk=connection.pk)
        current = stored.secret()
        if current.get("refresh_token") != secret["refresh_token"] or not current.get("refresh_token"):
            # Another worker refreshed (or the admin revoked or reconnected) while we waited for the lock.
            connection.credentials, connection.status = stored.credentials, stored.status
            return current.get("access_token", "")
        try:
            token = ZendeskClient(subdomain=stored.subdomain).oauth_refresh(
                refresh_token=current["refresh_token"],
                client_id=settings.ZENDESK_OAUTH_CLIENT_ID,
                client_secret=settings.ZENDESK_OAUTH_CLIENT_SECRET,
            )
        except (ApiBadRequest, ApiUnauthorized) as exc:
            # invalid_grant / invalid_client: the authorization is gone, confirmed under the lock.
            failure = exc
            _mark_auth_failed(
                stored,
                f"Zendesk refused to renew the OAuth authorization ({exc.message}). Connect with Zendesk again.",
            )
        else:
            new_secret = _oauth_secret(token, scope=current.get("scope", ""), previous=current)
            stored.set_secret(new_secret)
            if stored.status == HelpdeskConnection.Status.AUTH_FAILED:
                # A stale failure (another worker's refused call) must not block a working connection.
                stored.status, stored.last_error, stored.last_error_at = HelpdeskConnection.Status.CONNECTED, "", None
            stored.save(update_fields=["credentials", "status", "last_error", "last_error_at", "updated_at"])
    connection.credentials, connection.status = stored.credentials, stored.status
    if failure is not None:
        raise failure
    logger.info("zendesk oauth token refreshed: connection=%s", connection.pk)
    return new_secret["access_token"]


def connection_auth_failure_confirm(*, connection: HelpdeskConnection) -> bool:
    """A call was refused with 401. Is the authorization really gone, or was it one bad answer?

    OAuth connections with a refresh token refresh (under the lock): a refused refresh marks the connection
    ``auth_failed``, a successful one means the credentials work. Others make one confirming call
    (``users/me``): only a second refusal marks the connection. Returns True when the failure is confirmed.
    """
    if connection.status != HelpdeskConnection.Status.CONNECTED:
        return connection.status == HelpdeskConnection.Status.AUTH_FAILED
    try:
        from ..providers import client_for, provider_for

        if (
            connection.provider == Provider.ZENDESK
            and connection.auth_type == HelpdeskConnection.AuthType.OAUTH
            and connection.secret().get("refresh_token")
        ):
            zendesk_oauth_access_token(connection, force=True)
            return False
        # One confirming call; a Zoho client renews its access token once on INVALID_OAUTH before refusing.
        provider_for(connection.provider).identity(client_for(connection))
        return False
    except HelpdeskError as exc:
        if exc.code != "helpdesk_auth_failed":
            return False  # rate limited, unreachable: nothing is confirmed
        brand = connection.get_provider_display()
        connection_mark_auth_failed(
            connection=connection,
            message=f"{brand} rejected the stored credentials; connect again on the Deskbridge admin page.",
        )
        return True
    except (ApiBadRequest, ApiUnauthorized):
        return True  # the refresh was refused and has marked the connection
    except ApiError:
        return False


# --- revoke ---------------------------------------------------------------------------------------------


def connection_revoke(*, tenant: Tenant, connection: HelpdeskConnection) -> HelpdeskConnection:
    """Forget the credentials and pause every item of the connection (links and settings are kept)."""
    if connection.tenant_id != tenant.pk:
        raise ValueError("connection belongs to another tenant")
    now = timezone.now()
    with transaction.atomic():
        connection = HelpdeskConnection.objects.select_for_update().get(pk=connection.pk)
        connection.set_secret({})
        connection.status = HelpdeskConnection.Status.REVOKED
        connection.revoked_at = now
        connection.save()
        ConnectedItem.objects.filter(tenant=tenant, connection=connection).update(is_paused=True, updated_at=now)
    logger.info("helpdesk connection revoked: tenant=%s connection=%s", tenant.pk, connection.pk)
    return connection


def connection_mark_auth_failed(*, connection: HelpdeskConnection, message: str) -> None:
    """A confirmed authentication failure (see ``connection_auth_failure_confirm``): the admin page shows it
    until they reconnect. Only a connected connection can fail authentication; a revoked one stays revoked."""
    HelpdeskConnection.objects.filter(pk=connection.pk, status=HelpdeskConnection.Status.CONNECTED).update(
        status=HelpdeskConnection.Status.AUTH_FAILED, last_error=message, last_error_at=timezone.now()
    )


def _mark_auth_failed(stored: HelpdeskConnection, message: str) -> None:
    """The same, on a row we hold locked."""
    if stored.status == HelpdeskConnection.Status.CONNECTED:
        stored.status, stored.last_error, stored.last_error_at = (
            HelpdeskConnection.Status.AUTH_FAILED,
            message,
            timezone.now(),
        )
        stored.save(update_fields=["status", "last_error", "last_error_at", "updated_at"])

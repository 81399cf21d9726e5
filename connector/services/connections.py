"""Helpdesk connections: connect (validated against the helpdesk), OAuth, revoke, reconnect."""

from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

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
from ..clients.zendesk import is_valid_subdomain
from ..errors import HelpdeskError, HelpdeskRateLimited, HelpdeskUnavailable
from ..models import ConnectedItem, HelpdeskConnection, Provider
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


def _refuse_account_switch(*, tenant: Tenant, provider: str, settings_: dict) -> None:
    """Links hold record ids of one helpdesk account: pointing the connection at another account would
    make every link (and later every sync) address the wrong records."""
    current = HelpdeskConnection.objects.filter(tenant=tenant, provider=provider).first()
    if current is None or current.settings.get("subdomain") == settings_.get("subdomain"):
        return
    if ConnectedItem.objects.filter(tenant=tenant, connection=current, links__isnull=False).exists():
        old = current.settings.get("subdomain")
        raise HelpdeskError(
            f"This Jira site has links to records of {old}.zendesk.com. Connecting {settings_.get('subdomain')} "
            f"instead would point them at the wrong records. Reconnect to {old}, or delete the items that hold "
            "links first.",
            code="helpdesk_account_switch",
            status_code=409,
            extra={"fields": {"subdomain": [f"Links exist for {old}.zendesk.com."]}},
        )


def _save_connection(
    *, tenant: Tenant, provider: str, settings_: dict, auth_type: str, secret: dict, identity: Identity
) -> HelpdeskConnection:
    now = timezone.now()
    with transaction.atomic():
        connection, _ = HelpdeskConnection.objects.select_for_update().get_or_create(
            tenant=tenant, provider=provider, defaults={"settings": settings_}
        )
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


def zendesk_connect(*, tenant: Tenant, subdomain: str, email: str, api_token: str) -> HelpdeskConnection:
    """Validate email + API token against Zendesk (GET users/me) and store them encrypted.
    Nothing is saved unless Zendesk confirms an agent or admin."""
    from ..clients.zendesk import ZendeskClient

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


# --- OAuth (authorization-code flow) ------------------------------------------------------------------


def zendesk_oauth_available() -> bool:
    return bool(settings.ZENDESK_OAUTH_CLIENT_ID and settings.ZENDESK_OAUTH_CLIENT_SECRET)


def zendesk_oauth_redirect_uri() -> str:
    return settings.APP_BASE_URL + reverse("panel:zendesk-oauth-callback")


def zendesk_oauth_start(*, tenant: Tenant, account_id: str, subdomain: str) -> str:
    """The Zendesk authorize URL; ``state`` is signed and bound to the tenant and the Jira user."""
    from ..clients.zendesk import ZendeskClient

    if not zendesk_oauth_available():
        raise ValidationFailed(
            "OAuth is not configured for this Deskbridge deployment; connect with an email and API token.",
            code="oauth_not_configured",
        )
    subdomain = zendesk_subdomain_clean(subdomain)
    state = signing.dumps(
        {"t": tenant.pk, "a": account_id, "s": subdomain, "n": secrets.token_urlsafe(8)},
        salt=OAUTH_STATE_SALT,
    )
    return ZendeskClient.authorize_url(
        subdomain=subdomain,
        client_id=settings.ZENDESK_OAUTH_CLIENT_ID,
        redirect_uri=zendesk_oauth_redirect_uri(),
        state=state,
        scope="read write",
    )


def zendesk_oauth_state_read(state: str) -> dict:
    try:
        return signing.loads(state, salt=OAUTH_STATE_SALT, max_age=OAUTH_STATE_MAX_AGE)
    except signing.SignatureExpired:
        raise ValidationFailed(
            "The Zendesk authorization took too long. Start again with Connect with OAuth.",
            code="oauth_state_expired",
        ) from None
    except signing.BadSignature:
        raise ValidationFailed(
            "This authorization response was not started from your Deskbridge admin page. Start again with "
            "Connect with OAuth.",
            code="oauth_state_invalid",
        ) from None


def zendesk_oauth_complete(*, tenant: Tenant, subdomain: str, code: str) -> HelpdeskConnection:
    """Exchange the code, check the token may write tickets, validate the agent, store tokens encrypted."""
    from ..clients.zendesk import ZendeskClient

    try:
        token = ZendeskClient(subdomain=subdomain).oauth_exchange_code(
            code=code,
            client_id=settings.ZENDESK_OAUTH_CLIENT_ID,
            client_secret=settings.ZENDESK_OAUTH_CLIENT_SECRET,
            redirect_uri=zendesk_oauth_redirect_uri(),
        )
    except ApiError as exc:
        raise HelpdeskError(
            f"Zendesk did not accept the authorization ({exc.message}). Start again with Connect with OAuth.",
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


def zendesk_oauth_access_token(connection: HelpdeskConnection) -> str:
    """A usable access token, refreshed first when it expires within five minutes.

    Refresh tokens rotate, so two workers refreshing at once would race: the loser's refresh fails, and it
    then takes the token the winner stored. No transaction is held across the call to Zendesk.
    """
    from ..clients.zendesk import ZendeskClient

    secret = connection.secret()
    expires_at = secret.get("expires_at")
    if expires_at is None or expires_at - OAUTH_REFRESH_MARGIN_SECONDS > time.time() or not secret.get("refresh_token"):
        return secret.get("access_token", "")
    try:
        token = ZendeskClient(subdomain=connection.subdomain).oauth_refresh(
            refresh_token=secret["refresh_token"],
            client_id=settings.ZENDESK_OAUTH_CLIENT_ID,
            client_secret=settings.ZENDESK_OAUTH_CLIENT_SECRET,
        )
    except ApiError as exc:
        stored = HelpdeskConnection.objects.get(pk=connection.pk)
        if stored.secret().get("refresh_token") != secret["refresh_token"]:
            connection.credentials = stored.credentials  # another worker refreshed first
            return stored.secret().get("access_token", "")
        connection_mark_auth_failed(
            connection=connection,
            message=f"Zendesk refused to renew the OAuth authorization ({exc.message}); connect again.",
        )
        raise
    new_secret = _oauth_secret(token, scope=secret.get("scope", ""), previous=secret)
    with transaction.atomic():
        stored = HelpdeskConnection.objects.select_for_update().get(pk=connection.pk)
        stored.set_secret(new_secret)
        stored.save(update_fields=["credentials", "updated_at"])
    connection.credentials = stored.credentials
    logger.info("zendesk oauth token refreshed: connection=%s", connection.pk)
    return new_secret["access_token"]


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
    """Called when a background call gets 401: the admin page shows it until they reconnect."""
    # Only a connected connection can fail authentication; a revoked one stays revoked.
    HelpdeskConnection.objects.filter(pk=connection.pk, status=HelpdeskConnection.Status.CONNECTED).update(
        status=HelpdeskConnection.Status.AUTH_FAILED, last_error=message, last_error_at=timezone.now()
    )

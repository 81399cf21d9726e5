"""Writes for tenants: install (create or rotate), lifecycle toggles, licence state."""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from config.errors import ConflictError, NotFoundError, ValidationFailed

from .errors import InstallRejected, LifecycleBodyInvalid
from .models import ApiToken, Tenant
from .selectors import tenant_cache_evict

logger = logging.getLogger(__name__)

_REQUIRED_INSTALL_FIELDS = ("key", "clientKey", "sharedSecret", "baseUrl")


def base_url_allowed(base_url: str, patterns: list[str] | None = None) -> bool:
    """Does ``base_url`` (scheme://host[:port]) match one of the allowed patterns?

    Patterns are ``scheme://host-glob[:port-glob]``: ``https://*.atlassian.net``, ``http://127.0.0.1:*``.
    """
    patterns = settings.JIRA_ALLOWED_BASE_URLS if patterns is None else patterns
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return False
    netloc = parts.hostname + (f":{port}" if port is not None else "")
    for pattern in patterns:
        p = urlsplit(pattern.strip())
        if p.scheme != parts.scheme:
            continue
        if fnmatch.fnmatchcase(netloc, p.netloc.lower()):
            return True
    return False


def _clean_install_body(body: Any) -> dict[str, str]:
    if not isinstance(body, dict):
        raise LifecycleBodyInvalid("The lifecycle payload must be a JSON object.")
    missing = [f for f in _REQUIRED_INSTALL_FIELDS if not isinstance(body.get(f), str) or not body.get(f)]
    if missing:
        raise LifecycleBodyInvalid(
            f"The lifecycle payload lacks required fields: {', '.join(missing)}.", extra={"missing": missing}
        )
    if body["key"] != settings.ATLASSIAN_APP_KEY:
        raise InstallRejected(
            f"The payload is for app {body['key']!r}, not this app ({settings.ATLASSIAN_APP_KEY}).",
            code="install_wrong_app",
        )
    return body


def tenant_install(*, claims: dict[str, Any], body: Any) -> Tenant:
    """Create the tenant or rotate its secret, after the signed-install JWT verified.

    Checks that need the body: ``iss`` == clientKey, app key, base URL allowed. Nothing is written
    unless every check passes.
    """
    body = _clean_install_body(body)
    if claims.get("iss") != body["clientKey"]:
        raise InstallRejected(
            "The install JWT was issued for a different site than the payload's clientKey.",
            code="install_issuer_mismatch",
        )
    base_url = body["baseUrl"].rstrip("/")
    if not base_url_allowed(base_url):
        raise InstallRejected(
            f"The site base URL {base_url!r} is not an allowed Jira host (JIRA_ALLOWED_BASE_URLS).",
            code="install_base_url_not_allowed",
        )
    display_url = (body.get("displayUrl") or base_url).rstrip("/")
    if not base_url_allowed(display_url):
        display_url = base_url
    is_dev = bool(settings.ATLASSIAN_DEVELOPMENT_BASE_URLS) and base_url_allowed(
        base_url, settings.ATLASSIAN_DEVELOPMENT_BASE_URLS
    )
    values = {
        "app_key": body["key"],
        "base_url": base_url,
        "display_url": display_url,
        "shared_secret": body["sharedSecret"],
        "product_type": str(body.get("productType") or "jira")[:32],
        "description": str(body.get("description") or "")[:255],
        "cloud_id": str(body.get("cloudId") or "")[:64],
        "oauth_client_id": str(body.get("oauthClientId") or "")[:255],
        "server_version": str(body.get("serverVersion") or "")[:64],
        "plugins_version": str(body.get("pluginsVersion") or "")[:64],
        "state": Tenant.State.INSTALLED,
        "uninstalled_at": None,
    }
    # Jira may deliver the same install twice at once (retries): the unique client key decides, and the
    # loser of a concurrent first insert updates the row the winner created.
    for attempt in range(2):
        try:
            tenant = _install_write(body["clientKey"], values, is_dev)
            break
        except IntegrityError:
            if attempt:
                raise
    tenant_cache_evict(client_key=tenant.client_key)
    return tenant


def _install_write(client_key: str, values: dict[str, Any], is_dev: bool) -> Tenant:
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().filter(client_key=client_key).first()
        if tenant is None:
            tenant = Tenant.objects.create(
                client_key=client_key, is_development=is_dev, installed_at=timezone.now(), **values
            )
            logger.info("tenant installed: %s (%s)", tenant.client_key, tenant.base_url)
            return tenant
        for field, value in values.items():
            setattr(tenant, field, value)
        tenant.is_development = tenant.is_development or is_dev
        tenant.save()
        logger.info("tenant re-installed, secret rotated: %s (%s)", tenant.client_key, tenant.base_url)
        return tenant


def tenant_uninstall(*, claims: dict[str, Any], body: Any) -> Tenant | None:
    """Soft-disable: the state changes, the data (links, configuration) stays."""
    if not isinstance(body, dict) or not isinstance(body.get("clientKey"), str):
        raise LifecycleBodyInvalid("The lifecycle payload must be a JSON object with a clientKey.")
    if claims.get("iss") != body["clientKey"]:
        raise InstallRejected(
            "The uninstall JWT was issued for a different site than the payload's clientKey.",
            code="install_issuer_mismatch",
        )
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().filter(client_key=body["clientKey"]).first()
        if tenant is None:
            return None
        if tenant.state != Tenant.State.UNINSTALLED:
            tenant.state = Tenant.State.UNINSTALLED
            tenant.uninstalled_at = timezone.now()
            tenant.save(update_fields=["state", "uninstalled_at", "updated_at"])
            logger.info("tenant uninstalled: %s", tenant.client_key)
    tenant_cache_evict(client_key=tenant.client_key)
    return tenant


def tenant_set_enabled(*, tenant: Tenant, enabled: bool, body: Any) -> Tenant:
    if not isinstance(body, dict) or body.get("clientKey") not in (None, tenant.client_key):
        raise InstallRejected(
            "The payload's clientKey does not match the signed token's issuer.",
            code="install_issuer_mismatch",
        )
    state = Tenant.State.ENABLED if enabled else Tenant.State.DISABLED
    with transaction.atomic():
        updated = (
            Tenant.objects.filter(pk=tenant.pk)
            .exclude(state__in=[state, Tenant.State.UNINSTALLED])
            .update(state=state, updated_at=timezone.now())
        )
    if updated:
        tenant.refresh_from_db()
        tenant_cache_evict(client_key=tenant.client_key)
    return tenant


def tenant_license_update(*, tenant: Tenant, license: str) -> Tenant:
    """Record the licence Jira reported (``lic`` parameter or the addons API). Writes only on change."""
    if license not in Tenant.License.values:
        license = Tenant.License.UNKNOWN
    now = timezone.now()
    changed = tenant.license != license
    stale = tenant.license_checked_at is None or (now - tenant.license_checked_at).total_seconds() > 3600
    if changed or stale:
        Tenant.objects.filter(pk=tenant.pk).update(license=license, license_checked_at=now)
        tenant.license, tenant.license_checked_at = license, now
        tenant_cache_evict(client_key=tenant.client_key)
    return tenant


# --- tenant API tokens -------------------------------------------------------------------------------

TOKEN_PREFIX = "dbt_"


def api_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


API_TOKEN_MAX_DAYS = 3650


@sensitive_variables("token")
def api_token_create(
    *,
    tenant: Tenant,
    name: str,
    created_by: str,
    scope: str = ApiToken.Scope.ADMIN,
    expires_in_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plain token, which is never stored or shown again.
    A name is unique per tenant: taken (also by a concurrent create) answers 409."""
    name = (name or "").strip()
    fields: dict[str, list[str]] = {}
    if not name or len(name) > 100:
        fields["name"] = ["A name of 1 to 100 characters is required."]
    if scope not in ApiToken.Scope.values:
        fields["scope"] = [f"Choose one of: {', '.join(ApiToken.Scope.values)}."]
    if expires_in_days is not None and not 1 <= expires_in_days <= API_TOKEN_MAX_DAYS:
        fields["expires_in_days"] = [f"Give a number of days from 1 to {API_TOKEN_MAX_DAYS}, or none for no expiry."]
    if fields:
        raise ValidationFailed(
            "Give the token a name of 1 to 100 characters (for example the script that uses it), a scope "
            "(read, links or admin) and, optionally, an expiry in days.",
            code="token_invalid",
            extra={"fields": fields},
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        with transaction.atomic():
            row = ApiToken.objects.create(
                tenant=tenant,
                name=name,
                prefix=token[:10],
                token_hash=api_token_hash(token),
                created_by=created_by,
                scope=scope,
                expires_at=expires_at,
            )
    except IntegrityError:
        raise ConflictError(
            f"A token named {name!r} already exists; choose another name or revoke the old token.",
            code="token_name_taken",
            extra={"fields": {"name": ["This name is already used."]}},
        ) from None
    return row, token


def api_token_revoke(*, tenant: Tenant, token_id: int) -> ApiToken:
    row = ApiToken.objects.filter(tenant=tenant, pk=token_id).first()
    if row is None:
        raise NotFoundError("No such API token.")
    if row.revoked_at is None:
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
    return row


@sensitive_variables("token")
def api_token_authenticate(*, token: str) -> ApiToken | None:
    """The unrevoked token row for a presented token, recording its use (the caller refuses an expired
    token or an inactive tenant with its own message)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = (
        ApiToken.objects.select_related("tenant")
        .filter(token_hash=api_token_hash(token), revoked_at__isnull=True)
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    if row.is_expired:
        return row
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row

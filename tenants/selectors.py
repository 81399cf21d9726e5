from __future__ import annotations

import copy
import time

from django.conf import settings

from .models import Tenant

# Process-local cache of tenants by client key for JWT verification (the hot path of every Jira
# request). Entries live TENANT_CACHE_SECONDS; a signature that fails against a cached secret is retried
# against the database (a reinstall rotated it), and lifecycle writes evict the entry in this process.
_TENANT_CACHE: dict[str, tuple[float, Tenant]] = {}
_TENANT_CACHE_MAX = 10_000


def tenant_get_by_client_key(*, client_key: str) -> Tenant | None:
    return Tenant.objects.filter(client_key=client_key).order_by().first()


def tenant_for_token(*, client_key: str, fresh: bool = False) -> tuple[Tenant | None, bool]:
    """The tenant a JWT names, and whether it came from the process cache. Callers get their own copy."""
    ttl = settings.TENANT_CACHE_SECONDS
    now = time.monotonic()
    if ttl > 0 and not fresh:
        hit = _TENANT_CACHE.get(client_key)
        if hit is not None and hit[0] > now:
            return copy.copy(hit[1]), True
    tenant = tenant_get_by_client_key(client_key=client_key)
    if ttl > 0:
        if len(_TENANT_CACHE) >= _TENANT_CACHE_MAX:
            _TENANT_CACHE.clear()
        if tenant is None:
            _TENANT_CACHE.pop(client_key, None)
        else:
            _TENANT_CACHE[client_key] = (now + ttl, copy.copy(tenant))
    return tenant, False


def tenant_cache_evict(*, client_key: str) -> None:
    _TENANT_CACHE.pop(client_key, None)


def tenant_shared_secret_for_issuer(client_key: str) -> str | None:
    """The shared secret of an installed (not uninstalled) site, for JWT verification."""
    tenant = (
        Tenant.objects.filter(client_key=client_key)
        .exclude(state=Tenant.State.UNINSTALLED)
        .only("shared_secret")
        .first()
    )
    return tenant.shared_secret if tenant else None


def tenants_for_license_check() -> list[Tenant]:
    return list(Tenant.objects.filter(state__in=[Tenant.State.INSTALLED, Tenant.State.ENABLED]).order_by("id"))

from __future__ import annotations

from .models import Tenant


def tenant_get_by_client_key(*, client_key: str) -> Tenant | None:
    return Tenant.objects.filter(client_key=client_key).first()


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

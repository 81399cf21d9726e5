"""Helpdesk providers behind one interface, so Zoho Desk arrives beside Zendesk without special cases."""

from __future__ import annotations

from ..models import HelpdeskConnection, Provider
from .base import HelpdeskProvider
from .zendesk import ZendeskProvider
from .zoho_desk import ZohoDeskProvider

_PROVIDERS: dict[str, HelpdeskProvider] = {Provider.ZENDESK: ZendeskProvider(), Provider.ZOHO_DESK: ZohoDeskProvider()}


def provider_for(key: str) -> HelpdeskProvider:
    try:
        return _PROVIDERS[key]
    except KeyError:
        raise ValueError(f"unknown helpdesk provider {key!r}") from None


def all_providers() -> list[HelpdeskProvider]:
    return list(_PROVIDERS.values())


def client_for(connection: HelpdeskConnection):
    """An API client for a connected connection (credentials decrypted here, never elsewhere)."""
    return provider_for(connection.provider).client(connection)


__all__ = ["HelpdeskProvider", "all_providers", "client_for", "provider_for"]

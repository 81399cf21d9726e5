"""Writes of the connector app (split by subject: connections, items, licensing)."""

from .connections import (
    connection_auth_failure_confirm,
    connection_mark_auth_failed,
    connection_revoke,
    zendesk_connect,
    zendesk_oauth_attempt_get,
    zendesk_oauth_available,
    zendesk_oauth_callback_accept,
    zendesk_oauth_complete,
    zendesk_oauth_open,
    zendesk_oauth_start,
    zendesk_oauth_state_read,
    zendesk_subdomain_clean,
)
from .items import ItemSpec, connected_item_delete, connected_item_save
from .licensing import tenant_license_refresh

__all__ = [
    "ItemSpec",
    "connected_item_delete",
    "connected_item_save",
    "connection_auth_failure_confirm",
    "connection_mark_auth_failed",
    "connection_revoke",
    "tenant_license_refresh",
    "zendesk_connect",
    "zendesk_oauth_attempt_get",
    "zendesk_oauth_available",
    "zendesk_oauth_callback_accept",
    "zendesk_oauth_complete",
    "zendesk_oauth_open",
    "zendesk_oauth_start",
    "zendesk_oauth_state_read",
    "zendesk_subdomain_clean",
]

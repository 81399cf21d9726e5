"""Zendesk Support: objects, field normalisation, record URLs."""

from __future__ import annotations

from typing import Any

from .base import HelpdeskProvider

# Zendesk ticket field ``type`` → our normalised type (connector.mapping.TYPES).
_TICKET_TYPES = {
    "subject": "text",
    "description": "textarea",
    "status": "dropdown",
    "custom_status": "dropdown",
    "tickettype": "dropdown",
    "priority": "priority",
    "group": "group",
    "assignee": "user",
    "text": "text",
    "regexp": "text",
    "partialcreditcard": "text",
    "textarea": "textarea",
    "checkbox": "checkbox",
    "date": "date",
    "integer": "number",
    "decimal": "number",
    "tagger": "dropdown",
    "dropdown": "dropdown",
    "multiselect": "multiselect",
    "lookup": "unsupported",
}

# System ticket field ``type`` → the stable id we use in mappings and previews.
_TICKET_SYSTEM_IDS = {
    "subject": "subject",
    "description": "description",
    "status": "status",
    "custom_status": "custom_status",
    "tickettype": "type",
    "priority": "priority",
    "group": "group",
    "assignee": "assignee",
}

PRIORITY_OPTIONS = [
    {"value": "low", "label": "Low"},
    {"value": "normal", "label": "Normal"},
    {"value": "high", "label": "High"},
    {"value": "urgent", "label": "Urgent"},
]

# Values a ticket carries that are not in ticket_fields.json but admins map and show.
TICKET_VIRTUAL_FIELDS = [
    {"id": "tags", "label": "Tags", "type": "tags"},
    {"id": "requester.name", "label": "Requester name", "type": "text"},
    {"id": "requester.email", "label": "Requester email", "type": "text"},
    {"id": "organization.name", "label": "Organization", "type": "text"},
    {"id": "ticket.url", "label": "Ticket URL", "type": "text"},
    {"id": "brand", "label": "Brand", "type": "text"},
    {"id": "created_at", "label": "Created", "type": "date"},
    {"id": "updated_at", "label": "Updated", "type": "date"},
]

USER_SYSTEM_FIELDS = [
    {"id": "name", "label": "Name", "type": "text"},
    {"id": "email", "label": "Email", "type": "text"},
    {"id": "phone", "label": "Phone", "type": "text"},
    {"id": "organization.name", "label": "Organization", "type": "text"},
    {"id": "role", "label": "Role", "type": "text"},
    {"id": "tags", "label": "Tags", "type": "tags"},
    {"id": "time_zone", "label": "Time zone", "type": "text"},
    {"id": "notes", "label": "Notes", "type": "textarea"},
    {"id": "details", "label": "Details", "type": "textarea"},
    {"id": "created_at", "label": "Created", "type": "date"},
]

ORGANIZATION_SYSTEM_FIELDS = [
    {"id": "name", "label": "Name", "type": "text"},
    {"id": "domain_names", "label": "Domains", "type": "tags"},
    {"id": "tags", "label": "Tags", "type": "tags"},
    {"id": "notes", "label": "Notes", "type": "textarea"},
    {"id": "details", "label": "Details", "type": "textarea"},
    {"id": "created_at", "label": "Created", "type": "date"},
]


def _field(id_: str, label: str, type_: str, options=None, *, system: bool) -> dict[str, Any]:
    return {
        "id": id_,
        "label": label,
        "type": type_,
        "options": options or [],
        "system": system,
        "required": False,
        "has_default": False,
    }


def _options(raw: dict[str, Any]) -> list[dict[str, str]]:
    options = raw.get("custom_field_options") or raw.get("system_field_options") or []
    return [{"value": str(o.get("value")), "label": str(o.get("name", o.get("value")))} for o in options]


def normalise_ticket_fields(raw_fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fields = []
    for raw in raw_fields:
        if raw.get("active") is False:
            continue
        kind = raw.get("type", "")
        type_ = _TICKET_TYPES.get(kind, "unsupported")
        if kind in _TICKET_SYSTEM_IDS:
            id_, system = _TICKET_SYSTEM_IDS[kind], True
        else:
            id_, system = f"custom_field:{raw['id']}", False
        options = PRIORITY_OPTIONS if kind == "priority" else _options(raw)
        fields.append(_field(id_, raw.get("title", id_), type_, options, system=system))
    fields.extend(_field(v["id"], v["label"], v["type"], system=True) for v in TICKET_VIRTUAL_FIELDS)
    return fields


def normalise_custom_fields(raw_fields: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    kinds = {**_TICKET_TYPES, "dropdown": "dropdown"}
    return [
        _field(
            f"{prefix}:{raw['key']}",
            raw.get("title", raw["key"]),
            kinds.get(raw.get("type"), "unsupported"),
            _options(raw),
            system=False,
        )
        for raw in raw_fields
        if raw.get("active") is not False and raw.get("key")
    ]


class ZendeskProvider(HelpdeskProvider):
    key = "zendesk"
    label = "Zendesk Support"
    objects = {"ticket": "Tickets", "user": "Customers", "organization": "Organizations"}
    syncable_objects = frozenset({"ticket"})

    def client(self, connection):
        from ..clients.zendesk import ZendeskClient

        secret = connection.secret()
        if connection.auth_type == connection.AuthType.OAUTH:
            return ZendeskClient(subdomain=connection.subdomain, oauth_token=secret.get("access_token"))
        return ZendeskClient(
            subdomain=connection.subdomain, email=secret.get("email"), api_token=secret.get("api_token")
        )

    def fields(self, client, helpdesk_object: str) -> list[dict[str, Any]]:
        if helpdesk_object == "ticket":
            return normalise_ticket_fields(client.ticket_fields())
        if helpdesk_object == "user":
            system = [_field(f["id"], f["label"], f["type"], system=True) for f in USER_SYSTEM_FIELDS]
            return system + normalise_custom_fields(client.user_fields(), "user_field")
        if helpdesk_object == "organization":
            system = [_field(f["id"], f["label"], f["type"], system=True) for f in ORGANIZATION_SYSTEM_FIELDS]
            return system + normalise_custom_fields(client.organization_fields(), "organization_field")
        raise ValueError(f"Zendesk has no object {helpdesk_object!r}")

    def record_url(self, connection, helpdesk_object: str, record_id: str) -> str:
        from django.conf import settings

        base = settings.ZENDESK_URL_TEMPLATE.format(subdomain=connection.subdomain)
        path = {"ticket": "tickets", "user": "users", "organization": "organizations"}[helpdesk_object]
        return f"{base}/agent/{path}/{record_id}"

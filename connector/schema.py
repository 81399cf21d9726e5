"""Schema introspection: helpdesk and Jira fields normalised to one shape, cached per tenant.

A normalised field is ``{"id", "label", "type", "options": [{"value", "label"}], "system", "required",
"has_default"}``; ``type`` is one of the names in ``connector.mapping.TYPES``. Cache entries live
``SCHEMA_CACHE_SECONDS`` and a Refresh (``refresh=True``) reloads them. A failure names the call that failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

from tenants.models import Tenant

from .clients.base import ApiError, ApiNotFound
from .clients.jira import JiraClient
from .errors import SchemaNotFound, SchemaUnavailable
from .models import HelpdeskConnection
from .providers import client_for, provider_for

logger = logging.getLogger(__name__)

SCHEMA_CACHE_SECONDS = 300


def _cached(tenant: Tenant, key: str, loader: Callable[[], Any], *, refresh: bool, what: str) -> Any:
    version = cache.get(f"schema-version:{tenant.pk}", 0)
    cache_key = f"schema:{tenant.pk}:{version}:{key}"
    if not refresh:
        hit = cache.get(cache_key)
        if hit is not None:
            return hit
    try:
        value = loader()
    except ApiNotFound as exc:
        raise SchemaNotFound(
            f"Could not load {what}: {exc.message.rstrip('.')}. Check that it exists and that the app can see it.",
            extra={"call": what, "status": exc.status},
        ) from exc
    except ApiError as exc:
        raise SchemaUnavailable(
            f"Could not load {what}: {exc.message.rstrip('.')}. Check the connection and use Refresh to try again.",
            extra={"call": what, "status": exc.status},
        ) from exc
    cache.set(cache_key, value, SCHEMA_CACHE_SECONDS)
    return value


def schema_cache_clear(*, tenant: Tenant) -> None:
    """Forget every cached schema of a tenant (used by Refresh-all and on reconnect)."""
    version_key = f"schema-version:{tenant.pk}"
    try:
        cache.incr(version_key)
    except ValueError:
        cache.set(version_key, 1, None)


# --- Jira ------------------------------------------------------------------------------------------

_JIRA_SYSTEM_TYPES = {
    "summary": "text",
    "description": "textarea",
    "environment": "textarea",
    "priority": "priority",
    "labels": "labels",
    "assignee": "user",
    "reporter": "user",
    "duedate": "date",
    "components": "multiselect",
    "fixVersions": "multiselect",
    "versions": "multiselect",
    "issuetype": "internal",
    "project": "internal",
    "parent": "internal",
}

_JIRA_CUSTOM_TYPES = {
    "textfield": "text",
    "url": "text",
    "textarea": "textarea",
    "select": "select",
    "radiobuttons": "select",
    "multiselect": "multiselect",
    "multicheckboxes": "multiselect",
    "float": "number",
    "datepicker": "date",
    "datetime": "datetime",
    "userpicker": "user",
    "labels": "labels",
    # Jira Service Management's Organizations (com.atlassian.servicedesk:sd-customer-organizations): a list of
    # {id, name, _links}; read as names, never written (see connector.mapping.ORGANIZATIONS)
    "sd-customer-organizations": "organizations",
}


def jira_field_type(schema: dict[str, Any] | None) -> str:
    schema = schema or {}
    if schema.get("system") in _JIRA_SYSTEM_TYPES:
        return _JIRA_SYSTEM_TYPES[schema["system"]]
    custom = schema.get("custom") or ""
    if custom:
        suffix = custom.rsplit(":", 1)[-1]
        if suffix in _JIRA_CUSTOM_TYPES:
            return _JIRA_CUSTOM_TYPES[suffix]
    kind, items = schema.get("type"), schema.get("items")
    if kind == "array":
        return {"option": "multiselect", "string": "labels"}.get(items, "unsupported")
    return {
        "string": "text",
        "number": "number",
        "date": "date",
        "datetime": "date",
        "option": "select",
        "user": "user",
        "priority": "priority",
    }.get(kind, "unsupported")


def _jira_option(value: dict[str, Any]) -> dict[str, str]:
    label = value.get("value") or value.get("name") or value.get("id")
    return {"value": str(value.get("id", label)), "label": str(label)}


def normalise_jira_create_field(field: dict[str, Any]) -> dict[str, Any]:
    field_id = field.get("fieldId") or field.get("key") or field.get("id")
    return {
        "id": field_id,
        "label": field.get("name", field_id),
        "type": jira_field_type(field.get("schema")),
        "options": [_jira_option(v) for v in field.get("allowedValues") or []],
        "system": not str(field_id).startswith("customfield_"),
        "required": bool(field.get("required")),
        "has_default": bool(field.get("hasDefaultValue")),
    }


def jira_projects(*, tenant: Tenant, refresh: bool = False) -> list[dict[str, str]]:
    def load():
        return [
            {"id": str(p["id"]), "key": p["key"], "name": p.get("name", p["key"])}
            for p in JiraClient(tenant).projects()
        ]

    return _cached(tenant, "jira:projects", load, refresh=refresh, what="Jira projects")


def jira_project(*, tenant: Tenant, project: str, refresh: bool = False) -> dict[str, str] | None:
    for p in jira_projects(tenant=tenant, refresh=refresh):
        if project in (p["id"], p["key"]):
            return p
    return None


def jira_issue_types(*, tenant: Tenant, project: str, refresh: bool = False) -> list[dict[str, Any]]:
    def load():
        return [
            {"id": str(t["id"]), "name": t.get("name", ""), "subtask": bool(t.get("subtask"))}
            for t in JiraClient(tenant).create_issue_types(project)
        ]

    return _cached(
        tenant,
        f"jira:issuetypes:{project}",
        load,
        refresh=refresh,
        what=f"issue types of Jira project {project}",
    )


def jira_create_fields(
    *, tenant: Tenant, project: str, issue_type_id: str, refresh: bool = False
) -> list[dict[str, Any]]:
    def load():
        return [normalise_jira_create_field(f) for f in JiraClient(tenant).create_fields(project, issue_type_id)]

    return _cached(
        tenant,
        f"jira:createmeta:{project}:{issue_type_id}",
        load,
        refresh=refresh,
        what=f"create metadata of Jira project {project}, issue type {issue_type_id}",
    )


def jira_fields(*, tenant: Tenant, refresh: bool = False) -> list[dict[str, Any]]:
    def load():
        return [
            {
                "id": f["id"],
                "label": f.get("name", f["id"]),
                "type": jira_field_type(f.get("schema")),
                "options": [],
                "system": not f.get("custom", False),
                "required": False,
                "has_default": False,
            }
            for f in JiraClient(tenant).fields()
        ]

    return _cached(tenant, "jira:fields", load, refresh=refresh, what="Jira fields")


def jira_priorities(*, tenant: Tenant, refresh: bool = False) -> list[dict[str, str]]:
    def load():
        return [{"id": str(p["id"]), "name": p["name"]} for p in JiraClient(tenant).priorities()]

    return _cached(tenant, "jira:priorities", load, refresh=refresh, what="Jira priorities")


def jira_statuses(*, tenant: Tenant, project: str, refresh: bool = False) -> list[dict[str, Any]]:
    def load():
        seen: dict[str, dict[str, Any]] = {}
        for issue_type in JiraClient(tenant).project_statuses(project):
            for status in issue_type.get("statuses", []):
                seen.setdefault(
                    str(status["id"]),
                    {
                        "id": str(status["id"]),
                        "name": status.get("name", ""),
                        "category": (status.get("statusCategory") or {}).get("key", ""),
                    },
                )
        return list(seen.values())

    return _cached(
        tenant, f"jira:statuses:{project}", load, refresh=refresh, what=f"statuses of Jira project {project}"
    )


# --- helpdesk ----------------------------------------------------------------------------------------


def helpdesk_fields(
    *, tenant: Tenant, connection: HelpdeskConnection, helpdesk_object: str, refresh: bool = False, client=None
) -> list[dict[str, Any]]:
    provider = provider_for(connection.provider)
    if helpdesk_object not in provider.objects:
        raise SchemaNotFound(
            f"{provider.label} has no object {helpdesk_object!r}; choose one of {', '.join(provider.objects)}."
        )

    def load():
        return provider.fields(client or client_for(connection), helpdesk_object)

    return _cached(
        tenant,
        f"helpdesk:{connection.pk}:{helpdesk_object}",
        load,
        refresh=refresh,
        what=f"{connection.get_provider_display()} {provider.object_label(helpdesk_object).lower()} fields",
    )


def helpdesk_condition_choices(
    *, tenant: Tenant, connection: HelpdeskConnection, key: str, refresh: bool = False, client=None
) -> list[dict[str, str]] | None:
    """The values an auto-create condition may take as the helpdesk lists them (``provider.condition_choices``),
    cached like the schema (per tenant and connection; Refresh-all and reconnecting reload them). None for a
    condition the helpdesk lists no values for (without calling it)."""
    provider = provider_for(connection.provider)
    if key not in provider.condition_choice_keys:
        return None

    def load():
        # wrapped: the cache treats a bare None as a miss
        return {"choices": provider.condition_choices(client or client_for(connection), key)}

    label = provider.condition_keys.get(key, key).lower()
    label = label.removesuffix(" ids") + "s" if label.endswith(" ids") else label  # "Group ids" → "groups"
    return _cached(
        tenant,
        f"helpdesk:{connection.pk}:conditions:{key}",
        load,
        refresh=refresh,
        what=f"{connection.get_provider_display()} {label}",
    )["choices"]

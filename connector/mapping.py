"""Field-mapping rules: which helpdesk field types may feed which Jira field types, option value maps,
priority normalisation, and the standard Zendesk ticket → Jira issue preset."""

from __future__ import annotations

from typing import Any

TYPES = (
    "text",
    "textarea",
    "dropdown",
    "multiselect",
    "tags",
    "number",
    "date",
    "datetime",
    "checkbox",
    "user",
    "priority",
    "group",
    "select",
    "labels",
    "internal",
    "unsupported",
)

# (helpdesk type, Jira type) pairs that may be mapped helpdesk → Jira, and whether every option must be
# mapped to an allowed Jira value ("options"), or values are normalised ("priority"), or copied as-is.
TO_JIRA: dict[tuple[str, str], str] = {
    ("text", "text"): "copy",
    ("text", "textarea"): "copy",
    ("textarea", "textarea"): "copy",
    ("textarea", "text"): "copy",
    ("dropdown", "select"): "options",
    ("dropdown", "text"): "label",
    ("dropdown", "textarea"): "label",
    ("priority", "priority"): "priority",
    ("priority", "select"): "options",
    ("priority", "text"): "label",
    ("multiselect", "multiselect"): "options",
    ("multiselect", "labels"): "copy",
    ("tags", "labels"): "copy",
    ("number", "number"): "copy",
    ("number", "text"): "copy",
    ("date", "date"): "copy",
    ("date", "datetime"): "copy",
    ("date", "text"): "copy",
    ("checkbox", "select"): "options",
    ("checkbox", "text"): "copy",
    ("user", "user"): "email",
}

# Jira → helpdesk (two-way items only).
TO_HELPDESK: dict[tuple[str, str], str] = {
    ("text", "text"): "copy",
    ("textarea", "text"): "copy",
    ("text", "textarea"): "copy",
    ("textarea", "textarea"): "copy",
    ("select", "dropdown"): "options",
    ("priority", "priority"): "priority",
    ("multiselect", "multiselect"): "options",
    ("labels", "tags"): "copy",
    ("number", "number"): "copy",
    ("date", "date"): "copy",
    ("datetime", "date"): "copy",
    ("user", "user"): "email",
}

# Zendesk priority → the Jira priority name it normally corresponds to.
ZENDESK_PRIORITY_DEFAULTS = {"low": "Low", "normal": "Medium", "high": "High", "urgent": "Highest"}


def rule_for(direction: str, helpdesk_type: str, jira_type: str) -> str | None:
    if direction == "to_helpdesk":
        return TO_HELPDESK.get((jira_type, helpdesk_type))
    return TO_JIRA.get((helpdesk_type, jira_type))


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def suggest_value_map(source_options: list[dict], target_options: list[dict]) -> dict[str, str]:
    """Match options by label or value, case-insensitively: source value → target value."""
    by_label = {}
    for option in target_options:
        by_label.setdefault(_norm(option["label"]), option["value"])
        by_label.setdefault(_norm(option["value"]), option["value"])
    result = {}
    for option in source_options:
        target = by_label.get(_norm(option["label"])) or by_label.get(_norm(option["value"]))
        if target is not None:
            result[option["value"]] = target
    return result


def priority_value_map(jira_priorities: list[dict[str, str]]) -> dict[str, str]:
    """Zendesk low/normal/high/urgent → ids of the site's priorities, by name where they match."""
    by_name = {_norm(p["name"]): p["id"] for p in jira_priorities}
    result = {}
    for zendesk_value, jira_name in ZENDESK_PRIORITY_DEFAULTS.items():
        pid = by_name.get(_norm(jira_name)) or by_name.get(_norm(zendesk_value))
        if pid:
            result[zendesk_value] = pid
    return result


def standard_ticket_preset(
    *,
    jira_fields: list[dict[str, Any]],
    jira_priorities: list[dict[str, str]],
    targets: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The standard Zendesk ticket → Jira issue mappings for a create screen.

    ``targets`` names the Jira text fields chosen for ticket type, requester name/email, organization name
    and ticket URL (keys ``type``, ``requester.name``, ``requester.email``, ``organization.name``,
    ``ticket.url``). Fields not on the screen are left out; the admin edits the result.
    """
    available = {f["id"]: f for f in jira_fields}
    mappings: list[dict[str, Any]] = []

    def add(helpdesk_field: str, jira_field: str, value_map: dict | None = None) -> None:
        if jira_field in available and all(m["jira_field"] != jira_field for m in mappings):
            mappings.append(
                {
                    "helpdesk_field": helpdesk_field,
                    "jira_field": jira_field,
                    "direction": "to_jira",
                    "value_map": value_map or {},
                }
            )

    add("subject", "summary")
    add("description", "description")
    add("priority", "priority", priority_value_map(jira_priorities))
    add("tags", "labels")
    for helpdesk_field, jira_field in (targets or {}).items():
        if jira_field:
            add(helpdesk_field, jira_field)
    return mappings


# --- values (helpdesk → Jira) -----------------------------------------------------------------------------

# Zendesk status → Jira status category (new / indeterminate / done).
ZENDESK_STATUS_CATEGORY = {
    "new": "new",
    "open": "indeterminate",
    "pending": "indeterminate",
    "hold": "indeterminate",
    "solved": "done",
    "closed": "done",
}


def text_to_adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document: a paragraph per blank-line-separated block, a hardBreak per
    single newline. Never emits an empty text node (Jira refuses them); empty text is an empty document."""
    paragraphs = []
    for block in str(text or "").replace("\r\n", "\n").split("\n\n"):
        content: list[dict[str, Any]] = []
        for i, line in enumerate(block.split("\n")):
            if i:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        while content and content[-1]["type"] == "hardBreak":
            content.pop()
        if content:
            paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


class ValueNotMapped(ValueError):
    """A helpdesk value the mapping cannot turn into a Jira value; the message says which and why."""


def jira_value(
    *, rule: str, value: Any, jira_type: str, value_map: dict[str, str], option_labels: dict[str, str] | None = None
) -> Any:
    """The value to send to Jira for one mapped field (see TO_JIRA for the rules). Empty clears the field."""
    empty = value is None or value == "" or value == []
    if rule in ("options", "priority"):
        if empty:
            return [] if jira_type == "multiselect" else None
        values = value if isinstance(value, list) else [value]
        missing = [str(v) for v in values if str(v) not in value_map]
        if missing:
            raise ValueNotMapped(
                f"no Jira value is mapped for {', '.join(repr(m) for m in missing)}; add it to the item's value map"
            )
        ids = [{"id": str(value_map[str(v)])} for v in values]
        return ids if jira_type == "multiselect" else ids[0]
    if rule == "label":
        return None if empty else (option_labels or {}).get(str(value), str(value))
    if rule == "email":
        raise ValueNotMapped("user fields are not synchronized yet")
    # copy
    if jira_type == "labels":
        return [str(v).replace(" ", "_") for v in (value if isinstance(value, list) else [value])] if not empty else []
    if empty:
        return None
    if jira_type == "textarea":
        return text_to_adf(value)
    if jira_type == "number":
        number = float(value)
        return int(number) if number.is_integer() else number
    if jira_type == "date":
        return str(value)[:10]
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)

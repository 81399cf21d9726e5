"""Field-mapping rules: which helpdesk field types may feed which Jira field types (and why some may not),
option value maps, priority normalisation, and the standard Zendesk ticket → Jira issue preset."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from .adf import adf_to_text

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
    "organizations",  # Jira Service Management's Organizations field (see ORGANIZATIONS below)
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
    ("dropdown", "priority"): "options",
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
    ("priority", "dropdown"): "options",
    ("multiselect", "multiselect"): "options",
    ("labels", "tags"): "copy",
    ("number", "number"): "copy",
    ("date", "date"): "copy",
    ("datetime", "date"): "copy",
    ("user", "user"): "email",
    # the organizations' names (see ORGANIZATIONS)
    ("organizations", "text"): "names",
    ("organizations", "textarea"): "names",
    ("organizations", "tags"): "names",
}

# Jira Service Management's Organizations field (custom type
# ``com.atlassian.servicedesk:sd-customer-organizations``). Jira REST v3 returns its value as a list of the
# request's organizations, each ``{"id": "27", "name": "LoremIpsum Corp", "_links": {"self":
# ".../rest/servicedeskapi/organization/27"}}`` (id a string; the shape of JSM's OrganizationDTO,
# https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-organization/ ; a recorded issue
# value and the field's schema ``{"type": "array", "items": "sd-customerorganization", "custom": …}`` in
# https://github.com/AtlassianPS/JiraPS/issues/434). Jira sets it only from JSM's own numeric organization ids
# (``"customfield_10002": [27]``; ``[{"id": 27}]`` or a name is refused with "Operation value must be a number
# at array index 0": the same JiraPS issue and https://github.com/Icinga/icingaweb2-module-jira/issues/43).
# So Deskbridge reads the names towards the helpdesk, and never writes the field: a helpdesk value names an
# organization but does not carry JSM's id of it.
ORGANIZATIONS = "organizations"
_TO_ORGANIZATIONS_REFUSED = (
    "Jira Service Management sets Organizations only by its own organization ids, which a {brand} value does "
    "not carry; map it to a Jira text field instead."
)
_FROM_ORGANIZATIONS_REFUSED = {
    kind: (
        f"Deskbridge cannot list Jira Service Management's organizations to pair them with the {words}'s "
        "options; map the organizations to a text field or tags instead."
    )
    for kind, words in (("dropdown", "drop-down"), ("multiselect", "multi-select"))
}
_FROM_ORGANIZATIONS_OTHERWISE = (
    "Jira Service Management's organizations reach the helpdesk as their names: map them to a text field or tags."
)


def refusal_reason(direction: str, helpdesk_type: str, jira_type: str, *, brand: str = "helpdesk") -> str:
    """Why a pair of types that ``rule_for`` refuses cannot be mapped, where there is more to say than that
    the types differ (one sentence, to follow the refusal); "" otherwise, or when the pair is allowed."""
    if rule_for(direction, helpdesk_type, jira_type) is not None:
        return ""
    if direction == "to_helpdesk":
        if jira_type == ORGANIZATIONS:
            return _FROM_ORGANIZATIONS_REFUSED.get(helpdesk_type, _FROM_ORGANIZATIONS_OTHERWISE)
        return ""
    if jira_type == ORGANIZATIONS:
        return _TO_ORGANIZATIONS_REFUSED.format(brand=brand)
    return ""


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
    provider_key: str = "zendesk",
) -> list[dict[str, Any]]:
    """The standard ticket → Jira issue mappings for a create screen (Zendesk; Zoho Desk: subject, description
    and priority).

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
    if provider_key == "zoho_desk":
        add("priority", "priority")  # a pick-list: its values are paired with Jira's by name when saved
        return mappings
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
    if jira_type == ORGANIZATIONS:  # no rule writes it; a stale mapping must not send Jira a name
        raise ValueNotMapped(_TO_ORGANIZATIONS_REFUSED.format(brand="helpdesk"))
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


# --- values (Jira → helpdesk) -----------------------------------------------------------------------------

# Jira priority name (normalised) → Zendesk priority, for priorities the item's value map does not name.
JIRA_PRIORITY_TO_ZENDESK = {
    "highest": "urgent",
    "blocker": "urgent",
    "critical": "urgent",
    "urgent": "urgent",
    "high": "high",
    "major": "high",
    "medium": "normal",
    "normal": "normal",
    "low": "low",
    "lowest": "low",
    "minor": "low",
    "trivial": "low",
}


# Priority names by urgency (0 most urgent), to pair Jira's priorities with a helpdesk's pick-list by rank.
PRIORITY_RANKS = {
    "urgent": 0,
    "highest": 0,
    "blocker": 0,
    "critical": 0,
    "high": 1,
    "major": 1,
    "medium": 2,
    "normal": 2,
    "low": 3,
    "minor": 3,
    "lowest": 4,
    "trivial": 4,
}


def nearest_priorities(jira_options: list[dict], helpdesk_options: list[dict]) -> dict[str, str]:
    """Jira priority id → the helpdesk priority value of the nearest urgency (both ranked by name); names
    neither side knows are left for the admin to map."""
    ranked = [
        (PRIORITY_RANKS[_norm(o["label"])], o["value"]) for o in helpdesk_options if _norm(o["label"]) in PRIORITY_RANKS
    ]
    result = {}
    for option in jira_options:
        rank = PRIORITY_RANKS.get(_norm(option["label"]))
        if rank is not None and ranked:
            result[option["value"]] = min(ranked, key=lambda r: (abs(r[0] - rank), r[0]))[1]
    return result


def _is_empty(value: Any) -> bool:
    if value is None or value == "" or value == []:
        return True
    return isinstance(value, dict) and value.get("type") == "doc" and not adf_to_text(value).strip()


def _as_text(value: Any, *, multiline: bool) -> str:
    """A Jira text value (a string, or an ADF document from a multi-line field) as helpdesk text; a
    single-line target gets the lines joined by spaces."""
    text = adf_to_text(value) if isinstance(value, dict | list) else str(value)
    if multiline:
        return text
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _jira_label(value: Any) -> str:
    """How an admin knows a Jira option or priority: its value or name (its id as a last resort)."""
    if isinstance(value, dict):
        return str(value.get("value") or value.get("name") or value.get("id"))
    return str(value)


def _jira_id(value: Any) -> str:
    return str(value.get("id")) if isinstance(value, dict) else str(value)


def _tags(values: list[Any]) -> list[str]:
    """Zendesk tags: no whitespace (it becomes ``_``), lower case, each once, in order."""
    tags: list[str] = []
    for value in values:
        tag = "_".join(str(value).split()).lower()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def organization_names(value: Any) -> list[str]:
    """The names in a Jira Service Management Organizations value (see ORGANIZATIONS), in Jira's order, each
    once; entries without a name are left out. A bare string counts as one name."""
    names: list[str] = []
    for entry in value if isinstance(value, list) else [value]:
        name = entry.get("name") if isinstance(entry, dict) else entry
        name = " ".join(str(name or "").split())
        if name and name not in names:
            names.append(name)
    return names


def helpdesk_value(*, rule: str, value: Any, jira_type: str, helpdesk_type: str, value_map: dict[str, str]) -> Any:
    """The value to write to the helpdesk for one Jira value, as Jira REST v3 returns it in issue fields
    (see TO_HELPDESK for the rules). Empty (None, "", [], an empty ADF document) clears the field: None, or
    [] for tags and multi-select fields. Raises ValueNotMapped when the value cannot be written."""
    many = helpdesk_type in ("tags", "multiselect")
    if jira_type == ORGANIZATIONS and rule != "names":  # e.g. a stale mapping read as "copy"
        raise ValueNotMapped(_FROM_ORGANIZATIONS_REFUSED.get(helpdesk_type, _FROM_ORGANIZATIONS_OTHERWISE))
    if _is_empty(value):
        return [] if many else None
    if rule == "names":
        # Every organization, not only the first: a request shared with several keeps them all in the text.
        names = organization_names(value)
        if helpdesk_type == "tags":
            return _tags(names)
        return ", ".join(names) if names else None
    if rule == "options":
        values = value if isinstance(value, list) else [value]
        missing = [v for v in values if _jira_id(v) not in value_map]
        if missing:
            raise ValueNotMapped(
                f"no helpdesk value is mapped for Jira value {', '.join(repr(_jira_label(v)) for v in missing)}; "
                "add it to the item's value map"
            )
        mapped = [str(value_map[_jira_id(v)]) for v in values]
        return list(dict.fromkeys(mapped)) if many else mapped[0]
    if rule == "priority":
        if _jira_id(value) in value_map:
            return str(value_map[_jira_id(value)])
        name = _jira_label(value)
        if _norm(name) in JIRA_PRIORITY_TO_ZENDESK:
            return JIRA_PRIORITY_TO_ZENDESK[_norm(name)]
        raise ValueNotMapped(
            f"Jira priority {name!r} has no helpdesk priority; add it to the item's value map "
            "(low, normal, high or urgent)"
        )
    if rule == "email":
        email = value.get("emailAddress") if isinstance(value, dict) else None
        if email:
            return str(email)
        who = (value.get("displayName") or value.get("accountId")) if isinstance(value, dict) else value
        raise ValueNotMapped(
            f"Jira hides the email address of {who or 'this user'} from apps (the user's profile visibility "
            "setting), so the matching helpdesk user cannot be found"
        )
    if rule != "copy":
        raise ValueNotMapped(f"unknown mapping rule {rule!r}")
    if helpdesk_type == "tags":
        return _tags(value if isinstance(value, list) else [value])
    if helpdesk_type == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise ValueNotMapped(f"{value!r} is not a number")
        return int(number) if number.is_integer() else number
    if helpdesk_type == "date":
        day = str(value)[:10]
        try:
            date.fromisoformat(day)
        except ValueError:
            raise ValueNotMapped(f"{value!r} is not a date") from None
        return day
    return _as_text(value, multiline=helpdesk_type == "textarea")

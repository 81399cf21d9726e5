"""Which of an item's mappings give a new helpdesk record (created from a Jira issue) its values.

One rule for both places that need it: creating the record (``sync.create``) and checking at save time that
the item covers the helpdesk's required create fields (``connector.services.item_creation``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .mapping import rule_for

TO_HELPDESK = "to_helpdesk"


@dataclass(frozen=True)
class CreateSource:
    """One way a new record's helpdesk field gets a value from the issue: ``rule`` (see
    ``connector.mapping.TO_HELPDESK``) applied to the Jira field, ``value_map`` Jira value → helpdesk value."""

    helpdesk_field: str
    jira_field: str
    rule: str
    value_map: dict[str, str]
    helpdesk_type: str
    jira_type: str
    reversed: bool  # a helpdesk → Jira mapping read backwards


def _part(mapping: Any, name: str) -> Any:
    return mapping.get(name) if isinstance(mapping, dict) else getattr(mapping, name)


def create_sources(
    mappings: Iterable[Any], *, helpdesk_types: dict[str, str], jira_types: dict[str, str], readonly: set[str]
) -> list[CreateSource]:
    """The mappings (``FieldMapping`` rows or their dicts) whose helpdesk field a new record may take, in the
    order they are tried: Jira → helpdesk mappings as they are, then helpdesk → Jira ones reversed (their
    value map read backwards) where the types allow it. A field several sources name takes the first value
    one of them gives. Fields of unknown type count as text."""
    ordered = sorted(mappings, key=lambda m: _part(m, "direction") != TO_HELPDESK)
    sources: list[CreateSource] = []
    for mapping in ordered:
        target = str(_part(mapping, "helpdesk_field"))
        if target in readonly:
            continue
        jira_field = str(_part(mapping, "jira_field"))
        helpdesk_type = helpdesk_types.get(target, "text")
        jira_type = jira_types.get(jira_field, "text")
        rule = rule_for(TO_HELPDESK, helpdesk_type, jira_type)
        if rule is None:
            continue  # e.g. a helpdesk drop-down mapped to a Jira text field: Jira's text has no option to go back
        value_map = {str(k): str(v) for k, v in (_part(mapping, "value_map") or {}).items()}
        backwards = _part(mapping, "direction") != TO_HELPDESK
        if backwards:
            reversed_map: dict[str, str] = {}
            for helpdesk_value, jira_value in value_map.items():
                reversed_map.setdefault(jira_value, helpdesk_value)
            value_map = reversed_map
        sources.append(
            CreateSource(
                helpdesk_field=target,
                jira_field=jira_field,
                rule=rule,
                value_map=value_map,
                helpdesk_type=helpdesk_type,
                jira_type=jira_type,
                reversed=backwards,
            )
        )
    return sources

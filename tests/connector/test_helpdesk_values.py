"""Jira values (as REST v3 returns them in issue fields) → helpdesk values under the TO_HELPDESK rules, and the
Zendesk ticket update that writes them."""

from __future__ import annotations

import re

import pytest

from connector.mapping import TO_HELPDESK, ValueNotMapped, helpdesk_value
from connector.providers.zendesk import TICKET_READONLY_REASONS, ZendeskProvider

SEVERITY = {"10100": "sev_critical", "10101": "sev_major"}
COMPONENTS = {"10200": "billing", "10201": "login", "10202": "mobile"}
EMPTY_DOC = {"type": "doc", "version": 1, "content": []}
DESCRIPTION = {
    "type": "doc",
    "version": 1,
    "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Printer on fire."}]},
        {
            "type": "bulletList",
            "content": [
                {
                    "type": "listItem",
                    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "call facilities"}]}],
                }
            ],
        },
    ],
}


def value(jira_type, helpdesk_type, jira_value, value_map=None):
    rule = TO_HELPDESK[(jira_type, helpdesk_type)]
    return helpdesk_value(
        rule=rule, value=jira_value, jira_type=jira_type, helpdesk_type=helpdesk_type, value_map=value_map or {}
    )


# --- copy -----------------------------------------------------------------------------------------------------


def test_text_is_copied():
    assert value("text", "text", "Printer on fire") == "Printer on fire"
    assert value("text", "textarea", "Printer on fire") == "Printer on fire"


def test_multi_line_jira_text_keeps_its_lines_in_a_helpdesk_textarea():
    assert value("textarea", "textarea", DESCRIPTION) == "Printer on fire.\n\n- call facilities"


def test_multi_line_jira_text_becomes_one_line_in_a_helpdesk_text_field():
    assert value("textarea", "text", DESCRIPTION) == "Printer on fire. - call facilities"


def test_labels_become_zendesk_tags():
    labels = ["VIP", "needs review", "vip", "Needs\tReview", "billing"]
    assert value("labels", "tags", labels) == ["vip", "needs_review", "billing"]


@pytest.mark.parametrize(("jira", "helpdesk"), [(3, 3), (2.5, 2.5), (4.0, 4), ("7", 7)])
def test_numbers(jira, helpdesk):
    result = value("number", "number", jira)
    assert result == helpdesk and type(result) is type(helpdesk)


@pytest.mark.parametrize("bad", ["many", "nan", "inf"])
def test_a_number_that_is_not_one_is_refused(bad):
    with pytest.raises(ValueNotMapped, match="is not a number"):
        value("number", "number", bad)


def test_dates_and_the_day_of_a_datetime():
    assert value("date", "date", "2026-03-01") == "2026-03-01"
    assert value("datetime", "date", "2026-03-01T23:30:00.000+0100") == "2026-03-01"
    with pytest.raises(ValueNotMapped, match="'next week' is not a date"):
        value("date", "date", "next week")


# --- options and priorities -------------------------------------------------------------------------------


def test_a_select_option_is_mapped_by_id():
    assert value("select", "dropdown", {"id": "10100", "value": "Critical"}, SEVERITY) == "sev_critical"


def test_multiselect_options_are_mapped_in_order():
    chosen = [{"id": "10202", "value": "Mobile app"}, {"id": "10200", "value": "Billing"}]
    assert value("multiselect", "multiselect", chosen, COMPONENTS) == ["mobile", "billing"]


def test_an_unmapped_option_names_the_jira_value_and_the_fix():
    with pytest.raises(ValueNotMapped) as raised:
        value("select", "dropdown", {"id": "10102", "value": "Minor"}, SEVERITY)
    assert str(raised.value) == "no helpdesk value is mapped for Jira value 'Minor'; add it to the item's value map"
    chosen = [{"id": "10200", "value": "Billing"}, {"id": "10299", "value": "Public API"}]
    with pytest.raises(ValueNotMapped, match="for Jira value 'Public API'; add it to the item's value map"):
        value("multiselect", "multiselect", chosen, COMPONENTS)


def test_a_priority_in_the_value_map_wins_over_its_name():
    assert value("priority", "priority", {"id": "2", "name": "High"}, {"2": "urgent"}) == "urgent"


@pytest.mark.parametrize(
    ("name", "zendesk"),
    [
        ("Highest", "urgent"),
        ("Blocker", "urgent"),
        ("critical", "urgent"),
        ("Urgent", "urgent"),
        ("High", "high"),
        ("Major", "high"),
        ("Medium", "normal"),
        ("Normal", "normal"),
        ("Low", "low"),
        ("Lowest", "low"),
        ("Minor", "low"),
        ("Trivial", "low"),
    ],
)
def test_an_unmapped_priority_is_normalised_by_name(name, zendesk):
    assert value("priority", "priority", {"id": "99", "name": name}, {"2": "urgent"}) == zendesk


def test_an_unknown_priority_name_is_refused():
    with pytest.raises(ValueNotMapped, match="Jira priority 'P0 - Drop everything' has no helpdesk priority"):
        value("priority", "priority", {"id": "99", "name": "P0 - Drop everything"})


# --- users ----------------------------------------------------------------------------------------------------


def test_a_user_is_written_by_email():
    user = {"accountId": "5b10a284", "emailAddress": "jane@example.com", "displayName": "Jane Doe"}
    assert value("user", "user", user) == "jane@example.com"


def test_a_user_whose_email_jira_hides_is_refused_with_the_reason():
    with pytest.raises(ValueNotMapped) as raised:
        value("user", "user", {"accountId": "5b10a284", "displayName": "Jane Doe"})
    assert str(raised.value) == (
        "Jira hides the email address of Jane Doe from apps (the user's profile visibility setting), "
        "so the matching helpdesk user cannot be found"
    )


# --- empty values clear the field ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jira_type", "helpdesk_type", "empty", "cleared"),
    [
        ("text", "text", None, None),
        ("text", "text", "", None),
        ("textarea", "textarea", EMPTY_DOC, None),
        ("textarea", "text", {"type": "doc", "version": 1, "content": [{"type": "paragraph"}]}, None),
        ("select", "dropdown", None, None),
        ("priority", "priority", None, None),
        ("number", "number", None, None),
        ("date", "date", None, None),
        ("datetime", "date", "", None),
        ("user", "user", None, None),
        ("labels", "tags", [], []),
        ("labels", "tags", None, []),
        ("multiselect", "multiselect", [], []),
        ("multiselect", "multiselect", None, []),
    ],
)
def test_empty_values_clear_the_field(jira_type, helpdesk_type, empty, cleared):
    assert value(jira_type, helpdesk_type, empty) == cleared


def test_an_unknown_rule_is_refused_as_a_value_error():
    with pytest.raises(ValueError, match="unknown mapping rule 'label'"):
        helpdesk_value(rule="label", value="x", jira_type="text", helpdesk_type="text", value_map={})


# --- the Zendesk ticket update --------------------------------------------------------------------------------

zendesk = ZendeskProvider()


def test_zendesk_update_writes_system_fields_by_name():
    payload = zendesk.update_payload(
        "ticket",
        {"subject": "Printer on fire", "priority": "urgent", "type": "incident", "status": "open", "tags": ["vip"]},
    )
    assert payload == {
        "subject": "Printer on fire",
        "priority": "urgent",
        "type": "incident",
        "status": "open",
        "tags": ["vip"],
    }


def test_zendesk_update_puts_every_custom_field_in_one_list():
    payload = zendesk.update_payload(
        "ticket",
        {"custom_field:360001": "sev_critical", "subject": "S", "custom_field:360002": ["billing", "mobile"]},
    )
    assert payload == {
        "subject": "S",
        "custom_fields": [{"id": 360001, "value": "sev_critical"}, {"id": 360002, "value": ["billing", "mobile"]}],
    }


def test_zendesk_update_clears_with_null_and_replaces_tags_whole():
    payload = zendesk.update_payload("ticket", {"priority": None, "tags": None, "custom_field:7": None})
    assert payload == {"priority": None, "tags": [], "custom_fields": [{"id": 7, "value": None}]}


def test_zendesk_update_writes_a_group_only_by_id():
    assert zendesk.update_payload("ticket", {"group": "360000123"}) == {"group_id": 360000123}
    assert zendesk.update_payload("ticket", {"group": None}) == {"group_id": None}
    with pytest.raises(ValueNotMapped, match="Zendesk groups are written by id; 'Tier 2' is not a group id"):
        zendesk.update_payload("ticket", {"group": "Tier 2"})


def test_zendesk_update_refuses_the_assignee():
    with pytest.raises(ValueNotMapped, match=r"^The assignee cannot be written from Jira"):
        zendesk.update_payload("ticket", {"assignee": "agent@example.com"})


@pytest.mark.parametrize(
    "field_id",
    [
        "description",
        "requester.name",
        "requester.email",
        "organization.name",
        "ticket.url",
        "brand",
        "created_at",
        "updated_at",
    ],
)
def test_zendesk_update_refuses_read_only_ticket_fields(field_id):
    assert field_id in zendesk.readonly_fields("ticket")
    with pytest.raises(ValueNotMapped) as raised:
        zendesk.update_payload("ticket", {"subject": "S", field_id: "x"})
    assert str(raised.value) == TICKET_READONLY_REASONS[field_id] and str(raised.value).endswith("to Jira only.")


def test_zendesk_description_refusal_says_why():
    with pytest.raises(ValueNotMapped) as raised:
        zendesk.update_payload("ticket", {"description": "new text"})
    assert str(raised.value) == "Zendesk cannot change a ticket's description after it is created; map it to Jira only."


def test_zendesk_read_only_ticket_fields_are_exactly_those_it_cannot_write():
    assert zendesk.readonly_fields("ticket") == {
        "description",
        "requester.name",
        "requester.email",
        "organization.name",
        "ticket.url",
        "brand",
        "created_at",
        "updated_at",
        "assignee",
        "custom_status",
    }
    writable = {"subject": "S", "priority": None, "type": None, "status": "open", "tags": [], "group": None}
    assert set(zendesk.update_payload("ticket", writable)) == {
        "subject",
        "priority",
        "type",
        "status",
        "tags",
        "group_id",
    }


def test_zendesk_update_refuses_unknown_fields():
    for field_id in ("custom_field:abc", "custom_field:", "satisfaction", "custom_field:1.5"):
        with pytest.raises(
            ValueNotMapped, match=re.escape(f"Zendesk ticket field '{field_id}' cannot be written from Jira")
        ):
            zendesk.update_payload("ticket", {field_id: "x"})


@pytest.mark.parametrize(("helpdesk_object", "label"), [("user", "customers"), ("organization", "organizations")])
def test_zendesk_customers_and_organizations_are_never_written(helpdesk_object, label):
    assert {"name", "tags", "notes", "details", "created_at"} <= zendesk.readonly_fields(helpdesk_object)
    with pytest.raises(ValueNotMapped, match=f"Zendesk {label} are display-only; only tickets are written"):
        zendesk.update_payload(helpdesk_object, {"name": "Acme"})

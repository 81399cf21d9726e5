"""Rules checked when an SCI is saved through the configuration API, the standard preset, the
auto-create baseline, external ids, and which SCIs apply to an issue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from connector.selectors import items_for_issue
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.test_config_api import assert_error

pytestmark = pytest.mark.django_db

SUMMARY = {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira"}


def ticket_item(**overrides):
    body = {
        "name": "Escalations",
        "mode": "one_way",
        "jira_project": "SUP",
        "jira_issue_type_id": "10001",
        "helpdesk_object": "ticket",
        "mappings": [SUMMARY],
    }
    body.update(overrides)
    return body


def refused(bearer, body, code: str, field: str) -> dict:
    """The save is refused with this one problem: 400, the code, a field, and a message in the list."""
    response = bearer.post("/api/v1/items", body)
    error = assert_error(response, 400, code)
    assert [e["code"] for e in error["extra"]["errors"]] == [code]
    problem = error["extra"]["errors"][0]
    assert problem["field"] == field and problem["message"] == error["message"]
    assert error["extra"]["fields"] == {field: [error["message"]]}
    assert not ConnectedItem.objects.exists()
    return error


def saved(bearer, body) -> dict:
    response = bearer.post("/api/v1/items", body)
    assert response.status_code == 201, response.content
    return response.json()


# --- what may be synchronized --------------------------------------------------------------------------


@pytest.mark.parametrize(("helpdesk_object", "label"), [("user", "customers"), ("organization", "organizations")])
@pytest.mark.parametrize("mode", ["one_way", "two_way"])
def test_only_tickets_may_be_synchronized(bearer, connection, helpdesk_object, label, mode):
    error = refused(
        bearer, ticket_item(mode=mode, helpdesk_object=helpdesk_object, mappings=[]), "sync_requires_ticket", "mode"
    )
    assert "Only tickets can be synchronized" in error["message"] and f"{label} are display-only" in error["message"]


@pytest.mark.parametrize("helpdesk_object", ["user", "organization"])
def test_users_and_organizations_may_be_displayed(bearer, connection, helpdesk_object):
    body = saved(
        bearer, ticket_item(mode="display", helpdesk_object=helpdesk_object, mappings=[], display_fields=["name"])
    )
    assert body["item"]["mode"] == "display" and body["item"]["helpdesk_object"] == helpdesk_object


def test_synchronized_items_need_an_issue_type(bearer, connection):
    error = refused(bearer, ticket_item(jira_issue_type_id=""), "issue_type_required", "jira_issue_type_id")
    assert "need a Jira issue type" in error["message"]


def test_issue_type_must_belong_to_the_project(bearer, connection):
    error = refused(bearer, ticket_item(jira_issue_type_id="99999"), "issue_type_not_found", "jira_issue_type_id")
    assert "99999" in error["message"] and "SUP" in error["message"]


def test_display_only_items_have_no_sync_options(bearer, connection):
    error = refused(
        bearer, ticket_item(mode="display", mappings=[], auto_create=True), "display_only_options", "auto_create"
    )
    assert "Display-only items do not sync" in error["message"]


# --- create-field coverage -----------------------------------------------------------------------------


def test_auto_create_without_a_required_field_is_refused(bearer, connection):
    error = refused(
        bearer,
        ticket_item(auto_create=True, mappings=[{"helpdesk_field": "description", "jira_field": "description"}]),
        "missing_create_field_coverage",
        "mappings",
    )
    assert "Summary" in error["message"] and "switch auto-create off" in error["message"]
    assert "Reporter" not in error["message"]  # required but Jira has a default


def test_auto_create_checks_coverage_even_without_mappings(bearer, connection):
    refused(bearer, ticket_item(auto_create=True, mappings=[]), "missing_create_field_coverage", "mappings")


def test_missing_coverage_is_a_warning_when_auto_create_is_off(bearer, connection):
    body = saved(bearer, ticket_item(mappings=[{"helpdesk_field": "description", "jira_field": "description"}]))
    # (and Zendesk's: tickets created from the panel would need a subject)
    assert [w["code"] for w in body["warnings"]] == [
        "missing_create_field_coverage",
        "missing_helpdesk_create_field_coverage",
    ]
    assert "Summary" in body["warnings"][0]["message"] and "Auto-create would fail" in body["warnings"][0]["message"]


def test_a_jira_field_read_by_the_helpdesk_does_not_cover_creation(bearer, connection):
    back = {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_helpdesk"}
    error = refused(
        bearer,
        ticket_item(mode="two_way", auto_create=True, mappings=[back]),
        "missing_create_field_coverage",
        "mappings",
    )
    assert "Summary" in error["message"]


def test_required_custom_field_must_be_covered(bearer, connection, jira):
    jira.add_field("customfield_10095", "Customer tier", {"type": "string", "custom": "x:textfield"}, required=True)
    error = refused(bearer, ticket_item(auto_create=True), "missing_create_field_coverage", "mappings")
    assert "Customer tier" in error["message"]
    mapping = {"helpdesk_field": "requester.email", "jira_field": "customfield_10095"}
    warnings = saved(bearer, ticket_item(auto_create=True, mappings=[SUMMARY, mapping]))["warnings"]
    assert [w["code"] for w in warnings] == ["missing_helpdesk_create_field_coverage"]  # Jira's coverage is complete


# --- mapping rules -------------------------------------------------------------------------------------


def test_incompatible_types_are_refused(bearer, connection):
    mapping = {"helpdesk_field": "description", "jira_field": "customfield_10070"}
    error = refused(bearer, ticket_item(mappings=[SUMMARY, mapping]), "incompatible_mapping", "mappings[1]")
    assert error["message"] == "Description (textarea) cannot be written to Ticket count (number)."


def test_unknown_fields_are_refused(bearer, connection):
    error = refused(
        bearer,
        ticket_item(mappings=[SUMMARY, {"helpdesk_field": "subject", "jira_field": "customfield_99999"}]),
        "unknown_field",
        "mappings[1]",
    )
    assert "customfield_99999" in error["message"] and "create screen" in error["message"]


@pytest.fixture
def impact(zendesk):
    """A Zendesk drop-down with one option more than Jira's Severity select (Critical/Major/Minor)."""
    return zendesk.add_ticket_field(
        ZD_SUBDOMAIN, "Impact", "tagger", options=["Critical", "Major", "Minor", "Cosmetic"]
    )


def test_dropdown_to_select_needs_every_option_mapped(bearer, connection, impact):
    mapping = {"helpdesk_field": f"custom_field:{impact['id']}", "jira_field": "customfield_10050"}
    error = refused(bearer, ticket_item(mappings=[SUMMARY, mapping]), "unmapped_options", "mappings[1]")
    assert "Impact" in error["message"] and "Severity" in error["message"]
    assert error["message"].endswith("unmapped: Cosmetic.")

    mapping["value_map"] = {"cosmetic": "10102"}
    item = saved(bearer, ticket_item(mappings=[SUMMARY, mapping]))["item"]
    assert item["mappings"][1]["value_map"] == {
        "critical": "10100",
        "major": "10101",
        "minor": "10102",
        "cosmetic": "10102",
    }


def test_value_map_to_a_value_jira_does_not_allow_is_refused(bearer, connection, impact):
    mapping = {
        "helpdesk_field": f"custom_field:{impact['id']}",
        "jira_field": "customfield_10050",
        "value_map": {"cosmetic": "Trivial"},
    }
    error = refused(bearer, ticket_item(mappings=[SUMMARY, mapping]), "invalid_option", "mappings[1]")
    assert "cosmetic → Trivial" in error["message"] and "Severity" in error["message"]


def test_same_jira_field_targeted_twice_is_refused(bearer, connection):
    twice = {"helpdesk_field": "requester.name", "jira_field": "summary"}
    error = refused(bearer, ticket_item(mappings=[SUMMARY, twice]), "duplicate_jira_target", "mappings[1]")
    assert "Summary is already the target of another mapping" in error["message"]


def test_helpdesk_field_written_in_both_directions_is_refused(bearer, connection):
    from_jira = {"helpdesk_field": "subject", "jira_field": "customfield_10060", "direction": "to_helpdesk"}
    error = refused(
        bearer, ticket_item(mode="two_way", mappings=[SUMMARY, from_jira]), "conflicting_directions", "mappings[0]"
    )
    assert "Subject would be written in both directions" in error["message"]


def test_jira_field_synchronized_both_ways_is_a_direction_conflict(bearer, connection):
    """subject → summary and summary → subject: the pair would be written back and forth."""
    back = {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_helpdesk"}
    error = refused(
        bearer, ticket_item(mode="two_way", mappings=[SUMMARY, back]), "conflicting_directions", "mappings[1]"
    )
    assert "both directions" in error["message"] and "Summary" in error["message"]


def test_jira_to_helpdesk_needs_a_two_way_item(bearer, connection):
    back = {"helpdesk_field": "tags", "jira_field": "labels", "direction": "to_helpdesk"}
    error = refused(bearer, ticket_item(mappings=[SUMMARY, back]), "direction_not_allowed", "mappings[1]")
    assert "needs a two-way item" in error["message"]
    two_way = saved(bearer, ticket_item(mode="two_way", mappings=[SUMMARY, back]))["item"]
    assert [m["direction"] for m in two_way["mappings"]] == ["to_jira", "to_helpdesk"]


@pytest.mark.parametrize(
    ("helpdesk_field", "jira_field", "reason"),
    [
        ("description", "description", "Zendesk cannot change a ticket's description after it is created"),
        ("requester.email", "customfield_10060", "The requester's email belongs to their Zendesk user profile"),
        ("assignee", "assignee", "The assignee cannot be written from Jira"),
    ],
)
def test_jira_cannot_write_a_read_only_helpdesk_field(bearer, connection, helpdesk_field, jira_field, reason):
    back = {"helpdesk_field": helpdesk_field, "jira_field": jira_field, "direction": "to_helpdesk"}
    error = refused(bearer, ticket_item(mode="two_way", mappings=[SUMMARY, back]), "field_not_writable", "mappings[1]")
    assert error["message"].startswith(reason) and error["message"].endswith("map it to Jira only.")
    # The same pair towards Jira is fine.
    item = saved(bearer, ticket_item(mode="two_way", mappings=[SUMMARY, {**back, "direction": "to_jira"}]))["item"]
    assert [(m["helpdesk_field"], m["jira_field"], m["direction"]) for m in item["mappings"]][1] == (
        helpdesk_field,
        jira_field,
        "to_jira",
    )


def test_every_problem_is_reported_at_once(bearer, connection):
    saved(bearer, ticket_item())
    body = ticket_item(helpdesk_object="user", jira_issue_type_id="", mappings=[])
    error = assert_error(bearer.post("/api/v1/items", body), 400, "item_invalid")
    assert [(e["code"], e["field"]) for e in error["extra"]["errors"]] == [
        ("name_taken", "name"),
        ("sync_requires_ticket", "mode"),
        ("issue_type_required", "jira_issue_type_id"),
    ]
    assert error["message"].startswith("Another item is already named 'Escalations'")
    assert error["message"].endswith("(and 2 more problems)")
    assert set(error["extra"]["fields"]) == {"name", "mode", "jira_issue_type_id"}
    assert ConnectedItem.objects.count() == 1


def test_unknown_auto_create_condition_is_refused(bearer, connection):
    body = assert_error(
        bearer.post("/api/v1/items", ticket_item(auto_create_conditions={"colour": ["red"]})), 400, "validation_failed"
    )
    assert "Unknown conditions: colour" in str(body["extra"]["fields"])


# --- the standard preset -------------------------------------------------------------------------------


def test_standard_preset(bearer, connection, jira):
    response = bearer.get("/api/v1/items/preset?project=SUP&issue_type=10001")
    assert response.status_code == 200, response.content
    ids = {p["name"]: p["id"] for p in jira.priorities}
    assert response.json() == [
        {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
        {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira", "value_map": {}},
        {
            "helpdesk_field": "priority",
            "jira_field": "priority",
            "direction": "to_jira",
            "value_map": {"low": ids["Low"], "normal": ids["Medium"], "high": ids["High"], "urgent": ids["Highest"]},
        },
        {"helpdesk_field": "tags", "jira_field": "labels", "direction": "to_jira", "value_map": {}},
    ]


def test_preset_needs_project_and_issue_type(bearer, connection):
    body = assert_error(bearer.get("/api/v1/items/preset?project=SUP"), 400, "validation_failed")
    assert set(body["extra"]["fields"]) == {"issue_type"} and "issue_type=" in body["message"]


def test_preset_adds_chosen_text_fields_and_saves_as_is(bearer, connection):
    preset = bearer.get(
        "/api/v1/items/preset?project=SUP&issue_type=10001&requester_email_field=customfield_10060"
    ).json()
    assert preset[-1] == {
        "helpdesk_field": "requester.email",
        "jira_field": "customfield_10060",
        "direction": "to_jira",
        "value_map": {},
    }
    body = saved(bearer, ticket_item(auto_create=True, mappings=preset))
    assert body["warnings"] == []
    assert [(m["helpdesk_field"], m["jira_field"]) for m in body["item"]["mappings"]] == [
        (m["helpdesk_field"], m["jira_field"]) for m in preset
    ]


def test_preset_leaves_out_fields_not_on_the_create_screen(bearer, connection, jira):
    jira.set_create_fields(
        "SUP",
        "10002",
        [{"key": "summary", "name": "Summary", "required": True, "schema": {"type": "string", "system": "summary"}}],
    )
    preset = bearer.get("/api/v1/items/preset?project=SUP&issue_type=10002").json()
    assert [m["jira_field"] for m in preset] == ["summary"]


# --- auto-create baseline and external id --------------------------------------------------------------


def test_auto_create_baseline_is_set_when_auto_create_is_switched_on(bearer, connection):
    before = timezone.now()
    off = saved(bearer, ticket_item())["item"]
    assert off["auto_create_baseline"] is None

    on = bearer.patch(f"/api/v1/items/{off['id']}", {"auto_create": True}).json()["item"]
    item = ConnectedItem.objects.get(pk=off["id"])
    assert on["auto_create"] is True and item.auto_create_baseline is not None
    assert before <= item.auto_create_baseline <= timezone.now()

    # saving again with auto-create still on keeps the moment it was switched on
    ConnectedItem.objects.filter(pk=item.pk).update(auto_create_baseline=before - timedelta(days=3))
    bearer.patch(f"/api/v1/items/{off['id']}", {"comment_sync": True})
    assert ConnectedItem.objects.get(pk=item.pk).auto_create_baseline == before - timedelta(days=3)

    bearer.patch(f"/api/v1/items/{off['id']}", {"auto_create": False})
    assert ConnectedItem.objects.get(pk=item.pk).auto_create_baseline is None


def test_item_created_with_auto_create_has_a_baseline(bearer, connection):
    item = saved(bearer, ticket_item(auto_create=True))["item"]
    assert item["auto_create_baseline"] is not None


def test_external_ids_are_stable_and_distinct(bearer, connection):
    first = saved(bearer, ticket_item())["item"]
    second = saved(bearer, ticket_item(name="Bugs", jira_issue_type_id="10002"))["item"]
    assert first["external_id"] and second["external_id"] and first["external_id"] != second["external_id"]
    renamed = bearer.patch(f"/api/v1/items/{first['id']}", {"name": "Escalated tickets"}).json()["item"]
    assert renamed["external_id"] == first["external_id"]


# --- which SCIs apply to an issue ----------------------------------------------------------------------


def test_items_for_issue(bearer, tenant, connection, jira):
    jira.add_project("OPS", "Operations")
    saved(bearer, ticket_item(name="Customers", mode="display", helpdesk_object="user", mappings=[]))
    saved(bearer, ticket_item(name="Task tickets", jira_issue_type_id="10001"))
    saved(bearer, ticket_item(name="Bug tickets", mode="two_way", jira_issue_type_id="10002"))
    saved(
        bearer,
        ticket_item(name="Ops customers", mode="display", helpdesk_object="user", jira_project="OPS", mappings=[]),
    )
    sup, ops = "10000", "10001"

    def names(project_id, issue_type_id):
        return [i.name for i in items_for_issue(tenant=tenant, project_id=project_id, issue_type_id=issue_type_id)]

    assert names(sup, "10001") == ["Customers", "Task tickets"]
    assert names(sup, "10002") == ["Bug tickets", "Customers"]
    assert names(sup, "10003") == ["Customers"]  # display-only applies to every issue type of its project
    assert names(ops, "10001") == ["Ops customers"]
    assert names(sup, 10001) == ["Customers", "Task tickets"]  # ids as Jira sends them in JSON

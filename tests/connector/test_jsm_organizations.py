"""Jira Service Management's Organizations field (custom type ``com.atlassian.servicedesk:sd-customer-organizations``):
typed "organizations" by the schema, read towards the helpdesk as the organizations' names (text, multi-line text,
tags), never written from the helpdesk (Jira takes only its own organization ids) and refused with a reason for
pairs that cannot work; its value through ``helpdesk_value`` and ``sync.create._organization_name``; and the fake
Jira honouring the field's real shape."""

from __future__ import annotations

import pytest
from django.utils import timezone

from connector.clients.base import ApiBadRequest
from connector.clients.jira import JiraClient
from connector.errors import ItemInvalid
from connector.mapping import (
    TO_HELPDESK,
    TO_JIRA,
    TYPES,
    ValueNotMapped,
    helpdesk_value,
    jira_value,
    organization_names,
    refusal_reason,
    rule_for,
)
from connector.models import ConnectedItem
from connector.schema import jira_create_fields, jira_field_type, jira_fields
from connector.services.items import ItemSpec, connected_item_check
from demo.fakes.jira import JSM_ORGANIZATIONS_FIELD, JSM_ORGANIZATIONS_SCHEMA
from sync.create import _organization_name, record_create_for_issue
from sync.push import issue_events_process
from tenants.descriptor import build_descriptor
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import make_item, raw_link

ORGS = JSM_ORGANIZATIONS_FIELD
# A value as Jira REST v3 returns it on an issue (recorded in https://github.com/AtlassianPS/JiraPS/issues/434)
RECORDED = [
    {
        "id": "27",
        "name": "LoremIpsum Corp",
        "_links": {"self": "https://your-domain.atlassian.net/rest/servicedeskapi/organization/27"},
    },
    {
        "id": "31",
        "name": "Globex Corporation",
        "_links": {"self": "https://your-domain.atlassian.net/rest/servicedeskapi/organization/31"},
    },
]
HELPDESK_TYPES = ("text", "textarea", "dropdown", "multiselect", "tags", "number", "date", "checkbox", "user")


def to_helpdesk(value, helpdesk_type="text"):
    return helpdesk_value(
        rule=TO_HELPDESK[("organizations", helpdesk_type)],
        value=value,
        jira_type="organizations",
        helpdesk_type=helpdesk_type,
        value_map={},
    )


# --- the schema -----------------------------------------------------------------------------------------------


def test_the_organizations_custom_type_is_typed_organizations():
    assert "organizations" in TYPES
    schema = {**JSM_ORGANIZATIONS_SCHEMA, "customId": 10002}
    assert jira_field_type(schema) == "organizations"


@pytest.mark.django_db
def test_the_fake_sites_field_list_offers_it_and_a_create_screen_carries_it_typed(tenant, jira, project):
    listed = {f["id"]: f for f in jira_fields(tenant=tenant)}
    assert (listed[ORGS]["label"], listed[ORGS]["type"]) == ("Organizations", "organizations")
    screen = {f["id"] for f in jira_create_fields(tenant=tenant, project="SUP", issue_type_id="10001")}
    assert ORGS not in screen  # a software project's create screen has no Organizations

    jira.add_field(ORGS, "Organizations", JSM_ORGANIZATIONS_SCHEMA)  # a service project's screen has it
    screen = {f["id"]: f for f in jira_create_fields(tenant=tenant, project="SUP", issue_type_id="10001", refresh=True)}
    assert screen[ORGS]["type"] == "organizations" and not screen[ORGS]["system"]


# --- the mapping rules ------------------------------------------------------------------------------------------


def test_organizations_reach_helpdesk_text_and_tags_as_names():
    for helpdesk_type in ("text", "textarea", "tags"):
        assert rule_for("to_helpdesk", helpdesk_type, "organizations") == "names"
        assert refusal_reason("to_helpdesk", helpdesk_type, "organizations") == ""


@pytest.mark.parametrize("helpdesk_type", ["dropdown", "multiselect"])
def test_an_option_field_is_refused_because_the_organizations_cannot_be_paired_with_its_options(helpdesk_type):
    assert rule_for("to_helpdesk", helpdesk_type, "organizations") is None
    reason = refusal_reason("to_helpdesk", helpdesk_type, "organizations")
    assert "cannot list Jira Service Management's organizations" in reason
    assert reason.endswith("map the organizations to a text field or tags instead.")


@pytest.mark.parametrize("helpdesk_type", ["number", "date", "checkbox", "user", "priority"])
def test_other_helpdesk_types_are_refused_saying_the_organizations_are_names(helpdesk_type):
    assert rule_for("to_helpdesk", helpdesk_type, "organizations") is None
    assert refusal_reason("to_helpdesk", helpdesk_type, "organizations") == (
        "Jira Service Management's organizations reach the helpdesk as their names: map them to a text field or tags."
    )


@pytest.mark.parametrize("helpdesk_type", HELPDESK_TYPES)
def test_no_helpdesk_value_is_written_to_organizations_because_jira_takes_only_its_own_ids(helpdesk_type):
    assert rule_for("to_jira", helpdesk_type, "organizations") is None
    assert all(jira_type != "organizations" for _, jira_type in TO_JIRA)
    assert refusal_reason("to_jira", helpdesk_type, "organizations", brand="Zendesk") == (
        "Jira Service Management sets Organizations only by its own organization ids, which a Zendesk value does "
        "not carry; map it to a Jira text field instead."
    )


def test_pairs_without_organizations_keep_no_reason():
    assert refusal_reason("to_jira", "tags", "multiselect") == ""  # refused, nothing more to say here
    assert refusal_reason("to_helpdesk", "dropdown", "number") == ""
    assert refusal_reason("to_jira", "text", "text") == ""  # allowed


# --- the value (Jira → helpdesk) --------------------------------------------------------------------------------


def test_every_organization_name_reaches_a_text_field_in_jiras_order():
    assert to_helpdesk(RECORDED) == "LoremIpsum Corp, Globex Corporation"
    assert to_helpdesk(RECORDED, "textarea") == "LoremIpsum Corp, Globex Corporation"
    assert to_helpdesk(RECORDED[1:]) == "Globex Corporation"


def test_organization_names_become_zendesk_tags():
    assert to_helpdesk(RECORDED, "tags") == ["loremipsum_corp", "globex_corporation"]


def test_no_organization_clears_the_field():
    assert to_helpdesk([]) is None
    assert to_helpdesk(None) is None
    assert to_helpdesk([], "tags") == []
    assert to_helpdesk([{"id": "5", "name": "  "}]) is None  # nothing with a name


def test_names_are_trimmed_and_each_taken_once():
    value = [{"id": "1", "name": " Initech\n Ltd "}, {"id": "2", "name": "Initech Ltd"}, {"id": "3"}]
    assert organization_names(value) == ["Initech Ltd"]
    assert to_helpdesk(value) == "Initech Ltd"


def test_a_stale_mapping_read_as_copy_is_not_written_as_a_python_list():
    # push and sync fall back to "copy" for a pair without a rule: the organizations must not reach the helpdesk so
    with pytest.raises(ValueNotMapped, match="cannot list Jira Service Management's organizations"):
        helpdesk_value(rule="copy", value=RECORDED, jira_type="organizations", helpdesk_type="dropdown", value_map={})
    with pytest.raises(ValueNotMapped, match="reach the helpdesk as their names"):
        helpdesk_value(rule="copy", value=RECORDED, jira_type="organizations", helpdesk_type="number", value_map={})


def test_a_stale_mapping_towards_organizations_sends_jira_nothing():
    with pytest.raises(ValueNotMapped, match="only by its own organization ids"):
        jira_value(rule="copy", value="Globex Corporation", jira_type="organizations", value_map={})


def test_the_organization_rule_reads_the_first_organizations_name():
    assert _organization_name(RECORDED) == "LoremIpsum Corp"
    assert _organization_name([]) == ""
    assert _organization_name(None) == ""


# --- saving an item ---------------------------------------------------------------------------------------------


@pytest.fixture
def service_project(jira, project):
    """SUP's create screens carry Organizations, as a service project's request types do."""
    jira.add_field(ORGS, "Organizations", JSM_ORGANIZATIONS_SCHEMA)
    return project


def spec(*mappings, mode=ConnectedItem.Mode.TWO_WAY):
    return ItemSpec(
        name="Requests",
        mode=mode,
        jira_project="SUP",
        helpdesk_object="ticket",
        jira_issue_type_id="10001",
        mappings=[{"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira"}, *mappings],
    )


@pytest.mark.django_db
def test_an_item_maps_organizations_to_a_helpdesk_text_field(tenant, connection, zendesk, service_project):
    field = zendesk.add_ticket_field(ZD_SUBDOMAIN, "Jira organizations", "text")
    mapping = {"helpdesk_field": f"custom_field:{field['id']}", "jira_field": ORGS, "direction": "to_helpdesk"}
    checked = connected_item_check(tenant=tenant, connection=connection, spec=spec(mapping))
    assert [(m["jira_field"], m["direction"]) for m in checked.mappings][-1] == (ORGS, "to_helpdesk")


@pytest.mark.django_db
def test_an_item_writing_organizations_from_the_helpdesk_is_refused(tenant, connection, zendesk, service_project):
    field = zendesk.add_ticket_field(ZD_SUBDOMAIN, "Customer name", "text")
    mapping = {"helpdesk_field": f"custom_field:{field['id']}", "jira_field": ORGS, "direction": "to_jira"}
    with pytest.raises(ItemInvalid) as refused:
        connected_item_check(tenant=tenant, connection=connection, spec=spec(mapping))
    [problem] = [e for e in refused.value.extra["errors"] if e["field"] == "mappings[1]"]
    assert problem["code"] == "incompatible_mapping"
    assert problem["message"] == (
        "Customer name (text) cannot be written to Organizations (organizations). Jira Service Management sets "
        "Organizations only by its own organization ids, which a Zendesk value does not carry; map it to a Jira text "
        "field instead."
    )


# --- the fake Jira honours the field ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_fake_returns_organizations_as_jira_does(tenant, jira, project):
    issue = jira.add_issue(key="SUP-1", **{ORGS: jira.organizations_value("Globex Corporation", "Initech")})
    value = JiraClient(tenant).issue_get(issue["id"], fields=[ORGS])["fields"][ORGS]
    assert [(o["id"], o["name"]) for o in value] == [("1", "Globex Corporation"), ("2", "Initech")]
    assert value[0]["_links"] == {"self": f"{jira.url}/rest/servicedeskapi/organization/1"}
    assert _organization_name(value) == "Globex Corporation"
    assert jira.add_jsm_organization("Initech")["id"] == "2"  # a taken name is the existing organization


def test_the_fake_sets_organizations_only_from_numeric_ids(jira):
    jira.add_project("SUP", "Support")
    globex = jira.add_jsm_organization("Globex Corporation")
    issue = jira.add_issue(key="SUP-1")
    for refused, message in (
        ([{"id": 1}], "Operation value must be a number at array index 0"),
        ([True], "Operation value must be a number at array index 0"),
        (["Globex Corporation"], "Operation value must be a number at array index 0"),
        ([1, "2"], "Operation value must be a number at array index 1"),
        ([99], "Organization with id '99' does not exist."),
    ):
        with pytest.raises(ValueError) as error:
            jira.user_edit(issue, {ORGS: refused})
        assert error.value.args[0] == {ORGS: message}
        assert ORGS not in jira.issues[issue["id"]]["fields"]  # nothing changed
    jira.user_edit(issue, {ORGS: [int(globex["id"])]})
    assert jira.issues[issue["id"]]["fields"][ORGS] == [globex]
    jira.user_edit(issue, {ORGS: []})
    assert jira.issues[issue["id"]]["fields"][ORGS] == []


@pytest.mark.django_db
def test_the_fake_creates_an_issue_with_organization_ids_only(tenant, jira, project):
    jira.add_field(ORGS, "Organizations", JSM_ORGANIZATIONS_SCHEMA)
    initech = jira.add_jsm_organization("Initech")
    base = {"project": {"key": "SUP"}, "issuetype": {"id": "10001"}, "summary": "Printer on fire"}
    with pytest.raises(ApiBadRequest) as refused:
        JiraClient(tenant).issue_create({**base, ORGS: [{"id": initech["id"]}]})
    assert refused.value.message.endswith(f"{ORGS}: Operation value must be a number at array index 0")
    assert not jira.created
    made = JiraClient(tenant).issue_create({**base, ORGS: [int(initech["id"])]})
    assert jira.issues[made["id"]]["fields"][ORGS] == [initech]


# --- end to end: a request's organizations reach Zendesk ----------------------------------------------------------


@pytest.mark.django_db
def test_a_requests_organizations_reach_the_linked_ticket_and_name_a_created_tickets_organization(
    client, settings, tenant, connection, jira, zendesk, service_project
):
    settings.SYNC_RECONCILE_GRACE_SECONDS = 0
    field = zendesk.add_ticket_field(ZD_SUBDOMAIN, "Jira organizations", "text")
    target = f"custom_field:{field['id']}"
    item = make_item(
        tenant,
        connection,
        name="Requests",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_helpdesk", "value_map": {}},
            {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira", "value_map": {}},
            {"helpdesk_field": target, "jira_field": ORGS, "direction": "to_helpdesk", "value_map": {}},
        ],
    )
    # the organization rule reads the same field (set directly: the save check is the lead's ORGANIZATION_NAME_TYPES)
    item.organization_rule, item.organization_field, item.organization_missing = "name", ORGS, "none"
    item.save()
    globex = zendesk.add_organization(ZD_SUBDOMAIN, name="Globex Corporation")
    request = jira.add_issue(
        key="SUP-1",
        summary="Printer on fire",
        description="It broke",
        reporter={"accountId": "rita-1", "displayName": "Rita", "emailAddress": "rita@globex.test"},
        **{ORGS: jira.organizations_value("Globex Corporation", "Initech")},
    )
    result = record_create_for_issue(tenant=tenant, item=item, issue_id=request["id"], actor="tester")
    created = zendesk.accounts[ZD_SUBDOMAIN].tickets[int(result.record_id)]
    assert created["organization_id"] == globex["id"]  # the first organization names the ticket's
    assert {"id": field["id"], "value": "Globex Corporation, Initech"} in created["custom_fields"]

    # a later change of the request's organizations reaches a linked ticket through Jira's webhook
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire", status="open")
    other = jira.add_issue(key="SUP-2", summary="Printer on fire")
    raw_link(tenant, item, other["id"], ticket["id"], key="SUP-2", created_at=timezone.now())
    jira.webhooks_subscribe(build_descriptor())
    jira.webhooks_hold()
    initech = jira.add_jsm_organization("Initech")
    jira.user_edit(other, {ORGS: [int(initech["id"])]})
    for delivery in jira.webhooks_take():
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in delivery["headers"].items()}
        headers.pop("HTTP_CONTENT_TYPE", None)
        response = client.post(delivery["path"], data=delivery["body"], content_type="application/json", **headers)
        assert response.status_code == 204, response.content
    assert issue_events_process(tenant_id=tenant.pk, issue_id=str(other["id"])).startswith("done")
    stored = zendesk.accounts[ZD_SUBDOMAIN].tickets[ticket["id"]]
    assert {"id": field["id"], "value": "Initech"} in stored["custom_fields"]

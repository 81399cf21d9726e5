"""An item's settings for creating helpdesk records from Jira (requester and organization rules and their
defaults, the Zoho field carrying a record's Jira origin, auto-create from Jira with its JQL) and the save
checks that come with them (required create fields, multi-value fields), through the configuration API, the
Deskbridge admin page and the Django admin."""

from __future__ import annotations

import html
import re
from datetime import datetime

import pytest
from django.utils import timezone

from connector.creation import create_sources
from connector.models import ConnectedItem, FieldMapping
from connector.schema import schema_cache_clear
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.conftest import AdminPage, _Forms, checked, field_errors, input_value, page_text, selected
from tests.panel.test_config_api import assert_error

pytestmark = pytest.mark.django_db

SUBJECT = {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira"}
DESCRIPTION = {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira"}
DEFAULTS = {
    "create_from_jira": False,
    "create_jql": "",
    "create_from_jira_baseline": None,
    "requester_field": "reporter",
    "requester_rule": "match_or_create",
    "default_requester_id": "",
    "default_requester_label": "",
    "organization_rule": "none",
    "organization_field": "",
    "organization_missing": "none",
    "default_organization_id": "",
    "default_organization_label": "",
    "record_tag_field": "",
}


def ticket_item(**overrides):
    body = {
        "name": "Support tickets",
        "mode": "two_way",
        "jira_project": "SUP",
        "jira_issue_type_id": "10001",
        "helpdesk_object": "ticket",
        "mappings": [SUBJECT, DESCRIPTION],
    }
    body.update(overrides)
    return body


def refused(bearer, body, code: str, field: str) -> dict:
    """The save is refused with this one problem (400, its code and field), and nothing is saved."""
    error = assert_error(bearer.post("/api/v1/items", body), 400, code)
    assert [(e["code"], e["field"]) for e in error["extra"]["errors"]] == [(code, field)], error
    assert not ConnectedItem.objects.exists()
    return error


def saved(bearer, body) -> dict:
    response = bearer.post("/api/v1/items", body)
    assert response.status_code == 201, response.content
    return response.json()


def settings_of(item: dict) -> dict:
    return {key: item[key] for key in DEFAULTS}


@pytest.fixture
def dana(zendesk, connection):
    return zendesk.add_user(ZD_SUBDOMAIN, name="Dana Default", email="dana@customer.test")


@pytest.fixture
def customer_inc(zendesk, connection):
    return zendesk.add_organization(ZD_SUBDOMAIN, name="Customer Inc")


# --- the settings in the configuration API ------------------------------------------------------------


def test_settings_are_saved_checked_and_returned(bearer, jira, dana, customer_inc):
    before = timezone.now()
    body = saved(
        bearer,
        ticket_item(
            create_from_jira=True,
            create_jql="project = SUP",
            requester_field="assignee",
            requester_rule="match_or_default",
            default_requester_id=str(dana["id"]),
            organization_rule="name",
            organization_field="customfield_10060",
            organization_missing="default",
            default_organization_id=f" {customer_inc['id']} ",
        ),
    )
    assert body["warnings"] == []
    item = body["item"]
    baseline = item.pop("create_from_jira_baseline")
    assert {k: item[k] for k in DEFAULTS if k != "create_from_jira_baseline"} == {
        "create_from_jira": True,
        "create_jql": "project = SUP",
        "requester_field": "assignee",
        "requester_rule": "match_or_default",
        "default_requester_id": str(dana["id"]),
        "default_requester_label": "Dana Default <dana@customer.test>",
        "organization_rule": "name",
        "organization_field": "customfield_10060",
        "organization_missing": "default",
        "default_organization_id": str(customer_inc["id"]),
        "default_organization_label": "Customer Inc",
        "record_tag_field": "",
    }
    assert before <= datetime.fromisoformat(baseline) <= timezone.now()  # created on: issues from now on
    again = bearer.get(f"/api/v1/items/{item['id']}").json()
    assert again["default_requester_label"] == "Dana Default <dana@customer.test>"
    # Jira checked the JQL, strictly
    (parse,) = jira.calls("POST", r"/rest/api/3/jql/parse$")
    assert parse.arg("validation") == "strict" and parse.json() == {"queries": ["project = SUP"]}


def test_an_item_given_none_of_them_has_the_defaults(bearer, connection):
    assert settings_of(saved(bearer, ticket_item())["item"]) == DEFAULTS
    display = {"name": "People", "mode": "display", "jira_project": "SUP", "helpdesk_object": "user"}
    assert settings_of(saved(bearer, display)["item"]) == DEFAULTS


def test_a_default_requester_without_an_email_is_shown_by_name(bearer, zendesk, connection):
    nameless = zendesk.add_user(ZD_SUBDOMAIN, name="Front Desk")
    item = saved(bearer, ticket_item(default_requester_id=str(nameless["id"])))["item"]
    assert item["default_requester_label"] == "Front Desk"


def test_switching_creation_on_sets_the_baseline_and_off_clears_it(bearer, connection):
    item = saved(bearer, ticket_item())["item"]
    assert item["create_from_jira_baseline"] is None
    before = timezone.now()
    on = bearer.patch(f"/api/v1/items/{item['id']}", {"create_from_jira": True}).json()["item"]
    baseline = on["create_from_jira_baseline"]
    assert before <= datetime.fromisoformat(baseline) <= timezone.now()
    # another change keeps it: issues created in between are not forgotten
    renamed = bearer.patch(f"/api/v1/items/{item['id']}", {"name": "Renamed"}).json()["item"]
    assert renamed["create_from_jira_baseline"] == baseline
    off = bearer.patch(f"/api/v1/items/{item['id']}", {"create_from_jira": False}).json()["item"]
    assert off["create_from_jira"] is False and off["create_from_jira_baseline"] is None
    assert ConnectedItem.objects.get().create_from_jira_baseline is None


def test_unknown_rule_values_are_refused_by_the_api(bearer, connection):
    error = assert_error(bearer.post("/api/v1/items", ticket_item(requester_rule="guess")), 400, "validation_failed")
    assert "requester_rule" in error["extra"]["fields"]


# --- which items may create records -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("create_from_jira", True, "switch create_from_jira off"),
        ("requester_rule", "match_or_default", "leave requester_rule at its default"),
        ("record_tag_field", "name", "leave record_tag_field at its default"),
    ],
)
def test_display_only_items_create_nothing(bearer, connection, setting, value, words):
    body = {"name": "People", "mode": "display", "jira_project": "SUP", "helpdesk_object": "user", setting: value}
    error = refused(bearer, body, "create_settings_unused", setting)
    assert (
        error["message"] == f"Display-only items create no Zendesk records from Jira; {words}, or choose a sync mode."
    )


def test_every_setting_without_meaning_is_named(bearer, connection):
    body = {
        "name": "People",
        "mode": "display",
        "jira_project": "SUP",
        "helpdesk_object": "user",
        "create_from_jira": True,
        "create_jql": "project = SUP",
        "organization_rule": "domain",
    }
    error = refused(bearer, body, "create_settings_unused", "create_from_jira")
    assert "switch create_from_jira off and leave create_jql, organization_rule at their defaults" in error["message"]


# --- required create fields ------------------------------------------------------------------------------


def test_creating_from_jira_needs_the_required_fields_mapped(bearer, connection):
    error = refused(
        bearer,
        ticket_item(create_from_jira=True, mappings=[SUBJECT]),
        "missing_helpdesk_create_field_coverage",
        "mappings",
    )
    assert error["message"] == (
        "Missing Zendesk create-field coverage: Description is required to create tickets and not mapped from Jira. "
        "Map them, give them a value for new records, or switch creating records from Jira off."
    )


def test_without_creation_from_jira_missing_fields_are_a_warning(bearer, connection):
    body = saved(bearer, ticket_item(mode="one_way", mappings=[]))
    codes = [w["code"] for w in body["warnings"]]
    assert "missing_helpdesk_create_field_coverage" in codes
    warning = next(w for w in body["warnings"] if w["code"] == "missing_helpdesk_create_field_coverage")
    assert warning["message"] == (
        "Missing Zendesk create-field coverage: Subject, Description are required to create tickets and not mapped "
        "from Jira. Users creating tickets from the issue panel will have to fill them in."
    )


def test_a_jira_to_helpdesk_mapping_covers_a_required_field(bearer, connection):
    back = {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_helpdesk"}
    body = saved(bearer, ticket_item(create_from_jira=True, mappings=[back, DESCRIPTION]))
    # the issue's summary is not written from the ticket now: Jira's own coverage warns, creation is covered
    assert [w["code"] for w in body["warnings"]] == ["missing_create_field_coverage"]


def test_creation_sources_are_the_mappings_that_can_go_to_the_helpdesk():
    mappings = [
        FieldMapping(helpdesk_field="priority", jira_field="priority", direction="to_jira", value_map={"low": "4"}),
        {"helpdesk_field": "type", "jira_field": "customfield_10060", "direction": "to_jira"},  # a label: no way back
        {"helpdesk_field": "ticket.url", "jira_field": "customfield_10061", "direction": "to_jira"},
        {"helpdesk_field": "priority", "jira_field": "customfield_10050", "direction": "to_helpdesk", "value_map": {}},
        {"helpdesk_field": "custom_field:7", "jira_field": "customfield_10062", "direction": "to_helpdesk"},
    ]
    sources = create_sources(
        mappings,
        helpdesk_types={"priority": "priority", "type": "dropdown", "ticket.url": "text"},
        jira_types={"priority": "priority", "customfield_10060": "text", "customfield_10050": "priority"},
        readonly={"ticket.url"},
    )
    assert [(s.helpdesk_field, s.jira_field, s.rule, s.reversed, s.value_map) for s in sources] == [
        ("priority", "customfield_10050", "priority", False, {}),  # towards the helpdesk first
        ("custom_field:7", "customfield_10062", "copy", False, {}),  # types unknown: text
        ("priority", "priority", "priority", True, {"4": "low"}),  # read backwards
    ]


# --- multi-value fields --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["tags to text", "labels to text", "jira multi-select to drop-down", "multi-select to select"]
)
def test_a_multi_value_field_mapped_to_a_single_value_field_is_refused_with_the_reason(
    bearer, zendesk, connection, case
):
    product = f"custom_field:{zendesk.add_ticket_field(ZD_SUBDOMAIN, 'Product', 'text')['id']}"
    impact = f"custom_field:{zendesk.add_ticket_field(ZD_SUBDOMAIN, 'Impact', 'tagger', options=['Minor'])['id']}"
    areas = f"custom_field:{zendesk.add_ticket_field(ZD_SUBDOMAIN, 'Areas', 'multiselect', options=['Web'])['id']}"
    mapping, words = {
        "tags to text": (
            {"helpdesk_field": "tags", "jira_field": "customfield_10060"},
            ("Tags", "tags", "Customer email", "text"),
        ),
        "labels to text": (
            {"helpdesk_field": product, "jira_field": "labels", "direction": "to_helpdesk"},
            ("Labels", "labels", "Product", "text"),
        ),
        "jira multi-select to drop-down": (
            {"helpdesk_field": impact, "jira_field": "customfield_10051", "direction": "to_helpdesk"},
            ("Components affected", "multiselect", "Impact", "dropdown"),
        ),
        "multi-select to select": (
            {"helpdesk_field": areas, "jira_field": "customfield_10050"},
            ("Areas", "multiselect", "Severity", "select"),
        ),
    }[case]
    error = refused(
        bearer, ticket_item(mappings=[SUBJECT, DESCRIPTION, mapping]), "incompatible_mapping", "mappings[2]"
    )
    source, source_type, target, target_type = words
    assert error["message"] == (
        f"{source} ({source_type}) cannot be written to {target} ({target_type}). {source} holds several values and "
        f"{target} holds one, so all but one would be lost; map it to a multi-select field, labels or tags."
    )


def test_two_multi_value_fields_of_types_that_do_not_match_are_refused_without_that_reason(bearer, connection):
    mapping = {"helpdesk_field": "tags", "jira_field": "customfield_10051"}
    error = refused(
        bearer, ticket_item(mappings=[SUBJECT, DESCRIPTION, mapping]), "incompatible_mapping", "mappings[2]"
    )
    assert error["message"] == "Tags (tags) cannot be written to Components affected (multiselect)."


# --- the requester -------------------------------------------------------------------------------------


def test_the_reporter_is_a_user_field_without_asking_jira(bearer, jira, connection):
    saved(bearer, ticket_item())
    assert not jira.calls("GET", r"/rest/api/3/field$")


@pytest.mark.parametrize(("field", "named"), [("summary", "Summary"), ("customfield_404", "'customfield_404'")])
def test_the_requester_field_must_be_a_jira_user_field(bearer, connection, field, named):
    error = refused(bearer, ticket_item(requester_field=field), "requester_field_invalid", "requester_field")
    assert error["message"] == (
        f"{named} is not a Jira user field; choose Reporter, Assignee or a user picker field whose person requests "
        "the new tickets."
    )


def test_a_user_picker_may_name_the_requester(bearer, jira, connection):
    custom = "com.atlassian.jira.plugin.system.customfieldtypes:userpicker"
    jira.add_field("customfield_10090", "Customer contact", {"type": "user", "custom": custom}, on_create_screen=False)
    assert (
        saved(bearer, ticket_item(requester_field="customfield_10090"))["item"]["requester_field"]
        == "customfield_10090"
    )


def test_matching_or_the_default_needs_a_default_requester(bearer, connection):
    error = refused(
        bearer, ticket_item(requester_rule="match_or_default"), "default_requester_required", "default_requester_id"
    )
    assert "Give the Zendesk id of the person who requests new tickets" in error["message"]


def test_the_default_requester_must_exist_in_the_helpdesk(bearer, zendesk, connection):
    error = refused(
        bearer, ticket_item(default_requester_id="999999"), "default_requester_not_found", "default_requester_id"
    )
    assert (
        error["message"]
        == "The default requester 999999 does not exist in Zendesk: give the id of a person who exists there."
    )
    assert zendesk.calls("GET", r"/api/v2/users/999999\.json$")


def test_a_helpdesk_that_cannot_be_asked_refuses_the_save(bearer, zendesk, dana):
    zendesk.fail_next(503, {"error": "Unavailable"}, path=rf"/users/{dana['id']}\.json$")
    error = refused(
        bearer, ticket_item(default_requester_id=str(dana["id"])), "create_check_failed", "default_requester_id"
    )
    assert error["message"].startswith(f"Could not check the default requester {dana['id']} with Zendesk Support: ")
    assert error["message"].endswith(". Save again in a moment.")


# --- the organization ------------------------------------------------------------------------------------


def test_matching_by_name_needs_the_jira_field_with_the_name(bearer, connection):
    error = refused(bearer, ticket_item(organization_rule="name"), "organization_field_required", "organization_field")
    assert "Choose the Jira field that holds the organization's name" in error["message"]


@pytest.mark.parametrize(
    ("field", "named"), [("customfield_10070", "Ticket count (number)"), ("customfield_404", "'customfield_404'")]
)
def test_the_organization_field_must_hold_a_name(bearer, connection, field, named):
    error = refused(
        bearer,
        ticket_item(organization_rule="name", organization_field=field),
        "organization_field_invalid",
        "organization_field",
    )
    assert error["message"] == (
        f"{named} cannot hold an organization's name; choose a Jira text field, a select list or Jira Service "
        "Management's Organizations."
    )


def test_a_select_list_may_hold_the_organizations_name(bearer, connection):
    item = saved(bearer, ticket_item(organization_rule="name", organization_field="customfield_10050"))["item"]
    assert item["organization_field"] == "customfield_10050"


def test_jira_service_managements_organizations_may_hold_the_organizations_name(bearer, connection):
    from demo.fakes.jira import JSM_ORGANIZATIONS_FIELD

    item = saved(bearer, ticket_item(organization_rule="name", organization_field=JSM_ORGANIZATIONS_FIELD))["item"]
    assert item["organization_field"] == JSM_ORGANIZATIONS_FIELD


def test_the_default_organization_is_needed_and_must_exist(bearer, zendesk, connection):
    rules = {"organization_rule": "domain", "organization_missing": "default"}
    refused(bearer, ticket_item(**rules), "default_organization_required", "default_organization_id")
    error = refused(
        bearer,
        ticket_item(**rules, default_organization_id="999999"),
        "default_organization_not_found",
        "default_organization_id",
    )
    assert error["message"] == (
        "The default organization 999999 does not exist in Zendesk: give the id of an organization that exists there."
    )


def test_settings_a_rule_does_not_use_are_not_kept(bearer, zendesk, customer_inc):
    """No organization: field, missing rule and default are dropped (not checked). By domain: no Jira field.
    Missing organizations created: no default."""
    org = {"organization_field": "customfield_10060", "default_organization_id": str(customer_inc["id"])}
    none = saved(bearer, ticket_item(name="None", organization_missing="default", **org))["item"]
    assert (none["organization_rule"], none["organization_field"], none["organization_missing"]) == ("none", "", "none")
    assert none["default_organization_id"] == "" and none["default_organization_label"] == ""
    assert not zendesk.calls("GET", r"/api/v2/organizations/\d+\.json$")
    domain = saved(bearer, ticket_item(name="Domain", organization_rule="domain", organization_missing="create", **org))
    item = domain["item"]
    assert (item["organization_rule"], item["organization_field"], item["organization_missing"]) == (
        "domain",
        "",
        "create",
    )
    assert item["default_organization_id"] == ""


def test_zendesk_tickets_need_no_tag_field(bearer, connection):
    error = refused(
        bearer, ticket_item(record_tag_field="custom_field:1"), "record_tag_field_unused", "record_tag_field"
    )
    assert error["message"] == (
        "Zendesk keeps the Jira origin of a created record itself (its external id); leave record_tag_field empty."
    )


# --- auto-create from Jira: the JQL ---------------------------------------------------------------------


def test_the_jql_is_checked_by_jira_in_its_words(bearer, jira, connection):
    error = refused(
        bearer, ticket_item(create_from_jira=True, create_jql="project = NOPE"), "create_jql_invalid", "create_jql"
    )
    (parse,) = jira.calls("POST", r"/rest/api/3/jql/parse$")
    words = jira.jql_parse(parse)[1]["queries"][0]["errors"]
    assert words == ["The value 'NOPE' does not exist for the field 'project'."]
    assert error["message"] == (
        f"Jira refuses the JQL: {words[0]} Correct it, or leave it empty to create a record for every new issue."
    )


def test_a_jql_while_creation_is_off_is_kept_with_a_warning(bearer, connection):
    body = saved(bearer, ticket_item(create_jql="project = SUP"))
    assert body["item"]["create_jql"] == "project = SUP"
    assert [w["code"] for w in body["warnings"]] == ["create_jql_unused"]


@pytest.mark.parametrize(
    ("status", "answer", "words"),
    [
        (503, {"errorMessages": ["Service unavailable"]}, "Jira answered HTTP 503: Service unavailable"),
        (200, {"queries": []}, "Jira returned an unexpected answer to the JQL check"),
    ],
)
def test_a_jql_jira_cannot_check_refuses_the_save(bearer, jira, connection, status, answer, words):
    jira.fail_next(status, answer, path=r"/jql/parse$")
    error = refused(bearer, ticket_item(create_jql="project = SUP"), "create_check_failed", "create_jql")
    assert error["message"] == f"Could not check the JQL with Jira: {words}. Save again in a moment."


# --- Zoho Desk: the field a created record carries its Jira origin in, and what each module names ------------


def zoho_item(**overrides):
    body = {
        "name": "Zoho tickets",
        "mode": "two_way",
        "jira_project": "SUP",
        "jira_issue_type_id": "10001",
        "helpdesk_object": "tickets",
        "mappings": [SUBJECT],
    }
    body.update(overrides)
    return body


def problems(bearer, body) -> dict[str, dict]:
    """The refused save's problems by code (several may come at once); nothing is saved."""
    response = bearer.post("/api/v1/items", body)
    error = assert_error(response, 400, response.json().get("code"))
    codes = [e["code"] for e in error["extra"]["errors"]]
    assert error["code"] == (codes[0] if len(codes) == 1 else "item_invalid")
    assert not ConnectedItem.objects.exists()
    return {e["code"]: e for e in error["extra"]["errors"]}


TAG_ADVICE = "Create a single-line text field such as 'Jira issue' in Zoho Desk and choose it here."


@pytest.fixture
def jira_issue_field(zoho, zoho_connection):
    zoho.add_field(zoho.org.id, "tickets", api_name="cf_jira_issue", label="Jira issue")
    return "cf_jira_issue"


def test_zoho_records_created_from_jira_need_a_field_for_their_jira_origin(bearer, zoho_connection):
    problem = problems(bearer, zoho_item(create_from_jira=True))["record_tag_field_required"]
    assert problem["field"] == "record_tag_field" and problem["message"].endswith(TAG_ADVICE)
    assert "so that a retry finds the record instead of making a second one" in problem["message"]
    # records created from the panel need it too: until it is chosen, the item says so
    body = saved(bearer, zoho_item())
    warning = next(w for w in body["warnings"] if w["code"] == "record_tag_field_required")
    assert warning["message"].endswith(TAG_ADVICE + " Until then no record can be created.")


@pytest.mark.parametrize(("field", "named"), [("subject", "Subject"), ("cf_size", "Size"), ("cf_nope", "'cf_nope'")])
def test_the_origin_field_must_be_a_text_field_of_ones_own(bearer, zoho, zoho_connection, field, named):
    zoho.add_field(zoho.org.id, "tickets", api_name="cf_size", label="Size", type="Picklist", allowed_values=["S"])
    error = refused(bearer, zoho_item(record_tag_field=field), "record_tag_field_invalid", "record_tag_field")
    assert error["message"] == f"{named} is not a single-line text field of your own in Tickets. {TAG_ADVICE}"


def test_the_origin_field_is_saved(bearer, zoho_connection, jira_issue_field):
    body = saved(bearer, zoho_item(record_tag_field=jira_issue_field))
    assert body["item"]["record_tag_field"] == "cf_jira_issue"
    assert "record_tag_field_required" not in [w["code"] for w in body["warnings"]]


def test_the_origin_field_may_not_be_written_from_jira(bearer, zoho_connection, jira_issue_field):
    overwrite = {"helpdesk_field": jira_issue_field, "jira_field": "customfield_10060", "direction": "to_helpdesk"}
    body = zoho_item(record_tag_field=jira_issue_field, mappings=[SUBJECT, overwrite])
    error = refused(bearer, body, "record_tag_field_mapped", "record_tag_field")
    assert error["message"].startswith("Jira issue is written from Jira by a mapping")


def test_a_module_deskbridge_cannot_create_takes_no_creation_settings(bearer, zoho_connection):
    body = zoho_item(name="Products", helpdesk_object="products", mappings=[], create_from_jira=True)
    error = refused(bearer, body, "create_settings_unused", "create_from_jira")
    assert error["message"] == (
        "Deskbridge cannot create Zoho Desk products from Jira; switch create_from_jira off, or choose an object "
        "Deskbridge can create."
    )


@pytest.mark.parametrize(
    ("module", "setting", "value", "words"),
    [
        ("tasks", "requester_rule", "match_or_default", "New Zoho Desk tasks name no requester"),
        ("tasks", "organization_rule", "domain", "New Zoho Desk tasks name no organization"),
        ("contacts", "default_requester_id", "1", "New Zoho Desk contacts name no requester"),
    ],
)
def test_people_a_module_does_not_name_take_no_settings(bearer, zoho_connection, module, setting, value, words):
    body = zoho_item(helpdesk_object=module, record_tag_field="", **{setting: value})
    problem = problems(bearer, body)["create_settings_unused"]
    assert problem["field"] == setting
    assert problem["message"] == f"{words}; leave {setting} at its default."


def test_a_zoho_default_requester_is_a_contact_that_exists(bearer, zoho, zoho_connection, jira_issue_field):
    rita = zoho.add_contact(zoho.org.id, firstName="Rita", lastName="Reporter", email="rita@customer.test")
    item = saved(bearer, zoho_item(record_tag_field=jira_issue_field, default_requester_id=rita["id"]))["item"]
    assert item["default_requester_label"] == "Rita Reporter <rita@customer.test>"


def test_a_zoho_default_requester_that_does_not_exist_is_refused(bearer, zoho_connection, jira_issue_field):
    body = zoho_item(record_tag_field=jira_issue_field, default_requester_id="4000000099999")
    error = refused(bearer, body, "default_requester_not_found", "default_requester_id")
    assert error["message"] == (
        "The default requester 4000000099999 does not exist in Zoho Desk: give the id of a person who exists there."
    )


# --- the admin page ----------------------------------------------------------------------------------------


@pytest.fixture
def page(admin_page, zendesk) -> AdminPage:
    admin_page.open()
    admin_page.connect()
    return admin_page


def _scope(name="Support tickets", mode="two_way", helpdesk_object="ticket"):
    return {
        "name": name,
        "mode": mode,
        "helpdesk_object": helpdesk_object,
        "jira_project": "10000",
        "jira_issue_type_id": "10001",
    }


def _step2(page, **scope):
    page.post("item_new")
    return page.post("item_step1", _scope(**scope))


def shown(response, testid: str) -> str | None:
    """The text of the element with this ``data-testid`` (None when there is none)."""
    match = re.search(rf'data-testid="{testid}">(.*?)</', response.content.decode(), re.S)
    return html.unescape(match.group(1)) if match else None


def _options(response, name: str) -> list[str]:
    body = response.content.decode()
    match = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', body, re.S)
    return re.findall(r'<option value="([^"]*)"', match.group(1))


def test_the_fieldset_is_shown_for_synchronized_tickets_only(page):
    step2 = _step2(page)
    assert 'data-testid="creation"' in step2.content.decode()
    text = page_text(step2)
    assert "Creating Zendesk tickets from Jira" in text
    assert "Create a Zendesk record for each new Jira issue of SUP · Task" in text
    assert "Issues created before this is switched on never get one." in text
    assert (
        _options(step2, "requester_field") == ["assignee", "reporter"]
        and selected(step2, "requester_field") == "reporter"
    )
    assert _options(step2, "organization_field") == [
        "",
        "summary",
        "customfield_10050",
        "customfield_10060",
        "customfield_10002",
    ]
    assert 'name="record_tag_field"' not in step2.content.decode()  # Zendesk has external ids
    display = _step2(page, name="People", mode="display", helpdesk_object="user")
    assert (
        'data-testid="creation"' not in display.content.decode() and 'name="create_jql"' not in display.content.decode()
    )


def test_settings_saved_on_the_page_are_shown_again_with_the_stored_names(page, dana, customer_inc):
    step2 = _step2(page)
    response = page.submit(
        step2,
        "item_save",
        m0_helpdesk="subject",
        m0_jira="summary",
        m1_helpdesk="description",
        m1_jira="description",
        create_from_jira="on",
        create_jql="project = SUP",
        requester_field="assignee",
        requester_rule="match_or_default",
        default_requester_id=f" {dana['id']} ",  # as typed: the spaces are not kept
        organization_rule="domain",
        organization_missing="default",
        default_organization_id=str(customer_inc["id"]),
    )
    assert "Saved Support tickets." in page_text(response), page_text(response)
    item = ConnectedItem.objects.get()
    assert item.create_from_jira and item.create_from_jira_baseline is not None
    assert (item.create_jql, item.requester_field, item.requester_rule) == (
        "project = SUP",
        "assignee",
        "match_or_default",
    )
    assert (item.organization_rule, item.organization_missing) == ("domain", "default")
    assert item.default_requester_label == "Dana Default <dana@customer.test>"
    baseline = item.create_from_jira_baseline

    step1 = page.submit(page.open(), "item_edit")
    assert input_value(step1, "create_jql") == "project = SUP" and input_value(step1, "create_from_jira") == "on"
    edit = page.submit(step1, "item_step1")
    assert checked(edit, "create_from_jira") and input_value(edit, "create_jql") == "project = SUP"
    assert selected(edit, "requester_field") == "assignee" and selected(edit, "requester_rule") == "match_or_default"
    assert selected(edit, "organization_rule") == "domain" and selected(edit, "organization_missing") == "default"
    assert shown(edit, "default-requester-label") == "Dana Default <dana@customer.test>"
    assert shown(edit, "default-organization-label") == "Customer Inc"

    again = page.submit(edit, "item_save")
    assert "Saved Support tickets." in page_text(again)
    item.refresh_from_db()
    assert item.create_from_jira and item.create_from_jira_baseline == baseline  # stayed on: kept
    assert item.default_requester_id == str(dana["id"]) and item.default_organization_id == str(customer_inc["id"])

    # another id typed (Back, then Next): the stored name is not shown for it
    back = page.submit(edit, "item_back", default_requester_id=str(customer_inc["id"]))
    changed = page.submit(back, "item_step1")
    assert input_value(changed, "default_requester_id") == str(customer_inc["id"])
    assert shown(changed, "default-requester-label") is None
    assert shown(changed, "default-organization-label") == "Customer Inc"


def test_errors_are_shown_next_to_the_creation_fields(page):
    step2 = _step2(page)
    response = page.submit(
        step2,
        "item_save",
        m0_helpdesk="subject",
        m0_jira="summary",
        m1_helpdesk="description",
        m1_jira="description",
        create_jql="project = NOPE",
        default_requester_id="999999",
        organization_rule="name",
    )
    assert response.status_code == 400 and "step 2 of 2" in page_text(response)
    assert field_errors(response, "default_requester_id") == [
        "The default requester 999999 does not exist in Zendesk: give the id of a person who exists there."
    ]
    assert field_errors(response, "create_jql")[0].startswith("Jira refuses the JQL: The value 'NOPE' does not exist")
    assert field_errors(response, "organization_field")[0].startswith("Choose the Jira field that holds")
    assert input_value(response, "create_jql") == "project = NOPE" and selected(response, "organization_rule") == "name"
    assert not ConnectedItem.objects.exists()


def test_a_display_item_saved_on_the_page_keeps_the_defaults(page):
    step2 = _step2(page)
    back = page.submit(step2, "item_back", create_from_jira="on", organization_rule="domain")
    display = page.submit(back, "item_step1", mode="display", jira_issue_type_id="")
    response = page.submit(display, "item_save", display_fields=["subject"])
    assert "Saved Support tickets." in page_text(response), page_text(response)
    item = ConnectedItem.objects.get()
    assert not item.create_from_jira and item.organization_rule == "none"


def test_settings_are_kept_when_the_fieldset_cannot_be_shown(page, jira):
    step2 = _step2(page)
    saved_page = page.submit(
        step2,
        "item_save",
        m0_helpdesk="subject",
        m0_jira="summary",
        m1_helpdesk="description",
        m1_jira="description",
        create_from_jira="on",
        organization_rule="domain",
        organization_missing="create",
    )
    assert "Saved Support tickets." in page_text(saved_page)
    step1 = page.submit(page.open(), "item_edit")
    page.post("refresh")  # forget the cached schemas
    jira.fail_next(503, {"errorMessages": ["Service unavailable"]}, path=r"/rest/api/3/field$")
    edit = page.submit(step1, "item_step1")
    assert "Could not load Jira fields" in page_text(edit) and 'data-testid="creation"' not in edit.content.decode()
    assert input_value(edit, "create_from_jira") == "on" and input_value(edit, "organization_rule") == "domain"
    response = page.submit(edit, "item_save")
    assert "Saved Support tickets." in page_text(response), page_text(response)
    item = ConnectedItem.objects.get()
    assert item.create_from_jira and (item.organization_rule, item.organization_missing) == ("domain", "create")


@pytest.mark.parametrize(
    ("setting", "words", "extra"),
    [
        ("requester_rule", "Choose how the requester is found: match_or_create, match_or_default.", {}),
        ("organization_rule", "Choose how the organization is found: none, name, domain.", {}),
        (
            "organization_missing",
            "Choose what happens when no organization matches: create, default, none.",
            {"organization_rule": "domain"},
        ),
    ],
)
def test_a_rule_the_form_does_not_offer_is_refused(page, setting, words, extra):
    step2 = _step2(page)
    response = page.submit(step2, "item_save", m0_helpdesk="subject", m0_jira="summary", **extra, **{setting: "guess"})
    assert response.status_code == 400
    assert field_errors(response, setting) == [words]
    assert not ConnectedItem.objects.exists()


def test_a_chosen_field_jira_no_longer_lists_stays_chosen(page, jira):
    custom = "com.atlassian.jira.plugin.system.customfieldtypes:userpicker"
    jira.add_field("customfield_10090", "Customer contact", {"type": "user", "custom": custom})
    step2 = _step2(page)
    assert "customfield_10090" in _options(step2, "requester_field")
    back = page.submit(step2, "item_back", requester_field="customfield_10090")
    jira.fields = [f for f in jira.fields if f["id"] != "customfield_10090"]
    page.post("refresh")
    again = page.submit(back, "item_step1")
    # kept as it was (shown by its id), so that saving the form as shown does not change the requester
    assert selected(again, "requester_field") == "customfield_10090"


@pytest.fixture
def zoho_page(admin_page, zoho_connection) -> AdminPage:
    admin_page.open()
    return admin_page


def test_zoho_modules_deskbridge_can_create_get_the_fieldset_with_the_origin_field(zoho_page, zoho):
    zoho.add_field(zoho.org.id, "tickets", api_name="cf_jira_issue", label="Jira issue")
    zoho.add_field(zoho.org.id, "tickets", api_name="cf_size", label="Size", type="Picklist", allowed_values=["S"])
    step2 = _step2(zoho_page, name="Zoho tickets", helpdesk_object="tickets")
    assert 'data-testid="creation"' in step2.content.decode()
    assert _options(step2, "record_tag_field") == ["", "cf_jira_issue"]  # text fields of one's own only
    assert "Create a single-line text field such as 'Jira issue' in Zoho Desk and choose it here." in page_text(step2)
    products = _step2(zoho_page, name="Zoho products", helpdesk_object="products")
    assert "step 2 of 2" in page_text(products) and 'data-testid="creation"' not in products.content.decode()


# --- the Django admin ------------------------------------------------------------------------------------


def _admin_form(response) -> dict[str, list[str]]:
    parser = _Forms()
    parser.feed(response.content.decode())
    form = next(f for f in parser.forms if any(name == "create_jql" for name, _ in f["fields"]))
    data: dict[str, list[str]] = {}
    for name, value in form["fields"]:
        data.setdefault(name, []).append(value)
    return data


def _admin_save(admin_client, item, **changes):
    url = f"/admin/connector/connecteditem/{item.pk}/change/"
    data = _admin_form(admin_client.get(url))
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = [value]
    return admin_client.post(url, {**data, "_save": "Save"})


@pytest.fixture
def stored(bearer, connection):
    return ConnectedItem.objects.get(pk=saved(bearer, ticket_item(mappings=[SUBJECT]))["item"]["id"])


def test_the_django_admin_has_the_settings_in_their_own_fieldset(admin_client, stored):
    page = admin_client.get(f"/admin/connector/connecteditem/{stored.pk}/change/").content.decode()
    assert "Creating records from Jira" in page
    for name in ("create_from_jira", "create_jql", "requester_field", "default_requester_id", "record_tag_field"):
        assert f'name="{name}"' in page
    for name in ("create_from_jira_baseline", "default_requester_label", "default_organization_label"):
        assert f'name="{name}"' not in page  # set by Deskbridge, shown read-only


def test_a_setting_changed_in_the_django_admin_is_checked(admin_client, stored, dana):
    response = _admin_save(admin_client, stored, default_requester_id="999999")
    assert response.status_code == 200
    body = response.content.decode()
    row = body[body.index('class="form-row errors field-default_requester_id"') :]
    assert (
        "The default requester 999999 does not exist in Zendesk" in row[: row.index("</div>", row.index("errorlist"))]
    )
    # a problem of the item as a whole (its mappings) is shown for the form
    response = _admin_save(admin_client, stored, create_from_jira="on")
    assert "Missing Zendesk create-field coverage: Description" in response.content.decode()
    stored.refresh_from_db()
    assert stored.default_requester_id == "" and not stored.create_from_jira

    response = _admin_save(admin_client, stored, default_requester_id=str(dana["id"]), organization_field="summary")
    assert response.status_code == 302, response.content.decode()
    stored.refresh_from_db()
    assert stored.default_requester_label == "Dana Default <dana@customer.test>"
    assert stored.organization_field == ""  # no organization rule: not kept


def test_switching_creation_on_in_the_django_admin_sets_the_baseline(admin_client, bearer, stored):
    bearer.patch(f"/api/v1/items/{stored.pk}", {"mappings": [SUBJECT, DESCRIPTION]})
    assert _admin_save(admin_client, stored, create_from_jira="on").status_code == 302
    stored.refresh_from_db()
    assert stored.create_from_jira and stored.create_from_jira_baseline is not None
    assert _admin_save(admin_client, stored, create_from_jira=None).status_code == 302
    stored.refresh_from_db()
    assert not stored.create_from_jira and stored.create_from_jira_baseline is None


def test_other_changes_in_the_django_admin_are_saved_as_they_are(admin_client, jira, tenant, stored):
    schema_cache_clear(tenant=tenant)  # a check would have to ask Jira, which fails
    jira.fail_next(503, {"errorMessages": ["Service unavailable"]}, path=r"/rest/api/3/")
    assert _admin_save(admin_client, stored, name="Renamed", is_paused="on").status_code == 302
    stored.refresh_from_db()
    assert stored.name == "Renamed" and stored.is_paused


def test_a_check_jira_cannot_answer_is_shown_in_the_django_admin(admin_client, jira, tenant, stored):
    schema_cache_clear(tenant=tenant)
    jira.fail_next(503, {"errorMessages": ["Service unavailable"]}, path=r"/rest/api/3/field$")
    response = _admin_save(admin_client, stored, requester_field="assignee")
    assert response.status_code == 200 and "Could not load Jira fields" in response.content.decode()
    stored.refresh_from_db()
    assert stored.requester_field == "reporter"

"""Values of new records (``ConnectedItem.create_values``): what every helpdesk record created from Jira
through an item starts with — Zoho Desk's department above all, which no Jira field can give — checked at save
(the field must be one a new record may take, the value one the field holds or the helpdesk lists), counted
as covering a required create field, written under what the mappings give and what a user types, and offered on
the admin page, in the configuration API and in the Django admin. With them, Zoho tickets are auto-created
from Jira."""

from __future__ import annotations

import re

import pytest

from connector.models import ConnectedItem
from connector.schema import schema_cache_clear
from sync.create import record_create_for_issue, record_create_preview
from sync.jira_create import jira_create_run
from sync.models import Link
from tests.panel.conftest import AdminPage, page_text
from tests.panel.test_config_api import assert_error
from tests.panel.test_item_create_settings import _admin_form, _scope, saved, ticket_item

pytestmark = pytest.mark.django_db

TAG = "cf_jira_issue"
REPORTER = {"accountId": "rita-1", "displayName": "Rita Reporter", "emailAddress": "rita@customer.test"}
SUBJECT_TO_ZOHO = {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_helpdesk"}


@pytest.fixture
def org(zoho):
    return zoho.org.id


@pytest.fixture
def tagged(zoho, org, zoho_connection):
    zoho.add_field(org, "tickets", api_name=TAG, label="Jira issue")
    return TAG


@pytest.fixture
def sales(zoho, org):
    return zoho.add_department(org, "Sales")


def zoho_item(**overrides):
    body = {
        "name": "Zoho tickets",
        "mode": "two_way",
        "jira_project": "SUP",
        "jira_issue_type_id": "10001",
        "helpdesk_object": "tickets",
        "mappings": [SUBJECT_TO_ZOHO],
        "record_tag_field": TAG,
    }
    body.update(overrides)
    return body


def problems_of(bearer, body) -> list[dict]:
    response = bearer.post("/api/v1/items", body)
    assert response.status_code == 400, response.content
    assert not ConnectedItem.objects.exists()
    return response.json()["extra"]["errors"]


# --- the save checks ------------------------------------------------------------------------------------------


def test_without_a_department_zoho_tickets_cannot_be_auto_created_and_with_one_they_can(bearer, tagged, sales):
    [problem] = problems_of(bearer, zoho_item(create_from_jira=True))
    assert problem["code"] == "missing_helpdesk_create_field_coverage"
    assert problem["message"] == (
        "Missing Zoho Desk create-field coverage: Department is required to create tickets and not mapped from "
        "Jira. Map them, give them a value for new records, or switch creating records from Jira off."
    )
    body = saved(bearer, zoho_item(create_from_jira=True, create_values={"departmentId": sales["id"]}))
    assert body["item"]["create_values"] == {"departmentId": sales["id"]}
    assert "missing_helpdesk_create_field_coverage" not in [w["code"] for w in body["warnings"]]
    assert ConnectedItem.objects.get().create_values == {"departmentId": sales["id"]}


def test_a_department_may_be_named_and_is_stored_by_its_id(bearer, tagged, sales):
    body = saved(bearer, zoho_item(create_values={"departmentId": "  sales "}))
    assert body["item"]["create_values"] == {"departmentId": sales["id"]}


def test_a_department_zoho_does_not_list_is_refused_naming_those_it_does(bearer, zoho, org, tagged, sales):
    default = zoho.default_department(org)
    [problem] = problems_of(bearer, zoho_item(create_values={"departmentId": "1892000000999999"}))
    assert (problem["code"], problem["field"]) == ("create_value_invalid", "create_values.departmentId")
    assert problem["message"].startswith("'1892000000999999' is not a value of Department; choose one of: ")
    assert f"{default['name']} ({default['id']})" in problem["message"]
    assert f"Sales ({sales['id']})" in problem["message"]
    assert problem["message"].endswith("(one made just now shows after Refresh).")


def test_a_department_list_zoho_refuses_refuses_the_save_saying_why(bearer, tenant, zoho, tagged, sales):
    schema_cache_clear(tenant=tenant)
    zoho.fail_next(
        403,
        {
            "errorCode": "SCOPE_MISMATCH",
            "message": "The OAuth Token does not contain the scope to perform this operation.",
        },
        path=r"/departments",
    )
    [problem] = problems_of(bearer, zoho_item(create_values={"departmentId": sales["id"]}))
    assert (problem["code"], problem["field"]) == ("create_check_failed", "create_values.departmentId")
    assert problem["message"].startswith("Could not load Zoho Desk departments")


@pytest.mark.parametrize(
    ("field", "value", "code", "words"),
    [
        ("cf_nope", "x", "create_value_unknown", "Zoho Desk tickets have no field 'cf_nope'; choose one of their"),
        ("webUrl", "x", "create_value_not_writable", "Zoho Desk sets Zoho Desk URL itself; remove its value"),
        ("createdTime", "x", "create_value_not_writable", "Zoho Desk sets Created itself; remove its value"),
        (
            "contactId",
            "1892000000042001",
            "create_value_not_writable",
            "Contact Name is chosen by the item's requester and organization rules (and their defaults); remove",
        ),
        (
            "accountId",
            "1892000000042001",
            "create_value_not_writable",
            "Account Name is chosen by the item's requester and organization rules",
        ),
        (TAG, "SUP-1", "create_value_not_writable", "Jira issue carries the Jira issue each created record comes"),
        ("productId", "1", "create_value_not_writable", "Product Name (unsupported) cannot be given a fixed value"),
        ("priority", "Urgent", "create_value_invalid", "'Urgent' is not a value of Priority; choose one of: High"),
        ("priority", ["High"], "create_value_invalid", "Priority takes one value, not a list."),
        ("priority", {"value": "High"}, "create_value_invalid", "Priority takes a single value, not an object."),
        ("cf_size", "ten", "create_value_invalid", "'ten' is not a number."),
        ("cf_when", "tomorrow", "create_value_invalid", "'tomorrow' is not a date."),
        ("cf_at", "9 am", "create_value_invalid", "'9 am' is not a date and time such as 2026-11-22T09:30:00Z."),
        ("cf_vip", "maybe", "create_value_invalid", "VIP is a checkbox: give true or false."),
        ("cf_regions", "EU, Mars", "create_value_invalid", "'Mars' is not a value of Regions; choose one of: EU, US"),
    ],
)
def test_a_value_a_new_record_cannot_take_is_refused_with_the_reason(
    bearer, zoho, org, tagged, field, value, code, words
):
    zoho.add_field(org, "tickets", api_name="cf_size", label="Size", type="Number")
    zoho.add_field(org, "tickets", api_name="cf_when", label="When", type="Date")
    zoho.add_field(org, "tickets", api_name="cf_at", label="At", type="DateTime")
    zoho.add_field(org, "tickets", api_name="cf_vip", label="VIP", type="Boolean")
    zoho.add_field(
        org, "tickets", api_name="cf_regions", label="Regions", type="Multiselect", allowed_values=["EU", "US"]
    )
    [problem] = problems_of(bearer, zoho_item(create_values={field: value}))
    assert (problem["code"], problem["field"]) == (code, f"create_values.{field}")
    assert words in problem["message"]


def test_values_are_stored_as_the_helpdesk_takes_them_and_empty_ones_left_out(bearer, zoho, org, tagged):
    zoho.add_field(org, "tickets", api_name="cf_size", label="Size", type="Number")
    zoho.add_field(org, "tickets", api_name="cf_when", label="When", type="Date")
    zoho.add_field(org, "tickets", api_name="cf_vip", label="VIP", type="Boolean")
    zoho.add_field(
        org, "tickets", api_name="cf_regions", label="Regions", type="Multiselect", allowed_values=["EU", "US"]
    )
    given = {
        "priority": "high",  # by its label, any case
        "channel": "Web",
        "cf_size": "3",
        "cf_when": "2026-12-01",
        "cf_vip": "True",
        "cf_regions": "us, EU",
        "classification": "",
        "resolution": "  ",
        "category": None,
    }
    item = saved(bearer, zoho_item(create_values=given))["item"]
    assert item["create_values"] == {
        "priority": "High",
        "channel": "Web",
        "cf_size": 3,
        "cf_when": "2026-12-01",
        "cf_vip": True,
        "cf_regions": ["US", "EU"],
    }


def test_zendesk_tickets_take_a_group_zendesk_lists_and_tags(bearer, zendesk, connection):
    from tests.conftest import ZD_SUBDOMAIN

    group = zendesk.add_group(ZD_SUBDOMAIN, "Second line")
    item = saved(
        bearer, ticket_item(create_values={"group": group["name"], "tags": "From Jira, escalated", "type": "problem"})
    )["item"]
    assert item["create_values"] == {"group": str(group["id"]), "tags": ["from_jira", "escalated"], "type": "problem"}
    response = bearer.post("/api/v1/items", ticket_item(name="Other", create_values={"group": "999999"}))
    assert response.status_code == 400 and ConnectedItem.objects.count() == 1
    [problem] = response.json()["extra"]["errors"]
    assert (problem["code"], problem["field"]) == ("create_value_invalid", "create_values.group")
    assert "'999999' is not a value of Group; choose one of: " in problem["message"]


def test_a_display_only_item_takes_no_values_of_new_records(bearer, connection):
    body = ticket_item(mode="display", mappings=[], display_fields=["subject"], create_values={"type": "problem"})
    error = assert_error(bearer.post("/api/v1/items", body), 400, "create_settings_unused")
    assert error["extra"]["errors"][0]["field"] == "create_values"
    assert "leave create_values at its default" in error["message"]


def test_a_partial_update_keeps_the_values_and_may_change_them(bearer, tagged, sales, zoho, org):
    item = saved(bearer, zoho_item(create_values={"departmentId": sales["id"]}))["item"]
    renamed = bearer.patch(f"/api/v1/items/{item['id']}", {"name": "Renamed"})
    assert renamed.status_code == 200 and renamed.json()["item"]["create_values"] == {"departmentId": sales["id"]}
    default = zoho.default_department(org)["id"]
    moved = bearer.patch(f"/api/v1/items/{item['id']}", {"create_values": {"departmentId": default}})
    assert moved.json()["item"]["create_values"] == {"departmentId": default}


def test_the_api_schema_describes_the_values(bearer):
    schema = bearer.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "Values every record created from Jira starts with" in schema


# --- creating records with them -------------------------------------------------------------------------------


@pytest.fixture
def zoho_item_saved(bearer, tagged, sales):
    body = zoho_item(
        create_from_jira=True,
        mappings=[
            SUBJECT_TO_ZOHO,
            {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk"},
        ],
        create_values={"departmentId": sales["id"], "priority": "Low", "channel": "Web"},
    )
    return ConnectedItem.objects.get(pk=saved(bearer, body)["item"]["id"])


def zoho_tickets(zoho, org):
    return list(zoho.orgs[org].records["tickets"].values())


def test_a_ticket_starts_with_the_values_the_mappings_and_the_user_win(tenant, jira, zoho, org, zoho_item_saved, sales):
    zoho.add_contact(org, firstName="Rita", lastName="Reporter", email="rita@customer.test")
    issue = jira.add_issue(key="SUP-1", summary="Printer on fire", reporter=dict(REPORTER), priority=None)
    preview = record_create_preview(tenant=tenant, item=zoho_item_saved, issue_id=issue["id"])
    shown = {f["id"]: f["value"] for f in preview["fields"]}
    assert shown["departmentId"] == sales["id"] and shown["channel"] == "Web" and shown["priority"] == "Low"

    record_create_for_issue(
        tenant=tenant, item=zoho_item_saved, issue_id=issue["id"], values={"channel": "Phone"}, actor="u"
    )
    [ticket] = zoho_tickets(zoho, org)
    # the department and the priority from the item, the channel as the user chose it
    assert (ticket["departmentId"], ticket["priority"], ticket["channel"]) == (sales["id"], "Low", "Phone")


def test_a_mapped_value_wins_over_the_items_value(bearer, tenant, jira, zoho, org, tagged, sales):
    resolution = {"helpdesk_field": "resolution", "jira_field": "description", "direction": "to_helpdesk"}
    body = zoho_item(
        mappings=[SUBJECT_TO_ZOHO, resolution],
        create_values={"departmentId": sales["id"], "resolution": "Not yet known"},
    )
    item = ConnectedItem.objects.get(pk=saved(bearer, body)["item"]["id"])
    zoho.add_contact(org, firstName="Rita", lastName="Reporter", email="rita@customer.test")
    told = jira.add_issue(key="SUP-2", summary="Printer on fire", description="Paper jam", reporter=dict(REPORTER))
    silent = jira.add_issue(key="SUP-3", summary="Printer on fire", reporter=dict(REPORTER))
    for issue in (told, silent):
        record_create_for_issue(tenant=tenant, item=item, issue_id=issue["id"], actor="u")
    assert sorted(t["resolution"] for t in zoho_tickets(zoho, org)) == ["Not yet known", "Paper jam"]


def test_a_value_of_a_field_removed_since_is_left_out_and_said(tenant, jira, zoho, org, zoho_item_saved):
    zoho.add_contact(org, firstName="Rita", lastName="Reporter", email="rita@customer.test")
    ConnectedItem.objects.filter(pk=zoho_item_saved.pk).update(
        create_values={**zoho_item_saved.create_values, "cf_gone": "x"}
    )
    zoho_item_saved.refresh_from_db()
    issue = jira.add_issue(key="SUP-3", summary="Printer on fire", reporter=dict(REPORTER))
    result = record_create_for_issue(tenant=tenant, item=zoho_item_saved, issue_id=issue["id"], actor="u")
    assert any(w.startswith("cf_gone was left out: Zoho Desk takes no such field") for w in result.warnings)
    [ticket] = zoho_tickets(zoho, org)
    assert "cf_gone" not in (ticket.get("cf") or {})


def test_new_jira_issues_auto_create_zoho_tickets_in_the_items_department(
    tenant, jira, zoho, org, zoho_connection, zoho_item_saved, sales, settings
):
    settings.SYNC_RECONCILE_GRACE_SECONDS = 0
    zoho.add_contact(org, firstName="Rita", lastName="Reporter", email="rita@customer.test")
    ConnectedItem.objects.filter(pk=zoho_item_saved.pk).update(
        create_from_jira_baseline=zoho_item_saved.create_from_jira_baseline.replace(year=2000)
    )
    issue = jira.add_issue(key="SUP-4", summary="Printer on fire", reporter=dict(REPORTER))
    run = jira_create_run(connection_id=zoho_connection.pk)
    assert run is not None and run.outcome == "success", run and run.reason
    [ticket] = zoho_tickets(zoho, org)
    assert ticket["departmentId"] == sales["id"] and ticket["subject"] == "Printer on fire"
    assert ticket["cf"][TAG].endswith(f"-{issue['id']}-" + ticket["cf"][TAG].rsplit("-", 1)[1])
    link = Link.objects.get(item=zoho_item_saved)
    assert (link.jira_issue_id, link.record_id, link.origin) == (issue["id"], ticket["id"], "auto")
    again = jira_create_run(connection_id=zoho_connection.pk)
    assert again.outcome == "success" and len(zoho_tickets(zoho, org)) == 1


# --- the admin page ------------------------------------------------------------------------------------------


@pytest.fixture
def zoho_page(admin_page, zoho_connection, tagged) -> AdminPage:
    admin_page.open()
    return admin_page


def _rows(response) -> list[tuple[str, str, list[str] | None]]:
    """The values-of-new-records rows: (chosen field, value, the value picker's options or None for text)."""
    body = response.content.decode()
    table = re.search(r'data-testid="create-values">.*?<tbody>(.*?)</tbody>', body, re.S).group(1)
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        field = re.search(r'<select name="cv\d+_field"[^>]*>.*?<option value="([^"]*)" selected', row, re.S)
        picker = re.search(r'<select name="cv\d+_value"[^>]*>(.*?)</select>', row, re.S)
        if picker:
            value = re.search(r'<option value="([^"]*)" selected', picker.group(1))
            options = re.findall(r'<option value="([^"]*)"', picker.group(1))
            rows.append((field.group(1) if field else "", value.group(1) if value else "", options))
        else:
            text = re.search(r'name="cv\d+_value" value="([^"]*)"', row)
            rows.append((field.group(1) if field else "", text.group(1) if text else "", None))
    return rows


def _zoho_step2(page, name="Zoho tickets"):
    page.post("item_new")
    return page.post("item_step1", _scope(name=name, helpdesk_object="tickets"))


def test_the_page_offers_the_department_zoho_requires_as_a_picker_of_its_departments(zoho_page, zoho, org, sales):
    step2 = _zoho_step2(zoho_page)
    rows = _rows(step2)
    assert rows[0][:2] == ("departmentId", "") and set(rows[0][2]) == {
        "",
        zoho.default_department(org)["id"],
        sales["id"],
    }
    assert rows[-1] == ("", "", None)  # a free row for another field
    assert "Fields marked * are required to create tickets" in page_text(step2)
    field_choices = re.findall(r'<select name="cv0_field"[^>]*>(.*?)</select>', step2.content.decode(), re.S)[0]
    offered = re.findall(r'<option value="([^"]*)"', field_choices)
    assert "departmentId" in offered and "priority" in offered
    assert not {"contactId", "accountId", "webUrl", "createdTime", "productId"} & set(offered)


def test_values_chosen_on_the_page_are_saved_checked_and_shown_again(zoho_page, zoho, org, sales):
    step2 = _zoho_step2(zoho_page)
    response = zoho_page.submit(
        step2,
        "item_save",
        m0_helpdesk="subject",
        m0_jira="summary",
        m0_direction="to_helpdesk",
        record_tag_field=TAG,
        create_from_jira="on",
        cv0_value=sales["id"],
        cv1_field="priority",
        create_value_rows="2",
    )
    assert response.status_code == 200, page_text(response)
    item = ConnectedItem.objects.get()
    assert item.create_values == {"departmentId": sales["id"]}  # a field chosen without a value is left out
    step1 = zoho_page.submit(zoho_page.open(), "item_edit")
    edit = zoho_page.submit(step1, "item_step1")
    assert _rows(edit)[0][:2] == ("departmentId", sales["id"])
    again = zoho_page.submit(edit, "item_save")  # saved as shown: nothing changes
    assert "Saved Zoho tickets." in page_text(again)
    item.refresh_from_db()
    assert item.create_values == {"departmentId": sales["id"]}


def test_a_field_chosen_on_the_page_gets_a_picker_of_its_values(zoho_page):
    step2 = _zoho_step2(zoho_page)
    reloaded = zoho_page.submit(step2, "item_status_reload", cv1_field="priority", create_value_rows="2")
    rows = _rows(reloaded)
    assert rows[1][0] == "priority" and rows[1][2] == ["", "High", "Medium", "Low"]


def test_a_refused_value_is_shown_on_its_row_and_nothing_is_saved(zoho_page):
    step2 = _zoho_step2(zoho_page)
    response = zoho_page.submit(
        step2,
        "item_save",
        m0_helpdesk="subject",
        m0_jira="summary",
        m0_direction="to_helpdesk",
        record_tag_field=TAG,
        cv0_value="1892000000999999",
        create_value_rows="1",
    )
    assert response.status_code == 400
    assert "&#x27;1892000000999999&#x27; is not a value of Department" in response.content.decode()
    assert not ConnectedItem.objects.exists()


def test_values_are_carried_through_step_one(zoho_page, sales):
    step2 = _zoho_step2(zoho_page)
    back = zoho_page.submit(step2, "item_back", cv0_value=sales["id"], create_value_rows="1")
    assert re.search(r'name="cv0_field" value="departmentId"', back.content.decode())
    forward = zoho_page.submit(back, "item_step1")
    assert _rows(forward)[0][:2] == ("departmentId", sales["id"])


# --- the Django admin ----------------------------------------------------------------------------------------


def test_the_django_admin_checks_the_values(admin_client, bearer, tagged, sales):
    item = ConnectedItem.objects.get(pk=saved(bearer, zoho_item())["item"]["id"])
    url = f"/admin/connector/connecteditem/{item.pk}/change/"
    data = _admin_form(admin_client.get(url))
    data["create_values"] = ['{"departmentId": "1892000000999999"}']
    response = admin_client.post(url, {**data, "_save": "Save"})
    assert response.status_code == 200
    [message] = response.context["adminform"].form.errors["create_values"]  # shown on the field
    assert "is not a value of Department" in message
    item.refresh_from_db()
    assert item.create_values == {}
    data["create_values"] = ['{"departmentId": "Sales"}']
    response = admin_client.post(url, {**data, "_save": "Save"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.create_values == {"departmentId": sales["id"]}  # stored as checked: by its id


def test_the_django_admin_refuses_values_that_are_not_an_object(admin_client, bearer, tagged):
    item = ConnectedItem.objects.get(pk=saved(bearer, zoho_item())["item"]["id"])
    url = f"/admin/connector/connecteditem/{item.pk}/change/"
    data = _admin_form(admin_client.get(url))
    data["create_values"] = ['["departmentId"]']
    response = admin_client.post(url, {**data, "_save": "Save"})
    assert response.status_code == 200
    assert "Give the values of new records as an object of helpdesk field ids and values." in response.content.decode()


def test_a_reference_the_helpdesk_lists_no_values_for_takes_none():
    from connector.mapping import ValueNotMapped
    from connector.services.item_creation import fixed_value

    department = {"id": "departmentId", "label": "Department", "type": "unsupported", "options": []}
    with pytest.raises(ValueNotMapped, match="there are no Department values to choose from"):
        fixed_value(department, "1", [])
    assert fixed_value(department, "support", [{"value": "7", "label": "Support"}]) == "7"
    assert fixed_value(department, "7", None) == "7"  # no list to check it against: the id as given

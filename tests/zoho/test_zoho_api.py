"""Zoho Desk through the REST APIs: the configuration API connects (201, or 202 with organizations to choose
from), never returns a secret, and refuses bad input with a 4xx that changes nothing; items for Zoho modules
with a status table; the links API links Zoho records; another site's Zoho records and items stay invisible."""

from __future__ import annotations

import json

import pytest

from connector.models import ConnectedItem, HelpdeskConnection
from sync.models import Link
from tests.conftest import ZOHO_CLIENT_ID, ZOHO_DC, ZOHO_SECRET
from tests.panel.links_helpers import ApiClient, install_second_tenant
from tests.panel.test_links_api import LIST_PATH, link_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(client, tenant):
    from tenants.services import api_token_create

    _, token = api_token_create(tenant=tenant, name="admin script", created_by="test", scope="admin")
    return ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {token}")


def body(code, **extra):
    return {"data_center": ZOHO_DC, "client_id": ZOHO_CLIENT_ID, "client_secret": ZOHO_SECRET, "code": code, **extra}


def test_connect_over_the_api_never_returns_a_secret(admin_api, zoho, zoho_code, project):
    response = admin_api.post("/api/v1/connections/zoho", body(zoho_code()))
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["provider"] == "zoho_desk" and data["status"] == "connected" and data["token_stored"] is True
    assert data["zoho"]["data_center"] == "eu" and data["zoho"]["org_name"] == "Acme Support"
    assert data["zoho"]["client_id"] == ZOHO_CLIENT_ID and data["zoho"]["desk_host"].endswith("/desk/eu")
    text = json.dumps(admin_api.get("/api/v1/connections").json())
    assert ZOHO_SECRET not in text and "refresh" not in text and "access_token" not in text
    scopes = admin_api.get("/api/v1/connections/zoho/scopes").json()
    assert "Desk.search.READ" in scopes["scopes"] and len(scopes["data_centers"]) == 9


def test_bad_input_is_a_4xx_that_changes_nothing(admin_api, zoho, zoho_code):
    response = admin_api.post("/api/v1/connections/zoho", body("1000.unknown-code"))
    assert response.status_code == 400 and response.json()["code"] == "zoho_code_invalid"
    response = admin_api.post("/api/v1/connections/zoho", {"data_center": "eu"})
    assert response.status_code == 400
    assert not HelpdeskConnection.objects.exists()


def test_several_organizations_answer_202_then_the_choice_connects(admin_api, zoho, zoho_code, project):
    second = zoho.add_org(ZOHO_DC, name="Acme Sales", portal_name="acmesales")
    zoho.add_agent(second.id, name="Zoe Agent", email="zoe@acme.test")
    zoho.add_self_client(ZOHO_DC, client_id=ZOHO_CLIENT_ID, client_secret=ZOHO_SECRET, user=zoho.agent)
    response = admin_api.post("/api/v1/connections/zoho", body(zoho_code(org_id=second.id)))
    assert response.status_code == 202, response.content
    assert {o["id"] for o in response.json()["organizations"]} == {zoho.org.id, second.id}
    assert ZOHO_SECRET not in response.content.decode()
    response = admin_api.post("/api/v1/connections/zoho/organization", {"org_id": second.id})
    assert response.status_code == 201 and response.json()["zoho"]["org_name"] == "Acme Sales"


def test_items_for_zoho_modules_with_a_status_table(admin_api, zoho_connection, zoho, project):
    item = {
        "name": "Zoho tasks",
        "mode": "one_way",
        "jira_project": "SUP",
        "jira_issue_type_id": "10001",
        "helpdesk_object": "tasks",
        "status_sync": True,
        "status_map": {"Completed": "done"},
        "mappings": [{"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira"}],
        "auto_create_conditions": {"priority": ["High"]},
    }
    response = admin_api.post("/api/v1/items", item)
    assert response.status_code == 201, response.content
    saved = response.json()["item"]
    assert saved["status_field"] == "" and saved["status_map"]["Completed"] == "done"
    assert saved["link_note"] is True and saved["helpdesk_object_label"] == "Tasks"
    bad = {**item, "name": "Bad", "status_map": {"Nope": "done"}}
    response = admin_api.post("/api/v1/items", bad)
    assert response.status_code == 400 and "Nope" in response.content.decode()
    wrong = {**item, "name": "Wrong", "auto_create_conditions": {"tags": ["x"]}}  # a Zendesk condition
    assert admin_api.post("/api/v1/items", wrong).status_code == 400
    assert ConnectedItem.objects.count() == 1
    contracts = {
        **item,
        "name": "Contracts",
        "helpdesk_object": "contracts",
        "status_map": {},
        "auto_create_conditions": {},
        "mappings": [{"helpdesk_field": "contractName", "jira_field": "summary", "direction": "to_jira"}],
    }
    response = admin_api.post("/api/v1/items", contracts)  # synchronized too; its status follows its dates
    assert response.status_code == 201, response.content
    assert response.json()["item"]["status_map"] == {"FUTURE": "new", "ACTIVE": "indeterminate", "EXPIRED": "done"}


def test_the_links_api_links_a_zoho_ticket(client, api_token, tenant, zoho_connection, zoho, jira, project):
    from tests.zoho.test_zoho_sync import zitem

    item = zitem(tenant, zoho_connection)
    issue = jira.add_issue(key="SUP-1", summary="Compiler crashes")
    ticket = zoho.add_ticket(zoho.org.id, subject="Compiler crashes")
    api = ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {api_token}")
    response = api.post(LIST_PATH.format(item.external_id), {"link": link_body(issue, ticket["id"])})
    assert response.status_code == 201, response.content
    assert Link.objects.get().record_id == ticket["id"]
    assert len(zoho.orgs[zoho.org.id].comments[("tickets", ticket["id"])]) == 1  # the link note


def test_another_sites_zoho_items_are_invisible(client, settings, install_keys, zendesk, tenant, zoho_connection):
    from tests.zoho.test_zoho_sync import zitem

    zitem(tenant, zoho_connection)
    second = install_second_tenant(client, settings, install_keys, zendesk)
    try:
        from tenants.services import api_token_create

        _, token = api_token_create(tenant=second.tenant, name="bravo admin", created_by="test", scope="admin")
        other = ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {token}")
        listed = other.get("/api/v1/items").json()
        assert "Zoho tickets" not in json.dumps(listed)
        assert other.get(f"/api/v1/connections/{zoho_connection.pk}").status_code == 404
        assert other.post(f"/api/v1/connections/{zoho_connection.pk}/sync", {}).status_code == 404
    finally:
        second.jira.stop()


def test_the_standard_preset_for_zoho_tickets_saves_as_is(admin_api, zoho_connection, zoho, project):
    preset = admin_api.get("/api/v1/items/preset?project=SUP&issue_type=10001")
    assert preset.status_code == 200, preset.content
    mappings = preset.json()
    assert [(m["helpdesk_field"], m["jira_field"]) for m in mappings] == [
        ("subject", "summary"),
        ("description", "description"),
        ("priority", "priority"),
    ]
    item = {
        "name": "Zoho preset",
        "mode": "one_way",
        "jira_project": "SUP",
        "jira_issue_type_id": "10001",
        "helpdesk_object": "tickets",
        "mappings": mappings,
    }
    response = admin_api.post("/api/v1/items", item)
    assert response.status_code == 201, response.content
    priority = next(m for m in response.json()["item"]["mappings"] if m["jira_field"] == "priority")
    assert set(priority["value_map"]) == {"High", "Medium", "Low"}  # paired with Jira's priorities by name

"""Creating a helpdesk record from the issue panel (/api/panel/items/{id}/records and its preview), against the
fake Jira and Zendesk: the form's values over the item's mappings, the new record linked and shown like a link
made by hand; the same authentication and checks as the panel's Link (context JWT or the page session, the
issue's viewers only, items that apply to the issue, tenant first); refusals in the panel's error shape with
the fields to correct, and nothing made."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import urlencode

import pytest
from django.core.cache import cache

from connector.models import ConnectedItem
from connector.providers import provider_for
from connector.schema import schema_cache_clear
from sync.models import Link, RecordCreate
from tenants.models import Tenant
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import ApiClient, badge, badge_of, install_second_tenant, make_item, raw_link

pytestmark = pytest.mark.django_db

ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"  # the Jira user of FakeJira's tokens
DESCRIPTION = {
    "type": "doc",
    "version": 1,
    "content": [
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "The printer is "},
                {"type": "text", "text": "on fire", "marks": [{"type": "strong"}]},
            ],
        }
    ],
}
REPORTER = {"accountId": "rita-1", "displayName": "Rita Reporter", "emailAddress": "rita@customer.test"}
MAPPINGS = [
    {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
    {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira", "value_map": {}},
    {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}},
    {"helpdesk_field": "tags", "jira_field": "labels", "direction": "to_helpdesk", "value_map": {}},
]


def create_url(item_id) -> str:
    return f"/api/panel/items/{item_id}/records"


def account(zendesk):
    return zendesk.accounts[ZD_SUBDOMAIN]


@pytest.fixture
def panel(client, jira, tenant):
    """Calls as the iframe makes them: ``Authorization: JWT <context token>``."""
    return ApiClient(client, HTTP_AUTHORIZATION=f"JWT {jira.context_token(account_id=ACCOUNT)}")


@pytest.fixture
def item(tenant, connection):
    return make_item(
        tenant,
        connection,
        name="Two-way tickets",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        link_note=True,
        mappings=MAPPINGS,
    )


@pytest.fixture
def issue(jira, project):
    return jira.add_issue(
        key="SUP-7",
        summary="Printer on fire",
        description=DESCRIPTION,
        priority={"id": "1", "name": "Highest"},
        labels=["Printer Fire"],
        reporter=dict(REPORTER),
    )


@pytest.fixture
def bravo(client, settings, install_keys, zendesk, tenant):
    second = install_second_tenant(client, settings, install_keys, zendesk)
    yield second
    second.jira.stop()


def nothing_created(zendesk) -> bool:
    return not account(zendesk).tickets and not Link.objects.exists() and not RecordCreate.objects.exists()


# --- create -------------------------------------------------------------------------------------------------


def test_the_panel_creates_the_ticket_from_the_issue_links_it_and_shows_it_like_a_link(
    panel, jira, zendesk, item, issue, project
):
    response = panel.post(create_url(item.pk), {"issue_id": issue["id"], "values": {"subject": "Printer on fire!"}})

    assert response.status_code == 201, response.content
    [ticket] = account(zendesk).tickets.values()
    assert ticket["subject"] == "Printer on fire!"  # the form's value over the mapping's
    assert ticket["priority"] == "urgent" and ticket["tags"] == ["printer_fire"]  # what the mappings give
    assert "<strong>on fire</strong>" in account(zendesk).comments[ticket["id"]][0]["html_body"]
    link = Link.objects.get()
    assert (link.jira_issue_id, link.jira_issue_key, link.record_id) == (issue["id"], "SUP-7", str(ticket["id"]))
    assert (link.origin, link.created_by) == (Link.Origin.MANUAL, ACCOUNT)  # the Jira user who pressed Create
    body = response.json()
    assert body["record"] == {"id": str(ticket["id"]), "url": body["link"]["url"]}
    assert body["record"]["url"].endswith(f"/agent/tickets/{ticket['id']}")
    assert body["warnings"] == []
    # The link as the cards show it: the panel shows the new record at once.
    context = {"issue_id": issue["id"]}
    [card] = panel.get("/api/panel/cards", data=context).json()["cards"]
    assert card["links"] == [body["link"]]
    assert body["link"]["title"] == f"#{ticket['id']} Printer on fire!" and body["link"]["can_unlink"] is True
    assert badge(jira, issue["id"]) == badge_of(1)


def test_a_hidden_reporter_email_comes_back_as_a_warning(panel, jira, zendesk, item, project):
    hidden = jira.add_issue(
        key="SUP-8",
        summary="Quiet printer",
        description="It hums.",
        reporter={"accountId": "s-1", "displayName": "Shy"},
    )
    response = panel.post(create_url(item.pk), {"issue_id": hidden["id"]})
    assert response.status_code == 201, response.content
    [warning] = response.json()["warnings"]
    assert "Shy" in warning
    assert Link.objects.count() == 1


def test_a_required_field_emptied_in_the_form_is_named_and_nothing_is_made(panel, zendesk, item, issue):
    response = panel.post(create_url(item.pk), {"issue_id": issue["id"], "values": {"subject": ""}})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "required_fields_missing" and body["extra"]["fields"] == ["subject"]
    assert "Subject" in body["message"]
    assert nothing_created(zendesk)


def test_zendesk_refusing_a_value_says_so_and_nothing_is_linked(panel, zendesk, item, issue):
    response = panel.post(create_url(item.pk), {"issue_id": issue["id"], "values": {"type": "wish"}})
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "helpdesk_refused" and "Zendesk" in response.json()["message"]
    assert not account(zendesk).tickets and not Link.objects.exists()


def test_a_field_zendesk_sets_itself_is_refused_by_name(panel, zendesk, item, issue):
    response = panel.post(create_url(item.pk), {"issue_id": issue["id"], "values": {"created_at": "2020-01-01"}})
    assert response.status_code == 400 and response.json()["extra"]["fields"] == ["created_at"]
    assert nothing_created(zendesk)


def test_an_issue_already_linked_through_the_item_is_409(panel, tenant, zendesk, item, issue):
    raw_link(tenant, item, issue["id"], "99", key="SUP-7")
    response = panel.post(create_url(item.pk), {"issue_id": issue["id"]})
    assert response.status_code == 409 and response.json()["code"] == "link_exists"
    assert not account(zendesk).tickets


def test_a_display_only_item_creates_nothing(panel, tenant, connection, zendesk, issue):
    display = make_item(tenant, connection, name="Display tickets")
    response = panel.post(create_url(display.pk), {"issue_id": issue["id"]})
    assert response.status_code == 400 and response.json()["code"] == "record_create_unavailable"
    assert "display-only" in response.json()["message"]
    assert nothing_created(zendesk)


@pytest.mark.parametrize("body", [{}, {"issue_id": ""}, {"issue_id": "SUP-7"}, {"issue_id": "7", "values": "x"}])
def test_a_malformed_request_is_400(panel, zendesk, item, issue, body):
    response = panel.post(create_url(item.pk), body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_failed"
    assert nothing_created(zendesk)


# --- who may create: as for Link --------------------------------------------------------------------------------


def test_creating_needs_the_panels_authentication(client, api_token, zendesk, item, issue):
    anonymous = client.post(create_url(item.pk), json.dumps({"issue_id": issue["id"]}), content_type="application/json")
    assert anonymous.status_code == 401
    scripted = ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {api_token}").post(
        create_url(item.pk), {"issue_id": issue["id"]}
    )
    assert scripted.status_code == 401  # scripts use the configuration or links API
    assert nothing_created(zendesk)


def test_an_unlicensed_site_creates_nothing(panel, tenant, zendesk, item, issue):
    Tenant.objects.filter(pk=tenant.pk).update(license=Tenant.License.NONE)
    response = panel.post(create_url(item.pk), {"issue_id": issue["id"]})
    assert response.status_code == 403 and response.json()["code"] == "license_required"
    assert nothing_created(zendesk)


def test_a_user_who_cannot_see_the_issue_creates_nothing(panel, jira, zendesk, item, issue):
    jira.issue_viewers[issue["id"]] = {"someone-else"}
    response = panel.post(create_url(item.pk), {"issue_id": issue["id"]})
    assert response.status_code == 403 and response.json()["code"] == "issue_forbidden"
    assert nothing_created(zendesk)


def test_a_page_session_creates_only_for_its_own_issue(client, jira, tenant, zendesk, item, issue, project):
    other = jira.add_issue(key="SUP-9", summary="Another", description="x", reporter=dict(REPORTER))
    query = {
        "issueKey": issue["key"],
        "issueId": issue["id"],
        "projectKey": "SUP",
        "projectId": project["id"],
        "issueTypeId": "10001",
        "lic": "active",
    }
    relative = f"/jira/issue-panel?{urlencode(query)}"
    page = client.get(f"{relative}&jwt={jira.sign('GET', relative, account_id=ACCOUNT)}")
    session = html.unescape(re.search(r'data-session="([^"]+)"', page.content.decode()).group(1))
    with_session = ApiClient(client, HTTP_X_DESKBRIDGE_SESSION=session)

    refused = with_session.post(create_url(item.pk), {"issue_id": other["id"]})
    assert refused.status_code == 403 and refused.json()["code"] == "issue_forbidden"
    assert nothing_created(zendesk)

    created = with_session.post(create_url(item.pk), {"issue_id": issue["id"]})
    assert created.status_code == 201, created.content
    assert Link.objects.get().created_by == ACCOUNT


def test_an_item_of_another_project_cannot_create_here(panel, tenant, connection, jira, zendesk, issue):
    jira.add_project("OPS", "Operations")
    elsewhere = make_item(
        tenant,
        connection,
        name="Ops tickets",
        jira_project="OPS",
        mode="two_way",
        jira_issue_type_id="10001",
        mappings=MAPPINGS,
    )
    response = panel.post(create_url(elsewhere.pk), {"issue_id": issue["id"]})
    assert response.status_code == 403 and response.json()["code"] == "item_not_applicable"
    assert nothing_created(zendesk)


def test_another_tenants_item_is_404_and_nothing_is_made_on_either_side(panel, zendesk, item, issue, bravo):
    response = panel.post(create_url(bravo.item.pk), {"issue_id": issue["id"]})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert "Bravo" not in response.content.decode()
    assert not account(zendesk).tickets and not RecordCreate.objects.exists()
    assert len(zendesk.accounts[bravo.connection.subdomain].tickets) == 1  # only its own seeded ticket
    assert list(Link.objects.all()) == [bravo.link]


def test_tenant_b_cannot_create_through_tenant_a_item(client, zendesk, item, issue, bravo):
    as_b = ApiClient(client, HTTP_AUTHORIZATION=f"JWT {bravo.jira.context_token(account_id='b-user')}")
    response = as_b.post(create_url(item.pk), {"issue_id": bravo.issue["id"]})
    assert response.status_code == 404
    assert not account(zendesk).tickets and not RecordCreate.objects.exists()
    assert list(Link.objects.all()) == [bravo.link]


# --- the contract ---------------------------------------------------------------------------------------------


def test_the_schema_describes_what_create_answers(client, panel, item, issue):
    created = panel.post(create_url(item.pk), {"issue_id": issue["id"]}).json()
    schema = client.get("/api/schema/", data={"format": "json"}).json()
    components = schema["components"]["schemas"]

    def resolved(ref_or_schema: dict) -> dict:
        ref = ref_or_schema.get("$ref")
        return components[ref.rsplit("/", 1)[1]] if ref else ref_or_schema

    operation = schema["paths"]["/api/panel/items/{item_id}/records"]["post"]
    answer = resolved(operation["responses"]["201"]["content"]["application/json"]["schema"])
    assert set(answer["properties"]) == set(created)
    assert set(resolved(answer["properties"]["link"])["properties"]) == set(created["link"])
    assert set(resolved(answer["properties"]["record"])["properties"]) == set(created["record"])
    assert {"400", "404", "409"} <= set(operation["responses"])
    request = resolved(operation["requestBody"]["content"]["application/json"]["schema"])
    assert set(request["properties"]) == {"issue_id", "values"}


# --- the form's preview ---------------------------------------------------------------------------------------


def preview_url(item_id) -> str:
    return f"/api/panel/items/{item_id}/records/preview"


def test_the_preview_fills_the_form_from_the_issue_and_makes_nothing(panel, zendesk, item, issue):
    zendesk.add_user(ZD_SUBDOMAIN, name="Rita R.", email="rita@customer.test")
    users_before = dict(account(zendesk).users)

    response = panel.get(preview_url(item.pk), data={"issue_id": issue["id"]})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["object"], body["brand"], body["issue"]) == ("ticket", "Zendesk", {"id": issue["id"], "key": "SUP-7"})
    fields = {f["id"]: f for f in body["fields"]}
    assert [f["id"] for f in body["fields"]][:2] == ["subject", "description"]  # the required ones first
    assert fields["subject"]["required"] and fields["subject"]["value"] == "Printer on fire"
    assert fields["description"]["required"] and fields["description"]["html"] is True  # rich text from ADF
    assert not fields["priority"]["required"] and fields["priority"]["value"] == "urgent"
    assert {"value": "urgent", "label": "Urgent"} in fields["priority"]["options"]
    assert fields["tags"]["value"] == ["printer_fire"]
    assert "Rita R." in body["requester"]["label"]  # the Zendesk user with the reporter's email
    # Read only: no ticket, user, link or intent.
    assert nothing_created(zendesk) and account(zendesk).users == users_before


def test_the_preview_has_the_same_checks_as_create(panel, client, tenant, connection, jira, zendesk, item, issue):
    jira.add_project("OPS", "Operations")
    schema_cache_clear(tenant=tenant)  # the item fixture read the projects before OPS was added
    display = make_item(tenant, connection, name="Display tickets")
    elsewhere = make_item(
        tenant,
        connection,
        name="Ops tickets",
        jira_project="OPS",
        mode="two_way",
        jira_issue_type_id="10001",
        mappings=MAPPINGS,
    )
    query = {"issue_id": issue["id"]}
    jira.issue_viewers[issue["id"]] = {"someone-else"}  # first: Jira's answer is cached for a minute
    forbidden = panel.get(preview_url(item.pk), data=query)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "issue_forbidden"
    del jira.issue_viewers[issue["id"]]
    cache.clear()
    assert panel.get(preview_url(display.pk), data=query).json()["code"] == "record_create_unavailable"
    assert panel.get(preview_url(elsewhere.pk), data=query).json()["code"] == "item_not_applicable"
    assert panel.get(preview_url(999999), data=query).status_code == 404
    assert panel.get(preview_url(item.pk), data={"issue_id": "SUP-7"}).status_code == 400
    assert client.get(preview_url(item.pk), data=query).status_code == 401
    assert nothing_created(zendesk)


def test_another_tenants_item_has_no_preview(panel, zendesk, item, issue, bravo):
    before = len(zendesk.calls(path_regex=r"^/zd/bravo/"))
    response = panel.get(preview_url(bravo.item.pk), data={"issue_id": issue["id"]})
    assert response.status_code == 404 and "Bravo" not in response.content.decode()
    assert len(zendesk.calls(path_regex=r"^/zd/bravo/")) == before


def test_the_schema_describes_the_preview(client, panel, item, issue):
    preview = panel.get(preview_url(item.pk), data={"issue_id": issue["id"]}).json()
    schema = client.get("/api/schema/", data={"format": "json"}).json()
    components = schema["components"]["schemas"]
    operation = schema["paths"]["/api/panel/items/{item_id}/records/preview"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    documented = components[ref.rsplit("/", 1)[1]]
    assert set(documented["properties"]) == set(preview)
    field_ref = documented["properties"]["fields"]["items"]["$ref"]
    assert set(components[field_ref.rsplit("/", 1)[1]]["properties"]) == set(preview["fields"][0])
    for part in ("issue", "requester", "organization"):
        part_ref = documented["properties"][part]["$ref"]
        assert set(components[part_ref.rsplit("/", 1)[1]]["properties"]) == set(preview[part]), part


# --- the panel page ---------------------------------------------------------------------------------------------


def test_the_panel_page_says_which_objects_can_be_created_and_with_what_words(client, jira, tenant, issue, project):
    query = {
        "issueKey": issue["key"],
        "issueId": issue["id"],
        "projectKey": "SUP",
        "projectId": project["id"],
        "issueTypeId": "10001",
        "lic": "active",
    }
    relative = f"/jira/issue-panel?{urlencode(query)}"
    page = client.get(f"{relative}&jwt={jira.sign('GET', relative, account_id=ACCOUNT)}")
    match = re.search(r'<script id="db-create-actions" type="application/json">(.*?)</script>', page.content.decode())
    actions = json.loads(match.group(1))
    assert actions["zendesk"] == {"ticket": "Create ticket"}  # customers and organizations are display-only
    zoho = actions["zoho_desk"]
    assert zoho["tickets"] == "Create ticket"
    assert set(zoho) == set(provider_for("zoho_desk").creatable_objects) and "contracts" not in zoho
    assert {label for module, label in zoho.items() if module != "tickets"} == {"Create record"}

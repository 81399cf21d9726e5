"""Zoho Desk in the issue panel, the links API and tenant isolation: search per module (title words, email,
id, ticket number; time entries by their ticket), linking with a preview and the link note, auto-create on a
module other than tickets after its baseline, one change stream per synchronized module."""

from __future__ import annotations

import pytest

from connector.models import ConnectedItem
from sync.engine import connection_poll
from sync.models import Link, SyncRun, SyncState
from tests.panel.links_helpers import ApiClient, make_item
from tests.panel.test_panel_api import ACCOUNT, LINKS, link_request, search_url
from tests.zoho.test_zoho_sync import zitem

pytestmark = pytest.mark.django_db


@pytest.fixture
def panel(client, jira, tenant):
    return ApiClient(client, HTTP_AUTHORIZATION=f"JWT {jira.context_token(account_id=ACCOUNT)}")


def display_item(tenant, connection, module, **overrides):
    values = {"name": f"Zoho {module}", "helpdesk_object": module, "display_fields": []}
    values.update(overrides)
    return make_item(tenant, connection, **values)


@pytest.fixture
def issue(jira, project):
    return jira.add_issue(key="SUP-1", summary="Compiler crashes")


def titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [r["title"] for r in response.json()["results"]]


def test_search_every_searchable_module_by_words_email_and_id(panel, tenant, zoho_connection, zoho, issue):
    org = zoho.org.id
    contact = zoho.add_contact(org, firstName="Grace", lastName="Hopper", email="grace@navy.test")
    zoho.add_account(org, accountName="Navy Yard")
    ticket = zoho.add_ticket(org, subject="Compiler crashes", contactId=contact["id"])
    task = zoho.add_record(org, "tasks", subject="Call Grace back")
    cases = [
        ("tickets", "compil", f"#{ticket['ticketNumber']} Compiler crashes"),
        ("tickets", ticket["ticketNumber"], f"#{ticket['ticketNumber']} Compiler crashes"),
        ("tickets", ticket["id"], f"#{ticket['ticketNumber']} Compiler crashes"),
        ("contacts", "grace@navy.test", "Grace Hopper"),
        ("contacts", contact["id"], "Grace Hopper"),
        ("accounts", "navy", "Navy Yard"),
        ("tasks", "call", "Call Grace back"),
        ("tasks", task["id"], "Call Grace back"),
    ]
    for module, query, expected in cases:
        item = display_item(tenant, zoho_connection, module, name=f"{module} {query}")
        found = titles(panel.get(search_url(item.pk), data={"q": query, "issue_id": issue["id"]}))
        assert expected in found, (module, query, found)


def test_time_entries_are_found_by_their_ticket_and_contracts_by_id(panel, tenant, zoho_connection, zoho, issue):
    from connector.providers import client_for

    ticket = zoho.add_ticket(zoho.org.id, subject="Billable work")
    entries = client_for(zoho_connection).time_entries(ticket["id"])
    item = display_item(tenant, zoho_connection, "timeEntry")
    found = panel.get(search_url(item.pk), data={"q": ticket["ticketNumber"], "issue_id": issue["id"]})
    assert found.status_code == 200 and len(found.json()["results"]) == len(entries)
    contracts = display_item(tenant, zoho_connection, "contracts")
    assert titles(panel.get(search_url(contracts.pk), data={"q": "anything", "issue_id": issue["id"]})) == []


def test_linking_a_ticket_shows_its_preview_and_posts_the_link_note(panel, tenant, zoho_connection, zoho, jira, issue):
    ticket = zoho.add_ticket(zoho.org.id, subject="Compiler crashes", priority="High")
    item = zitem(tenant, zoho_connection)  # two-way: the note is on by default for Zoho items
    response = panel.post(LINKS, link_request(item, issue, ticket["id"]))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["title"] == f"#{ticket['ticketNumber']} Compiler crashes"
    assert {f["id"]: f["value"] for f in body["fields"]} == {"status": "Open", "priority": "High"}
    assert body["url"] == zoho.orgs[zoho.org.id].records["tickets"][ticket["id"]].get("webUrl", body["url"])
    assert ticket["id"] in body["url"]
    notes = zoho.orgs[zoho.org.id].comments[("tickets", ticket["id"])]
    assert len(notes) == 1 and notes[0]["isPublic"] is False
    text = notes[0]["content"]
    assert "SUP-1" in text and f"{jira.url}/browse/SUP-1" in text and "Two-way sync of" in text
    assert "status, comments, attachments" in text


def test_a_contact_link_note_is_a_plain_comment(panel, tenant, zoho_connection, zoho, issue):
    contact = zoho.add_contact(zoho.org.id, firstName="Grace", lastName="Hopper", email="grace@navy.test")
    item = display_item(tenant, zoho_connection, "contacts", link_note=True)
    assert panel.post(LINKS, link_request(item, issue, contact["id"])).status_code == 201
    (note,) = zoho.orgs[zoho.org.id].comments[("contacts", contact["id"])]
    assert "SUP-1" in note["content"] and "Display only" in note["content"]


def test_each_synchronized_module_has_its_own_cursor_and_auto_create_keeps_its_baseline(
    tenant, zoho_connection, zoho, jira, project
):
    org = zoho.org.id
    before = zoho.add_record(org, "tasks", subject="Old task")  # made before the item: never retro-created
    zitem(tenant, zoho_connection)
    tasks = make_item(
        tenant,
        zoho_connection,
        name="Zoho tasks",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_project="SUP",
        helpdesk_object="tasks",
        jira_issue_type_id="10001",
        auto_create=True,
        mappings=[{"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}}],
    )
    zoho.advance(2)
    new = zoho.add_record(org, "tasks", subject="Fresh task")
    zoho.user_update(org, "tasks", before["id"], subject="Old task, touched")
    import time

    time.sleep(2.1)  # the fake's clock is two seconds ahead: let the search range reach the new task
    run = connection_poll(connection_id=zoho_connection.pk)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    assert set(SyncState.objects.get().cursors) == {"tickets", "tasks"}
    created = Link.objects.filter(item=tasks)
    assert [link.record_id for link in created] == [new["id"]]
    summaries = [i["fields"]["summary"] for i in jira.issues.values()]
    assert summaries == ["Fresh task"]
    searches = [r for r in zoho.requests if r.path.endswith("/search")]
    assert {r.path.rsplit("/", 2)[-2] for r in searches} == {"tickets", "tasks"}
    assert connection_poll(connection_id=zoho_connection.pk).counts["issues_created"] == 0  # never twice


def test_cards_name_zoho_desk_for_the_open_link_and_carry_the_ticket_status(
    panel, tenant, zoho_connection, zoho, jira, project, issue
):
    ticket = zoho.add_ticket(zoho.org.id, subject="Compiler crashes", priority="High")
    item = display_item(tenant, zoho_connection, "tickets", display_fields=["status"])
    created = panel.post(LINKS, link_request(item, issue, ticket["id"]))
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "Open" and created.json()["warning"] == ""

    cards = panel.get("/api/panel/cards", data={"issue_id": issue["id"]}).json()

    (card,) = cards["cards"]
    assert (card["item"]["provider"], card["item"]["brand"]) == ("zoho_desk", "Zoho Desk")
    assert card["links"][0]["status"] == "Open"
    assert ticket["id"] in card["links"][0]["url"]


def test_a_disconnected_zoho_desk_keeps_its_links_read_only(panel, tenant, zoho_connection, zoho, jira, project, issue):
    from connector.services import connection_revoke

    ticket = zoho.add_ticket(zoho.org.id, subject="Compiler crashes")
    item = display_item(tenant, zoho_connection, "tickets")
    assert panel.post(LINKS, link_request(item, issue, ticket["id"])).status_code == 201
    connection_revoke(tenant=tenant, connection=zoho_connection)

    body = panel.get("/api/panel/cards", data={"issue_id": issue["id"]}).json()

    assert body["state"] == "disconnected"
    assert body["notice"].startswith("Zoho Desk is not connected, so these links are read-only")
    (card,) = body["cards"]
    assert card["item"]["read_only"] is True and card["item"]["brand"] == "Zoho Desk"
    assert [link["record_id"] for link in card["links"]] == [ticket["id"]]

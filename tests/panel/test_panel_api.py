"""The issue panel: its JSON API (/api/panel/...) and the iframe page Jira loads (/jira/issue-panel).

The panel authenticates with a context JWT (``AP.context.getToken()``) or the page session the page was
rendered with. Cards come from our database only (no helpdesk call, constant query count); search, link
and refresh talk to the fake Zendesk; every link change sets the issue's badge property on the fake Jira.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from connector.models import ConnectedItem
from connector.services import connection_revoke
from sync.models import Link, SyncEvent, SyncRun
from sync.services import sync_words
from tenants.models import Tenant
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import ApiClient, badge, badge_of, install_second_tenant, make_item, raw_link

pytestmark = pytest.mark.django_db

ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"  # the Jira user of FakeJira's tokens
CARDS = "/api/panel/cards"
LINKS = "/api/panel/links"


def search_url(item_id) -> str:
    return f"/api/panel/items/{item_id}/search"


def refresh_url(link_id) -> str:
    return f"/api/panel/links/{link_id}/refresh"


def unlink_url(link_id) -> str:
    return f"/api/panel/links/{link_id}"


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture
def panel(client, jira, tenant):
    """Calls as the iframe makes them: ``Authorization: JWT <context token>``."""
    return ApiClient(client, HTTP_AUTHORIZATION=f"JWT {jira.context_token(account_id=ACCOUNT)}")


@pytest.fixture
def item(tenant, connection, project):
    return make_item(tenant, connection)


@pytest.fixture
def issue(jira, project):
    return jira.add_issue(key="SUP-1", summary="Printer is on fire")


@pytest.fixture
def ticket(zendesk):
    return zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire", priority="high", status="open")


@pytest.fixture
def context(project, issue):
    """The issue context the panel sends with every cards call (a Task of SUP)."""
    return {"issue_id": issue["id"], "project_id": project["id"], "issue_type_id": "10001"}


@pytest.fixture
def bravo(client, settings, install_keys, zendesk, tenant):
    second = install_second_tenant(client, settings, install_keys, zendesk)
    yield second
    second.jira.stop()


def link_request(item, issue, record_id) -> dict:
    return {"item_id": item.pk, "issue_id": issue["id"], "issue_key": issue["key"], "record_id": str(record_id)}


def expected_link(link: Link, **changes) -> dict:
    link.refresh_from_db()
    out = {
        "id": link.pk,
        "record_id": link.record_id,
        "origin": link.origin,
        "title": link.preview["title"],
        "status": link.preview.get("subtitle", "") if link.item.helpdesk_object == "ticket" else "",
        "url": link.preview["url"],
        "fields": link.preview["fields"],
        "preview_updated_at": link.preview_updated_at.isoformat(),
        "can_unlink": link.origin == Link.Origin.MANUAL,
        "sync_stopped_at": link.sync_stopped_at.isoformat() if link.sync_stopped_at else None,
        "problems": [],
    }
    out.update(changes)
    return out


def card_item(item: ConnectedItem, **changes) -> dict:
    labels = {"ticket": "Tickets", "user": "Customers", "organization": "Organizations"}
    out = {
        "id": item.pk,
        "name": item.name,
        "mode": item.mode,
        "mode_label": item.get_mode_display(),
        "object": item.helpdesk_object,
        "object_label": labels[item.helpdesk_object],
        "provider": "zendesk",
        "brand": "Zendesk",
        "synchronized": item.mode != ConnectedItem.Mode.DISPLAY,
        "paused": False,
        "read_only": False,
        "sync_words": sync_words(item) if item.mode != ConnectedItem.Mode.DISPLAY else "",
        "last_sync_at": None,
    }
    out.update(changes)
    return out


def value_of(link_json: dict, field_id: str) -> str:
    return next(f["value"] for f in link_json["fields"] if f["id"] == field_id)


# --- authentication and licence -----------------------------------------------------------------------


def test_cards_need_authentication(client, context):
    response = client.get(CARDS, data=context)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_token_signed_with_another_secret_is_refused(client, jira, tenant, context):
    token = jira.sign("GET", "/", qsh="context-qsh", secret="not-the-shared-secret-0123456789abcdef")
    response = ApiClient(client, HTTP_AUTHORIZATION=f"JWT {token}").get(CARDS, data=context)
    assert response.status_code == 401


def test_a_tenant_api_token_does_not_open_the_panel_api(client, api_token, context):
    response = ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {api_token}").get(CARDS, data=context)
    assert response.status_code == 401


def test_unlicensed_tenant_gets_license_required_everywhere(panel, tenant, item, issue, ticket, context):
    link = raw_link(tenant, item, issue["id"], ticket["id"])
    Tenant.objects.filter(pk=tenant.pk).update(license=Tenant.License.NONE)

    for response in (
        panel.get(CARDS, data=context),
        panel.get(search_url(item.pk), data={"q": "printer"}),
        panel.post(LINKS, link_request(item, issue, ticket["id"])),
        panel.post(refresh_url(link.pk)),
        panel.delete(unlink_url(link.pk)),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "license_required"
    assert list(Link.objects.all()) == [link]


@pytest.mark.parametrize("issue_id", [None, "", "SUP-1", "١٢"])
def test_cards_need_a_numeric_issue_id(panel, context, issue_id):
    data = {} if issue_id is None else {"issue_id": issue_id}
    response = panel.get(CARDS, data=data)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_failed"
    assert set(body["extra"]["fields"]) == {"issue_id"}


def test_cards_take_project_and_type_from_jira_not_from_the_caller(panel, tenant, connection, jira, project, context):
    """A caller who names another project or type (to see or search through its items) gets the cards of
    the issue's real project and type."""
    make_item(tenant, connection, name="Task sync", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10001")
    make_item(tenant, connection, name="Bug sync", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10002")
    forged = panel.get(CARDS, data={**context, "issue_type_id": "10002", "project_id": "99999"}).json()
    assert [c["item"]["name"] for c in forged["cards"]] == ["Task sync"]
    assert len(jira.calls("GET", rf"/issue/{context['issue_id']}$")) == 1


# --- cards --------------------------------------------------------------------------------------------


def test_one_card_per_applicable_item(panel, tenant, connection, jira, project, issue, ticket, zendesk, context):
    jira.add_project("OPS", "Operations")
    display = make_item(tenant, connection, name="A display")
    task_sync = make_item(
        tenant, connection, name="B task sync", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10001"
    )
    make_item(tenant, connection, name="C bug sync", mode=ConnectedItem.Mode.TWO_WAY, jira_issue_type_id="10002")
    make_item(tenant, connection, name="D other project", jira_project="OPS")
    customers = make_item(tenant, connection, name="E customers", helpdesk_object="user", display_fields=["email"])
    link = raw_link(
        tenant,
        display,
        issue["id"],
        ticket["id"],
        preview={
            "title": "#1 Printer on fire",
            "url": "https://z/1",
            "fields": [{"id": "status", "label": "Status", "value": "open"}],
        },
        preview_updated_at="2026-01-02T03:04:05Z",
    )
    raw_link(tenant, display, "77777", ticket["id"], key="SUP-9")  # another issue

    response = panel.get(CARDS, data=context)

    assert response.status_code == 200
    assert response.json() == {
        "state": "ok",
        "notice": "",
        "cards": [
            {"item": card_item(display), "links": [expected_link(link)]},
            {"item": card_item(task_sync), "links": []},
            {"item": card_item(customers), "links": []},
        ],
    }
    # a Bug of the same project: the Task-only synchronized item gives way to the Bug one
    bug = jira.add_issue(key="SUP-9", issue_type_id="10002")
    as_bug = panel.get(CARDS, data={"issue_id": bug["id"]}).json()
    assert [c["item"]["name"] for c in as_bug["cards"]] == ["A display", "C bug sync", "E customers"]


def test_cards_show_readable_values_keyed_by_field_id(panel, tenant, connection, project, issue, zendesk, context):
    severity = zendesk.add_ticket_field(ZD_SUBDOMAIN, "Severity", "tagger", options=["Sev 1", "Sev 2"])
    impact = zendesk.add_ticket_field(ZD_SUBDOMAIN, "Severity", "tagger", options=[("Customer facing", "cf")])
    org = zendesk.add_organization(ZD_SUBDOMAIN, name="Globex Corporation")
    carla = zendesk.add_user(ZD_SUBDOMAIN, name="Carla Customer", email="carla@globex.test", organization_id=org["id"])
    ticket = zendesk.add_ticket(
        ZD_SUBDOMAIN,
        subject="Invoices print blank",
        requester_id=carla["id"],
        organization_id=org["id"],
        custom_fields=[{"id": severity["id"], "value": "sev_1"}, {"id": impact["id"], "value": "cf"}],
    )
    shown = [f"custom_field:{severity['id']}", f"custom_field:{impact['id']}", "requester.name", "organization.name"]
    item = make_item(tenant, connection, name="Readable", display_fields=shown)
    assert panel.post(LINKS, link_request(item, issue, ticket["id"])).status_code == 201

    fields = panel.get(CARDS, data=context).json()["cards"][0]["links"][0]["fields"]

    assert fields == [
        {"id": shown[0], "label": "Severity", "value": "Sev 1"},
        {"id": shown[1], "label": "Severity", "value": "Customer facing"},
        {"id": "requester.name", "label": "Requester name", "value": "Carla Customer"},
        {"id": "organization.name", "label": "Organization", "value": "Globex Corporation"},
    ]


def test_cards_never_call_the_helpdesk(panel, tenant, item, issue, ticket, zendesk, jira, context):
    panel.post(LINKS, link_request(item, issue, ticket["id"]))
    zendesk_before, jira_before = len(zendesk.requests), len(jira.requests)

    response = panel.get(CARDS, data=context)

    assert response.status_code == 200
    assert len(response.json()["cards"][0]["links"]) == 1
    assert zendesk.requests[zendesk_before:] == []
    assert jira.requests[jira_before:] == []


def test_cards_query_count_does_not_grow_with_links(panel, tenant, connection, item, project, jira):
    second = make_item(tenant, connection, name="Second")
    few, many = jira.add_issue(key="SUP-2"), jira.add_issue(key="SUP-3")
    raw_link(tenant, item, few["id"], 1, key="SUP-2")
    Link.objects.bulk_create(
        Link(
            tenant=tenant,
            item=(item, second)[n % 2],
            jira_issue_id=many["id"],
            jira_issue_key="SUP-3",
            record_id=str(n),
            preview={"title": f"#{n}", "fields": [{"id": "status", "label": "Status", "value": "open"}]},
        )
        for n in range(30)
    )

    def count(issue_id):
        with CaptureQueriesContext(db_connection) as queries:
            response = panel.get(CARDS, data={"issue_id": issue_id, "project_id": project["id"], "issue_type_id": "1"})
        assert response.status_code == 200
        return len(queries), sum(len(c["links"]) for c in response.json()["cards"])

    count(few["id"])  # warm-up: whatever a first request caches is not the links' doing
    few_queries, few_links = count(few["id"])
    many_queries, many_links = count(many["id"])
    assert (few_links, many_links) == (1, 30)
    assert many_queries == few_queries


def test_cards_of_a_revoked_connection_stay_visible_read_only(panel, tenant, connection, item, issue, ticket, context):
    linked = panel.post(LINKS, link_request(item, issue, ticket["id"])).json()
    make_item(tenant, connection, name="Z unlinked")  # nothing linked through it: nothing to show
    connection_revoke(tenant=tenant, connection=connection)

    response = panel.get(CARDS, data=context)

    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "disconnected"
    assert body["notice"] == (
        "Zendesk is not connected, so these links are read-only: they show what was last synced and cannot be "
        "refreshed, added or unlinked. A Jira admin can reconnect on the Deskbridge admin page "
        "(Jira settings → Apps → Deskbridge)."
    )
    item.refresh_from_db()
    assert body["cards"] == [
        {"item": card_item(item, paused=True, read_only=True), "links": [expected_link(Link.objects.get())]}
    ]
    assert body["cards"][0]["links"][0]["title"] == linked["title"]


def test_cards_of_a_site_without_a_helpdesk_say_so(panel, tenant, project, issue, context):
    body = panel.get(CARDS, data=context).json()
    assert body == {
        "state": "disconnected",
        "notice": "No helpdesk is connected for this Jira site. A Jira admin can connect one on the Deskbridge admin "
        "page (Jira settings → Apps → Deskbridge).",
        "cards": [],
    }


def test_cards_of_a_revoked_connection_without_links_name_the_helpdesk(panel, tenant, connection, item, context):
    connection_revoke(tenant=tenant, connection=connection)
    body = panel.get(CARDS, data=context).json()
    assert (body["state"], body["cards"]) == ("disconnected", [])
    assert body["notice"].startswith("Zendesk is not connected. A Jira admin can reconnect")


def test_cards_show_nothing_of_another_tenant_with_the_same_ids(panel, tenant, item, bravo, project, issue):
    # both fake sites number projects and issues from 10000: tenant B's link sits on "the same" issue id
    assert (
        (bravo.issue["id"], bravo.item.jira_project_id) == (str(10000), project["id"]) == (issue["id"], project["id"])
    )

    response = panel.get(CARDS, data={"issue_id": bravo.issue["id"], "project_id": project["id"], "issue_type_id": "1"})

    assert response.json() == {"state": "ok", "notice": "", "cards": [{"item": card_item(item), "links": []}]}
    assert "Bravo" not in response.content.decode()


# --- search -------------------------------------------------------------------------------------------


@pytest.fixture
def directory(zendesk, issue):
    """Tickets, customers and organizations of the acme account."""
    globex = zendesk.add_organization(ZD_SUBDOMAIN, name="Globex Corporation", domain_names=["globex.test"])
    initech = zendesk.add_organization(ZD_SUBDOMAIN, name="Initech")
    carla = zendesk.add_user(
        ZD_SUBDOMAIN, name="Carla Customer", email="carla@globex.test", organization_id=globex["id"]
    )
    peter = zendesk.add_user(ZD_SUBDOMAIN, name="Peter Gibbons", email="peter@initech.test")
    printer = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire", requester_id=carla["id"])
    keyboard = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Keyboard missing keys", status="pending")
    return {
        "issue": issue,
        "globex": globex,
        "initech": initech,
        "carla": carla,
        "peter": peter,
        "printer": printer,
        "keyboard": keyboard,
    }


def search(panel, issue, item, q):
    response = panel.get(search_url(item.pk), data={"issue_id": issue["id"], "q": q})
    assert response.status_code == 200, response.content
    return response.json()


def ids(results) -> list[str]:
    return [r["id"] for r in results["results"]]


def test_search_tickets_by_partial_subject_and_by_id(panel, item, directory):
    printer, keyboard = directory["printer"], directory["keyboard"]

    by_words = search(panel, directory["issue"], item, "prin")
    assert by_words == {
        "results": [{"id": str(printer["id"]), "title": f"#{printer['id']} Printer on fire", "subtitle": "open"}],
        "hint": "",
    }
    assert ids(search(panel, directory["issue"], item, "Keyboard miss")) == [str(keyboard["id"])]
    by_id = search(panel, directory["issue"], item, str(keyboard["id"]))
    assert by_id["results"][0] == {
        "id": str(keyboard["id"]),
        "title": f"#{keyboard['id']} Keyboard missing keys",
        "subtitle": "pending",
    }


def test_search_customers_by_partial_name_email_or_id(panel, tenant, connection, directory):
    customers = make_item(tenant, connection, name="Customers", helpdesk_object="user", display_fields=["email"])
    carla, peter = directory["carla"], directory["peter"]

    assert ids(search(panel, directory["issue"], customers, "carl")) == [str(carla["id"])]
    assert ids(search(panel, directory["issue"], customers, "gibb")) == [str(peter["id"])]
    assert ids(search(panel, directory["issue"], customers, "peter@initech")) == [str(peter["id"])]
    by_id = search(panel, directory["issue"], customers, str(carla["id"]))
    assert by_id["results"] == [{"id": str(carla["id"]), "title": "Carla Customer", "subtitle": "carla@globex.test"}]


def test_search_organizations_by_partial_name_or_id(panel, tenant, connection, directory):
    orgs = make_item(tenant, connection, name="Orgs", helpdesk_object="organization", display_fields=["name"])
    globex, initech = directory["globex"], directory["initech"]

    assert search(panel, directory["issue"], orgs, "glob")["results"] == [
        {"id": str(globex["id"]), "title": "Globex Corporation", "subtitle": "globex.test"}
    ]
    assert ids(search(panel, directory["issue"], orgs, "corp")) == [str(globex["id"])]
    assert ids(search(panel, directory["issue"], orgs, str(initech["id"]))) == [str(initech["id"])]


def test_a_ticket_id_written_as_shown_in_titles_is_found(panel, item, directory):
    """Titles read "#12 Printer on fire"; an agent pasting "#12" means ticket 12."""
    printer = directory["printer"]
    assert ids(search(panel, directory["issue"], item, f"#{printer['id']}")) == [str(printer["id"])]


def test_a_direct_id_is_found_even_when_search_does_not_see_it_yet(panel, item, zendesk, directory):
    zendesk.search_lag_seconds = 600  # Zendesk indexes new records minutes later
    fresh = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Brand new outage")

    assert search(panel, directory["issue"], item, "outage")["results"] == []
    assert ids(search(panel, directory["issue"], item, str(fresh["id"]))) == [str(fresh["id"])]
    assert ids(search(panel, directory["issue"], item, f"  {fresh['id']} ")) == [str(fresh["id"])]


def test_empty_results_say_so_and_suggest_the_id(panel, tenant, connection, item, directory):
    result = search(panel, directory["issue"], item, "zebra")
    assert result["results"] == []
    assert "No tickets match" in result["hint"] and "zebra" in result["hint"]
    assert "id" in result["hint"]

    customers = make_item(tenant, connection, name="Customers", helpdesk_object="user", display_fields=["email"])
    customer_hint = search(panel, directory["issue"], customers, "nobody@nowhere")["hint"]
    assert "No customers match" in customer_hint and "id" in customer_hint


def test_an_empty_query_asks_nothing(panel, item, issue, zendesk):
    before = len(zendesk.requests)
    assert search(panel, issue, item, "   ") == {"results": [], "hint": ""}
    assert len(zendesk.requests) == before


def test_search_when_zendesk_is_rate_limiting(panel, item, issue, zendesk):
    zendesk.rate_limit_next(retry_after=30)
    response = panel.get(search_url(item.pk), data={"issue_id": issue["id"], "q": "printer"})
    assert response.status_code == 429
    assert response.json()["code"] == "helpdesk_rate_limited"
    assert response.json()["extra"] == {"retry_after": 30}


# --- link ---------------------------------------------------------------------------------------------


def test_link_creates_the_link_with_a_preview_and_sets_the_badge(panel, tenant, item, issue, ticket, jira):
    response = panel.post(LINKS, link_request(item, issue, ticket["id"]))

    assert response.status_code == 201, response.content
    link = Link.objects.get()
    assert response.json() == expected_link(link, warning="")
    assert response.json()["status"] == "open"  # the lozenge
    assert response.json()["fields"] == [
        {"id": "status", "label": "Status", "value": "open"},
        {"id": "priority", "label": "Priority", "value": "High"},
    ]
    assert (link.tenant_id, link.item_id, link.jira_issue_id, link.jira_issue_key) == (
        tenant.pk,
        item.pk,
        issue["id"],
        "SUP-1",
    )
    assert link.created_by == ACCOUNT
    assert badge(jira, issue["id"]) == badge_of(1)


def test_the_badge_counts_links_of_every_item(panel, tenant, connection, item, issue, ticket, zendesk, jira):
    customers = make_item(tenant, connection, name="Customers", helpdesk_object="user", display_fields=["email"])
    person = zendesk.add_user(ZD_SUBDOMAIN, name="Dana", email="dana@example.com")
    other_ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Second")

    assert panel.post(LINKS, link_request(item, issue, ticket["id"])).status_code == 201
    assert badge(jira, issue["id"]) == badge_of(1)
    assert panel.post(LINKS, link_request(customers, issue, person["id"])).status_code == 201
    assert badge(jira, issue["id"]) == badge_of(2)
    third = panel.post(LINKS, link_request(item, issue, other_ticket["id"])).json()
    assert badge(jira, issue["id"]) == badge_of(3)

    assert panel.delete(unlink_url(third["id"])).status_code == 204
    assert badge(jira, issue["id"]) == badge_of(2)


def test_linking_twice_is_409_link_exists(panel, item, issue, ticket, jira):
    panel.post(LINKS, link_request(item, issue, ticket["id"]))
    response = panel.post(LINKS, link_request(item, issue, ticket["id"]))
    assert response.status_code == 409
    assert response.json()["code"] == "link_exists"
    assert Link.objects.count() == 1
    assert badge(jira, issue["id"]) == badge_of(1)


def test_linking_a_missing_record_is_400_record_not_found(panel, item, issue, jira):
    response = panel.post(LINKS, link_request(item, issue, 4242))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "record_not_found"
    assert "4242" in body["message"]
    assert body["extra"] == {"record_id": "4242"}
    assert not Link.objects.exists()
    assert badge(jira, issue["id"]) is None


def test_an_incomplete_link_request_is_400(panel, item, issue):
    response = panel.post(LINKS, {"item_id": item.pk, "issue_id": issue["id"]})
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"issue_key", "record_id"}


def test_link_note_posts_a_private_comment(panel, tenant, connection, issue, ticket, zendesk, jira, project):
    noted = make_item(tenant, connection, name="Noted", link_note=True)

    assert panel.post(LINKS, link_request(noted, issue, ticket["id"])).status_code == 201

    comments = zendesk.accounts[ZD_SUBDOMAIN].comments[ticket["id"]]
    note = comments[-1]
    assert len(comments) == 2 and note["public"] is False
    assert "SUP-1" in note["body"]
    assert f"{jira.url}/browse/SUP-1" in note["body"]
    assert "Display only" in note["body"]


def test_a_refused_link_note_keeps_the_link_and_warns_the_user(panel, tenant, connection, issue, zendesk, jira):
    closed = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Old outage", status="closed")  # Zendesk refuses updates
    noted = make_item(tenant, connection, name="Noted", link_note=True)

    response = panel.post(LINKS, link_request(noted, issue, closed["id"]))

    assert response.status_code == 201, response.content
    link = Link.objects.get()
    assert response.json() == expected_link(link, warning=response.json()["warning"])
    warning = response.json()["warning"]
    assert warning.startswith(f"Linked, but Zendesk refused the link note on ticket {closed['id']} (")
    assert "closed prevents ticket update" in warning
    assert "do not see that it is linked to SUP-1" in warning
    assert len(zendesk.accounts[ZD_SUBDOMAIN].comments[closed["id"]]) == 1  # only the ticket's own
    assert badge(jira, issue["id"]) == badge_of(1)


def test_the_links_api_carries_the_link_note_warning(api, tenant, connection, issue, zendesk):
    closed = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Old outage", status="closed")
    open_ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="New outage")
    noted = make_item(tenant, connection, name="Noted", link_note=True, links_api_enabled=True)
    url = f"/api/v2/integrations/jira/{noted.external_id}/links"

    def create(ticket_id):
        return api.post(url, {"link": {"issue_id": issue["id"], "issue_key": "SUP-1", "ticket_id": str(ticket_id)}})

    refused = create(closed["id"])
    assert refused.status_code == 201, refused.content
    (warning,) = refused.json()["warnings"]
    assert warning["code"] == "LinkNoteFailed"
    assert warning["title"].startswith(f"Linked, but Zendesk refused the link note on ticket {closed['id']}")
    posted = create(open_ticket["id"])
    assert posted.status_code == 201
    assert posted.json() == {
        "link": {"issue_id": issue["id"], "issue_key": "SUP-1", "ticket_id": str(open_ticket["id"])}
    }
    assert Link.objects.count() == 2


def test_a_synchronized_card_says_what_syncs_when_and_each_links_problems(
    panel, tenant, connection, issue, zendesk, context
):
    item = make_item(
        tenant,
        connection,
        name="Escalations",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        status_sync=True,
        comment_sync=True,
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
            {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}},
        ],
    )
    synced_at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    ConnectedItem.objects.filter(pk=item.pk).update(last_sync_at=synced_at)
    ok, closed, refused = (raw_link(tenant, item, issue["id"], n, preview={"title": f"#{n}"}) for n in (1, 2, 3))
    stopped_at = datetime(2026, 3, 1, tzinfo=UTC)
    Link.objects.filter(pk=closed.pk).update(sync_stopped_at=stopped_at)
    old = SyncRun.objects.create(tenant=tenant, connection=connection, trigger=SyncRun.Trigger.SCHEDULE)
    new = SyncRun.objects.create(tenant=tenant, connection=connection, trigger=SyncRun.Trigger.SCHEDULE)
    for run, link, result, message in [
        (old, ok, SyncEvent.Result.ERROR, "Priority urgent has no Jira value"),  # fixed by the next pass
        (new, ok, SyncEvent.Result.OK, "fields"),
        (new, refused, SyncEvent.Result.OK, "status"),
        (new, refused, SyncEvent.Result.ERROR, "Jira refused the summary: too long"),
    ]:
        SyncEvent.objects.create(
            tenant=tenant, run=run, link=link, item=item, action="fields", result=result, message=message
        )

    card = panel.get(CARDS, data=context).json()["cards"][0]

    item.refresh_from_db()
    assert card["item"]["sync_words"] == sync_words(item) == "Two-way sync of fields both ways, status, comments"
    assert card["item"]["last_sync_at"] == synced_at.isoformat()
    problems = {link["record_id"]: link["problems"] for link in card["links"]}
    assert problems["1"] == []
    assert problems["2"] == [
        {
            "code": "sync_stopped",
            "message": "Closed in Zendesk: its last state was synced and this link no longer syncs.",
            "at": stopped_at.isoformat(),
        }
    ]
    ((problem),) = problems["3"]
    assert (problem["code"], problem["message"]) == ("sync_error", "Jira refused the summary: too long")


def test_cards_of_synchronized_items_take_as_many_queries_for_many_links_as_for_few(
    panel, tenant, connection, project, jira
):
    item = make_item(tenant, connection, name="Sync", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10001")
    run = SyncRun.objects.create(tenant=tenant, connection=connection, trigger=SyncRun.Trigger.SCHEDULE)
    few, many = jira.add_issue(key="SUP-2"), jira.add_issue(key="SUP-3")
    for issue, count in ((few, 1), (many, 20)):
        for n in range(count):
            link = raw_link(tenant, item, issue["id"], f"{issue['id']}{n}", key=issue["key"])
            SyncEvent.objects.create(tenant=tenant, run=run, link=link, action="fields", result="error", message="x")

    def count(issue_id):
        with CaptureQueriesContext(db_connection) as queries:
            body = panel.get(CARDS, data={"issue_id": issue_id}).json()
        return len(queries), sum(len(link["problems"]) for c in body["cards"] for link in c["links"])

    count(few["id"])
    few_queries, few_problems = count(few["id"])
    many_queries, many_problems = count(many["id"])
    assert (few_problems, many_problems) == (1, 20)
    assert many_queries == few_queries


def test_linking_through_a_paused_item_says_not_connected(panel, tenant, connection, item, issue, ticket):
    connection_revoke(tenant=tenant, connection=connection)
    response = panel.post(LINKS, link_request(item, issue, ticket["id"]))
    assert response.status_code == 409
    assert response.json()["code"] == "helpdesk_not_connected"
    assert not Link.objects.exists()


# --- refresh ------------------------------------------------------------------------------------------


def test_refresh_pulls_the_record_live_and_the_cards_show_it(panel, item, issue, ticket, zendesk, context):
    created = panel.post(LINKS, link_request(item, issue, ticket["id"])).json()
    assert value_of(created, "status") == "open"
    zendesk.accounts[ZD_SUBDOMAIN].tickets[ticket["id"]].update(status="solved", priority="urgent")
    assert value_of(panel.get(CARDS, data=context).json()["cards"][0]["links"][0], "status") == "open"
    fetches = len(zendesk.calls("GET", rf"/tickets/{ticket['id']}\.json$"))

    response = panel.post(refresh_url(created["id"]))

    assert response.status_code == 200
    refreshed = response.json()
    assert (value_of(refreshed, "status"), value_of(refreshed, "priority")) == ("solved", "Urgent")
    stamps = (created["preview_updated_at"], refreshed["preview_updated_at"])
    assert datetime.fromisoformat(stamps[1]) > datetime.fromisoformat(stamps[0])
    assert len(zendesk.calls("GET", rf"/tickets/{ticket['id']}\.json$")) == fetches + 1  # live, not cached
    card_link = panel.get(CARDS, data=context).json()["cards"][0]["links"][0]
    assert card_link == refreshed


def test_refresh_of_a_deleted_record_is_400(panel, item, issue, ticket, zendesk):
    created = panel.post(LINKS, link_request(item, issue, ticket["id"])).json()
    del zendesk.accounts[ZD_SUBDOMAIN].tickets[ticket["id"]]

    response = panel.post(refresh_url(created["id"]))

    assert response.status_code == 400
    assert response.json()["code"] == "record_not_found"
    assert Link.objects.get(pk=created["id"]).preview["fields"] == created["fields"]


def test_refresh_does_not_change_the_badge(panel, item, issue, ticket, jira):
    created = panel.post(LINKS, link_request(item, issue, ticket["id"])).json()
    puts = len(jira.calls("PUT", r"/properties/"))
    assert panel.post(refresh_url(created["id"])).status_code == 200
    assert len(jira.calls("PUT", r"/properties/")) == puts
    assert badge(jira, issue["id"]) == badge_of(1)


# --- unlink -------------------------------------------------------------------------------------------


def test_unlink_a_manual_link(panel, item, issue, ticket, jira, context):
    created = panel.post(LINKS, link_request(item, issue, ticket["id"])).json()

    response = panel.delete(unlink_url(created["id"]))

    assert response.status_code == 204
    assert not Link.objects.exists()
    assert badge(jira, issue["id"]) == badge_of(0)
    assert panel.get(CARDS, data=context).json()["cards"][0]["links"] == []
    assert panel.delete(unlink_url(created["id"])).status_code == 404


def test_an_auto_managed_link_cannot_be_unlinked(panel, tenant, item, issue, ticket, jira, context):
    auto = raw_link(tenant, item, issue["id"], ticket["id"], origin=Link.Origin.AUTO)
    card_link = panel.get(CARDS, data=context).json()["cards"][0]["links"][0]
    assert (card_link["origin"], card_link["can_unlink"]) == ("auto", False)

    response = panel.delete(unlink_url(auto.pk))

    assert response.status_code == 403
    assert response.json()["code"] == "auto_managed_link"
    assert Link.objects.filter(pk=auto.pk).exists()
    assert badge(jira, issue["id"]) is None


# --- cross-tenant ---------------------------------------------------------------------------------------


def test_another_tenants_item_and_link_are_404(panel, item, issue, ticket, zendesk, bravo):
    b_preview = dict(bravo.link.preview)
    responses = {
        "search": panel.get(search_url(bravo.item.pk), data={"issue_id": issue["id"], "q": "bravo"}),
        "link": panel.post(LINKS, link_request(bravo.item, bravo.issue, bravo.ticket["id"])),
        "refresh": panel.post(refresh_url(bravo.link.pk)),
        "unlink": panel.delete(unlink_url(bravo.link.pk)),
    }

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 404)
    assert all(r.json()["code"] == "not_found" for r in responses.values())
    assert all("Bravo" not in r.content.decode() for r in responses.values())
    bravo.link.refresh_from_db()
    assert bravo.link.preview == b_preview
    assert Link.objects.filter(tenant=bravo.tenant).count() == 1
    assert not zendesk.calls(path_regex=r"^/zd/bravo/api/v2/(search|tickets)")
    assert badge(bravo.jira, bravo.issue["id"]) is None


def test_tenant_b_cannot_touch_tenant_a_links(client, panel, item, issue, ticket, bravo):
    mine = panel.post(LINKS, link_request(item, issue, ticket["id"])).json()
    as_b = ApiClient(client, HTTP_AUTHORIZATION=f"JWT {bravo.jira.context_token(account_id='b-user')}")

    assert as_b.post(refresh_url(mine["id"])).status_code == 404
    assert as_b.delete(unlink_url(mine["id"])).status_code == 404
    assert as_b.post(LINKS, link_request(item, issue, ticket["id"])).status_code == 404
    assert Link.objects.filter(pk=mine["id"]).exists()


# --- the issue panel page -------------------------------------------------------------------------------


def panel_query(issue, project, **overrides) -> dict:
    query = {
        "issueKey": issue["key"],
        "issueId": issue["id"],
        "projectKey": "SUP",
        "projectId": project["id"],
        "issueTypeId": "10001",
        "lic": "active",
    }
    query.update(overrides)
    return {k: v for k, v in query.items() if v is not None}


def open_panel(client, jira, query: dict):
    relative = f"/jira/issue-panel?{urlencode(query)}"
    token = jira.sign("GET", relative, account_id=ACCOUNT)
    return client.get(f"{relative}&jwt={token}")


def initial_cards(response) -> dict:
    match = re.search(
        r'<script id="db-initial" type="application/json">(.*?)</script>', response.content.decode(), re.S
    )
    assert match, "no db-initial json_script"
    return json.loads(match.group(1))


def test_the_panel_page_renders_the_cards(client, panel, jira, tenant, item, issue, ticket, project, context):
    panel.post(LINKS, link_request(item, issue, ticket["id"]))

    response = open_panel(client, jira, panel_query(issue, project))

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == f"frame-ancestors 'self' {jira.url}"
    assert "X-Frame-Options" not in response
    body = response.content.decode()
    assert '<script src="https://connect-cdn.atl-paas.net/all.js"' in body
    assert initial_cards(response) == panel.get(CARDS, data=context).json()
    assert initial_cards(response)["cards"][0]["links"][0]["title"] == f"#{ticket['id']} Printer on fire"


def test_the_page_session_authenticates_the_panel_api(client, jira, tenant, item, issue, ticket, project, context):
    page = open_panel(client, jira, panel_query(issue, project))
    session = html.unescape(re.search(r'data-session="([^"]+)"', page.content.decode()).group(1))
    with_session = ApiClient(client, HTTP_X_DESKBRIDGE_SESSION=session)

    created = with_session.post(LINKS, link_request(item, issue, ticket["id"]))

    assert created.status_code == 201
    assert Link.objects.get().created_by == ACCOUNT
    assert with_session.get(CARDS, data=context).json()["cards"][0]["links"][0]["id"] == created.json()["id"]
    forged = ApiClient(client, HTTP_X_DESKBRIDGE_SESSION=session[:-2] + "xx")
    assert forged.get(CARDS, data=context).status_code == 401


def test_record_text_cannot_break_out_of_the_initial_json(client, jira, tenant, item, issue, project, zendesk):
    nasty = zendesk.add_ticket(ZD_SUBDOMAIN, subject="</script><script>alert(1)</script>")
    raw_link(tenant, item, issue["id"], nasty["id"], preview={"title": "</script><script>alert(1)</script>"})

    response = open_panel(client, jira, panel_query(issue, project))

    assert "<script>alert(1)" not in response.content.decode()
    assert initial_cards(response)["cards"][0]["links"][0]["title"] == "</script><script>alert(1)</script>"


@pytest.mark.parametrize("missing", ["issueKey", "issueId", "projectId", "issueTypeId"])
def test_the_panel_page_needs_the_issue_context(client, jira, tenant, issue, project, missing):
    response = open_panel(client, jira, panel_query(issue, project, **{missing: None}))
    assert response.status_code == 400
    assert b"<code>panel_context_missing</code>" in response.content
    assert b"Jira did not send the issue context" in response.content


def test_the_panel_page_of_an_unlicensed_site_says_licence_required(client, jira, tenant, issue, project):
    response = open_panel(client, jira, panel_query(issue, project, lic="none"))
    assert response.status_code == 403
    assert b'data-testid="license-required"' in response.content


def test_the_panel_page_refuses_a_context_token(client, jira, tenant, issue, project):
    relative = f"/jira/issue-panel?{urlencode(panel_query(issue, project))}"
    response = client.get(f"{relative}&jwt={jira.context_token()}")
    assert response.status_code == 401


def test_the_panel_page_of_a_disconnected_site(client, panel, jira, tenant, connection, item, issue, project, context):
    connection_revoke(tenant=tenant, connection=connection)
    response = open_panel(client, jira, panel_query(issue, project))
    assert response.status_code == 200
    assert initial_cards(response)["state"] == "disconnected"
    assert initial_cards(response) == panel.get(CARDS, data=context).json()


# --- OpenAPI schema -------------------------------------------------------------------------------------


def test_the_schema_describes_what_the_panel_api_answers(client, panel, item, issue, ticket, context, directory):
    schema = client.get("/api/schema/", data={"format": "json"}).json()
    components = schema["components"]["schemas"]

    def documented(path, method, status):
        ref = schema["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        return components[ref.rsplit("/", 1)[1]]

    link = panel.post(LINKS, link_request(item, issue, ticket["id"])).json()
    cards = panel.get(CARDS, data=context).json()
    found = search(panel, directory["issue"], item, "printer")

    assert set(documented("/api/panel/links", "post", "201")["properties"]) == set(link)
    assert link["warning"] == ""
    assert set(documented("/api/panel/links/{link_id}/refresh", "post", "200")["properties"]) == set(link) - {"warning"}
    assert set(documented("/api/panel/cards", "get", "200")["properties"]) == set(cards)
    assert set(components["Card"]["properties"]) == set(cards["cards"][0])
    assert set(documented("/api/panel/items/{item_id}/search", "get", "200")["properties"]) == set(found)


# --- found in review ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["²", "١٢", "#²"])
def test_non_ascii_digits_are_text_not_ids(panel, item, issue, zendesk, query):
    response = panel.get(search_url(item.pk), data={"issue_id": issue["id"], "q": query})
    assert response.status_code == 200
    assert response.json()["results"] == []
    assert not zendesk.calls("GET", r"/tickets/\d+\.json$")


def test_searching_a_revoked_connection_is_refused_and_stays_revoked(panel, tenant, item, issue, connection, zendesk):
    from connector.models import HelpdeskConnection
    from connector.services import connection_revoke

    connection_revoke(tenant=tenant, connection=connection)
    before = len(zendesk.requests)
    response = panel.get(search_url(item.pk), data={"issue_id": issue["id"], "q": "printer"})
    assert response.status_code == 409 and response.json()["code"] == "helpdesk_not_connected"
    assert len(zendesk.requests) == before
    assert HelpdeskConnection.objects.get().status == HelpdeskConnection.Status.REVOKED


# --- who may see an issue's links ---------------------------------------------------------------------------


def test_context_token_user_who_cannot_see_the_issue_is_refused(panel, item, issue, jira, context):
    jira.issue_viewers[issue["id"]] = {"someone-else"}
    response = panel.get(CARDS, data=context)
    assert response.status_code == 403 and response.json()["code"] == "issue_forbidden"
    jira.issue_viewers[issue["id"]].add(ACCOUNT)
    assert panel.get(CARDS, data=context).status_code == 403  # cached for a minute


def test_browse_check_is_cached(panel, item, issue, jira, context):
    assert panel.get(CARDS, data=context).status_code == 200
    assert panel.get(CARDS, data=context).status_code == 200
    assert len(jira.calls("POST", "/permissions/check$")) == 1


def test_panel_session_serves_only_its_issue(client, jira, tenant, item, issue, project, context):
    from tenants.auth import JiraPrincipal, page_session_issue

    other = jira.add_issue(key="SUP-2")
    session = page_session_issue(
        JiraPrincipal(tenant, ACCOUNT), issue_id=issue["id"], project_id=project["id"], issue_type_id="10001"
    )
    ok = client.get(CARDS, data=context, HTTP_X_DESKBRIDGE_SESSION=session)
    assert ok.status_code == 200
    refused = client.get(CARDS, data={**context, "issue_id": other["id"]}, HTTP_X_DESKBRIDGE_SESSION=session)
    assert refused.status_code == 403 and refused.json()["code"] == "issue_forbidden"
    assert not jira.calls("POST", "/permissions/check$")  # the bound session needs no call to Jira


def test_linking_an_issue_of_another_project_is_refused(panel, item, ticket, jira, project):
    jira.add_project("OPS", "Operations")
    ops = jira.add_issue(key="OPS-1", project="OPS")
    body = {"item_id": item.pk, "issue_id": ops["id"], "issue_key": "OPS-1", "record_id": str(ticket["id"])}
    response = panel.post("/api/panel/links", body)
    assert response.status_code == 403 and response.json()["code"] == "item_not_applicable"
    assert not Link.objects.exists()


def test_the_issue_key_comes_from_jira(panel, item, ticket, issue):
    body = {"item_id": item.pk, "issue_id": issue["id"], "issue_key": "FORGED-1", "record_id": str(ticket["id"])}
    response = panel.post("/api/panel/links", body)
    assert response.status_code == 201
    from sync.models import Link

    assert Link.objects.get().jira_issue_key == issue["key"]

"""Creating a Zendesk ticket from a Jira issue through the configuration API (POST /api/v1/items/{id}/records),
against the fake Jira and Zendesk: values from the item's mappings, the reporter as requester (found, created
once, or hidden), the link and its note; no second ticket or user under crash and retry; refusals change
nothing; another tenant's item is a 404."""

from __future__ import annotations

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from connector.providers.zendesk import ZendeskProvider
from sync.models import Link, RecordCreate
from tenants.models import ApiToken
from tenants.services import api_token_create
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import make_item, raw_link

pytestmark = pytest.mark.django_db

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
REPORTER = {"accountId": "rita-1", "displayName": "Rita Reporter", "emailAddress": "Rita@Customer.test"}


@pytest.fixture
def item(tenant, connection):
    return make_item(
        tenant,
        connection,
        name="Two-way tickets",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        link_note=True,
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
            {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira", "value_map": {}},
            {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}},
            {"helpdesk_field": "tags", "jira_field": "labels", "direction": "to_helpdesk", "value_map": {}},
        ],
    )


@pytest.fixture
def issue(jira):
    return jira.add_issue(
        key="SUP-7",
        summary="Printer on fire",
        description=DESCRIPTION,
        priority={"id": "1", "name": "Highest"},
        labels=["Printer Fire"],
        reporter=dict(REPORTER),
    )


def account(zendesk):
    return zendesk.accounts[ZD_SUBDOMAIN]


def users_with(zendesk, email):
    return [u for u in account(zendesk).users.values() if u["email"] == email]


def create(api, item, issue_id, **body):
    return api.post(f"/api/v1/items/{item.pk}/records", {"issue_id": str(issue_id), **body})


def test_a_ticket_is_created_from_the_issue_through_the_mappings_and_linked(api, jira, zendesk, item, issue):
    response = create(api, item, issue["id"])
    assert response.status_code == 201, response.content
    body = response.json()
    tickets = list(account(zendesk).tickets.values())
    assert len(tickets) == 1
    ticket = tickets[0]
    assert ticket["subject"] == "Printer on fire"  # summary → subject, a helpdesk → Jira mapping read backwards
    assert ticket["priority"] == "urgent" and ticket["tags"] == ["printer_fire"]  # Highest → urgent; labels → tags
    first = account(zendesk).comments[ticket["id"]][0]
    assert "<strong>on fire</strong>" in first["html_body"]  # the ADF description written as HTML
    assert ticket["external_id"] == RecordCreate.objects.get().source_key
    requester = account(zendesk).users[ticket["requester_id"]]
    assert requester["email"] == "rita@customer.test" and requester["name"] == "Rita Reporter"

    link = Link.objects.get()
    assert (link.jira_issue_id, link.record_id, link.origin) == (issue["id"], str(ticket["id"]), "manual")
    assert body["link"]["issue_key"] == "SUP-7" and body["record"]["id"] == str(ticket["id"])
    assert body["record"]["url"].endswith(f"/agent/tickets/{ticket['id']}") and body["warnings"] == []
    assert RecordCreate.objects.get().state == RecordCreate.State.DONE
    notes = [c for c in account(zendesk).comments[ticket["id"]] if not c["public"]]
    assert len(notes) == 1 and "SUP-7" in notes[0]["body"]  # the link note, as for a record linked by hand

    # A second request for the same issue is refused, and makes nothing.
    again = create(api, item, issue["id"])
    assert again.status_code == 409 and again.json()["code"] == "link_exists"
    assert len(account(zendesk).tickets) == 1 and Link.objects.count() == 1


def test_an_existing_zendesk_user_with_the_reporters_email_is_the_requester(api, zendesk, item, issue):
    existing = zendesk.add_user(ZD_SUBDOMAIN, name="Rita R. (Zendesk)", email="rita@customer.test")
    assert create(api, item, issue["id"]).status_code == 201
    ticket = next(iter(account(zendesk).tickets.values()))
    assert ticket["requester_id"] == existing["id"]
    assert users_with(zendesk, "rita@customer.test") == [existing]
    assert existing["name"] == "Rita R. (Zendesk)"  # found by search: the profile is left as it is


def test_a_user_missing_from_the_search_index_is_matched_by_create_or_update_not_duplicated(api, zendesk, item, issue):
    zendesk.search_lag_seconds = 3600  # Zendesk's search shows new users minutes late
    existing = zendesk.add_user(ZD_SUBDOMAIN, name="Rita", email="rita@customer.test")
    assert create(api, item, issue["id"]).status_code == 201
    assert next(iter(account(zendesk).tickets.values()))["requester_id"] == existing["id"]
    assert len(users_with(zendesk, "rita@customer.test")) == 1


def test_a_hidden_reporter_email_makes_the_agent_the_requester_and_says_so(api, jira, zendesk, item):
    hidden = jira.add_issue(
        key="SUP-8",
        summary="Quiet printer",
        description=DESCRIPTION,
        reporter={"accountId": "shy-1", "displayName": "Shy Reporter"},
    )
    before = len(account(zendesk).users)
    response = create(api, item, hidden["id"])
    assert response.status_code == 201, response.content
    ticket = next(iter(account(zendesk).tickets.values()))
    agent = next(u for u in account(zendesk).users.values() if u["role"] != "end-user")
    assert ticket["requester_id"] == agent["id"] and len(account(zendesk).users) == before
    [warning] = response.json()["warnings"]
    assert "Shy Reporter" in warning and "connected Zendesk agent" in warning


def test_a_crash_after_zendesk_created_the_ticket_makes_no_second_ticket_or_user_on_retry(
    api, zendesk, item, issue, monkeypatch
):
    real_create = ZendeskProvider.record_create

    def create_then_crash(self, *args, **kwargs):
        real_create(self, *args, **kwargs)
        raise RuntimeError("worker died before our commit")

    monkeypatch.setattr(ZendeskProvider, "record_create", create_then_crash)
    with pytest.raises(RuntimeError):
        create(api, item, issue["id"])
    assert len(account(zendesk).tickets) == 1 and not Link.objects.exists()
    intent = RecordCreate.objects.get()
    assert intent.state == RecordCreate.State.PENDING and intent.record_id == ""

    monkeypatch.setattr(ZendeskProvider, "record_create", real_create)
    response = create(api, item, issue["id"])
    assert response.status_code == 201, response.content
    [ticket] = account(zendesk).tickets.values()  # found by its external id, not created again
    assert response.json()["record"]["id"] == str(ticket["id"])
    assert len(users_with(zendesk, "rita@customer.test")) == 1
    assert Link.objects.get().record_id == str(ticket["id"])


def test_a_request_while_another_is_creating_the_record_is_refused(api, zendesk, item, issue, tenant):
    RecordCreate.objects.create(
        tenant=tenant, item=item, jira_issue_id=issue["id"], source_key="k", attempts=1, attempted_at=timezone.now()
    )
    response = create(api, item, issue["id"])
    assert response.status_code == 409 and response.json()["code"] == "record_create_in_progress"
    assert not account(zendesk).tickets


def test_a_process_that_died_mid_creation_is_taken_over_later(api, zendesk, item, issue, tenant):
    """The intent of an attempt that never finished (no release) is retried once it is old enough."""
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire", external_id="deskbridge-dead-key")
    RecordCreate.objects.create(
        tenant=tenant,
        item=item,
        jira_issue_id=issue["id"],
        source_key="deskbridge-dead-key",
        attempts=1,
        attempted_at=timezone.now() - timezone.timedelta(hours=1),
    )
    response = create(api, item, issue["id"])
    assert response.status_code == 201, response.content
    assert len(account(zendesk).tickets) == 1 and Link.objects.get().record_id == str(ticket["id"])


def test_missing_required_values_are_refused_with_their_names_and_nothing_is_created(api, jira, zendesk, item):
    bare = jira.add_issue(key="SUP-9", summary="No description", reporter=dict(REPORTER))
    response = create(api, item, bare["id"])
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "required_fields_missing" and response.json()["extra"]["fields"] == [
        "description"
    ]
    assert "Description" in response.json()["message"]
    assert (
        not account(zendesk).tickets
        and not RecordCreate.objects.exists()
        and not users_with(zendesk, "rita@customer.test")
    )

    # The caller may give the value itself.
    given = create(api, item, bare["id"], values={"description": "Typed by the engineer"})
    assert given.status_code == 201, given.content
    ticket = next(iter(account(zendesk).tickets.values()))
    assert account(zendesk).comments[ticket["id"]][0]["body"] == "Typed by the engineer"


def test_a_display_only_item_creates_nothing(api, tenant, connection, zendesk, issue):
    display = make_item(tenant, connection, name="Display tickets")
    response = create(api, display, issue["id"])
    assert response.status_code == 400 and response.json()["code"] == "record_create_unavailable"
    assert not account(zendesk).tickets and not RecordCreate.objects.exists()


def test_an_issue_already_linked_on_the_item_is_a_conflict(api, tenant, zendesk, item, issue):
    raw_link(tenant, item, issue["id"], "99")
    response = create(api, item, issue["id"])
    assert response.status_code == 409 and response.json()["code"] == "link_exists"
    assert not account(zendesk).tickets


def test_an_unknown_issue_is_404(api, zendesk, item):
    response = create(api, item, "999999")
    assert response.status_code == 404 and response.json()["code"] == "issue_not_found"
    assert not account(zendesk).tickets and not RecordCreate.objects.exists()


def test_an_issue_of_another_issue_type_is_refused(api, jira, zendesk, item):
    bug = jira.add_issue(key="SUP-10", summary="A bug", issue_type_id="10002", description=DESCRIPTION)
    response = create(api, item, bug["id"])
    assert response.status_code == 400 and response.json()["code"] == "issue_not_applicable"
    assert not account(zendesk).tickets


def test_zendesk_refusing_the_ticket_says_why_and_a_retry_may_follow(api, zendesk, item, issue):
    response = create(api, item, issue["id"], values={"type": "wish"})
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "helpdesk_refused" and "Type" in response.json()["message"]
    assert not account(zendesk).tickets and not Link.objects.exists()
    assert create(api, item, issue["id"]).status_code == 201


def test_fields_zendesk_sets_itself_cannot_be_given(api, zendesk, item, issue):
    response = create(api, item, issue["id"], values={"created_at": "2020-01-01"})
    assert response.status_code == 400 and response.json()["extra"]["fields"] == ["created_at"]
    assert not account(zendesk).tickets


def test_another_tenants_item_is_404(client, api, item, issue, zendesk):
    from tenants.models import Tenant

    other = Tenant.objects.create(
        client_key="other-site", app_key="deskbridge", base_url="https://other.example", shared_secret="s" * 32
    )
    other.license = Tenant.License.ACTIVE
    other.save()
    _, token = api_token_create(tenant=other, name="other", created_by="test")
    response = client.post(
        f"/api/v1/items/{item.pk}/records",
        data={"issue_id": issue["id"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 404
    assert not account(zendesk).tickets and not RecordCreate.objects.exists()


@pytest.mark.parametrize(("scope", "allowed"), [("links", True), ("read", False)])
def test_links_scoped_tokens_may_create_records_read_tokens_may_not(
    client, tenant, item, issue, zendesk, scope, allowed
):
    _, token = api_token_create(tenant=tenant, name=f"{scope} token", created_by="test", scope=ApiToken.Scope(scope))
    response = client.post(
        f"/api/v1/items/{item.pk}/records",
        data={"issue_id": issue["id"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == (201 if allowed else 403), response.content
    assert len(account(zendesk).tickets) == (1 if allowed else 0)
    if scope == "links":  # other item writes still need an admin token
        put = client.patch(
            f"/api/v1/items/{item.pk}",
            data={"name": "renamed"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert put.status_code == 403

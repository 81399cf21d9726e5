"""Unlinking a link whose helpdesk record was deleted (issue 12, "Upsert rules for synchronized records"), and
creating a new record in its place, through the issue panel's API and the links API, against the fake Jira and
Zendesk: a broken link is unlinked whatever made it (by hand or by sync), an intact link made by sync is still
refused with words saying so; a broken link is not refreshed; once it is unlinked, Create makes a new record (a
new ticket with a new tag, not the deleted one's intent) and links it. Auto-create, from Jira or from Zendesk,
makes nothing again for what a user unlinked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from sync.engine import connection_poll
from sync.jira_create import jira_create_run
from sync.models import AutoCreate, Link, RecordCreate
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import ApiClient, badge, badge_of, make_item, raw_link
from tests.sync.conftest import admin_agent  # noqa: F401  (the fixture: Zendesk's exports need an admin)

pytestmark = pytest.mark.django_db

ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"  # a Jira user who can see the issues (FakeJira's tokens)
REPORTER = {"accountId": "rita-1", "displayName": "Rita Reporter", "emailAddress": "rita@customer.test"}
MAPPINGS = [
    {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
    {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira", "value_map": {}},
    {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}},
]
AUTO_MANAGED = (
    "This link is managed by automatic sync and cannot be removed by hand. A Jira admin can change the item's "
    "auto-create settings instead."
)
CARDS = "/api/panel/cards"
LINKS_V2 = "/api/v2/integrations/jira/{}/links"


def unlink_url(link_id) -> str:
    return f"/api/panel/links/{link_id}"


def refresh_url(link_id) -> str:
    return f"/api/panel/links/{link_id}/refresh"


def create_url(item) -> str:
    return f"/api/panel/items/{item.pk}/records"


def tickets(zendesk) -> dict:
    return zendesk.accounts[ZD_SUBDOMAIN].tickets


def delete_in_zendesk(zendesk, ticket_id) -> dict:
    """The ticket is deleted in Zendesk: every read and write of it answers 404. Returns it as it was."""
    return tickets(zendesk).pop(int(ticket_id))


@pytest.fixture
def panel(client, jira, tenant):
    return ApiClient(client, HTTP_AUTHORIZATION=f"JWT {jira.context_token(account_id=ACCOUNT)}")


@pytest.fixture
def token_api(client, api_token):
    return ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {api_token}")


@pytest.fixture
def item(tenant, connection, project, admin_agent):  # noqa: F811
    return make_item(
        tenant,
        connection,
        name="Two-way tickets",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        status_sync=True,
        mappings=MAPPINGS,
    )


@pytest.fixture
def issue(jira, project):
    return jira.add_issue(
        key="SUP-7", summary="Printer on fire", description="It smokes.", reporter=dict(REPORTER), labels=["customer"]
    )


def context(issue, project) -> dict:
    return {"issue_id": issue["id"], "project_id": project["id"], "issue_type_id": "10001"}


def card_links(panel, issue, project) -> dict[str, dict]:
    """The issue's links as the panel's card shows them, by record id."""
    [card] = panel.get(CARDS, data=context(issue, project)).json()["cards"]
    return {link["record_id"]: link for link in card["links"]}


def break_by_refresh(panel, link: Link) -> None:
    """The panel's Refresh finds the record deleted (its 404): the link breaks."""
    response = panel.post(refresh_url(link.pk))
    assert response.status_code == 200, response.content
    assert [p["code"] for p in response.json()["problems"]] == ["record_deleted"]
    link.refresh_from_db()
    assert link.record_deleted_at is not None


# --- unlink: a broken link, whatever made it; an intact link made by sync, never ---------------------------


def test_the_panel_unlinks_a_broken_link_made_by_sync_and_refuses_an_intact_one(
    panel, tenant, jira, zendesk, item, issue, project
):
    kept, gone = (zendesk.add_ticket(ZD_SUBDOMAIN, subject=s, status="open") for s in ("Kept", "Gone"))
    intact = raw_link(tenant, item, issue["id"], kept["id"], key="SUP-7", origin=Link.Origin.AUTO)
    broken = raw_link(tenant, item, issue["id"], gone["id"], key="SUP-7", origin=Link.Origin.AUTO)
    delete_in_zendesk(zendesk, gone["id"])
    break_by_refresh(panel, broken)

    shown = card_links(panel, issue, project)
    assert shown[str(kept["id"])]["can_unlink"] is False
    assert shown[str(gone["id"])]["can_unlink"] is True
    assert shown[str(gone["id"])]["origin"] == "auto"

    refused = panel.delete(unlink_url(intact.pk))
    assert refused.status_code == 403
    assert refused.json() == {"code": "auto_managed_link", "message": AUTO_MANAGED, "extra": {}}
    assert Link.objects.filter(pk=intact.pk).exists()

    assert panel.delete(unlink_url(broken.pk)).status_code == 204
    assert list(Link.objects.values_list("pk", flat=True)) == [intact.pk]
    assert list(card_links(panel, issue, project)) == [str(kept["id"])]
    assert badge(jira, issue["id"]) == badge_of(1)
    assert ConnectedItem.objects.get(pk=item.pk).linked_count == 1


def test_the_links_api_unlinks_a_broken_link_made_by_sync_and_refuses_an_intact_one(
    token_api, tenant, jira, zendesk, item, issue
):
    kept, gone = (zendesk.add_ticket(ZD_SUBDOMAIN, subject=s) for s in ("Kept", "Gone"))
    raw_link(tenant, item, issue["id"], kept["id"], key="SUP-7", origin=Link.Origin.AUTO)
    now = timezone.now()
    broken = raw_link(
        tenant,
        item,
        issue["id"],
        gone["id"],
        key="SUP-7",
        origin=Link.Origin.AUTO,
        record_deleted_at=now,
        sync_stopped_at=now,
    )
    delete_in_zendesk(zendesk, gone["id"])
    detail = LINKS_V2.format(item.external_id) + "/ticket/{}/issue/" + str(issue["id"])

    refused = token_api.delete(detail.format(kept["id"]))
    assert refused.status_code == 403
    assert refused.json() == {"errors": [{"code": "Forbidden", "title": AUTO_MANAGED}]}

    assert token_api.delete(detail.format(gone["id"])).status_code == 204
    assert not Link.objects.filter(pk=broken.pk).exists()
    assert Link.objects.filter(record_id=str(kept["id"])).exists()
    assert badge(jira, issue["id"]) == badge_of(1)


def test_a_broken_link_is_not_refreshed_the_answer_says_to_unlink_it(panel, tenant, zendesk, item, issue):
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Gone", status="open")
    link = raw_link(tenant, item, issue["id"], ticket["id"], key="SUP-7")
    delete_in_zendesk(zendesk, ticket["id"])
    break_by_refresh(panel, link)
    calls = len(zendesk.requests)

    response = panel.post(refresh_url(link.pk))

    assert response.status_code == 409
    assert response.json() == {
        "code": "record_deleted",
        "message": f"Ticket {ticket['id']} was deleted in Zendesk, so this link is broken and there is nothing to "
        "refresh. Unlink it, then link another ticket or create a new one.",
        "extra": {"record_id": str(ticket["id"])},
    }
    assert len(zendesk.requests) == calls  # nothing asked of Zendesk: it can only answer 404


# --- Create after the unlink: a new record ----------------------------------------------------------------


def test_after_a_broken_link_is_unlinked_create_makes_a_new_ticket_and_links_it(panel, zendesk, item, issue, project):
    first = panel.post(create_url(item), {"issue_id": issue["id"]})
    assert first.status_code == 201, first.content
    old_id = first.json()["record"]["id"]
    old_tag = tickets(zendesk)[int(old_id)]["external_id"]
    link = Link.objects.get()
    delete_in_zendesk(zendesk, old_id)
    break_by_refresh(panel, link)

    # While the broken link stands, the issue is linked through the item: Create is refused, nothing is made.
    refused = panel.post(create_url(item), {"issue_id": issue["id"]})
    assert refused.status_code == 409 and refused.json()["code"] == "link_exists"
    assert not tickets(zendesk)

    assert panel.delete(unlink_url(link.pk)).status_code == 204
    assert panel.get(create_url(item) + "/preview", data={"issue_id": issue["id"]}).status_code == 200

    again = panel.post(create_url(item), {"issue_id": issue["id"]})

    assert again.status_code == 201, again.content
    [ticket] = tickets(zendesk).values()
    assert str(ticket["id"]) != old_id and ticket["subject"] == "Printer on fire"
    assert ticket["external_id"] != old_tag  # a new tag: a retry would never find the deleted ticket
    new_link = Link.objects.get()
    assert (new_link.record_id, new_link.origin, new_link.record_deleted_at) == (str(ticket["id"]), "manual", None)
    intent = RecordCreate.objects.get()
    assert (intent.state, intent.record_id, intent.source_key) == ("done", str(ticket["id"]), ticket["external_id"])
    shown = card_links(panel, issue, project)
    assert list(shown) == [str(ticket["id"])] and shown[str(ticket["id"])]["problems"] == []


def test_after_the_links_api_unlinks_a_broken_link_it_creates_a_new_ticket(panel, token_api, zendesk, item, issue):
    first = panel.post(create_url(item), {"issue_id": issue["id"]})
    old_id = first.json()["record"]["id"]
    delete_in_zendesk(zendesk, old_id)
    break_by_refresh(panel, Link.objects.get())
    base = LINKS_V2.format(item.external_id)

    assert token_api.delete(f"{base}/ticket/{old_id}/issue/{issue['id']}").status_code == 204
    created = token_api.post(base.replace("/links", "/records"), {"record": {"issue_id": issue["id"]}})

    assert created.status_code == 201, created.content
    [ticket] = tickets(zendesk).values()
    assert created.json()["record"]["id"] == str(ticket["id"]) != old_id
    assert Link.objects.get().record_id == str(ticket["id"])


# --- auto-create makes nothing again for what a user unlinked ----------------------------------------------


def test_auto_create_from_jira_does_not_remake_an_unlinked_broken_record_but_a_user_can_create_one(
    panel, settings, connection, zendesk, jira, item, project
):
    settings.SYNC_RECONCILE_GRACE_SECONDS = 0
    item.create_from_jira = True
    item.create_from_jira_baseline = timezone.now() - timedelta(minutes=1)
    item.save()
    issue = jira.add_issue(key="SUP-8", summary="Made by auto-create", description="x", reporter=dict(REPORTER))
    assert jira_create_run(connection_id=connection.pk).outcome == "success"
    auto = Link.objects.get()
    assert auto.origin == Link.Origin.AUTO
    delete_in_zendesk(zendesk, auto.record_id)
    break_by_refresh(panel, auto)

    assert panel.delete(unlink_url(auto.pk)).status_code == 204

    ConnectedItem.objects.filter(pk=item.pk).update(create_swept_at=None)  # a sweep that looks back over it
    assert jira_create_run(connection_id=connection.pk).outcome == "success"
    assert not tickets(zendesk) and not Link.objects.exists()  # what a user unlinked is not made again

    created = panel.post(create_url(item), {"issue_id": issue["id"]})
    assert created.status_code == 201, created.content
    [ticket] = tickets(zendesk).values()
    link = Link.objects.get()
    assert (link.record_id, link.origin) == (str(ticket["id"]), Link.Origin.MANUAL)
    ConnectedItem.objects.filter(pk=item.pk).update(create_swept_at=None)
    jira_create_run(connection_id=connection.pk)
    assert list(tickets(zendesk)) == [ticket["id"]] and Link.objects.count() == 1


def test_auto_create_from_zendesk_does_not_remake_the_issue_of_an_unlinked_record_restored_later(
    panel,
    connection,
    zendesk,
    jira,
    tenant,
    project,
    admin_agent,  # noqa: F811
):
    """Zendesk lets an admin restore a deleted ticket: it comes back in the export. Its issue was made once by
    auto-create, and its broken link was unlinked by a user: no second issue, no new link."""
    make_item(
        tenant,
        connection,
        name="Escalations",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_issue_type_id="10001",
        auto_create=True,
        auto_create_conditions={"tags": ["jira"]},
        mappings=[{"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}}],
    )
    ConnectedItem.objects.update(auto_create_baseline=timezone.now() - timedelta(seconds=5))
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="VPN down", status="open", tags=["jira"])
    zendesk.advance(120)
    assert connection_poll(connection_id=connection.pk).counts["issues_created"] == 1
    link = Link.objects.get()
    assert link.origin == Link.Origin.AUTO and len(jira.created) == 1
    saved = delete_in_zendesk(zendesk, ticket["id"])
    break_by_refresh(panel, link)

    assert panel.delete(unlink_url(link.pk)).status_code == 204

    saved["generated_timestamp"] = int(zendesk.now())  # restored: changed now, in the export again
    tickets(zendesk)[ticket["id"]] = saved
    zendesk.advance(120)
    run = connection_poll(connection_id=connection.pk)
    assert run.outcome == "success", run.reason
    assert run.counts.get("issues_created", 0) == 0 and len(jira.created) == 1
    assert not Link.objects.exists()
    assert AutoCreate.objects.get().state == AutoCreate.State.DONE

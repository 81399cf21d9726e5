"""Unlinking broken links on the Jira admin page: the two lists of broken links (their Jira issue was deleted;
their helpdesk record was deleted) offer Unlink on every row. It is one of the page's POST actions (the page
session, Jira admins only), asks first (a dialog with script, a page without), goes through ``link_delete`` (the
locked row decides; the item's linked count and the issue's badge stay true), answers 404 for a link of another
site and refuses a link that is not broken, changing nothing. The links are broken by the real paths: Jira's
``issue_deleted`` webhook, and a Zendesk poll that sees the ticket deleted."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from sync.engine import connection_poll
from sync.jira_create import jira_create_run
from sync.models import AutoCreate, Link, SyncEvent
from sync.push import issue_events_process
from sync.services import link_create, link_delete, link_unlinkable
from tenants.auth import JiraPrincipal, page_session_issue
from tenants.descriptor import build_descriptor
from tests.conftest import USER_ACCOUNT, ZD_SUBDOMAIN
from tests.panel.conftest import AdminPage, form_data, page_text
from tests.panel.links_helpers import badge, badge_of, make_item, raw_link
from tests.sync.conftest import admin_agent  # noqa: F401  (the fixture: Zendesk's exports need an admin)

pytestmark = pytest.mark.django_db

TO_JIRA = [{"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}}]


def has_testid(response, name: str) -> bool:
    return f'data-testid="{name}"' in response.content.decode()


def rows(response, testid: str) -> list[str]:
    """The link ids of the rows of the broken-links table ``testid`` (``broken-links`` or ``broken-records``)."""
    body = response.content.decode()
    match = re.search(rf'data-testid="{testid}".*?<tbody>(.*?)</tbody>', body, re.S)
    return re.findall(r'<tr data-link="(\d+)"', match.group(1)) if match else []


def linked_count(response, item) -> str:
    """The Linked column of the item's row in the grid."""
    row = re.search(rf'<tr data-item="{item.external_id}".*?</tr>', response.content.decode(), re.S).group(0)
    return re.search(r'data-testid="linked-count">(\d+)<', row).group(1)


@pytest.fixture
def item(tenant, connection, project, admin_agent):  # noqa: F811
    """Escalations: a one-way item that auto-creates an issue for each new ticket tagged ``jira``."""
    made = make_item(
        tenant,
        connection,
        name="Escalations",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_issue_type_id="10001",
        auto_create=True,
        auto_create_conditions={"tags": ["jira"]},
        mappings=TO_JIRA,
    )
    ConnectedItem.objects.filter(pk=made.pk).update(auto_create_baseline=timezone.now() - timedelta(seconds=5))
    made.refresh_from_db()
    return made


def auto_link(zendesk, connection, subject: str) -> Link:
    """A ticket tagged ``jira``, and the issue and link auto-create makes for it at the next poll."""
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject=subject, status="open", tags=["jira"])
    zendesk.advance(120)
    run = connection_poll(connection_id=connection.pk)
    assert run.outcome == "success", run.reason
    link = Link.objects.get(record_id=str(ticket["id"]))
    assert link.origin == Link.Origin.AUTO
    return link


def delete_issue_in_jira(client, tenant, jira, link: Link) -> None:
    """Someone deletes the issue in Jira: its ``jira:issue_deleted`` webhook reaches the real endpoint and is
    processed, which marks the link broken."""
    jira.webhooks_subscribe(build_descriptor())
    jira.webhooks_hold()
    jira.delete_issue(link.jira_issue_id)
    for delivery in jira.webhooks_take():
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in delivery["headers"].items()}
        headers.pop("HTTP_CONTENT_TYPE", None)
        response = client.post(delivery["path"], data=delivery["body"], content_type="application/json", **headers)
        assert response.status_code == 204, response.content
    issue_events_process(tenant_id=tenant.pk, issue_id=link.jira_issue_id)
    link.refresh_from_db()
    assert link.issue_deleted_at is not None


def delete_ticket_in_zendesk(zendesk, connection, link: Link) -> None:
    """An agent deletes the ticket in Zendesk: the next poll sees it in the export and breaks the link."""
    zendesk.delete_ticket(ZD_SUBDOMAIN, int(link.record_id))
    zendesk.advance(120)
    assert connection_poll(connection_id=connection.pk).outcome == "success"
    link.refresh_from_db()
    assert link.record_deleted_at is not None


@pytest.fixture
def page(admin_page):
    admin_page.open()
    return admin_page


def unlink(page: AdminPage, link: Link, *, confirmed: bool = True):
    return page.post("broken_unlink", {"link_id": str(link.pk), **({"confirmed": "yes"} if confirmed else {})})


# --- unlinking each kind ------------------------------------------------------------------------------------


def test_a_link_whose_jira_issue_was_deleted_is_unlinked_and_nothing_changes_in_zendesk(
    client, page, tenant, jira, zendesk, connection, item
):
    kept = auto_link(zendesk, connection, "Kept")
    gone = auto_link(zendesk, connection, "Gone")
    delete_issue_in_jira(client, tenant, jira, gone)
    assert ConnectedItem.objects.get(pk=item.pk).linked_count == 2

    home = page.open()
    assert rows(home, "broken-links") == [str(gone.pk)]
    assert linked_count(home, item) == "2"
    assert "and unlinking one here removes the link only" in page_text(home)
    ticket_before = dict(zendesk.accounts[ZD_SUBDOMAIN].tickets[int(gone.record_id)])

    # The page's own form (session, action, link id), as a browser without script posts it: asked first.
    asked = page.submit(home, "broken_unlink")
    assert asked.status_code == 200 and has_testid(asked, "confirm-page")
    issue_key = gone.jira_issue_key
    assert f"Unlink {issue_key} from ticket {gone.record_id}?" in page_text(asked)
    assert (
        f"{issue_key} was deleted in Jira, so its link to ticket {gone.record_id} is broken. Unlinking removes the "
        f"link only: ticket {gone.record_id} stays in Zendesk as it is."
    ) in page_text(asked)
    assert Link.objects.filter(pk=gone.pk).exists()  # asking changed nothing

    done = page.submit(asked, "broken_unlink")
    assert done.status_code == 200
    assert f"Unlinked {issue_key} from ticket {gone.record_id}. Nothing was deleted in Zendesk." in page_text(done)
    assert not Link.objects.filter(pk=gone.pk).exists()
    assert list(Link.objects.values_list("pk", flat=True)) == [kept.pk]
    assert rows(done, "broken-links") == [] and not has_testid(done, "broken-links")
    assert linked_count(done, item) == "1" and ConnectedItem.objects.get(pk=item.pk).linked_count == 1
    assert zendesk.accounts[ZD_SUBDOMAIN].tickets[int(gone.record_id)] == ticket_before  # untouched
    assert rows(page.open(), "broken-links") == []


def test_a_link_whose_ticket_was_deleted_is_unlinked_and_the_issue_badge_stays_true(
    page, tenant, jira, zendesk, connection, item
):
    made = auto_link(zendesk, connection, "Printer on fire")
    issue_id = made.jira_issue_id
    other = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Same printer")
    manual = link_create(
        tenant=tenant, item=item, issue_id=issue_id, issue_key=made.jira_issue_key, record_id=str(other["id"])
    )
    assert badge(jira, issue_id) == badge_of(2) and ConnectedItem.objects.get(pk=item.pk).linked_count == 2
    delete_ticket_in_zendesk(zendesk, connection, made)

    home = page.open()
    assert rows(home, "broken-records") == [str(made.pk)] and rows(home, "broken-links") == []
    text = page_text(home)
    assert "can be unlinked here or in the issue's Deskbridge panel" in text
    assert "can be unlinked in the issue's Deskbridge panel;" not in text  # the old sentence is gone
    assert f'aria-label="Unlink {made.jira_issue_key} from ticket {made.record_id}"' in home.content.decode()

    done = unlink(page, made)
    assert done.status_code == 200, page_text(done)
    key = made.jira_issue_key
    assert (
        f"Unlinked {key} from ticket {made.record_id}, which was deleted in Zendesk. Nothing was changed in Jira: "
        f"{key}'s Deskbridge panel can now link another ticket or create a new one."
    ) in page_text(done)
    assert list(Link.objects.values_list("pk", flat=True)) == [manual.pk]
    assert not has_testid(done, "broken-records")
    assert badge(jira, issue_id) == badge_of(1)  # the issue's badge counts what is left
    assert linked_count(done, item) == "1" and ConnectedItem.objects.get(pk=item.pk).linked_count == 1
    assert issue_id in jira.issues  # nothing changed in Jira but the badge


def test_after_unlinking_a_deleted_issues_link_auto_create_does_not_make_the_issue_again(
    client, page, tenant, jira, zendesk, connection, item
):
    """The creation intent stays: the ticket changing later makes no second issue and no new link."""
    gone = auto_link(zendesk, connection, "VPN down")
    delete_issue_in_jira(client, tenant, jira, gone)
    assert unlink(page, gone).status_code == 200
    assert not Link.objects.exists()

    zendesk.add_comment(ZD_SUBDOMAIN, int(gone.record_id), "Still down.")
    zendesk.advance(120)
    run = connection_poll(connection_id=connection.pk)
    assert run.outcome == "success", run.reason
    assert run.counts.get("issues_created", 0) == 0 and len(jira.created) == 1
    assert not Link.objects.exists() and AutoCreate.objects.get().state == AutoCreate.State.DONE


def test_after_unlinking_a_deleted_issues_ticket_made_from_jira_auto_create_makes_no_issue_for_the_ticket(
    client,
    page,
    settings,
    tenant,
    jira,
    zendesk,
    connection,
    project,
    admin_agent,  # noqa: F811
):
    """An item that creates both ways: the issue made its ticket (no auto-create intent for the ticket), then the
    issue was deleted and its link unlinked. The ticket changing later (new since the baseline, matching) does
    not make a new issue: unlinking a deleted issue's link leaves the ticket's intent, done."""
    settings.SYNC_RECONCILE_GRACE_SECONDS = 0
    both = make_item(
        tenant,
        connection,
        name="Both ways",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        auto_create=True,
        mappings=[*TO_JIRA, {**TO_JIRA[0], "helpdesk_field": "description", "jira_field": "description"}],
    )
    past = timezone.now() - timedelta(minutes=1)
    ConnectedItem.objects.filter(pk=both.pk).update(
        auto_create_baseline=past, create_from_jira=True, create_from_jira_baseline=past
    )
    reporter = {"accountId": "rita-1", "displayName": "Rita Reporter", "emailAddress": "rita@customer.test"}
    jira.add_issue(key="SUP-8", summary="From Jira", description="It smokes.", reporter=reporter)
    assert jira_create_run(connection_id=connection.pk).outcome == "success"
    made = Link.objects.get()
    assert made.origin == Link.Origin.AUTO and not AutoCreate.objects.exists()
    delete_issue_in_jira(client, tenant, jira, made)

    assert unlink(page, made).status_code == 200
    zendesk.add_comment(ZD_SUBDOMAIN, int(made.record_id), "Any news?")
    zendesk.advance(120)
    run = connection_poll(connection_id=connection.pk)
    assert run.outcome == "success", run.reason
    assert run.counts.get("issues_created", 0) == 0 and jira.created == []
    assert not Link.objects.exists()
    intent = AutoCreate.objects.get()
    assert (intent.record_id, intent.state, intent.jira_issue_id) == (made.record_id, "done", made.jira_issue_id)


# --- link_unlinkable: a link made by sync whose issue was deleted is the user's to unlink ------------------------


def test_a_link_made_by_sync_whose_issue_was_deleted_may_be_unlinked_an_intact_one_may_not(tenant, item):
    now = timezone.now()
    intact = raw_link(tenant, item, "10001", "1", key="SUP-1", origin=Link.Origin.AUTO)
    gone = raw_link(tenant, item, "10002", "2", key="SUP-2", origin=Link.Origin.AUTO, issue_deleted_at=now)
    assert not link_unlinkable(intact) and link_unlinkable(gone)
    link_delete(tenant=tenant, link=gone)
    assert list(Link.objects.values_list("pk", flat=True)) == [intact.pk]


# --- refusals: another site's link, a healthy link, a link healed meanwhile ----------------------------------


def test_a_link_of_another_site_is_not_found_and_stays(page, tenant, other, zendesk):
    item_b = make_item(other.tenant, other.connection, name="Beta tickets", jira_project="OPS")
    now = timezone.now()
    theirs = raw_link(other.tenant, item_b, "20001", "7", key="OPS-1", issue_deleted_at=now, sync_stopped_at=now)

    for confirmed in (False, True):
        response = unlink(page, theirs, confirmed=confirmed)
        assert response.status_code == 404
        assert "That link is not a link of this site (it may have been unlinked already). Reload the page." in (
            page_text(response)
        )
        assert "OPS-1" not in page_text(response) and "Beta tickets" not in page_text(response)
    assert Link.objects.filter(pk=theirs.pk, tenant=other.tenant, issue_deleted_at__isnull=False).exists()
    missing = page.post("broken_unlink", {"confirmed": "yes"})  # no link id at all
    assert missing.status_code == 404


def test_a_healthy_link_is_refused_with_words_and_stays(page, tenant, jira, zendesk, connection, item):
    issue = jira.add_issue(key="SUP-5", summary="Healthy")
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Healthy")
    healthy = raw_link(tenant, item, issue["id"], ticket["id"], key="SUP-5")  # by hand: the panel may unlink it
    made = auto_link(zendesk, connection, "Made by auto-create")
    ConnectedItem.objects.filter(pk=item.pk).update(linked_count=2)
    refusal = "is not broken: the issue and the ticket both exist, so it was not unlinked. Only broken links are "

    for confirmed in (False, True):
        response = unlink(page, healthy, confirmed=confirmed)
        assert response.status_code == 409
        assert (
            f"SUP-5's link to ticket {ticket['id']} {refusal}unlinked on this page; unlink it in SUP-5's Deskbridge "
            "panel instead."
        ) in page_text(response)
        assert not has_testid(response, "confirm-page")
        response = unlink(page, made, confirmed=confirmed)
        assert response.status_code == 409
        assert (
            f"{made.jira_issue_key}'s link to ticket {made.record_id} {refusal}unlinked on this page; it was made by "
            "auto-create, and sync keeps it while both exist."
        ) in page_text(response)
    assert set(Link.objects.values_list("pk", flat=True)) == {healthy.pk, made.pk}
    assert ConnectedItem.objects.get(pk=item.pk).linked_count == 2
    assert badge(jira, made.jira_issue_id) == badge_of(1) and badge(jira, issue["id"]) is None  # untouched


def test_a_link_made_by_sync_healed_since_the_page_read_it_is_refused_on_the_locked_row(
    page, monkeypatch, tenant, jira, zendesk, connection, item
):
    """The ticket was restored (a poll healed the link) between the page's read and the unlink: link_delete
    judges the locked row, so the link, now the item's again, stays and the page says why."""
    made = auto_link(zendesk, connection, "Restored later")
    delete_ticket_in_zendesk(zendesk, connection, made)
    from panel.views import admin_page as view

    read = view.link_get

    def read_then_heal(**kwargs):
        link = read(**kwargs)
        Link.objects.filter(pk=link.pk).update(record_deleted_at=None, sync_stopped_at=None)
        return link

    monkeypatch.setattr(view, "link_get", read_then_heal)
    response = unlink(page, made)
    assert response.status_code == 403
    assert "This link is managed by automatic sync and cannot be removed by hand." in page_text(response)
    assert Link.objects.filter(pk=made.pk).exists()


# --- who may post ------------------------------------------------------------------------------------------


@pytest.fixture
def broken(tenant, item) -> Link:
    now = timezone.now()
    return raw_link(tenant, item, "10009", "9", key="SUP-9", issue_deleted_at=now, sync_stopped_at=now)


def test_a_non_admin_cannot_unlink(client, tenant, jira, project, broken):
    session = page_session_issue(JiraPrincipal(tenant, USER_ACCOUNT))  # what a non-admin loading the page got
    response = client.post(
        "/jira/admin", {"session": session, "action": "broken_unlink", "link_id": str(broken.pk), "confirmed": "yes"}
    )
    assert response.status_code == 403 and has_testid(response, "admin-denied")
    assert Link.objects.filter(pk=broken.pk).exists()
    # and the page a non-admin loads offers no Unlink
    denied = AdminPage(client, jira, account_id=USER_ACCOUNT).open()
    assert denied.status_code == 403 and 'value="broken_unlink"' not in denied.content.decode()


def test_a_post_without_or_with_a_forged_page_session_is_refused(client, page, broken):
    data = {"action": "broken_unlink", "link_id": str(broken.pk), "confirmed": "yes"}
    without = client.post("/jira/admin", data)
    assert without.status_code == 401
    forged = page.session[:-1] + ("B" if page.session.endswith("A") else "A")
    response = client.post("/jira/admin", {**data, "session": forged})
    assert response.status_code == 401 and "session_invalid" in page_text(response)
    assert Link.objects.filter(pk=broken.pk).exists()
    assert not SyncEvent.objects.exists()


def test_the_page_offers_unlink_only_with_its_session(page, broken):
    home = page.open()
    fields = form_data(home, "broken_unlink")
    assert fields == {"session": [page.session], "link_id": [str(broken.pk)]}

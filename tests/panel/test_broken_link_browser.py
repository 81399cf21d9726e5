"""The browser journey "a linked ticket was deleted in Zendesk": a real browser (Debian's chromium, headless,
driven by Playwright) opens the issue panel as Jira would, against the app served on loopback with fake Jira and
Zendesk. The issue's ticket was made by auto-create and then deleted in Zendesk, so its link is broken: the card
says so, offers Unlink (not Refresh, not Open, not "Managed by sync") and says what unlinking allows; the
confirmation says what happened; once unlinked, Create ticket is offered, takes the focus, and makes a new ticket
that appears linked on the card. The broken card and its confirmation pass axe-core's WCAG 2 A/AA checks."""

from __future__ import annotations

import pytest

from sync.create import record_create_for_issue
from sync.jira_create import ACTOR
from sync.models import Link, RecordCreate
from sync.services import link_refresh
from tests.a11y import assert_no_serious_violations
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.test_create_ticket_browser import card, items, open_create_form
from tests.panel.test_issue_panel_browser import BADGE, panel_query, record_api_calls, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REPORTER = {"accountId": "rita-1", "displayName": "Rita Reporter", "emailAddress": "rita@customer.test"}


def focused(page) -> str:
    return page.evaluate("document.activeElement.dataset.testid || ''")


def test_unlink_a_broken_link_then_create_a_new_ticket(connect_host, jira, zendesk, tenant, connection, project):
    item = items(tenant, connection)
    issue = jira.add_issue(
        key="SUP-7", project="SUP", summary="Printer on fire", description="It smokes.", reporter=dict(REPORTER)
    )
    # Auto-create made the issue's ticket; then an agent deleted it in Zendesk, and a refresh found it gone.
    made = record_create_for_issue(tenant=tenant, item=item, issue_id=issue["id"], automatic=True, actor=ACTOR)
    old_id = int(made.record_id)
    del zendesk.accounts[ZD_SUBDOMAIN].tickets[old_id]
    link_refresh(tenant=tenant, link=Link.objects.select_related("item").get())
    broken = Link.objects.get()
    assert broken.origin == Link.Origin.AUTO and broken.record_deleted_at is not None

    page = connect_host.open(
        "/jira/issue-panel",
        query=panel_query(issue, project),
        account_id="user-7",
        viewport={"width": 1100, "height": 900},
    )
    escalations = card(page, "Escalations")
    record = escalations.get_by_test_id("record")
    record.wait_for()
    calls = record_api_calls(page)

    # The broken card: the problem in words, Unlink and what it allows; nothing that can only fail.
    problem = record.get_by_test_id("link-problem")
    assert problem.get_attribute("data-problem") == "record_deleted"
    assert "Deleted in Zendesk: this link is broken and no longer syncs; nothing was recreated." in problem.inner_text()
    assert record.get_by_test_id("broken-hint").inner_text() == "Unlink it to link another ticket or create a new one."
    assert record.get_by_test_id("refresh").count() == 0
    assert record.get_by_test_id("open").count() == 0  # Zendesk would only answer that it does not exist
    assert "Managed by sync" not in record.inner_text()  # made by sync, but nothing is left for sync to manage
    assert "made by sync" in record.get_by_test_id("sync-line").inner_text()
    assert escalations.get_by_test_id("create").count() == 0  # the issue is still linked through the item
    assert escalations.get_by_test_id("link").is_visible()
    shot(page, "broken-link-card.png")
    assert_no_serious_violations(page, name="issue panel with a broken link")

    # Unlink, with the keyboard: the confirmation says the ticket was deleted and what comes next.
    record.get_by_test_id("unlink").focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_test_id("unlink-dialog")
    confirm.wait_for()
    text = confirm.inner_text()
    assert f"Unlink #{old_id} Printer on fire?" in text
    assert (
        "It was deleted in Zendesk, so this link is broken. Unlinking removes it from SUP-7; you can then link "
        "another ticket or create a new one." in text
    )
    assert focused(page) == "cancel-unlink"  # the safe choice first
    assert_no_serious_violations(page, name="unlink confirmation of a broken link")
    page.get_by_test_id("confirm-unlink").click()
    create = escalations.get_by_test_id("create")
    create.wait_for()

    assert "Unlinked." in page.inner_text("#db-status")
    assert escalations.get_by_test_id("record").count() == 0
    assert not Link.objects.exists()
    assert focused(page) == "create"  # what the card offers next
    assert create.inner_text() == "Create ticket"
    assert [(c.method, c.status) for c in calls] == [("DELETE", 204), ("GET", 200)]

    # Create ticket makes a new ticket (not the deleted one's intent again) and links it.
    open_create_form(page)
    page.get_by_test_id("create-submit").click()
    new_record = escalations.get_by_test_id("record")
    new_record.wait_for()
    [ticket] = zendesk.accounts[ZD_SUBDOMAIN].tickets.values()
    assert ticket["id"] != old_id and ticket["subject"] == "Printer on fire"
    link = Link.objects.get()
    assert (link.record_id, link.origin, link.created_by) == (str(ticket["id"]), "manual", "user-7")
    intent = RecordCreate.objects.get()
    assert (intent.state, intent.record_id, intent.source_key) == ("done", str(ticket["id"]), ticket["external_id"])
    assert new_record.get_attribute("data-record") == str(ticket["id"])
    assert new_record.get_by_test_id("link-problem").count() == 0
    assert new_record.get_by_test_id("refresh").is_visible() and new_record.get_by_test_id("unlink").is_visible()
    assert f"Created #{ticket['id']} Printer on fire in Zendesk and linked it to SUP-7." in page.inner_text(
        "#db-status"
    )
    assert escalations.get_by_test_id("create").count() == 0
    assert jira.properties[(issue["id"], BADGE.format(app_key=jira.app_key))]["value"] == {"label": "1"}
    shot(page, "broken-link-replaced.png")

"""The browser journey "clean up after deletions" on the Jira admin page: a real browser (Debian's chromium,
headless, driven by Playwright) opens the admin page as Jira embeds it, against the app served on loopback with
fake Jira and Zendesk. Auto-create made three issues from three tickets; then one ticket was deleted in Zendesk
(a poll saw it) and one issue was deleted in Jira (its webhook was processed). Each broken link's row offers
Unlink; the dialog asks first (Cancel changes nothing), says what unlinking does, and once confirmed the page
says what happened, the row is gone and the item's Linked count is one less. The lists and the dialog pass
axe-core's WCAG 2 A/AA checks."""

from __future__ import annotations

import pytest

from connector.models import ConnectedItem
from sync.models import Link
from tests.a11y import assert_no_serious_violations
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import badge
from tests.panel.test_admin_page_browser import open_admin, shot
from tests.panel.test_admin_unlink_broken import (  # noqa: F401  (item: the fixture)
    auto_link,
    delete_issue_in_jira,
    delete_ticket_in_zendesk,
    item,
)
from tests.sync.conftest import admin_agent  # noqa: F401  (the fixture: Zendesk's exports need an admin)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def linked(page) -> str:
    return page.locator("[data-testid=items-table] [data-item]").first.get_by_test_id("linked-count").inner_text()


def test_unlink_the_broken_links_of_both_lists(
    client,
    connect_host,
    jira,
    zendesk,
    tenant,
    connection,
    item,  # noqa: F811
):
    kept = auto_link(zendesk, connection, "Kept")
    ticket_gone = auto_link(zendesk, connection, "Deleted in Zendesk")
    issue_gone = auto_link(zendesk, connection, "Issue deleted in Jira")
    delete_ticket_in_zendesk(zendesk, connection, ticket_gone)
    delete_issue_in_jira(client, tenant, jira, issue_gone)
    ticket_of_deleted_issue = dict(zendesk.accounts[ZD_SUBDOMAIN].tickets[int(issue_gone.record_id)])

    page = open_admin(connect_host)
    records = page.get_by_test_id("broken-records")
    links = page.get_by_test_id("broken-links")
    records.wait_for()
    assert linked(page) == "3"
    assert "can be unlinked here or in the issue's Deskbridge panel" in records.inner_text()
    assert "and unlinking one here removes the link only" in page.get_by_test_id("sync-problems").inner_text()
    shot(page, "admin-broken-links.png")
    assert_no_serious_violations(page, name="admin page with broken links")

    # The ticket deleted in Zendesk: Cancel first changes nothing.
    name = f"Unlink {ticket_gone.jira_issue_key} from ticket {ticket_gone.record_id}"
    unlink = records.get_by_role("button", name=name)
    unlink.click()
    dialog = page.get_by_test_id("confirm-dialog")
    dialog.wait_for(state="visible")
    text = dialog.inner_text()
    assert f"{name}?" in text
    assert f"Ticket {ticket_gone.record_id} was deleted in Zendesk, so its link to" in text
    assert page.evaluate("document.activeElement.dataset.testid") == "confirm-cancel"  # the safe choice first
    assert_no_serious_violations(page, context="#db-confirm", name="unlink a broken link: the question")
    dialog.get_by_test_id("confirm-cancel").click()
    dialog.wait_for(state="hidden")
    assert Link.objects.filter(pk=ticket_gone.pk).exists()

    unlink.click()
    dialog.wait_for(state="visible")
    with page.expect_navigation():
        dialog.get_by_test_id("confirm-ok").click()
    message = page.get_by_test_id("message")
    assert message.inner_text() == (
        f"Unlinked {ticket_gone.jira_issue_key} from ticket {ticket_gone.record_id}, which was deleted in Zendesk. "
        f"Nothing was changed in Jira: {ticket_gone.jira_issue_key}'s Deskbridge panel can now link another ticket "
        "or create a new one."
    )
    assert page.get_by_test_id("broken-records").count() == 0  # its only row is gone, and the list with it
    assert linked(page) == "2"
    assert badge(jira, ticket_gone.jira_issue_id)["value"] == {"label": "0"}

    # The issue deleted in Jira: unlinked with the keyboard; nothing changes in Zendesk.
    links.get_by_role("button", name=f"Unlink {issue_gone.jira_issue_key} from ticket {issue_gone.record_id}").focus()
    page.keyboard.press("Enter")
    dialog.wait_for(state="visible")
    assert f"{issue_gone.jira_issue_key} was deleted in Jira" in dialog.inner_text()
    with page.expect_navigation():
        dialog.get_by_test_id("confirm-ok").click()
    assert page.get_by_test_id("message").inner_text() == (
        f"Unlinked {issue_gone.jira_issue_key} from ticket {issue_gone.record_id}. Nothing was deleted in Zendesk."
    )
    assert page.get_by_test_id("broken-links").count() == 0
    assert linked(page) == "1"
    shot(page, "admin-broken-links-unlinked.png")
    assert_no_serious_violations(page, name="admin page after unlinking")

    assert list(Link.objects.values_list("pk", flat=True)) == [kept.pk]
    assert ConnectedItem.objects.get(pk=item.pk).linked_count == 1
    assert zendesk.accounts[ZD_SUBDOMAIN].tickets[int(issue_gone.record_id)] == ticket_of_deleted_issue
    # The admin page posts forms with its page session: it never needed a context token.
    assert connect_host.tokens == []

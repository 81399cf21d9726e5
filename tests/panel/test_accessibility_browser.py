"""Automated accessibility checks (axe-core, WCAG 2 A and AA; see ``tests/a11y``) in a real browser on the
screens people use inside Jira: the admin page connected and with items, its Delete confirmation, the item
dialog, the issue panel with a linked card, and the link dialog showing results. No serious or
critical violation is allowed."""

from __future__ import annotations

import pytest

from sync.services import link_create
from tests.a11y import assert_no_serious_violations, serious_violations
from tests.conftest import ADMIN_ACCOUNT
from tests.panel.links_helpers import make_item
from tests.panel.test_issue_panel_browser import panel_query

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ADMIN_QUERY = "lic=active&xdm_e=https%3A%2F%2Fsite.atlassian.net&cp=&tz=UTC&loc=en-US"


def test_the_check_reports_a_serious_violation(browser):
    """The helper can fail: an input without a label and an image without alt text are reported, with the
    rule ids and the offending nodes."""
    page = browser.new_page()
    try:
        page.goto("data:text/html,<html lang=en><title>t</title><main><input id=q><img src=x.png></main></html>")
        found = {v["id"]: v for v in serious_violations(page)}
        assert {"label", "image-alt"} <= set(found), found
        assert found["label"]["nodes"][0]["target"] == ["#q"]
        with pytest.raises(pytest.fail.Exception) as failure:
            assert_no_serious_violations(page, name="bad page")
        message = str(failure.value)
        assert "bad page" in message and "label" in message and "#q" in message and "image-alt" in message
        # ...and passes a page that has neither problem.
        page.goto("data:text/html,<html lang=en><title>t</title><main><label>Q <input></label></main></html>")
        assert_no_serious_violations(page, name="good page")
    finally:
        page.close()


@pytest.fixture
def items(tenant, connection, jira, zendesk):
    """A display item with a linked ticket and a one-way item, as an admin has them after a while."""
    display = make_item(tenant, connection, "Support tickets", display_fields=["status", "priority", "requester.name"])
    make_item(tenant, connection, "Synced tickets", mode="one_way", jira_issue_type_id="10001", display_fields=[])
    ticket = zendesk.add_ticket("acme", subject="Reactor console frozen", priority="urgent")
    issue = jira.add_issue(key="SUP-7", project="SUP")
    link_create(tenant=tenant, item=display, issue_id=issue["id"], issue_key=issue["key"], record_id=str(ticket["id"]))
    return display, issue


def test_admin_page_connected_with_items(connect_host, items):
    page = connect_host.open("/jira/admin", query=ADMIN_QUERY, account_id=ADMIN_ACCOUNT)
    page.get_by_test_id("connection-summary").wait_for()
    assert "Support tickets" in page.get_by_test_id("items").inner_text()
    assert_no_serious_violations(page, name="admin page (connected, with items)")


def test_delete_item_confirmation(connect_host, items):
    page = connect_host.open("/jira/admin", query=ADMIN_QUERY, account_id=ADMIN_ACCOUNT)
    page.get_by_role("button", name="Delete Support tickets").click()
    dialog = page.get_by_test_id("confirm-dialog")
    dialog.wait_for()
    assert "Delete Support tickets?" in dialog.inner_text()
    assert_no_serious_violations(page, name="admin page (Delete item confirmation)")
    page.get_by_test_id("confirm-cancel").click()


def open_item_dialog(connect_host):
    page = connect_host.open("/jira/admin", query=ADMIN_QUERY, account_id=ADMIN_ACCOUNT)
    with page.expect_navigation():  # the dialog's script is in place once the new page has loaded
        page.click("button:has-text('Create item')")
    return page


def test_item_dialog_step_1(connect_host, items):
    page = open_item_dialog(connect_host)
    assert_no_serious_violations(page, name="item dialog, step 1")


def test_item_dialog_step_2(connect_host, items):
    page = open_item_dialog(connect_host)
    page.fill("#name", "Escalations")
    page.select_option("#mode", "one_way")
    with page.expect_navigation():  # the project's issue types come with a reload
        page.select_option("#jira_project", label="SUP — Support")
    page.wait_for_selector("#jira_issue_type_id option[value='10001']", state="attached")
    page.select_option("#jira_issue_type_id", "10001")
    page.click("button:has-text('Next')")
    page.locator("button:has-text('Apply standard mapping')").wait_for()
    page.click("button:has-text('Apply standard mapping')")  # the mapping rows, as an admin fills them
    page.get_by_test_id("message").wait_for()
    assert_no_serious_violations(page, name="item dialog, step 2")


def test_issue_panel_with_a_linked_card(connect_host, items, project):
    _, issue = items
    page = connect_host.open("/jira/issue-panel", query=panel_query(issue, project), account_id="user-7")
    page.get_by_test_id("record").wait_for()
    assert_no_serious_violations(page, name="issue panel (a linked card)")


def test_link_dialog_with_results(connect_host, items, project, zendesk):
    _, issue = items
    zendesk.add_ticket("acme", subject="Reactor overheating")
    page = connect_host.open("/jira/issue-panel", query=panel_query(issue, project), account_id="user-7")
    page.get_by_test_id("card").first.wait_for()
    page.get_by_test_id("link").first.click()
    page.get_by_test_id("search-input").fill("react")
    page.get_by_test_id("hit").first.wait_for()
    assert_no_serious_violations(page, name="link dialog (search results)")

"""The admin page in a real browser, as a Jira admin uses it: connect (after a typo in the token),
create a synchronized item in two steps with the standard mapping, see it in the grid."""

from __future__ import annotations

import os

import pytest

from connector.models import ConnectedItem, HelpdeskConnection
from tests.conftest import ADMIN_ACCOUNT, ZD_EMAIL, ZD_TOKEN

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Screenshots of the admin page and each step of the item dialog (test artifacts, not committed).
SHOTS = os.path.join(os.path.dirname(__file__), os.pardir, "artifacts", "screenshots")
QUERY = "lic=active&xdm_e=https%3A%2F%2Fsite.atlassian.net&cp=&tz=UTC&loc=en-US"


def shot(page, name: str) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def open_admin(connect_host, **options):
    return connect_host.open(
        "/jira/admin", query=QUERY, account_id=ADMIN_ACCOUNT, viewport={"width": 1100, "height": 900}, **options
    )


def connect_zendesk(page) -> None:
    page.fill("#subdomain", "acme")
    page.fill("#email", ZD_EMAIL)
    page.fill("#api_token", ZD_TOKEN)
    page.click("button:has-text('Connect with API token')")
    page.get_by_test_id("connection-summary").wait_for()


def test_connect_and_create_a_synchronized_item(connect_host, jira, zendesk, tenant, project):
    page = open_admin(connect_host)

    page.fill("#subdomain", "https://acme.zendesk.com/agent/dashboard")
    page.fill("#email", ZD_EMAIL)
    page.fill("#api_token", "a-typo")
    page.click("button:has-text('Connect')")
    error = page.get_by_test_id("error")
    error.wait_for()
    assert "Zendesk did not accept these credentials" in error.inner_text()
    assert page.input_value("#email") == ZD_EMAIL  # what was typed is kept

    page.fill("#api_token", ZD_TOKEN)
    page.click("button:has-text('Connect')")
    page.get_by_test_id("connection-summary").wait_for()
    assert "token stored securely" in page.inner_text("[data-testid=connection-summary]")

    with page.expect_navigation():  # the dialog's script is in place once the new page has loaded
        page.click("button:has-text('Create item')")
    page.fill("#name", "Support tickets")
    # Customers are display-only: choosing them (the dialog reloads) leaves only Display only to choose.
    with page.expect_navigation():
        page.select_option("#helpdesk_object", "user")
    assert page.eval_on_selector_all("#mode option", "os => os.map(o => o.value)") == ["display"]
    assert page.input_value("#name") == "Support tickets"
    with page.expect_navigation():
        page.select_option("#helpdesk_object", "ticket")
    assert page.eval_on_selector_all("#mode option", "os => os.map(o => o.value)") == ["display", "one_way", "two_way"]
    page.select_option("#mode", "one_way")
    with page.expect_navigation():
        page.select_option("#jira_project", label="SUP — Support")  # reloads step 1 with the project's types
    page.wait_for_selector("#jira_issue_type_id option[value='10001']", state="attached")
    page.select_option("#jira_issue_type_id", "10001")
    shot(page, "admin-item-step1.png")
    with page.expect_navigation():
        page.click("button:has-text('Next')")
    page.get_by_test_id("display-fields").wait_for()
    assert "step 2 of 2" in page.inner_text("h1")

    # Back returns to step 1 with everything entered; Next again.
    with page.expect_navigation():
        page.get_by_test_id("back").click()
    assert page.input_value("#name") == "Support tickets" and page.input_value("#mode") == "one_way"
    with page.expect_navigation():
        page.click("button:has-text('Next')")
    page.wait_for_load_state()

    # The display fields are a list with a search.
    page.fill("#display_search", "prio")
    visible = page.locator("#display-field-list li:visible")
    assert visible.count() == 1 and visible.inner_text().strip() == "Priority"
    visible.locator("input").check()
    page.fill("#display_search", "")

    with page.expect_navigation():
        page.click("button:has-text('Apply standard mapping')")
    page.get_by_test_id("message").wait_for()
    assert "One-way sync" in page.inner_text("[data-testid=scope]") and "Task" in page.inner_text("[data-testid=scope]")
    # the priority row maps Zendesk's priorities to Jira's by name
    assert page.locator("#m2_vv3 option:checked").inner_text() == "Highest"

    # Auto-create conditions are shown only while auto-create is on.
    conditions = page.get_by_test_id("conditions")
    assert conditions.is_hidden()
    page.check("input[name=auto_create]")
    assert conditions.is_visible()
    page.locator("input[name=cond_priority][value=urgent]").check()
    shot(page, "admin-item-step2.png")
    page.uncheck("input[name=auto_create]")
    assert conditions.is_hidden()
    page.check("input[name=auto_create]")
    page.click("button:has-text('Save')")
    row = page.locator("[data-testid=items] tbody tr").first
    row.wait_for()
    text = row.inner_text()
    assert "Support tickets" in text and "Subject → Summary" in text and "auto-create" in text
    assert "Shows: Priority" in text and "Connected" in row.get_by_test_id("item-state").inner_text()
    shot(page, "admin-page.png")

    item = ConnectedItem.objects.get()
    assert item.auto_create and item.auto_create_baseline is not None
    assert item.auto_create_conditions == {"priority": ["urgent"]} and item.display_fields == ["priority"]
    assert {(m.helpdesk_field, m.jira_field) for m in item.mappings.all()} >= {
        ("subject", "summary"),
        ("tags", "labels"),
    }

    # Every page load ran Connect's all.js (the fake bridge here), which sized the iframe to Jira's page;
    # the admin page posts forms with its page session and never needed a context token.
    assert connect_host.calls and {c.method for c in connect_host.calls} == {"sizeToParent"}
    assert connect_host.tokens == []


def test_copy_the_external_id_and_revoke_after_confirming(connect_host, jira, zendesk, tenant, project):
    page = open_admin(connect_host, permissions=["clipboard-read", "clipboard-write"])
    connect_zendesk(page)
    with page.expect_navigation():
        page.click("button:has-text('Create item')")
    page.fill("#name", "Customers")
    with page.expect_navigation():
        page.select_option("#helpdesk_object", "user")
    with page.expect_navigation():
        page.select_option("#jira_project", label="SUP — Support")
    with page.expect_navigation():
        page.click("button:has-text('Next')")
    warning = page.get_by_test_id("no-display-fields")
    assert warning.is_visible()  # a display item without display fields is warned about, as it is edited
    page.locator("#display-field-list input[value=email]").check()
    assert warning.is_hidden()
    page.click("button:has-text('Save')")
    page.get_by_test_id("external-id").wait_for()

    # The external id (scripts need it) is copied with its button.
    item = ConnectedItem.objects.get()
    assert page.get_by_test_id("external-id").inner_text() == item.external_id
    page.get_by_test_id("copy-external-id").click()
    copied = page.locator("[data-item] [data-testid=copied]")
    copied.wait_for(state="visible")
    assert page.evaluate("navigator.clipboard.readText()") == item.external_id

    # Revoke asks first in a dialog: Cancel changes nothing, confirming revokes.
    page.get_by_test_id("revoke").click()
    dialog = page.get_by_test_id("confirm-dialog")
    dialog.wait_for(state="visible")
    assert "Revoke the Zendesk connection?" in dialog.inner_text() and "pauses 1 item" in dialog.inner_text()
    shot(page, "admin-revoke-confirm.png")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert HelpdeskConnection.objects.get().status == "connected"
    page.get_by_test_id("revoke").click()
    dialog.wait_for(state="visible")
    with page.expect_navigation():
        page.get_by_test_id("confirm-ok").click()
    page.get_by_test_id("revoked-notice").wait_for()
    assert "Disconnected." in page.get_by_test_id("message").inner_text()
    assert HelpdeskConnection.objects.get().status == "revoked"

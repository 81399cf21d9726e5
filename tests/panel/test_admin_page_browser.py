"""The admin page in a real browser, as a Jira admin uses it: connect (after a typo in the token),
create a synchronized item in two steps with the standard mapping, see it in the grid."""

from __future__ import annotations

import os

import pytest

from connector.models import ConnectedItem
from tests.conftest import ADMIN_ACCOUNT, SHOTS, ZD_EMAIL, ZD_TOKEN

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_connect_and_create_a_synchronized_item(connect_host, jira, zendesk, tenant, project):
    query = "lic=active&xdm_e=https%3A%2F%2Fsite.atlassian.net&cp=&tz=UTC&loc=en-US"
    page = connect_host.open(
        "/jira/admin", query=query, account_id=ADMIN_ACCOUNT, viewport={"width": 1100, "height": 900}
    )

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

    page.click("button:has-text('Create item')")
    page.fill("#name", "Support tickets")
    page.select_option("#mode", "one_way")
    page.select_option("#jira_project", label="SUP — Support")  # reloads step 1 with the project's types
    page.wait_for_selector("#jira_issue_type_id option[value='10001']", state="attached")
    page.select_option("#jira_issue_type_id", "10001")
    page.click("button:has-text('Next')")
    page.click("button:has-text('Apply standard mapping')")
    page.get_by_test_id("message").wait_for()
    assert "One-way sync" in page.inner_text("[data-testid=scope]") and "Task" in page.inner_text("[data-testid=scope]")
    page.check("input[name=auto_create]")
    page.click("button:has-text('Save')")
    row = page.locator("[data-testid=items] tbody tr").first
    row.wait_for()
    text = row.inner_text()
    assert "Support tickets" in text and "subject → summary" in text and "auto-create" in text
    page.screenshot(path=os.path.join(SHOTS, "admin-page.png"), full_page=True)

    item = ConnectedItem.objects.get()
    assert item.auto_create and item.auto_create_baseline is not None
    assert {(m.helpdesk_field, m.jira_field) for m in item.mappings.all()} >= {
        ("subject", "summary"),
        ("tags", "labels"),
    }

    # Every page load ran Connect's all.js (the fake bridge here), which sized the iframe to Jira's page;
    # the admin page posts forms with its page session and never needed a context token.
    assert connect_host.calls and {c.method for c in connect_host.calls} == {"sizeToParent"}
    assert connect_host.tokens == []

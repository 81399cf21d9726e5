"""A real browser (Debian's chromium, headless, driven by Playwright) opens the issue panel as Jira
would — with a valid JWT — against the app served on loopback with fake Jira and Zendesk, links a
ticket through the dialog, refreshes, unlinks, and checks what a user sees."""

from __future__ import annotations

import os

import pytest

from connector.services import ItemSpec, connected_item_save
from tests.conftest import SHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_link_refresh_unlink_in_the_panel(live_server, browser, jira, zendesk, tenant, connection, project):
    severity = zendesk.add_ticket_field("acme", "Severity", "tagger", options=[("Sev 1 — outage", "sev_1"), "Minor"])
    org = zendesk.add_organization("acme", name="Globex Corporation")
    customer = zendesk.add_user("acme", name="Homer Simpson", email="homer@globex.test", organization_id=org["id"])
    ticket = zendesk.add_ticket(
        "acme",
        subject="Reactor console frozen",
        requester_id=customer["id"],
        organization_id=org["id"],
        priority="urgent",
        custom_fields=[{"id": severity["id"], "value": "sev_1"}],
    )
    zendesk.add_ticket("acme", subject="Password reset")
    connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(
            name="Support tickets",
            mode="display",
            jira_project="SUP",
            helpdesk_object="ticket",
            display_fields=[
                "status",
                "priority",
                f"custom_field:{severity['id']}",
                "requester.name",
                "organization.name",
            ],
        ),
    )
    issue = jira.add_issue(key="SUP-7", project="SUP")
    query = (
        f"issueKey=SUP-7&issueId={issue['id']}&projectKey=SUP&projectId={project['id']}&issueTypeId=10001"
        "&lic=active&xdm_e=https%3A%2F%2Fsite.atlassian.net&cp=&tz=UTC&loc=en-US"
    )
    token = jira.sign("GET", f"/jira/issue-panel?{query}", account_id="user-7")

    page = browser.new_page()
    page.goto(f"{live_server.url}/jira/issue-panel?{query}&jwt={token}")
    card = page.get_by_test_id("card")
    card.wait_for()
    assert "Support tickets" in card.inner_text()
    assert "Tickets · Display only" in card.inner_text()
    assert page.get_by_test_id("record").count() == 0

    # Link through the dialog: type part of the subject, pick the hit.
    page.get_by_test_id("link").click()
    page.get_by_test_id("search-input").fill("react")
    hit = page.get_by_test_id("hit")
    hit.wait_for()
    assert hit.count() == 1 and "Reactor console frozen" in hit.inner_text()
    hit.click()
    record = page.get_by_test_id("record")
    record.wait_for()
    text = record.inner_text()
    assert f"#{ticket['id']} Reactor console frozen" in text
    assert "Sev 1 — outage" in text  # option label, not the tag
    assert "Homer Simpson" in text and "Globex Corporation" in text
    page.screenshot(path=os.path.join(SHOTS, "panel-linked.png"))
    assert page.get_by_test_id("open").get_attribute("href").endswith(f"/agent/tickets/{ticket['id']}")
    assert jira.properties[
        (issue["id"], f"com.atlassian.jira.issue:{jira.app_key}:deskbridge-issue-context:status")
    ] == {
        "type": "badge",
        "value": {"label": "1"},
    }

    # Empty search says so and suggests the id.
    page.get_by_test_id("link").click()
    page.get_by_test_id("search-input").fill("zzzz")
    hint = page.get_by_test_id("search-hint")
    page.wait_for_function("document.querySelector('[data-testid=search-hint]').textContent.includes('id')")
    assert "No tickets match" in hint.inner_text()
    page.keyboard.press("Escape")

    # Refresh pulls the record live and updates what is shown.
    zendesk.accounts["acme"].tickets[ticket["id"]]["priority"] = "low"
    page.get_by_test_id("refresh").click()
    page.wait_for_function("document.querySelector('[data-field=priority] td').textContent === 'Low'")

    # Unlink removes it.
    page.get_by_test_id("unlink").click()
    page.wait_for_function("document.querySelectorAll('[data-testid=record]').length === 0")
    assert "Unlinked." in page.inner_text("#db-status")
    assert jira.properties[(issue["id"], f"com.atlassian.jira.issue:{jira.app_key}:deskbridge-issue-context:status")][
        "value"
    ] == {"label": "0"}
    page.screenshot(path=os.path.join(SHOTS, "panel-unlinked.png"))

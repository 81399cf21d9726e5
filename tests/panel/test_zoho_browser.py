"""Zoho Desk in a real browser (Debian's chromium, driven by Playwright, inside the fake Jira page): a Jira
admin connects a Self Client on the admin page (one organization, or the choice of several), and an agent
links a Zoho ticket from the issue panel through the search dialog."""

from __future__ import annotations

import os
import re

import pytest

from connector.models import HelpdeskConnection, Provider
from sync.models import Link
from tests.conftest import ADMIN_ACCOUNT, SHOTS, ZOHO_CLIENT_ID, ZOHO_DC, ZOHO_SECRET
from tests.panel.conftest import ADMIN_QUERY
from tests.panel.links_helpers import badge, badge_of, make_item
from tests.panel.test_admin_zoho import _secrets
from tests.panel.test_issue_panel_browser import panel_query, record_api_calls, shown_or_hint

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EUROPE = "Europe (zoho.eu)"
CLIPBOARD = ["clipboard-read", "clipboard-write"]


def open_admin_page(connect_host, **context_options):
    return connect_host.open(
        "/jira/admin",
        query=ADMIN_QUERY,
        account_id=ADMIN_ACCOUNT,
        viewport={"width": 1100, "height": 900},
        **context_options,
    )


def fill_zoho_form(page, code: str) -> None:
    """Type the Self Client's data center, Client ID, Client Secret and a code into the Zoho form and submit."""
    form = page.get_by_test_id("zoho-form")
    page.select_option("#zoho_data_center", ZOHO_DC)
    page.fill("#zoho_client_id", ZOHO_CLIENT_ID)
    page.fill("#zoho_client_secret", ZOHO_SECRET)
    page.fill("#zoho_code", code)
    form.locator("button[type=submit]:has-text('Connect Zoho Desk')").click()


def summary(page, name: str) -> str:
    return page.get_by_test_id(name).inner_text().strip()


def test_connect_zoho_desk_in_the_browser(connect_host, jira, zoho, zoho_code, tenant, project):
    page = open_admin_page(connect_host, permissions=CLIPBOARD)
    page.get_by_test_id("zoho-connect-form").wait_for()
    assert "Connect Zoho Desk" in page.inner_text("[data-testid=zoho-connect-form]")

    # Choosing the data center names its API console in the first step.
    page.select_option("#zoho_data_center", ZOHO_DC)
    assert page.inner_text("[data-zoho-console]") == "api-console.zoho.eu"

    # Copy scopes: the clipboard gets the scopes and the page says "Copied".
    scopes = page.input_value("#zoho_scopes")
    assert "Desk.tickets.READ" in scopes
    copied = page.get_by_test_id("copied")
    assert copied.is_hidden()
    page.click("button[data-copy=zoho_scopes]")
    copied.wait_for(state="visible")
    assert copied.inner_text() == "Copied"
    assert page.evaluate("navigator.clipboard.readText()") == scopes

    code = zoho_code()
    fill_zoho_form(page, code)
    page.get_by_test_id("connection-summary").wait_for()
    text = page.inner_text("[data-testid=connection-summary]")
    assert "Zoho Desk connection" in text and "Zendesk connection" not in text
    assert summary(page, "summary-data-center") == EUROPE
    assert summary(page, "summary-client-id") == ZOHO_CLIENT_ID
    assert summary(page, "summary-desk-host") == zoho.desk_url(ZOHO_DC)
    assert summary(page, "summary-org").startswith(f"Acme Support (id {zoho.org.id}, portal acmesupport")
    assert summary(page, "summary-status") == "Connected"
    assert re.fullmatch(r"Zoho Desk API credits spent today by Deskbridge: \d+", summary(page, "zoho-credits"))
    assert "Connected to Zoho Desk (Acme Support) as Zoe Agent." in page.inner_text("[data-testid=message]")
    assert page.get_by_test_id("zoho-connect-form").count() == 0
    page.screenshot(path=os.path.join(SHOTS, "admin-zoho-connected.png"), full_page=True)

    connection = HelpdeskConnection.objects.get(tenant=tenant)
    assert connection.provider == Provider.ZOHO_DESK and connection.status == "connected"
    assert connection.settings["org_id"] == zoho.org.id
    for shown in (page, open_admin_page(connect_host)):  # right after connecting, and on a fresh load
        shown.get_by_test_id("connection-summary").wait_for()
        html = shown.content()
        assert ZOHO_CLIENT_ID in html
        for secret in [*_secrets(connection), code]:
            assert secret not in html


def test_choose_among_several_zoho_organizations(connect_host, jira, zoho, zoho_code, tenant, project):
    labs = zoho.add_org(ZOHO_DC, name="Acme Labs", portal_name="acmelabs", edition="enterprise")
    zoho.add_agent(labs.id, name="Zoe Agent", email="zoe@acme.test")
    page = open_admin_page(connect_host)
    fill_zoho_form(page, zoho_code(org_id=labs.id))  # the code was generated for Acme Labs

    picker = page.get_by_test_id("zoho-org-picker")
    picker.wait_for()
    assert page.get_by_test_id("connection-summary").count() == 0
    choices = picker.inner_text()
    assert "Acme Support — portal acmesupport (Professional edition)" in choices
    assert "Acme Labs — portal acmelabs (Enterprise edition)" in choices
    assert EUROPE in choices
    assert ZOHO_SECRET not in page.content()

    # The code's user is an agent of both, but the code works for the portal it was generated for only.
    picker.locator(f"input[name=org_id][value='{zoho.org.id}']").check()
    picker.locator("button:has-text('Connect this organization')").click()
    error = page.get_by_test_id("error")
    error.wait_for()
    assert "OAUTH_ORG_MISMATCH" in error.inner_text()
    assert "does not belong to the Zoho user who generated the code" in error.inner_text()
    picker = page.get_by_test_id("zoho-org-picker")
    assert "Not an organization of this Zoho user." in picker.locator(".field-error[data-field=org_id]").inner_text()
    assert page.get_by_test_id("connection-summary").count() == 0
    assert HelpdeskConnection.objects.get(tenant=tenant).status != "connected"

    picker.locator(f"input[name=org_id][value='{labs.id}']").check()
    picker.locator("button:has-text('Connect this organization')").click()
    page.get_by_test_id("connection-summary").wait_for()
    assert summary(page, "summary-org").startswith(f"Acme Labs (id {labs.id}, portal acmelabs")
    assert summary(page, "summary-data-center") == EUROPE
    assert "Connected to Zoho Desk (Acme Labs) as Zoe Agent." in page.inner_text("[data-testid=message]")
    assert page.get_by_test_id("zoho-org-picker").count() == 0
    assert ZOHO_SECRET not in page.content()
    connection = HelpdeskConnection.objects.get(tenant=tenant)
    assert connection.status == "connected" and connection.settings["org_id"] == labs.id


def test_link_a_zoho_ticket_in_the_panel(connect_host, jira, zoho, tenant, zoho_connection, project):
    org = zoho.org.id
    ticket = zoho.add_ticket(org, subject="Reactor console frozen", priority="High")
    zoho.add_ticket(org, subject="Password reset", priority="Low")
    item = make_item(
        tenant,
        zoho_connection,
        name="Zoho tickets",
        helpdesk_object="tickets",
        display_fields=["status", "priority"],
        link_note=True,
    )
    issue = jira.add_issue(key="SUP-7", project="SUP")
    page = connect_host.open("/jira/issue-panel", query=panel_query(issue, project), account_id="user-7")
    calls = record_api_calls(page)
    card = page.get_by_test_id("card")
    card.wait_for()
    assert "Zoho tickets" in card.inner_text() and "Tickets · Display only" in card.inner_text()
    assert page.get_by_test_id("record").count() == 0

    # Link through the dialog: type part of the subject, pick the hit.
    page.get_by_test_id("link").click()
    page.get_by_test_id("search-input").fill("react")
    assert shown_or_hint(page, "hit") == ""
    hit = page.get_by_test_id("hit")
    assert hit.count() == 1, page.get_by_test_id("search-results").inner_text()
    assert hit.inner_text().startswith(f"#{ticket['ticketNumber']} Reactor console frozen")
    assert hit.get_attribute("data-id") == ticket["id"]
    hit.click()
    assert shown_or_hint(page, "record") == ""

    record = page.get_by_test_id("record")
    assert record.get_attribute("data-record") == ticket["id"]
    assert f"#{ticket['ticketNumber']} Reactor console frozen" in record.inner_text()
    assert page.inner_text("[data-field=status] td") == "Open"
    assert page.inner_text("[data-field=priority] td") == "High"
    opener = page.get_by_test_id("open")
    assert opener.inner_text() == "Open in Zoho Desk"
    href = opener.get_attribute("href")
    assert ticket["id"] in href and href.startswith("https://desk.zoho.eu/"), href
    assert "Linked." in page.inner_text("#db-status")
    page.screenshot(path=os.path.join(SHOTS, "panel-zoho-linked.png"))

    (link,) = Link.objects.filter(item=item)
    assert (link.record_id, link.jira_issue_id, link.jira_issue_key) == (ticket["id"], issue["id"], "SUP-7")
    assert badge(jira, issue["id"]) == badge_of(1)
    notes = zoho.orgs[org].comments[("tickets", ticket["id"])]
    assert len(notes) == 1 and notes[0]["isPublic"] is False
    assert "Linked to Jira issue SUP-7" in notes[0]["content"] and f"{jira.url}/browse/SUP-7" in notes[0]["content"]
    assert "Display only" in notes[0]["content"]
    assert calls and all(200 <= c.status < 300 for c in calls), [(c.method, c.status) for c in calls]

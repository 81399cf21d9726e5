"""The browser journey "Create ticket from the panel": a real browser (Debian's chromium, headless, driven by
Playwright) opens the issue panel as Jira would — inside the fake Jira page that serves Connect's all.js — against
the app served on loopback with fake Jira and Zendesk. On a synchronized ticket item the user presses Create
ticket, reads the form filled in from the issue through the item's mappings, empties a required field and sees
the refusal next to it, corrects it, changes a drop-down, creates the ticket with the keyboard, and sees it
linked on the card; a reporter whose email Jira hides comes with a warning, before and after; a Zoho Desk
ticket asks for its department and shows Zoho's refusal of a wrong one next to the field; the form stays busy
while the helpdesk answers and ignores a preview that comes back after it was closed. The open dialog passes
axe-core's WCAG 2 A/AA checks."""

from __future__ import annotations

import pytest

from connector.services import ItemSpec, connected_item_save
from sync.models import Link, RecordCreate
from tests.a11y import assert_no_serious_violations
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import make_item
from tests.panel.test_issue_panel_browser import BADGE, panel_query, record_api_calls, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DESCRIPTION = {
    "type": "doc",
    "version": 1,
    "content": [
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "The printer in room 4 is "},
                {"type": "text", "text": "on fire", "marks": [{"type": "strong"}]},
                {"type": "text", "text": " after every print job."},
            ],
        }
    ],
}
MAPPINGS = [
    {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
    {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira", "value_map": {}},
    {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}},
    {"helpdesk_field": "tags", "jira_field": "labels", "direction": "to_helpdesk", "value_map": {}},
]


def items(tenant, connection):
    """A two-way ticket item that may create tickets, and a display-only one that may not."""
    two_way, _ = connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(
            name="Escalations",
            mode="two_way",
            jira_project="SUP",
            jira_issue_type_id="10001",
            helpdesk_object="ticket",
            display_fields=["status", "priority"],
            link_note=True,
            mappings=MAPPINGS,
        ),
    )
    connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(
            name="Support tickets",
            mode="display",
            jira_project="SUP",
            helpdesk_object="ticket",
            display_fields=["status", "priority"],
        ),
    )
    return two_way


def card(page, name: str):
    return page.locator("[data-testid=card]", has=page.locator("h2", has_text=name))


def field(page, field_id: str):
    return page.locator(f"[data-testid=create-field][data-field='{field_id}']")


def row(page, field_id: str):
    return page.locator(f"[data-testid=create-row][data-field='{field_id}']")


def dialog_open(page) -> bool:
    return page.eval_on_selector("[data-testid=create-dialog]", "d => d.open")


def focused(page) -> str:
    return page.evaluate("document.activeElement.dataset.field || document.activeElement.dataset.testid || ''")


def open_create_form(page, item_name: str = "Escalations"):
    """Press Create ticket on the item's card with the keyboard and wait for the form."""
    card(page, item_name).get_by_test_id("create").focus()
    page.keyboard.press("Enter")
    page.get_by_test_id("create-dialog").wait_for()
    page.wait_for_function(
        "document.querySelector('[data-testid=create-field]') || document.querySelector('#db-create-error.db-error')"
    )


def test_create_ticket_from_the_panel(connect_host, jira, zendesk, tenant, connection, project):
    items(tenant, connection)
    issue = jira.add_issue(
        key="SUP-7",
        project="SUP",
        summary="Printer on fire",
        description=DESCRIPTION,
        priority={"id": "1", "name": "Highest"},
        labels=["printer"],
        reporter={"accountId": "rita-1", "displayName": "Rita Reporter", "emailAddress": "rita@customer.test"},
    )
    page = connect_host.open(
        "/jira/issue-panel",
        query=panel_query(issue, project),
        account_id="user-7",
        viewport={"width": 1100, "height": 900},
    )
    card(page, "Escalations").wait_for()
    calls = record_api_calls(page)

    # Create ticket sits next to Link on the synchronized ticket item only.
    escalations = card(page, "Escalations")
    assert escalations.get_by_test_id("create").inner_text() == "Create ticket"
    assert escalations.get_by_test_id("link").is_visible()
    assert card(page, "Support tickets").get_by_test_id("create").count() == 0  # display-only

    # The form, filled in from the issue through the item's mappings; focus on its first field.
    open_create_form(page)
    assert "Create ticket — Escalations" in page.inner_text("#db-create-title")
    assert field(page, "subject").input_value() == "Printer on fire"
    description = field(page, "description")
    assert description.evaluate("e => e.tagName") == "TEXTAREA"
    assert "The printer in room 4 is on fire after every print job." in description.input_value()
    assert "formatting" in row(page, "description").inner_text()  # sent as HTML unless edited
    priority = field(page, "priority")
    assert priority.evaluate("e => e.tagName") == "SELECT"
    assert priority.evaluate("e => e.options[e.selectedIndex].text") == "Urgent"  # Highest, normalised
    assert field(page, "tags").input_value() == "printer"
    for required in ("subject", "description"):
        assert field(page, required).get_attribute("required") is not None, required
        assert "*" in row(page, required).locator("label").inner_text(), required
    assert field(page, "priority").get_attribute("required") is None
    assert "rita@customer.test" in page.get_by_test_id("create-requester").inner_text()
    assert page.get_by_test_id("create-warning").count() == 0
    assert focused(page) == "subject"
    assert page.get_by_role("dialog", name="Create ticket — Escalations").count() == 1
    # every control has a label a screen reader reads
    for field_id, label in (("subject", "Subject"), ("description", "Description"), ("priority", "Priority")):
        assert page.get_by_label(label, exact=False).first.get_attribute("data-field") == field_id
    shot(page, "create-ticket-dialog.png")
    assert_no_serious_violations(page, context="[data-testid=create-dialog]", name="create ticket dialog")

    # Escape closes it, nothing is made, and the focus goes back to Create ticket.
    page.keyboard.press("Escape")
    page.wait_for_function("!document.querySelector('[data-testid=create-dialog]').open")
    assert focused(page) == "create"
    assert not Link.objects.exists() and not zendesk.accounts[ZD_SUBDOMAIN].tickets

    # A required field emptied: the refusal is shown next to it, and nothing is made.
    open_create_form(page)
    field(page, "subject").fill("")
    page.keyboard.press("Enter")  # submits the form from a text field
    error = row(page, "subject").get_by_test_id("field-error")
    error.wait_for()
    assert error.inner_text() == "Subject is required: fill it in."
    assert field(page, "subject").get_attribute("aria-invalid") == "true"
    assert focused(page) == "subject"  # on the field to correct
    assert "Subject" in page.get_by_test_id("create-error").inner_text()
    assert field(page, "subject").get_attribute("aria-describedby").split()[-1] == error.get_attribute("id")
    assert dialog_open(page)
    assert not zendesk.accounts[ZD_SUBDOMAIN].tickets and not Link.objects.exists()
    shot(page, "create-ticket-required-field.png")
    assert_no_serious_violations(page, context="[data-testid=create-dialog]", name="create dialog with an error")

    # Corrected, a drop-down changed, created with the keyboard.
    field(page, "subject").fill("Printer on fire in room 4")
    field(page, "priority").select_option(label="High")
    field(page, "priority").focus()
    page.keyboard.press("Tab")  # to the tags, a text field
    page.keyboard.press("Enter")
    record = escalations.get_by_test_id("record")
    record.wait_for()
    assert not dialog_open(page)

    [ticket] = zendesk.accounts[ZD_SUBDOMAIN].tickets.values()
    assert (ticket["subject"], ticket["priority"], ticket["tags"]) == ("Printer on fire in room 4", "high", ["printer"])
    first_comment = zendesk.accounts[ZD_SUBDOMAIN].comments[ticket["id"]][0]
    assert "<strong>on fire</strong>" in first_comment["html_body"]  # untouched: sent with its formatting
    link = Link.objects.get()
    assert (link.record_id, link.origin, link.created_by) == (str(ticket["id"]), "manual", "user-7")
    assert f"#{ticket['id']} Printer on fire in room 4" in record.inner_text()
    status = page.inner_text("#db-status")
    assert f"Created #{ticket['id']} Printer on fire in room 4 in Zendesk and linked it to SUP-7." in status
    assert escalations.get_by_test_id("create").count() == 0  # the issue has its ticket on this item now
    assert escalations.get_by_test_id("open").get_attribute("href").endswith(f"/agent/tickets/{ticket['id']}")
    assert page.evaluate("document.activeElement.dataset.testid") == "record"
    assert jira.properties[(issue["id"], BADGE.format(app_key=jira.app_key))]["value"] == {"label": "1"}
    # Only what the user changed was sent: the rest came from the mappings on the server.
    posted = [c for c in calls if c.method == "POST"]
    assert [c.status for c in posted] == [400, 201]
    assert posted[-1].response.request.post_data_json["values"] == {
        "subject": "Printer on fire in room 4",
        "priority": "high",
    }
    assert {c.auth for c in calls} == {"session"}
    shot(page, "create-ticket-linked.png")


def test_a_hidden_reporter_email_is_a_warning_in_the_form_and_on_the_record(
    connect_host, jira, zendesk, tenant, connection, project
):
    items(tenant, connection)
    issue = jira.add_issue(
        key="SUP-8",
        project="SUP",
        summary="Quiet printer",
        description="It hums all night.",
        reporter={"accountId": "shy-1", "displayName": "Shy Reporter"},
    )
    page = connect_host.open("/jira/issue-panel", query=panel_query(issue, project), account_id="user-7")
    card(page, "Escalations").wait_for()

    open_create_form(page)
    warning = page.get_by_test_id("create-warning")
    assert warning.count() == 1 and "Shy Reporter" in warning.inner_text()
    page.get_by_test_id("create-submit").click()
    record = card(page, "Escalations").get_by_test_id("record")
    record.wait_for()
    on_record = record.get_by_test_id("link-warning")
    assert "Shy Reporter" in on_record.inner_text()
    assert "See the warning on it." in page.inner_text("#db-status")
    assert Link.objects.count() == 1 and RecordCreate.objects.get().state == RecordCreate.State.DONE
    assert_no_serious_violations(page, name="issue panel (created with a warning)")


def test_a_refusal_before_the_form_is_said_in_the_dialog(connect_host, jira, zendesk, tenant, connection, project):
    """The preview itself refused (the issue was deleted in Jira after the panel loaded): the dialog says so and
    offers only Cancel."""
    items(tenant, connection)
    issue = jira.add_issue(key="SUP-9", project="SUP", summary="Gone soon", description="x")
    page = connect_host.open("/jira/issue-panel", query=panel_query(issue, project), account_id="user-7")
    card(page, "Escalations").wait_for()
    del jira.issues[issue["id"]]

    open_create_form(page)
    error = page.get_by_test_id("create-error")
    assert "does not exist in Jira" in error.inner_text()
    assert not page.get_by_test_id("create-submit").is_visible()
    assert page.get_by_test_id("create-field").count() == 0
    page.get_by_test_id("create-cancel").click()
    assert not dialog_open(page)
    assert not zendesk.accounts[ZD_SUBDOMAIN].tickets


def test_create_a_zoho_ticket_naming_its_department(connect_host, jira, zoho, zoho_connection, tenant, project):
    """Zoho Desk tickets need a department the issue does not give: the form offers the portal's departments
    and the one chosen creates the ticket. Other Zoho modules offer Create record."""
    org = zoho.org.id
    zoho.add_field(org, "tickets", api_name="cf_jira_issue", label="Jira issue")
    tickets = make_item(
        tenant,
        zoho_connection,
        name="Zoho tickets",
        mode="two_way",
        helpdesk_object="tickets",
        jira_issue_type_id="10001",
        display_fields=["status"],
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
            {"helpdesk_field": "description", "jira_field": "description", "direction": "to_helpdesk", "value_map": {}},
        ],
    )
    tickets.record_tag_field = "cf_jira_issue"
    tickets.save()
    make_item(
        tenant,
        zoho_connection,
        name="Zoho contacts",
        mode="two_way",
        helpdesk_object="contacts",
        jira_issue_type_id="10001",
        display_fields=["email"],
    )
    issue = jira.add_issue(
        key="SUP-7",
        project="SUP",
        summary="Printer on fire",
        description=DESCRIPTION,
        reporter={"accountId": "rita-1", "displayName": "Rita Reporter", "emailAddress": "rita@customer.test"},
    )
    page = connect_host.open(
        "/jira/issue-panel",
        query=panel_query(issue, project),
        account_id="user-7",
        viewport={"width": 900, "height": 900},
    )
    card(page, "Zoho tickets").wait_for()
    assert card(page, "Zoho contacts").get_by_test_id("create").inner_text() == "Create record"

    open_create_form(page, "Zoho tickets")
    assert page.inner_text("#db-create-title") == "Create ticket — Zoho tickets"
    assert field(page, "subject").input_value() == "Printer on fire"
    department = field(page, "departmentId")  # a drop-down of the portal's departments (read from Zoho)
    assert department.input_value() == "" and department.get_attribute("required") is not None
    assert "*" in row(page, "departmentId").locator("label").inner_text()
    wanted = zoho.default_department(org)
    assert wanted["name"] in department.inner_text()
    assert_no_serious_violations(page, context="[data-testid=create-dialog]", name="create dialog (Zoho)")

    department.select_option(wanted["id"])
    page.get_by_test_id("create-submit").click()
    record = card(page, "Zoho tickets").get_by_test_id("record")
    record.wait_for()
    [ticket] = zoho.orgs[org].records["tickets"].values()
    assert ticket["departmentId"] == zoho.default_department(org)["id"] and ticket["subject"] == "Printer on fire"
    assert record.get_attribute("data-record") == ticket["id"]
    assert Link.objects.get().record_id == ticket["id"]


def held(page, pattern: str) -> list:
    """Requests to ``pattern`` held by the test until it continues them (``route.continue_()``)."""
    routes: list = []
    page.route(pattern, lambda route: routes.append(route))
    return routes


def wait_held(page, routes: list, count: int) -> None:
    for _ in range(400):
        if len(routes) >= count:
            return
        page.wait_for_timeout(25)  # lets Playwright deliver the request to the route handler
    raise AssertionError(f"{count} request(s) were expected, {len(routes)} came")


def test_the_form_waits_for_the_helpdesk_and_drops_a_late_preview(
    connect_host, jira, zendesk, tenant, connection, project
):
    item = items(tenant, connection)
    issue = jira.add_issue(key="SUP-7", project="SUP", summary="Printer on fire", description="It smokes.")
    page = connect_host.open("/jira/issue-panel", query=panel_query(issue, project), account_id="user-7")
    card(page, "Escalations").wait_for()
    create = card(page, "Escalations").get_by_test_id("create")

    # Opened, closed while its preview is on the way, opened again: the first answer, late, is dropped.
    previews = held(page, "**/records/preview?*")
    create.click()
    wait_held(page, previews, 1)
    assert "Reading SUP-7" in page.get_by_test_id("create-intro").inner_text()
    assert not page.get_by_test_id("create-submit").is_visible()  # nothing to create yet
    page.keyboard.press("Escape")
    create.click()
    wait_held(page, previews, 2)
    previews[1].continue_()
    field(page, "subject").wait_for()
    with page.expect_response("**/records/preview?*"):
        previews[0].continue_()

    # While the helpdesk answers, the form is busy: Create and Cancel wait, Escape does not close it.
    posts = held(page, "**/records")
    page.get_by_test_id("create-submit").click()
    wait_held(page, posts, 1)
    submit, cancel = page.get_by_test_id("create-submit"), page.get_by_test_id("create-cancel")
    assert submit.inner_text() == "Creating…" and submit.is_disabled() and cancel.is_disabled()
    assert page.get_attribute("#db-create-form", "aria-busy") == "true"
    page.keyboard.press("Escape")
    assert dialog_open(page)
    # …meanwhile someone else linked a ticket to the issue through the item: the answer says so in words.
    Link.objects.create(
        tenant=tenant, item=item, jira_issue_id=issue["id"], jira_issue_key="SUP-7", record_id="99", created_by="x"
    )
    posts[0].continue_()
    page.wait_for_function("document.querySelector('#db-create-error').textContent.includes('already linked')")
    assert "SUP-7 is already linked to 99" in page.get_by_test_id("create-error").inner_text()
    assert submit.inner_text() == "Create" and not submit.is_disabled() and not cancel.is_disabled()
    assert page.get_attribute("#db-create-form", "aria-busy") == "false"
    assert page.locator("[data-testid=field-error]:visible").count() == 0  # no field is to blame…
    assert focused(page) == "create-submit"  # …so the focus waits on Create
    # One set of fields, from the second preview.
    for field_id in ("subject", "description"):
        assert field(page, field_id).count() == 1, field_id
    assert not zendesk.accounts[ZD_SUBDOMAIN].tickets

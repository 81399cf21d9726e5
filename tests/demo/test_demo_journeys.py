"""The main journeys of Deskbridge, driven through ``make demo``'s shell in a real browser (Playwright on
Debian's chromium, headless): the launcher runs as a subprocess (one for the module; its tests share the demo's
state and run in file order), and each test is what a Jira admin, a Jira user or a helpdesk agent does there:

1. connect: revoke the demo's Zendesk connection (after confirming), connect again with its credentials;
2. create a display item and a two-way item through the two-step dialog, choosing everything by name;
3. link a ticket by searching in the issue panel, with the keyboard only (type, ArrowDown, Enter);
4. refresh a linked record after the ticket changed in Zendesk;
5. unlink a record, which asks first;
6. see a ticket edited in Zendesk reach the Jira issue and its panel card (Sync now);
7. close a ticket in Zendesk, then edit its Jira issue: the card says the link no longer syncs, and why.

Every step's screen goes to the demo tests' artifacts (``tests/artifacts/demo/``; ``DESKBRIDGE_SCREENSHOT_DIR``
moves them). The README's screenshots come from the same run: ``DESKBRIDGE_DOCS_SCREENSHOTS=docs/screenshots``
also writes those four screens (1100 x 800, the viewport only) there."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from demo.run import API_TOKEN, CONNECTED_AGENT, SUBDOMAIN
from demo.shell import DEMO_EXPORT_LAG_SECONDS
from tests.conftest import CHROMIUM, _browser_or_skip
from tests.demo.test_demo_browser import FLAGS, SHOTS, app_frame, wait_for
from tests.fakes.connect_bridge import is_loopback

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOCS = os.environ.get("DESKBRIDGE_DOCS_SCREENSHOTS", "")
VIEWPORT = {"width": 1100, "height": 800}


class Shell:
    """The demo's URL and a browser context on it that reaches nothing off loopback."""

    def __init__(self, url: str, context) -> None:
        self.url = url
        self.context = context
        self.off_loopback: list[str] = []
        self.errors: list[str] = []
        self.page = None

    def new_page(self):
        if self.page is not None:
            self.page.close()
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        return self.page

    def check(self) -> None:
        assert not self.off_loopback, self.off_loopback
        assert not self.errors, self.errors


@pytest.fixture(scope="module")
def shell(shared_demo):
    sync_playwright = _browser_or_skip()
    url = shared_demo.wait_url()
    SHOTS.mkdir(parents=True, exist_ok=True)
    if DOCS:
        (ROOT / DOCS).mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(15_000)
        running = Shell(url, context)

        def route(r):
            if is_loopback(r.request.url):
                r.continue_()
            else:  # Atlassian's CDN included: the demo must work without the internet
                running.off_loopback.append(r.request.url)
                r.abort("blockedbyclient")

        context.route("**/*", route)
        try:
            yield running
        finally:
            context.close()
            browser.close()


@pytest.fixture
def page(shell):
    page = shell.new_page()
    yield page
    shell.check()


def shot(page, name: str, *, doc: str = "") -> None:
    """The whole page as a test artifact; with ``doc`` and DESKBRIDGE_DOCS_SCREENSHOTS, the viewport for the
    README too."""
    page.screenshot(path=str(SHOTS / f"journey-{name}.png"), full_page=True)
    if doc and DOCS:
        page.screenshot(path=str(ROOT / DOCS / f"{doc}.png"))


def open_admin(shell, page):
    page.goto(f"{shell.url}jira/projects/SUP/issues")
    page.get_by_role("link", name="Apps: Deskbridge").click()
    admin = app_frame(page)
    admin.wait_for_selector("[data-testid=connection-lozenge]")
    return admin


def open_issue(shell, page, key: str):
    page.goto(f"{shell.url}browse/{key}")
    panel = app_frame(page)
    panel.wait_for_selector("[data-testid=card]")
    return panel


def card(panel, item: str):
    return panel.locator("[data-testid=card]", has=panel.locator("h2", has_text=item))


def record(panel, title: str, item: str = "Support tickets"):
    """A linked record on the card of ``item`` (its title; the ticket's preview also names its customer)."""
    return card(panel, item).locator("[data-testid=record]", has=panel.locator("strong", has_text=title))


def edit_ticket(shell, page, ticket: int, **changes: str) -> None:
    """An agent changes a ticket in the shell's helpdesk view (Subject, Status, Priority by their labels)."""
    page.goto(f"{shell.url}demo/helpdesk")
    page.get_by_role("link", name=f"#{ticket}", exact=True).click()
    for label, value in changes.items():
        field = page.get_by_label(label.capitalize(), exact=True)
        if label == "subject":
            field.fill(value)
        else:
            field.select_option(value)
    page.get_by_role("button", name="Submit").click()
    page.wait_for_selector("[data-testid=ticket-subject]")
    assert not page.locator("[role=alert]").count(), page.inner_text("main")


# --- 1. connect ----------------------------------------------------------------------------------------------
def test_revoke_then_connect_zendesk_again(shell, page):
    admin = open_admin(shell, page)
    assert "Connected" in admin.get_by_test_id("connection-lozenge").inner_text()
    shot(page, "01-admin-connected", doc="admin-page")

    # Revoke asks first, saying what it does; Cancel leaves the connection alone.
    # The admin page fills Jira's page (AP.sizeToParent) and scrolls inside, so its dialogs open in view.
    page.wait_for_function("document.querySelector('iframe[data-app-frame]').dataset.contentHeight")
    admin.get_by_test_id("revoke").click()
    dialog = admin.get_by_test_id("confirm-dialog")
    dialog.wait_for(state="visible")
    box = dialog.bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], box
    assert "Revoke Zendesk?" in dialog.inner_text()
    shot(page, "01-admin-revoke-confirm")
    admin.get_by_test_id("confirm-cancel").click()
    dialog.wait_for(state="hidden")
    assert "Connected" in admin.get_by_test_id("connection-lozenge").inner_text()

    admin.get_by_test_id("revoke").click()
    dialog.wait_for(state="visible")
    with admin.expect_navigation():
        admin.get_by_test_id("confirm-ok").click()
    admin.get_by_test_id("revoked-notice").wait_for()
    assert "Connected" not in " ".join(admin.get_by_test_id("connection-lozenge").all_inner_texts())
    shot(page, "01-admin-revoked")

    # Connect again with the demo Zendesk's agent and API token (the self-hosted way: OAuth is not set up).
    token_form = admin.get_by_test_id("token-connect")
    if token_form.get_attribute("open") is None:
        token_form.locator("summary").click()
    admin.fill("#subdomain", SUBDOMAIN)
    admin.fill("#email", CONNECTED_AGENT[0])
    admin.fill("#api_token", API_TOKEN)
    with admin.expect_navigation():
        admin.get_by_role("button", name="Connect with API token").click()
    lozenge = admin.get_by_test_id("connection-lozenge")
    lozenge.wait_for()
    assert lozenge.inner_text().strip() == "Zendesk: Connected"
    assert admin.get_by_test_id("summary-subdomain").inner_text() == SUBDOMAIN
    assert API_TOKEN not in admin.content()  # the token is never shown back
    # The demo's items work again: none is left paused by the revocation.
    states = admin.get_by_test_id("item-state").all_inner_texts()
    assert states and not any("Paused" in s for s in states), states
    shot(page, "01-admin-reconnected")


# --- 2. create a display item and a two-way item ---------------------------------------------------------------
def start_item(admin, name: str, helpdesk_object: str) -> None:
    with admin.expect_navigation():
        admin.get_by_role("button", name="Create item").click()
    admin.fill("#name", name)
    with admin.expect_navigation():  # the dialog reloads with the object's modes
        admin.select_option("#helpdesk_object", label=helpdesk_object)
    with admin.expect_navigation():  # … and with the project's issue types
        admin.select_option("#jira_project", label="SUP — Support")


def next_step(admin) -> None:
    with admin.expect_navigation():
        admin.get_by_role("button", name="Next").click()
    admin.get_by_test_id("display-fields").wait_for()
    admin.wait_for_load_state()  # the dialog's deferred script (filter, warning, reloads) is in place


def choose_display_field(admin, search: str, label: str) -> None:
    admin.fill("#display_search", search)
    admin.locator("#display-field-list li:visible", has_text=label).get_by_label(label, exact=True).check()
    admin.fill("#display_search", "")


def save_item(admin, name: str):
    with admin.expect_navigation():
        admin.get_by_role("button", name="Save").click()
    row = admin.locator(f"[data-testid=items] tbody tr[data-name='{name}']")
    row.wait_for()
    return row


def test_create_a_display_item_and_a_two_way_item(shell, page):
    admin = open_admin(shell, page)

    # A display item: organizations can only be shown, so Display only is the one mode offered.
    start_item(admin, "Organizations", "Organizations")
    assert admin.eval_on_selector_all("#mode option", "os => os.map(o => o.textContent)") == ["Display only"]
    shot(page, "02-item-display-step1")
    next_step(admin)
    assert admin.get_by_test_id("no-display-fields").is_visible()  # nothing chosen yet: a warning
    choose_display_field(admin, "dom", "Domains")
    assert admin.get_by_test_id("no-display-fields").is_hidden()
    shot(page, "02-item-display-step2")
    row = save_item(admin, "Organizations")
    assert "Shows: Domains" in row.get_by_test_id("item-summary").inner_text()
    assert "Display only" in row.inner_text()

    # A two-way item on another issue type, with Back on the way.
    start_item(admin, "Escalations", "Tickets")
    admin.select_option("#mode", label="Two-way sync")
    admin.select_option("#jira_issue_type_id", label="Bug")
    next_step(admin)
    with admin.expect_navigation():
        admin.get_by_test_id("back").click()
    assert admin.input_value("#name") == "Escalations" and admin.input_value("#mode") == "two_way"
    next_step(admin)
    choose_display_field(admin, "stat", "Status")
    # Mapping rows are pickers of field names; a row with both fields chosen reloads with its value pickers.
    with admin.expect_navigation():
        admin.get_by_label("Zendesk field, row 1").select_option(label="Subject")
        admin.get_by_label("Jira field, row 1").select_option(label="Summary *")  # * required
    admin.get_by_label("Direction, row 2").select_option(label="Jira → Zendesk")
    admin.get_by_label("Zendesk field, row 2").select_option(label="Priority")
    with admin.expect_navigation():
        admin.get_by_label("Jira field, row 2").select_option(label="Priority")
    admin.wait_for_load_state()
    values = admin.locator("[data-mapping='1'] [data-testid=value-map]")
    values.wait_for()
    # Each Jira priority, by name, gets a Zendesk priority picked by name: pre-filled where the names match.
    assert values.get_by_label("High", exact=True).input_value() == "high"
    assert values.get_by_label("Medium", exact=True).input_value() == ""
    values.get_by_label("Medium", exact=True).select_option(label="Normal")
    admin.locator("label.db-check", has_text="Status sync").locator("input").check()
    # the mappings in view (the dialog scrolls inside the admin page)
    admin.evaluate("document.querySelector('[data-testid=mappings]').scrollIntoView({block: 'center'})")
    shot(page, "02-item-two-way-step2", doc="item-dialog")
    row = save_item(admin, "Escalations")
    summary = row.get_by_test_id("item-summary").inner_text()
    assert "Subject → Summary" in summary and "Priority" in summary, summary
    assert "Two-way" in row.inner_text() and "Bug" in row.inner_text()
    shot(page, "02-admin-items-created")

    # The display item applies to the whole project: SUP-3's panel has its card, ready to link.
    panel = open_issue(shell, page, "SUP-3")
    names = panel.locator("[data-testid=card] h2").all_inner_texts()
    assert "Organizations" in names and "Escalations" not in names, names  # SUP-3 is a Task, not a Bug


# --- 3. link by search, with the keyboard ---------------------------------------------------------------------
def test_link_a_ticket_by_search_with_the_keyboard(shell, page):
    panel = open_issue(shell, page, "SUP-3")
    tickets = card(panel, "Support tickets")
    assert tickets.locator("[data-testid=record]").count() == 0
    tickets.get_by_test_id("link").click()
    dialog = panel.get_by_test_id("link-dialog")
    dialog.wait_for(state="visible")
    page.keyboard.type("export")  # the search field has the focus
    hits = panel.locator("[data-testid=hit]")
    hits.first.wait_for()
    assert "Can we export reports?" in hits.first.inner_text()
    page.keyboard.press("ArrowDown")
    assert hits.first.get_attribute("aria-selected") == "true"
    shot(page, "03-link-dialog", doc="link-dialog")
    page.keyboard.press("Enter")
    dialog.wait_for(state="hidden")
    linked = record(panel, "Can we export reports?")
    linked.wait_for()
    assert "Linked." in panel.locator("#db-status").inner_text()
    assert linked.get_by_test_id("sync-line").count() == 1  # a synchronized link says what syncs
    shot(page, "03-linked")

    # It stays linked: the panel shows it again after a reload.
    panel = open_issue(shell, page, "SUP-3")
    record(panel, "Can we export reports?").wait_for()


# --- 4. refresh a linked record ---------------------------------------------------------------------------------
def test_refresh_a_linked_record(shell, page):
    panel = open_issue(shell, page, "SUP-2")
    ticket = record(panel, "Refund missing on invoice")
    assert ticket.locator("tr[data-field=priority] td").inner_text().lower() == "normal"

    edit_ticket(shell, page, 2, priority="urgent")  # priority goes Jira → Zendesk only: no sync brings it back

    panel = open_issue(shell, page, "SUP-2")
    ticket = record(panel, "Refund missing on invoice")
    assert ticket.locator("tr[data-field=priority] td").inner_text().lower() == "normal"  # the stored preview
    ticket.get_by_test_id("refresh").click()
    panel.wait_for_function("document.getElementById('db-status').textContent === 'Refreshed.'")
    # the cards are loaded again after "Refreshed.": the record shows what Zendesk has now
    ticket = record(panel, "Refund missing on invoice")
    ticket.locator("tr[data-field=priority] td", has_text=re.compile("^urgent$", re.I)).wait_for()
    assert ticket.get_by_test_id("as-of").inner_text() == "As of just now"
    shot(page, "04-refreshed")


# --- 5. unlink, after confirming ---------------------------------------------------------------------------------
def test_unlink_asks_first(shell, page):
    panel = open_issue(shell, page, "SUP-2")
    customer = record(panel, "Peter Gibbons", "Customers")
    customer.get_by_test_id("unlink").click()
    confirm = panel.get_by_test_id("unlink-dialog")
    confirm.wait_for(state="visible")
    assert "Unlink Peter Gibbons?" in confirm.inner_text()
    shot(page, "05-unlink-confirm")
    panel.get_by_test_id("cancel-unlink").click()  # keeping it changes nothing
    confirm.wait_for(state="hidden")
    assert customer.count() == 1

    customer.get_by_test_id("unlink").click()
    confirm.wait_for(state="visible")
    panel.get_by_test_id("confirm-unlink").click()
    customer.wait_for(state="detached")
    assert "Unlinked." in panel.locator("#db-status").inner_text()
    shot(page, "05-unlinked")
    panel = open_issue(shell, page, "SUP-2")
    record(panel, "Refund missing on invoice").wait_for()
    assert record(panel, "Peter Gibbons", "Customers").count() == 0


# --- 6. a ticket change reaches Jira -----------------------------------------------------------------------------
def test_a_ticket_change_syncs_to_the_issue_and_its_card(shell, page):
    new_subject = "Checkout fails for every EU order"
    edit_ticket(shell, page, 1, subject=new_subject)
    shot(page, "06-ticket-edited")
    # The demo's Zendesk exports a change after DEMO_EXPORT_LAG_SECONDS: Sync now finds it after that.
    time.sleep(DEMO_EXPORT_LAG_SECONDS + 0.5)

    def synced():
        admin = open_admin(shell, page)
        with admin.expect_navigation():
            admin.get_by_test_id("sync-now").click()
        admin.wait_for_selector("[data-testid=connection-lozenge]")
        for _ in range(10):
            page.goto(f"{shell.url}browse/SUP-1")
            if page.inner_text("[data-testid=issue-summary]") == new_subject:
                return True
            time.sleep(0.5)
        return False

    wait_for(synced, 30, "the ticket's new subject to reach SUP-1", step=1)
    panel = app_frame(page)
    record(panel, new_subject).wait_for()  # the card shows the ticket as the sync read it

    def run_finished():  # the item's last sync is the end of the run, a moment after the issue changed
        line = record(open_issue(shell, page, "SUP-1"), new_subject).get_by_test_id("sync-line").inner_text()
        return "last synced just now" in line

    wait_for(run_finished, 10, "the card to say when the item last synced")
    shot(page, "06-issue-synced", doc="issue-panel")


# --- 7. a closed ticket: the card says the link no longer syncs ---------------------------------------------------
def test_a_closed_ticket_shows_as_a_problem_on_the_card(shell, page):
    edit_ticket(shell, page, 2, status="closed")
    # A Jira user then edits the linked issue: the push meets the closed ticket, which refuses any change.
    page.goto(f"{shell.url}browse/SUP-2")
    page.get_by_label("Priority", exact=True).select_option(label="Highest")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/browse/SUP-2$"))
    assert "priority Highest" in page.inner_text("main")

    def problem():
        panel = open_issue(shell, page, "SUP-2")
        found = record(panel, "Refund missing on invoice").locator("[data-testid=link-problem]")
        return found.count() and found

    found = wait_for(problem, 30, "the closed-ticket problem on SUP-2's card", step=1)
    assert found.get_attribute("data-problem") == "sync_stopped"
    assert "Closed in Zendesk" in found.inner_text() and "no longer syncs" in found.inner_text()
    shot(page, "07-closed-ticket-problem")

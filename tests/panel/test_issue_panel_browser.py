"""A real browser (Debian's chromium, headless, driven by Playwright) opens the issue panel as Jira
would — with a valid JWT, inside a fake Jira page that serves Connect's all.js — against the app served
on loopback with fake Jira and Zendesk, links a ticket through the dialog, refreshes, unlinks, and checks
what a user sees; and it keeps working on context tokens from AP.context.getToken() once the page
session the panel was rendered with has expired."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from django.core import signing

from connector.services import ItemSpec, connected_item_save, connection_revoke
from sync.models import Link
from tenants.auth import PAGE_SESSION_MAX_AGE, JiraPrincipal, page_session_issue
from tests.a11y import assert_no_serious_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BADGE = "com.atlassian.jira.issue:{app_key}:deskbridge-issue-context:status"
SHOTS = os.environ.get("DESKBRIDGE_SCREENSHOT_DIR") or str(
    Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
)


def shot(page, name: str) -> None:
    """A screenshot of the page as a test artifact (``tests/artifacts/screenshots/`` unless
    ``DESKBRIDGE_SCREENSHOT_DIR`` says otherwise)."""
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def panel_query(issue: dict[str, Any], project: dict[str, Any]) -> str:
    """The context Jira adds to the issue panel's iframe URL."""
    return (
        f"issueKey={issue['key']}&issueId={issue['id']}&projectKey=SUP&projectId={project['id']}&issueTypeId=10001"
        "&lic=active&xdm_e=https%3A%2F%2Fsite.atlassian.net&cp=&tz=UTC&loc=en-US"
    )


@dataclass
class ApiCall:
    """A JSON call the panel's script made, as the app answered it."""

    method: str
    authorization: str  # the Authorization header ("" when none)
    session: str  # the X-Deskbridge-Session header ("" when none)
    status: int
    response: Any  # playwright Response, to read the body later

    @property
    def auth(self) -> str:
        if self.authorization.startswith("JWT ") and not self.session:
            return "jwt"
        if self.session and not self.authorization:
            return "session"
        return f"unexpected: {self.authorization!r} / {self.session!r}"


def record_api_calls(page) -> list[ApiCall]:
    """Every fetch() of the page with its answer, in order (whatever URLs the panel's script uses)."""
    calls: list[ApiCall] = []

    def seen(response) -> None:
        request = response.request
        if request.resource_type == "fetch":
            headers = request.headers
            calls.append(
                ApiCall(
                    request.method,
                    headers.get("authorization", ""),
                    headers.get("x-deskbridge-session", ""),
                    response.status,
                    response,
                )
            )

    page.on("response", seen)
    return calls


def shown_or_hint(page, test_id: str) -> str:
    """Wait until an element with ``data-testid=test_id`` shows or the link dialog's hint reports an error
    (where the panel reports a failed call); return that error ("" when none)."""
    page.wait_for_function(
        "id => document.querySelector(`[data-testid=${id}]`)"
        " || document.querySelector('[data-testid=search-hint].db-error')",
        arg=test_id,
    )
    error = page.locator("[data-testid=search-hint].db-error")
    return error.inner_text() if error.count() else ""


def expired_page_session(tenant, account_id: str, issue_id: str) -> str:
    """The page session the server gave the panel, as issued just over PAGE_SESSION_MAX_AGE ago."""
    issued_at = time.time() - PAGE_SESSION_MAX_AGE - 60
    with mock.patch.object(signing, "time", SimpleNamespace(time=lambda: issued_at)):
        return page_session_issue(JiraPrincipal(tenant, account_id), issue_id=issue_id)


def unlink(page) -> None:
    """Press Unlink and confirm it."""
    page.get_by_test_id("unlink").click()
    page.get_by_test_id("confirm-unlink").click()


def test_link_refresh_unlink_in_the_panel(connect_host, jira, zendesk, tenant, connection, project):
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
    page = connect_host.open("/jira/issue-panel", query=panel_query(issue, project), account_id="user-7")
    calls = record_api_calls(page)
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
    assert page.get_by_test_id("status").inner_text().lower() == "open"  # the lozenge says it in words
    assert "As of just now" in text
    shot(page, "panel-linked.png")
    opener = page.get_by_test_id("open")
    assert opener.inner_text() == "Open in Zendesk"
    assert opener.get_attribute("href").endswith(f"/agent/tickets/{ticket['id']}")
    assert jira.properties[(issue["id"], BADGE.format(app_key=jira.app_key))] == {
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

    # Unlink removes it, once confirmed.
    unlink(page)
    page.wait_for_function("document.querySelectorAll('[data-testid=record]').length === 0")
    assert "Unlinked." in page.inner_text("#db-status")
    assert jira.properties[(issue["id"], BADGE.format(app_key=jira.app_key))]["value"] == {"label": "0"}
    shot(page, "panel-unlinked.png")

    # While the page session is valid the panel needs nothing from Connect: no context token, and no call
    # to Jira's permission API (the session is bound to the issue Jira signed the panel for).
    assert calls and {c.auth for c in calls} == {"session"}
    assert connect_host.tokens == []
    assert jira.calls("POST", r"/rest/api/3/permissions/check$") == []


def test_panel_switches_to_context_tokens_when_its_session_expires(
    connect_host, jira, zendesk, tenant, connection, project
):
    viewer = "user-8"
    ticket = zendesk.add_ticket("acme", subject="Reactor console frozen", priority="urgent")
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
    issue = jira.add_issue(key="SUP-8", project="SUP")
    page = connect_host.open("/jira/issue-panel", query=panel_query(issue, project), account_id=viewer)
    calls = record_api_calls(page)
    page.get_by_test_id("card").wait_for()

    # The panel stays open past its page session's lifetime.
    expired = expired_page_session(tenant, viewer, issue["id"])
    page.eval_on_selector("#db-panel", "(panel, session) => { panel.dataset.session = session; }", expired)

    # Search-as-you-type and Link still work.
    page.get_by_test_id("link").click()
    page.get_by_test_id("search-input").fill("react")
    assert shown_or_hint(page, "hit") == ""  # no "open for too long", no authentication error
    page.get_by_test_id("hit").click()
    assert shown_or_hint(page, "record") == ""
    assert f"#{ticket['id']} Reactor console frozen" in page.get_by_test_id("record").inner_text()
    assert jira.properties[(issue["id"], BADGE.format(app_key=jira.app_key))]["value"] == {"label": "1"}

    # Refresh still pulls the record live.
    zendesk.accounts["acme"].tickets[ticket["id"]]["priority"] = "low"
    page.get_by_test_id("refresh").click()
    page.wait_for_function("document.querySelector('[data-field=priority] td').textContent === 'Low'")

    # Unlink still works.
    unlink(page)
    page.wait_for_function("document.querySelectorAll('[data-testid=record]').length === 0")
    assert "Unlinked." in page.inner_text("#db-status")

    # What the app received: the expired session once (refused as session_expired), then only context
    # JWTs that Jira minted for this user through AP.context.getToken(), every one accepted.
    assert [c.auth for c in calls] == ["session"] + ["jwt"] * (len(calls) - 1), calls
    refused, *with_token = calls
    assert refused.status == 401 and refused.response.json()["code"] == "session_expired"
    assert {c.method for c in with_token} >= {"GET", "POST", "DELETE"}
    assert all(200 <= c.status < 300 for c in with_token), [(c.method, c.status) for c in with_token]
    assert {c.authorization.removeprefix("JWT ") for c in with_token} <= set(connect_host.tokens)
    # …and, holding a context token instead of a session bound to the issue, the app asked Jira whether
    # this user may browse the issue.
    checks = [r.json() for r in jira.calls("POST", r"/rest/api/3/permissions/check$")]
    assert checks and all(c["accountId"] == viewer for c in checks)
    assert all(
        ask["permissions"] == ["BROWSE_PROJECTS"] and ask["issues"] == [int(issue["id"])]
        for c in checks
        for ask in c["projectPermissions"]
    )


# --- the link dialog, the cards' states, narrow screens -------------------------------------------------


def tickets_item(tenant, connection, **overrides):
    values = {
        "name": "Support tickets",
        "mode": "display",
        "jira_project": "SUP",
        "helpdesk_object": "ticket",
        "display_fields": ["status", "priority"],
    }
    values.update(overrides)
    item, _ = connected_item_save(tenant=tenant, connection=connection, spec=ItemSpec(**values))
    return item


def open_panel(connect_host, jira, project, key="SUP-7", **context_options):
    issue = jira.add_issue(key=key, project="SUP")
    page = connect_host.open(
        "/jira/issue-panel", query=panel_query(issue, project), account_id="user-7", **context_options
    )
    page.get_by_test_id("card").first.wait_for()
    return issue, page


def dialog_open(page) -> bool:
    return page.eval_on_selector("[data-testid=link-dialog]", "d => d.open")


def wait_hint(page, text: str) -> str:
    page.wait_for_function("t => document.querySelector('[data-testid=search-hint]').textContent.includes(t)", arg=text)
    return page.get_by_test_id("search-hint").inner_text()


def test_arrow_keys_walk_the_results_and_enter_links_the_highlighted_one(
    connect_host, jira, zendesk, tenant, connection, project
):
    tickets = [zendesk.add_ticket("acme", subject=f"Printer jam on floor {n}") for n in (1, 2, 3)]
    tickets_item(tenant, connection)
    _issue, page = open_panel(connect_host, jira, project)
    calls = record_api_calls(page)

    page.get_by_test_id("link").click()
    search = page.get_by_test_id("search-input")
    search.fill("printer")
    page.wait_for_function("document.querySelectorAll('[data-testid=hit]').length === 3")
    hits = page.get_by_test_id("hit")
    ids = [hits.nth(n).get_attribute("data-id") for n in range(3)]
    assert sorted(ids) == sorted(str(t["id"]) for t in tickets)

    def highlighted() -> str | None:
        chosen = page.locator("[data-testid=hit][aria-selected=true]")
        assert chosen.count() <= 1
        if not chosen.count():
            assert search.get_attribute("aria-activedescendant") is None
            return None
        assert search.get_attribute("aria-activedescendant") == chosen.get_attribute("id")
        return chosen.get_attribute("data-id")

    assert highlighted() is None
    assert search.get_attribute("aria-expanded") == "true"
    assert page.get_by_role("listbox").count() == 1 and page.get_by_role("option").count() == 3
    for key, expected in [
        ("ArrowDown", 0),
        ("ArrowDown", 1),
        ("ArrowUp", 0),
        ("ArrowUp", 2),  # wraps to the last
        ("ArrowDown", 0),  # and back to the first
        ("ArrowDown", 1),
    ]:
        search.press(key)
        assert highlighted() == ids[expected], key
    shot(page, "link-dialog.png")

    search.press("Enter")
    page.get_by_test_id("record").wait_for()
    assert page.get_by_test_id("record").get_attribute("data-record") == ids[1]
    assert not dialog_open(page)
    assert [link.record_id for link in Link.objects.all()] == [ids[1]]
    assert [c.method for c in calls].count("POST") == 1


def test_enter_with_nothing_chosen_says_so_and_escape_closes(connect_host, jira, zendesk, tenant, connection, project):
    zendesk.add_ticket("acme", subject="Printer jam")
    tickets_item(tenant, connection)
    _issue, page = open_panel(connect_host, jira, project)
    calls = record_api_calls(page)
    page.get_by_test_id("link").click()
    search = page.get_by_test_id("search-input")

    search.press("Enter")  # nothing typed
    assert "Nothing to link yet" in wait_hint(page, "Nothing to link yet")
    assert dialog_open(page)

    search.fill("zzzz")  # no results
    assert "No tickets match" in wait_hint(page, "No tickets match")
    search.press("Enter")
    hint = wait_hint(page, "Nothing is chosen")
    assert "Link by id" in hint
    assert dialog_open(page)

    search.fill("printer")  # results, none highlighted
    page.get_by_test_id("hit").wait_for()
    search.press("Enter")
    wait_hint(page, "choose a result first")
    assert dialog_open(page)
    assert not Link.objects.exists()
    assert "POST" not in [c.method for c in calls]
    shot(page, "link-dialog-nothing-chosen.png")
    assert_no_serious_violations(page, name="link dialog (nothing chosen)")

    search.press("Escape")
    page.wait_for_function("!document.querySelector('[data-testid=link-dialog]').open")
    assert page.evaluate("document.activeElement.dataset.testid") == "link"  # focus back where it was
    assert not Link.objects.exists()


def test_link_by_id_and_a_wrong_id_keeps_the_dialog_open(connect_host, jira, zendesk, tenant, connection, project):
    ticket = zendesk.add_ticket("acme", subject="Password reset")
    tickets_item(tenant, connection)
    _issue, page = open_panel(connect_host, jira, project)
    page.get_by_test_id("link").click()
    search = page.get_by_test_id("search-input")

    page.get_by_test_id("link-by-id").click()  # nothing typed
    assert "Type the record's id first" in wait_hint(page, "id first")

    search.fill("4242")
    page.get_by_test_id("link-by-id").click()
    assert "4242 does not exist" in shown_or_hint(page, "record")
    assert dialog_open(page) and not Link.objects.exists()

    search.fill(f"#{ticket['id']}")  # as ticket numbers are shown
    page.get_by_test_id("link-by-id").click()
    assert shown_or_hint(page, "record") == ""
    assert page.get_by_test_id("record").get_attribute("data-record") == str(ticket["id"])
    assert not dialog_open(page)


def test_unlink_asks_first(connect_host, jira, zendesk, tenant, connection, project):
    ticket = zendesk.add_ticket("acme", subject="Password reset")
    item = tickets_item(tenant, connection)
    issue = jira.add_issue(key="SUP-7", project="SUP")
    page = connect_host.open("/jira/issue-panel", query=panel_query(issue, project), account_id="user-7")
    page.get_by_test_id("link").click()
    page.get_by_test_id("search-input").fill(str(ticket["id"]))
    page.get_by_test_id("link-by-id").click()
    page.get_by_test_id("record").wait_for()
    calls = record_api_calls(page)

    page.get_by_test_id("unlink").click()
    confirm = page.get_by_test_id("unlink-dialog")
    confirm.wait_for()
    text = confirm.inner_text()
    assert f"Unlink #{ticket['id']} Password reset?" in text
    assert "Nothing is changed or deleted in Zendesk" in text
    assert page.evaluate("document.activeElement.dataset.testid") == "cancel-unlink"  # the safe choice first
    shot(page, "unlink-confirmation.png")
    assert_no_serious_violations(page, name="unlink confirmation")
    page.get_by_test_id("cancel-unlink").click()
    assert not confirm.is_visible()
    assert page.get_by_test_id("record").count() == 1 and Link.objects.filter(item=item).count() == 1
    assert calls == []

    unlink(page)
    page.wait_for_function("document.querySelectorAll('[data-testid=record]').length === 0")
    assert not Link.objects.exists()
    assert [c.method for c in calls] == ["DELETE", "GET"]


def test_a_disconnected_helpdesk_leaves_the_links_visible_read_only(
    connect_host, jira, zendesk, tenant, connection, project
):
    ticket = zendesk.add_ticket("acme", subject="Reactor console frozen", priority="urgent")
    item = tickets_item(tenant, connection, display_fields=["status", "priority", "assignee"])
    issue = jira.add_issue(key="SUP-7", project="SUP")
    from sync.services import link_create

    link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-7", record_id=str(ticket["id"]))
    connection_revoke(tenant=tenant, connection=connection)

    page = connect_host.open("/jira/issue-panel", query=panel_query(issue, project), account_id="user-7")
    notice = page.get_by_test_id("disconnected")
    notice.wait_for()
    assert "Zendesk is not connected, so these links are read-only" in notice.inner_text()
    assert "A Jira admin can reconnect on the Deskbridge admin page" in notice.inner_text()
    record = page.get_by_test_id("record")
    assert f"#{ticket['id']} Reactor console frozen" in record.inner_text()
    assert page.inner_text("[data-field=priority] td") == "Urgent"
    assert page.locator("[data-field=assignee]").count() == 0  # empty values are left out
    assert page.get_by_test_id("read-only").inner_text().lower() == "read-only"
    assert page.get_by_test_id("open").inner_text() == "Open in Zendesk"
    for control in ("link", "refresh", "unlink"):
        assert page.get_by_test_id(control).count() == 0, control
    shot(page, "panel-disconnected.png")
    assert_no_serious_violations(page, name="issue panel (helpdesk disconnected)")


def test_a_refused_link_note_shows_a_warning_on_the_record(connect_host, jira, zendesk, tenant, connection, project):
    closed = zendesk.add_ticket("acme", subject="Old outage", status="closed")  # Zendesk refuses its updates
    tickets_item(tenant, connection, link_note=True)
    _issue, page = open_panel(connect_host, jira, project)
    page.get_by_test_id("link").click()
    page.get_by_test_id("search-input").fill(str(closed["id"]))
    page.get_by_test_id("link-by-id").click()
    warning = page.get_by_test_id("link-warning")
    warning.wait_for()
    assert f"Linked, but Zendesk refused the link note on ticket {closed['id']}" in warning.inner_text()
    assert "Linked, with a warning" in page.inner_text("#db-status")
    assert Link.objects.count() == 1
    shot(page, "panel-link-note-warning.png")
    assert_no_serious_violations(page, name="issue panel (link note warning)")


def test_a_synchronized_link_says_what_syncs_and_its_problem(connect_host, jira, zendesk, tenant, connection, project):
    from django.utils import timezone

    ticket = zendesk.add_ticket("acme", subject="Old outage", status="closed")
    item = tickets_item(
        tenant,
        connection,
        name="Escalations",
        mode="two_way",
        jira_issue_type_id="10001",
        status_sync=True,
        comment_sync=True,
    )
    issue = jira.add_issue(key="SUP-7", project="SUP")
    Link.objects.create(
        tenant=tenant,
        item=item,
        jira_issue_id=issue["id"],
        jira_issue_key="SUP-7",
        record_id=str(ticket["id"]),
        preview={
            "title": f"#{ticket['id']} Old outage",
            "subtitle": "closed",
            "url": "https://acme.test/t",
            "fields": [],
        },
        preview_updated_at=timezone.now(),
        sync_stopped_at=timezone.now(),
    )
    page = connect_host.open("/jira/issue-panel", query=panel_query(issue, project), account_id="user-7")
    record = page.get_by_test_id("record")
    record.wait_for()
    assert "Two-way sync of status, comments · not synced yet" in page.get_by_test_id("sync-line").inner_text()
    problem = page.get_by_test_id("link-problem")
    assert "Closed in Zendesk: its last state was synced and this link no longer syncs" in problem.inner_text()
    assert page.get_by_test_id("status").inner_text().lower() == "closed"
    shot(page, "panel-sync-problem.png")
    assert_no_serious_violations(page, name="issue panel (a synchronized link with a problem)")


def test_the_dialog_fits_a_320_px_screen(connect_host, jira, zendesk, tenant, connection, project):
    for n in range(4):
        zendesk.add_ticket("acme", subject=f"Printer on floor {n} prints every page twice and then jams completely")
    tickets_item(tenant, connection)
    _issue, page = open_panel(connect_host, jira, project, viewport={"width": 320, "height": 640})
    page.get_by_test_id("link").click()
    page.get_by_test_id("search-input").fill("printer")
    page.wait_for_function("document.querySelectorAll('[data-testid=hit]').length === 4")
    page.get_by_test_id("search-input").press("ArrowDown")

    sizes = page.evaluate(
        """() => {
            const d = document.querySelector('[data-testid=link-dialog]');
            const r = d.getBoundingClientRect();
            return {dialog: [d.scrollWidth, d.clientWidth], page: [document.documentElement.scrollWidth,
                    document.documentElement.clientWidth], left: r.left, right: r.right, vw: window.innerWidth};
        }"""
    )
    assert sizes["dialog"][0] <= sizes["dialog"][1], sizes
    assert sizes["page"][0] <= sizes["page"][1], sizes
    assert sizes["left"] >= 0 and sizes["right"] <= sizes["vw"], sizes
    for control in ("search-input", "link-by-id", "cancel"):
        box = page.get_by_test_id(control).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320, (control, box)
    shot(page, "link-dialog-320.png")

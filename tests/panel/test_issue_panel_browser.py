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

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BADGE = "com.atlassian.jira.issue:{app_key}:deskbridge-issue-context:status"
SHOTS = os.environ.get("DESKBRIDGE_SCREENSHOT_DIR") or str(Path(__file__).resolve().parents[1] / "artifacts" / "screenshots")


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

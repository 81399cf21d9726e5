"""``make demo`` in a real browser (Playwright on Debian's chromium, headless): the shell's issue list, an issue
with the real issue panel framed and its cards rendered, the stand-in all.js handing the panel's script a
context token the app accepts, Jira administration with the real admin page, a ticket edited in the helpdesk
view reaching the Jira issue after Sync now, and a Jira comment reaching the ticket through Jira's webhook.

Screenshots of each screen go to ``tests/artifacts/demo/`` (gitignored; ``DESKBRIDGE_SCREENSHOT_DIR`` moves
them), so a person can look at what the test saw."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from demo.shell import DEMO_EXPORT_LAG_SECONDS
from tests.conftest import CHROMIUM, _browser_or_skip
from tests.fakes.connect_bridge import is_loopback

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("DESKBRIDGE_SCREENSHOT_DIR") or ROOT / "tests" / "artifacts") / "demo"
# Like tests/conftest.FLAGS, without mapping host names away: only the routing below guards loopback.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def wait_for(check, timeout: float, what: str, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def app_frame(page):
    handle = page.wait_for_selector("iframe[data-app-frame]")
    return handle.content_frame()


def test_demo_in_a_browser(demo, monkeypatch):
    sync_playwright = _browser_or_skip()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    url = demo.wait_url()
    SHOTS.mkdir(parents=True, exist_ok=True)
    off_loopback: list[str] = []

    def route(r):
        if is_loopback(r.request.url):
            r.continue_()
        else:  # Atlassian's CDN included: the demo must work without the internet
            off_loopback.append(r.request.url)
            r.abort("blockedbyclient")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        context.route("**/*", route)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        # The project's issues.
        page.goto(url)
        page.wait_for_selector("[data-testid=issue-row]")
        assert page.locator("[data-testid=issue-row]").count() == 3
        page.screenshot(path=str(SHOTS / "01-jira-issues.png"), full_page=True)

        # An issue: the real panel in its iframe, with its cards (the panel's script ran, through the bridge).
        page.get_by_role("link", name="SUP-1").click()
        page.wait_for_url(re.compile(r"/browse/SUP-1$"))
        frame = app_frame(page)
        frame.wait_for_selector("[data-testid=card]")
        cards = frame.locator("[data-testid=card]")
        assert cards.count() == 2
        assert "Support tickets" in cards.all_inner_texts()[0] + cards.all_inner_texts()[1]
        frame.wait_for_selector("[data-testid=record]")
        assert "Checkout spins forever" in frame.locator("[data-testid=record]").all_inner_texts()[0] + "".join(
            frame.locator("[data-testid=record]").all_inner_texts()
        )
        # AP.context.getToken() is answered by the Jira page; the app accepts the token it minted.
        status = frame.evaluate(
            """() => new Promise((resolve) => AP.context.getToken((token) =>
                 fetch("/api/panel/cards?issue_id=" + document.getElementById("db-panel").dataset.issueId,
                       {headers: {"Authorization": "JWT " + token}}).then((r) => resolve(r.status))))"""
        )
        assert status == 200
        # AP.resize: the iframe follows its content instead of staying at its initial height.
        wait_for(lambda: page.eval_on_selector("iframe[data-app-frame]", "f => f.offsetHeight") > 200, 5, "resize")
        page.screenshot(path=str(SHOTS / "02-jira-issue-panel.png"), full_page=True)

        # Jira administration: the real admin page with the demo's items.
        page.get_by_role("link", name="Apps: Deskbridge").click()
        admin = app_frame(page)
        admin.wait_for_selector("text=Support tickets")
        assert admin.get_by_text("Customers").count() >= 1
        page.screenshot(path=str(SHOTS / "03-jira-admin.png"), full_page=True)

        # The helpdesk view: an agent renames ticket #1 in Zendesk.
        page.get_by_role("link", name="Zendesk (simulated)").click()
        page.wait_for_selector("[data-testid=ticket-row]")
        page.screenshot(path=str(SHOTS / "04-zendesk-tickets.png"), full_page=True)
        page.get_by_role("link", name="#1", exact=True).click()
        page.get_by_label("Subject").fill("Checkout fails for every EU order")
        page.get_by_role("button", name="Submit").click()
        page.wait_for_selector("[data-testid=ticket-subject]:has-text('Checkout fails for every EU order')")
        page.screenshot(path=str(SHOTS / "05-zendesk-ticket-edited.png"), full_page=True)

        # Sync now on the admin page; the real worker pulls the change into SUP-1's summary (the demo's Zendesk
        # exports a change after DEMO_EXPORT_LAG_SECONDS, so a Sync now pressed sooner may find nothing yet).
        def synced():
            page.get_by_role("link", name="Apps: Deskbridge").click()
            app_frame(page).get_by_role("button", name="Sync now", exact=True).click()
            app_frame(page).wait_for_selector("text=Support tickets")
            page.screenshot(path=str(SHOTS / "06-jira-admin-sync-now.png"), full_page=True)
            for _ in range(8):
                page.goto(f"{url}browse/SUP-1")
                if page.inner_text("[data-testid=issue-summary]") == "Checkout fails for every EU order":
                    return True
                time.sleep(0.5)
            return False

        wait_for(synced, 40, "the ticket's new subject to reach SUP-1", step=DEMO_EXPORT_LAG_SECONDS)
        frame = app_frame(page)
        frame.wait_for_selector("[data-testid=record]")
        page.screenshot(path=str(SHOTS / "07-jira-issue-synced.png"), full_page=True)

        # A comment in Jira goes out as Jira's signed webhook; the worker adds it to the ticket.
        page.get_by_label("Add a comment").fill("We rolled back the payment gateway; please retry.")
        page.get_by_role("button", name="Save").click()
        page.wait_for_selector("[data-testid=jira-comment]")

        def commented():
            page.goto(f"{url}demo/helpdesk/tickets/1")
            return "We rolled back the payment gateway" in page.inner_text("main")

        wait_for(commented, 20, "the Jira comment to reach ticket #1")
        page.screenshot(path=str(SHOTS / "08-zendesk-comment-from-jira.png"), full_page=True)

        context.close()
        browser.close()
    assert not off_loopback, off_loopback
    assert not errors, errors

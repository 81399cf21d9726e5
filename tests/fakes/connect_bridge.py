"""Jira's side of a Connect iframe, for browser tests (Playwright on Debian's chromium).

Our pages load Connect's ``all.js`` from Atlassian's CDN, which tests cannot (and must not) reach. A
``FakeConnectHost`` opens a page the way Jira embeds it and plays the page around the iframe:

- it loads the iframe URL signed like Jira signs it (``?jwt=`` with the qsh of that GET, ``sub`` = the
  viewing user);
- every request of the browser context is routed: loopback goes through, the CDN's ``all.js`` is
  answered with ``connect_all.js`` (a fake bridge), anything else is aborted and recorded, and
  ``check()`` fails the test on it;
- the fake bridge calls back into this process (a Playwright binding) for what the real ``all.js`` asks
  the Jira page over postMessage: ``AP.context.getToken()`` gets a fresh context JWT minted as Jira mints
  it (HS256 with the site's shared secret, ``iss`` = clientKey, ``sub`` = the viewing user's accountId,
  ``qsh`` = ``"context-qsh"``, a 15-minute ``exp``), and only for frames served by the app.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from demo.fakes.jira import FakeJira

CONNECT_ALL_JS_URL = "https://connect-cdn.atl-paas.net/all.js"
BRIDGE_JS = (Path(__file__).resolve().parent / "connect_all.js").read_text()
BINDING = "__deskbridgeConnectHost"
CONTEXT_TOKEN_SECONDS = 900  # Jira's context tokens live 15 minutes
LOCAL_SCHEMES = ("data", "blob", "about")


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    host = (parts.hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class HostCall:
    """One call the fake all.js made to the Jira page (``AP.resize``, ``AP.context.getToken``, …)."""

    method: str
    args: list[Any]
    frame_url: str
    account_id: str


@dataclass
class FakeConnectHost:
    browser: Any  # playwright.sync_api.Browser
    jira: FakeJira
    app_url: str
    timeout_ms: int = 15_000
    tokens: list[str] = field(default_factory=list)  # context tokens handed out, in order
    calls: list[HostCall] = field(default_factory=list)
    off_loopback: list[str] = field(default_factory=list)  # requests aborted for leaving loopback
    bridge_loads: int = 0  # times the CDN's all.js was answered with the fake bridge
    _contexts: list[Any] = field(default_factory=list)

    def open(self, path: str, *, query: str = "", account_id: str, **context_options: Any):
        """A page showing ``path?query`` as Jira's iframe for ``account_id``; returns the Playwright page
        once it has loaded (the async ``all.js`` is part of the load)."""
        context = self.browser.new_context(**context_options)
        context.set_default_timeout(self.timeout_ms)
        self._contexts.append(context)
        self.attach(context, account_id=account_id)
        relative = f"{path}?{query}" if query else path
        token = self.jira.sign("GET", relative, account_id=account_id)
        page = context.new_page()
        page.goto(f"{self.app_url}{relative}{'&' if query else '?'}jwt={token}")
        return page

    def attach(self, context: Any, *, account_id: str) -> None:
        """Route every request of ``context`` and answer its fake all.js as ``account_id``'s Jira page."""
        context.route("**/*", self._route)

        def host(source: dict[str, Any], method: str, args: list[Any]) -> Any:
            return self._answer(source["frame"].url, account_id, method, args)

        context.expose_binding(BINDING, host)

    def check(self) -> None:
        if self.off_loopback:
            raise AssertionError(f"the browser tried to leave loopback: {self.off_loopback}")

    def close(self) -> None:
        for context in self._contexts:
            context.close()
        self._contexts.clear()

    # --- the routed network ---------------------------------------------------------------------------
    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.split("?", 1)[0] == CONNECT_ALL_JS_URL:
            self.bridge_loads += 1
            route.fulfill(status=200, content_type="application/javascript; charset=utf-8", body=BRIDGE_JS)
        elif is_loopback(url):
            route.continue_()
        else:
            self.off_loopback.append(url)
            route.abort("blockedbyclient")

    # --- what the Jira page answers the bridge ---------------------------------------------------------
    def _answer(self, frame_url: str, account_id: str, method: str, args: list[Any]) -> Any:
        if not frame_url.startswith(self.app_url + "/"):
            raise PermissionError(f"Jira only answers the app's own iframe, not {frame_url}")
        self.calls.append(HostCall(method, list(args), frame_url, account_id))
        if method == "context.getToken":
            token = self.jira.context_token(account_id=account_id, exp_in=CONTEXT_TOKEN_SECONDS)
            self.tokens.append(token)
            return token
        if method in ("resize", "sizeToParent"):
            return None
        raise NotImplementedError(f"the fake Connect bridge does not implement {method}")

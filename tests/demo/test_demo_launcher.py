"""``make demo`` end to end: the launcher starts the app, its worker and the simulated services, prints one URL
within a minute; the shell's pages frame the real app signed exactly as Jira signs (the app answers 200); the
stand-in all.js mints context tokens the app accepts; Ctrl-C stops every process it started."""

from __future__ import annotations

import re
import time
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
import requests
from atlassian_jwt.url_utils import hash_url

from tests.demo.conftest import START_SECONDS, alive

pytestmark = pytest.mark.e2e

IFRAME_SRC = re.compile(r'<iframe[^>]*\bdata-app-frame\b[^>]*\bsrc="([^"]+)"', re.DOTALL)


def frame_src(page: str) -> str:
    match = IFRAME_SRC.search(page)
    assert match, page[:2000]
    return unescape(match.group(1))


def jwt_of(url: str) -> tuple[dict, str]:
    """The claims of an iframe URL's ``jwt`` (unverified) and the URL relative to the app without it."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    token = dict(query)["jwt"]
    rest = urlencode([(k, v) for k, v in query if k != "jwt"])
    return jwt.decode(token, options={"verify_signature": False}), f"{parts.path}?{rest}"


def test_make_demo_serves_the_product_and_ctrl_c_stops_everything(demo):
    url = demo.wait_url()
    assert demo.started_in < START_SECONDS
    assert sum("http://" in line for line in demo.lines) == 1, demo.output()  # ONE URL

    issues = requests.get(url, timeout=10)  # the shell's home: the project's issues
    assert issues.status_code == 200 and "/jira/projects/SUP/issues" in issues.url
    assert all(f'href="/browse/SUP-{n}"' in issues.text for n in (1, 2, 3))

    # The issue view frames the real issue panel, signed as Jira signs an iframe.
    page = requests.get(f"{url}browse/SUP-1", timeout=10).text
    panel_url = frame_src(page)
    claims, relative = jwt_of(panel_url)
    assert relative.startswith("/jira/issue-panel?issueKey=SUP-1&issueId=")
    query = dict(parse_qsl(urlsplit(panel_url).query, keep_blank_values=True))
    assert query["xdm_e"] == url.rstrip("/") and query["lic"] == "active"
    assert {"cp", "tz", "loc", "xdm_c", "cv"} <= set(query)
    assert claims["qsh"] == hash_url("GET", relative)
    assert claims["sub"] == "5b10ac8d82e05b22cc7d4ef5" and claims["iss"].startswith("jira:")
    panel = requests.get(panel_url, timeout=10)
    assert panel.status_code == 200, panel.text[:500]
    assert 'data-testid="panel"' in panel.text
    bridge_url = f"{url}demo/all.js"
    assert f'<script src="{bridge_url}"' in panel.text  # not Atlassian's CDN: the shell's stand-in
    assert "frame-ancestors 'self' " + url.rstrip("/") in panel.headers["Content-Security-Policy"]
    bridge = requests.get(bridge_url, timeout=10)
    assert bridge.status_code == 200 and "javascript" in bridge.headers["Content-Type"]
    assert "window.AP" in bridge.text and url.rstrip("/") in bridge.text  # answers only the Jira page's origin

    # Jira administration frames the real admin page (the sample items are there).
    admin_page = requests.get(f"{url}plugins/servlet/ac/com.deskbridge.jira/deskbridge-admin", timeout=10).text
    admin_url = frame_src(admin_page)
    claims, relative = jwt_of(admin_url)
    assert relative.startswith("/jira/admin?") and claims["qsh"] == hash_url("GET", relative)
    admin = requests.get(admin_url, timeout=10)
    assert admin.status_code == 200, admin.text[:500]
    assert "Support tickets" in admin.text and "Customers" in admin.text

    # The context token the Jira page hands to AP.context.getToken() is accepted by the app's API.
    token = requests.post(f"{url}demo/context-token", timeout=10).json()["token"]
    issue_id = dict(parse_qsl(urlsplit(panel_url).query))["issueId"]
    cards = requests.get(
        f"{panel_url.split('/jira/')[0]}/api/panel/cards",
        params={"issue_id": issue_id},
        headers={"Authorization": f"JWT {token}"},
        timeout=10,
    )
    assert cards.status_code == 200, cards.text
    names = {card["item"]["name"]: len(card["links"]) for card in cards.json()["cards"]}
    assert names == {"Support tickets": 1, "Customers": 1}

    # Ctrl-C: the launcher stops the web server, the worker and the worker's processes, and exits.
    children = demo.descendants()
    assert len(children) >= 2, [p.cmdline() for p in children]  # runserver, qcluster (+ its processes)
    assert demo.interrupt() == 0, demo.output()
    assert "Demo stopped." in demo.output()
    deadline = time.monotonic() + 5
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p.pid for p in children if alive(p)]
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)

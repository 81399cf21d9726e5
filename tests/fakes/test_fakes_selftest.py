"""Self-tests of the fakes in ``demo/fakes/`` — not of Deskbridge.

The product tests lean on the fakes carrying the real services' quirks (``shared/docs/api-facts.md``);
these tests pin those quirks down so a change to a fake that makes it kinder than the real service fails
here, by name. They talk plain HTTP (``requests``; JWTs signed with PyJWT and Atlassian's reference qsh)
and import nothing from the product, so a failure here is always the fake's.
"""

from __future__ import annotations

import base64
import json
import random
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import jwt as pyjwt
import pytest
import requests
from atlassian_jwt.url_utils import hash_url

from demo.fakes.jira import FakeJira, field_meta
from demo.fakes.server import FakeServer, route
from demo.fakes.zendesk import FakeZendesk

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EMAIL, TOKEN = "ada@acme.test", "api-token-acme-1"
COULD_NOT_AUTHENTICATE = {"error": "Couldn't authenticate you"}


# --- fake Zendesk -----------------------------------------------------------------------------------------


@pytest.fixture
def zendesk():
    fake = FakeZendesk().start()
    fake.add_account("acme")
    fake.add_agent("acme", EMAIL, TOKEN, name="Ada Agent", role="admin")
    yield fake
    fake.stop()


def basic(login: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{secret}".encode()).decode()


def token_auth(email: str = EMAIL, token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": basic(f"{email}/token", token)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def zd(fake: FakeZendesk, method: str, path: str, headers: dict[str, str] | None = None, *, sub: str = "acme", **kw):
    return requests.request(method, fake.base_url(sub) + path, headers=headers or {}, timeout=5, **kw)


ME = "/api/v2/users/me.json"

NOT_ACCEPTED = {
    "wrong token": token_auth(token="wrong"),
    "unknown email": token_auth(email="nobody@elsewhere.test"),
    "password": {"Authorization": basic(EMAIL, "hunter2")},  # password authentication is off
    "no credentials": {},
}


@pytest.mark.parametrize("case", list(NOT_ACCEPTED))
def test_users_me_answers_credentials_it_does_not_accept_with_an_anonymous_user(zendesk, case):
    answer = zd(zendesk, "GET", ME, NOT_ACCEPTED[case])
    assert answer.status_code == 200
    user = answer.json()["user"]
    assert user["id"] is None and user["role"] == "end-user" and user["name"] == "Anonymous user"


@pytest.mark.parametrize("case", list(NOT_ACCEPTED))
def test_every_other_endpoint_answers_them_401(zendesk, case):
    ticket = zendesk.add_ticket("acme")
    answer = zd(zendesk, "GET", f"/api/v2/tickets/{ticket['id']}.json", NOT_ACCEPTED[case])
    assert (answer.status_code, answer.json()) == (401, COULD_NOT_AUTHENTICATE)


def test_users_me_refuses_a_suspended_agents_token(zendesk):
    next(u for u in zendesk.accounts["acme"].users.values() if u["email"] == EMAIL)["suspended"] = True
    answer = zd(zendesk, "GET", ME, token_auth())
    assert (answer.status_code, answer.json()) == (401, COULD_NOT_AUTHENTICATE)


def test_api_tokens_belong_to_the_account_not_the_user(zendesk):
    zendesk.add_agent("acme", "bob@acme.test", None, name="Bob")
    assert zd(zendesk, "GET", ME, token_auth("bob@acme.test", TOKEN)).json()["user"]["name"] == "Bob"
    nobody = token_auth("nobody@acme.test", TOKEN)
    assert zd(zendesk, "GET", ME, nobody).json()["user"]["id"] is None
    assert zd(zendesk, "GET", "/api/v2/tickets.json", nobody).status_code == 401


def test_end_users_may_read_me_but_not_tickets(zendesk):
    zendesk.add_user("acme", name="Carl Customer", email="carl@example.com")
    ticket = zendesk.add_ticket("acme")
    carl = token_auth("carl@example.com", TOKEN)
    assert zd(zendesk, "GET", ME, carl).json()["user"]["role"] == "end-user"
    answer = zd(zendesk, "GET", f"/api/v2/tickets/{ticket['id']}.json", carl)
    assert answer.status_code == 403
    assert answer.json()["error"]["message"].startswith("You do not have access to this page")


def test_unknown_or_expired_bearer_tokens_are_401_even_on_me(zendesk):
    assert zd(zendesk, "GET", ME, bearer("not-a-token")).status_code == 401
    token = zendesk.oauth_token("acme")
    assert zd(zendesk, "GET", ME, bearer(token)).json()["user"]["email"] == EMAIL
    zendesk.advance(3 * 24 * 3600)
    answer = zd(zendesk, "GET", ME, bearer(token))
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"
    assert "expired, revoked" in answer.json()["error_description"]


def test_ticket_ids_are_per_account(zendesk):
    zendesk.add_account("globex")
    zendesk.add_agent("globex", "gus@globex.test", "globex-token")
    mine = zendesk.add_ticket("acme", subject="Acme's first")
    theirs = zendesk.add_ticket("globex", subject="Globex's first")
    assert mine["id"] == theirs["id"] == 1
    assert zd(zendesk, "GET", "/api/v2/tickets/1.json", token_auth()).json()["ticket"]["subject"] == "Acme's first"
    # acme's token means nothing at globex
    assert zd(zendesk, "GET", "/api/v2/tickets/1.json", token_auth(), sub="globex").status_code == 401


def test_a_ticket_closed_through_the_api_stays_closed(zendesk):
    ticket = zendesk.add_ticket("acme", status="solved")
    path = f"/api/v2/tickets/{ticket['id']}.json"
    assert zd(zendesk, "PUT", path, token_auth(), json={"ticket": {"status": "closed"}}).status_code == 200
    reopen = zd(zendesk, "PUT", path, token_auth(), json={"ticket": {"status": "open"}})
    assert reopen.status_code == 422
    assert reopen.json()["details"]["status"][0]["description"] == "Status: closed prevents ticket update"
    assert zendesk.accounts["acme"].tickets[ticket["id"]]["status"] == "closed"


def test_a_ticket_without_a_comment_is_refused_with_the_recorded_answer(zendesk):
    answer = zd(zendesk, "POST", "/api/v2/tickets.json", token_auth(), json={"ticket": {"subject": "No body"}})
    recorded = json.loads((FIXTURES / "zendesk" / "ticket_create_blank_description.json").read_text())
    assert (answer.status_code, answer.json()) == (422, recorded)


def _exchange(fake: FakeZendesk, **body):
    args = {"client_id": fake.client_id, "client_secret": fake.client_secret, "redirect_uri": fake.redirect_uri}
    return zd(fake, "POST", "/oauth/tokens", json={"grant_type": "authorization_code", **args, **body})


def test_oauth_codes_are_single_use_bound_and_short_lived(zendesk):
    code = zendesk.oauth_code("acme")
    assert _exchange(zendesk, code=code).status_code == 200
    again = _exchange(zendesk, code=code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert _exchange(zendesk, code=zendesk.oauth_code("acme"), redirect_uri="https://evil.test/cb").status_code == 400
    expired = zendesk.oauth_code("acme")
    zendesk.advance(121)
    assert _exchange(zendesk, code=expired).status_code == 400
    wrong_secret = _exchange(zendesk, code=zendesk.oauth_code("acme"), client_secret="wrong")
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"


def test_a_read_only_token_cannot_write(zendesk):
    ticket = zendesk.add_ticket("acme")
    path = f"/api/v2/tickets/{ticket['id']}.json"
    reader = bearer(zendesk.oauth_token("acme", "read"))
    assert zd(zendesk, "GET", path, reader).status_code == 200
    refused = zd(zendesk, "PUT", path, reader, json={"ticket": {"status": "pending"}})
    assert refused.status_code == 403
    assert refused.json()["description"] == "You are missing the following required scopes: write"
    writer = bearer(zendesk.oauth_token("acme", "read tickets:write"))
    assert zd(zendesk, "PUT", path, writer, json={"ticket": {"status": "pending"}}).json()["ticket"]["status"] == (
        "pending"
    )


def test_refresh_tokens_rotate(zendesk):
    first = _exchange(zendesk, code=zendesk.oauth_code("acme")).json()
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": zendesk.client_id,
        "client_secret": zendesk.client_secret,
    }
    second = zd(zendesk, "POST", "/oauth/tokens", json=refresh).json()
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"]
    assert zd(zendesk, "GET", ME, bearer(first["access_token"])).status_code == 401
    assert zd(zendesk, "POST", "/oauth/tokens", json=refresh).status_code == 400  # consumed
    assert zd(zendesk, "GET", ME, bearer(second["access_token"])).json()["user"]["email"] == EMAIL


# --- fake Jira --------------------------------------------------------------------------------------------


def app_jwt(jira: FakeJira, method: str, relative_url: str, *, secret: str | None = None) -> str:
    """What an installed app sends: HS256, iss = app key, qsh of this exact request (reference hash)."""
    now = int(time.time())
    claims = {"iss": jira.app_key, "iat": now, "exp": now + 60, "qsh": hash_url(method, relative_url)}
    return pyjwt.encode(claims, secret or jira.shared_secret, algorithm="HS256")


def jira_call(jira: FakeJira, method: str, relative_url: str, *, sign_as: str | None = None, secret=None, **kw):
    token = app_jwt(jira, method, sign_as or relative_url, secret=secret)
    headers = {"Authorization": f"JWT {token}", **kw.pop("headers", {})}
    return requests.request(method, jira.url + relative_url, headers=headers, timeout=5, **kw)


def test_jira_refuses_a_token_signed_with_another_secret(jira):
    answer = jira_call(jira, "GET", "/rest/api/3/field", secret="stale-secret-0123456789abcdef0123")
    assert answer.status_code == 401 and answer.json()["errorMessages"]
    assert jira.rejected_auth == ["InvalidSignatureError"]


def test_jira_refuses_a_token_whose_qsh_covers_another_request(jira):
    answer = jira_call(jira, "GET", "/rest/api/3/field?expand=all", sign_as="/rest/api/3/field")
    assert answer.status_code == 401
    assert jira.rejected_auth == ["qsh"]


def test_jira_refuses_an_attachment_upload_without_the_xsrf_header(jira):
    issue = jira.add_issue(key="ATT-2")
    path = f"/rest/api/3/issue/{issue['id']}/attachments"
    files = {"file": ("a.txt", b"x", "text/plain")}
    assert jira_call(jira, "POST", path, files=files).status_code == 403
    accepted = jira_call(jira, "POST", path, files=files, headers={"X-Atlassian-Token": "no-check"})
    assert accepted.status_code == 200 and accepted.json()[0]["filename"] == "a.txt"
    assert jira.rejected_auth == []


def _create_fields(jira: FakeJira, project: str, issue_type: str) -> list[dict]:
    fields, start = [], 0
    while True:
        page = jira_call(
            jira, "GET", f"/rest/api/3/issue/createmeta/{project}/issuetypes/{issue_type}?startAt={start}"
        ).json()
        fields += page["fields"]
        start += len(page["fields"])
        if not page["fields"] or start >= page["total"]:
            return fields


def test_set_create_fields_replaces_one_screen(jira):
    jira.add_project("HD", "Helpdesk")
    jira.set_create_fields(
        "HD",
        "10001",
        [
            field_meta("summary", "Summary", {"type": "string", "system": "summary"}, required=True),
            field_meta(
                "customfield_10050",
                "Severity",
                {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select"},
                required=True,
                allowed_values=[{"id": "10100", "value": "Critical"}],
            ),
        ],
    )
    task = _create_fields(jira, "HD", "10001")
    assert [(f["fieldId"], f["required"]) for f in task] == [("summary", True), ("customfield_10050", True)]
    assert len(_create_fields(jira, "HD", "10002")) == 13  # other screens keep the default


def test_add_field_reaches_the_field_list_and_the_default_screens(jira):
    jira.add_project("HD", "Helpdesk")
    added = jira.add_field(
        "customfield_10090",
        "Account tier",
        {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select"},
        required=True,
        allowed_values=[{"id": "10200", "value": "Gold"}, {"id": "10201", "value": "Silver"}],
    )
    assert added["schema"]["customId"] == 10090
    listed = {f["id"]: f for f in jira_call(jira, "GET", "/rest/api/3/field").json()}
    assert listed["customfield_10090"]["custom"] is True
    field = {f["fieldId"]: f for f in _create_fields(jira, "HD", "10001")}["customfield_10090"]
    assert field["required"] and [v["value"] for v in field["allowedValues"]] == ["Gold", "Silver"]


# --- fake Zendesk: cursor-based incremental ticket export -------------------------------------------------------

EXPORT = "/api/v2/incremental/tickets/cursor.json"


def test_export_refuses_a_start_time_within_the_last_minute(zendesk):
    answer = zd(zendesk, "GET", EXPORT, token_auth(), params={"start_time": int(zendesk.now()) - 30})
    assert answer.status_code == 422 and answer.json()["description"].startswith("Too recent start_time")


def test_export_is_for_admins_only(zendesk):
    zendesk.add_agent("acme", "bob@acme.test", TOKEN, name="Bob", role="agent")
    answer = zd(zendesk, "GET", EXPORT, token_auth("bob@acme.test"), params={"start_time": 0})
    assert answer.status_code == 403


def test_export_hides_the_last_minute_then_pages_by_cursor_with_duplicates(zendesk):
    first = zendesk.add_ticket("acme", subject="one")
    second = zendesk.add_ticket("acme", subject="two")
    start = int(zendesk.now()) - 120
    empty = zd(zendesk, "GET", EXPORT, token_auth(), params={"start_time": start}).json()
    assert empty["tickets"] == [] and empty["after_cursor"] is None and empty["end_of_stream"] is True

    zendesk.advance(61)
    page = zd(zendesk, "GET", EXPORT, token_auth(), params={"start_time": start, "per_page": 1}).json()
    assert [t["id"] for t in page["tickets"]] == [first["id"]] and page["end_of_stream"] is False
    page = zd(zendesk, "GET", EXPORT, token_auth(), params={"cursor": page["after_cursor"]}).json()
    assert [t["id"] for t in page["tickets"]] == [second["id"]] and page["end_of_stream"] is True
    cursor = page["after_cursor"]
    idle = zd(zendesk, "GET", EXPORT, token_auth(), params={"cursor": cursor}).json()
    assert idle["tickets"] == [] and idle["after_cursor"] == cursor  # nothing new: same position

    zendesk.add_comment("acme", first["id"], "again")  # changed again: it comes back, after a minute
    assert zd(zendesk, "GET", EXPORT, token_auth(), params={"cursor": cursor}).json()["tickets"] == []
    zendesk.advance(61)
    again = zd(zendesk, "GET", EXPORT, token_auth(), params={"cursor": cursor}).json()
    assert [t["id"] for t in again["tickets"]] == [first["id"]]


def test_export_allows_ten_requests_a_minute(zendesk):
    start = int(zendesk.now()) - 120
    answers = [zd(zendesk, "GET", EXPORT, token_auth(), params={"start_time": start}) for _ in range(11)]
    assert [a.status_code for a in answers[:10]] == [200] * 10
    assert answers[10].status_code == 429 and int(answers[10].headers["Retry-After"]) > 0


# --- fake Zendesk: ticket events export, attachments on a CDN host, show_many ------------------------------

EVENTS = "/api/v2/incremental/ticket_events.json"


def _events(fake: FakeZendesk, **params):
    return zd(fake, "GET", EVENTS, token_auth(), params=params)


def test_ticket_events_carry_comments_with_the_sideload_and_repeat_rows_at_end_time(zendesk):
    start = int(zendesk.now()) - 120
    ticket = zendesk.add_ticket("acme", subject="one", description="First words")
    zendesk.advance(5)
    comment = zendesk.add_comment("acme", ticket["id"], "With a file", attachments=[("log.txt", b"abc", "text/plain")])
    zendesk.advance(5)
    path = f"/api/v2/tickets/{ticket['id']}.json"
    body = {"ticket": {"status": "pending", "comment": {"body": "Agent reply", "public": False}}}
    before = zendesk.accounts["acme"].tickets[ticket["id"]]["generated_timestamp"]
    updated = zd(zendesk, "PUT", path, token_auth(), json=body).json()
    assert zendesk.accounts["acme"].tickets[ticket["id"]]["generated_timestamp"] == before + 5
    assert _events(zendesk, start_time=start, include="comment_events").json()["ticket_events"] == []  # < 1 min

    zendesk.advance(61)
    page = _events(zendesk, start_time=start, include="comment_events").json()
    rows = page["ticket_events"]
    assert [r["event_type"] for r in rows] == ["Audit"] * 3 and page["count"] == 3 and page["end_of_stream"]
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)
    comments = [c for r in rows for c in r["child_events"] if c["event_type"] == "Comment"]
    assert [c["body"] for c in comments] == ["First words", "With a file", "Agent reply"]
    assert comments[1]["id"] == comment["id"] and comments[1]["audit_id"] == rows[1]["id"]
    assert comments[1]["attachments"][0]["file_name"] == "log.txt" and comments[2]["public"] is False
    assert rows[2]["id"] == updated["audit"]["id"] and rows[2]["updater_id"] is not None
    change = next(c for c in rows[2]["child_events"] if c["event_type"] == "Change")
    assert (change["field_name"], change["value"], change["previous_value"]) == ("status", "pending", "open")
    assert page["end_time"] == rows[-1]["timestamp"]
    assert f"start_time={page['end_time']}" in page["next_page"]  # set even at the end of the stream
    again = requests.get(page["next_page"], headers=token_auth(), timeout=5).json()
    assert [r["id"] for r in again["ticket_events"]] == [rows[-1]["id"]]  # the last row comes again


def test_ticket_events_without_the_sideload_only_flag_comments(zendesk):
    start = int(zendesk.now()) - 120
    zendesk.add_ticket("acme", public=False)
    zendesk.advance(61)
    child = _events(zendesk, start_time=start).json()["ticket_events"][0]["child_events"][0]
    assert child["comment_present"] is True and child["comment_public"] is False and "body" not in child


def test_ticket_events_never_split_equal_timestamps(zendesk):
    start = int(zendesk.now()) - 120
    for n in range(3):
        zendesk.add_ticket("acme", subject=f"t{n}")
    zendesk.advance(10)
    last = zendesk.add_ticket("acme", subject="later")
    zendesk.advance(61)
    page = _events(zendesk, start_time=start, per_page=1).json()
    assert page["count"] == 3 and page["end_of_stream"] is False  # more than per_page: one timestamp
    follow = requests.get(page["next_page"], headers=token_auth(), timeout=5).json()
    assert [r["ticket_id"] for r in follow["ticket_events"]][-1] == last["id"] and follow["count"] == 4
    assert follow["end_of_stream"] is True


def test_ticket_events_are_for_admins_share_the_incremental_bucket_and_refuse_recent_starts(zendesk):
    assert _events(zendesk, start_time=int(zendesk.now()) - 30).status_code == 422
    zendesk.add_agent("acme", "bob@acme.test", TOKEN, name="Bob", role="agent")
    bob = zd(zendesk, "GET", EVENTS, token_auth("bob@acme.test"), params={"start_time": 0})
    assert bob.status_code == 403
    zendesk.rate_limit_next()
    forced = _events(zendesk, start_time=0)
    assert forced.status_code == 429 and forced.text == "Number of allowed API requests per minute exceeded"
    answers = [_events(zendesk, start_time=0) for _ in range(3)] + [
        zd(zendesk, "GET", EXPORT, token_auth(), params={"start_time": 0}) for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [200] * 7
    assert "remaining=0" in answers[-1].headers["zendesk-rate-limit-incremental-exports"]
    assert _events(zendesk, start_time=0).status_code == 429  # 11th request of the minute (403/422 count)


def test_attachment_content_redirects_to_a_cdn_host_that_refuses_authorization(zendesk):
    ticket = zendesk.add_ticket("acme")
    comment = zendesk.add_comment(
        "acme", ticket["id"], "see file", attachments=[("a b.png", b"\x89PNG-bytes", "image/png")]
    )
    listed = zd(zendesk, "GET", f"/api/v2/tickets/{ticket['id']}/comments.json", token_auth()).json()["comments"]
    attachment = listed[-1]["attachments"][0]
    assert attachment["id"] == comment["attachments"][0]["id"] and attachment["size"] == 10
    url = attachment["content_url"]
    assert url.startswith(zendesk.base_url("acme") + "/attachments/token/")
    assert requests.get(url, timeout=5, allow_redirects=False).status_code == 401  # the API host wants auth
    redirect = requests.get(url, headers=token_auth(), timeout=5, allow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["Location"].startswith("http://localhost:")
    with_auth = requests.get(redirect.headers["Location"], headers=token_auth(), timeout=5)
    assert with_auth.status_code == 400 and "Only one auth mechanism allowed" in with_auth.text
    followed = requests.get(url, headers=token_auth(), timeout=5)  # requests drops auth on another host
    assert followed.status_code == 200 and followed.content == b"\x89PNG-bytes"
    assert followed.headers["Content-Type"] == "image/png" and followed.headers["Content-Length"] == "10"
    assert [(d["status"], d["authorization"] is not None) for d in zendesk.cdn_downloads] == [(400, True), (200, False)]


def test_users_show_many_returns_names(zendesk):
    carl = zendesk.add_user("acme", name="Carl Customer", email="carl@example.com")
    dora = zendesk.add_user("acme", name="Dora Customer")
    answer = zd(
        zendesk, "GET", "/api/v2/users/show_many.json", token_auth(), params={"ids": f"{carl['id']},{dora['id']}"}
    )
    assert sorted(u["name"] for u in answer.json()["users"]) == ["Carl Customer", "Dora Customer"]


# --- fake Jira: attachments, comments, create, JQL search, 429, per-type workflows ------------------------

ADF = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}]}


def test_jira_attachments_join_the_issue(jira):
    issue = jira.add_issue(key="ATT-1")
    path = f"/rest/api/3/issue/{issue['id']}/attachments"
    headers = {"X-Atlassian-Token": "no-check"}
    added = jira_call(jira, "POST", path, files={"file": ("a.txt", b"xyz", "text/plain")}, headers=headers).json()
    assert added[0]["author"]["accountId"] == jira.app_account_id and added[0]["size"] == 3
    fields = jira_call(jira, "GET", f"/rest/api/3/issue/{issue['id']}?fields=attachment").json()["fields"]
    assert [(a["id"], a["filename"], a["mimeType"]) for a in fields["attachment"]] == [
        (added[0]["id"], "a.txt", "text/plain")
    ]
    assert jira.attachments[added[0]["id"]]["data"] == b"xyz"


def test_jira_comments_take_adf_and_keep_properties(jira):
    issue = jira.add_issue(key="CMT-1")
    path = f"/rest/api/3/issue/{issue['id']}/comment"
    refused = jira_call(jira, "POST", path, json={"body": "plain text"})
    assert refused.status_code == 400 and refused.json()["errors"] == {"comment": "Comment body is not valid!"}
    empty = {"type": "doc", "version": 1, "content": []}
    assert jira_call(jira, "POST", path, json={"body": empty}).json()["errors"]["comment"] == (
        "Comment body can not be empty!"
    )
    blank_text = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}],
    }
    assert jira_call(jira, "POST", path, json={"body": blank_text}).status_code == 400
    props = [{"key": "deskbridge", "value": {"zendeskCommentId": 42}}]
    created = jira_call(jira, "POST", path, json={"body": ADF, "properties": props})
    assert created.status_code == 201
    comment = created.json()
    assert comment["author"]["accountId"] == jira.app_account_id and comment["body"] == ADF
    assert "properties" not in comment
    listed = jira_call(jira, "GET", path).json()
    assert listed["total"] == 1 and "properties" not in listed["comments"][0]
    expanded = jira_call(jira, "GET", path + "?expand=properties").json()["comments"][0]
    assert expanded["properties"] == props and expanded["id"] == comment["id"]
    assert jira.comments[issue["id"]][0]["id"] == comment["id"]
    assert jira.comments_added[0]["properties"] == {"deskbridge": {"zendeskCommentId": 42}}


def _create(jira: FakeJira, fields: dict, **extra):
    return jira_call(jira, "POST", "/rest/api/3/issue", json={"fields": fields, **extra})


def test_jira_create_validates_against_the_create_screen(jira):
    jira.add_project("HD", "Helpdesk")
    jira.set_create_fields(
        "HD",
        "10001",
        [
            field_meta("project", "Project", {"type": "project", "system": "project"}, required=True),
            field_meta("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}, required=True),
            field_meta("summary", "Summary", {"type": "string", "system": "summary"}, required=True),
            field_meta("description", "Description", {"type": "string", "system": "description"}),
            field_meta(
                "customfield_10050",
                "Severity",
                {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select"},
                required=True,
                allowed_values=[{"id": "10100", "value": "Critical"}],
            ),
        ],
    )
    base = {"project": {"key": "HD"}, "issuetype": {"id": "10001"}}
    refused = _create(jira, {**base, "labels": ["x"], "description": "plain"})
    assert refused.status_code == 400
    assert refused.json()["errors"] == {
        "labels": "Field 'labels' cannot be set. It is not on the appropriate screen, or unknown.",
        "description": "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
        "summary": "You must specify a summary of the issue.",
        "customfield_10050": "Severity is required.",
    }
    assert _create(jira, {**base, "summary": "x", "customfield_10050": {"id": "999"}}).status_code == 400
    assert jira.created == [] and jira.issues == {}
    assert _create(jira, {"project": {"key": "NOPE"}, "issuetype": {"id": "10001"}}).json()["errors"] == {
        "project": "Specify a valid project ID or key"
    }


def test_jira_create_numbers_keys_starts_in_the_workflow_and_stores_properties(jira):
    project = jira.add_project("HD", "Helpdesk")
    jira.add_issue(key="HD-7")
    jira.set_statuses("HD", [("20", "Triage", "new"), ("21", "Closed", "done")], issue_type_id="10002")
    fields = {"project": {"id": project["id"]}, "issuetype": {"id": "10002"}, "summary": "From Zendesk"}
    props = [{"key": "deskbridge.link", "value": {"ticket": "acme/12"}}]
    answer = _create(jira, fields, properties=props)
    assert answer.status_code == 201
    created = answer.json()
    assert created["key"] == "HD-8" and created["self"].endswith(f"/rest/api/3/issue/{created['id']}")
    issue = jira.issues[created["id"]]
    assert issue["fields"]["status"]["name"] == "Triage" and issue["fields"]["summary"] == "From Zendesk"
    assert jira.properties[(created["id"], "deskbridge.link")] == {"ticket": "acme/12"}
    assert jira.created[-1]["key"] == "HD-8" and jira.created[-1]["properties"] == {
        "deskbridge.link": {"ticket": "acme/12"}
    }
    transitions = jira_call(jira, "GET", f"/rest/api/3/issue/{created['id']}/transitions").json()["transitions"]
    assert [t["to"]["name"] for t in transitions] == ["Closed"]  # the issue type's own workflow
    task = jira.add_issue(key="HD-20", issue_type_id="10001")
    assert task["fields"]["status"]["name"] == "To Do"  # other types keep the project's workflow

    jira.fail_after_create_next()
    lost = _create(jira, {**fields, "summary": "Lost answer"})
    assert lost.status_code == 500
    assert jira.created[-1]["key"] == "HD-21" and jira.issues[jira.created[-1]["id"]]["fields"]["summary"] == (
        "Lost answer"
    )


def _search(jira: FakeJira, jql: str, **params):
    from urllib.parse import quote, urlencode

    query = urlencode({"jql": jql, **params}, quote_via=quote)
    return jira_call(jira, "GET", f"/rest/api/3/search/jql?{query}")


def test_jira_search_finds_indexed_properties_only(jira):
    jira.add_project("HD", "Helpdesk")
    linked = jira.add_issue(key="HD-1")
    other = jira.add_issue(key="HD-2")
    jira.properties[(linked["id"], "deskbridge")] = {"ticket": "acme/12", "n": 12}
    jira.properties[(other["id"], "deskbridge")] = {"ticket": "acme/13", "n": 13}
    jql = 'issue.property[deskbridge].ticket = "acme/12"'
    assert _search(jira, jql).json() == {"issues": [], "isLast": True}  # not declared indexed
    jira.indexed_properties.add("deskbridge")
    assert _search(jira, jql).json() == {"issues": [{"id": linked["id"]}], "isLast": True}
    both = _search(jira, "issue.property[deskbridge].n = 13 AND project = HD AND issuetype = 10001", fields="summary")
    assert [(i["key"], i["fields"]) for i in both.json()["issues"]] == [("HD-2", {"summary": "An issue"})]
    posted = jira_call(jira, "POST", "/rest/api/3/search/jql", json={"jql": jql, "fields": ["summary", "status"]})
    assert posted.json()["issues"][0]["key"] == "HD-1" and "total" not in posted.json()


def test_jira_search_pages_by_token_and_refuses_what_it_cannot_parse(jira):
    issues = [jira.add_issue(key=f"PG-{n}") for n in range(1, 4)]
    ids = ", ".join(i["id"] for i in issues)
    first = _search(jira, f"issue in ({ids})", maxResults=2).json()
    assert [i["id"] for i in first["issues"]] == [issues[0]["id"], issues[1]["id"]] and first["isLast"] is False
    second = _search(jira, f"issue in ({ids})", maxResults=2, nextPageToken=first["nextPageToken"]).json()
    assert second == {"issues": [{"id": issues[2]["id"]}], "isLast": True}
    by_key = _search(jira, 'key in (PG-3, "PG-1") ORDER BY key DESC').json()
    assert [i["id"] for i in by_key["issues"]] == [issues[2]["id"], issues[0]["id"]]
    missing = _search(jira, "key in (PG-1, PG-99)")
    assert missing.status_code == 400
    assert missing.json()["errorMessages"] == ["An issue with key 'PG-99' does not exist for field 'key'."]
    unparsable = _search(jira, 'summary ~ "printer"')
    assert unparsable.status_code == 400 and unparsable.json()["errorMessages"][0].startswith("Error in the JQL Query")


def test_jira_search_lags_behind_new_issues(jira):
    jira.search_lag_seconds = 5
    jira.indexed_properties.add("deskbridge")
    fresh = jira.add_issue(key="LAG-1")
    jira.properties[(fresh["id"], "deskbridge")] = {"ticket": "x"}
    jql = 'issue.property[deskbridge].ticket = "x"'
    assert _search(jira, jql).json()["issues"] == []
    jira.advance(6)
    assert _search(jira, jql).json()["issues"] == [{"id": fresh["id"]}]


def test_jira_rate_limit_next_answers_429_with_retry_after(jira):
    jira.rate_limit_next(retry_after=7, path=r"/rest/api/3/field$")
    assert jira_call(jira, "GET", "/rest/api/3/priority").status_code == 200  # another path
    limited = jira_call(jira, "GET", "/rest/api/3/field")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json() == {"errorMessages": ["Rate limit exceeded."]}
    assert limited.headers["RateLimit-Reason"] == "jira-burst-based"
    assert jira_call(jira, "GET", "/rest/api/3/field").status_code == 200


# --- fake Jira: Connect webhooks, human actions, attachment download, JQL on dates ---------------------------

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


class WebhookReceiver(FakeServer):
    """The app's side of webhooks, on loopback: records every POST (``self.requests``) and answers 204, or
    what ``fail_next`` injects."""

    name = "webhook-receiver"

    @route("POST", r"/app/jira/webhook")
    def hook(self, request):
        return 204, b""

    def deliveries(self) -> list[tuple[dict, dict]]:
        return [(r.headers, json.loads(r.body) if r.body else None) for r in self.calls("POST")]


@pytest.fixture
def receiver():
    fake = WebhookReceiver().start()
    yield fake
    fake.stop()


def subscribe(jira: FakeJira, receiver: WebhookReceiver, *events: str) -> None:
    descriptor = {
        "key": jira.app_key,
        "baseUrl": receiver.url + "/app",
        "modules": {"webhooks": [{"event": e, "url": "/jira/webhook", "excludeBody": False} for e in events]},
    }
    jira.webhooks_subscribe(descriptor)


def test_webhooks_are_posted_later_signed_with_the_qsh_of_the_path_under_the_base_url(jira, receiver):
    subscribe(jira, receiver, "jira:issue_updated")
    issue = jira.add_issue(key="WH-1")
    jira.user_edit(issue, {"summary": "Printer on fire", "labels": ["hot"]})
    jira.user_attach(issue, "a.txt", b"x")  # jira:issue_updated too; attachment_created is not subscribed
    records = jira.webhooks_flush()
    assert [(r["event"], r["status"], r["attempts"]) for r in records] == [("jira:issue_updated", 204, 1)] * 2
    (headers, body), _ = receiver.deliveries()
    assert headers["content-type"] == "application/json"
    assert (headers["x-atlassian-webhook-retry"], headers["x-atlassian-webhook-flow"]) == ("0", "Primary")
    assert headers["x-atlassian-webhook-identifier"] == records[0]["identifier"]
    scheme, _, token = headers["authorization"].partition(" ")
    claims = pyjwt.decode(token, jira.shared_secret, algorithms=["HS256"], options={"require": ["exp", "iat"]})
    assert scheme == "JWT" and claims["iss"] == jira.client_key
    assert claims["qsh"] == hash_url("POST", "/jira/webhook")  # relative to baseUrl, not the server root
    assert body["webhookEvent"] == "jira:issue_updated" and body["issue_event_type_name"] == "issue_updated"
    assert body["user"]["accountType"] == "atlassian" and body["user"]["accountId"] == jira.human_account_id
    items = {i["field"]: i for i in body["changelog"]["items"]}
    assert (items["summary"]["fromString"], items["summary"]["toString"]) == ("An issue", "Printer on fire")
    assert items["labels"]["toString"] == "hot" and items["labels"]["fieldtype"] == "jira"
    assert body["issue"]["fields"]["summary"] == "Printer on fire" and body["issue"]["self"].endswith(
        f"/rest/api/2/issue/{issue['id']}"
    )  # webhook payloads are rendered like REST v2
    assert STAMP.match(body["issue"]["fields"]["updated"])

    edited = jira_call(jira, "PUT", f"/rest/api/3/issue/{issue['id']}", json={"fields": {"summary": "By the app"}})
    assert edited.status_code == 204
    jira.webhooks_flush()
    _, by_app = receiver.deliveries()[-1]
    assert by_app["user"]["accountType"] == "app" and by_app["user"]["accountId"] == jira.app_account_id


def test_a_delivery_answered_503_is_retried_with_the_same_identifier(jira, receiver):
    subscribe(jira, receiver, "comment_created")
    issue = jira.add_issue(key="WH-2")
    receiver.fail_next(503)
    jira.user_comment(issue, "Hello")
    (record,) = jira.webhooks_flush()
    assert (record["statuses"], record["status"], record["attempts"]) == ([503, 204], 204, 2)
    (first, _), (second, _) = receiver.deliveries()
    assert first["x-atlassian-webhook-identifier"] == second["x-atlassian-webhook-identifier"]
    assert [(h["x-atlassian-webhook-retry"], h["x-atlassian-webhook-flow"]) for h in (first, second)] == [
        ("0", "Primary"),
        ("1", "Retry"),
    ]
    receiver.fail_next(400)  # other 4xx: Jira gives up at once
    jira.user_comment(issue, "Again")
    assert jira.webhooks_flush()[-1]["statuses"] == [400]


def test_deliveries_can_be_dropped_held_and_released_reordered_and_twice(jira, receiver):
    subscribe(jira, receiver, "jira:issue_updated")
    issue = jira.add_issue(key="WH-3")
    jira.webhooks_drop_next()
    jira.user_edit(issue, {"summary": "lost"})
    jira.webhooks_hold()
    for summary in ("one", "two", "three"):
        jira.user_edit(issue, {"summary": summary})
    assert receiver.deliveries() == [] and [r["dropped"] for r in jira.webhooks_flush()] == [True]
    sent = jira.webhooks_release(order="reverse", duplicate=True)
    jira.webhooks_flush()
    got = receiver.deliveries()
    assert [b["issue"]["fields"]["summary"] for _, b in got] == ["three", "three", "two", "two", "one", "one"]
    assert [h["x-atlassian-webhook-identifier"] for h, _ in got] == sent and len(set(sent)) == 3
    assert [h["x-atlassian-webhook-retry"] for h, _ in got] == ["0", "1"] * 3

    jira.webhooks_hold()
    for summary in "abcdef":
        jira.user_edit(issue, {"summary": summary})
    held = [e["payload"]["issue"]["fields"]["summary"] for e in jira.webhook_events[-6:]]
    jira.webhooks_release(order="shuffle", seed=7)
    jira.webhooks_flush()
    random.Random(7).shuffle(held)
    assert [b["issue"]["fields"]["summary"] for _, b in receiver.deliveries()[-6:]] == held


def test_a_comment_raises_comment_created_and_issue_commented_with_a_plain_text_body(jira, receiver):
    subscribe(jira, receiver, "comment_created", "comment_updated", "jira:issue_updated")
    issue = jira.add_issue(key="WH-4", description=ADF)
    comment = jira.user_comment(issue, "Hello\n\n*there*")
    assert comment["body"]["type"] == "doc"  # stored as ADF, as Jira's editor does
    jira.webhooks_flush()
    (_, created), (_, updated) = receiver.deliveries()
    assert created["webhookEvent"] == "comment_created" and created["comment"]["id"] == comment["id"]
    assert created["comment"]["body"] == "Hello\n\n*there*" and created["issue"]["key"] == "WH-4"
    assert set(created["issue"]["fields"]) <= {"summary", "issuetype", "project", "status", "priority", "assignee"}
    assert (updated["webhookEvent"], updated["issue_event_type_name"]) == ("jira:issue_updated", "issue_commented")
    assert updated["comment"] == created["comment"] and "changelog" not in updated
    assert updated["issue"]["fields"]["description"] == "Hi"  # rich text arrives as a string, not ADF

    path = f"/rest/api/3/issue/{issue['id']}/comment/{comment['id']}"
    assert jira_call(jira, "PUT", path, json={"body": ADF}).status_code == 200
    jira.webhooks_flush()
    (_, edited), (_, edited_issue) = receiver.deliveries()[-2:]
    assert edited["webhookEvent"] == "comment_updated" and edited["comment"]["body"] == "Hi"
    assert edited["comment"]["updateAuthor"]["accountType"] == "app"
    assert edited_issue["issue_event_type_name"] == "issue_comment_edited"
    assert jira.webhook_counts() == {"comment_created": 1, "comment_updated": 1, "jira:issue_updated": 2}


def test_an_attachment_is_an_attachment_changelog_item_and_attachment_created_names_no_issue(jira, receiver):
    subscribe(jira, receiver, "attachment_created", "jira:issue_updated")
    issue = jira.add_issue(key="WH-5")
    before = jira.issues[issue["id"]]["fields"]["updated"]
    jira.advance(60)
    attachment = jira.user_attach(issue, "log.txt", b"abc", "text/plain")
    jira.webhooks_flush()
    (_, created), (_, updated) = receiver.deliveries()
    assert created["webhookEvent"] == "attachment_created" and set(created) == {
        "timestamp",
        "webhookEvent",
        "attachment",
    }
    assert created["attachment"]["id"] == attachment["id"] and created["attachment"]["size"] == 3
    assert updated["changelog"]["items"] == [
        {
            "field": "Attachment",
            "fieldtype": "jira",
            "fieldId": "attachment",
            "from": None,
            "fromString": None,
            "to": attachment["id"],
            "toString": "log.txt",
        }
    ]
    assert (
        updated["issue"]["fields"]["updated"] > before
        and updated["issue"]["fields"]["attachment"][0]["id"] == (attachment["id"])
    )


def test_attachment_content_redirects_to_a_media_host_that_refuses_authorization(jira):
    issue = jira.add_issue(key="WH-6")
    jira.user_comment(issue, "see file")
    attachment = jira.user_attach(issue, "a b.png", b"\x89PNG-bytes", "image/png")
    assert attachment["content"] == f"{jira.url}/rest/api/3/attachment/content/{attachment['id']}"
    read = jira_call(jira, "GET", f"/rest/api/3/issue/{issue['id']}?fields=attachment,updated,comment").json()
    assert set(read["fields"]) == {"attachment", "updated", "comment"} and read["fields"]["comment"]["total"] == 1
    assert [(a["id"], a["filename"], a["mimeType"], a["size"]) for a in read["fields"]["attachment"]] == [
        (attachment["id"], "a b.png", "image/png", 10)
    ]
    path = f"/rest/api/3/attachment/content/{attachment['id']}"
    redirect = jira_call(jira, "GET", path, allow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["Location"].startswith("http://localhost:")
    with_jwt = requests.get(redirect.headers["Location"], headers={"Authorization": "JWT x"}, timeout=5)
    assert with_jwt.status_code == 401 and "Authorization" in with_jwt.json()["message"]
    followed = jira_call(jira, "GET", path)  # requests drops the JWT on the way to another host
    assert followed.status_code == 200 and followed.content == b"\x89PNG-bytes"
    assert followed.headers["Content-Type"] == "image/png" and followed.headers["Content-Length"] == "10"
    assert [(d["status"], d["authorization"] is not None) for d in jira.media_downloads] == [(401, True), (200, False)]
    assert requests.get(redirect.headers["Location"].split("?")[0], timeout=5).status_code == 403  # no token


def test_jql_finds_issues_updated_since_a_relative_or_absolute_date(jira):
    hd, ops = jira.add_project("HD", "Helpdesk"), jira.add_project("OPS", "Operations")
    old, fresh, other = jira.add_issue(key="HD-1"), jira.add_issue(key="OPS-1"), jira.add_issue(key="HD-2")
    jira.add_issue(key="XX-1")  # another project
    jira.advance(3600)
    jira.user_transition(other, "Done")
    jira.advance(60)
    jira.user_edit(fresh, {"summary": "changed"})
    jql = f'project in ({hd["id"]}, {ops["key"]}) AND updated >= "-5m" ORDER BY updated ASC'
    found = _search(jira, jql, fields="updated").json()["issues"]
    assert [(i["key"], STAMP.match(i["fields"]["updated"]) is not None) for i in found] == [
        ("HD-2", True),
        ("OPS-1", True),
    ]
    assert [i["key"] for i in _search(jira, "updated >= -2m AND project = OPS", fields="key").json()["issues"]] == [
        "OPS-1"
    ]
    moment = datetime.fromtimestamp(jira.now() - 30 * 60, UTC).strftime("%Y/%m/%d %H:%M")
    since = _search(jira, f'updated >= "{moment}" ORDER BY updated DESC', fields="summary").json()["issues"]
    assert [i["key"] for i in since] == ["OPS-1", "HD-2"] and old["key"] not in [i["key"] for i in since]
    bad = _search(jira, 'updated >= "yesterday"')
    assert bad.status_code == 400 and bad.json()["errorMessages"][0].startswith("Date value 'yesterday'")


def test_deletes_and_creates_raise_their_events_and_taken_deliveries_are_signed(jira, receiver):
    subscribe(jira, receiver, "jira:issue_created", "jira:issue_deleted")
    jira.add_project("HD", "Helpdesk")
    jira.webhooks_hold()
    created = jira.user_create("HD", "From a human")
    assert jira_call(jira, "DELETE", f"/rest/api/3/issue/{created['id']}").status_code == 204
    taken = jira.webhooks_take()
    assert [t["event"] for t in taken] == ["jira:issue_created", "jira:issue_deleted"] and receiver.deliveries() == []
    token = taken[1]["headers"]["Authorization"].removeprefix("JWT ")
    assert pyjwt.decode(token, jira.shared_secret, algorithms=["HS256"])["qsh"] == hash_url("POST", taken[1]["path"])
    deleted = json.loads(taken[1]["body"])
    assert deleted["issue"]["key"] == created["key"] and deleted["user"]["accountType"] == "app"
    assert created["id"] not in jira.issues


def test_jira_myself_is_the_app_user(jira):
    me = jira_call(jira, "GET", "/rest/api/3/myself").json()
    assert (me["accountId"], me["accountType"]) == (jira.app_account_id, "app")


# --- fake Zendesk: streamed uploads attached by a ticket update, newest-first comments, update counts ----------


def test_a_streamed_upload_is_attached_by_an_update_and_listed_newest_first(zendesk):
    ticket = zendesk.add_ticket("acme")
    chunks = iter([b"%PDF-", b"1.7 ", b"body"])  # a generator: requests sends it chunked
    headers = {**token_auth(), "Content-Type": "application/pdf"}
    upload = zd(zendesk, "POST", "/api/v2/uploads.json?" + urlencode({"filename": "r.pdf"}), headers, data=chunks)
    assert upload.status_code == 201 and upload.headers["Content-Type"].startswith("text/plain")
    token = upload.json()["upload"]["token"]
    second = zd(zendesk, "POST", f"/api/v2/uploads.json?filename=b.txt&token={token}", headers, data=b"bb")
    assert [a["file_name"] for a in second.json()["upload"]["attachments"]] == ["r.pdf", "b.txt"]
    path = f"/api/v2/tickets/{ticket['id']}.json"
    body = {"ticket": {"comment": {"html_body": "<p>See</p>", "public": False, "uploads": [token]}}}
    assert zd(zendesk, "PUT", path, token_auth(), json=body).status_code == 200
    for params in ({"sort_order": "desc"}, {"sort": "-created_at", "page[size]": 1}):
        listed = zd(zendesk, "GET", f"/api/v2/tickets/{ticket['id']}/comments.json", token_auth(), params=params)
        newest = listed.json()["comments"][0]
        assert newest["body"] == "See" and [(a["file_name"], a["size"]) for a in newest["attachments"]] == [
            ("r.pdf", 13),
            ("b.txt", 2),
        ]
    cursor = listed.json()["meta"]["after_cursor"]
    older = zd(
        zendesk,
        "GET",
        f"/api/v2/tickets/{ticket['id']}/comments.json",
        token_auth(),
        params={"sort": "-created_at", "page[size]": 1, "page[after]": cursor},
    ).json()["comments"]
    assert older[0]["body"] == "The smoke is very colorful."
    file_url = newest["attachments"][1]["content_url"]
    assert requests.get(file_url, headers=token_auth(), timeout=5).content == b"bb"
    zendesk.advance(61)
    events = _events(zendesk, start_time=int(zendesk.now()) - 120, include="comment_events").json()["ticket_events"]
    assert [a["file_name"] for a in events[-1]["child_events"][0]["attachments"]] == ["r.pdf", "b.txt"]


def test_ticket_updates_are_counted_per_ticket_and_closed_tickets_refuse_them(zendesk):
    ticket = zendesk.add_ticket("acme", status="solved")
    path = f"/api/v2/tickets/{ticket['id']}.json"
    assert zd(zendesk, "PUT", path, token_auth(), json={"ticket": {"status": "closed"}}).status_code == 200
    assert zd(zendesk, "PUT", path, token_auth(), json={"ticket": {"comment": {"body": "x"}}}).status_code == 422
    account = zendesk.accounts["acme"]
    assert (account.ticket_updates[ticket["id"]], account.ticket_update_attempts[ticket["id"]]) == (1, 2)


# --- fake Zendesk: groups, brands, ticket forms, tags (what auto-create conditions pick from) ------------------


def test_every_account_has_a_default_group_and_brand_and_deleted_groups_stay_listed(zendesk):
    billing = zendesk.add_group("acme", "Billing")
    zendesk.delete_group("acme", billing["id"])
    groups = zd(zendesk, "GET", "/api/v2/groups.json", token_auth()).json()
    assert [(g["name"], g["default"], g["deleted"]) for g in groups["groups"]] == [
        ("Support", True, False),
        ("Billing", False, True),
    ]
    assert groups["count"] == 2  # offset pagination without page[size]
    kept = zd(zendesk, "GET", "/api/v2/groups.json", token_auth(), params={"exclude_deleted": "true"}).json()
    assert [g["name"] for g in kept["groups"]] == ["Support"]
    brands = zd(zendesk, "GET", "/api/v2/brands.json", token_auth()).json()["brands"]
    assert [(b["name"], b["default"], b["active"], b["is_deleted"]) for b in brands] == [("Acme", True, True, False)]


def test_groups_and_brands_page_by_cursor_up_to_100(zendesk):
    for n in range(4):
        zendesk.add_brand("acme", f"Brand {n}", active=n != 2)
    seen, params = [], {"page[size]": 2}
    while True:
        page = zd(zendesk, "GET", "/api/v2/brands.json", token_auth(), params=params).json()
        seen += [(b["name"], b["active"]) for b in page["brands"]]
        if not page["meta"]["has_more"]:
            break
        params = {"page[size]": 2, "page[after]": page["meta"]["after_cursor"]}
    assert seen == [("Acme", True), ("Brand 0", True), ("Brand 1", True), ("Brand 2", False), ("Brand 3", True)]
    too_big = zd(zendesk, "GET", "/api/v2/groups.json", token_auth(), params={"page[size]": 101})
    assert too_big.status_code == 400 and too_big.json()["errors"][0]["code"] == "InvalidPaginationParameter"


def test_ticket_forms_come_in_one_answer_by_position_inactive_ones_too(zendesk):
    assert zd(zendesk, "GET", "/api/v2/ticket_forms.json", token_auth()).json() == {
        "ticket_forms": [],
        "next_page": None,
        "previous_page": None,
        "count": 0,
    }
    zendesk.add_ticket_form("acme", "Default")
    zendesk.add_ticket_form("acme", "Legacy", active=False)
    zendesk.add_ticket_form("acme", "Refunds")
    answer = zd(zendesk, "GET", "/api/v2/ticket_forms.json", token_auth(), params={"page[size]": 1}).json()
    assert [(f["name"], f["active"], f["default"]) for f in answer["ticket_forms"]] == [
        ("Default", True, True),
        ("Legacy", False, False),
        ("Refunds", True, False),
    ]
    assert answer["next_page"] is None and answer["count"] == 3  # no pagination, page[size] or not
    active = zd(zendesk, "GET", "/api/v2/ticket_forms.json", token_auth(), params={"active": "true"}).json()
    assert [f["name"] for f in active["ticket_forms"]] == ["Default", "Refunds"]


def test_tags_are_the_recent_ones_most_used_first_with_counts_and_their_own_rate_limit(zendesk):
    zendesk.add_ticket("acme", tags=["old"])
    zendesk.advance(61 * 24 * 3600)  # tags of tickets untouched for 60 days drop out
    for tags in (["vip", "billing"], ["vip"], ["vip", "printer"], ["billing"]):
        zendesk.add_ticket("acme", tags=tags)
    answer = zd(zendesk, "GET", "/api/v2/tags.json", token_auth())
    assert answer.json()["tags"] == [
        {"name": "vip", "count": 3},
        {"name": "billing", "count": 2},
        {"name": "printer", "count": 1},
    ]
    assert answer.json()["count"] == 3
    assert answer.headers["zendesk-ratelimit-tags-index"].startswith("total=100; remaining=")
    first = zd(zendesk, "GET", "/api/v2/tags.json", token_auth(), params={"page[size]": 2}).json()
    assert [t["name"] for t in first["tags"]] == ["vip", "billing"] and first["meta"]["has_more"]
    rest = zd(
        zendesk,
        "GET",
        "/api/v2/tags.json",
        token_auth(),
        params={"page[size]": 2, "page[after]": first["meta"]["after_cursor"]},
    ).json()
    assert [t["name"] for t in rest["tags"]] == ["printer"] and not rest["meta"]["has_more"]


# --- fake Zendesk: creating tickets and users from another system ---------------------------------------


def test_tickets_are_listed_by_external_id_at_once(zendesk):
    zendesk.search_lag_seconds = 3600  # the list reads the database, not the lagging search index
    body = {"ticket": {"subject": "From Jira", "comment": {"body": "hi"}, "external_id": "jira-1"}}
    created = zd(zendesk, "POST", "/api/v2/tickets.json", token_auth(), json=body)
    assert created.status_code == 201 and created.json()["ticket"]["external_id"] == "jira-1"
    zd(zendesk, "POST", "/api/v2/tickets.json", token_auth(), json={"ticket": {"comment": {"body": "other"}}})
    found = zd(zendesk, "GET", "/api/v2/tickets.json?external_id=jira-1", token_auth()).json()["tickets"]
    assert [t["id"] for t in found] == [created.json()["ticket"]["id"]]
    assert zd(zendesk, "GET", "/api/v2/tickets.json?external_id=nope", token_auth()).json()["tickets"] == []


def test_users_create_or_update_matches_by_email_and_refuses_a_nameless_new_user(zendesk):
    path = "/api/v2/users/create_or_update.json"
    first = zd(zendesk, "POST", path, token_auth(), json={"user": {"name": "Rita", "email": "Rita@Customer.test"}})
    assert first.status_code == 201 and first.json()["user"]["email"] == "rita@customer.test"
    again = zd(zendesk, "POST", path, token_auth(), json={"user": {"name": "Rita R.", "email": "rita@customer.test"}})
    assert again.status_code == 200 and again.json()["user"]["id"] == first.json()["user"]["id"]
    assert again.json()["user"]["name"] == "Rita R."  # an update of the one user, not a second one
    nameless = zd(zendesk, "POST", path, token_auth(), json={"user": {"email": "new@customer.test"}})
    assert nameless.status_code == 422
    assert nameless.json() == {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {"name": [{"description": "Name: cannot be blank", "error": "BlankValue"}]},
    }


def test_users_search_finds_by_email_only_once_indexed(zendesk):
    zendesk.add_user("acme", name="Old Customer", email="old@customer.test")
    zendesk.search_lag_seconds = 3600
    zendesk.advance(7200)
    zendesk.add_user("acme", name="New Customer", email="new@customer.test")
    found = zd(zendesk, "GET", "/api/v2/users/search.json?query=old@customer.test", token_auth()).json()["users"]
    assert [u["email"] for u in found] == ["old@customer.test"]
    assert zd(zendesk, "GET", "/api/v2/users/search.json?query=new@customer.test", token_auth()).json()["users"] == []

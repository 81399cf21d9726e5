"""Self-tests of the fakes in ``tests/fakes/`` — not of Deskbridge.

The product tests lean on the fakes carrying the real services' quirks (``shared/docs/api-facts.md``);
these tests pin those quirks down so a change to a fake that makes it kinder than the real service fails
here, by name. They talk plain HTTP (``requests``; JWTs signed with PyJWT and Atlassian's reference qsh)
and import nothing from the product, so a failure here is always the fake's.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt as pyjwt
import pytest
import requests
from atlassian_jwt.url_utils import hash_url

from tests.fakes.jira import FakeJira, field_meta
from tests.fakes.zendesk import FakeZendesk

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

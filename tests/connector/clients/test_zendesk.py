"""The Zendesk client against the fake Zendesk on loopback: both authentication forms, typed errors (closed
tickets, plain-text 429, unknown account), rate-limit headers, cursor and offset pagination, search,
show_many and the OAuth code exchange. The fake's own quirks are pinned in ``tests/fakes/test_fakes_selftest.py``."""

from __future__ import annotations

import base64
import json
import socket
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connector.clients.base import (
    ApiBadRequest,
    ApiConnectionError,
    ApiNotFound,
    ApiRateLimited,
    ApiTimeout,
    ApiUnexpectedResponse,
)
from connector.clients.zendesk import TicketClosed, ZendeskClient, parse_rate_limit
from demo.fakes.zendesk import FakeZendesk

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "zendesk"
EMAIL, TOKEN = "ada@acme.test", "api-token-acme-1"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def zendesk(settings):
    fake = FakeZendesk().start()
    settings.ZENDESK_URL_TEMPLATE = fake.url_template
    fake.add_account("acme")
    fake.add_agent("acme", EMAIL, TOKEN, name="Ada Agent", role="admin")
    yield fake
    fake.stop()


@pytest.fixture
def client(zendesk):
    return ZendeskClient(subdomain="acme", email=EMAIL, api_token=TOKEN)


# --- authentication --------------------------------------------------------------------------------------
def test_api_token_is_sent_as_basic_email_token(client, zendesk):
    me = client.me()
    assert (me["email"], me["role"], me["name"]) == (EMAIL, "admin", "Ada Agent")
    sent = zendesk.calls("GET", r"/users/me\.json")[0].headers["authorization"]
    assert sent == "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()


def test_oauth_token_is_sent_as_bearer(zendesk):
    token = zendesk.oauth_token("acme", "read write")
    me = ZendeskClient(subdomain="acme", oauth_token=token).me()
    assert me["email"] == EMAIL
    assert zendesk.calls("GET", r"/users/me\.json")[0].headers["authorization"] == f"Bearer {token}"


def test_without_credentials_me_answers_anonymously(zendesk):
    me = ZendeskClient(subdomain="acme").me()
    assert me["id"] is None and me["role"] == "end-user"
    assert "authorization" not in zendesk.calls("GET", r"/users/me\.json")[0].headers


# --- transport and account errors ------------------------------------------------------------------------
def test_unknown_subdomain_is_not_found(zendesk):
    with pytest.raises(ApiNotFound) as info:
        ZendeskClient(subdomain="nosuchdesk", email=EMAIL, api_token=TOKEN).me()
    assert info.value.body == fixture("no_help_desk.json")
    assert "No help desk at nosuchdesk.zendesk.com" in str(info.value)


@pytest.mark.parametrize("subdomain", ["", "Acme", "acme.evil.com", "acme/..", "-acme", "acme\n"])
def test_subdomain_is_validated_before_building_a_url(zendesk, subdomain):
    with pytest.raises(ValueError):
        ZendeskClient(subdomain=subdomain)


def test_connection_error_is_typed(settings):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    settings.ZENDESK_URL_TEMPLATE = f"http://127.0.0.1:{port}/zd/{{subdomain}}"
    with pytest.raises(ApiConnectionError):
        ZendeskClient(subdomain="acme", email=EMAIL, api_token=TOKEN).me()


def test_timeout_is_typed(settings):
    settings.HTTP_READ_TIMEOUT_SECONDS = 0.3
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    settings.ZENDESK_URL_TEMPLATE = f"http://127.0.0.1:{listener.getsockname()[1]}/zd/{{subdomain}}"
    try:
        with pytest.raises(ApiTimeout):
            ZendeskClient(subdomain="acme", email=EMAIL, api_token=TOKEN).me()
    finally:
        listener.close()


def test_record_not_found_reads_well(client):
    with pytest.raises(ApiNotFound) as info:
        client.ticket_get(999)
    assert str(info.value) == "Zendesk answered HTTP 404: Not found"


def test_answer_without_the_expected_member_is_unexpected(client, zendesk):
    zendesk.fail_next(200, "<html>maintenance</html>", {"Content-Type": "text/html"})
    with pytest.raises(ApiUnexpectedResponse):
        client.me()


# --- tickets and the closed-ticket refusal ---------------------------------------------------------------
def test_ticket_get_and_update(client, zendesk):
    ticket = zendesk.add_ticket("acme", subject="VPN down", description="Since 9am")
    assert client.ticket_get(ticket["id"])["subject"] == "VPN down"
    updated = client.ticket_update(ticket["id"], {"status": "open", "comment": {"body": "Looking", "public": False}})
    assert updated["status"] == "open"
    put = zendesk.calls("PUT", rf"/tickets/{ticket['id']}\.json$")[0]
    assert put.json() == {"ticket": {"status": "open", "comment": {"body": "Looking", "public": False}}}
    assert [(c["body"], c["public"]) for c in zendesk.accounts["acme"].comments[ticket["id"]]][-1] == (
        "Looking",
        False,
    )


def test_validation_errors_read_well(client, zendesk):
    zendesk.fail_next(422, fixture("ticket_create_blank_description.json"))
    with pytest.raises(ApiBadRequest) as info:
        client.ticket_update(1, {"subject": ""})
    assert not isinstance(info.value, TicketClosed)
    assert info.value.body == fixture("ticket_create_blank_description.json")
    assert str(info.value) == (
        "Zendesk answered HTTP 422: Record validation errors (description: Description: cannot be blank)"
    )


def test_update_of_closed_ticket_raises_ticket_closed_under_status(client, zendesk):
    ticket = zendesk.add_ticket("acme", status="closed")
    with pytest.raises(TicketClosed) as info:
        client.ticket_update(ticket["id"], {"comment": {"body": "Anyone?", "public": True}})
    assert isinstance(info.value, ApiBadRequest) and info.value.status == 422
    assert str(info.value) == (
        "Zendesk answered HTTP 422: Record validation errors (status: Status: closed prevents ticket update)"
    )
    assert len(zendesk.accounts["acme"].comments[ticket["id"]]) == 1


def test_update_of_closed_ticket_raises_ticket_closed_under_base(client, zendesk):
    zendesk.accounts["acme"].closed_error_key = "base"
    ticket = zendesk.add_ticket("acme", status="closed")
    with pytest.raises(TicketClosed) as info:
        client.ticket_update(ticket["id"], {"status": "open"})
    assert "base: Status: closed prevents ticket update" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        fixture("ticket_update_closed_status.json"),
        fixture("ticket_update_closed_base.json"),
        fixture("ticket_update_closed_short.json"),
        {"error": "RecordInvalid", "details": {"status": ["Status: closed prevents ticket update"]}},
        {"error": "RecordInvalid", "details": {"base": "Status: closed prevents ticket update"}},
        {"error": "RecordInvalid", "details": {"status": [{"description": "Closed prevents ticket update"}]}},
    ],
)
def test_closed_ticket_detection_tolerates_every_shape(client, zendesk, body):
    zendesk.fail_next(422, body)
    with pytest.raises(TicketClosed):
        client.ticket_update(1, {"status": "open"})


@pytest.mark.parametrize(
    "status,body",
    [
        (422, {"error": "RecordInvalid", "details": {"subject": [{"description": "Subject: is too long"}]}}),
        (422, {"error": "RecordInvalid", "details": {"comment": [{"description": "closed prevents ticket update"}]}}),
        (400, fixture("ticket_update_closed_status.json")),
    ],
)
def test_other_refusals_are_not_ticket_closed(client, zendesk, status, body):
    zendesk.fail_next(status, body)
    with pytest.raises(ApiBadRequest) as info:
        client.ticket_update(1, {"status": "open"})
    assert not isinstance(info.value, TicketClosed)


# --- rate limits -----------------------------------------------------------------------------------------
def test_plain_text_429_is_rate_limited_with_retry_after(client, zendesk):
    zendesk.rate_limit_next(1, retry_after=17)
    with pytest.raises(ApiRateLimited) as info:
        client.me()
    assert info.value.retry_after == 17.0 and info.value.transient
    assert str(info.value) == "Zendesk answered HTTP 429: Number of allowed API requests per minute exceeded"
    assert client.me()["email"] == EMAIL  # only the next request was limited


def test_spending_the_account_budget_gets_429_until_the_minute_is_over(zendesk):
    zendesk.add_account("small", rate_limit=3)
    zendesk.add_agent("small", EMAIL, TOKEN)
    small = ZendeskClient(subdomain="small", email=EMAIL, api_token=TOKEN)
    for expected in (2, 1, 0):
        small.me()
        assert small.rate_limit["limit"] == 3 and small.rate_limit["remaining"] == expected
    with pytest.raises(ApiRateLimited) as info:
        small.me()
    assert 0 < info.value.retry_after <= 60
    zendesk.advance(60)
    assert small.me()["email"] == EMAIL


def test_both_endpoint_header_spellings_are_parsed(zendesk):
    answers: list[requests.Response] = []
    session = requests.Session()
    session.hooks["response"].append(lambda response, *args, **kwargs: answers.append(response))
    client = ZendeskClient(subdomain="acme", email=EMAIL, api_token=TOKEN, session=session)
    client.request("GET", "/api/v2/tickets.json")  # the fake's endpoint bucket spelled "ratelimit"
    assert answers[-1].headers["zendesk-ratelimit-tickets-index"].startswith("total=100; remaining=99; resets=")
    assert client.rate_limit["endpoint"]["tickets-index"]["total"] == 100
    assert client.rate_limit["endpoint"]["tickets-index"]["remaining"] == 99
    client.search("type:ticket")  # and this one spelled "rate-limit"
    assert "zendesk-rate-limit-search-index" in answers[-1].headers
    assert client.rate_limit["endpoint"] == {"search-index": {"total": 200, "remaining": 199, "resets": 60}}
    assert (client.rate_limit["limit"], client.rate_limit["remaining"]) == (700, 698)


def test_parse_rate_limit_reads_both_spellings_and_ignores_junk():
    parsed = parse_rate_limit(
        {
            "X-Rate-Limit": "700",
            "X-Rate-Limit-Remaining": "698",
            "zendesk-ratelimit-tickets-index": "total=100; remaining=99; resets=10",
            "Zendesk-Rate-Limit-Incremental-Exports": "total=10;remaining=0;resets=42",
            "zendesk-ratelimit-broken": "total=abc; nonsense",
        }
    )
    assert parsed["limit"] == 700 and parsed["remaining"] == 698
    assert parsed["endpoint"]["tickets-index"] == {"total": 100, "remaining": 99, "resets": 10}
    assert parsed["endpoint"]["incremental-exports"] == {"total": 10, "remaining": 0, "resets": 42}
    assert parsed["endpoint"]["broken"] == {"total": None, "nonsense": None}


# --- pagination ------------------------------------------------------------------------------------------
def test_fields_are_read_across_cursor_pages(client, zendesk):
    for n in range(250):
        zendesk.add_user_field("acme", f"field_{n}", f"Field {n}")
    assert [f["key"] for f in client.user_fields()] == [f"field_{n}" for n in range(250)]
    pages = zendesk.calls("GET", r"/user_fields\.json")
    assert len(pages) == 3
    assert all(p.query["page[size]"] == ["100"] for p in pages)
    assert "page[after]" not in pages[0].query and "page[after]" in pages[2].query


def test_paginate_never_asks_for_more_than_100_per_page(client, zendesk):
    for n in range(120):
        zendesk.add_user_field("acme", f"field_{n}", f"Field {n}")
    assert len(list(client.paginate(ZendeskClient.USER_FIELDS, "user_fields", page_size=500))) == 120
    assert {p.query["page[size]"][0] for p in zendesk.calls("GET", r"/user_fields\.json")} == {"100"}


@pytest.mark.parametrize(
    "meta",
    [
        {"has_more": True, "after_cursor": None},
        {"has_more": True},
        {"has_more": True, "after_cursor": "same"},
    ],
)
def test_paginate_stops_when_the_server_misbehaves(client, zendesk, meta):
    page = {"user_fields": [{"id": 1}], "meta": meta}
    for _ in range(3):
        zendesk.fail_next(200, page)
    items = list(client.paginate(ZendeskClient.USER_FIELDS, "user_fields"))
    expected_requests = 2 if meta.get("after_cursor") == "same" else 1
    assert len(items) == expected_requests
    assert len(zendesk.calls("GET", r"/user_fields\.json")) == expected_requests


def test_fields_are_read_with_system_and_custom_options(client, zendesk):
    field = zendesk.add_ticket_field("acme", "Product", "tagger", options=["Widget", ("Gadget Pro", "gadget_pro")])
    zendesk.add_user_field("acme", "plan", "Plan", "dropdown", options=["Free", "Paid"])
    zendesk.add_organization_field("acme", "region", "Region")
    ticket_fields = client.ticket_fields()
    assert {f["type"] for f in ticket_fields} >= {"subject", "description", "status", "priority", "tagger"}
    product = next(f for f in ticket_fields if f["id"] == field["id"])
    assert [(o["name"], o["value"]) for o in product["custom_field_options"]] == [
        ("Widget", "widget"),
        ("Gadget Pro", "gadget_pro"),
    ]
    assert [(f["key"], f["type"]) for f in client.user_fields()] == [("plan", "dropdown")]
    assert [(f["key"], f["type"]) for f in client.organization_fields()] == [("region", "text")]


# --- search, show_many ---------------------------------------------------------------------------------
def test_search_filters_by_type_and_free_text(client, zendesk):
    zendesk.add_ticket("acme", subject="Printer on FIRE")
    zendesk.add_ticket("acme", subject="Password reset")
    zendesk.add_user("acme", name="Fiona Firestone", email="fiona@example.com")
    tickets = client.search("type:ticket fire")
    assert [(r["result_type"], r["subject"]) for r in tickets] == [("ticket", "Printer on FIRE")]
    users = client.search("type:user fiona@exa*")
    assert [(r["result_type"], r["name"]) for r in users] == [("user", "Fiona Firestone")]
    assert {r["result_type"] for r in client.search("fire*")} == {"ticket", "user"}


def test_search_pages_up_to_the_limit_and_never_past_1000(client, zendesk):
    for n in range(150):
        zendesk.add_ticket("acme", subject=f"Outage {n}")
    results = client.search("type:ticket outage", limit=120)
    assert len(results) == 120 and len({r["id"] for r in results}) == 120
    assert [c.query["page"] for c in zendesk.calls("GET", r"/search\.json")] == [["1"], ["2"]]
    assert len(client.search("type:ticket outage", limit=5000)) == 150  # capped at 1000, and 150 exist


@pytest.mark.parametrize("per_answer,expected", [(100, 1000), (50, 500)])
def test_search_never_asks_past_the_1000th_result(client, zendesk, per_answer, expected):
    """Zendesk answers 422 past page 10 at 100 per page, even when its pages came back short."""
    page = {"results": [{"id": n, "result_type": "ticket"} for n in range(per_answer)], "next_page": "x", "count": 5000}
    for _ in range(12):
        zendesk.fail_next(200, page, path=r"/search\.json")
    assert len(client.search("type:ticket", limit=5000)) == expected
    assert [c.query["page"] for c in zendesk.calls("GET", r"/search\.json")] == [[str(n)] for n in range(1, 11)]


def test_show_many_chunks_by_100_and_skips_unknown_ids(client, zendesk):
    users = [zendesk.add_user("acme", name=f"User {n}", email=f"u{n}@example.com") for n in range(150)]
    ids = [u["id"] for u in users] + [1]
    found = client.users_show_many(ids)
    assert sorted(u["id"] for u in found) == sorted(u["id"] for u in users)
    assert [len(c.query["ids"][0].split(",")) for c in zendesk.calls("GET", r"/show_many\.json")] == [100, 51]
    org = zendesk.add_organization("acme", name="Acme Corp")
    assert [o["name"] for o in client.organizations_show_many([org["id"], org["id"]])] == ["Acme Corp"]
    assert client.users_show_many([]) == []
    assert len(zendesk.calls("GET", r"/show_many\.json")) == 3


def test_user_and_organization_by_id(client, zendesk):
    org = zendesk.add_organization("acme", name="Acme Corp")
    user = zendesk.add_user("acme", name="Olga", email="olga@example.com", organization_id=org["id"])
    assert client.user_get(user["id"])["organization_id"] == org["id"]
    assert client.organization_get(org["id"])["name"] == "Acme Corp"


# --- OAuth -----------------------------------------------------------------------------------------------
def test_authorize_url_shape(settings):
    settings.ZENDESK_URL_TEMPLATE = "https://{subdomain}.zendesk.com"
    url = ZendeskClient.authorize_url("acme", "deskbridge", "https://app.test/cb?x=1", "st&ate")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "acme.zendesk.com", "/oauth/authorizations/new")
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["deskbridge"],
        "redirect_uri": ["https://app.test/cb?x=1"],
        "scope": ["read write"],
        "state": ["st&ate"],
    }
    assert "scope=read%20write" in parts.query


def test_oauth_code_exchange_gives_a_working_token(zendesk, client):
    code = zendesk.oauth_code("acme", "read write")
    token = client.oauth_exchange_code(
        code=code, client_id=zendesk.client_id, client_secret=zendesk.client_secret, redirect_uri=zendesk.redirect_uri
    )
    assert token["token_type"] == "bearer" and token["scope"] == "read write"
    exchange = zendesk.calls("POST", r"/oauth/tokens")[0]
    assert "authorization" not in exchange.headers  # the client's own credentials stay out of the exchange
    assert exchange.json() == {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": zendesk.client_id,
        "client_secret": zendesk.client_secret,
        "redirect_uri": zendesk.redirect_uri,
    }
    assert ZendeskClient(subdomain="acme", oauth_token=token["access_token"]).me()["email"] == EMAIL


def test_documented_minimal_token_answer_is_accepted(zendesk):
    zendesk.fail_next(200, fixture("oauth_token_minimal.json"), path=r"/oauth/tokens")
    token = ZendeskClient(subdomain="acme").oauth_exchange_code(
        code="c", client_id="x", client_secret="y", redirect_uri="https://app.test/cb"
    )
    assert token == fixture("oauth_token_minimal.json")


def test_token_answer_without_access_token_is_unexpected(zendesk):
    zendesk.fail_next(200, {"token_type": "bearer"}, path=r"/oauth/tokens")
    with pytest.raises(ApiUnexpectedResponse):
        ZendeskClient(subdomain="acme").oauth_exchange_code(
            code="c", client_id="x", client_secret="y", redirect_uri="https://app.test/cb"
        )


def test_authorize_url_round_trip_through_the_fake(zendesk):
    url = ZendeskClient.authorize_url("acme", zendesk.client_id, zendesk.redirect_uri, "state-1", scope="read")
    answer = requests.get(url, allow_redirects=False)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == zendesk.redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["state-1"]
    token = ZendeskClient(subdomain="acme").oauth_exchange_code(
        code=query["code"][0],
        client_id=zendesk.client_id,
        client_secret=zendesk.client_secret,
        redirect_uri=zendesk.redirect_uri,
    )
    assert token["scope"] == "read"

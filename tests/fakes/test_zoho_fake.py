"""Self-tests of the fake Zoho Desk (``demo/fakes/zoho_desk.py``) - not of Deskbridge.

Each test pins one quirk of the real service (listed, with sources, in the fake's module docstring) so that a
change making the fake kinder than Zoho fails here, by name. Plain HTTP with ``requests``; nothing from the
product is imported.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from demo.fakes.zoho_desk import (
    ACCESS_DENIED,
    REQUIRED_SCOPES,
    FakeZohoDesk,
    daily_credits,
)

ORG = "60001234567"
CLIENT, SECRET = "1000.SELFCLIENT", "self-client-secret"


@pytest.fixture
def zoho():
    fake = FakeZohoDesk().start()
    acme = fake.add_org("us", name="Acme", org_id=ORG)
    globex = fake.add_org("us", name="Globex")
    ada = fake.add_agent(acme.id, name="Ada Agent", email="ada@acme.test")
    fake.add_agent(globex.id, name="Ada Agent", email="ada@acme.test")
    fake.add_self_client("us", client_id=CLIENT, client_secret=SECRET, user=ada, orgs=[acme.id, globex.id])
    yield fake
    fake.stop()


def token_call(fake: FakeZohoDesk, dc: str = "us", **form: str) -> requests.Response:
    return requests.post(fake.accounts_url(dc) + "/oauth/v2/token", data=form, timeout=5)


def exchange(fake: FakeZohoDesk, code: str, dc: str = "us", secret: str = SECRET) -> requests.Response:
    return token_call(fake, dc, grant_type="authorization_code", client_id=CLIENT, client_secret=secret, code=code)


def refresh(fake: FakeZohoDesk, refresh_token: str) -> requests.Response:
    return token_call(
        fake, grant_type="refresh_token", client_id=CLIENT, client_secret=SECRET, refresh_token=refresh_token
    )


def connect(fake: FakeZohoDesk, scopes=REQUIRED_SCOPES, org_id: str = ORG) -> tuple[str, str]:
    answer = exchange(fake, fake.self_client_code(CLIENT, scopes=scopes, org_id=org_id)).json()
    return answer["access_token"], answer["refresh_token"]


def desk(fake, method, path, token, *, org_id: str | None = ORG, dc: str = "us", **kw) -> requests.Response:
    headers = {"Authorization": f"Zoho-oauthtoken {token}"}
    if org_id is not None:
        headers["orgId"] = org_id
    headers.update(kw.pop("headers", {}))
    return requests.request(method, fake.desk_url(dc) + "/api/v1" + path, headers=headers, timeout=5, **kw)


# --- Zoho Accounts -----------------------------------------------------------------------------------------


def test_code_exchange_answers_tokens_and_a_zohoapis_domain(zoho):
    answer = exchange(zoho, zoho.self_client_code(CLIENT))
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) >= {"access_token", "refresh_token", "api_domain", "token_type", "expires_in", "scope"}
    assert body["expires_in"] == 3600 and body["token_type"] == "Bearer"
    assert body["api_domain"] == "https://www.zohoapis.com"  # not the Desk host


def test_codes_are_single_use_and_expire_with_http_200_errors(zoho):
    code = zoho.self_client_code(CLIENT)
    assert exchange(zoho, code).status_code == 200
    again = exchange(zoho, code)
    assert (again.status_code, again.json()) == (200, {"error": "invalid_code"})
    late = zoho.self_client_code(CLIENT, minutes=3)
    zoho.advance(181)
    assert exchange(zoho, late).json() == {"error": "invalid_code"}
    assert exchange(zoho, "1000.nonsense").json() == {"error": "invalid_code"}


def test_client_errors_and_the_wrong_data_center(zoho):
    code = zoho.self_client_code(CLIENT)
    assert exchange(zoho, code, secret="wrong").json() == {"error": "invalid_client_secret"}
    unknown = token_call(zoho, grant_type="authorization_code", client_id="1000.X", client_secret="s", code=code)
    assert (unknown.status_code, unknown.json()) == (200, {"error": "invalid_client"})
    # a Self Client exists only at the accounts server of its data center
    assert exchange(zoho, code, dc="eu").json() == {"error": "invalid_client"}
    assert "access_token" in exchange(zoho, code).json()  # none of the refusals used the code up


def test_refresh_answers_no_refresh_token_and_is_limited_to_ten_per_ten_minutes(zoho):
    _, refresh_token = connect(zoho)
    for _ in range(10):
        answer = refresh(zoho, refresh_token)
        assert answer.status_code == 200 and "refresh_token" not in answer.json()
    denied = refresh(zoho, refresh_token)
    assert (denied.status_code, denied.json()) == (400, ACCESS_DENIED)
    assert [r["granted"] for r in zoho.token_refreshes].count(True) == 10
    assert len(zoho.token_refreshes) == 11
    zoho.advance(600)
    assert refresh(zoho, refresh_token).status_code == 200


def test_the_twenty_first_refresh_token_silently_revokes_the_oldest(zoho):
    tokens = [connect(zoho)[1] for _ in range(21)]
    assert refresh(zoho, tokens[0]).json() == {"error": "invalid_code"}
    assert "access_token" in refresh(zoho, tokens[1]).json()


def test_access_tokens_expire_after_an_hour_and_revocation_kills_them(zoho):
    access, refresh_token = connect(zoho)
    assert desk(zoho, "GET", "/myinfo", access).status_code == 200
    zoho.advance(3600)
    expired = desk(zoho, "GET", "/myinfo", access)
    assert expired.status_code == 401 and expired.json()["errorCode"] == "INVALID_OAUTH"
    fresh = refresh(zoho, refresh_token).json()["access_token"]
    assert desk(zoho, "GET", "/myinfo", fresh).status_code == 200
    zoho.expire_access_tokens()
    assert desk(zoho, "GET", "/myinfo", fresh).status_code == 401
    fresh = refresh(zoho, refresh_token).json()["access_token"]
    zoho.revoke_refresh_token(refresh_token)
    assert desk(zoho, "GET", "/myinfo", fresh).status_code == 401
    assert refresh(zoho, refresh_token).json() == {"error": "invalid_code"}


def test_tokens_work_only_at_their_data_center(zoho):
    zoho.add_org("eu", name="Euro")
    access, _ = connect(zoho)
    assert desk(zoho, "GET", "/organizations", access, dc="eu").json()["errorCode"] == "INVALID_OAUTH"
    assert desk(zoho, "GET", "/organizations", "not-a-token").status_code == 401
    no_header = requests.get(zoho.desk_url("us") + "/api/v1/organizations", timeout=5)
    assert no_header.status_code == 401


# --- organizations, binding, scopes --------------------------------------------------------------------


def test_organizations_lists_every_portal_of_the_user_with_string_ids(zoho):
    access, _ = connect(zoho)
    answer = desk(zoho, "GET", "/organizations", access, org_id=None)
    orgs = answer.json()["data"]
    assert [o["companyName"] for o in orgs] == ["Acme", "Globex"]
    assert all(isinstance(o["id"], str) for o in orgs) and orgs[0]["id"] == ORG
    assert orgs[0]["isDefault"] is True and orgs[0]["edition"] == "PROFESSIONAL"


def test_a_token_is_bound_to_the_portal_chosen_for_the_code(zoho):
    access, _ = connect(zoho)  # generated for Acme
    globex = next(o for o in zoho.orgs.values() if o.name == "Globex")
    mismatch = desk(zoho, "GET", "/myinfo", access, org_id=globex.id)
    assert mismatch.status_code == 403 and mismatch.json()["errorCode"] == "OAUTH_ORG_MISMATCH"
    assert desk(zoho, "GET", "/myinfo", access, org_id="123").json()["errorCode"] == "OAUTH_ORG_MISMATCH"
    missing = desk(zoho, "GET", "/myinfo", access, org_id=None)
    assert missing.status_code == 422 and missing.json()["errorCode"] == "UNPROCESSABLE_ENTITY"
    theirs, _ = connect(zoho, org_id=globex.id)
    assert desk(zoho, "GET", "/myinfo", theirs, org_id=globex.id).status_code == 200


def test_a_missing_scope_is_403_scope_mismatch(zoho):
    access, _ = connect(zoho, scopes="Desk.tickets.READ")
    ticket = zoho.add_ticket(ORG)
    assert desk(zoho, "GET", f"/tickets/{ticket['id']}", access).status_code == 200
    refused = desk(zoho, "GET", "/tickets/search", access, params={"subject": "x"})
    assert refused.status_code == 403 and refused.json()["errorCode"] == "SCOPE_MISMATCH"
    assert desk(zoho, "PATCH", f"/tickets/{ticket['id']}", access, json={"priority": "High"}).status_code == 403
    assert desk(zoho, "GET", "/organizationFields", access, params={"module": "tickets"}).status_code == 403
    assert desk(zoho, "GET", "/myinfo", access).status_code == 403  # Desk.basic.READ


def test_myinfo_and_agents(zoho):
    access, _ = connect(zoho)
    me = desk(zoho, "GET", "/myinfo", access).json()
    assert me["emailId"] == "ada@acme.test" and isinstance(me["id"], str) and me["roleId"]
    assert desk(zoho, "GET", f"/agents/{me['id']}", access).json()["name"] == "Ada Agent"
    assert desk(zoho, "GET", "/agents/1", access).json()["errorCode"] == "URL_NOT_FOUND"


# --- records ---------------------------------------------------------------------------------------------


def test_ticket_ids_counts_and_times_are_strings_with_milliseconds(zoho):
    access, _ = connect(zoho)
    zoho.add_field(
        ORG, "tickets", api_name="cf_severity", label="Severity", type="Picklist", allowed_values=["S1", "S2"]
    )
    ticket = zoho.add_ticket(ORG, subject="Broken", cf={"cf_severity": "S1"})
    body = desk(zoho, "GET", f"/tickets/{ticket['id']}", access).json()
    assert isinstance(body["id"], str) and body["threadCount"] == "1" and body["commentCount"] == "0"
    assert body["statusType"] == "Open" and body["cf"] == {"cf_severity": "S1"}
    assert body["customFields"] == {"Severity": "S1"}
    assert body["webUrl"].endswith(f"/support/acme/ShowHomePage.do#Cases/dv/{ticket['id']}")
    assert len(body["modifiedTime"]) == 24 and body["modifiedTime"].endswith("Z")
    assert desk(zoho, "GET", "/tickets/1892000000000001", access).json()["errorCode"] == "URL_NOT_FOUND"


def test_lists_omit_modified_time_and_cf_and_empty_lists_are_204(zoho):
    access, _ = connect(zoho)
    empty = desk(zoho, "GET", "/tickets", access)
    assert empty.status_code == 204 and empty.content == b""
    zoho.add_ticket(ORG)
    item = desk(zoho, "GET", "/tickets", access).json()["data"][0]
    assert "modifiedTime" not in item and "cf" not in item and "statusType" in item
    assert desk(zoho, "GET", "/tickets", access, params={"limit": 101}).json() == {
        "errorCode": "UNPROCESSABLE_ENTITY",
        "message": "The value passed for field 'limit' exceeds the range of '1-100'.",
    }
    extra = desk(zoho, "GET", "/tickets", access, params={"sortOrder": "desc"})
    assert extra.json()["message"] == "Extra query parameter 'sortOrder' is present in the input."
    assert desk(zoho, "GET", "/tickets", access, params={"sortBy": "modifiedTime"}).status_code == 422


def test_contracts_list_newest_modified_first_without_times_and_derive_their_status(zoho):
    access, _ = connect(zoho)
    old = zoho.add_record(ORG, "contracts", contractName="Old", startDate="2020-01-01", endDate="2021-01-01")
    zoho.advance(1)
    zoho.add_record(ORG, "contracts", contractName="Next", startDate="2999-01-01")
    zoho.advance(1)
    zoho.user_update(ORG, "contracts", old["id"], description="touched")
    rows = desk(zoho, "GET", "/contracts", access, params={"sortBy": "-modifiedTime"}).json()["data"]
    assert [r["contractName"] for r in rows] == ["Old", "Next"]
    assert "modifiedTime" not in rows[0] and "cf" not in rows[0]  # read a contract for those
    assert [r["contractStatus"] for r in rows] == ["EXPIRED", "FUTURE"]
    one = desk(zoho, "GET", f"/contracts/{old['id']}", access).json()
    assert "modifiedTime" in one and "cf" in one
    assert desk(zoho, "GET", "/contracts", access, params={"sortBy": "dueDate"}).status_code == 422
    refused = desk(zoho, "PATCH", f"/contracts/{old['id']}", access, json={"contractStatus": "ACTIVE"})
    assert refused.status_code == 422  # derived from the dates
    without = connect(zoho, scopes=[s for s in REQUIRED_SCOPES if not s.startswith("Desk.settings")])[0]
    assert desk(zoho, "GET", "/contracts", without).json()["errorCode"] == "SCOPE_MISMATCH"


def test_time_entries_per_agent_filtered_by_modified_time_and_ordered_by_executed_time(zoho):
    access, _ = connect(zoho)
    ticket = zoho.add_ticket(ORG)
    ada = zoho.agent_for(ORG, "ada@acme.test")
    bob = zoho.add_agent(ORG, name="Bob Agent", email="bob@acme.test")
    start = zoho.stamp()
    zoho.advance(1)
    late = zoho.add_time_entry(ORG, ticket["id"], executedTime="2026-01-02T10:00:00.000Z")
    early = zoho.add_time_entry(ORG, ticket["id"], executedTime="2026-01-01T10:00:00.000Z")
    zoho.add_time_entry(ORG, ticket["id"], owner_id=bob["id"])
    window = {"module": "tickets", "modifiedTimeRange": f"{start},{zoho.stamp()}"}
    rows = desk(zoho, "GET", f"/agents/{ada['id']}/timeEntry", access, params=window).json()["data"]
    assert [r["id"] for r in rows] == [early["id"], late["id"]]  # by executed time, not modified time
    assert rows[0]["parent"] == {
        "id": ticket["id"], "type": "TICKETS", "ticketNumber": ticket["ticketNumber"],
        "subject": ticket["subject"], "associatedTicketId": ticket["id"],
    }  # fmt: skip
    before = {"module": "tickets", "modifiedTimeRange": f"2020-01-01T00:00:00.000Z,{start}"}
    assert desk(zoho, "GET", f"/agents/{ada['id']}/timeEntry", access, params=before).status_code == 204
    ticket_window = {"modifiedTimeRange": window["modifiedTimeRange"]}
    per_ticket = desk(zoho, "GET", f"/tickets/{ticket['id']}/timeEntry", access, params=ticket_window).json()["data"]
    assert len(per_ticket) == 3
    bad = desk(zoho, "GET", f"/agents/{ada['id']}/timeEntry", access, params={"sortBy": "modifiedTime"})
    assert bad.status_code == 422


def test_patch_validates_allowed_values_and_cf_and_bumps_modified_time(zoho):
    access, _ = connect(zoho)
    zoho.add_field(
        ORG, "tickets", api_name="cf_severity", label="Severity", type="Picklist", allowed_values=["S1", "S2"]
    )
    ticket = zoho.add_ticket(ORG)
    path = f"/tickets/{ticket['id']}"
    bad = desk(zoho, "PATCH", path, access, json={"status": "Solved", "cf": {"cf_severity": "S9", "cf_nope": "x"}})
    assert bad.status_code == 422 and bad.json()["errorCode"] == "INVALID_DATA"
    assert {e["fieldName"] for e in bad.json()["errors"]} == {"/status", "/cf/cf_severity", "/cf/cf_nope"}
    before = ticket["modifiedTime"]
    zoho.advance(5)
    good = desk(zoho, "PATCH", path, access, json={"status": "On Hold", "cf": {"cf_severity": "S2"}}).json()
    assert good["statusType"] == "On Hold" and good["cf"]["cf_severity"] == "S2"
    assert good["modifiedTime"] > before and good["onholdTime"]
    assert zoho.events[-1]["by"] == "api"


def test_create_ticket_needs_department_and_contact(zoho):
    access, _ = connect(zoho)
    missing = desk(zoho, "POST", "/tickets", access, json={"subject": "Hello"})
    assert missing.status_code == 422
    assert {(e["fieldName"], e["errorType"]) for e in missing.json()["errors"]} == {
        ("/departmentId", "missing"),
        ("/contactId", "missing"),
    }
    department = zoho.default_department(ORG)["id"]
    made = desk(
        zoho,
        "POST",
        "/tickets",
        access,
        json={"subject": "Hello", "departmentId": department, "contact": {"lastName": "Lee", "email": "l@x.io"}},
    )
    assert made.status_code == 200 and made.json()["ticketNumber"] == "101" and made.json()["contactId"]


def test_created_records_have_string_ids_times_and_no_seeded_values(zoho):
    access, _ = connect(zoho)
    department = zoho.default_department(ORG)["id"]
    contact = desk(zoho, "POST", "/contacts", access, json={"lastName": "Lee", "email": "lee@x.io"}).json()
    assert isinstance(contact["id"], str) and contact["createdTime"] == contact["modifiedTime"]
    assert contact["createdTime"].endswith("Z") and len(contact["createdTime"]) == 24
    ticket = desk(
        zoho, "POST", "/tickets", access, json={"subject": "Hi", "departmentId": department, "contactId": contact["id"]}
    ).json()
    assert ticket["description"] is None and ticket["contactId"] == contact["id"]  # nothing made up
    account = desk(zoho, "POST", "/accounts", access, json={"accountName": "Globex", "website": "globex.test"}).json()
    assert account["accountName"] == "Globex" and isinstance(account["id"], str)
    task = desk(zoho, "POST", "/tasks", access, json={"subject": "Call back", "departmentId": department}).json()
    assert task["status"] == "Not Started"
    assert [e["by"] for e in zoho.events[-4:]] == ["api"] * 4


def test_contacts_may_share_an_email_address(zoho):
    access, _ = connect(zoho)
    first = desk(zoho, "POST", "/contacts", access, json={"lastName": "Lee", "email": "lee@x.io"}).json()
    second = desk(zoho, "POST", "/contacts", access, json={"lastName": "Lee", "email": "lee@x.io"}).json()
    assert first["id"] != second["id"]  # Zoho does not refuse them (it offers deduplication instead)


@pytest.mark.parametrize(
    ("module", "body", "missing"),
    [
        ("contacts", {"email": "a@b.io"}, {"/lastName"}),
        ("accounts", {"website": "a.io"}, {"/accountName"}),
        ("tasks", {"subject": "x"}, {"/departmentId"}),
        (
            "calls",
            {"subject": "x"},
            {"/departmentId", "/startTime", "/direction", "/duration", "/status", "/contactId"},
        ),
        ("events", {"subject": "x"}, {"/departmentId", "/startTime", "/duration", "/contactId"}),
    ],
)
def test_a_create_without_its_mandatory_fields_is_422_invalid_data_naming_them(zoho, module, body, missing):
    access, _ = connect(zoho)
    refused = desk(zoho, "POST", f"/{module}", access, json=body)
    assert refused.status_code == 422
    answer = refused.json()
    assert answer["errorCode"] == "INVALID_DATA" and answer["message"]
    assert {e["fieldName"] for e in answer["errors"]} == missing
    assert {e["errorType"] for e in answer["errors"]} == {"missing"}
    assert not zoho.orgs[ORG].records[module]


def test_creating_contacts_and_accounts_needs_the_contacts_create_scope(zoho):
    without = [s for s in REQUIRED_SCOPES if s != "Desk.contacts.CREATE"]
    access = connect(zoho, scopes=without)[0]
    for module, body in (("contacts", {"lastName": "Lee"}), ("accounts", {"accountName": "Globex"})):
        refused = desk(zoho, "POST", f"/{module}", access, json=body)
        assert refused.status_code == 403 and refused.json()["errorCode"] == "SCOPE_MISMATCH", module
    assert desk(zoho, "GET", "/contacts", access).status_code == 204  # reading still works
    for grant in ("Desk.contacts.WRITE", "Desk.contacts.ALL"):
        access = connect(zoho, scopes=[*without, grant])[0]
        assert desk(zoho, "POST", "/contacts", access, json={"lastName": "Lee"}).status_code == 200, grant


def test_user_update_bumps_modified_time(zoho):
    ticket = zoho.add_ticket(ORG)
    zoho.advance(2)
    zoho.user_update(ORG, "tickets", ticket["id"], status="Closed")
    assert ticket["statusType"] == "Closed" and ticket["closedTime"] and ticket["modifiedTime"] > ticket["createdTime"]
    assert zoho.events[-1] == {**zoho.events[-1], "type": "updated", "by": "user"}


def test_organization_fields_lists_system_and_custom_fields(zoho):
    access, _ = connect(zoho)
    zoho.add_field(ORG, "contacts", api_name="cf_tier", label="Tier", type="Picklist", allowed_values=["Gold"])
    fields = desk(zoho, "GET", "/organizationFields", access, params={"module": "tickets"}).json()["data"]
    status = next(f for f in fields if f["apiName"] == "status")
    assert status["allowedValues"] == ["Open", "On Hold", "Escalated", "Closed"] and not status["isCustomField"]
    contact_fields = desk(zoho, "GET", "/organizationFields", access, params={"module": "contacts"}).json()["data"]
    assert any(f["apiName"] == "cf_tier" and f["isCustomField"] for f in contact_fields)
    assert desk(zoho, "GET", "/organizationFields", access, params={"module": "nope"}).status_code == 422


# --- search --------------------------------------------------------------------------------------------


def test_search_by_modified_time_pages_sorts_and_caps(zoho):
    access, _ = connect(zoho)
    start = zoho.stamp()
    tickets = []
    for n in range(5):
        zoho.advance(1)
        tickets.append(zoho.add_ticket(ORG, subject=f"T{n}"))
    end = tickets[-1]["modifiedTime"]
    params = {"modifiedTimeRange": f"{start},{end}", "sortBy": "modifiedTime", "limit": 2}
    first = desk(zoho, "GET", "/tickets/search", access, params=params).json()
    assert first["count"] == "5" and [t["subject"] for t in first["data"]] == ["T0", "T1"]
    assert "modifiedTime" in first["data"][0] and "cf" in first["data"][0]
    third = desk(zoho, "GET", "/tickets/search", access, params={**params, "from": 4}).json()
    assert [t["subject"] for t in third["data"]] == ["T4"]  # the upper bound is inclusive
    newest = desk(zoho, "GET", "/tickets/search", access, params={**params, "sortBy": "-modifiedTime"}).json()
    assert newest["data"][0]["subject"] == "T4"
    after = desk(zoho, "GET", "/tickets/search", access, params={**params, "from": 5})
    assert after.status_code == 204 and after.content == b""
    for bad in ({"limit": 101}, {"from": 5000}, {"modifiedTimeRange": "2024-01-01,2024-01-02"}, {"sortOrder": "asc"}):
        refused = desk(zoho, "GET", "/tickets/search", access, params={**params, **bad})
        assert refused.status_code == 422 and refused.json()["errorCode"] == "UNPROCESSABLE_ENTITY", bad


def test_search_text_filters_wildcards_and_all(zoho):
    access, _ = connect(zoho)
    zoho.add_ticket(ORG, subject="Printer jam")
    zoho.add_ticket(ORG, subject="Scanner jam")
    exact = desk(zoho, "GET", "/tickets/search", access, params={"subject": "printer jam"}).json()
    assert [t["subject"] for t in exact["data"]] == ["Printer jam"]
    assert desk(zoho, "GET", "/tickets/search", access, params={"subject": "jam"}).status_code == 204
    assert desk(zoho, "GET", "/tickets/search", access, params={"subject": "*jam"}).json()["count"] == "2"
    conflict = desk(zoho, "GET", "/tickets/search", access, params={"_all": "jam", "subject": "x"})
    assert conflict.status_code == 422
    contact = zoho.add_contact(ORG, firstName="Grace", lastName="Hopper", email="grace@navy.mil")
    found = desk(zoho, "GET", "/contacts/search", access, params={"email": "grace@navy.mil"}).json()
    assert found["data"][0]["id"] == contact["id"]
    assert desk(zoho, "GET", "/contracts/search", access).status_code == 404


def test_search_by_custom_field_exact_wildcard_and_empty(zoho):
    access, _ = connect(zoho)
    zoho.add_field(ORG, "tickets", api_name="cf_jira", label="Jira issue")
    tagged = zoho.add_ticket(ORG, cf={"cf_jira": "deskbridge-abc-10001-1"})
    zoho.add_ticket(ORG, cf={"cf_jira": "deskbridge-abc-10001-12"})
    untagged = zoho.add_ticket(ORG)

    def ids(value, name="customField1"):
        answer = desk(zoho, "GET", "/tickets/search", access, params={name: value})
        return [] if answer.status_code == 204 else sorted(t["id"] for t in answer.json()["data"])

    assert ids("cf_jira:deskbridge-abc-10001-1") == [tagged["id"]]  # exact: not the -12 one
    assert ids("cf_jira:DESKBRIDGE-ABC-10001-1", "customField3") == [tagged["id"]]  # case-insensitive
    assert len(ids("cf_jira:deskbridge-abc-10001-1*")) == 2
    assert ids("cf_jira:${empty}") == [untagged["id"]]
    assert len(ids("cf_jira:${notempty}")) == 2
    for bad in ("cf_jira", "cf_nope:x", "subject:x"):
        refused = desk(zoho, "GET", "/tickets/search", access, params={"customField1": bad})
        assert refused.status_code == 422 and refused.json()["errorCode"] == "UNPROCESSABLE_ENTITY", bad
    both = desk(zoho, "GET", "/tickets/search", access, params={"customField1": "cf_jira:x", "_all": "x"})
    assert both.status_code == 422
    eleventh = desk(zoho, "GET", "/tickets/search", access, params={"customField11": "cf_jira:x"})
    assert eleventh.status_code == 422


def test_accounts_are_searched_by_name_not_by_website(zoho):
    access, _ = connect(zoho)
    globex = zoho.add_account(ORG, accountName="Globex Corp", website="https://www.globex.test")
    found = desk(zoho, "GET", "/accounts/search", access, params={"accountName": "globex corp"}).json()
    assert [a["id"] for a in found["data"]] == [globex["id"]]
    for name in ("website", "email", "phone"):
        refused = desk(zoho, "GET", "/accounts/search", access, params={name: "globex.test"})
        assert refused.status_code == 422 and "Extra query parameter" in refused.json()["message"], name
    everywhere = desk(zoho, "GET", "/accounts/search", access, params={"_all": "globex.test"}).json()
    assert [a["id"] for a in everywhere["data"]] == [globex["id"]]


def test_search_shows_new_records_late_and_the_newest_first_list_at_once(zoho):
    access, _ = connect(zoho)
    zoho.search_lag_seconds = 30
    old = zoho.add_contact(ORG, lastName="Old", email="old@x.io")
    zoho.advance(60)
    new = desk(zoho, "POST", "/contacts", access, json={"lastName": "New", "email": "new@x.io"}).json()
    assert desk(zoho, "GET", "/contacts/search", access, params={"email": "new@x.io"}).status_code == 204
    assert (
        desk(zoho, "GET", "/contacts/search", access, params={"email": "old@x.io"}).json()["data"][0]["id"]
        == (old["id"])
    )
    rows = desk(zoho, "GET", "/contacts", access, params={"sortBy": "-createdTime"}).json()["data"]
    assert [r["id"] for r in rows] == [new["id"], old["id"]]
    assert rows[0]["email"] == "new@x.io" and "cf" not in rows[0] and "modifiedTime" not in rows[0]
    zoho.advance(31)
    assert desk(zoho, "GET", "/contacts/search", access, params={"email": "new@x.io"}).json()["count"] == "1"


# --- comments, threads, attachments ----------------------------------------------------------------------


def test_comments_with_uploads_and_the_content_cap(zoho):
    access, _ = connect(zoho)
    ticket = zoho.add_ticket(ORG)
    path = f"/tickets/{ticket['id']}/comments"
    assert desk(zoho, "GET", path, access).status_code == 204
    upload = desk(zoho, "POST", "/uploads", access, files={"file": ("log.txt", b"hello", "text/plain")}).json()
    assert upload["name"] == "log.txt" and upload["size"] == "5"
    made = desk(
        zoho,
        "POST",
        path,
        access,
        json={"content": "<b>Hi</b>", "contentType": "html", "isPublic": False, "attachmentIds": [upload["id"]]},
    )
    comment = made.json()
    assert made.status_code == 200 and comment["isPublic"] is False and comment["commenter"]["type"] == "AGENT"
    assert comment["attachments"][0]["name"] == "log.txt"
    download = desk(zoho, "GET", comment["attachments"][0]["href"].split("/api/v1", 1)[1], access)
    assert download.content == b"hello" and zoho.downloads[-1]["name"] == "log.txt"
    assert requests.get(comment["attachments"][0]["href"], timeout=5).status_code == 401  # needs the headers
    zoho.advance(1)
    zoho.add_comment(ORG, "tickets", ticket["id"], content="Later", is_public=True)
    newest_first = [c["content"] for c in desk(zoho, "GET", path, access).json()["data"]]
    oldest_first = [
        c["content"] for c in desk(zoho, "GET", path, access, params={"sortBy": "commentedTime"}).json()["data"]
    ]
    assert newest_first == ["Later", "<b>Hi</b>"] and oldest_first == ["<b>Hi</b>", "Later"]
    too_long = desk(zoho, "POST", path, access, json={"content": "x" * 32001})
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["fieldName"] == "/content"
    reused = desk(zoho, "POST", path, access, json={"content": "again", "attachmentIds": [upload["id"]]})
    assert reused.status_code == 422


def test_comments_on_other_modules_have_no_visibility(zoho):
    access, _ = connect(zoho)
    contact = zoho.add_contact(ORG, lastName="Lee")
    path = f"/contacts/{contact['id']}/comments"
    assert desk(zoho, "POST", path, access, json={"content": "note", "isPublic": True}).status_code == 422
    made = desk(zoho, "POST", path, access, json={"content": "note"}).json()
    assert "isPublic" not in made and made["content"] == "note"


def test_comments_do_not_move_modified_time_unless_configured(zoho):
    ticket = zoho.add_ticket(ORG)
    before = ticket["modifiedTime"]
    zoho.advance(1)
    zoho.add_comment(ORG, "tickets", ticket["id"], content="internal", is_public=False)
    assert ticket["modifiedTime"] == before
    zoho.activity_bumps_modified_time = True
    zoho.advance(1)
    zoho.add_comment(ORG, "tickets", ticket["id"], content="internal", is_public=False)
    assert ticket["modifiedTime"] > before


def test_threads_list_and_detail_with_attachments(zoho):
    access, _ = connect(zoho)
    ticket = zoho.add_ticket(ORG, description="<p>It broke</p>")
    zoho.user_update(ORG, "tickets", ticket["id"], status="On Hold")
    zoho.advance(1)
    reply = zoho.add_thread(
        ORG, ticket["id"], content="<p>Still broken</p>", attachments=[("a.png", b"PNG", "image/png")]
    )
    assert ticket["status"] == "Open"  # a customer reply puts an On Hold ticket back to Open
    threads = desk(zoho, "GET", f"/tickets/{ticket['id']}/threads", access).json()["data"]
    assert [t["isDescriptionThread"] for t in threads] == [False, True]  # newest first
    assert threads[0]["hasAttach"] is True and threads[0]["attachmentCount"] == "1" and "content" not in threads[0]
    detail = desk(zoho, "GET", f"/tickets/{ticket['id']}/threads/{reply['id']}", access).json()
    assert detail["content"] == "<p>Still broken</p>" and detail["attachments"][0]["size"] == "3"
    assert detail["author"]["type"] == "END_USER"


def test_ticket_attachments_upload_and_list(zoho):
    access, _ = connect(zoho)
    ticket = zoho.add_ticket(ORG)
    path = f"/tickets/{ticket['id']}/attachments"
    assert desk(zoho, "GET", path, access).status_code == 204
    made = desk(
        zoho, "POST", path, access, params={"isPublic": "true"}, files={"file": ("r.pdf", b"%PDF", "application/pdf")}
    )
    assert made.status_code == 200 and made.json()["isPublic"] is True
    listed = desk(zoho, "GET", path, access).json()["data"]
    assert [(a["name"], a["size"]) for a in listed] == [("r.pdf", "4")]
    assert desk(zoho, "POST", path, access, data={"x": "y"}).status_code == 422  # no file part


# --- credits and concurrency -------------------------------------------------------------------------------


def test_daily_credit_formula():
    assert daily_credits("professional", 10) == 80_000
    assert daily_credits("enterprise", 10) == 110_000


def test_calls_spend_credits_and_a_spent_budget_is_threshold_exceeded(zoho):
    org = zoho.orgs[ORG]
    org.daily_credits_override = 10
    access, _ = connect(zoho)
    ticket = zoho.add_ticket(ORG)
    one = desk(zoho, "GET", f"/tickets/{ticket['id']}", access)
    assert one.headers["X-Rate-Limit-Request-Weight-v3"] == "1" and org.credits_used == 1
    search = desk(zoho, "GET", "/tickets/search", access, params={"subject": "*"})
    assert (
        search.headers["X-Rate-Limit-Request-Weight-v3"] == "3" and search.headers["X-Rate-Limit-Remaining-v3"] == "6"
    )
    for _ in range(6):
        assert desk(zoho, "GET", "/myinfo", access).status_code == 200
    spent = desk(zoho, "GET", "/myinfo", access)
    assert spent.status_code == 429 and spent.json()["errorCode"] == "THRESHOLD_EXCEEDED"
    assert int(spent.headers["Retry-After"]) > 0
    zoho.advance(86400)
    access, _ = connect(zoho)  # the old access token expired meanwhile
    assert org.credits_used == 0 and desk(zoho, "GET", "/myinfo", access).status_code == 200


def test_injected_threshold_and_concurrency_refusals(zoho):
    access, _ = connect(zoho)
    zoho.threshold_exceeded_next(ORG)
    assert desk(zoho, "GET", "/myinfo", access).json()["errorCode"] == "THRESHOLD_EXCEEDED"
    zoho.too_many_requests_next(1)
    busy = desk(zoho, "GET", "/myinfo", access)
    assert busy.status_code == 429 and busy.json()["errorCode"] == "TOO_MANY_REQUESTS"
    assert "Retry-After" not in busy.headers
    assert desk(zoho, "GET", "/myinfo", access).status_code == 200


def test_real_concurrency_limit(zoho):
    access, _ = connect(zoho)
    zoho.orgs[ORG].concurrency = 1
    zoho.add_latency(0.3, path="/myinfo")
    statuses: list[int] = []

    def call():
        statuses.append(desk(zoho, "GET", "/myinfo", access).status_code)

    workers = [threading.Thread(target=call) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(statuses) == [200, 429]


def test_a_held_create_is_made_at_once_and_answered_on_release(zoho):
    access, _ = connect(zoho)
    department = zoho.default_department(ORG)["id"]
    contact = desk(zoho, "POST", "/contacts", access, json={"lastName": "Lee", "email": "lee@x.io"}).json()
    body = {"subject": "Held", "departmentId": department, "contactId": contact["id"]}
    zoho.hold_create_answers("tickets", n=1)
    refused = desk(zoho, "POST", "/tickets", access, json={"subject": "No department"})
    assert refused.status_code == 422 and zoho.held_creates == []  # a refusal is answered and holds nothing
    with pytest.raises(requests.ReadTimeout):  # a caller that gives up (or dies) never hears of the ticket
        requests.post(
            zoho.desk_url("us") + "/api/v1/tickets",
            json=body,
            headers={"Authorization": f"Zoho-oauthtoken {access}", "orgId": ORG},
            timeout=(5, 0.5),
        )
    [held] = zoho.held_creates
    assert held["module"] == "tickets" and zoho.orgs[ORG].records["tickets"][held["id"]]["subject"] == "Held"
    waiting: list[requests.Response] = []
    second = threading.Thread(target=lambda: waiting.append(desk(zoho, "POST", "/tickets", access, json=body)))
    zoho.hold_create_answers("tickets", n=1)
    second.start()
    deadline = time.monotonic() + 5
    while len(zoho.held_creates) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(zoho.held_creates) == 2 and second.is_alive()  # made, its answer still held
    zoho.release_create_answers()
    second.join(5)
    assert waiting[0].status_code == 200 and waiting[0].json()["id"] == zoho.held_creates[1]["id"]
    assert desk(zoho, "POST", "/tickets", access, json=body).status_code == 200  # no hold left: answered at once
    assert len(zoho.held_creates) == 2 and len(zoho.orgs[ORG].records["tickets"]) == 3


# --- the recycle bin ---------------------------------------------------------------------------------------


def test_a_deleted_record_waits_in_the_recycle_bin_and_is_gone_elsewhere(zoho):
    import re

    access, _ = connect(zoho)
    ticket = zoho.add_ticket(ORG, subject="Printer on fire")
    contact = zoho.add_contact(ORG, lastName="Lovelace", email="ada@example.com")
    zoho.advance(1)
    entry = zoho.delete_record(ORG, "tickets", ticket["id"])
    zoho.advance(1)
    zoho.delete_record(ORG, "contacts", contact["id"])

    assert desk(zoho, "GET", f"/tickets/{ticket['id']}", access).status_code == 404
    assert desk(zoho, "PATCH", f"/tickets/{ticket['id']}", access, json={"subject": "x"}).status_code == 404
    assert desk(zoho, "GET", f"/tickets/{ticket['id']}/comments", access).status_code == 404
    assert desk(zoho, "GET", "/tickets", access).status_code == 204
    assert desk(zoho, "GET", "/tickets/search", access, params={"subject": "Printer*"}).status_code == 204

    listed = desk(zoho, "GET", "/recycleBin", access, params={"sortBy": "-deletedTime", "from": 0, "limit": 50})
    assert listed.status_code == 200
    assert listed.headers["X-Rate-Limit-Request-Weight-v3"] == "3"  # a range fetch
    rows = listed.json()["data"]
    assert [(r["id"], r["type"]) for r in rows] == [(contact["id"], "Contacts"), (ticket["id"], "Tickets")]
    assert rows[1] == entry
    assert set(rows[1]) == {"displayName", "departmentId", "deletedById", "id", "type", "deletedTime"}
    assert rows[1]["displayName"] == "Printer on fire" and rows[1]["deletedById"] == next(iter(zoho.orgs[ORG].agents))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rows[1]["deletedTime"])
    assert rows[0]["deletedTime"] > rows[1]["deletedTime"]
    # No sortBy: the order they were deleted in; module and include filter and enrich.
    oldest_first = desk(zoho, "GET", "/recycleBin", access).json()["data"]
    assert [r["id"] for r in oldest_first] == [ticket["id"], contact["id"]]
    only = desk(zoho, "GET", "/recycleBin", access, params={"module": "tickets", "include": "deletedBy"}).json()
    assert [r["id"] for r in only["data"]] == [ticket["id"]]
    assert only["data"][0]["deletedBy"]["email"] == "ada@acme.test"


def test_the_recycle_bin_refuses_what_zoho_refuses(zoho):
    access, _ = connect(zoho)
    zoho.delete_record(ORG, "tickets", zoho.add_ticket(ORG)["id"])
    for params in ({"limit": 51}, {"limit": 0}, {"sortBy": "modifiedTime"}, {"moduleId": "1"}, {"module": "deals"}):
        refused = desk(zoho, "GET", "/recycleBin", access, params=params)
        assert (refused.status_code, refused.json()["errorCode"]) == (422, "UNPROCESSABLE_ENTITY"), params
    narrow, _ = connect(zoho, scopes="Desk.tickets.READ,Desk.basic.READ")
    no_scope = desk(zoho, "GET", "/recycleBin", narrow)
    assert (no_scope.status_code, no_scope.json()["errorCode"]) == (403, "SCOPE_MISMATCH")
    zoho.refuse_recycle_bin()
    forbidden = desk(zoho, "GET", "/recycleBin", access)
    assert (forbidden.status_code, forbidden.json()["errorCode"]) == (403, "FORBIDDEN")
    zoho.refuse_recycle_bin(False)
    assert desk(zoho, "GET", "/recycleBin", access).status_code == 200


def test_a_restored_record_is_back_as_it_was(zoho):
    access, _ = connect(zoho)
    ticket = zoho.add_ticket(ORG, subject="Printer on fire")
    modified = desk(zoho, "GET", f"/tickets/{ticket['id']}", access).json()["modifiedTime"]
    zoho.delete_record(ORG, "tickets", ticket["id"])
    zoho.advance(60)

    answer = desk(zoho, "POST", "/recycleBin/restore", access, json={"ids": [ticket["id"], "123"]})

    assert answer.status_code == 200
    assert answer.json()["results"] == [
        {"success": True, "id": ticket["id"], "errors": None},
        {
            "success": False,
            "id": "123",
            "errors": {"errorMessage": None, "errorCode": "UNPROCESSABLE_ENTITY", "httpCode": "422"},
        },
    ]
    back = desk(zoho, "GET", f"/tickets/{ticket['id']}", access).json()
    assert back["subject"] == "Printer on fire" and back["modifiedTime"] == modified
    assert desk(zoho, "GET", "/recycleBin", access).status_code == 204
    assert [e["type"] for e in zoho.events if e["id"] == ticket["id"]] == ["created", "deleted", "restored"]
    # Where a restore moves modifiedTime (unverified), the fake can be told so.
    zoho.restore_bumps_modified_time = True
    zoho.delete_record(ORG, "tickets", ticket["id"])
    zoho.restore_record(ORG, ticket["id"])
    assert desk(zoho, "GET", f"/tickets/{ticket['id']}", access).json()["modifiedTime"] > modified

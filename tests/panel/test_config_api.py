"""The configuration REST API (/api/v1/…): connections, SCIs, schema introspection and tenant API tokens,
authenticated by a tenant API token or a Jira admin's context JWT; every error in the one shape."""

from __future__ import annotations

import hashlib
import re
import types

import pytest
from django.core.cache.backends import locmem

from connector.models import ConnectedItem, HelpdeskConnection
from tenants.models import ApiToken, Tenant
from tests.conftest import ADMIN_ACCOUNT, USER_ACCOUNT, ZD_EMAIL, ZD_SUBDOMAIN, ZD_TOKEN

pytestmark = pytest.mark.django_db

CONNECT = {"subdomain": ZD_SUBDOMAIN, "email": ZD_EMAIL, "api_token": ZD_TOKEN}
DISPLAY_ITEM = {
    "name": "Customers",
    "mode": "display",
    "jira_project": "SUP",
    "helpdesk_object": "user",
    "display_fields": ["name", "email"],
}


def assert_error(response, status: int, code: str) -> dict:
    """The one error shape: exactly code, message and extra; a non-empty message."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "extra"}, body
    assert body["code"] == code, body
    assert isinstance(body["extra"], dict) and body["message"].strip()
    return body


# --- connections ---------------------------------------------------------------------------------------


def test_connect_validates_against_zendesk_and_returns_the_summary(bearer, zendesk, project):
    response = bearer.post("/api/v1/connections", CONNECT)
    assert response.status_code == 201, response.content
    body = response.json()
    agent = next(u for u in zendesk.accounts[ZD_SUBDOMAIN].users.values() if u["email"] == ZD_EMAIL)
    assert body["subdomain"] == "acme" and body["provider"] == "zendesk"
    assert (body["agent_email"], body["agent_name"], body["agent_id"]) == (ZD_EMAIL, "Ada Agent", str(agent["id"]))
    assert body["status"] == "connected" and body["token_stored"] is True
    assert "api_token" not in body and ZD_TOKEN not in response.content.decode()
    assert zendesk.calls("GET", r"/zd/acme/api/v2/users/me\.json$")

    listed = bearer.get("/api/v1/connections").json()
    assert [c["id"] for c in listed] == [body["id"]]
    detail = bearer.get(f"/api/v1/connections/{body['id']}").json()
    assert detail["agent_name"] == "Ada Agent" and detail["token_stored"] is True


def test_connect_accepts_a_pasted_zendesk_url(bearer, zendesk, project):
    response = bearer.post("/api/v1/connections", {**CONNECT, "subdomain": "https://acme.zendesk.com/agent/"})
    assert response.status_code == 201 and response.json()["subdomain"] == "acme"


def _end_user(zendesk):
    zendesk.add_user(ZD_SUBDOMAIN, name="Carl Customer", email="carl@acme.test", role="end-user")


CONNECT_ERRORS = {
    "wrong_token": (None, {"api_token": "not-the-token"}, 400, "helpdesk_auth_failed", "api_token", "API token"),
    "unknown_email": (None, {"email": "nobody@acme.test"}, 400, "helpdesk_auth_failed", "api_token", "email"),
    "end_user": (_end_user, {"email": "carl@acme.test"}, 400, "helpdesk_not_agent", "email", "not an agent"),
    "no_such_account": (None, {"subdomain": "nosuchco"}, 400, "helpdesk_not_found", "subdomain", "subdomain"),
    "bad_subdomain": (None, {"subdomain": "acme_co!"}, 400, "subdomain_invalid", "subdomain", ".zendesk.com"),
    "rate_limited": (
        lambda z: z.rate_limit_next(1, retry_after=42),
        {},
        429,
        "helpdesk_rate_limited",
        None,
        "42 seconds",
    ),
    "zendesk_403": (
        lambda z: z.fail_next(403, {"error": "Forbidden"}, path=r"users/me"),
        {},
        400,
        "helpdesk_forbidden",
        None,
        "agent or admin",
    ),
    "zendesk_500": (
        lambda z: z.fail_next(500, "oops", path=r"users/me"),
        {},
        502,
        "helpdesk_unreachable",
        None,
        "Try again",
    ),
}


@pytest.mark.parametrize("case", sorted(CONNECT_ERRORS))
def test_connect_errors_are_clear_and_save_nothing(bearer, zendesk, project, case):
    setup, override, status, code, field, words = CONNECT_ERRORS[case]
    if setup:
        setup(zendesk)
    body = assert_error(bearer.post("/api/v1/connections", {**CONNECT, **override}), status, code)
    assert words in body["message"]
    if field:
        assert body["extra"]["fields"][field]
    assert not HelpdeskConnection.objects.exists()


def test_connect_with_missing_fields_lists_them(bearer, zendesk, project):
    body = assert_error(bearer.post("/api/v1/connections", {"subdomain": "acme"}), 400, "validation_failed")
    assert set(body["extra"]["fields"]) == {"email", "api_token"}
    assert not zendesk.calls()


def test_revoke_forgets_credentials_and_pauses_items_reconnect_restores(bearer, connection):
    item_id = bearer.post("/api/v1/items", DISPLAY_ITEM).json()["item"]["id"]
    response = bearer.post(f"/api/v1/connections/{connection.pk}/revoke")
    assert response.status_code == 200
    assert response.json()["status"] == "revoked" and response.json()["token_stored"] is False
    assert response.json()["revoked_at"]
    assert HelpdeskConnection.objects.get().secret() == {}
    assert bearer.get(f"/api/v1/items/{item_id}").json()["is_paused"] is True
    # nothing can be configured against a revoked connection
    assert_error(bearer.post("/api/v1/items", {**DISPLAY_ITEM, "name": "Other"}), 409, "helpdesk_not_connected")
    assert_error(bearer.get("/api/v1/schema/helpdesk/ticket/fields"), 409, "helpdesk_not_connected")

    again = bearer.post("/api/v1/connections", CONNECT)
    assert again.status_code == 201 and again.json()["id"] == connection.pk
    assert again.json()["status"] == "connected" and again.json()["revoked_at"] is None
    assert bearer.get(f"/api/v1/items/{item_id}").json()["is_paused"] is False


# --- SCIs CRUD -----------------------------------------------------------------------------------------


def test_item_crud(bearer, connection):
    created = bearer.post("/api/v1/items", DISPLAY_ITEM)
    assert created.status_code == 201, created.content
    item = created.json()["item"]
    assert created.json()["warnings"] == []
    assert re.fullmatch(r"[0-9a-f]{32}", item["external_id"])
    assert item["jira_project_key"] == "SUP" and item["jira_project_id"] == "10000"
    assert item["helpdesk_object_label"] == "Customers" and item["mode_label"] == "Display only"
    assert item["display_fields"] == ["name", "email"] and item["connection"] == connection.pk

    assert [i["id"] for i in bearer.get("/api/v1/items").json()] == [item["id"]]
    assert bearer.get(f"/api/v1/items/{item['id']}").json()["name"] == "Customers"

    put = bearer.put(f"/api/v1/items/{item['id']}", {**DISPLAY_ITEM, "name": "Requesters", "display_fields": ["name"]})
    assert put.status_code == 200, put.content
    assert put.json()["item"]["name"] == "Requesters" and put.json()["item"]["display_fields"] == ["name"]
    assert put.json()["item"]["external_id"] == item["external_id"]

    patch = bearer.patch(f"/api/v1/items/{item['id']}", {"display_fields": ["email", "phone"]})
    assert patch.status_code == 200, patch.content
    assert patch.json()["item"]["name"] == "Requesters"  # untouched by the partial update
    assert patch.json()["item"]["display_fields"] == ["email", "phone"]

    assert bearer.delete(f"/api/v1/items/{item['id']}").status_code == 204
    assert_error(bearer.get(f"/api/v1/items/{item['id']}"), 404, "not_found")
    assert not ConnectedItem.objects.exists()


def test_item_names_are_unique_per_tenant(bearer, connection):
    assert bearer.post("/api/v1/items", DISPLAY_ITEM).status_code == 201
    body = assert_error(bearer.post("/api/v1/items", DISPLAY_ITEM), 400, "name_taken")
    assert "Customers" in body["message"]
    assert body["extra"]["errors"] == [{"code": "name_taken", "field": "name", "message": body["message"]}]
    assert body["extra"]["fields"] == {"name": [body["message"]]}


def test_item_shape_errors_name_the_fields(bearer, connection):
    body = assert_error(bearer.post("/api/v1/items", {"mode": "sometimes"}), 400, "validation_failed")
    assert {"name", "mode", "jira_project", "helpdesk_object"} <= set(body["extra"]["fields"])
    assert not ConnectedItem.objects.exists()


def test_item_needs_a_connection(bearer, tenant, project):
    body = assert_error(bearer.post("/api/v1/items", DISPLAY_ITEM), 409, "helpdesk_not_connected")
    assert "admin page" in body["message"]


def test_unknown_project_is_refused(bearer, connection):
    body = assert_error(
        bearer.post("/api/v1/items", {**DISPLAY_ITEM, "jira_project": "NOPE"}), 400, "project_not_found"
    )
    assert "NOPE" in body["message"]


# --- schema introspection ------------------------------------------------------------------------------


def test_helpdesk_fields_of_each_object(bearer, connection, zendesk):
    zendesk.add_ticket_field(ZD_SUBDOMAIN, "Impact", "tagger", options=["High impact", "Low impact"])
    zendesk.add_user_field(ZD_SUBDOMAIN, "plan", "Plan", "dropdown", options=["Gold", "Silver"])
    zendesk.add_organization_field(ZD_SUBDOMAIN, "tier", "Tier")

    tickets = {f["label"]: f for f in bearer.get("/api/v1/schema/helpdesk/ticket/fields").json()}
    assert {"Subject", "Description", "Priority", "Tags", "Impact"} <= set(tickets)
    assert tickets["Impact"]["type"] == "dropdown" and tickets["Impact"]["system"] is False
    assert tickets["Impact"]["options"] == [
        {"value": "high_impact", "label": "High impact"},
        {"value": "low_impact", "label": "Low impact"},
    ]
    assert [o["value"] for o in tickets["Priority"]["options"]] == ["low", "normal", "high", "urgent"]

    users = {f["id"]: f for f in bearer.get("/api/v1/schema/helpdesk/user/fields").json()}
    assert users["user_field:plan"]["options"] == [
        {"value": "gold", "label": "Gold"},
        {"value": "silver", "label": "Silver"},
    ]
    orgs = {f["id"] for f in bearer.get("/api/v1/schema/helpdesk/organization/fields").json()}
    assert {"name", "domain_names", "organization_field:tier"} <= orgs

    assert_error(bearer.get("/api/v1/schema/helpdesk/widget/fields"), 404, "not_found")


def test_helpdesk_fields_are_cached_until_refresh(bearer, connection, zendesk):
    url = "/api/v1/schema/helpdesk/ticket/fields"
    assert "Region" not in {f["label"] for f in bearer.get(url).json()}
    zendesk.add_ticket_field(ZD_SUBDOMAIN, "Region", "text")
    calls = len(zendesk.calls("GET", r"ticket_fields\.json$"))
    assert "Region" not in {f["label"] for f in bearer.get(url).json()}
    assert len(zendesk.calls("GET", r"ticket_fields\.json$")) == calls  # served from the cache
    assert "Region" in {f["label"] for f in bearer.get(url + "?refresh=1").json()}
    assert "Region" in {f["label"] for f in bearer.get(url).json()}  # the refresh replaced the cache


def test_jira_projects_follow_pages_and_refresh(bearer, tenant, jira, project):
    for key in ("ALPHA", "BETA", "GAMMA"):
        jira.add_project(key, key.title())
    projects = bearer.get("/api/v1/schema/jira/projects").json()
    assert {p["key"] for p in projects} == {"SUP", "ALPHA", "BETA", "GAMMA"}  # more than one page of 3
    assert {"id": "10000", "key": "SUP", "name": "Support"} in projects

    jira.add_project("NEW", "New project")
    assert "NEW" not in {p["key"] for p in bearer.get("/api/v1/schema/jira/projects").json()}
    assert "NEW" in {p["key"] for p in bearer.get("/api/v1/schema/jira/projects?refresh=1").json()}


def test_jira_issue_types_create_fields_fields_and_priorities(bearer, tenant, jira, project):
    types_ = bearer.get("/api/v1/schema/jira/projects/SUP/issuetypes").json()
    assert [(t["id"], t["name"], t["subtask"]) for t in types_] == [
        ("10001", "Task", False),
        ("10002", "Bug", False),
        ("10003", "Story", False),
        ("10004", "Sub-task", True),
    ]

    fields = {f["id"]: f for f in bearer.get("/api/v1/schema/jira/projects/SUP/issuetypes/10001/fields").json()}
    assert fields["summary"] == {
        "id": "summary",
        "label": "Summary",
        "type": "text",
        "options": [],
        "system": True,
        "required": True,
        "has_default": False,
    }
    assert fields["reporter"]["required"] and fields["reporter"]["has_default"]
    assert fields["customfield_10050"]["type"] == "select" and not fields["customfield_10050"]["system"]
    assert fields["customfield_10050"]["options"] == [
        {"value": "10100", "label": "Critical"},
        {"value": "10101", "label": "Major"},
        {"value": "10102", "label": "Minor"},
    ]
    assert fields["priority"]["type"] == "priority" and len(fields["priority"]["options"]) == 5

    all_fields = {f["id"]: f for f in bearer.get("/api/v1/schema/jira/fields").json()}
    assert all_fields["customfield_10070"]["type"] == "number" and all_fields["labels"]["type"] == "labels"

    priorities = bearer.get("/api/v1/schema/jira/priorities").json()
    assert priorities == [{"id": p["id"], "name": p["name"]} for p in jira.priorities]


def test_jira_statuses_per_project(bearer, tenant, jira, project):
    response = bearer.get("/api/v1/schema/jira/projects/SUP/statuses")
    assert response.status_code == 200
    assert {(st["name"], st["category"]) for st in response.json()} == {
        ("To Do", "new"),
        ("In Progress", "indeterminate"),
        ("Done", "done"),
    }
    assert bearer.get("/api/v1/schema/jira/projects/NOPE/statuses").status_code == 404


def test_jira_schema_refresh_reloads_create_fields(bearer, tenant, jira, project):
    url = "/api/v1/schema/jira/projects/SUP/issuetypes/10002/fields"
    assert "customfield_10090" not in {f["id"] for f in bearer.get(url).json()}
    jira.add_field("customfield_10090", "Root cause", {"type": "string", "custom": "x:textarea"})
    assert "customfield_10090" not in {f["id"] for f in bearer.get(url).json()}
    assert "customfield_10090" in {f["id"] for f in bearer.get(url + "?refresh=true").json()}


def test_jira_schema_failure_names_the_call(bearer, tenant, jira, project):
    jira.fail_next(500, {"errorMessages": ["boom"], "errors": {}}, path=r"/project/search")
    body = assert_error(bearer.get("/api/v1/schema/jira/projects"), 502, "schema_unavailable")
    assert "Jira projects" in body["message"] and "Refresh" in body["message"]


# --- tenant API tokens ---------------------------------------------------------------------------------


def test_token_is_shown_once_and_stored_hashed(admin_api, bearer, client, tenant):
    response = admin_api.post("/api/v1/tokens", {"name": "nightly export", "scope": "admin"})
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    created = response.json()
    token = created["token"]
    assert token.startswith("dbt_") and created["prefix"] == token[:10]
    assert created["is_active"] is True and created["created_by"] == ADMIN_ACCOUNT
    assert created["scope"] == "admin" and created["expires_at"] is None

    listed = bearer.get("/api/v1/tokens")
    assert {t["name"] for t in listed.json()} == {"ci script", "nightly export"}
    assert token not in listed.content.decode() and all("token" not in t for t in listed.json())

    row = ApiToken.objects.get(name="nightly export")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in str(v) for v in ApiToken.objects.filter(pk=row.pk).values().get().values())

    # the new token works on its own
    new = client.get("/api/v1/tokens", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert new.status_code == 200


def test_revoked_token_stops_working_and_stays_listed(admin_api, bearer, client, tenant):
    token = admin_api.post("/api/v1/tokens", {"name": "temp"}).json()
    assert bearer.delete(f"/api/v1/tokens/{token['id']}").status_code == 204
    body = assert_error(
        client.get("/api/v1/items", HTTP_AUTHORIZATION=f"Bearer {token['token']}"), 401, "api_token_invalid"
    )
    assert "revoked" in body["message"]
    listed = {t["name"]: t for t in bearer.get("/api/v1/tokens").json()}
    assert listed["temp"]["is_active"] is False and listed["temp"]["revoked_at"]


def test_token_names_are_required_and_unique(admin_api, tenant, api_token):
    assert_error(admin_api.post("/api/v1/tokens", {"name": ""}), 400, "validation_failed")
    body = assert_error(admin_api.post("/api/v1/tokens", {"name": "ci script"}), 409, "token_name_taken")
    assert "ci script" in body["message"] and body["extra"]["fields"]["name"]
    assert ApiToken.objects.filter(name="ci script").count() == 1


def test_token_created_from_jira_records_the_admin(admin_api, tenant):
    response = admin_api.post("/api/v1/tokens", {"name": "from the admin page"})
    assert response.status_code == 201 and response.json()["created_by"] == ADMIN_ACCOUNT


# --- authentication and admin rights -------------------------------------------------------------------


def test_without_credentials_is_401(client, tenant):
    assert_error(client.get("/api/v1/items"), 401, "not_authenticated")


def test_unknown_bearer_token_is_401(client, tenant):
    body = assert_error(client.get("/api/v1/items", HTTP_AUTHORIZATION="Bearer dbt_made-up"), 401, "api_token_invalid")
    assert "admin page" in body["message"]


def test_jira_admin_context_token_is_accepted(admin_api, connection):
    assert admin_api.get("/api/v1/items").status_code == 200
    assert admin_api.post("/api/v1/items", DISPLAY_ITEM).status_code == 201


def test_non_admin_is_refused_with_admin_required(jwt_api, connection, jira):
    user = jwt_api(USER_ACCOUNT)
    for call in (lambda: user.get("/api/v1/items"), lambda: user.post("/api/v1/items", DISPLAY_ITEM)):
        body = assert_error(call(), 403, "admin_required")
        assert "Jira administrators" in body["message"]
    assert not ConnectedItem.objects.exists()
    asked = [r.json() for r in jira.calls("POST", r"/rest/api/3/permissions/check$")]
    assert asked and asked[0] == {"accountId": USER_ACCOUNT, "globalPermissions": ["ADMINISTER"]}


def test_admin_check_is_cached_briefly(jwt_api, connection, jira, monkeypatch):
    admin = jwt_api(ADMIN_ACCOUNT)
    assert admin.get("/api/v1/items").status_code == 200
    assert admin.get("/api/v1/tokens").status_code == 200
    assert len(jira.calls("POST", r"/permissions/check$")) == 1  # the second request used the cached answer

    jira.admins.discard(ADMIN_ACCOUNT)
    real_time = locmem.time.time
    monkeypatch.setattr(locmem, "time", types.SimpleNamespace(time=lambda: real_time() + 121))
    assert_error(admin.get("/api/v1/items"), 403, "admin_required")  # lost rights count within two minutes
    assert len(jira.calls("POST", r"/permissions/check$")) == 2


def test_failed_admin_check_says_what_to_do(jwt_api, connection, jira):
    jira.fail_next(503, {"errorMessages": ["down"]}, path=r"/permissions/check")
    body = assert_error(jwt_api(ADMIN_ACCOUNT).get("/api/v1/items"), 403, "admin_check_failed")
    assert "Reload" in body["message"]


def test_unlicensed_tenant_is_refused(bearer, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(license=Tenant.License.NONE)
    body = assert_error(bearer.get("/api/v1/items"), 403, "license_required")
    assert "licence" in body["message"]


def test_unknown_project_or_issue_type_is_404(bearer, tenant, jira, project):
    body = assert_error(bearer.get("/api/v1/schema/jira/projects/NOPE/issuetypes"), 404, "schema_not_found")
    assert "NOPE" in body["message"] and "exists" in body["message"]
    body = assert_error(bearer.get("/api/v1/schema/jira/projects/SUP/issuetypes/99999/fields"), 404, "schema_not_found")
    assert "99999" in body["message"]

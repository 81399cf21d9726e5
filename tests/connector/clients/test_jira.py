"""The Jira client against the fake Jira on loopback: every request signed (the fake verifies iss, qsh,
exp), typed errors for every failure class, timeouts, and the schema calls collecting every page."""

from __future__ import annotations

import socket
import threading

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from connector.clients.base import (
    ApiConflict,
    ApiConnectionError,
    ApiForbidden,
    ApiNotFound,
    ApiRateLimited,
    ApiServerError,
    ApiTimeout,
    ApiUnauthorized,
    ApiUnexpectedResponse,
)
from connector.clients.jira import JiraClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for(tenant):
    return JiraClient(tenant)


def test_signed_requests_are_accepted(client_for, jira):
    issue = jira.add_issue(key="ABC-1")
    assert client_for.issue_get("ABC-1", fields=["summary", "status"])["id"] == issue["id"]
    client_for.issue_property_set(issue["id"], "com.x:y:status", {"type": "badge", "value": {"label": "2"}})
    assert jira.properties[(issue["id"], "com.x:y:status")]["value"]["label"] == "2"
    assert client_for.check_global_permissions(account_id="5b10a0effa615349cb016cd8", permissions=["ADMINISTER"]) == []
    assert jira.rejected_auth == []
    assert client_for.calls == 3


def test_every_request_carries_a_fresh_jwt(client_for, jira):
    client_for.fields()
    client_for.fields()
    tokens = [r.headers["authorization"] for r in jira.calls("GET", r"/rest/api/3/field$")]
    assert len(tokens) == 2 and all(t.startswith("JWT ") for t in tokens)


@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.lists(st.text(alphabet="abcü &=,+%/:", min_size=1, max_size=8), min_size=1, max_size=4))
def test_qsh_of_tricky_queries_verifies_at_jira(client_for, jira, fields):
    issue = jira.add_issue(key="QSH-1")
    client_for.issue_get(issue["id"], fields=fields)
    assert jira.rejected_auth == []


@pytest.mark.parametrize(
    "status,body,headers,error",
    [
        (401, {"errorMessages": ["Unauthorized"], "errors": {}}, {}, ApiUnauthorized),
        (403, {"errorMessages": ["Forbidden"], "errors": {}}, {}, ApiForbidden),
        (404, {"errorMessages": ["Issue does not exist"], "errors": {}}, {}, ApiNotFound),
        (409, {"errorMessages": ["Conflict"], "errors": {}}, {}, ApiConflict),
        (429, b"", {"Retry-After": "17", "RateLimit-Reason": "jira-burst-based"}, ApiRateLimited),
        (500, {"errorMessages": ["boom"]}, {}, ApiServerError),
        (503, b"", {"Retry-After": "5"}, ApiServerError),
    ],
)
def test_typed_errors(client_for, jira, status, body, headers, error):
    jira.fail_next(status, body, headers)
    with pytest.raises(error) as info:
        client_for.issue_get("ABC-1")
    assert info.value.status == status
    if "Retry-After" in headers:
        assert info.value.retry_after == float(headers["Retry-After"])


def test_error_message_carries_jira_detail(client_for, jira):
    jira.fail_next(400, {"errorMessages": ["Field 'x' cannot be set"], "errors": {"summary": "too long"}})
    with pytest.raises(Exception) as info:
        client_for.issue_property_set("1", "com.x:y:status", {"summary": "x"})
    assert "Field 'x' cannot be set" in str(info.value) and "summary: too long" in str(info.value)


def test_timeout_is_typed(tenant, settings):
    settings.HTTP_READ_TIMEOUT_SECONDS = 0.3
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    tenant.base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with pytest.raises(ApiTimeout):
            JiraClient(tenant).fields()
    finally:
        listener.close()


def test_connection_error_is_typed(tenant):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    tenant.base_url = f"http://127.0.0.1:{port}"
    with pytest.raises(ApiConnectionError):
        JiraClient(tenant).fields()


# --- schema introspection ------------------------------------------------------------------------------


def _starts(jira, path_regex: str) -> list[str]:
    return [r.arg("startAt") for r in jira.calls("GET", path_regex)]


def test_projects_follow_every_page(client_for, jira):
    for key in ("HD", "OPS", "ABC", "WEB", "SUP", "MOB", "DEV"):
        jira.add_project(key, f"Project {key}")
    projects = client_for.projects()
    assert [p["key"] for p in projects] == ["ABC", "DEV", "HD", "MOB", "OPS", "SUP", "WEB"]
    assert all(p["id"] and p["name"] for p in projects)
    # Jira caps maxResults (the fake at 3): paging advances by what came back and stops on isLast
    assert _starts(jira, r"/project/search$") == ["0", "3", "6"]
    assert jira.rejected_auth == []


def test_projects_when_there_are_none(client_for, jira):
    assert client_for.projects() == []
    assert len(jira.calls("GET", r"/project/search$")) == 1


def test_unknown_project_is_not_found(client_for, jira):
    jira.add_project("HD", "Helpdesk")
    for call in (
        lambda: client_for.create_issue_types("NOPE"),
        lambda: client_for.create_fields("NOPE", "10001"),
        lambda: client_for.project_statuses("NOPE"),
    ):
        with pytest.raises(ApiNotFound) as info:
            call()
        assert "No project could be found with key 'NOPE'" in str(info.value)


def test_create_issue_types_follow_pages(client_for, jira):
    jira.add_project("HD", "Helpdesk")
    types = client_for.create_issue_types("HD")
    assert [(t["id"], t["name"], t["subtask"]) for t in types] == [
        ("10001", "Task", False),
        ("10002", "Bug", False),
        ("10003", "Story", False),
        ("10004", "Sub-task", True),
    ]
    # four types, three per page; ``total`` ends the paging (createmeta has no isLast)
    assert _starts(jira, r"/createmeta/HD/issuetypes$") == ["0", "3"]
    assert jira.rejected_auth == []


def test_create_issue_types_of_a_project_with_its_own_types(client_for, jira):
    project = jira.add_project("OPS", "Operations", issue_types=[{"id": "10020", "name": "Incident"}])
    assert [t["name"] for t in client_for.create_issue_types(project["id"])] == ["Incident"]


def test_create_fields_default_screen(client_for, jira):
    jira.add_project("HD", "Helpdesk")
    fields = {f["fieldId"]: f for f in client_for.create_fields("HD", "10002")}
    assert list(fields) == [
        "summary",
        "issuetype",
        "project",
        "reporter",
        "description",
        "priority",
        "labels",
        "assignee",
        "customfield_10050",
        "customfield_10051",
        "customfield_10060",
        "customfield_10070",
        "customfield_10080",
    ]
    assert len(jira.calls("GET", r"/createmeta/HD/issuetypes/10002$")) == 5  # 13 fields, 3 a page
    required_without_default = [k for k, f in fields.items() if f["required"] and not f["hasDefaultValue"]]
    assert required_without_default == ["summary", "issuetype", "project"]
    assert fields["issuetype"]["allowedValues"][0]["id"] == "10002"
    assert fields["project"]["allowedValues"][0]["key"] == "HD"
    priority = fields["priority"]
    assert [(v["id"], v["name"]) for v in priority["allowedValues"]] == [
        ("1", "Highest"),
        ("2", "High"),
        ("3", "Medium"),
        ("4", "Low"),
        ("5", "Lowest"),
    ]
    assert priority["hasDefaultValue"] and priority["defaultValue"]["name"] == "Medium"
    assert fields["labels"]["schema"] == {"type": "array", "items": "string", "system": "labels"}
    severity = fields["customfield_10050"]
    assert severity["schema"]["custom"].endswith(":select") and severity["schema"]["type"] == "option"
    assert [v["value"] for v in severity["allowedValues"]] == ["Critical", "Major", "Minor"]
    components = fields["customfield_10051"]
    assert components["schema"]["type"] == "array" and components["schema"]["items"] == "option"
    assert [f["schema"]["type"] for f in map(fields.get, ["customfield_10060", "customfield_10070"])] == [
        "string",
        "number",
    ]
    assert fields["customfield_10080"]["schema"]["type"] == "date"
    assert fields["assignee"]["schema"] == {"type": "user", "system": "assignee"}
    assert jira.url in fields["assignee"]["autoCompleteUrl"]  # links point at the site, not the docs host


def test_create_fields_of_a_subtask_require_a_parent(client_for, jira):
    jira.add_project("HD", "Helpdesk")
    fields = {f["fieldId"]: f for f in client_for.create_fields("HD", "10004")}
    assert fields["parent"]["required"] and not fields["parent"]["hasDefaultValue"]


def test_create_fields_of_an_unknown_issue_type_are_not_found(client_for, jira):
    jira.add_project("HD", "Helpdesk")
    with pytest.raises(ApiNotFound):
        client_for.create_fields("HD", "99999")


def test_fields(client_for, jira):
    fields = {f["id"]: f for f in client_for.fields()}
    assert fields["summary"]["custom"] is False and fields["summary"]["schema"]["system"] == "summary"
    assert "schema" not in fields["issuekey"]  # some system fields come without a schema
    for field_id, kind in [
        ("customfield_10050", "option"),
        ("customfield_10051", "array"),
        ("customfield_10060", "string"),
        ("customfield_10070", "number"),
        ("customfield_10080", "date"),
    ]:
        assert fields[field_id]["custom"] is True and fields[field_id]["schema"]["type"] == kind
    assert len(jira.calls("GET", r"/rest/api/3/field$")) == 1


def test_priorities(client_for, jira):
    priorities = client_for.priorities()
    assert [(p["id"], p["name"]) for p in priorities] == [
        ("1", "Highest"),
        ("2", "High"),
        ("3", "Medium"),
        ("4", "Low"),
        ("5", "Lowest"),
    ]
    assert all(p["self"].startswith(jira.url) for p in priorities)


def test_project_statuses(client_for, jira):
    jira.add_project("HD", "Helpdesk")
    jira.add_project("OPS", "Operations")
    jira.set_statuses("OPS", [("1", "Open", "new"), ("10100", "Waiting for support", "indeterminate")])
    by_type = client_for.project_statuses("HD")
    assert [t["name"] for t in by_type] == ["Task", "Bug", "Story", "Sub-task"]
    assert [(s["id"], s["name"], s["statusCategory"]["key"]) for s in by_type[0]["statuses"]] == [
        ("10000", "To Do", "new"),
        ("3", "In Progress", "indeterminate"),
        ("10001", "Done", "done"),
    ]
    ops = client_for.project_statuses("OPS")[0]["statuses"]
    assert [s["name"] for s in ops] == ["Open", "Waiting for support"]


def test_createmeta_page_under_an_undocumented_key(client_for, jira):
    """Cloud's OpenAPI lists ``results`` beside ``fields`` (and ``createMetaIssueType`` beside
    ``issueTypes``); a page under either key still counts, and ``total`` ends the paging."""
    field = {"fieldId": "summary", "key": "summary", "name": "Summary", "required": True}
    jira.fail_next(200, {"startAt": 0, "maxResults": 200, "total": 1, "results": [field]})
    assert client_for.create_fields("HD", "10001") == [field]
    issue_type = {"id": "10001", "name": "Task", "subtask": False}
    jira.fail_next(200, {"startAt": 0, "maxResults": 200, "total": 1, "createMetaIssueType": [issue_type]})
    assert client_for.create_issue_types("HD") == [issue_type]


def test_unexpected_schema_answers_are_typed(client_for, jira):
    jira.fail_next(200, {"errorMessages": []})
    with pytest.raises(ApiUnexpectedResponse):
        client_for.priorities()
    jira.fail_next(200, [])
    with pytest.raises(ApiUnexpectedResponse):
        client_for.projects()


def test_check_global_permissions(client_for, jira):
    jira.admins.add("5b10ac8d82e05b22cc7d4ef5")
    granted = client_for.check_global_permissions(account_id="5b10ac8d82e05b22cc7d4ef5", permissions=["ADMINISTER"])
    assert granted == ["ADMINISTER"]
    assert client_for.check_global_permissions(account_id="5b10a0effa615349cb016cd8", permissions=["ADMINISTER"]) == []
    bodies = [r.json() for r in jira.calls("POST", r"/permissions/check$")]
    assert bodies[-1] == {"accountId": "5b10a0effa615349cb016cd8", "globalPermissions": ["ADMINISTER"]}
    assert jira.rejected_auth == []

"""The Jira client against the fake Jira on loopback: every request signed (the fake verifies iss, qsh,
exp), typed errors for every failure class, timeouts."""

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
)
from connector.clients.jira import JiraClient
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for(tenant):
    return JiraClient(tenant)


def test_signed_requests_are_accepted(client_for, jira):
    assert client_for.myself()["accountType"] == "app"
    issue = jira.add_issue(key="ABC-1")
    assert client_for.issue_get("ABC-1", fields=["summary", "status"])["id"] == issue["id"]
    client_for.issue_update(issue["id"], {"summary": "New"})
    assert jira.issues[issue["id"]]["fields"]["summary"] == "New"
    client_for.issue_property_set(issue["id"], "com.x:y:status", {"type": "badge", "value": {"label": "2"}})
    assert jira.properties[(issue["id"], "com.x:y:status")]["value"]["label"] == "2"
    assert jira.rejected_auth == []
    assert client_for.calls == 4


def test_every_request_carries_a_fresh_jwt(client_for, jira):
    client_for.myself()
    client_for.myself()
    tokens = [r.headers["authorization"] for r in jira.calls("GET", "/myself")]
    assert len(tokens) == 2 and all(t.startswith("JWT ") for t in tokens)


def test_fake_rejects_wrong_secret(tenant, jira):
    Tenant.objects.filter(pk=tenant.pk).update(shared_secret="stale-secret-0123456789abcdef0123")
    tenant.refresh_from_db()
    with pytest.raises(ApiUnauthorized) as info:
        JiraClient(tenant).myself()
    assert info.value.status == 401
    assert jira.rejected_auth == ["InvalidSignatureError"]


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
        client_for.myself()
    assert info.value.status == status
    if "Retry-After" in headers:
        assert info.value.retry_after == float(headers["Retry-After"])


def test_error_message_carries_jira_detail(client_for, jira):
    jira.fail_next(400, {"errorMessages": ["Field 'x' cannot be set"], "errors": {"summary": "too long"}})
    with pytest.raises(Exception) as info:
        client_for.issue_update("1", {"summary": "x"})
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
            JiraClient(tenant).myself()
    finally:
        listener.close()


def test_connection_error_is_typed(tenant):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    tenant.base_url = f"http://127.0.0.1:{port}"
    with pytest.raises(ApiConnectionError):
        JiraClient(tenant).myself()

"""Secrets stay out of Django's error reports: the admin page's POST fields (API token, page session) and the
connect services' local variables are marked sensitive, so a crash report never carries them."""

from __future__ import annotations

import secrets
import sys

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from panel.views.admin_page import admin_page
from tenants.auth import JiraPrincipal, page_session_issue
from tests.conftest import ADMIN_ACCOUNT

pytestmark = pytest.mark.django_db

# Made at run time: the report shows source lines around each frame, so literals would appear as source.
SECRET_TOKEN = "zd-token-" + secrets.token_hex(8)
SECRET_CODE = "zd-code-" + secrets.token_hex(8)
SECRET_ACCESS = "zd-access-" + secrets.token_hex(8)


def _crash_report(request, caplog) -> str:
    """The page catches the crash (to answer inside Jira) and logs it as Django does: the report mailed to
    the admins is built from that record."""
    response = admin_page(request)
    assert response.status_code == 500
    record = next(r for r in caplog.records if r.name == "django.request" and r.exc_info)
    return ExceptionReporter(record.request, *record.exc_info).get_traceback_html()


def test_a_crash_while_connecting_reports_no_token_and_no_session(tenant, jira, project, zendesk, monkeypatch, caplog):
    from connector.services import connections

    def crash(*args, **kwargs):
        raise RuntimeError("Zendesk client exploded")

    monkeypatch.setattr(connections, "_zendesk_identity", crash)
    session = page_session_issue(JiraPrincipal(tenant, ADMIN_ACCOUNT))
    request = RequestFactory().post(
        "/jira/admin",
        {
            "session": session,
            "action": "connect",
            "subdomain": "acme",
            "email": "a@acme.test",
            "api_token": SECRET_TOKEN,
        },
    )
    report = _crash_report(request, caplog)
    assert "Zendesk client exploded" in report and "zendesk_connect" in report  # the report is real
    assert SECRET_TOKEN not in report
    assert session not in report


def test_the_oauth_exchange_keeps_the_code_and_tokens_out_of_reports(tenant, zendesk, settings, monkeypatch):
    from connector.services import connections

    def crash(*args, **kwargs):
        raise RuntimeError("identity check exploded")

    monkeypatch.setattr(connections, "_zendesk_identity", crash)
    monkeypatch.setattr(
        connections.ZendeskClient,
        "oauth_exchange_code",
        lambda self, **kw: {"access_token": SECRET_ACCESS, "scope": "read write"},
    )
    try:
        connections.zendesk_oauth_complete(tenant=tenant, subdomain="acme", code=SECRET_CODE)
    except RuntimeError:
        report = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
    assert "zendesk_oauth_complete" in report
    assert SECRET_CODE not in report and SECRET_ACCESS not in report


class _Hidden:
    """Holds a secret for the assertion without showing it in this test's own frame variables."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<hidden>"


def _requests_with(token: str):
    import base64

    basic = base64.b64encode(f"me@example.com/token:{token}".encode()).decode()
    return [
        RequestFactory().get("/api/v1/items", HTTP_AUTHORIZATION=header)
        for header in (f"Bearer {token}", f"Basic {basic}")
    ], _Hidden(basic)


def test_a_crash_while_authenticating_an_api_token_reports_no_token(tenant, monkeypatch):
    """Bearer and Basic: the token is in the header, the decoded value and the authenticator's locals."""
    from tenants.auth import TenantApiTokenAuthentication
    from tenants.services import api_token_create

    def crash(*, token):
        del token  # this fake's own frame must not hold the secret either
        raise RuntimeError("token lookup exploded")

    secret = _Hidden(api_token_create(tenant=tenant, name="t", created_by="t")[1])
    monkeypatch.setattr("tenants.auth.api_token_authenticate", crash)
    requests, basic = _requests_with(secret.value)
    for request in requests:
        try:
            TenantApiTokenAuthentication().authenticate(type("R", (), {"_request": request})())
        except RuntimeError:
            report = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
        assert "token lookup exploded" in report
        assert secret.value not in report and basic.value not in report


def test_a_crash_while_creating_a_token_reports_no_token(tenant, monkeypatch):
    from tenants import services
    from tenants.models import ApiToken

    def crash(**kwargs):
        raise RuntimeError("insert exploded")

    monkeypatch.setattr(ApiToken.objects, "create", crash)
    monkeypatch.setattr(services.secrets, "token_urlsafe", lambda n: SECRET_TOKEN)
    try:
        services.api_token_create(tenant=tenant, name="x", created_by="t")
    except RuntimeError:
        report = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
    assert "insert exploded" in report and SECRET_TOKEN not in report


def test_a_crash_while_connecting_zoho_reports_no_secret_and_no_code(tenant, jira, project, zoho, monkeypatch, caplog):
    from connector.services import zoho as zoho_service

    def crash(*args, **kwargs):
        raise RuntimeError("Zoho client exploded")

    monkeypatch.setattr(zoho_service, "zoho_identity", crash)  # inside the organization step, tokens in hand
    session = page_session_issue(JiraPrincipal(tenant, ADMIN_ACCOUNT))
    secret = "zoho-secret-" + secrets.token_hex(8)  # made at run time (see above)
    zoho.add_self_client("eu", client_id="1000.SENSITIVETEST0001", client_secret=secret, user=zoho.agent)
    code = zoho.self_client_code("1000.SENSITIVETEST0001")
    request = RequestFactory().post(
        "/jira/admin",
        {
            "session": session,
            "action": "zoho_connect",
            "data_center": "eu",
            "client_id": "1000.SENSITIVETEST0001",
            "client_secret": secret,
            "code": code,
        },
    )
    report = _crash_report(request, caplog)
    assert "Zoho client exploded" in report and "zoho_connect" in report  # the report is real
    assert secret not in report and code not in report and session not in report

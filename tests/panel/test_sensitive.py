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


def _crash_report(request) -> str:
    try:
        admin_page(request)
    except RuntimeError:
        return ExceptionReporter(request, *sys.exc_info()).get_traceback_html()
    raise AssertionError("the view was expected to crash")


def test_a_crash_while_connecting_reports_no_token_and_no_session(tenant, jira, project, zendesk, monkeypatch):
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
    report = _crash_report(request)
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

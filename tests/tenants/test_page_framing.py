"""Every page Jira frames — error pages included — may be framed by the tenant's site (CSP frame-ancestors),
never carries ``X-Frame-Options: DENY`` (the user would see a blank frame, not the message), and is never
cached (pages carry a page session; the admin page may show a new API token)."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from django.core import signing

from tenants.auth import JiraPrincipal, page_session_issue
from tenants.models import Tenant
from tests.conftest import ADMIN_ACCOUNT

pytestmark = pytest.mark.django_db

ADMIN = "/jira/admin"
QUERY = "lic=active&xdm_e=https%3A%2F%2Fx.atlassian.net&cp=&tz=UTC&loc=en-US"


def _assert_framed_by(response, *sources):
    csp = response["Content-Security-Policy"]
    assert csp.startswith("frame-ancestors 'self' ")
    for source in sources:
        assert source in csp.split()
    assert "X-Frame-Options" not in response
    assert response["Cache-Control"] == "no-store"


def _open(client, jira, **sign):
    relative = f"{ADMIN}?{QUERY}"
    return client.get(f"{relative}&jwt={jira.sign('GET', relative, account_id=ADMIN_ACCOUNT, **sign)}")


def test_the_admin_page_is_framable_and_not_cached(client, jira, tenant, project):
    response = _open(client, jira)
    assert response.status_code == 200
    _assert_framed_by(response, tenant.base_url)


def test_an_expired_jwt_page_is_framable_by_the_site(client, jira, tenant):
    response = _open(client, jira, exp_in=-120)
    assert response.status_code == 401 and b"expired" in response.content
    _assert_framed_by(response, tenant.base_url)


def test_an_expired_page_session_is_framable_by_the_site(client, jira, tenant):
    with mock.patch("time.time", return_value=time.time() - 7200):
        session = page_session_issue(JiraPrincipal(tenant, ADMIN_ACCOUNT))
    response = client.post(ADMIN, {"session": session, "action": "refresh"})
    assert response.status_code == 401 and b"session_expired" in response.content
    _assert_framed_by(response, tenant.base_url)


def test_a_disabled_app_page_is_framable_by_the_site(client, jira, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(state=Tenant.State.DISABLED)
    response = _open(client, jira)
    assert response.status_code == 403 and b"disabled" in response.content
    _assert_framed_by(response, tenant.base_url)


def test_the_licence_required_page_is_framable_by_the_site(client, jira, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(license=Tenant.License.NONE)
    relative = f"{ADMIN}?lic=none"
    response = client.get(f"{relative}&jwt={jira.sign('GET', relative, account_id=ADMIN_ACCOUNT)}")
    assert response.status_code == 403 and b"licence" in response.content
    _assert_framed_by(response, tenant.base_url)


def test_an_unknown_site_gets_the_allowed_jira_hosts(client, jira, settings):
    """No tenant to name (not installed): framable by the Jira hosts this deployment accepts, still not DENY."""
    response = _open(client, jira)
    assert response.status_code == 401
    _assert_framed_by(response, *settings.JIRA_ALLOWED_BASE_URLS)


def test_a_forged_session_does_not_choose_the_frame_ancestor(client, jira, tenant, settings):
    forged = signing.dumps({"t": 999, "k": "jira:not-a-site", "a": "x"}, salt="wrong-salt")
    response = client.post(ADMIN, {"session": forged, "action": "refresh"})
    assert response.status_code == 401
    assert tenant.base_url not in response["Content-Security-Policy"]
    _assert_framed_by(response, *settings.JIRA_ALLOWED_BASE_URLS)


def test_the_issue_panel_is_not_cached(client, jira, tenant, project):
    issue = jira.add_issue(key="SUP-1")
    relative = (
        f"/jira/issue-panel?issueKey=SUP-1&issueId={issue['id']}&projectKey=SUP&projectId={project['id']}"
        "&issueTypeId=10001&lic=active"
    )
    response = client.get(f"{relative}&jwt={jira.sign('GET', relative)}")
    assert response.status_code == 200
    _assert_framed_by(response, tenant.base_url)


def test_a_crash_on_a_framed_page_is_shown_inside_jira(client, jira, tenant, project, monkeypatch):
    from panel.views import admin_page

    def crash(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(admin_page, "_render_home", crash)
    client.raise_request_exception = False
    response = _open(client, jira)
    assert response.status_code == 500 and b"Something went wrong in Deskbridge" in response.content
    _assert_framed_by(response, tenant.base_url)

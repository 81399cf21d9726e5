"""End to end over real HTTP: a test plays Jira (own RSA key pair, key served by kid on loopback, signs
like Jira) against the app served on loopback: install → iframe page load → API call → uninstall."""

from __future__ import annotations

import json

import pytest
import requests
from django.conf import settings

from tenants.models import Tenant

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.tenants.urls_for_tests"),
]


def test_install_iframe_uninstall_round_trip(live_server, jira):
    base = live_server.url
    payload = jira.install_payload()

    token = jira.sign_install("POST", "/connect/installed", aud=settings.APP_BASE_URL)
    r = requests.post(
        f"{base}/connect/installed",
        data=json.dumps(payload),
        timeout=10,
        headers={"Authorization": f"JWT {token}", "Content-Type": "application/json"},
    )
    assert r.status_code == 204, r.text
    tenant = Tenant.objects.get(client_key=jira.client_key)
    assert tenant.state == Tenant.State.INSTALLED

    query = "lic=active&xdm_e=https%3A%2F%2Fsite.atlassian.net&cp=&tz=Europe%2FBerlin&loc=en-GB&user_id=x"
    page_jwt = jira.sign("GET", f"/t/page?{query}", account_id="user-42")
    r = requests.get(f"{base}/t/page?{query}&jwt={page_jwt}", timeout=10)
    assert r.status_code == 200, r.text
    assert r.text == f"page tenant={jira.client_key} account=user-42"
    assert r.headers["Content-Security-Policy"] == f"frame-ancestors 'self' {jira.url}"
    tenant.refresh_from_db()
    assert tenant.license == Tenant.License.ACTIVE

    r = requests.get(
        f"{base}/t/api/context",
        headers={"Authorization": f"JWT {jira.context_token(account_id='user-42')}"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["account"] == "user-42"

    token = jira.sign_install("POST", "/connect/uninstalled", aud=settings.APP_BASE_URL)
    r = requests.post(
        f"{base}/connect/uninstalled",
        data=json.dumps(jira.install_payload(eventType="uninstalled")),
        headers={"Authorization": f"JWT {token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 204
    tenant.refresh_from_db()
    assert tenant.state == Tenant.State.UNINSTALLED

    # After uninstall the site's tokens no longer open pages; the data is kept.
    page_jwt = jira.sign("GET", f"/t/page?{query}")
    assert requests.get(f"{base}/t/page?{query}&jwt={page_jwt}", timeout=10).status_code == 401
    assert Tenant.objects.filter(client_key=jira.client_key).exists()

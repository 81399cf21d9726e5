"""Tenant API tokens: a scope (read, links, admin), an optional expiry, and no token creates tokens.

Existing tokens (made before scopes existed) keep working as ``admin``. Concurrent creation of the same name
answers 409, never 500 (PostgreSQL).
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from tenants.models import ApiToken
from tenants.services import api_token_create
from tests.conftest import postgres_only
from tests.panel.links_helpers import make_item

pytestmark = pytest.mark.django_db


def _call(client, method, path, token, body=None):
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(path, **kwargs)


def _token(tenant, scope, **kw):
    return api_token_create(tenant=tenant, name=f"{scope} token", created_by="test", scope=scope, **kw)[1]


def test_a_token_cannot_create_tokens(client, tenant, api_token):
    response = _call(client, "post", "/api/v1/tokens", api_token, {"name": "escalate", "scope": "admin"})
    assert response.status_code == 403 and response.json()["code"] == "api_token_cannot_create_tokens"
    assert not ApiToken.objects.filter(name="escalate").exists()


def test_the_default_scope_of_a_new_token_is_read(admin_api, tenant):
    response = admin_api.post("/api/v1/tokens", {"name": "reporting"})
    assert response.status_code == 201 and response.json()["scope"] == "read"


def test_existing_tokens_keep_working_as_admin():
    """The migration that added scopes gives every existing token ``admin``, so no script breaks."""
    import importlib

    from django.db import migrations

    migration = importlib.import_module("tenants.migrations.0003_apitoken_expires_at_apitoken_scope").Migration
    added = {op.name: op.field for op in migration.operations if isinstance(op, migrations.AddField)}
    assert added["scope"].default == ApiToken.Scope.ADMIN
    assert added["expires_at"].null


def test_a_read_token_reads_but_changes_nothing(client, tenant, connection, project):
    token = _token(tenant, "read")
    item = make_item(tenant, connection)
    assert _call(client, "get", "/api/v1/items", token).status_code == 200
    patch = _call(client, "patch", f"/api/v1/items/{item.pk}", token, {"name": "renamed"})
    assert patch.status_code == 403 and patch.json()["code"] == "api_token_scope"
    assert "read" in patch.json()["message"]
    item.refresh_from_db()
    assert item.name == "Support tickets"
    links = f"/api/v2/integrations/jira/{item.external_id}/links"
    assert _call(client, "get", links, token).status_code == 200
    refused = _call(client, "post", links, token, {"link": {"issue_id": "1", "issue_key": "SUP-1", "ticket_id": "1"}})
    assert refused.status_code == 403


def test_a_links_token_manages_links_but_not_configuration(client, tenant, connection, project, jira, zendesk):
    from tests.conftest import ZD_SUBDOMAIN

    token = _token(tenant, "links")
    item = make_item(tenant, connection)
    issue = jira.add_issue(key="SUP-1")
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer")
    links = f"/api/v2/integrations/jira/{item.external_id}/links"
    body = {"link": {"issue_id": issue["id"], "issue_key": "SUP-1", "ticket_id": str(ticket["id"])}}
    assert _call(client, "post", links, token, body).status_code == 201
    patch = _call(client, "patch", f"/api/v1/items/{item.pk}", token, {"name": "renamed"})
    assert patch.status_code == 403 and patch.json()["code"] == "api_token_scope"
    revoke = _call(client, "post", f"/api/v1/connections/{connection.pk}/revoke", token, {})
    assert revoke.status_code == 403


def test_an_admin_token_changes_configuration(client, tenant, connection, project):
    token = _token(tenant, "admin")
    item = make_item(tenant, connection)
    assert _call(client, "patch", f"/api/v1/items/{item.pk}", token, {"name": "renamed"}).status_code == 200


def test_an_expired_token_is_refused_with_its_expiry(client, tenant):
    token = _token(tenant, "admin", expires_in_days=1)
    assert _call(client, "get", "/api/v1/items", token).status_code == 200
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    before = ApiToken.objects.get().last_used_at
    response = _call(client, "get", "/api/v1/items", token)
    assert response.status_code == 401 and response.json()["code"] == "api_token_expired"
    assert "expired" in response.json()["message"] and "admin page" in response.json()["message"]
    assert ApiToken.objects.get().last_used_at == before


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_an_expiry_out_of_range_is_refused(admin_api, tenant, days):
    response = admin_api.post("/api/v1/tokens", {"name": "x", "expires_in_days": days})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_the_admin_page_creates_scoped_expiring_tokens(admin_page):
    admin_page.open()
    response = admin_page.post(
        "token_create", {"token_name": "links bot", "token_scope": "links", "token_expires_in_days": "30"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]  # the page shows the new token once
    row = ApiToken.objects.get(name="links bot")
    assert row.scope == "links"
    assert timedelta(days=29) < row.expires_at - timezone.now() <= timedelta(days=30)
    bad = admin_page.post("token_create", {"token_name": "y", "token_expires_in_days": "soon"})
    assert bad.status_code == 400 and not ApiToken.objects.filter(name="y").exists()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_of_one_name_is_409_not_500(jira):
    from tenants.models import Tenant
    from tests.conftest import post_lifecycle
    from tests.panel.links_helpers import ApiClient

    assert post_lifecycle(Client(), jira, "installed").status_code == 204
    Tenant.objects.update(license="active")
    barrier = threading.Barrier(4)
    statuses = []

    def create():
        try:
            api = ApiClient(Client(), HTTP_AUTHORIZATION=f"JWT {jira.context_token(account_id='admin-account-1')}")
            barrier.wait()
            statuses.append(api.post("/api/v1/tokens", {"name": "race"}).status_code)
        finally:
            connections.close_all()

    jira.admins.add("admin-account-1")
    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(statuses) == [201, 409, 409, 409]
    assert ApiToken.objects.filter(name="race").count() == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"token_scope": "superuser"}, "scope"),
        ({"token_expires_in_days": "0"}, "expires_in_days"),
        ({"token_expires_in_days": "99999999999"}, "expires_in_days"),
    ],
)
def test_the_admin_page_refuses_a_bad_scope_or_expiry(admin_page, fields, field):
    admin_page.open()
    response = admin_page.post("token_create", {"token_name": "bad", **fields})
    assert response.status_code == 400
    assert not ApiToken.objects.filter(name="bad").exists()


def test_a_token_from_the_admin_page_without_a_scope_is_read_only(admin_page):
    admin_page.open()
    admin_page.post("token_create", {"token_name": "plain"})
    assert ApiToken.objects.get(name="plain").scope == ApiToken.Scope.READ


def test_an_expired_token_is_listed_as_inactive(admin_api, bearer, tenant):
    token = admin_api.post("/api/v1/tokens", {"name": "short", "expires_in_days": 1}).json()
    ApiToken.objects.filter(pk=token["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    listed = {t["name"]: t for t in bearer.get("/api/v1/tokens").json()}
    assert listed["short"]["is_active"] is False and listed["short"]["revoked_at"] is None

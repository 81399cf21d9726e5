"""Shared fixtures: loopback fakes (install-keys service, Jira site) and an installed tenant."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.db import connection

from tests.fakes.jira import FakeInstallKeys, FakeJira

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (row locks / skip_locked); set DATABASE_URL to a PostgreSQL database",
)


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def install_keys(settings):
    fake = FakeInstallKeys().start()
    settings.ATLASSIAN_INSTALL_KEYS_URL = fake.url
    yield fake
    fake.stop()


@pytest.fixture
def jira(settings, install_keys):
    fake = FakeJira(app_key=settings.ATLASSIAN_APP_KEY, install_keys=install_keys).start()
    yield fake
    fake.stop()


def post_lifecycle(
    client, jira: FakeJira, event: str, payload=None, *, token: str | None = None, settings=None
):
    """POST a lifecycle callback as Jira does (signed-install RS256 for installed/uninstalled)."""
    from django.conf import settings as dj_settings

    path = f"/connect/{event}"
    if token is None:
        if event in ("installed", "uninstalled"):
            token = jira.sign_install("POST", path, aud=dj_settings.APP_BASE_URL)
        else:
            token = jira.sign("POST", path, account_id=None)
    body = payload if payload is not None else jira.install_payload(eventType=event)
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")


@pytest.fixture
def tenant(db, client, jira):
    """A tenant installed through the real lifecycle callback, licensed."""
    from tenants.models import Tenant

    response = post_lifecycle(client, jira, "installed")
    assert response.status_code == 204, response.content
    t = Tenant.objects.get(client_key=jira.client_key)
    t.license = Tenant.License.ACTIVE
    t.save(update_fields=["license"])
    return t

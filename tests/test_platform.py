"""Health, error shape, OpenAPI, secrets at rest, the sealed tenant mixin, production settings."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from rest_framework import generics

from config.errors import ApplicationError, exception_handler
from config.logging import RedactSecretsFilter
from tenants.api import TenantScopedMixin
from tenants.fields import SecretDecryptionError
from tenants.models import Tenant

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_healthz_reports_database_and_queue(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["status"] == "ok"
    assert body["database"]["vendor"] == connection.vendor
    assert body["queue"]["status"] == "ok"
    assert body["queue"]["broker"] == "orm"  # django_q.brokers.orm.ORM
    assert isinstance(body["queue"]["pending"], int)


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_public(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_application_error_shape():
    response = exception_handler(ApplicationError("Nope.", code="ticket_closed", extra={"id": 1}), {})
    assert response.status_code == 400
    assert response.data == {"code": "ticket_closed", "message": "Nope.", "extra": {"id": 1}}


@pytest.mark.django_db
def test_secret_decryption_failure_raises(tenant):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tenants_tenant SET shared_secret = %s WHERE id = %s", ["gAAAAAB-garbage", tenant.pk])
    with pytest.raises(SecretDecryptionError) as info:
        Tenant.objects.get(pk=tenant.pk)
    assert "FIELD_ENCRYPTION_KEY" in str(info.value)


@pytest.mark.django_db
def test_admin_never_shows_the_shared_secret(admin_client, tenant, jira):
    response = admin_client.get(f"/admin/tenants/tenant/{tenant.pk}/change/")
    assert response.status_code == 200
    assert jira.shared_secret.encode() not in response.content
    assert b"shared_secret" not in response.content
    listing = admin_client.get("/admin/tenants/tenant/")
    assert jira.shared_secret.encode() not in listing.content


@pytest.mark.django_db
def test_secret_never_logged_on_install(client, jira, caplog):
    from tests.conftest import post_lifecycle

    with caplog.at_level(logging.DEBUG):
        post_lifecycle(client, jira, "installed")
    assert jira.shared_secret not in caplog.text


def test_log_filter_redacts_tokens_and_secrets():
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "auth %s %s",
        ("Authorization: JWT eyJhbGciOi.eyJpc3MiOi.c2ln", "shared_secret=abc123"),
        None,
    )
    RedactSecretsFilter().filter(record)
    message = record.getMessage()
    assert "eyJ" not in message and "abc123" not in message


def test_tenant_mixin_is_sealed():
    with pytest.raises(TypeError, match="get_base_queryset"):

        class Leaky(TenantScopedMixin, generics.ListAPIView):
            def get_queryset(self):
                return Tenant.objects.all()


def test_production_refuses_to_start_without_secrets():
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY", "APP_BASE_URL")
    }
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_starts_with_secrets():
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="x" * 50,
        FIELD_ENCRYPTION_KEY="dGVzdC1vbmx5LWZlcm5ldC1rZXktMDAwMDAwMDAwMDA=",
        APP_BASE_URL="https://deskbridge.example.com",
        DJANGO_ALLOWED_HOSTS="deskbridge.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_openapi_schema_is_valid_and_warning_free(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for scheme in ("tenantApiToken", "jiraJwt", "pageSession"):
        assert scheme in text
    for path in ("/api/v1/items", "/api/panel/cards", "/api/v2/integrations/jira/{external_id}/links"):
        assert f"{path}:" in text


@pytest.mark.django_db
def test_admin_pages_render_and_keep_tenants_fixed(admin_client, tenant, connection, jira):
    from connector.models import ConnectedItem
    from connector.services import ItemSpec, connected_item_save
    from sync.models import Link

    item, _ = connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(name="Tickets", mode="display", jira_project="SUP", helpdesk_object="ticket"),
    )
    link = Link.objects.create(tenant=tenant, item=item, jira_issue_id="1", jira_issue_key="SUP-1", record_id="5")
    for url in (
        f"/admin/connector/helpdeskconnection/{connection.pk}/change/",
        f"/admin/connector/connecteditem/{item.pk}/change/",
        f"/admin/sync/link/{link.pk}/change/",
        "/admin/connector/helpdeskconnection/",
        "/admin/connector/connecteditem/",
        "/admin/sync/link/",
        "/admin/tenants/apitoken/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert connection.secret()["api_token"].encode() not in response.content
    page = admin_client.get(f"/admin/connector/connecteditem/{item.pk}/change/").content.decode()
    assert 'name="tenant"' not in page and 'name="connection"' not in page
    assert admin_client.get("/admin/connector/connecteditem/add/").status_code == 403
    assert ConnectedItem.objects.get().tenant == tenant


@pytest.mark.django_db
def test_healthz_is_degraded_when_the_queue_cannot_be_read(client, monkeypatch):
    from django_q.brokers.orm import ORM

    def broken(self):
        raise RuntimeError("queue table missing")

    monkeypatch.setattr(ORM, "queue_size", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["queue"] == {"status": "error", "error": "RuntimeError"}
    assert body["database"]["status"] == "ok"


@pytest.mark.django_db
def test_healthz_is_degraded_when_the_cache_cannot_be_read(client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "no_such_cache_table"}
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded" and response.json()["cache"]["status"] == "error"


def test_migrate_alone_creates_the_cache_table(tmp_path):
    """A deployment that runs only ``migrate`` has the database cache table (the default CACHE_URL)."""
    import sqlite3

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "CACHE_URL": "dbcache://deskbridge_cache",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    tables = {r[0] for r in sqlite3.connect(tmp_path / "fresh.sqlite3").execute("SELECT name FROM sqlite_master")}
    assert "deskbridge_cache" in tables

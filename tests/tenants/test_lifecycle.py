"""Lifecycle callbacks: install creates or rotates, uninstall soft-disables, enable/disable toggle —
and every bad input gets a clear 4xx/503 while no tenant row is created or changed."""

from __future__ import annotations

import time
from types import SimpleNamespace

import jwt as pyjwt
import pytest
from atlassian_jwt.url_utils import hash_url
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.cache.backends import locmem

from demo.fakes.jira import FakeInstallKeys
from tenants.models import Tenant
from tests.conftest import post_lifecycle, postgres_only

pytestmark = pytest.mark.django_db


def snapshot():
    return sorted(Tenant.objects.values_list("client_key", "base_url", "state", "license", "updated_at")), sorted(
        t.shared_secret for t in Tenant.objects.all()
    )


def test_install_creates_tenant_with_encrypted_secret(client, jira):
    response = post_lifecycle(client, jira, "installed")
    assert response.status_code == 204
    tenant = Tenant.objects.get(client_key=jira.client_key)
    assert tenant.base_url == jira.url
    assert tenant.shared_secret == jira.shared_secret
    assert tenant.state == Tenant.State.INSTALLED
    assert tenant.cloud_id == jira.cloud_id
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT shared_secret FROM tenants_tenant WHERE id = %s", [tenant.pk])
        raw = cursor.fetchone()[0]
    assert jira.shared_secret not in raw


def test_reinstall_rotates_secret_and_is_idempotent(client, jira):
    assert post_lifecycle(client, jira, "installed").status_code == 204
    assert post_lifecycle(client, jira, "installed").status_code == 204
    assert Tenant.objects.count() == 1
    jira.shared_secret = "rotated-secret-value-0123456789"
    assert post_lifecycle(client, jira, "installed").status_code == 204
    assert Tenant.objects.get().shared_secret == "rotated-secret-value-0123456789"


def test_uninstall_is_soft_and_reinstall_restores(client, jira):
    post_lifecycle(client, jira, "installed")
    assert post_lifecycle(client, jira, "uninstalled").status_code == 204
    assert post_lifecycle(client, jira, "uninstalled").status_code == 204
    tenant = Tenant.objects.get()
    assert tenant.state == Tenant.State.UNINSTALLED and tenant.uninstalled_at is not None
    assert post_lifecycle(client, jira, "installed").status_code == 204
    assert Tenant.objects.get().state == Tenant.State.INSTALLED


def test_enable_disable_toggle_with_shared_secret_jwt(client, jira):
    post_lifecycle(client, jira, "installed")
    assert post_lifecycle(client, jira, "disabled").status_code == 204
    assert Tenant.objects.get().state == Tenant.State.DISABLED
    assert post_lifecycle(client, jira, "disabled").status_code == 204
    assert post_lifecycle(client, jira, "enabled").status_code == 204
    assert Tenant.objects.get().state == Tenant.State.ENABLED


def test_lifecycle_is_post_only(client):
    assert client.get("/connect/installed").status_code == 405


# --- bad input: a clear answer, nothing changes ----------------------------------------------------


def _install_with(client, jira, token, payload=None):
    return post_lifecycle(client, jira, "installed", payload, token=token)


def _other_key_token(jira, **claims):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    now = int(time.time())
    body = {
        "iss": jira.client_key,
        "aud": settings.APP_BASE_URL,
        "iat": now,
        "exp": now + 60,
        "qsh": hash_url("POST", "/connect/installed"),
        **claims,
    }
    return pyjwt.encode(body, pem, algorithm="RS256", headers={"kid": jira.kid})


def _hs256_install_token(jira):
    now = int(time.time())
    return pyjwt.encode(
        {
            "iss": jira.client_key,
            "aud": settings.APP_BASE_URL,
            "iat": now,
            "exp": now + 60,
            "qsh": hash_url("POST", "/connect/installed"),
        },
        jira.shared_secret,
        algorithm="HS256",
    )


def _none_token(jira):
    now = int(time.time())
    return pyjwt.encode(
        {
            "iss": jira.client_key,
            "aud": settings.APP_BASE_URL,
            "iat": now,
            "exp": now + 60,
            "qsh": hash_url("POST", "/connect/installed"),
        },
        None,
        algorithm="none",
    )


BAD_INSTALLS = {
    "unsigned": (lambda j: None, 401, "jwt_missing"),
    "hs256_signed_install": (_hs256_install_token, 401, "jwt_algorithm"),
    "alg_none": (_none_token, 401, "jwt_algorithm"),
    "wrong_aud": (
        lambda j: j.sign_install("POST", "/connect/installed", aud="https://evil.example"),
        401,
        "jwt_audience",
    ),
    "expired": (
        lambda j: j.sign_install("POST", "/connect/installed", aud=settings.APP_BASE_URL, exp_in=-120),
        401,
        "jwt_expired",
    ),
    "tampered_qsh": (
        lambda j: j.sign_install("POST", "/connect/uninstalled", aud=settings.APP_BASE_URL),
        401,
        "jwt_qsh_mismatch",
    ),
    "signed_by_other_key": (_other_key_token, 401, "jwt_signature"),
    "iss_not_client_key": (
        lambda j: j.sign_install("POST", "/connect/installed", aud=settings.APP_BASE_URL, iss="jira:someone-else"),
        403,
        "install_issuer_mismatch",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INSTALLS))
def test_bad_install_token_is_refused_and_changes_nothing(client, jira, case):
    make_token, status, code = BAD_INSTALLS[case]
    before = snapshot()
    token = make_token(jira)
    if token is None:
        response = client.post("/connect/installed", data=jira.install_payload(), content_type="application/json")
    else:
        response = _install_with(client, jira, token)
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert snapshot() == before
    assert not Tenant.objects.exists()


def test_bad_install_on_existing_tenant_changes_nothing(client, jira):
    post_lifecycle(client, jira, "installed")
    before = snapshot()
    attacker_payload = jira.install_payload(sharedSecret="attacker-secret", baseUrl="https://evil.example")
    response = _install_with(client, jira, _hs256_install_token(jira), attacker_payload)
    assert response.status_code == 401
    response = _install_with(
        client,
        jira,
        None or jira.sign_install("POST", "/connect/installed", aud=settings.APP_BASE_URL),
        attacker_payload,
    )
    assert response.status_code == 403 and response.json()["code"] == "install_base_url_not_allowed"
    assert snapshot() == before


def test_base_url_not_allowed(client, jira):
    response = post_lifecycle(client, jira, "installed", jira.install_payload(baseUrl="https://evil.example.com"))
    assert response.status_code == 403
    assert response.json()["code"] == "install_base_url_not_allowed"
    assert "JIRA_ALLOWED_BASE_URLS" in response.json()["message"]
    assert not Tenant.objects.exists()


def test_payload_for_another_app_refused(client, jira):
    response = post_lifecycle(client, jira, "installed", jira.install_payload(key="com.other.app"))
    assert response.status_code == 403 and response.json()["code"] == "install_wrong_app"
    assert not Tenant.objects.exists()


def test_unknown_kid(client, jira, install_keys):
    install_keys.keys.clear()
    response = post_lifecycle(client, jira, "installed")
    assert response.status_code == 401 and response.json()["code"] == "jwt_unknown_kid"
    assert not Tenant.objects.exists()


def test_install_keys_service_down_is_503_retryable(client, jira, install_keys):
    install_keys.down = True
    response = post_lifecycle(client, jira, "installed")
    assert response.status_code == 503 and response.json()["code"] == "install_keys_unavailable"
    assert not Tenant.objects.exists()


def test_install_keys_service_unreachable_is_503(client, jira, install_keys):
    install_keys.stop()
    response = post_lifecycle(client, jira, "installed")
    assert response.status_code == 503 and response.json()["code"] == "install_keys_unavailable"
    assert not Tenant.objects.exists()


def test_install_key_is_cached_by_kid(client, jira, install_keys):
    post_lifecycle(client, jira, "installed")
    post_lifecycle(client, jira, "installed")
    assert len(install_keys.calls("GET")) == 1


@pytest.fixture
def other_key_service():
    """A second install-keys service on another host: where a redirect would lead."""
    fake = FakeInstallKeys().start()
    yield fake
    fake.stop()


def test_install_keys_redirect_is_refused_and_never_followed(client, jira, install_keys, other_key_service):
    # The redirect target serves a key that would verify the token: following it would install.
    other_key_service.add_key(jira.kid, jira.public_pem)
    install_keys.fail_next(302, headers={"Location": f"{other_key_service.url}/{jira.kid}"})
    before = snapshot()
    response = post_lifecycle(client, jira, "installed")
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "install_keys_redirected"
    assert "redirect" in response.json()["message"]
    assert other_key_service.requests == []
    assert snapshot() == before and not Tenant.objects.exists()
    # A redirect is not remembered as an unknown key: Jira's retry asks the service again and installs.
    assert post_lifecycle(client, jira, "installed").status_code == 204
    assert len(install_keys.calls("GET")) == 2
    assert other_key_service.requests == []


def test_unknown_kid_is_asked_once_and_remembered_for_a_minute(client, jira, install_keys, monkeypatch):
    install_keys.keys.clear()
    for _ in range(2):
        response = post_lifecycle(client, jira, "installed")
        assert response.status_code == 401 and response.json()["code"] == "jwt_unknown_kid"
    assert len(install_keys.calls("GET")) == 1
    assert not Tenant.objects.exists()

    # Atlassian publishes the key: still refused from the cache until the miss expires, then fetched.
    install_keys.add_key(jira.kid, jira.public_pem)
    # Literal times, not the module's constant: a test reading the TTL from the code passes whatever it is.
    start = time.time()
    # The test cache (LocMemCache) reads its clock as ``locmem.time.time()``; move only that clock.
    monkeypatch.setattr(locmem, "time", SimpleNamespace(time=lambda: start + 55))
    assert post_lifecycle(client, jira, "installed").status_code == 401
    assert len(install_keys.calls("GET")) == 1
    monkeypatch.setattr(locmem, "time", SimpleNamespace(time=lambda: start + 61))
    assert post_lifecycle(client, jira, "installed").status_code == 204
    assert len(install_keys.calls("GET")) == 2


@pytest.mark.parametrize("outage", ["http_503", "unreachable"])
def test_install_keys_outage_is_not_remembered(client, jira, install_keys, settings, outage):
    if outage == "http_503":
        install_keys.down = True
    else:
        dead = FakeInstallKeys().start()
        settings.ATLASSIAN_INSTALL_KEYS_URL = dead.url
        dead.stop()
    response = post_lifecycle(client, jira, "installed")
    assert response.status_code == 503 and response.json()["code"] == "install_keys_unavailable"
    assert not Tenant.objects.exists()

    install_keys.down = False
    settings.ATLASSIAN_INSTALL_KEYS_URL = install_keys.url
    assert post_lifecycle(client, jira, "installed").status_code == 204
    assert Tenant.objects.filter(client_key=jira.client_key).exists()


def test_malformed_json_body(client, jira):
    response = post_lifecycle(client, jira, "installed", "{not json")
    assert response.status_code == 400 and response.json()["code"] == "malformed_body"
    assert not Tenant.objects.exists()


def test_missing_fields(client, jira):
    payload = jira.install_payload()
    del payload["sharedSecret"]
    response = post_lifecycle(client, jira, "installed", payload)
    assert response.status_code == 400
    assert response.json()["extra"]["missing"] == ["sharedSecret"]
    assert not Tenant.objects.exists()


def test_token_in_both_query_and_header(client, jira):
    token = jira.sign_install("POST", "/connect/installed", aud=settings.APP_BASE_URL)
    response = client.post(
        f"/connect/installed?jwt={token}",
        data=jira.install_payload(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {token}",
    )
    assert response.status_code == 400 and response.json()["code"] == "jwt_ambiguous"
    assert not Tenant.objects.exists()


def test_disable_with_wrong_secret_changes_nothing(client, jira):
    post_lifecycle(client, jira, "installed")
    before = snapshot()
    token = jira.sign("POST", "/connect/disabled", secret="wrong-secret", account_id=None)
    response = post_lifecycle(client, jira, "disabled", token=token)
    assert response.status_code == 401 and response.json()["code"] == "jwt_signature"
    assert snapshot() == before


def test_uninstall_for_another_site_changes_nothing(client, jira):
    post_lifecycle(client, jira, "installed")
    before = snapshot()
    response = post_lifecycle(client, jira, "uninstalled", jira.install_payload(clientKey="jira:other"))
    assert response.status_code == 403 and response.json()["code"] == "install_issuer_mismatch"
    assert snapshot() == before


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_installs_make_one_tenant(jira):
    """Jira retries deliveries: two identical installs racing must give one row and two 204s."""
    import threading

    from django.db import connections
    from django.test import Client

    barrier = threading.Barrier(4)
    statuses = []

    def install():
        try:
            barrier.wait()
            statuses.append(post_lifecycle(Client(), jira, "installed").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=install) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [204, 204, 204, 204]
    assert Tenant.objects.filter(client_key=jira.client_key).count() == 1

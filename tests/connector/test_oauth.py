"""Connect with OAuth: the authorize URL carries a signed state bound to the tenant and the Jira user;
the callback exchanges the code, refuses tokens that cannot write tickets, and stores the token encrypted."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from connector.models import HelpdeskConnection
from connector.services import zendesk_oauth_start
from tests.conftest import ADMIN_ACCOUNT, ZD_SUBDOMAIN
from tests.fakes.zendesk import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

pytestmark = pytest.mark.django_db

CALLBACK = "/connect/zendesk/oauth/callback"


@pytest.fixture
def oauth(settings, zendesk):
    settings.ZENDESK_OAUTH_CLIENT_ID = DEFAULT_CLIENT_ID
    settings.ZENDESK_OAUTH_CLIENT_SECRET = DEFAULT_CLIENT_SECRET
    redirect = settings.APP_BASE_URL + CALLBACK
    zendesk.add_oauth_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, [redirect])
    return redirect


def _start(tenant):
    url = zendesk_oauth_start(tenant=tenant, account_id=ADMIN_ACCOUNT, subdomain="https://acme.zendesk.com")
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path.endswith("/oauth/authorizations/new")
    assert query["client_id"] == [DEFAULT_CLIENT_ID] and query["response_type"] == ["code"]
    assert query["scope"] == ["read write"]
    return query["state"][0], query["redirect_uri"][0]


def test_oauth_round_trip_connects(client, tenant, zendesk, oauth):
    state, redirect = _start(tenant)
    assert redirect == oauth
    code = zendesk.oauth_code(ZD_SUBDOMAIN, "read write", redirect_uri=redirect)
    response = client.get(CALLBACK, {"code": code, "state": state})
    assert response.status_code == 200
    assert b"Zendesk connected" in response.content
    connection = HelpdeskConnection.objects.get(tenant=tenant)
    assert connection.auth_type == HelpdeskConnection.AuthType.OAUTH
    assert connection.status == HelpdeskConnection.Status.CONNECTED
    token = connection.secret()["access_token"]
    assert token and token.encode() not in response.content
    assert connection.agent_email


def test_token_without_write_scope_is_refused(client, tenant, zendesk, oauth):
    state, redirect = _start(tenant)
    code = zendesk.oauth_code(ZD_SUBDOMAIN, "read", redirect_uri=redirect)
    response = client.get(CALLBACK, {"code": code, "state": state})
    assert response.status_code == 400
    assert b"helpdesk_scope_missing" in response.content and b"read and write" in response.content
    assert not HelpdeskConnection.objects.exists()


def test_tampered_state_is_refused(client, tenant, zendesk, oauth):
    state, redirect = _start(tenant)
    code = zendesk.oauth_code(ZD_SUBDOMAIN, "read write", redirect_uri=redirect)
    response = client.get(CALLBACK, {"code": code, "state": state[:-2] + "xx"})
    assert response.status_code == 400 and b"oauth_state_invalid" in response.content
    assert not HelpdeskConnection.objects.exists()


def test_denied_authorization_says_so(client, tenant, oauth):
    state, _ = _start(tenant)
    response = client.get(
        CALLBACK, {"error": "access_denied", "error_description": "The end-user denied", "state": state}
    )
    assert response.status_code == 400 and b"did not authorize" in response.content


def test_oauth_not_configured(tenant, settings):
    from config.errors import ApplicationError

    settings.ZENDESK_OAUTH_CLIENT_ID = ""
    with pytest.raises(ApplicationError) as info:
        zendesk_oauth_start(tenant=tenant, account_id="x", subdomain="acme")
    assert info.value.code == "oauth_not_configured"


def _connected_by_oauth(client, tenant, zendesk):
    state, redirect = _start(tenant)
    code = zendesk.oauth_code(ZD_SUBDOMAIN, "read write", redirect_uri=redirect)
    assert client.get(CALLBACK, {"code": code, "state": state}).status_code == 200
    return HelpdeskConnection.objects.get(tenant=tenant)


def _expire(connection):
    secret = connection.secret()
    secret["expires_at"] = 0
    connection.set_secret(secret)
    connection.save()
    return HelpdeskConnection.objects.get(pk=connection.pk)


def test_expiring_token_is_refreshed_and_rotated(client, tenant, zendesk, oauth):
    from connector.providers import client_for

    connection = _connected_by_oauth(client, tenant, zendesk)
    first = connection.secret()
    assert first.get("refresh_token") and first.get("expires_at")
    connection = _expire(connection)
    assert client_for(connection).me()["email"]
    stored = HelpdeskConnection.objects.get(pk=connection.pk).secret()
    assert stored["access_token"] != first["access_token"]
    assert stored["refresh_token"] != first["refresh_token"]  # Zendesk rotates refresh tokens
    assert stored["expires_at"] > first["expires_at"] - 5


def test_concurrent_refresh_loser_uses_the_winners_token(client, tenant, zendesk, oauth):
    from connector.services.connections import zendesk_oauth_access_token

    connection = _expire(_connected_by_oauth(client, tenant, zendesk))
    stale_copy = HelpdeskConnection.objects.get(pk=connection.pk)
    winner = zendesk_oauth_access_token(connection)
    loser = zendesk_oauth_access_token(stale_copy)  # its refresh token was consumed by the winner
    assert loser == winner
    assert HelpdeskConnection.objects.get(pk=connection.pk).status == HelpdeskConnection.Status.CONNECTED


def test_refused_refresh_marks_the_connection(client, tenant, zendesk, oauth):
    from connector.clients.base import ApiError
    from connector.services.connections import zendesk_oauth_access_token

    connection = _expire(_connected_by_oauth(client, tenant, zendesk))
    zendesk.accounts[ZD_SUBDOMAIN].refresh_tokens.clear()  # revoked at Zendesk
    with pytest.raises(ApiError):
        zendesk_oauth_access_token(connection)
    stored = HelpdeskConnection.objects.get(pk=connection.pk)
    assert stored.status == HelpdeskConnection.Status.AUTH_FAILED
    assert "connect again" in stored.last_error

"""Connecting Zendesk: validation against Zendesk, every error with a clear message and nothing saved,
revoke pauses items, reconnect restores them."""

from __future__ import annotations

import socket

import pytest

from config.errors import ApplicationError
from connector.models import ConnectedItem, HelpdeskConnection
from connector.services import ItemSpec, connected_item_save, connection_revoke, zendesk_connect
from tests.conftest import ZD_EMAIL, ZD_SUBDOMAIN, ZD_TOKEN

pytestmark = pytest.mark.django_db


def connect(tenant, **kw):
    args = {"subdomain": ZD_SUBDOMAIN, "email": ZD_EMAIL, "api_token": ZD_TOKEN, **kw}
    return zendesk_connect(tenant=tenant, **args)


def test_connect_stores_identity_and_encrypted_token(tenant, zendesk):
    connection = connect(tenant)
    assert connection.status == HelpdeskConnection.Status.CONNECTED
    assert connection.subdomain == "acme"
    assert connection.agent_email == ZD_EMAIL and connection.agent_name == "Ada Agent"
    assert connection.agent_id and connection.agent_role == "agent"
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connector_helpdeskconnection WHERE id = %s", [connection.pk])
        assert ZD_TOKEN not in cursor.fetchone()[0]
    assert HelpdeskConnection.objects.get().secret()["api_token"] == ZD_TOKEN
    # Zendesk saw Basic email/token:… on users/me
    assert zendesk.calls("GET", r"/users/me\.json$")


@pytest.mark.parametrize(
    "pasted", ["https://acme.zendesk.com", "acme.zendesk.com", "https://ACME.zendesk.com/agent/tickets/5", " acme "]
)
def test_pasted_url_is_reduced_to_subdomain(tenant, zendesk, pasted):
    assert connect(tenant, subdomain=pasted).subdomain == "acme"


def expect_error(tenant, code, **kw):
    with pytest.raises(ApplicationError) as info:
        connect(tenant, **kw)
    assert info.value.code == code, info.value.message
    assert not HelpdeskConnection.objects.exists()
    return info.value


@pytest.mark.parametrize("bad", ["", "-acme", "acme_co", "ac me", "https://example.com/x", "a" * 64])
def test_invalid_subdomain(tenant, zendesk, bad):
    error = expect_error(tenant, "subdomain_invalid", subdomain=bad)
    assert "before .zendesk.com" in error.message


# Zendesk answers users/me with 200 and an anonymous user (id null, role end-user) -- not 401 -- when it does
# not accept an email/token pair; the connect flow must read that answer as "credentials refused".
@pytest.mark.parametrize(
    "credentials",
    [{"api_token": "wrong-token"}, {"email": "nobody@elsewhere.test"}],
    ids=["wrong token", "unknown email"],
)
def test_an_anonymous_answer_to_wrong_credentials_is_auth_failed(tenant, zendesk, credentials):
    error = expect_error(tenant, "helpdesk_auth_failed", **credentials)
    assert "anonymous user" in error.message and "token access is enabled" in error.message
    assert error.extra["fields"] == {"api_token": ["Zendesk did not accept this email and token."]}
    assert len(zendesk.calls("GET", r"/users/me\.json$")) == 1


def test_a_refused_token_is_auth_failed(tenant, zendesk):
    """Zendesk answers 401 for the token of a suspended agent."""
    agent = next(u for u in zendesk.accounts[ZD_SUBDOMAIN].users.values() if u["email"] == ZD_EMAIL)
    agent["suspended"] = True
    error = expect_error(tenant, "helpdesk_auth_failed")
    assert "Couldn't authenticate you" in error.message


def test_end_user_is_refused(tenant, zendesk):
    zendesk.add_user(ZD_SUBDOMAIN, name="Carl Customer", email="carl@acme.test", role="end-user")
    error = expect_error(tenant, "helpdesk_not_agent", email="carl@acme.test")
    assert "not an agent" in error.message


def test_unknown_subdomain_is_not_found(tenant, zendesk):
    error = expect_error(tenant, "helpdesk_not_found", subdomain="nosuchco")
    assert "Check the subdomain" in error.message


def test_unreachable(tenant, zendesk, settings):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    settings.ZENDESK_URL_TEMPLATE = f"http://127.0.0.1:{port}/zd/{{subdomain}}"
    error = expect_error(tenant, "helpdesk_unreachable")
    assert error.status_code == 502


def test_timeout(tenant, zendesk, settings):
    settings.HTTP_READ_TIMEOUT_SECONDS = 0.3
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    settings.ZENDESK_URL_TEMPLATE = f"http://127.0.0.1:{listener.getsockname()[1]}/zd/{{subdomain}}"
    try:
        expect_error(tenant, "helpdesk_timeout")
    finally:
        listener.close()


def test_rate_limited(tenant, zendesk):
    zendesk.rate_limit_next(1, retry_after=42)
    error = expect_error(tenant, "helpdesk_rate_limited")
    assert error.extra["retry_after"] == 42 and "42 seconds" in error.message


def test_missing_credentials(tenant, zendesk):
    error = expect_error(tenant, "credentials_missing", email="", api_token="")
    assert set(error.extra["fields"]) == {"email", "api_token"}
    assert not zendesk.calls()


def test_revoke_pauses_items_and_reconnect_restores(tenant, zendesk, project):
    connection = connect(tenant)
    item, _ = connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(name="Customers", mode="display", jira_project="SUP", helpdesk_object="user"),
    )
    ConnectedItem.objects.filter(pk=item.pk).update(last_error="Zendesk rejected the credentials (401).")
    connection = connection_revoke(tenant=tenant, connection=connection)
    assert connection.status == HelpdeskConnection.Status.REVOKED
    assert connection.credentials == "" and connection.secret() == {}
    assert ConnectedItem.objects.get().is_paused
    connection = connect(tenant)
    item = ConnectedItem.objects.get()
    assert not item.is_paused and item.last_error == ""
    assert connection.status == HelpdeskConnection.Status.CONNECTED and connection.last_error == ""
    assert HelpdeskConnection.objects.count() == 1


def test_switching_to_another_account_with_links_is_refused(tenant, zendesk, project, jira):
    from sync.models import Link

    connection = connect(tenant)
    item, _ = connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(name="Tickets", mode="display", jira_project="SUP", helpdesk_object="ticket"),
    )
    zendesk.add_account("other")
    zendesk.add_agent("other", "ops@other.test", "other-token")
    # Without links the admin may move to another account.
    assert connect(tenant, subdomain="other", email="ops@other.test", api_token="other-token").subdomain == "other"
    connect(tenant)
    Link.objects.create(tenant=tenant, item=item, jira_issue_id="10001", jira_issue_key="SUP-1", record_id="1")
    calls = len(zendesk.requests)
    with pytest.raises(ApplicationError) as info:
        connect(tenant, subdomain="other", email="ops@other.test", api_token="other-token")
    assert info.value.code == "helpdesk_account_switch" and info.value.status_code == 409
    assert "acme.zendesk.com" in info.value.message
    assert len(zendesk.requests) == calls  # refused before asking Zendesk
    assert HelpdeskConnection.objects.get().subdomain == "acme"

"""Connect with Zendesk (OAuth with our global client), the primary connect path.

The attempt is bound to the tenant and the Jira user who started it, to the browser that opened the link
(cookie), and is usable once; the callback exchanges the code, refuses tokens that cannot write tickets and
stores the token encrypted. Refresh tokens rotate: refreshing happens under the connection's row lock, and a
single refused call never condemns a working connection.
"""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connections
from django.test import Client

from connector.models import HelpdeskConnection, OAuthState
from connector.services import zendesk_oauth_start
from connector.services.connections import OAUTH_COOKIE, zendesk_oauth_access_token
from demo.fakes.zendesk import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tests.conftest import ADMIN_ACCOUNT, ZD_SUBDOMAIN, postgres_only

pytestmark = pytest.mark.django_db

START = "/connect/zendesk/oauth/start"
CALLBACK = "/connect/zendesk/oauth/callback"


@pytest.fixture
def oauth(settings, zendesk):
    settings.ZENDESK_OAUTH_CLIENT_ID = DEFAULT_CLIENT_ID
    settings.ZENDESK_OAUTH_CLIENT_SECRET = DEFAULT_CLIENT_SECRET
    redirect = settings.APP_BASE_URL + CALLBACK
    zendesk.add_oauth_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, [redirect])
    return redirect


def _begin(tenant, account=ADMIN_ACCOUNT) -> str:
    """The admin page's "Connect with Zendesk": our own start URL (APP_BASE_URL), never Zendesk's."""
    url = zendesk_oauth_start(tenant=tenant, account_id=account, subdomain="https://acme.zendesk.com")
    assert url.startswith("https://deskbridge.test" + START + "?state=")
    return url


def _state(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def _open(browser: Client, url: str, tenant=None, account: str = ADMIN_ACCOUNT) -> str:
    """The admin page opens the attempt in a new window: a form post with the admin's page session. We set
    the binding cookie and redirect to Zendesk."""
    from tenants.auth import JiraPrincipal, page_session_issue
    from tenants.models import Tenant

    tenant = tenant or Tenant.objects.get()
    session = page_session_issue(JiraPrincipal(tenant, account))
    response = browser.post(START, {"state": _state(url), "session": session})
    assert response.status_code == 302, response.content
    cookie = response.cookies[OAUTH_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/connect/zendesk/oauth/"
    return response["Location"]


def _consent(authorize_url: str, oauth_redirect: str) -> dict[str, str]:
    """Zendesk's consent page (the fake approves at once) redirects back with code and state."""
    query = parse_qs(urlsplit(authorize_url).query)
    assert urlsplit(authorize_url).path.endswith("/oauth/authorizations/new")
    assert query["client_id"] == [DEFAULT_CLIENT_ID] and query["response_type"] == ["code"]
    assert query["scope"] == ["read write"] and query["redirect_uri"] == [oauth_redirect]
    answer = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    return {k: v[0] for k, v in parse_qs(back.query).items()}


def test_oauth_round_trip_connects(client, tenant, zendesk, oauth):
    params = _consent(_open(client, _begin(tenant)), oauth)
    response = client.get(CALLBACK, params)
    assert response.status_code == 200, response.content
    assert b"Zendesk connected" in response.content
    connection = HelpdeskConnection.objects.get(tenant=tenant)
    assert connection.auth_type == HelpdeskConnection.AuthType.OAUTH
    assert connection.status == HelpdeskConnection.Status.CONNECTED
    token = connection.secret()["access_token"]
    assert token and token.encode() not in response.content
    assert connection.agent_email
    attempt = OAuthState.objects.get()
    assert attempt.tenant_id == tenant.pk and attempt.account_id == ADMIN_ACCOUNT and attempt.used_at
    assert response.cookies[OAUTH_COOKIE].value == ""  # the binding cookie is cleared


def test_the_callback_is_usable_once(client, tenant, zendesk, oauth):
    params = _consent(_open(client, _begin(tenant)), oauth)
    assert client.get(CALLBACK, params).status_code == 200
    HelpdeskConnection.objects.all().delete()
    # a replay (same state, even with a fresh code and the same browser) changes nothing
    client.cookies[OAUTH_COOKIE] = _cookie_for(OAuthState.objects.get().nonce)
    replay = client.get(
        CALLBACK, {**params, "code": zendesk.oauth_code(ZD_SUBDOMAIN, "read write", redirect_uri=oauth)}
    )
    assert replay.status_code == 400 and b"oauth_state_used" in replay.content
    assert not HelpdeskConnection.objects.exists()


def test_the_start_link_opens_once(client, tenant, oauth):
    url = _begin(tenant)
    _open(client, url)
    from tenants.auth import JiraPrincipal, page_session_issue

    session = page_session_issue(JiraPrincipal(tenant, ADMIN_ACCOUNT))
    again = Client().post(START, {"state": _state(url), "session": session})
    assert again.status_code == 400 and b"oauth_state_used" in again.content


def test_the_start_link_opens_only_for_the_admin_who_started_it(client, tenant, zendesk, oauth, settings, install_keys):
    """A start link handed to someone else — another Jira user, another site's admin, or anyone without a
    Deskbridge page session — opens nothing (no cookie, no redirect to Zendesk)."""
    from tenants.auth import JiraPrincipal, page_session_issue
    from tests.panel.links_helpers import install_second_tenant

    url = _begin(tenant)
    colleague = page_session_issue(JiraPrincipal(tenant, "another-admin"))
    refused = Client().post(START, {"state": _state(url), "session": colleague})
    assert refused.status_code == 400 and b"oauth_user_mismatch" in refused.content
    assert OAUTH_COOKIE not in refused.cookies
    bravo = install_second_tenant(client, settings, install_keys, zendesk)
    try:
        other_site = page_session_issue(JiraPrincipal(bravo.tenant, ADMIN_ACCOUNT))
        refused = Client().post(START, {"state": _state(url), "session": other_site})
        assert refused.status_code == 400 and b"oauth_user_mismatch" in refused.content
    finally:
        bravo.jira.stop()
    plain_link = Client().get(START, {"state": _state(url)})
    assert plain_link.status_code == 400 and b"oauth_user_mismatch" in plain_link.content
    assert OAuthState.objects.get().opened_at is None
    _open(client, url, tenant=tenant)  # the admin who started it still can


def test_a_script_attempt_opens_after_a_confirmation_naming_the_site(api, client, tenant, zendesk, oauth):
    url = api.post("/api/v1/connections/zendesk/oauth", {"subdomain": "acme"}).json()["authorize_url"]
    page = client.get(url.replace("https://deskbridge.test", ""))
    assert page.status_code == 200 and b"oauth-confirm" in page.content
    assert tenant.base_url.encode() in page.content and b"acme.zendesk.com" in page.content
    confirm = page.cookies["deskbridge_zd_confirm"]
    assert confirm["samesite"] == "Strict"
    forged = Client().post(START, {"state": _state(url), "confirm": confirm.value})  # another site's auto-post
    assert forged.status_code == 400 and b"oauth_unconfirmed" in forged.content
    opened = client.post(START, {"state": _state(url), "confirm": confirm.value})
    assert opened.status_code == 302 and OAUTH_COOKIE in opened.cookies


def test_a_callback_in_another_browser_is_refused(client, tenant, zendesk, oauth):
    """A leaked or forged link completed elsewhere (no binding cookie, or another attempt's) connects nothing."""
    params = _consent(_open(client, _begin(tenant)), oauth)
    stranger = Client()
    response = stranger.get(CALLBACK, params)
    assert response.status_code == 400 and b"oauth_browser_mismatch" in response.content
    other_browser = Client()
    _open(other_browser, _begin(tenant, account="someone-else"), account="someone-else")  # its own cookie
    crossed = other_browser.get(CALLBACK, params)
    assert crossed.status_code == 400 and b"oauth_browser_mismatch" in crossed.content
    assert not HelpdeskConnection.objects.exists()
    assert client.get(CALLBACK, params).status_code == 200  # the right browser still completes it


def test_the_attempt_is_bound_to_the_user_and_tenant_that_started_it(client, tenant, zendesk, oauth):
    params = _consent(_open(client, _begin(tenant)), oauth)
    OAuthState.objects.update(account_id="another-user")  # the row no longer matches the signed state
    response = client.get(CALLBACK, params)
    assert response.status_code == 400 and b"oauth_state_used" in response.content
    assert not HelpdeskConnection.objects.exists()


def test_an_uninstalled_site_is_not_connected(client, tenant, zendesk, oauth):
    params = _consent(_open(client, _begin(tenant)), oauth)
    type(tenant).objects.filter(pk=tenant.pk).update(state="uninstalled")
    response = client.get(CALLBACK, params)
    assert response.status_code == 400 and b"no longer installed" in response.content
    assert not HelpdeskConnection.objects.exists()


def test_an_old_attempt_has_expired(client, tenant, zendesk, oauth):
    from datetime import timedelta

    from django.utils import timezone

    params = _consent(_open(client, _begin(tenant)), oauth)
    OAuthState.objects.update(created_at=timezone.now() - timedelta(minutes=11))
    response = client.get(CALLBACK, params)
    assert response.status_code == 400 and b"oauth_state_used" in response.content


def test_token_without_write_scope_is_refused(client, tenant, zendesk, oauth):
    params = _consent(_open(client, _begin(tenant)), oauth)
    params["code"] = zendesk.oauth_code(ZD_SUBDOMAIN, "read", redirect_uri=oauth)
    response = client.get(CALLBACK, params)
    assert response.status_code == 400
    assert b"helpdesk_scope_missing" in response.content and b"read and write" in response.content
    assert not HelpdeskConnection.objects.exists()


def test_tampered_state_is_refused(client, tenant, zendesk, oauth):
    params = _consent(_open(client, _begin(tenant)), oauth)
    response = client.get(CALLBACK, {**params, "state": params["state"][:-2] + "xx"})
    assert response.status_code == 400 and b"oauth_state_invalid" in response.content
    assert not HelpdeskConnection.objects.exists()


def test_denied_authorization_says_so(client, tenant, zendesk, oauth):
    zendesk.accounts[ZD_SUBDOMAIN].deny_authorization = True
    params = _consent(_open(client, _begin(tenant)), oauth)
    response = client.get(CALLBACK, params)
    assert response.status_code == 400 and b"did not authorize" in response.content
    assert not HelpdeskConnection.objects.exists()


def test_oauth_not_configured(tenant, settings):
    from config.errors import ApplicationError

    settings.ZENDESK_OAUTH_CLIENT_ID = ""
    with pytest.raises(ApplicationError) as info:
        zendesk_oauth_start(tenant=tenant, account_id="x", subdomain="acme")
    assert info.value.code == "oauth_not_configured"
    assert "ZENDESK_OAUTH_CLIENT_ID" in info.value.message


def test_the_configuration_api_starts_oauth(api, client, tenant, zendesk, oauth):
    response = api.post("/api/v1/connections/zendesk/oauth", {"subdomain": "acme"})
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["expires_in"] == 600
    page = client.get(body["authorize_url"].replace("https://deskbridge.test", ""))
    opened = client.post(
        START, {"state": _state(body["authorize_url"]), "confirm": page.cookies["deskbridge_zd_confirm"].value}
    )
    assert opened.status_code == 302
    params = _consent(opened["Location"], oauth)
    assert client.get(CALLBACK, params).status_code == 200
    assert HelpdeskConnection.objects.get().auth_type == HelpdeskConnection.AuthType.OAUTH
    assert OAuthState.objects.get().account_id.startswith("api-token:")


def test_the_configuration_api_refuses_a_bad_subdomain(api, oauth):
    response = api.post("/api/v1/connections/zendesk/oauth", {"subdomain": "not a subdomain!"})
    assert response.status_code == 400 and response.json()["code"] == "subdomain_invalid"
    assert not OAuthState.objects.exists()


def _cookie_for(nonce: str) -> str:
    from django.core import signing

    return signing.get_cookie_signer(salt=OAUTH_COOKIE).sign(nonce)


# --- refresh ------------------------------------------------------------------------------------------------


def _connected_by_oauth(client, tenant, zendesk, oauth):
    params = _consent(_open(client, _begin(tenant)), oauth)
    assert client.get(CALLBACK, params).status_code == 200
    return HelpdeskConnection.objects.get(tenant=tenant)


def _expire(connection):
    secret = connection.secret()
    secret["expires_at"] = 0
    connection.set_secret(secret)
    connection.save()
    return HelpdeskConnection.objects.get(pk=connection.pk)


def _refreshes(zendesk) -> int:
    return sum(1 for r in zendesk.calls("POST", r"/oauth/tokens$") if b"refresh_token" in r.body)


def test_expiring_token_is_refreshed_and_rotated(client, tenant, zendesk, oauth):
    from connector.providers import client_for

    connection = _connected_by_oauth(client, tenant, zendesk, oauth)
    first = connection.secret()
    assert first.get("refresh_token") and first.get("expires_at")
    connection = _expire(connection)
    assert client_for(connection).me()["email"]
    stored = HelpdeskConnection.objects.get(pk=connection.pk).secret()
    assert stored["access_token"] != first["access_token"]
    assert stored["refresh_token"] != first["refresh_token"]  # Zendesk rotates refresh tokens
    assert stored["expires_at"] > first["expires_at"] - 5


def test_a_stale_copy_takes_the_token_another_worker_stored(client, tenant, zendesk, oauth):
    connection = _expire(_connected_by_oauth(client, tenant, zendesk, oauth))
    stale_copy = HelpdeskConnection.objects.get(pk=connection.pk)
    winner = zendesk_oauth_access_token(connection)
    loser = zendesk_oauth_access_token(stale_copy)  # re-reads under the lock: no second refresh
    assert loser == winner
    assert _refreshes(zendesk) == 1
    assert HelpdeskConnection.objects.get(pk=connection.pk).status == HelpdeskConnection.Status.CONNECTED


def test_refused_refresh_marks_the_connection(client, tenant, zendesk, oauth):
    from connector.clients.base import ApiError

    connection = _expire(_connected_by_oauth(client, tenant, zendesk, oauth))
    zendesk.accounts[ZD_SUBDOMAIN].refresh_tokens.clear()  # revoked at Zendesk
    with pytest.raises(ApiError):
        zendesk_oauth_access_token(connection)
    stored = HelpdeskConnection.objects.get(pk=connection.pk)
    assert stored.status == HelpdeskConnection.Status.AUTH_FAILED
    assert "Connect with Zendesk again" in stored.last_error


def test_an_unreachable_zendesk_during_refresh_marks_nothing(client, tenant, zendesk, oauth):
    from connector.clients.base import ApiError

    connection = _expire(_connected_by_oauth(client, tenant, zendesk, oauth))
    zendesk.fail_next(503, {"error": "down"}, path=r"/oauth/tokens")
    with pytest.raises(ApiError):
        zendesk_oauth_access_token(connection)
    assert HelpdeskConnection.objects.get(pk=connection.pk).status == HelpdeskConnection.Status.CONNECTED


def test_a_successful_refresh_clears_a_stale_auth_failure(client, tenant, zendesk, oauth):
    """The reproduced race: a loser marked the connection auth_failed, then the winner's refresh succeeded —
    the connection must come back, or every item stays blocked."""
    connection = _expire(_connected_by_oauth(client, tenant, zendesk, oauth))
    HelpdeskConnection.objects.filter(pk=connection.pk).update(status="auth_failed", last_error="stale")
    zendesk_oauth_access_token(connection)
    stored = HelpdeskConnection.objects.get(pk=connection.pk)
    assert stored.status == HelpdeskConnection.Status.CONNECTED and stored.last_error == ""


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_refresh_once_and_stay_connected(zendesk, oauth, jira):
    """Two workers hold the same expiring token and refresh at the same moment. Under the row lock the
    second waits, re-reads, and takes the first one's token: one refresh at Zendesk, no auth_failed."""
    from tenants.models import Tenant
    from tests.conftest import post_lifecycle

    assert post_lifecycle(Client(), jira, "installed").status_code == 204
    tenant = Tenant.objects.get()
    browser = Client()
    connection = _expire(_connected_by_oauth(browser, tenant, zendesk, oauth))
    copies = [HelpdeskConnection.objects.get(pk=connection.pk) for _ in range(2)]
    zendesk.add_latency(0.3, path=r"/oauth/tokens$")  # both refreshes are in flight together without the lock
    barrier = threading.Barrier(2)
    tokens, errors = [], []

    def worker(copy):
        try:
            barrier.wait()
            tokens.append(zendesk_oauth_access_token(copy))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(c,)) for c in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(tokens) == 2 and tokens[0] == tokens[1]
    assert _refreshes(zendesk) == 1
    stored = HelpdeskConnection.objects.get(pk=connection.pk)
    assert stored.status == HelpdeskConnection.Status.CONNECTED
    assert stored.secret()["access_token"] == tokens[0]


# --- one refused call does not condemn the connection -------------------------------------------------------


def test_one_401_on_a_panel_action_does_not_mark_auth_failed(tenant, connection, zendesk, project):
    from connector.clients.base import ApiUnauthorized
    from sync.services import helpdesk_failure
    from tests.panel.links_helpers import make_item

    item = make_item(tenant, connection)
    failure = helpdesk_failure(ApiUnauthorized("no", status=401, service="Zendesk"), item)
    assert failure.code == "helpdesk_auth_retry"  # users/me still answers: the token works
    assert HelpdeskConnection.objects.get().status == HelpdeskConnection.Status.CONNECTED


def test_a_confirmed_401_marks_auth_failed(tenant, connection, zendesk, project):
    from connector.clients.base import ApiUnauthorized
    from sync.services import helpdesk_failure
    from tests.conftest import ZD_TOKEN
    from tests.panel.links_helpers import make_item

    item = make_item(tenant, connection)
    zendesk.revoke_api_token(ZD_SUBDOMAIN, ZD_TOKEN)
    failure = helpdesk_failure(ApiUnauthorized("no", status=401, service="Zendesk"), item)
    assert failure.code == "helpdesk_auth_failed"
    assert HelpdeskConnection.objects.get().status == HelpdeskConnection.Status.AUTH_FAILED


def test_a_401_on_an_oauth_connection_refreshes_instead(client, tenant, zendesk, oauth, project):
    from connector.clients.base import ApiUnauthorized
    from sync.services import helpdesk_failure
    from tests.panel.links_helpers import make_item

    connection = _connected_by_oauth(client, tenant, zendesk, oauth)
    before = connection.secret()["access_token"]
    item = make_item(tenant, connection)
    failure = helpdesk_failure(ApiUnauthorized("no", status=401, service="Zendesk"), item)
    assert failure.code == "helpdesk_auth_retry"
    stored = HelpdeskConnection.objects.get()
    assert stored.status == HelpdeskConnection.Status.CONNECTED
    assert stored.secret()["access_token"] != before  # refreshed under the lock
    zendesk.accounts[ZD_SUBDOMAIN].refresh_tokens.clear()
    failure = helpdesk_failure(ApiUnauthorized("no", status=401, service="Zendesk"), item)
    assert failure.code == "helpdesk_auth_failed"
    assert HelpdeskConnection.objects.get().status == HelpdeskConnection.Status.AUTH_FAILED


def test_a_401_then_a_rate_limited_confirmation_marks_nothing(tenant, connection, zendesk, project):
    from connector.clients.base import ApiUnauthorized
    from sync.services import helpdesk_failure
    from tests.panel.links_helpers import make_item

    item = make_item(tenant, connection)
    zendesk.rate_limit_next(retry_after=30)  # the confirming users/me call is rate limited
    failure = helpdesk_failure(ApiUnauthorized("no", status=401, service="Zendesk"), item)
    assert failure.code == "helpdesk_auth_retry"
    assert HelpdeskConnection.objects.get().status == HelpdeskConnection.Status.CONNECTED


def test_a_401_then_an_unreachable_refresh_marks_nothing(client, tenant, zendesk, oauth, project):
    from connector.clients.base import ApiUnauthorized
    from sync.services import helpdesk_failure
    from tests.panel.links_helpers import make_item

    connection = _connected_by_oauth(client, tenant, zendesk, oauth)
    item = make_item(tenant, connection)
    zendesk.fail_next(503, {"error": "down"}, path=r"/oauth/tokens")
    failure = helpdesk_failure(ApiUnauthorized("no", status=401, service="Zendesk"), item)
    assert failure.code == "helpdesk_auth_retry"
    assert HelpdeskConnection.objects.get().status == HelpdeskConnection.Status.CONNECTED


def test_confirming_a_revoked_or_failed_connection_asks_nothing(tenant, connection, zendesk):
    from connector.services import connection_auth_failure_confirm

    before = len(zendesk.requests)
    HelpdeskConnection.objects.update(status=HelpdeskConnection.Status.REVOKED)
    assert connection_auth_failure_confirm(connection=HelpdeskConnection.objects.get()) is False
    HelpdeskConnection.objects.update(status=HelpdeskConnection.Status.AUTH_FAILED)
    assert connection_auth_failure_confirm(connection=HelpdeskConnection.objects.get()) is True
    assert len(zendesk.requests) == before


def test_a_crash_while_refreshing_reports_no_token_or_client_secret(client, tenant, zendesk, oauth, monkeypatch):
    import sys

    from django.views.debug import ExceptionReporter

    from connector.clients.zendesk import ZendeskClient

    connection = _expire(_connected_by_oauth(client, tenant, zendesk, oauth))

    def crash(self, *, refresh_token, client_id, client_secret):
        del refresh_token, client_secret  # this fake's own frame must not hold them
        raise RuntimeError("refresh exploded")

    monkeypatch.setattr(ZendeskClient, "oauth_refresh", crash)
    try:
        zendesk_oauth_access_token(connection)
    except RuntimeError:
        report = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
    assert "refresh exploded" in report
    assert connection.secret()["refresh_token"] not in report and DEFAULT_CLIENT_SECRET not in report

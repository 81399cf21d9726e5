"""Connecting Zoho Desk with a Self Client against the fake (every data center): each refusal in words the
admin can act on, with nothing stored; several organizations wait for the admin's choice; access tokens are
shared by workers, renewed under a lock within Zoho's limit, and a refused renewal marks the connection."""

from __future__ import annotations

import threading

import pytest

from config.errors import ApplicationError
from connector.clients.base import ApiUnauthorized
from connector.clients.zoho_desk import DATA_CENTERS, ZohoCreditsExhausted, ZohoTokenLimit, desk_url
from connector.models import HelpdeskConnection
from connector.providers import client_for
from connector.services import connection_revoke, zendesk_connect
from connector.services.zoho import zoho_access_token, zoho_connect, zoho_organization_choose, zoho_pending
from tests.conftest import ZD_EMAIL, ZD_SUBDOMAIN, ZD_TOKEN, ZOHO_CLIENT_ID, ZOHO_DC, ZOHO_SECRET, postgres_only

pytestmark = pytest.mark.django_db


def connect(tenant, the_code, **overrides):
    values = {"data_center": ZOHO_DC, "client_id": ZOHO_CLIENT_ID, "client_secret": ZOHO_SECRET, "code": the_code}
    values.update(overrides)
    return zoho_connect(tenant=tenant, **values)


def refused(tenant, the_code, **overrides) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        connect(tenant, the_code, **overrides)
    assert not HelpdeskConnection.objects.filter(tenant=tenant, provider="zoho_desk", status="connected").exists()
    return info.value


def test_connect_stores_tokens_encrypted_and_the_identity(tenant, zoho, zoho_code):
    connection = connect(tenant, zoho_code())
    assert connection.status == "connected"
    assert connection.settings == {
        "data_center": "eu",
        "org_id": zoho.org.id,
        "org_name": "Acme Support",
        "portal": "acmesupport",
        "edition": "PROFESSIONAL",
        "client_id": ZOHO_CLIENT_ID,
    }
    assert connection.agent_id == zoho.agent["id"] and connection.agent_email == "zoe@acme.test"
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connector_helpdeskconnection WHERE id = %s", [connection.pk])
        stored = cursor.fetchone()[0]
    assert ZOHO_SECRET not in stored and "refresh" not in stored  # encrypted at rest
    assert connection.secret()["client_secret"] == ZOHO_SECRET
    assert desk_url("ca").endswith("/desk/ca")  # the tests' override; production uses the table:
    assert DATA_CENTERS["ca"].desk_host == "desk.zohocloud.ca" and len(DATA_CENTERS) == 9


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"data_center": "us"}, "zoho_client_invalid", "client_id"),  # the Self Client lives in eu
        ({"client_secret": "wrong-secret"}, "zoho_secret_invalid", "client_secret"),
        ({"data_center": "mars"}, "data_center_invalid", "data_center"),
        ({"client_id": "not-a-client-id"}, "credentials_missing", "client_id"),
        ({"code": ""}, "credentials_missing", "code"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_nothing_changes(tenant, zoho, zoho_code, change, code, field):
    error = refused(tenant, zoho_code(), **change)
    assert error.code == code and field in error.extra["fields"]
    assert not HelpdeskConnection.objects.filter(tenant=tenant).exists()


def test_a_used_or_expired_code_is_refused(tenant, zoho, zoho_code):
    code = zoho_code()
    connect(tenant, code)
    with pytest.raises(ApplicationError) as info:
        connect(tenant, code)
    assert info.value.code == "zoho_code_invalid"  # works once
    connection_revoke(tenant=tenant, connection=HelpdeskConnection.objects.get())
    late = zoho_code(minutes=3)
    zoho.advance(200)
    error = refused(tenant, late)
    assert error.code == "zoho_code_invalid" and "expired" in error.message


def test_missing_scopes_say_which_scope_string_to_use(tenant, zoho, zoho_code):
    error = refused(tenant, zoho_code(scopes="Desk.basic.READ,Desk.tickets.READ"))
    assert error.code == "zoho_scope_mismatch" and "Desk.search.READ" in error.message


def test_spent_credits_and_too_many_calls_are_rate_limits(tenant, zoho, zoho_code):
    zoho.threshold_exceeded_next(n=5)
    error = refused(tenant, zoho_code())
    assert error.code == "zoho_credits_exhausted" and error.status_code == 429
    zoho._forced.clear()
    zoho.too_many_requests_next(n=5)
    error = refused(tenant, zoho_code())
    assert error.status_code == 429 and "TOO_MANY_REQUESTS" in error.message


def test_zoho_unreachable_is_said(tenant, zoho, zoho_code, settings):
    settings.ZOHO_ACCOUNTS_URL_OVERRIDE = "http://127.0.0.1:9/accounts/{dc}"
    error = refused(tenant, "1000.abc")
    assert error.code == "helpdesk_unreachable" and error.status_code == 502


def test_several_organizations_wait_for_the_admins_choice(tenant, zoho, zoho_code):
    second = zoho.add_org(ZOHO_DC, name="Acme Sales", portal_name="acmesales")
    zoho.add_agent(second.id, name="Zoe Agent", email="zoe@acme.test")
    zoho.add_self_client(ZOHO_DC, client_id=ZOHO_CLIENT_ID, client_secret=ZOHO_SECRET, user=zoho.agent)
    connection = connect(tenant, zoho_code(org_id=second.id))
    pending = zoho_pending(connection)
    assert connection.status != "connected" and {o["name"] for o in pending["organizations"]} == {
        "Acme Support",
        "Acme Sales",
    }
    assert "client_secret" not in str(pending) and ZOHO_SECRET not in str(pending)
    # the code was generated for Acme Sales: the other organization is refused in words
    with pytest.raises(ApplicationError) as info:
        zoho_organization_choose(tenant=tenant, org_id=zoho.org.id)
    assert info.value.code == "zoho_org_mismatch"
    connection = zoho_organization_choose(tenant=tenant, org_id=second.id)
    assert connection.status == "connected" and connection.settings["org_name"] == "Acme Sales"
    assert zoho_pending(connection) is None


def test_another_helpdesk_must_be_disconnected_first(tenant, zendesk, zoho, zoho_code, project):
    zendesk_conn = zendesk_connect(tenant=tenant, subdomain=ZD_SUBDOMAIN, email=ZD_EMAIL, api_token=ZD_TOKEN)
    error = refused(tenant, zoho_code())
    assert error.code == "helpdesk_other_connected" and error.status_code == 409
    connection_revoke(tenant=tenant, connection=zendesk_conn)
    assert connect(tenant, zoho_code()).status == "connected"


def test_an_expiring_token_is_renewed_once_and_shared(tenant, zoho_connection, zoho):
    before = len(zoho.token_refreshes)
    secret = zoho_connection.secret()
    secret["expires_at"] = 0
    zoho_connection.set_secret(secret)
    zoho_connection.save()
    token = zoho_access_token(zoho_connection)
    assert token != secret["access_token"] and len(zoho.token_refreshes) == before + 1
    fresh = HelpdeskConnection.objects.get(pk=zoho_connection.pk)
    assert zoho_access_token(fresh) == token  # another worker uses the stored token
    assert len(zoho.token_refreshes) == before + 1


def test_invalid_oauth_renews_once_and_repeats_the_call(tenant, zoho_connection, zoho):
    zoho.expire_access_tokens()
    client = client_for(zoho_connection)
    assert client.myinfo()["id"] == zoho.agent["id"]
    assert sum(1 for r in zoho.requests if r.path.endswith("/myinfo")) >= 2  # refused, then repeated


def test_a_refused_renewal_marks_the_connection_auth_failed(tenant, zoho_connection, zoho):
    zoho.revoke_refresh_token(zoho_connection.secret()["refresh_token"])
    client = client_for(zoho_connection)
    with pytest.raises(ApiUnauthorized):
        client.myinfo()
    stored = HelpdeskConnection.objects.get(pk=zoho_connection.pk)
    assert stored.status == "auth_failed" and "Generate a new code" in stored.last_error


def test_the_token_limit_is_respected(tenant, zoho_connection, zoho):
    secret = zoho_connection.secret()
    import time

    secret["refreshes"] = [time.time()] * 10  # ten renewals in the last ten minutes
    secret["expires_at"] = 0
    zoho_connection.set_secret(secret)
    zoho_connection.save()
    before = len(zoho.token_refreshes)
    with pytest.raises(ZohoTokenLimit):
        zoho_access_token(zoho_connection, refused=secret["access_token"])
    assert len(zoho.token_refreshes) == before  # Zoho was not asked for an 11th token


def test_spent_credits_halt_the_poll_until_tomorrow(tenant, zoho_connection, zoho, project):
    from sync.engine import connection_poll
    from sync.models import SyncRun, SyncState
    from tests.zoho.test_zoho_sync import zitem

    zitem(tenant, zoho_connection)
    zoho.threshold_exceeded_next()
    run = connection_poll(connection_id=zoho_connection.pk)
    assert run.outcome == SyncRun.Outcome.HALTED and run.reason.startswith("Rate limited by Zoho Desk: retrying in")
    state = SyncState.objects.get()
    assert state.next_poll_at is not None and state.cursors.get("tickets", "") == ""
    assert ZohoCreditsExhausted.__mro__[1].__name__ == "ApiRateLimited"


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_workers_renew_one_token(tenant, zoho_connection, zoho):
    secret = zoho_connection.secret()
    secret["expires_at"] = 0
    zoho_connection.set_secret(secret)
    zoho_connection.save()
    zoho.add_latency(0.3, path=r"/oauth/v2/token")
    before = len(zoho.token_refreshes)
    tokens, errors = [], []

    def work():
        from django.db import connection as db

        try:
            tokens.append(zoho_access_token(HelpdeskConnection.objects.get(pk=zoho_connection.pk)))
        except Exception as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(tokens)) == 1
    assert len(zoho.token_refreshes) == before + 1

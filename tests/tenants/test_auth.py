"""Inbound authentication: Jira JWTs on pages and JSON endpoints, page sessions, tenant API tokens; licence
recording and gating."""

from __future__ import annotations

import base64
import time

import jwt as pyjwt
import pytest
from atlassian_jwt.url_utils import hash_url
from django.core import signing

from tenants.auth import PAGE_SESSION_SALT, JiraPrincipal, page_session_issue
from tenants.models import Tenant

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.tenants.urls_for_tests")]


def page_url(jira, path="/t/page", query="lic=active&xdm_e=https%3A%2F%2Fx.atlassian.net&cp=&tz=UTC&loc=en-US", **kw):
    relative = f"{path}?{query}" if query else path
    token = jira.sign("GET", relative, **kw)
    sep = "&" if query else "?"
    return f"{relative}{sep}jwt={token}"


def test_page_with_valid_jwt_attaches_tenant_and_user(client, jira, tenant):
    response = client.get(page_url(jira, account_id="acc-1"))
    assert response.status_code == 200
    assert response.content.decode() == f"page tenant={jira.client_key} account=acc-1"
    assert response["Content-Security-Policy"] == f"frame-ancestors 'self' {jira.url}"
    assert "X-Frame-Options" not in response


def test_page_records_license_from_lic(client, jira, tenant):
    client.get(page_url(jira, query="lic=none"))
    tenant.refresh_from_db()
    assert tenant.license == Tenant.License.NONE


def test_unlicensed_page_shows_license_required(client, jira, tenant):
    response = client.get(page_url(jira, query="lic=none"))
    assert response.status_code == 403
    assert b"licence is required" in response.content
    assert b'data-testid="license-required"' in response.content


def test_missing_lic_is_not_active(client, jira, tenant):
    response = client.get(page_url(jira, query="xdm_e=x"))
    assert response.status_code == 403
    tenant.refresh_from_db()
    assert tenant.license == Tenant.License.UNKNOWN


def test_development_tenant_is_not_gated(client, jira, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(is_development=True)
    assert client.get(page_url(jira, query="lic=none")).status_code == 200


def test_licensing_can_be_switched_off(client, jira, tenant, settings):
    settings.ATLASSIAN_LICENSING_ENFORCED = False
    assert client.get(page_url(jira, query="lic=none")).status_code == 200


def test_unlicensed_api_is_403_license_required(client, jira, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(license=Tenant.License.NONE)
    response = client.get("/t/api/context", HTTP_AUTHORIZATION=f"JWT {jira.context_token()}")
    assert response.status_code == 403
    assert response.json()["code"] == "license_required"
    assert "licence" in response.json()["message"]


def test_context_token_accepted_where_declared(client, jira, tenant):
    response = client.get("/t/api/context", HTTP_AUTHORIZATION=f"JWT {jira.context_token(account_id='u-9')}")
    assert response.status_code == 200
    assert response.json() == {"tenant": jira.client_key, "account": "u-9"}


def test_request_bound_token_accepted_on_api(client, jira, tenant):
    token = jira.sign("GET", "/t/api/strict?x=1")
    response = client.get("/t/api/strict?x=1", HTTP_AUTHORIZATION=f"JWT {token}")
    assert response.status_code == 200


def test_context_token_refused_on_strict_api(client, jira, tenant):
    response = client.get("/t/api/strict", HTTP_AUTHORIZATION=f"JWT {jira.context_token()}")
    assert response.status_code == 401
    assert response.json()["code"] == "jwt_context_not_allowed"


def _rs256_on_hs256(jira):
    now = int(time.time())
    return pyjwt.encode(
        {"iss": jira.client_key, "iat": now, "exp": now + 60, "qsh": hash_url("GET", "/t/page")},
        jira.private_pem,
        algorithm="RS256",
        headers={"kid": jira.kid},
    )


BAD_PAGE_TOKENS = {
    "rs256_on_hs256_endpoint": (_rs256_on_hs256, 401, "jwt_algorithm"),
    "expired": (lambda j: j.sign("GET", "/t/page", exp_in=-60), 401, "jwt_expired"),
    "wrong_secret": (
        lambda j: j.sign("GET", "/t/page", secret="not-the-secret-0123456789abcdef"),
        401,
        "jwt_signature",
    ),
    "unknown_iss": (lambda j: j.sign("GET", "/t/page", iss="jira:unknown"), 401, "jwt_unknown_issuer"),
    "tampered_qsh": (lambda j: j.sign("GET", "/t/page?admin=1"), 401, "jwt_qsh_mismatch"),
    "context_token_on_page": (lambda j: j.context_token(), 401, "jwt_context_not_allowed"),
    "garbage": (lambda j: "not.a.jwt", 401, "jwt_malformed"),
}


@pytest.mark.parametrize("case", sorted(BAD_PAGE_TOKENS))
def test_bad_page_tokens(client, jira, tenant, case):
    make, status, code = BAD_PAGE_TOKENS[case]
    before = Tenant.objects.values_list("license", "license_checked_at", "state").get()
    response = client.get(f"/t/page?jwt={make(jira)}")
    assert response.status_code == status
    assert f"reason: <code>{code}</code>".encode() in response.content
    assert Tenant.objects.values_list("license", "license_checked_at", "state").get() == before


@pytest.mark.parametrize("case", sorted(BAD_PAGE_TOKENS))
def test_bad_api_tokens(client, jira, tenant, case):
    make, status, code = BAD_PAGE_TOKENS[case]
    if case == "context_token_on_page":
        return  # context tokens are valid on context endpoints; covered by the strict endpoint test
    response = client.get("/t/api/context", HTTP_AUTHORIZATION=f"JWT {make(jira)}")
    assert response.status_code == status
    assert response.json()["code"] == code


def test_expiry_leeway_is_at_most_30_seconds(client, jira, tenant):
    late = jira.sign("GET", "/t/page?lic=active", exp_in=-20)
    assert client.get(f"/t/page?lic=active&jwt={late}").status_code == 200
    too_late = jira.sign("GET", "/t/page?lic=active", exp_in=-45)
    assert client.get(f"/t/page?lic=active&jwt={too_late}").status_code == 401


def test_token_in_query_and_header_is_400(client, jira, tenant):
    token = jira.sign("GET", "/t/page")
    response = client.get(f"/t/page?jwt={token}", HTTP_AUTHORIZATION=f"JWT {token}")
    assert response.status_code == 400
    response = client.get(f"/t/api/context?jwt={token}", HTTP_AUTHORIZATION=f"JWT {jira.context_token()}")
    assert response.status_code == 400 and response.json()["code"] == "jwt_ambiguous"


def test_no_token_on_api_is_401(client, tenant):
    response = client.get("/t/api/context")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_disabled_and_uninstalled_tenants_are_refused(client, jira, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(state=Tenant.State.DISABLED)
    response = client.get("/t/api/context", HTTP_AUTHORIZATION=f"JWT {jira.context_token()}")
    assert response.status_code == 403 and response.json()["code"] == "tenant_disabled"
    Tenant.objects.filter(pk=tenant.pk).update(state=Tenant.State.UNINSTALLED)
    response = client.get("/t/api/context", HTTP_AUTHORIZATION=f"JWT {jira.context_token()}")
    assert response.status_code == 401 and response.json()["code"] == "jwt_unknown_issuer"


def test_tricky_page_path_qsh_matches_jira(client, jira, tenant):
    """Jira signs the URL it loads; & in the path, unicode, repeated keys and spaces must all verify."""
    path = "/t/page/a%26b/%C3%BC"
    query = "b=2&a=x%20y&a=w&lic=active&empty="
    token = jira.sign("GET", f"{path}?{query}")
    response = client.get(f"{path}?{query}&jwt={token}")
    assert response.status_code == 200, response.content


def test_drf_errors_use_the_one_shape(client, jira, tenant):
    response = client.post(
        "/t/api/context",
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {jira.context_token()}",
    )
    assert response.status_code == 405
    assert response.json() == {
        "code": "method_not_allowed",
        "message": 'Method "POST" not allowed.',
        "extra": {},
    }


# --- the per-process tenant cache (on in production, off in the rest of the tests) --------------------


@pytest.fixture
def tenant_cache(settings):
    from tenants import selectors

    settings.TENANT_CACHE_SECONDS = 5
    selectors._TENANT_CACHE.clear()
    yield selectors
    selectors._TENANT_CACHE.clear()


def _api(client, jira, **kw):
    return client.get("/t/api/context", HTTP_AUTHORIZATION=f"JWT {jira.context_token(**kw)}")


def test_cached_tenant_saves_the_lookup(client, jira, tenant, tenant_cache, django_assert_num_queries):
    assert _api(client, jira).status_code == 200
    with django_assert_num_queries(0):
        assert _api(client, jira).status_code == 200


def test_secret_rotated_by_another_process_is_picked_up_at_once(client, jira, tenant, tenant_cache):
    assert _api(client, jira).status_code == 200  # cached with the old secret
    jira.shared_secret = "rotated-by-reinstall-elsewhere-0123456789"
    Tenant.objects.filter(pk=tenant.pk).update(shared_secret=jira.shared_secret)  # as another process would
    assert _api(client, jira).status_code == 200


def test_old_secret_is_refused_after_rotation(client, jira, tenant, tenant_cache):
    old = jira.context_token()
    jira.shared_secret = "rotated-by-reinstall-elsewhere-0123456789"
    Tenant.objects.filter(pk=tenant.pk).update(shared_secret=jira.shared_secret)
    assert client.get("/t/api/context", HTTP_AUTHORIZATION=f"JWT {old}").status_code == 401


def test_lifecycle_changes_evict_at_once(client, jira, tenant, tenant_cache):
    from tests.conftest import post_lifecycle

    assert _api(client, jira).status_code == 200
    assert post_lifecycle(client, jira, "disabled").status_code == 204
    assert _api(client, jira).json()["code"] == "tenant_disabled"
    assert post_lifecycle(client, jira, "uninstalled").status_code == 204
    assert _api(client, jira).json()["code"] == "jwt_unknown_issuer"


def test_changes_by_other_processes_apply_within_the_ttl(client, jira, tenant, tenant_cache, monkeypatch):
    import time

    assert _api(client, jira).status_code == 200
    Tenant.objects.filter(pk=tenant.pk).update(state=Tenant.State.DISABLED)  # another web process
    assert _api(client, jira).status_code == 200  # still cached
    later = time.monotonic() + 6
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert _api(client, jira).json()["code"] == "tenant_disabled"


# --- tenant API tokens (scripts) -------------------------------------------------------------------------


def _token_headers(form: str, token: str) -> dict[str, str]:
    if form == "bearer":
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"ops@example.com/token:{token}".encode()).decode()}


@pytest.mark.parametrize("form", ["bearer", "basic"])
@pytest.mark.parametrize("state", [Tenant.State.DISABLED, Tenant.State.UNINSTALLED])
def test_api_tokens_of_a_disabled_or_uninstalled_tenant_are_refused(client, tenant, api_token, state, form):
    headers = _token_headers(form, api_token)
    assert client.get("/api/v1/connections", **headers).status_code == 200  # the token works while active
    Tenant.objects.filter(pk=tenant.pk).update(state=state)
    response = client.get("/api/v1/connections", **headers)
    assert response.status_code == 403
    assert response.json()["code"] == "tenant_disabled"
    assert "API tokens work again once it is enabled" in response.json()["message"]


# --- page sessions (follow-up requests of a page Jira loaded) --------------------------------------------


def _signed_session(**data) -> str:
    """A session signed exactly as ours are (right key, right salt), with whatever claims a forger picks."""
    return signing.dumps(data, salt=PAGE_SESSION_SALT)


def _post_with_session(client, session: str):
    return client.post("/t/page", data={"session": session})


@pytest.fixture
def other_site(db):
    return Tenant.objects.create(
        client_key="jira:other-site",
        app_key="com.deskbridge.jira.test",
        base_url="https://other.atlassian.net",
        shared_secret="other-site-secret-0123456789abcdef",
        license=Tenant.License.ACTIVE,
    )


def test_a_page_session_authenticates_the_pages_own_forms(client, jira, tenant):
    session = page_session_issue(JiraPrincipal(tenant, "acc-1"))
    response = _post_with_session(client, session)
    assert response.status_code == 200
    assert response.content.decode() == f"page tenant={jira.client_key} account=acc-1"


@pytest.mark.parametrize(
    "claims",
    [
        lambda tenant, other: {"t": other.pk, "k": tenant.client_key},  # tenant id of another site
        lambda tenant, other: {"t": tenant.pk, "k": other.client_key},  # client key of another site
        lambda tenant, other: {"t": tenant.pk, "k": "jira:not-installed"},  # no such site
    ],
    ids=["foreign tenant id", "foreign client key", "unknown client key"],
)
def test_a_page_session_whose_tenant_id_and_client_key_disagree_is_refused(client, tenant, other_site, claims):
    forged = _signed_session(**claims(tenant, other_site), a="acc-1")
    response = _post_with_session(client, forged)
    assert response.status_code == 401
    assert b"reason: <code>jwt_unknown_issuer</code>" in response.content


def test_a_page_session_of_an_uninstalled_site_is_refused(client, jira, tenant):
    from tests.conftest import post_lifecycle

    session = page_session_issue(JiraPrincipal(tenant, "acc-1"))
    assert post_lifecycle(client, jira, "uninstalled").status_code == 204
    response = _post_with_session(client, session)
    assert response.status_code == 401
    assert b"reason: <code>jwt_unknown_issuer</code>" in response.content


def test_a_page_session_of_a_disabled_site_is_refused(client, jira, tenant):
    session = page_session_issue(JiraPrincipal(tenant, "acc-1"))
    Tenant.objects.filter(pk=tenant.pk).update(state=Tenant.State.DISABLED)
    response = _post_with_session(client, session)
    assert response.status_code == 403
    assert b"reason: <code>tenant_disabled</code>" in response.content

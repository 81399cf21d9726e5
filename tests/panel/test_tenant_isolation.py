"""Tenant isolation of the configuration API, walked over every URL pattern under /api/v1/ so that a new
endpoint is covered the day it is added; and no secret in any response.

Tenant A owns a connection, an SCI, API tokens, a Jira project and helpdesk fields with recognisable
names. Tenant B (its own Jira site, Zendesk account and API token) calls every route with A's ids:
detail routes answer 404, nothing of A's shows up anywhere, and A's data is unchanged afterwards.
"""

from __future__ import annotations

import pytest
from django.urls import URLResolver, reverse

from connector.models import ConnectedItem, FieldMapping, HelpdeskConnection
from panel import urls as panel_urls
from tenants.models import ApiToken
from tests.conftest import ADMIN_ACCOUNT, ZD_EMAIL, ZD_SUBDOMAIN, ZD_TOKEN

pytestmark = pytest.mark.django_db

A_PROJECT = ("ALPHA", "Alpha secret project")
A_ITEM = "Alpha escalations"
A_TICKET_FIELD = "Alpha-only ticket field"
A_USER_FIELD = "Alpha-only user field"
A_TOKEN_NAME = "alpha nightly export"


def _api_v1_routes():
    """Every URL pattern mounted under api/v1/ by panel.urls (nested includes too), with its path."""
    mounted = [p for p in panel_urls.urlpatterns if isinstance(p, URLResolver) and str(p.pattern) == "api/v1/"]
    assert len(mounted) == 1, "panel.urls no longer mounts one include at api/v1/"

    def walk(patterns, prefix):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            else:
                yield prefix + str(entry.pattern), entry

    return list(walk(mounted[0].url_patterns, "api/v1/"))


def _patterns():
    """(url name, HTTP method, URL kwargs) for every route under /api/v1/."""
    cases = []
    for path, pattern in _api_v1_routes():
        assert pattern.name, f"route {path} has no name: name it so the isolation walk can reverse it"
        callback = pattern.callback
        actions = getattr(callback, "actions", None)
        if actions:
            methods = sorted(actions)
        else:
            view = callback.view_class
            methods = [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)]
        kwargs = sorted(pattern.pattern.regex.groupindex)
        cases.extend((pattern.name, method, tuple(kwargs)) for method in methods)
    return cases


PATTERNS = _patterns()


def _ids(case):
    return f"{case[1].upper()} {case[0]}"


def test_the_walk_sees_every_kind_of_route():
    """Guards the walker itself: if it stopped finding routes, the isolation tests would pass vacuously."""
    names = {name for name, _, _ in PATTERNS}
    assert {
        "connection-list",
        "connection-detail",
        "connection-revoke",
        "item-list",
        "item-detail",
        "item-preset",
        "token-list",
        "token-detail",
        "schema-helpdesk-fields",
        "schema-jira-projects",
        "schema-jira-issuetypes",
        "schema-jira-createmeta",
        "schema-jira-fields",
        "schema-jira-priorities",
    } <= names
    assert ("item-detail", "delete", ("pk",)) in PATTERNS and ("item-detail", "patch", ("pk",)) in PATTERNS


@pytest.fixture
def alpha(bearer, tenant, connection, zendesk, jira):
    """Tenant A's configuration, made through the API like an admin would."""
    jira.add_project(*A_PROJECT)
    zendesk.add_ticket_field(ZD_SUBDOMAIN, A_TICKET_FIELD, "text")
    zendesk.add_user_field(ZD_SUBDOMAIN, "alpha_only", A_USER_FIELD)
    response = bearer.post(
        "/api/v1/items",
        {
            "name": A_ITEM,
            "mode": "one_way",
            "jira_project": A_PROJECT[0],
            "jira_issue_type_id": "10001",
            "helpdesk_object": "ticket",
            "mappings": [{"helpdesk_field": "subject", "jira_field": "summary"}],
        },
    )
    assert response.status_code == 201, response.content
    from tenants.services import api_token_create

    row, plain = api_token_create(tenant=tenant, name=A_TOKEN_NAME, created_by="test")
    token = {"id": row.pk, "token": plain}
    from sync.models import SyncRun

    run = SyncRun.objects.create(tenant=tenant, connection=connection, trigger="schedule", reason=A_ITEM)
    return {
        "pk": {
            "connection": connection.pk,
            "item": response.json()["item"]["id"],
            "token": token["id"],
            "run": run.pk,
        },
        "external_id": response.json()["item"]["external_id"],
        "token": token["token"],
    }


def _snapshot(tenant):
    return {
        "connections": list(HelpdeskConnection.objects.filter(tenant=tenant).values()),
        "items": list(ConnectedItem.objects.filter(tenant=tenant).values()),
        "mappings": list(FieldMapping.objects.filter(item__tenant=tenant).values()),
        "tokens": list(ApiToken.objects.filter(tenant=tenant).values()),
    }


# URL kwargs that name a kind of thing every tenant has, not one of tenant A's objects.
GENERIC_KWARGS = {"helpdesk_object": "ticket"}
# Query strings for routes that take A's objects as parameters.
QUERIES = {"item-preset": f"?project={A_PROJECT[0]}&issue_type=10001"}


def _url(name, kwargs, alpha) -> tuple[str, bool]:
    """The route's URL filled with tenant A's ids, and whether it names one of A's objects."""
    basename = name.rsplit("-", 1)[0]
    if "pk" in kwargs and basename not in alpha["pk"]:
        pytest.fail(f"new route {name}: give tenant A a {basename} in the alpha fixture so B can try its id")
    values = {
        "pk": alpha["pk"].get(basename),
        "project": A_PROJECT[0],
        "issue_type": "10001",
        **GENERIC_KWARGS,
    }
    unknown = set(kwargs) - set(values)
    if unknown:
        pytest.fail(f"new route {name} takes {sorted(unknown)}: say how tenant A's value for it is filled in")
    url = reverse(f"panel:{name}", kwargs={k: values[k] for k in kwargs}) + QUERIES.get(name, "")
    return url, bool(set(kwargs) - set(GENERIC_KWARGS)) or name in QUERIES


# A body for writes: A's project and A's names, so nothing of A's may be reached through it either.
PROBE_BODY = {
    "name": "probe",
    "mode": "display",
    "jira_project": A_PROJECT[0],
    "helpdesk_object": "user",
    "display_fields": ["name"],
    "subdomain": ZD_SUBDOMAIN,
    "email": ZD_EMAIL,
}


def _a_markers(alpha):
    return [
        A_PROJECT[1],
        A_ITEM,
        A_TICKET_FIELD,
        A_USER_FIELD,
        A_TOKEN_NAME,
        alpha["external_id"],
        ZD_EMAIL,
        "Ada Agent",
    ]


# Every route with tenant B's API token; the reads also with B's Jira admin context JWT (the other way
# request.tenant gets set).
WALK = [(case, "bearer") for case in PATTERNS] + [(case, "jwt") for case in PATTERNS if case[1] == "get"]


@pytest.mark.parametrize(("case", "auth"), WALK, ids=[f"{_ids(c)}-{a}" for c, a in WALK])
def test_another_tenant_never_reaches_tenant_a(alpha, other, tenant, case, auth):
    name, method, kwargs = case
    before = _snapshot(tenant)
    caller = getattr(other, auth)
    url, names_a_object = _url(name, kwargs, alpha)
    response = caller.call(method, url, PROBE_BODY)

    body = response.content.decode()
    for marker in _a_markers(alpha):
        assert marker not in body, f"{method.upper()} {name} showed tenant A's {marker!r}: {body[:500]}"
    if names_a_object:
        assert response.status_code == 404, body
        assert set(response.json()) == {"code", "message", "extra"}
    elif method == "get" and response.status_code == 200:
        rows = response.json()
        rows = rows["results"] if isinstance(rows, dict) and "results" in rows else rows
        if name.endswith("-list"):
            assert alpha["pk"][name.split("-")[0]] not in {r["id"] for r in rows}
    assert _snapshot(tenant) == before, f"{method.upper()} {name} by tenant B changed tenant A's data"


def test_lists_show_each_tenant_its_own_rows(alpha, other, bearer):
    """The positive side of the walk: B sees B's rows, A sees A's."""
    b_connections = other.bearer.get("/api/v1/connections").json()
    assert [c["subdomain"] for c in b_connections] == ["beta"]
    assert [t["name"] for t in other.bearer.get("/api/v1/tokens").json()] == ["beta script"]
    assert other.bearer.get("/api/v1/items").json() == []
    assert [p["key"] for p in other.bearer.get("/api/v1/schema/jira/projects").json()] == ["OPS"]

    assert [c["subdomain"] for c in bearer.get("/api/v1/connections").json()] == ["acme"]
    assert [i["name"] for i in bearer.get("/api/v1/items").json()] == [A_ITEM]
    assert [p["key"] for p in bearer.get("/api/v1/schema/jira/projects").json()] == ["ALPHA", "SUP"]


def test_another_tenants_token_cannot_be_used_as_a_jwt_admin(alpha, other, client, jira):
    """A context token signed by tenant B's site for an account that is an admin on A's site is still B's."""
    jira.admins.add(ADMIN_ACCOUNT)
    token = other.jira.context_token(account_id=ADMIN_ACCOUNT)
    response = client.get("/api/v1/items", HTTP_AUTHORIZATION=f"JWT {token}")
    assert response.status_code == 403 and response.json()["code"] == "admin_required"


# --- secrets -------------------------------------------------------------------------------------------

GET_PATTERNS = [case for case in PATTERNS if case[1] == "get"]


@pytest.mark.parametrize("case", GET_PATTERNS, ids=_ids)
def test_no_get_endpoint_shows_a_secret(alpha, tenant, api_token, bearer, case):
    name, _, kwargs = case
    response = bearer.get(_url(name, kwargs, alpha)[0])
    assert response.status_code == 200, response.content
    body = response.content.decode()
    for secret in (ZD_TOKEN, tenant.shared_secret, api_token, alpha["token"]):
        assert secret not in body, f"GET {name} shows a secret"
    for row in ApiToken.objects.all():
        assert row.token_hash not in body
    assert '"credentials"' not in body and '"shared_secret"' not in body and '"token_hash"' not in body


def test_write_responses_show_no_secret(bearer, tenant, zendesk, project):
    created = bearer.post("/api/v1/connections", {"subdomain": ZD_SUBDOMAIN, "email": ZD_EMAIL, "api_token": ZD_TOKEN})
    assert created.status_code == 201 and ZD_TOKEN not in created.content.decode()
    revoked = bearer.post(f"/api/v1/connections/{created.json()['id']}/revoke")
    assert revoked.status_code == 200 and ZD_TOKEN not in revoked.content.decode()
    failed = bearer.post("/api/v1/connections", {"subdomain": ZD_SUBDOMAIN, "email": ZD_EMAIL, "api_token": "wrong-1"})
    assert failed.status_code == 400 and "wrong-1" not in failed.content.decode()
    for response in (created, revoked, failed):
        assert tenant.shared_secret not in response.content.decode()

"""The links REST API in the shape of Zendesk's Jira-links API (``/api/v2/integrations/jira/{external_id}/links``).

Scripts written against Zendesk's API must work unchanged, so response bodies are compared whole:
``{"count", "links", "meta"}`` lists, ``{"link": {...}}`` bodies and ``{"errors": [{"code", "title"}]}``
errors. Existence of issues and tickets is checked against the fake Jira site and the fake Zendesk.
"""

from __future__ import annotations

import base64

import pytest

from sync.models import Link
from tenants.models import ApiToken, Tenant
from tests.conftest import ZD_EMAIL, ZD_SUBDOMAIN
from tests.panel.links_helpers import ApiClient, badge, badge_of, install_second_tenant, make_item, raw_link

pytestmark = pytest.mark.django_db

LIST_PATH = "/api/v2/integrations/jira/{}/links"
DETAIL_PATH = "/api/v2/integrations/jira/{}/links/ticket/{}/issue/{}"


# Zendesk's examples show an empty page's cursors as empty strings, never null.
EMPTY_META = {"after": "", "before": "", "has_more": False}


def errors(code: str, title: str) -> dict:
    return {"errors": [{"code": code, "title": title}]}


def link_body(issue, ticket_id, key: str = "SUP-1") -> dict:
    return {"issue_id": str(issue["id"]), "issue_key": key, "ticket_id": str(ticket_id)}


def basic(email: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()


@pytest.fixture
def item(tenant, connection, project):
    return make_item(tenant, connection)


@pytest.fixture
def issue(jira, project):
    return jira.add_issue(key="SUP-1", summary="Printer is on fire")


@pytest.fixture
def ticket(zendesk):
    return zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire")


@pytest.fixture
def token_api(client, api_token):
    return ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {api_token}")


@pytest.fixture
def urls(item):
    class Urls:
        links = LIST_PATH.format(item.external_id)

        @staticmethod
        def detail(ticket_id, issue_id):
            return DETAIL_PATH.format(item.external_id, ticket_id, issue_id)

    return Urls


@pytest.fixture
def bravo(client, settings, install_keys, zendesk, tenant):
    second = install_second_tenant(client, settings, install_keys, zendesk)
    yield second
    second.jira.stop()


# --- create, read, delete ------------------------------------------------------------------------------


def test_a_new_integration_lists_no_links(token_api, urls):
    response = token_api.get(urls.links)
    assert response.status_code == 200
    assert response.json() == {"count": 0, "links": [], "meta": EMPTY_META}


def test_post_creates_a_link_and_updates_the_badge(token_api, urls, tenant, item, issue, ticket, jira, api_token):
    response = token_api.post(urls.links, {"link": link_body(issue, ticket["id"])})

    assert response.status_code == 201, response.content
    assert response.json() == {"link": link_body(issue, ticket["id"])}
    link = Link.objects.get()
    assert (link.tenant_id, link.item_id, link.jira_issue_id, link.record_id) == (
        tenant.pk,
        item.pk,
        issue["id"],
        str(ticket["id"]),
    )
    assert link.origin == Link.Origin.MANUAL
    assert link.created_by == f"api-token:{ApiToken.objects.get(tenant=tenant).pk}"
    assert link.preview["title"] == f"#{ticket['id']} Printer on fire"
    assert badge(jira, issue["id"]) == badge_of(1)

    listed = token_api.get(urls.links).json()
    assert listed["count"] == 1 and listed["links"] == [link_body(issue, ticket["id"])]


def test_post_accepts_numeric_ids_and_answers_strings(token_api, urls, issue, ticket):
    body = {"link": {"issue_id": int(issue["id"]), "issue_key": "SUP-1", "ticket_id": ticket["id"]}}
    response = token_api.post(urls.links, body)
    assert response.status_code == 201, response.content
    assert response.json() == {"link": {"issue_id": issue["id"], "issue_key": "SUP-1", "ticket_id": str(ticket["id"])}}


def test_post_stores_the_issues_current_key(token_api, urls, issue, ticket):
    """The key sent may be stale (the issue moved project); Jira's answer wins."""
    response = token_api.post(urls.links, {"link": {**link_body(issue, ticket["id"]), "issue_key": "OLD-7"}})
    assert response.status_code == 201
    assert response.json()["link"]["issue_key"] == "SUP-1"
    assert Link.objects.get().jira_issue_key == "SUP-1"


def test_get_one_link(token_api, urls, issue, ticket):
    token_api.post(urls.links, {"link": link_body(issue, ticket["id"])})

    response = token_api.get(urls.detail(ticket["id"], issue["id"]))

    assert response.status_code == 200
    assert response.json() == {"link": link_body(issue, ticket["id"])}


@pytest.mark.parametrize("which", ["ticket", "issue"])
def test_get_a_missing_link_is_404(token_api, urls, issue, ticket, which):
    token_api.post(urls.links, {"link": link_body(issue, ticket["id"])})
    ticket_id, issue_id = (999, issue["id"]) if which == "ticket" else (ticket["id"], 424242)

    response = token_api.get(urls.detail(ticket_id, issue_id))

    assert response.status_code == 404
    assert response.json() == errors("NotFound", "Link not found")


def test_delete_unlinks_and_updates_the_badge(token_api, urls, issue, ticket, jira):
    token_api.post(urls.links, {"link": link_body(issue, ticket["id"])})
    assert badge(jira, issue["id"]) == badge_of(1)

    response = token_api.delete(urls.detail(ticket["id"], issue["id"]))

    assert response.status_code == 204
    assert response.content == b""
    assert not Link.objects.exists()
    assert badge(jira, issue["id"]) == badge_of(0)
    assert token_api.get(urls.detail(ticket["id"], issue["id"])).json() == errors("NotFound", "Link not found")
    assert token_api.delete(urls.detail(ticket["id"], issue["id"])).status_code == 404


def test_a_link_managed_by_sync_cannot_be_deleted(token_api, urls, tenant, item, issue, ticket):
    raw_link(tenant, item, issue["id"], ticket["id"], origin=Link.Origin.AUTO)

    response = token_api.delete(urls.detail(ticket["id"], issue["id"]))

    assert response.status_code == 403
    body = response.json()
    assert body["errors"][0]["code"] == "Forbidden"
    assert "automatic sync" in body["errors"][0]["title"]
    assert Link.objects.count() == 1


# --- refusals -----------------------------------------------------------------------------------------


def test_an_existing_link_is_409(token_api, urls, issue, ticket, zendesk):
    token_api.post(urls.links, {"link": link_body(issue, ticket["id"])})
    before = len(zendesk.requests)

    response = token_api.post(urls.links, {"link": link_body(issue, ticket["id"])})

    assert response.status_code == 409
    assert response.json() == errors("LinkAlreadyExists", f"Issue is already linked to ticket {ticket['id']}")
    assert Link.objects.count() == 1
    assert len(zendesk.requests) == before


@pytest.mark.parametrize(
    "raw",
    [
        "{}",
        '{"link": {}}',
        '{"link": "SUP-1"}',
        "[]",
        '{"link": {"issue_id": "10000", "issue_key": "SUP-1"}}',
        '{"link": {"issue_id": "10000", "ticket_id": "1"}}',
        '{"link": {"issue_id": " ", "issue_key": "SUP-1", "ticket_id": "1"}}',
        '{"issue_id": "10000", "issue_key": "SUP-1", "ticket_id": "1"}',
        "not json at all",
        '{"link": {"issue_id": "10000", ',
    ],
)
def test_a_bad_body_is_400(token_api, urls, issue, ticket, raw):
    response = token_api.post(urls.links, raw=raw)
    assert response.status_code == 400
    assert response.json() == errors("BadRequest", "Invalid request body")
    assert not Link.objects.exists()


def test_the_issue_must_exist_in_jira(token_api, urls, ticket, jira, project):
    response = token_api.post(urls.links, {"link": {"issue_id": "99999", "issue_key": "SUP-404", "ticket_id": "1"}})
    assert response.status_code == 400
    assert response.json() == errors("BadRequest", "Issue 99999 does not exist in Jira")
    assert jira.calls("GET", r"/rest/api/3/issue/99999$")  # really asked
    assert not Link.objects.exists()


def test_the_issue_must_be_in_the_integrations_project(token_api, urls, ticket, jira, project):
    jira.add_project("OPS", "Operations")
    other = jira.add_issue(key="OPS-3", project="OPS")
    response = token_api.post(urls.links, {"link": link_body(other, ticket["id"], key="OPS-3")})
    assert response.status_code == 400
    assert response.json() == errors("BadRequest", "Issue OPS-3 is not in project SUP of this integration")
    assert not Link.objects.exists()


def test_a_synchronized_integration_takes_only_its_issue_type(token_api, tenant, connection, project, ticket, jira):
    from connector.services import ItemSpec, connected_item_save

    synced, _ = connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(
            name="Synced", mode="one_way", jira_project="SUP", jira_issue_type_id="10002", helpdesk_object="ticket"
        ),
    )
    task = jira.add_issue(key="SUP-5", project="SUP", issue_type_id="10001")
    url = f"/api/v2/integrations/jira/{synced.external_id}/links"
    response = token_api.post(url, {"link": link_body(task, ticket["id"], key="SUP-5")})
    assert response.status_code == 400
    assert response.json() == errors(
        "BadRequest", "Issue SUP-5 is not a Bug, the issue type this integration synchronizes"
    )
    bug = jira.add_issue(key="SUP-6", project="SUP", issue_type_id="10002")
    assert token_api.post(url, {"link": link_body(bug, ticket["id"], key="SUP-6")}).status_code == 201


def test_the_issue_id_must_be_numeric(token_api, urls, issue, ticket):
    response = token_api.post(urls.links, {"link": {"issue_id": "SUP-1", "issue_key": "SUP-1", "ticket_id": "1"}})
    assert response.status_code == 400
    assert response.json() == errors("BadRequest", "issue_id must be the numeric Jira issue id")
    assert not Link.objects.exists()


@pytest.mark.parametrize("ticket_id", ["999", "abc"])
def test_the_ticket_must_exist_in_zendesk(token_api, urls, issue, ticket, jira, ticket_id):
    response = token_api.post(urls.links, {"link": link_body(issue, ticket_id)})
    assert response.status_code == 400
    assert response.json() == errors("BadRequest", f"Ticket {ticket_id} does not exist")
    assert not Link.objects.exists()
    assert badge(jira, issue["id"]) is None


def test_a_rate_limited_zendesk_is_429_with_retry_after(token_api, urls, issue, ticket, zendesk):
    zendesk.rate_limit_next(retry_after=42)

    response = token_api.post(urls.links, {"link": link_body(issue, ticket["id"])})

    assert response.status_code == 429
    assert response["Retry-After"] == "42"
    body = response.json()
    assert body["errors"][0]["code"] == "TooManyRequests"
    assert "42 seconds" in body["errors"][0]["title"]
    assert not Link.objects.exists()


def test_an_unreachable_jira_is_503(token_api, urls, issue, ticket, jira):
    jira.fail_next(503, {"errorMessages": ["Service unavailable"], "errors": {}}, path=r"/rest/api/3/issue/")

    response = token_api.post(urls.links, {"link": link_body(issue, ticket["id"])})

    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "ServiceUnavailable"
    assert not Link.objects.exists()


def test_linking_through_a_revoked_connection_is_refused(token_api, urls, tenant, connection, issue, ticket):
    from connector.services import connection_revoke

    connection_revoke(tenant=tenant, connection=connection)

    response = token_api.post(urls.links, {"link": link_body(issue, ticket["id"])})

    assert response.status_code == 409
    assert "reconnect" in response.json()["errors"][0]["title"]
    assert not Link.objects.exists()


def test_an_integration_without_link_automation_is_403(token_api, tenant, connection, project, issue, ticket):
    locked = make_item(tenant, connection, name="Locked", links_api_enabled=False)
    raw_link(tenant, locked, issue["id"], ticket["id"])
    forbidden = errors("Forbidden", "Link automation is not allowed for this integration")
    links = LIST_PATH.format(locked.external_id)
    detail = DETAIL_PATH.format(locked.external_id, ticket["id"], issue["id"])

    for response in (
        token_api.get(links),
        token_api.post(links, {"link": link_body(issue, ticket["id"])}),
        token_api.get(detail),
        token_api.delete(detail),
    ):
        assert response.status_code == 403
        assert response.json() == forbidden
    assert Link.objects.count() == 1


def test_an_unknown_integration_is_404(token_api, item):
    response = token_api.get(LIST_PATH.format("0" * 32))
    assert response.status_code == 404
    assert response.json() == errors("NotFound", "Integration not found")


def test_another_tenants_integration_is_404_both_ways(client, token_api, urls, issue, ticket, bravo):
    not_found = errors("NotFound", "Integration not found")
    b_links = LIST_PATH.format(bravo.item.external_id)
    b_detail = DETAIL_PATH.format(bravo.item.external_id, bravo.ticket["id"], bravo.issue["id"])

    # tenant A's token on tenant B's integration
    for response in (
        token_api.get(b_links),
        token_api.post(b_links, {"link": link_body(bravo.issue, bravo.ticket["id"])}),
        token_api.get(b_detail),
        token_api.delete(b_detail),
    ):
        assert response.status_code == 404
        assert response.json() == not_found
    assert Link.objects.filter(tenant=bravo.tenant).count() == 1

    # tenant B's token on tenant A's integration
    as_b = ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {bravo.api_token}")
    token_api.post(urls.links, {"link": link_body(issue, ticket["id"])})
    for response in (as_b.get(urls.links), as_b.get(urls.detail(ticket["id"], issue["id"]))):
        assert response.status_code == 404
        assert response.json() == not_found
    assert as_b.delete(urls.detail(ticket["id"], issue["id"])).status_code == 404
    assert Link.objects.count() == 2


# --- authentication -------------------------------------------------------------------------------------


def test_basic_auth_with_email_slash_token(client, urls, api_token, issue, ticket):
    api = ApiClient(client, HTTP_AUTHORIZATION=basic(ZD_EMAIL, api_token))

    created = api.post(urls.links, {"link": link_body(issue, ticket["id"])})
    listed = api.get(urls.links)

    assert created.status_code == 201
    assert listed.status_code == 200
    assert listed.json()["links"] == [link_body(issue, ticket["id"])]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-real-token",
        basic(ZD_EMAIL, "not-a-real-token"),
        "Basic " + base64.b64encode(b"agent@acme.test:password").decode(),  # not the /token form
        "Basic ???",
        "Token abc",
        None,
    ],
)
def test_without_a_valid_token_it_is_401(client, urls, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = ApiClient(client, **headers).get(urls.links)
    assert response.status_code == 401
    body = response.json()
    assert list(body) == ["errors"] and body["errors"][0]["code"] == "Unauthorized"
    assert body["errors"][0]["title"]
    assert response["WWW-Authenticate"] == 'Bearer realm="deskbridge"'


def test_a_revoked_token_is_401(client, urls, api_token, tenant):
    ApiToken.objects.filter(tenant=tenant).update(revoked_at="2025-01-01T00:00:00Z")
    response = ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {api_token}").get(urls.links)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "Unauthorized"


def test_a_jira_context_token_is_not_accepted(client, urls, jira):
    response = ApiClient(client, HTTP_AUTHORIZATION=f"JWT {jira.context_token()}").get(urls.links)
    assert response.status_code == 401


def test_an_unlicensed_tenant_is_403(token_api, urls, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(license=Tenant.License.NONE)
    response = token_api.get(urls.links)
    assert response.status_code == 403
    body = response.json()
    assert body["errors"][0]["code"] == "Forbidden"
    assert "licence" in body["errors"][0]["title"]


# --- listing: filters, order, cursors -------------------------------------------------------------------


@pytest.fixture
def five(tenant, item):
    """Five links made in this order: tickets 5, 3, 9, 1, 7 on issues 100/200 (ids unrelated to order)."""
    rows = [("100", 5), ("200", 3), ("100", 9), ("200", 1), ("100", 7)]
    return [raw_link(tenant, item, issue_id, ticket_id) for issue_id, ticket_id in rows]


def out(link: Link) -> dict:
    return {"issue_id": link.jira_issue_id, "issue_key": link.jira_issue_key, "ticket_id": link.record_id}


def test_links_are_listed_in_a_stable_creation_order(token_api, urls, five):
    first = token_api.get(urls.links).json()
    assert first == {
        "count": 5,
        "links": [out(link) for link in five],
        "meta": {"after": first["meta"]["after"], "before": first["meta"]["before"], "has_more": False},
    }
    assert token_api.get(urls.links).json() == first


def test_filters_by_ticket_and_issue(token_api, urls, five):
    by_issue = token_api.get(urls.links, data={"issue_id": "200"}).json()
    assert by_issue["count"] == 2 and by_issue["links"] == [out(five[1]), out(five[3])]
    by_ticket = token_api.get(urls.links, data={"ticket_id": "9"}).json()
    assert by_ticket["links"] == [out(five[2])]
    both = token_api.get(urls.links, data={"ticket_id": "9", "issue_id": "200"}).json()
    assert both == {"count": 0, "links": [], "meta": EMPTY_META}


def test_walk_forward_then_backward_through_pages(token_api, urls, five):
    def page(**params):
        response = token_api.get(urls.links, data={"page[size]": 2, **params})
        assert response.status_code == 200, response.content
        return response.json()

    p1 = page()
    assert p1["count"] == 2 and p1["links"] == [out(five[0]), out(five[1])] and p1["meta"]["has_more"] is True
    p2 = page(**{"page[after]": p1["meta"]["after"]})
    assert p2["links"] == [out(five[2]), out(five[3])] and p2["meta"]["has_more"] is True
    p3 = page(**{"page[after]": p2["meta"]["after"]})
    assert p3["count"] == 1 and p3["links"] == [out(five[4])] and p3["meta"]["has_more"] is False

    back2 = page(**{"page[before]": p3["meta"]["before"]})
    assert back2 == p2
    back1 = page(**{"page[before]": back2["meta"]["before"]})
    assert back1["links"] == p1["links"] and back1["meta"]["has_more"] is False
    assert back1["meta"]["after"] == p1["meta"]["after"] and back1["meta"]["before"] == p1["meta"]["before"]

    past_the_end = page(**{"page[after]": p3["meta"]["after"]})
    assert past_the_end == {"count": 0, "links": [], "meta": EMPTY_META}


def test_cursors_are_opaque_strings(token_api, urls, five):
    meta = token_api.get(urls.links, data={"page[size]": 2}).json()["meta"]
    for cursor in (meta["after"], meta["before"]):
        assert isinstance(cursor, str) and cursor
        assert not cursor.isdigit()
        assert str(five[0].pk) != cursor and str(five[1].pk) != cursor


def test_cursors_work_with_filters(token_api, urls, five):
    p1 = token_api.get(urls.links, data={"issue_id": "100", "page[size]": 2}).json()
    assert p1["links"] == [out(five[0]), out(five[2])] and p1["meta"]["has_more"] is True
    p2 = token_api.get(urls.links, data={"issue_id": "100", "page[size]": 2, "page[after]": p1["meta"]["after"]}).json()
    assert p2["links"] == [out(five[4])] and p2["meta"]["has_more"] is False


def test_page_size_defaults_to_100(token_api, urls, tenant, item):
    Link.objects.bulk_create(
        Link(tenant=tenant, item=item, jira_issue_id="100", jira_issue_key="SUP-1", record_id=str(n))
        for n in range(1, 102)
    )
    first = token_api.get(urls.links).json()
    assert first["count"] == 100 and first["meta"]["has_more"] is True
    assert [link["ticket_id"] for link in first["links"]] == [str(n) for n in range(1, 101)]
    rest = token_api.get(urls.links, data={"page[after]": first["meta"]["after"]}).json()
    assert rest["count"] == 1 and rest["links"][0]["ticket_id"] == "101" and rest["meta"]["has_more"] is False
    assert token_api.get(urls.links, data={"page[size]": 100}).json()["count"] == 100


def test_an_empty_page_has_empty_string_cursors_not_null(token_api, urls, five):
    """Scripts written for Zendesk test the cursor as a string (``meta["after"] + …``, ``len(...)``)."""
    empty = token_api.get(urls.links, data={"ticket_id": "404"}).json()
    assert empty["meta"] == {"after": "", "before": "", "has_more": False}
    meta = token_api.get(urls.links, data={"page[size]": 1}).json()["meta"]
    assert isinstance(meta["after"], str) and meta["after"] and isinstance(meta["before"], str) and meta["before"]


@pytest.mark.parametrize(
    "query",
    [
        "page[size]=&page[after]=",  # Zendesk's own sample request
        "page[size]=",
        "page[size]=&page[before]=",
        "page[after]=&page[before]=",
        "page[size]=&page[after]=&page[before]=&ticket_id=&issue_id=",
    ],
)
def test_empty_page_parameters_count_as_absent(token_api, urls, tenant, item, query):
    Link.objects.bulk_create(
        Link(tenant=tenant, item=item, jira_issue_id="100", jira_issue_key="SUP-1", record_id=str(n))
        for n in range(1, 102)
    )
    response = token_api.get(f"{urls.links}?{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 100 and body["meta"]["has_more"] is True  # the default page size, first page
    assert [link["ticket_id"] for link in body["links"]] == [str(n) for n in range(1, 101)]


def test_an_empty_page_size_still_pages_with_a_cursor(token_api, urls, five):
    first = token_api.get(f"{urls.links}?page[size]=2").json()
    rest = token_api.get(f"{urls.links}?page[size]=&page[after]={first['meta']['after']}&page[before]=").json()
    assert rest["links"] == [out(link) for link in five[2:]] and rest["meta"]["has_more"] is False


def test_both_cursors_are_refused(token_api, urls, five):
    meta = token_api.get(urls.links, data={"page[size]": 2}).json()["meta"]
    response = token_api.get(urls.links, data={"page[after]": meta["after"], "page[before]": meta["before"]})
    assert response.status_code == 400
    assert response.json() == errors("BadRequest", "Cannot use both page[after] and page[before] parameters")


@pytest.mark.parametrize(
    ("params", "title"),
    [
        ({"page[size]": 101}, "page[size] must be between 1 and 100"),
        ({"page[size]": 0}, "page[size] must be between 1 and 100"),
        ({"page[size]": "ten"}, "page[size] must be an integer"),
        ({"page[after]": "garbage!"}, "Invalid page cursor"),
        ({"page[before]": "bm90LWEtY3Vyc29y"}, "Invalid page cursor"),
    ],
)
def test_bad_paging_parameters_are_400(token_api, urls, five, params, title):
    response = token_api.get(urls.links, data=params)
    assert response.status_code == 400
    assert response.json() == errors("BadRequest", title)


# --- OpenAPI schema -------------------------------------------------------------------------------------

SCHEMA_LIST = "/api/v2/integrations/jira/{external_id}/links"
SCHEMA_DETAIL = "/api/v2/integrations/jira/{external_id}/links/ticket/{ticket_id}/issue/{issue_id}"


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", data={"format": "json"})
    assert response.status_code == 200
    return response.json()


def _ref(schema, path, method, status):
    response = schema["paths"][path][method]["responses"][str(status)]
    return response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")


def test_the_schema_describes_every_links_endpoint_and_shape(schema):
    components = schema["components"]["schemas"]
    assert set(schema["paths"][SCHEMA_LIST]) >= {"get", "post"}
    assert set(schema["paths"][SCHEMA_DETAIL]) >= {"get", "delete"}
    assert _ref(schema, SCHEMA_LIST, "get", 200) == "#/components/schemas/JiraLinksList"
    assert _ref(schema, SCHEMA_LIST, "post", 201) == "#/components/schemas/LinkCreatedBody"
    assert set(components["LinkCreatedBody"]["properties"]) == {"link", "warnings"}  # warnings: only when any
    assert _ref(schema, SCHEMA_DETAIL, "get", 200) == "#/components/schemas/LinkBody"
    assert "204" in schema["paths"][SCHEMA_DETAIL]["delete"]["responses"]
    request = schema["paths"][SCHEMA_LIST]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert components[request.rsplit("/", 1)[1]]["required"] == ["link"]

    assert set(components["JiraLinksList"]["properties"]) == {"count", "links", "meta"}
    assert components["JiraLinksList"]["properties"]["links"]["items"]["$ref"] == "#/components/schemas/Link"
    assert set(components["JiraLinksMeta"]["properties"]) == {"after", "before", "has_more"}
    for cursor in ("after", "before"):  # "" on an empty page, never null
        assert components["JiraLinksMeta"]["properties"][cursor]["type"] == "string"
        assert not components["JiraLinksMeta"]["properties"][cursor].get("nullable")
    assert set(components["Link"]["properties"]) == {"issue_id", "issue_key", "ticket_id"}
    assert set(components["LinkBody"]["properties"]) == {"link"}
    assert components["JiraLinksErrors"]["properties"]["errors"]["items"]["$ref"] == (
        "#/components/schemas/JiraLinksError"
    )
    assert set(components["JiraLinksError"]["properties"]) == {"code", "title"}
    names = {p["name"] for p in schema["paths"][SCHEMA_LIST]["get"]["parameters"]}
    assert {"ticket_id", "issue_id", "page[after]", "page[before]", "page[size]"} <= names


# Every status the tests above see each operation answer, documented with the errors shape.
ANSWERED = [
    (SCHEMA_LIST, "get", (400, 401, 403, 404)),
    (SCHEMA_LIST, "post", (400, 401, 403, 404, 409)),
    (SCHEMA_DETAIL, "get", (401, 403, 404)),
    (SCHEMA_DETAIL, "delete", (401, 403, 404)),
]


@pytest.mark.parametrize(("path", "method", "statuses"), ANSWERED, ids=lambda v: str(v))
def test_the_schema_documents_every_error_status(schema, path, method, statuses):
    documented = {
        status: _ref(schema, path, method, status)
        for status in statuses
        if str(status) in schema["paths"][path][method]["responses"]
    }
    assert documented == {status: "#/components/schemas/JiraLinksErrors" for status in statuses}


# --- found in review ---------------------------------------------------------------------------------------


def test_a_form_encoded_body_is_400_not_500(client, urls, api_token, issue, ticket):
    response = client.post(urls.links, data={"issue_id": issue["id"]}, HTTP_AUTHORIZATION=f"Bearer {api_token}")
    assert response.status_code == 400
    assert response.json() == errors("BadRequest", "Invalid request body")


def test_asking_for_html_is_406_not_500(client, urls, api_token):
    response = client.get(urls.links, HTTP_AUTHORIZATION=f"Bearer {api_token}", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["errors"][0]["code"] == "NotAcceptable"


@pytest.mark.parametrize("ticket_id", ["²", "١٢"])
def test_non_ascii_digit_ticket_ids_do_not_exist(token_api, urls, issue, ticket, ticket_id):
    response = token_api.post(urls.links, {"link": link_body(issue, ticket_id)})
    assert response.status_code == 400
    assert response.json() == errors("BadRequest", f"Ticket {ticket_id} does not exist")
    assert not Link.objects.exists()

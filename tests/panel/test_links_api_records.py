"""Creating a helpdesk record from a Jira issue through the links API (``POST
/api/v2/integrations/jira/{external_id}/records``), for scripts: the same operation as the issue panel's Create,
answered in the links API's shapes (``{"link", "record", "warnings"}``, errors as ``{"errors": [{"code",
"title"}]}`` with the ``fields`` to give when the error is about fields), against the fake Jira and Zendesk."""

from __future__ import annotations

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from sync.models import Link, RecordCreate
from tenants.models import ApiToken
from tenants.services import api_token_create
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import ApiClient, badge, badge_of, install_second_tenant, make_item, raw_link

pytestmark = pytest.mark.django_db

RECORDS_PATH = "/api/v2/integrations/jira/{}/records"
SCHEMA_RECORDS = "/api/v2/integrations/jira/{external_id}/records"
REPORTER = {"accountId": "rita-1", "displayName": "Rita Reporter", "emailAddress": "rita@customer.test"}


def errors(code: str, title: str, fields: list[str] | None = None) -> dict:
    error = {"code": code, "title": title}
    if fields is not None:
        error["fields"] = fields
    return {"errors": [error]}


def account(zendesk):
    return zendesk.accounts[ZD_SUBDOMAIN]


@pytest.fixture
def item(tenant, connection, project):
    return make_item(
        tenant,
        connection,
        name="Two-way tickets",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
            {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira", "value_map": {}},
        ],
    )


@pytest.fixture
def issue(jira, project):
    return jira.add_issue(key="SUP-7", summary="Printer on fire", description="It smokes.", reporter=dict(REPORTER))


@pytest.fixture
def token_api(client, api_token):
    return ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {api_token}")


@pytest.fixture
def url(item):
    return RECORDS_PATH.format(item.external_id)


def nothing_created(zendesk) -> bool:
    return not account(zendesk).tickets and not Link.objects.exists() and not RecordCreate.objects.exists()


def test_a_script_creates_the_ticket_and_gets_the_link(token_api, url, tenant, item, issue, zendesk, jira, settings):
    response = token_api.post(url, {"record": {"issue_id": issue["id"], "values": {"priority": "high"}}})

    assert response.status_code == 201, response.content
    [ticket] = account(zendesk).tickets.values()
    assert (ticket["subject"], ticket["priority"]) == ("Printer on fire", "high")
    agent_url = settings.ZENDESK_URL_TEMPLATE.format(subdomain=ZD_SUBDOMAIN) + f"/agent/tickets/{ticket['id']}"
    assert response.json() == {  # no "warnings" when there are none, as for links
        "link": {"issue_id": issue["id"], "issue_key": "SUP-7", "ticket_id": str(ticket["id"])},
        "record": {"id": str(ticket["id"]), "url": agent_url},
    }
    link = Link.objects.get()
    assert (link.item_id, link.origin) == (item.pk, Link.Origin.MANUAL)
    assert link.created_by == f"api-token:{ApiToken.objects.get(tenant=tenant).pk}"
    assert badge(jira, issue["id"]) == badge_of(1)
    # …and it is listed like any other link of the integration.
    listed = token_api.get(f"/api/v2/integrations/jira/{item.external_id}/links").json()
    assert listed["links"] == [response.json()["link"]]


def test_warnings_come_only_when_there_are_some(token_api, url, jira, zendesk, item):
    hidden = jira.add_issue(
        key="SUP-8", summary="Quiet", description="Hums.", reporter={"accountId": "s-1", "displayName": "Shy"}
    )
    response = token_api.post(url, {"record": {"issue_id": hidden["id"]}})
    assert response.status_code == 201, response.content
    [warning] = response.json()["warnings"]
    assert warning["code"] == "CreateWarning" and "Shy" in warning["title"]


def test_required_fields_missing_names_them(token_api, url, jira, zendesk, item):
    bare = jira.add_issue(key="SUP-9", summary="No description", reporter=dict(REPORTER))
    response = token_api.post(url, {"record": {"issue_id": bare["id"]}})
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert (error["code"], error["fields"]) == ("RequiredFieldsMissing", ["description"])
    assert "Description" in error["title"]
    assert nothing_created(zendesk)


def test_a_field_zendesk_sets_itself_is_refused_with_its_name(token_api, url, zendesk, item, issue):
    response = token_api.post(url, {"record": {"issue_id": issue["id"], "values": {"created_at": "2020-01-01"}}})
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert (error["code"], error["fields"]) == ("BadRequest", ["created_at"])
    assert nothing_created(zendesk)


def test_zendesk_refusing_the_record_says_so(token_api, url, zendesk, item, issue):
    response = token_api.post(url, {"record": {"issue_id": issue["id"], "values": {"type": "wish"}}})
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["code"] == "HelpdeskRefused" and "Zendesk refused" in error["title"]
    assert not account(zendesk).tickets and not Link.objects.exists()


def test_an_issue_already_linked_here_is_409(token_api, url, tenant, zendesk, item, issue):
    raw_link(tenant, item, issue["id"], "99", key="SUP-7")
    response = token_api.post(url, {"record": {"issue_id": issue["id"]}})
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "LinkAlreadyExists"
    assert not account(zendesk).tickets


def test_a_request_while_another_is_creating_the_record_is_409(token_api, url, tenant, zendesk, item, issue):
    RecordCreate.objects.create(
        tenant=tenant, item=item, jira_issue_id=issue["id"], source_key="k", attempts=1, attempted_at=timezone.now()
    )
    response = token_api.post(url, {"record": {"issue_id": issue["id"]}})
    assert response.status_code == 409
    [error] = response.json()["errors"]
    assert error["code"] == "CreateInProgress" and "Reload in a moment" in error["title"]
    assert not account(zendesk).tickets


def test_a_display_only_integration_creates_nothing(token_api, tenant, connection, project, zendesk, issue):
    display = make_item(tenant, connection, name="Display tickets")
    response = token_api.post(RECORDS_PATH.format(display.external_id), {"record": {"issue_id": issue["id"]}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "CreateUnavailable"
    assert nothing_created(zendesk)


def test_an_unknown_issue_is_400_like_linking_one(token_api, url, zendesk, item):
    response = token_api.post(url, {"record": {"issue_id": "999999"}})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["code"] == "BadRequest" and "999999 does not exist in Jira" in error["title"]
    assert nothing_created(zendesk)


def test_an_issue_of_another_type_is_400(token_api, url, jira, zendesk, item):
    bug = jira.add_issue(key="SUP-10", summary="A bug", issue_type_id="10002", description="x")
    response = token_api.post(url, {"record": {"issue_id": bug["id"]}})
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "BadRequest"
    assert nothing_created(zendesk)


@pytest.mark.parametrize(
    "body",
    [{}, {"issue_id": "1"}, {"record": {}}, {"record": {"issue_id": "1", "values": ["x"]}}, {"record": "x"}],
)
def test_a_bad_body_is_400(token_api, url, zendesk, body):
    response = token_api.post(url, body)
    assert response.status_code == 400
    assert response.json() == errors("BadRequest", "Invalid request body")


def test_the_issue_id_must_be_numeric(token_api, url, zendesk, issue):
    response = token_api.post(url, {"record": {"issue_id": "SUP-7"}})
    assert response.status_code == 400
    assert response.json() == errors("BadRequest", "issue_id must be the numeric Jira issue id")
    assert nothing_created(zendesk)


def test_a_rate_limited_zendesk_is_429_with_retry_after(token_api, url, zendesk, item, issue):
    zendesk.rate_limit_next(retry_after=42)
    response = token_api.post(url, {"record": {"issue_id": issue["id"]}})
    assert response.status_code == 429
    assert response["Retry-After"] == "42"
    assert response.json()["errors"][0]["code"] == "TooManyRequests"
    assert not Link.objects.exists()


# --- who may ----------------------------------------------------------------------------------------------


def test_an_integration_without_link_automation_is_403(token_api, tenant, connection, project, zendesk, issue):
    locked = make_item(
        tenant, connection, name="Locked", mode="two_way", jira_issue_type_id="10001", links_api_enabled=False
    )
    response = token_api.post(RECORDS_PATH.format(locked.external_id), {"record": {"issue_id": issue["id"]}})
    assert response.status_code == 403
    assert response.json() == errors("Forbidden", "Link automation is not allowed for this integration")
    assert nothing_created(zendesk)


def test_a_read_only_token_may_not_create_and_a_links_token_may(client, tenant, url, zendesk, item, issue):
    _, read = api_token_create(tenant=tenant, name="reader", created_by="test", scope=ApiToken.Scope.READ)
    refused = ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {read}").post(url, {"record": {"issue_id": issue["id"]}})
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "Forbidden"
    assert nothing_created(zendesk)

    _, links = api_token_create(tenant=tenant, name="linker", created_by="test", scope=ApiToken.Scope.LINKS)
    made = ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {links}").post(url, {"record": {"issue_id": issue["id"]}})
    assert made.status_code == 201, made.content


def test_without_a_token_it_is_401(client, url, zendesk, issue):
    response = client.post(url, data={"record": {"issue_id": issue["id"]}}, content_type="application/json")
    assert response.status_code == 401
    assert nothing_created(zendesk)


def test_another_tenants_integration_is_404(client, settings, install_keys, zendesk, token_api, url, issue):
    bravo = install_second_tenant(client, settings, install_keys, zendesk)
    try:
        as_b = ApiClient(client, HTTP_AUTHORIZATION=f"Bearer {bravo.api_token}")
        response = as_b.post(url, {"record": {"issue_id": bravo.issue["id"]}})
        assert response.status_code == 404
        assert response.json() == errors("NotFound", "Integration not found")
        assert not account(zendesk).tickets and list(Link.objects.all()) == [bravo.link]
    finally:
        bravo.jira.stop()


# --- the OpenAPI schema --------------------------------------------------------------------------------------


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", data={"format": "json"})
    assert response.status_code == 200
    return response.json()


def _ref(schema, path, method, status):
    response = schema["paths"][path][method]["responses"][str(status)]
    return response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")


def test_the_schema_describes_the_records_operation(schema, token_api, url, issue):
    components = schema["components"]["schemas"]
    operation = schema["paths"][SCHEMA_RECORDS]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert components[request]["required"] == ["record"]
    record_in = components[request]["properties"]["record"]["$ref"].rsplit("/", 1)[1]
    assert set(components[record_in]["properties"]) == {"issue_id", "values"}
    assert components[record_in]["required"] == ["issue_id"]

    created = _ref(schema, SCHEMA_RECORDS, "post", 201).rsplit("/", 1)[1]
    assert set(components[created]["properties"]) == {"link", "record", "warnings"}  # warnings: only when any
    answer = token_api.post(url, {"record": {"issue_id": issue["id"]}}).json()
    assert set(answer) == {"link", "record"}
    assert components[created]["properties"]["link"]["$ref"] == "#/components/schemas/Link"
    record_out = components[created]["properties"]["record"]["$ref"].rsplit("/", 1)[1]
    assert set(components[record_out]["properties"]) == set(answer["record"])

    for status in (400, 401, 403, 404, 409, 429):  # every status the tests above see
        assert _ref(schema, SCHEMA_RECORDS, "post", status) == "#/components/schemas/JiraRecordErrors", status
    assert set(components["JiraRecordError"]["properties"]) == {"code", "title", "fields"}
    assert set(components["JiraRecordError"]["required"]) == {"code", "title"}

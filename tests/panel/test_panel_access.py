"""Who may search and link from the issue panel, through which items, and how often.

Search and link-by-id serve only a caller who may see the issue the panel is bound to, through items that
apply to that issue's project and type — taken from Jira (context tokens) or from the panel URL Jira signed
(page sessions), never from the caller. Searching is throttled per Jira user: the helpdesk's limit is shared
by the whole customer.
"""

from __future__ import annotations

import pytest

from connector.models import ConnectedItem
from sync.models import Link
from tenants.auth import JiraPrincipal, page_session_issue
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import ApiClient, make_item

pytestmark = pytest.mark.django_db

ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"


@pytest.fixture
def panel(client, jira, tenant):
    return ApiClient(client, HTTP_AUTHORIZATION=f"JWT {jira.context_token(account_id=ACCOUNT)}")


@pytest.fixture
def issue(jira, project):
    return jira.add_issue(key="SUP-1")


@pytest.fixture
def ticket(zendesk):
    return zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire")


def _search(api, item, issue_id, q="printer"):
    return api.get(f"/api/panel/items/{item.pk}/search", data={"issue_id": issue_id, "q": q})


def test_search_needs_the_issue(panel, tenant, connection, issue, zendesk):
    item = make_item(tenant, connection)
    before = len(zendesk.requests)
    response = panel.get(f"/api/panel/items/{item.pk}/search", data={"q": "printer"})
    assert response.status_code == 400 and set(response.json()["extra"]["fields"]) == {"issue_id"}
    assert len(zendesk.requests) == before


def test_search_refuses_a_user_who_cannot_see_the_issue(panel, tenant, connection, issue, jira, zendesk):
    item = make_item(tenant, connection)
    jira.issue_viewers[issue["id"]] = {"someone-else"}
    before = len(zendesk.requests)
    response = _search(panel, item, issue["id"])
    assert response.status_code == 403 and response.json()["code"] == "issue_forbidden"
    assert len(zendesk.requests) == before


def test_search_refuses_an_item_of_another_project(panel, tenant, connection, issue, jira, zendesk):
    jira.add_project("OPS", "Operations")
    ops_item = make_item(tenant, connection, name="Ops tickets", jira_project="OPS")
    before = len(zendesk.requests)
    response = _search(panel, ops_item, issue["id"])
    assert response.status_code == 403 and response.json()["code"] == "item_not_applicable"
    assert len(zendesk.requests) == before


def test_search_refuses_a_synchronized_item_of_another_issue_type(panel, tenant, connection, issue, zendesk):
    bugs = make_item(tenant, connection, name="Bugs", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10002")
    response = _search(panel, bugs, issue["id"])  # SUP-1 is a Task (10001)
    assert response.status_code == 403 and response.json()["code"] == "item_not_applicable"


def test_a_bound_session_takes_project_and_type_from_the_signed_panel_url(
    client, tenant, connection, issue, project, jira
):
    """The page session carries what Jira signed: no Jira call, and the caller cannot widen it."""
    tasks = make_item(tenant, connection, name="Tasks", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10001")
    bugs = make_item(tenant, connection, name="Bugs", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10002")
    session = page_session_issue(
        JiraPrincipal(tenant, ACCOUNT), issue_id=issue["id"], project_id=project["id"], issue_type_id="10001"
    )
    api = ApiClient(client, HTTP_X_DESKBRIDGE_SESSION=session)
    assert _search(api, tasks, issue["id"]).status_code == 200
    refused = api.get(
        f"/api/panel/items/{bugs.pk}/search",
        data={"issue_id": issue["id"], "issue_type_id": "10002", "q": "printer"},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "item_not_applicable"
    other = jira.add_issue(key="SUP-2")
    assert _search(api, tasks, other["id"]).json()["code"] == "issue_forbidden"
    assert not jira.calls("GET", r"/issue/\d+$") and not jira.calls("POST", "/permissions/check$")


def test_linking_by_id_through_an_item_of_another_project_changes_nothing(
    panel, tenant, connection, issue, ticket, jira
):
    jira.add_project("OPS", "Operations")
    ops_item = make_item(tenant, connection, name="Ops tickets", jira_project="OPS")
    body = {"item_id": ops_item.pk, "issue_id": issue["id"], "issue_key": "SUP-1", "record_id": str(ticket["id"])}
    response = panel.post("/api/panel/links", body)
    assert response.status_code == 403 and response.json()["code"] == "item_not_applicable"
    assert not Link.objects.exists()


def test_search_is_throttled_per_user(panel, client, jira, tenant, connection, issue, zendesk, settings):
    settings.PANEL_SEARCH_RATE = "3/min"
    item = make_item(tenant, connection)
    for _ in range(3):
        assert _search(panel, item, issue["id"]).status_code == 200
    before = len(zendesk.requests)
    throttled = _search(panel, item, issue["id"])
    assert throttled.status_code == 429 and throttled.json()["code"] == "rate_limited"
    assert throttled.json()["extra"]["retry_after"] > 0 and throttled["Retry-After"]
    assert len(zendesk.requests) == before  # the helpdesk is not asked
    colleague = ApiClient(client, HTTP_AUTHORIZATION=f"JWT {jira.context_token(account_id='colleague-1')}")
    assert _search(colleague, item, issue["id"]).status_code == 200  # another user has their own budget


def test_the_issue_scope_cache_is_per_site(client, tenant, issue, settings, install_keys, zendesk):
    """Issue ids are per Jira site: site B's issue with the same id must not get site A's cached project."""
    from connector.selectors import jira_issue_scope
    from tests.panel.links_helpers import install_second_tenant

    bravo = install_second_tenant(client, settings, install_keys, zendesk)
    try:
        assert bravo.issue["id"] == issue["id"]  # both sites number their issues alike
        bravo.jira.issues[issue["id"]]["fields"]["project"] = {"id": "20000", "key": "OPS"}
        assert jira_issue_scope(tenant=tenant, issue_id=issue["id"])[0] != "20000"  # cached for site A
        assert jira_issue_scope(tenant=bravo.tenant, issue_id=issue["id"])[0] == "20000"
    finally:
        bravo.jira.stop()


def test_a_panel_rendered_by_jira_searches_through_synchronized_items(client, tenant, connection, issue, project, jira):
    """The session the panel page hands its script carries the issue type Jira signed: synchronized items
    (which apply to one issue type) can be searched with it."""
    import re

    tasks = make_item(tenant, connection, name="Tasks", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10001")
    relative = (
        f"/jira/issue-panel?issueKey=SUP-1&issueId={issue['id']}&projectKey=SUP&projectId={project['id']}"
        "&issueTypeId=10001&lic=active"
    )
    page = client.get(f"{relative}&jwt={jira.sign('GET', relative, account_id=ACCOUNT)}")
    session = re.search(r'data-session="([^"]+)"', page.content.decode()).group(1)
    api = ApiClient(client, HTTP_X_DESKBRIDGE_SESSION=session)
    assert _search(api, tasks, issue["id"]).status_code == 200


def test_the_search_throttle_is_per_site(client, jira, tenant, connection, issue, zendesk, settings, install_keys):
    """Atlassian account ids are global: the same person on two sites has a budget on each."""
    from tests.panel.links_helpers import install_second_tenant

    settings.PANEL_SEARCH_RATE = "1/min"
    item = make_item(tenant, connection)
    panel = ApiClient(client, HTTP_AUTHORIZATION=f"JWT {jira.context_token(account_id=ACCOUNT)}")
    assert _search(panel, item, issue["id"]).status_code == 200
    assert _search(panel, item, issue["id"]).status_code == 429
    bravo = install_second_tenant(client, settings, install_keys, zendesk)
    try:
        b_panel = ApiClient(client, HTTP_AUTHORIZATION=f"JWT {bravo.jira.context_token(account_id=ACCOUNT)}")
        response = _search(b_panel, bravo.item, bravo.issue["id"])
        assert response.status_code != 429, response.content
    finally:
        bravo.jira.stop()

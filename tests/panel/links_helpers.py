"""Helpers shared by the links REST API and issue panel tests: SCIs built through the real service, API
clients with one Authorization header, and a second installed tenant (its own fake Jira site, Zendesk
account, connection, SCI, issue, link and API token) for cross-tenant checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from connector.models import ConnectedItem
from connector.services import ItemSpec, connected_item_save, zendesk_connect
from demo.fakes.jira import FakeJira
from sync.models import Link
from tests.conftest import post_lifecycle

BADGE_KEY = "com.atlassian.jira.issue:com.deskbridge.jira.test:deskbridge-issue-context:status"
B_SUBDOMAIN = "bravo"
B_EMAIL = "bea@bravo.test"
B_TOKEN = "zd-bravo-token-5555555555"


def make_item(tenant, connection, name: str = "Support tickets", **overrides: Any) -> ConnectedItem:
    """An SCI saved through ``connected_item_save`` (display-only tickets of SUP unless overridden)."""
    values: dict[str, Any] = {
        "name": name,
        "mode": ConnectedItem.Mode.DISPLAY,
        "jira_project": "SUP",
        "helpdesk_object": "ticket",
        "display_fields": ["status", "priority"],
    }
    values.update(overrides)
    item, _ = connected_item_save(tenant=tenant, connection=connection, spec=ItemSpec(**values))
    return item


def raw_link(tenant, item, issue_id, record_id, *, key: str = "SUP-1", origin: str = Link.Origin.MANUAL, **kw) -> Link:
    """A link row written directly (e.g. one made by sync), bypassing the services."""
    return Link.objects.create(
        tenant=tenant,
        item=item,
        jira_issue_id=str(issue_id),
        jira_issue_key=key,
        record_id=str(record_id),
        origin=origin,
        **kw,
    )


def badge(jira: FakeJira, issue_id) -> Any:
    return jira.properties.get((str(issue_id), BADGE_KEY))


def badge_of(count: int) -> dict[str, Any]:
    return {"type": "badge", "value": {"label": str(count)}}


class ApiClient:
    """Django test client calls with one set of headers; bodies are JSON."""

    def __init__(self, client, **headers: str) -> None:
        self.client = client
        self.headers = headers

    def get(self, path: str, **kw):
        return self.client.get(path, **self.headers, **kw)

    def delete(self, path: str):
        return self.client.delete(path, **self.headers)

    def post(self, path: str, data: Any = None, *, raw: str | None = None):
        body = raw if raw is not None else json.dumps(data if data is not None else {})
        return self.client.post(path, data=body, content_type="application/json", **self.headers)


@dataclass
class SecondTenant:
    jira: FakeJira
    tenant: Any
    connection: Any
    item: ConnectedItem
    issue: dict[str, Any]
    ticket: dict[str, Any]
    link: Link
    api_token: str


def install_second_tenant(client, settings, install_keys, zendesk) -> SecondTenant:
    """Tenant B, installed through the lifecycle callback; the caller stops ``jira`` when done."""
    from tenants.models import Tenant
    from tenants.services import api_token_create

    jira_b = FakeJira(app_key=settings.ATLASSIAN_APP_KEY, install_keys=install_keys).start()
    try:
        response = post_lifecycle(client, jira_b, "installed")
        assert response.status_code == 204, response.content
        tenant_b = Tenant.objects.get(client_key=jira_b.client_key)
        tenant_b.license = Tenant.License.ACTIVE
        tenant_b.save(update_fields=["license"])
        jira_b.add_project("SUP", "Bravo support")  # same key as tenant A's project, another site
        zendesk.add_account(B_SUBDOMAIN)
        zendesk.add_agent(B_SUBDOMAIN, B_EMAIL, B_TOKEN, name="Bea Bravo")
        connection_b = zendesk_connect(tenant=tenant_b, subdomain=B_SUBDOMAIN, email=B_EMAIL, api_token=B_TOKEN)
        item_b = make_item(tenant_b, connection_b, name="Bravo tickets")
        issue_b = jira_b.add_issue(key="SUP-1", summary="Bravo issue")
        ticket_b = zendesk.add_ticket(B_SUBDOMAIN, subject="Bravo ticket")
        link_b = raw_link(tenant_b, item_b, issue_b["id"], ticket_b["id"], preview={"title": "Bravo secret"})
        _, token_b = api_token_create(tenant=tenant_b, name="bravo script", created_by="test")
    except BaseException:
        jira_b.stop()
        raise
    return SecondTenant(jira_b, tenant_b, connection_b, item_b, issue_b, ticket_b, link_b, token_b)

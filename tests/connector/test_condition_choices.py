"""The values auto-create conditions pick from, read from the helpdesk: the Zendesk client's groups, brands,
ticket forms and tags and Zoho Desk's departments against the fakes (every page, and no more than needed),
the providers' ``condition_choices`` (names as labels, what the engine compares as values) and their cache
(one read per tenant and connection until Refresh-all or a reconnect)."""

from __future__ import annotations

import pytest

from connector.clients.base import ApiForbidden
from connector.errors import SchemaUnavailable
from connector.providers import client_for, provider_for
from connector.schema import helpdesk_condition_choices, schema_cache_clear
from tests.conftest import ZD_EMAIL, ZD_SUBDOMAIN, ZD_TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def zd_client(connection):
    return client_for(connection)


def test_groups_are_read_page_by_page(zendesk, zd_client):
    for n in range(150):
        zendesk.add_group(ZD_SUBDOMAIN, f"Team {n:03}")
    groups = zd_client.groups()
    assert len(groups) == 151 and groups[0]["name"] == "Support" and groups[-1]["name"] == "Team 149"
    calls = zendesk.calls("GET", r"/api/v2/groups\.json")
    assert [c.query.get("page[size]") for c in calls] == [["100"], ["100"]]


def test_brands_and_ticket_forms(zendesk, zd_client):
    zendesk.add_brand(ZD_SUBDOMAIN, "Acme Outdoor", active=False)
    zendesk.add_ticket_form(ZD_SUBDOMAIN, "Refunds")
    assert [b["name"] for b in zd_client.brands()] == ["Acme", "Acme Outdoor"]
    assert [f["name"] for f in zd_client.ticket_forms()] == ["Refunds"]


def test_tags_stop_at_the_limit_without_reading_further_pages(zendesk, zd_client):
    zendesk.add_ticket(ZD_SUBDOMAIN, tags=[f"tag_{n:03}" for n in range(250)])
    zendesk.add_ticket(ZD_SUBDOMAIN, tags=["vip"])
    zendesk.add_ticket(ZD_SUBDOMAIN, tags=["vip"])
    tags = zd_client.tags(limit=150)
    assert len(tags) == 150 and tags[0] == {"name": "vip", "count": 2}
    assert len(zendesk.calls("GET", r"/api/v2/tags\.json")) == 2  # two pages of 100, not the third
    assert len(zd_client.tags()) == 200  # the default: the 200 most used


def test_zendesk_choices_are_names_over_the_values_tickets_carry(zendesk, zd_client):
    provider = provider_for("zendesk")
    billing = zendesk.add_group(ZD_SUBDOMAIN, "Billing")
    gone = zendesk.add_group(ZD_SUBDOMAIN, "Gone")
    zendesk.delete_group(ZD_SUBDOMAIN, gone["id"])
    outdoor = zendesk.add_brand(ZD_SUBDOMAIN, "Acme Outdoor", active=False)
    legacy = zendesk.add_ticket_form(ZD_SUBDOMAIN, "Legacy", active=False)
    zendesk.add_ticket(ZD_SUBDOMAIN, tags=["vip"])
    groups = provider.condition_choices(zd_client, "group")
    assert groups[1:] == [{"value": str(billing["id"]), "label": "Billing"}]  # deleted groups are not offered
    assert groups[0]["label"] == "Support"
    assert provider.condition_choices(zd_client, "brand")[1] == {
        "value": str(outdoor["id"]),
        "label": "Acme Outdoor (inactive)",
    }
    assert provider.condition_choices(zd_client, "form") == [{"value": str(legacy["id"]), "label": "Legacy (inactive)"}]
    assert provider.condition_choices(zd_client, "tags") == [{"value": "vip", "label": "vip"}]
    assert provider.condition_choices(zd_client, "priority") is None  # the field list gives those
    ticket = {"group_id": billing["id"], "tags": ["vip"]}
    assert provider.matches_conditions(ticket, {"group": [groups[1]["value"]], "tags": ["vip"]})


def test_zoho_departments_are_read_page_by_page(zoho, zoho_connection):
    for n in range(120):
        zoho.add_department(zoho.org.id, f"Region {n:03}")
    off = zoho.add_department(zoho.org.id, "Closed office")
    off["isEnabled"] = False
    provider = provider_for("zoho_desk")
    choices = provider.condition_choices(client_for(zoho_connection), "departmentId")
    assert len(choices) == 122 and choices[0]["label"] == "Support"
    assert choices[-1] == {"value": off["id"], "label": "Closed office (disabled)"}
    assert len(zoho.calls("GET", r"/api/v1/departments$")) == 2
    assert provider.condition_choices(client_for(zoho_connection), "priority") is None


def test_the_lists_are_cached_per_connection_until_refresh_all_or_reconnect(zendesk, connection, tenant):
    from connector.services import zendesk_connect

    def groups():
        return helpdesk_condition_choices(tenant=tenant, connection=connection, key="group")

    def reads():
        return len(zendesk.calls("GET", r"/api/v2/groups\.json"))

    assert [c["label"] for c in groups()] == ["Support"]
    zendesk.add_group(ZD_SUBDOMAIN, "Billing")
    assert [c["label"] for c in groups()] == ["Support"] and reads() == 1  # cached
    schema_cache_clear(tenant=tenant)  # Refresh-all
    assert [c["label"] for c in groups()] == ["Support", "Billing"] and reads() == 2
    zendesk.add_group(ZD_SUBDOMAIN, "Field")
    zendesk_connect(tenant=tenant, subdomain=ZD_SUBDOMAIN, email=ZD_EMAIL, api_token=ZD_TOKEN)  # reconnect
    assert [c["label"] for c in groups()][-1] == "Field" and reads() == 3
    # a condition the helpdesk lists nothing for costs no call
    before = len(zendesk.requests)
    assert helpdesk_condition_choices(tenant=tenant, connection=connection, key="priority") is None
    assert len(zendesk.requests) == before


def test_a_refused_list_says_what_failed_and_is_not_cached(zendesk, connection, tenant):
    zendesk.fail_next(403, {"error": {"title": "Forbidden", "message": "No access."}}, path=r"/ticket_forms")
    with pytest.raises(SchemaUnavailable) as failed:
        helpdesk_condition_choices(tenant=tenant, connection=connection, key="form")
    assert failed.value.message == (
        "Could not load Zendesk Support ticket forms: Zendesk answered HTTP 403: Forbidden: No access. "
        "Check the connection and use Refresh to try again."
    )
    assert isinstance(failed.value.__cause__, ApiForbidden)
    zendesk.add_ticket_form(ZD_SUBDOMAIN, "Refunds")
    assert [c["label"] for c in helpdesk_condition_choices(tenant=tenant, connection=connection, key="form")] == [
        "Refunds"
    ]

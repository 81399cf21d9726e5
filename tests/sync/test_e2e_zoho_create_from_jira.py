"""End to end, from outside: Zoho Desk tickets auto-created from Jira with the real web server and a real
``manage.py qcluster`` on PostgreSQL (the harness of test_e2e_push_worker), the item giving new tickets their
department (``create_values``: no Jira field can). Humans create issues in the fake Jira, which posts its signed
``jira:issue_created`` webhooks to the server; the worker's sweeps create the tickets in the fake Zoho Desk:
one per matching issue, in the item's department, for the reporter's contact (made once per person), tagged
with the issue in the item's text custom field and linked (origin auto)."""

from __future__ import annotations

import re
import time

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from sync.models import Link, RecordCreate, SyncRun
from tenants.descriptor import build_descriptor
from tests.conftest import ZOHO_CLIENT_ID, ZOHO_DC, ZOHO_SECRET, postgres_only
from tests.panel.links_helpers import make_item
from tests.sync.test_e2e_push_worker import Stack, _wait

pytestmark = [postgres_only, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TAG = "cf_jira_issue"


@pytest.fixture
def stack(jira, zendesk, zoho, tmp_path):
    from connector.services.zoho import zoho_connect
    from tests.sync.conftest import committed_tenant

    tenant = committed_tenant(jira)
    org = zoho.org.id
    zoho.add_field(org, "tickets", api_name=TAG, label="Jira issue")
    sales = zoho.add_department(org, "Sales")
    connection = zoho_connect(
        tenant=tenant,
        data_center=ZOHO_DC,
        client_id=ZOHO_CLIENT_ID,
        client_secret=ZOHO_SECRET,
        code=zoho.self_client_code(ZOHO_CLIENT_ID),
    )
    item = make_item(
        tenant,
        connection,
        name="Customer bugs",
        mode=ConnectedItem.Mode.TWO_WAY,
        helpdesk_object="tickets",
        jira_issue_type_id="10001",
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_helpdesk", "value_map": {}},
            {"helpdesk_field": "description", "jira_field": "description", "direction": "to_helpdesk", "value_map": {}},
        ],
        record_tag_field=TAG,
        create_values={"departmentId": sales["id"]},
        create_from_jira=True,
        create_jql="labels = customer",
    )
    ConnectedItem.objects.filter(pk=item.pk).update(
        create_from_jira_baseline=timezone.now() - timezone.timedelta(minutes=1)
    )
    jira.add_user("cust-1", "Carla Customer", "carla@customer.test")
    jira.add_user("cust-2", "Dan Customer", "dan@customer.test")
    service = Stack(zendesk, tmp_path)
    service.env.update(
        ZOHO_ACCOUNTS_URL_OVERRIDE=zoho.accounts_url_template,
        ZOHO_DESK_URL_OVERRIDE=zoho.desk_url_template,
        ZOHO_SEARCH_SETTLE_SECONDS="0",  # the fake's search has no index lag
    )
    try:
        service.start_web()
        jira.webhooks_subscribe({**build_descriptor(), "baseUrl": service.url})
        yield {"stack": service, "item": item, "sales": sales, "org": org}
    finally:
        service.stop()


def _posts(zoho, pattern: str) -> int:
    return sum(1 for r in zoho.requests if r.method == "POST" and re.search(pattern, r.path))


def test_new_issues_become_zoho_tickets_in_the_items_department_through_the_worker(stack, jira, zoho):
    stack["stack"].start_worker()
    matching = [
        jira.user_create(
            "SUP",
            f"Customer bug {n}",
            account_id="cust-1" if n % 2 else "cust-2",
            description=f"Steps for bug {n}",
            labels=["customer"],
        )
        for n in range(1, 5)
    ]
    jira.user_create("SUP", "Internal chore", account_id="cust-1", labels=["internal"])
    jira.webhooks_flush(timeout=30)
    records = zoho.orgs[stack["org"]].records
    _wait(lambda: len(records["tickets"]) >= 4, 60, "four Zoho tickets", stack=stack["stack"])
    time.sleep(2)  # a second sweep (the one after the grace) must not add any
    tickets = list(records["tickets"].values())
    assert sorted(t["subject"] for t in tickets) == [f"Customer bug {n}" for n in range(1, 5)]
    assert {t["departmentId"] for t in tickets} == {stack["sales"]["id"]}
    contacts = {c["id"]: c["email"] for c in records["contacts"].values()}
    assert sorted(contacts.values()) == ["carla@customer.test", "dan@customer.test"]  # one contact per person
    assert {contacts[t["contactId"]] for t in tickets} == {"carla@customer.test", "dan@customer.test"}
    links = {link.jira_issue_id: link for link in Link.objects.filter(item=stack["item"])}
    assert set(links) == {i["id"] for i in matching} and {link.origin for link in links.values()} == {"auto"}
    by_record = {link.record_id: link.jira_issue_id for link in links.values()}
    for ticket in tickets:  # each tagged with the issue it came from
        assert f"-{by_record[ticket['id']]}-" in ticket["cf"][TAG]
    assert _posts(zoho, r"/tickets$") == 4 and _posts(zoho, r"/contacts$") == 2
    assert not RecordCreate.objects.exclude(state="done").exists()
    assert not SyncRun.objects.filter(outcome="running").exists()

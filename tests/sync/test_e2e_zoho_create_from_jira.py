"""End to end, from outside: Zoho Desk tickets auto-created from Jira with the real web server and a real
``manage.py qcluster`` on PostgreSQL (the harness of test_e2e_push_worker), the item giving new tickets their
department (``create_values``: no Jira field can). Humans create issues in the fake Jira, which posts its signed
``jira:issue_created`` webhooks to the server; the worker's sweeps create the tickets in the fake Zoho Desk:
one per matching issue, in the item's department, for the reporter's contact (made once per person), tagged
with the issue in the item's text custom field and linked (origin auto).

A second test SIGKILLs the worker while a ticket create is in flight: the fake has made the ticket but holds
its answer (``hold_create_answers``), so the creation's intent is pending with no record id and no link. A new
worker finishes: the retry finds the ticket by its tag (the ``customField1`` search) instead of making a second
one, and every issue ends with exactly one ticket and every person with one contact, nothing pending."""

from __future__ import annotations

import re
import time

import psutil
import pytest
import requests
from django.utils import timezone

from connector.models import ConnectedItem
from sync.models import Link, RecordCreate, SyncRun
from tenants.descriptor import build_descriptor
from tenants.services import api_token_create
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


def _tag_searches(zoho) -> int:
    """Ticket searches by the tag field: the lookups of a retried creation (record_find_by_source)."""
    return sum(
        1
        for r in zoho.requests
        if r.path.endswith("/tickets/search") and any(v.startswith(f"{TAG}:") for v in r.query.get("customField1", []))
    )


def _issue(jira, n: int, reporter: str) -> dict:
    return jira.user_create(
        "SUP", f"Customer bug {n}", account_id=reporter, description=f"Steps for bug {n}", labels=["customer"]
    )


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


def test_a_worker_killed_mid_zoho_create_makes_no_duplicate_and_loses_nothing(stack, jira, zoho):
    records = zoho.orgs[stack["org"]].records
    zoho.hold_create_answers("tickets", n=1)  # the first ticket is made; its answer waits for the release
    first = stack["stack"].start_worker()
    issues = [_issue(jira, n, "cust-1" if n % 2 else "cust-2") for n in range(1, 5)]
    jira.webhooks_flush(timeout=30)
    _wait(lambda: zoho.held_creates, 45, "a Zoho ticket made with its answer held", stack=stack["stack"])
    [held] = zoho.held_creates
    tag = records["tickets"][held["id"]]["cf"][TAG]
    intent = RecordCreate.objects.get(source_key=tag)
    # the create landed in Zoho; our side has not heard of it: pending, no record id, no link
    assert (intent.state, intent.record_id, intent.attempts) == ("pending", "", 1)
    assert not Link.objects.filter(item=stack["item"], jira_issue_id=intent.jira_issue_id).exists()
    first.kill()
    owners = [o for o in RecordCreate.objects.values_list("attempt_owner", flat=True) if o]
    pids = {int(o.split(":")[1]) for o in owners}
    _wait(lambda: not any(psutil.pid_exists(p) for p in pids), 10, f"the killed workers {pids} to be gone")
    zoho.release_create_answers()  # the answer goes to a closed connection
    intent.refresh_from_db()
    assert (intent.state, intent.record_id) == ("pending", "")  # the kill came before our commit
    stack["stack"].start_worker()
    issues.append(_issue(jira, 5, "cust-2"))  # a new issue after the restart, made once like the others
    jira.webhooks_flush(timeout=30)
    # Its webhook's sweep may be folded into the one the first four started (one immediate sweep per connection
    # in IMMEDIATE_SWEEP_SECONDS; the rest falls to a schedule the new cluster reads only ~30 s after it starts),
    # so the poll sweeps now: Sync now, as an admin would (the Stack polls hourly, SYNC_POLL_SECONDS).
    _, token = api_token_create(tenant=stack["item"].tenant, name="e2e", created_by="test")
    response = requests.post(
        f"{stack['stack'].url}/api/v1/connections/{stack['item'].connection_id}/sync",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text

    def done() -> bool:  # linked, and each creation marked done (it is, just after its link is made)
        linked = Link.objects.filter(item=stack["item"]).count() == len(issues)
        return linked and not RecordCreate.objects.exclude(state="done").exists()

    _wait(done, 90, "every issue linked to a Zoho ticket after the restart", stack=stack["stack"])
    # the killed worker's auto-create run is closed by the next sweep, not left "running" in the history
    _wait(lambda: not SyncRun.objects.filter(outcome="running").exists(), 30, "every run to end", stack=stack["stack"])
    assert SyncRun.objects.filter(outcome="failed", reason__contains="stopped before it finished").exists()
    tickets = list(records["tickets"].values())
    subjects = sorted(t["subject"] for t in tickets)
    assert subjects == [f"Customer bug {n}" for n in range(1, 6)], subjects  # one each: none twice
    links = {link.jira_issue_id: link for link in Link.objects.filter(item=stack["item"])}
    assert set(links) == {i["id"] for i in issues} and {link.origin for link in links.values()} == {"auto"}
    assert links[intent.jira_issue_id].record_id == held["id"]  # the retry found the ticket made before the kill
    for ticket in tickets:  # each in the item's department, tagged with the intent of the issue it is linked to
        issue_id = next(i for i, link in links.items() if link.record_id == ticket["id"])
        assert ticket["cf"][TAG] == RecordCreate.objects.get(jira_issue_id=issue_id).source_key
        assert ticket["departmentId"] == stack["sales"]["id"]
    contacts = {c["id"]: c["email"] for c in records["contacts"].values()}
    assert sorted(contacts.values()) == ["carla@customer.test", "dan@customer.test"]  # no person made twice
    assert {contacts[t["contactId"]] for t in tickets} == {"carla@customer.test", "dan@customer.test"}
    retried = list(RecordCreate.objects.filter(attempts__gt=1).values_list("jira_issue_id", flat=True))
    assert intent.jira_issue_id in retried
    # Zoho calls: one ticket create per issue (5: the held one counted once, its retry made none), one link note
    # per ticket (5: the held one's written by the retry, once), one contact create per person (2: Carla's by
    # the killed worker, before the held create; Dan's by the new one), and one tag search per retried creation
    # (1: the held one's, which found its ticket) - more only if the kill also cut short another sweep's
    # creation, whose retry looks up the same way.
    assert _posts(zoho, r"/tickets$") == 5
    assert _posts(zoho, r"/tickets/\d+/comments$") == 5
    assert _posts(zoho, r"/contacts$") == 2
    assert _tag_searches(zoho) == len(retried)
    assert not RecordCreate.objects.exclude(state="done").exists()

"""End to end, from outside: auto-create from Jira with the real web server and a real ``manage.py qcluster``
on PostgreSQL (the harness of test_e2e_push_worker). Humans create issues in the fake Jira, which posts its
signed ``jira:issue_created`` webhooks to the server; the worker's sweeps create the Zendesk tickets.

1. Matching new issues get one ticket each, linked (origin auto), requested by their reporters; issues the
   filter leaves out get none; Zendesk sees one ticket create per issue and one user lookup per new person.
2. The worker is SIGKILLed while a ticket create is in flight; a new worker finishes: every issue has exactly
   one ticket (the one in flight found by its external id), nothing left pending.
"""

from __future__ import annotations

import re
import time

import psutil
import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from sync.models import Link, RecordCreate, SyncRun
from tenants.descriptor import build_descriptor
from tests.conftest import ZD_SUBDOMAIN, postgres_only
from tests.panel.links_helpers import make_item
from tests.sync.test_e2e_push_worker import Stack, _wait

pytestmark = [postgres_only, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CREATE_PATH = r"/api/v2/tickets\.json$"


@pytest.fixture
def stack(jira, zendesk, tmp_path):
    from tests.sync.conftest import committed_site

    tenant, connection = committed_site(jira, zendesk)
    item = make_item(
        tenant,
        connection,
        name="Customer bugs",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_helpdesk", "value_map": {}},
            {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira", "value_map": {}},
        ],
    )
    item.create_from_jira, item.create_jql = True, "labels = customer"
    item.create_from_jira_baseline = timezone.now() - timezone.timedelta(minutes=1)
    item.save()
    jira.add_user("cust-1", "Carla Customer", "carla@customer.test")
    jira.add_user("cust-2", "Dan Customer", "dan@customer.test")
    service = Stack(zendesk, tmp_path)
    try:
        service.start_web()
        jira.webhooks_subscribe({**build_descriptor(), "baseUrl": service.url})
        yield {"stack": service, "tenant": tenant, "connection": connection, "item": item}
    finally:
        service.stop()


def _tickets(zendesk) -> list[dict]:
    return list(zendesk.accounts[ZD_SUBDOMAIN].tickets.values())


def _create(jira, n: int, *, labels=("customer",), reporter="cust-1") -> dict:
    return jira.user_create(
        "SUP", f"Customer bug {n}", account_id=reporter, description=f"Steps for bug {n}", labels=list(labels)
    )


def _requests(zendesk, pattern: str, method: str | None = None) -> int:
    return sum(1 for r in zendesk.requests if re.search(pattern, r.path) and (method is None or r.method == method))


def test_new_issues_matching_the_filter_become_tickets_through_the_worker(stack, jira, zendesk):
    stack["stack"].start_worker()
    matching = [_create(jira, n, reporter="cust-1" if n % 2 else "cust-2") for n in range(1, 7)]
    _create(jira, 7, labels=("internal",))
    jira.webhooks_flush(timeout=30)
    _wait(lambda: len(_tickets(zendesk)) >= 6, 60, "six tickets", stack=stack["stack"])
    time.sleep(2)  # a second sweep (the one after the grace) must not add any
    tickets = _tickets(zendesk)
    assert sorted(t["subject"] for t in tickets) == [f"Customer bug {n}" for n in range(1, 7)]
    links = {link.jira_issue_id: link for link in Link.objects.filter(item=stack["item"])}
    assert set(links) == {i["id"] for i in matching} and {link.origin for link in links.values()} == {"auto"}
    users = zendesk.accounts[ZD_SUBDOMAIN].users
    requesters = {users[t["requester_id"]]["email"] for t in tickets}
    assert requesters == {"carla@customer.test", "dan@customer.test"}
    assert _requests(zendesk, CREATE_PATH, "POST") == 6  # one create per issue, never a second
    assert _requests(zendesk, r"/users/create_or_update", "POST") <= 6
    assert not SyncRun.objects.filter(outcome="running").exists()


def test_a_worker_killed_mid_create_makes_no_duplicate_and_loses_nothing(stack, jira, zendesk):
    zendesk.add_latency(1.5, path=CREATE_PATH)  # every ticket create takes 1.5 s
    first = stack["stack"].start_worker()
    issues = [_create(jira, n) for n in range(1, 5)]
    jira.webhooks_flush(timeout=30)
    _wait(
        lambda: RecordCreate.objects.filter(state="pending", attempted_at__isnull=False).exists(),
        45,
        "a ticket create in flight",
        stack=stack["stack"],
    )
    first.kill()
    owners = [o for o in RecordCreate.objects.values_list("attempt_owner", flat=True) if o]
    pids = {int(o.split(":")[1]) for o in owners}
    _wait(lambda: not any(psutil.pid_exists(p) for p in pids), 10, f"the killed workers {pids} to be gone")
    time.sleep(2)  # the create in flight lands in Zendesk after its worker died
    stack["stack"].start_worker()
    # the webhook's second sweep (after the grace) or another creation starts a sweep: a new issue does
    issues.append(_create(jira, 5))
    jira.webhooks_flush(timeout=30)

    def done() -> bool:  # linked, and each creation marked done (it is, just after its link is made)
        linked = Link.objects.filter(item=stack["item"]).count() == len(issues)
        return linked and not RecordCreate.objects.exclude(state="done").exists()

    _wait(done, 90, "every issue linked to a ticket after the restart", stack=stack["stack"])
    # the killed worker's auto-create run is closed by the next sweep, not left "running" in the history
    _wait(lambda: not SyncRun.objects.filter(outcome="running").exists(), 30, "every run to end", stack=stack["stack"])
    assert SyncRun.objects.filter(outcome="failed", reason__contains="stopped before it finished").exists()
    tickets = _tickets(zendesk)
    subjects = sorted(t["subject"] for t in tickets)
    assert subjects == [f"Customer bug {n}" for n in range(1, 6)], subjects  # one each: none twice
    assert not RecordCreate.objects.exclude(state="done").exists()

"""End to end, from outside, with Zoho Desk: the real web server (``runserver``) and a real ``manage.py
qcluster`` (ORM broker) in their own process groups, on PostgreSQL, against the loopback fake Jira and fake
Zoho Desk. Zoho is connected, the item made and a ticket linked through the HTTP APIs with a tenant API token,
as an admin's script would; then, acting only as people in Zoho and in Jira and watching the fakes:

a. a ticket's subject and status, a colleague's internal comment and an email reply with a file reach the
   linked issue on Sync now, each exactly once;
b. a Jira priority edit and a comment, delivered as the fake Jira's signed webhooks to the server, reach the
   ticket once (one update, one public comment by our agent);
c. the worker is SIGKILLed (its whole process group) while a poll copies comments; a new worker and one more
   Sync now copy every comment exactly once and close the dead run as failed;
and once everything has settled an idle poll costs exactly one Zoho search call (and Jira's reconcile JQL).
"""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import psutil
import pytest
import requests

from sync.models import SyncRun, SyncState
from tenants.descriptor import build_descriptor
from tests.conftest import ZOHO_CLIENT_ID, ZOHO_DC, ZOHO_SECRET, postgres_only
from tests.sync.test_e2e_push_worker import Stack, _logs_on_failure, _settled, _wait
from tests.sync.test_e2e_worker import _sync_now

pytestmark = [postgres_only, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class ZohoStack(Stack):
    """The push e2e tests' web server and workers, pointed at the fake Zoho Desk instead of Zendesk."""

    def __init__(self, zoho, tmp_path):
        super().__init__(SimpleNamespace(url_template=""), tmp_path)
        del self.env["ZENDESK_URL_TEMPLATE"]  # the processes share this dict: change it in place
        self.env.update(
            ZOHO_ACCOUNTS_URL_OVERRIDE=zoho.accounts_url_template,
            ZOHO_DESK_URL_OVERRIDE=zoho.desk_url_template,
            ZOHO_SEARCH_SETTLE_SECONDS="0",  # the fake's search has no index lag
        )


class Api:
    """The app's HTTP APIs with the tenant API token, as a script calls them."""

    def __init__(self, base: str, token: str):
        self.base, self.headers = base, {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: dict | None = None, expect: int = 201) -> dict:
        response = requests.post(f"{self.base}{path}", json=body or {}, headers=self.headers, timeout=15)
        assert response.status_code == expect, (path, response.status_code, response.text)
        return response.json()


@pytest.fixture
def stack(tenant, project, jira, zoho, zoho_code, tmp_path):
    """The web server up, the fake Jira subscribed to the app's webhooks, Zoho connected and a two-way
    tickets item made over HTTP; no worker yet."""
    from tenants.services import api_token_create

    _, token = api_token_create(tenant=tenant, name="e2e", created_by="test")
    service = ZohoStack(zoho, tmp_path)
    try:
        service.start_web()
        jira.webhooks_subscribe({**build_descriptor(), "baseUrl": service.url})
        api = Api(service.url, token)
        connection = api.post(
            "/api/v1/connections/zoho",
            {"data_center": ZOHO_DC, "client_id": ZOHO_CLIENT_ID, "client_secret": ZOHO_SECRET, "code": zoho_code()},
        )
        assert connection["provider"] == "zoho_desk", connection
        item = api.post(
            "/api/v1/items",
            {
                "name": "Zoho tickets",
                "mode": "two_way",
                "jira_project": "SUP",
                "jira_issue_type_id": "10001",
                "helpdesk_object": "tickets",
                "display_fields": ["status", "priority"],
                "status_sync": True,
                "comment_sync": True,
                "attachment_sync": True,
                "mappings": [
                    {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
                    {
                        "helpdesk_field": "priority",
                        "jira_field": "priority",
                        "direction": "to_helpdesk",
                        "value_map": {},
                    },
                ],
            },
        )["item"]
        yield {
            "stack": service,
            "service": service,  # the name tests.sync.test_e2e_worker's _sync_now uses
            "api": api,
            "token": token,
            "connection": SimpleNamespace(pk=connection["id"]),
            "item": item,
        }
    finally:
        service.stop()


# --- helpers ------------------------------------------------------------------------------------------------
def _link(stack, issue: dict, ticket: dict) -> None:
    """Link through the links REST API (Zendesk's Jira-links API shape), as a script does."""
    body = {"link": {"issue_id": issue["id"], "issue_key": issue["key"], "ticket_id": ticket["id"]}}
    answer = stack["api"].post(f"/api/v2/integrations/jira/{stack['item']['external_id']}/links", body)
    assert answer["link"]["ticket_id"] == ticket["id"]


def _next_second() -> None:
    """What is said in Zoho after the second a link was made is copied: step into the next second."""
    time.sleep(1.05 - time.time() % 1)


def _manual_runs(after: int):
    return SyncRun.objects.filter(id__gt=after, trigger=SyncRun.Trigger.MANUAL).order_by("id")


def _poll(stack, timeout: float = 45) -> SyncRun:
    """Sync now over HTTP; the first manual run after it, once finished (webhook runs are not polls)."""
    before = _sync_now(stack)
    _wait(
        lambda: _manual_runs(before).exclude(outcome="running").exists(),
        timeout,
        "the poll to finish",
        stack=stack["stack"],
    )
    return _manual_runs(before).exclude(outcome="running").first()


def _desk(zoho, since: int) -> list:
    """The Desk API calls the fake Zoho answered since ``since`` (not the accounts server's)."""
    return [r for r in zoho.requests[since:] if "/desk/" in r.path]


def _shape(path: str) -> str:
    """A Zoho or Jira API path without its prefix and with its ids as N, to compare calls."""
    return re.sub(r"/\d+", "/N", re.sub(r"^.*/(api/v1|rest/api/3)/", "", path))


def _zoho_comments(zoho, ticket: dict, text: str) -> list[dict]:
    return [c for c in zoho.orgs[zoho.org.id].comments[("tickets", ticket["id"])] if text in c["content"]]


def _jira_texts(jira, issue: dict) -> list[str]:
    return [str(c["body"]) for c in jira.comments.get(issue["id"], [])]


def _files(jira, issue: dict) -> list[str]:
    return sorted(a["filename"] for a in jira.issues[issue["id"]]["fields"]["attachment"])


# --- the test ----------------------------------------------------------------------------------------------
@_logs_on_failure
def test_zoho_both_ways_through_the_worker_and_a_kill_mid_poll(stack, jira, zoho):
    service, org = stack["stack"], zoho.org.id
    colleague = zoho.add_agent(org, name="Carl Colleague", email="carl@acme.test")
    issue = jira.add_issue(key="SUP-1", summary="Printer on fire")
    ticket = zoho.add_ticket(org, subject="Printer on fire", priority="Low", status="Open")
    _link(stack, issue, ticket)
    assert len(_zoho_comments(zoho, ticket, "Linked to Jira issue SUP-1")) == 1  # the link note, by our agent
    service.start_worker()

    # a. Zoho → Jira on Sync now: fields, status, a colleague's internal comment, an email reply's file
    _next_second()
    zoho.user_update(org, "tickets", ticket["id"], subject="Printer really on fire", status="On Hold")
    note = "<div>Customer called <b>again</b></div>"
    zoho.add_comment(org, "tickets", ticket["id"], content=note, is_public=False, commenter=colleague)
    zoho.add_thread(org, ticket["id"], content="Here is a log", attachments=[("log.txt", b"log\n", "text/plain")])
    zoho_before, jira_before = len(zoho.requests), len(jira.requests)
    run = _poll(stack)
    assert run.outcome == "success", run.reason
    fields = jira.issues[issue["id"]]["fields"]
    assert fields["summary"] == "Printer really on fire"
    assert fields["status"]["statusCategory"]["key"] == "indeterminate"  # On Hold → In Progress
    (text,) = _jira_texts(jira, issue)
    assert "Customer called" in text and "Zoho Desk internal note" in text and "Carl Colleague" in text
    assert _files(jira, issue) == ["log.txt"]
    assert (run.counts["comments"], run.counts["attachments"], run.counts["transitions"]) == (1, 1, 1)
    # what it cost: the search, then the ticket's comments, threads, the thread with a file, its files and
    # the download, once each (the fields schema is cached per worker process: left out); in Jira one edit,
    # one transition, one comment, one upload
    reads = [_shape(r.path) for r in _desk(zoho, zoho_before) if "organizationFields" not in r.path]
    assert sorted(reads) == [
        "tickets/N/attachments",
        "tickets/N/comments",
        "tickets/N/threads",
        "tickets/N/threads/N",
        "tickets/N/threads/N/attachments/N/content",
        "tickets/search",
    ]
    writes = [(r.method, _shape(r.path)) for r in list(jira.requests)[jira_before:] if r.method != "GET"]
    assert sorted(w for w in writes if w[1] != "search/jql") == [
        ("POST", "issue/N/attachments"),
        ("POST", "issue/N/comment"),
        ("POST", "issue/N/transitions"),
        ("PUT", "issue/N"),
    ]

    # b. Jira → Zoho through signed webhooks: one update with the priority, one public comment, once each
    _wait(lambda: _settled(jira), 30, "the echoes of the poll's Jira writes", stack=service)
    since = len(zoho.requests)
    high = next(p for p in jira.priorities if p["name"] == "High")
    jira.user_edit(issue, {"priority": {"id": high["id"], "name": "High"}})
    jira.user_comment(issue, "We shipped a fix.")
    record = zoho.orgs[org].records["tickets"][ticket["id"]]
    _wait(
        lambda: record["priority"] == "High" and _zoho_comments(zoho, ticket, "We shipped a fix.") and _settled(jira),
        45,
        "the Jira changes in Zoho",
        stack=service,
    )
    (copy,) = _zoho_comments(zoho, ticket, "We shipped a fix.")
    assert copy["isPublic"] is True and copy["commenterId"] == zoho.agent["id"]
    writes = [(r.method, _shape(r.path)) for r in _desk(zoho, since) if r.method != "GET"]
    assert sorted(writes) == [("PATCH", "tickets/N"), ("POST", "tickets/N/comments")]  # fields in one update
    assert record["subject"] == "Printer really on fire"  # Jira's summary is not mapped to Zoho
    assert all(r.outcome == "success" for r in SyncRun.objects.filter(trigger="webhook"))

    # c. twelve more linked tickets get a comment each; the worker is killed while the poll copies them
    pairs = []
    for n in range(12):
        i = jira.add_issue(key=f"SUP-{n + 10}", summary=f"Ticket {n}")
        t = zoho.add_ticket(org, subject=f"Ticket {n}")
        _link(stack, i, t)
        pairs.append((i, t))
    _next_second()
    for _, t in pairs:
        zoho.user_update(org, "tickets", t["id"], subject=f"Ticket {t['id']} (escalated)")
        zoho.add_comment(org, "tickets", t["id"], content=f"Update on {t['id']}", commenter=colleague)
    jira.add_latency(0.3, path=r"/comment$")
    added = len(jira.comments_added)
    before = _sync_now(stack)
    _wait(lambda: len(jira.comments_added) >= added + 4, 45, "the poll to be under way", stack=service)
    service.worker.kill()
    copied_before_kill = sum(len(jira.comments.get(i["id"], [])) for i, _ in pairs)
    assert 0 < copied_before_kill < len(pairs)
    assert _manual_runs(before).filter(outcome="running").exists()
    # The lease is taken over at once when its owner's process is gone from this machine (the killed
    # cluster's workers are reaped by init, not by us): wait for that, as the push kill test does.
    owner = SyncState.objects.get().lease_owner
    dead_pid = int(owner.split(":")[1])
    _wait(lambda: not psutil.pid_exists(dead_pid), 10, f"the killed poll's process {dead_pid} to be gone")

    service.start_worker()
    run = _poll(stack, timeout=60)
    assert run.outcome == "success", run.reason
    for i, t in pairs:
        texts = _jira_texts(jira, i)
        assert len(texts) == 1 and f"Update on {t['id']}" in texts[0], (i["key"], texts)
        assert jira.issues[i["id"]]["fields"]["summary"] == f"Ticket {t['id']} (escalated)"
    dead = _manual_runs(before).get(id__lt=run.pk)
    assert dead.outcome == "failed" and "stopped before it finished" in dead.reason
    assert len(_jira_texts(jira, issue)) == 2  # SUP-1: the colleague's comment and Jira's own, nothing more
    assert _files(jira, issue) == ["log.txt"]

    # Settled: polls take in what the kill and the pushes left (our own writes; the reconcile's look at the
    # issues the pull wrote pushes Jira's priority to their tickets once), until one finds nothing. Then an
    # idle poll is one Zoho search call and one Jira JQL (the two-way item's reconcile).
    for _ in range(5):
        _wait(lambda: _settled(jira), 30, "the webhooks and reconciled events to be processed", stack=service)
        run = _poll(stack)
        assert run.outcome == "success", run.reason
        if run.counts["tickets_seen"] == run.counts["reconciled"] == 0:
            break
    _wait(lambda: _settled(jira), 30, "nothing left to do", stack=service)
    zoho_before, jira_before, credits = len(zoho.requests), len(jira.requests), zoho.orgs[org].credits_used
    run = _poll(stack)
    assert run.outcome == "success", run.reason
    calls = _desk(zoho, zoho_before)
    assert [(r.method, r.path.rsplit("/", 2)[-2:]) for r in calls] == [("GET", ["tickets", "search"])]
    assert len(zoho.requests) - zoho_before == 1  # no token refresh either
    assert len(jira.requests) - jira_before == 1
    assert zoho.orgs[org].credits_used - credits == 3  # a search is a range fetch: 3 credits
    assert run.api_calls == {"zoho_desk": 1, "jira": 1} and run.credits == 3
    assert run.counts["tickets_seen"] == 0
    assert not SyncRun.objects.filter(outcome="running").exists()


def _module_item(stack, module: str, mappings: list[dict]) -> dict:
    body = {
        "name": f"Zoho {module}",
        "mode": "two_way",
        "jira_project": "SUP",
        "jira_issue_type_id": "10001",
        "helpdesk_object": module,
        "display_fields": [],
        "mappings": mappings,
    }
    return stack["api"].post("/api/v1/items", body)["item"]


@pytest.fixture
def hours_field(jira):
    """A Jira number field (before the stack's first item caches Jira's create screen in the server)."""
    jira.add_field("customfield_10091", "Hours", {"type": "number", "custom": "x:float"})


@_logs_on_failure
def test_contracts_and_time_entries_both_ways_through_the_worker(hours_field, stack, jira, zoho):
    """The two modules Zoho cannot search: a contract (its list sorted by modified time) and a time entry
    (every agent's list by modified time) linked over HTTP, changed in Zoho and in Jira."""
    service, org = stack["stack"], zoho.org.id
    to_jira = {"direction": "to_jira", "value_map": {}}
    contracts = _module_item(
        stack, "contracts", [{"helpdesk_field": "contractName", "jira_field": "summary", **to_jira}]
    )
    entries = _module_item(
        stack,
        "timeEntry",
        [
            {"helpdesk_field": "description", "jira_field": "summary", **to_jira},
            {"helpdesk_field": "hoursSpent", "jira_field": "customfield_10091", "direction": "to_helpdesk"},
        ],
    )
    account = zoho.add_account(org, accountName="Globex")
    contract = zoho.add_record(org, "contracts", contractName="Gold", accountId=account["id"], startDate="2020-01-01")
    ticket = zoho.add_ticket(org, subject="Billable work")
    entry = zoho.add_time_entry(org, ticket["id"], description="Investigation")
    entry_id = f"{ticket['id']}:{entry['id']}"
    issues = {}
    for key, item, record_id in (("SUP-1", contracts, contract["id"]), ("SUP-2", entries, entry_id)):
        issues[key] = jira.add_issue(key=key, summary="before")
        body = {"link": {"issue_id": issues[key]["id"], "issue_key": key, "ticket_id": record_id}}
        stack["api"].post(f"/api/v2/integrations/jira/{item['external_id']}/links", body)
    service.start_worker()

    _next_second()
    zoho.user_update(org, "contracts", contract["id"], contractName="Gold 2027")
    zoho.user_update(org, "timeEntry", entry["id"], description="Investigation and fix")
    time.sleep(0.01)
    run = _poll(stack)
    assert run.outcome == "success", run.reason
    assert jira.issues[issues["SUP-1"]["id"]]["fields"]["summary"] == "Gold 2027"
    assert jira.issues[issues["SUP-2"]["id"]]["fields"]["summary"] == "Investigation and fix"

    _wait(lambda: _settled(jira), 30, "the echoes of the poll's Jira writes", stack=service)
    since = len(zoho.requests)
    jira.user_edit(issues["SUP-2"], {"customfield_10091": 3})
    record = zoho.orgs[org].records["timeEntry"][entry["id"]]
    _wait(lambda: str(record.get("hoursSpent")) == "3" and _settled(jira), 45, "the hours in Zoho", stack=service)
    writes = [(r.method, _shape(r.path)) for r in _desk(zoho, since) if r.method != "GET"]
    assert writes == [("PATCH", "tickets/N/timeEntry/N")]

    for _ in range(4):  # settle: our own writes are read back once, and change nothing
        run = _poll(stack)
        assert run.outcome == "success", run.reason
        if run.counts["tickets_seen"] == 0:
            break
    assert run.counts["tickets_seen"] == 0 and run.counts["issues_updated"] == 0
    assert jira.issues[issues["SUP-1"]["id"]]["fields"]["summary"] == "Gold 2027"

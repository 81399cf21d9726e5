"""Contracts and time entries synchronized like the other seven modules, although Zoho has no search for them:
contracts through their list sorted by modified time, time entries through every agent's list filtered by
modified time (each window read twice, since those lists cannot be ordered by modified time)."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from connector.providers import client_for, provider_for
from sync.engine import connection_poll
from sync.models import Link, SyncRun, SyncState
from tenants.descriptor import build_descriptor
from tests.panel.links_helpers import make_item, raw_link
from tests.sync.test_push import deliver, process

pytestmark = pytest.mark.django_db

TO_JIRA = "to_jira"
NOTES = "customfield_10090"  # a Jira text field written into the record's description
HOURS = "customfield_10091"  # a Jira number field written into a time entry's hours


def notes_field(jira) -> None:
    """The Jira fields written into Zoho, and Jira's webhooks held for the test to deliver."""
    jira.webhooks_subscribe(build_descriptor())
    jira.webhooks_hold()
    jira.add_field(NOTES, "Notes", {"type": "string", "custom": "x:textarea"})
    jira.add_field(HOURS, "Hours", {"type": "number", "custom": "x:float"})


def notes_to_zoho(helpdesk_field: str = "description") -> dict:
    return {"helpdesk_field": helpdesk_field, "jira_field": NOTES, "direction": "to_helpdesk", "value_map": {}}


def poll(connection) -> SyncRun:
    run = connection_poll(connection_id=connection.pk)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    return run


def module_item(tenant, connection, module: str, mappings, **overrides) -> ConnectedItem:
    values = {
        "name": f"Zoho {module}",
        "mode": ConnectedItem.Mode.TWO_WAY,
        "jira_project": "SUP",
        "helpdesk_object": module,
        "jira_issue_type_id": "10001",
        "display_fields": [],
        "mappings": mappings,
    }
    values.update(overrides)
    return make_item(tenant, connection, **values)


def desk(zoho, since: int, ending: str = "") -> list:
    return [r for r in zoho.requests[since:] if "/desk/" in r.path and r.path.endswith(ending)]


def test_every_module_can_be_synchronized():
    assert provider_for("zoho_desk").syncable_objects == {
        "tickets", "contacts", "accounts", "tasks", "calls", "events", "timeEntry", "products", "contracts",
    }  # fmt: skip


# --- contracts ---------------------------------------------------------------------------------------------


@pytest.fixture
def contract_link(tenant, zoho_connection, zoho, jira, project):
    org = zoho.org.id
    account = zoho.add_account(org, accountName="Globex")
    contract = zoho.add_record(
        org, "contracts", contractName="Gold support", accountId=account["id"], startDate="2020-01-01",
        endDate="2099-12-31",
    )  # fmt: skip
    notes_field(jira)
    item = module_item(
        tenant,
        zoho_connection,
        "contracts",
        [
            {"helpdesk_field": "contractName", "jira_field": "summary", "direction": TO_JIRA, "value_map": {}},
            notes_to_zoho(),
        ],
        status_sync=True,
    )
    issue = jira.add_issue(key="SUP-1", summary="Gold support")
    link = raw_link(tenant, item, issue["id"], contract["id"], created_at=timezone.now())
    return {"item": item, "contract": contract, "issue": issue, "link": link}


def test_a_changed_contract_reaches_jira_once_and_an_idle_poll_reads_only_the_top_of_the_list(
    zoho_connection, contract_link, zoho, jira
):
    org, contract = zoho.org.id, contract_link["contract"]
    zoho.add_record(org, "contracts", contractName="Untouched", startDate="2020-01-01")  # never changes
    poll(zoho_connection)  # the first pass sets the baseline
    zoho.user_update(org, "contracts", contract["id"], contractName="Gold support 2027")
    run = poll(zoho_connection)
    assert jira.issues[contract_link["issue"]["id"]]["fields"]["summary"] == "Gold support 2027"
    assert run.counts["issues_updated"] == 1
    assert set(SyncState.objects.get().cursors) == {"contracts"}

    before = len(zoho.requests)
    run = poll(zoho_connection)
    calls = desk(zoho, before)
    lists = [r for r in calls if r.path.endswith("/api/v1/contracts")]
    assert len(lists) == 1 and lists[0].query["sortBy"] == ["-modifiedTime"]  # newest modified first
    assert len(calls) == 3  # the list, the contract at the cursor and the one below it
    assert run.counts["tickets_seen"] == 0 and run.counts["issues_updated"] == 0


def test_a_contracts_status_follows_its_dates_into_jira_and_is_never_written_from_jira(
    client, zoho_connection, contract_link, zoho, jira
):
    org, contract, issue = zoho.org.id, contract_link["contract"], contract_link["issue"]
    poll(zoho_connection)
    zoho.user_update(org, "contracts", contract["id"], endDate="2021-01-01")  # expired
    poll(zoho_connection)
    assert jira.issues[issue["id"]]["fields"]["status"]["statusCategory"]["key"] == "done"
    jira.user_transition(issue, "In Progress")
    jira.user_edit(issue, {NOTES: "Renewal under way"})
    deliver(client, jira)
    process(zoho_connection.tenant, issue)
    patches = [r for r in zoho.requests if r.method == "PATCH"]
    assert len(patches) == 1 and b"contractStatus" not in patches[0].body  # Zoho derives it
    assert zoho.orgs[org].records["contracts"][contract["id"]]["description"] == "Renewal under way"


def test_contracts_are_auto_created_after_the_baseline_and_pages_of_the_list_are_walked(
    tenant, zoho_connection, zoho, jira, project
):
    org = zoho.org.id
    old = zoho.add_record(org, "contracts", contractName="Old contract", startDate="2020-01-01")
    module_item(
        tenant,
        zoho_connection,
        "contracts",
        [{"helpdesk_field": "contractName", "jira_field": "summary", "direction": TO_JIRA, "value_map": {}}],
        mode=ConnectedItem.Mode.ONE_WAY,
        auto_create=True,
    )
    zoho.advance(1)
    fresh = [zoho.add_record(org, "contracts", contractName=f"C{n}", startDate="2020-01-01") for n in range(105)]
    zoho.user_update(org, "contracts", old["id"], contractName="Old contract, touched")  # made before: never
    time.sleep(1.1)
    run = poll(zoho_connection)
    created = set(Link.objects.values_list("record_id", flat=True))
    assert created == {c["id"] for c in fresh}  # 105 across two pages of the list
    assert run.counts["issues_created"] == 105
    assert poll(zoho_connection).counts["issues_created"] == 0  # never twice


def test_a_contract_edited_while_the_list_is_paged_is_taken_by_the_next_poll(
    tenant, zoho_connection, zoho, jira, project, monkeypatch
):
    org = zoho.org.id
    module_item(
        tenant,
        zoho_connection,
        "contracts",
        [{"helpdesk_field": "contractName", "jira_field": "summary", "direction": TO_JIRA, "value_map": {}}],
        mode=ConnectedItem.Mode.ONE_WAY,
        auto_create=True,
    )
    zoho.advance(1)
    contracts = [zoho.add_record(org, "contracts", contractName=f"C{n}", startDate="2020-01-01") for n in range(120)]
    time.sleep(1.1)
    from connector.clients.zoho_desk import ZohoDeskClient

    real = ZohoDeskClient.recently_modified

    def edit_between_pages(self, module, *, start=0, limit=100):
        rows = real(self, module, start=start, limit=limit)
        if start == 0:  # a person edits a contract of the second page while we read the first
            zoho.user_update(org, "contracts", contracts[0]["id"], contractName="C0 renamed")
        return rows

    monkeypatch.setattr(ZohoDeskClient, "recently_modified", edit_between_pages)
    poll(zoho_connection)
    monkeypatch.setattr(ZohoDeskClient, "recently_modified", real)
    # the edit moved C0 to the top, already read: the rows after shifted down (one read twice, none skipped)
    assert Link.objects.count() == 119 and len(jira.issues) == 119
    poll(zoho_connection)  # C0's new time is past what that read took
    summaries = sorted(i["fields"]["summary"] for i in jira.issues.values())
    assert "C0 renamed" in summaries and len(summaries) == 120 and Link.objects.count() == 120


# --- time entries ------------------------------------------------------------------------------------------


@pytest.fixture
def entry_link(tenant, zoho_connection, zoho, jira, project):
    org = zoho.org.id
    ticket = zoho.add_ticket(org, subject="Billable work")
    entry = zoho.add_time_entry(org, ticket["id"], description="Investigation", hoursSpent="2")
    notes_field(jira)
    item = module_item(
        tenant,
        zoho_connection,
        "timeEntry",
        [
            {"helpdesk_field": "description", "jira_field": "summary", "direction": TO_JIRA, "value_map": {}},
            {"helpdesk_field": "hoursSpent", "jira_field": HOURS, "direction": "to_helpdesk", "value_map": {}},
        ],
    )
    issue = jira.add_issue(key="SUP-1", summary="Investigation")
    record_id = f"{ticket['id']}:{entry['id']}"
    link = raw_link(tenant, item, issue["id"], record_id, created_at=timezone.now())
    return {"item": item, "ticket": ticket, "entry": entry, "issue": issue, "link": link, "record_id": record_id}


def test_a_changed_time_entry_reaches_jira_once_and_an_idle_poll_is_one_call_per_agent(
    zoho_connection, entry_link, zoho, jira
):
    org = zoho.org.id
    colleague = zoho.add_agent(org, name="Carl Colleague", email="carl@acme.test")
    poll(zoho_connection)
    zoho.user_update(org, "timeEntry", entry_link["entry"]["id"], description="Investigation and fix")
    run = poll(zoho_connection)
    assert jira.issues[entry_link["issue"]["id"]]["fields"]["summary"] == "Investigation and fix"
    assert run.counts["issues_updated"] == 1
    run = poll(zoho_connection)  # the same window read again: the entry is left out, nothing written
    assert run.counts["tickets_seen"] == 0 and run.counts["issues_updated"] == 0

    before = len(zoho.requests)
    poll(zoho_connection)
    paths = sorted(r.path.split("/api/v1/")[1] for r in desk(zoho, before))
    assert paths == sorted(["agents", f"agents/{zoho.agent['id']}/timeEntry", f"agents/{colleague['id']}/timeEntry"])


def test_time_entries_of_every_agent_are_auto_created_after_the_baseline(tenant, zoho_connection, zoho, jira, project):
    org = zoho.org.id
    ticket = zoho.add_ticket(org, subject="Long job")
    before = zoho.add_time_entry(org, ticket["id"], description="Before the item")
    module_item(
        tenant,
        zoho_connection,
        "timeEntry",
        [{"helpdesk_field": "description", "jira_field": "summary", "direction": TO_JIRA, "value_map": {}}],
        mode=ConnectedItem.Mode.ONE_WAY,
        auto_create=True,
    )
    colleague = zoho.add_agent(org, name="Carl Colleague", email="carl@acme.test")
    time.sleep(0.01)
    mine = zoho.add_time_entry(org, ticket["id"], description="Zoe's hour")
    theirs = zoho.add_time_entry(org, ticket["id"], description="Carl's hour", owner_id=colleague["id"])
    zoho.user_update(org, "timeEntry", before["id"], description="Before the item, edited")
    poll(zoho_connection)
    assert set(Link.objects.values_list("record_id", flat=True)) == {
        f"{ticket['id']}:{mine['id']}",
        f"{ticket['id']}:{theirs['id']}",
    }
    assert sorted(i["fields"]["summary"] for i in jira.issues.values()) == ["Carl's hour", "Zoe's hour"]
    assert poll(zoho_connection).counts["issues_created"] == 0
    assert poll(zoho_connection).counts["issues_created"] == 0  # read twice, created once


def test_a_time_entry_one_read_missed_is_taken_by_the_next(zoho_connection, entry_link, zoho, jira, monkeypatch):
    """Agent lists cannot be ordered by modified time, so a page can shift under an edit and skip an entry:
    every window is read twice."""
    org = zoho.org.id
    poll(zoho_connection)
    zoho.user_update(org, "timeEntry", entry_link["entry"]["id"], description="Edited once")
    from connector.clients.zoho_desk import ZohoDeskClient

    real = ZohoDeskClient.agent_time_entries

    def skipping(self, agent_id, since_ms, until_ms, *, start=0):
        rows = real(self, agent_id, since_ms, until_ms, start=start)
        return [e for e in rows if e["id"] != entry_link["entry"]["id"]]

    monkeypatch.setattr(ZohoDeskClient, "agent_time_entries", skipping)
    poll(zoho_connection)  # the page lost the entry
    monkeypatch.setattr(ZohoDeskClient, "agent_time_entries", real)
    assert jira.issues[entry_link["issue"]["id"]]["fields"]["summary"] == "Investigation"
    run = poll(zoho_connection)
    assert run.counts["issues_updated"] == 1
    assert jira.issues[entry_link["issue"]["id"]]["fields"]["summary"] == "Edited once"


def test_jira_edits_reach_the_time_entry_under_its_ticket(client, zoho_connection, entry_link, zoho, jira):
    issue = entry_link["issue"]
    poll(zoho_connection)
    jira.user_edit(issue, {HOURS: 3})
    deliver(client, jira)
    process(zoho_connection.tenant, issue)
    patches = [r for r in zoho.requests if r.method == "PATCH"]
    assert [p.path.split("/api/v1/")[1] for p in patches] == [
        f"tickets/{entry_link['ticket']['id']}/timeEntry/{entry_link['entry']['id']}"
    ]
    assert zoho.orgs[zoho.org.id].records["timeEntry"][entry_link["entry"]["id"]]["hoursSpent"] in (3, "3")
    assert client_for(zoho_connection)  # the connection still works after the write
    run = poll(zoho_connection)  # our own edit is seen, and nothing goes back to Jira
    assert run.counts["issues_updated"] == 0

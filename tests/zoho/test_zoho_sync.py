"""Zoho Desk synchronized both ways against the fake Zoho Desk and fake Jira (real HTTP on loopback): change
detection by modified time per module, fields and status by the item's status table, comments and files
(comments, thread and ticket attachments) exactly once with no echoes, credits recorded per run."""

from __future__ import annotations

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from sync.engine import connection_poll
from sync.models import CommentMap, Link, SyncRun, SyncState
from tenants.descriptor import build_descriptor
from tests.panel.links_helpers import make_item, raw_link
from tests.sync.test_push import deliver, process

pytestmark = pytest.mark.django_db


def zitem(tenant, connection, **overrides):
    values = {
        "name": "Zoho tickets",
        "mode": ConnectedItem.Mode.TWO_WAY,
        "jira_project": "SUP",
        "helpdesk_object": "tickets",
        "jira_issue_type_id": "10001",
        "display_fields": ["status", "priority"],
        "status_sync": True,
        "comment_sync": True,
        "attachment_sync": True,
        "mappings": [
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
            {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}},
        ],
    }
    values.update(overrides)
    return make_item(tenant, connection, **values)


@pytest.fixture
def zsynced(settings, tenant, zoho_connection, project, jira, zoho):
    """A two-way Zoho ticket item (subject → summary; Jira priority → Zoho priority; status, comments, files)
    and SUP-1 linked to a ticket; Jira's webhooks are held for the test to deliver."""
    settings.JIRA_DOWNLOAD_ALLOWED_HOSTS = ["localhost"]
    settings.SYNC_RECONCILE_GRACE_SECONDS = 0
    item = zitem(tenant, zoho_connection)
    issue = jira.add_issue(key="SUP-1", summary="Printer on fire")
    ticket = zoho.add_ticket(zoho.org.id, subject="Printer on fire", priority="Low", status="Open")
    link = raw_link(tenant, item, issue["id"], ticket["id"], created_at=timezone.now())
    jira.webhooks_subscribe(build_descriptor())
    jira.webhooks_hold()
    return {"item": item, "issue": issue, "ticket": ticket, "link": link}


def poll(connection) -> SyncRun:
    return connection_poll(connection_id=connection.pk)


def desk_calls(zoho, since: int = 0, path: str = "") -> list:
    return [r for r in zoho.requests[since:] if "/desk/" in r.path and path in r.path]


def test_item_defaults_for_zoho(zsynced):
    item = zsynced["item"]
    assert item.link_note is True  # on by default for Zoho items
    assert item.status_map["Closed"] == "done" and item.status_map["Open"] == "indeterminate"


def test_a_changed_ticket_updates_its_issue_once_and_an_idle_poll_is_one_search(zoho_connection, zsynced, jira, zoho):
    zoho.user_update(zoho.org.id, "tickets", zsynced["ticket"]["id"], subject="Printer really on fire")
    run = poll(zoho_connection)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    issue = jira.issues[zsynced["issue"]["id"]]["fields"]
    assert issue["summary"] == "Printer really on fire"
    assert issue["status"]["statusCategory"]["key"] == "indeterminate"  # Open → In Progress
    assert run.credits > 0 and run.api_calls["zoho_desk"] >= 1
    assert set(SyncState.objects.get().cursors) == {"tickets"}

    before, jira_before = len(zoho.requests), len(jira.requests)
    run = poll(zoho_connection)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    searches = desk_calls(zoho, before)
    assert [r.path.rsplit("/", 2)[-2:] for r in searches] == [["tickets", "search"]]
    assert run.api_calls == {"zoho_desk": 1, "jira": 1}  # the search; Jira: the reconcile's JQL
    assert run.credits == 3  # a search is a range fetch: 3 credits
    assert len(jira.requests) - jira_before == 1


def test_closing_the_ticket_moves_the_issue_to_done(zoho_connection, zsynced, jira, zoho):
    zoho.user_update(zoho.org.id, "tickets", zsynced["ticket"]["id"], status="Closed")
    run = poll(zoho_connection)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    assert jira.issues[zsynced["issue"]["id"]]["fields"]["status"]["statusCategory"]["key"] == "done"
    assert Link.objects.get().sync_stopped_at is None  # a closed Zoho ticket can be reopened: syncing goes on


def test_comments_threads_and_ticket_files_reach_jira_once_and_ours_never_come_back(
    settings, zoho_connection, zsynced, jira, zoho
):
    tid = zsynced["ticket"]["id"]
    org = zoho.org.id
    colleague = zoho.add_agent(org, name="Carl Colleague", email="carl@acme.test")
    zoho.advance(5)  # what is said after the link was made is copied
    zoho.add_comment(
        org, "tickets", tid, content="<div>Customer called <b>again</b></div>", is_public=False, commenter=colleague
    )
    zoho.add_thread(org, tid, content="Here is a log", attachments=[("log.txt", b"log line\n", "text/plain")])
    zoho.add_ticket_attachment(org, tid, "photo.png", b"\x89PNG fake", "image/png")
    zoho.add_comment(org, "tickets", tid, content="from us", commenter=zoho.agent)  # our own agent: an echo
    run = poll(zoho_connection)  # nothing modified the ticket: the comment sweep reads it (never read before)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    comments = jira.comments[zsynced["issue"]["id"]]
    texts = [str(c["body"]) for c in comments]
    assert len(comments) == 1 and "Customer called" in texts[0] and "Zoho Desk internal note" in texts[0]
    names = sorted(a["filename"] for a in jira.issues[zsynced["issue"]["id"]]["fields"]["attachment"])
    assert names == ["log.txt", "photo.png"]
    assert run.counts["comments"] == 1 and run.counts["attachments"] == 2

    run = poll(zoho_connection)  # read again within the sweep interval: nothing read, nothing copied
    assert run.api_calls["zoho_desk"] == 1 and run.counts["comments"] == 0
    Link.objects.update(comments_read_at=None)
    run = poll(zoho_connection)  # read again: every comment and file is mapped already
    assert run.counts["comments"] == 0 and run.counts["attachments"] == 0
    assert len(jira.comments[zsynced["issue"]["id"]]) == 1
    assert CommentMap.objects.filter(source_side="helpdesk").count() == 1


def test_jira_changes_reach_the_ticket_with_status_by_the_items_table(client, zoho_connection, zsynced, jira, zoho):
    issue, tid = zsynced["issue"], zsynced["ticket"]["id"]
    assert poll(zoho_connection).outcome == SyncRun.Outcome.SUCCESS  # the link's first pass
    high = next(p for p in jira.priorities if p["name"] == "High")
    jira.user_edit(issue, {"priority": {"id": high["id"], "name": "High"}})  # as Jira returns it: id and name
    jira.user_transition(issue, "Done")
    deliver(client, jira)
    assert process(zoho_connection.tenant, issue).startswith("done")
    ticket = zoho.orgs[zoho.org.id].records["tickets"][tid]
    assert ticket["priority"] == "High" and ticket["status"] == "Closed"
    patches = [r for r in zoho.requests if r.method == "PATCH"]
    assert len(patches) == 1  # fields and status in one update

    jira.user_comment(issue, "We shipped a fix.")
    deliver(client, jira)
    process(zoho_connection.tenant, issue)
    posted = zoho.orgs[zoho.org.id].comments[("tickets", tid)]
    ours = [c for c in posted if "We shipped a fix." in c["content"]]
    assert len(ours) == 1 and ours[0]["isPublic"] is True and ours[0]["commenterId"] == zoho.agent["id"]

    run = poll(zoho_connection)  # the pull sees our own edit and our own comment: nothing goes back
    assert run.counts["tickets_seen"] == 1  # our update modified the ticket
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    assert len(jira.comments[issue["id"]]) == 1  # only the person's comment: our copy in Zoho is not copied back
    assert run.counts["comments"] == 0 and run.counts["issues_updated"] == 0


def test_a_runs_credits_are_what_zoho_charged(zoho_connection, zsynced, jira, zoho):
    tid = zsynced["ticket"]["id"]
    colleague = zoho.add_agent(zoho.org.id, name="Carl Colleague", email="carl@acme.test")
    zoho.advance(5)
    zoho.add_thread(zoho.org.id, tid, content="A log", attachments=[("log.txt", b"log\n", "text/plain")])
    zoho.add_comment(zoho.org.id, "tickets", tid, content="Called", commenter=colleague)
    zoho.user_update(zoho.org.id, "tickets", tid, subject="Printer really on fire")
    from connector.schema import schema_cache_clear

    schema_cache_clear(tenant=zoho_connection.tenant)  # the fields are read in the run, and billed to it
    before = zoho.org.credits_used
    run = poll(zoho_connection)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    assert run.counts["attachments"] == 1  # a download is among the calls
    assert run.credits == zoho.org.credits_used - before


@pytest.mark.django_db(transaction=True)
def test_parallel_work_stays_within_zohos_concurrency_limit(settings, zoho_connection, zsynced, jira, zoho):
    from django.db import connection as db

    if db.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (threads with their own database connections)")
    settings.SYNC_PARALLEL_ISSUES = 16
    zoho.org.concurrency = 4  # the fake refuses a fifth call in flight with TOO_MANY_REQUESTS
    zoho.add_latency(0.05, path=r"/comments$")
    for n in range(12):
        issue = jira.add_issue(key=f"SUP-{n + 2}", summary=f"Issue {n}")
        ticket = zoho.add_ticket(zoho.org.id, subject=f"Ticket {n}")
        raw_link(zoho_connection.tenant, zsynced["item"], issue["id"], ticket["id"], key=issue["key"])
    run = poll(zoho_connection)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    assert run.counts["tickets_seen"] == 13


def test_a_jira_file_reaches_the_ticket_once_as_an_internal_comment(client, zoho_connection, zsynced, jira, zoho):
    issue, tid = zsynced["issue"], zsynced["ticket"]["id"]
    jira.user_attach(issue, "trace.log", b"x" * 2048, "text/plain")
    deliver(client, jira, twice=True)  # a redelivery changes nothing
    process(zoho_connection.tenant, issue)
    from connector.providers import client_for

    posted = client_for(zoho_connection).comments("tickets", tid)  # as Zoho's API shows them
    with_files = [c for c in posted if c.get("attachments")]
    assert len(with_files) == 1 and with_files[0]["isPublic"] is False
    assert [a["name"] for a in with_files[0]["attachments"]] == ["trace.log"]
    assert "trace.log" in with_files[0]["content"] and "SUP-1" in with_files[0]["content"]
    assert sum(1 for r in zoho.requests if r.method == "POST" and r.path.endswith("/uploads")) == 1
    patches = [r.body for r in zoho.requests if r.method == "PATCH"]
    assert all(b'"status"' not in body for body in patches)  # To Do ↔ an Open ticket: no status write
    run = poll(zoho_connection)  # our comment and its file are never copied back
    assert run.counts["attachments"] == 0 and len(jira.issues[issue["id"]]["fields"]["attachment"]) == 1


def test_a_custom_status_field_and_custom_fields_go_in_one_cf_object():
    from connector.providers import provider_for
    from sync.push import _merged

    provider = provider_for("zoho_desk")

    class Item:
        helpdesk_object, status_field, status_map = "tickets", "cf_stage", {"Fixed": "done", "Triage": "new"}

    body = provider.update_payload("tickets", {"cf_team": "Core", "subject": "Hi"})
    merged = _merged(body, provider.status_payload(provider.status_for_category("Triage", "done", Item), Item))
    assert merged == {"subject": "Hi", "cf": {"cf_team": "Core", "cf_stage": "Fixed"}}  # neither cf value lost
    assert provider.status_for_category("Fixed", "done", Item) is None  # already there


def test_a_refusal_during_a_poll_says_what_to_do_in_zohos_terms(zoho_connection, zsynced, zoho):
    message = "The OAuth Token does not contain the scope to perform this operation."
    zoho.fail_next(403, {"errorCode": "SCOPE_MISMATCH", "message": message}, path=r"/search$")
    run = poll(zoho_connection)
    assert run.outcome == SyncRun.Outcome.HALTED
    assert "SCOPE_MISMATCH" in run.reason and "Generate a new Self Client code" in run.reason
    assert "Zendesk" not in run.reason

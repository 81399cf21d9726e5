"""Auto-create against the fakes over real HTTP: one issue per new matching ticket, only create-screen fields
in the create call (the rest in one edit right after), summary fallback, the issue tagged with a searchable
property, the link auto-managed, the first status kept on the first pass, and never a second issue for one
ticket — not after Jira created it and the answer was lost, not on a re-read page, not by a retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from connector.schema import schema_cache_clear
from sync.descriptor import SOURCE_PROPERTY
from sync.engine import connection_poll
from sync.errors import AutoManagedLink
from sync.models import AutoCreate, Link, SyncEvent, SyncRun
from sync.services import event_retry, link_delete
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import make_item

pytestmark = pytest.mark.django_db

SCREEN = ("summary", "issuetype", "project", "reporter", "description")


@pytest.fixture
def auto(tenant, connection, project, jira, zendesk, admin_agent):
    from connector import schema

    jira.indexed_properties.add(SOURCE_PROPERTY)  # the descriptor declares it (jiraEntityProperties)
    high = next(p["id"] for p in schema.jira_priorities(tenant=tenant) if p["name"] == "High")
    item = make_item(
        tenant,
        connection,
        name="Escalations",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_issue_type_id="10001",
        auto_create=True,
        auto_create_conditions={"tags": ["jira"]},
        status_sync=True,
        comment_sync=True,
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
            {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira", "value_map": {}},
            {
                "helpdesk_field": "priority",
                "jira_field": "priority",
                "direction": "to_jira",
                "value_map": {"high": high},
            },
        ],
    )
    # later, a Jira admin takes priority off the create screen (it stays editable)
    screen = [f for f in jira.create_fields_for("SUP", "10001") if f["fieldId"] in SCREEN]
    jira.set_create_fields("SUP", "10001", screen)
    schema.schema_cache_clear(tenant=tenant)
    ConnectedItem.objects.filter(pk=item.pk).update(auto_create_baseline=timezone.now() - timedelta(seconds=5))
    item.refresh_from_db()
    return {"item": item, "high": high}


def _poll(connection):
    return connection_poll(connection_id=connection.pk)


def test_a_new_matching_ticket_creates_one_tagged_issue(connection, auto, jira, zendesk):
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="VPN down", priority="high", status="open", tags=["jira"])
    zendesk.add_ticket(ZD_SUBDOMAIN, subject="Not for Jira", tags=["billing"])
    zendesk.advance(120)
    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    assert run.counts["issues_created"] == 1 and len(jira.created) == 1
    created = jira.created[0]
    assert created["fields"]["summary"] == "VPN down"
    assert "priority" not in created["fields"]  # not on the create screen: set by the edit right after
    assert created["properties"][SOURCE_PROPERTY]["key"] == f"{auto['item'].external_id}:{ticket['id']}"
    issue = jira.issues[created["id"]]
    assert issue["fields"]["priority"] == {"id": auto["high"]}
    assert issue["fields"]["status"]["name"] == "To Do"  # first status kept on the first pass (ticket is open)
    link = Link.objects.get()
    assert link.origin == Link.Origin.AUTO and link.jira_issue_key == created["key"]
    assert link.record_id == str(ticket["id"]) and link.preview["title"].endswith("VPN down")
    assert jira.comments.get(created["id"], []) == []  # the opening message is the description, not a comment
    with pytest.raises(AutoManagedLink):
        link_delete(tenant=link.tenant, link=link)

    # the next change on the ticket applies status from then on; nothing is created again
    zendesk.add_comment(ZD_SUBDOMAIN, ticket["id"], "Still down")
    zendesk.accounts[ZD_SUBDOMAIN].tickets[ticket["id"]]["status"] = "solved"
    zendesk.advance(120)
    run = _poll(connection)
    assert run.counts["issues_created"] == 0 and len(jira.created) == 1
    assert jira.issues[created["id"]]["fields"]["status"]["statusCategory"]["key"] == "done"
    assert len(jira.comments[created["id"]]) == 1


def test_the_summary_falls_back_to_the_ticket_reference(connection, auto, jira, zendesk):
    auto["item"].mappings.filter(jira_field="summary").delete()
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer", tags=["jira"])
    zendesk.advance(120)
    _poll(connection)
    assert jira.created[0]["fields"]["summary"] == f"[Zendesk #{ticket['id']}] Printer"


def test_tickets_from_before_the_baseline_are_not_created(connection, auto, jira, zendesk):
    zendesk.add_ticket(ZD_SUBDOMAIN, subject="Old", tags=["jira"])
    ConnectedItem.objects.filter(pk=auto["item"].pk).update(auto_create_baseline=timezone.now() + timedelta(hours=1))
    zendesk.advance(120)
    assert _poll(connection).counts["issues_created"] == 0 and jira.created == []


def test_a_lost_create_answer_never_makes_a_second_issue(connection, auto, jira, zendesk):
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="VPN down", tags=["jira"])
    zendesk.advance(120)
    jira.fail_after_create_next()  # Jira creates the issue, the answer is lost
    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.HALTED and len(jira.created) == 1
    intent = AutoCreate.objects.get()
    assert intent.state == AutoCreate.State.PENDING and intent.attempts == 1

    # the page is read again at once: the intent is too fresh to look up (Jira's index lags), so nothing
    assert _poll(connection).outcome == SyncRun.Outcome.SUCCESS
    assert len(jira.created) == 1 and not Link.objects.exists()

    # a minute later the sweep finds the issue by its property and links it
    AutoCreate.objects.update(attempted_at=timezone.now() - timedelta(minutes=2))
    run = _poll(connection)
    assert len(jira.created) == 1
    link = Link.objects.get()
    assert link.jira_issue_id == jira.created[0]["id"] and link.record_id == str(ticket["id"])
    assert AutoCreate.objects.get().state == AutoCreate.State.DONE
    assert "Found the issue" in SyncEvent.objects.get(action="create", result="ok").message


def test_a_pending_intent_whose_issue_is_not_in_jira_is_created_then(connection, auto, jira, zendesk):
    zendesk.add_ticket(ZD_SUBDOMAIN, subject="VPN down", tags=["jira"])
    zendesk.advance(120)
    jira.fail_next(503, {"errorMessages": ["down"]}, path=r"^/rest/api/3/issue$")  # refused before creating
    assert _poll(connection).outcome == SyncRun.Outcome.HALTED
    assert jira.created == []
    AutoCreate.objects.update(attempted_at=timezone.now() - timedelta(minutes=2))
    _poll(connection)
    assert len(jira.created) == 1 and Link.objects.count() == 1


def test_a_refused_create_is_an_error_the_admin_sees_and_can_retry(
    connection, auto, jira, zendesk, django_capture_on_commit_callbacks
):
    screen = jira.create_fields_for("SUP", "10001")
    screen.append({**screen[0], "fieldId": "customfield_10050", "key": "customfield_10050", "name": "Team"})
    screen[-1]["required"] = True
    jira.set_create_fields("SUP", "10001", screen)
    schema_cache_clear(tenant=connection.tenant)
    zendesk.add_ticket(ZD_SUBDOMAIN, subject="VPN down", tags=["jira"])
    zendesk.advance(120)
    run = _poll(connection)
    assert run.counts["errors"] == 1 and jira.created == []
    event = SyncEvent.objects.get(action="create")
    assert "Team is required" in event.message and event.item_id == auto["item"].pk
    assert AutoCreate.objects.get().state == AutoCreate.State.FAILED
    item = ConnectedItem.objects.get(pk=auto["item"].pk)
    assert "Team is required" in item.last_error  # the admin page grid shows it

    screen[-1]["required"] = False
    jira.set_create_fields("SUP", "10001", screen)
    schema_cache_clear(tenant=connection.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        assert "queued" in event_retry(event=event)  # Q_SYNC: the poll runs now
    assert len(jira.created) == 1 and Link.objects.count() == 1

"""The push engine (Jira → Zendesk) against the fakes on loopback: Jira's own webhook deliveries (signed by
the fake, posted through the real endpoint) are processed per issue; fields, status, comments and files
reach the linked ticket once; our own changes never come back; errors reschedule or fail visibly."""

from __future__ import annotations

import pytest
from django.utils import timezone

from connector.clients.zendesk import ZendeskClient
from connector.models import ConnectedItem
from sync.engine import STATUS_KEY, connection_poll
from sync.models import AttachmentMap, CommentMap, IssueState, Link, SyncEvent, SyncRun, SyncState, WebhookEvent
from sync.push import events_retry, issue_events_process
from tenants.descriptor import build_descriptor
from tests.conftest import ZD_EMAIL, ZD_SUBDOMAIN, ZD_TOKEN
from tests.panel.links_helpers import make_item, raw_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_way(settings, tenant, connection, project, jira, zendesk, admin_agent):
    """A two-way item (Jira priority → Zendesk priority, labels → tags; status, comments and files) and
    SUP-1 linked to a ticket; Jira's webhooks are held for the test to deliver."""
    settings.JIRA_DOWNLOAD_ALLOWED_HOSTS = ["localhost"]  # the fake's media host
    settings.SYNC_RECONCILE_GRACE_SECONDS = 0
    item = make_item(
        tenant,
        connection,
        name="Two-way tickets",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        status_sync=True,
        comment_sync=True,
        attachment_sync=True,
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
            {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}},
            {"helpdesk_field": "tags", "jira_field": "labels", "direction": "to_helpdesk", "value_map": {}},
        ],
    )
    issue = jira.add_issue(key="SUP-1", summary="Printer on fire")
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire", priority="low", status="open")
    link = raw_link(tenant, item, issue["id"], ticket["id"], created_at=timezone.now())
    jira.webhooks_subscribe(build_descriptor())
    jira.webhooks_hold()
    return {"item": item, "issue": issue, "ticket": ticket, "link": link}


def deliver(client, jira, *, twice: bool = False, reverse: bool = False) -> list[str]:
    """POST every held delivery through the real endpoint (in this test's transaction)."""
    taken = jira.webhooks_take()
    if reverse:
        taken.reverse()
    outcomes = []
    for delivery in taken * (2 if twice else 1):
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in delivery["headers"].items()}
        headers.pop("HTTP_CONTENT_TYPE", None)
        response = client.post(delivery["path"], data=delivery["body"], content_type="application/json", **headers)
        assert response.status_code == 204, response.content
        outcomes.append(response["X-Deskbridge-Intake"])
    return outcomes


def process(tenant, issue) -> str:
    return issue_events_process(tenant_id=tenant.pk, issue_id=str(issue["id"]))


def ticket(zendesk, two_way):
    return zendesk.accounts[ZD_SUBDOMAIN].tickets[two_way["ticket"]["id"]]


def comments(zendesk, two_way):
    return zendesk.accounts[ZD_SUBDOMAIN].comments[two_way["ticket"]["id"]]


def writes(zendesk, two_way) -> int:
    return zendesk.accounts[ZD_SUBDOMAIN].ticket_updates[two_way["ticket"]["id"]]


def test_a_jira_edit_reaches_the_ticket_in_one_update_and_the_first_sends_every_mapped_value(
    client, tenant, jira, zendesk, two_way
):
    jira.user_edit(two_way["issue"], {"priority": {"name": "Highest"}, "labels": ["Printer Fire", "vip"]})
    assert deliver(client, jira) == ["stored"]
    jira_before = len(jira.requests)
    outcome = process(tenant, two_way["issue"])
    assert outcome.startswith("done"), outcome
    assert ticket(zendesk, two_way)["priority"] == "urgent"  # Highest → urgent
    assert ticket(zendesk, two_way)["tags"] == ["printer_fire", "vip"]
    assert writes(zendesk, two_way) == 1
    # one issue read, plus (once) our own account and the field schema; no comment read for a field change
    paths = [r.path for r in jira.requests[jira_before:]]
    assert sorted(paths) == sorted(
        ["/rest/api/3/myself", "/rest/api/3/field", f"/rest/api/3/issue/{two_way['issue']['id']}"]
    )
    run = SyncRun.objects.get(trigger=SyncRun.Trigger.WEBHOOK)
    assert run.outcome == "success" and run.api_calls["jira"] == 1  # (Zendesk: the update, and its field schema)
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.DONE
    event = SyncEvent.objects.get(action="fields")
    assert event.direction == "to_helpdesk" and "priority" in event.message

    # A later edit sends only what changed: an unchanged value is never written again.
    jira.user_edit(two_way["issue"], {"summary": "renamed"})  # summary is not mapped towards Zendesk
    deliver(client, jira)
    process(tenant, two_way["issue"])
    assert writes(zendesk, two_way) == 1


def test_duplicated_and_reordered_deliveries_act_on_the_issue_as_it_is_now(client, tenant, jira, zendesk, two_way):
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    jira.user_edit(two_way["issue"], {"priority": {"name": "Low"}})
    outcomes = deliver(client, jira, twice=True, reverse=True)
    assert outcomes.count("stored") == 2 and outcomes.count("duplicate") == 2
    process(tenant, two_way["issue"])
    assert ticket(zendesk, two_way)["priority"] == "low"  # the issue's value now, not the stale event's
    # low was already the ticket's value but nothing was written by us before: one update, not two
    assert writes(zendesk, two_way) == 1
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"done"}


def test_a_jira_comment_becomes_one_public_attributed_zendesk_comment(client, tenant, jira, zendesk, two_way):
    before = len(comments(zendesk, two_way))
    jira.user_comment(two_way["issue"], "We found the **cause**.\n\nA fix ships today.")
    outcomes = deliver(client, jira)
    assert outcomes.count("stored") == 2  # comment_created and jira:issue_updated (issue_commented)
    process(tenant, two_way["issue"])
    added = comments(zendesk, two_way)[before:]
    assert len(added) == 1 and added[0]["public"] is True
    assert (
        "Mia Krystof commented on SUP-1:" in added[0]["plain_body"] and "A fix ships today." in added[0]["plain_body"]
    )
    assert "focusedCommentId=" in added[0]["html_body"]
    row = CommentMap.objects.get(source_side="jira")
    assert row.target_id == str(added[0]["id"])

    # Jira redelivers both and the comment is edited: nothing new in Zendesk, and the edit is recorded.
    comment_id = row.source_id
    jira.user_comment_edit(two_way["issue"], comment_id, "A fix ships tomorrow.")
    deliver(client, jira)
    process(tenant, two_way["issue"])
    assert len(comments(zendesk, two_way)) == before + 1
    skipped = SyncEvent.objects.get(action="comment", result="skipped")
    assert "cannot be changed" in skipped.message


def test_a_restricted_jira_comment_is_an_internal_note(client, tenant, jira, zendesk, two_way):
    comment = jira.user_comment(two_way["issue"], "Internal: the vendor is late.")
    jira.comments[str(two_way["issue"]["id"])][-1]["visibility"] = {"type": "role", "value": "Developers"}
    deliver(client, jira)
    process(tenant, two_way["issue"])
    note = comments(zendesk, two_way)[-1]
    assert note["public"] is False and "vendor is late" in note["plain_body"], comment


def test_our_own_jira_changes_are_never_sent_back(client, tenant, jira, zendesk, two_way):
    """Echo guard 1: an event our app account caused is ignored (no Jira read, no Zendesk write)."""
    from connector.clients.jira import JiraClient

    api = JiraClient(tenant)
    api.issue_edit(two_way["issue"]["id"], {"priority": {"name": "High"}})
    api.comment_add(
        two_way["issue"]["id"],
        {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "x"}]}]},
    )
    deliver(client, jira)
    outcome = process(tenant, two_way["issue"])
    assert outcome.startswith("ignored"), outcome
    assert writes(zendesk, two_way) == 0
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"ignored"}
    assert tenant.__class__.objects.get(pk=tenant.pk).app_account_id == jira.app_account_id


def test_jira_status_categories_move_the_ticket_by_the_rules(client, tenant, jira, zendesk, two_way):
    t = ticket(zendesk, two_way)
    jira.user_transition(two_way["issue"], "Done")
    deliver(client, jira)
    process(tenant, two_way["issue"])
    assert t["status"] == "solved"
    jira.user_transition(two_way["issue"], "In Progress")
    deliver(client, jira)
    process(tenant, two_way["issue"])
    assert t["status"] == "open"
    # The agent puts the ticket on hold (the pull sees it).
    ZendeskClient(subdomain=ZD_SUBDOMAIN, email=ZD_EMAIL, api_token=ZD_TOKEN).ticket_update(t["id"], {"status": "hold"})
    zendesk.advance(120)
    connection_poll(connection_id=two_way["item"].connection_id)
    writes_before = writes(zendesk, two_way)
    jira.user_transition(two_way["issue"], "To Do")
    deliver(client, jira)
    process(tenant, two_way["issue"])
    assert t["status"] == "open"  # back to "new" category: open (a ticket never returns to new)
    assert writes(zendesk, two_way) == writes_before + 1
    link = Link.objects.get()
    assert link.field_state[STATUS_KEY] == "indeterminate"


def test_a_closed_ticket_is_recorded_once_and_the_link_stops(client, tenant, jira, zendesk, two_way):
    ticket(zendesk, two_way)["status"] = "closed"
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    process(tenant, two_way["issue"])
    link = Link.objects.get()
    assert link.sync_stopped_at is not None
    closed = SyncEvent.objects.get(action="closed")
    assert "closed in Zendesk" in closed.message
    jira.user_edit(two_way["issue"], {"priority": {"name": "Low"}})
    assert deliver(client, jira) == ["dropped"]  # a stopped link takes no more events
    assert SyncEvent.objects.filter(action="closed").count() == 1


def test_a_jira_attachment_is_copied_once_without_our_jwt_on_the_media_host(client, tenant, jira, zendesk, two_way):
    jira.user_attach(two_way["issue"], "trace.log", b"x" * 2048, "text/plain")
    deliver(client, jira)  # attachment_created names no issue (dropped); the issue update brings it
    process(tenant, two_way["issue"])
    note = comments(zendesk, two_way)[-1]
    assert note["public"] is False and "attached trace.log to SUP-1" in note["plain_body"]
    assert [a["file_name"] for a in note["attachments"]] == ["trace.log"] and note["attachments"][0]["size"] == 2048
    assert len(jira.media_downloads) == 1
    assert AttachmentMap.objects.get(source_side="jira").target_id == str(note["id"])
    # Redelivered: nothing more.
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    process(tenant, two_way["issue"])
    assert sum(1 for c in comments(zendesk, two_way) if c["attachments"]) == 1


def test_a_file_over_the_limit_is_skipped_and_recorded(settings, client, tenant, jira, zendesk, two_way):
    settings.ATTACHMENT_MAX_BYTES = 1000
    jira.user_attach(two_way["issue"], "huge.bin", b"x" * 5000)
    deliver(client, jira)
    process(tenant, two_way["issue"])
    assert not any(c["attachments"] for c in comments(zendesk, two_way))
    assert AttachmentMap.objects.get(source_side="jira").target_id == "skipped"
    assert "ATTACHMENT_MAX_BYTES" in SyncEvent.objects.get(action="attachment").message
    assert not jira.media_downloads


def test_a_deleted_issue_breaks_its_links_and_deletes_nothing_in_zendesk(client, tenant, jira, zendesk, two_way):
    jira.delete_issue(two_way["issue"])
    deliver(client, jira)
    process(tenant, two_way["issue"])
    link = Link.objects.get()
    assert link.issue_deleted_at is not None and link.sync_stopped_at is not None
    assert two_way["ticket"]["id"] in zendesk.accounts[ZD_SUBDOMAIN].tickets
    assert "was deleted in Jira" in SyncEvent.objects.get(action="deleted").message


def test_a_zendesk_rate_limit_reschedules_without_sleeping(client, tenant, jira, zendesk, two_way):
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    zendesk.rate_limit_next(1, retry_after=30)
    outcome = process(tenant, two_way["issue"])
    assert outcome == "rate limited: retry in 30 s"
    event = WebhookEvent.objects.get()
    assert event.status == "pending" and event.attempts == 0 and event.process_after > timezone.now()
    # Due again: it goes through.
    WebhookEvent.objects.update(process_after=timezone.now())
    assert process(tenant, two_way["issue"]).startswith("done")
    assert ticket(zendesk, two_way)["priority"] == "high"


def test_transient_errors_back_off_then_fail_and_an_admin_retry_sends_it(client, tenant, jira, zendesk, two_way):
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    for attempt in range(1, 6):
        jira.fail_next(500, path=f"/rest/api/3/issue/{two_way['issue']['id']}")
        WebhookEvent.objects.update(process_after=timezone.now())
        process(tenant, two_way["issue"])
        event = WebhookEvent.objects.get()
        assert event.attempts == attempt
    assert event.status == WebhookEvent.Status.FAILED and "HTTP 500" in event.last_error
    assert events_retry(tenant_id=tenant.pk, event_ids=[event.pk]) == 1
    assert process(tenant, two_way["issue"]).startswith("done")
    assert ticket(zendesk, two_way)["priority"] == "high"


def test_a_failing_issue_does_not_hold_up_another(client, tenant, jira, zendesk, two_way):
    other = jira.add_issue(key="SUP-2", summary="other")
    other_ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="other", priority="low")
    raw_link(tenant, two_way["item"], other["id"], other_ticket["id"], key="SUP-2", created_at=timezone.now())
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    jira.user_edit(other, {"priority": {"name": "High"}})
    deliver(client, jira)
    jira.fail_next(500, path=f"/rest/api/3/issue/{two_way['issue']['id']}")
    process(tenant, two_way["issue"])
    assert process(tenant, other).startswith("done")
    assert zendesk.accounts[ZD_SUBDOMAIN].tickets[other_ticket["id"]]["priority"] == "high"


def test_a_busy_issue_is_left_to_its_worker(client, tenant, jira, zendesk, two_way):
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    IssueState.objects.create(
        tenant=tenant,
        jira_issue_id=str(two_way["issue"]["id"]),
        lease_owner="another-host:1:abc",
        lease_expires_at=timezone.now() + timezone.timedelta(seconds=60),
    )
    assert process(tenant, two_way["issue"]).startswith("busy")
    assert writes(zendesk, two_way) == 0


def test_a_comment_whose_write_was_cut_short_is_found_not_written_twice(client, tenant, jira, zendesk, two_way):
    jira.user_comment(two_way["issue"], "Please retry the upload.")
    deliver(client, jira)
    process(tenant, two_way["issue"])
    row = CommentMap.objects.get(source_side="jira")
    CommentMap.objects.filter(pk=row.pk).update(target_id="")  # as if the worker died after Zendesk wrote it
    synthetic = WebhookEvent.objects.filter(event_type="comment_created").first()
    WebhookEvent.objects.filter(pk=synthetic.pk).update(status="pending")
    process(tenant, two_way["issue"])
    copies = [c for c in comments(zendesk, two_way) if "Please retry the upload." in c["plain_body"]]
    assert len(copies) == 1
    assert CommentMap.objects.get(pk=row.pk).target_id == str(copies[0]["id"])


def test_a_lost_delivery_is_found_by_the_next_polls_reconcile(client, tenant, jira, zendesk, two_way):
    jira.user_edit(two_way["issue"], {"priority": {"name": "Highest"}})
    jira.webhooks_take()  # Jira never delivers it
    jira.advance(5)
    run = connection_poll(connection_id=two_way["item"].connection_id)
    assert run.outcome == "success", run.reason
    assert run.counts["reconciled"] == 1
    event = WebhookEvent.objects.get()
    assert event.event_type == "reconcile"
    process(tenant, two_way["issue"])
    assert ticket(zendesk, two_way)["priority"] == "urgent"
    # Once processed, the next poll finds nothing new: one Jira call (the search) and no event.
    idle = connection_poll(connection_id=two_way["item"].connection_id)
    assert idle.counts["reconciled"] == 0 and idle.api_calls["jira"] == 1
    assert WebhookEvent.objects.count() == 1
    assert SyncState.objects.get().reconciled_at is not None


def test_pull_after_push_writes_nothing_back_to_jira(client, tenant, jira, zendesk, two_way):
    """Echo guards 2 and 3 on the pull side: the ticket our push changed comes back in Zendesk's export,
    and neither its fields, its status nor our comment go back to Jira."""
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    jira.user_transition(two_way["issue"], "Done")
    jira.user_comment(two_way["issue"], "Shipped.")
    deliver(client, jira)
    process(tenant, two_way["issue"])
    edits, moves, jira_comments = (
        len(jira.edits),
        len(jira.transitions_done),
        len(jira.comments[str(two_way["issue"]["id"])]),
    )
    zendesk.advance(120)
    run = connection_poll(connection_id=two_way["item"].connection_id)
    assert run.outcome == "success", run.reason
    assert len(jira.transitions_done) == moves
    assert len(jira.comments[str(two_way["issue"]["id"])]) == jira_comments
    # the pull may write summary (to_jira) once; nothing the push wrote comes back
    assert all("priority" not in e["fields"] and "labels" not in e["fields"] for e in jira.edits[edits:])

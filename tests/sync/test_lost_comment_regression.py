"""A Jira comment whose deliveries Jira lost must still reach the ticket ("nothing lost"), whatever other
deliveries of the same issue do come: the push of a field or file change reads the issue (whose ``updated``
counts the comment too) with its comment field, and reads the comments in full when that field shows one it
never copied (or shows only some); the reconcile must not leave the comment to a pass that waits. Found by
the state machine (``test_push_state_machine``); these replay it without Hypothesis, against the fakes on
loopback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from sync.engine import connection_poll
from sync.models import CommentMap, WebhookEvent
from sync.push import issue_events_process
from tenants.descriptor import build_descriptor
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import make_item, raw_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked(settings, tenant, connection, project, jira, zendesk, admin_agent):
    """A two-way item (priority → Zendesk; status, comments and files both ways) and SUP-1 linked to an open
    ticket; Jira's webhooks are held for the test to deliver or lose."""
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
            {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}},
        ],
    )
    issue = jira.add_issue(key="SUP-1", summary="Printer on fire")  # To Do
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire", priority="low", status="new")
    linked_at = timezone.now() - timedelta(seconds=1)
    # The ticket existed before it was linked: its opening message is history, not a comment to copy. So the
    # first poll writes nothing to Jira (whose webhooks, ours, would make the reconcile read the issue anyway).
    account = zendesk.accounts[ZD_SUBDOMAIN]
    opening = account.comments[ticket["id"]][0]
    next(a for a in account.audits if a["comment"] is opening)["timestamp"] = int(linked_at.timestamp()) - 60
    raw_link(tenant, item, issue["id"], ticket["id"], created_at=linked_at)
    jira.webhooks_subscribe(build_descriptor())
    jira.webhooks_hold()
    return {"item": item, "issue_id": str(issue["id"]), "ticket_id": ticket["id"]}


@pytest.fixture
def later(monkeypatch, jira, zendesk) -> Callable[[int], None]:
    """Time passes, on every clock: ours (``timezone.now``), the fake Jira's (its ``updated`` stamps and the
    reconcile's relative JQL) and the fake Zendesk's."""
    shift = timedelta()
    real_now = timezone.now

    def now():
        return real_now() + shift

    monkeypatch.setattr(timezone, "now", now)

    def wait(seconds: int) -> None:
        nonlocal shift
        shift += timedelta(seconds=seconds)
        jira.advance(seconds)
        zendesk.advance(seconds)

    return wait


def deliver(client, jira, *, lose: Callable[[dict], bool] = lambda d: False) -> list[str]:
    """POST Jira's held deliveries through the real endpoint, except those ``lose`` picks (Jira lost them)."""
    events = []
    for delivery in jira.webhooks_take():
        if lose(delivery):
            continue
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in delivery["headers"].items()}
        headers.pop("HTTP_CONTENT_TYPE", None)
        response = client.post(delivery["path"], data=delivery["body"], content_type="application/json", **headers)
        assert response.status_code == 204, response.content
        events.append(response["X-Deskbridge-Intake"])
    return events


def is_comment(delivery: dict) -> bool:
    """Both deliveries of a new comment: ``comment_created`` and the issue's ``issue_commented`` update."""
    return b'"comment_created"' in delivery["body"] or b'"issue_commented"' in delivery["body"]


def copies(zendesk, ticket_id, comment_id: str) -> int:
    """Zendesk comments that are copies of this Jira comment (they link back to it)."""
    comments = zendesk.accounts[ZD_SUBDOMAIN].comments[ticket_id]
    return sum(f"focusedCommentId={comment_id}" in c["html_body"] for c in comments)


def process(tenant, linked) -> str:
    outcome = issue_events_process(tenant_id=tenant.pk, issue_id=linked["issue_id"])
    assert outcome.startswith(("done", "nothing")), outcome
    return outcome


def poll(linked):
    run = connection_poll(connection_id=linked["item"].connection_id)
    assert run is not None and run.outcome == "success", run and run.reason
    return run


def jira_reads(jira, linked, since: int) -> list[str]:
    """The paths of the issue's reads (the issue, its comments) Jira answered since ``since`` requests."""
    issue_path = f"/rest/api/3/issue/{linked['issue_id']}"
    return [r.path for r in jira.requests[since:] if r.method == "GET" and r.path.startswith(issue_path)]


def test_a_comment_lost_between_files_reaches_the_ticket_with_the_next_files(client, tenant, jira, zendesk, linked):
    """The state machine's example: files, a comment whose two deliveries were lost, more files whose
    deliveries came. The files' push reads the issue with its comment field, sees a comment it never copied,
    reads the comments in full and copies it in the same pass; the polls then have nothing to reconcile."""
    jira.user_attach(linked["issue_id"], "before.log", b"b" * 120, "text/plain")
    comment = jira.user_comment(linked["issue_id"], "The toner is on fire too.")
    deliver(client, jira, lose=is_comment)
    for n in range(3):
        jira.user_attach(linked["issue_id"], f"after-{n}.log", b"a" * (130 + n), "text/plain")
    deliver(client, jira)
    process(tenant, linked)
    notes = zendesk.accounts[ZD_SUBDOMAIN].comments[linked["ticket_id"]]
    assert sum("/secure/attachment/" in c["html_body"] for c in notes) == 4  # every file went
    assert copies(zendesk, linked["ticket_id"], comment["id"]) == 1  # and the comment no delivery named

    # The issue is seen as it is: the next poll queues nothing, and nothing is copied twice.
    assert poll(linked).counts["reconciled"] == 0
    assert not WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING).exists()
    assert copies(zendesk, linked["ticket_id"], comment["id"]) == 1


def test_a_comment_lost_before_a_field_change_reaches_the_ticket(client, tenant, jira, zendesk, linked):
    """The other order: the comment (lost) comes first, then a priority change whose delivery came — the
    latest change is one we processed, yet an older one was never seen."""
    comment = jira.user_comment(linked["issue_id"], "Please send a new printer.")
    deliver(client, jira, lose=is_comment)
    jira.user_edit(linked["issue_id"], {"priority": {"name": "Highest"}})
    deliver(client, jira)
    process(tenant, linked)
    assert zendesk.accounts[ZD_SUBDOMAIN].tickets[linked["ticket_id"]]["priority"] == "urgent"
    assert copies(zendesk, linked["ticket_id"], comment["id"]) == 1
    assert poll(linked).counts["reconciled"] == 0
    assert CommentMap.objects.filter(source_side="jira", source_id=str(comment["id"])).count() == 1


def test_a_field_change_costs_one_issue_read_and_leaves_the_reconcile_nothing(client, tenant, jira, zendesk, linked):
    """With comment sync on and no comment new, a field change's push reads the issue once (its comment field
    with it) and no comments; the issue is then seen up to its last change, so the next poll queues nothing
    (no second read of the issue by the reconcile). A link through an item that does not sync comments has
    never copied the comment, and rightly so: it is not a reason to read them."""
    quiet = make_item(
        tenant,
        linked["item"].connection,
        name="Priority only",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        comment_sync=False,
        mappings=[
            {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}},
        ],
    )
    other = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire too", priority="low", status="new")
    raw_link(tenant, quiet, linked["issue_id"], other["id"], created_at=timezone.now() - timedelta(seconds=1))
    jira.user_comment(linked["issue_id"], "Copied once, when it came.")
    deliver(client, jira)
    process(tenant, linked)
    jira.user_edit(linked["issue_id"], {"priority": {"name": "High"}})
    deliver(client, jira)
    before, updates = len(jira.requests), zendesk.accounts[ZD_SUBDOMAIN].ticket_updates[linked["ticket_id"]]
    process(tenant, linked)
    assert jira_reads(jira, linked, before) == [f"/rest/api/3/issue/{linked['issue_id']}"]
    assert poll(linked).counts["reconciled"] == 0
    assert zendesk.accounts[ZD_SUBDOMAIN].ticket_updates[linked["ticket_id"]] == updates + 1  # the priority
    assert zendesk.accounts[ZD_SUBDOMAIN].tickets[other["id"]]["priority"] == "high"


def test_a_lost_comment_beyond_the_issues_comment_field_is_read_in_full(client, tenant, jira, zendesk, linked):
    """Jira's ``GET issue`` gives only the newest comments when there are many (``total`` still counts them
    all). A lost comment older than those it gives is not in the field — here the newest two are our app's own
    (copies of helpdesk comments, never copied back): the push must see that the field is partial and read
    the comments in full."""
    jira.issue_comment_limit = 2
    lost = jira.user_comment(linked["issue_id"], "Lost, and soon not among the newest.")
    deliver(client, jira, lose=is_comment)
    for n in range(2):
        jira.user_comment(linked["issue_id"], f"From the helpdesk {n}.", account_id=jira.app_account_id)
    jira.user_edit(linked["issue_id"], {"priority": {"name": "High"}})
    deliver(client, jira)
    before = len(jira.requests)
    process(tenant, linked)
    assert copies(zendesk, linked["ticket_id"], lost["id"]) == 1
    assert jira_reads(jira, linked, before) == [
        f"/rest/api/3/issue/{linked['issue_id']}",
        f"/rest/api/3/issue/{linked['issue_id']}/comment",
    ]
    assert poll(linked).counts["reconciled"] == 0


def test_a_comment_lost_while_a_field_change_waits_out_a_rate_limit_is_not_left_behind(
    client, tenant, jira, zendesk, linked, later
):
    """The comment's deliveries are lost; a priority change's delivery comes, but Zendesk rate-limits its push,
    which waits 15 minutes. A poll meanwhile finds the issue with an event pending. When the wait is over the
    priority goes — and so must the comment: by the time that pass runs, the polls' JQL window (since the last
    reconcile, a few minutes' margin) has moved past the issue's last change, so no later reconcile finds it."""
    comment = jira.user_comment(linked["issue_id"], "Still on fire.")
    deliver(client, jira, lose=is_comment)
    jira.user_edit(linked["issue_id"], {"priority": {"name": "Highest"}})
    deliver(client, jira)
    zendesk.rate_limit_next(retry_after=900)
    assert issue_events_process(tenant_id=tenant.pk, issue_id=linked["issue_id"]).startswith("rate limited")

    later(300)
    poll(linked)  # the issue has an event pending (the rate-limited one)
    later(900)
    process(tenant, linked)
    assert zendesk.accounts[ZD_SUBDOMAIN].tickets[linked["ticket_id"]]["priority"] == "urgent"
    later(300)
    poll(linked)
    process(tenant, linked)
    assert copies(zendesk, linked["ticket_id"], comment["id"]) == 1
    assert not WebhookEvent.objects.filter(status__in=["pending", "failed"]).exists()

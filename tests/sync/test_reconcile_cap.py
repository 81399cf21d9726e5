"""The polls' reconcile after a bulk change bigger than one poll takes (``SYNC_RECONCILE_MAX_ISSUES``): every
lost change is reconciled, over several polls, none skipped; what needs nothing (issues not linked, changes
already seen, changes whose event failed) does not use up a poll's share. Against the fakes on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from sync import push
from sync.inbox import RECONCILE, synthetic_event
from sync.models import SyncState, WebhookEvent
from sync.push import _parse_time, issue_events_process
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import make_item, raw_link
from tests.sync import test_lost_comment_regression as lost
from tests.sync.test_lost_comment_regression import poll

later = lost.later  # the fixture: time passes on every clock

pytestmark = pytest.mark.django_db


@pytest.fixture
def bulk(settings, tenant, connection, project, jira, zendesk, admin_agent):
    """Seven issues linked to tickets through a two-way item (priority → Zendesk), five not linked; Jira's
    webhooks are all lost. Jira gives the search two issues a page."""
    settings.SYNC_RECONCILE_GRACE_SECONDS = 0
    settings.SYNC_RECONCILE_MAX_ISSUES = 3
    jira.search_page_size = 2
    item = make_item(
        tenant,
        connection,
        name="Two-way tickets",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        mappings=[
            {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}},
        ],
    )
    linked_at = timezone.now() - timedelta(seconds=1)
    pairs = []
    for n in range(7):
        issue = jira.add_issue(key=f"SUP-{n + 1}", summary=f"Issue {n + 1}")
        ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject=f"Issue {n + 1}", priority="low", status="open")
        raw_link(tenant, item, issue["id"], ticket["id"], key=issue["key"], created_at=linked_at)
        pairs.append((issue, ticket))
    others = [jira.add_issue(key=f"SUP-{n + 8}", summary="Not linked") for n in range(5)]
    for _ in range(3):  # the first polls read the new links' issues once (what was never pushed)
        poll({"item": item})
        process_all(tenant)
    assert not WebhookEvent.objects.filter(status="pending").exists()
    jira.webhooks_drop_next(10_000)
    return {"item": item, "pairs": pairs, "others": others}


def priority(zendesk, ticket) -> str:
    return zendesk.accounts[ZD_SUBDOMAIN].tickets[ticket["id"]]["priority"]


def process_all(tenant) -> None:
    for issue_id in set(WebhookEvent.objects.filter(status="pending").values_list("issue_id", flat=True)):
        outcome = issue_events_process(tenant_id=tenant.pk, issue_id=issue_id)
        assert outcome.startswith("done"), outcome


def test_a_bulk_change_bigger_than_a_poll_is_reconciled_over_several_polls(tenant, jira, zendesk, bulk, later):
    """Seven linked issues and five others are edited, a second apart, unlinked ones first and between: a poll
    queues three linked ones, and the next poll continues from the fourth."""
    pairs, others = bulk["pairs"], bulk["others"]
    before = WebhookEvent.objects.order_by("-id").values_list("id", flat=True).first()
    for other in others[:3]:
        later(1)
        jira.user_edit(other, {"priority": {"name": "High"}})
    for n, (issue, _) in enumerate(pairs):
        later(1)
        jira.user_edit(issue, {"priority": {"name": "Highest"}})
        if n % 3 == 0 and others[3 + n // 3 :]:
            jira.user_edit(others[3 + n // 3], {"priority": {"name": "High"}})
    later(5)

    queued = []
    for _ in range(4):
        run = poll(bulk)
        queued.append(run.counts["reconciled"])
        process_all(tenant)
        later(60)
    assert queued == [3, 3, 1, 0]
    assert [priority(zendesk, ticket) for _, ticket in bulk["pairs"]] == ["urgent"] * 7
    events = WebhookEvent.objects.filter(event_type=RECONCILE, id__gt=before)
    assert sorted(events.values_list("issue_key", flat=True)) == sorted(i["key"] for i, _ in pairs)  # once each


def test_the_mark_stops_at_the_first_issue_left(tenant, jira, zendesk, bulk, later):
    for issue, _ in bulk["pairs"][:5]:
        later(1)
        jira.user_edit(issue, {"priority": {"name": "Highest"}})
    fourth = jira.issues[bulk["pairs"][3][0]["id"]]["fields"]["updated"]
    later(5)
    assert poll(bulk).counts["reconciled"] == 3
    assert SyncState.objects.get().reconciled_at == _parse_time(fourth)


def test_a_change_whose_event_failed_does_not_use_up_a_polls_share(tenant, jira, zendesk, bulk, later, settings):
    """A change the push failed on stays failed (an admin retries it); it must not take a poll's place from a
    change still waiting for its reconcile."""
    settings.SYNC_RECONCILE_MAX_ISSUES = 1
    (failed, _), (waiting, waiting_ticket) = bulk["pairs"][:2]
    later(1)
    jira.user_edit(failed, {"priority": {"name": "High"}})
    stamp = jira.issues[failed["id"]]["fields"]["updated"]
    synthetic_event(
        tenant_id=tenant.pk, issue_id=str(failed["id"]), issue_key="SUP-1", kind=RECONCILE, key=stamp, updated=stamp
    )
    WebhookEvent.objects.update(status=WebhookEvent.Status.FAILED)
    later(1)
    jira.user_edit(waiting, {"priority": {"name": "Highest"}})
    later(5)
    assert poll(bulk).counts["reconciled"] == 1
    assert WebhookEvent.objects.get(status="pending").issue_id == str(waiting["id"])
    process_all(tenant)
    assert priority(zendesk, waiting_ticket) == "urgent"


linked = lost.linked  # the fixture: SUP-1 linked to a ticket, Jira's webhooks held for the test
deliver, process, is_comment = lost.deliver, lost.process, lost.is_comment


def test_a_change_left_to_a_pending_event_of_our_own_is_reconciled_by_the_next_poll(
    client, tenant, jira, zendesk, linked, later
):
    """A user's change whose delivery was lost, then a change our app made whose delivery came: the poll
    leaves the issue to that pending event, whose pass ignores it unread (our own). The mark must not pass
    the user's change, so the next poll finds it."""
    jira.user_edit(linked["issue_id"], {"priority": {"name": "Highest"}})
    jira.webhooks_take()  # lost
    later(1)
    jira.user_edit(linked["issue_id"], {"summary": "Renamed by Deskbridge"}, account_id=jira.app_account_id)
    deliver(client, jira)
    later(5)
    assert poll(linked).counts["reconciled"] == 0  # left to the pending event
    assert issue_events_process(tenant_id=tenant.pk, issue_id=linked["issue_id"]).startswith("ignored: our own")
    later(60)
    assert poll(linked).counts["reconciled"] == 1
    process(tenant, linked)
    assert zendesk.accounts[ZD_SUBDOMAIN].tickets[linked["ticket_id"]]["priority"] == "urgent"


def test_a_change_younger_than_the_grace_is_left_to_its_webhook_until_the_grace_is_over(
    tenant, jira, zendesk, linked, later, settings
):
    settings.SYNC_RECONCILE_GRACE_SECONDS = 60
    jira.user_edit(linked["issue_id"], {"priority": {"name": "Highest"}})
    jira.webhooks_take()  # lost
    later(5)
    assert poll(linked).counts["reconciled"] == 0  # its delivery may still come
    later(120)
    assert poll(linked).counts["reconciled"] == 1
    process(tenant, linked)
    assert zendesk.accounts[ZD_SUBDOMAIN].tickets[linked["ticket_id"]]["priority"] == "urgent"


def searches(jira, since: int) -> int:
    return sum(r.path == "/rest/api/3/search/jql" for r in jira.requests[since:])


def test_a_poll_reads_at_most_its_pages_and_the_next_poll_reads_on(
    tenant, jira, zendesk, bulk, later, settings, monkeypatch
):
    """A long search (a bulk edit, or polls stopped for days) is read over several polls, a bounded number of
    pages each, the mark at the last issue read; every change still arrives."""
    monkeypatch.setattr(push, "RECONCILE_PAGES_PER_POLL", 2)
    settings.SYNC_RECONCILE_MAX_ISSUES = 100
    later(300)
    poll(bulk)  # the links' first reads are now out of the search's window
    for issue, _ in bulk["pairs"]:
        later(150)  # further apart than the search's look-back margin: a mark past an issue would lose it
        jira.user_edit(issue, {"priority": {"name": "Highest"}})
    later(5)
    queued, pages = [], []
    for _ in range(6):
        before = len(jira.requests)
        queued.append(poll(bulk).counts["reconciled"])
        pages.append(searches(jira, before))
        process_all(tenant)
        later(30)
    assert queued[0] == 4 and sum(queued) == 7, queued  # 2 pages of 2 issues, then the rest
    assert max(pages) == 2, pages
    assert [priority(zendesk, ticket) for _, ticket in bulk["pairs"]] == ["urgent"] * 7


def test_a_poll_reads_on_past_its_pages_where_stopping_would_not_move_the_window(
    tenant, jira, zendesk, bulk, later, settings, monkeypatch
):
    """More issues changed within a minute than a poll's pages hold: stopping there would start the next search
    where this one started (JQL counts in minutes), for ever. The poll reads on."""
    monkeypatch.setattr(push, "RECONCILE_PAGES_PER_POLL", 1)
    settings.SYNC_RECONCILE_MAX_ISSUES = 100
    later(300)
    poll(bulk)
    for issue, _ in bulk["pairs"]:
        later(1)
        jira.user_edit(issue, {"priority": {"name": "Highest"}})
    later(5)
    before = len(jira.requests)
    assert poll(bulk).counts["reconciled"] == 7
    assert searches(jira, before) == 4  # 2 issues a page

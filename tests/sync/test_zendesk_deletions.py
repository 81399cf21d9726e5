"""Zendesk tickets deleted under a link, seen by the poll (issue 12 follow-up, "Upsert rules"): the pull
engine reads the incremental ticket export with deleted tickets in it (``status: "deleted"``), so a poll marks
the links of a deleted ticket broken through the same path a 404 takes (``record_deleted``: one event per link,
said once, nothing recreated, at no call beyond the export), never syncs the deleted ticket into Jira and
never auto-creates an issue from it; a ticket restored from Zendesk's deleted tickets heals its links, which
sync again. End to end: the real engine against the fake Zendesk and fake Jira served on loopback."""

# The fixtures ``synced`` and ``auto`` are imported, then named as test arguments:
# ruff: noqa: F811

from __future__ import annotations

import pytest
import requests
from django.utils import timezone

from connector.models import ConnectedItem
from sync.engine import HELPDESK_STATUS_KEY, _Run, connection_poll, record_deleted, record_restored
from sync.models import AutoCreate, Link, SyncEvent, SyncRun, SyncState
from tests.conftest import ZD_EMAIL, ZD_SUBDOMAIN, ZD_TOKEN
from tests.panel.links_helpers import make_item, raw_link
from tests.sync.test_autocreate import auto  # noqa: F401  (the fixture)
from tests.sync.test_engine import _zendesk_api, synced  # noqa: F401  (synced: the fixture)

pytestmark = pytest.mark.django_db


def _zendesk(zendesk, method: str, path: str) -> requests.Response:
    """A call to the fake Zendesk's REST API as the connected admin (what an agent or a script would do)."""
    return requests.request(
        method, zendesk.base_url(ZD_SUBDOMAIN) + path, auth=(f"{ZD_EMAIL}/token", ZD_TOKEN), timeout=5
    )


def _delete(zendesk, ticket_id) -> None:
    assert _zendesk(zendesk, "DELETE", f"/api/v2/tickets/{ticket_id}.json").status_code == 204


def _restore(zendesk, ticket_id) -> None:
    assert _zendesk(zendesk, "PUT", f"/api/v2/deleted_tickets/{ticket_id}/restore").status_code == 200


def _poll(connection) -> SyncRun:
    run = connection_poll(connection_id=connection.pk)
    assert run is not None and run.outcome == SyncRun.Outcome.SUCCESS, run and run.reason
    return run


def _reread(connection) -> None:
    """The next poll reads the stream from its start again (as after a crash before the cursor was saved)."""
    SyncState.objects.filter(connection=connection).update(cursors={})


def _broken_message(ticket_id, key: str = "SUP-1") -> str:
    return f"Ticket {ticket_id} no longer exists in Zendesk: the link from {key} is broken; nothing was recreated."


def test_a_poll_finding_a_linked_ticket_deleted_breaks_the_link_once_for_the_export_call_alone(
    connection, synced, jira, zendesk
):
    zendesk.advance(120)
    _poll(connection)  # SUP-1 now shows the ticket
    edits, moves = len(jira.edits), len(jira.transitions_done)
    ticket_id = synced["ticket"]["id"]
    _delete(zendesk, ticket_id)
    zendesk.advance(120)  # the export withholds its most recent minute

    run = _poll(connection)

    link = Link.objects.get(pk=synced["link"].pk)
    assert link.record_deleted_at is not None and link.sync_stopped_at is not None and link.issue_deleted_at is None
    (event,) = SyncEvent.objects.filter(action="record_deleted")
    assert (event.link_id, event.result, event.message) == (
        link.pk,
        SyncEvent.Result.SKIPPED,
        _broken_message(ticket_id),
    )
    assert run.counts["tickets_seen"] == 1 and run.counts["skipped"] == 1 and run.counts["errors"] == 0
    assert run.api_calls == {"zendesk": 1, "jira": 0}  # the export it reads anyway; Jira is left alone
    assert not zendesk.calls("GET", rf"/tickets/{ticket_id}\.json$") and not zendesk.calls("PUT")
    assert (len(jira.edits), len(jira.transitions_done), jira.created) == (edits, moves, [])
    assert ConnectedItem.objects.get(pk=synced["item"].pk).last_error == ""

    # Said once: the deleted row read again (a re-read page, a later poll) changes nothing and says nothing.
    _reread(connection)
    again = _poll(connection)
    assert again.counts["tickets_seen"] == 1 and again.api_calls == {"zendesk": 1, "jira": 0}
    assert SyncEvent.objects.filter(action="record_deleted").count() == 1
    assert Link.objects.get(pk=link.pk).record_deleted_at == link.record_deleted_at


def test_a_deleted_ticket_is_never_synced_into_jira_as_it_was_last_changed(connection, synced, jira, zendesk):
    zendesk.advance(120)
    _poll(connection)
    issue = jira.issues[synced["issue"]["id"]]["fields"]
    before = (issue["summary"], issue["priority"], issue["status"]["name"], len(jira.edits))
    _zendesk_api().ticket_update(synced["ticket"]["id"], {"subject": "Printer fixed", "status": "solved"})
    _delete(zendesk, synced["ticket"]["id"])  # its row now says status "deleted", with the new subject
    zendesk.advance(120)

    _poll(connection)

    issue = jira.issues[synced["issue"]["id"]]["fields"]
    assert (issue["summary"], issue["priority"], issue["status"]["name"], len(jira.edits)) == before
    link = Link.objects.get(pk=synced["link"].pk)
    assert link.field_state[HELPDESK_STATUS_KEY] == "open"  # never "deleted"
    assert "deleted" not in str(link.preview) and link.record_deleted_at is not None


def test_a_new_ticket_deleted_before_the_poll_auto_creates_no_issue(connection, auto, jira, zendesk):
    gone = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Spam", priority="high", status="open", tags=["jira"])
    kept = zendesk.add_ticket(ZD_SUBDOMAIN, subject="VPN down", priority="high", status="open", tags=["jira"])
    _delete(zendesk, gone["id"])
    zendesk.advance(120)

    run = _poll(connection)

    assert run.counts["tickets_seen"] == 2 and run.counts["issues_created"] == 1
    assert [c["fields"]["summary"] for c in jira.created] == ["VPN down"]
    assert list(AutoCreate.objects.values_list("record_id", flat=True)) == [str(kept["id"])]
    assert list(Link.objects.values_list("record_id", flat=True)) == [str(kept["id"])]
    assert not SyncEvent.objects.filter(action="record_deleted").exists()  # it had no link to break


def test_a_restored_ticket_heals_its_link_which_syncs_again(connection, synced, jira, zendesk):
    zendesk.advance(120)
    _poll(connection)
    ticket_id = synced["ticket"]["id"]
    _delete(zendesk, ticket_id)
    zendesk.advance(120)
    _poll(connection)
    assert Link.objects.get(pk=synced["link"].pk).record_deleted_at is not None

    _restore(zendesk, ticket_id)
    _zendesk_api().ticket_update(ticket_id, {"priority": "low"})  # changed once back
    zendesk.advance(120)
    run = _poll(connection)

    link = Link.objects.get(pk=synced["link"].pk)
    assert link.record_deleted_at is None and link.sync_stopped_at is None
    (event,) = SyncEvent.objects.filter(action="record_restored")
    assert (event.link_id, event.result, event.message) == (
        link.pk,
        SyncEvent.Result.OK,
        f"Ticket {ticket_id} is back in Zendesk (restored): the link from SUP-1 syncs again.",
    )
    # The same pass synced it: the change made after the restore reached the issue.
    assert jira.issues[synced["issue"]["id"]]["fields"]["priority"] == {"id": synced["low"]}
    assert jira.edits[-1]["fields"] == {"priority": {"id": synced["low"]}}
    assert run.api_calls["zendesk"] == 1 and run.counts["issues_updated"] == 1
    assert ConnectedItem.objects.get(pk=synced["item"].pk).last_error == ""

    # Said once: the row read again heals nothing more.
    _reread(connection)
    _poll(connection)
    assert SyncEvent.objects.filter(action="record_restored").count() == 1
    assert SyncEvent.objects.filter(action="record_deleted").count() == 1


def test_a_closed_ticket_deleted_then_restored_shows_deleted_then_closed_again(connection, synced, jira, zendesk):
    """A deletion schedule deletes closed tickets: the stopped link of a closed ticket shows the deletion too;
    restored, the ticket is closed still, and its link stops again as closed."""
    ticket_id = synced["ticket"]["id"]
    _zendesk_api().ticket_update(ticket_id, {"status": "closed"})
    zendesk.advance(120)
    _poll(connection)
    assert Link.objects.get(pk=synced["link"].pk).sync_stopped_at is not None

    _delete(zendesk, ticket_id)
    zendesk.advance(120)
    _poll(connection)
    link = Link.objects.get(pk=synced["link"].pk)
    assert link.record_deleted_at is not None
    assert SyncEvent.objects.get(action="record_deleted").message == _broken_message(ticket_id)

    _restore(zendesk, ticket_id)
    zendesk.advance(120)
    _poll(connection)
    link = Link.objects.get(pk=synced["link"].pk)
    assert link.record_deleted_at is None and link.sync_stopped_at is not None
    assert [e.action for e in SyncEvent.objects.filter(link=link).order_by("id")][-2:] == ["record_restored", "closed"]


def test_links_broken_on_the_jira_side_or_of_paused_or_display_items_are_left_alone(
    tenant, connection, synced, jira, zendesk
):
    """The poll leaves paused and display-only items alone, and a link whose issue was deleted is broken
    already: only the synchronized item's live link to the deleted ticket breaks."""
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Toner empty")
    other = jira.add_issue(key="SUP-2", summary="Toner")
    paused = make_item(tenant, connection, name="Paused", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10001")
    ConnectedItem.objects.filter(pk=paused.pk).update(is_paused=True)
    display = make_item(tenant, connection, name="Shown")
    now = timezone.now()
    live = raw_link(tenant, synced["item"], other["id"], ticket["id"], key="SUP-2")
    issue_gone = raw_link(
        tenant, synced["item"], synced["issue"]["id"], ticket["id"], issue_deleted_at=now, sync_stopped_at=now
    )
    untouched = [raw_link(tenant, i, other["id"], ticket["id"], key="SUP-2") for i in (paused, display)]
    _delete(zendesk, ticket["id"])
    zendesk.advance(120)

    _poll(connection)

    assert Link.objects.get(pk=live.pk).record_deleted_at is not None
    (event,) = SyncEvent.objects.filter(action="record_deleted")
    assert event.link_id == live.pk and event.message == _broken_message(ticket["id"], "SUP-2")
    for link in [issue_gone, *untouched]:
        link_now = Link.objects.get(pk=link.pk)
        assert link_now.record_deleted_at is None and link_now.sync_stopped_at == link.sync_stopped_at


def test_deleted_tickets_cost_no_call_beyond_the_export(tenant, connection, project, jira, zendesk, admin_agent):
    """Even an item that copies comments and files reads nothing more for its deleted tickets: not the
    comment stream, not the tickets themselves — however many were deleted."""
    item = make_item(
        tenant,
        connection,
        name="Conversations",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_issue_type_id="10001",
        comment_sync=True,
        attachment_sync=True,
    )
    tickets = [zendesk.add_ticket(ZD_SUBDOMAIN, subject=f"Ticket {n}") for n in range(5)]
    for n, ticket in enumerate(tickets):
        issue = jira.add_issue(key=f"SUP-{n + 1}", summary=f"Issue {n}")
        raw_link(tenant, item, issue["id"], ticket["id"], key=f"SUP-{n + 1}")
    zendesk.advance(120)
    _poll(connection)
    for ticket in tickets:
        _delete(zendesk, ticket["id"])
    zendesk.advance(120)
    requests_before = len(zendesk.requests)

    run = _poll(connection)

    assert run.counts["tickets_seen"] == 5 and SyncEvent.objects.filter(action="record_deleted").count() == 5
    assert run.api_calls == {"zendesk": 1, "jira": 0}
    assert [r.path.rsplit("/", 1)[-1] for r in zendesk.requests[requests_before:]] == ["cursor.json"]
    assert Link.objects.filter(record_deleted_at__isnull=True).count() == 0


def test_a_link_restored_by_two_passes_at_once_is_said_restored_once(tenant, connection, synced):
    """Two runs holding the same broken link heal it once: the second finds it healed and says nothing."""
    from connector.providers import provider_for

    link = Link.objects.select_related("item").get(pk=synced["link"].pk)
    first = _Run(SyncRun.objects.create(tenant=tenant, connection=connection), connection, provider_for("zendesk"))
    record_deleted(first, link)
    link = Link.objects.select_related("item").get(pk=link.pk)  # as both passes read it: broken
    for _ in range(2):
        run = _Run(SyncRun.objects.create(tenant=tenant, connection=connection), connection, provider_for("zendesk"))
        record_restored(run, link)
        run.flush_events()
    first.flush_events()
    assert SyncEvent.objects.filter(action="record_restored").count() == 1
    assert Link.objects.get(pk=link.pk).record_deleted_at is None


def test_a_link_whose_issue_was_deleted_meanwhile_is_not_healed(tenant, connection, synced):
    """Its Jira issue is gone: the link stays broken, whatever the ticket does."""
    from connector.providers import provider_for

    now = timezone.now()
    Link.objects.filter(pk=synced["link"].pk).update(record_deleted_at=now, issue_deleted_at=now, sync_stopped_at=now)
    link = Link.objects.select_related("item").get(pk=synced["link"].pk)
    run = _Run(SyncRun.objects.create(tenant=tenant, connection=connection), connection, provider_for("zendesk"))
    record_restored(run, link)
    run.flush_events()
    link = Link.objects.get(pk=link.pk)
    assert link.record_deleted_at == now and link.sync_stopped_at == now
    assert not SyncEvent.objects.filter(action="record_restored").exists()

"""A broken link heals only on news from after it broke (Task "false heal"): a poll heals the link of a
record its change stream shows again, not deleted — but a row the helpdesk made before the link was marked
broken (a page read before a push got the record's 404) still shows the record as it was. Healing from it
would sync the old row into Jira and leave the next write to break the link again. A row heals the link only
if the helpdesk made it after the mark (Zendesk: the row's ``generated_timestamp``, which a restore moves;
``updated_at`` it does not), and the mark is compared in the same UPDATE that heals, so a link marked again
meanwhile is not healed by an older row either.

Times: the fake Zendesk's clock runs ahead of ours by what a test advanced it, so marks are set on its clock
here, as a push's 404 at that moment of Zendesk's would be."""

# The fixture ``synced`` is imported, then named as test arguments:
# ruff: noqa: F811

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.providers import provider_for
from connector.providers.zendesk import ZendeskProvider
from sync.engine import _Run, connection_poll, record_restored, records_restored
from sync.models import Link, SyncEvent, SyncRun
from tests.conftest import ZD_SUBDOMAIN
from tests.sync.test_engine import _zendesk_api, synced  # noqa: F401  (synced: the fixture)

pytestmark = pytest.mark.django_db


def _poll(connection) -> SyncRun:
    run = connection_poll(connection_id=connection.pk)
    assert run is not None and run.outcome == SyncRun.Outcome.SUCCESS, run and run.reason
    return run


def _zendesk_time(zendesk, shift: float = 0.0) -> datetime:
    return datetime.fromtimestamp(zendesk.now() + shift, tz=UTC)


def _mark_broken(link_pk: int, at: datetime) -> None:
    """What a push's 404 does to the link (``record_deleted``), at Zendesk's moment ``at``."""
    Link.objects.filter(pk=link_pk).update(record_deleted_at=at, sync_stopped_at=at)


def _run(tenant, connection) -> _Run:
    return _Run(SyncRun.objects.create(tenant=tenant, connection=connection), connection, provider_for("zendesk"))


def test_an_export_page_read_before_a_push_got_the_404_does_not_heal_the_link(
    connection, synced, jira, zendesk, monkeypatch
):
    zendesk.advance(120)
    _poll(connection)
    ticket_id, link_pk = synced["ticket"]["id"], synced["link"].pk
    summary = jira.issues[synced["issue"]["id"]]["fields"]["summary"]
    _zendesk_api().ticket_update(ticket_id, {"subject": "Printer fixed"})  # the page's row, made now
    zendesk.advance(120)

    real_changes = ZendeskProvider.changes

    def page_then_404(self, client, helpdesk_object, **kwargs):
        page = real_changes(self, client, helpdesk_object, **kwargs)
        # While the poll holds this page, the ticket is deleted and a push writing to it gets a 404.
        zendesk.delete_ticket(ZD_SUBDOMAIN, ticket_id)
        _mark_broken(link_pk, _zendesk_time(zendesk))
        return page

    monkeypatch.setattr(ZendeskProvider, "changes", page_then_404)
    run = _poll(connection)
    monkeypatch.undo()

    assert run.counts["tickets_seen"] == 1
    link = Link.objects.get(pk=link_pk)
    assert link.record_deleted_at is not None and link.sync_stopped_at is not None
    assert not SyncEvent.objects.filter(action="record_restored").exists()
    assert jira.issues[synced["issue"]["id"]]["fields"]["summary"] == summary  # the old row was not synced

    # The export's next row says deleted: nothing more is said. Restored later, the ticket heals its link.
    zendesk.advance(120)
    _poll(connection)
    assert Link.objects.get(pk=link_pk).record_deleted_at == link.record_deleted_at
    zendesk.restore_ticket(ZD_SUBDOMAIN, ticket_id)
    zendesk.advance(120)
    _poll(connection)
    link = Link.objects.get(pk=link_pk)
    assert link.record_deleted_at is None and link.sync_stopped_at is None
    assert SyncEvent.objects.filter(action="record_restored").count() == 1
    assert jira.issues[synced["issue"]["id"]]["fields"]["summary"] == "Printer fixed"


def test_a_row_heals_a_link_only_when_made_after_the_mark(tenant, connection, synced):
    link = Link.objects.select_related("item").get(pk=synced["link"].pk)
    marked = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    _mark_broken(link.pk, marked)
    link = Link.objects.select_related("item").get(pk=link.pk)

    for seen_at in (marked - timedelta(seconds=1), marked):  # before, and at the same moment: not after
        run = _run(tenant, connection)
        record_restored(run, link, seen_at=seen_at)
        run.flush_events()
        assert Link.objects.get(pk=link.pk).record_deleted_at == marked

    # Marked again meanwhile (a later 404), by another worker: a row between the two marks heals nothing,
    # though this pass read the first mark.
    remarked = marked + timedelta(minutes=5)
    _mark_broken(link.pk, remarked)
    run = _run(tenant, connection)
    record_restored(run, link, seen_at=marked + timedelta(minutes=1))
    run.flush_events()
    assert Link.objects.get(pk=link.pk).record_deleted_at == remarked
    assert not SyncEvent.objects.filter(action="record_restored").exists()

    run = _run(tenant, connection)
    record_restored(run, link, seen_at=remarked + timedelta(seconds=1))
    run.flush_events()
    assert Link.objects.get(pk=link.pk).record_deleted_at is None
    assert SyncEvent.objects.filter(action="record_restored").count() == 1


def test_rows_heal_by_the_time_they_were_generated_and_a_row_that_does_not_say_heals_nothing(
    tenant, connection, synced
):
    link = synced["link"]
    ticket_id = str(synced["ticket"]["id"])
    marked = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    _mark_broken(link.pk, marked)
    updated_after = (marked + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    # No generated_timestamp (whatever its updated_at): no heal.
    run = _run(tenant, connection)
    records_restored(run, "ticket", {ticket_id: {"id": ticket_id, "status": "open", "updated_at": updated_after}})
    assert Link.objects.get(pk=link.pk).record_deleted_at == marked

    # Generated before the mark, though updated_at says later: no heal.
    before = int(marked.timestamp()) - 30
    records_restored(
        run, "ticket", {ticket_id: {"id": ticket_id, "updated_at": updated_after, "generated_timestamp": before}}
    )
    assert Link.objects.get(pk=link.pk).record_deleted_at == marked

    records_restored(run, "ticket", {ticket_id: {"id": ticket_id, "generated_timestamp": int(marked.timestamp()) + 1}})
    run.flush_events()
    assert Link.objects.get(pk=link.pk).record_deleted_at is None
    assert SyncEvent.objects.filter(action="record_restored").count() == 1

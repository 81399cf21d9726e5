"""Zoho Desk records deleted under a link, seen by the poll through Zoho's recycle bin (``GET /recycleBin``,
DeskAPIDocument "Recycle Bin"): Zoho's search leaves deleted records out, so before, a deleted record's link
looked healthy until a push or a read got its 404. At the comment sweep's interval (``SYNC_COMMENT_SWEEP_
SECONDS``, counted from the connection's start) a poll of a connection with links reads the bin down to where
it left it — usually one call, 3 credits — and every linked record in it breaks its links as a 404 would
(``record_deleted``: said once, nothing recreated). The same sweep reads the records of up to
``SYNC_COMMENT_SWEEP_LINKS`` links broken in the last 60 days (Zoho keeps deleted records that long), in turn: a
record restored from the bin heals its links, which sync at once what they missed (fields and status from that
read, comments by the comment sweep that follows). End to end against the fake Zoho Desk and fake Jira."""

# The fixture ``zsynced`` is imported, then named as test arguments:
# ruff: noqa: F811

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from connector.providers.zoho_desk import ZohoDeskProvider
from sync.engine import DELETED_CURSOR, connection_poll
from sync.models import Link, SyncEvent, SyncRun, SyncState
from tests.panel.links_helpers import raw_link
from tests.zoho.test_zoho_modules_sync import entry_link, module_item  # noqa: F401  (entry_link: the fixture)
from tests.zoho.test_zoho_sync import zsynced  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db

INTERVAL = 900


@pytest.fixture(autouse=True)
def sweep_settings(settings):
    settings.SYNC_COMMENT_SWEEP_SECONDS = INTERVAL
    settings.SYNC_COMMENT_SWEEP_LINKS = 10


def _poll(connection) -> SyncRun:
    run = connection_poll(connection_id=connection.pk)
    assert run is not None and run.outcome == SyncRun.Outcome.SUCCESS, run and run.reason
    return run


def _interval_passes() -> None:
    """Our clock moves on by the sweep's interval, as far as the deletion sweep can tell: its last read (or the
    connection's start, before the first) is that much further back."""
    state = SyncState.objects.get()
    cursors = dict(state.cursors or {})
    if DELETED_CURSOR in cursors:
        saved = json.loads(cursors[DELETED_CURSOR])
        saved["at"] -= INTERVAL
        cursors[DELETED_CURSOR] = json.dumps(saved)
    SyncState.objects.filter(pk=state.pk).update(start_time=state.start_time - INTERVAL, cursors=cursors)


def _bin_reads(zoho, since: int = 0) -> list:
    return [r for r in zoho.requests[since:] if r.path.endswith("/api/v1/recycleBin")]


def _reads_of(zoho, module: str, record_id: str = "", since: int = 0) -> list:
    """Reads of one record of ``module`` (of any, when no id is given)."""
    wanted = re.compile(rf"/api/v1/{module}/{re.escape(str(record_id)) if record_id else '[0-9]+'}$")
    return [r for r in zoho.requests[since:] if r.method == "GET" and wanted.search(r.path)]


def _broken(link: Link) -> bool:
    link.refresh_from_db()
    return link.record_deleted_at is not None and link.sync_stopped_at is not None


def _broken_message(noun: str, record_id, key: str = "SUP-1") -> str:
    return f"{noun} {record_id} no longer exists in Zoho Desk: the link from {key} is broken; nothing was recreated."


def test_a_deleted_ticket_breaks_its_link_at_the_next_due_poll_for_one_recycle_bin_read(
    zoho_connection, zsynced, jira, zoho
):
    ticket_id, link = zsynced["ticket"]["id"], zsynced["link"]
    _poll(zoho_connection)  # within the first interval: no bin read
    assert _bin_reads(zoho) == [] and DELETED_CURSOR not in SyncState.objects.get().cursors
    zoho.delete_record(zoho.org.id, "tickets", ticket_id)
    edits = len(jira.edits)

    _poll(zoho_connection)  # still within it: the link looks healthy, as before
    assert not _broken(link) and _bin_reads(zoho) == []

    _interval_passes()
    before = len(zoho.requests)
    run = _poll(zoho_connection)

    (read,) = _bin_reads(zoho, before)
    assert read.query == {"sortBy": ["-deletedTime"], "from": ["0"], "limit": ["50"]}
    assert _broken(link)
    (event,) = SyncEvent.objects.filter(action="record_deleted")
    assert (event.link_id, event.result, event.message) == (
        link.pk,
        SyncEvent.Result.SKIPPED,
        _broken_message("Ticket", ticket_id),
    )
    assert run.counts["skipped"] == 1 and run.counts["errors"] == 0
    # The bin said it: the ticket itself is not read, nor its comments; nothing is written anywhere.
    assert [r.path.rsplit("/api/v1/", 1)[1] for r in zoho.requests[before:]] == ["tickets/search", "recycleBin"]
    assert run.credits == 6 and len(jira.edits) == edits  # a search and a bin page, 3 credits each

    # Not due again until an interval passes; then, with no live link left, the bin is not read, and the
    # broken link's record is read to see whether it is back (it is not: 404).
    before = len(zoho.requests)
    _poll(zoho_connection)
    assert _bin_reads(zoho, before) == [] and _reads_of(zoho, "tickets", since=before) == []
    _interval_passes()
    _poll(zoho_connection)
    assert _bin_reads(zoho, before) == [] and len(_reads_of(zoho, "tickets", ticket_id, before)) == 1
    assert SyncEvent.objects.filter(action="record_deleted").count() == 1 and _broken(link)
    assert not SyncEvent.objects.filter(action="record_restored").exists()


def test_a_ticket_restored_from_the_bin_heals_its_link_which_syncs_what_it_missed(zoho_connection, zsynced, jira, zoho):
    org, ticket_id, link = zoho.org.id, zsynced["ticket"]["id"], zsynced["link"]
    issue_id = zsynced["issue"]["id"]
    _poll(zoho_connection)
    # Changed and commented just before it was deleted: the search never shows it again.
    zoho.user_update(org, "tickets", ticket_id, subject="Printer fixed")
    customer = zoho.orgs[org].records["contacts"][zoho.orgs[org].records["tickets"][ticket_id]["contactId"]]
    zoho.advance(2)  # a comment from after the second the ticket was linked (the one before is history)
    zoho.add_comment(org, "tickets", ticket_id, content="<div>It smokes again</div>", commenter=customer)
    zoho.delete_record(org, "tickets", ticket_id)
    _interval_passes()
    _poll(zoho_connection)
    assert _broken(link)
    assert jira.issues[issue_id]["fields"]["summary"] == "Printer on fire"

    zoho.restore_record(org, ticket_id)  # modifiedTime unmoved: the search does not show it
    before = len(zoho.requests)
    _poll(zoho_connection)
    assert _broken(link) and _bin_reads(zoho, before) == []  # not due yet

    _interval_passes()
    before = len(zoho.requests)
    run = _poll(zoho_connection)

    link.refresh_from_db()
    assert link.record_deleted_at is None and link.sync_stopped_at is None
    (event,) = SyncEvent.objects.filter(action="record_restored")
    assert (event.link_id, event.result, event.message) == (
        link.pk,
        SyncEvent.Result.OK,
        f"Ticket {ticket_id} is back in Zoho Desk (restored): the link from SUP-1 syncs again.",
    )
    assert len(_reads_of(zoho, "tickets", ticket_id, before)) == 1  # the one read it healed and synced from
    assert jira.issues[issue_id]["fields"]["summary"] == "Printer fixed"
    assert link.preview["title"].endswith("Printer fixed")
    # The comment sweep of the same poll took its comments first.
    assert any("It smokes again" in json.dumps(c) for c in jira.comments.get(issue_id, []))
    assert link.comments_read_at is not None and run.counts["comments"] == 1

    # Said once; the healed link is watched again.
    _interval_passes()
    _poll(zoho_connection)
    assert SyncEvent.objects.filter(action="record_restored").count() == 1
    zoho.delete_record(org, "tickets", ticket_id)
    _interval_passes()
    _poll(zoho_connection)
    assert _broken(link) and SyncEvent.objects.filter(action="record_deleted").count() == 2


def test_a_restore_that_moves_modified_time_heals_through_the_search_of_any_poll(zoho_connection, zsynced, jira, zoho):
    """Whether Zoho's restore moves ``modifiedTime`` is not documented; where it does, the search's row is news
    from after the link broke and heals it at once, without waiting for the sweep."""
    org, ticket_id, link = zoho.org.id, zsynced["ticket"]["id"], zsynced["link"]
    _poll(zoho_connection)
    zoho.delete_record(org, "tickets", ticket_id)
    _interval_passes()
    _poll(zoho_connection)
    assert _broken(link)

    zoho.restore_bumps_modified_time = True
    zoho.restore_record(org, ticket_id)
    before = len(zoho.requests)
    _poll(zoho_connection)

    assert not _broken(link) and _bin_reads(zoho, before) == [] and _reads_of(zoho, "tickets", ticket_id, before) == []
    assert SyncEvent.objects.filter(action="record_restored").count() == 1


def test_the_bin_is_read_down_to_where_it_was_left_and_only_linked_records_break(
    tenant, zoho_connection, entry_link, zsynced, jira, zoho
):
    """Every module's deletions are in one list: the time entry's entry id (ours is ``ticket:entry``) and the
    ticket both break their links; records no link names change nothing. A bin of more than a page is read page
    by page down to the cursor, and the next read stops at the first entry it had seen."""
    org = zoho.org.id
    contacts = module_item(tenant, zoho_connection, "contacts", [], name="Zoho contacts")
    contact = zoho.add_contact(org, lastName="Lovelace")
    contact_link = raw_link(tenant, contacts, zsynced["issue"]["id"], contact["id"], created_at=timezone.now())
    _poll(zoho_connection)
    for n in range(60):
        zoho.delete_record(org, "tickets", zoho.add_ticket(org, subject=f"Spam {n}")["id"])
    zoho.delete_record(org, "timeEntry", entry_link["entry"]["id"])
    zoho.delete_record(org, "tickets", zsynced["ticket"]["id"])
    for n in range(3):
        zoho.delete_record(org, "tickets", zoho.add_ticket(org, subject=f"More spam {n}")["id"])
    _interval_passes()
    before = len(zoho.requests)

    _poll(zoho_connection)

    assert [r.query["from"] for r in _bin_reads(zoho, before)] == [["0"], ["50"]]
    assert _broken(zsynced["link"]) and _broken(entry_link["link"]) and not _broken(contact_link)
    assert set(SyncEvent.objects.filter(action="record_deleted").values_list("message", flat=True)) == {
        _broken_message("Ticket", zsynced["ticket"]["id"]),
        _broken_message("Time entry", entry_link["record_id"]),
    }

    zoho.delete_record(org, "contacts", contact["id"])
    _interval_passes()
    before = len(zoho.requests)
    _poll(zoho_connection)
    assert [r.query["from"] for r in _bin_reads(zoho, before)] == [["0"]]
    assert _broken(contact_link)
    assert SyncEvent.objects.filter(action="record_deleted").count() == 3


def test_a_bin_zoho_refuses_is_said_once_and_the_poll_goes_on(tenant, zoho_connection, zsynced, jira, zoho):
    kept = zoho.add_ticket(zoho.org.id, subject="Still here")  # linked too, so the bin stays worth reading
    raw_link(tenant, zsynced["item"], jira.add_issue(key="SUP-2", summary="Kept")["id"], kept["id"], key="SUP-2")
    _poll(zoho_connection)
    zoho.refuse_recycle_bin()
    zoho.delete_record(zoho.org.id, "tickets", zsynced["ticket"]["id"])
    for _ in range(2):
        _interval_passes()
        run = _poll(zoho_connection)
        assert run.outcome == SyncRun.Outcome.SUCCESS and not _broken(zsynced["link"])
    (event,) = SyncEvent.objects.filter(action="deleted_records")
    assert event.result == SyncEvent.Result.SKIPPED and event.link_id is None
    assert event.message == (
        "Zoho Desk refused to list its deleted records (Zoho Desk answered FORBIDDEN: You do not have sufficient "
        "permission to perform this operation.): a deleted record's links break only when Deskbridge reads or "
        "writes it. Give the connected agent's profile the Recycle Bin permission in Zoho Desk (Setup, Profiles) "
        "so that polls see deletions."
    )
    assert ConnectedItem.objects.get(pk=zsynced["item"].pk).last_error == ""

    zoho.refuse_recycle_bin(False)  # the permission given: the next due read sees the deletion
    _interval_passes()
    _poll(zoho_connection)
    assert _broken(zsynced["link"])
    zoho.refuse_recycle_bin()  # refused again later: said again, once
    _interval_passes()
    _poll(zoho_connection)
    assert SyncEvent.objects.filter(action="deleted_records").count() == 2


def test_nothing_to_watch_reads_nothing_and_broken_links_are_read_in_turns(
    tenant, settings, zoho_connection, zsynced, jira, zoho
):
    """No live link: no bin read. Broken links' records are read up to SYNC_COMMENT_SWEEP_LINKS a sweep, each
    record once however many links name it, in turns, and only while Zoho may still restore them (60 days)."""
    org, item = zoho.org.id, zsynced["item"]
    Link.objects.all().delete()
    _poll(zoho_connection)
    _interval_passes()
    before = len(zoho.requests)
    _poll(zoho_connection)
    assert _bin_reads(zoho, before) == [] and [r.path.rsplit("/", 1)[1] for r in zoho.requests[before:]] == ["search"]

    tickets = [zoho.add_ticket(org, subject=f"Gone {n}") for n in range(4)]
    issues = [jira.add_issue(key=f"SUP-{n + 1}", summary=f"Issue {n}") for n in range(5)]
    links = [raw_link(tenant, item, issues[n]["id"], tickets[n]["id"], key=f"SUP-{n + 1}") for n in range(3)] + [
        raw_link(tenant, item, issues[3]["id"], tickets[0]["id"], key="SUP-4")
    ]  # a second link to ticket 0
    old = raw_link(tenant, item, issues[4]["id"], tickets[3]["id"], key="SUP-5")
    for ticket in tickets:
        zoho.delete_record(org, "tickets", ticket["id"])
    now = timezone.now()  # marked after the tickets' last change: a search row of theirs heals nothing
    Link.objects.filter(pk__in=[link.pk for link in links]).update(record_deleted_at=now, sync_stopped_at=now)
    Link.objects.filter(pk=old.pk).update(record_deleted_at=now - timedelta(days=61), sync_stopped_at=now)

    read = []
    for limit in (10, 2, 2, 2):
        settings.SYNC_COMMENT_SWEEP_LINKS = limit
        _interval_passes()
        before = len(zoho.requests)
        _poll(zoho_connection)
        assert _bin_reads(zoho, before) == []  # every link is broken: nothing to watch
        read.append(sorted(r.path.rsplit("/", 1)[1] for r in _reads_of(zoho, "tickets", since=before)))
    ids = [str(t["id"]) for t in tickets]
    # Ten a sweep: every ticket once (0 has two links), not the one broken 61 days ago. Then two links a
    # sweep, in turn: around to 0 and 1; 2 and 3 (whose ticket 0 is read again); around to 0 and 1.
    assert read == [
        sorted(ids[:3]),
        sorted([ids[0], ids[1]]),
        sorted([ids[2], ids[0]]),
        sorted([ids[0], ids[1]]),
    ]

    zoho.restore_record(org, ids[0])
    _interval_passes()
    before = len(zoho.requests)
    _poll(zoho_connection)  # links 2 and 3: ticket 0, through link 3, is back
    assert sorted(r.path.rsplit("/", 1)[1] for r in _reads_of(zoho, "tickets", since=before)) == sorted(ids[:3:2])
    healed = set(Link.objects.filter(record_deleted_at__isnull=True).values_list("pk", flat=True))
    assert healed == {links[0].pk, links[3].pk}  # every link of the restored ticket, from one read
    assert SyncEvent.objects.filter(action="record_restored").count() == 2


def test_a_record_zoho_shows_trashed_is_deleted_not_back(zoho_connection, zsynced, zoho):
    """Zoho's records carry ``isTrashed``: a row or a read that says so never counts as the record being there."""
    org, ticket_id, link = zoho.org.id, zsynced["ticket"]["id"], zsynced["link"]
    zoho.user_update(org, "tickets", ticket_id, isTrashed=True)  # as if search and reads still showed it
    _poll(zoho_connection)
    assert _broken(link)
    assert SyncEvent.objects.get(action="record_deleted").message == _broken_message("Ticket", ticket_id)

    zoho.user_update(org, "tickets", ticket_id, subject="Still in the bin")  # a later row, still trashed
    _interval_passes()
    _poll(zoho_connection)
    assert _broken(link) and not SyncEvent.objects.filter(action="record_restored").exists()
    zoho.user_update(org, "tickets", ticket_id, isTrashed=False)
    _interval_passes()
    _poll(zoho_connection)
    assert not _broken(link)


# --- the provider's reading of the bin, against a scripted bin ------------------------------------------------
class _Bin:
    RECYCLE_BIN_LIMIT = 3

    def __init__(self, rows):
        self.rows, self.starts = rows, []

    def recycle_bin(self, *, start=0):
        self.starts.append(start)
        return self.rows[start : start + self.RECYCLE_BIN_LIMIT]


def _row(record_id, ms, kind="Tickets"):
    from connector.clients.zoho_desk import zoho_time

    return {"id": str(record_id), "type": kind, "deletedTime": zoho_time(ms), "displayName": "x"}


def test_the_bin_cursor_keeps_the_entries_at_its_newest_millisecond_and_stops_at_an_older_one():
    provider = ZohoDeskProvider()
    watched = {"tickets": {"1", "2", "3", "4"}, "timeEntry": {"70:7"}, "contacts": {"8"}}
    bin_ = _Bin([_row(2, 5000), _row(1, 5000), _row(7, 4000, "Time Entry"), _row(9, 3000), _row(8, 2000, "Contacts")])
    page = provider.deleted_records(bin_, watched, cursor=None, start_time=3)  # from 3,000 ms
    assert page.deleted == {"tickets": {"1", "2"}, "timeEntry": {"70:7"}}  # 8 was deleted before the start
    assert bin_.starts == [0, 3] and json.loads(page.cursor) == {"t": 5000, "ids": ["1", "2"]}

    # Another deleted at the same millisecond, one later: both new; those already taken are not said again.
    bin_ = _Bin([_row(4, 6000), _row(3, 5000), _row(2, 5000), _row(1, 5000), _row(9, 4000)])
    page = provider.deleted_records(bin_, watched, cursor=page.cursor, start_time=None)
    assert page.deleted == {"tickets": {"3", "4"}} and json.loads(page.cursor) == {"t": 6000, "ids": ["4"]}
    assert bin_.starts == [0, 3]

    # Nothing new: one page; the cursor stays, with every entry at its millisecond.
    bin_ = _Bin([_row(4, 6000), _row(3, 5000)])
    page = provider.deleted_records(bin_, watched, cursor=json.dumps({"t": 5000, "ids": ["1", "2"]}), start_time=None)
    assert page.deleted == {"tickets": {"3", "4"}} and json.loads(page.cursor) == {"t": 6000, "ids": ["4"]}
    bin_ = _Bin([_row(3, 5000), _row(2, 5000), _row(1, 5000)] * 1 + [_row(0, 100)])
    page = provider.deleted_records(bin_, watched, cursor=json.dumps({"t": 5000, "ids": ["1", "2"]}), start_time=None)
    assert page.deleted == {"tickets": {"3"}} and json.loads(page.cursor) == {"t": 5000, "ids": ["1", "2", "3"]}
    assert bin_.starts == [0, 3]

    # Entries of modules no link names, or without an id or a time, move nothing but the cursor.
    bin_ = _Bin([_row(5, 9000, "Attachments"), {"id": "6", "type": "Tickets", "deletedTime": None}, _row(4, 100)])
    page = provider.deleted_records(bin_, watched, cursor=json.dumps({"t": 6000, "ids": ["4"]}), start_time=None)
    assert page.deleted == {} and json.loads(page.cursor) == {"t": 9000, "ids": ["5"]}


def test_only_a_helpdesk_that_lists_deleted_records_apart_has_them_read():
    from connector.providers.zendesk import ZendeskProvider

    assert ZohoDeskProvider.lists_deleted and ZohoDeskProvider.restorable_days == 60
    assert not ZendeskProvider.lists_deleted  # its export shows deletions itself


def test_a_link_a_404_broke_while_its_record_stayed_is_healed_and_the_records_other_links_left_alone(
    tenant, zoho_connection, zsynced, jira, zoho
):
    """A push's 404 marks the one link it wrote through; the record was not deleted (the bin never lists it).
    The check's read finds it there and heals that link; another issue's live link to it is not touched."""
    ticket_id, link = zsynced["ticket"]["id"], zsynced["link"]
    other_issue = jira.add_issue(key="SUP-2", summary="Printer on fire")
    other = raw_link(tenant, zsynced["item"], other_issue["id"], ticket_id, key="SUP-2", created_at=timezone.now())
    _poll(zoho_connection)
    other.refresh_from_db()
    read_at = other.comments_read_at
    mark = timezone.now()
    Link.objects.filter(pk=link.pk).update(record_deleted_at=mark, sync_stopped_at=mark)
    _interval_passes()
    before = len(zoho.requests)

    _poll(zoho_connection)

    assert not _broken(link) and SyncEvent.objects.filter(action="record_restored").get().link_id == link.pk
    other.refresh_from_db()
    assert other.record_deleted_at is None and other.comments_read_at == read_at
    assert len(_reads_of(zoho, "tickets", ticket_id, before)) == 1
    link.refresh_from_db()
    assert link.comments_read_at > read_at  # the healed link's comments were read in the same poll


def test_a_helpdesk_without_a_list_of_deleted_records_lists_none_and_stays_where_it_was():
    from connector.providers.zendesk import ZendeskProvider

    provider = ZendeskProvider()
    assert provider.lists_deleted is False
    page = provider.deleted_records(None, {"ticket": {"1"}}, cursor="kept", start_time=None)
    assert (page.deleted, page.cursor) == ({}, "kept")
    assert provider.deleted_records(None, {"ticket": {"1"}}, cursor=None, start_time=3).cursor == ""

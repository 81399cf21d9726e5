"""The fake Zendesk's deleted tickets, as Zendesk documents them: ``DELETE /api/v2/tickets/{id}`` is a soft
delete (204, no body) after which the ticket answers 404 to reads, writes and its comments, is gone from
ticket lists and search, and stays in the incremental ticket export with ``status: "deleted"`` unless
``exclude_deleted=true``; ``PUT /api/v2/deleted_tickets/{id}/restore`` (200, empty) brings it back as it was."""

from __future__ import annotations

import pytest

from demo.fakes.zendesk import FakeZendesk
from tests.fakes.test_fakes_selftest import EMAIL, TOKEN, token_auth, zd

EXPORT = "/api/v2/incremental/tickets/cursor.json"
NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}


@pytest.fixture
def zendesk():
    fake = FakeZendesk().start()
    fake.add_account("acme")
    fake.add_agent("acme", EMAIL, TOKEN, name="Ada Agent", role="admin")
    yield fake
    fake.stop()


def _export(zendesk, **params) -> dict[int, dict]:
    """Every ticket the export lists since two minutes ago (what a first poll reads), by id."""
    query = {"start_time": int(zendesk.now()) - 600, **params}
    answer = zd(zendesk, "GET", EXPORT, token_auth(), params=query)
    assert answer.status_code == 200, answer.text
    return {t["id"]: t for t in answer.json()["tickets"]}


def test_a_deleted_ticket_answers_404_and_leaves_lists_and_search(zendesk):
    ticket = zendesk.add_ticket("acme", subject="Printer on fire", status="pending")
    other = zendesk.add_ticket("acme", subject="Printer jammed")
    path = f"/api/v2/tickets/{ticket['id']}.json"

    deleted = zd(zendesk, "DELETE", f"/api/v2/tickets/{ticket['id']}", token_auth())

    assert deleted.status_code == 204 and deleted.content == b""
    assert [e["type"] for e in zendesk.events][-1] == "ticket_deleted"
    for method, url, kw in (
        ("GET", path, {}),
        ("PUT", path, {"json": {"ticket": {"priority": "high"}}}),
        ("GET", f"/api/v2/tickets/{ticket['id']}/comments.json", {}),
        ("DELETE", path, {}),  # deleted already
    ):
        answer = zd(zendesk, method, url, token_auth(), **kw)
        assert (answer.status_code, answer.json()) == (404, NOT_FOUND), (method, url)
    assert zendesk.accounts["acme"].ticket_update_attempts[ticket["id"]] == 0  # refused before it counts
    listed = zd(zendesk, "GET", "/api/v2/tickets.json", token_auth()).json()["tickets"]
    assert [t["id"] for t in listed] == [other["id"]]
    found = zd(zendesk, "GET", "/api/v2/search.json", token_auth(), params={"query": "type:ticket printer"}).json()
    assert [r["id"] for r in found["results"]] == [other["id"]]


def test_the_export_lists_a_deleted_ticket_as_deleted_unless_told_to_exclude_it(zendesk):
    ticket = zendesk.add_ticket("acme", subject="Printer on fire")
    zendesk.advance(120)
    assert _export(zendesk)[ticket["id"]]["status"] == "open"

    zd(zendesk, "DELETE", f"/api/v2/tickets/{ticket['id']}.json", token_auth())
    # A deletion is a change of the ticket: within its minute the export withholds the ticket altogether
    assert ticket["id"] not in _export(zendesk)
    zendesk.advance(61)

    row = _export(zendesk)[ticket["id"]]
    assert row["status"] == "deleted" and row["subject"] == "Printer on fire"
    assert ticket["id"] not in _export(zendesk, exclude_deleted="true")


def test_the_deletion_comes_in_the_export_as_a_new_change_after_the_cursor(zendesk):
    ticket = zendesk.add_ticket("acme", subject="Printer on fire")
    zendesk.advance(120)
    first = zd(zendesk, "GET", EXPORT, token_auth(), params={"start_time": int(zendesk.now()) - 600}).json()
    cursor = first["after_cursor"]
    idle = zd(zendesk, "GET", EXPORT, token_auth(), params={"cursor": cursor}).json()
    assert idle["tickets"] == []

    zendesk.delete_ticket("acme", ticket["id"])  # as in Zendesk's UI: the same soft delete
    zendesk.advance(61)

    after = zd(zendesk, "GET", EXPORT, token_auth(), params={"cursor": cursor}).json()
    assert [(t["id"], t["status"]) for t in after["tickets"]] == [(ticket["id"], "deleted")]


def test_a_restored_ticket_comes_back_as_it_was_and_is_listed_again_by_the_export(zendesk):
    ticket = zendesk.add_ticket("acme", subject="Printer on fire", status="pending")
    zendesk.advance(120)
    first = zd(zendesk, "GET", EXPORT, token_auth(), params={"start_time": int(zendesk.now()) - 600}).json()
    zendesk.delete_ticket("acme", ticket["id"])
    zendesk.advance(61)
    cursor = zd(zendesk, "GET", EXPORT, token_auth(), params={"cursor": first["after_cursor"]}).json()["after_cursor"]

    restored = zd(zendesk, "PUT", f"/api/v2/deleted_tickets/{ticket['id']}/restore", token_auth())

    assert restored.status_code == 200 and restored.content == b""
    assert [e["type"] for e in zendesk.events][-1] == "ticket_restored"
    shown = zd(zendesk, "GET", f"/api/v2/tickets/{ticket['id']}.json", token_auth()).json()["ticket"]
    assert shown["status"] == "pending" and shown["subject"] == "Printer on fire"
    zendesk.advance(61)
    again = zd(zendesk, "GET", EXPORT, token_auth(), params={"cursor": cursor}).json()
    assert [(t["id"], t["status"]) for t in again["tickets"]] == [(ticket["id"], "pending")]
    listed = zd(zendesk, "GET", "/api/v2/tickets.json", token_auth()).json()["tickets"]
    assert [t["id"] for t in listed] == [ticket["id"]]


def test_only_a_deleted_ticket_can_be_restored(zendesk):
    ticket = zendesk.add_ticket("acme")
    for ticket_id in (ticket["id"], 999):
        answer = zd(zendesk, "PUT", f"/api/v2/deleted_tickets/{ticket_id}/restore.json", token_auth())
        assert (answer.status_code, answer.json()) == (404, NOT_FOUND)
    assert zendesk.accounts["acme"].tickets[ticket["id"]]["status"] == "open"


def test_a_deleted_closed_ticket_is_restored_closed(zendesk):
    ticket = zendesk.add_ticket("acme", status="closed")
    zd(zendesk, "DELETE", f"/api/v2/tickets/{ticket['id']}.json", token_auth())
    zd(zendesk, "PUT", f"/api/v2/deleted_tickets/{ticket['id']}/restore", token_auth())
    shown = zd(zendesk, "GET", f"/api/v2/tickets/{ticket['id']}.json", token_auth()).json()["ticket"]
    assert shown["status"] == "closed"

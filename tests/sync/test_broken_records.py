"""Records deleted in the helpdesk (issue 12, "Upsert rules for synchronized records"): a mapped field,
status, comment or file written to the helpdesk is an update of the linked record; when the helpdesk answers
404 for it, the push and the pull engines mark the link broken (``record_deleted_at``), say so once, recreate
nothing, never retry it and never touch the link again; the break shows on the panel's cards, on the admin
page and in Django admin. A broken link can be unlinked whatever made it (one made by sync too: nothing is left
for the item to manage), and is not refreshed. Closed records: a closed Zendesk ticket stops its link
(tests/sync/test_push.py); a closed Zoho Desk ticket can be reopened, so it is still written."""

from __future__ import annotations

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from sync.engine import connection_poll, link_pass
from sync.errors import AutoManagedLink, LinkRecordDeleted
from sync.models import CommentMap, Link, SyncEvent, SyncRun, WebhookEvent
from sync.services import link_delete, link_refresh
from tests.conftest import ADMIN_ACCOUNT, ZD_SUBDOMAIN
from tests.panel.links_helpers import ApiClient, badge, badge_of, raw_link
from tests.sync.test_push import deliver, process, two_way  # noqa: F401  (two_way: the fixture)
from tests.zoho.test_zoho_sync import zsynced  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db


def _gone(zendesk, ticket_id) -> None:
    """The ticket is deleted in Zendesk: every read and write of it answers 404 RecordNotFound."""
    del zendesk.accounts[ZD_SUBDOMAIN].tickets[ticket_id]


def _tickets_created(zendesk) -> int:
    return sum(1 for e in zendesk.events if e["type"] == "ticket_created")


def _assert_broken_once(link: Link, ticket_id, *, brand: str = "Zendesk") -> None:
    link.refresh_from_db()
    assert link.record_deleted_at is not None and link.sync_stopped_at is not None
    assert link.issue_deleted_at is None
    (event,) = SyncEvent.objects.filter(link=link, action="record_deleted")
    assert event.result == SyncEvent.Result.SKIPPED
    assert event.message == (
        f"Ticket {ticket_id} no longer exists in {brand}: the link from SUP-1 is broken; nothing was recreated."
    )


def _assert_not_an_error(link: Link) -> None:
    """Done, not failed: no retry, no error on the item or the run."""
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.DONE}
    assert WebhookEvent.objects.filter(attempts__gt=0).count() == 0
    run = SyncRun.objects.filter(trigger=SyncRun.Trigger.WEBHOOK).latest("id")
    assert run.outcome == SyncRun.Outcome.SUCCESS and run.counts["errors"] == 0, run.reason
    assert ConnectedItem.objects.get(pk=link.item_id).last_error == ""


# --- the push engine (Jira → helpdesk) ---------------------------------------------------------------------


def test_a_field_update_of_a_deleted_ticket_breaks_the_link_and_recreates_nothing(
    client,
    tenant,
    jira,
    zendesk,
    two_way,  # noqa: F811
):
    ConnectedItem.objects.filter(pk=two_way["item"].pk).update(status_sync=False)  # the update itself answers 404
    ticket_id = two_way["ticket"]["id"]
    _gone(zendesk, ticket_id)
    created = _tickets_created(zendesk)
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)

    assert process(tenant, two_way["issue"]) == "done: 1 event(s)"

    assert zendesk.calls("PUT", rf"/tickets/{ticket_id}\.json$")  # it was an update of the linked ticket
    _assert_broken_once(two_way["link"], ticket_id)
    _assert_not_an_error(two_way["link"])
    assert _tickets_created(zendesk) == created and ticket_id not in zendesk.accounts[ZD_SUBDOMAIN].tickets

    # The broken link takes no more events: the next change is dropped at the door, nothing is called.
    calls = len(zendesk.requests)
    jira.user_edit(two_way["issue"], {"priority": {"name": "Low"}})
    assert deliver(client, jira) == ["dropped"]
    assert len(zendesk.requests) == calls and SyncEvent.objects.filter(action="record_deleted").count() == 1


def test_a_status_change_finding_the_ticket_deleted_breaks_the_link(client, tenant, jira, zendesk, two_way):  # noqa: F811
    """The first status push reads the ticket's status (never seen yet): that read answers 404."""
    ticket_id = two_way["ticket"]["id"]
    _gone(zendesk, ticket_id)
    jira.user_transition(two_way["issue"], "Done")
    deliver(client, jira)

    assert process(tenant, two_way["issue"]).startswith("done")

    assert zendesk.calls("GET", rf"/tickets/{ticket_id}\.json$")
    assert not zendesk.calls("PUT", rf"/tickets/{ticket_id}\.json$")
    _assert_broken_once(two_way["link"], ticket_id)
    _assert_not_an_error(two_way["link"])


def _comments_only(two_way) -> None:  # noqa: F811
    """Only comments are pushed (no field, no status): the comment's write is the first call for the ticket."""
    item = two_way["item"]
    item.mappings.filter(direction="to_helpdesk").delete()
    ConnectedItem.objects.filter(pk=item.pk).update(status_sync=False, attachment_sync=False)


def test_a_comment_for_a_deleted_ticket_breaks_the_link_and_leaves_no_pending_copy(
    client,
    tenant,
    jira,
    zendesk,
    two_way,  # noqa: F811
):
    _comments_only(two_way)
    ticket_id = two_way["ticket"]["id"]
    _gone(zendesk, ticket_id)
    jira.user_comment(two_way["issue"], "We found the cause.")
    deliver(client, jira)

    assert process(tenant, two_way["issue"]).startswith("done")

    assert zendesk.calls("PUT", rf"/tickets/{ticket_id}\.json$")  # the comment's write
    _assert_broken_once(two_way["link"], ticket_id)
    _assert_not_an_error(two_way["link"])
    assert not CommentMap.objects.filter(link=two_way["link"]).exists()  # never written: no row says it may be


def test_a_pending_comment_looked_up_on_a_deleted_ticket_breaks_the_link(client, tenant, jira, zendesk, two_way):  # noqa: F811
    """A comment whose write was cut short is looked up among the ticket's comments before writing again:
    that read answers 404."""
    _comments_only(two_way)
    ticket_id = two_way["ticket"]["id"]
    comment = jira.user_comment(two_way["issue"], "Please retry the upload.")
    CommentMap.objects.create(tenant=tenant, link=two_way["link"], source_side="jira", source_id=str(comment["id"]))
    _gone(zendesk, ticket_id)
    deliver(client, jira)

    assert process(tenant, two_way["issue"]).startswith("done")

    assert zendesk.calls("GET", rf"/tickets/{ticket_id}/comments\.json")
    assert not zendesk.calls("PUT", rf"/tickets/{ticket_id}\.json$")
    _assert_broken_once(two_way["link"], ticket_id)
    _assert_not_an_error(two_way["link"])


def test_the_deletion_of_an_issue_leaves_links_already_broken_by_their_record_alone(
    client,
    tenant,
    jira,
    zendesk,
    two_way,  # noqa: F811
):
    """A link broken on the helpdesk's side has nothing more to break: the inbox drops the deletion of an
    issue whose only link it is, and beside a live link it is left as it is."""
    now = timezone.now()
    Link.objects.filter(pk=two_way["link"].pk).update(record_deleted_at=now, sync_stopped_at=now)
    jira.delete_issue(two_way["issue"])
    assert deliver(client, jira) == ["dropped"]

    issue = jira.add_issue(key="SUP-2", summary="Two tickets")
    first, second = (zendesk.add_ticket(ZD_SUBDOMAIN, subject=s) for s in ("first", "second"))
    broken = raw_link(tenant, two_way["item"], issue["id"], first["id"], key="SUP-2", record_deleted_at=now)
    Link.objects.filter(pk=broken.pk).update(sync_stopped_at=now)
    live = raw_link(tenant, two_way["item"], issue["id"], second["id"], key="SUP-2")
    jira.delete_issue(issue)
    assert deliver(client, jira) == ["stored"]
    process(tenant, issue)

    live.refresh_from_db()
    broken.refresh_from_db()
    assert live.issue_deleted_at is not None and broken.issue_deleted_at is None
    (event,) = SyncEvent.objects.filter(action="deleted")
    assert event.link_id == live.pk


def test_a_jira_change_still_reaches_a_closed_zoho_ticket_which_zoho_lets_reopen(client, zsynced, jira, zoho):  # noqa: F811
    """Zoho Desk takes updates of a closed ticket (a closed ticket goes back to Open on a reply or a status
    change — help.zoho.com/portal/en/kb/desk/ticket-management/ticket-status/articles/customizing-ticket-
    statuses), so the provider's ``is_closed`` is False and the link keeps syncing, unlike Zendesk's."""
    tid = zsynced["ticket"]["id"]
    zoho.user_update(zoho.org.id, "tickets", tid, status="Closed")
    issue = zsynced["issue"]
    jira.user_transition(issue, "In Progress")
    deliver(client, jira)

    assert process(zsynced["link"].tenant, issue).startswith("done")

    ticket = zoho.orgs[zoho.org.id].records["tickets"][tid]
    assert ticket["status"] != "Closed"  # reopened by the issue's status
    link = Link.objects.get()
    assert link.sync_stopped_at is None and link.record_deleted_at is None


def test_a_field_update_of_a_deleted_zoho_ticket_breaks_the_link(client, zsynced, jira, zoho):  # noqa: F811
    tid = zsynced["ticket"]["id"]
    ConnectedItem.objects.filter(pk=zsynced["item"].pk).update(status_sync=False)
    del zoho.orgs[zoho.org.id].records["tickets"][tid]
    created = [e for e in zoho.events if e["type"] == "created"]
    high = next(p for p in jira.priorities if p["name"] == "High")
    jira.user_edit(zsynced["issue"], {"priority": {"id": high["id"], "name": "High"}})  # as Jira returns it
    deliver(client, jira)

    assert process(zsynced["link"].tenant, zsynced["issue"]).startswith("done")

    assert [r for r in zoho.requests if r.method == "PATCH" and r.path.endswith(f"/tickets/{tid}")]
    _assert_broken_once(zsynced["link"], tid, brand="Zoho Desk")
    _assert_not_an_error(zsynced["link"])
    assert tid not in zoho.orgs[zoho.org.id].records["tickets"]
    assert [e for e in zoho.events if e["type"] == "created"] == created  # nothing recreated


# --- the pull engine (helpdesk → Jira) ---------------------------------------------------------------------


def test_a_zoho_poll_finding_a_linked_ticket_deleted_breaks_the_link_and_succeeds(zoho_connection, zsynced, zoho):  # noqa: F811
    """Zoho has no account-wide comment stream: each poll reads the comments of linked tickets not read for
    a while. A deleted ticket's comments answer 404: the link breaks, and the poll does not fail (before,
    every poll failed on it again)."""
    tid = zsynced["ticket"]["id"]
    del zoho.orgs[zoho.org.id].records["tickets"][tid]

    run = connection_poll(connection_id=zoho_connection.pk)

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    _assert_broken_once(zsynced["link"], tid, brand="Zoho Desk")
    assert ConnectedItem.objects.get(pk=zsynced["item"].pk).last_error == ""
    before = len(zoho.requests)
    Link.objects.update(comments_read_at=None)  # due for the sweep again, were it still syncing
    again = connection_poll(connection_id=zoho_connection.pk)
    assert again.outcome == SyncRun.Outcome.SUCCESS
    assert not [r for r in zoho.requests[before:] if f"/tickets/{tid}" in r.path]


def test_refresh_of_a_synchronized_link_whose_ticket_was_deleted_shows_it_broken(
    client,
    tenant,
    jira,
    zendesk,
    two_way,  # noqa: F811
    project,
):
    """The panel's Refresh runs the link's pass: the ticket's read answers 404, the link breaks and the
    card says so (the problem the panel already renders)."""
    ticket_id = two_way["ticket"]["id"]
    _gone(zendesk, ticket_id)
    panel = ApiClient(client, HTTP_AUTHORIZATION=f"JWT {jira.context_token(account_id=ADMIN_ACCOUNT)}")

    response = panel.post(f"/api/panel/links/{two_way['link'].pk}/refresh")

    assert response.status_code == 200, response.content
    (problem,) = response.json()["problems"]
    assert problem["code"] == "record_deleted"
    assert problem["message"] == "Deleted in Zendesk: this link is broken and no longer syncs; nothing was recreated."
    _assert_broken_once(two_way["link"], ticket_id)
    assert SyncRun.objects.get(trigger=SyncRun.Trigger.REFRESH).outcome == SyncRun.Outcome.SUCCESS
    context = {"issue_id": two_way["issue"]["id"], "project_id": project["id"], "issue_type_id": "10001"}
    card = panel.get("/api/panel/cards", data=context).json()["cards"][0]
    assert card["links"][0]["problems"] == [problem]
    assert link_pass(link_id=two_way["link"].pk) is None  # a broken link has no pass any more


# --- where the break shows ---------------------------------------------------------------------------------


def test_the_admin_page_and_django_admin_list_links_whose_record_was_deleted(
    client,
    admin_client,
    tenant,
    jira,
    zendesk,
    two_way,  # noqa: F811
):
    from tests.panel.conftest import AdminPage

    _gone(zendesk, two_way["ticket"]["id"])
    ConnectedItem.objects.filter(pk=two_way["item"].pk).update(status_sync=False)
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    process(tenant, two_way["issue"])

    text = AdminPage(client, jira).open().content.decode()
    assert 'data-testid="broken-records"' in text and "Links whose Zendesk record was deleted" in text
    assert 'data-testid="broken-links"' not in text  # that list is of deleted Jira issues
    row = text.split('data-testid="broken-records"', 1)[1]
    assert "SUP-1" in row and str(two_way["ticket"]["id"]) in row and "Two-way tickets" in row

    changelist = "/admin/sync/link/"
    broken = admin_client.get(changelist, {"record_deleted_at__isempty": "0"})
    assert broken.status_code == 200 and "SUP-1" in broken.content.decode()
    assert "Record deleted at" in broken.content.decode()  # the column
    assert "SUP-1" not in admin_client.get(changelist, {"record_deleted_at__isempty": "1"}).content.decode()


def test_a_link_found_deleted_by_two_passes_at_once_is_said_broken_once(tenant, connection, two_way):  # noqa: F811
    """The pull and the push may both find the record gone (each with its own copy of the link)."""
    from connector.providers import provider_for
    from sync.engine import _Run, record_deleted

    for _ in range(2):
        run = _Run(
            SyncRun.objects.create(tenant=tenant, connection=connection, trigger=SyncRun.Trigger.SCHEDULE),
            connection,
            provider_for(connection.provider),
        )
        record_deleted(run, Link.objects.select_related("item").get(pk=two_way["link"].pk))
        run.flush_events()
    assert SyncEvent.objects.filter(action="record_deleted").count() == 1


def test_a_record_is_named_in_the_words_of_its_object():
    from connector.providers import provider_for
    from sync.engine import record_noun

    zendesk, zoho = provider_for("zendesk"), provider_for("zoho_desk")
    assert [record_noun(zendesk, o) for o in ("ticket", "user", "organization")] == [
        "Ticket",
        "Customer",
        "Organization",
    ]
    assert [record_noun(zoho, o) for o in ("tickets", "timeEntry", "accounts")] == ["Ticket", "Time entry", "Account"]


# --- unlinking a broken link ------------------------------------------------------------------------------


def test_a_link_made_by_sync_is_unlinked_once_its_record_was_deleted_and_not_before(
    client,
    tenant,
    jira,
    zendesk,
    two_way,  # noqa: F811
):
    Link.objects.filter(pk=two_way["link"].pk).update(origin=Link.Origin.AUTO)
    link = Link.objects.get(pk=two_way["link"].pk)

    with pytest.raises(AutoManagedLink) as caught:  # intact: the item manages it
        link_delete(tenant=tenant, link=link)
    assert caught.value.message == (
        "This link is managed by automatic sync and cannot be removed by hand. A Jira admin can change the "
        "item's auto-create settings instead."
    )
    assert Link.objects.filter(pk=link.pk).exists()

    # The ticket is deleted in Zendesk and the next push finds it so: the link breaks.
    ConnectedItem.objects.filter(pk=two_way["item"].pk).update(status_sync=False)
    _gone(zendesk, two_way["ticket"]["id"])
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    process(tenant, two_way["issue"])
    link.refresh_from_db()
    assert link.record_deleted_at is not None and link.origin == Link.Origin.AUTO

    link_delete(tenant=tenant, link=link)

    assert not Link.objects.filter(pk=link.pk).exists()
    assert badge(jira, two_way["issue"]["id"]) == badge_of(0)
    assert ConnectedItem.objects.get(pk=two_way["item"].pk).linked_count == 0


def test_a_broken_link_made_by_sync_healed_since_it_was_read_is_not_unlinked(tenant, jira, two_way):  # noqa: F811
    """The caller read the link broken; a poll then found its record again (restored in the helpdesk) and healed
    it: the link is the item's again, and unlinking it by hand is refused."""
    now = timezone.now()
    Link.objects.filter(pk=two_way["link"].pk).update(
        origin=Link.Origin.AUTO, record_deleted_at=now, sync_stopped_at=now
    )
    read = Link.objects.select_related("item").get(pk=two_way["link"].pk)
    Link.objects.filter(pk=read.pk).update(record_deleted_at=None, sync_stopped_at=None)  # healed meanwhile

    with pytest.raises(AutoManagedLink):
        link_delete(tenant=tenant, link=read)

    assert Link.objects.filter(pk=read.pk).exists()
    assert badge(jira, two_way["issue"]["id"]) is None  # nothing changed, nothing said


def test_refresh_of_a_broken_link_says_to_unlink_it_and_asks_zendesk_nothing(tenant, zendesk, two_way):  # noqa: F811
    ticket_id = two_way["ticket"]["id"]
    _gone(zendesk, ticket_id)
    link_refresh(tenant=tenant, link=Link.objects.select_related("item").get(pk=two_way["link"].pk))  # breaks it
    _assert_broken_once(two_way["link"], ticket_id)
    calls = len(zendesk.requests)

    with pytest.raises(LinkRecordDeleted) as caught:
        link_refresh(tenant=tenant, link=Link.objects.select_related("item").get(pk=two_way["link"].pk))

    assert (caught.value.status_code, caught.value.code) == (409, "record_deleted")
    assert caught.value.message == (
        f"Ticket {ticket_id} was deleted in Zendesk, so this link is broken and there is nothing to refresh. "
        "Unlink it, then link another ticket or create a new one."
    )
    assert len(zendesk.requests) == calls

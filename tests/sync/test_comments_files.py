"""Comments and files, helpdesk → Jira, against the fakes over real HTTP: each Zendesk comment becomes one
Jira comment (internal notes marked), files come through the CDN without credentials and land once, large
files are skipped and said on the issue once, nothing is duplicated by a crash between Jira's answer and
our commit, and comments we wrote into Zendesk are never copied back."""

from __future__ import annotations

import pytest

from connector.clients.jira import JiraClient
from connector.clients.zendesk import ZendeskClient
from connector.models import ConnectedItem
from sync.engine import connection_poll
from sync.models import AttachmentMap, CommentMap, SyncEvent, SyncRun, SyncState
from tests.conftest import ZD_EMAIL, ZD_SUBDOMAIN, ZD_TOKEN
from tests.panel.links_helpers import make_item, raw_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked(tenant, connection, project, jira, zendesk, admin_agent, settings):
    settings.HELPDESK_DOWNLOAD_ALLOWED_HOSTS = ["localhost"]  # the fake's CDN host
    item = make_item(
        tenant,
        connection,
        name="Synced tickets",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_issue_type_id="10001",
        comment_sync=True,
        attachment_sync=True,
    )
    issue = jira.add_issue(key="SUP-1", summary="Printer")
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire", status="open")
    link = raw_link(tenant, item, issue["id"], ticket["id"])
    zendesk.advance(2)  # what is said from here on comes after the second of linking
    return {"item": item, "issue": issue, "ticket": ticket, "link": link}


def _poll(connection):
    return connection_poll(connection_id=connection.pk)


def _comments(jira, issue) -> list[dict]:
    return jira.comments.get(str(issue["id"]), [])


def _text(adf: dict) -> str:
    return " ".join(
        node.get("text", "") for block in adf.get("content", []) for node in block.get("content", []) if "text" in node
    )


def test_each_comment_is_copied_once_with_its_author_and_internal_notes_are_marked(connection, linked, jira, zendesk):
    ticket = linked["ticket"]
    zendesk.add_comment(ZD_SUBDOMAIN, ticket["id"], "It smokes again.")
    colleague = zendesk.add_agent(ZD_SUBDOMAIN, "bo@example.com", name="Bo Colleague")
    zendesk.add_comment(
        ZD_SUBDOMAIN, ticket["id"], "Customer is on the VIP plan.", public=False, author_id=colleague["id"]
    )
    zendesk.advance(120)

    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    comments = _comments(jira, linked["issue"])
    assert len(comments) == 2 and run.counts["comments"] == 2
    public, note = (_text(c["body"]) for c in comments)
    assert "It smokes again." in public and "[Zendesk internal note]" not in public
    requester = zendesk.accounts[ZD_SUBDOMAIN].users[ticket["requester_id"]]["name"]
    assert requester in public and "UTC" in public
    assert note.startswith("[Zendesk internal note]") and "Bo Colleague" in note and "VIP plan" in note
    # the opening message (before the link existed) is not copied
    assert not any("colorful" in _text(c["body"]) for c in comments)

    zendesk.add_comment(ZD_SUBDOMAIN, ticket["id"], "Fixed now.")
    zendesk.advance(120)
    run = _poll(connection)
    assert len(_comments(jira, linked["issue"])) == 3 and run.counts["comments"] == 1
    zendesk.advance(120)
    run = _poll(connection)
    assert len(_comments(jira, linked["issue"])) == 3 and run.counts["comments"] == 0


def test_comments_by_deskbridges_own_agent_are_never_copied(connection, linked, jira, zendesk):
    """Echo guard 1 on the helpdesk side: what the connected agent writes (Deskbridge's own copies of Jira
    comments, link notes) is not a source."""
    agent = next(u for u in zendesk.accounts[ZD_SUBDOMAIN].users.values() if u["email"] == ZD_EMAIL)
    zendesk.add_comment(ZD_SUBDOMAIN, linked["ticket"]["id"], "Written by Deskbridge.", author_id=agent["id"])
    zendesk.add_comment(ZD_SUBDOMAIN, linked["ticket"]["id"], "Written by the customer.")
    zendesk.advance(120)
    run = _poll(connection)
    texts = [_text(c["body"]) for c in _comments(jira, linked["issue"])]
    assert len(texts) == 1 and "Written by the customer." in texts[0] and run.counts["comments"] == 1


def test_an_idle_poll_reads_no_comment_stream(connection, linked, jira, zendesk):
    zendesk.advance(120)
    _poll(connection)  # catches up with the ticket's creation
    zendesk.advance(120)
    run = _poll(connection)
    assert run.api_calls == {"zendesk": 1, "jira": 0}


def test_a_crash_after_jira_answered_never_duplicates_a_comment(connection, linked, jira, zendesk, monkeypatch):
    zendesk.add_comment(ZD_SUBDOMAIN, linked["ticket"]["id"], "Only once, please.")
    zendesk.advance(120)
    real = JiraClient.comment_add

    def answered_then_crashed(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise RuntimeError("worker killed before the commit")

    monkeypatch.setattr(JiraClient, "comment_add", answered_then_crashed)
    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.FAILED
    assert SyncState.objects.get().cursors.get("ticket", "") == ""  # the page is read again
    assert CommentMap.objects.get().target_id == ""  # pending: we may have written it
    monkeypatch.setattr(JiraClient, "comment_add", real)

    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    assert len(_comments(jira, linked["issue"])) == 1  # found by its tag, not posted again
    assert CommentMap.objects.get().target_id == str(_comments(jira, linked["issue"])[0]["id"])


def test_comments_we_wrote_into_zendesk_are_not_copied_back(connection, linked, jira, zendesk, tenant):
    api = ZendeskClient(subdomain=ZD_SUBDOMAIN, email=ZD_EMAIL, api_token=ZD_TOKEN)
    api.ticket_update(linked["ticket"]["id"], {"comment": {"body": "From Jira: on it", "public": True}})
    ours = zendesk.accounts[ZD_SUBDOMAIN].comments[linked["ticket"]["id"]][-1]["id"]
    CommentMap.objects.create(
        tenant=tenant, link=linked["link"], source_side=CommentMap.Side.JIRA, source_id="10500", target_id=str(ours)
    )
    zendesk.add_comment(ZD_SUBDOMAIN, linked["ticket"]["id"], "A real customer reply")
    zendesk.advance(120)
    run = _poll(connection)
    texts = [_text(c["body"]) for c in _comments(jira, linked["issue"])]
    assert len(texts) == 1 and "A real customer reply" in texts[0], texts
    assert run.counts["comments"] == 1


def test_files_come_through_the_cdn_without_credentials_and_land_once(connection, linked, jira, zendesk):
    data = b"%PDF-1.4 " + b"x" * 300_000  # larger than one read chunk: streamed
    zendesk.add_comment(
        ZD_SUBDOMAIN, linked["ticket"]["id"], "Log attached", attachments=[("crash log.pdf", data, "application/pdf")]
    )
    zendesk.advance(120)
    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    files = [a for a in jira.attachments.values() if a["issue_id"] == str(linked["issue"]["id"])]
    assert [(f["filename"], f["data"]) for f in files] == [("crash log.pdf", data)]
    assert run.counts["attachments"] == 1
    assert zendesk.cdn_downloads and all(d["authorization"] is None for d in zendesk.cdn_downloads)
    zendesk.advance(120)
    zendesk.add_comment(ZD_SUBDOMAIN, linked["ticket"]["id"], "bump")
    zendesk.advance(120)
    _poll(connection)
    assert len([a for a in jira.attachments.values() if a["issue_id"] == str(linked["issue"]["id"])]) == 1


def test_a_file_over_the_limit_is_skipped_and_said_on_the_issue_once(connection, linked, jira, zendesk, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    zendesk.add_comment(
        ZD_SUBDOMAIN, linked["ticket"]["id"], "Video", attachments=[("screen.mp4", b"v" * 5000, "video/mp4")]
    )
    zendesk.advance(120)
    run = _poll(connection)
    assert not jira.attachments and zendesk.cdn_downloads == []  # not even downloaded
    notices = [c for c in _comments(jira, linked["issue"]) if "did not copy" in _text(c["body"])]
    assert len(notices) == 1 and "screen.mp4" in _text(notices[0]["body"])
    assert run.counts["skipped"] == 1
    assert SyncEvent.objects.filter(action="attachment", result="skipped").count() == 1
    assert AttachmentMap.objects.get().target_id == "skipped"
    zendesk.add_comment(ZD_SUBDOMAIN, linked["ticket"]["id"], "again")
    zendesk.advance(120)
    _poll(connection)
    assert len([c for c in _comments(jira, linked["issue"]) if "did not copy" in _text(c["body"])]) == 1


def test_a_file_whose_size_lies_is_cut_off_at_the_limit(connection, linked, jira, zendesk, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    zendesk.add_comment(
        ZD_SUBDOMAIN, linked["ticket"]["id"], "Tiny?", attachments=[("big.bin", b"b" * 5000, "application/x")]
    )
    for audit in zendesk.accounts[ZD_SUBDOMAIN].uploads.values():
        audit["attachment"]["size"] = 10  # the listing says 10 bytes; the file is 5000
    zendesk.advance(120)
    run = _poll(connection)
    assert not jira.attachments and run.counts["skipped"] == 1


def test_a_file_on_a_host_not_allowed_is_refused_before_any_request(connection, linked, jira, zendesk, settings):
    settings.HELPDESK_DOWNLOAD_ALLOWED_HOSTS = []
    zendesk.add_comment(ZD_SUBDOMAIN, linked["ticket"]["id"], "F", attachments=[("a.txt", b"abc", "text/plain")])
    zendesk.advance(120)
    run = _poll(connection)
    assert not jira.attachments and zendesk.cdn_downloads == []
    event = SyncEvent.objects.get(action="attachment")
    assert (
        event.result == "error" and "localhost" in event.message and "HELPDESK_DOWNLOAD_ALLOWED_HOSTS" in event.message
    )
    assert run.counts["errors"] == 1


def test_a_crash_after_an_upload_never_duplicates_the_file(connection, linked, jira, zendesk, monkeypatch):
    zendesk.add_comment(ZD_SUBDOMAIN, linked["ticket"]["id"], "F", attachments=[("a.txt", b"abc", "text/plain")])
    zendesk.advance(120)
    real = JiraClient.attachment_add

    def uploaded_then_crashed(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise RuntimeError("worker killed before the commit")

    monkeypatch.setattr(JiraClient, "attachment_add", uploaded_then_crashed)
    assert _poll(connection).outcome == SyncRun.Outcome.FAILED
    monkeypatch.setattr(JiraClient, "attachment_add", real)
    assert _poll(connection).outcome == SyncRun.Outcome.SUCCESS
    assert len(jira.attachments) == 1
    assert AttachmentMap.objects.get().target_id == next(iter(jira.attachments))


def test_comment_sync_off_copies_files_only(connection, linked, jira, zendesk):
    ConnectedItem.objects.filter(pk=linked["item"].pk).update(comment_sync=False)
    zendesk.add_comment(ZD_SUBDOMAIN, linked["ticket"]["id"], "F", attachments=[("a.txt", b"abc", "text/plain")])
    zendesk.advance(120)
    _poll(connection)
    assert len(jira.attachments) == 1 and _comments(jira, linked["issue"]) == []


def test_a_rate_limited_comment_stream_keeps_both_positions(connection, linked, jira, zendesk, monkeypatch):
    zendesk.add_comment(ZD_SUBDOMAIN, linked["ticket"]["id"], "hello")
    zendesk.advance(120)
    real = ZendeskClient.incremental_ticket_events

    def limited(self, **kwargs):  # the ticket export answered; the comment stream is rate limited
        zendesk.rate_limit_next(1, retry_after=30)
        return real(self, **kwargs)

    monkeypatch.setattr(ZendeskClient, "incremental_ticket_events", limited)
    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.HALTED and "30 s" in run.reason
    state = SyncState.objects.get(connection=connection)
    assert state.cursors.get("ticket", "") == "" and state.events_time in (
        None,
        state.start_time,
    )  # neither stream moved
    assert _comments(jira, linked["issue"]) == []
    monkeypatch.setattr(ZendeskClient, "incremental_ticket_events", real)
    SyncState.objects.filter(pk=state.pk).update(next_poll_at=None)
    zendesk.advance(120)
    assert _poll(connection).outcome == SyncRun.Outcome.SUCCESS
    assert len(_comments(jira, linked["issue"])) == 1

"""What a push reads of an issue's comments, and when: the comments in full (with their properties) for an
event that speaks of comments; otherwise only the issue's own ``comment`` field, read with the issue. Against
the fakes on loopback, through the real webhook endpoint."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from sync.models import SyncEvent
from tests.sync import test_lost_comment_regression as lost

linked = lost.linked  # the fixture: SUP-1 linked through a two-way item syncing comments
deliver, process = lost.deliver, lost.process

pytestmark = pytest.mark.django_db


def issue_reads(jira, linked, since: int) -> list[tuple[str, list[str]]]:
    """The issue's GETs since ``since`` requests: (path, the fields asked for)."""
    base = f"/rest/api/3/issue/{linked['issue_id']}"
    reads = []
    for request in jira.requests[since:]:
        if request.method == "GET" and request.path.startswith(base):
            asked = parse_qs(urlsplit(request.raw_path).query).get("fields", [""])[0]
            reads.append((request.path, sorted(f for f in asked.split(",") if f)))
    return reads


def is_issue_update(delivery: dict) -> bool:
    return b'"jira:issue_updated"' in delivery["body"]


def test_an_edited_comment_is_reported_from_its_comment_updated_delivery_alone(client, tenant, jira, linked):
    """Jira raises ``comment_updated`` and ``jira:issue_updated`` for an edit. When only the first comes, it
    still speaks of comments: the comments are read and the run says the edit could not be copied."""
    comment = jira.user_comment(linked["issue_id"], "The toner is low.")
    deliver(client, jira)
    process(tenant, linked)
    jira.user_comment_edit(linked["issue_id"], comment["id"], "The toner is empty.")
    assert deliver(client, jira, lose=is_issue_update) == ["stored"]
    before = len(jira.requests)
    process(tenant, linked)
    assert f"/rest/api/3/issue/{linked['issue_id']}/comment" in [path for path, _ in issue_reads(jira, linked, before)]
    note = SyncEvent.objects.get(action="comment", result=SyncEvent.Result.SKIPPED)
    assert f"Comment {comment['id']} on SUP-1 was edited in Jira" in note.message


def test_the_issue_read_asks_for_the_comment_field_only_when_comments_sync(client, tenant, jira, linked):
    jira.user_edit(linked["issue_id"], {"priority": {"name": "High"}})
    deliver(client, jira)
    before = len(jira.requests)
    process(tenant, linked)
    assert [fields for _, fields in issue_reads(jira, linked, before)] == [
        ["attachment", "comment", "priority", "status", "updated"]
    ]

    linked["item"].__class__.objects.filter(pk=linked["item"].pk).update(comment_sync=False)
    jira.user_edit(linked["issue_id"], {"priority": {"name": "Low"}})
    deliver(client, jira)
    before = len(jira.requests)
    process(tenant, linked)
    assert [fields for _, fields in issue_reads(jira, linked, before)] == [
        ["attachment", "priority", "status", "updated"]
    ]

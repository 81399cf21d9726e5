"""More of the pull engine: one Jira call per status move (the issue's status remembered, the workflow's
transitions cached), the look-again path when a move is refused, users by email, the panel's Refresh running
the pass, retrying a failed event, history pruning, a dead worker's run closed, 503 with Retry-After, and
issues worked in parallel threads without one issue ever in two at once (PostgreSQL)."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from connector.clients.jira import JiraClient
from connector.models import ConnectedItem
from sync.engine import JIRA_STATUS_KEY, connection_poll, sync_state_get
from sync.models import CommentMap, Link, SyncEvent, SyncRun, SyncState
from sync.services import event_retry, link_refresh
from sync.tasks import runs_prune
from tests.conftest import ZD_EMAIL, ZD_SUBDOMAIN, postgres_only
from tests.panel.links_helpers import make_item, raw_link

pytestmark = pytest.mark.django_db


def _poll(connection):
    return connection_poll(connection_id=connection.pk)


def _status_item(tenant, connection, **extra):
    return make_item(
        tenant,
        connection,
        name="Status only",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_issue_type_id="10001",
        status_sync=True,
        **extra,
    )


def _known(issue) -> dict:
    status = issue["fields"]["status"]
    return {JIRA_STATUS_KEY: {"id": status["id"], "category": status["statusCategory"]["key"]}}


def test_a_status_move_costs_one_jira_call_once_the_workflow_is_known(
    tenant,
    connection,
    project,
    jira,
    zendesk,
    admin_agent,
):
    item = _status_item(tenant, connection)
    pairs = []
    for n in range(3):
        issue = jira.add_issue(key=f"SUP-{n + 1}")
        ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject=f"T{n}", status="solved")
        raw_link(tenant, item, issue["id"], ticket["id"], key=issue["key"], field_state=_known(issue))
        pairs.append(issue)
    zendesk.advance(120)
    run = _poll(connection)
    assert run.counts["transitions"] == 3
    assert run.api_calls["jira"] == 1 + 3  # the workflow's transitions out of To Do once, then one move each
    assert all(jira.issues[i["id"]]["fields"]["status"]["statusCategory"]["key"] == "done" for i in pairs)
    assert Link.objects.first().field_state[JIRA_STATUS_KEY]["category"] == "done"


def test_a_refused_move_looks_at_the_issue_and_tries_once_more(tenant, connection, project, jira, zendesk, admin_agent):
    item = _status_item(tenant, connection)
    first, second = jira.add_issue(key="SUP-1"), jira.add_issue(key="SUP-2")
    for issue in (first, second):
        ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="T", status="solved")
        raw_link(tenant, item, issue["id"], ticket["id"], key=issue["key"], field_state=_known(issue))
    jira.fail_next(
        400,
        {"errorMessages": ["Transition id 't3' is not valid for this issue."]},
        path=rf"/issue/{second['id']}/transitions$",
    )
    zendesk.advance(120)
    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    assert jira.issues[second["id"]]["fields"]["status"]["statusCategory"]["key"] == "done"
    assert run.counts["transitions"] == 2


def test_a_person_becomes_the_jira_user_with_that_email(tenant, connection, project, jira, zendesk, admin_agent):
    item = make_item(
        tenant,
        connection,
        name="People",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_issue_type_id="10001",
        mappings=[{"helpdesk_field": "assignee", "jira_field": "assignee", "direction": "to_jira", "value_map": {}}],
    )
    agent = next(u for u in zendesk.accounts[ZD_SUBDOMAIN].users.values() if u["email"] == ZD_EMAIL)
    hidden = zendesk.add_user(ZD_SUBDOMAIN, name="Hidden Hal", email="hal@acme.test", role="agent")
    jira.add_user("acc-ada", "Ada Agent", ZD_EMAIL)
    jira.add_user("acc-hal", "Hidden Hal", "hal@acme.test", email_visible=False)
    one, two = jira.add_issue(key="SUP-1"), jira.add_issue(key="SUP-2")
    t1 = zendesk.add_ticket(ZD_SUBDOMAIN, subject="A", assignee_id=agent["id"])
    t2 = zendesk.add_ticket(ZD_SUBDOMAIN, subject="B", assignee_id=hidden["id"])
    raw_link(tenant, item, one["id"], t1["id"], key="SUP-1")
    raw_link(tenant, item, two["id"], t2["id"], key="SUP-2")
    zendesk.advance(120)
    _poll(connection)
    assert jira.issues[one["id"]]["fields"]["assignee"] == {"accountId": "acc-ada"}
    assert "assignee" not in jira.issues[two["id"]]["fields"]
    skipped = SyncEvent.objects.get(result="skipped")
    assert "hal@acme.test" in skipped.message and "no Jira user" in skipped.message


def test_refresh_on_a_synchronized_link_runs_its_pass_now(tenant, connection, project, jira, zendesk, admin_agent):
    item = make_item(
        tenant,
        connection,
        name="Synced",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_issue_type_id="10001",
        comment_sync=True,
        mappings=[{"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}}],
    )
    issue = jira.add_issue(key="SUP-1", summary="old")
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="New subject")
    link = raw_link(tenant, item, issue["id"], ticket["id"])
    zendesk.advance(2)
    zendesk.add_comment(ZD_SUBDOMAIN, ticket["id"], "said just now")  # no waiting for the export's minute

    refreshed = link_refresh(tenant=tenant, link=link)

    assert jira.issues[issue["id"]]["fields"]["summary"] == "New subject"
    assert len(jira.comments[issue["id"]]) == 1
    assert refreshed.preview["title"].endswith("New subject")
    run = SyncRun.objects.get()
    assert run.trigger == SyncRun.Trigger.REFRESH and run.outcome == SyncRun.Outcome.SUCCESS
    assert zendesk.calls("GET", r"/incremental/") == []  # the record itself, not the stream

    link_refresh(tenant=tenant, link=Link.objects.get())  # again: nothing new to write
    assert len(jira.comments[issue["id"]]) == 1 and len(jira.edits) == 1


def test_refresh_while_a_poll_holds_the_lease_refreshes_the_preview_and_queues_the_pass(
    tenant,
    connection,
    project,
    jira,
    zendesk,
    admin_agent,
    django_capture_on_commit_callbacks,
):
    item = _status_item(tenant, connection)
    issue = jira.add_issue(key="SUP-1")
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="T", status="solved")
    link = raw_link(tenant, item, issue["id"], ticket["id"])
    state = sync_state_get(connection=connection)
    SyncState.objects.filter(pk=state.pk).update(
        lease_owner="other", lease_expires_at=timezone.now() + timedelta(seconds=30)
    )
    with django_capture_on_commit_callbacks() as queued:
        refreshed = link_refresh(tenant=tenant, link=link)
    assert refreshed.preview["title"].endswith("T") and jira.transitions_done == []
    assert len(queued) == 1  # sync.tasks.link_pass_task, retried until the lease is free


def test_retrying_a_failed_comment_copies_it(
    tenant,
    connection,
    project,
    jira,
    zendesk,
    admin_agent,
    django_capture_on_commit_callbacks,
):
    item = make_item(
        tenant, connection, name="C", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10001", comment_sync=True
    )
    issue = jira.add_issue(key="SUP-1")
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="T")
    raw_link(tenant, item, issue["id"], ticket["id"])
    zendesk.advance(2)
    zendesk.add_comment(ZD_SUBDOMAIN, ticket["id"], "hello")
    zendesk.advance(120)
    jira.fail_next(400, {"errorMessages": [], "errors": {"comment": "Comment body is not valid!"}}, path=r"/comment$")
    run = _poll(connection)
    assert run.counts["errors"] == 1 and CommentMap.objects.get().target_id == "failed"
    event = SyncEvent.objects.get(result="error")
    assert "Comment body is not valid" in event.message
    zendesk.advance(120)
    _poll(connection)
    assert jira.comments.get(issue["id"], []) == []  # a failure is not retried every poll

    with django_capture_on_commit_callbacks(execute=True):
        assert "queued" in event_retry(event=event)
    assert len(jira.comments[issue["id"]]) == 1
    assert CommentMap.objects.get().target_id == str(jira.comments[issue["id"]][0]["id"])


def test_old_runs_are_pruned_after_the_retention(tenant, connection, settings):
    settings.SYNC_RUN_RETENTION_DAYS = 30
    old = SyncRun.objects.create(tenant=tenant, connection=connection, trigger="schedule", outcome="success")
    SyncRun.objects.filter(pk=old.pk).update(started_at=timezone.now() - timedelta(days=31))
    recent = SyncRun.objects.create(tenant=tenant, connection=connection, trigger="schedule", outcome="success")
    assert runs_prune() >= 1
    assert list(SyncRun.objects.values_list("pk", flat=True)) == [recent.pk]


def test_processed_inbox_events_are_pruned_but_failed_ones_stay(tenant, settings):
    from sync.models import WebhookEvent

    settings.SYNC_RUN_RETENTION_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    for n, status in enumerate(["done", "ignored", "rejected", "failed", "pending"]):
        WebhookEvent.objects.create(
            tenant=tenant, delivery_id=f"d{n}", event_type="jira:issue_updated", status=status, received_at=old
        )
    WebhookEvent.objects.create(tenant=tenant, delivery_id="new", event_type="jira:issue_updated", status="done")
    runs_prune()
    assert sorted(WebhookEvent.objects.values_list("delivery_id", flat=True)) == ["d3", "d4", "new"]


def test_the_run_of_a_killed_worker_is_closed_when_its_lease_is_taken_over(
    tenant,
    connection,
    project,
    jira,
    zendesk,
    admin_agent,
):
    _status_item(tenant, connection)
    state = sync_state_get(connection=connection)
    dead = SyncRun.objects.create(tenant=tenant, connection=connection, trigger="schedule")
    SyncState.objects.filter(pk=state.pk).update(
        lease_owner="dead", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    zendesk.advance(120)
    assert _poll(connection).outcome == SyncRun.Outcome.SUCCESS
    dead.refresh_from_db()
    assert dead.outcome == SyncRun.Outcome.FAILED and "stopped before it finished" in dead.reason


def test_a_503_with_retry_after_halts_and_sets_the_next_poll(tenant, connection, project, jira, zendesk, admin_agent):
    _status_item(tenant, connection)
    zendesk.advance(120)
    zendesk.fail_next(503, {"error": "Maintenance"}, {"Retry-After": "45"}, path=r"/incremental/")
    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.HALTED and "45 s" in run.reason
    state = SyncState.objects.get()
    assert state.next_poll_at > timezone.now() + timedelta(seconds=30)
    assert ConnectedItem.objects.get().last_error == run.reason  # the admin page shows why


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_issues_are_worked_in_parallel_and_one_issue_never_in_two_threads(jira, zendesk, settings):
    from tests.sync.conftest import committed_site

    settings.SYNC_PARALLEL_ISSUES = 4
    tenant, connection = committed_site(jira, zendesk)
    item = make_item(
        tenant,
        connection,
        name="Synced",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_issue_type_id="10001",
        comment_sync=True,
        mappings=[{"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}}],
    )
    issues = [jira.add_issue(key=f"SUP-{n}") for n in range(1, 5)]
    for n in range(8):  # two tickets on each issue
        ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject=f"Ticket {n}")
        raw_link(tenant, item, issues[n % 4]["id"], ticket["id"], key=issues[n % 4]["key"])
    jira.add_latency(0.05)
    zendesk.advance(120)

    spans: list[tuple[str, str, float, float]] = []
    real = JiraClient.request
    lock = threading.Lock()

    def timed(self, method, path, **kwargs):
        start = time.monotonic()
        try:
            return real(self, method, path, **kwargs)
        finally:
            with lock:
                spans.append(
                    (
                        path.split("/")[5] if "/issue/" in path else path,
                        threading.current_thread().name,
                        start,
                        time.monotonic(),
                    )
                )

    JiraClient.request = timed
    try:
        run = _poll(connection)
    finally:
        JiraClient.request = real
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    assert run.counts["issues_updated"] == 8
    assert len({thread for _, thread, _, _ in spans}) > 1  # really in parallel
    for issue in issues:
        mine = sorted((s, e) for key, _, s, e in spans if key == issue["id"])
        assert len(mine) == 2
        assert all(b[0] >= a[1] for a, b in itertools.pairwise(mine)), "one issue in two threads"


def test_a_lease_of_a_dead_worker_on_this_machine_is_taken_over_at_once(
    tenant, connection, project, jira, zendesk, admin_agent
):
    import os
    import socket
    import subprocess
    import sys

    from sync.engine import lease_take

    _status_item(tenant, connection)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()[:30]
    state = sync_state_get(connection=connection)
    held = timezone.now() + timedelta(seconds=50)
    for owner, taken in (
        (f"{host}:{os.getpid()}:abc", False),  # alive here: wait
        (f"elsewhere:{gone.stdout.strip()}:abc", False),  # another machine: never judged, wait for expiry
        (f"{host}:{gone.stdout.strip()}:abc", True),  # its process is gone: take over now
    ):
        SyncState.objects.filter(pk=state.pk).update(lease_owner=owner, lease_expires_at=held)
        assert (lease_take(connection=connection, owner="me") is not None) is taken, owner


def test_a_closed_ticket_shows_as_no_longer_syncing_in_the_panel(
    tenant, connection, project, jira, zendesk, admin_agent
):
    from panel.api.issue_panel import cards_for_issue

    item = _status_item(tenant, connection)
    issue = jira.add_issue(key="SUP-1")
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="T", status="closed")
    raw_link(tenant, item, issue["id"], ticket["id"])
    project_id = jira.projects["SUP"]["id"]
    before = cards_for_issue(tenant=tenant, issue_id=issue["id"], project_id=project_id, issue_type_id="10001")
    assert before["cards"][0]["links"][0]["sync_stopped_at"] is None
    zendesk.advance(120)
    _poll(connection)
    after = cards_for_issue(tenant=tenant, issue_id=issue["id"], project_id=project_id, issue_type_id="10001")
    assert after["cards"][0]["links"][0]["sync_stopped_at"] is not None


def test_credentials_revoked_in_zendesk_mid_run_halt_the_run_and_keep_the_cursor(
    tenant, connection, project, jira, zendesk, admin_agent, monkeypatch
):
    from connector.clients.zendesk import ZendeskClient
    from tests.conftest import ZD_TOKEN

    item = make_item(
        tenant, connection, name="C", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10001", comment_sync=True
    )
    issue = jira.add_issue(key="SUP-1")
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="T")
    raw_link(tenant, item, issue["id"], ticket["id"])
    zendesk.advance(2)
    zendesk.add_comment(ZD_SUBDOMAIN, ticket["id"], "hello")
    zendesk.advance(120)
    real = ZendeskClient.incremental_ticket_events

    def revoked_meanwhile(self, **kwargs):  # the export answered; then an admin revokes the token
        zendesk.revoke_api_token(ZD_SUBDOMAIN, ZD_TOKEN)
        return real(self, **kwargs)

    monkeypatch.setattr(ZendeskClient, "incremental_ticket_events", revoked_meanwhile)
    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.HALTED and "credentials" in run.reason
    assert SyncState.objects.get().cursors.get("ticket", "") == "" and jira.comments.get(issue["id"], []) == []
    connection.refresh_from_db()
    assert connection.status == "auth_failed"  # confirmed by a second call, then shown on the admin page


def test_a_killed_worker_not_yet_reaped_is_a_dead_lease_owner():
    """A worker killed on this machine stays a zombie until its parent reaps it: its lease is free at once."""
    import os
    import socket
    import subprocess
    import sys

    from sync.engine import _owner_is_dead

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    time.sleep(0.5)  # it has exited; not waited for, it is a zombie
    host = socket.gethostname()[:30]
    try:
        assert _owner_is_dead(f"{host}:{child.pid}:abcd1234")
        assert not _owner_is_dead(f"{host}:{os.getpid()}:abcd1234")  # this process is alive
        assert not _owner_is_dead(f"another-host:{child.pid}:abcd1234")  # never judged elsewhere
    finally:
        child.wait()

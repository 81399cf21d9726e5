"""Auto-create from Jira: new issues of an item's project and issue type that match its JQL filter get a
Zendesk ticket each (sync.jira_create), found through Jira's search, against the fake Jira and Zendesk: only
issues created after the switch-on, only matching ones, each once — under a second sweep, a crash between
Zendesk's create and our commit, a concurrent sweep, and Jira's search index lag; the issue-created webhook
queues the sweep; refusals are reported and not retried forever."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from connector.models import ConnectedItem
from connector.providers.zendesk import ZendeskProvider
from sync.jira_create import creation_sweep, jira_create_run
from sync.models import Link, RecordCreate, SyncEvent, WebhookEvent
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import make_item

pytestmark = pytest.mark.django_db

REPORTER = {"accountId": "rita-1", "displayName": "Rita Reporter", "emailAddress": "rita@customer.test"}


@pytest.fixture(autouse=True)
def _no_grace(settings):
    settings.SYNC_RECONCILE_GRACE_SECONDS = 0


@pytest.fixture
def item(tenant, connection):
    item = make_item(
        tenant,
        connection,
        name="Bugs to tickets",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_helpdesk", "value_map": {}},
            {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira", "value_map": {}},
        ],
    )
    return switch_on(item, jql="labels = customer")


def switch_on(item, *, jql="", baseline=None):
    item.create_from_jira, item.create_jql = True, jql
    item.create_from_jira_baseline = baseline or timezone.now() - timedelta(minutes=1)
    item.save()
    return item


def new_issue(jira, key, *, labels=("customer",), **fields):
    return jira.add_issue(
        key=key,
        summary=f"Bug {key}",
        description=f"Details of {key}",
        labels=list(labels),
        reporter=dict(REPORTER),
        **fields,
    )


def stamp(*, minutes_ago: float) -> str:
    moment = timezone.now() - timedelta(minutes=minutes_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def tickets(zendesk):
    return list(zendesk.accounts[ZD_SUBDOMAIN].tickets.values())


def sweep(connection):
    run = jira_create_run(connection_id=connection.pk)
    assert run is not None
    return run


def test_new_matching_issues_get_one_ticket_each_and_a_second_sweep_adds_none(jira, zendesk, connection, item):
    first, second = new_issue(jira, "SUP-1"), new_issue(jira, "SUP-2")
    new_issue(jira, "SUP-3", labels=["internal"])  # the filter leaves it out
    run = sweep(connection)
    assert run.outcome == "success", run.reason
    made = tickets(zendesk)
    assert sorted(t["subject"] for t in made) == ["Bug SUP-1", "Bug SUP-2"]
    links = {link.jira_issue_id: link for link in Link.objects.filter(item=item)}
    assert set(links) == {first["id"], second["id"]} and {link.origin for link in links.values()} == {"auto"}
    assert all(RecordCreate.objects.get(item=item, jira_issue_id=i).automatic for i in links)
    assert SyncEvent.objects.filter(run=run, action="created", result="ok").count() == 2

    before = len(zendesk.requests)
    again = sweep(connection)
    assert again.outcome == "success" and len(tickets(zendesk)) == 2
    assert len(zendesk.requests) == before  # nothing new: not a single helpdesk call


def test_issues_created_before_auto_create_was_switched_on_are_left_alone(jira, zendesk, connection, item):
    old = new_issue(jira, "SUP-1", created=stamp(minutes_ago=3))  # made two minutes before the switch-on
    fresh = new_issue(jira, "SUP-2")
    sweep(connection)
    assert [t["subject"] for t in tickets(zendesk)] == ["Bug SUP-2"]
    assert not Link.objects.filter(jira_issue_id=old["id"]).exists()
    assert Link.objects.filter(jira_issue_id=fresh["id"]).exists()


def test_an_issue_jira_has_not_indexed_yet_is_created_by_a_later_sweep(jira, zendesk, connection, item):
    jira.search_lag_seconds = 30
    issue = new_issue(jira, "SUP-1")
    sweep(connection)
    assert not tickets(zendesk)  # Jira's search does not show it yet
    jira.advance(31)
    sweep(connection)  # the next sweep looks back past where the last one stopped
    assert [t["subject"] for t in tickets(zendesk)] == ["Bug SUP-1"]
    assert Link.objects.get(item=item).jira_issue_id == issue["id"]


def test_a_crash_between_zendesks_create_and_our_commit_makes_no_second_ticket(
    jira, zendesk, connection, item, monkeypatch
):
    new_issue(jira, "SUP-1")
    real = ZendeskProvider.record_create

    def create_then_die(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(ZendeskProvider, "record_create", create_then_die)
    run = sweep(connection)
    assert run.outcome == "failed" and len(tickets(zendesk)) == 1 and not Link.objects.exists()
    monkeypatch.setattr(ZendeskProvider, "record_create", real)
    sweep(connection)
    [ticket] = tickets(zendesk)  # found again by its external id
    assert Link.objects.get(item=item).record_id == str(ticket["id"])
    users = [u for u in zendesk.accounts[ZD_SUBDOMAIN].users.values() if u["email"] == REPORTER["emailAddress"]]
    assert len(users) == 1


def test_an_intent_another_worker_is_working_on_is_skipped(tenant, jira, zendesk, connection, item):
    issue = new_issue(jira, "SUP-1")
    RecordCreate.objects.create(
        tenant=tenant, item=item, jira_issue_id=issue["id"], source_key="k", attempts=1, attempted_at=timezone.now()
    )
    run = sweep(connection)
    assert run.outcome == "success" and not tickets(zendesk)


def test_an_issue_a_user_unlinked_is_not_created_again(jira, zendesk, connection, item):
    new_issue(jira, "SUP-1")
    sweep(connection)
    Link.objects.filter(item=item).delete()
    item.create_swept_at = None  # even a sweep that looks back over it
    item.save()
    sweep(connection)
    assert len(tickets(zendesk)) == 1


def test_a_refusal_is_reported_once_and_not_retried_by_every_sweep(jira, zendesk, connection, item):
    bare = jira.add_issue(key="SUP-1", summary="No description", labels=["customer"], reporter=dict(REPORTER))
    run = sweep(connection)
    [event] = SyncEvent.objects.filter(run=run, action="created")
    assert event.result == "error" and "SUP-1" in event.message and "Description" in event.message
    intent = RecordCreate.objects.get(item=item, jira_issue_id=bare["id"])
    assert intent.state == RecordCreate.State.FAILED and intent.automatic
    item.create_swept_at = None
    item.save()
    again = sweep(connection)
    assert not SyncEvent.objects.filter(run=again, action="created").exists() and not tickets(zendesk)


def test_a_rate_limit_ends_the_sweep_and_the_next_one_finishes_the_work(jira, zendesk, connection, item):
    new_issue(jira, "SUP-1")
    new_issue(jira, "SUP-2")
    zendesk.rate_limit_next(1, retry_after=30)
    run = sweep(connection)
    assert run.outcome == "halted" and "30 s" in run.reason
    assert not tickets(zendesk)
    sweep(connection)
    assert sorted(t["subject"] for t in tickets(zendesk)) == ["Bug SUP-1", "Bug SUP-2"]


def test_items_without_auto_create_and_display_items_make_nothing(tenant, jira, zendesk, connection, item):
    item.create_from_jira = False
    item.save()
    new_issue(jira, "SUP-1")
    assert jira_create_run(connection_id=connection.pk) is None
    assert not tickets(zendesk)


def test_a_sweep_stops_at_the_search_limit_and_continues_from_the_last_issue_read(
    jira, zendesk, connection, item, settings
):
    settings.SYNC_RECONCILE_MAX_ISSUES = 2
    switch_on(item, jql="labels = customer", baseline=timezone.now() - timedelta(minutes=30))
    for n in range(1, 6):
        new_issue(jira, f"SUP-{n}", created=stamp(minutes_ago=12 - 2 * n))
    from sync.engine import _Run
    from sync.models import SyncRun

    for rounds in range(1, 4):
        run = _Run(
            SyncRun.objects.create(tenant=item.tenant, connection=connection, trigger="manual"),
            connection,
            ZendeskProvider(),
        )
        item.refresh_from_db()
        creation_sweep(run, item)
        run.flush_events()
        assert len(tickets(zendesk)) == min(5, 2 * rounds)  # two a sweep, none skipped, none twice
    assert sorted(t["subject"] for t in tickets(zendesk)) == [f"Bug SUP-{n}" for n in range(1, 6)]


# --- the issue-created webhook ----------------------------------------------------------------------------
URL = "/jira/webhook"


def _created_payload(issue):
    return {
        "timestamp": 1,
        "webhookEvent": "jira:issue_created",
        "issue_event_type_name": "issue_created",
        "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "accountType": "atlassian"},
        "issue": {"id": issue["id"], "key": issue["key"], "fields": {"project": issue["fields"]["project"]}},
    }


def _post(client, jira, body, delivery):
    auth = jira.sign("POST", URL, account_id=None)
    return client.post(
        URL,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {auth}",
        HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER=delivery,
    )


def test_the_issue_created_webhook_queues_a_sweep_now_and_after_the_grace(
    client, jira, zendesk, connection, item, django_capture_on_commit_callbacks
):
    from django.core.cache import cache
    from django_q.models import Schedule

    cache.clear()  # no immediate sweep of an earlier test holds the connection's slot
    issue = new_issue(jira, "SUP-1")
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, jira, _created_payload(issue), "c-1")
    assert response.status_code == 204 and response["X-Deskbridge-Intake"] == "stored"
    assert [t["subject"] for t in tickets(zendesk)] == ["Bug SUP-1"]  # the sweep ran (tasks run inline here)
    later = Schedule.objects.get(func="sync.tasks.jira_create_task")
    assert later.args == f"({connection.pk},)" and later.next_run > timezone.now()
    assert _post(client, jira, _created_payload(issue), "c-1")["X-Deskbridge-Intake"] == "duplicate"
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.DONE


def test_an_issue_created_in_a_project_nothing_auto_creates_for_is_dropped(client, jira, zendesk, item):
    item.create_from_jira = False
    item.save()
    issue = new_issue(jira, "SUP-1")
    assert _post(client, jira, _created_payload(issue), "c-2")["X-Deskbridge-Intake"] == "dropped"
    assert not WebhookEvent.objects.exists() and not tickets(zendesk)


def test_issues_younger_than_the_grace_wait_for_the_next_sweep(jira, zendesk, connection, item, settings):
    """Jira's search may not show every issue of the last moments yet: a sweep stops short of them, and the
    next one (after the grace) takes them, so none is missed by a sweep that moved past it."""
    settings.SYNC_RECONCILE_GRACE_SECONDS = 60
    switch_on(item, jql="labels = customer", baseline=timezone.now() - timedelta(minutes=10))
    new_issue(jira, "SUP-1", created=stamp(minutes_ago=0.5))
    settled = new_issue(jira, "SUP-2", created=stamp(minutes_ago=0.9))
    new_issue(jira, "SUP-0", created=stamp(minutes_ago=1.5))
    sweep(connection)
    assert sorted(t["subject"] for t in tickets(zendesk)) == ["Bug SUP-0"]
    item.refresh_from_db()
    assert item.create_swept_at < timezone.now() - timedelta(seconds=59)
    assert settled["id"] not in set(Link.objects.values_list("jira_issue_id", flat=True))


def test_an_attempt_whose_process_died_on_this_machine_is_taken_over_at_once(tenant, jira, zendesk, connection, item):
    """A worker killed between Zendesk's create and our commit: its intent names its process, which is gone,
    so the next sweep looks the ticket up (found by its external id) at once instead of waiting it out."""
    import socket

    issue = new_issue(jira, "SUP-1")
    made = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Bug SUP-1", external_id="deskbridge-dead-1")
    dead = subprocess_pid_gone()
    RecordCreate.objects.create(
        tenant=tenant,
        item=item,
        jira_issue_id=issue["id"],
        source_key="deskbridge-dead-1",
        attempts=1,
        attempted_at=timezone.now(),
        attempt_owner=f"{socket.gethostname()[:30]}:{dead}:abcd1234",
        automatic=True,
    )
    sweep(connection)
    assert len(tickets(zendesk)) == 1 and Link.objects.get(item=item).record_id == str(made["id"])


def test_an_attempt_whose_process_lives_is_left_to_it(tenant, jira, zendesk, connection, item):
    import os
    import socket

    issue = new_issue(jira, "SUP-1")
    RecordCreate.objects.create(
        tenant=tenant,
        item=item,
        jira_issue_id=issue["id"],
        source_key="k",
        attempts=1,
        attempted_at=timezone.now(),
        attempt_owner=f"{socket.gethostname()[:30]}:{os.getpid()}:abcd1234",
        automatic=True,
    )
    sweep(connection)
    assert not tickets(zendesk) and not Link.objects.exists()


def subprocess_pid_gone() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_every_poll_of_the_connection_creates_what_no_webhook_announced(jira, zendesk, connection, item):
    """Jira's deliveries are best effort: the connection's poll runs the sweep too, and its run counts it."""
    from sync.engine import connection_poll
    from tests.conftest import ZD_EMAIL

    for user in zendesk.accounts[ZD_SUBDOMAIN].users.values():
        if user["email"] == ZD_EMAIL:
            user["role"] = "admin"  # reading the change stream needs an admin
    new_issue(jira, "SUP-1")
    run = connection_poll(connection_id=connection.pk)
    assert run.outcome == "success", run.reason
    assert [t["subject"] for t in tickets(zendesk)] == ["Bug SUP-1"] and run.counts["records_created"] == 1


def test_an_issue_auto_create_refused_can_still_be_created_by_a_user_with_its_own_tag(
    tenant, jira, zendesk, connection, item
):
    from sync.create import record_create_for_issue

    bare = jira.add_issue(key="SUP-1", summary="No description", labels=["customer"], reporter=dict(REPORTER))
    sweep(connection)
    assert RecordCreate.objects.get(item=item).state == RecordCreate.State.FAILED
    result = record_create_for_issue(
        tenant=tenant, item=item, issue_id=bare["id"], values={"description": "Typed by the engineer"}, actor="u"
    )
    [ticket] = tickets(zendesk)
    intent = RecordCreate.objects.get(item=item)
    assert intent.state == RecordCreate.State.DONE and intent.source_key.startswith("deskbridge-")
    assert ticket["external_id"] == intent.source_key and result.record_id == str(ticket["id"])


def test_a_burst_of_new_issues_queues_one_sweep_now_and_one_after_the_grace(
    client, jira, zendesk, connection, item, django_capture_on_commit_callbacks
):
    from django.core.cache import cache
    from django_q.models import Schedule

    cache.clear()
    with django_capture_on_commit_callbacks() as queued:
        for n in range(1, 6):
            issue = new_issue(jira, f"SUP-{n}")
            assert _post(client, jira, _created_payload(issue), f"burst-{n}")["X-Deskbridge-Intake"] == "stored"
    assert len(queued) == 1 and Schedule.objects.filter(func="sync.tasks.jira_create_task").count() == 1


def test_a_paused_item_creates_nothing_and_its_new_issues_are_dropped(client, jira, zendesk, connection, item):
    """An item paused while its connection is revoked neither sweeps nor takes issue-created webhooks."""
    item.is_paused = True
    item.save()
    issue = new_issue(jira, "SUP-1")
    assert jira_create_run(connection_id=connection.pk) is None
    assert _post(client, jira, _created_payload(issue), "p-1")["X-Deskbridge-Intake"] == "dropped"
    assert not tickets(zendesk) and not WebhookEvent.objects.exists()

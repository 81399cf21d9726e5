"""The pull engine against the fake Zendesk and fake Jira (real HTTP on loopback): mapped fields and status
reach linked issues, once; an idle poll costs one Zendesk call and no Jira call; rate limits halt the run
and keep the cursor; halts are recorded once; two workers never poll one connection at once."""

from __future__ import annotations

import pytest

from connector.clients.zendesk import ZendeskClient
from connector.models import ConnectedItem, HelpdeskConnection
from sync.engine import connection_poll, connections_due, lease_take
from sync.models import Link, SyncEvent, SyncRun, SyncState
from tests.conftest import ZD_EMAIL, ZD_SUBDOMAIN, ZD_TOKEN, postgres_only
from tests.panel.links_helpers import make_item, raw_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(tenant, connection, project, jira, zendesk, admin_agent):
    """A one-way item (subject → summary, priority → priority, status sync) and SUP-1 linked to a ticket."""
    from connector import schema

    priorities = schema.jira_priorities(tenant=tenant)
    high = next(p["id"] for p in priorities if p["name"] == "High")
    low = next(p["id"] for p in priorities if p["name"] == "Low")
    item = make_item(
        tenant,
        connection,
        name="Synced tickets",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_issue_type_id="10001",
        status_sync=True,
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
            {
                "helpdesk_field": "priority",
                "jira_field": "priority",
                "direction": "to_jira",
                "value_map": {"low": low, "normal": low, "high": high, "urgent": high},
            },
        ],
    )
    issue = jira.add_issue(key="SUP-1", summary="old summary")
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire", priority="high", status="open")
    link = raw_link(tenant, item, issue["id"], ticket["id"])
    return {"item": item, "issue": issue, "ticket": ticket, "link": link, "high": high, "low": low}


def _zendesk_api():
    return ZendeskClient(subdomain=ZD_SUBDOMAIN, email=ZD_EMAIL, api_token=ZD_TOKEN)


def _poll(connection, trigger="schedule"):
    return connection_poll(connection_id=connection.pk, trigger=trigger)


def test_a_changed_ticket_updates_its_issue_fields_and_status_once(connection, synced, jira, zendesk):
    zendesk.advance(120)  # the export withholds the most recent minute
    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.reason
    fields = jira.issues[synced["issue"]["id"]]["fields"]
    assert fields["summary"] == "Printer on fire"
    assert fields["priority"] == {"id": synced["high"]}
    assert fields["status"]["statusCategory"]["key"] == "indeterminate"  # open → In Progress
    assert run.counts["tickets_seen"] == 1 and run.counts["issues_updated"] == 1 and run.counts["transitions"] == 1
    assert run.api_calls == {"zendesk": 1, "jira": 4}  # export; edit, status read, transitions, transition
    link = Link.objects.get()
    assert link.preview["title"].endswith("Printer on fire")
    assert {e.action for e in SyncEvent.objects.all()} == {"fields", "status"}

    # Nothing changed: the next poll reads the stream once and writes nothing.
    idle = _poll(connection)
    assert idle.outcome == SyncRun.Outcome.SUCCESS and idle.api_calls == {"zendesk": 1, "jira": 0}
    exports = zendesk.calls("GET", r"/incremental/tickets/cursor\.json$")
    assert "start_time" in exports[0].query and exports[1].query["cursor"] == [
        SyncState.objects.get().cursors["ticket"]
    ]
    assert idle.counts["tickets_seen"] == 0  # the cursor moved past the ticket
    assert len(jira.edits) == 1 and len(jira.transitions_done) == 1


def test_only_changed_fields_are_written(connection, synced, jira, zendesk):
    zendesk.advance(120)
    _poll(connection)
    _zendesk_api().ticket_update(synced["ticket"]["id"], {"priority": "low"})
    zendesk.advance(120)
    run = _poll(connection)
    assert jira.edits[-1]["fields"] == {"priority": {"id": synced["low"]}}
    assert run.api_calls == {"zendesk": 1, "jira": 1}


def test_a_solved_ticket_moves_the_issue_to_done_and_a_closed_one_stops_syncing(connection, synced, jira, zendesk):
    _zendesk_api().ticket_update(synced["ticket"]["id"], {"status": "solved"})
    zendesk.advance(120)
    _poll(connection)
    assert jira.issues[synced["issue"]["id"]]["fields"]["status"]["statusCategory"]["key"] == "done"
    _zendesk_api().ticket_update(synced["ticket"]["id"], {"status": "closed"})
    zendesk.advance(120)
    _poll(connection)
    link = Link.objects.get()
    assert link.sync_stopped_at is not None
    assert SyncEvent.objects.filter(action="closed").count() == 1


def test_a_field_jira_refuses_is_reported_and_the_others_apply(connection, synced, jira, zendesk):
    jira.read_only.add("priority")
    zendesk.advance(120)
    run = _poll(connection)
    assert jira.issues[synced["issue"]["id"]]["fields"]["summary"] == "Printer on fire"
    error = SyncEvent.objects.get(result=SyncEvent.Result.ERROR)
    assert "priority" in error.message and run.counts["errors"] == 1


def test_no_transition_into_the_category_is_said_once(connection, synced, jira, zendesk):
    jira.blocked_statuses.add("3")  # In Progress cannot be reached
    zendesk.advance(120)
    _poll(connection)
    _zendesk_api().ticket_update(synced["ticket"]["id"], {"subject": "Printer still on fire"})
    zendesk.advance(120)
    _poll(connection)
    assert SyncEvent.objects.filter(action="status", result=SyncEvent.Result.SKIPPED).count() == 1


def test_a_rate_limit_halts_the_run_keeps_the_cursor_and_sets_the_next_poll(connection, synced, jira, zendesk):
    zendesk.advance(120)
    jira.fail_next(429, {"errorMessages": ["Rate limited"]}, {"Retry-After": "42"}, path=r"/issue/\d+$")
    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.HALTED and "42 s" in run.reason
    state = SyncState.objects.get()
    assert state.cursors.get("ticket", "") == "" and state.next_poll_at is not None and state.lease_owner == ""
    assert connection.pk not in connections_due()  # not before Retry-After
    state.next_poll_at = None
    state.save()
    again = _poll(connection)
    assert again.outcome == SyncRun.Outcome.SUCCESS
    assert jira.issues[synced["issue"]["id"]]["fields"]["summary"] == "Printer on fire"


def test_a_revoked_connection_is_recorded_as_halted_once(tenant, connection, synced, zendesk):
    from connector.services import connection_revoke

    connection_revoke(tenant=tenant, connection=connection)
    before = len(zendesk.requests)
    first = _poll(connection)
    assert first.outcome == SyncRun.Outcome.HALTED and "revoked" in first.reason
    assert _poll(connection) is None  # the same halt is not recorded again every minute
    assert SyncRun.objects.count() == 1 and len(zendesk.requests) == before
    assert _poll(connection, trigger="manual").outcome == SyncRun.Outcome.HALTED  # Sync now says why


def test_a_connected_agent_who_is_not_an_admin_halts_with_advice(tenant, connection, project, jira, zendesk):
    make_item(tenant, connection, name="Synced", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10001")
    run = _poll(connection)
    assert run.outcome == SyncRun.Outcome.HALTED and "admin" in run.reason


def test_a_held_lease_skips_the_poll(connection, synced, zendesk):
    assert lease_take(connection=connection, owner="other-worker") is not None
    before = len(zendesk.requests)
    assert _poll(connection) is None
    assert len(zendesk.requests) == before


def test_an_expired_lease_is_taken_over(connection, synced, zendesk):
    from datetime import timedelta

    from django.utils import timezone

    lease_take(connection=connection, owner="killed-worker")
    SyncState.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    zendesk.advance(120)
    assert _poll(connection).outcome == SyncRun.Outcome.SUCCESS


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_poll_one_connection_at_once(jira, zendesk, settings):
    import threading

    from django.db import connections
    from django.test import Client

    from tenants.models import Tenant
    from tests.conftest import post_lifecycle

    assert post_lifecycle(Client(), jira, "installed").status_code == 204
    Tenant.objects.update(license="active")
    tenant = Tenant.objects.get()
    for user in zendesk.accounts[ZD_SUBDOMAIN].users.values():
        if user["email"] == ZD_EMAIL:
            user["role"] = "admin"
    from connector.services import zendesk_connect

    jira.admins.add("x")
    jira.add_project("SUP", "Support")
    connection = zendesk_connect(tenant=tenant, subdomain=ZD_SUBDOMAIN, email=ZD_EMAIL, api_token=ZD_TOKEN)
    make_item(tenant, connection, name="Synced", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10001")
    zendesk.add_latency(0.3, path=r"/incremental/")
    barrier = threading.Barrier(2)
    results = []

    def worker():
        try:
            barrier.wait()
            results.append(connection_poll(connection_id=connection.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r is None for r in results) == [False, True]
    assert len(zendesk.calls("GET", r"/incremental/")) == 1
    assert HelpdeskConnection.objects.get().status == HelpdeskConnection.Status.CONNECTED


# --- Sync now and the run history over the configuration API ------------------------------------------------


def test_sync_now_polls_at_once_and_the_run_is_listed(
    api, connection, synced, jira, zendesk, django_capture_on_commit_callbacks
):
    zendesk.advance(120)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/connections/{connection.pk}/sync")
    assert response.status_code == 202 and response.json() == {"queued": True}
    assert jira.issues[synced["issue"]["id"]]["fields"]["summary"] == "Printer on fire"  # tests run tasks inline
    runs = api.get("/api/v1/runs").json()
    assert runs["count"] == 1
    run = runs["results"][0]
    assert set(run) == {
        "id",
        "connection",
        "trigger",
        "outcome",
        "reason",
        "started_at",
        "finished_at",
        "counts",
        "api_calls",
    }
    assert run["trigger"] == "manual" and run["outcome"] == "success" and run["connection"] == connection.pk
    assert run["counts"]["issues_updated"] == 1 and run["api_calls"]["zendesk"] == 1
    detail = api.get(f"/api/v1/runs/{run['id']}").json()
    assert {e["action"] for e in detail["events"]} == {"fields", "status"}
    assert detail["events"][0]["link"]["issue_key"] == "SUP-1"


def test_sync_now_of_a_revoked_connection_is_409_with_the_reason(api, tenant, connection, synced):
    from connector.services import connection_revoke

    connection_revoke(tenant=tenant, connection=connection)
    response = api.post(f"/api/v1/connections/{connection.pk}/sync")
    assert response.status_code == 409 and response.json()["code"] == "sync_not_possible"
    assert "revoked" in response.json()["message"] and not SyncRun.objects.exists()


def test_runs_are_newest_first_and_paginated(api, connection, synced, zendesk):
    zendesk.advance(120)
    for _ in range(3):
        connection_poll(connection_id=connection.pk)
    page = api.get("/api/v1/runs", data={"page_size": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    ids = [r["id"] for r in page["results"]]
    assert ids == sorted(ids, reverse=True)


def test_a_read_token_may_list_runs_but_not_sync(client, tenant, connection, synced):
    from tenants.services import api_token_create

    _, token = api_token_create(tenant=tenant, name="reader", created_by="t", scope="read")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get("/api/v1/runs", **auth).status_code == 200
    assert client.post(f"/api/v1/connections/{connection.pk}/sync", **auth).status_code == 403


def test_the_dispatcher_enqueues_due_connections_only(
    connection, synced, zendesk, settings, django_capture_on_commit_callbacks
):
    from sync.tasks import sync_dispatch

    zendesk.advance(120)
    assert connections_due() == [connection.pk]  # never polled
    with django_capture_on_commit_callbacks(execute=True):
        sync_dispatch()
    assert SyncRun.objects.count() == 1  # (tasks run inline in tests)
    assert connections_due() == []  # polled just now
    settings.SYNC_POLL_SECONDS = 0
    assert connections_due() == [connection.pk]


def test_the_admin_page_sync_now_button_polls_and_shows_the_last_sync(
    client, jira, tenant, connection, synced, zendesk, django_capture_on_commit_callbacks
):
    from tests.panel.conftest import AdminPage, page_text

    jira.admins.add("admin-account-1")
    page = AdminPage(client, jira)
    assert "not yet" in page_text(page.open())
    zendesk.advance(120)
    with django_capture_on_commit_callbacks(execute=True):
        response = page.post("sync_now")
    assert response.status_code == 200 and "Sync queued" in page_text(response)
    assert SyncRun.objects.get().trigger == SyncRun.Trigger.MANUAL
    assert "not yet" not in page_text(page.open())
    from connector.services import connection_revoke

    connection_revoke(tenant=tenant, connection=connection)
    refused = page.post("sync_now")
    assert refused.status_code == 409 and "revoked" in page_text(refused)


def test_the_django_admin_action_and_run_history(
    admin_client, connection, synced, zendesk, django_capture_on_commit_callbacks
):
    zendesk.advance(120)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/connector/helpdeskconnection/",
            {"action": "sync_now_action", "_selected_action": [connection.pk]},
            follow=True,
        )
    assert "a poll was queued" in response.content.decode()
    run = SyncRun.objects.get()
    page = admin_client.get(f"/admin/sync/syncrun/{run.pk}/change/")
    assert page.status_code == 200 and "Updated" in page.content.decode()

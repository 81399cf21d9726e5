"""An auto-create sweep's run whose worker died mid-sweep (no lease of its own closes it, as polls' and pushes'
leases close theirs) is closed by the next sweep of its connection, saying what happened, instead of showing
"running" in the sync history forever. A live worker's run, another connection's, and a push's are left."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from connector.models import HelpdeskConnection
from sync.jira_create import ORPHAN_RUN_HOURS
from sync.models import SyncRun
from tenants.models import Tenant
from tests.sync import test_jira_autocreate as autocreate

item = autocreate.item  # the fixture: an item auto-creating tickets for new issues labelled customer
new_issue, sweep = autocreate.new_issue, autocreate.sweep

pytestmark = pytest.mark.django_db


def dead_worker() -> str:
    """A worker on this machine whose process is gone."""
    pid = 4_000_000  # above Linux's pid_max: no process has it
    return f"{socket.gethostname()[:30]}:{pid}:deadbeef"


def running(connection, worker: str, *, trigger=SyncRun.Trigger.WEBHOOK, started=None) -> SyncRun:
    return SyncRun.objects.create(
        tenant_id=connection.tenant_id,
        connection=connection,
        trigger=trigger,
        worker=worker,
        started_at=started or timezone.now() - timedelta(minutes=1),
    )


def test_the_next_sweep_closes_the_run_of_a_dead_worker_and_leaves_live_ones(tenant, connection, jira, item):
    orphan = running(connection, dead_worker())
    live = running(connection, f"{socket.gethostname()[:30]}:{os.getpid()}:cafe0000")
    elsewhere = running(connection, "another-machine:1234:cafe0001")
    # a push's run, however old: its issue's lease closes it (sync.push), not this sweep
    push = running(connection, "", started=timezone.now() - timedelta(hours=ORPHAN_RUN_HOURS + 1))
    new_issue(jira, "SUP-1")
    run = sweep(connection)
    assert run.outcome == "success", run.reason
    assert run.worker.startswith(f"{socket.gethostname()[:30]}:{os.getpid()}:")

    orphan.refresh_from_db()
    assert orphan.outcome == SyncRun.Outcome.FAILED and orphan.finished_at is not None
    assert "stopped before it finished" in orphan.reason
    for other in (live, elsewhere, push):
        other.refresh_from_db()
        assert other.outcome == SyncRun.Outcome.RUNNING, other.pk


def test_a_run_from_another_machine_is_taken_as_stopped_after_hours(tenant, connection, jira, item):
    old = running(
        connection,
        "another-machine:1234:cafe0001",
        started=timezone.now() - timedelta(hours=ORPHAN_RUN_HOURS, minutes=1),
    )
    recent = running(
        connection, "another-machine:1234:cafe0002", started=timezone.now() - timedelta(hours=ORPHAN_RUN_HOURS - 1)
    )
    sweep(connection)
    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.outcome, recent.outcome) == (SyncRun.Outcome.FAILED, SyncRun.Outcome.RUNNING)


def test_only_the_connections_own_runs_are_closed(tenant, connection, jira, item):
    other = Tenant.objects.create(client_key="other-site", app_key="k", base_url="https://other.atlassian.net")
    theirs = HelpdeskConnection.objects.create(
        tenant=other, provider="zendesk", settings={"subdomain": "other"}, agent_id="1", status="connected"
    )
    # (a site has one helpdesk at a time; a connection row left from another, written here directly)
    former = HelpdeskConnection.objects.create(
        tenant=tenant, provider="zoho_desk", settings={}, agent_id="1", status="connected"
    )
    runs = [running(theirs, dead_worker()), running(former, dead_worker())]
    sweep(connection)
    for run in runs:
        run.refresh_from_db()
        assert run.outcome == SyncRun.Outcome.RUNNING

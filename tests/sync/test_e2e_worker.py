"""End to end, from outside: `manage.py serve` (the web server and a real `qcluster` worker, as `make run`
starts them) against the loopback fakes, on PostgreSQL. Sync now over HTTP syncs fields, status and
comments and auto-creates issues; then the whole service is killed with SIGKILL in the middle of a poll and
started again: after one more Sync now every comment is in Jira exactly once and the dead run is closed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from connector.models import ConnectedItem
from sync.descriptor import SOURCE_PROPERTY
from sync.models import Link, SyncRun
from tests.conftest import ZD_SUBDOMAIN, postgres_only
from tests.panel.links_helpers import make_item
from tests.sync.processes import database_url, free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [postgres_only, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Service:
    """`manage.py serve` in its own process group (web + qcluster), as an operator runs it."""

    def __init__(self, zendesk, tmp_path: Path):
        self.port = free_port()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "Q_SYNC": "false",
            "Q_WORKERS": "1",
            "ZENDESK_URL_TEMPLATE": zendesk.url_template,
            "SYNC_POLL_SECONDS": "3600",
            "SYNC_PARALLEL_ISSUES": "4",
            "HELPDESK_DOWNLOAD_ALLOWED_HOSTS": "localhost",
        }
        self.log = tmp_path / f"serve-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Service:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(lambda: self._healthy(), 30, "the web server to answer /healthz")
        return self

    def _healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code in (200, 503)
        except requests.RequestException:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def _fake_now(zendesk):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(zendesk.now(), tz=UTC)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def stack(jira, zendesk, tmp_path):
    from tenants.services import api_token_create
    from tests.sync.conftest import committed_site

    tenant, connection = committed_site(jira, zendesk)
    jira.indexed_properties.add(SOURCE_PROPERTY)
    item = make_item(
        tenant,
        connection,
        name="Escalations",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_issue_type_id="10001",
        status_sync=True,
        comment_sync=True,
        auto_create=True,
        auto_create_conditions={"tags": ["jira"]},
        mappings=[{"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}}],
    )
    ConnectedItem.objects.filter(pk=item.pk).update(auto_create_baseline=timezone.now() - timedelta(seconds=5))
    _, token = api_token_create(tenant=tenant, name="e2e", created_by="test")
    service = Service(zendesk, tmp_path).start()
    yield {"service": service, "connection": connection, "token": token, "item": item}
    service.stop()


def _sync_now(stack) -> SyncRun:
    before = SyncRun.objects.order_by("-id").values_list("id", flat=True).first() or 0
    response = requests.post(
        f"{stack['service'].url}/api/v1/connections/{stack['connection'].pk}/sync",
        headers={"Authorization": f"Bearer {stack['token']}"},
        timeout=10,
    )
    assert response.status_code == 202 and response.json() == {"queued": True}, response.text
    return before


def _finished_after(before: int) -> SyncRun | None:
    return SyncRun.objects.filter(id__gt=before).exclude(outcome="running").order_by("id").last()


def test_the_worker_syncs_and_survives_a_kill_mid_run(stack, jira, zendesk):
    # 1. a linked ticket changes, a new one comes in: Sync now through the web, the worker does the rest
    issue = jira.add_issue(key="SUP-1", summary="old")
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire", status="solved")
    Link.objects.create(
        tenant_id=stack["connection"].tenant_id,
        item=stack["item"],
        jira_issue_id=issue["id"],
        jira_issue_key="SUP-1",
        record_id=str(ticket["id"]),
        created_at=_fake_now(zendesk),
    )
    zendesk.advance(2)
    zendesk.add_comment(ZD_SUBDOMAIN, ticket["id"], "Smoke is gone")
    zendesk.add_ticket(ZD_SUBDOMAIN, subject="VPN down", tags=["jira"])
    zendesk.advance(120)
    before = _sync_now(stack)
    _wait(lambda: _finished_after(before) is not None, 60, "the first poll")
    run = _finished_after(before)
    assert run.outcome == "success", run.reason
    assert jira.issues[issue["id"]]["fields"]["summary"] == "Printer on fire"
    assert jira.issues[issue["id"]]["fields"]["status"]["statusCategory"]["key"] == "done"
    assert len(jira.comments[issue["id"]]) == 1
    assert [c["fields"]["summary"] for c in jira.created] == ["VPN down"]

    # 2. forty linked tickets get a comment each; the service is killed in the middle of the poll
    pairs = []
    for n in range(40):
        i = jira.add_issue(key=f"SUP-{n + 10}")
        t = zendesk.add_ticket(ZD_SUBDOMAIN, subject=f"Ticket {n}")
        Link.objects.create(
            tenant_id=stack["connection"].tenant_id,
            item=stack["item"],
            jira_issue_id=i["id"],
            jira_issue_key=i["key"],
            record_id=str(t["id"]),
            created_at=_fake_now(zendesk),  # the fake's clock runs ahead (advance): link on its time
        )
        pairs.append((i, t))
    zendesk.advance(2)
    for _, t in pairs:
        zendesk.add_comment(ZD_SUBDOMAIN, t["id"], f"Update on {t['id']}")
    zendesk.advance(120)
    jira.add_latency(0.15, path=r"/comment$")
    before = _sync_now(stack)
    _wait(lambda: len(jira.comments_added) >= 8, 60, "the poll to be under way")
    stack["service"].kill()
    copied_before_kill = sum(len(jira.comments.get(i["id"], [])) for i, _ in pairs)
    assert 0 < copied_before_kill < 40
    assert SyncRun.objects.filter(id__gt=before, outcome="running").exists()

    # 3. started again: Sync now at once; nothing lost, nothing twice, the dead run closed
    stack["service"].start()
    again = _sync_now(stack)
    _wait(lambda: _finished_after(again) is not None, 90, "the poll after the restart")
    run = _finished_after(again)
    assert run.outcome == "success", run.reason
    for i, t in pairs:
        texts = [str(c["body"]) for c in jira.comments.get(i["id"], [])]
        assert len(texts) == 1 and f"Update on {t['id']}" in texts[0], (i["key"], texts)
    dead = SyncRun.objects.get(id__gt=before, id__lt=again + 2, trigger="manual", outcome="failed")
    assert "stopped before it finished" in dead.reason
    assert len(jira.created) == 1

"""End to end, from outside: Jira → Zendesk push with the real web server (``runserver``, as ``manage.py serve``
starts it) and a real ``manage.py qcluster`` (ORM broker) in their own process groups, on PostgreSQL. The fake
Jira is subscribed with the app's descriptor (baseUrl = the server) and posts its signed webhooks over HTTP
from its own sender thread; the tests only act as humans in Jira and watch the fakes' state.

1. Human edits, a comment, a file and a transition on several linked issues reach their tickets: one Zendesk
   comment per Jira comment, the file once, the status mapped; one Jira read of the issue per event batch (the
   comments only when an event speaks of them), one Zendesk write per change; an unlinked issue costs nothing.
2. Deliveries held, then sent in reverse order and each twice: stored once, no duplicate comment, the tickets
   end with Jira's current values; a comment's two events processed in separate batches copy it once.
3. The worker is SIGKILLed while a comment's Zendesk write is in flight; a new worker (and the dispatcher's
   schedule, as ``make run`` applies it) finishes the job: every change once, no duplicate comment, nothing
   pending, no run left "running".
4. Deliveries Jira lost: Sync now's poll reconciles them and they reach Zendesk.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from connector.models import ConnectedItem
from sync.models import CommentMap, IssueState, SyncRun, WebhookEvent
from tenants.descriptor import build_descriptor
from tests.conftest import ZD_SUBDOMAIN, postgres_only
from tests.panel.links_helpers import make_item, raw_link
from tests.sync.processes import database_url, free_port

ROOT = Path(__file__).resolve().parents[2]
TICKET_PATH = r"/api/v2/tickets/\d+\.json$"  # GET and PUT of one ticket (a field update or a comment)
pytestmark = [postgres_only, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Proc:
    """One ``manage.py`` command in its own process group, its output in a log file."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path):
        self.argv, self.env, self.log = argv, env, log
        self.process: subprocess.Popen | None = None
        self.killed = False

    def start(self) -> Proc:
        with self.log.open("a") as out:
            out.write(f"--- start {' '.join(self.argv)} at {time.strftime('%H:%M:%S')}\n")
            out.flush()
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", *self.argv],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL to the whole group (the cluster's sentinel, pusher, monitor and workers at once)."""
        self.killed = True
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass


class Stack:
    """The web server (Jira posts its webhooks to it) and one qcluster at a time, as an operator runs them."""

    def __init__(self, zendesk, tmp_path: Path):
        self.port = free_port()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            # config.settings.test pins APP_BASE_URL (https://deskbridge.test); the webhook qsh still matches as
            # neither URL has a path. Set anyway, for settings that read it.
            "APP_BASE_URL": self.url,
            "Q_SYNC": "false",
            "Q_WORKERS": "2",
            "ZENDESK_URL_TEMPLATE": zendesk.url_template,
            "SYNC_POLL_SECONDS": "3600",
            "SYNC_PARALLEL_ISSUES": "1",
            "SYNC_RECONCILE_GRACE_SECONDS": "0",
            "HELPDESK_DOWNLOAD_ALLOWED_HOSTS": "localhost",
            "JIRA_DOWNLOAD_ALLOWED_HOSTS": "localhost",  # the fake Jira's media host
            "DJANGO_LOG_LEVEL": "INFO",
        }
        self.tmp_path = tmp_path
        self.web = Proc(["runserver", "--noreload", f"127.0.0.1:{self.port}"], self.env, tmp_path / "web.log")
        self.workers: list[Proc] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_web(self) -> None:
        self.web.start()
        _wait(self._healthy, 30, "the web server to answer /healthz")

    def _healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code in (200, 503)
        except requests.RequestException:
            return False

    def start_worker(self) -> Proc:
        worker = Proc(["qcluster"], self.env, self.tmp_path / f"qcluster-{len(self.workers) + 1}.log").start()
        self.workers.append(worker)
        return worker

    @property
    def worker(self) -> Proc:
        return self.workers[-1]

    def check(self) -> None:
        """Fail at once when the web server or the running worker exited by itself (it cannot start, say)."""
        for proc in (self.web, *self.workers[-1:]):
            if proc.process is not None and not proc.killed and proc.process.poll() is not None:
                raise AssertionError(f"`manage.py {' '.join(proc.argv)}` exited with code {proc.process.returncode}")

    def stop(self) -> None:
        for proc in [*self.workers, self.web]:
            try:
                proc.stop()
            except Exception as exc:  # clean up the rest whatever happens
                print(f"could not stop {proc.argv}: {exc!r}")

    def logs(self, lines: int = 150) -> str:
        out = []
        for log in sorted(self.tmp_path.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"===== {log.name} (last {len(tail)} lines) =====\n" + "\n".join(tail))
        return "\n".join(out)


def _wait(predicate: Callable[[], bool], timeout: float, what: str, *, stack: Stack | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack is not None:
            stack.check()
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _logs_on_failure(test):
    """A failing test prints the server's and the workers' logs (shown in pytest's captured output)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        try:
            return test(*args, **kwargs)
        except BaseException:
            stack = kwargs.get("stack")
            if stack is not None:
                print(stack["stack"].logs())
                print(
                    "WebhookEvents:",
                    list(WebhookEvent.objects.values_list("id", "event_type", "issue_id", "status", "last_error")),
                )
                print(
                    "IssueStates:",
                    list(IssueState.objects.values_list("jira_issue_id", "lease_owner", "lease_expires_at")),
                )
                print("SyncRuns:", list(SyncRun.objects.values_list("id", "trigger", "outcome", "reason")))
            raise

    return wrapper


@pytest.fixture
def stack(jira, zendesk, tmp_path):
    """A two-way item (Jira priority → Zendesk priority; status, comments and files) on a committed site, the
    web server up and the fake Jira subscribed to the app's webhooks (posted to the server). No worker yet."""
    from tests.sync.conftest import committed_site

    tenant, connection = committed_site(jira, zendesk)
    item = make_item(
        tenant,
        connection,
        name="Two-way tickets",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        status_sync=True,
        comment_sync=True,
        attachment_sync=True,
        mappings=[
            {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}}
        ],
    )
    service = Stack(zendesk, tmp_path)
    try:
        service.start_web()
        jira.webhooks_subscribe({**build_descriptor(), "baseUrl": service.url})
        yield {"stack": service, "tenant": tenant, "connection": connection, "item": item}
    finally:
        service.stop()


def _pairs(stack, jira, zendesk, n: int, **ticket) -> list[tuple[dict, dict]]:
    """``n`` Jira issues, each linked to a new Zendesk ticket."""
    pairs = []
    for k in range(n):
        issue = jira.add_issue(key=f"SUP-{k + 1}", summary=f"Issue {k + 1}")
        t = zendesk.add_ticket(
            ZD_SUBDOMAIN, subject=f"Ticket {k + 1}", **{"priority": "normal", "status": "open", **ticket}
        )
        raw_link(stack["tenant"], stack["item"], issue["id"], t["id"], key=issue["key"], created_at=timezone.now())
        pairs.append((issue, t))
    return pairs


# --- what the fakes show ------------------------------------------------------------------------------
def _ticket(zendesk, t) -> dict:
    return zendesk.accounts[ZD_SUBDOMAIN].tickets[t["id"]]


def _zd_comments(zendesk, t) -> list[dict]:
    return list(zendesk.accounts[ZD_SUBDOMAIN].comments[t["id"]])


def _copies(zendesk, t, jira_comment_id: str) -> list[dict]:
    """The ticket's comments that copy one Jira comment (they link back to it)."""
    marker = f"focusedCommentId={jira_comment_id}"
    return [c for c in _zd_comments(zendesk, t) if marker in (c.get("html_body") or "")]


def _files(zendesk, t, name: str) -> list[dict]:
    return [a for c in _zd_comments(zendesk, t) for a in c.get("attachments") or [] if a["file_name"] == name]


def _writes(zendesk, t) -> int:
    return zendesk.accounts[ZD_SUBDOMAIN].ticket_updates[t["id"]]


def _settled(jira) -> bool:
    """Every delivery sent, nothing pending in the inbox, no issue leased: the worker is done."""
    jira.webhooks_flush(timeout=30)
    return (
        not WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING).exists()
        and not IssueState.objects.exclude(lease_owner="").exists()
    )


def _jira_calls(jira, since: int, pattern: str, method: str = "GET") -> list[str]:
    return [r.path for r in list(jira.requests)[since:] if r.method == method and re.fullmatch(pattern, r.path)]


# --- 1 --------------------------------------------------------------------------------------------------
@_logs_on_failure
def test_human_changes_in_jira_reach_zendesk_once_with_one_read_per_batch(stack, jira, zendesk):
    pairs = _pairs(stack, jira, zendesk, 3)
    unlinked = jira.add_issue(key="SUP-99", summary="Nobody links me")
    stack["stack"].start_worker()
    jira_start = len(jira.requests)

    def phase(act: Callable[[dict, dict], None], arrived: Callable[[dict, dict], bool], what: str):
        """Act on every issue, wait until Zendesk shows it all and the worker is idle; return the phase's
        Jira requests index, the webhook runs it made and the Zendesk writes per ticket."""
        jira_before, zd_before = len(jira.requests), len(zendesk.requests)
        runs_before = set(SyncRun.objects.filter(trigger="webhook").values_list("id", flat=True))
        writes_before = {t["id"]: _writes(zendesk, t) for _, t in pairs}
        for issue, t in pairs:
            act(issue, t)
        _wait(lambda: all(arrived(i, t) for i, t in pairs) and _settled(jira), 45, what, stack=stack["stack"])
        runs = list(SyncRun.objects.filter(trigger="webhook").exclude(id__in=runs_before))
        assert runs and all(r.outcome == "success" for r in runs), [(r.outcome, r.reason) for r in runs]
        zd_writes = [r for r in list(zendesk.requests)[zd_before:] if r.method != "GET"]
        delta = {t["id"]: _writes(zendesk, t) - writes_before[t["id"]] for _, t in pairs}
        return jira_before, runs, zd_writes, delta

    def issue_reads(since):
        return _jira_calls(jira, since, r"/rest/api/3/issue/\d+")

    def comment_reads(since):
        return _jira_calls(jira, since, r"/rest/api/3/issue/\d+/comment")

    # a. a field edit: one event per issue, one batch, one read of the issue, one ticket update
    since, runs, zd_writes, delta = phase(
        lambda i, t: jira.user_edit(i, {"priority": {"name": "Highest"}}),
        lambda i, t: _ticket(zendesk, t)["priority"] == "urgent",
        "the priorities in Zendesk",
    )
    assert sorted(issue_reads(since)) == sorted(f"/rest/api/3/issue/{i['id']}" for i, _ in pairs)
    assert comment_reads(since) == [] and len(runs) == len(pairs)
    assert delta == {t["id"]: 1 for _, t in pairs} and len(zd_writes) == len(pairs)
    assert all(_ticket(zendesk, t)["status"] == "open" for _, t in pairs)  # Jira's To Do leaves it open

    # b. a comment: two events (comment_created, issue_updated) → one or two batches, each reading the issue
    # and its comments once; one public Zendesk comment per Jira comment, written once
    made: dict[str, dict] = {}
    since, runs, zd_writes, delta = phase(
        lambda i, t: made.__setitem__(i["id"], jira.user_comment(i, f"Root cause found for {i['key']}.")),
        lambda i, t: bool(_copies(zendesk, t, made[i["id"]]["id"])),
        "the comments in Zendesk",
    )
    reads = issue_reads(since)
    assert len(reads) == len(runs) == len(comment_reads(since)), (reads, len(runs))
    for issue, _ in pairs:
        assert 1 <= reads.count(f"/rest/api/3/issue/{issue['id']}") <= 2  # never more reads than events
    assert delta == {t["id"]: 1 for _, t in pairs} and len(zd_writes) == len(pairs)
    for issue, t in pairs:
        (copy,) = _copies(zendesk, t, made[issue["id"]]["id"])
        assert copy["public"] is True and f"Root cause found for {issue['key']}." in copy["plain_body"]
        assert f"Mia Krystof commented on {issue['key']}:" in copy["plain_body"]

    # c. a file: attachment_created names no issue (dropped); the issue's update brings it, downloaded once
    # from the media host without our JWT, uploaded once, on one internal note
    downloads = len(jira.media_downloads)
    since, runs, zd_writes, delta = phase(
        lambda i, t: jira.user_attach(i, f"trace-{i['key']}.log", b"x" * 3000, "text/plain"),
        lambda i, t: bool(_files(zendesk, t, f"trace-{i['key']}.log")),
        "the files in Zendesk",
    )
    assert len(issue_reads(since)) == len(runs) == len(pairs) and comment_reads(since) == []
    assert len(_jira_calls(jira, since, r"/rest/api/3/attachment/content/\d+")) == len(pairs)
    assert len(jira.media_downloads) - downloads == len(pairs)
    assert delta == {t["id"]: 1 for _, t in pairs}
    assert sorted(r.method for r in zd_writes) == ["POST"] * len(pairs) + ["PUT"] * len(pairs)  # upload + note
    for issue, t in pairs:
        (file,) = _files(zendesk, t, f"trace-{issue['key']}.log")
        assert file["size"] == 3000
        note = next(c for c in _zd_comments(zendesk, t) if c["attachments"])
        assert note["public"] is False and f"attached trace-{issue['key']}.log to {issue['key']}" in note["plain_body"]

    # d. a transition to Done: the ticket is solved, in one update
    since, runs, zd_writes, delta = phase(
        lambda i, t: jira.user_transition(i, "Done"),
        lambda i, t: _ticket(zendesk, t)["status"] == "solved",
        "the solved tickets",
    )
    assert len(issue_reads(since)) == len(runs) == len(pairs) and comment_reads(since) == []
    assert delta == {t["id"]: 1 for _, t in pairs} and len(zd_writes) == len(pairs)

    # e. an unlinked issue's change is answered and dropped: not stored, never read
    jira.user_edit(unlinked, {"priority": {"name": "High"}})
    jira.webhooks_flush(timeout=30)
    assert not WebhookEvent.objects.filter(issue_id=unlinked["id"]).exists()
    assert not _jira_calls(jira, jira_start, rf"/rest/api/3/issue/{unlinked['id']}(/.*)?")

    # Overall: every delivery was accepted, each Jira comment and file is in Zendesk exactly once, the
    # values are Jira's, and the push never wrote to Jira.
    assert {d["status"] for d in jira.webhook_deliveries} == {204}
    stored = WebhookEvent.objects.exclude(issue_id=unlinked["id"])
    assert stored.count() == len(pairs) * 5 and set(stored.values_list("status", flat=True)) == {"done"}
    for issue, t in pairs:
        assert len(_copies(zendesk, t, made[issue["id"]]["id"])) == 1
        assert len(_files(zendesk, t, f"trace-{issue['key']}.log")) == 1
        assert len(_zd_comments(zendesk, t)) == 3  # the ticket's description, the comment, the file's note
        assert (_ticket(zendesk, t)["priority"], _ticket(zendesk, t)["status"]) == ("urgent", "solved")
    assert [r.method for r in list(jira.requests)[jira_start:] if r.method != "GET"] == []


# --- 2 --------------------------------------------------------------------------------------------------
@_logs_on_failure
def test_duplicated_and_reversed_deliveries_end_with_jiras_current_values(stack, jira, zendesk):
    service = stack["stack"]
    (a, ta), (b, tb) = _pairs(stack, jira, zendesk, 2, status="new")
    service.start_worker()
    jira.webhooks_hold()
    jira.user_edit(a, {"priority": {"name": "High"}})
    c1 = jira.user_comment(a, "First look: the disk is full.")
    jira.user_edit(a, {"priority": {"name": "Low"}})
    c2 = jira.user_comment(a, "Second look: it was the logs.")
    jira.user_transition(a, "In Progress")
    c3 = jira.user_comment(b, "Escalated to the vendor.")
    jira.user_edit(b, {"priority": {"name": "Highest"}})
    jira.user_transition(b, "Done")
    sent = jira.webhooks_release(order="reverse", duplicate=True)
    assert len(sent) == 2 * 11 and len(set(sent)) == 11

    def arrived() -> bool:
        return (
            all(_copies(zendesk, t, c["id"]) for t, c in ((ta, c1), (ta, c2), (tb, c3)))
            and (_ticket(zendesk, ta)["priority"], _ticket(zendesk, ta)["status"]) == ("low", "open")
            and (_ticket(zendesk, tb)["priority"], _ticket(zendesk, tb)["status"]) == ("urgent", "solved")
        )

    _wait(lambda: arrived() and _settled(jira), 45, "Jira's current values in Zendesk", stack=service)
    # every delivery answered, each stored once (the retry is recognised by its identifier)
    records = [d for d in jira.webhook_deliveries if d["identifier"] in set(sent)]
    assert len(records) == 22 and {d["status"] for d in records} == {204}
    assert WebhookEvent.objects.count() == 11
    assert set(WebhookEvent.objects.values_list("delivery_id", flat=True)) == set(sent)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"done"}
    # each Jira comment once, in Jira's order, although its events came last-first
    for t, c in ((ta, c1), (ta, c2), (tb, c3)):
        assert len(_copies(zendesk, t, c["id"])) == 1
    order = [c["id"] for c in _zd_comments(zendesk, ta)]
    assert order.index(_copies(zendesk, ta, c1["id"])[0]["id"]) < order.index(_copies(zendesk, ta, c2["id"])[0]["id"])
    # fields and status once per ticket (the stale High was never written), plus one write per comment
    assert (_writes(zendesk, ta), _writes(zendesk, tb)) == (1 + 2, 1 + 1)
    written = [
        json.loads(r.body)["ticket"].get("priority")
        for r in list(zendesk.requests)
        if r.method == "PUT" and r.path.endswith(f"/tickets/{ta['id']}.json")
    ]
    assert [p for p in written if p] == ["low"]  # the stale High was never sent
    assert all(r.outcome == "success" for r in SyncRun.objects.filter(trigger="webhook"))

    # Deterministically split over batches: a new comment's issue_updated comes first (its batch copies the
    # comment), its comment_created later (another batch, nothing more to copy), then both again (Jira's
    # retries after lost acknowledgements). Posted over HTTP as the fake signed them.
    jira.webhooks_hold()
    c4 = jira.user_comment(a, "Third look: rotated and compressed.")
    taken = {d["event"]: d for d in jira.webhooks_take()}
    jira.webhooks_release()  # nothing held: back to sending as things happen

    def post(delivery) -> str:
        response = requests.post(
            f"{service.url}{delivery['path']}", data=delivery["body"], headers=delivery["headers"], timeout=10
        )
        assert response.status_code == 204, response.text
        return response.headers["X-Deskbridge-Intake"]

    assert post(taken["jira:issue_updated"]) == "stored"
    _wait(lambda: _copies(zendesk, ta, c4["id"]) and _settled(jira), 30, "the late comment", stack=service)
    assert post(taken["comment_created"]) == "stored"
    _wait(lambda: _settled(jira), 30, "the comment's second event to be processed", stack=service)
    assert [post(d) for d in taken.values()] == ["duplicate", "duplicate"]
    assert len(_copies(zendesk, ta, c4["id"])) == 1 and _writes(zendesk, ta) == 3 + 1
    assert WebhookEvent.objects.count() == 13
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"done"}


# --- 3 --------------------------------------------------------------------------------------------------
@_logs_on_failure
def test_a_worker_killed_mid_write_loses_nothing_and_duplicates_nothing(stack, jira, zendesk):
    call_command("apply_schedules", stdout=io.StringIO())  # as `make run` does: the dispatcher every minute
    pairs = _pairs(stack, jira, zendesk, 6)
    made = {}
    # Jira's deliveries are stored while no worker runs: each issue's three tasks wait in the ORM queue.
    for issue, _ in pairs:
        jira.user_edit(issue, {"priority": {"name": "High"}})
        made[issue["id"]] = jira.user_comment(issue, f"Status update on {issue['key']}.")
    jira.webhooks_flush(timeout=30)
    assert WebhookEvent.objects.filter(status="pending").count() == 3 * len(pairs)
    zendesk.add_latency(1.0, path=TICKET_PATH)  # every ticket read or write takes a second

    first = stack["stack"].start_worker()

    # Kill the whole cluster while a comment's Zendesk write is in flight: its map row is written first, and
    # the fake has received the write (it answers a second later). Killed between the two, the write would
    # never leave: a case the recovery handles too, but not the one this test is about.
    def in_flight() -> bool:
        rows = CommentMap.objects.filter(source_side="jira", target_id="").values_list("link__record_id", "source_id")
        received = [r for r in list(zendesk.received) if r.method == "PUT" and b"focusedCommentId=" in r.body]
        return any(
            r.path.endswith(f"/tickets/{record}.json") and f"focusedCommentId={source}".encode() in r.body
            for record, source in rows
            for r in received
        )

    _wait(in_flight, 45, "a comment write in flight", stack=stack["stack"])
    first.kill()
    killed_at = time.monotonic()
    assert WebhookEvent.objects.filter(status="pending").exists(), "the kill came after the work was done"
    dead = list(IssueState.objects.exclude(lease_owner="").values_list("jira_issue_id", "lease_owner"))
    assert dead, "no issue was being processed at the kill"
    pids = [int(owner.split(":")[1]) for _, owner in dead]
    _wait(lambda: not any(psutil.pid_exists(p) for p in pids), 10, f"the killed workers {pids} to be gone")
    # The write in flight lands in Zendesk after its worker died: the app never learnt the comment's id.
    cut_short = list(
        CommentMap.objects.filter(source_side="jira", target_id="").values_list("link__record_id", "source_id")
    )
    assert cut_short
    _wait(
        lambda: all(_copies(zendesk, {"id": int(record)}, source) for record, source in cut_short),
        10,
        "the comment written when the worker died to land in Zendesk",
    )

    # A new worker; the dispatcher's sweep (its first run ~30 s after the cluster starts) re-enqueues the
    # issues whose tasks died with the old cluster, including those whose lease the dead worker still holds.
    stack["stack"].start_worker()

    def done() -> bool:
        return all(
            _copies(zendesk, t, made[i["id"]]["id"]) and _ticket(zendesk, t)["priority"] == "high" for i, t in pairs
        ) and _settled(jira)

    _wait(
        done, 75, f"every change in Zendesk after the restart (leased by the dead worker: {dead})", stack=stack["stack"]
    )
    recovered_in = time.monotonic() - killed_at
    for issue, t in pairs:
        copies = _copies(zendesk, t, made[issue["id"]]["id"])
        assert len(copies) == 1, (issue["key"], [c["plain_body"] for c in copies])
        assert f"Status update on {issue['key']}." in copies[0]["plain_body"]
        assert _ticket(zendesk, t)["priority"] == "high"
    statuses = set(WebhookEvent.objects.values_list("status", flat=True))
    assert "pending" not in statuses and "failed" not in statuses, statuses
    assert CommentMap.objects.filter(source_side="jira").exclude(target_id__regex=r"^\d+$").count() == 0
    assert not jira.comments_added  # nothing the push wrote to Zendesk came back to Jira
    print(f"recovered {recovered_in:.1f} s after the kill")
    # The batches the kill cut short are not shown as running forever in the sync history (a killed poll's
    # run is closed as failed when the next poll takes its lease over).
    stuck = list(SyncRun.objects.filter(outcome="running").values_list("id", "trigger", "started_at"))
    assert stuck == [], f"runs of the killed worker still say running: {stuck}"


# --- 4 --------------------------------------------------------------------------------------------------
@_logs_on_failure
def test_lost_deliveries_reach_zendesk_through_the_polls_reconcile(stack, jira, zendesk):
    from tenants.services import api_token_create

    (a, ta), (b, tb), (c, tc) = _pairs(stack, jira, zendesk, 3)
    stack["stack"].start_worker()
    jira.webhooks_drop_next(1)
    jira.user_edit(a, {"priority": {"name": "Highest"}})  # its one delivery is lost
    jira.webhooks_drop_next(2)
    lost = jira.user_comment(b, "This one Jira never told you about.")  # both of its deliveries are lost
    jira.user_edit(c, {"priority": {"name": "Low"}})  # delivered: the worker is alive
    _wait(
        lambda: _ticket(zendesk, tc)["priority"] == "low" and _settled(jira),
        30,
        "the delivered change",
        stack=stack["stack"],
    )
    assert sum(d["dropped"] for d in jira.webhook_deliveries) == 3
    assert not WebhookEvent.objects.filter(issue_id__in=[a["id"], b["id"]]).exists()
    assert _ticket(zendesk, ta)["priority"] == "normal" and not _copies(zendesk, tb, lost["id"])

    # Sync now (as an admin's script would): the poll's reconcile finds the two changes
    _, token = api_token_create(tenant=stack["tenant"], name="e2e", created_by="test")
    response = requests.post(
        f"{stack['stack'].url}/api/v1/connections/{stack['connection'].pk}/sync",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    _wait(
        lambda: _ticket(zendesk, ta)["priority"] == "urgent" and _copies(zendesk, tb, lost["id"]) and _settled(jira),
        45,
        "the reconciled changes in Zendesk",
        stack=stack["stack"],
    )
    run = SyncRun.objects.get(trigger="manual")
    _wait(lambda: SyncRun.objects.get(pk=run.pk).outcome != "running", 30, "the poll to finish")
    run.refresh_from_db()
    assert run.outcome == "success", run.reason
    # A and B; not C: its delivered priority change's pass read the issue with its comment field, so it saw
    # every change up to the issue's ``updated`` (sync.push)
    assert run.counts.get("reconciled") == 2, run.counts
    reconciled = WebhookEvent.objects.filter(event_type="reconcile")
    assert sorted(reconciled.values_list("issue_id", flat=True)) == sorted([a["id"], b["id"]])
    assert set(reconciled.values_list("status", flat=True)) == {"done"}
    assert len(_copies(zendesk, tb, lost["id"])) == 1
    assert _ticket(zendesk, tc)["priority"] == "low"

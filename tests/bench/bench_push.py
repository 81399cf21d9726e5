"""Push benchmark: Jira webhooks → the inbox → the push engine → Zendesk, end to end on loopback.

The service runs as `make run` runs it: `manage.py serve` (Django's runserver and a real `manage.py qcluster`
on the ORM broker, settings as make run's defaults) on PostgreSQL, against the loopback fakes. The fake Jira
delivers its Connect webhooks over HTTP to the server, signed like Jira (descriptor baseUrl = the server); the
fake Zendesk (a subclass here) notes when each ticket PUT arrives.

Fixed workload: one tenant, one two-way item (Jira priority → Zendesk priority, status sync, comment sync),
50 issues each linked to its own ticket ("hot"), 100 more linked pairs for the lost-delivery run, one warm-up
pair; links as they stand after their first poll (open tickets, In Progress issues). Prints:

  (a) Jira → Zendesk: 500 human priority edits (10 per hot issue, round robin, at --rate/s at most, and
      never more than SENDER_BACKLOG deliveries waiting in the fake Jira's one-at-a-time sender), from the
      moment the fake Jira POSTs the webhook until the ticket holds the change (the last ticket PUT before
      the event was marked processed; 0 when none came after the POST: the ticket already held it): p50,
      p95, max, with its parts, the worker's batches, CPU and API calls per event       target p95 < 1 s
  (b) the endpoint's own response time, 50 concurrent clients (500 signed deliveries of linked issues,
      fresh delivery ids, each POST on its own connection as Jira sends them; a 1-client reference
      first): p50, p95, and every answer that is not a 204                            target p95 < 50 ms
  (c) events for unlinked issues absorbed per second: signed POSTs from --unlinked-clients clients for
      --unlinked-seconds, counting 204 "dropped" answers                               target ≥ 500/s
  (d) lost deliveries: 100 changes (50 priority edits, 25 transitions to Done, 25 comments, each on its own
      issue) whose webhooks are all dropped, then one Sync now: how many reach Zendesk through that
      poll's reconcile, and when                                                       target 100 of 100

Each phase also prints the peak of PostgreSQL sessions (and who held them) and the CPU that other processes
of this machine used meanwhile: on a shared machine the figures are pessimistic.

Correctness (exit 1 if broken): every ticket ends with its issue's values, no comment is copied twice,
no inbox event fails, unlinked events are never stored. Figures are printed, never asserted.

    make bench-push      # or: .venv/bin/python tests/bench/bench_push.py [--rate 50] [--phases abcd]
                         #   [--server serve|gunicorn] [--settings dotted.module]  (Q_WORKERS=… is passed on)

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/deskbridge_bench_push; that
database is dropped and created again).
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import multiprocessing as mp
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "bench-secret-key-" + "x" * 40,
    "FIELD_ENCRYPTION_KEY": "YmVuY2gtb25seS1mZXJuZXQta2V5LTAwMDAwMDAwMDA=",
    # The qsh of a webhook covers the path relative to the app's base URL: any host with an empty path works.
    "APP_BASE_URL": "https://deskbridge.bench",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_LOG_LEVEL": "WARNING",
    "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/deskbridge_bench_push"),
    "JIRA_ALLOWED_BASE_URLS": "http://127.0.0.1:*",
    "SYNC_POLL_SECONDS": "86400",  # only Sync now starts a poll here
    "SYNC_RECONCILE_GRACE_SECONDS": "0",  # the lost-delivery run polls right after the changes
}
SUBDOMAIN = "bench"
AGENT_EMAIL = "admin@bench.test"
AGENT_TOKEN = "bench-zendesk-token-0123456789"
WEBHOOK_PATH = "/jira/webhook"
# Each edit of an issue moves its priority one step along this cycle (it starts at Medium / normal):
# consecutive values always differ, in Jira and in Zendesk.
CYCLE = [("2", "High", "high"), ("1", "Highest", "urgent"), ("4", "Low", "low"), ("3", "Medium", "normal")]
TO_ZENDESK = {name: zd for _, name, zd in CYCLE}
UNLINKED_BASE = 900_000_000  # issue ids no link names
SENDER_BACKLOG = 3  # (a): deliveries the fake Jira may hold unsent before the next edit waits


# --- statistics ------------------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5 - 1e-9)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds == seconds else "n/a"


def spread(values: list[float]) -> str:
    return f"p50 {ms(pct(values, 50))}, p95 {ms(pct(values, 95))}, max {ms(max(values) if values else float('nan'))}"


# --- fakes that note when things happen (subclasses: the fakes themselves are not changed) -------------------
def _fakes():
    from demo.fakes.jira import FakeJira
    from demo.fakes.zendesk import FakeZendesk

    class TimedJira(FakeJira):
        """Notes the wall-clock moment each delivery's first POST is signed and sent."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.posted: dict[str, float] = {}

        def webhook_request(self, delivery, retry=0):
            answer = super().webhook_request(delivery, retry)
            self.posted.setdefault(delivery["identifier"], time.time())
            return answer

    class TimedZendesk(FakeZendesk):
        """Notes every ticket PUT: arrival moment, ticket id, the ``ticket`` body, the status answered."""

        PUT = re.compile(r"^/zd/[^/]+/api/v2/tickets/(\d+)\.json$")

        def __init__(self):
            super().__init__()
            self.puts: list[dict] = []

        def dispatch(self, method, raw_path, headers, body):
            arrived = time.time()
            answer = super().dispatch(method, raw_path, headers, body)
            if method == "PUT":
                match = self.PUT.match(raw_path.split("?", 1)[0])
                if match:
                    try:
                        ticket = (json.loads(body.decode()) or {}).get("ticket") or {}
                    except ValueError:
                        ticket = {}
                    with self._lock:
                        self.puts.append(
                            {"at": arrived, "ticket": int(match.group(1)), "body": ticket, "status": answer[0]}
                        )
            return answer

    return TimedJira, TimedZendesk


# --- database, service --------------------------------------------------------------------------------------
def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgPeak(threading.Thread):
    """Samples the PostgreSQL sessions (all databases: max_connections is server-wide) every 50 ms and keeps
    the peak since the last ``take()``, with the processes holding them at that moment."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.peak, self.limit, self.stopped = url, 0, 0, False
        self.holders: collections.Counter = collections.Counter()
        self.service: Service | None = None

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            self.limit = int(conn.execute("SHOW max_connections").fetchone()[0])
            while not self.stopped:
                ports = [
                    row[0]
                    for row in conn.execute(
                        "SELECT client_port FROM pg_stat_activity WHERE backend_type = 'client backend'"
                    ).fetchall()
                ]
                if len(ports) > self.peak:
                    self.peak, self.holders = len(ports), self._holders(set(ports))
                time.sleep(0.05)

    def _holders(self, ports: set) -> collections.Counter:
        import psutil

        holders: collections.Counter = collections.Counter()
        roles = {os.getpid(): "bench"}
        if self.service is not None:
            for role, procs in self.service.processes().items():
                roles.update({p.pid: role for p in procs})
        try:
            for c in psutil.net_connections(kind="tcp"):
                if c.laddr and c.laddr.port in ports and c.raddr and c.raddr.port == 5432:
                    holders[roles.get(c.pid, "other")] += 1
        except psutil.Error:
            pass
        return holders

    def take(self) -> str:
        peak, holders, self.peak, self.holders = self.peak, self.holders, 0, collections.Counter()
        return f"{peak} of max_connections {self.limit} ({', '.join(f'{k} {n}' for k, n in holders.most_common())})"


class OtherLoad:
    """CPU used by processes outside the benchmark (and outside PostgreSQL) during a phase: this machine's other
    work, which shares its cores with the service, the fakes and the database."""

    def __init__(self):
        self.mine: set[int] = set()
        self.snap: dict[int, float] = {}
        self.t0 = 0.0

    def _cpu(self) -> dict[int, float]:
        import psutil

        out = {}
        for p in psutil.process_iter(["pid", "ppid", "name", "cpu_times"]):
            info = p.info
            times = info.get("cpu_times")
            if times is None or info["name"].startswith("postgres") or self._ours(p):
                continue
            out[info["pid"]] = times.user + times.system
        return out

    def _ours(self, proc) -> bool:
        import psutil

        try:
            return any(x.pid in self.mine for x in [proc, *proc.parents()])
        except psutil.Error:
            return True

    def start(self, *pids: int) -> None:
        self.mine = {os.getpid(), *pids}
        self.snap, self.t0 = self._cpu(), time.monotonic()

    def share(self) -> str:
        """CPUs' worth used by other processes since start()."""
        now, wall = self._cpu(), time.monotonic() - self.t0
        used = sum(cpu - self.snap.get(pid, 0.0) for pid, cpu in now.items())
        return f"{used / max(wall, 1e-6):.2f} of {os.cpu_count()} CPUs"


class Service:
    """The web server and the task cluster as subprocesses: `manage.py serve` (what `make run` starts:
    runserver + qcluster) or, with --server gunicorn, gunicorn (one worker per core) and `manage.py qcluster`."""

    def __init__(self, kind: str, env: dict[str, str]):
        self.kind, self.env, self.port = kind, env, free_port()
        self.log = open(ROOT / ".bench-push-service.log", "w")  # noqa: SIM115 - closed in stop()
        self.procs: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Service:
        manage = [sys.executable, "manage.py"]
        if self.kind == "serve":
            commands = [[*manage, "serve", "--host", "127.0.0.1", "--port", str(self.port)]]
        else:
            workers = str(os.cpu_count() or 2)
            commands = [
                [*manage, "qcluster"],
                [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", workers, "--bind",
                 f"127.0.0.1:{self.port}", "--log-level", "warning"],
            ]  # fmt: skip
        for command in commands:
            self.procs.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status in (200, 503):
                    conn.close()
                    time.sleep(2)  # the cluster starts its workers
                    return self
            except OSError:
                pass
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"the service did not start; see {self.log.name}")

    def processes(self) -> dict[str, list]:
        """The service's processes by role: web (runserver / gunicorn) and worker (qcluster and its children)."""
        import psutil

        roles: dict[str, list] = {"web": [], "worker": []}
        for proc in self.procs:
            try:
                tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            except psutil.Error:
                continue
            for p in tree:
                try:
                    line = " ".join(p.cmdline())
                except psutil.Error:
                    continue
                if "qcluster" in line or "multiprocessing" in line:
                    roles["worker"].append(p)
                elif "runserver" in line or "gunicorn" in line:
                    roles["web"].append(p)
        return roles

    def cpu(self) -> dict[str, float]:
        import psutil

        totals = {}
        for role, procs in self.processes().items():
            total = 0.0
            for p in procs:
                try:  # reaped children count in their parent (django-q2 recycles its worker processes)
                    t = p.cpu_times()
                    total += t.user + t.system + t.children_user + t.children_system
                except psutil.Error:
                    pass
            totals[role] = total
        return totals

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.log.close()


# --- load generator: processes x threads, each request on its own connection, as Jira sends them -------------
def _fire(job: dict) -> list[tuple[float, float, int, str]]:
    """Run in a spawned process: ``threads`` threads POST signed deliveries. Either the ``batches`` given (one
    list of (headers, body) per thread) or, for ``seconds``, deliveries made from ``template`` for issue ids
    counting up from ``issue_base`` (signed here). Returns (start, seconds, status, intake) per request."""
    import jwt
    from atlassian_jwt.url_utils import hash_url

    qsh = hash_url("POST", job["path"])
    results: list[tuple[float, float, int, str]] = []
    lock = threading.Lock()

    def post(headers: dict, body: bytes) -> None:
        started = time.time()
        t0 = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", job["port"], timeout=30)
            conn.request("POST", job["path"], body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status, intake = response.status, response.getheader("X-Deskbridge-Intake") or ""
            conn.close()
        except OSError as exc:
            status, intake = 0, type(exc).__name__
        with lock:
            results.append((started, time.perf_counter() - t0, status, intake))

    def signed(issue_id: int) -> tuple[dict, bytes]:
        now = int(time.time())
        token = jwt.encode(
            {"iss": job["client_key"], "iat": now, "exp": now + 180, "qsh": qsh}, job["secret"], algorithm="HS256"
        )
        payload = json.loads(job["template"])
        payload["issue"]["id"], payload["issue"]["key"] = str(issue_id), f"OTHER-{issue_id}"
        headers = {
            "Authorization": f"JWT {token}",
            "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
            "X-Atlassian-Webhook-Retry": "0",
            "X-Atlassian-Webhook-Flow": "Primary",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "Content-Type": "application/json",
        }
        return headers, json.dumps(payload).encode()

    def run(index: int) -> None:
        time.sleep(max(0.0, job["start_at"] - time.time()))
        if "batches" in job:
            for headers, body in job["batches"][index]:
                post(headers, body)
            return
        n = 0
        while time.time() < job["start_at"] + job["seconds"]:
            post(*signed(job["issue_base"] + index * 1_000_000 + n))
            n += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(job["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def fire(jobs: list[dict]) -> list[tuple[float, float, int, str]]:
    context = mp.get_context("spawn")
    with context.Pool(len(jobs)) as pool:
        return [row for rows in pool.map(_fire, jobs) for row in rows]


# --- the benchmark --------------------------------------------------------------------------------------------
@dataclass
class Ctx:
    args: argparse.Namespace
    zendesk: Any
    jira: Any
    service: Service
    site: dict
    pg: PgPeak
    other: OtherLoad = field(default_factory=OtherLoad)
    figures: list[tuple[str, str, str]] = field(default_factory=list)  # (figure, value, target and verdict)
    problems: list[str] = field(default_factory=list)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=50)
    parser.add_argument("--edits", type=int, default=10, help="human edits per hot issue")
    parser.add_argument("--rate", type=float, default=50.0, help="edits per second in (a)")
    parser.add_argument("--concurrent", type=int, default=50, help="concurrent deliveries in (b)")
    parser.add_argument("--per-client", type=int, default=10, help="deliveries per client in (b)")
    parser.add_argument("--unlinked-clients", type=int, default=32)
    parser.add_argument("--unlinked-seconds", type=float, default=10.0)
    parser.add_argument("--lost", type=int, default=100)
    parser.add_argument("--server", choices=("serve", "gunicorn"), default="serve")
    parser.add_argument("--phases", default="abcd", help="which of (a) (b) (c) (d) to run")
    parser.add_argument(
        "--task-history", type=int, default=None, help="saved task results to start with (default: save_limit)"
    )
    parser.add_argument(
        "--settings", default=ENV["DJANGO_SETTINGS_MODULE"], help="settings module of the service (experiments)"
    )
    args = parser.parse_args()
    started = time.monotonic()

    os.environ.update({**ENV, "DJANGO_SETTINGS_MODULE": args.settings})
    ensure_database(ENV["DATABASE_URL"])
    TimedJira, TimedZendesk = _fakes()
    zendesk = TimedZendesk().start()
    os.environ["ZENDESK_URL_TEMPLATE"] = zendesk.url_template

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    jira = TimedJira(app_key=settings.ATLASSIAN_APP_KEY).start()
    pg = PgPeak(ENV["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres")
    pg.start()
    service = None
    try:
        site = _setup(args, zendesk, jira)
        service = Service(args.server, {**os.environ}).start()
        pg.service = service
        jira.webhooks_subscribe({**_descriptor(), "baseUrl": service.url})
        ok = _bench(Ctx(args, zendesk, jira, service, site, pg))
    finally:
        pg.stopped = True
        if service is not None:
            service.stop()
        zendesk.stop()
        jira.stop()
    print(f"\n(whole run: {time.monotonic() - started:.0f} s, set-up and the fresh database included)")
    return 0 if ok else 1


def _descriptor() -> dict:
    from tenants.descriptor import build_descriptor

    return build_descriptor()


def _setup(args, zendesk, jira) -> dict:
    from connector.models import ConnectedItem
    from connector.services import zendesk_connect
    from connector.services.items import ItemSpec, connected_item_save
    from sync.engine import HELPDESK_STATUS_KEY, JIRA_STATUS_KEY, STATUS_KEY, sync_state_get
    from sync.models import Link, SyncState
    from tenants.models import Tenant

    zendesk.add_account(SUBDOMAIN, rate_limit=1_000_000)  # the agents making the changes are not us
    zendesk.add_agent(SUBDOMAIN, AGENT_EMAIL, AGENT_TOKEN, name="Bench Admin")
    for user in zendesk.accounts[SUBDOMAIN].users.values():
        if user["email"] == AGENT_EMAIL:
            user["role"] = "admin"  # the poll reads the incremental exports
    jira.add_project("SUP", "Support")
    tenant = Tenant.objects.create(
        client_key=jira.client_key,
        app_key=jira.app_key,
        base_url=jira.url,
        shared_secret=jira.shared_secret,
        license=Tenant.License.ACTIVE,
    )
    connection = zendesk_connect(tenant=tenant, subdomain=SUBDOMAIN, email=AGENT_EMAIL, api_token=AGENT_TOKEN)
    item, _ = connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(
            name="Bench two-way tickets",
            mode=ConnectedItem.Mode.TWO_WAY,
            jira_project="SUP",
            jira_issue_type_id="10001",
            helpdesk_object="ticket",
            display_fields=["status", "priority"],
            status_sync=True,
            comment_sync=True,
            mappings=[
                {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}}
            ],
        ),
    )
    requester = zendesk.add_user(SUBDOMAIN, name="Casey Customer", email="casey@example.com")["id"]
    medium = {"id": "3", "name": "Medium"}
    in_progress = next(st for st in jira.statuses["SUP"] if st["statusCategory"]["key"] == "indeterminate")
    in_progress = {k: in_progress[k] for k in ("id", "name", "statusCategory")}
    # Links as they stand after their first poll: the open ticket and the In Progress issue agree (the pull
    # has nothing to move), and the link remembers both statuses.
    aligned = {
        JIRA_STATUS_KEY: {"id": in_progress["id"], "category": "indeterminate"},
        STATUS_KEY: "indeterminate",
        HELPDESK_STATUS_KEY: "open",
    }
    pairs: dict[str, list[tuple[dict, int]]] = {"warm": [], "hot": [], "lost": []}
    links = []
    n = 0
    for group, count in (("warm", 1), ("hot", args.issues), ("lost", args.lost)):
        for _ in range(count):
            n += 1
            ticket = zendesk.add_ticket(
                SUBDOMAIN, subject=f"Ticket {n}", status="open", priority="normal", requester_id=requester
            )
            issue = jira.add_issue(key=f"SUP-{n}", summary=f"Ticket {n}", priority=dict(medium), status=in_progress)
            pairs[group].append((issue, ticket["id"]))
            links.append(
                Link(
                    tenant=tenant,
                    item=item,
                    jira_issue_id=issue["id"],
                    jira_issue_key=issue["key"],
                    record_id=str(ticket["id"]),
                    field_state=json.loads(json.dumps(aligned)),
                )
            )
    Link.objects.bulk_create(links)
    # The Zendesk stream starts after the tickets were made (the pull part of the poll in (d) is idle).
    state = sync_state_get(connection=connection)
    start = int(zendesk.now()) + 1
    SyncState.objects.filter(pk=state.pk).update(start_time=start, events_time=start)
    zendesk.advance(120)
    # The cluster's result history as a running install has it: django-q2 keeps the last save_limit successful
    # results and prunes one per task saved, so a deployment past its first save_limit tasks always holds them.
    from django.conf import settings
    from django.utils import timezone
    from django_q.models import Task

    history = args.task_history if args.task_history is not None else max(0, settings.Q_CLUSTER.get("save_limit", 0))
    long_ago = timezone.now() - timedelta(days=1)
    Task.objects.bulk_create(
        Task(id=uuid.uuid4().hex, name=f"history-{n}", func="math.floor", args=(1.5,), kwargs={}, result=1,
             group="deskbridge-push", started=long_ago, stopped=long_ago, success=True, attempt_count=1)
        for n in range(history)
    )  # fmt: skip
    args.task_history = history
    ticket_of = {issue["id"]: ticket for group in pairs.values() for issue, ticket in group}
    return {"tenant": tenant, "connection": connection, "item": item, "pairs": pairs, "ticket_of": ticket_of}


# --- helpers --------------------------------------------------------------------------------------------------
def _wait(predicate, timeout: float, what: str) -> float:
    """Seconds until predicate() holds (checked every 50 ms); SystemExit after timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def _drained() -> bool:
    """No inbox event waits and the task queue is empty (a task's row leaves the queue when it is done)."""
    from django_q.models import OrmQ

    from sync.models import WebhookEvent

    return not WebhookEvent.objects.filter(status="pending").exists() and not OrmQ.objects.exists()


def _call_mix(fake, since: int, prefix: str) -> collections.Counter:
    with fake._lock:
        rows = fake.requests[since:]
    mix: collections.Counter = collections.Counter()
    for r in rows:
        if prefix not in r.path:
            continue
        path = re.sub(r"/\d+", "/{id}", r.path.split("/zd/" + SUBDOMAIN)[-1])
        mix[f"{r.method} {path}"] += 1
    return mix


def _ticket(zendesk, ticket_id: int) -> dict:
    return zendesk.accounts[SUBDOMAIN].tickets[ticket_id]


def _delivery_payload(jira, issue: dict) -> dict:
    """The last jira:issue_updated delivered for the issue (or any other's, renamed): what Jira sends for it."""
    with jira._lock:
        updates = [d for d in jira.webhook_deliveries if d["event"] == "jira:issue_updated" and not d["dropped"]]
    own = [d for d in updates if str(d["payload"]["issue"]["id"]) == issue["id"]]
    if not (own or updates):
        raise SystemExit("no jira:issue_updated delivery to copy")
    payload = json.loads(json.dumps((own or updates)[-1]["payload"]))
    payload["issue"]["id"], payload["issue"]["key"] = issue["id"], issue["key"]
    return payload


def _edit(jira, issue: dict, step: int) -> None:
    pid, name, _ = CYCLE[step % len(CYCLE)]
    jira.user_edit(issue, {"priority": {"id": pid, "name": name}})


# --- phases ---------------------------------------------------------------------------------------------------
def _bench(ctx: Ctx) -> bool:
    from django.conf import settings

    from sync.models import WebhookEvent

    args, q = ctx.args, settings.Q_CLUSTER
    kind = "runserver + qcluster, as make run" if args.server == "serve" else "gunicorn + qcluster"
    print(
        f"service: manage.py {args.server} ({kind}), {args.settings}, on {ctx.service.url}; PostgreSQL database "
        f"{settings.DATABASES['default']['NAME']}; {os.cpu_count()} CPU(s) shared with the fakes and PostgreSQL"
    )
    print(
        f"worker: django-q2 ORM broker, workers={q['workers']}, poll={q.get('poll')} s, bulk={q.get('bulk', 1)}, "
        f"queue_limit={q.get('queue_limit', q['workers'] ** 2)}, timeout={q['timeout']} s, retry={q['retry']} s, "
        f"save_limit={q.get('save_limit')}; CONN_MAX_AGE={settings.DATABASES['default'].get('CONN_MAX_AGE')}, "
        f"TENANT_CACHE_SECONDS={settings.TENANT_CACHE_SECONDS}, SYNC_PARALLEL_ISSUES={settings.SYNC_PARALLEL_ISSUES}, "
        f"SYNC_RECONCILE_GRACE_SECONDS={settings.SYNC_RECONCILE_GRACE_SECONDS}"
    )
    print(
        f"workload: {args.issues} hot issues x {args.edits} priority edits at {args.rate:.0f}/s; {args.lost} "
        "lost-delivery issues; every issue linked to its own ticket through one two-way item (priority to "
        f"Zendesk, status and comment sync); {args.task_history} saved task results to start with, as a running "
        "cluster holds them (save_limit)",
        flush=True,
    )

    # warm-up: the app learns its own account and the field schemas
    warm_issue, warm_ticket = ctx.site["pairs"]["warm"][0]
    _edit(ctx.jira, warm_issue, 0)
    _wait(lambda: _ticket(ctx.zendesk, warm_ticket)["priority"] == "high", 60, "the warm-up edit to reach Zendesk")
    _wait(_drained, 60, "the warm-up to finish")

    phases = {"a": _phase_latency, "b": _phase_concurrent, "c": _phase_unlinked, "d": _phase_lost}
    for name in args.phases:
        phases[name](ctx)

    failed = WebhookEvent.objects.filter(status="failed")
    if failed.exists():
        ctx.problems.append(f"{failed.count()} inbox event(s) failed, e.g. {failed.first().last_error[:300]}")

    print("\nSummary (push, Jira → Zendesk)")
    width = max(len(f) for f, _, _ in ctx.figures)
    value_width = max(len(v) for _, v, _ in ctx.figures)
    for figure, value, verdict in ctx.figures:
        print(f"  {figure:<{width}}  {value:<{value_width}}  {verdict}")
    if ctx.problems:
        print("\nCORRECTNESS FAILURES:")
        for problem in ctx.problems:
            print("  - " + problem)
    else:
        print(
            "\nCorrectness: every ticket ends with its issue's values, no comment was copied twice, no inbox event "
            "failed, no unlinked event was stored."
        )
    return not ctx.problems


def _own_cpu() -> float:
    """CPU seconds of this process and its finished children (the load generator's processes, the fakes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _verdict(met: bool, target: str) -> str:
    return f"target {target}: {'met' if met else 'NOT met'}"


def _phase_latency(ctx: Ctx) -> None:
    """(a) Human edits in Jira, delivered by the fake Jira's sender (one POST at a time, in order)."""
    from django_q.models import Task

    from sync.models import SyncRun, WebhookEvent

    args, jira, zendesk = ctx.args, ctx.jira, ctx.zendesk
    hot = ctx.site["pairs"]["hot"]
    total = len(hot) * args.edits
    print(f"\n(a) {total} human edits on {len(hot)} issues at {args.rate:.0f}/s …", flush=True)
    j0, z0 = len(jira.requests), len(zendesk.requests)
    puts0, deliveries0 = len(zendesk.puts), len(jira.webhook_deliveries)
    runs0 = SyncRun.objects.order_by("-id").values_list("id", flat=True).first() or 0
    tasks0 = set(Task.objects.values_list("id", flat=True))
    cpu0 = ctx.service.cpu()
    ctx.pg.take()
    ctx.other.start(*[p.pid for p in ctx.service.procs])
    t_start = time.time()
    for n in range(total):
        issue, _ = hot[n % len(hot)]
        time.sleep(max(0.0, t_start + n / args.rate - time.time()))
        # The fake Jira posts its deliveries one at a time: no edit while SENDER_BACKLOG wait unsent, so each
        # POST follows its change closely (the rate is then what one sender achieves against this endpoint).
        while n - (len(jira.webhook_deliveries) - deliveries0) > SENDER_BACKLOG:
            time.sleep(0.002)
        _edit(jira, issue, n // len(hot))
    edit_seconds = time.time() - t_start
    jira.webhooks_flush(timeout=600)
    _wait(_drained, 600, "the worker to process the edits")
    wall = time.time() - t_start
    cpu1 = ctx.service.cpu()
    pg_peak = ctx.pg.take()
    other = ctx.other.share()

    for issue, ticket_id in hot:
        want = TO_ZENDESK[jira.issues[issue["id"]]["fields"]["priority"]["name"]]
        has = _ticket(zendesk, ticket_id)["priority"]
        if has != want:
            ctx.problems.append(f"(a) ticket {ticket_id} has priority {has}, its issue says {want}")
        if any("commented" in _text(c) for c in _comments(zendesk, ticket_id)):
            ctx.problems.append(f"(a) ticket {ticket_id} got a comment from a field edit")

    with jira._lock:
        deliveries = [d for d in jira.webhook_deliveries[deliveries0:] if not d["dropped"]]
    with zendesk._lock:
        puts = [p for p in zendesk.puts[puts0:] if p["status"] == 200]
    writes: dict[int, list[float]] = collections.defaultdict(list)
    for p in puts:
        writes[p["ticket"]].append(p["at"])
    events = {
        e.delivery_id: e
        for e in WebhookEvent.objects.filter(delivery_id__in=[d["identifier"] for d in deliveries]).only(
            "delivery_id", "received_at", "processed_at", "status"
        )
    }
    # An event's change has reached Zendesk when the batch that processed it (the first to read the issue after
    # the event was stored) wrote the ticket: the last PUT of the ticket before the event was marked processed.
    # If that batch had nothing to write, the ticket already held the issue's value: its last PUT wrote it.
    latency, first_after, to_stored, stored_to_write, done_after_write, no_write = [], [], [], [], [], 0
    lag = []  # the change in Jira → the fake's POST of its webhook
    for d in deliveries:
        posted = jira.posted[d["identifier"]]
        lag.append(posted - d["payload"]["timestamp"] / 1000)
        ticket_id = ctx.site["ticket_of"][str(d["payload"]["issue"]["id"])]
        after = [at for at in writes[ticket_id] if at >= posted]
        if after:
            first_after.append(after[0] - posted)
        event = events.get(d["identifier"])
        if event is None or event.processed_at is None:
            ctx.problems.append(f"(a) delivery {d['identifier']} was not stored or not processed")
            continue
        received, processed = event.received_at.timestamp(), event.processed_at.timestamp()
        to_stored.append(received - posted)
        before = [at for at in writes[ticket_id] if at <= processed]
        if before and before[-1] >= posted:
            latency.append(before[-1] - posted)
            stored_to_write.append(before[-1] - received)
            done_after_write.append(processed - before[-1])
        else:  # no write since the POST: the ticket already held the issue's value (an earlier batch read it)
            no_write += 1
            latency.append(0.0)
    endpoint = [d["elapsed_ms"] / 1000 for d in deliveries if d["elapsed_ms"] is not None]
    retried = [d for d in deliveries if d["status"] != 204 or d["attempts"] != 1]

    runs = SyncRun.objects.filter(id__gt=runs0, trigger="webhook").count()
    tasks = [t for t in Task.objects.filter(func="sync.tasks.issue_events_task") if t.id not in tasks0]
    outcomes: collections.Counter = collections.Counter()
    batch_sizes = []
    for t in tasks:
        result = str(t.result or "")
        found = re.match(r"done: (\d+) event", result)
        if found:
            batch_sizes.append(int(found.group(1)))
        outcomes["batch" if found else (result.split(":")[0] or "?")] += 1
    task_wall = [(t.stopped - t.started).total_seconds() for t in tasks if t.stopped and t.started]
    if not tasks:
        outcomes["results not saved (save_limit < 0)"] = 0
    jira_calls, zendesk_calls = _call_mix(jira, j0, "/rest/"), _call_mix(zendesk, z0, "/api/v2/")
    count = len(deliveries)
    jira_total, zd_total = sum(jira_calls.values()), sum(zendesk_calls.values())
    cpu = {role: (cpu1[role] - cpu0[role]) * 1000 / count for role in cpu0}

    print(
        f"    edits made in {edit_seconds:.1f} s ({total / edit_seconds:.1f}/s; asked {args.rate:.0f}/s); the last one "
        f"processed {wall:.1f} s after the first edit"
    )
    print(
        f"    deliveries: {count} POSTed one at a time by the fake Jira, {len(retried)} retried; change → POST "
        f"{spread(lag)}"
    )
    print(f"    endpoint answer (as the fake Jira timed it): {spread(endpoint)}")
    print(f"    Jira → Zendesk, POST → the ticket holds the change: {spread(latency)}")
    print(f"      {count - no_write} by a PUT after the POST; {no_write} already held it (counted 0)")
    print(f"      parts: POST → stored in the inbox {spread(to_stored)}")
    print(f"             stored → ticket PUT {spread(stored_to_write)}")
    print(f"             PUT → event marked done {spread(done_after_write)}")
    print(f"      (as the brief words it, POST → first PUT of the ticket at or after it: {spread(first_after)})")
    mean_batch = statistics.mean(batch_sizes) if batch_sizes else 0
    others = ", ".join(f"{n} '{k}'" for k, n in outcomes.items() if k != "batch")
    print(
        f"    worker: {len(tasks)} tasks (one per stored event): {outcomes['batch']} batches of mean {mean_batch:.2f} "
        f"events (max {max(batch_sizes, default=0)}), {others}; {runs} webhook runs recorded"
    )
    print(f"      a task from enqueue to done (queue wait included): {spread(task_wall)}")
    print(f"      throughput: {count / wall:.1f} events/s end to end; CPU per event: web {cpu['web']:.1f} ms, "
          f"worker {cpu['worker']:.1f} ms; PostgreSQL sessions peak {pg_peak}")  # fmt: skip
    print(f"      other processes on this machine meanwhile: {other}")
    print(f"    API calls: Jira {jira_total} ({jira_total / count:.2f} per event) {dict(jira_calls)}")
    print(f"               Zendesk {zd_total} ({zd_total / count:.2f} per event) {dict(zendesk_calls)}")
    p95 = pct(latency, 95)
    ctx.figures.append(
        ("(a) Jira → Zendesk p50 / p95", f"{ms(pct(latency, 50))} / {ms(p95)}", _verdict(p95 < 1.0, "p95 < 1 s"))
    )
    ctx.figures.append(
        (
            "(a) API calls per event (Jira, Zendesk)",
            f"{jira_total / count:.2f}, {zd_total / count:.2f}",
            f"({count} events → {outcomes['batch']} batches, {zd_total} ticket writes)",
        )
    )
    if count != total:
        ctx.problems.append(f"(a) {total} edits but {count} deliveries")


def _linked_requests(ctx: Ctx, total: int) -> list[tuple[dict, bytes]]:
    """Signed deliveries of the hot issues' last jira:issue_updated, each with a fresh delivery id."""
    hot = ctx.site["pairs"]["hot"]
    templates = {issue["id"]: _delivery_payload(ctx.jira, issue) for issue, _ in hot}
    subscription = next(s for s in ctx.jira.webhook_subscriptions if s["event"] == "jira:issue_updated")
    out = []
    for n in range(total):
        issue, _ = hot[n % len(hot)]
        delivery = {**subscription, "identifier": str(uuid.uuid4()), "payload": templates[issue["id"]], "retry": 0}
        out.append(ctx.jira.webhook_request(delivery))
    return out


def _jobs(ctx: Ctx, clients: int, per_process: int, **job) -> list[dict]:
    procs = -(-clients // per_process)
    return [
        {"port": ctx.service.port, "path": WEBHOOK_PATH, "threads": min(per_process, clients - p * per_process),
         "process": p, "client_key": ctx.jira.client_key, "secret": ctx.jira.shared_secret, **job}
        for p in range(procs)
    ]  # fmt: skip


def _answers(results) -> tuple[list[float], str]:
    statuses = collections.Counter(r[2] if r[2] else r[3] for r in results)
    return [r[1] for r in results if r[2]], ", ".join(f"{k}: {n}" for k, n in sorted(statuses.items(), key=str))


def _phase_concurrent(ctx: Ctx) -> None:
    """(b) Signed deliveries of linked issues (stored path) from many clients at once."""
    args = ctx.args
    total = args.concurrent * args.per_client
    print(f"\n(b) endpoint response time: {total} signed deliveries of linked issues …", flush=True)

    # reference: one client, one delivery after the other
    reference = _linked_requests(ctx, 100)
    results = fire(_jobs(ctx, 1, 1, batches=[reference], start_at=time.time() + 2))
    answered, statuses = _answers(results)
    print(f"    1 client, 100 in a row: {spread(answered)} ({statuses})")
    _wait(_drained, 300, "the worker to process them")

    requests_ = _linked_requests(ctx, total)
    per_process = 10
    jobs = _jobs(ctx, args.concurrent, per_process, start_at=time.time() + 3)
    for job in jobs:
        first = job["process"] * per_process
        job["batches"] = [
            requests_[(first + t) * args.per_client : (first + t + 1) * args.per_client] for t in range(job["threads"])
        ]
    puts0 = len(ctx.zendesk.puts)
    cpu0 = ctx.service.cpu()
    ctx.pg.take()
    ctx.other.start(*[p.pid for p in ctx.service.procs])
    own0 = _own_cpu()
    results = fire(jobs)
    own = _own_cpu() - own0
    pg_peak = ctx.pg.take()
    other = ctx.other.share()
    answered, statuses = _answers(results)
    ok = sum(1 for r in results if r[2] == 204)
    first, last = min(r[0] for r in results), max(r[0] + r[1] for r in results)
    drained = _wait(_drained, 600, "the worker to process the concurrent deliveries")
    cpu1 = ctx.service.cpu()
    print(f"    {args.concurrent} clients x {args.per_client}, each POST on its own connection: {spread(answered)}")
    print(
        f"      answers {statuses}; {len(results) / (last - first):.0f} requests/s; PostgreSQL sessions peak {pg_peak}"
    )
    print(f"      the worker finished them {drained:.1f} s after the last answer; ticket PUTs: "
          f"{len(ctx.zendesk.puts) - puts0} (the issues had not changed); CPU web {cpu1['web'] - cpu0['web']:.1f} s, "
          f"worker {cpu1['worker'] - cpu0['worker']:.1f} s, the clients and fakes {own:.1f} s")  # fmt: skip
    print(f"      other processes on this machine meanwhile: {other}")
    p95 = pct(answered, 95)
    failed = total - ok
    ctx.figures.append(
        (
            f"(b) endpoint p50 / p95, {args.concurrent} concurrent",
            f"{ms(pct(answered, 50))} / {ms(p95)}" + (f"; {failed} of {total} not 204" if failed else ""),
            _verdict(p95 < 0.05 and not failed, "p95 < 50 ms"),
        )
    )


def _phase_unlinked(ctx: Ctx) -> None:
    """(c) Events for issues no link names: checked, dropped, never stored."""
    from sync.models import WebhookEvent

    args = ctx.args
    print(f"\n(c) events for unlinked issues, {args.unlinked_clients} clients for {args.unlinked_seconds:.0f} s …")
    template = json.dumps(_delivery_payload(ctx.jira, ctx.site["pairs"]["hot"][0][0]))
    start_at = time.time() + 3
    jobs = _jobs(ctx, args.unlinked_clients, 8, seconds=args.unlinked_seconds, start_at=start_at, template=template)
    for job in jobs:
        job["issue_base"] = UNLINKED_BASE + job["process"] * 10_000_000
    stored_before = WebhookEvent.objects.count()
    cpu0 = ctx.service.cpu()
    ctx.pg.take()
    ctx.other.start(*[p.pid for p in ctx.service.procs])
    own0 = _own_cpu()
    results = fire(jobs)
    own = _own_cpu() - own0
    pg_peak = ctx.pg.take()
    other = ctx.other.share()
    cpu1 = ctx.service.cpu()
    stored = WebhookEvent.objects.count() - stored_before
    dropped = [r for r in results if r[2] == 204 and r[3] == "dropped"]
    window = max(r[0] + r[1] for r in results) - start_at
    _, statuses = _answers(results)
    rate = len(dropped) / window
    print(f"    {len(results)} requests in {window:.1f} s ({statuses}): {len(dropped)} dropped with 204, {rate:.0f}/s")
    web_ms = (cpu1["web"] - cpu0["web"]) * 1000 / max(1, len(results))
    print(f"      response time {spread([r[1] for r in dropped])}; CPU per request: web {web_ms:.1f} ms, the clients "
          f"{own * 1000 / max(1, len(results)):.1f} ms; PostgreSQL sessions peak {pg_peak}")  # fmt: skip
    print(f"      other processes on this machine meanwhile: {other}")
    if stored:
        ctx.problems.append(f"(c) {stored} events of unlinked issues were stored")
    failed = len(results) - len(dropped)
    ctx.figures.append(
        (
            "(c) unlinked events absorbed",
            f"{rate:.0f}/s ({args.unlinked_clients} clients)" + (f"; {failed} not 204" if failed else ""),
            _verdict(rate >= 500, "≥ 500/s"),
        )
    )


def _phase_lost(ctx: Ctx) -> None:
    """(d) Changes whose webhooks are all lost, found by one poll's reconcile."""
    from sync.models import SyncRun, WebhookEvent
    from sync.services import sync_now

    jira, zendesk = ctx.jira, ctx.zendesk
    lost = ctx.site["pairs"]["lost"]
    print(f"\n(d) {len(lost)} changes whose webhooks are all lost, then one Sync now …", flush=True)
    kinds = [("edit", "edit", "transition", "comment")[n % 4] for n in range(len(lost))]
    drops = sum(2 if k == "comment" else 1 for k in kinds)  # a comment raises comment_created and issue_updated
    with jira._lock:
        dropped0 = sum(1 for d in jira.webhook_deliveries if d["dropped"])
        sent0 = len(jira.webhook_deliveries) - dropped0
    jira.webhooks_drop_next(drops)
    for (issue, _), kind in zip(lost, kinds, strict=True):
        if kind == "edit":
            _edit(jira, issue, 0)  # Medium → High
        elif kind == "transition":
            jira.user_transition(issue, "Done")
        else:
            jira.user_comment(issue, f"Lost comment on {issue['key']}: the fix is deployed.")
    jira.webhooks_flush(timeout=60)
    with jira._lock:
        dropped = sum(1 for d in jira.webhook_deliveries if d["dropped"]) - dropped0
        sent = len(jira.webhook_deliveries) - dropped - dropped0 - sent0
    if dropped != drops or sent:
        ctx.problems.append(f"(d) {dropped} deliveries dropped and {sent} sent; expected {drops} and 0")
    zendesk.advance(120)  # past the export's withheld last minute

    def reached(issue, ticket_id, kind) -> bool:
        ticket = _ticket(zendesk, ticket_id)
        if kind == "edit":
            return ticket["priority"] == "high"
        if kind == "transition":
            return ticket["status"] == "solved"
        return any(f"Lost comment on {issue['key']}" in _text(c) for c in _comments(zendesk, ticket_id))

    if any(reached(i, t, k) for (i, t), k in zip(lost, kinds, strict=True)):
        ctx.problems.append("(d) lost changes reached Zendesk before the poll")
    puts0, j0, z0 = len(zendesk.puts), len(jira.requests), len(zendesk.requests)
    runs0 = SyncRun.objects.order_by("-id").values_list("id", flat=True).first() or 0
    events0 = WebhookEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    ctx.pg.take()
    ctx.other.start(*[p.pid for p in ctx.service.procs])
    t0 = time.time()
    sync_now(tenant=ctx.site["tenant"], connection=ctx.site["connection"])
    _wait(
        lambda: SyncRun.objects.filter(id__gt=runs0, trigger="manual").exclude(outcome="running").exists(),
        300,
        "the poll",
    )
    poll = SyncRun.objects.filter(id__gt=runs0, trigger="manual").first()
    try:
        _wait(_drained, 300, "the reconciled events to be processed")
    except SystemExit as exc:
        ctx.problems.append(f"(d) {exc}")
    pg_peak = ctx.pg.take()
    other = ctx.other.share()
    got = [reached(i, t, k) for (i, t), k in zip(lost, kinds, strict=True)]
    with zendesk._lock:
        puts = zendesk.puts[puts0:]
    last_put = max((p["at"] for p in puts), default=t0)
    polls = SyncRun.objects.filter(id__gt=runs0, trigger__in=["manual", "schedule"]).count()
    for (issue, ticket_id), kind in zip(lost, kinds, strict=True):
        if kind == "comment":
            copies = [c for c in _comments(zendesk, ticket_id) if f"Lost comment on {issue['key']}" in _text(c)]
            if len(copies) > 1:
                ctx.problems.append(f"(d) ticket {ticket_id} has {len(copies)} copies of its Jira comment")
    for (issue, ticket_id), kind, ok in zip(lost, kinds, got, strict=True):
        if not ok:
            ctx.problems.append(f"(d) the {kind} of {issue['key']} did not reach ticket {ticket_id}")
    if poll.outcome != "success":
        ctx.problems.append(f"(d) the poll ended {poll.outcome}: {poll.reason}")
    jira_calls, zendesk_calls = _call_mix(jira, j0, "/rest/"), _call_mix(zendesk, z0, "/api/v2/")
    poll_seconds = (poll.finished_at - poll.started_at).total_seconds()
    reconciled = set(
        WebhookEvent.objects.filter(id__gt=events0, event_type="reconcile").values_list("issue_id", flat=True)
    )
    extra = sorted(reconciled - {issue["id"] for issue, _ in lost})
    print(
        f"    {dropped} deliveries dropped ({kinds.count('edit')} priority edits, {kinds.count('transition')} "
        f"transitions to Done, {kinds.count('comment')} comments, each on its own issue)"
    )
    print(
        f"    {polls} poll: {poll.outcome}{' (' + poll.reason + ')' if poll.reason else ''}; reconciled "
        f"{poll.counts.get('reconciled', 0)} issues ({len(extra)} of them not among the {len(lost)}); the poll took "
        f"{ms(poll_seconds)}"
    )
    if extra:
        from sync.models import IssueState

        seen = dict(IssueState.objects.filter(jira_issue_id__in=extra).values_list("jira_issue_id", "seen_updated"))
        for issue_id in extra[:3]:
            fields = jira.issues[issue_id]["fields"]
            print(
                f"      e.g. {jira.issues[issue_id]['key']}: Jira updated {fields['updated']}, the app has seen "
                f"{seen.get(issue_id)}"
            )
    print(f"    reached Zendesk: {sum(got)} of {len(lost)}; the last write {last_put - t0:.2f} s after Sync now; "
          f"PostgreSQL sessions peak {pg_peak}")  # fmt: skip
    print(f"    API calls: Jira {sum(jira_calls.values())} {dict(jira_calls)}")
    print(f"               Zendesk {sum(zendesk_calls.values())} {dict(zendesk_calls)}")
    print(f"    other processes on this machine meanwhile: {other}")
    ctx.figures.append(
        (
            "(d) lost deliveries reaching Zendesk, one poll",
            f"{sum(got)} of {len(lost)} in {last_put - t0:.1f} s",
            _verdict(sum(got) == len(lost) and polls == 1, f"{len(lost)} of {len(lost)}"),
        )
    )


def _text(comment: dict) -> str:
    return " ".join(str(comment.get(k) or "") for k in ("body", "plain_body", "html_body"))


def _comments(zendesk, ticket_id: int) -> list[dict]:
    return zendesk.accounts[SUBDOMAIN].comments.get(ticket_id, [])


if __name__ == "__main__":
    sys.exit(main())

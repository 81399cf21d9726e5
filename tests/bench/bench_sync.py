"""Sync benchmark: the pull engine (helpdesk → Jira) run by a real `manage.py qcluster` worker against the
loopback fakes, counting every API call the fakes answered.

Fixed workload: one tenant, one one-way item (subject → summary, priority → priority, status and comment
sync), 10,000 Zendesk tickets each linked to its own Jira issue. Prints:

  (a) an idle poll: Zendesk and Jira calls and wall time                      target 1 and 0
  (b) 1,000 tickets changed (priority, status and one comment each): calls per service and their ratio to
      the minimum (1 export call per 1,000 changes + 1 edit, 1 transition and 1 comment per ticket)   ≤ 1.1
  (c) throughput: changed tickets/s with zero-latency fakes (≥ 200/s), and with 100 ms added to every
      fake answer (≥ 30/s)
  (d) the worker's peak RSS (the largest process of the cluster)               < 250 MB

    make bench           # or: .venv/bin/python tests/bench/bench_sync.py [--tickets 10000] [--changed 1000]

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/deskbridge_bench_sync).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "bench-secret-key-" + "x" * 40,
    "FIELD_ENCRYPTION_KEY": "YmVuY2gtb25seS1mZXJuZXQta2V5LTAwMDAwMDAwMDA=",
    "APP_BASE_URL": "https://deskbridge.bench",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_LOG_LEVEL": "WARNING",
    "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/deskbridge_bench_sync"),
    "JIRA_ALLOWED_BASE_URLS": "http://127.0.0.1:*",
    "SYNC_POLL_SECONDS": "86400",  # only Sync now starts a poll here
    "Q_WORKERS": "1",
}
SUBDOMAIN = "bench"
AGENT_EMAIL = "admin@bench.test"
AGENT_TOKEN = "bench-zendesk-token-0123456789"


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


class PeakRss(threading.Thread):
    """Samples the worker's process tree every 50 ms; keeps the largest single process RSS."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stopped = pid, 0, False

    def run(self) -> None:
        import psutil

        root = psutil.Process(self.pid)
        while not self.stopped:
            try:
                for process in [root, *root.children(recursive=True)]:
                    self.peak = max(self.peak, process.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=1_000)
    args = parser.parse_args()

    from demo.fakes.zendesk import FakeZendesk

    def start_zendesk():
        zendesk = FakeZendesk().start()
        return zendesk, {"ZENDESK_URL_TEMPLATE": zendesk.url_template}

    return bench_run(ENV, start_zendesk, lambda zendesk, jira: _bench(args, zendesk, jira))


def bench_run(env: dict[str, str], start_helpdesk, bench) -> int:
    """The benchmarks' stack: ``env`` applied, its database created when missing and migrated, the helpdesk
    fake (``start_helpdesk()`` → the fake and the settings pointing at it) and a fake Jira started; then
    ``bench(helpdesk, jira)``, and both fakes stopped."""
    os.environ.update(env)
    ensure_database(env["DATABASE_URL"])
    from demo.fakes.jira import FakeJira

    helpdesk, helpdesk_env = start_helpdesk()
    os.environ.update(helpdesk_env)
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        jira = FakeJira(app_key=settings.ATLASSIAN_APP_KEY).start()
        try:
            return bench(helpdesk, jira)
        finally:
            jira.stop()
    finally:
        helpdesk.stop()


def bench_tenant(jira):
    """The licensed tenant of the fake Jira site (as its install would have made it)."""
    from tenants.models import Tenant

    return Tenant.objects.create(
        client_key=jira.client_key,
        app_key=jira.app_key,
        base_url=jira.url,
        shared_secret=jira.shared_secret,
        license=Tenant.License.ACTIVE,
    )


def _setup(args, zendesk, jira):
    from connector import schema
    from connector.models import ConnectedItem
    from connector.services import ItemSpec, connected_item_save, zendesk_connect
    from sync.engine import JIRA_STATUS_KEY, sync_state_get
    from sync.models import Link, SyncState

    zendesk.add_account(SUBDOMAIN, rate_limit=1_000_000)  # the agents making the changes are not us
    zendesk.add_agent(SUBDOMAIN, AGENT_EMAIL, AGENT_TOKEN, name="Bench Admin")
    for user in zendesk.accounts[SUBDOMAIN].users.values():
        if user["email"] == AGENT_EMAIL:
            user["role"] = "admin"  # reading the incremental exports needs an admin
    jira.add_project("SUP", "Support")
    tenant = bench_tenant(jira)
    connection = zendesk_connect(tenant=tenant, subdomain=SUBDOMAIN, email=AGENT_EMAIL, api_token=AGENT_TOKEN)
    priorities = {p["name"]: p["id"] for p in schema.jira_priorities(tenant=tenant)}
    item, _ = connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(
            name="Bench tickets",
            mode=ConnectedItem.Mode.ONE_WAY,
            jira_project="SUP",
            jira_issue_type_id="10001",
            helpdesk_object="ticket",
            display_fields=["status", "priority"],
            status_sync=True,
            comment_sync=True,
            mappings=[
                {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
                {
                    "helpdesk_field": "priority",
                    "jira_field": "priority",
                    "direction": "to_jira",
                    "value_map": {
                        "low": priorities["Low"],
                        "normal": priorities["Medium"],
                        "high": priorities["High"],
                        "urgent": priorities["Highest"],
                    },
                },
            ],
        ),
    )
    requester = zendesk.add_user(SUBDOMAIN, name="Casey Customer", email="casey@example.com")["id"]
    started = time.monotonic()
    tickets, links = [], []
    for n in range(args.tickets):
        ticket = zendesk.add_ticket(
            SUBDOMAIN, subject=f"Ticket {n}", status="open", priority="normal", requester_id=requester
        )
        issue = jira.add_issue(key=f"SUP-{n + 1}", summary=f"Ticket {n}")
        status = issue["fields"]["status"]
        tickets.append(ticket["id"])
        links.append(
            Link(
                tenant=tenant,
                item=item,
                jira_issue_id=issue["id"],
                jira_issue_key=issue["key"],
                record_id=str(ticket["id"]),
                # as link_create records it: the issue's status when it was linked
                field_state={JIRA_STATUS_KEY: {"id": status["id"], "category": status["statusCategory"]["key"]}},
            )
        )
    Link.objects.bulk_create(links, batch_size=2000)
    # The stream starts after the tickets were made: the first poll is idle.
    state = sync_state_get(connection=connection)
    start = int(zendesk.now()) + 1
    SyncState.objects.filter(pk=state.pk).update(start_time=start, events_time=start)
    zendesk.advance(120)
    print(f"set-up: {args.tickets} tickets, issues and links in {time.monotonic() - started:.1f} s", flush=True)
    return tenant, connection, tickets


def _sync_now_and_wait(tenant, connection, timeout: float = 600):
    from sync.models import SyncRun
    from sync.services import sync_now

    before = SyncRun.objects.filter(connection=connection).order_by("-id").values_list("id", flat=True).first() or 0
    sync_now(tenant=tenant, connection=connection)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = SyncRun.objects.filter(connection=connection, id__gt=before).exclude(outcome="running").first()
        if run is not None:
            return run
        time.sleep(0.1)
    raise SystemExit("the worker did not finish the poll in time")


def _change(args, zendesk, tickets, offset: int, latency: float) -> None:
    from connector.clients.zendesk import ZendeskClient

    api = ZendeskClient(subdomain=SUBDOMAIN, email=AGENT_EMAIL, api_token=AGENT_TOKEN)
    for ticket_id in tickets[offset : offset + args.changed]:
        api.ticket_update(
            ticket_id,
            {"status": "solved", "priority": "urgent", "comment": {"body": "Fixed on our side.", "public": True}},
        )
    zendesk.advance(120)  # past the export's withheld last minute and its per-minute limit


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _counts(zendesk, jira) -> tuple[int, int]:
    z = [c for c in zendesk.calls() if "/api/v2/" in c.path]
    j = [c for c in jira.calls() if c.path.startswith("/rest/")]
    return len(z), len(j)


def _bench(args, zendesk, jira) -> int:
    tenant, connection, tickets = _setup(args, zendesk, jira)
    env = {**os.environ}
    log = open(ROOT / ".bench-qcluster.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    sampler = PeakRss(worker.pid)
    sampler.start()
    try:
        time.sleep(3)  # the cluster starts its workers
        figures = []

        z0, j0 = _counts(zendesk, jira)
        run = _sync_now_and_wait(tenant, connection)
        z1, j1 = _counts(zendesk, jira)
        idle_wall = (run.finished_at - run.started_at).total_seconds()
        figures.append(
            f"(a) idle poll: zendesk {z1 - z0} call(s), jira {j1 - j0}, {idle_wall * 1000:.0f} ms (target 1 and 0)"
        )
        assert run.outcome == "success", run.reason

        for phase, latency in (("zero latency", 0.0), ("100 ms latency", 0.1)):
            offset = 0 if latency == 0 else args.changed
            _change(args, zendesk, tickets, offset, latency)
            if latency:
                zendesk.add_latency(latency)
                jira.add_latency(latency)
            z0, j0 = _counts(zendesk, jira)
            cpu0 = _cpu(worker.pid), _cpu(os.getpid())
            run = _sync_now_and_wait(tenant, connection)
            cpu1 = _cpu(worker.pid), _cpu(os.getpid())
            z1, j1 = _counts(zendesk, jira)
            assert run.outcome == "success", run.reason
            wall = (run.finished_at - run.started_at).total_seconds()
            zc, jc = z1 - z0, j1 - j0
            minimum = -(-args.changed // 1000) + 3 * args.changed
            counts = run.counts
            done = counts["issues_updated"], counts["transitions"], counts["comments"]
            if latency == 0:
                figures.append(
                    f"(b) {args.changed} changed tickets: zendesk {zc} calls, jira {jc} calls "
                    f"(edits/transitions/comments {done[0]}/{done[1]}/{done[2]}); minimum {minimum}; "
                    f"ratio {(zc + jc) / minimum:.3f} (target ≤ 1.1)"
                )
            per_ticket = [(after - before) * 1000 / args.changed for before, after in zip(cpu0, cpu1, strict=True)]
            figures.append(
                f"(c) throughput, {phase}: {args.changed / wall:.0f} changed tickets/s "
                f"({wall:.1f} s for {args.changed}; target {'≥ 200' if latency == 0 else '≥ 30'}); CPU per ticket: "
                f"worker {per_ticket[0]:.1f} ms, fakes {per_ticket[1]:.1f} ms"
            )
        sampler.stopped = True
        figures.append(f"(d) worker peak RSS: {sampler.peak / 1024 / 1024:.0f} MB (target < 250 MB)")
        print(
            "\nSync benchmark (one tenant, {} linked tickets, SYNC_PARALLEL_ISSUES={}):".format(
                args.tickets, os.environ.get("SYNC_PARALLEL_ISSUES", "16")
            )
        )
        for line in figures:
            print("  " + line)
        return 0
    finally:
        sampler.stopped = True
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


if __name__ == "__main__":
    sys.exit(main())

"""Zoho Desk pull benchmark: the pull engine (Zoho Desk → Jira) run by a real `manage.py qcluster` worker
against the loopback fakes, counting every API call the fakes answered and the Zoho API credits they
charged (the fake bills as Zoho's credit model does: 1 per single-record call or write, 3 per range fetch).

Fixed workload: one tenant, one one-way tickets item (subject → summary, status and comment sync), 1,000 Zoho
tickets each linked to its own Jira issue, on a Professional organization with 10 agents. Prints:

  (a) idle polls: Zoho calls and credits, Jira calls - with no link due for the comment sweep (target 1 call,
      3 credits, 0 Jira calls), and with every link due (the sweep reads SYNC_COMMENT_SWEEP_LINKS of them)
  (b) 200 tickets changed (subject and status): Zoho calls and credits against the minimum (ceil(200/100)
      search pages + one comment read per changed ticket, comment sync being on), Jira calls against the
      minimum (1 edit + 1 transition per ticket)                                        ratio target ≤ 1.1
  (c) the daily credit budget: a day of idle polls at SYNC_POLL_SECONDS (288 at the default 300 s) with the
      comment sweep, as a share of the organization's daily credits (75,000 + 500 x 10 agents = 80,000)

    .venv/bin/python tests/bench/bench_zoho_pull.py [--tickets 1000] [--changed 200]

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/deskbridge_bench_zoho; that
database is dropped and created again). Run no other benchmark at the same time.
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_sync import ENV, _sync_now_and_wait, bench_run, bench_tenant  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/deskbridge_bench_zoho")
DC = "eu"
CLIENT_ID = "1000.BENCHZOHOSELFCLIENT01"
CLIENT_SECRET = "bench-zoho-self-client-secret-0123456789"
EDITION, AGENTS = "professional", 10
DAY = 86_400
IDS = re.compile(r"/\d+")
POLL_SECONDS = 300  # SYNC_POLL_SECONDS's default (the worker here polls only on Sync now)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1_000)
    parser.add_argument("--changed", type=int, default=200)
    args = parser.parse_args()

    from demo.fakes.zoho_desk import FakeZohoDesk

    def start_zoho():
        zoho = FakeZohoDesk().start()
        return zoho, {
            "ZOHO_ACCOUNTS_URL_OVERRIDE": zoho.accounts_url_template,
            "ZOHO_DESK_URL_OVERRIDE": zoho.desk_url_template,
        }

    env = {**ENV, "DATABASE_URL": DATABASE_URL, "ZOHO_SEARCH_SETTLE_SECONDS": "0"}
    return bench_run(env, start_zoho, lambda zoho, jira: _bench(args, zoho, jira))


def _setup(args, zoho, jira):
    from django.utils import timezone

    from connector.models import ConnectedItem
    from connector.services import ItemSpec, connected_item_save
    from connector.services.zoho import zoho_connect
    from sync.engine import JIRA_STATUS_KEY, sync_state_get
    from sync.models import Link, SyncState

    org = zoho.add_org(DC, name="Bench Support", edition=EDITION, agents=AGENTS)
    agent = zoho.add_agent(org.id, name="Bench Admin", email="admin@bench.test")
    zoho.add_self_client(DC, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, user=agent, orgs=[org.id])
    jira.add_project("SUP", "Support")
    tenant = bench_tenant(jira)
    connection = zoho_connect(
        tenant=tenant,
        data_center=DC,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        code=zoho.self_client_code(CLIENT_ID),
    )
    item, _ = connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(
            name="Bench tickets",
            mode=ConnectedItem.Mode.ONE_WAY,
            jira_project="SUP",
            jira_issue_type_id="10001",
            helpdesk_object="tickets",
            display_fields=["status", "priority"],
            status_sync=True,
            comment_sync=True,
            mappings=[{"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}}],
        ),
    )
    contact = zoho.add_contact(org.id, lastName="Customer", email="casey@example.com")["id"]
    started = time.monotonic()
    tickets, links = [], []
    for n in range(args.tickets):
        ticket = zoho.add_ticket(org.id, subject=f"Ticket {n}", status="Open", priority="Medium", contactId=contact)
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
                comments_read_at=timezone.now(),
            )
        )
    Link.objects.bulk_create(links, batch_size=2000)
    # The change detection starts after the tickets were made: the first poll is idle.
    state = sync_state_get(connection=connection)
    SyncState.objects.filter(pk=state.pk).update(start_time=int(time.time()) + 1)
    time.sleep(2)  # a poll reads up to now: let the range after the start be non-empty
    print(f"set-up: {args.tickets} tickets, issues and links in {time.monotonic() - started:.1f} s", flush=True)
    return tenant, connection, org, tickets


class Meter:
    """Calls both fakes answered and credits the fake Zoho charged, between two readings."""

    def __init__(self, zoho, jira, org):
        self.zoho, self.jira, self.org = zoho, jira, org

    def jira_kinds(self, since: int) -> str:
        """The Jira calls since ``since``, by method and path shape (ids as N), most frequent first."""
        shapes = collections.Counter(
            c.method + " " + IDS.sub("/N", c.path.removeprefix("/rest/api/3"))
            for c in self.jira.calls()[since:]
            if c.path.startswith("/rest/")
        )
        return ", ".join(f"{n} {shape}" for shape, n in shapes.most_common())

    def reading(self) -> tuple[int, int, int]:
        desk = [c for c in self.zoho.calls() if "/desk/" in c.path]
        rest = [c for c in self.jira.calls() if c.path.startswith("/rest/")]
        return len(desk), sum(self.org.credits_by_day.values()), len(rest)

    def poll(self, tenant, connection):
        """One Sync now, worked by the worker: the run and (zoho calls, zoho credits, jira calls) it cost."""
        before = self.reading()
        run = _sync_now_and_wait(tenant, connection)
        after = self.reading()
        assert run.outcome == "success", run.reason
        return run, tuple(b - a for a, b in zip(before, after, strict=True))


def _bench(args, zoho, jira) -> int:
    from django.conf import settings
    from django.utils import timezone

    from sync.models import Link

    tenant, connection, org, tickets = _setup(args, zoho, jira)
    log = open(ROOT / ".bench-zoho-qcluster.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env={**os.environ}, stdout=log, stderr=subprocess.STDOUT
    )
    meter = Meter(zoho, jira, org)
    sweep_links, sweep_seconds = settings.SYNC_COMMENT_SWEEP_LINKS, settings.SYNC_COMMENT_SWEEP_SECONDS
    try:
        time.sleep(3)  # the cluster starts its workers
        figures = []

        # (a) idle: first with every link's comments read recently, then with every link due for the sweep
        run, (zc, zcr, jc) = meter.poll(tenant, connection)
        idle_credits = zcr
        figures.append(
            f"(a) idle poll, no link due for the comment sweep: zoho {zc} call(s), {zcr} credits (run says "
            f"{run.credits}), jira {jc}, {(run.finished_at - run.started_at).total_seconds() * 1000:.0f} ms "
            "(target 1 call, 3 credits, 0 jira)"
        )
        Link.objects.update(comments_read_at=timezone.now() - timedelta(seconds=sweep_seconds + 1))
        run, (zc, zcr, jc) = meter.poll(tenant, connection)
        swept = max(1, zc - 1)
        sweep_read_credits = (zcr - idle_credits) / swept
        figures.append(
            f"    idle poll, every link due for the sweep: zoho {zc} call(s) (1 search + {zc - 1} comment reads; "
            f"SYNC_COMMENT_SWEEP_LINKS={sweep_links}), {zcr} credits (run says {run.credits}), jira {jc}"
        )

        # (b) changes: subject and status (Open → Closed) of --changed tickets, made in Zoho by people
        Link.objects.update(comments_read_at=timezone.now())  # no sweep in this poll: the changes alone
        for ticket_id in tickets[: args.changed]:
            zoho.user_update(org.id, "tickets", ticket_id, subject=f"Ticket {ticket_id} (escalated)", status="Closed")
        time.sleep(1)
        jira_since = len(jira.calls())
        run, (zc, zcr, jc) = meter.poll(tenant, connection)
        pages = math.ceil(args.changed / 100)
        zoho_min = pages + args.changed
        jira_min = 2 * args.changed
        counts = run.counts
        figures.append(
            f"(b) {args.changed} changed tickets: zoho {zc} calls (minimum {zoho_min}: {pages} search page(s) + "
            f"{args.changed} comment reads; ratio {zc / zoho_min:.3f}), {zcr} credits (minimum {3 * zoho_min}; "
            f"ratio {zcr / (3 * zoho_min):.3f}; run says {run.credits}); jira {jc} calls (minimum {jira_min}: "
            f"edits/transitions {counts['issues_updated']}/{counts['transitions']}; ratio {jc / jira_min:.3f}); "
            f"{args.changed / (run.finished_at - run.started_at).total_seconds():.0f} changed tickets/s "
            "(ratio target ≤ 1.1)"
        )
        figures.append(f"    jira calls: {meter.jira_kinds(jira_since)}")

        # (c) a day at the default poll interval: every poll one search, and - with more links than the sweep
        # reads in SYNC_COMMENT_SWEEP_SECONDS - SYNC_COMMENT_SWEEP_LINKS comment reads whenever links are due
        polls = DAY // POLL_SECONDS
        sweep_reads = min(polls * sweep_links, args.tickets * math.ceil(DAY / sweep_seconds))
        per_day = polls * idle_credits + sweep_reads * sweep_read_credits
        budget = org.daily_credits
        figures.append(
            f"(c) a day of idle polls: {polls} polls x {idle_credits} credits + {sweep_reads} sweep reads x "
            f"{sweep_read_credits:g} credits = {per_day:,.0f} credits of {budget:,} a day "
            f"({EDITION.title()}, {AGENTS} agents): {100 * per_day / budget:.1f} %"
        )
        print(
            f"\nZoho Desk pull benchmark (one tenant, {args.tickets} linked tickets, SYNC_PARALLEL_ISSUES="
            f"{settings.SYNC_PARALLEL_ISSUES}, comment sweep {sweep_links} links / {sweep_seconds} s):"
        )
        for line in figures:
            print("  " + line)
        return 0
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


if __name__ == "__main__":
    sys.exit(main())

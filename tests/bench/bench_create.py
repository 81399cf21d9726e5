"""Creation benchmark: auto-create from Jira (new Jira issues → Zendesk tickets) run by a real
`manage.py qcluster` worker against the loopback fakes, counting every API call the fakes answered.

Fixed workload: one tenant, one two-way item auto-creating tickets for new issues that match
`labels = customer` (summary → subject, description → the ticket's first comment, the reporter as requester);
--issues matching issues (default 1,000) and a fifth as many that the filter leaves out, created in Jira by
--reporters distinct people (default 200), half of whom Zendesk already knows by email. The worker gets one
auto-create task (as the first `jira:issue_created` webhook queues it). Prints:

  - Zendesk calls by kind against the minimum: 1 ticket create per matching issue + 1 user lookup per
    distinct requester (cached per run) + 1 user create per requester Zendesk lacks   ratio target ≤ 1.1
  - Jira calls (search pages of 100 issues with the fields creation needs; no per-issue read)
  - wall time and tickets created per second, with zero-latency fakes
Correctness (exit 1 if broken): every matching issue has exactly one ticket and one link, no other issue has
one, and no requester exists twice. Figures are printed, never asserted.

    .venv/bin/python tests/bench/bench_create.py [--issues 1000] [--reporters 200]

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/deskbridge_bench_create; that
database is created when missing and its rows of earlier runs removed). Run no other benchmark at the same time.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_sync import AGENT_EMAIL, AGENT_TOKEN, ENV, SUBDOMAIN, bench_run, bench_tenant  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/deskbridge_bench_create")
IDS = re.compile(r"/\d+(?=/|\.|$)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=1_000)
    parser.add_argument("--reporters", type=int, default=200)
    args = parser.parse_args()

    from demo.fakes.zendesk import FakeZendesk

    def start_zendesk():
        zendesk = FakeZendesk().start()
        return zendesk, {"ZENDESK_URL_TEMPLATE": zendesk.url_template}

    env = {
        **ENV,
        "DATABASE_URL": DATABASE_URL,
        "SYNC_RECONCILE_GRACE_SECONDS": "0",
        "SYNC_RECONCILE_MAX_ISSUES": str(max(1000, args.issues)),
    }
    return bench_run(env, start_zendesk, lambda zendesk, jira: _bench(args, zendesk, jira))


def _clean() -> None:
    from tenants.models import Tenant

    Tenant.objects.all().delete()  # every tenant-owned row of an earlier run goes with its tenant


def _setup(args, zendesk, jira):
    from django.utils import timezone

    from connector.models import ConnectedItem
    from connector.services import ItemSpec, connected_item_save, zendesk_connect

    _clean()
    zendesk.add_account(SUBDOMAIN, rate_limit=1_000_000)
    zendesk.add_agent(SUBDOMAIN, AGENT_EMAIL, AGENT_TOKEN, name="Bench Admin")
    jira.add_project("SUP", "Support")
    tenant = bench_tenant(jira)
    connection = zendesk_connect(tenant=tenant, subdomain=SUBDOMAIN, email=AGENT_EMAIL, api_token=AGENT_TOKEN)
    item, _ = connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(
            name="Customer bugs",
            mode=ConnectedItem.Mode.TWO_WAY,
            jira_project="SUP",
            jira_issue_type_id="10001",
            helpdesk_object="ticket",
            display_fields=["status", "priority"],
            mappings=[
                {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_helpdesk", "value_map": {}},
                {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira", "value_map": {}},
            ],
        ),
    )
    ConnectedItem.objects.filter(pk=item.pk).update(
        create_from_jira=True,
        create_jql="labels = customer",
        create_from_jira_baseline=timezone.now() - timezone.timedelta(minutes=1),
    )
    for n in range(args.reporters):
        email = f"customer{n}@client{n % 17}.test"
        jira.add_user(f"reporter-{n}", f"Customer {n}", email)
        if n % 2 == 0:  # half of them Zendesk already knows
            zendesk.add_user(SUBDOMAIN, name=f"Customer {n}", email=email)
    started = time.monotonic()
    others = max(1, args.issues // 5)
    for n in range(args.issues + others):
        matching = n < args.issues
        jira.add_issue(
            key=f"SUP-{n + 1}",
            project="SUP",
            summary=f"Customer bug {n}",
            description=f"Steps to reproduce bug {n}",
            labels=["customer"] if matching else ["internal"],
            reporter=jira._user_ref(f"reporter-{n % args.reporters}"),
        )
    print(
        f"set-up: {args.issues} matching issues and {others} others by {args.reporters} reporters "
        f"({args.reporters // 2 + args.reporters % 2} known to Zendesk) in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    return tenant, connection, item


def _kinds(calls, prefix: str) -> collections.Counter:
    """Calls by method and path shape from ``prefix`` on (ids as N; a fake's account prefix left out)."""
    return collections.Counter(
        c.method + " " + IDS.sub("/N", c.path[c.path.index(prefix) :]) for c in calls if prefix in c.path
    )


def _bench(args, zendesk, jira) -> int:
    from django_q.tasks import async_task

    from sync.models import Link, RecordCreate, SyncRun

    tenant, connection, item = _setup(args, zendesk, jira)
    log = open(ROOT / ".bench-create-qcluster.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env={**os.environ}, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        time.sleep(3)  # the cluster starts its workers
        zd_before, jira_before = len(zendesk.requests), len(jira.requests)
        started = time.monotonic()
        async_task("sync.tasks.jira_create_task", connection.pk, group="deskbridge-create")
        deadline = started + 600
        while time.monotonic() < deadline:
            run = SyncRun.objects.filter(tenant=tenant, trigger=SyncRun.Trigger.WEBHOOK).first()
            if run is not None and run.outcome != SyncRun.Outcome.RUNNING:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        run = SyncRun.objects.filter(tenant=tenant, trigger=SyncRun.Trigger.WEBHOOK).first()
        zd = _kinds(zendesk.requests[zd_before:], "/api/v2/")
        jr = _kinds(jira.requests[jira_before:], "/rest/")
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()

    account = zendesk.accounts[SUBDOMAIN]
    tickets = list(account.tickets.values())
    creates = zd["POST /api/v2/tickets.json"]
    lookups = zd["GET /api/v2/users/search.json"]
    user_creates = zd["POST /api/v2/users/create_or_update.json"]
    new_people = args.reporters // 2
    minimum = args.issues + args.reporters + new_people
    total = sum(zd.values())
    print(f"run: {run.outcome if run else 'none'} {run.reason if run else ''}".rstrip(), flush=True)
    print(
        f"Zendesk: {total} calls for {len(tickets)} tickets — {creates} ticket creates, {lookups} user lookups, "
        f"{user_creates} user creates; minimum {minimum} ({args.issues} creates + {args.reporters} lookups + "
        f"{new_people} user creates): ratio {total / minimum:.3f} (target ≤ 1.1)"
    )
    print(f"  by kind: {', '.join(f'{n} {k}' for k, n in zd.most_common())}")
    print(f"Jira: {sum(jr.values())} calls — {', '.join(f'{n} {k}' for k, n in jr.most_common())}")
    print(f"time: {elapsed:.1f} s for {len(tickets)} tickets ({len(tickets) / max(elapsed, 0.001):.0f} tickets/s)")

    problems = []
    links = Link.objects.filter(tenant=tenant, item=item)
    if links.count() != args.issues or len(tickets) != args.issues:
        problems.append(f"{args.issues} matching issues, {len(tickets)} tickets, {links.count()} links")
    subjects = collections.Counter(t["subject"] for t in tickets)
    twice = [s for s, n in subjects.items() if n > 1]
    if twice:
        problems.append(f"tickets made twice: {twice[:5]}")
    if any(not s.startswith("Customer bug ") or int(s.rsplit(" ", 1)[1]) >= args.issues for s in subjects):
        problems.append("a ticket for an issue the filter leaves out")
    emails = collections.Counter(u["email"] for u in account.users.values() if u["email"])
    if any(n > 1 for n in emails.values()):
        problems.append("a requester exists twice")
    if RecordCreate.objects.filter(tenant=tenant).exclude(state="done").exists():
        problems.append("creations left unfinished")
    for problem in problems:
        print(f"BROKEN: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

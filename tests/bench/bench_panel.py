"""Panel benchmark: the cards endpoint under load on a production-like server.

Fixed workload: one tenant with 10,000 links across 5 SCIs (2,000 issues), gunicorn serving
config.settings.production on PostgreSQL, 20 concurrent clients (wrk, or 4 processes x 5 threads without it) calling
GET /api/panel/cards for random issues for 30 s, authenticated as the panel does (the page session bound to
the issue). Prints p50/p95/p99 latency,
requests/s, and SQL queries per request for issues with 0, 5 and 25 links (constant = no N+1).

    make bench           # or: .venv/bin/python tests/bench/bench_panel.py [--seconds 30] [--clients 20]

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/deskbridge_bench).
Target on the 2-core machine: p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import signal
import socket
import statistics
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
    "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/deskbridge_bench"),
    "ATLASSIAN_LICENSING_ENFORCED": "true",
}
ITEMS = 5
ISSUES = 2000
LINKS = 10_000
CLIENT_KEY = "jira:bench-site"
SECRET = "bench-shared-secret-0123456789abcdef0123456789"


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django():
    os.environ.update(ENV)
    import django

    django.setup()


def seed() -> dict:
    """Fresh fixed workload: tenant, connection, 5 items on one project (5 issue types), 10k links."""
    from django.core.management import call_command
    from django.utils import timezone

    from connector.models import ConnectedItem, HelpdeskConnection
    from sync.models import Link
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    Tenant.objects.filter(client_key=CLIENT_KEY).delete()
    tenant = Tenant.objects.create(
        client_key=CLIENT_KEY,
        app_key="com.deskbridge.jira",
        base_url="https://bench.atlassian.net",
        shared_secret=SECRET,
        license=Tenant.License.ACTIVE,
    )
    connection = HelpdeskConnection.objects.create(
        tenant=tenant, provider="zendesk", settings={"subdomain": "bench"}, agent_id="1", status="connected"
    )
    items = [
        ConnectedItem.objects.create(
            tenant=tenant,
            connection=connection,
            name=f"Item {i}",
            mode="display" if i < 3 else "one_way",
            jira_project_id="10000",
            jira_project_key="SUP",
            jira_issue_type_id="" if i < 3 else "10001",
            helpdesk_object="ticket",
            display_fields=["status", "priority", "requester.name", "organization.name"],
        )
        for i in range(ITEMS)
    ]
    rng = random.Random(7)
    now = timezone.now()
    links = []
    for n in range(LINKS):
        issue = n % ISSUES
        item = items[(n // ISSUES) % ITEMS]
        preview = {
            "id": str(n),
            "title": f"#{n} Ticket number {n}",
            "subtitle": "open",
            "url": f"https://bench.zendesk.com/agent/tickets/{n}",
            "fields": [
                {"id": "status", "label": "Status", "value": rng.choice(["Open", "Pending", "Solved"])},
                {"id": "priority", "label": "Priority", "value": rng.choice(["Low", "Normal", "High"])},
                {"id": "requester.name", "label": "Requester name", "value": f"Customer {n % 500}"},
                {"id": "organization.name", "label": "Organization", "value": f"Org {n % 50}"},
            ],
        }
        links.append(
            Link(
                tenant=tenant,
                item=item,
                jira_issue_id=str(20000 + issue),
                jira_issue_key=f"SUP-{issue}",
                record_id=str(n),
                preview=preview,
                preview_updated_at=now,
            )
        )
    Link.objects.bulk_create(links, batch_size=2000)
    return {"tenant": tenant}


def panel_sessions() -> dict[int, str]:
    """What the issue panel sends: a page session bound to its issue (one per issue of the workload)."""
    from tenants.auth import JiraPrincipal, page_session_issue
    from tenants.models import Tenant

    tenant = Tenant.objects.get(client_key=CLIENT_KEY)
    principal = JiraPrincipal(tenant, "bench-user")
    return {
        issue: page_session_issue(principal, issue_id=str(20000 + issue), project_id="10000", issue_type_id="10001")
        for issue in range(ISSUES)
    }


def queries_per_request() -> dict[int, int]:
    """SQL queries of one cards request, for issues with different numbers of links."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from sync.models import Link
    from tenants import selectors
    from tenants.auth import JiraPrincipal, page_session_issue
    from tenants.models import Tenant

    tenant = Tenant.objects.get(client_key=CLIENT_KEY)
    item = tenant_item = Link.objects.filter(tenant=tenant).first().item
    extra_issue = "99999"
    Link.objects.filter(jira_issue_id=extra_issue).delete()
    Link.objects.bulk_create(
        [
            Link(
                tenant=tenant,
                item=tenant_item,
                jira_issue_id=extra_issue,
                jira_issue_key="SUP-99999",
                record_id=f"x{i}",
                preview={"title": f"x{i}", "fields": []},
            )
            for i in range(25)
        ]
    )
    client = Client()
    sessions = panel_sessions()
    results = {}
    for label, issue_id in (("0 links", "1"), ("5 links", "20000"), ("25 links", extra_issue)):
        url = f"/api/panel/cards?issue_id={issue_id}&project_id=10000&issue_type_id=10001"
        session = sessions.get(int(issue_id) - 20000) or page_session_issue(
            JiraPrincipal(tenant, "c"), issue_id=issue_id, project_id="10000", issue_type_id="10001"
        )
        counts = []
        for cold in (True, False):
            if cold:
                selectors._TENANT_CACHE.clear()
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(url, HTTP_X_DESKBRIDGE_SESSION=session, HTTP_HOST="127.0.0.1")
            assert response.status_code == 200, response.content
            counts.append(len(ctx.captured_queries))
        n_links = sum(len(c["links"]) for c in response.json()["cards"])
        results[f"{label} (served {n_links})"] = counts
    Link.objects.filter(jira_issue_id=extra_issue).delete()
    del item
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_process(port: int, seconds: float, threads: int, seed_: int, sessions: dict, out: mp.Queue) -> None:
    import requests

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(n: int) -> None:
        rng = random.Random(seed_ * 100 + n)
        session = requests.Session()
        local: list[float] = []
        bad = 0
        while time.monotonic() < deadline:
            n_issue = rng.randrange(ISSUES)
            query = f"issue_id={20000 + n_issue}&project_id=10000&issue_type_id=10001"
            url = f"http://127.0.0.1:{port}/api/panel/cards?{query}"
            start = time.perf_counter()
            response = session.get(url, headers={"X-Deskbridge-Session": sessions[n_issue]}, timeout=10)
            elapsed = time.perf_counter() - start
            if response.status_code != 200 or not response.json()["cards"]:
                bad += 1
            local.append(elapsed)
        with lock:
            latencies.extend(local)
            errors[0] += bad

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((latencies, errors[0]))


WRK_SCRIPT = """
math.randomseed(7)
local sessions = {%(sessions)s}
request = function()
  local n = math.random(0, %(issues)d - 1)
  local path = "/api/panel/cards?issue_id=" .. (20000 + n) .. "&project_id=10000&issue_type_id=10001"
  return wrk.format("GET", path, {["X-Deskbridge-Session"] = sessions[n + 1]})
end
done = function(summary, latency, requests)
  io.write(string.format("WRK %%d %%d %%d %%f %%f %%f %%f\\n", summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
    latency:percentile(99) / 1e3))
end
"""


def ensure_wrk() -> str | None:
    """wrk (Debian's package) is a C load generator: it leaves the CPU to the server under test."""
    import shutil

    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True, check=False)
    return shutil.which("wrk")


def run_wrk(wrk: str, port: int, seconds: float, clients: int, sessions: dict) -> dict:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        listed = ",".join(f'"{sessions[n]}"' for n in range(ISSUES))
        script.write(WRK_SCRIPT % {"issues": ISSUES, "sessions": listed})
    env = dict(os.environ)
    result = subprocess.run(
        [
            wrk,
            "-t",
            "2",
            "-c",
            str(clients),
            "-d",
            f"{int(seconds)}s",
            "-s",
            script.name,
            "--timeout",
            "10s",
            f"http://127.0.0.1:{port}/",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    os.unlink(script.name)
    line = next(x for x in result.stdout.splitlines() if x.startswith("WRK "))
    requests_, status_errors, socket_errors, duration, p50, p95, p99 = line.split()[1:]
    return {
        "requests": int(requests_),
        "errors": int(status_errors) + int(socket_errors),
        "rps": int(requests_) / float(duration),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "generator": "wrk",
    }


def run_python_clients(port: int, seconds: float, clients: int, sessions: dict) -> dict:
    processes = 4
    per_process = max(1, clients // processes)
    out: mp.Queue = mp.Queue()
    procs = [
        mp.Process(target=client_process, args=(port, seconds, per_process, i, sessions, out)) for i in range(processes)
    ]
    start = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - start
    latencies = sorted(lat for lats, _ in results for lat in lats)
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": sum(e for _, e in results),
        "rps": len(latencies) / wall,
        "p50": q[49] * 1000,
        "p95": q[94] * 1000,
        "p99": q[98] * 1000,
        "generator": "python (wrk not available; the clients share the CPU with the server)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="gunicorn worker processes (default: one per core)"
    )
    args = parser.parse_args()

    ensure_database(ENV["DATABASE_URL"])
    setup_django()
    t0 = time.perf_counter()
    seed()
    print(f"seeded {LINKS} links across {ITEMS} SCIs and {ISSUES} issues in {time.perf_counter() - t0:.1f} s")
    queries = queries_per_request()

    port = free_port()
    env = {**os.environ, **ENV}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--workers",
            str(args.workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--keep-alive",
            "5",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        import requests

        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        wrk = ensure_wrk()
        sessions = panel_sessions()
        stats = (
            run_wrk(wrk, port, args.seconds, args.clients, sessions)
            if wrk
            else run_python_clients(port, args.seconds, args.clients, sessions)
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    print(
        f"panel cards benchmark: {args.clients} concurrent clients, {args.seconds:.0f} s, gunicorn x{args.workers}, "
        f"PostgreSQL, {LINKS} links / {ITEMS} SCIs / {ISSUES} issues, load from {stats['generator']}"
    )
    print(f"  requests      {stats['requests']} ({stats['errors']} errors)")
    print(f"  throughput    {stats['rps']:.0f} requests/s")
    print(f"  latency p50   {stats['p50']:.1f} ms")
    print(f"  latency p95   {stats['p95']:.1f} ms   (target < 50 ms)")
    print(f"  latency p99   {stats['p99']:.1f} ms")
    for label, (cold, warm) in queries.items():
        print(f"  SQL queries per request, issue with {label}: {warm} ({cold} when the tenant is not cached yet)")


if __name__ == "__main__":
    main()

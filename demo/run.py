"""``make demo`` (``python -m demo.run``): the whole product on one machine, one command.

Starts, all on loopback:
- two simulated Jira Cloud sites with a small Jira-like shell each, since a site has one helpdesk at a time:
  "Acme" (``demo.shell.DemoJira``) with a simulated Zendesk and "Globex" (``demo.zoho_site.DemoZohoJira``) with a
  simulated Zoho Desk, and Atlassian's install-keys service — the stateful fakes the test suite uses
  (``demo/fakes``);
- the real app: ``manage.py runserver --noreload`` and a real ``manage.py qcluster`` worker, with
  ``DJANGO_SETTINGS_MODULE=demo.settings`` and a fresh SQLite database in ``.demo/``.

Then it sets each site up the way it happens for real: the site installs the app through the signed
``/connect/installed`` callback, a Jira admin connects the helpdesk (Zendesk with an API token; Zoho Desk with a
Self Client code, as ``POST /api/v1/connections/zoho``) and creates Smart Connected Items through the app's
configuration API, a user links records from the panel API, and the site subscribes to the webhooks of the
app's descriptor (fetched over HTTP). It prints one URL, Acme's shell, whose pages link to Globex's. Ctrl-C
stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

from demo.fakes.jira import FakeInstallKeys, text_to_adf
from demo.shell import DemoJira, DemoZendesk
from demo.zoho_site import DEMO_ZOHO_SETTLE_SECONDS, DemoZohoDesk, DemoZohoJira

ROOT = Path(__file__).resolve().parent.parent
SUBDOMAIN = "acme"
CONNECTED_AGENT = ("deskbridge@acme.test", "Deskbridge Integration")  # the agent Deskbridge connects as
HUMAN_AGENT = ("sam@acme.test", "Sam Agent")  # the agent the helpdesk view acts as
API_TOKEN = "demo-zendesk-api-token-0123456789"  # an API token of the simulated Zendesk account
START_TIMEOUT = 45.0
SITES = ("Acme (Zendesk)", "Globex (Zoho Desk)")  # the shells' site switcher
ZOHO_DC = "eu"  # the data center of the simulated Zoho Desk portal
ZOHO_CONNECTED_AGENT = ("deskbridge@globex.test", "Deskbridge Integration")  # the Self Client's user
ZOHO_HUMAN_AGENT = ("kim@globex.test", "Kim Agent")  # the agent the Zoho helpdesk view acts as
ZOHO_CLIENT_ID = "1000.DEMOGLOBEXSELFCLIENT"  # the Self Client registered in the simulated API console
ZOHO_CLIENT_SECRET = "demo-zoho-self-client-secret-0123456789"


class DemoError(Exception):
    """The demo could not start; the message says why and what to do."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PRIORITIES = {"High": {"id": "2", "name": "High"}, "Medium": {"id": "3", "name": "Medium"}}


def seed_project(jira, project: tuple[str, str], issues: list[tuple[str, str, str]]) -> list[dict]:
    """A simulated site's viewer (a Jira admin), its project and issues ``(summary, priority, description)``
    keyed ``<KEY>-1``, ``<KEY>-2``, …"""
    jira.human_display_name = "Mia Krystof"
    jira.admins.add(jira.viewer)
    jira.add_project(*project)
    return [
        jira.add_issue(
            key=f"{project[0]}-{n}", summary=summary, priority=PRIORITIES[priority], description=text_to_adf(text)
        )
        for n, (summary, priority, text) in enumerate(issues, start=1)
    ]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Demo:
    def __init__(self, *, port: int, demo_dir: Path, out=sys.stdout) -> None:
        self.port = port  # 0: a free one, chosen once the simulated services hold their own ports
        self.demo_dir = demo_dir
        self.out = out
        self.app_url = f"http://127.0.0.1:{port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: list[Any] = []
        self.install_keys = FakeInstallKeys()
        self.zendesk = DemoZendesk()
        self.zoho = DemoZohoDesk()
        self.jira: DemoJira | None = None
        self.globex: DemoZohoJira | None = None
        self.stopping = threading.Event()

    # --- processes -------------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        assert self.jira is not None
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "demo.settings",
            "DEMO_DIR": str(self.demo_dir),
            "APP_BASE_URL": self.app_url,
            "ATLASSIAN_INSTALL_KEYS_URL": self.install_keys.url,
            "ZENDESK_URL_TEMPLATE": self.zendesk.url_template,
            "ZOHO_ACCOUNTS_URL_OVERRIDE": self.zoho.accounts_url_template,
            "ZOHO_DESK_URL_OVERRIDE": self.zoho.desk_url_template,
            "ZOHO_SEARCH_SETTLE_SECONDS": str(DEMO_ZOHO_SETTLE_SECONDS),
            "DEMO_CONNECT_ALL_JS_URL": f"{self.jira.url}/demo/all.js",
            "PYTHONUNBUFFERED": "1",
        }

    def check_stopping(self) -> None:
        if self.stopping.is_set():
            raise DemoError("stopped while starting (Ctrl-C)")

    def manage(self, *args: str) -> None:
        self.check_stopping()
        with (self.demo_dir / "setup.log").open("a") as log:
            done = subprocess.run(
                [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )
        self.check_stopping()  # Ctrl-C in a terminal reaches this child too
        if done.returncode != 0:
            raise DemoError(f"manage.py {' '.join(args)} failed; see {self.demo_dir / 'setup.log'}")

    def spawn(self, name: str, *args: str) -> None:
        log = (self.demo_dir / f"{name}.log").open("w")
        self.logs.append(log)
        # Own process group: Ctrl-C reaches the launcher only, which stops each group in order.
        self.procs[name] = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self.check_stopping()
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise DemoError(f"the {name} exited at start; see {self.demo_dir / (name + '.log')}")
            try:
                if requests.get(f"{self.app_url}/healthz", timeout=2).status_code in (200, 503):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise DemoError(f"the app did not answer {self.app_url}/healthz within {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):  # what is left of the group
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        for log in self.logs:
            log.close()
        for fake in (self.jira, self.globex, self.zendesk, self.zoho, self.install_keys):
            if fake is not None and fake._server is not None:
                fake.stop()

    # --- start -------------------------------------------------------------------------------------------
    def start(self) -> str:
        started = time.monotonic()
        shutil.rmtree(self.demo_dir, ignore_errors=True)  # a fresh site every time: the fakes live in memory
        self.demo_dir.mkdir(parents=True)
        self.install_keys.start()
        self.zendesk.start()
        self.zoho.start()
        app_key = os.environ.get("ATLASSIAN_APP_KEY", "com.deskbridge.jira")
        self.jira = DemoJira(app_key=app_key, install_keys=self.install_keys).start()
        self.globex = DemoZohoJira(app_key=app_key, install_keys=self.install_keys).start()
        sites = list(zip(SITES, (f"{self.jira.url}/", f"{self.globex.url}/"), strict=True))
        self.jira.sites = self.globex.sites = sites
        if not self.port:  # chosen now, so no simulated service can take it between the choice and runserver
            self.port = free_port()
            self.app_url = f"http://127.0.0.1:{self.port}"
        self.say(f"Setting up the demo (logs in {self.demo_dir})…")
        self.manage("migrate", "--noinput")
        self.manage("apply_schedules")
        self.spawn("web", "runserver", "--noreload", f"127.0.0.1:{self.port}")
        self.spawn("worker", "qcluster")
        self.wait_healthy()
        descriptor = requests.get(f"{self.app_url}/atlassian-connect.json", timeout=10).json()
        for site in (self.jira, self.globex):
            site.app_key = descriptor["key"]
            site.app_url = descriptor["baseUrl"].rstrip("/")
            site.descriptor = descriptor
        self.check_stopping()
        self.seed()
        self.seed_globex()
        self.install(descriptor)
        self.install(descriptor, self.globex)
        self.configure()
        self.configure_globex()
        self.jira.webhooks_subscribe(descriptor)
        self.globex.webhooks_subscribe(descriptor)
        self.say(f"Ready in {time.monotonic() - started:.0f} s.")
        return f"{self.jira.url}/"

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def seed(self) -> None:
        """The simulated services' own data: a Jira project with issues, a Zendesk account with tickets."""
        jira, zd = self.jira, self.zendesk
        assert jira is not None
        self.issues = seed_project(
            jira,
            ("SUP", "Support"),
            [
                ("Checkout times out for EU customers", "High",
                 "Several customers in the EU report a timeout on the last checkout step."),
                ("Refund not shown on the invoice", "Medium",
                 "A refund made on the 3rd does not appear on the customer's invoice."),
                ("Export of reports to CSV", "Medium", "Customers ask to export their monthly reports as CSV files."),
            ],
        )  # fmt: skip
        zd.add_account(SUBDOMAIN)
        zd.add_agent(SUBDOMAIN, CONNECTED_AGENT[0], API_TOKEN, name=CONNECTED_AGENT[1], role="admin")
        zd.add_agent(SUBDOMAIN, HUMAN_AGENT[0], name=HUMAN_AGENT[1])
        globex = zd.add_organization(SUBDOMAIN, name="Globex Corporation", domain_names=["globex.example"])
        initech = zd.add_organization(SUBDOMAIN, name="Initech", domain_names=["initech.example"])
        hank = zd.add_user(SUBDOMAIN, name="Hank Scorpio", email="hank@globex.example", organization_id=globex["id"])
        peter = zd.add_user(
            SUBDOMAIN, name="Peter Gibbons", email="peter@initech.example", organization_id=initech["id"]
        )
        self.customers = [hank, peter]
        self.tickets = [
            zd.add_ticket(
                SUBDOMAIN,
                subject="Checkout spins forever, then times out",
                description="Our EU shop cannot complete any order since this morning.",
                priority="high",
                requester_id=hank["id"],
                organization_id=globex["id"],
            ),
            zd.add_ticket(
                SUBDOMAIN,
                subject="Refund missing on invoice INV-2291",
                description="We were refunded but the invoice still shows the full amount.",
                priority="normal",
                requester_id=peter["id"],
                organization_id=initech["id"],
            ),
            zd.add_ticket(
                SUBDOMAIN,
                subject="Can we export reports?",
                description="Is there a way to download the monthly report as a spreadsheet?",
                priority="low",
                requester_id=peter["id"],
                organization_id=initech["id"],
            ),
        ]
        jira.zendesk, jira.zendesk_subdomain = zd, SUBDOMAIN
        jira.zendesk_agent = (HUMAN_AGENT[0], API_TOKEN)
        zd.helpdesk_view = f"{jira.url}/demo/helpdesk"

    def seed_globex(self) -> None:
        """The Globex site's data: a Jira project with issues, a Zoho Desk portal with accounts, contacts, tickets
        and a Self Client (registered in Zoho's API console by the agent Deskbridge connects as)."""
        jira, zoho = self.globex, self.zoho
        assert jira is not None
        self.globex_issues = seed_project(
            jira,
            ("GLX", "Globex Support"),
            [
                ("Password reset mail never arrives", "High",
                 "Customers of the EU portal get no password reset email."),
                ("Invoice PDF shows the wrong VAT rate", "Medium",
                 "Invoices of Austrian customers show 19 % VAT instead of 20 %."),
                ("Dark mode for the customer portal", "Medium", "Several customers ask for a dark theme."),
            ],
        )  # fmt: skip
        org = zoho.add_org(ZOHO_DC, name="Globex Support", portal_name="globexsupport")
        connected = zoho.add_agent(org.id, name=ZOHO_CONNECTED_AGENT[1], email=ZOHO_CONNECTED_AGENT[0])
        human = zoho.add_agent(org.id, name=ZOHO_HUMAN_AGENT[1], email=ZOHO_HUMAN_AGENT[0], role="Agent")
        zoho.add_self_client(
            ZOHO_DC, client_id=ZOHO_CLIENT_ID, client_secret=ZOHO_CLIENT_SECRET, user=connected, orgs=[org.id]
        )
        initrode = zoho.add_account(org.id, accountName="Initrode", website="https://initrode.example")
        umbrella = zoho.add_account(org.id, accountName="Umbrella Corp", website="https://umbrella.example")
        marge = zoho.add_contact(
            org.id,
            firstName="Marge",
            lastName="Gunderson",
            email="marge@initrode.example",
            phone="+43 1 555 0101",
            title="Head of IT",
            accountId=initrode["id"],
        )
        otto = zoho.add_contact(
            org.id,
            firstName="Otto",
            lastName="Rahn",
            email="otto@umbrella.example",
            phone="+43 1 555 0202",
            title="Accounts payable",
            accountId=umbrella["id"],
        )
        self.zoho_contacts = [marge, otto]
        self.zoho_tickets = [
            zoho.add_ticket(
                org.id,
                subject="No password reset email",
                description="<div>I asked for a password reset three times and got no email.</div>",
                priority="High",
                contactId=marge["id"],
                accountId=initrode["id"],
            ),
            zoho.add_ticket(
                org.id,
                subject="Wrong VAT on invoice 2024-118",
                description="<div>Our invoice shows 19 % VAT; Austria charges 20 %.</div>",
                priority="Medium",
                contactId=otto["id"],
                accountId=umbrella["id"],
            ),
            zoho.add_ticket(
                org.id,
                subject="Is there a dark mode?",
                description="<div>Our team works late; a dark theme would help.</div>",
                priority="Low",
                contactId=otto["id"],
                accountId=umbrella["id"],
            ),
        ]
        jira.zoho, jira.zoho_org_id, jira.zoho_agent = zoho, org.id, human
        zoho.helpdesk_view = f"{jira.url}/demo/helpdesk"

    def install(self, descriptor: dict[str, Any], site: DemoJira | None = None) -> None:
        """Jira installs the app: the signed-install callback (RS256, key served by the install-keys service)."""
        jira = site or self.jira
        assert jira is not None
        path = descriptor["lifecycle"]["installed"]
        token = jira.sign_install("POST", path, aud=self.app_url)
        answer = requests.post(
            f"{self.app_url}{path}",
            json=jira.install_payload(eventType="installed"),
            headers={"Authorization": f"JWT {token}"},
            timeout=15,
        )
        if answer.status_code != 204:
            raise DemoError(f"the app refused the install ({answer.status_code}): {answer.text[:300]}")

    def api(self, method: str, path: str, body: Any = None, site: DemoJira | None = None) -> Any:
        """The app's API, called as the Jira admin viewing the shell (a context JWT, as the admin page's script)."""
        jira = site or self.jira
        assert jira is not None
        token = jira.context_token(account_id=jira.viewer)
        answer = requests.request(
            method, f"{self.app_url}{path}", json=body, headers={"Authorization": f"JWT {token}"}, timeout=30
        )
        if answer.status_code >= 400:
            raise DemoError(f"{method} {path} answered {answer.status_code}: {answer.text[:500]}")
        return answer.json() if answer.content else None

    def configure(self) -> None:
        """What a Jira admin does on the admin page and a user in the panel, through the app's own API."""
        self.api(
            "POST",
            "/api/v1/connections",
            {"subdomain": SUBDOMAIN, "email": CONNECTED_AGENT[0], "api_token": API_TOKEN},
        )
        customers = self.api(
            "POST",
            "/api/v1/items",
            {
                "name": "Customers",
                "mode": "display",
                "jira_project": "SUP",
                "helpdesk_object": "user",
                "display_fields": ["email", "organization.name", "phone"],
            },
        )["item"]
        tickets = self.api(
            "POST",
            "/api/v1/items",
            {
                "name": "Support tickets",
                "mode": "two_way",
                "jira_project": "SUP",
                "jira_issue_type_id": "10001",
                "helpdesk_object": "ticket",
                "display_fields": ["status", "priority", "requester.name", "organization.name"],
                "status_sync": True,
                "comment_sync": True,
                "mappings": [
                    {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira"},
                    {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk"},
                ],
            },
        )["item"]
        sup1, sup2 = self.issues[0], self.issues[1]
        for item, issue, record in (
            (tickets, sup1, self.tickets[0]["id"]),
            (tickets, sup2, self.tickets[1]["id"]),
            (customers, sup1, self.customers[0]["id"]),
            (customers, sup2, self.customers[1]["id"]),
        ):
            self.api(
                "POST",
                "/api/panel/links",
                {"item_id": item["id"], "issue_id": issue["id"], "issue_key": issue["key"], "record_id": str(record)},
            )

    def configure_globex(self) -> None:
        """Globex's admin connects Zoho Desk with a code generated in Zoho's API console for its Self Client (the
        simulated console mints it), creates a display item of contacts and a two-way item of tickets, and a user
        links records to GLX-1 and GLX-2."""
        site = self.globex
        code = self.zoho.self_client_code(ZOHO_CLIENT_ID)
        connection = self.api(
            "POST",
            "/api/v1/connections/zoho",
            {"data_center": ZOHO_DC, "client_id": ZOHO_CLIENT_ID, "client_secret": ZOHO_CLIENT_SECRET, "code": code},
            site=site,
        )
        if connection.get("provider") != "zoho_desk":
            raise DemoError(f"connecting Zoho Desk answered {connection}")
        contacts = self.api(
            "POST",
            "/api/v1/items",
            {
                "name": "Zoho contacts",
                "mode": "display",
                "jira_project": "GLX",
                "helpdesk_object": "contacts",
                "display_fields": ["email", "phone", "title"],
            },
            site=site,
        )["item"]
        tickets = self.api(
            "POST",
            "/api/v1/items",
            {
                "name": "Zoho tickets",
                "mode": "two_way",
                "jira_project": "GLX",
                "jira_issue_type_id": "10001",
                "helpdesk_object": "tickets",
                "display_fields": ["status", "priority", "email"],
                "status_sync": True,
                "comment_sync": True,
                "mappings": [
                    {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira"},
                    {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk"},
                ],
            },
            site=site,
        )["item"]
        glx1, glx2 = self.globex_issues[0], self.globex_issues[1]
        for item, issue, record in (
            (tickets, glx1, self.zoho_tickets[0]["id"]),
            (tickets, glx2, self.zoho_tickets[1]["id"]),
            (contacts, glx1, self.zoho_contacts[0]["id"]),
            (contacts, glx2, self.zoho_contacts[1]["id"]),
        ):
            self.api(
                "POST",
                "/api/panel/links",
                {"item_id": item["id"], "issue_id": issue["id"], "issue_key": issue["key"], "record_id": str(record)},
                site=site,
            )

    # --- run ---------------------------------------------------------------------------------------------
    def watch(self) -> int:
        """Until Ctrl-C / SIGTERM, or a process of the app exits (then say which and where its log is)."""
        while not self.stopping.wait(0.5):
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    self.say(f"The {name} exited ({proc.returncode}); see {self.demo_dir / (name + '.log')}.")
                    return 1
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("DEMO_PORT") or 0),
        help="port of the app (default: DEMO_PORT, else a free one); the shell's port is always a free one",
    )
    parser.add_argument("--dir", default=str(ROOT / ".demo"), help="where the demo keeps its database and logs")
    args = parser.parse_args(argv)
    port = args.port
    if port and not port_free(port):
        print(f"Port {port} is in use: stop what uses it or choose another with --port / DEMO_PORT.", file=sys.stderr)
        return 2
    demo = Demo(port=port, demo_dir=Path(args.dir).resolve())

    def stop(*_: Any) -> None:
        demo.stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        url = demo.start()
        if demo.stopping.is_set():
            return 0
        print(f"\nDeskbridge demo: open {url}", flush=True)
        sites = " and ".join(SITES)
        print(f"(two simulated Jira sites, {sites}: switch at the top right; Ctrl-C stops it)", flush=True)
        code = demo.watch()
    except DemoError as exc:
        print(f"The demo could not start: {exc}", file=sys.stderr)
        code = 1
    finally:
        demo.stop()
        print("Demo stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""The demo's second simulated Jira site, "Globex", connected to a simulated Zoho Desk.

A Jira site has one helpdesk at a time, so ``make demo`` runs two sites against the same app and worker: Acme
(``demo.shell.DemoJira``, Zendesk) and Globex (``DemoZohoJira`` here, Zoho Desk), each its own ``FakeJira``
(own port, client key and shared secret) installed through the signed install callback. Globex's shell has the
same pages as Acme's (issues, an issue with the panel, Jira administration) and its own helpdesk view:

- ``/demo/helpdesk``: the Zoho Desk portal's tickets and contacts;
- ``/demo/helpdesk/tickets/<id>``: a ticket, where an agent of the portal (not the agent Deskbridge is
  connected as) changes the subject, status or priority or comments, as a person does in Zoho Desk (the fake's
  ``user_update`` / ``add_comment``: the ticket's ``modifiedTime`` moves, which is what a poll looks for).

``DemoZohoDesk`` is the tests' ``FakeZohoDesk`` with two demo touches: a record's ``webUrl`` (what "Open in Zoho
Desk" opens) leads to this helpdesk view instead of ``desk.zoho.eu``, and a comment moves the ticket's modified
time, so a comment made in the view is in the next poll.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import quote

from demo.fakes.server import FakeRequest, route
from demo.fakes.zoho_desk import FakeZohoDesk, Org
from demo.shell import DemoJira, _form, _option, _redirect, esc, ticket_form

# Zoho's search index lags behind writes, so a poll reads changes up to ZOHO_SEARCH_SETTLE_SECONDS ago (30 s by
# default). The simulated Zoho Desk has no lag: the demo waits only this long, so Sync now a few seconds after a
# change finds it. The launcher runs the app with this value.
DEMO_ZOHO_SETTLE_SECONDS = 2
ZOHO_PRIORITIES = ["", "High", "Medium", "Low"]
STATUS_CLASS = {"Open": "open", "On Hold": "pending", "Closed": "closed"}  # Zoho status type -> shell lozenge
_TAG = re.compile(r"<[^>]+>")


def _text(content: str) -> str:
    """A Zoho comment's HTML content as plain text (the view shows it escaped, never as markup)."""
    return html.unescape(_TAG.sub(" ", re.sub(r"(?i)<br\s*/?>|</div>|</p>", "\n", content or ""))).strip()


class DemoZohoDesk(FakeZohoDesk):
    """The simulated Zoho Desk of the demo (see the module docstring)."""

    name = "demo-zoho-desk"

    def __init__(self) -> None:
        super().__init__()
        self.helpdesk_view = ""  # the Globex shell's helpdesk view (``{globex.url}/demo/helpdesk``)
        # Whether a comment moves a ticket's modified time in real Zoho Desk is not documented (Deskbridge also
        # sweeps linked records' comments every 15 minutes); here it does, so a comment is in the next poll.
        self.activity_bumps_modified_time = True

    def _render(self, org: Org, module: str, record: dict[str, Any], *, listing: bool = False) -> dict[str, Any]:
        data = super()._render(org, module, record, listing=listing)
        if "webUrl" in data and self._server is not None:
            data["webUrl"] = f"{self.url}/agent/{quote(org.portal_name)}/{module}/{record['id']}"
        return data

    @route("GET", r"/agent/(?P<portal>[^/]+)/(?P<module>[A-Za-z]+)/(?P<id>\d+)")
    def agent_page(self, request: FakeRequest):
        """A record's page in Zoho Desk (its ``webUrl``): the demo's helpdesk view."""
        if request.params["module"] == "tickets":
            return _redirect(f"{self.helpdesk_view}/tickets/{request.params['id']}")
        return _redirect(self.helpdesk_view)


class DemoZohoJira(DemoJira):
    """The Globex site: the demo's Jira shell, with a Zoho Desk helpdesk view (see the module docstring)."""

    name = "demo-jira-globex"
    site_title = "Globex (simulated Jira Cloud site)"
    helpdesk_name = "Zoho Desk"

    def __init__(self, *, app_key: str, install_keys=None) -> None:
        super().__init__(app_key=app_key, install_keys=install_keys)
        self.zoho: DemoZohoDesk | None = None
        self.zoho_org_id = ""
        self.zoho_agent: dict[str, Any] = {}  # the agent the helpdesk view acts as

    def _org(self) -> Org:
        assert self.zoho is not None and self.zoho_org_id, "the Globex site has no Zoho Desk portal"
        return self.zoho.orgs[self.zoho_org_id]

    def _settle_note(self) -> str:
        return (
            f"<p class='meta'>Acting as the Zoho Desk agent {esc(self.zoho_agent.get('emailId'))} (not the agent "
            "Deskbridge is connected as, whose own changes are never copied back). Changes reach Jira at the next "
            "poll: Sync now on the Deskbridge admin page, or the scheduled poll within a minute. (Zoho's search "
            "lags behind changes, so Deskbridge reads them 30 seconds late by default; the demo only "
            f"{DEMO_ZOHO_SETTLE_SECONDS} seconds late.)</p>"
        )

    # Same method names as the Zendesk view's: these replace its routes on this site.
    @route("GET", r"/demo/helpdesk")
    def shell_helpdesk(self, request: FakeRequest):
        org = self._org()
        with self.zoho._lock:
            tickets = sorted(org.records["tickets"].values(), key=lambda t: int(t["ticketNumber"]))
            contacts = list(org.records["contacts"].values())
            accounts = {a["id"]: a.get("accountName") for a in org.records["accounts"].values()}
            rows = "".join(
                f'<tr data-testid="ticket-row"><td><a href="/demo/helpdesk/tickets/{esc(t["id"])}">'
                f"#{esc(t['ticketNumber'])}</a></td><td>{esc(t['subject'])}</td>"
                f'<td><span class="lozenge {STATUS_CLASS.get(t["statusType"], "")}">{esc(t["status"])}</span></td>'
                f"<td>{esc(t.get('priority') or '')}</td>"
                f"<td class='meta'>{esc(t['modifiedTime'][:19].replace('T', ' '))}</td></tr>"
                for t in tickets
            )
            people = "".join(
                f'<tr data-testid="contact-row"><td>{esc(" ".join(filter(None, (c.get("firstName"), c["lastName"]))))}'
                f"</td><td>{esc(c.get('email') or '')}</td><td>{esc(c.get('phone') or '')}</td>"
                f"<td>{esc(accounts.get(c.get('accountId') or '', ''))}</td></tr>"
                for c in contacts
            )
        body = f"""<h1>Zoho Desk (simulated): {esc(org.name)}</h1>{self._settle_note()}
<h2>Tickets</h2>
<table class="list" aria-label="Tickets"><thead><tr><th>Number</th><th>Subject</th><th>Status</th><th>Priority</th>
<th>Modified</th></tr></thead><tbody>{rows}</tbody></table>
<h2>Contacts</h2>
<table class="list" aria-label="Contacts"><thead><tr><th>Name</th><th>Email</th><th>Phone</th><th>Account</th>
</tr></thead><tbody>{people}</tbody></table>"""
        return self.page("Zoho Desk tickets", body)

    @route("GET", r"/demo/helpdesk/tickets/(?P<id>\d+)")
    def shell_ticket(self, request: FakeRequest, error: str = ""):
        org = self._org()
        ticket_id = request.params["id"]
        with self.zoho._lock:
            ticket = org.records["tickets"].get(ticket_id)
            if ticket is None:
                return self.page("Zoho Desk", "<h1>No such ticket</h1>")
            ticket = dict(ticket)
            notes = list(org.comments.get(("tickets", ticket_id), []))
            statuses = "".join(_option(s, s, s == ticket["status"]) for s in org.statuses)
        priorities = "".join(_option(p, p or "(none)", p == (ticket.get("priority") or "")) for p in ZOHO_PRIORITIES)
        comments = "".join(
            f'<div class="comment" data-testid="zoho-comment"><div class="who">{esc(c["commenter"]["name"])} · '
            f"{'Public' if c.get('isPublic') else 'Private'} comment"
            f' <span class="meta">{esc(c["commentedTime"][:19].replace("T", " "))}</span></div>'
            f"{esc(_text(c['content']))}</div>"
            for c in notes
        )
        problem = f'<div class="error" role="alert">{esc(error)}</div>' if error else ""
        lozenge = STATUS_CLASS.get(ticket["statusType"], "")
        body = f"""<p class="meta"><a href="/demo/helpdesk">Tickets</a> / #{esc(ticket["ticketNumber"])}</p>
<h1 data-testid="ticket-subject">{esc(ticket["subject"])}</h1>
<p><span class="lozenge {lozenge}">{esc(ticket["status"])}</span>
<span class="meta">priority {esc(ticket.get("priority") or "none")}</span></p>{problem}{self._settle_note()}
{ticket_form(ticket_id, ticket["subject"], statuses, priorities, "Public comment (untick for a private one)")}
<h2>Comments</h2>{comments or '<p class="meta">No comments yet.</p>'}"""
        return self.page(f"Ticket #{ticket['ticketNumber']}", body)

    @route("POST", r"/demo/helpdesk/tickets/(?P<id>\d+)")
    def shell_ticket_save(self, request: FakeRequest):
        """The agent's changes as a person makes them in Zoho Desk: only what changed, then the comment."""
        org, ticket_id, form = self._org(), request.params["id"], _form(request)
        with self.zoho._lock:
            ticket = org.records["tickets"].get(ticket_id)
            if ticket is None:
                return _redirect("/demo/helpdesk")
            changes: dict[str, Any] = {}
            subject = form.get("subject", "").strip()
            if not subject:
                return self.shell_ticket(request, error="A ticket needs a subject: type one and submit again.")
            if subject != ticket["subject"]:
                changes["subject"] = subject
            status = form.get("status", "")
            if status and status != ticket["status"]:
                if status not in org.statuses:
                    return self.shell_ticket(request, error=f"Zoho Desk has no status {status!r}: choose one listed.")
                changes["status"] = status
            if "priority" in form and (form["priority"] or None) != (ticket.get("priority") or None):
                changes["priority"] = form["priority"] or None
            if changes:
                self.zoho.user_update(org.id, "tickets", ticket_id, **changes)
            text = form.get("comment", "").strip()
            if text:
                content = "".join(f"<div>{html.escape(line) or '<br>'}</div>" for line in text.splitlines())
                self.zoho.add_comment(
                    org.id,
                    "tickets",
                    ticket_id,
                    content=content,
                    is_public=form.get("public") == "1",
                    commenter=self.zoho_agent,
                )
        return _redirect(f"/demo/helpdesk/tickets/{ticket_id}")

"""The demo's simulated Jira site with a small Jira-like shell around the real app's iframes.

``DemoJira`` is the stateful fake Jira the tests use (``demo.fakes.jira.FakeJira``: REST API, signed install,
signed webhooks), plus pages a person can click through, served by the same site as Jira serves its own:

- ``/jira/projects/<KEY>/issues``: the project's issues (and a form to create one);
- ``/browse/<KEY>``: an issue with its fields and comments, forms to edit the summary, priority and status and
  to comment (each change goes through the fake's own code path, so Jira's webhooks go out to the app), and
  the app's issue panel in an iframe;
- ``/plugins/servlet/ac/<app key>/<module key>``: Jira administration with the app's admin page in an iframe;
- ``/demo/helpdesk``: the simulated Zendesk's tickets, where an agent (not the app's connected agent) edits the
  subject, status and priority or comments, through the fake Zendesk's API as any Zendesk agent would.

Each iframe is loaded as Jira loads it: the module's URL from the app's descriptor with its context filled in,
Jira's query parameters (``xdm_e``, ``xdm_c``, ``cp``, ``lic``, ``cv``, ``tz``, ``loc``) and a ``jwt`` signed
with the site's shared secret whose ``qsh`` covers that GET and whose ``sub`` is the viewing user. The app's
pages load ``/demo/all.js`` (``demo/bridge.js``, a stand-in for Connect's all.js) which asks this page, over
postMessage, for context tokens (minted here as Jira mints them) and to resize the iframe.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from demo.fakes.jira import FakeJira, adf_to_wiki, text_to_adf
from demo.fakes.server import FakeRequest, route
from demo.fakes.zendesk import FakeZendesk

BRIDGE_JS = (Path(__file__).resolve().parent / "bridge.js").read_text()
CONTEXT_TOKEN_SECONDS = 900  # Jira's context tokens live 15 minutes
DEMO_EXPORT_LAG_SECONDS = 2
ZENDESK_STATUSES = ["new", "open", "pending", "hold", "solved", "closed"]
ZENDESK_PRIORITIES = ["", "low", "normal", "high", "urgent"]
# Paths of the shell (no Jira JWT): everything else is the REST API, which checks the app's JWT.
SHELL_PATH = re.compile(r"^/(?:$|favicon\.ico$|browse/|jira/|plugins/servlet/ac/|demo/)")


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _form(request: FakeRequest) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()}


def _option(value: Any, label: Any, selected: bool) -> str:
    return f'<option value="{esc(value)}"{" selected" if selected else ""}>{esc(label)}</option>'


def ticket_form(ticket_id: Any, subject: Any, statuses: str, priorities: str, public_label: str) -> str:
    """A simulated helpdesk's ticket editor: subject, status and priority (their ``<option>``s given), and a
    comment, public unless unticked."""
    return f"""<form method="post" action="/demo/helpdesk/tickets/{esc(ticket_id)}">
<label for="t-subject">Subject</label><input type="text" id="t-subject" name="subject" value="{esc(subject)}">
<label for="t-status">Status</label><select id="t-status" name="status">{statuses}</select>
<label for="t-priority">Priority</label><select id="t-priority" name="priority">{priorities}</select>
<label for="t-comment">Add a comment</label><textarea id="t-comment" name="comment" rows="3"></textarea>
<label><input type="checkbox" name="public" value="1" checked> {esc(public_label)}</label>
<button type="submit">Submit</button></form>"""


def _redirect(location: str):
    return 303, b"", {"Location": location}


STYLE = """
:root { --text: #172b4d; --subtle: #44546f; --border: #dfe1e6; --brand: #0c66e4; --bg: #f7f8f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.43 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--text); background: #fff; }
header.top { display: flex; align-items: center; gap: 24px; height: 56px; padding: 0 16px;
             border-bottom: 1px solid var(--border); }
header.top .logo { font-weight: 700; color: var(--brand); }
header.top nav a { color: var(--subtle); text-decoration: none; margin-right: 16px; font-weight: 500; }
header.top nav a:hover, header.top nav a:focus { color: var(--brand); text-decoration: underline; }
.note { background: #e9f2ff; padding: 6px 16px; font-size: 12px; color: var(--subtle); }
main { padding: 16px 24px; }
h1 { font-size: 24px; font-weight: 500; margin: 8px 0 16px; }
h2 { font-size: 16px; margin: 16px 0 8px; }
table.list { border-collapse: collapse; width: 100%; }
table.list th, table.list td { text-align: left; padding: 8px; border-bottom: 1px solid var(--border); }
table.list th { color: var(--subtle); font-size: 12px; font-weight: 600; }
a { color: var(--brand); }
.lozenge { display: inline-block; padding: 0 4px; border-radius: 3px; font-size: 11px; font-weight: 700;
           text-transform: uppercase; background: #dfe1e6; color: #44546f; }
.lozenge.indeterminate, .lozenge.open, .lozenge.pending { background: #cce0ff; color: #0055cc; }
.lozenge.done, .lozenge.solved, .lozenge.closed { background: #baf3db; color: #216e4e; }
.issue { display: grid; grid-template-columns: minmax(0, 3fr) minmax(320px, 2fr); gap: 24px; }
.panel-box { border: 1px solid var(--border); border-radius: 3px; }
.panel-box > h2 { margin: 0; padding: 8px 12px; border-bottom: 1px solid var(--border); font-size: 14px; }
iframe.app { width: 100%; border: 0; display: block; min-height: 120px; }
label { display: block; font-weight: 600; font-size: 12px; color: var(--subtle); margin: 8px 0 4px; }
input[type=text], select, textarea { width: 100%; max-width: 560px; padding: 6px 8px; border: 2px solid var(--border);
       border-radius: 3px; font: inherit; }
input:focus, select:focus, textarea:focus, button:focus, a:focus {
  outline: 2px solid var(--brand); outline-offset: 1px; }
button { background: var(--brand); color: #fff; border: 0; border-radius: 3px; padding: 6px 12px; margin-top: 8px;
         font: inherit; font-weight: 500; cursor: pointer; }
.comment { border-top: 1px solid var(--border); padding: 8px 0; white-space: pre-wrap; }
.comment .who { font-weight: 600; white-space: normal; } .meta { color: var(--subtle); font-size: 12px; }
.error { border-left: 4px solid #c9372c; background: #ffeceb; padding: 8px 12px; margin: 8px 0; }
.admin { display: grid; grid-template-columns: 220px minmax(0, 1fr); gap: 24px; }
.admin aside a { display: block; padding: 6px 8px; color: var(--text); text-decoration: none; border-radius: 3px; }
.admin aside a.current { background: #e9f2ff; color: var(--brand); font-weight: 600; }
nav.sites { margin-left: auto; color: var(--subtle); }
nav.sites a { margin-left: 8px; padding: 2px 8px; border-radius: 3px; color: var(--subtle); }
nav.sites a[aria-current] { background: #e9f2ff; color: var(--brand); font-weight: 600; text-decoration: none; }
"""

# The Jira page's side of the bridge: answers the app's iframe (and only it) over postMessage.
HOST_SCRIPT = """
(function () {
  "use strict";
  var APP_ORIGIN = %(app_origin)s;
  window.addEventListener("message", function (event) {
    var frame = document.querySelector("iframe[data-app-frame]");
    var data = event.data;
    if (!frame || event.source !== frame.contentWindow || event.origin !== APP_ORIGIN) { return; }
    if (!data || !data.deskbridgeDemoAP) {
      return;
    }
    function reply(result, error) {
      frame.contentWindow.postMessage({deskbridgeDemoAP: 1, id: data.id, result: result, error: error}, APP_ORIGIN);
    }
    if (data.method === "context.getToken") {
      fetch("/demo/context-token", {method: "POST"}).then(function (r) { return r.json(); })
        .then(function (body) { reply(body.token); },
              function () { reply(null, "the Jira page could not mint a token"); });
    } else if (data.method === "resize") {
      var height = parseInt(data.args[1], 10);
      if (height > 0) { frame.dataset.contentHeight = height; }
      fit(frame); reply(null);
    } else if (data.method === "sizeToParent") {
      if (frame.hasAttribute("data-fillable")) { frame.dataset.fill = "1"; }  // an issue panel follows its content
      fit(frame); reply(null);
    } else {
      reply(null, "the demo's Connect bridge does not implement " + data.method);
    }
  });
  // AP.sizeToParent, as in Jira: the frame fills the page below its top and scrolls its own content, so a
  // dialog centred in it stays in view (growing it to its content would put the dialog below the fold).
  function fit(frame) {
    var height = parseInt(frame.dataset.contentHeight || "0", 10);
    if (frame.dataset.fill) {
      height = Math.max(240, window.innerHeight - frame.getBoundingClientRect().top - window.scrollY - 24);
    }
    if (height > 0) { frame.style.height = height + "px"; }
  }
  window.addEventListener("resize", function () {
    var frame = document.querySelector("iframe[data-app-frame]");
    if (frame && frame.dataset.fill) { fit(frame); }
  });
}());
"""


class DemoJira(FakeJira):
    """The simulated Jira site of the demo (see the module docstring)."""

    name = "demo-jira"
    site_title = "Acme (simulated Jira Cloud site)"
    helpdesk_name = "Zendesk"  # the helpdesk this site is connected to (a site has one at a time)

    def __init__(self, *, app_key: str, install_keys=None) -> None:
        super().__init__(app_key=app_key, install_keys=install_keys)
        self.app_url = ""  # the app's base URL (descriptor baseUrl)
        self.descriptor: dict[str, Any] = {}
        self.viewer = self.human_account_id  # the person using the shell (a Jira admin)
        self.zendesk: FakeZendesk | None = None
        self.zendesk_subdomain = ""
        self.zendesk_agent: tuple[str, str] = ("", "")  # (email, API token) of the helpdesk view's agent
        self.sites: list[tuple[str, str]] = []  # every simulated site of the demo: (label, home URL)

    # --- plumbing -----------------------------------------------------------------------------------
    def before(self, request: FakeRequest):
        if SHELL_PATH.match(request.path):
            return None  # the shell's pages: a browser, not the app
        return super().before(request)

    def page(self, title: str, body: str, *, frame: bool = False) -> tuple:
        script = ""
        if frame:
            origin = "{uri.scheme}://{uri.netloc}".format(uri=urlsplit(self.app_url))
            script = f"<script>{HOST_SCRIPT % {'app_origin': json.dumps(origin)}}</script>"
        projects = "".join(
            f'<a href="/jira/projects/{esc(key)}/issues">{esc(p["name"])}</a>' for key, p in self.projects.items()
        )
        admin = self.admin_page_path()
        document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)} - Jira (demo)</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body>
<header class="top"><span class="logo">Jira</span>
<nav aria-label="Main">{projects}<a href="{esc(admin)}">Apps: Deskbridge</a>
<a href="/demo/helpdesk">{esc(self.helpdesk_name)} (simulated)</a></nav>{self.site_switch()}
</header>
<div class="note" role="note">Local demo: this Jira site and the {esc(self.helpdesk_name)} account are simulated on
your machine; the
framed pages are the real Deskbridge app at {esc(self.app_url)}.
Signed in as {esc(self.human_display_name)} (Jira admin).</div>
<main>{body}</main>{script}
</body></html>"""
        return 200, document.encode(), {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}

    def site_switch(self) -> str:
        """Links to the demo's other simulated sites (one helpdesk per site), this one marked current."""
        if len(self.sites) < 2:
            return ""
        links = "".join(
            f'<a href="{esc(home)}" aria-current="page">{esc(label)}</a>'
            if home.rstrip("/") == self.url
            else f'<a href="{esc(home)}">{esc(label)}</a>'
            for label, home in self.sites
        )
        return f'<nav class="sites" aria-label="Sites">Site: {links}</nav>'

    def signed_url(self, relative: str, query: dict[str, str]) -> str:
        """``relative`` (a module URL with its context filled in) plus Jira's parameters, signed as Jira signs an
        iframe: HS256 with the shared secret, ``qsh`` of this GET, ``sub`` the viewing user."""
        parts = urlsplit(relative)
        params = parse_qs(parts.query, keep_blank_values=True)
        pairs = [(k, v) for k, values in params.items() for v in values] + list(query.items())
        url = parts.path + ("?" + urlencode(pairs, quote_via=quote) if pairs else "")
        token = self.sign("GET", url, account_id=self.viewer, exp_in=180)
        return f"{self.app_url}{url}{'&' if pairs else '?'}jwt={token}"

    def jira_params(self) -> dict[str, str]:
        return {
            "xdm_e": self.url,
            "xdm_c": "channel-" + self.app_key,
            "cp": "",
            "xdm_deprecated_addon_key_do_not_use": self.app_key,
            "lic": "active",
            "cv": "1001.0.0-SNAPSHOT",
            "tz": "UTC",
            "loc": "en-US",
        }

    def _module(self, kind: str) -> dict[str, Any]:
        modules = self.descriptor.get("modules") or {}
        found = modules.get(kind) or []
        return found[0] if isinstance(found, list) and found else found or {}

    def admin_page_path(self) -> str:
        key = self._module("adminPages").get("key", "admin")
        return f"/plugins/servlet/ac/{quote(self.app_key)}/{quote(key)}"

    def panel_url(self, issue: dict[str, Any]) -> str:
        target = (self._module("jiraIssueContexts").get("target") or {}).get("url", "")
        fields = issue["fields"]
        context = {
            "issue.key": issue["key"],
            "issue.id": issue["id"],
            "project.key": fields["project"]["key"],
            "project.id": fields["project"].get("id", ""),
            "issuetype.id": fields["issuetype"]["id"],
        }
        relative = re.sub(r"\{([a-z.]+)\}", lambda m: quote(str(context.get(m.group(1), "")), safe=""), target)
        return self.signed_url(relative, self.jira_params())

    def admin_url(self) -> str:
        return self.signed_url(self._module("adminPages").get("url", ""), self.jira_params())

    # --- the shell's pages -----------------------------------------------------------------------------
    @route("GET", r"/")
    def shell_home(self, request: FakeRequest):
        first = next(iter(self.projects), None)
        return _redirect(f"/jira/projects/{first}/issues" if first else self.admin_page_path())

    @route("GET", r"/favicon\.ico")
    def shell_favicon(self, request: FakeRequest):
        return 204, b""

    @route("GET", r"/demo/all\.js")
    def shell_bridge(self, request: FakeRequest):
        origins = [home.rstrip("/") for _, home in self.sites] or [self.url]
        body = BRIDGE_JS.replace("__JIRA_ORIGINS__", json.dumps(origins))
        headers = {"Content-Type": "application/javascript; charset=utf-8", "Cache-Control": "no-store"}
        return 200, body.encode(), headers

    @route("POST", r"/demo/context-token")
    def shell_context_token(self, request: FakeRequest):
        """What Jira answers the app's ``AP.context.getToken()``: a context JWT for the viewing user."""
        token = self.context_token(account_id=self.viewer, exp_in=CONTEXT_TOKEN_SECONDS)
        return 200, {"token": token}, {"Cache-Control": "no-store"}

    @route("GET", r"/jira/projects/(?P<project>[^/]+)/issues")
    def shell_issues(self, request: FakeRequest):
        key = request.params["project"]
        project = self.projects.get(key)
        if project is None:
            return self.page("Not found", "<h1>No such project</h1>")
        rows = []
        for issue in sorted(
            (i for i in self.issues.values() if i["fields"]["project"]["key"] == key),
            key=lambda i: int(i["key"].rsplit("-", 1)[1]),
        ):
            fields = issue["fields"]
            status = fields.get("status") or {}
            rows.append(
                f'<tr data-testid="issue-row"><td><a href="/browse/{esc(issue["key"])}">{esc(issue["key"])}</a></td>'
                f"<td>{esc(fields.get('summary'))}</td><td>{esc((fields.get('issuetype') or {}).get('name'))}</td>"
                f"<td>{self._lozenge(status)}</td><td>{esc((fields.get('priority') or {}).get('name', ''))}</td>"
                f"<td class='meta'>{esc(fields.get('updated', '')[:16].replace('T', ' '))}</td></tr>"
            )
        types = "".join(
            f'<option value="{esc(t["id"])}">{esc(t["name"])}</option>'
            for t in self.issue_types.get(key, [])
            if not t.get("subtask")
        )
        body = f"""<h1>{esc(project["name"])}: issues</h1>
<table class="list" aria-label="Issues"><thead><tr><th>Key</th><th>Summary</th><th>Type</th><th>Status</th>
<th>Priority</th><th>Updated</th></tr></thead><tbody>{"".join(rows)}</tbody></table>
<h2>Create issue</h2>
<form method="post" action="/jira/projects/{esc(key)}/issues">
<label for="summary">Summary</label><input type="text" id="summary" name="summary" required>
<label for="issuetype">Issue type</label><select id="issuetype" name="issuetype">{types}</select>
<button type="submit">Create</button></form>"""
        return self.page(f"{project['name']} issues", body)

    @route("POST", r"/jira/projects/(?P<project>[^/]+)/issues")
    def shell_issue_create(self, request: FakeRequest):
        key, form = request.params["project"], _form(request)
        if key not in self.projects or not form.get("summary", "").strip():
            return _redirect(f"/jira/projects/{key}/issues")
        issue = self.user_create(
            key, form["summary"].strip(), issue_type_id=form.get("issuetype") or "10001", account_id=self.viewer
        )
        return _redirect(f"/browse/{issue['key']}")

    @staticmethod
    def _lozenge(status: dict[str, Any]) -> str:
        category = (status.get("statusCategory") or {}).get("key", "")
        return f'<span class="lozenge {esc(category)}">{esc(status.get("name", ""))}</span>'

    @route("GET", r"/browse/(?P<key>[^/]+)")
    def shell_issue(self, request: FakeRequest, error: str = ""):
        issue = self._find_issue(request.params["key"])
        if issue is None:
            return self.page("Not found", "<h1>Issue does not exist</h1>")
        fields = issue["fields"]
        status = fields.get("status") or {}
        statuses = "".join(
            _option(s["id"], s["name"], s["id"] == status.get("id"))
            for s in self.workflow_for(fields["project"]["key"], fields["issuetype"]["id"])
        )
        current_priority = (fields.get("priority") or {}).get("id")
        priorities = "".join(_option(p["id"], p["name"], p["id"] == current_priority) for p in self.priorities)
        comments = "".join(
            f'<div class="comment" data-testid="jira-comment"><div class="who">{esc(c["author"]["displayName"])}'
            f' <span class="meta">{esc(c.get("created", "")[:16].replace("T", " "))}</span></div>'
            f"{esc(adf_to_wiki(c['body']))}</div>"
            for c in self.comments.get(issue["id"], [])
        )
        description = adf_to_wiki(fields.get("description")) if fields.get("description") else ""
        problem = f'<div class="error" role="alert">{esc(error)}</div>' if error else ""
        project = fields["project"]
        body = f"""<p class="meta">
<a href="/jira/projects/{esc(project["key"])}/issues">{esc(project.get("name", ""))}</a> / {esc(issue["key"])}</p>
<div class="issue"><div>
<h1 data-testid="issue-summary">{esc(fields.get("summary"))}</h1>
<p>{self._lozenge(status)} <span class="meta">{esc(fields["issuetype"]["name"])}
· priority {esc((fields.get("priority") or {}).get("name", "none"))}</span></p>
<p style="white-space: pre-wrap">{esc(description)}</p>{problem}
<h2>Edit</h2>
<form method="post" action="/browse/{esc(issue["key"])}">
<label for="f-summary">Summary</label>
<input type="text" id="f-summary" name="summary" value="{esc(fields.get("summary"))}">
<label for="f-priority">Priority</label><select id="f-priority" name="priority">{priorities}</select>
<label for="f-status">Status</label><select id="f-status" name="status">{statuses}</select>
<label for="f-comment">Add a comment</label><textarea id="f-comment" name="comment" rows="3"></textarea>
<button type="submit">Save</button></form>
<h2>Comments</h2>{comments or '<p class="meta">No comments yet.</p>'}
</div>
<section class="panel-box" aria-label="Helpdesk"><h2>Helpdesk</h2>
<iframe class="app" data-app-frame title="Deskbridge issue panel" src="{esc(self.panel_url(issue))}"></iframe>
</section></div>"""
        return self.page(f"{issue['key']}: {fields.get('summary')}", body, frame=True)

    @route("POST", r"/browse/(?P<key>[^/]+)")
    def shell_issue_save(self, request: FakeRequest):
        """Saving the issue form: each change as a person makes it in Jira (the fake's webhooks follow)."""
        issue = self._find_issue(request.params["key"])
        if issue is None:
            return _redirect("/")
        form, fields = _form(request), issue["fields"]
        try:
            changes: dict[str, Any] = {}
            summary = form.get("summary", "").strip()
            if summary and summary != fields.get("summary"):
                changes["summary"] = summary
            priority = form.get("priority")
            if priority and priority != (fields.get("priority") or {}).get("id"):
                # as Jira stores it (the fake keeps a bare {"id"} as given, and the issue would show no name)
                chosen = next((p for p in self.priorities if p["id"] == priority), {"id": priority})
                changes["priority"] = {"id": chosen["id"], "name": chosen.get("name", "")}
            if changes:
                self.user_edit(issue, changes, account_id=self.viewer)
            status = form.get("status")
            if status and status != (fields.get("status") or {}).get("id"):
                self.user_transition(issue, status, account_id=self.viewer)
            if form.get("comment", "").strip():
                self.user_comment(issue, text_to_adf(form["comment"].strip()), account_id=self.viewer)
        except ValueError as exc:
            return self.shell_issue(request, error=f"Jira refused the change: {exc}")
        return _redirect(f"/browse/{issue['key']}")

    @route("GET", r"/plugins/servlet/ac/(?P<app>[^/]+)/(?P<module>[^/]+)")
    def shell_admin(self, request: FakeRequest):
        body = f"""<div class="admin"><aside aria-label="Jira administration"><h2>Apps</h2>
<a class="current" href="{esc(self.admin_page_path())}" aria-current="page">Deskbridge</a></aside>
<div><iframe class="app" data-app-frame data-fillable title="Deskbridge administration"
 src="{esc(self.admin_url())}"></iframe></div></div>"""
        return self.page("Deskbridge administration", body, frame=True)

    # --- the helpdesk view ---------------------------------------------------------------------------------
    def _zendesk_call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A call to the fake Zendesk's API as the helpdesk view's agent (in this thread, through its dispatch:
        the same authentication, validation, audits and change stream as over HTTP)."""
        assert self.zendesk is not None
        email, token = self.zendesk_agent
        credentials = base64.b64encode(f"{email}/token:{token}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else b""
        status, payload, _ = self.zendesk.dispatch(method, f"/zd/{self.zendesk_subdomain}{path}", headers, data)
        if isinstance(payload, bytes):
            payload = json.loads(payload or b"null")
        return status, payload

    @route("GET", r"/demo/helpdesk")
    def shell_helpdesk(self, request: FakeRequest):
        status, data = self._zendesk_call("GET", "/api/v2/tickets.json")
        if status != 200:
            return self.page("Zendesk", f'<div class="error">Zendesk answered {status}.</div>')
        rows = "".join(
            f'<tr data-testid="ticket-row"><td><a href="/demo/helpdesk/tickets/{t["id"]}">#{t["id"]}</a></td>'
            f'<td>{esc(t["subject"])}</td><td><span class="lozenge {esc(t["status"])}">{esc(t["status"])}</span></td>'
            f"<td>{esc(t.get('priority') or '')}</td><td class='meta'>{esc(t['updated_at'])}</td></tr>"
            for t in data["tickets"]
        )
        body = f"""<h1>Zendesk (simulated): tickets</h1>
<p class="meta">Acting as the Zendesk agent {esc(self.zendesk_agent[0])} (not the agent Deskbridge is connected with,
whose own changes are never copied back). Changes reach Jira at the next poll: Sync now on the Deskbridge admin
page, or the scheduled poll within a minute. (Real Zendesk exports a change only after a minute; this one after
{DEMO_EXPORT_LAG_SECONDS} seconds.)</p>
<table class="list" aria-label="Tickets"><thead><tr><th>Id</th><th>Subject</th><th>Status</th><th>Priority</th>
<th>Updated</th></tr></thead><tbody>{rows}</tbody></table>"""
        return self.page("Zendesk tickets", body)

    @route("GET", r"/demo/helpdesk/tickets/(?P<id>\d+)")
    def shell_ticket(self, request: FakeRequest, error: str = ""):
        ticket_id = request.params["id"]
        status, data = self._zendesk_call("GET", f"/api/v2/tickets/{ticket_id}.json")
        if status != 200:
            return self.page("Zendesk", "<h1>No such ticket</h1>")
        ticket = data["ticket"]
        _, listed = self._zendesk_call("GET", f"/api/v2/tickets/{ticket_id}/comments.json")
        comments = "".join(
            f'<div class="comment" data-testid="zendesk-comment"><div class="who">'
            f"{'Public reply' if c.get('public') else 'Internal note'}"
            f' <span class="meta">{esc(c.get("created_at"))}</span></div>{esc(c.get("body"))}</div>'
            for c in (listed or {}).get("comments", [])
        )
        statuses = "".join(
            f'<option value="{s}"{" selected" if s == ticket["status"] else ""}>{s}</option>' for s in ZENDESK_STATUSES
        )
        priorities = "".join(
            f'<option value="{p}"{" selected" if p == (ticket.get("priority") or "") else ""}>{p or "(none)"}</option>'
            for p in ZENDESK_PRIORITIES
        )
        problem = f'<div class="error" role="alert">{esc(error)}</div>' if error else ""
        body = f"""<p class="meta"><a href="/demo/helpdesk">Tickets</a> / #{esc(ticket_id)}</p>
<h1 data-testid="ticket-subject">{esc(ticket["subject"])}</h1>
<p><span class="lozenge {esc(ticket["status"])}">{esc(ticket["status"])}</span></p>{problem}
{ticket_form(ticket_id, ticket["subject"], statuses, priorities, "Public reply (untick for an internal note)")}
<h2>Conversation</h2>{comments}"""
        return self.page(f"Ticket #{ticket_id}", body)

    @route("POST", r"/demo/helpdesk/tickets/(?P<id>\d+)")
    def shell_ticket_save(self, request: FakeRequest):
        ticket_id, form = request.params["id"], _form(request)
        update: dict[str, Any] = {}
        for key in ("subject", "status"):
            if form.get(key, "").strip():
                update[key] = form[key].strip()
        if "priority" in form:
            update["priority"] = form["priority"] or None
        if form.get("comment", "").strip():
            update["comment"] = {"body": form["comment"].strip(), "public": form.get("public") == "1"}
        status, data = self._zendesk_call("PUT", f"/api/v2/tickets/{ticket_id}.json", {"ticket": update})
        if status != 200:
            return self.shell_ticket(request, error=f"Zendesk refused the update ({status}): {json.dumps(data)}")
        return _redirect(f"/demo/helpdesk/tickets/{ticket_id}")


class DemoZendesk(FakeZendesk):
    """The simulated Zendesk of the demo: the tests' fake, plus Zendesk's agent URLs (what the panel's "Open in
    Zendesk" opens) leading to the shell's helpdesk view."""

    name = "demo-zendesk"
    AGENT_PATH = re.compile(r"^/zd/[^/]+/agent/(?P<kind>tickets|users|organizations)/(?P<id>\d+)$")

    def __init__(self) -> None:
        super().__init__()
        self.helpdesk_view = ""  # the shell's helpdesk view (``{jira.url}/demo/helpdesk``)
        # Zendesk's incremental exports hold back the last minute; the demo's only the last seconds, so that a
        # change is in the next poll (Sync now) instead of a minute later.
        self.export_lag_seconds = DEMO_EXPORT_LAG_SECONDS

    def before(self, request: FakeRequest):
        if self.AGENT_PATH.match(request.path):
            return None  # a person's browser, not the API
        return super().before(request)

    @route("GET", r"/zd/(?P<sub>[^/]+)/agent/(?P<kind>tickets|users|organizations)/(?P<id>\d+)")
    def agent_page(self, request: FakeRequest):
        kind, record = request.params["kind"], request.params["id"]
        return _redirect(f"{self.helpdesk_view}/tickets/{record}" if kind == "tickets" else self.helpdesk_view)

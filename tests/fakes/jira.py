"""A stateful fake Jira Cloud site, served on loopback.

It plays both sides of Atlassian Connect:
- as the product our app calls: verifies our outbound JWT on every request (HS256 with the site's
  shared secret, ``iss`` = our app key, ``exp``, ``qsh`` of the request exactly as received) and answers
  like Jira Cloud REST v3 (``shared/docs/api-facts.md``): error bodies ``{"errorMessages", "errors"}``,
  204 on edits, 429 with ``Retry-After``;
- as the schema it describes: projects (``/project/search`` paged), createmeta issue types and create
  screens (paged, ``issueTypes`` / ``fields`` with ``total`` and no ``isLast``), ``/field``,
  ``/priority`` and project statuses, with a small ``page_size`` so callers must follow pages;
- as the issues it holds: create (``POST /issue``, validated against the create screen; ``self.created``;
  ``fail_after_create_next()``), per-issue-type workflows (``set_statuses(…, issue_type_id=…)``), comments in
  ADF with properties (``self.comments``, ``self.comments_added``), attachments joining ``fields.attachment``
  (``X-Atlassian-Token: no-check`` required), and the enhanced JQL search (``/search/jql``: a minimal JQL,
  ``nextPageToken``, only ``indexed_properties`` searchable, ``search_lag_seconds``); ``rate_limit_next()``
  answers Jira's 429; ``now()``/``advance()`` move the fake's clock (not JWT expiry);
- as the product that calls our app: builds the install payload, signs the RS256 install JWT with its own
  key pair (served by ``FakeInstallKeys`` by ``kid``), and signs iframe (qsh-bound) and context tokens.
"""

from __future__ import annotations

import base64
import binascii
import copy
import email.parser
import email.policy
import itertools
import json
import re
import secrets
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt as pyjwt
from atlassian_jwt.url_utils import hash_url
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .server import FakeRequest, FakeServer, route

_SITE_KEY: rsa.RSAPrivateKey | None = None

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jira"
# Stored payloads use Atlassian's documentation host; answers rebase it onto the fake's own URL.
DOC_BASE = "https://your-domain.atlassian.net"

DEFAULT_ISSUE_TYPES: list[dict[str, Any]] = [
    {"id": "10001", "name": "Task", "description": "A small, distinct piece of work.", "avatarId": 10318},
    {"id": "10002", "name": "Bug", "description": "A problem or error.", "avatarId": 10303},
    {"id": "10003", "name": "Story", "description": "A user story.", "avatarId": 10315},
    {
        "id": "10004",
        "name": "Sub-task",
        "description": "A small piece of a larger task.",
        "avatarId": 10316,
        "subtask": True,
    },
]
# (id, name, statusCategory key); every issue type of a new project uses this workflow.
DEFAULT_STATUSES: list[tuple[str, str, str]] = [
    ("10000", "To Do", "new"),
    ("3", "In Progress", "indeterminate"),
    ("10001", "Done", "done"),
]
_STATUS_CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


def _site_key() -> rsa.RSAPrivateKey:
    """One RSA key per test process (generation is slow); each fake site still has its own kid."""
    global _SITE_KEY
    if _SITE_KEY is None:
        _SITE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _SITE_KEY


def _error(status: int, *messages: str, errors: dict[str, str] | None = None):
    return status, {"errorMessages": list(messages), "errors": errors or {}}


def _no_issue():
    return _error(404, "Issue does not exist or you do not have permission to see it.")


# Jira's answer to a v3 rich-text value that is not ADF (recorded in public issue threads, e.g.
# lesstif/php-jira-rest-client#280: errors {"description": "Operation value must be an Atlassian Document …"}).
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
EMPTY_COMMENT = "Comment body can not be empty!"
INVALID_COMMENT = "Comment body is not valid!"  # v3 comment with a plain-string body (php-jira-rest-client#412)


def adf_problem(doc: Any) -> str | None:
    """Why ``doc`` is not an ADF document Jira accepts (``None`` when it is): ``{"type": "doc", "version": 1,
    "content": [...]}``, every node a dict with a ``type``, text nodes with a non-empty ``text``."""
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return "not a doc"
    if not isinstance(doc.get("content"), list):
        return "no content"

    def walk(node: Any) -> str | None:
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            return "a node without a type"
        if node["type"] == "text" and not (isinstance(node.get("text"), str) and node["text"]):
            return "an empty text node"
        children = node.get("content", [])
        if not isinstance(children, list):
            return "content that is not a list"
        return next((p for p in map(walk, children) if p), None)

    return next((p for p in map(walk, doc["content"]) if p), None)


def adf_is_empty(doc: dict[str, Any]) -> bool:
    """An ADF doc with no text and no other leaf (an empty paragraph only counts as empty)."""

    def has_leaf(node: dict[str, Any]) -> bool:
        if node["type"] in ("paragraph", "heading", "blockquote", "bulletList", "orderedList", "listItem"):
            return any(has_leaf(c) for c in node.get("content", []))
        return True

    return not any(has_leaf(n) for n in doc["content"])


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def field_meta(
    field_id: str,
    name: str,
    schema: dict[str, Any],
    *,
    required: bool = False,
    allowed_values: list[dict[str, Any]] | None = None,
    default_value: Any = None,
    operations: list[str] | None = None,
) -> dict[str, Any]:
    """One field of a createmeta page, shaped as Jira Cloud answers it (``fieldId`` and ``key`` both)."""
    meta: dict[str, Any] = {
        "required": required,
        "schema": schema,
        "name": name,
        "key": field_id,
        "fieldId": field_id,
        "hasDefaultValue": default_value is not None,
        "operations": list(operations if operations is not None else ["set"]),
    }
    if allowed_values is not None:
        meta["allowedValues"] = allowed_values
    if default_value is not None:
        meta["defaultValue"] = default_value
    return meta


class JqlError(ValueError):
    """A JQL query the fake refuses (Jira: 400 with the message in ``errorMessages``)."""


class FakeInstallKeys(FakeServer):
    """Atlassian's install-keys service: ``GET /{kid}`` → PEM public key (404 for an unknown kid)."""

    name = "fake-install-keys"

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, str] = {}
        self.down = False

    def add_key(self, kid: str, public_pem: str) -> None:
        self.keys[kid] = public_pem

    @route("GET", r"/(?P<kid>[^/]+)")
    def get_key(self, request: FakeRequest):
        if self.down:
            return 503, "Service Unavailable"
        pem = self.keys.get(request.params["kid"])
        if pem is None:
            return 404, "Not Found"
        return 200, pem, {"Content-Type": "application/x-pem-file"}


class FakeJira(FakeServer):
    name = "fake-jira"

    def __init__(self, *, app_key: str, install_keys: FakeInstallKeys | None = None) -> None:
        super().__init__()
        self.app_key = app_key
        self.client_key = f"jira:{uuid.uuid4()}"
        self.shared_secret = secrets.token_urlsafe(32)
        self.cloud_id = str(uuid.uuid4())
        self.install_keys = install_keys
        self._private_key = _site_key()
        self.kid = f"kid-{uuid.uuid4().hex[:12]}"
        if install_keys is not None:
            install_keys.add_key(self.kid, self.public_pem)
        self.app_account_id = "557058:deskbridge-app-user"
        self.admins: set[str] = set()
        self.users: dict[str, dict[str, Any]] = {}  # add_user()
        # issue id → accountIds that may browse it (issues not listed are visible to everyone)
        self.issue_viewers: dict[str, set[str]] = {}
        self.license: dict[str, Any] | None = {"active": True, "type": "commercial", "evaluation": False}
        self.issues: dict[str, dict[str, Any]] = {}
        self.properties: dict[tuple[str, str], Any] = {}
        self.attachments: dict[str, dict[str, Any]] = {}  # id → record + issue_id + data
        # comments: issue id → its comments as GET …/comment lists them; every accepted POST is logged
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.comment_properties: dict[str, dict[str, Any]] = {}  # comment id → {key: value}
        self.comments_added: list[dict[str, Any]] = []
        self.comment_page_size = 5000  # GET …/comment: at most this many per page (Jira's default maxResults)
        # issue create: every issue stored by POST /issue ({id, key, fields, properties}, as sent)
        self.created: list[dict[str, Any]] = []
        self._fail_after_create: list[tuple[int, Any]] = []
        # JQL search: only properties whose key (or "key.path") is declared indexed (jiraEntityProperties)
        # are searchable; issues younger than search_lag_seconds are not found yet
        self.indexed_properties: set[str] = set()
        self.search_lag_seconds = 0.0
        self.search_page_size = 50  # enhanced search: at most this many issues per page
        self.jql_strict_keys = True  # `key in (…)` naming a missing issue is a 400, as Jira's validation does
        self._created_at: dict[str, float] = {}  # issue id → fake time of creation (search index lag)
        self._forced_429: list[dict[str, Any]] = []
        self._shift = 0.0
        self._ids = itertools.count(10000)
        self.rejected_auth: list[str] = []
        # schema: pages hold at most ``page_size`` items whatever maxResults asks (Jira caps it too)
        self.page_size = 3
        self.projects: dict[str, dict[str, Any]] = {}  # key → project
        self.issue_types: dict[str, list[dict[str, Any]]] = {}  # project key → its issue types
        self.statuses: dict[str, list[dict[str, Any]]] = {}  # project key → its workflow's statuses
        # (project key, issue type id) → that issue type's own workflow (else the project's)
        self.type_statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.edits: list[dict[str, Any]] = []  # every accepted issue edit
        self.transitions_done: list[dict[str, Any]] = []
        self.read_only: set[str] = {"status", "created", "updated", "creator", "reporter_email"}
        self.blocked_statuses: set[str] = set()  # statuses no transition leads to
        self.create_screens: dict[tuple[str, str], list[dict[str, Any]]] = {}  # set_create_fields()
        self.fields: list[dict[str, Any]] = _fixture("fields.json")  # GET /field
        self.priorities: list[dict[str, Any]] = _fixture("priorities.json")  # GET /priority
        self.default_create_screen: list[dict[str, Any]] = _fixture("create_fields.json")
        self._project_ids = itertools.count(10000)

    # --- clock and injected failures ----------------------------------------------------------------
    def now(self) -> float:
        """Fake time (``created``/``updated`` stamps, search index lag); JWT expiry stays on real time."""
        return time.time() + self._shift

    def advance(self, seconds: float) -> None:
        self._shift += seconds

    def _stamp(self) -> str:
        moment = datetime.fromtimestamp(self.now(), UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"

    def rate_limit_next(
        self, n: int = 1, *, retry_after: int = 5, reason: str = "jira-burst-based", path: str | None = None
    ) -> None:
        """The next ``n`` authenticated requests (matching ``path`` regex if given) get Jira's 429:
        ``Retry-After`` (seconds), ``RateLimit-Reason`` and ``{"errorMessages": ["Rate limit exceeded."]}``."""
        with self._lock:
            self._forced_429.append({"left": n, "retry_after": retry_after, "reason": reason, "path": path})

    def fail_after_create_next(self, status: int = 500, body: Any = None) -> None:
        """The next ``POST /rest/api/3/issue`` stores the issue (and its properties) but answers ``status``:
        the create happened, its answer got lost."""
        with self._lock:
            self._fail_after_create.append(
                (status, body if body is not None else {"errorMessages": ["Internal server error"], "errors": {}})
            )

    def _app_user(self) -> dict[str, Any]:
        return {
            "self": f"{self.url}/rest/api/3/user?accountId={self.app_account_id}",
            "accountId": self.app_account_id,
            "displayName": "Deskbridge",
            "active": True,
            "timeZone": "Etc/UTC",
            "accountType": "app",
        }

    # --- Jira's signing side --------------------------------------------------------------------------
    @property
    def public_pem(self) -> str:
        return (
            self._private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @property
    def private_pem(self) -> bytes:
        return self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def install_payload(self, **overrides: Any) -> dict[str, Any]:
        payload = {
            "key": self.app_key,
            "clientKey": self.client_key,
            "sharedSecret": self.shared_secret,
            "baseUrl": self.url,
            "displayUrl": self.url,
            "productType": "jira",
            "description": "Fake Jira Cloud site",
            "eventType": "installed",
            "serverVersion": "100275",
            "pluginsVersion": "1001.0.0-SNAPSHOT",
            "oauthClientId": "fake-oauth-client",
            "cloudId": self.cloud_id,
        }
        payload.update(overrides)
        return payload

    def sign_install(
        self, method: str, relative_url: str, *, aud: str, iss: str | None = None, exp_in: int = 180, **extra
    ) -> str:
        """RS256 install/uninstall token as Jira signs it (kid header, aud = app base URL)."""
        now = int(time.time())
        claims = {
            "iss": iss or self.client_key,
            "aud": aud,
            "iat": now,
            "exp": now + exp_in,
            "qsh": hash_url(method, relative_url),
            **extra,
        }
        return pyjwt.encode(claims, self.private_pem, algorithm="RS256", headers={"kid": self.kid})

    def sign(
        self,
        method: str,
        relative_url: str,
        *,
        account_id: str | None = "5b10ac8d82e05b22cc7d4ef5",
        secret: str | None = None,
        exp_in: int = 180,
        qsh: str | None = None,
        iss: str | None = None,
    ) -> str:
        """HS256 token with a qsh bound to ``method`` + ``relative_url`` (iframe loads, callbacks)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": iss or self.client_key,
            "iat": now,
            "exp": now + exp_in,
            "qsh": qsh if qsh is not None else hash_url(method, relative_url),
        }
        if account_id:
            claims["sub"] = account_id
        return pyjwt.encode(claims, secret or self.shared_secret, algorithm="HS256")

    def context_token(self, *, account_id: str = "5b10ac8d82e05b22cc7d4ef5", exp_in: int = 900) -> str:
        """What ``AP.context.getToken()`` returns in the iframe: qsh = "context-qsh"."""
        return self.sign("GET", "/", account_id=account_id, exp_in=exp_in, qsh="context-qsh")

    # --- the product side: verify our outbound JWT on every call --------------------------------------
    def before(self, request: FakeRequest):
        header = request.headers.get("authorization", "")
        if not header.startswith("JWT "):
            self.rejected_auth.append("missing")
            return _error(401, "Client must be authenticated to access this resource.")
        token = header[4:]
        try:
            claims = pyjwt.decode(
                token, self.shared_secret, algorithms=["HS256"], options={"require": ["exp", "iss", "qsh"]}
            )
        except pyjwt.PyJWTError as exc:
            self.rejected_auth.append(type(exc).__name__)
            return _error(401, f"JWT rejected: {type(exc).__name__}")
        if claims.get("iss") != self.app_key:
            self.rejected_auth.append("iss")
            return _error(401, "JWT issuer is not an installed app.")
        if claims.get("qsh") != hash_url(request.method, request.raw_path):
            self.rejected_auth.append("qsh")
            return _error(401, "JWT qsh does not match the request.")
        for forced in self._forced_429:
            if forced["left"] > 0 and (forced["path"] is None or re.search(forced["path"], request.path)):
                forced["left"] -= 1
                headers = {"Retry-After": str(forced["retry_after"]), "RateLimit-Reason": forced["reason"]}
                return 429, {"errorMessages": ["Rate limit exceeded."]}, headers
        is_upload = request.method in ("POST", "PUT") and request.path.endswith("/attachments")
        if is_upload and request.headers.get("x-atlassian-token") != "no-check":
            return _error(403, "XSRF check failed")
        return None

    # --- REST endpoints -------------------------------------------------------------------------------
    @route("GET", r"/rest/api/3/myself")
    def myself(self, request: FakeRequest):
        return 200, {
            "accountId": self.app_account_id,
            "accountType": "app",
            "displayName": "Deskbridge",
            "active": True,
        }

    def add_user(self, account_id: str, display_name: str, email: str | None, *, email_visible: bool = True) -> dict:
        """A Jira user. ``email_visible=False``: the user's profile hides the email from apps (the
        default on many sites), so ``emailAddress`` is absent and an email search does not find them."""
        user = {
            "accountId": account_id,
            "accountType": "atlassian",
            "displayName": display_name,
            "active": True,
            "_email": email,
            "_email_visible": email_visible,
        }
        self.users[account_id] = user
        return user

    @route("GET", r"/rest/api/3/user/search")
    def user_search(self, request: FakeRequest):
        """``query`` matches display names (prefix) and emails of users whose email apps may see; the
        answer is a bare list, ``emailAddress`` only where visible."""
        query = (request.arg("query") or "").strip().lower()
        if not query:
            return _error(400, "The query parameter is required.")
        found = []
        for user in self.users.values():
            email_hit = user["_email_visible"] and (user["_email"] or "").lower() == query
            if email_hit or user["displayName"].lower().startswith(query):
                shown = {k: v for k, v in user.items() if not k.startswith("_")}
                if user["_email_visible"] and user["_email"]:
                    shown["emailAddress"] = user["_email"]
                found.append(shown)
        return 200, found[: int(request.arg("maxResults", "50") or 50)]

    @route("GET", r"/rest/api/3/serverInfo")
    def server_info(self, request: FakeRequest):
        return 200, {"baseUrl": self.url, "deploymentType": "Cloud", "serverTitle": "Jira"}

    @route("GET", r"/rest/atlassian-connect/1/addons/(?P<key>[^/]+)")
    def addon(self, request: FakeRequest):
        if request.params["key"] != self.app_key:
            return _error(404, "App not found")
        body: dict[str, Any] = {"key": self.app_key, "status": "installed", "version": "1.0.0"}
        if self.license is not None:
            body["license"] = self.license
        return 200, body

    @route("POST", r"/rest/api/3/permissions/check")
    def permissions_check(self, request: FakeRequest):
        body = request.json() or {}
        account = body.get("accountId")
        wanted = body.get("globalPermissions") or []
        granted = [p for p in wanted if p == "ADMINISTER" and account in self.admins]
        project_granted = []
        for ask in body.get("projectPermissions") or []:
            if "BROWSE_PROJECTS" not in (ask.get("permissions") or []):
                continue
            visible = [
                i
                for i in ask.get("issues") or []
                if str(i) in self.issues and (str(i) not in self.issue_viewers or account in self.issue_viewers[str(i)])
            ]
            # Jira omits a permission nobody asked about and lists only the issues the user may see.
            if visible:
                project_granted.append({"permission": "BROWSE_PROJECTS", "issues": visible, "projects": []})
        return 200, {"globalPermissions": granted, "projectPermissions": project_granted}

    def add_issue(
        self,
        *,
        key: str,
        project: str | None = None,
        summary: str = "An issue",
        issue_type_id: str = "10001",
        **fields: Any,
    ) -> dict[str, Any]:
        """An issue as ``GET /issue/{id}`` returns it; project and issue type are full objects when the
        project was added with ``add_project`` (as on a real site), a bare key otherwise."""
        issue_id = str(next(self._ids))
        project_key = project or key.split("-")[0]
        known = self.projects.get(project_key)
        project_ref = {"id": known["id"], "key": project_key, "name": known["name"]} if known else {"key": project_key}
        issue_type = next(
            (t for t in self.issue_types.get(project_key, []) if t["id"] == str(issue_type_id)),
            {"id": str(issue_type_id), "name": "Task"},
        )
        workflow = self.workflow_for(project_key, issue_type["id"])
        issue = {
            "id": issue_id,
            "key": key,
            "self": f"{self.url}/rest/api/3/issue/{issue_id}",
            "fields": {
                "summary": summary,
                "project": project_ref,
                "issuetype": {"id": issue_type["id"], "name": issue_type["name"]},
                **({"status": self._status_ref(workflow[0])} if workflow else {}),
                **fields,
            },
        }
        self.issues[issue_id] = issue
        self._created_at[issue_id] = self.now()
        return issue

    def workflow_for(self, project_key: str, issue_type_id: str | None) -> list[dict[str, Any]]:
        """The statuses of an issue type's workflow: its own (``set_statuses(…, issue_type_id=…)``), else
        the project's."""
        own = self.type_statuses.get((project_key, str(issue_type_id)))
        return own if own is not None else (self.statuses.get(project_key) or [])

    def _find_issue(self, ref: str) -> dict[str, Any] | None:
        return self.issues.get(ref) or next((i for i in self.issues.values() if i["key"] == ref), None)

    @route("GET", r"/rest/api/3/issue/(?P<issue>[^/]+)")
    def issue_get(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        wanted = request.arg("fields")
        if wanted:  # like Jira: only the fields asked for (unknown names are ignored)
            names = {f.strip() for f in wanted.split(",")}
            issue = {**issue, "fields": {k: v for k, v in issue["fields"].items() if k in names}}
        return 200, issue

    @staticmethod
    def _status_ref(status: dict[str, Any]) -> dict[str, Any]:
        return {"id": status["id"], "name": status["name"], "statusCategory": status["statusCategory"]}

    # Fields Jira refuses on edit, and the error it gives (field id → message); ``status`` is never editable.
    NOT_EDITABLE = "Field '{field}' cannot be set. It is not on the appropriate screen, or unknown."

    @route("PUT", r"/rest/api/3/issue/(?P<issue>[^/]+)")
    def issue_edit(self, request: FakeRequest):
        """Edit: 204 with no body; fields that are unknown or not editable make the whole edit a 400 with
        one message per field (nothing is changed), as Jira does."""
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        changes = (request.json() or {}).get("fields", {})
        known = {f["id"] for f in self.fields}
        refused = {f: self.NOT_EDITABLE.format(field=f) for f in changes if f not in known or f in self.read_only}
        if refused:
            return _error(400, errors=refused)
        issue["fields"].update(changes)
        self.edits.append({"issue": issue["id"], "fields": changes})
        return 204, b""

    def _transitions(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        """Every status of the project's workflow but the current one (a workflow with global
        transitions), minus those removed with ``block_transition``."""
        key = issue["fields"]["project"]["key"]
        issue_type_id = (issue["fields"].get("issuetype") or {}).get("id")
        current = (issue["fields"].get("status") or {}).get("id")
        return [
            {"id": f"t{s['id']}", "name": f"Move to {s['name']}", "to": self._status_ref(s), "isAvailable": True}
            for s in self.workflow_for(key, issue_type_id)
            if s["id"] != current and s["id"] not in self.blocked_statuses
        ]

    @route("GET", r"/rest/api/3/issue/(?P<issue>[^/]+)/transitions")
    def transitions_get(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        return 200, {"expand": "transitions", "transitions": self._transitions(issue)}

    @route("POST", r"/rest/api/3/issue/(?P<issue>[^/]+)/transitions")
    def transitions_post(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        wanted = str(((request.json() or {}).get("transition") or {}).get("id", ""))
        transition = next((t for t in self._transitions(issue) if t["id"] == wanted), None)
        if transition is None:
            return _error(400, f"Transition id '{wanted}' is not valid for this issue.")
        issue["fields"]["status"] = transition["to"]
        self.transitions_done.append({"issue": issue["id"], "to": transition["to"]["name"]})
        return 204, b""

    @route("PUT", r"/rest/api/3/issue/(?P<issue>[^/]+)/properties/(?P<key>[^/]+)")
    def property_set(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        created = (issue["id"], request.params["key"]) not in self.properties
        self.properties[(issue["id"], request.params["key"])] = request.json()
        return (201 if created else 200), b""

    @route("GET", r"/rest/api/3/issue/(?P<issue>[^/]+)/properties/(?P<key>[^/]+)")
    def property_get(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        value = issue and self.properties.get((issue["id"], request.params["key"]))
        if value is None:
            return _error(404, "The property was not found.")
        return 200, {"key": request.params["key"], "value": value}

    # --- schema: projects, issue types, create screens, fields, priorities, statuses -----------------
    def rebase(self, payload: Any) -> Any:
        """A copy of ``payload`` with the documentation host replaced by this site's URL."""
        return json.loads(json.dumps(payload).replace(DOC_BASE, self.url))

    def add_project(self, key: str, name: str, *, issue_types: list[dict[str, Any]] | None = None) -> dict:
        """A company-managed software project with the default issue types and workflow statuses. Issue
        types need ``id`` and ``name``; ``subtask`` defaults to False. Returns ``GET /project/{key}``."""
        project_id = str(next(self._project_ids))
        self.projects[key] = {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "self": f"{DOC_BASE}/rest/api/3/project/{project_id}",
            "id": project_id,
            "key": key,
            "name": name,
            "avatarUrls": {
                size: f"{DOC_BASE}/rest/api/3/universal_avatar/view/type/project/avatar/10400?size={label}"
                for size, label in (
                    ("48x48", "large"),
                    ("24x24", "small"),
                    ("16x16", "xsmall"),
                    ("32x32", "medium"),
                )
            },
            "projectTypeKey": "software",
            "simplified": False,
            "style": "classic",
            "isPrivate": False,
            "properties": {},
        }
        self.issue_types[key] = [self._issue_type(t) for t in (issue_types or DEFAULT_ISSUE_TYPES)]
        self.set_statuses(key, DEFAULT_STATUSES)
        return self.rebase(self._project_full(key))

    def set_statuses(
        self, project_key: str, statuses: list[tuple[str, str, str]], issue_type_id: str | None = None
    ) -> None:
        """The project's workflow statuses as ``(id, name, statusCategory key)``; with ``issue_type_id``, that
        issue type's own workflow (other types keep the project's). New issues start in the first status."""
        workflow = [
            {
                "self": f"{DOC_BASE}/rest/api/3/status/{status_id}",
                "description": "",
                "iconUrl": f"{DOC_BASE}/images/icons/statuses/generic.png",
                "name": name,
                "untranslatedName": name,
                "id": status_id,
                "statusCategory": {
                    "self": f"{DOC_BASE}/rest/api/3/statuscategory/{_STATUS_CATEGORIES[category]['id']}",
                    **_STATUS_CATEGORIES[category],
                },
            }
            for status_id, name, category in statuses
        ]
        if issue_type_id is None:
            self.statuses[project_key] = workflow
        else:
            self.type_statuses[(project_key, str(issue_type_id))] = workflow

    def set_create_fields(self, project_key: str, issue_type_id: str, fields: list[dict[str, Any]]) -> None:
        """Replace one create screen. Each field is a createmeta field (see ``field_meta``); missing
        ``key``/``fieldId``, ``name``, ``required``, ``hasDefaultValue`` and ``operations`` are filled in."""
        assert any(t["id"] == str(issue_type_id) for t in self.issue_types[project_key]), "unknown issue type"
        screen = []
        for field in fields:
            field_id = field.get("fieldId") or field["key"]
            screen.append(
                {
                    "required": False,
                    "name": field_id,
                    "hasDefaultValue": "defaultValue" in field,
                    "operations": ["set"],
                    **copy.deepcopy(field),
                    "key": field_id,
                    "fieldId": field_id,
                }
            )
        self.create_screens[(project_key, str(issue_type_id))] = screen

    def add_field(
        self,
        field_id: str,
        name: str,
        schema: dict[str, Any],
        *,
        required: bool = False,
        allowed_values: list[dict[str, Any]] | None = None,
        default_value: Any = None,
        on_create_screen: bool = True,
    ) -> dict[str, Any]:
        """A field in ``GET /field`` (replacing one with the same id) and, unless told otherwise, on every
        default create screen. A custom field's ``schema`` gets its ``customId``. Returns the field."""
        custom = field_id.startswith("customfield_")
        schema = dict(schema)
        if custom:
            schema.setdefault("customId", int(field_id.removeprefix("customfield_")))
        field = {
            "id": field_id,
            "key": field_id,
            "name": name,
            "untranslatedName": name,
            "custom": custom,
            "orderable": True,
            "navigable": True,
            "searchable": True,
            "clauseNames": [f"cf[{schema['customId']}]", name] if custom else [field_id],
            "schema": schema,
        }
        self.fields = [f for f in self.fields if f["id"] != field_id] + [field]
        if on_create_screen:
            meta = field_meta(
                field_id,
                name,
                schema,
                required=required,
                allowed_values=allowed_values,
                default_value=default_value,
            )
            self.default_create_screen = [m for m in self.default_create_screen if m["fieldId"] != field_id]
            self.default_create_screen.append(meta)
        return copy.deepcopy(field)

    def create_fields_for(self, project_key: str, issue_type_id: str) -> list[dict[str, Any]]:
        """The create screen of one project and issue type: the one set, else the default screen with
        that project, issue type, the priorities and (for sub-tasks) a required ``parent`` filled in."""
        explicit = self.create_screens.get((project_key, str(issue_type_id)))
        if explicit is not None:
            return copy.deepcopy(explicit)
        project = self.projects[project_key]
        issue_type = next(t for t in self.issue_types[project_key] if t["id"] == str(issue_type_id))
        screen: list[dict[str, Any]] = []
        for meta in copy.deepcopy(self.default_create_screen):
            field_id = meta["fieldId"]
            if field_id == "issuetype":
                meta["allowedValues"] = [{k: v for k, v in issue_type.items() if k != "untranslatedName"}]
            elif field_id == "project":
                keys = ("self", "id", "key", "name", "projectTypeKey", "simplified", "avatarUrls")
                meta["allowedValues"] = [{k: project[k] for k in keys}]
            elif field_id == "priority":
                meta["allowedValues"] = [{k: p[k] for k in ("self", "iconUrl", "name", "id")} for p in self.priorities]
                default = next((p for p in self.priorities if p.get("isDefault")), None)
                meta["hasDefaultValue"] = default is not None
                if default is not None:
                    meta["defaultValue"] = {k: default[k] for k in ("self", "iconUrl", "name", "id")}
            elif field_id == "assignee":
                meta["autoCompleteUrl"] = f"{DOC_BASE}/rest/api/3/user/assignable/search?project={project_key}&query="
            screen.append(meta)
            if field_id == "project" and issue_type["subtask"]:
                screen.append(field_meta("parent", "Parent", {"type": "issuelink", "system": "parent"}, required=True))
        return screen

    def _issue_type(self, spec: dict[str, Any]) -> dict[str, Any]:
        subtask = bool(spec.get("subtask", False))
        avatar_id = spec.get("avatarId", 10318)
        return {
            "self": f"{DOC_BASE}/rest/api/3/issuetype/{spec['id']}",
            "id": str(spec["id"]),
            "description": spec.get("description", ""),
            "iconUrl": f"{DOC_BASE}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{avatar_id}",
            "name": spec["name"],
            "untranslatedName": spec["name"],
            "subtask": subtask,
            "avatarId": avatar_id,
            "hierarchyLevel": -1 if subtask else 0,
        }

    def _project_full(self, key: str) -> dict[str, Any]:
        return {
            **self.projects[key],
            "description": "",
            "lead": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Project Lead", "active": True},
            "components": [],
            "issueTypes": self.issue_types[key],
            "assigneeType": "UNASSIGNED",
            "versions": [],
            "roles": {},
        }

    def _find_project(self, ref: str) -> str | None:
        """The key of the project ``ref`` names by id or (case-insensitively) by key."""
        return next((k for k, p in self.projects.items() if ref in (p["id"], k) or ref.upper() == k), None)

    def _page(self, request: FakeRequest, items: list[Any]) -> dict[str, Any] | None:
        try:
            start = int(request.arg("startAt") or 0)
            asked = int(request.arg("maxResults") or self.page_size)
        except ValueError:
            return None
        size = max(0, min(asked, self.page_size))
        start = max(0, start)
        return {
            "startAt": start,
            "maxResults": size,
            "total": len(items),
            "items": items[start : start + size],
        }

    @staticmethod
    def _no_project(ref: str):
        return _error(404, f"No project could be found with key '{ref}'.")

    @route("GET", r"/rest/api/3/project/search")
    def project_search(self, request: FakeRequest):
        ordered = [self.projects[k] for k in sorted(self.projects)]
        page = self._page(request, ordered)
        if page is None:
            return _error(400, "startAt and maxResults must be integers.")
        is_last = page["startAt"] + len(page["items"]) >= page["total"]
        body: dict[str, Any] = {"self": f"{self.url}{request.raw_path}"}
        if not is_last:
            following = page["startAt"] + len(page["items"])
            body["nextPage"] = (
                f"{self.url}/rest/api/3/project/search?startAt={following}&maxResults={page['maxResults']}"
            )
        body.update(
            maxResults=page["maxResults"],
            startAt=page["startAt"],
            total=page["total"],
            isLast=is_last,
            values=page["items"],
        )
        return 200, self.rebase(body)

    @route("GET", r"/rest/api/3/project/(?P<project>(?!search$)[^/]+)")
    def project_get(self, request: FakeRequest):
        key = self._find_project(request.params["project"])
        if key is None:
            return self._no_project(request.params["project"])
        return 200, self.rebase(self._project_full(key))

    @route("GET", r"/rest/api/3/project/(?P<project>[^/]+)/statuses")
    def project_statuses(self, request: FakeRequest):
        key = self._find_project(request.params["project"])
        if key is None:
            return self._no_project(request.params["project"])
        body = [
            {
                "self": t["self"],
                "id": t["id"],
                "name": t["name"],
                "subtask": t["subtask"],
                "statuses": self.workflow_for(key, t["id"]),
            }
            for t in self.issue_types[key]
        ]
        return 200, self.rebase(body)

    @route("GET", r"/rest/api/3/issue/createmeta/(?P<project>[^/]+)/issuetypes")
    def createmeta_issue_types(self, request: FakeRequest):
        key = self._find_project(request.params["project"])
        if key is None:
            return self._no_project(request.params["project"])
        page = self._page(request, self.issue_types[key])
        if page is None:
            return _error(400, "startAt and maxResults must be integers.")
        body = {k: page[k] for k in ("maxResults", "startAt", "total")} | {"issueTypes": page["items"]}
        return 200, self.rebase(body)

    @route("GET", r"/rest/api/3/issue/createmeta/(?P<project>[^/]+)/issuetypes/(?P<issuetype>[^/]+)")
    def createmeta_fields(self, request: FakeRequest):
        key = self._find_project(request.params["project"])
        if key is None:
            return self._no_project(request.params["project"])
        issue_type_id = request.params["issuetype"]
        if not any(t["id"] == issue_type_id for t in self.issue_types[key]):
            return _error(404, f"Issue type with id '{issue_type_id}' does not exist or is not in project '{key}'.")
        page = self._page(request, self.create_fields_for(key, issue_type_id))
        if page is None:
            return _error(400, "startAt and maxResults must be integers.")
        body = {k: page[k] for k in ("maxResults", "startAt", "total")} | {"fields": page["items"]}
        return 200, self.rebase(body)

    @route("GET", r"/rest/api/3/field")
    def field_list(self, request: FakeRequest):
        return 200, self.rebase(self.fields)

    @route("GET", r"/rest/api/3/priority")
    def priority_list(self, request: FakeRequest):
        return 200, self.rebase(self.priorities)

    @route("POST", r"/rest/api/3/issue/(?P<issue>[^/]+)/attachments")
    def attachments_add(self, request: FakeRequest):
        """Multipart parts named ``file`` (403 ``XSRF check failed`` without ``X-Atlassian-Token: no-check``,
        checked in ``before``) → 200 with the list of attachments, which join the issue's ``attachment``."""
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _no_issue()
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return 415, {"errorMessages": ["Unsupported Media Type"], "errors": {}}
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
        )
        created = []
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") != "file":
                continue
            data = part.get_payload(decode=True) or b""
            attachment_id = str(next(self._ids))
            record = {
                "self": f"{self.url}/rest/api/3/attachment/{attachment_id}",
                "id": attachment_id,
                "filename": part.get_filename(),
                "size": len(data),
                "mimeType": part.get_content_type(),
                "content": f"{self.url}/rest/api/3/attachment/content/{attachment_id}",
                "author": self._app_user(),
                "created": self._stamp(),
            }
            self.attachments[attachment_id] = {**record, "issue_id": issue["id"], "data": data}
            created.append(record)
        if not created:
            return _error(400, "No file part named 'file' in the request.")
        issue["fields"].setdefault("attachment", []).extend(copy.deepcopy(created))
        self._touch(issue)
        return 200, created

    def _touch(self, issue: dict[str, Any]) -> None:
        if "updated" in issue["fields"]:
            issue["fields"]["updated"] = self._stamp()

    # --- comments -------------------------------------------------------------------------------------
    def _render_comment(self, comment: dict[str, Any], with_properties: bool) -> dict[str, Any]:
        data = copy.deepcopy(comment)
        if with_properties:
            props = self.comment_properties.get(comment["id"], {})
            data["properties"] = [{"key": k, "value": copy.deepcopy(v)} for k, v in props.items()]
        return data

    @staticmethod
    def _expands(request: FakeRequest, name: str) -> bool:
        return name in {e.strip() for e in (request.arg("expand") or "").split(",")}

    @route("POST", r"/rest/api/3/issue/(?P<issue>[^/]+)/comment")
    def comment_add(self, request: FakeRequest):
        """``{"body": <ADF>, "properties"?: [{key, value}], "visibility"?}`` → 201 with the comment. A body
        that is missing or empty: 400 ``errors.comment = "Comment body can not be empty!"``; a body that is not
        ADF (a plain string, an empty text node …): ``"Comment body is not valid!"``."""
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _no_issue()
        try:
            data = request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "Unexpected character: the request body is not JSON.")
        if not isinstance(data, dict):
            return _error(400, "Can not deserialize the request body.")
        body = data.get("body")
        if body is None or body == "":
            return _error(400, errors={"comment": EMPTY_COMMENT})
        if adf_problem(body) is not None:
            return _error(400, errors={"comment": INVALID_COMMENT})
        if adf_is_empty(body):
            return _error(400, errors={"comment": EMPTY_COMMENT})
        properties = data.get("properties") or []
        if not isinstance(properties, list) or not all(
            isinstance(p, dict) and isinstance(p.get("key"), str) and p["key"] for p in properties
        ):
            return _error(400, "Property keys must be non-empty strings.")
        comment_id = str(next(self._ids))
        stamp = self._stamp()
        comment: dict[str, Any] = {
            "self": f"{self.url}/rest/api/3/issue/{issue['id']}/comment/{comment_id}",
            "id": comment_id,
            "author": self._app_user(),
            "body": copy.deepcopy(body),
            "updateAuthor": self._app_user(),
            "created": stamp,
            "updated": stamp,
            "jsdPublic": True,
        }
        if data.get("visibility") is not None:
            comment["visibility"] = copy.deepcopy(data["visibility"])
        self.comments.setdefault(issue["id"], []).append(comment)
        self.comment_properties[comment_id] = {p["key"]: copy.deepcopy(p.get("value")) for p in properties}
        self.comments_added.append(
            {
                "issue": issue["id"],
                "id": comment_id,
                "body": copy.deepcopy(body),
                "properties": copy.deepcopy(self.comment_properties[comment_id]),
                "visibility": comment.get("visibility"),
            }
        )
        self._touch(issue)
        return 201, self._render_comment(comment, self._expands(request, "properties"))

    @route("GET", r"/rest/api/3/issue/(?P<issue>[^/]+)/comment")
    def comment_list(self, request: FakeRequest):
        """``startAt``/``maxResults`` (capped at ``comment_page_size``), ``orderBy=created|-created``,
        ``expand=properties`` → ``{startAt, maxResults, total, comments}``."""
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _no_issue()
        try:
            start = max(0, int(request.arg("startAt") or 0))
            size = max(0, min(int(request.arg("maxResults") or 5000), self.comment_page_size))
        except ValueError:
            return _error(400, "startAt and maxResults must be integers.")
        comments = list(self.comments.get(issue["id"], []))
        if (request.arg("orderBy") or "").startswith("-"):
            comments.reverse()
        with_properties = self._expands(request, "properties")
        return 200, {
            "startAt": start,
            "maxResults": size,
            "total": len(comments),
            "comments": [self._render_comment(c, with_properties) for c in comments[start : start + size]],
        }

    @route("GET", r"/rest/api/3/search")
    def old_search(self, request: FakeRequest):
        return _error(410, "The requested API has been removed. Please migrate to /rest/api/3/search/jql.")

    # --- issue create ---------------------------------------------------------------------------------
    RICH_TEXT_FIELDS = {"description", "environment"}

    def _is_rich_text(self, field_id: str, meta: dict[str, Any]) -> bool:
        custom = (meta.get("schema") or {}).get("custom", "")
        return field_id in self.RICH_TEXT_FIELDS or custom.endswith(":textarea")

    @staticmethod
    def _option_problem(value: Any, allowed: list[dict[str, Any]]) -> tuple[str | None, Any]:
        """``(error, stored value)`` for an option (``{"id"}`` or ``{"value"}``) against ``allowedValues``."""
        if not isinstance(value, dict):
            return "Specify a valid value", value
        if "id" in value:
            match = next((a for a in allowed if str(a.get("id")) == str(value["id"])), None)
            return (None, copy.deepcopy(match)) if match else (f"Option id '{value['id']}' is not valid", value)
        match = next((a for a in allowed if a.get("value") == value.get("value")), None)
        return (None, copy.deepcopy(match)) if match else (f"Option value '{value.get('value')}' is not valid", value)

    def _next_key(self, project_key: str) -> str:
        """``<PROJECT>-<n>``, after every key of that project (those of ``add_issue`` included)."""
        numbers = [
            int(i["key"].rsplit("-", 1)[1])
            for i in self.issues.values()
            if i["key"].rsplit("-", 1)[0] == project_key and i["key"].rsplit("-", 1)[-1].isdigit()
        ]
        return f"{project_key}-{max(numbers, default=0) + 1}"

    @route("POST", r"/rest/api/3/issue")
    def issue_create(self, request: FakeRequest):
        """``{"fields": {...}, "properties"?: [{key, value}]}`` → 201 ``{id, key, self}``, validated against
        the create screen (``create_fields_for``) as Jira does — every problem at once, one per field, under
        ``errors``: a field not on the screen (``Field 'x' cannot be set. It is not on the appropriate screen,
        or unknown.``), a required field without default missing (``<Name> is required.``; the summary's
        own message), rich text that is not ADF, an option not among ``allowedValues``. The issue starts in
        its workflow's first status; its properties land in ``self.properties``."""
        try:
            data = request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "Unexpected character: the request body is not JSON.")
        fields = data.get("fields") if isinstance(data, dict) else None
        if not isinstance(fields, dict):
            return _error(400, "Can not deserialize the request body: fields are required.")
        project_spec = fields.get("project")
        project_ref = (
            str(project_spec.get("id") or project_spec.get("key") or "") if isinstance(project_spec, dict) else ""
        )
        project_key = self._find_project(project_ref) if project_ref else None
        if project_key is None:
            return _error(400, errors={"project": "Specify a valid project ID or key"})
        type_spec = fields.get("issuetype")
        if not isinstance(type_spec, dict) or not (type_spec.get("id") or type_spec.get("name")):
            return _error(400, errors={"issuetype": "Specify an issue type"})
        issue_type = next(
            (
                t
                for t in self.issue_types[project_key]
                if t["id"] == str(type_spec.get("id")) or (not type_spec.get("id") and t["name"] == type_spec["name"])
            ),
            None,
        )
        if issue_type is None:
            return _error(400, errors={"issuetype": "The issue type selected is invalid."})
        screen = {m["fieldId"]: m for m in self.create_fields_for(project_key, issue_type["id"])}
        errors: dict[str, str] = {}
        stored: dict[str, Any] = {}
        for field_id, value in fields.items():
            meta = screen.get(field_id)
            if meta is None:
                errors[field_id] = self.NOT_EDITABLE.format(field=field_id)
                continue
            if field_id in ("project", "issuetype") or value is None:
                continue
            if self._is_rich_text(field_id, meta) and adf_problem(value) is not None:
                errors[field_id] = NOT_ADF
                continue
            schema = meta.get("schema") or {}
            allowed = meta.get("allowedValues")
            if allowed is not None and schema.get("type") == "option":
                problem, value = self._option_problem(value, allowed)
            elif allowed is not None and schema.get("type") == "array" and schema.get("items") == "option":
                results = [self._option_problem(v, allowed) for v in (value if isinstance(value, list) else [value])]
                problem = next((p for p, _ in results if p), None)
                value = [v for _, v in results]
            else:
                problem = None
            if problem:
                errors[field_id] = problem
                continue
            stored[field_id] = copy.deepcopy(value)
        for field_id, meta in screen.items():
            if field_id in ("project", "issuetype") or not meta["required"] or meta.get("hasDefaultValue"):
                continue
            if fields.get(field_id) in (None, "", [], {}) and field_id not in errors:
                message = "You must specify a summary of the issue." if field_id == "summary" else None
                errors[field_id] = message or f"{meta['name']} is required."
        if errors:
            return _error(400, errors=errors)
        issue_id, key = str(next(self._ids)), self._next_key(project_key)
        project = self.projects[project_key]
        workflow = self.workflow_for(project_key, issue_type["id"])
        stamp = self._stamp()
        issue = {
            "id": issue_id,
            "key": key,
            "self": f"{self.url}/rest/api/3/issue/{issue_id}",
            "fields": {
                "project": {"id": project["id"], "key": project_key, "name": project["name"]},
                "issuetype": {"id": issue_type["id"], "name": issue_type["name"]},
                **({"status": self._status_ref(workflow[0])} if workflow else {}),
                "created": stamp,
                "updated": stamp,
                "reporter": self._app_user(),
                "attachment": [],
                **stored,
            },
        }
        properties = data.get("properties") or []
        self.issues[issue_id] = issue
        self._created_at[issue_id] = self.now()
        for prop in properties:
            self.properties[(issue_id, prop["key"])] = copy.deepcopy(prop.get("value"))
        self.created.append(
            {
                "id": issue_id,
                "key": key,
                "fields": copy.deepcopy(fields),
                "properties": {p["key"]: copy.deepcopy(p.get("value")) for p in properties},
            }
        )
        if self._fail_after_create:
            status, body = self._fail_after_create.pop(0)
            return status, body
        return 201, {"id": issue_id, "key": key, "self": issue["self"]}

    # --- JQL search (the enhanced /search/jql) ---------------------------------------------------------
    @route("GET", r"/rest/api/3/search/jql")
    def search_jql_get(self, request: FakeRequest):
        fields = [f for f in (request.arg("fields") or "").split(",") if f.strip()]
        properties = [p for p in (request.arg("properties") or "").split(",") if p.strip()]
        return self._search_jql(
            request.arg("jql") or "", fields, request.arg("maxResults"), request.arg("nextPageToken"), properties
        )

    @route("POST", r"/rest/api/3/search/jql")
    def search_jql_post(self, request: FakeRequest):
        try:
            data = request.json() or {}
        except (ValueError, UnicodeDecodeError):
            return _error(400, "Unexpected character: the request body is not JSON.")
        if not isinstance(data, dict):
            return _error(400, "Can not deserialize the request body.")
        fields = data.get("fields") or []
        if isinstance(fields, str):
            fields = fields.split(",")
        properties = data.get("properties") or []
        max_results = data.get("maxResults")
        return self._search_jql(
            data.get("jql") or "",
            list(fields),
            None if max_results is None else str(max_results),
            data.get("nextPageToken"),
            list(properties),
        )

    def _search_jql(
        self,
        jql: str,
        fields: list[str],
        max_results: str | None,
        token: str | None,
        properties: list[str],
    ):
        """``{"issues": [...], "nextPageToken"?, "isLast"}`` — no ``total``; ``nextPageToken`` only when more
        follow; each issue is only ``{"id"}`` unless ``fields`` are named (then ``id, key, self, fields``
        with those fields: ``*all``/``*navigable`` for all), plus ``properties`` when asked. Unbounded
        queries are allowed here (Jira refuses them; the fake does not model that)."""
        try:
            size = int(max_results) if max_results not in (None, "") else 50
        except ValueError:
            return _error(400, "maxResults must be an integer.")
        size = max(1, min(size, self.search_page_size))
        try:
            matcher, order = self._parse_jql(jql)
        except JqlError as exc:
            return _error(400, str(exc))
        horizon = self.now() - self.search_lag_seconds
        found = [
            i
            for i in self.issues.values()
            if (self.search_lag_seconds <= 0 or self._created_at.get(i["id"], 0) <= horizon) and matcher(i)
        ]
        found = order(found)
        offset = 0
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
                offset = int(state["offset"])
                if state["jql"] != jql:
                    raise ValueError("another query")
            except (ValueError, KeyError, TypeError, binascii.Error):
                return _error(400, "The provided next page token is invalid or expired.")
        chunk = found[offset : offset + size]
        wanted = {f.strip() for f in fields if f.strip()}
        issues = []
        for issue in chunk:
            item: dict[str, Any] = {"id": issue["id"]}
            if wanted:
                every = bool(wanted & {"*all", "*navigable"})
                item = {
                    "expand": "",
                    "id": issue["id"],
                    "self": issue["self"],
                    "key": issue["key"],
                    "fields": {k: copy.deepcopy(v) for k, v in issue["fields"].items() if every or k in wanted},
                }
            if properties:
                item["properties"] = {
                    k: copy.deepcopy(self.properties[(issue["id"], k)])
                    for k in properties
                    if (issue["id"], k) in self.properties
                }
            issues.append(item)
        body: dict[str, Any] = {"issues": issues}
        is_last = offset + size >= len(found)
        if not is_last:
            body["nextPageToken"] = base64.urlsafe_b64encode(
                json.dumps({"offset": offset + size, "jql": jql}).encode()
            ).decode()
        body["isLast"] = is_last
        return 200, body

    _JQL_TOKEN = re.compile(
        r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|=|\(|\)|,)|(?P<word>[^\s=!(),"']+))"""
    )
    _PROPERTY = re.compile(r"issue\.property\[(?P<key>[^\]]+)\](?:\.(?P<path>.+))?", re.IGNORECASE)

    def _parse_jql(self, jql: str):
        """A minimal JQL: clauses joined by ``AND`` — ``issue.property[<key>].<path> = "<value>"|<number>``,
        ``project = <key or id>``, ``issuetype = <id or name>``, ``issue|key|issuekey|id in (…)`` or ``= …``
        — and an optional ``ORDER BY key|id|created|updated [ASC|DESC]``. Anything else is refused with
        Jira's ``Error in the JQL Query: …`` (400). Returns ``(predicate, order)``."""
        tokens: list[tuple[str, str]] = []
        position = 0
        text = jql.strip()
        while position < len(text):
            match = self._JQL_TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise JqlError(f"Error in the JQL Query: the character '{text[position]}' is a reserved JQL character.")
            kind = match.lastgroup or "word"
            value = match.group(kind)
            if kind == "str":
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            tokens.append((kind, value))
            position = match.end()
        if not tokens:
            raise JqlError("Error in the JQL Query: an empty query is not supported by this fake.")
        predicates = []
        order_keys: list[tuple[str, bool]] = []
        i = 0

        def word(at: int) -> str:
            return tokens[at][1].lower() if at < len(tokens) and tokens[at][0] == "word" else ""

        while i < len(tokens):
            if word(i) == "order" and word(i + 1) == "by":
                i += 2
                while i < len(tokens):
                    field = word(i)
                    if field not in ("key", "id", "issuekey", "created", "updated"):
                        raise JqlError(f"Error in the JQL Query: the fake cannot order by '{tokens[i][1]}'.")
                    descending = word(i + 1) == "desc"
                    i += 2 if word(i + 1) in ("asc", "desc") else 1
                    order_keys.append((field, descending))
                    if i < len(tokens) and tokens[i] == ("op", ","):
                        i += 1
                        continue
                    if i < len(tokens):
                        raise JqlError(f"Error in the JQL Query: Expecting ',' but got '{tokens[i][1]}'.")
                break
            if predicates:
                if word(i) != "and":
                    raise JqlError(f"Error in the JQL Query: the fake supports only AND, got '{tokens[i][1]}'.")
                i += 1
            if i >= len(tokens) or tokens[i][0] == "op":
                raise JqlError("Error in the JQL Query: Expecting a field name.")
            field = tokens[i][1]
            i += 1
            if i < len(tokens) and tokens[i] == ("op", "="):
                if i + 1 >= len(tokens) or tokens[i + 1][0] == "op":
                    raise JqlError(f"Error in the JQL Query: Expecting a value after '{field} ='.")
                operator, values, quoted = "=", [tokens[i + 1][1]], tokens[i + 1][0] == "str"
                i += 2
            elif word(i) == "in" and i + 1 < len(tokens) and tokens[i + 1] == ("op", "("):
                i += 2
                values, quoted = [], False
                while i < len(tokens) and tokens[i] != ("op", ")"):
                    if tokens[i][0] != "op":
                        values.append(tokens[i][1])
                    elif tokens[i] != ("op", ","):
                        raise JqlError(f"Error in the JQL Query: unexpected '{tokens[i][1]}' in a list.")
                    i += 1
                if i >= len(tokens):
                    raise JqlError("Error in the JQL Query: Expecting ')' before the end of the query.")
                i += 1
                operator = "in"
            else:
                got = tokens[i][1] if i < len(tokens) else "end of query"
                raise JqlError(
                    f"Error in the JQL Query: the fake supports only '=' and 'in' after '{field}', got '{got}'."
                )
            predicates.append(self._jql_clause(field, operator, values, quoted))

        def predicate(issue: dict[str, Any]) -> bool:
            return all(p(issue) for p in predicates)

        def sort_value(issue: dict[str, Any], field: str) -> Any:
            if field in ("key", "issuekey"):
                project, _, number = issue["key"].rpartition("-")
                return (project, int(number) if number.isdigit() else 0)
            if field == "created":
                return self._created_at.get(issue["id"], 0)
            if field == "updated":
                return str(issue["fields"].get("updated") or "")
            return int(issue["id"])

        def order(issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
            result = sorted(issues, key=lambda i: int(i["id"]))  # the fake's default order: creation
            for field, descending in reversed(order_keys):
                result.sort(key=lambda i, f=field: sort_value(i, f), reverse=descending)
            return result

        return predicate, order

    def _jql_clause(self, field: str, operator: str, values: list[str], quoted: bool):
        name = field.lower()
        prop = self._PROPERTY.fullmatch(field)
        if prop is not None:
            if operator != "=":
                raise JqlError(f"Error in the JQL Query: the fake supports only '=' on '{field}'.")
            key, path = prop.group("key"), prop.group("path")
            indexed = key in self.indexed_properties or (path and f"{key}.{path}" in self.indexed_properties)
            wanted = values[0]

            def matches_property(issue: dict[str, Any]) -> bool:
                if not indexed or (issue["id"], key) not in self.properties:
                    return False  # Jira indexes only the properties an app declares (jiraEntityProperties)
                value: Any = self.properties[(issue["id"], key)]
                for part in (path or "").split(".") if path else []:
                    if not isinstance(value, dict) or part not in value:
                        return False
                    value = value[part]
                if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
                    return False
                if quoted or isinstance(value, str):
                    return str(value) == wanted
                try:
                    return float(value) == float(wanted)
                except ValueError:
                    return False

            return matches_property
        if name == "project":
            keys = set()
            for ref in values:
                key = self._find_project(ref)
                if key is None:
                    raise JqlError(f"The value '{ref}' does not exist for the field 'project'.")
                keys.add(key)
            return lambda issue: issue["fields"].get("project", {}).get("key") in keys
        if name in ("issuetype", "type"):
            wanted_types = {v.lower() for v in values}
            return lambda issue: bool(
                {str((issue["fields"].get("issuetype") or {}).get(k, "")).lower() for k in ("id", "name")}
                & wanted_types
            )
        if name in ("issue", "key", "issuekey", "id"):
            ids = set()
            for ref in values:
                issue = self._find_issue(ref)
                if issue is None:
                    if self.jql_strict_keys:
                        # the real message (atlassian-python-api#752 records it for a deleted issue)
                        raise JqlError(f"An issue with key '{ref}' does not exist for field '{name}'.")
                    continue
                ids.add(issue["id"])
            return lambda issue: issue["id"] in ids
        raise JqlError(f"Error in the JQL Query: the fake does not support the field '{field}'.")

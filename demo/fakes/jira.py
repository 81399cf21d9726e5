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
  key pair (served by ``FakeInstallKeys`` by ``kid``), and signs iframe (qsh-bound) and context tokens;
- as the product that notifies our app: Connect webhooks from the descriptor's ``modules.webhooks``
  (``webhooks_subscribe``), posted by a background sender in the order the changes happened, signed like Jira
  (JWT with the qsh of the path under the app's base URL, ``X-Atlassian-Webhook-Identifier``/``-Retry``/
  ``-Flow``), retried on 408/409/425/429/5xx, and lost, held, reordered or duplicated on demand
  (``webhooks_drop_next``/``hold``/``release``/``take``/``pause``; ``webhooks_flush`` waits). Payloads carry
  Cloud's quirks: v2 links, rich text as wiki strings, a comment raises two events, ``attachment_created``
  names no issue. Every change — by our app through REST (``user.accountType: "app"``) or by a human through
  ``user_edit``/``user_transition``/``user_comment``/``user_comment_edit``/``user_attach``/``user_create``/
  ``delete_issue`` — goes through one code path that also moves ``fields.updated``;
- attachments download as Jira serves them: ``/attachment/content/{id}`` answers 303 to a media host
  (``localhost`` instead of ``127.0.0.1``) that refuses any request carrying ``Authorization``
  (``media_downloads`` logs each); JQL knows ``updated``/``created`` comparisons with relative and absolute dates;
- Jira Service Management's Organizations field (``customfield_10002`` in ``/field``; ``add_jsm_organization``,
  ``organizations_value`` for issue values shaped as Jira returns them; written only as organization ids).
"""

from __future__ import annotations

import base64
import binascii
import collections
import copy
import email.parser
import email.policy
import itertools
import json
import random
import re
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt as pyjwt
import requests
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

# Jira Service Management's Organizations field, as a site with JSM lists it in GET /field: schema
# {"type": "array", "items": "sd-customerorganization", "custom": "com.atlassian.servicedesk:sd-customer-organizations"}
# (recorded in https://github.com/AtlassianPS/JiraPS/issues/434). Its value on an issue is a list of JSM's
# OrganizationDTO, {"id": "1", "name": "…", "_links": {"self": "…/rest/servicedeskapi/organization/1"}} (id a
# string; https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-organization/). It is set only
# from numeric organization ids ([1, 2]): objects or names are refused with "Operation value must be a number at
# array index 0" (the JiraPS issue above and https://github.com/Icinga/icingaweb2-module-jira/issues/43).
JSM_ORGANIZATIONS_FIELD = "customfield_10002"
JSM_ORGANIZATIONS_CUSTOM = "com.atlassian.servicedesk:sd-customer-organizations"
JSM_ORGANIZATIONS_SCHEMA = {"type": "array", "items": "sd-customerorganization", "custom": JSM_ORGANIZATIONS_CUSTOM}


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


def is_adf(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc" and isinstance(value.get("content"), list)


_INLINE_NODES = {"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"}


def adf_to_wiki(doc: Any) -> Any:
    """A v3 rich-text value the way Connect webhooks carry it: webhook payloads are rendered like REST v2
    (``self`` links say ``/rest/api/2/``), so a description or comment body arrives as a wiki-markup STRING,
    not ADF (api-facts.md: "Webhook comment bodies arrive as plain strings, not ADF"). Text of text nodes;
    top-level blocks separated by a blank line (wiki paragraphs), list items one per line ("* " / "# ");
    marks as wiki (*strong*, _em_, {{code}}, -strike-, [text|url]); mentions as ``[~accountid:…]``.
    Anything that is not an ADF doc is returned unchanged."""
    if not is_adf(doc):
        return doc

    def inline(node: dict[str, Any]) -> str:
        kind, attrs = node.get("type"), node.get("attrs") or {}
        if kind == "text":
            text = str(node.get("text", ""))
            for mark in node.get("marks") or []:
                name = mark.get("type")
                if name == "strong":
                    text = f"*{text}*"
                elif name == "em":
                    text = f"_{text}_"
                elif name == "code":
                    text = "{{" + text + "}}"
                elif name == "strike":
                    text = f"-{text}-"
                elif name == "link":
                    href = (mark.get("attrs") or {}).get("href", "")
                    text = f"[{href}]" if text == href else f"[{text}|{href}]"
            return text
        if kind == "hardBreak":
            return "\n"
        if kind == "mention":
            return f"[~accountid:{attrs.get('id', '')}]"
        if kind == "emoji":
            return str(attrs.get("text") or attrs.get("shortName") or "")
        if kind == "inlineCard":
            return f"[{attrs.get('url', '')}]"
        return "".join(inline(c) for c in node.get("content") or [])

    def block(node: dict[str, Any], prefix: str = "") -> list[str]:
        kind, attrs = node.get("type"), node.get("attrs") or {}
        children = node.get("content") or []
        if kind in ("bulletList", "orderedList"):
            marker = prefix + ("*" if kind == "bulletList" else "#")
            return [line for item in children for line in block(item, marker)]
        if kind == "listItem":
            lines: list[str] = []
            for n, child in enumerate(children):
                sub = block(child, prefix)
                if n == 0 and sub and child.get("type") not in ("bulletList", "orderedList"):
                    sub[0] = f"{prefix} {sub[0]}"
                lines += sub
            return lines
        if kind == "codeBlock":
            return ["{code}" + "".join(inline(c) for c in children) + "{code}"]
        if kind == "heading":
            return [f"h{attrs.get('level', 1)}. " + "".join(inline(c) for c in children)]
        if kind == "rule":
            return ["----"]
        if kind == "blockquote":
            return ["bq. " + line for child in children for line in block(child)]
        if kind in _INLINE_NODES or all(c.get("type") in _INLINE_NODES for c in children):
            return ["".join(inline(c) for c in children) if kind not in _INLINE_NODES else inline(node)]
        return [line for child in children for line in block(child, prefix)]

    return "\n\n".join("\n".join(block(node)) for node in doc["content"])


def text_to_adf(text: str) -> dict[str, Any]:
    """Plain text typed into Jira's editor, as ADF: paragraphs at blank lines, ``hardBreak`` at single line
    breaks (no empty text nodes)."""
    paragraphs = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        content: list[dict[str, Any]] = []
        for n, line in enumerate(chunk.split("\n")):
            if n:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"  # Jira's "2026-11-21T10:00:00.000+0000"


def parse_stamp(value: Any) -> float | None:
    """Epoch seconds of a Jira timestamp (``created``/``updated``), ``None`` if it is not one."""
    try:
        return datetime.strptime(str(value), STAMP_FORMAT).timestamp()
    except ValueError:
        return None


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
        self.issue_comment_limit = 100  # GET /issue's comment field: at most the newest this many
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
        # Jira Service Management: its organizations (id → name; ``add_jsm_organization``) and its Organizations
        # field in GET /field (not on the software projects' create screens: ``add_field`` puts it on one)
        self.jsm_organizations: dict[str, str] = {}
        self._jsm_organization_ids = itertools.count(1)
        self.add_field(JSM_ORGANIZATIONS_FIELD, "Organizations", JSM_ORGANIZATIONS_SCHEMA, on_create_screen=False)
        # The human the ``user_*`` helpers act as by default (the accountId ``sign()`` puts in ``sub``). Not in
        # ``self.users``, so user searches find only the users a test added.
        self.human_account_id = "5b10ac8d82e05b22cc7d4ef5"
        self.human_display_name = "Mia Krystof"
        # --- Connect webhooks (``webhooks_subscribe``): one record per finished (or dropped) delivery, every
        # event the site raised (subscribed or not), and the sender's state, all guarded by ``self._lock``
        self.webhook_subscriptions: list[dict[str, Any]] = []
        self.webhook_deliveries: list[dict[str, Any]] = []
        self.webhook_events: list[dict[str, Any]] = []
        # Delays before the 1st, 2nd, 3rd retry of one delivery (real Jira spreads them over up to 30 minutes)
        self.webhook_retry_delays: list[float] = [0.05, 0.2, 0.5]
        self.webhook_timeout = 10.0  # seconds Jira waits for the app's answer
        self._webhook_queue: collections.deque[dict[str, Any]] = collections.deque()
        self._webhook_held: list[dict[str, Any]] | None = None  # a list while webhooks_hold() is on
        self._webhook_drop = 0
        self._webhook_paused = False
        self._webhook_busy: dict[str, Any] | None = None  # the delivery being sent now
        self._webhook_stopping = False
        self._webhook_wake = threading.Condition(self._lock)
        self._webhook_sender: threading.Thread | None = None
        # attachment bytes are served by the "media" host (``localhost``), never to a request with Authorization
        self.media_downloads: list[dict[str, Any]] = []
        self._media_tokens: dict[str, str] = {}  # media token → attachment id

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

    def stop(self) -> None:
        with self._webhook_wake:
            self._webhook_stopping = True
            self._webhook_wake.notify_all()
        if self._webhook_sender is not None:
            self._webhook_sender.join(timeout=5)
        super().stop()

    def _user_ref(self, account_id: str | None) -> dict[str, Any]:
        """A user as Jira embeds one (author, ``user`` of a webhook): the app user for ``app_account_id``,
        else a human (``accountType: atlassian``) — one from ``add_user``, the default human, or unnamed."""
        account_id = account_id or self.human_account_id
        if account_id == self.app_account_id:
            return self._app_user()
        known = self.users.get(account_id)
        if known is not None:
            name = known["displayName"]
        else:
            name = self.human_display_name if account_id == self.human_account_id else account_id
        ref = {
            "self": f"{self.url}/rest/api/3/user?accountId={account_id}",
            "accountId": account_id,
            "displayName": name,
            "active": True,
            "timeZone": "Etc/UTC",
            "accountType": "atlassian",
        }
        if known is not None and known.get("_email") and known.get("_email_visible"):
            ref["emailAddress"] = known["_email"]  # only where the user's profile lets apps see it
        return ref

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
        if request.path.startswith("/media/"):
            return None  # the media host: its own token in the URL, no JWT (see media_file)
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
        stamp = self._stamp()
        issue = {
            "id": issue_id,
            "key": key,
            "self": f"{self.url}/rest/api/3/issue/{issue_id}",
            "fields": {
                "summary": summary,
                "project": project_ref,
                "issuetype": {"id": issue_type["id"], "name": issue_type["name"]},
                **({"status": self._status_ref(workflow[0])} if workflow else {}),
                "created": stamp,
                "updated": stamp,
                "attachment": [],
                **fields,
            },
        }
        with self._lock:
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
        fields = dict(issue["fields"])
        fields.setdefault("attachment", [])
        comments = self.comments.get(issue["id"], [])
        shown = comments[-self.issue_comment_limit :] if self.issue_comment_limit else []
        fields["comment"] = {  # the comment field as GET /issue renders it: ADF bodies, no properties, and
            # only the newest ``issue_comment_limit``, ``total`` counting them all (a client can tell it got a
            # subset: atlassian/atlassian-mcp-server#230, 100 of 120 comments, the oldest left out)
            "comments": [self._render_comment(c, False) for c in shown],
            "self": f"{self.url}/rest/api/3/issue/{issue['id']}/comment",
            "maxResults": self.issue_comment_limit,
            "total": len(comments),
            "startAt": len(comments) - len(shown),
        }
        wanted = request.arg("fields")
        if wanted:  # like Jira: only the fields asked for (unknown names are ignored); *all / *navigable
            names = {f.strip() for f in wanted.split(",")}
            if "*all" not in names:
                navigable = "*navigable" in names
                fields = {k: v for k, v in fields.items() if k in names or (navigable and k != "comment")}
        return 200, {**issue, "fields": fields}

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
        refused = self._edit_issue(issue, changes, self.app_account_id)
        if refused:
            return _error(400, errors=refused)
        self.edits.append({"issue": issue["id"], "fields": changes})
        return 204, b""

    @route("DELETE", r"/rest/api/3/issue/(?P<issue>[^/]+)")
    def issue_delete(self, request: FakeRequest):
        """Delete: 204, ``jira:issue_deleted`` (its comments and attachments go with it)."""
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _no_issue()
        self._delete_issue(issue, self.app_account_id)
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
        self._transition_issue(issue, transition, self.app_account_id)
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

    # --- Jira Service Management organizations ---------------------------------------------------------
    def add_jsm_organization(self, name: str) -> dict[str, Any]:
        """A JSM organization as ``POST /rest/servicedeskapi/organization`` answers it: the existing one when
        the name is taken (as JSM does), else a new one with the next id."""
        with self._lock:
            org_id = next((i for i, n in self.jsm_organizations.items() if n == name), None)
            if org_id is None:
                org_id = str(next(self._jsm_organization_ids))
                self.jsm_organizations[org_id] = name
        return self._jsm_organization_ref(org_id)

    def _jsm_organization_ref(self, org_id: str) -> dict[str, Any]:
        return {
            "id": org_id,
            "name": self.jsm_organizations[org_id],
            "_links": {"self": f"{self.url}/rest/servicedeskapi/organization/{org_id}"},
        }

    def organizations_value(self, *names: str) -> list[dict[str, Any]]:
        """An Organizations field value as ``GET /issue`` returns it (the organizations are added if new), e.g.
        ``add_issue(key=…, customfield_10002=jira.organizations_value("Customer Inc"))``."""
        return [self.add_jsm_organization(name) for name in names]

    def _is_organizations_field(self, field_id: str, schema: dict[str, Any] | None = None) -> bool:
        if schema is None:
            schema = next((f.get("schema") or {} for f in self.fields if f["id"] == field_id), {})
        return schema.get("custom") == JSM_ORGANIZATIONS_CUSTOM

    def _organizations_write(self, value: Any) -> tuple[str | None, Any]:
        """``(error, stored value)`` for a write to the Organizations field: a list of organization ids as JSON
        numbers (anything else is refused as Jira refuses it), stored as the organizations it names."""
        values = value if isinstance(value, list) else [value]
        refs = []
        for index, one in enumerate(values):
            if isinstance(one, bool) or not isinstance(one, int):
                return f"Operation value must be a number at array index {index}", None
            if str(one) not in self.jsm_organizations:
                # Jira refuses an unknown id; its exact words are not recorded (not verified)
                return f"Organization with id '{one}' does not exist.", None
            refs.append(self._jsm_organization_ref(str(one)))
        return None, refs

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
        files = [
            (part.get_filename(), part.get_payload(decode=True) or b"", part.get_content_type())
            for part in message.iter_parts()
            if part.get_param("name", header="content-disposition") == "file"
        ]
        if not files:
            return _error(400, "No file part named 'file' in the request.")
        return 200, self._attach(issue, files, self.app_account_id)

    def _touch(self, issue: dict[str, Any]) -> None:
        """Every change moves the issue's ``updated`` (on the fake's clock, Jira's format)."""
        issue["fields"]["updated"] = self._stamp()

    # --- attachment download: 303 to the media host, which refuses Authorization ------------------------
    def media_url(self, token: str, attachment: dict[str, Any]) -> str:
        """Where attachment bytes are really served: the same fake on another host name (``localhost`` for
        ``127.0.0.1``), as Jira redirects ``/attachment/content/{id}`` to ``api.media.atlassian.com`` with a
        short-lived token in the URL — so HTTP clients drop the JWT on the redirect, and the media host
        refuses a request that brings it anyway."""
        assert self._server, "fake server not started"
        name = quote(attachment["filename"] or "file")
        return (
            f"http://localhost:{self._server.server_address[1]}/media/file/{attachment['id']}/binary"
            f"?token={token}&client={self.client_key}&name={name}&dl=true"
        )

    @route("GET", r"/rest/api/(?:2|3)/attachment/content/(?P<id>[^/]+)")
    def attachment_content(self, request: FakeRequest):
        """App-authenticated (``before``): 303 to the media host; ``?redirect=false`` answers the bytes here.
        The v2 spelling is served too: webhook payloads link ``/rest/api/2/…``."""
        record = self.attachments.get(request.params["id"])
        if record is None:
            return _error(404, f"The attachment with id '{request.params['id']}' does not exist.")
        if request.arg("redirect") == "false":
            return 200, record["data"], {"Content-Type": record["mimeType"]}
        token = secrets.token_urlsafe(24)
        self._media_tokens[token] = record["id"]
        return 303, b"", {"Location": self.media_url(token, record)}

    @route("GET", r"/media/file/(?P<id>[^/]+)/binary")
    def media_file(self, request: FakeRequest):
        """The media host: 401 for a request carrying ``Authorization`` (our JWT must not travel to it), 403
        for a missing or foreign token, else the bytes with their type and length. Logged in
        ``media_downloads``."""
        authorization = request.headers.get("authorization")
        attachment_id = self._media_tokens.get(request.arg("token") or "")
        record = self.attachments.get(request.params["id"])
        if authorization is not None:
            status, body = (
                401,
                {"error": "Unauthorized", "message": "Media URLs carry their own token: send no Authorization header."},
            )
        elif record is None or attachment_id != request.params["id"]:
            status, body = (
                403,
                {"error": "Forbidden", "message": "The media token is missing, expired or for another file."},
            )
        else:
            status, body = 200, record["data"]
        self.media_downloads.append(
            {"attachment_id": request.params["id"], "authorization": authorization, "status": status}
        )
        if status != 200:
            return status, body
        return (
            200,
            body,
            {
                "Content-Type": record["mimeType"],
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(record['filename'] or 'file')}",
            },
        )

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
        comment = self._add_comment(
            issue, body, self.app_account_id, properties=properties, visibility=data.get("visibility")
        )
        self.comments_added.append(
            {
                "issue": issue["id"],
                "id": comment["id"],
                "body": copy.deepcopy(body),
                "properties": copy.deepcopy(self.comment_properties[comment["id"]]),
                "visibility": comment.get("visibility"),
            }
        )
        return 201, self._render_comment(comment, self._expands(request, "properties"))

    @route("PUT", r"/rest/api/3/issue/(?P<issue>[^/]+)/comment/(?P<comment>[^/]+)")
    def comment_edit(self, request: FakeRequest):
        """``{"body": <ADF>}`` → 200 with the comment (same body checks as adding one)."""
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _no_issue()
        comment = next((c for c in self.comments.get(issue["id"], []) if c["id"] == request.params["comment"]), None)
        if comment is None:
            return _error(404, "Can not find a comment for the id: " + request.params["comment"] + ".")
        try:
            data = request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "Unexpected character: the request body is not JSON.")
        body = data.get("body") if isinstance(data, dict) else None
        if body is None or body == "":
            return _error(400, errors={"comment": EMPTY_COMMENT})
        if adf_problem(body) is not None:
            return _error(400, errors={"comment": INVALID_COMMENT})
        if adf_is_empty(body):
            return _error(400, errors={"comment": EMPTY_COMMENT})
        self._edit_comment(issue, comment, body, self.app_account_id)
        return 200, self._render_comment(comment, self._expands(request, "properties"))

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
            if self._is_organizations_field(field_id, schema):
                problem, value = self._organizations_write(value)
            elif allowed is not None and schema.get("type") == "option":
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
        self._issue_event("issue_created", issue, self.app_account_id, event="jira:issue_created")
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

    @route("POST", r"/rest/api/3/jql/parse")
    def jql_parse(self, request: FakeRequest):
        """``{"queries": [{"query", "structure"} | {"query", "errors": [...]}]}``, 200 even for refused queries
        (400 only for a malformed body), each query checked as the fake's search reads it. Shape and wording:
        the ``parseJqlQueries`` example of Jira's REST reference (e.g. ``"Field 'universe' does not exist or
        you do not have permission to view it."``); ``validation=strict`` omits the structure of a refused query.
        https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-jql/#api-rest-api-3-jql-parse-post"""
        try:
            data = request.json() or {}
        except (ValueError, UnicodeDecodeError):
            return _error(400, "Unexpected character: the request body is not JSON.")
        queries = data.get("queries") if isinstance(data, dict) else None
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            return _error(400, "Can not deserialize the request body: queries must be a list of strings.")
        parsed = []
        for query in queries:
            try:
                self._parse_jql(query)
            except JqlError as exc:
                parsed.append({"query": query, "errors": [str(exc)]})
            else:
                parsed.append({"query": query, "structure": {"where": {}}})
        return 200, {"queries": parsed}

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
        r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
        r"""|(?P<op>!=|>=|<=|=|>|<|\(|\)|,)|(?P<word>[^\s=!<>(),"']+))"""
    )
    _PROPERTY = re.compile(r"issue\.property\[(?P<key>[^\]]+)\](?:\.(?P<path>.+))?", re.IGNORECASE)

    def _parse_jql(self, jql: str):
        """A minimal JQL: clauses joined by ``AND`` (grouping parentheses allowed) —
        ``issue.property[<key>].<path> = "<value>"|<number>``, ``labels``, ``priority``, ``status``,
        ``reporter``, ``assignee`` and ``customfield_N``/``cf[N]`` ``= x``/``in (…)`` (name, id, option value or
        accountId),
        ``project = <key or id>`` / ``project in (<keys or ids>)``, ``issuetype = <id or name>``,
        ``issue|key|issuekey|id in (…)`` or ``= …``, ``updated|created >= | > | <= | < | = <date>`` (``"-5m"``,
        ``-2h``, ``"-1d 2h"`` relative to the fake's clock, or ``"2026/11/21 10:05"``, ``"2026-11-21"`` in the
        app user's time zone, UTC here) — and an optional ``ORDER BY key|id|created|updated [ASC|DESC]``.
        Anything else is refused with Jira's ``Error in the JQL Query: …`` (400). Returns
        ``(predicate, order)``."""
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
        tokens = self._jql_ungroup(tokens)
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
            if i < len(tokens) and tokens[i][0] == "op" and tokens[i][1] in ("=", ">=", "<=", ">", "<"):
                operator = tokens[i][1]
                if i + 1 >= len(tokens) or tokens[i + 1][0] == "op":
                    raise JqlError(f"Error in the JQL Query: Expecting a value after '{field} {operator}'.")
                values, quoted = [tokens[i + 1][1]], tokens[i + 1][0] == "str"
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
                    f"Error in the JQL Query: the fake supports only '=', 'in' and date comparisons after "
                    f"'{field}', got '{got}'."
                )
            predicates.append(self._jql_clause(field, operator, values, quoted))

        def predicate(issue: dict[str, Any]) -> bool:
            return all(p(issue) for p in predicates)

        def sort_value(issue: dict[str, Any], field: str) -> Any:
            if field in ("key", "issuekey"):
                project, _, number = issue["key"].rpartition("-")
                return (project, int(number) if number.isdigit() else 0)
            if field in ("created", "updated"):
                return self._issue_moment(issue, field)
            return int(issue["id"])

        def order(issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
            result = sorted(issues, key=lambda i: int(i["id"]))  # the fake's default order: creation
            for field, descending in reversed(order_keys):
                result.sort(key=lambda i, f=field: sort_value(i, f), reverse=descending)
            return result

        return predicate, order

    @staticmethod
    def _jql_ungroup(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Parentheses that group clauses (``A AND (B AND C)``) dropped: with only AND they change nothing.
        Those of an ``in (…)`` list stay."""
        kept: list[tuple[str, str]] = []
        stack: list[bool] = []  # per open parenthesis: whether it opens a list (kept)
        for index, token in enumerate(tokens):
            if token == ("op", "("):
                is_list = index > 0 and tokens[index - 1][0] == "word" and tokens[index - 1][1].lower() == "in"
                stack.append(is_list)
                if is_list:
                    kept.append(token)
            elif token == ("op", ")"):
                if not stack:
                    raise JqlError("Error in the JQL Query: unexpected ')'.")
                if stack.pop():
                    kept.append(token)
            else:
                kept.append(token)
        if stack:
            raise JqlError("Error in the JQL Query: Expecting ')' before the end of the query.")
        return kept

    _JQL_PERIOD = re.compile(r"^\s*(?P<sign>[-+]?)\s*(?P<parts>(?:\d+\s*[wdhm]\s*)+)$", re.IGNORECASE)
    _JQL_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}
    _JQL_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")

    def _jql_moment(self, field: str, value: str) -> float:
        """Epoch seconds of a JQL date value: a period relative to now (``-5m``, ``"-1d 2h"``; w/d/h/m) on the
        fake's clock, or an absolute date (minutes at most) in the user's time zone — UTC for the app user.
        Anything else: Jira's own message."""
        period = self._JQL_PERIOD.match(value)
        if period is not None:
            seconds = sum(
                int(n) * self._JQL_UNITS[unit.lower()]
                for n, unit in re.findall(r"(\d+)\s*([wdhm])", period.group("parts"), re.IGNORECASE)
            )
            return self.now() + (-seconds if period.group("sign") == "-" else seconds)
        for pattern in self._JQL_DATE_FORMATS:
            try:
                return datetime.strptime(value.strip(), pattern).replace(tzinfo=UTC).timestamp()
            except ValueError:
                continue
        raise JqlError(
            f"Date value '{value}' for field '{field}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
            "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
        )

    def _issue_moment(self, issue: dict[str, Any], field: str) -> float:
        """An issue's ``created``/``updated`` in epoch seconds (its stamp; else when the fake stored it)."""
        moment = parse_stamp(issue["fields"].get(field))
        return moment if moment is not None else self._created_at.get(issue["id"], 0.0)

    def _jql_clause(self, field: str, operator: str, values: list[str], quoted: bool):
        name = field.lower()
        if name in ("updated", "updateddate", "created", "createddate"):
            if operator == "in":
                raise JqlError(f"Error in the JQL Query: the fake supports only comparisons on '{field}'.")
            moment = self._jql_moment(field, values[0])
            which = "updated" if name.startswith("updated") else "created"
            compare = {
                ">=": lambda a: a >= moment,
                ">": lambda a: a > moment,
                "<=": lambda a: a <= moment,
                "<": lambda a: a < moment,
                "=": lambda a: int(a // 60) == int(moment // 60),  # dates are minutes in JQL
            }[operator]
            return lambda issue: compare(self._issue_moment(issue, which))
        if operator not in ("=", "in"):
            raise JqlError(f"Error in the JQL Query: the fake supports '{operator}' only on dates, not on '{field}'.")
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
        if name == "labels":
            wanted_labels = set(values)
            return lambda issue: bool(set(issue["fields"].get("labels") or []) & wanted_labels)
        if name in ("priority", "status", "reporter", "assignee") or name.startswith(("customfield_", "cf[")):
            key = f"customfield_{name[3:-1]}" if name.startswith("cf[") else name
            wanted_values = {v.lower() for v in values}

            def matches_value(issue: dict[str, Any]) -> bool:
                value = issue["fields"].get(key)
                values_ = value if isinstance(value, list) else [value]
                for one in values_:
                    names = (
                        {str(one.get(k, "")).lower() for k in ("id", "name", "value", "accountId") if one.get(k)}
                        if isinstance(one, dict)
                        else {str(one).lower()}
                    )
                    if names & wanted_values:
                        return True
                return False

            return matches_value
        raise JqlError(f"Error in the JQL Query: the fake does not support the field '{field}'.")

    # --- changes shared by the REST handlers (the app, accountType "app") and the user_* helpers (a human):
    # one code path each for the state change and the webhook events it raises -------------------------------
    SYSTEM_FIELD_NAMES = {"attachment": "Attachment"}  # changelog ``field``: Jira capitalises only this one

    def _change_value(self, field_id: str, value: Any) -> tuple[str | None, str | None]:
        """``(from|to, fromString|toString)`` of a changelog item, as Jira writes them: ids where the value has
        one (priority, status, option, user accountId), display strings; text and labels in the string only."""
        if value is None or value == [] or value == "":
            return None, None
        if is_adf(value):
            return None, adf_to_wiki(value)
        if isinstance(value, str):
            return None, value
        if isinstance(value, dict):
            if "accountId" in value:
                return value["accountId"], self._user_ref(value["accountId"])["displayName"]
            if field_id == "priority" and "name" not in value:
                known = next((p for p in self.priorities if p["id"] == str(value.get("id"))), {})
                return value.get("id"), known.get("name")
            label = value.get("name") or value.get("value") or value.get("displayName") or value.get("key")
            return (str(value["id"]) if "id" in value else None), label
        if isinstance(value, list):
            refs = [self._change_value(field_id, v) for v in value]
            ids = [r[0] for r in refs if r[0] is not None]
            return ("[" + ", ".join(ids) + "]" if ids else None), (" " if field_id == "labels" else ",").join(
                r[1] or "" for r in refs
            )
        return str(value), str(value)

    def _change_item(self, field_id: str, old: Any, new: Any) -> dict[str, Any]:
        name = self.SYSTEM_FIELD_NAMES.get(field_id)
        if name is None:
            known = next((f for f in self.fields if f["id"] == field_id), None)
            custom = field_id.startswith("customfield_")
            name = known["name"] if custom and known else field_id  # system fields go by id ("summary", …)
        before, before_text = self._change_value(field_id, old)
        after, after_text = self._change_value(field_id, new)
        return {
            "field": name,
            "fieldtype": "custom" if field_id.startswith("customfield_") else "jira",
            "fieldId": field_id,
            "from": before,
            "fromString": before_text,
            "to": after,
            "toString": after_text,
        }

    def _edit_issue(self, issue: dict[str, Any], changes: dict[str, Any], account_id: str) -> dict[str, str]:
        """Validate and apply an edit; ``{field: message}`` when refused (nothing changes, as in Jira). Fields
        whose value really changes make one changelog and one ``jira:issue_updated`` (``issue_updated``)."""
        known = {f["id"] for f in self.fields}
        refused = {f: self.NOT_EDITABLE.format(field=f) for f in changes if f not in known or f in self.read_only}
        changes = dict(changes)
        for field_id, value in list(changes.items()):
            # Organizations: written as organization ids, stored (and returned) as the organizations
            if field_id not in refused and self._is_organizations_field(field_id) and value not in (None, []):
                problem, changes[field_id] = self._organizations_write(value)
                if problem:
                    refused[field_id] = problem
        if refused:
            return refused
        items = [
            self._change_item(field_id, issue["fields"].get(field_id), value)
            for field_id, value in changes.items()
            if issue["fields"].get(field_id) != value
        ]
        issue["fields"].update(copy.deepcopy(changes))
        if items:
            self._touch(issue)
            self._issue_event("issue_updated", issue, account_id, items=items)
        return {}

    def _transition_issue(self, issue: dict[str, Any], transition: dict[str, Any], account_id: str) -> None:
        """A workflow transition: ``jira:issue_updated`` with ``issue_event_type_name: "issue_generic"`` (what
        a transition without its own event raises) and a ``status`` changelog item."""
        old = issue["fields"].get("status") or {}
        issue["fields"]["status"] = copy.deepcopy(transition["to"])
        self._touch(issue)
        item = {
            "field": "status",
            "fieldtype": "jira",
            "fieldId": "status",
            "from": old.get("id"),
            "fromString": old.get("name"),
            "to": transition["to"]["id"],
            "toString": transition["to"]["name"],
        }
        self._issue_event("issue_generic", issue, account_id, items=[item])

    def _add_comment(
        self,
        issue: dict[str, Any],
        body: dict[str, Any],
        account_id: str,
        *,
        properties: list[dict[str, Any]] | None = None,
        visibility: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store an (ADF) comment; raises ``comment_created`` AND ``jira:issue_updated`` (``issue_commented``),
        both carrying the comment with its body as a wiki string."""
        comment_id = str(next(self._ids))
        stamp = self._stamp()
        author = self._user_ref(account_id)
        comment: dict[str, Any] = {
            "self": f"{self.url}/rest/api/3/issue/{issue['id']}/comment/{comment_id}",
            "id": comment_id,
            "author": author,
            "body": copy.deepcopy(body),
            "updateAuthor": copy.deepcopy(author),
            "created": stamp,
            "updated": stamp,
            "jsdPublic": True,
        }
        if visibility is not None:
            comment["visibility"] = copy.deepcopy(visibility)
        self.comments.setdefault(issue["id"], []).append(comment)
        self.comment_properties[comment_id] = {p["key"]: copy.deepcopy(p.get("value")) for p in properties or []}
        self._touch(issue)
        self._comment_events("comment_created", "issue_commented", issue, comment, account_id)
        return comment

    def _edit_comment(self, issue: dict[str, Any], comment: dict[str, Any], body: dict[str, Any], account_id: str):
        """Replace a comment's body; raises ``comment_updated`` AND ``jira:issue_updated``
        (``issue_comment_edited``)."""
        comment["body"] = copy.deepcopy(body)
        comment["updateAuthor"] = self._user_ref(account_id)
        comment["updated"] = self._stamp()
        self._touch(issue)
        self._comment_events("comment_updated", "issue_comment_edited", issue, comment, account_id)

    def _attach(self, issue: dict[str, Any], files: list[tuple[str, bytes, str]], account_id: str) -> list[dict]:
        """Store files ``[(filename, bytes, mime type)]`` on the issue; raises one ``attachment_created`` per
        file (the attachment only — no issue, see ``_attachment_event``) and one ``jira:issue_updated`` whose
        changelog has an ``Attachment`` item per file (``to`` = attachment id, ``toString`` = file name)."""
        created = []
        for filename, data, mime in files:
            attachment_id = str(next(self._ids))
            record = {
                "self": f"{self.url}/rest/api/3/attachment/{attachment_id}",
                "id": attachment_id,
                "filename": filename,
                "size": len(data),
                "mimeType": mime,
                "content": f"{self.url}/rest/api/3/attachment/content/{attachment_id}",
                "author": self._user_ref(account_id),
                "created": self._stamp(),
            }
            self.attachments[attachment_id] = {**record, "issue_id": issue["id"], "data": data}
            created.append(record)
        issue["fields"].setdefault("attachment", []).extend(copy.deepcopy(created))
        self._touch(issue)
        for record in created:
            self._attachment_event(record)
        items = [self._change_item("attachment", None, {"id": r["id"], "name": r["filename"]}) for r in created]
        self._issue_event("issue_updated", issue, account_id, items=items)
        return copy.deepcopy(created)

    def _delete_issue(self, issue: dict[str, Any], account_id: str) -> None:
        """Remove the issue with its comments, properties and attachments; raises ``jira:issue_deleted``
        (a last snapshot of the issue)."""
        snapshot = copy.deepcopy(issue)
        self.issues.pop(issue["id"], None)
        self._created_at.pop(issue["id"], None)
        for comment in self.comments.pop(issue["id"], []):
            self.comment_properties.pop(comment["id"], None)
        for key in [k for k in self.properties if k[0] == issue["id"]]:
            del self.properties[key]
        for attachment_id in [a for a, r in self.attachments.items() if r["issue_id"] == issue["id"]]:
            del self.attachments[attachment_id]
        self._issue_event("issue_deleted", snapshot, account_id, event="jira:issue_deleted")

    # --- webhook payloads, shaped like real Connect deliveries ------------------------------------------------
    # Sources: Atlassian, "Webhooks" (developer.atlassian.com/cloud/jira/platform/webhooks/) and the Connect
    # webhook module (…/cloud/jira/platform/modules/webhook/: best effort, JWT in Authorization); the retry
    # policy (community.developer.atlassian.com/t/new-jira-cloud-webhook-retry-policy/30554: 408, 409, 425,
    # 429, 5xx and connection failures, X-Atlassian-Webhook-Retry); recorded Cloud payloads, which link
    # ``/rest/api/2/…`` and carry comment bodies as strings (rixter.atlassian.net/wiki/spaces/RIFJ/pages/
    # 1937047560 "Issue Events samples"; gist.github.com/patrickng/428ab1ed68fe909261c2b3bf853da7c4,
    # a comment_created delivery); the jira.js payload types (mrrefactoring.github.io/jira.js/api/interfaces/
    # webhooks.AttachmentWebhookPayload.html: ``{timestamp, webhookEvent, attachment}``, no issue).
    def _v2(self, payload: Any) -> Any:
        """Webhook payloads are rendered like REST v2: every ``/rest/api/3/`` link of this site says ``/2/``."""
        return json.loads(json.dumps(payload).replace(f"{self.url}/rest/api/3/", f"{self.url}/rest/api/2/"))

    def _webhook_issue(self, issue: dict[str, Any]) -> dict[str, Any]:
        """The issue in ``jira:issue_*`` payloads: every current field, rich text (ADF) as a wiki string,
        ``attachment`` always listed. No ``comment`` field (Cloud leaves comments out of issue payloads;
        unverified either way — do not rely on it: the comment comes as its own object)."""
        fields = {k: adf_to_wiki(v) for k, v in issue["fields"].items() if k != "comment"}
        fields.setdefault("attachment", [])
        return self._v2({"id": issue["id"], "self": issue["self"], "key": issue["key"], "fields": fields})

    def _webhook_comment(self, comment: dict[str, Any]) -> dict[str, Any]:
        rendered = {k: v for k, v in comment.items() if k != "properties"}
        rendered["body"] = adf_to_wiki(comment["body"])
        return self._v2(rendered)

    COMMENT_EVENT_ISSUE_FIELDS = ("summary", "issuetype", "project", "status", "priority", "assignee")

    def _issue_event(
        self,
        type_name: str,
        issue: dict[str, Any],
        account_id: str,
        *,
        items: list[dict[str, Any]] | None = None,
        comment: dict[str, Any] | None = None,
        event: str = "jira:issue_updated",
    ) -> None:
        payload: dict[str, Any] = {
            "issue_event_type_name": type_name,
            "user": self._v2(self._user_ref(account_id)),
            "issue": self._webhook_issue(issue),
        }
        if items:
            payload["changelog"] = {"id": str(next(self._ids)), "items": items}
        if comment is not None:
            payload["comment"] = self._webhook_comment(comment)
        self._emit(event, payload)

    def _comment_events(
        self, event: str, type_name: str, issue: dict[str, Any], comment: dict[str, Any], account_id: str
    ) -> None:
        """A comment raises two events: ``comment_created|comment_updated`` (comment + an issue with a few
        fields) and ``jira:issue_updated`` (the full issue + the same comment, no changelog)."""
        fields = {k: issue["fields"][k] for k in self.COMMENT_EVENT_ISSUE_FIELDS if k in issue["fields"]}
        short = self._v2({"id": issue["id"], "self": issue["self"], "key": issue["key"], "fields": fields})
        self._emit(event, {"comment": self._webhook_comment(comment), "issue": short})
        self._issue_event(type_name, issue, account_id, comment=comment)

    def _attachment_event(self, record: dict[str, Any]) -> None:
        """``attachment_created`` carries the attachment and NOTHING about its issue (jira.js's payload type
        has no issue; rocketchat-jira-hook#13 logs "attachment_created. Not enough info on issue"): a receiver
        learns the issue from the ``jira:issue_updated`` whose changelog has the ``Attachment`` item."""
        self._emit("attachment_created", {"attachment": self._v2(record)})

    # --- Connect webhook delivery ------------------------------------------------------------------------
    RETRY_STATUSES = {408, 409, 425, 429}  # and every 5xx

    def webhooks_subscribe(
        self, descriptor: dict[str, Any], *, client_key: str | None = None, shared_secret: str | None = None
    ) -> list[dict[str, Any]]:
        """Read a Connect descriptor's ``modules.webhooks`` (``[{event, url, excludeBody}]``) and deliver those
        events, and only those, to ``baseUrl + url`` — signed as the installed tenant (this site's
        ``client_key``/``shared_secret`` unless given). Replaces earlier subscriptions. Returns them."""
        base = str(descriptor["baseUrl"]).rstrip("/")
        subscriptions = [
            {
                "event": module["event"],
                "url": base + module["url"],
                "relative": module["url"],  # what the qsh covers: the path relative to the app's base URL
                "exclude_body": bool(module.get("excludeBody", False)),
                "client_key": client_key or self.client_key,
                "shared_secret": shared_secret or self.shared_secret,
            }
            for module in (descriptor.get("modules") or {}).get("webhooks") or []
        ]
        with self._webhook_wake:
            self.webhook_subscriptions = subscriptions
            if self._webhook_sender is None and subscriptions:
                self._webhook_sender = threading.Thread(
                    target=self._webhook_loop, name="fake-jira-webhooks", daemon=True
                )
                self._webhook_sender.start()
        return copy.deepcopy(subscriptions)

    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        """Raise ``event``: the payload is a snapshot of now; one delivery per subscription to it, queued in
        the order the changes happen and posted later by the sender thread (never in the request handler)."""
        body = json.loads(json.dumps({"timestamp": int(self.now() * 1000), "webhookEvent": event, **payload}))
        with self._webhook_wake:
            self.webhook_events.append({"event": event, "payload": body})
            for subscription in self.webhook_subscriptions:
                if subscription["event"] != event:
                    continue
                delivery = {
                    **subscription,
                    "identifier": str(uuid.uuid4()),  # one logical delivery: stable across its retries
                    "payload": body,
                    "retry": 0,
                }
                if self._webhook_drop > 0:  # best effort: this one is lost for good
                    self._webhook_drop -= 1
                    self.webhook_deliveries.append(self._webhook_record(delivery, dropped=True))
                elif self._webhook_held is not None:
                    self._webhook_held.append(delivery)
                else:
                    self._webhook_queue.append(delivery)
            self._webhook_wake.notify_all()

    def webhook_request(self, delivery: dict[str, Any], retry: int = 0) -> tuple[dict[str, str], bytes]:
        """Headers and body of one attempt, as Jira sends them: ``Authorization: JWT`` (HS256 with the shared
        secret, ``iss`` = clientKey, a fresh ``iat``/``exp``, ``qsh`` of ``POST`` + the path relative to the
        app's base URL), ``X-Atlassian-Webhook-Identifier``, ``-Retry`` (0, 1, …), ``-Flow``."""
        token = self.sign(
            "POST",
            delivery["relative"],
            account_id=None,
            secret=delivery["shared_secret"],
            iss=delivery["client_key"],
        )
        headers = {
            "Authorization": f"JWT {token}",
            "X-Atlassian-Webhook-Identifier": delivery["identifier"],
            "X-Atlassian-Webhook-Retry": str(retry),
            "X-Atlassian-Webhook-Flow": "Primary" if retry == 0 else "Retry",
            "User-Agent": "Atlassian Webhook HTTP Client",
        }
        if delivery["exclude_body"]:
            return headers, b""
        headers["Content-Type"] = "application/json"
        return headers, json.dumps(delivery["payload"]).encode()

    def _webhook_record(self, delivery: dict[str, Any], **outcome: Any) -> dict[str, Any]:
        return {
            "identifier": delivery["identifier"],
            "event": delivery["event"],
            "url": delivery["url"],
            "status": None,
            "statuses": [],  # one per attempt (None: the connection failed)
            "attempts": 0,
            "elapsed_ms": None,  # of the last attempt
            "dropped": False,
            "taken": False,
            "payload": delivery["payload"],
            **outcome,
        }

    def _webhook_loop(self) -> None:
        while True:
            with self._webhook_wake:
                while not self._webhook_stopping and (self._webhook_paused or not self._webhook_queue):
                    self._webhook_wake.wait()
                if self._webhook_stopping:
                    return
                delivery = self._webhook_busy = self._webhook_queue.popleft()
            record = self._deliver(delivery)  # outside the lock: the app may call this site back meanwhile
            with self._webhook_wake:
                self.webhook_deliveries.append(record)
                self._webhook_busy = None
                self._webhook_wake.notify_all()

    def _deliver(self, delivery: dict[str, Any]) -> dict[str, Any]:
        """POST one delivery; on 408/409/425/429/5xx or a connection failure retry after each of
        ``webhook_retry_delays`` (same identifier, Retry header counting up). Other answers end it."""
        retry, statuses, errors, delays = delivery["retry"], [], [], list(self.webhook_retry_delays)
        while True:
            headers, body = self.webhook_request(delivery, retry)
            started = time.monotonic()
            try:
                status = requests.post(
                    delivery["url"], data=body, headers=headers, timeout=self.webhook_timeout, allow_redirects=False
                ).status_code
            except requests.RequestException as exc:
                status = None
                errors.append(type(exc).__name__)
            elapsed_ms = round((time.monotonic() - started) * 1000, 1)
            statuses.append(status)
            if not (status is None or status in self.RETRY_STATUSES or status >= 500) or not delays:
                break
            time.sleep(delays.pop(0))  # the deliberate retry delay
            retry += 1
        return self._webhook_record(
            delivery, status=status, statuses=statuses, attempts=len(statuses), elapsed_ms=elapsed_ms, errors=errors
        )

    # --- webhook controls for tests ------------------------------------------------------------------------
    def webhooks_flush(self, timeout: float = 10) -> list[dict[str, Any]]:
        """Wait until every queued delivery was sent (retries included); returns ``webhook_deliveries``.
        Held deliveries are not queued: ``webhooks_release()`` first."""
        with self._webhook_wake:
            if self._webhook_paused and self._webhook_queue:
                raise AssertionError("webhook deliveries are paused: webhooks_resume() before webhooks_flush()")
            if not self._webhook_wake.wait_for(lambda: not self._webhook_queue and self._webhook_busy is None, timeout):
                unsent = len(self._webhook_queue) + (self._webhook_busy is not None)
                raise TimeoutError(f"{unsent} webhook deliveries still unsent after {timeout} s")
            return list(self.webhook_deliveries)

    def webhooks_drop_next(self, n: int = 1) -> None:
        """The next ``n`` deliveries are lost for good (recorded with ``dropped: True``): Connect webhooks
        are best effort, so a change must also be found by reconciliation."""
        with self._lock:
            self._webhook_drop += n

    def webhooks_hold(self) -> None:
        """Keep new deliveries back (``webhooks_release`` or ``webhooks_take`` hands them out)."""
        with self._lock:
            if self._webhook_held is None:
                self._webhook_held = []

    def webhooks_release(self, *, order: str = "as_is", duplicate: bool = False, seed: int | None = None) -> list[str]:
        """Send the held deliveries and stop holding: ``order`` ``"as_is"``, ``"reverse"`` or ``"shuffle"``
        (``seed`` for a repeatable order); ``duplicate`` sends each twice with the same identifier, the second
        as Jira's retry after a lost acknowledgement (``Retry: 1``, ``Flow: Retry``). Returns the identifiers
        in sending order."""
        assert order in ("as_is", "reverse", "shuffle"), order
        with self._webhook_wake:
            held, self._webhook_held = list(self._webhook_held or []), None
            if order == "reverse":
                held.reverse()
            elif order == "shuffle":
                random.Random(seed).shuffle(held)
            sent: list[str] = []
            for delivery in held:
                copies = [delivery, {**delivery, "retry": 1}] if duplicate else [delivery]
                self._webhook_queue.extend(copies)
                sent += [delivery["identifier"]] * len(copies)
            self._webhook_wake.notify_all()
            return sent

    def webhooks_take(self) -> list[dict[str, Any]]:
        """Hand the held deliveries to the test instead of sending them, signed and ready to POST with
        Django's test client in the test's own thread (and database transaction): ``[{identifier, event,
        url, path, headers, body}]`` with ``path`` relative to the app's base URL. Holding is on afterwards
        (later deliveries are held for the next ``webhooks_take``/``webhooks_release``)."""
        with self._lock:
            held, self._webhook_held = list(self._webhook_held or []), []
            taken = []
            for delivery in held:
                headers, body = self.webhook_request(delivery)
                taken.append(
                    {
                        "identifier": delivery["identifier"],
                        "event": delivery["event"],
                        "url": delivery["url"],
                        "path": delivery["relative"],
                        "headers": headers,
                        "body": body,
                    }
                )
                self.webhook_deliveries.append(self._webhook_record(delivery, taken=True))
            return taken

    def webhooks_pause(self) -> None:
        """Stop sending (deliveries queue up in order) until ``webhooks_resume()``."""
        with self._lock:
            self._webhook_paused = True

    def webhooks_resume(self) -> None:
        with self._webhook_wake:
            self._webhook_paused = False
            self._webhook_wake.notify_all()

    def webhook_counts(self, *, delivered: bool = True) -> collections.Counter:
        """Per event: deliveries answered 2xx (``delivered=False``: events raised, subscribed or not)."""
        with self._lock:
            if not delivered:
                return collections.Counter(e["event"] for e in self.webhook_events)
            return collections.Counter(
                d["event"] for d in self.webhook_deliveries if d["status"] is not None and 200 <= d["status"] < 300
            )

    # --- a human acting in Jira (test helpers; same state changes and webhooks as the REST calls) -----------
    def _issue_ref(self, issue: dict[str, Any] | str | int) -> dict[str, Any]:
        ref = issue["id"] if isinstance(issue, dict) else str(issue)
        found = self._find_issue(str(ref))
        if found is None:
            raise KeyError(f"no issue {ref}")
        return found

    def user_create(
        self, project: str, summary: str, *, issue_type_id: str = "10001", account_id: str | None = None, **fields
    ) -> dict[str, Any]:
        """A human creates an issue (next key of ``project``): ``jira:issue_created``."""
        with self._lock:
            issue = self.add_issue(
                key=self._next_key(project),
                project=project,
                summary=summary,
                issue_type_id=issue_type_id,
                reporter=self._user_ref(account_id),
                **fields,
            )
            self._issue_event("issue_created", issue, account_id or self.human_account_id, event="jira:issue_created")
            return copy.deepcopy(issue)

    def user_edit(self, issue: dict | str, fields: dict[str, Any], *, account_id: str | None = None) -> None:
        """A human edits fields (same checks as ``PUT /issue``; ``ValueError`` with Jira's messages if refused)."""
        with self._lock:
            refused = self._edit_issue(self._issue_ref(issue), fields, account_id or self.human_account_id)
            if refused:
                raise ValueError(refused)

    def user_transition(self, issue: dict | str, status: str, *, account_id: str | None = None) -> None:
        """A human moves the issue to a status (its name, case-insensitive, or id; or a transition id)."""
        with self._lock:
            found = self._issue_ref(issue)
            transition = next(
                (
                    t
                    for t in self._transitions(found)
                    if status in (t["id"], t["to"]["id"]) or t["to"]["name"].lower() == str(status).lower()
                ),
                None,
            )
            if transition is None:
                raise ValueError(f"no transition of {found['key']} leads to {status!r}")
            self._transition_issue(found, transition, account_id or self.human_account_id)

    def user_comment(self, issue: dict | str, body: str | dict, *, account_id: str | None = None) -> dict[str, Any]:
        """A human comments (plain text becomes ADF, as Jira's editor stores it). Returns the comment (v3)."""
        adf = text_to_adf(body) if isinstance(body, str) else body
        if adf_problem(adf) is not None or adf_is_empty(adf):
            raise ValueError(INVALID_COMMENT)
        with self._lock:
            return copy.deepcopy(self._add_comment(self._issue_ref(issue), adf, account_id or self.human_account_id))

    def user_comment_edit(
        self, issue: dict | str, comment_id: str, body: str | dict, *, account_id: str | None = None
    ) -> dict[str, Any]:
        adf = text_to_adf(body) if isinstance(body, str) else body
        if adf_problem(adf) is not None or adf_is_empty(adf):
            raise ValueError(INVALID_COMMENT)
        with self._lock:
            found = self._issue_ref(issue)
            comment = next(c for c in self.comments.get(found["id"], []) if c["id"] == str(comment_id))
            self._edit_comment(found, comment, adf, account_id or self.human_account_id)
            return copy.deepcopy(comment)

    def user_attach(
        self,
        issue: dict | str,
        filename: str,
        content: bytes,
        mime: str = "application/octet-stream",
        *,
        account_id: str | None = None,
    ) -> dict[str, Any]:
        """A human attaches a file. Returns the attachment (as ``fields.attachment`` lists it)."""
        with self._lock:
            found = self._issue_ref(issue)
            return self._attach(found, [(filename, content, mime)], account_id or self.human_account_id)[0]

    def delete_issue(self, issue: dict | str, *, account_id: str | None = None) -> None:
        """A human deletes the issue: ``jira:issue_deleted``."""
        with self._lock:
            self._delete_issue(self._issue_ref(issue), account_id or self.human_account_id)

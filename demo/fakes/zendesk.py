"""A stateful fake Zendesk Support, served on loopback, hosting several accounts by subdomain.

Tests point the client at it with ``settings.ZENDESK_URL_TEMPLATE = fake.url_template`` (which is
``{fake.url}/zd/{subdomain}``). Each account keeps users (``end-user|agent|admin``), organizations, ticket/
user/organization fields, tickets, comments, uploads, API tokens and OAuth codes/tokens; ``fake.events``
logs every write.

It carries the quirks of the real service (``shared/docs/api-facts.md``; answers of the real API recorded
in ``tests/fixtures/zendesk/``), because a fake kinder than Zendesk hides bugs:

- unknown subdomain: 404 ``{"error": {"title": "No help desk at …", "message": …}}``;
- ``users/me.json`` answers 200 with an anonymous user (``id: null``, role end-user) — not 401 — when it
  did not accept Basic credentials: none sent, a password (password auth is off), or
  ``{email}/token:{token}`` with an unknown email or a wrong token. Every other endpoint answers those 401
  ``Couldn't authenticate you`` (so does users/me for undecodable Basic credentials, a token of a
  suspended or inactive user, and an unknown scheme); end-users get 403 on agent endpoints;
- API tokens belong to the account, not to a user: any active token authenticates any user's email;
- OAuth tokens carry scopes (``read``, ``write``, ``tickets:read`` …); a missing scope is a 403, an
  unknown/expired bearer token a 401; codes are single-use, bound to client and redirect URI, 120 s;
- 429 with the plain-text body ``Number of allowed API requests per minute exceeded`` and ``Retry-After``
  (``rate_limit_next()``, or really spending the account's per-minute budget); every answer carries
  ``X-Rate-Limit``/``X-Rate-Limit-Remaining`` and endpoint buckets spelled ``zendesk-ratelimit-<name>`` or
  ``zendesk-rate-limit-<name>`` (which endpoint uses which spelling is this fake's choice: both are seen);
- a closed ticket refuses every update with 422 ``Status: closed prevents ticket update`` (under
  ``details.status`` by default, ``details.base`` with ``account.closed_error_key = "base"``);
- cursor pagination (``page[size]`` ≤ 100, ``meta.has_more``/``after_cursor`` — still set on the last
  page — and ``links``) or offset pagination without ``page[size]``; search is offset-only and stops at
  1000 results (422), ``page[size]`` there is a 400;
- ticket ids are per account and start at 1 (two accounts both have ticket 1); user, organization,
  field and comment ids are large and global; a comment without ``public`` inherits the ticket's first
  comment's visibility; ``uploads.json`` answers JSON labelled ``text/plain``;
- every ticket creation, comment and update is an audit in ``account.audits``, served by the time-based
  ticket events export (``include=comment_events`` for comment bodies; rows at ``end_time`` come again);
- an attachment's ``content_url`` (authenticated, on the API host) answers 302 to a CDN on another host name
  (``localhost`` instead of ``127.0.0.1``) that refuses a request carrying ``Authorization`` (400) and logs
  every download in ``fake.cdn_downloads``; ``add_comment(…, attachments=[(name, bytes, type)])`` attaches files;
- ``uploads.json?filename=`` takes the raw bytes (a chunked, streamed body too) with their real content type,
  ``&token=`` adds a file to an earlier upload; ``comment.uploads`` attaches every file of each token;
- ``comments.json`` is oldest first; ``sort_order=desc`` or ``sort=-created_at`` turn it around;
- ``account.ticket_updates`` / ``account.ticket_update_attempts`` count accepted / all ``PUT`` of each ticket;
- ``DELETE /api/v2/tickets/{id}`` soft-deletes (204, no body): the ticket answers 404 to reads, writes and its
  comments, leaves ticket lists and search, and stays in the incremental export with ``status: "deleted"``
  (left out with ``exclude_deleted=true``) until ``PUT /api/v2/deleted_tickets/{id}/restore`` (200, empty)
  brings it back with its status from before (``delete_ticket`` / ``restore_ticket`` do it as in the UI).

Time is ``fake.now()``; ``fake.advance(seconds)`` moves it (rate-limit windows, code and token expiry)
without sleeping.
"""

from __future__ import annotations

import base64
import binascii
import collections
import html
import itertools
import json
import math
import re
import secrets
import shlex
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from .server import FakeRequest, FakeServer, route

P = r"/zd/(?P<sub>[a-z0-9][a-z0-9-]*)"
SUBDOMAIN_PATH = re.compile(r"^/zd/(?P<sub>[^/]+)(?P<rest>/.*)?$")

RATE_LIMIT_TEXT = "Number of allowed API requests per minute exceeded"
FORBIDDEN_MESSAGE = (
    "You do not have access to this page. Please contact the account owner of this help desk for further help."
)
CLOSED_TEXT = "Status: closed prevents ticket update"
INVALID_GRANT = (
    "The provided access grant is invalid, expired, or revoked (e.g. invalid assertion, expired authorization "
    "token, bad end-user password credentials, or mismatching authorization code and redirection URI)."
)
INVALID_TOKEN = "The access token provided is expired, revoked, malformed or invalid for other reasons."
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, or unsupported "
    "authentication method."
)
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
TYPES = ("problem", "incident", "question", "task")
ROLES = ("end-user", "agent", "admin")
MAX_PAGE_SIZE = 100
SEARCH_LIMIT = 1000
CODE_LIFETIME = 120
ACCESS_TOKEN_LIFETIME = 172800  # the fake's choice; Zendesk documents expires_in < 172800 when requested
REFRESH_TOKEN_LIFETIME = 30 * 24 * 3600

DEFAULT_CLIENT_ID = "deskbridge"
DEFAULT_CLIENT_SECRET = "deskbridge-oauth-secret"
DEFAULT_REDIRECT_URI = "https://deskbridge.test/zendesk/oauth/callback"


def _record_invalid(details: dict[str, list[dict[str, str]]]):
    return 422, {"error": "RecordInvalid", "description": "Record validation errors", "details": details}


def _not_found():
    return 404, {"error": "RecordNotFound", "description": "Not found"}


def _unauthenticated():
    return 401, {"error": "Couldn't authenticate you"}


def _forbidden():
    return 403, {"error": {"title": "Forbidden", "message": FORBIDDEN_MESSAGE}}


def _pagination_error(detail: str):
    return 400, {
        "errors": [{"code": "InvalidPaginationParameter", "title": "Invalid Pagination Parameter", "detail": detail}]
    }


def _oauth_error(status: int, error: str, description: str):
    return status, {"error": error, "error_description": description}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _strip_html(value: str) -> str:
    text = re.sub(r"<br\s*/?>|</p>|</div>", "\n", value, flags=re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


@dataclass
class Account:
    subdomain: str
    rate_limit: int = 700  # requests per minute (Team 200, Growth/Professional 400, Enterprise 700)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    ticket_fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    user_fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    organization_fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    # every ticket audit (creation, comment, update) with its epoch ``timestamp``: the ticket events export
    audits: list[dict[str, Any]] = field(default_factory=list)
    # PUT /tickets/{id}.json per ticket id: accepted ones, and every attempt (refused ones too: a closed
    # ticket's 422, validation errors, conflicts), so tests can count the writes a sync made
    ticket_updates: collections.Counter = field(default_factory=collections.Counter)
    ticket_update_attempts: collections.Counter = field(default_factory=collections.Counter)
    api_tokens: set[str] = field(default_factory=set)
    oauth_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    oauth_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    closed_error_key: str = "status"  # where the closed-ticket 422 puts its detail: "status" or "base"
    authorizing_email: str | None = None  # who approves /oauth/authorizations/new (default: first admin)
    deny_authorization: bool = False
    # endpoint buckets: name -> {method, pattern, total, window, spelling}
    endpoint_limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    _window: dict[str, tuple[float, int]] = field(default_factory=dict)
    _ticket_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    # what tickets are sorted by (auto-create conditions pick from these): made with a default group
    # "Support" and a default brand named after the account on first use (see ``_catalog``)
    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    brands: dict[int, dict[str, Any]] = field(default_factory=dict)
    ticket_forms: dict[int, dict[str, Any]] = field(default_factory=dict)


class FakeZendesk(FakeServer):
    name = "fake-zendesk"

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, Account] = {}
        self.events: list[dict[str, Any]] = []
        self.oauth_clients: dict[str, dict[str, Any]] = {}
        self.add_oauth_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, [DEFAULT_REDIRECT_URI])
        self.client_id, self.client_secret, self.redirect_uri = (
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_REDIRECT_URI,
        )
        self.search_lag_seconds = 0.0  # new records appear in search after this long (Zendesk: minutes)
        # The incremental exports never return changes of the most recent minute (the demo shortens it)
        self.export_lag_seconds = 60
        self._ids = itertools.count(360000000001)
        self._forced_429: list[dict[str, Any]] = []
        # downloads served by the attachment CDN host: {token, name, authorization (header or None), status}
        self.cdn_downloads: list[dict[str, Any]] = []
        self._shift = 0.0
        self._local = threading.local()

    # --- clock ----------------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self._shift

    def advance(self, seconds: float) -> None:
        self._shift += seconds

    def _stamp(self) -> str:
        return datetime.fromtimestamp(self.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # --- URLs -----------------------------------------------------------------------------------------
    @property
    def url_template(self) -> str:
        return self.url + "/zd/{subdomain}"

    def base_url(self, subdomain: str) -> str:
        return f"{self.url}/zd/{subdomain}"

    def _api_url(self, account: Account, path: str) -> str:
        return f"{self.base_url(account.subdomain)}{path}" if self._server else path

    # --- setup helpers --------------------------------------------------------------------------------
    def add_account(self, subdomain: str, *, rate_limit: int = 700) -> Account:
        account = Account(subdomain=subdomain, rate_limit=rate_limit)
        account.endpoint_limits = {
            "tickets-index": {
                "method": "GET",
                "pattern": re.compile(r"^/api/v2/tickets\.json$"),
                "total": 100,
                "window": 60,
                "spelling": "ratelimit",
            },
            # Incremental exports: 10 requests a minute (30 with the High Volume add-on).
            "incremental-exports": {
                "method": "GET",
                "pattern": re.compile(r"^/api/v2/incremental/"),
                "total": 10,
                "window": 60,
                "spelling": "rate-limit",
            },
            "search-index": {
                "method": "GET",
                "pattern": re.compile(r"^/api/v2/search\.json$"),
                "total": 200,
                "window": 60,
                "spelling": "rate-limit",
            },
            # List Tags has its own bucket (developer.zendesk.com/api-reference/ticketing/ticket-management/tags/)
            "tags-index": {
                "method": "GET",
                "pattern": re.compile(r"^/api/v2/tags(\.json)?$"),
                "total": 100,
                "window": 60,
                "spelling": "ratelimit",
            },
        }
        with self._lock:
            self.accounts[subdomain] = account
            for title, kind in (
                ("Subject", "subject"),
                ("Description", "description"),
                ("Status", "status"),
                ("Type", "tickettype"),
                ("Priority", "priority"),
                ("Group", "group"),
                ("Assignee", "assignee"),
            ):
                self._add_field(account.ticket_fields, title=title, type=kind, system=True)
        return account

    def endpoint_limit(
        self,
        subdomain: str,
        name: str,
        *,
        method: str,
        path_regex: str,
        total: int,
        window: int = 60,
        spelling: str = "ratelimit",
    ) -> None:
        """An endpoint bucket answered as ``zendesk-{spelling}-{name}: total=…; remaining=…; resets=…``."""
        assert spelling in ("ratelimit", "rate-limit")
        self.accounts[subdomain].endpoint_limits[name] = {
            "method": method.upper(),
            "pattern": re.compile(path_regex),
            "total": total,
            "window": window,
            "spelling": spelling,
        }

    def add_user(
        self,
        subdomain: str,
        *,
        name: str,
        email: str | None = None,
        role: str = "end-user",
        organization_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        assert role in ROLES, role
        account = self.accounts[subdomain]
        stamp = self._stamp()
        user = {
            "id": next(self._ids),
            "name": name,
            "email": email.lower() if email else None,
            "created_at": stamp,
            "updated_at": stamp,
            "time_zone": "Pacific Time (US & Canada)",
            "iana_time_zone": "America/Los_Angeles",
            "phone": None,
            "shared_phone_number": None,
            "photo": None,
            "locale_id": 1,
            "locale": "en-US",
            "organization_id": organization_id,
            "role": role,
            "verified": True,
            "external_id": None,
            "tags": [],
            "alias": "",
            "active": True,
            "shared": False,
            "shared_agent": False,
            "last_login_at": None,
            "two_factor_auth_enabled": None,
            "signature": None,
            "details": "",
            "notes": "",
            "role_type": None,
            "custom_role_id": None,
            "moderator": role != "end-user",
            "ticket_restriction": "requested" if role == "end-user" else None,
            "only_private_comments": False,
            "restricted_agent": False,
            "suspended": False,
            "default_group_id": None,
            "report_csv": role == "admin",
            "user_fields": {f["key"]: None for f in account.user_fields.values()},
        }
        user.update(extra)
        if user["organization_id"] is None and user["email"] and role == "end-user":
            # Zendesk puts a new end user in the organization that lists their email's domain ("automatically
            # assign them to an organization by their email address domain":
            # https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/)
            domain = user["email"].rsplit("@", 1)[-1]
            owner = next((o for o in account.organizations.values() if domain in (o.get("domain_names") or [])), None)
            user["organization_id"] = owner["id"] if owner else None
        with self._lock:
            account.users[user["id"]] = user
        return user

    def add_agent(
        self,
        subdomain: str,
        email: str,
        token: str | None = None,
        *,
        name: str | None = None,
        role: str = "agent",
    ) -> dict[str, Any]:
        """An agent/admin who can call the API with ``email/token:{token}`` (tokens are account-wide)."""
        user = self.add_user(subdomain, name=name or email.split("@")[0].title(), email=email, role=role)
        if token:
            self.add_api_token(subdomain, token)
        return user

    def add_api_token(self, subdomain: str, token: str) -> None:
        self.accounts[subdomain].api_tokens.add(token)

    def revoke_api_token(self, subdomain: str, token: str) -> None:
        self.accounts[subdomain].api_tokens.discard(token)

    def add_organization(self, subdomain: str, *, name: str, **extra: Any) -> dict[str, Any]:
        account = self.accounts[subdomain]
        stamp = self._stamp()
        org = {
            "id": next(self._ids),
            "name": name,
            "shared_tickets": False,
            "shared_comments": False,
            "external_id": None,
            "created_at": stamp,
            "updated_at": stamp,
            "domain_names": [],
            "details": "",
            "notes": "",
            "group_id": None,
            "tags": [],
            "organization_fields": {f["key"]: None for f in account.organization_fields.values()},
        }
        org.update(extra)
        with self._lock:
            account.organizations[org["id"]] = org
        return org

    def _add_field(self, table: dict[int, dict[str, Any]], *, title: str, type: str, system: bool = False, **extra):
        stamp = self._stamp()
        data = {
            "id": next(self._ids),
            "type": type,
            "title": title,
            "raw_title": title,
            "description": extra.pop("description", ""),
            "raw_description": "",
            "position": len(table) + 1,
            "active": extra.pop("active", True),
            "required": extra.pop("required", False),
            "regexp_for_validation": None,
            "created_at": stamp,
            "updated_at": stamp,
            "removable": not system,
        }
        data.update(extra)
        table[data["id"]] = data
        return data

    @staticmethod
    def _options(options: list[Any] | None) -> list[dict[str, Any]]:
        result = []
        for option in options or []:
            if isinstance(option, dict):
                name, value = option["name"], option.get("value") or _slug(option["name"])
            elif isinstance(option, tuple):
                name, value = option
            else:
                name, value = str(option), _slug(str(option))
            result.append({"name": name, "raw_name": name, "value": value, "default": False})
        return result

    def add_ticket_field(
        self,
        subdomain: str,
        title: str,
        type: str = "text",
        *,
        options: list[Any] | None = None,
        active: bool = True,
        required: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        """A custom ticket field; ``tagger``/``multiselect`` take ``options`` (names, ``(name, value)`` or
        dicts) that become ``custom_field_options [{id, name, raw_name, value, default}]``."""
        account = self.accounts[subdomain]
        with self._lock:
            extra.setdefault("title_in_portal", title)
            extra.setdefault("visible_in_portal", False)
            extra.setdefault("editable_in_portal", False)
            extra.setdefault("required_in_portal", False)
            extra.setdefault("collapsed_for_agents", False)
            extra.setdefault("tag", None)
            extra.setdefault("agent_description", None)
            if type in ("tagger", "multiselect"):
                extra["custom_field_options"] = [{"id": next(self._ids), **o} for o in self._options(options)]
            return self._add_field(
                account.ticket_fields, title=title, type=type, active=active, required=required, **extra
            )

    def add_user_field(
        self, subdomain: str, key: str, title: str, type: str = "text", *, options: list[Any] | None = None
    ) -> dict[str, Any]:
        return self._add_custom_field(self.accounts[subdomain], "user", key, title, type, options)

    def add_organization_field(
        self, subdomain: str, key: str, title: str, type: str = "text", *, options: list[Any] | None = None
    ) -> dict[str, Any]:
        return self._add_custom_field(self.accounts[subdomain], "organization", key, title, type, options)

    def _add_custom_field(
        self, account: Account, owner: str, key: str, title: str, type: str, options: list[Any] | None
    ) -> dict[str, Any]:
        with self._lock:
            extra: dict[str, Any] = {"key": key, "system": False}
            if type == "dropdown":
                extra["custom_field_options"] = [{"id": next(self._ids), **o} for o in self._options(options)]
            if owner == "user":
                data = self._add_field(account.user_fields, title=title, type=type, **extra)
                for user in account.users.values():
                    user["user_fields"].setdefault(key, None)
            else:
                data = self._add_field(account.organization_fields, title=title, type=type, **extra)
                for org in account.organizations.values():
                    org["organization_fields"].setdefault(key, None)
            return data

    def add_ticket(
        self,
        subdomain: str,
        *,
        subject: str = "Printer on fire",
        description: str = "The smoke is very colorful.",
        status: str = "open",
        priority: str | None = None,
        type: str | None = None,
        tags: list[str] | None = None,
        custom_fields: list[dict[str, Any]] | None = None,
        requester_id: int | None = None,
        organization_id: int | None = None,
        assignee_id: int | None = None,
        public: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """A ticket as if created in Zendesk (its description is the first comment). A requester is made
        up when none is given."""
        account = self.accounts[subdomain]
        with self._lock:
            if requester_id is None:
                n = len(account.users) + 1
                requester_id = self.add_user(subdomain, name=f"Customer {n}", email=f"customer{n}@example.com")["id"]
            ticket = self._new_ticket(
                account,
                subject=subject,
                status=status,
                priority=priority,
                type=type,
                tags=list(tags or []),
                requester_id=requester_id,
                submitter_id=requester_id,
                organization_id=organization_id,
                assignee_id=assignee_id,
                via={"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
            )
            self._set_custom_fields(account, ticket, custom_fields or [])
            ticket.update(extra)
            spec = {"body": description, "public": public}
            comment = self._add_comment(account, ticket, spec, author_id=requester_id)
            self._log_audit(account, ticket, audit_id=comment["audit_id"], updater_id=requester_id, comment=comment)
            return ticket

    def add_comment(
        self,
        subdomain: str,
        ticket_id: int,
        body: str,
        *,
        public: bool = True,
        author_id: int | None = None,
        attachments: list[tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """A comment as if made in Zendesk (by the requester unless ``author_id``), with ``attachments``
        ``[(filename, bytes, content_type)]`` uploaded and attached to it. It moves the ticket's
        ``generated_timestamp`` and is logged as an audit for the ticket events export."""
        account = self.accounts[subdomain]
        with self._lock:
            ticket = account.tickets[ticket_id]
            author = author_id or ticket["requester_id"]
            tokens = [self._store_upload(account, name, data, kind)["token"] for name, data, kind in attachments or []]
            spec = {"body": body, "public": public, "uploads": tokens}
            comment = self._add_comment(account, ticket, spec, author_id=author)
            ticket["updated_at"] = comment["created_at"]
            ticket["generated_timestamp"] = int(self.now())
            self._log_audit(account, ticket, audit_id=comment["audit_id"], updater_id=author, comment=comment)
            return comment

    def delete_ticket(self, subdomain: str, ticket_id: int) -> None:
        """The ticket deleted in Zendesk (a soft delete: see ``ticket_delete``)."""
        account = self.accounts[subdomain]
        with self._lock:
            self._soft_delete(account, account.tickets[ticket_id])

    def restore_ticket(self, subdomain: str, ticket_id: int) -> None:
        """The deleted ticket restored in Zendesk (see ``deleted_ticket_restore``)."""
        account = self.accounts[subdomain]
        with self._lock:
            self._restore(account, account.tickets[ticket_id])

    def add_oauth_client(self, client_id: str, secret: str, redirect_uris: list[str]) -> None:
        self.oauth_clients[client_id] = {"secret": secret, "redirect_uris": list(redirect_uris)}

    def _authorizer(self, account: Account, email: str | None) -> dict[str, Any]:
        if email:
            return next(u for u in account.users.values() if u["email"] == email.lower())
        ranked = sorted(account.users.values(), key=lambda u: (u["role"] != "admin", u["role"] != "agent", u["id"]))
        if not ranked or ranked[0]["role"] == "end-user":
            raise ValueError(f"account {account.subdomain} has no agent to authorize an OAuth client")
        return ranked[0]

    def oauth_code(
        self,
        subdomain: str,
        scope: str = "read write",
        *,
        email: str | None = None,
        client_id: str | None = None,
        redirect_uri: str | None = None,
    ) -> str:
        """An authorization code as Zendesk hands it to the redirect URI after the user allowed access:
        single-use, valid 120 s, bound to the client and the redirect URI."""
        account = self.accounts[subdomain]
        client_id = client_id or self.client_id
        code = secrets.token_hex(16)
        with self._lock:
            account.oauth_codes[code] = {
                "user_id": self._authorizer(account, email)["id"],
                "scope": scope,
                "client_id": client_id,
                "redirect_uri": redirect_uri or self.oauth_clients[client_id]["redirect_uris"][0],
                "expires_at": self.now() + CODE_LIFETIME,
                "used": False,
            }
        return code

    def oauth_token(self, subdomain: str, scope: str = "read write", *, email: str | None = None) -> str:
        """An access token issued directly (as if the OAuth dance had happened)."""
        account = self.accounts[subdomain]
        with self._lock:
            return self._issue_token(account, self._authorizer(account, email)["id"], scope, self.client_id)[
                "access_token"
            ]

    def rate_limit_next(self, n: int = 1, *, retry_after: int = 60, subdomain: str | None = None) -> None:
        """The next ``n`` API requests (to ``subdomain`` if given) get Zendesk's plain-text 429."""
        with self._lock:
            self._forced_429.append({"left": n, "retry_after": retry_after, "subdomain": subdomain})

    # --- the wire: account lookup, rate limits, authentication ----------------------------------------
    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes):
        self._local.rate_headers = {}
        status, payload, out = super().dispatch(method, raw_path, headers, body)
        for key, value in self._local.rate_headers.items():
            out.setdefault(key, value)
        return status, payload, out

    def not_found(self, request: FakeRequest):
        match = SUBDOMAIN_PATH.match(request.path)
        if match and match.group("sub") in self.accounts:
            return 404, {"error": "InvalidEndpoint", "description": "Not found"}
        return super().not_found(request)

    def before(self, request: FakeRequest):
        match = SUBDOMAIN_PATH.match(request.path)
        if not match:
            return None
        sub, rest = match.group("sub"), match.group("rest") or "/"
        account = self.accounts.get(sub)
        if account is None:
            host = f"{sub}.zendesk.com"
            return 404, {
                "error": {
                    "title": f"No help desk at {host}",
                    "message": "There is no help desk configured at this address. This means that the address is "
                    "available and that you can claim it at http://www.zendesk.com/signup",
                }
            }
        request.account = account  # type: ignore[attr-defined]
        request.user = None  # type: ignore[attr-defined]
        if rest.startswith("/oauth/"):
            return None
        with self._lock:
            limited = self._spend_rate_limit(account, request.method, rest)
        if limited is not None:
            return limited
        me = rest == "/api/v2/users/me.json"
        user, refusal = self._authenticate(account, request, anonymous_on_bad_token=me)
        if refusal is not None:
            return refusal
        request.user = user  # type: ignore[attr-defined]
        scopes = getattr(request, "scopes", None)
        if user is not None and scopes is not None:
            needed = "read" if request.method in ("GET", "HEAD") else "write"
            resource = rest.split("/")[3].removesuffix(".json") if rest.startswith("/api/v2/") else ""
            if needed not in scopes and f"{resource}:{needed}" not in scopes:
                return 403, {
                    "error": "Forbidden",
                    "description": f"You are missing the following required scopes: {needed}",
                }
        if me:
            return None
        if user is None:
            return _unauthenticated()
        if user["role"] == "end-user":
            return _forbidden()
        return None

    def _spend_rate_limit(self, account: Account, method: str, rest: str):
        now = self.now()

        def spend(name: str, total: int, window: int) -> tuple[int, int]:
            start, used = account._window.get(name, (now, 0))
            if now - start >= window:
                start, used = now, 0
            used += 1
            account._window[name] = (start, used)
            return max(0, total - used), max(1, math.ceil(window - (now - start)))

        remaining, resets = spend("account", account.rate_limit, 60)
        headers = {
            "X-Rate-Limit": str(account.rate_limit),
            "X-Rate-Limit-Remaining": str(remaining),
            "ratelimit-limit": str(account.rate_limit),
            "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(resets),
        }
        over = account._window["account"][1] > account.rate_limit
        retry_after = resets
        for name, bucket in account.endpoint_limits.items():
            if bucket["method"] == method and bucket["pattern"].match(rest):
                left, bucket_resets = spend(name, bucket["total"], bucket["window"])
                headers[f"zendesk-{bucket['spelling']}-{name}"] = (
                    f"total={bucket['total']}; remaining={left}; resets={bucket_resets}"
                )
                if account._window[name][1] > bucket["total"]:
                    over, retry_after = True, bucket_resets
        self._local.rate_headers = headers
        for forced in self._forced_429:
            if forced["left"] > 0 and forced["subdomain"] in (None, account.subdomain):
                forced["left"] -= 1
                over, retry_after = True, forced["retry_after"]
                break
        if over:
            return 429, RATE_LIMIT_TEXT, {"Retry-After": str(retry_after)}
        return None

    def _authenticate(self, account: Account, request: FakeRequest, *, anonymous_on_bad_token: bool = False):
        """``(user, None)``, ``(None, None)`` for an anonymous caller, or ``(None, refusal)``.

        ``anonymous_on_bad_token``: an unknown email or a wrong API token makes the caller anonymous instead
        of refused (what Zendesk does on ``users/me.json``)."""
        header = request.headers.get("authorization", "")
        if not header:
            return None, None
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None, _unauthenticated()
            login, _, secret = decoded.partition(":")
            if not login.endswith("/token"):
                return None, None  # password authentication is off: Zendesk treats the caller as anonymous
            email = login.removesuffix("/token").lower()
            user = next((u for u in account.users.values() if u["email"] == email), None)
            if user is None or secret not in account.api_tokens:
                return None, (None if anonymous_on_bad_token else _unauthenticated())
            if not user["active"] or user["suspended"]:
                return None, _unauthenticated()
            return user, None
        if scheme.lower() == "bearer":
            token = account.oauth_tokens.get(credentials.strip())
            if token is None or token["revoked"] or token["expires_at"] <= self.now():
                return None, (401, {"error": "invalid_token", "error_description": INVALID_TOKEN})
            request.scopes = set(token["scope"].split())  # type: ignore[attr-defined]
            return account.users.get(token["user_id"]), None
        return None, _unauthenticated()

    # --- rendering ------------------------------------------------------------------------------------
    def _render(self, account: Account, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        if kind == "comment":
            return json.loads(json.dumps(record))
        path = {
            "ticket": "/api/v2/tickets/{id}.json",
            "user": "/api/v2/users/{id}.json",
            "organization": "/api/v2/organizations/{id}.json",
            "ticket_field": "/api/v2/ticket_fields/{id}.json",
            "user_field": "/api/v2/user_fields/{id}.json",
            "organization_field": "/api/v2/organization_fields/{id}.json",
        }[kind]
        data = {k: v for k, v in record.items() if not k.startswith("_")}
        data["url"] = self._api_url(account, path.format(id=record["id"]))
        if "custom_field_options" in data:
            data["custom_field_options"] = [dict(o) for o in data["custom_field_options"]]
        if kind == "ticket":
            data["custom_fields"] = [dict(f) for f in record["custom_fields"]]
            data["fields"] = [dict(f) for f in record["custom_fields"]]
        return json.loads(json.dumps(data))

    def _anonymous_user(self) -> dict[str, Any]:
        return {
            "id": None,
            "url": None,
            "name": "Anonymous user",
            "email": "invalid@example.com",
            "created_at": None,
            "updated_at": None,
            "time_zone": "Pacific Time (US & Canada)",
            "iana_time_zone": "America/Los_Angeles",
            "phone": None,
            "shared_phone_number": None,
            "photo": None,
            "locale_id": 1,
            "locale": "en-US",
            "organization_id": None,
            "role": "end-user",
            "verified": False,
            "authenticity_token": secrets.token_urlsafe(32),
        }

    def _list(self, request: FakeRequest, account: Account, key: str, items: list[dict[str, Any]], kind: str):
        """Cursor pagination with ``page[size]``, offset pagination (``page``/``per_page``) without."""
        base = self._api_url(account, request.path.removeprefix(f"/zd/{account.subdomain}"))
        size_raw = request.arg("page[size]")
        if size_raw is None:
            try:
                page = int(request.arg("page", "1"))
                per_page = min(int(request.arg("per_page", "100")), MAX_PAGE_SIZE)
            except ValueError:
                return 400, {"error": "InvalidValue", "description": "page and per_page must be integers"}
            if page < 1 or per_page < 1:
                return 400, {"error": "InvalidValue", "description": "page and per_page must be positive"}
            chunk = items[(page - 1) * per_page : page * per_page]
            more = page * per_page < len(items)
            return 200, {
                key: [self._render(account, kind, i) for i in chunk],
                "next_page": f"{base}?{urlencode({'page': page + 1, 'per_page': per_page})}" if more else None,
                "previous_page": f"{base}?{urlencode({'page': page - 1, 'per_page': per_page})}" if page > 1 else None,
                "count": len(items),
            }
        if not size_raw.isdigit() or int(size_raw) < 1:
            return _pagination_error("page[size] must be a positive integer")
        size = int(size_raw)
        if size > MAX_PAGE_SIZE:
            return _pagination_error(f"page[size] must be less than or equal to {MAX_PAGE_SIZE}")
        after = request.arg("page[after]")
        start = 0
        if after:
            try:
                last_id = int(base64.urlsafe_b64decode(after.encode()).decode().removeprefix("id:"))
            except (ValueError, binascii.Error):
                return _pagination_error("page[after] is not a valid cursor")
            # after the row the cursor names (lists may run newest first); else the first with a larger id
            start = next((n + 1 for n, item in enumerate(items) if item["id"] == last_id), None)
            if start is None:
                start = next((n for n, item in enumerate(items) if item["id"] > last_id), len(items))
        chunk = items[start : start + size]
        has_more = start + size < len(items)

        def cursor(item: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(f"id:{item['id']}".encode()).decode()

        after_cursor = cursor(chunk[-1]) if chunk else None  # set on the last page too: trust has_more
        before_cursor = cursor(chunk[0]) if chunk else None
        return 200, {
            key: [self._render(account, kind, i) for i in chunk],
            "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": before_cursor},
            "links": {
                "next": f"{base}?{urlencode({'page[size]': size, 'page[after]': after_cursor})}" if has_more else None,
                "prev": f"{base}?{urlencode({'page[size]': size, 'page[before]': before_cursor})}"
                if before_cursor
                else None,
            },
        }

    # --- users, organizations, fields -----------------------------------------------------------------
    @route("GET", P + r"/api/v2/users/me\.json")
    def users_me(self, request: FakeRequest):
        user = request.user  # type: ignore[attr-defined]
        if user is None:
            return 200, {"user": self._anonymous_user()}
        return 200, {"user": self._render(request.account, "user", user)}  # type: ignore[attr-defined]

    @route("GET", P + r"/api/v2/users/(?P<id>\d+)\.json")
    def user_show(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        user = account.users.get(int(request.params["id"]))
        return (200, {"user": self._render(account, "user", user)}) if user else _not_found()

    @route("GET", P + r"/api/v2/organizations/(?P<id>\d+)\.json")
    def organization_show(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        org = account.organizations.get(int(request.params["id"]))
        return (200, {"organization": self._render(account, "organization", org)}) if org else _not_found()

    def _show_many(self, request: FakeRequest, table: dict[int, dict[str, Any]], key: str, kind: str):
        account: Account = request.account  # type: ignore[attr-defined]
        raw = [part.strip() for part in (request.arg("ids") or "").split(",") if part.strip()]
        if not raw:
            return 400, {"error": "InvalidValue", "description": "ids is required"}
        if len(raw) > 100:
            return 400, {"error": "InvalidValue", "description": "Too many ids (maximum 100)"}
        found = [table[int(i)] for i in raw if i.isdigit() and int(i) in table]
        return 200, {
            key: [self._render(account, kind, r) for r in found],
            "next_page": None,
            "previous_page": None,
            "count": len(found),
        }

    @route("GET", P + r"/api/v2/users/show_many\.json")
    def users_show_many(self, request: FakeRequest):
        return self._show_many(request, request.account.users, "users", "user")  # type: ignore[attr-defined]

    @route("GET", P + r"/api/v2/organizations/show_many\.json")
    def organizations_show_many(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        return self._show_many(request, account.organizations, "organizations", "organization")

    @route("GET", P + r"/api/v2/users/autocomplete\.json")
    def users_autocomplete(self, request: FakeRequest):
        """Users whose name starts with ``name`` (case-insensitive)."""
        account: Account = request.account  # type: ignore[attr-defined]
        name = (request.arg("name") or "").strip().lower()
        if not name:
            return 400, {"error": "InvalidValue", "description": "name is required"}
        found = [u for u in account.users.values() if u["name"].lower().startswith(name)]
        return 200, {
            "users": [self._render(account, "user", u) for u in found],
            "next_page": None,
            "previous_page": None,
            "count": len(found),
        }

    @route("GET", P + r"/api/v2/users/search\.json")
    def users_search(self, request: FakeRequest):
        """``query``: an email (whole, case-insensitive) or a name (partial); like every search it reads the
        index, so users created less than ``search_lag_seconds`` ago are not found yet."""
        account: Account = request.account  # type: ignore[attr-defined]
        query = (request.arg("query") or request.arg("external_id") or "").strip().lower()
        if not query:
            return 400, {"error": "InvalidValue", "description": "query or external_id is required"}
        horizon = self.now() - self.search_lag_seconds

        def indexed(user: dict[str, Any]) -> bool:
            created = datetime.strptime(user["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
            return created <= horizon or self.search_lag_seconds <= 0

        found = [
            u
            for u in account.users.values()
            if indexed(u)
            and (
                (u.get("email") or "") == query
                or query in str(u.get("name") or "").lower()
                or str(u.get("external_id") or "").lower() == query
            )
        ]
        return self._list(request, account, "users", found, "user")

    @route("POST", P + r"/api/v2/users/create_or_update\.json")
    def users_create_or_update(self, request: FakeRequest):
        """Upsert matched by ``external_id``, else by email: 200 with the updated user, 201 with a new one;
        422 RecordInvalid for a new user without a name, or an email that is not one."""
        account: Account = request.account  # type: ignore[attr-defined]
        data = (self._json_body(request) or {}).get("user")
        if not isinstance(data, dict):
            return 400, {"error": "InvalidValue", "description": "user is required"}
        email = str(data.get("email") or "").strip().lower() or None
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            return _record_invalid({"email": [{"description": f"Email: {email} is not properly formatted"}]})
        external_id = data.get("external_id")
        with self._lock:
            found = next(
                (u for u in account.users.values() if external_id and u.get("external_id") == external_id), None
            ) or next((u for u in account.users.values() if email and u.get("email") == email), None)
            if found is not None:
                found.update(
                    {k: v for k, v in data.items() if k in ("name", "external_id", "phone", "tags", "organization_id")}
                )
                if email:
                    found["email"] = email
                found["updated_at"] = self._stamp()
                return 200, {"user": self._render(account, "user", found)}
            if not str(data.get("name") or "").strip():
                return _record_invalid({"name": [{"description": "Name: cannot be blank", "error": "BlankValue"}]})
            org_id = data.get("organization_id")
            if org_id is not None and int(org_id) not in account.organizations:
                return _record_invalid(
                    {"organization_id": [{"description": "Organization: is invalid", "error": "InvalidValue"}]}
                )
            extra = {k: v for k, v in data.items() if k in ("external_id", "phone", "tags")}
            user = self.add_user(
                account.subdomain,
                name=str(data["name"]),
                email=email,
                role="end-user",
                organization_id=int(org_id) if org_id is not None else None,
                **extra,
            )
        return 201, {"user": self._render(account, "user", user)}

    @route("GET", P + r"/api/v2/organizations/autocomplete\.json")
    def organizations_autocomplete(self, request: FakeRequest):
        """Organizations whose name starts with ``name`` (case-insensitive; Zendesk wants ≥ 2 characters)."""
        account: Account = request.account  # type: ignore[attr-defined]
        name = (request.arg("name") or "").strip().lower()
        if len(name) < 2:
            return 400, {"error": "InvalidValue", "description": "name must be at least 2 characters"}
        found = [o for o in account.organizations.values() if o["name"].lower().startswith(name)]
        return 200, {
            "organizations": [self._render(account, "organization", o) for o in found],
            "next_page": None,
            "previous_page": None,
            "count": len(found),
        }

    @route("GET", P + r"/api/v2/organizations/search\.json")
    def organizations_search(self, request: FakeRequest):
        """By ``name`` or ``external_id``, not both; exact, case-insensitive; read at once (no index lag)
        (https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#search-organizations)."""
        account: Account = request.account  # type: ignore[attr-defined]
        name, external_id = request.arg("name"), request.arg("external_id")
        if (name is None) == (external_id is None):
            return 400, {"error": "InvalidValue", "description": "Provide either name or external_id"}
        if name is not None:
            found = [o for o in account.organizations.values() if o["name"].lower() == name.strip().lower()]
        else:
            wanted = str(external_id).strip().lower()
            found = [o for o in account.organizations.values() if str(o.get("external_id") or "").lower() == wanted]
        return self._list(request, account, "organizations", found, "organization")

    @route("POST", P + r"/api/v2/organizations/create_or_update\.json")
    def organizations_create_or_update(self, request: FakeRequest):
        """Upsert matched by ``id`` or ``external_id`` (case-insensitive): 200 updated, 201 created. Names are
        unique: a new organization named like another is refused, 422 ``Name: has already been taken``."""
        account: Account = request.account  # type: ignore[attr-defined]
        data = (self._json_body(request) or {}).get("organization")
        if not isinstance(data, dict):
            return 400, {"error": "InvalidValue", "description": "organization is required"}
        external_id = str(data.get("external_id") or "").strip().lower()
        name = str(data.get("name") or "").strip()
        writable = ("name", "external_id", "domain_names", "details", "notes", "tags")
        with self._lock:
            found = account.organizations.get(int(data["id"])) if str(data.get("id") or "").isdigit() else None
            found = found or next(
                (
                    o
                    for o in account.organizations.values()
                    if external_id and str(o.get("external_id") or "").lower() == external_id
                ),
                None,
            )
            clash = next(
                (o for o in account.organizations.values() if name and o["name"].lower() == name.lower()), None
            )
            if clash is not None and clash is not found:
                return _record_invalid(
                    {"name": [{"description": "Name: has already been taken", "error": "DuplicateValue"}]}
                )
            if found is not None:
                found.update({k: v for k, v in data.items() if k in writable})
                found["updated_at"] = self._stamp()
                return 200, {"organization": self._render(account, "organization", found)}
        if not name:
            return _record_invalid({"name": [{"description": "Name: cannot be blank", "error": "BlankValue"}]})
        org = self.add_organization(
            account.subdomain, name=name, **{k: v for k, v in data.items() if k in writable and k != "name"}
        )
        return 201, {"organization": self._render(account, "organization", org)}

    @route("GET", P + r"/api/v2/ticket_fields\.json")
    def ticket_fields(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        return self._list(request, account, "ticket_fields", list(account.ticket_fields.values()), "ticket_field")

    @route("GET", P + r"/api/v2/user_fields\.json")
    def user_fields(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        return self._list(request, account, "user_fields", list(account.user_fields.values()), "user_field")

    @route("GET", P + r"/api/v2/organization_fields\.json")
    def organization_fields(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        fields = list(account.organization_fields.values())
        return self._list(request, account, "organization_fields", fields, "organization_field")

    # --- tickets --------------------------------------------------------------------------------------
    def _new_ticket(self, account: Account, **values: Any) -> dict[str, Any]:
        stamp = self._stamp()
        ticket_id = next(account._ticket_ids)
        requester = account.users.get(values["requester_id"]) or {}
        ticket = {
            "id": ticket_id,
            "external_id": None,
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": stamp,
            "updated_at": stamp,
            "generated_timestamp": int(self.now()),
            "type": None,
            "subject": None,
            "raw_subject": None,
            "description": None,
            "priority": None,
            "status": "new",
            "recipient": None,
            "requester_id": None,
            "submitter_id": None,
            "assignee_id": None,
            "organization_id": requester.get("organization_id"),
            "group_id": None,
            "collaborator_ids": [],
            "follower_ids": [],
            "email_cc_ids": [],
            "forum_topic_id": None,
            "problem_id": None,
            "has_incidents": False,
            "is_public": True,
            "due_at": None,
            "tags": [],
            "custom_fields": [],
            "satisfaction_rating": None,
            "sharing_agreement_ids": [],
            "custom_status_id": None,
            "followup_ids": [],
            "ticket_form_id": None,
            "brand_id": None,
            "allow_channelback": False,
            "allow_attachments": True,
            "from_messaging_channel": False,
            "_comment_public": None,
        }
        for key, value in values.items():
            if value is not None or key in ("priority", "type"):
                ticket[key] = value
        ticket["raw_subject"] = ticket["subject"]
        ticket["custom_fields"] = [
            {"id": f["id"], "value": None} for f in account.ticket_fields.values() if f["removable"] and f["active"]
        ]
        account.tickets[ticket_id] = ticket
        account.comments[ticket_id] = []
        return ticket

    def _set_custom_fields(self, account: Account, ticket: dict[str, Any], values: list[dict[str, Any]]):
        """Merge ``custom_fields [{id, value}]``: unknown ids are ignored (as Zendesk does); a drop-down
        value must be one of its option tags, which Zendesk also adds to the ticket's tags."""
        problems: list[dict[str, str]] = []
        current = {f["id"]: f for f in ticket["custom_fields"]}
        for item in values:
            definition = (
                account.ticket_fields.get(int(item.get("id") or 0)) if str(item.get("id", "")).isdigit() else None
            )
            if definition is None or not definition["removable"]:
                continue
            value = item.get("value")
            if definition["type"] in ("tagger", "multiselect") and value not in (None, "", []):
                allowed = {o["value"] for o in definition["custom_field_options"]}
                chosen = value if isinstance(value, list) else [value]
                bad = [v for v in chosen if v not in allowed]
                if bad or (definition["type"] == "tagger" and isinstance(value, list)):
                    problems.append({"description": f"{definition['title']}: {bad or value} is not a valid option"})
                    continue
                ticket["tags"] = sorted(set(ticket["tags"]) | set(chosen))
            current.setdefault(definition["id"], {"id": definition["id"], "value": None})["value"] = value
        ticket["custom_fields"] = list(current.values())
        return problems

    def _add_comment(
        self,
        account: Account,
        ticket: dict[str, Any],
        spec: dict[str, Any],
        *,
        author_id: int | None,
        audit_id: int | None = None,
    ) -> dict[str, Any]:
        html_body = spec.get("html_body")
        body = spec.get("body") if spec.get("body") is not None else _strip_html(html_body or "")
        if html_body is None:
            paragraphs = "".join(f'<p dir="auto">{html.escape(p)}</p>' for p in str(body).split("\n\n"))
            html_body = f'<div class="zd-comment" dir="auto">{paragraphs}</div>'
        public = spec.get("public")
        if public is None:  # no fixed default: inherits the visibility of the ticket's first comment
            public = ticket["_comment_public"] if ticket["_comment_public"] is not None else True
        if ticket["_comment_public"] is None:
            ticket["_comment_public"] = bool(public)
            ticket["description"] = body
        attachments = [
            a for t in spec.get("uploads") or [] if t in account.uploads for a in account.uploads[t]["attachments"]
        ]
        comment = {
            "id": next(self._ids),
            "type": "Comment",
            "author_id": spec.get("author_id") or author_id,
            "body": body,
            "html_body": html_body,
            "plain_body": _strip_html(html_body),
            "public": bool(public),
            "attachments": [dict(a) for a in attachments],
            "audit_id": audit_id or next(self._ids),
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": self._stamp(),
            "metadata": {"system": {}, "custom": {}},
        }
        account.comments[ticket["id"]].append(comment)
        if not comment["public"]:
            ticket["is_public"] = any(c["public"] for c in account.comments[ticket["id"]])
        self.events.append(
            {
                "type": "comment_created",
                "subdomain": account.subdomain,
                "ticket_id": ticket["id"],
                "comment": comment,
            }
        )
        return comment

    def _log_audit(
        self,
        account: Account,
        ticket: dict[str, Any],
        *,
        audit_id: int,
        updater_id: int | None,
        comment: dict[str, Any] | None = None,
        changes: list[dict[str, Any]] | None = None,
    ) -> None:
        """One row of the ticket events export: the audit, its comment (if any) and field changes."""
        account.audits.append(
            {
                "id": audit_id,
                "ticket_id": ticket["id"],
                "timestamp": int(self.now()),
                "created_at": self._stamp(),
                "updater_id": updater_id,
                "comment": comment,
                "changes": list(changes or []),
            }
        )

    def _audit(
        self,
        ticket: dict[str, Any],
        author_id: int | None,
        events: list[dict[str, Any]],
        *,
        audit_id: int | None = None,
    ) -> dict[str, Any]:
        return {
            "id": audit_id or next(self._ids),
            "ticket_id": ticket["id"],
            "created_at": ticket["updated_at"],
            "author_id": author_id,
            "metadata": {"system": {}, "custom": {}},
            "events": events,
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
        }

    def _validate(self, data: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
        details: dict[str, list[dict[str, str]]] = {}
        checks = (
            ("status", STATUSES, "Status"),
            ("priority", PRIORITIES, "Priority"),
            ("type", TYPES, "Type"),
        )
        for key, allowed, label in checks:
            value = data.get(key)
            if key in data and value is not None and value not in allowed and (key == "status" or value != ""):
                details[key] = [{"description": f"{label}: {data[key]} is not valid", "error": "InvalidValue"}]
        return details

    @staticmethod
    def _live_ticket(account: Account, ticket_id: int) -> dict[str, Any] | None:
        """The ticket, or None when there is none or it was deleted (a deleted ticket answers 404)."""
        ticket = account.tickets.get(ticket_id)
        return ticket if ticket is not None and ticket["status"] != "deleted" else None

    @route("GET", P + r"/api/v2/tickets\.json")
    def tickets_list(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        tickets = [t for t in account.tickets.values() if t["status"] != "deleted"]
        external_id = request.arg("external_id")
        if external_id is not None:  # "List Tickets" filtered by external id: read at once, no search index lag
            tickets = [t for t in tickets if t.get("external_id") == external_id]
        return self._list(request, account, "tickets", tickets, "ticket")

    @route("POST", P + r"/api/v2/tickets\.json")
    def ticket_create(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        user = request.user  # type: ignore[attr-defined]
        data = (self._json_body(request) or {}).get("ticket")
        if not isinstance(data, dict):
            return 400, {"error": "InvalidValue", "description": "ticket is required"}
        comment = data.get("comment") if isinstance(data.get("comment"), dict) else None
        if comment is None and data.get("description"):
            comment = {"body": data["description"]}
        details = self._validate(data)
        if not comment or not (comment.get("body") or comment.get("html_body")):
            details["description"] = [{"description": "Description: cannot be blank", "error": "BlankValue"}]
        requester_id = data.get("requester_id")
        requester = data.get("requester")
        if requester_id is not None and int(requester_id) not in account.users:
            details["requester"] = [{"description": "Requester: is invalid", "error": "InvalidValue"}]
        if details:
            return _record_invalid(details)
        if requester_id is None and isinstance(requester, dict) and requester.get("email"):
            email = requester["email"].lower()
            found = next((u for u in account.users.values() if u["email"] == email), None)
            requester_id = (
                found or self.add_user(account.subdomain, name=requester.get("name") or email, email=email)
            )["id"]
        requester_id = int(requester_id) if requester_id is not None else user["id"]
        status = data.get("status") or ("open" if data.get("assignee_id") else "new")
        ticket = self._new_ticket(
            account,
            subject=data.get("subject") or str(comment.get("body") or _strip_html(comment["html_body"]))[:80],
            status=status,
            priority=data.get("priority"),
            type=data.get("type"),
            tags=sorted(set(data.get("tags") or [])),
            requester_id=requester_id,
            submitter_id=user["id"],
            organization_id=data.get("organization_id"),
            assignee_id=data.get("assignee_id"),
            group_id=data.get("group_id"),
            external_id=data.get("external_id"),
            due_at=data.get("due_at"),
        )
        problems = self._set_custom_fields(account, ticket, data.get("custom_fields") or [])
        if problems:
            del account.tickets[ticket["id"]]
            return _record_invalid({"base": problems})
        created = self._add_comment(account, ticket, comment, author_id=user["id"])
        self._log_audit(account, ticket, audit_id=created["audit_id"], updater_id=user["id"], comment=created)
        self.events.append({"type": "ticket_created", "subdomain": account.subdomain, "ticket_id": ticket["id"]})
        audit = self._audit(
            ticket,
            user["id"],
            [{"id": created["id"], "type": "Comment", "body": created["body"]}],
            audit_id=created["audit_id"],
        )
        url = self._render(account, "ticket", ticket)["url"]
        return 201, {"ticket": self._render(account, "ticket", ticket), "audit": audit}, {"Location": url}

    @route("GET", P + r"/api/v2/tickets/(?P<id>\d+)\.json")
    def ticket_show(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        ticket = self._live_ticket(account, int(request.params["id"]))
        return (200, {"ticket": self._render(account, "ticket", ticket)}) if ticket else _not_found()

    @route("DELETE", P + r"/api/v2/tickets/(?P<id>\d+)(?:\.json)?")
    def ticket_delete(self, request: FakeRequest):
        """Zendesk's "Delete Ticket" (developer.zendesk.com/api-reference/ticketing/tickets/tickets/
        #delete-ticket): 204 No Content. A soft delete: the ticket goes to the deleted tickets (restorable for 30
        days), answers 404 ``RecordNotFound`` from then on, and the incremental ticket export lists it with
        ``status: "deleted"`` unless ``exclude_deleted=true`` ("Excluding deleted tickets" in developer.zendesk.com/
        documentation/ticketing/managing-tickets/using-the-incremental-export-api). Agents may delete only with
        the delete permission; this fake lets every agent."""
        account: Account = request.account  # type: ignore[attr-defined]
        ticket = self._live_ticket(account, int(request.params["id"]))
        if ticket is None:
            return _not_found()
        self._soft_delete(account, ticket, actor_id=request.user["id"])  # type: ignore[attr-defined]
        return 204, b""

    @route("PUT", P + r"/api/v2/deleted_tickets/(?P<id>\d+)/restore(?:\.json)?")
    def deleted_ticket_restore(self, request: FakeRequest):
        """Zendesk's "Restore a previously deleted ticket" (developer.zendesk.com/api-reference/ticketing/
        tickets/tickets/#restore-a-previously-deleted-ticket): 200 with an empty body; a ticket that is not
        deleted is 404. The ticket comes back with its status from before (``previous_state`` in the deleted
        tickets list); the fake moves its ``generated_timestamp``, so the export shows it again (the restore is
        a change of the ticket)."""
        account: Account = request.account  # type: ignore[attr-defined]
        ticket = account.tickets.get(int(request.params["id"]))
        if ticket is None or ticket["status"] != "deleted":
            return _not_found()
        self._restore(account, ticket, actor_id=request.user["id"])  # type: ignore[attr-defined]
        return 200, b""

    def _soft_delete(self, account: Account, ticket: dict[str, Any], *, actor_id: int | None = None) -> None:
        ticket["_previous_status"] = ticket["status"]
        ticket["status"] = "deleted"
        ticket["generated_timestamp"] = int(self.now())  # a change: the export lists it again
        self.events.append(
            {"type": "ticket_deleted", "subdomain": account.subdomain, "ticket_id": ticket["id"], "actor": actor_id}
        )

    def _restore(self, account: Account, ticket: dict[str, Any], *, actor_id: int | None = None) -> None:
        if ticket["status"] != "deleted":
            raise ValueError(f"ticket {ticket['id']} is not deleted")
        ticket["status"] = ticket.pop("_previous_status", "open")
        ticket["generated_timestamp"] = int(self.now())
        self.events.append(
            {"type": "ticket_restored", "subdomain": account.subdomain, "ticket_id": ticket["id"], "actor": actor_id}
        )

    @route("PUT", P + r"/api/v2/tickets/(?P<id>\d+)\.json")
    def ticket_update(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        user = request.user  # type: ignore[attr-defined]
        ticket = self._live_ticket(account, int(request.params["id"]))
        if ticket is None:
            return _not_found()
        account.ticket_update_attempts[ticket["id"]] += 1
        data = (self._json_body(request) or {}).get("ticket")
        if not isinstance(data, dict):
            return 400, {"error": "InvalidValue", "description": "ticket is required"}
        if ticket["status"] == "closed":
            return _record_invalid({account.closed_error_key: [{"description": CLOSED_TEXT, "error": "ClosedTicket"}]})
        if data.get("safe_update") and data.get("updated_stamp") != ticket["updated_at"]:
            return 409, {
                "error": "UpdateConflict",
                "description": "Safe Update prevented the update due to outdated ticket data. "
                "Please fetch the latest ticket data and try again.",
            }
        details = self._validate(data)
        if details:
            return _record_invalid(details)
        before = json.loads(json.dumps({k: v for k, v in ticket.items() if not k.startswith("_")}))
        problems = self._set_custom_fields(account, ticket, data.get("custom_fields") or [])
        if problems:
            ticket.update(before)
            return _record_invalid({"base": problems})
        for key in (
            "status",
            "priority",
            "type",
            "subject",
            "assignee_id",
            "group_id",
            "organization_id",
            "due_at",
        ):
            if key in data:
                ticket[key] = data[key]
        if "subject" in data:
            ticket["raw_subject"] = data["subject"]
        if "requester_id" in data and int(data["requester_id"]) in account.users:
            ticket["requester_id"] = int(data["requester_id"])
        if "external_id" in data:
            ticket["external_id"] = data["external_id"]
        if "tags" in data:
            ticket["tags"] = sorted(set(data["tags"] or []))
        ticket["tags"] = sorted(
            (set(ticket["tags"]) | set(data.get("additional_tags") or [])) - set(data.get("remove_tags") or [])
        )
        events: list[dict[str, Any]] = []
        audit_id = next(self._ids)
        created = None
        comment = data.get("comment")
        if isinstance(comment, dict) and (comment.get("body") or comment.get("html_body")):
            created = self._add_comment(account, ticket, comment, author_id=user["id"], audit_id=audit_id)
            events.append(
                {"id": created["id"], "type": "Comment", "body": created["body"], "public": created["public"]}
            )
        changes = self._changes(before, ticket)
        events += [{"id": c["id"], "type": "Change", **{k: v for k, v in c.items() if k != "id"}} for c in changes]
        ticket["updated_at"] = self._stamp()
        ticket["generated_timestamp"] = int(self.now())  # a comment alone moves it too
        if created is not None or changes:
            self._log_audit(account, ticket, audit_id=audit_id, updater_id=user["id"], comment=created, changes=changes)
        self.events.append(
            {
                "type": "ticket_updated",
                "subdomain": account.subdomain,
                "ticket_id": ticket["id"],
                "changes": data,
            }
        )
        account.ticket_updates[ticket["id"]] += 1
        return 200, {
            "ticket": self._render(account, "ticket", ticket),
            "audit": self._audit(ticket, user["id"], events, audit_id=audit_id),
        }

    def _changes(self, before: dict[str, Any], ticket: dict[str, Any]) -> list[dict[str, Any]]:
        """Field changes of an update, as audit ``Change`` events; a custom field is named by its id."""
        changes = []
        for key, value in ticket.items():
            if key.startswith("_") or key in ("updated_at", "description", "custom_fields"):
                continue
            if before.get(key) != value:
                changes.append({"field_name": key, "value": value, "previous_value": before.get(key)})
        old = {f["id"]: f["value"] for f in before.get("custom_fields") or []}
        for item in ticket["custom_fields"]:
            if old.get(item["id"]) != item["value"]:
                changes.append(
                    {"field_name": str(item["id"]), "value": item["value"], "previous_value": old.get(item["id"])}
                )
        return [{"id": next(self._ids), **c} for c in json.loads(json.dumps(changes))]

    @route("GET", P + r"/api/v2/tickets/(?P<id>\d+)/comments\.json")
    def ticket_comments(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        ticket_id = int(request.params["id"])
        if self._live_ticket(account, ticket_id) is None:
            return _not_found()
        comments = list(account.comments[ticket_id])
        # Oldest first by default; ``sort_order=desc`` (documented with offset pagination) or
        # ``sort=-created_at`` (with cursor pagination) turn it around — the fake honours either with both.
        sort, sort_order = request.arg("sort"), request.arg("sort_order")
        if sort not in (None, "created_at", "-created_at") or sort_order not in (None, "asc", "desc"):
            return 400, {"error": "InvalidValue", "description": "sort must be created_at or -created_at"}
        if sort == "-created_at" or (sort is None and sort_order == "desc"):
            comments.reverse()
        return self._list(request, account, "comments", comments, "comment")

    # --- search ---------------------------------------------------------------------------------------
    @route("GET", P + r"/api/v2/search\.json")
    def search(self, request: FakeRequest):
        """A subset of the query language: ``type:ticket|user|organization``, ``key:value`` on a record's
        own properties (``status:open``, ``tags:vip``, ``role:agent`` …) and free text matched
        case-insensitively, partially, against subject/description/name/email. Offset pagination only."""
        account: Account = request.account  # type: ignore[attr-defined]
        if request.arg("page[size]") is not None or request.arg("page[after]") is not None:
            return 400, {
                "error": {
                    "title": "Invalid attribute",
                    "message": "You passed an invalid value for the page attribute. Invalid parameter: page must be "
                    "an integer from api/v2/search/index",
                }
            }
        query = request.arg("query")
        if query is None:
            return 400, {"error": "InvalidValue", "description": "query is required"}
        try:
            page = int(request.arg("page", "1"))
            per_page = max(1, min(int(request.arg("per_page", "100")), MAX_PAGE_SIZE))
        except ValueError:
            return 400, {"error": "InvalidValue", "description": "page must be an integer"}
        if page * per_page > SEARCH_LIMIT:
            return 422, {
                "error": "InvalidSearch",
                "description": "Invalid search: Requested response size was greater than Search Response Limits",
            }
        results = self._search(account, query)
        chunk = results[(page - 1) * per_page : page * per_page]
        base = self._api_url(account, "/api/v2/search.json")

        def page_url(n: int) -> str:
            return f"{base}?{urlencode({'page': n, 'per_page': per_page, 'query': query})}"

        more = page * per_page < min(len(results), SEARCH_LIMIT)
        return 200, {
            "results": [{**self._render(account, kind, r), "result_type": kind} for kind, r in chunk],
            "facets": None,
            "next_page": page_url(page + 1) if more else None,
            "previous_page": page_url(page - 1) if page > 1 else None,
            "count": len(results),
        }

    def _search(self, account: Account, query: str) -> list[tuple[str, dict[str, Any]]]:
        try:
            terms = shlex.split(query)
        except ValueError:
            terms = query.split()
        live = {i: t for i, t in account.tickets.items() if t["status"] != "deleted"}  # deleted: not searchable
        kinds = {"ticket": live, "user": account.users, "organization": account.organizations}
        wanted = set(kinds)
        filters: list[tuple[str, str]] = []
        words: list[str] = []
        for term in terms:
            key, sep, value = term.partition(":")
            if sep and key.lower() == "type":
                wanted &= {value.lower()}
            elif sep and key and value:
                filters.append(({"tag": "tags"}.get(key.lower(), key.lower()), value.lower()))
            else:
                words.append(term.lower())
        horizon = self.now() - self.search_lag_seconds

        def indexed(record: dict[str, Any]) -> bool:
            created = datetime.strptime(record["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
            return created <= horizon or self.search_lag_seconds <= 0

        def matches(record: dict[str, Any]) -> bool:
            for key, value in filters:
                have = record.get(key)
                values = [str(v).lower() for v in have] if isinstance(have, list) else [str(have).lower()]
                if value not in values:
                    return False
            text = " ".join(str(record.get(k) or "") for k in ("subject", "description", "name", "email")).lower()
            tokens = re.findall(r"[\w@.+-]+", text)
            # Zendesk matches whole words; a trailing * makes a word a prefix ("prin*" finds "printer").
            return all(
                any(t.startswith(word[:-1]) for t in tokens) if word.endswith("*") else word in tokens for word in words
            )

        return [
            (kind, record)
            for kind in ("ticket", "user", "organization")
            if kind in wanted
            for record in kinds[kind].values()
            if indexed(record) and matches(record)
        ]

    # --- uploads --------------------------------------------------------------------------------------
    @route("POST", P + r"/api/v2/uploads\.json")
    def upload(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        filename = request.arg("filename")
        if not filename:
            return 400, {"error": "InvalidValue", "description": "filename is required"}
        content_type = request.headers.get("content-type", "application/binary")
        token = request.arg("token")
        if token is not None and token not in account.uploads:
            return _not_found()
        stored = self._store_upload(account, filename, request.body, content_type, token=token)
        body = {
            "upload": {
                "token": stored["token"],
                "expires_at": None,
                "attachments": [dict(a) for a in stored["attachments"]],
                "attachment": dict(stored["attachments"][-1]),  # the file just added
            }
        }
        # Zendesk was seen labelling this JSON answer text/plain
        return 201, json.dumps(body).encode(), {"Content-Type": "text/plain; charset=utf-8"}

    def _store_upload(
        self, account: Account, filename: str, content: bytes, content_type: str, *, token: str | None = None
    ) -> dict[str, Any]:
        """Keep an upload; returns ``{"token", "attachment", "content", "attachments", "contents"}``. With the
        ``token`` of an earlier upload the file joins it (Zendesk's ``uploads.json?token=`` for several files
        on one comment): ``attachment``/``content`` stay the first file's, ``attachments`` lists them all and
        ``contents`` maps each attachment id to its bytes."""
        if token is not None:
            upload = account.uploads[token]
            attachment = self._upload_attachment(account, token, filename, content, content_type)
            upload["attachments"].append(attachment)
            upload["contents"][attachment["id"]] = content
            return upload
        token = secrets.token_urlsafe(18)
        attachment = self._upload_attachment(account, token, filename, content, content_type)
        account.uploads[token] = {
            "token": token,
            "attachment": attachment,
            "content": content,
            "attachments": [attachment],
            "contents": {attachment["id"]: content},
        }
        return account.uploads[token]

    def _upload_attachment(
        self, account: Account, token: str, filename: str, content: bytes, content_type: str
    ) -> dict[str, Any]:
        attachment_id = next(self._ids)
        content_path = f"/attachments/token/{token}/?name={quote(filename)}"
        attachment = {
            "id": attachment_id,
            "url": self._api_url(account, f"/api/v2/attachments/{attachment_id}.json"),
            "file_name": filename,
            "content_url": self._api_url(account, content_path),
            "mapped_content_url": self._api_url(account, content_path),
            "content_type": content_type,
            "size": len(content),
            "width": None,
            "height": None,
            "inline": False,
            "deleted": False,
            "thumbnails": [],
        }
        return attachment

    def cdn_url(self, token: str, filename: str) -> str:
        """Where attachment bytes are really served: the same fake on another host name (``localhost``
        instead of ``127.0.0.1``), as Zendesk redirects ``content_url`` to ``*.zdusercontent.com``."""
        assert self._server, "fake server not started"
        return f"http://localhost:{self._server.server_address[1]}/cdn/{token}/{quote(filename)}"

    @route("GET", P + r"/attachments/token/(?P<token>[^/]+)/")
    def attachment_content(self, request: FakeRequest):
        """``content_url``: authenticated like the API, answers 302 to the CDN host (a different host name,
        so HTTP clients drop the Authorization header on the redirect — and the CDN refuses it if sent)."""
        account: Account = request.account  # type: ignore[attr-defined]
        upload = account.uploads.get(request.params["token"])
        if upload is None:
            return _not_found()
        name = request.arg("name") or upload["attachment"]["file_name"]  # one token may hold several files
        location = self.cdn_url(upload["token"], name)
        return 302, b"", {"Location": location}

    @route("GET", r"/cdn/(?P<token>[^/]+)/(?P<name>[^/]+)")
    def cdn_content(self, request: FakeRequest):
        """The attachment CDN: a signed-URL store that refuses a second auth mechanism (400 when an
        ``Authorization`` header comes along, as S3-style stores answer) and serves the bytes otherwise."""
        token, name = request.params["token"], request.params["name"]
        authorization = request.headers.get("authorization")
        upload = next((a.uploads[token] for a in self.accounts.values() if token in a.uploads), None)
        files = [a for a in upload["attachments"] if a["file_name"] == name] if upload else []
        if authorization is not None:
            status = 400
        elif not files:
            status = 404
        else:
            status = 200
        self.cdn_downloads.append({"token": token, "name": name, "authorization": authorization, "status": status})
        if status == 400:
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code><Message>Only one auth '
                "mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or "
                "the Authorization header should be specified</Message><ArgumentName>Authorization</ArgumentName>"
                "</Error>"
            )
            return 400, body, {"Content-Type": "application/xml"}
        if status == 404:
            return 404, "Not Found", {"Content-Type": "text/plain"}
        first = files[0]
        # the first file keeps ``upload["content"]`` (tests may rewrite it); later ones live in ``contents``
        assert upload is not None
        content = upload["content"] if first is upload["attachment"] else upload["contents"][first["id"]]
        return (
            200,
            content,
            {
                "Content-Type": first["content_type"],
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            },
        )

    # --- incremental export ---------------------------------------------------------------------------
    @route("GET", P + r"/api/v2/incremental/tickets/cursor\.json")
    def incremental_tickets_cursor(self, request: FakeRequest):
        """Cursor-based incremental ticket export, with the real one's quirks (api-facts.md):

        - admins only (403 for agents); ``start_time`` once, then ``cursor``; ``per_page`` up to 1000;
        - a ``start_time`` within the last minute is refused: 422 ``{"error": "InvalidValue", "description":
          "Too recent start_time. Use a start_time older than 5 minutes"}`` (the body recorded in public
          clients of the API, e.g. embulk-input-zendesk; the documented floor is one minute);
        - changes of the most recent minute are never returned (they come in a later poll);
        - tickets are ordered by ``generated_timestamp`` then id; a ticket changed again appears again later
          (duplicates across polls); ``after_cursor`` is opaque and always set once rows were returned; a
          first answer with no rows carries no cursor (keep ``start_time``); ``end_of_stream`` says whether
          everything up to a minute ago was returned;
        - ``exclude_deleted=true`` drops deleted tickets (``status: deleted``).
        """
        account: Account = request.account  # type: ignore[attr-defined]
        if request.user["role"] != "admin":  # type: ignore[attr-defined]
            return _forbidden()
        try:
            per_page = min(int(request.arg("per_page", "1000")), 1000)
        except ValueError:
            return 400, {"error": "InvalidValue", "description": "per_page must be an integer"}
        horizon = int(self.now()) - self.export_lag_seconds
        cursor, start_time = request.arg("cursor"), request.arg("start_time")
        if cursor:
            try:
                stamp_s, id_s = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
                after = (int(stamp_s), int(id_s))
            except (ValueError, binascii.Error):
                return 400, {"error": "InvalidCursor", "description": "The cursor is not valid"}
        elif start_time is not None and start_time.isdigit():
            if int(start_time) > horizon:
                return 422, {
                    "error": "InvalidValue",
                    "description": "Too recent start_time. Use a start_time older than 5 minutes",
                }
            after = (int(start_time) - 1, 10**18)  # on or after start_time
        else:
            return 400, {"error": "InvalidValue", "description": "start_time or cursor is required"}
        exclude_deleted = request.arg("exclude_deleted") == "true"
        eligible = sorted(
            (
                t
                for t in account.tickets.values()
                if (t["generated_timestamp"], t["id"]) > after
                and t["generated_timestamp"] <= horizon
                and not (exclude_deleted and t["status"] == "deleted")
            ),
            key=lambda t: (t["generated_timestamp"], t["id"]),
        )
        page, rest = eligible[:per_page], eligible[per_page:]
        if page:
            last = page[-1]
            after_cursor = base64.urlsafe_b64encode(f"{last['generated_timestamp']}|{last['id']}".encode()).decode()
        else:
            after_cursor = cursor  # nothing new: the same position (None on a first, empty answer)
        base = self._api_url(account, "/api/v2/incremental/tickets/cursor.json")
        return 200, {
            "tickets": [self._render(account, "ticket", t) for t in page],
            "after_cursor": after_cursor,
            "after_url": f"{base}?{urlencode({'cursor': after_cursor})}" if after_cursor else None,
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": not rest,
        }

    @route("GET", P + r"/api/v2/incremental/ticket_events\.json")
    def incremental_ticket_events(self, request: FakeRequest):
        """Time-based incremental ticket event export (one row per ticket audit), with the real one's quirks:

        - admins only; the incremental bucket (10 requests a minute); ``start_time`` within the last minute
          → the same 422 as the cursor export; audits of the most recent minute are never returned;
        - rows ordered by ``timestamp``; ``per_page`` (≤ 1000, default 1000) rows after ``start_time``, but
          rows sharing a timestamp are never split across pages (a page can hold more); rows stamped exactly
          ``start_time`` come again and do not count towards ``per_page`` (the fake's choice: every page
          makes progress);
        - ``end_time`` = the timestamp of the last row (``start_time`` when empty); ``next_page`` = the same
          URL with ``start_time=end_time`` and is set even at ``end_of_stream`` (as in Zendesk's documented
          example answer), so the next page REPEATS the rows stamped ``end_time``: dedupe by event id;
        - child events: a comment is ``{"id": <comment id>, "via", "via_reference_id": null, "type":
          "Comment", "author_id", "body", "html_body", "public", "attachments", "audit_id", "created_at",
          "event_type": "Comment"}`` with ``include=comment_events`` (the sideload example of Zendesk's
          reference, developer.zendesk.com "Incremental Ticket Event Export"); without the sideload only
          ``{"id", "via", "via_reference_id", "comment_present": true, "comment_public", "event_type":
          "Comment"}`` (the reference: "described only by Boolean comment_present and comment_public");
          field changes are ``{"id", "via", "via_reference_id", "field_name", "value", "previous_value",
          <field_name>: value, "event_type": "Change"}`` (the fake's minimum; creation events are not
          modelled).
        """
        account: Account = request.account  # type: ignore[attr-defined]
        if request.user["role"] != "admin":  # type: ignore[attr-defined]
            return _forbidden()
        try:
            per_page = max(1, min(int(request.arg("per_page", "1000")), 1000))
        except ValueError:
            return 400, {"error": "InvalidValue", "description": "per_page must be an integer"}
        start_raw = request.arg("start_time")
        if start_raw is None or not start_raw.isdigit():
            return 400, {"error": "InvalidValue", "description": "start_time is required"}
        start, horizon = int(start_raw), int(self.now()) - self.export_lag_seconds
        if start > horizon:
            return 422, {
                "error": "InvalidValue",
                "description": "Too recent start_time. Use a start_time older than 5 minutes",
            }
        include = {part.strip() for part in (request.arg("include") or "").split(",") if part.strip()}
        rows = sorted(
            (a for a in account.audits if start <= a["timestamp"] <= horizon), key=lambda a: (a["timestamp"], a["id"])
        )
        repeated = [a for a in rows if a["timestamp"] == start]
        later = [a for a in rows if a["timestamp"] > start]
        page, rest = repeated + later[:per_page], later[per_page:]
        while rest and page and rest[0]["timestamp"] == page[-1]["timestamp"]:
            page.append(rest.pop(0))
        end_time = page[-1]["timestamp"] if page else start
        query = {"start_time": end_time}
        if include:
            query["include"] = ",".join(sorted(include))
        if request.arg("per_page"):
            query["per_page"] = per_page
        base = self._api_url(account, "/api/v2/incremental/ticket_events.json")
        return 200, {
            "ticket_events": [self._ticket_event(a, "comment_events" in include) for a in page],
            "next_page": f"{base}?{urlencode(query)}",
            "count": len(page),
            "end_of_stream": not rest,
            "end_time": end_time,
        }

    @staticmethod
    def _ticket_event(audit: dict[str, Any], with_comments: bool) -> dict[str, Any]:
        via = {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}}
        children: list[dict[str, Any]] = []
        comment = audit["comment"]
        if comment is not None and with_comments:
            keys = ("author_id", "body", "html_body", "public", "attachments", "audit_id", "created_at")
            children.append(
                {
                    "id": comment["id"],
                    "via": comment["via"],
                    "via_reference_id": None,
                    "type": "Comment",
                    **{k: comment[k] for k in keys},
                    "event_type": "Comment",
                }
            )
        elif comment is not None:
            children.append(
                {
                    "id": comment["id"],
                    "via": comment["via"],
                    "via_reference_id": None,
                    "comment_present": True,
                    "comment_public": comment["public"],
                    "event_type": "Comment",
                }
            )
        for change in audit["changes"]:
            children.append(
                {
                    "id": change["id"],
                    "via": via,
                    "via_reference_id": None,
                    "field_name": change["field_name"],
                    "value": change["value"],
                    "previous_value": change["previous_value"],
                    change["field_name"]: change["value"],
                    "event_type": "Change",
                }
            )
        return json.loads(
            json.dumps(
                {
                    "id": audit["id"],
                    "ticket_id": audit["ticket_id"],
                    "timestamp": audit["timestamp"],
                    "created_at": audit["created_at"],
                    "updater_id": audit["updater_id"],
                    "via": via,
                    "system": {},
                    "event_type": "Audit",
                    "child_events": children,
                }
            )
        )

    # --- OAuth ----------------------------------------------------------------------------------------
    def _json_body(self, request: FakeRequest) -> Any:
        try:
            return request.json()
        except (ValueError, UnicodeDecodeError):
            return None

    def _issue_token(self, account: Account, user_id: int, scope: str, client_id: str) -> dict[str, Any]:
        access, refresh = secrets.token_hex(32), secrets.token_hex(32)
        now = self.now()
        account.oauth_tokens[access] = {
            "user_id": user_id,
            "scope": scope,
            "client_id": client_id,
            "expires_at": now + ACCESS_TOKEN_LIFETIME,
            "revoked": False,
        }
        account.refresh_tokens[refresh] = {
            "access_token": access,
            "expires_at": now + REFRESH_TOKEN_LIFETIME,
            "used": False,
        }
        return {
            "access_token": access,
            "token_type": "bearer",
            "scope": scope,
            "refresh_token": refresh,
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "refresh_token_expires_in": REFRESH_TOKEN_LIFETIME,
        }

    def revoke_oauth_token(self, subdomain: str, token: str) -> None:
        self.accounts[subdomain].oauth_tokens[token]["revoked"] = True

    @route("POST", P + r"/oauth/tokens")
    def oauth_tokens(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        body = self._json_body(request)
        if not isinstance(body, dict):
            form = parse_qs(request.body.decode("utf-8", "replace"))
            body = {k: v[0] for k, v in form.items()}
        grant = body.get("grant_type")
        client = self.oauth_clients.get(body.get("client_id") or "")
        if grant not in ("authorization_code", "refresh_token"):
            return _oauth_error(400, "unsupported_grant_type", "The authorization grant type is not supported.")
        if client is None or body.get("client_secret") != client["secret"]:
            return _oauth_error(401, "invalid_client", INVALID_CLIENT)
        if grant == "refresh_token":
            record = account.refresh_tokens.get(body.get("refresh_token") or "")
            if record is None or record["used"] or record["expires_at"] <= self.now():
                return _oauth_error(400, "invalid_grant", INVALID_GRANT)
            old = account.oauth_tokens[record["access_token"]]
            if old["client_id"] != body["client_id"]:
                return _oauth_error(400, "invalid_grant", INVALID_GRANT)
            record["used"] = True
            old["revoked"] = True
            return 200, self._issue_token(account, old["user_id"], old["scope"], old["client_id"])
        code = account.oauth_codes.get(body.get("code") or "")
        if (
            code is None
            or code["used"]
            or code["expires_at"] <= self.now()
            or code["client_id"] != body["client_id"]
            or code["redirect_uri"] != body.get("redirect_uri")
        ):
            return _oauth_error(400, "invalid_grant", INVALID_GRANT)
        code["used"] = True
        scope = body.get("scope") or code["scope"]
        if not set(scope.split()) <= set(code["scope"].split()):
            return _oauth_error(400, "invalid_scope", "The requested scope is invalid, unknown, or malformed.")
        self.events.append({"type": "oauth_token_issued", "subdomain": account.subdomain, "scope": scope})
        return 200, self._issue_token(account, code["user_id"], scope, code["client_id"])

    @route("GET", P + r"/oauth/authorizations/new")
    def oauth_authorize(self, request: FakeRequest):
        """The consent page, approved at once by ``account.authorizing_email`` (default: first admin)."""
        account: Account = request.account  # type: ignore[attr-defined]
        client = self.oauth_clients.get(request.arg("client_id") or "")
        redirect_uri = request.arg("redirect_uri") or ""
        if client is None or redirect_uri not in client["redirect_uris"] or request.arg("response_type") != "code":
            return 400, "<html><body>Invalid OAuth request</body></html>", {"Content-Type": "text/html"}
        state = request.arg("state")
        if account.deny_authorization:
            query = {
                "error": "access_denied",
                "error_description": "The end-user or authorization server denied the request.",
            }
        else:
            code = self.oauth_code(
                account.subdomain,
                request.arg("scope") or "read",
                email=account.authorizing_email,
                client_id=request.arg("client_id"),
                redirect_uri=redirect_uri,
            )
            query = {"code": code}
        if state is not None:
            query["state"] = state
        separator = "&" if "?" in redirect_uri else "?"
        return 302, b"", {"Location": f"{redirect_uri}{separator}{urlencode(query)}"}

    # --- groups, brands, ticket forms, tags ---------------------------------------------------------------
    # https://developer.zendesk.com/api-reference/ticketing/groups/groups/ (cursor or offset pagination; deleted
    # groups stay listed, marked ``deleted`` — this fake's reading, ``exclude_deleted=true`` leaves them out),
    # .../account-configuration/brands/ (cursor or offset; ``active``, ``is_deleted``), .../tickets/ticket_forms/
    # (no pagination: every form, at most 300, by ``position``; ``active=true|false`` filters) and
    # .../ticket-management/tags/ (up to 20,000 tags used in the last 60 days, most popular first, each
    # ``{"name", "count"}``; cursor or offset pagination, at most 100 a page; its own rate-limit bucket).
    TAG_WINDOW_SECONDS = 60 * 24 * 3600
    TAGS_LISTED = 20000

    def _catalog(self, account: Account) -> Account:
        """Every Zendesk account has a default group and a default brand: made on first use."""
        if not account.groups:
            self._new_group(account, "Support", default=True)
        if not account.brands:
            self._new_brand(account, account.subdomain.capitalize(), default=True)
        return account

    def _new_group(self, account: Account, name: str, *, default: bool = False) -> dict[str, Any]:
        group_id = next(self._ids)
        stamp = self._stamp()
        group = {
            "id": group_id,
            "url": self._api_url(account, f"/api/v2/groups/{group_id}.json"),
            "name": name,
            "description": "",
            "default": default,
            "deleted": False,
            "is_public": True,
            "created_at": stamp,
            "updated_at": stamp,
        }
        account.groups[group_id] = group
        return group

    def _new_brand(self, account: Account, name: str, *, default: bool = False, active: bool = True):
        brand_id = next(self._ids)
        stamp = self._stamp()
        sub = _slug(name).replace("_", "") or account.subdomain
        brand = {
            "id": brand_id,
            "url": self._api_url(account, f"/api/v2/brands/{brand_id}.json"),
            "name": name,
            "brand_url": f"https://{sub}.zendesk.com",
            "subdomain": sub,
            "host_mapping": None,
            "has_help_center": False,
            "help_center_state": "disabled",
            "active": active,
            "default": default,
            "is_deleted": False,
            "logo": None,
            "ticket_form_ids": [],
            "signature_template": "{{agent.signature}}",
            "created_at": stamp,
            "updated_at": stamp,
        }
        account.brands[brand_id] = brand
        return brand

    def add_group(self, subdomain: str, name: str) -> dict[str, Any]:
        account = self.accounts[subdomain]
        with self._lock:
            return self._new_group(self._catalog(account), name)

    def delete_group(self, subdomain: str, group_id: int) -> None:
        """Deleted groups keep their id and are marked ``deleted`` (tickets may still carry the id)."""
        with self._lock:
            self.accounts[subdomain].groups[int(group_id)]["deleted"] = True

    def add_brand(self, subdomain: str, name: str, *, active: bool = True) -> dict[str, Any]:
        account = self.accounts[subdomain]
        with self._lock:
            return self._new_brand(self._catalog(account), name, active=active)

    def add_ticket_form(self, subdomain: str, name: str, *, active: bool = True, default: bool = False):
        account = self.accounts[subdomain]
        with self._lock:
            if len(account.ticket_forms) >= 300:
                raise ValueError("Zendesk accounts are limited to 300 ticket forms")
            form_id = next(self._ids)
            stamp = self._stamp()
            form = {
                "id": form_id,
                "url": self._api_url(account, f"/api/v2/ticket_forms/{form_id}.json"),
                "name": name,
                "raw_name": name,
                "display_name": name,
                "raw_display_name": name,
                "position": len(account.ticket_forms) + 1,
                "active": active,
                "default": default or not account.ticket_forms,
                "end_user_visible": True,
                "in_all_brands": True,
                "restricted_brand_ids": [],
                "ticket_field_ids": sorted(account.ticket_fields),
                "agent_conditions": [],
                "end_user_conditions": [],
                "created_at": stamp,
                "updated_at": stamp,
            }
            account.ticket_forms[form_id] = form
            return form

    def _tag_counts(self, account: Account) -> list[dict[str, Any]]:
        """Tags of tickets updated in the last 60 days, most used first (ties by name)."""
        since = self.now() - self.TAG_WINDOW_SECONDS
        counts: collections.Counter = collections.Counter()
        for ticket in account.tickets.values():
            updated = datetime.strptime(ticket["updated_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if updated.timestamp() >= since:
                counts.update(set(ticket.get("tags") or []))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: self.TAGS_LISTED]
        return [{"name": name, "count": count} for name, count in ranked]

    def _rows_page(self, request: FakeRequest, account: Account, key: str, rows: list[dict[str, Any]]):
        """Cursor pagination (``page[size]``/``page[after]``, opaque cursors) or offset pagination
        (``page``/``per_page``, with ``count``) of already rendered rows."""
        base = self._api_url(account, request.path.removeprefix(f"/zd/{account.subdomain}"))
        size_raw = request.arg("page[size]")
        if size_raw is None:
            try:
                page = int(request.arg("page", "1"))
                per_page = min(int(request.arg("per_page", "100")), MAX_PAGE_SIZE)
            except ValueError:
                return 400, {"error": "InvalidValue", "description": "page and per_page must be integers"}
            if page < 1 or per_page < 1:
                return 400, {"error": "InvalidValue", "description": "page and per_page must be positive"}
            more = page * per_page < len(rows)
            return 200, {
                key: rows[(page - 1) * per_page : page * per_page],
                "next_page": f"{base}?{urlencode({'page': page + 1, 'per_page': per_page})}" if more else None,
                "previous_page": f"{base}?{urlencode({'page': page - 1, 'per_page': per_page})}" if page > 1 else None,
                "count": len(rows),
            }
        if not size_raw.isdigit() or int(size_raw) < 1:
            return _pagination_error("page[size] must be a positive integer")
        size = int(size_raw)
        if size > MAX_PAGE_SIZE:
            return _pagination_error(f"page[size] must be less than or equal to {MAX_PAGE_SIZE}")
        start = 0
        after = request.arg("page[after]")
        if after:
            try:
                start = int(base64.urlsafe_b64decode(after.encode()).decode().removeprefix("offset:"))
            except (ValueError, binascii.Error):
                return _pagination_error("page[after] is not a valid cursor")
        chunk = rows[start : start + size]
        has_more = start + size < len(rows)
        after_cursor = base64.urlsafe_b64encode(f"offset:{start + len(chunk)}".encode()).decode() if chunk else None
        return 200, {
            key: chunk,
            "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": None},
            "links": {
                "next": f"{base}?{urlencode({'page[size]': size, 'page[after]': after_cursor})}" if has_more else None,
                "prev": None,
            },
        }

    @route("GET", P + r"/api/v2/groups(?:\.json)?")
    def groups_list(self, request: FakeRequest):
        account = self._catalog(request.account)  # type: ignore[attr-defined]
        groups = sorted(account.groups.values(), key=lambda g: g["id"])
        if (request.arg("exclude_deleted") or "").lower() == "true":
            groups = [g for g in groups if not g["deleted"]]
        return self._rows_page(request, account, "groups", [dict(g) for g in groups])

    @route("GET", P + r"/api/v2/brands(?:\.json)?")
    def brands_list(self, request: FakeRequest):
        account = self._catalog(request.account)  # type: ignore[attr-defined]
        brands = sorted((b for b in account.brands.values() if not b["is_deleted"]), key=lambda b: b["id"])
        return self._rows_page(request, account, "brands", [json.loads(json.dumps(b)) for b in brands])

    @route("GET", P + r"/api/v2/ticket_forms(?:\.json)?")
    def ticket_forms_list(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        forms = sorted(account.ticket_forms.values(), key=lambda f: (f["position"], f["id"]))
        active = (request.arg("active") or "").lower()
        if active in ("true", "false"):
            forms = [f for f in forms if f["active"] is (active == "true")]
        rows = [json.loads(json.dumps(f)) for f in forms]
        return 200, {"ticket_forms": rows, "next_page": None, "previous_page": None, "count": len(rows)}

    @route("GET", P + r"/api/v2/tags(?:\.json)?")
    def tags_list(self, request: FakeRequest):
        account: Account = request.account  # type: ignore[attr-defined]
        return self._rows_page(request, account, "tags", self._tag_counts(account))

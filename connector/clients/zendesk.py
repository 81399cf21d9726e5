"""Zendesk Support REST client for one Zendesk account (``{subdomain}.zendesk.com``).

Authentication is added in one hook: Basic ``{email}/token:{api_token}`` or OAuth ``Bearer``; with neither,
Zendesk answers anonymously (``users/me.json`` then returns a user whose ``id`` is null — callers that
validate credentials must require an id and an agent/admin role). Errors come out as the typed errors of
``base.py``; a 422 refusing an update of a closed ticket is ``TicketClosed``. The rate-limit headers of
the last answer are kept in ``self.rate_limit``.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import requests
from django.conf import settings

from .base import ApiError, ApiUnexpectedResponse, BaseClient, RecordClosed, Response

SUBDOMAIN_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
CLOSED_TICKET_MARKER = "closed prevents ticket update"
MAX_PAGE_SIZE = 100  # cursor pagination and search per_page are capped at 100
SEARCH_MAX_RESULTS = 1000  # search.json answers 422 past the 1000th result
SHOW_MANY_MAX_IDS = 100


class TicketClosed(RecordClosed):
    """422: the ticket is closed; Zendesk refuses every update and comment (there is no reopening)."""


def is_valid_subdomain(subdomain: str) -> bool:
    return bool(SUBDOMAIN_RE.fullmatch(subdomain or ""))


def zendesk_base_url(subdomain: str) -> str:
    if not is_valid_subdomain(subdomain):
        raise ValueError(f"not a Zendesk subdomain: {subdomain!r}")
    return settings.ZENDESK_URL_TEMPLATE.format(subdomain=subdomain).rstrip("/")


def _to_int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def parse_rate_limit(headers: Any) -> dict[str, Any]:
    """``X-Rate-Limit``/``X-Rate-Limit-Remaining`` (account, per minute) and the endpoint buckets
    ``zendesk-ratelimit-<name>`` / ``zendesk-rate-limit-<name>: total=100; remaining=99; resets=10``."""
    lowered = {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}
    endpoint: dict[str, dict[str, int | None]] = {}
    for key, value in lowered.items():
        for prefix in ("zendesk-ratelimit-", "zendesk-rate-limit-"):
            if key.startswith(prefix) and len(key) > len(prefix):
                parts: dict[str, int | None] = {}
                for item in value.split(";"):
                    name, _, number = item.partition("=")
                    if name.strip():
                        parts[name.strip().lower()] = _to_int(number)
                endpoint[key[len(prefix) :]] = parts
                break
    return {
        "limit": _to_int(lowered.get("x-rate-limit", lowered.get("ratelimit-limit"))),
        "remaining": _to_int(lowered.get("x-rate-limit-remaining", lowered.get("ratelimit-remaining"))),
        "endpoint": endpoint,
    }


def _detail_texts(value: Any) -> list[str]:
    """``details`` values are lists of ``{"description": ..., "error": ...}``; strings are tolerated."""
    items = value if isinstance(value, list) else [value]
    texts: list[str] = []
    for item in items:
        if isinstance(item, dict):
            text = item.get("description") or item.get("error") or item.get("type")
            if text:
                texts.append(str(text))
        elif item is not None:
            texts.append(str(item))
    return texts


class ZendeskClient(BaseClient):
    service = "Zendesk"

    ME = "/api/v2/users/me.json"
    TICKET_FIELDS = "/api/v2/ticket_fields.json"
    # Create: 201 with ``ticket`` and ``audit`` (api-facts). Listing with ``?external_id=`` answers the tickets
    # carrying that external id, read from the database rather than the search index (no indexing lag):
    # developer.zendesk.com/api-reference/ticketing/tickets/tickets/ ("List Tickets", parameter external_id).
    TICKETS = "/api/v2/tickets.json"
    # ``query`` is an email, a name or ``key:value`` of the search syntax (developer.zendesk.com/api-reference/
    # ticketing/users/users/ "Search Users"); it reads the search index, so a user made seconds ago may be
    # missing: ``users/create_or_update`` (matched by email; 201 created, 200 updated) is the duplicate-free
    # fallback.
    USERS_SEARCH = "/api/v2/users/search.json"
    USERS_CREATE_OR_UPDATE = "/api/v2/users/create_or_update.json"
    ORGANIZATIONS_SEARCH = "/api/v2/organizations/search.json"
    ORGANIZATIONS_AUTOCOMPLETE = "/api/v2/organizations/autocomplete.json"
    ORGANIZATIONS_CREATE_OR_UPDATE = "/api/v2/organizations/create_or_update.json"
    USER_FIELDS = "/api/v2/user_fields.json"
    ORGANIZATION_FIELDS = "/api/v2/organization_fields.json"
    TICKET = "/api/v2/tickets/{ticket_id}.json"
    USER = "/api/v2/users/{user_id}.json"
    USERS_SHOW_MANY = "/api/v2/users/show_many.json"
    ORGANIZATION = "/api/v2/organizations/{org_id}.json"
    ORGANIZATIONS_SHOW_MANY = "/api/v2/organizations/show_many.json"
    SEARCH = "/api/v2/search.json"
    # https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
    # Deleted tickets are in it, with ``status: "deleted"``, unless ``exclude_deleted=true`` is sent ("Excluding
    # deleted tickets", developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-
    # export-api; api-facts.md): we read them, so a poll learns that a linked ticket was deleted (and, with a
    # later row of another status, restored) at no extra call.
    INCREMENTAL_TICKETS = "/api/v2/incremental/tickets/cursor.json"
    # Time-based only; comments as child events of type Comment with include=comment_events (same 10/min).
    INCREMENTAL_TICKET_EVENTS = "/api/v2/incremental/ticket_events.json"
    TICKET_COMMENTS = "/api/v2/tickets/{ticket_id}/comments.json"
    # Raw bytes with the file's content type; answers {"upload": {"token", "attachment", …}}, seen labelled
    # text/plain. https://developer.zendesk.com/api-reference/ticketing/tickets/ticket-attachments/
    UPLOADS = "/api/v2/uploads.json"
    # What tickets are sorted by, for auto-create conditions. Groups and brands: cursor pagination; a deleted
    # group stays listed with ``deleted: true``, a deleted brand with ``is_deleted: true``
    # (developer.zendesk.com/api-reference/ticketing/groups/groups/, .../account-configuration/brands/).
    GROUPS = "/api/v2/groups.json"
    BRANDS = "/api/v2/brands.json"
    # No pagination: every form (an account has at most 300), inactive ones too unless ``active=true``
    # (developer.zendesk.com/api-reference/ticketing/tickets/ticket_forms/).
    TICKET_FORMS = "/api/v2/ticket_forms.json"
    # Up to 20,000 tags used in the last 60 days, most popular first, ``{"name", "count"}``; cursor pagination,
    # its own rate-limit bucket (developer.zendesk.com/api-reference/ticketing/ticket-management/tags/).
    TAGS = "/api/v2/tags.json"
    # OAuth authorization-code grant: https://developer.zendesk.com/api-reference/ticketing/oauth/grant_type_tokens/
    # and https://support.zendesk.com/hc/en-us/articles/4408845965210 (authorization page, redirect_uri).
    OAUTH_AUTHORIZE = "/oauth/authorizations/new"
    OAUTH_TOKENS = "/oauth/tokens"

    def __init__(
        self,
        *,
        subdomain: str,
        email: str | None = None,
        api_token: str | None = None,
        oauth_token: str | None = None,
        session: requests.Session | None = None,
    ):
        super().__init__(session=session)
        self.subdomain = subdomain
        self._base_url = zendesk_base_url(subdomain)
        self.email = email
        self.api_token = api_token
        self.oauth_token = oauth_token
        self.rate_limit: dict[str, Any] = {"limit": None, "remaining": None, "endpoint": {}}

    # hooks ------------------------------------------------------------------------------------------
    def base_url(self) -> str:
        return self._base_url

    def authenticate(self, method: str, path: str, query: str, headers: dict[str, str]) -> None:
        if path == self.OAUTH_TOKENS:
            return  # the token exchange authenticates with the client id/secret in the body
        if self.oauth_token:
            headers["Authorization"] = f"Bearer {self.oauth_token}"
        elif self.email and self.api_token:
            raw = f"{self.email}/token:{self.api_token}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")

    def _handle(self, raw: requests.Response, *, expect_json: bool) -> Response:
        self.rate_limit = parse_rate_limit(raw.headers)
        return super()._handle(raw, expect_json=expect_json)

    def error_message(self, status: int, data: Any, text: str) -> str:
        detail = self._detail(data, text)
        return f"Zendesk answered HTTP {status}" + (f": {detail}" if detail else "")

    @staticmethod
    def _detail(data: Any, text: str) -> str:
        if not isinstance(data, dict):
            plain = (text or "").strip()
            looks_like_html = plain[:1] == "<"
            return plain[:200] if plain and not looks_like_html else ""
        error, parts = data.get("error"), []
        if isinstance(error, dict):  # {"error": {"title": ..., "message": ...}}
            parts.append(": ".join(str(error[k]) for k in ("title", "message") if error.get(k)))
        elif data.get("description") or data.get("error_description"):
            parts.append(str(data.get("description") or data.get("error_description")))
        elif error:
            parts.append(str(error))
        for item in data.get("errors") or []:  # {"errors": [{"code", "title", "detail"}]}
            if isinstance(item, dict):
                parts.append(str(item.get("detail") or item.get("title") or item.get("code") or ""))
        details = data.get("details")
        if isinstance(details, dict) and details:
            texts = [f"{field}: {t}" for field, value in details.items() for t in _detail_texts(value)]
            if texts:
                parts.append("(" + "; ".join(texts) + ")")
        return " ".join(p for p in parts if p)

    def classify(self, status: int, data: Any) -> type[ApiError] | None:
        if status == 422 and isinstance(data, dict) and isinstance(data.get("details"), dict):
            for field in ("status", "base"):
                for text in _detail_texts(data["details"].get(field)):
                    if CLOSED_TICKET_MARKER in text.lower():
                        return TicketClosed
        return None

    # pagination -------------------------------------------------------------------------------------
    def paginate(
        self, path: str, key: str, params: dict[str, Any] | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Yield every item of a cursor-paginated list (``page[size]``/``page[after]``, ``meta``).

        Stops when ``meta.has_more`` is false, and also — rather than looping forever — when the server
        claims more but sends no cursor or repeats one."""
        query = {**(params or {}), "page[size]": max(1, min(int(page_size), MAX_PAGE_SIZE))}
        seen: set[str] = set()
        while True:
            data = self._json("GET", path, key, params=query)
            yield from data[key] or []
            meta = data.get("meta") or {}
            cursor = meta.get("after_cursor")
            if not meta.get("has_more") or not cursor or cursor in seen:
                return
            seen.add(cursor)
            query["page[after]"] = cursor

    def _offset_pages(self, path: str, key: str, params: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        """Offset pagination (``page``/``per_page``) for endpoints without cursors (search), up to limit."""
        limit = max(0, min(limit, SEARCH_MAX_RESULTS))
        per_page = max(1, min(limit, MAX_PAGE_SIZE))
        results: list[dict[str, Any]] = []
        page = 1
        while len(results) < limit and page * per_page <= SEARCH_MAX_RESULTS:
            data = self._json("GET", path, key, params={**params, "page": page, "per_page": per_page})
            items = data[key] or []
            results.extend(items)
            if not items or not data.get("next_page"):
                break
            page += 1
        return results[:limit]

    def _show_many(self, path: str, key: str, ids: Iterable[int | str]) -> list[dict[str, Any]]:
        unique = list(dict.fromkeys(str(i) for i in ids))
        chunks = [unique[i : i + SHOW_MANY_MAX_IDS] for i in range(0, len(unique), SHOW_MANY_MAX_IDS)]
        return [item for chunk in chunks for item in self._get(path, key, {"ids": ",".join(chunk)})]

    def _json(self, method: str, path: str, key: str, **kwargs: Any) -> dict[str, Any]:
        """A JSON object answer holding ``key``; anything else is an ``ApiUnexpectedResponse``."""
        response = self.request(method, path, **kwargs)
        if not isinstance(response.data, dict) or key not in response.data:
            raise ApiUnexpectedResponse(
                f"Zendesk answered HTTP {response.status} without {key!r}",
                status=response.status,
                body=response.data if response.data is not None else response.content[:500],
                service=self.service,
            )
        return response.data

    def _call(self, method: str, path: str, key: str, **kwargs: Any) -> Any:
        return self._json(method, path, key, **kwargs)[key]

    def _get(self, path: str, key: str, params: dict[str, Any] | None = None) -> Any:
        return self._call("GET", path, key, params=params)

    # endpoints --------------------------------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        return self._get(self.ME, "user")

    def ticket_fields(self) -> list[dict[str, Any]]:
        return list(self.paginate(self.TICKET_FIELDS, "ticket_fields"))

    def user_fields(self) -> list[dict[str, Any]]:
        return list(self.paginate(self.USER_FIELDS, "user_fields"))

    def organization_fields(self) -> list[dict[str, Any]]:
        return list(self.paginate(self.ORGANIZATION_FIELDS, "organization_fields"))

    def groups(self) -> list[dict[str, Any]]:
        return list(self.paginate(self.GROUPS, "groups"))

    def brands(self) -> list[dict[str, Any]]:
        return list(self.paginate(self.BRANDS, "brands"))

    def ticket_forms(self) -> list[dict[str, Any]]:
        return list(self._get(self.TICKET_FORMS, "ticket_forms") or [])

    def tags(self, *, limit: int = 200) -> list[dict[str, Any]]:
        """The account's most popular tags (of the last 60 days), at most ``limit`` (read a page at a time)."""
        return list(itertools.islice(self.paginate(self.TAGS, "tags", page_size=min(limit, MAX_PAGE_SIZE)), limit))

    def ticket_get(self, ticket_id: int | str) -> dict[str, Any]:
        return self._get(self.TICKET.format(ticket_id=int(ticket_id)), "ticket")

    def ticket_create(self, ticket: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", self.TICKETS, "ticket", json_body={"ticket": ticket})

    def tickets_by_external_id(self, external_id: str) -> list[dict[str, Any]]:
        return list(self._get(self.TICKETS, "tickets", {"external_id": external_id}) or [])

    def users_search(self, query: str) -> list[dict[str, Any]]:
        return list(self._get(self.USERS_SEARCH, "users", {"query": query}) or [])

    def user_create_or_update(self, user: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", self.USERS_CREATE_OR_UPDATE, "user", json_body={"user": user})

    def organizations_search(self, *, name: str = "", external_id: str = "") -> list[dict[str, Any]]:
        """Organizations with exactly this name or external id (case-insensitive; one of the two)."""
        params = {"name": name} if name else {"external_id": external_id}
        return list(self._get(self.ORGANIZATIONS_SEARCH, "organizations", params) or [])

    def organizations_autocomplete(self, name: str) -> list[dict[str, Any]]:
        """Organizations whose name starts with ``name`` (at least 2 characters; the first page: 100)
        (https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#autocomplete-organizations)."""
        return list(self._get(self.ORGANIZATIONS_AUTOCOMPLETE, "organizations", {"name": name}) or [])

    def organization_create_or_update(self, organization: dict[str, Any]) -> dict[str, Any]:
        body = {"organization": organization}
        return self._call("POST", self.ORGANIZATIONS_CREATE_OR_UPDATE, "organization", json_body=body)

    def ticket_update(self, ticket_id: int | str, ticket: dict[str, Any]) -> dict[str, Any]:
        path = self.TICKET.format(ticket_id=int(ticket_id))
        return self._call("PUT", path, "ticket", json_body={"ticket": ticket})

    def ticket_write(self, ticket_id: int | str, ticket: dict[str, Any]) -> dict[str, Any]:
        """``PUT`` a ticket update and return the whole answer: ``ticket`` and ``audit`` (whose Comment event
        holds the id of a comment the update added)."""
        return self._json("PUT", self.TICKET.format(ticket_id=int(ticket_id)), "ticket", json_body={"ticket": ticket})

    def upload(self, *, filename: str, content_type: str, fileobj, size: int) -> str:
        """Upload a file (streamed from ``fileobj``, never read whole) and return its token."""
        headers = {"Content-Type": content_type or "application/octet-stream", "Content-Length": str(size)}
        response = self.request("POST", self.UPLOADS, params={"filename": filename}, data=fileobj, headers=headers)
        data = response.data
        if not isinstance(data, dict):  # answered as text/plain: parse it anyway
            try:
                data = json.loads(response.content or b"null")
            except ValueError:
                data = None
        token = ((data or {}).get("upload") or {}).get("token") if isinstance(data, dict) else None
        if not token:
            raise ApiUnexpectedResponse(
                "Zendesk answered an upload without a token", status=response.status, service=self.service
            )
        return str(token)

    def ticket_comments_recent(self, ticket_id: int | str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The ticket's newest comments first (one page of up to ``limit``)."""
        path = self.TICKET_COMMENTS.format(ticket_id=int(ticket_id))
        params = {"sort_order": "desc", "page[size]": max(1, min(limit, MAX_PAGE_SIZE))}
        return list(self._get(path, "comments", params))

    def user_get(self, user_id: int | str) -> dict[str, Any]:
        return self._get(self.USER.format(user_id=int(user_id)), "user")

    def organization_get(self, org_id: int | str) -> dict[str, Any]:
        return self._get(self.ORGANIZATION.format(org_id=int(org_id)), "organization")

    def users_show_many(self, ids: Iterable[int | str]) -> list[dict[str, Any]]:
        return self._show_many(self.USERS_SHOW_MANY, "users", ids)

    def organizations_show_many(self, ids: Iterable[int | str]) -> list[dict[str, Any]]:
        return self._show_many(self.ORGANIZATIONS_SHOW_MANY, "organizations", ids)

    def search(self, query: str, *, limit: int = 25) -> list[dict[str, Any]]:
        return self._offset_pages(self.SEARCH, "results", {"query": query}, limit)

    def incremental_tickets(
        self, *, cursor: str | None = None, start_time: int | None = None, per_page: int = 1000
    ) -> dict[str, Any]:
        """One page of the cursor-based incremental ticket export: ``tickets`` (deleted ones included, with
        ``status: "deleted"``), ``after_cursor`` (None on an empty first answer), ``end_of_stream``. ``cursor``
        when there is one, else ``start_time``."""
        params: dict[str, Any] = {"per_page": per_page}
        params.update({"cursor": cursor} if cursor else {"start_time": int(start_time or 0)})
        data = self.request("GET", self.INCREMENTAL_TICKETS, params=params).data or {}
        return {
            "tickets": data.get("tickets") or [],
            "after_cursor": data.get("after_cursor"),
            "end_of_stream": bool(data.get("end_of_stream", True)),
        }

    def incremental_ticket_events(self, *, start_time: int, per_page: int = 1000) -> dict[str, Any]:
        """One page of the time-based ticket event export with comment events: ``ticket_events``,
        ``end_time`` (where the next page starts; it repeats rows at that second), ``end_of_stream``."""
        params = {"start_time": int(start_time), "include": "comment_events", "per_page": per_page}
        data = self.request("GET", self.INCREMENTAL_TICKET_EVENTS, params=params).data or {}
        return {
            "ticket_events": data.get("ticket_events") or [],
            "end_time": data.get("end_time"),
            "end_of_stream": bool(data.get("end_of_stream", True)),
        }

    def ticket_comments(self, ticket_id: int | str) -> list[dict[str, Any]]:
        return list(self.paginate(self.TICKET_COMMENTS.format(ticket_id=int(ticket_id)), "comments", page_size=100))

    # OAuth ------------------------------------------------------------------------------------------
    def _token_request(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.request("POST", self.OAUTH_TOKENS, json_body=body)
        if not isinstance(response.data, dict) or not response.data.get("access_token"):
            raise ApiUnexpectedResponse(
                "Zendesk answered the token request without an access token",
                status=response.status,
                service=self.service,
            )
        return response.data

    @classmethod
    def authorize_url(
        cls, subdomain: str, client_id: str, redirect_uri: str, state: str, scope: str = "read write"
    ) -> str:
        """Where to send the admin's browser to grant access (``/oauth/authorizations/new``)."""
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
        }
        return f"{zendesk_base_url(subdomain)}{cls.OAUTH_AUTHORIZE}?{urlencode(query, quote_via=quote)}"

    def oauth_exchange_code(
        self, *, code: str, client_id: str, client_secret: str, redirect_uri: str, scope: str | None = None
    ) -> dict[str, Any]:
        """``{"access_token", "token_type": "bearer", "scope", ...}`` (newer accounts also send
        ``refresh_token``/``expires_in``). Codes are valid for 120 s and single-use."""
        body = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            **({"scope": scope} if scope else {}),
        }
        return self._token_request(body)

    def oauth_refresh(self, *, refresh_token: str, client_id: str, client_secret: str) -> dict[str, Any]:
        """Refresh tokens rotate: the answer carries a new ``refresh_token``; the old one is consumed."""
        body = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        return self._token_request(body)

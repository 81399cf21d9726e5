"""Zoho Desk REST client for one organization of one data center.

Zoho runs separate data centers, each with its own accounts server (OAuth) and Desk API host; a token from
one is unknown to the others. The token answer's ``api_domain`` (``www.zohoapis.*``) is not the Desk host,
so the hosts come from our own table (``DATA_CENTERS``). Tests point both at a local fake with
``ZOHO_ACCOUNTS_URL_OVERRIDE`` / ``ZOHO_DESK_URL_OVERRIDE`` (``{dc}`` in them is replaced by the key).

Every Desk call carries ``Authorization: Zoho-oauthtoken <access token>`` and ``orgId`` (except
``/organizations``). Ids and counts come back as strings; an empty list may be 204 with no body; lists page
with ``from``/``limit`` (``limit`` ≤ 100). Errors are ``{"errorCode", "message"}`` and come out as the typed
errors of ``base.py`` (Zoho's codes in ``ZOHO_ERRORS``). A refused access token (``INVALID_OAUTH``) is
renewed once through ``token_source`` and the call repeated; a second refusal is ``ApiUnauthorized``.
Sources: https://desk.zoho.com/DeskAPIDocument (Authentication, Errors, OAuth Scopes) and
https://www.zoho.com/accounts/protocol/oauth/self-client/overview.html (Self Client).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings

from .base import (
    ApiBadRequest,
    ApiError,
    ApiForbidden,
    ApiRateLimited,
    ApiServerError,
    ApiUnauthorized,
    ApiUnexpectedResponse,
    BaseClient,
    Response,
)


@dataclass(frozen=True)
class DataCenter:
    key: str
    label: str
    accounts_host: str
    desk_host: str


# The hosts of each Zoho data center. Sources: Zoho's "Multi-DC support" page
# (https://www.zoho.com/accounts/protocol/oauth/multi-dc.html) and Desk's API document; ca is zohocloud.ca,
# not zoho.ca. The uk Desk host is the one clients use (Zoho has not documented it).
DATA_CENTERS: dict[str, DataCenter] = {
    dc.key: dc
    for dc in (
        DataCenter("us", "United States (zoho.com)", "accounts.zoho.com", "desk.zoho.com"),
        DataCenter("eu", "Europe (zoho.eu)", "accounts.zoho.eu", "desk.zoho.eu"),
        DataCenter("in", "India (zoho.in)", "accounts.zoho.in", "desk.zoho.in"),
        DataCenter("au", "Australia (zoho.com.au)", "accounts.zoho.com.au", "desk.zoho.com.au"),
        DataCenter("jp", "Japan (zoho.jp)", "accounts.zoho.jp", "desk.zoho.jp"),
        DataCenter("cn", "China (zoho.com.cn)", "accounts.zoho.com.cn", "desk.zoho.com.cn"),
        DataCenter("uk", "United Kingdom (zoho.uk)", "accounts.zoho.uk", "desk.zoho.uk"),
        DataCenter("ca", "Canada (zohocloud.ca)", "accounts.zohocloud.ca", "desk.zohocloud.ca"),
        DataCenter("sa", "Saudi Arabia (zoho.sa)", "accounts.zoho.sa", "desk.zoho.sa"),
    )
}

# The scopes a Self Client must be generated with (the admin page shows this string for copying). The CREATE
# scopes are those of creating records from Jira: POST /tickets needs Desk.tickets.CREATE, /contacts and
# /accounts Desk.contacts.CREATE, /tasks /calls /events their own (DeskAPIDocument "Create a ticket", "Create
# contact", "Create Account", "Create task", "Create call", "Create event", as mirrored at
# developers.qodex.ai/zoho-desk/zoho-desk-api).
REQUIRED_SCOPES = (
    "Desk.search.READ,Desk.tickets.CREATE,Desk.tickets.READ,Desk.tickets.UPDATE,Desk.contacts.CREATE,"
    "Desk.contacts.READ,Desk.contacts.UPDATE,Desk.tasks.CREATE,Desk.tasks.READ,Desk.tasks.UPDATE,"
    "Desk.basic.READ,Desk.settings.READ,Desk.settings.UPDATE,Desk.events.CREATE,Desk.events.READ,"
    "Desk.events.UPDATE,Desk.articles.READ,Desk.articles.UPDATE,Desk.calls.CREATE,Desk.calls.READ,"
    "Desk.calls.UPDATE,Desk.settings.ALL"
)

MAX_LIMIT = 100  # list and search pages
MAX_FROM = 999  # search stops here: page by narrowing the time range instead
COMMENT_MAX_CHARS = 32000
ACCESS_TOKEN_SECONDS = 3600


def accounts_url(dc: str) -> str:
    override = settings.ZOHO_ACCOUNTS_URL_OVERRIDE
    if override:
        return override.format(dc=dc).rstrip("/")
    return f"https://{DATA_CENTERS[dc].accounts_host}"


def desk_url(dc: str) -> str:
    override = settings.ZOHO_DESK_URL_OVERRIDE
    if override:
        return override.format(dc=dc).rstrip("/")
    return f"https://{DATA_CENTERS[dc].desk_host}"


def zoho_time(epoch_ms: int) -> str:
    """``yyyy-MM-ddTHH:mm:ss.SSSZ`` (UTC), the form Zoho's time ranges take and its records carry."""
    stamp = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def zoho_epoch_ms(value: Any) -> int | None:
    """A Zoho time (``2026-11-22T10:00:00.000Z``, or with an offset) in epoch milliseconds."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


# --- typed errors -----------------------------------------------------------------------------------------
class ZohoScopeMismatch(ApiForbidden):
    """``SCOPE_MISMATCH``: the Self Client's code was generated without a scope this call needs."""


class ZohoOrgMismatch(ApiForbidden):
    """``OAUTH_ORG_MISMATCH``: the organization is not one the token's user belongs to."""


class ZohoLicenseLimited(ApiForbidden):
    """``LICENSE_ACCESS_LIMITED``: the organization's edition does not include this feature."""


class ZohoCreditsExhausted(ApiRateLimited):
    """``THRESHOLD_EXCEEDED``: the organization's daily API credits are spent (they renew the next day)."""


class ZohoOAuthError(ApiBadRequest):
    """The accounts server refused a token request; ``code`` is its ``error`` (``invalid_code``, …)."""

    def __init__(self, message: str, *, code: str, **kwargs):
        super().__init__(message, **kwargs)
        self.code = code


class ZohoTokenLimit(ApiRateLimited):
    """The accounts server refused a refresh because too many access tokens were made recently (Zoho allows
    10 per refresh token per 10 minutes): keep using the current token; renew later."""


def _seconds_to_utc_midnight() -> int:
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(60, int((tomorrow - now).total_seconds()))


def _error_words(data: Any) -> str:
    """Zoho's message and each refused field: ``fieldName`` is a JSON pointer (``/departmentId``,
    ``/cf/cf_tier``), said as the field's API name; ``errorType`` missing | duplicate | invalid."""
    if not isinstance(data, dict):
        return ""
    words = str(data.get("message") or "")
    details = []
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            field = str(error.get("fieldName") or error.get("field") or "").rsplit("/", 1)[-1]
            text = str(error.get("errorMessage") or "")
            if not text:
                kind = str(error.get("errorType") or "")
                text = {"missing": "is missing", "duplicate": "already exists"}.get(kind, "is invalid")
                details.append(f"{field} {text}" if field else text)
            else:
                details.append(f"{field}: {text}" if field else text)
    if details:
        words = f"{words} ({'; '.join(details)})" if words else "; ".join(details)
    return words


class ZohoDeskClient(BaseClient):
    service = "Zoho Desk"

    ORGANIZATIONS = "/api/v1/organizations"
    MYINFO = "/api/v1/myinfo"
    ORGANIZATION_FIELDS = "/api/v1/organizationFields"
    RECORD = "/api/v1/{module}/{record_id}"
    RECORDS = "/api/v1/{module}"
    SEARCH = "/api/v1/{module}/search"
    COMMENTS = "/api/v1/{module}/{record_id}/comments"
    THREADS = "/api/v1/tickets/{ticket_id}/threads"
    THREAD = "/api/v1/tickets/{ticket_id}/threads/{thread_id}"
    TICKET_ATTACHMENTS = "/api/v1/tickets/{ticket_id}/attachments"
    TIME_ENTRIES = "/api/v1/tickets/{ticket_id}/timeEntry"
    TIME_ENTRY = "/api/v1/tickets/{ticket_id}/timeEntry/{entry_id}"
    UPLOADS = "/api/v1/uploads"
    AGENT = "/api/v1/agents/{agent_id}"
    AGENTS = "/api/v1/agents"
    # from/limit pages (limit up to 200; an empty page is 204), Desk.basic.READ
    # (desk.zoho.com/DeskAPIDocument#Departments#Departments_Listalldepartments)
    DEPARTMENTS = "/api/v1/departments"
    AGENT_TIME_ENTRIES = "/api/v1/agents/{agent_id}/timeEntry"
    # The recycle bin: records of every module deleted in the last 60 days, ``{"data": [{id, type ("Tickets",
    # "Time Entry", …), displayName, deletedTime, deletedById, departmentId}]}``, from/limit pages, Desk.settings.READ
    # (desk.zoho.com/DeskAPIDocument "Recycle Bin" > "List deleted resources", as mirrored at developers.qodex.ai/
    # zoho-desk/zoho-desk-api/recycle-bin/list-deleted-resources: ``sortBy`` deletedTime, ``-`` for newest first;
    # Zoho's OpenAPI file Recyclebin.json, as kept at github.com/api-evangelist/zoho, caps ``limit`` at 50 though
    # its text says 100, and names no ``sortBy``: we send 50). help.zoho.com "Using the Recycle Bin": records stay
    # there 60 days, then are deleted for good.
    RECYCLE_BIN = "/api/v1/recycleBin"
    RECYCLE_BIN_LIMIT = 50
    LIST = "/api/v1/{module}"
    TOKEN = "/oauth/v2/token"

    def __init__(
        self,
        *,
        dc: str,
        org_id: str | None = None,
        access_token: str | None = None,
        token_source: Callable[[str], str] | None = None,
        session: requests.Session | None = None,
    ):
        if dc not in DATA_CENTERS:
            raise ValueError(f"not a Zoho data center: {dc!r}")
        super().__init__(session=session)
        self.dc = dc
        self.org_id = str(org_id) if org_id else None
        self.access_token = access_token or ""
        # Called with the token a call was refused with; returns a renewed one (shared by every worker).
        self.token_source = token_source
        self.credits = 0  # Desk API credits spent through this client (see ``_cost``)

    def base_url(self) -> str:
        return desk_url(self.dc)

    def authenticate(self, method: str, path: str, query: str, headers: dict[str, str]) -> None:
        if self.access_token:
            headers["Authorization"] = f"Zoho-oauthtoken {self.access_token}"
        if self.org_id and path != self.ORGANIZATIONS:
            headers["orgId"] = self.org_id

    def error_message(self, status: int, data: Any, text: str) -> str:
        code = data.get("errorCode") if isinstance(data, dict) else None
        words = _error_words(data)
        if code:
            return f"Zoho Desk answered {code}" + (f": {words}" if words else "")
        return f"Zoho Desk answered HTTP {status}" + (f": {words}" if words else "")

    def classify(self, status: int, data: Any) -> type[ApiError] | None:
        code = data.get("errorCode") if isinstance(data, dict) else None
        return {
            "INVALID_OAUTH": ApiUnauthorized,
            "SCOPE_MISMATCH": ZohoScopeMismatch,
            "OAUTH_ORG_MISMATCH": ZohoOrgMismatch,
            "LICENSE_ACCESS_LIMITED": ZohoLicenseLimited,
            "UNPROCESSABLE_ENTITY": ApiBadRequest,
            "INVALID_DATA": ApiBadRequest,
        }.get(code or "")

    def request(self, method: str, path: str, **kwargs) -> Response:
        """One Desk call; an ``INVALID_OAUTH`` refusal renews the token once and repeats the call."""
        try:
            return self._request_once(method, path, **kwargs)
        except ApiUnauthorized:
            if self.token_source is None:
                raise
            refused = self.access_token
            self.access_token = self.token_source(refused)
            if not self.access_token or self.access_token == refused:
                raise
            return self._request_once(method, path, **kwargs)

    # Lists answered whole (no ``from``/``limit``) are range fetches all the same.
    RANGE_PATHS = frozenset({ORGANIZATIONS, ORGANIZATION_FIELDS})

    def _cost(self, path: str, params: Any) -> int:
        """Credits of one Desk call: 1, or 3 for a range fetch (a list, search, comments or fields page)
        starting within the first 2,000, 5 past it (Zoho Desk API document, "Credit Consumption Model")."""
        keys = {k for k, _ in params} if isinstance(params, list) else set(params or {})
        if not keys & {"from", "limit"}:
            return 3 if path in self.RANGE_PATHS else 1
        start = dict(params).get("from", 0) if not isinstance(params, list) else 0
        return 3 if int(start or 0) <= 2000 else 5

    def _request_once(self, method: str, path: str, **kwargs) -> Response:
        cost = self._cost(path, kwargs.get("params"))
        try:
            response = super().request(method, path, **kwargs)
        except ApiRateLimited as exc:
            code = exc.body.get("errorCode") if isinstance(exc.body, dict) else None
            if code == "THRESHOLD_EXCEEDED":
                raise ZohoCreditsExhausted(
                    "Zoho Desk's daily API credits of this organization are spent (THRESHOLD_EXCEEDED); they "
                    "renew tomorrow",
                    retry_after=_seconds_to_utc_midnight(),
                    status=exc.status,
                    body=exc.body,
                    service=self.service,
                ) from None
            if exc.retry_after is None:
                exc.retry_after = 10  # TOO_MANY_REQUESTS: too many calls in flight; a moment later is enough
            raise  # a refused call is not billed
        except ApiError as exc:
            if exc.status is not None:
                self.credits += cost  # answered (even with an error): billed
            raise
        self.credits += cost
        return response

    def download(self, url: str, sink, *, max_bytes: int, allowed_hosts: list[str]) -> int:
        """Attachment downloads from the Desk host cost a credit each, like any call."""
        before = self.calls
        try:
            return super().download(url, sink, max_bytes=max_bytes, allowed_hosts=allowed_hosts)
        finally:
            self.credits += self.calls - before

    # --- lists ----------------------------------------------------------------------------------------
    def _data(self, response: Response) -> list[dict[str, Any]]:
        if response.status == 204 or response.data is None:
            return []  # an empty list is 204 with no body
        if isinstance(response.data, dict) and isinstance(response.data.get("data"), list):
            return response.data["data"]
        raise ApiUnexpectedResponse("Zoho Desk returned a list in an unknown shape", service=self.service)

    def _pages(self, path: str, params: dict[str, Any] | None = None, *, limit: int = MAX_LIMIT) -> Iterator[dict]:
        start = 0
        while True:
            rows = self._data(self.request("GET", path, params={**(params or {}), "from": start, "limit": limit}))
            yield from rows
            if len(rows) < limit:
                return
            start += len(rows)

    # --- organization and identity ----------------------------------------------------------------------
    def organizations(self) -> list[dict[str, Any]]:
        return self._data(self.request("GET", self.ORGANIZATIONS))

    def myinfo(self) -> dict[str, Any]:
        return self.request("GET", self.MYINFO).data or {}

    def organization_fields(self, module: str) -> list[dict[str, Any]]:
        return self._data(self.request("GET", self.ORGANIZATION_FIELDS, params={"module": module}))

    def time_entries(self, ticket_id: str) -> list[dict[str, Any]]:
        return list(self._pages(self.TIME_ENTRIES.format(ticket_id=ticket_id)))

    def time_entry_get(self, ticket_id: str, entry_id: str) -> dict[str, Any]:
        return self.request("GET", self.TIME_ENTRY.format(ticket_id=ticket_id, entry_id=entry_id)).data or {}

    def time_entry_update(self, ticket_id: str, entry_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path = self.TIME_ENTRY.format(ticket_id=ticket_id, entry_id=entry_id)
        return self.request("PATCH", path, json_body=body).data or {}

    def agents(self) -> list[dict[str, Any]]:
        return list(self._pages(self.AGENTS))

    def departments(self) -> list[dict[str, Any]]:
        return list(self._pages(self.DEPARTMENTS))

    def agent_time_entries(self, agent_id: str, since_ms: int, until_ms: int, *, start: int = 0) -> list[dict]:
        """One page of an agent's ticket time entries modified in ``[since, until]`` (ordered by
        ``executedTime``: Zoho offers no order by modified time here)."""
        params = {
            "module": "tickets",
            "modifiedTimeRange": f"{zoho_time(since_ms)},{zoho_time(until_ms)}",
            "from": start,
            "limit": MAX_LIMIT,
        }
        path = self.AGENT_TIME_ENTRIES.format(agent_id=agent_id)
        return self._data(self.request("GET", path, params=params))

    def recently_modified(self, module: str, *, start: int = 0, limit: int = MAX_LIMIT) -> list[dict[str, Any]]:
        """One page of a module's list, last modified first (``sortBy=-modifiedTime``; contracts)."""
        params = {"sortBy": "-modifiedTime", "from": start, "limit": limit}
        return self._data(self.request("GET", self.LIST.format(module=module), params=params))

    def recently_created(self, module: str, *, limit: int = MAX_LIMIT) -> list[dict[str, Any]]:
        """The first page of a module's list, newest first (``sortBy=-createdTime``): read from the records
        themselves, not the search index, so it shows a record made a moment ago."""
        params = {"sortBy": "-createdTime", "from": 0, "limit": limit}
        return self._data(self.request("GET", self.LIST.format(module=module), params=params))

    def recycle_bin(self, *, start: int = 0) -> list[dict[str, Any]]:
        """One page of the recycle bin, the most recently deleted first (every module)."""
        params = {"sortBy": "-deletedTime", "from": start, "limit": self.RECYCLE_BIN_LIMIT}
        return self._data(self.request("GET", self.RECYCLE_BIN, params=params))

    # --- records ----------------------------------------------------------------------------------------
    def record_get(self, module: str, record_id: str) -> dict[str, Any]:
        return self.request("GET", self.RECORD.format(module=module, record_id=record_id)).data or {}

    def record_create(self, module: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", self.RECORDS.format(module=module), json_body=body).data or {}

    def record_update(self, module: str, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", self.RECORD.format(module=module, record_id=record_id), json_body=body).data or {}

    def search(self, module: str, params: dict[str, Any], *, start: int = 0, limit: int = MAX_LIMIT) -> list[dict]:
        query = {**params, "from": start, "limit": min(limit, MAX_LIMIT)}
        return self._data(self.request("GET", self.SEARCH.format(module=module), params=query))

    def modified_since(self, module: str, since_ms: int, until_ms: int, *, start: int = 0) -> list[dict[str, Any]]:
        """Records modified in ``[since, until]``, oldest first (one page of ≤ 100)."""
        params = {"modifiedTimeRange": f"{zoho_time(since_ms)},{zoho_time(until_ms)}", "sortBy": "modifiedTime"}
        return self.search(module, params, start=start)

    # --- comments, threads, files -----------------------------------------------------------------------
    def comments(self, module: str, record_id: str) -> list[dict[str, Any]]:
        path = self.COMMENTS.format(module=module, record_id=record_id)
        return list(self._pages(path, {"sortBy": "commentedTime"}))

    def comments_recent(self, module: str, record_id: str, *, limit: int = MAX_LIMIT) -> list[dict[str, Any]]:
        path = self.COMMENTS.format(module=module, record_id=record_id)
        params = {"sortBy": "-commentedTime", "from": 0, "limit": min(limit, MAX_LIMIT)}
        return self._data(self.request("GET", path, params=params))

    def comment_add(self, module: str, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path = self.COMMENTS.format(module=module, record_id=record_id)
        return self.request("POST", path, json_body=body).data or {}

    def threads(self, ticket_id: str) -> list[dict[str, Any]]:
        return list(self._pages(self.THREADS.format(ticket_id=ticket_id)))

    def thread(self, ticket_id: str, thread_id: str) -> dict[str, Any]:
        return self.request("GET", self.THREAD.format(ticket_id=ticket_id, thread_id=thread_id)).data or {}

    def ticket_attachments(self, ticket_id: str) -> list[dict[str, Any]]:
        return list(self._pages(self.TICKET_ATTACHMENTS.format(ticket_id=ticket_id)))

    def upload(self, *, filename: str, content_type: str, fileobj, size: int) -> dict[str, Any]:
        """``POST /uploads`` (multipart part ``file``): the upload's id goes into a comment's
        ``attachmentIds``."""
        files = {"file": (filename, fileobj, content_type or "application/octet-stream")}
        return self.request("POST", self.UPLOADS, files=files).data or {}

    def agent_get(self, agent_id: str) -> dict[str, Any]:
        return self.request("GET", self.AGENT.format(agent_id=agent_id)).data or {}

    # --- OAuth (accounts server) -----------------------------------------------------------------------------
    def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        """``POST {accounts}/oauth/v2/token``: Zoho answers most refusals with HTTP 200 and ``{"error": …}``."""
        url = accounts_url(self.dc) + self.TOKEN
        self.calls += 1
        raw = self.send(
            lambda: self.session.post(url, data=form, timeout=self.timeout(), allow_redirects=False),
            who=f"Zoho accounts ({self.dc})",
        )
        try:
            data = raw.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if raw.status_code >= 500:
                raise ApiServerError(f"Zoho accounts answered HTTP {raw.status_code}", service=self.service)
            raise ApiUnexpectedResponse(
                f"Zoho accounts answered HTTP {raw.status_code} without JSON",
                status=raw.status_code,
                service=self.service,
            )
        error = data.get("error")
        if error or not data.get("access_token"):
            code = str(error or "no_access_token")
            words = str(data.get("error_description") or code)
            if code.lower() == "access denied" or "too many requests" in words.lower():
                raise ZohoTokenLimit(
                    f"Zoho accounts refused to issue another access token now ({words})",
                    retry_after=60,
                    status=raw.status_code,
                    body=data,
                    service=self.service,
                )
            raise ZohoOAuthError(
                f"Zoho accounts refused the request ({code})",
                code=code,
                status=raw.status_code,
                body=data,
                service=self.service,
            )
        return data

    def oauth_exchange(self, *, client_id: str, client_secret: str, code: str) -> dict[str, Any]:
        return self._token_request(
            {
                "grant_type": "authorization_code",
                "client_id": client_id,
                "client_secret": client_secret,
                "code": code,
            }
        )

    def oauth_refresh(self, *, client_id: str, client_secret: str, refresh_token: str) -> dict[str, Any]:
        return self._token_request(
            {
                "grant_type": "refresh_token",
                "client_id": client_id,
                "client_secret": client_secret,
                "refresh_token": refresh_token,
            }
        )


def token_expiry(answer: dict[str, Any]) -> int:
    """Epoch seconds at which an access token of this answer expires."""
    try:
        seconds = int(answer.get("expires_in") or ACCESS_TOKEN_SECONDS)
    except (TypeError, ValueError):
        seconds = ACCESS_TOKEN_SECONDS
    return int(time.time()) + seconds

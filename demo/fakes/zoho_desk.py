"""A stateful fake Zoho Desk (and its Zoho Accounts OAuth server), served on loopback for every data center.

One ``FakeZohoDesk`` serves all data centers by path prefix: the accounts server of data center ``dc`` is
``{fake.url}/accounts/{dc}`` and its Desk API ``{fake.url}/desk/{dc}`` (``fake.accounts_url_template`` /
``fake.desk_url_template`` carry a ``{dc}`` placeholder for the settings ``ZOHO_ACCOUNTS_URL_OVERRIDE`` /
``ZOHO_DESK_URL_OVERRIDE``). Data centers: ``us eu in au jp cn uk ca sa``. Each organization (portal) keeps
agents, departments, records of every module (tickets, contacts, accounts, tasks, calls, events, products,
contracts, and ``timeEntry`` under tickets), custom fields, comments, threads, attachments, uploads and a daily
API-credit counter; ``fake.events`` logs every write (by the API or by ``user_update``/``add_*``).

Quirks of the real service it carries (sources in brackets; "secondary" marks a third-party write-up of the
official docs, not the docs themselves; ``api-facts`` is ``shared/docs/api-facts.md``):

Zoho Accounts (``POST /accounts/{dc}/oauth/v2/token``, form or query parameters)
- Errors answer **HTTP 200** with ``{"error": "invalid_code"}`` (unknown, used or expired code; unknown or
  revoked refresh token), ``{"error": "invalid_client"}`` (client id unknown *at this data center's accounts
  server* - a Self Client is registered in one DC, so a code sent to another DC's server fails so too) and
  ``{"error": "invalid_client_secret"}`` [github.com/guanguans/notify src/ZohoCliq/Authenticator.php records
  200 ``invalid_client_secret``; api-facts; zoho.com/accounts/protocol/oauth/multi-dc.html].
- Self Client codes: single use, bound to the client, the data center and the portal chosen when generating
  them, 3 minutes by default [zoho.com/accounts/protocol/oauth/self-client/authorization-code-flow.html].
- ``authorization_code`` answers ``access_token, refresh_token, scope, api_domain (https://www.zohoapis.<tld>,
  not the Desk host), token_type Bearer, expires_in 3600``; ``refresh_token`` answers the same without a
  refresh token [zoho.com/accounts/protocol/oauth/web-apps/access-token.html, …/access-token-expiry.html].
- At most 10 access tokens per refresh token in 10 minutes; the 11th is refused for the rest of the window
  with **HTTP 400** ``{"error_description": "You have made too many requests continuously. Please try again
  after some time.", "error": "Access Denied", "status": "failure"}`` [access-token-expiry.html for the limit;
  the body and 400 as recorded in guanguans/notify Authenticator.php - api-facts says HTTP 200]. At most 30
  live access tokens per refresh token (the 31st removes the oldest) and 20 refresh tokens per user per
  client (the 21st silently revokes the oldest) [zoho.com/pdfeditor/help/api/oauth-step4.html,
  zoho.com/workerly/developer-guide/refresh.html]. Every refresh attempt is in ``fake.token_refreshes``.
- Access tokens live 3600 s of fake time; ``expire_access_tokens()`` and ``revoke_refresh_token()`` help.

Desk API (``/desk/{dc}/api/v1/…``; ``Authorization: Zoho-oauthtoken <token>``; ``orgId`` header)
- Errors are ``{"errorCode", "message"}`` [desk.zoho.com/DeskAPIDocument#Errors]: a missing, unknown, expired
  or other-DC token is 401 ``INVALID_OAUTH``; a token lacking the endpoint's scope is **403**
  ``SCOPE_MISMATCH`` ("The OAuth Token does not contain the scope to perform this operation.", as users
  report it); an ``orgId`` other than the portal the token was generated for is 403 ``OAUTH_ORG_MISMATCH``
  (the doc: "appears if the user chooses a different organization while generating the OAuthToken") - so a
  token of a user with several portals works for one of them only, although ``/organizations`` lists all;
  a missing ``orgId`` is 422 ``UNPROCESSABLE_ENTITY`` (status unverified; the doc only says every endpoint
  but ``/organizations`` requires it); unknown record ids and paths are 404 ``URL_NOT_FOUND``.
- Invalid bodies: 422 ``INVALID_DATA`` with ``errors: [{fieldName (JSON pointer, "/status", "/cf/cf_x"),
  errorType (missing|invalid|duplicate), errorMessage}]`` [DeskAPIDocument#Errors]; bad query parameters:
  422 ``UNPROCESSABLE_ENTITY`` - an unknown parameter "Extra query parameter 'x' is present in the input.",
  ``limit`` outside 1-100 "The value passed for field 'limit' exceeds the range of '1-100'."
  [github.com/mikdaad/Astra-group akshayapatra/docs/ZOHO_API_CORRECTIONS.md, ZOHO_LIMITS_UPDATE.md].
- Ids, counts (``threadCount``, ``size``, search ``count``) and custom-field values are strings; an empty list
  or search answers **204 with no body**; lists are ``{"data": [...]}`` [api-facts; zoho/Desk-iOSSDK models].
- ``GET /tickets`` (``sortBy`` dueDate|responseDueDate|customerResponseTime|createdTime|recentThread) omits
  ``modifiedTime``, ``cf`` and ``customFields`` [api-facts]; ``GET /tickets/{id}`` has them plus ``statusType``
  (Open / On Hold / Closed; "Escalated" is of type Open) and ``webUrl`` ``…/support/{portal}/ShowHomePage.do
  #Cases/dv/{id}``. Times are ``yyyy-MM-ddTHH:mm:ss.SSSZ`` (milliseconds).
- Modules: ``/tickets /contacts /accounts /tasks /calls /events /products /contracts`` (list, create,
  ``GET``/``PATCH /{id}``); ``GET /contracts`` sorts by ``modifiedTime`` (``-`` descending) but its rows have
  no ``modifiedTime``/``cf`` (the doc's sample answer); time entries only under ``/tickets/{id}/timeEntry``,
  listed per ticket and per agent (``GET /agents/{id}/timeEntry?module=tickets``), both filtered by
  ``modifiedTimeRange``/``createdTimeRange`` and ordered by ``executedTime`` only, each entry with its
  ``parent`` ``{id, type: TICKETS, ticketNumber, subject}`` (doc samples, same mirror); a ticket needs ``subject``,
  ``departmentId`` and ``contactId`` (or ``contact: {lastName|email}``, found by email or created); every portal
  has a default department; ``GET /tickets/{id}?include=contacts,assignee,departments``;
  ``/organizationFields?module=`` (alias ``/fields``) lists system and custom fields ``{id, apiName,
  displayLabel, type, allowedValues, isMandatory, isCustomField, maxLength…}`` [a tapdata Zoho connector's
  OrganizationFields schema quoting the doc sample]; ticket status values live in the status field's
  ``allowedValues`` and each ticket's ``statusType`` (``add_ticket_status`` adds custom ones).
- Scopes: ``Desk.<module>.READ|CREATE|UPDATE`` (or ``.ALL``; ``.WRITE`` for writes); accounts also go with
  ``Desk.contacts.*``; search also needs ``Desk.search.READ``; organizations, myinfo, agents, departments need
  ``Desk.basic.READ``; fields ``Desk.settings.READ`` or ``Desk.basic.READ``; products and contracts need
  ``Desk.products.*`` (unverified - ``REQUIRED_SCOPES`` lacks it); contracts and the agent time-entry list
  ``Desk.settings.*`` (DeskAPIDocument, as mirrored at developers.qodex.ai/zoho-desk/zoho-desk-api).
- ``GET /{module}/search`` (tickets, contacts, accounts, tasks, calls, events, products - not contracts):
  ``modifiedTimeRange``/``createdTimeRange`` ``<from>,<to>`` (inclusive here - unverified), ``sortBy``
  relevance|modifiedTime|createdTime(|customerResponseTime) with ``-`` for descending, ``limit`` 1-100
  (default 10), ``from`` 0-4999 and nothing past the 5,000th match (page by narrowing the time range);
  ``_all`` cannot be combined with field filters; text filters match exactly (case-insensitive) unless they
  carry ``*`` wildcards; answer ``{"data", "count"}`` with ``modifiedTime`` and ``cf`` on each record
  [secondary: github.com/imohanvadivel/n8n-nodes-zoho-desk AGENT.md, an MCP tool doc citing the
  DeskAPIDocument; api-facts says ``from`` ≤ 999]. Custom fields are searched with ``customField1``…``10`` =
  ``<apiName>:<value>`` (``customField1=cf_modelName:F3``; an unknown field is 422 here - unverified); the
  accounts search has no email, phone or website parameter [DeskAPIDocument "Tickets Search API", "Search
  Contacts", "Search accounts", mirrored at developers.qodex.ai/zoho-desk/zoho-desk-api/search-404]. Search
  reads an index: a record made less than ``fake.search_lag_seconds`` ago (default 0) is not found yet, while
  lists (``GET /{module}?sortBy=-createdTime``) show it at once; ``GET /contacts`` rows carry ``email`` and
  ``createdTime`` but no ``modifiedTime`` or ``cf`` (the doc's sample answer).
- Creating (``POST /{module}``): the create endpoints' "(required)" attributes are mandatory (ticket: subject,
  departmentId, contactId or ``contact``; contact: lastName; account: accountName; task: subject,
  departmentId; call and event: also startTime, duration, contactId, a call direction and status); a missing
  one is 422 ``INVALID_DATA`` with ``{"fieldName": "/departmentId", "errorType": "missing"}``; contacts may
  share an email address (Zoho offers a deduplication tool rather than refusing them) [DeskAPIDocument
  "Create a ticket" … "Create event" and Errors; help.zoho.com "Add, Edit and Delete Contacts"].
- Comments exist on tickets, contacts, accounts, tasks, calls and events; ``isPublic``/``contentType`` only on
  tickets [secondary: n8n-nodes-zoho-desk AGENT.md]; ``content`` ≤ 32,000 characters; ``attachmentIds`` are
  ids from ``POST /uploads``; comment and thread lists default to newest first (``sortBy=commentedTime`` /
  ``createdTime`` for oldest first; unverified).
  Whether a comment, a thread or an attachment moves the ticket's ``modifiedTime`` is not documented: here it
  does not (``fake.activity_bumps_modified_time = True`` to change that), except that a customer reply to an
  On Hold ticket puts it back to Open, which is a field change [help.zoho.com/portal/en/kb/desk/ticket-
  management/ticket-status/articles/on-hold-state-use-cases-and-behavior].
- Attachment ``href``s point at the Desk API host and need the same ``Authorization`` and ``orgId`` headers;
  every download is logged in ``fake.downloads``.
- API credits per organization per day [help.zoho.com/portal/en/kb/desk/developer-space/apidashboard/articles/
  working-with-api-credits; help.zoho.com/portal/en/community/topic/transitioning-to-api-credits-in-zoho-desk]:
  ``daily_credits(edition, agents)`` = base + per-agent (Professional 75,000 + 500/agent). A call costs 1
  credit, a range fetch (list, search, threads, comments, fields) 3 credits for ``from`` ≤ 2,000, 5 ≤ 10,000,
  10 ≤ 50,000, 50 ≤ 100,000, 100 beyond [secondary: DeskAPIDocument "Credit Consumption Model" as quoted in a
  public due-diligence note]. Answers carry ``X-Rate-Limit-Request-Weight-v3`` / ``X-Rate-Limit-Remaining-v3``;
  a spent budget is 429 ``THRESHOLD_EXCEEDED`` with ``Retry-After`` (seconds to the next fake UTC day);
  more concurrent calls than the edition allows (Professional 15) is 429 ``TOO_MANY_REQUESTS`` without
  ``Retry-After`` (``threshold_exceeded_next``/``too_many_requests_next`` force them).

Time is ``fake.now()``; ``fake.advance(seconds)`` moves it (token and code expiry, credit days, record times).

Crash tests: ``hold_create_answers(module, n)`` makes the next ``n`` creations of a module at once but holds
their answers until ``release_create_answers()`` (``held_creates`` lists what was made meanwhile), so a caller
killed while it waits has made a record it never heard of: the crash between the helpdesk's create and the
caller's commit. (``add_latency`` delays a request before the fake reads it, so a test cannot tell whether the
record exists yet.)
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import fnmatch
import itertools
import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from .server import FakeRequest, FakeServer, route

# --- data centers --------------------------------------------------------------------------------------
# data center -> (top-level domain of accounts/desk/zohoapis hosts); Canada uses zohocloud.ca for accounts and
# desk [api-facts; zoho.com/accounts/protocol/oauth/multi-dc.html].
DATA_CENTERS: dict[str, str] = {
    "us": "com",
    "eu": "eu",
    "in": "in",
    "au": "com.au",
    "jp": "jp",
    "cn": "com.cn",
    "uk": "uk",
    "ca": "ca",
    "sa": "sa",
}


def desk_host(dc: str) -> str:
    return "desk.zohocloud.ca" if dc == "ca" else f"desk.zoho.{DATA_CENTERS[dc]}"


def api_domain(dc: str) -> str:
    return f"https://www.zohoapis.{DATA_CENTERS[dc]}"


# --- OAuth ----------------------------------------------------------------------------------------------
# the scopes Deskbridge asks for (connector/clients/zoho_desk.py REQUIRED_SCOPES): the fake's default grant
REQUIRED_SCOPES = [
    "Desk.search.READ",
    "Desk.tickets.CREATE",
    "Desk.tickets.READ",
    "Desk.tickets.UPDATE",
    "Desk.contacts.CREATE",
    "Desk.contacts.READ",
    "Desk.contacts.UPDATE",
    "Desk.tasks.CREATE",
    "Desk.tasks.READ",
    "Desk.tasks.UPDATE",
    "Desk.basic.READ",
    "Desk.settings.READ",
    "Desk.settings.UPDATE",
    "Desk.events.CREATE",
    "Desk.events.READ",
    "Desk.events.UPDATE",
    "Desk.articles.READ",
    "Desk.articles.UPDATE",
    "Desk.calls.CREATE",
    "Desk.calls.READ",
    "Desk.calls.UPDATE",
    "Desk.settings.ALL",
]
ACCESS_TOKEN_LIFETIME = 3600
REFRESH_WINDOW = 600  # seconds
REFRESHES_PER_WINDOW = 10
LIVE_ACCESS_TOKENS_PER_REFRESH = 30
REFRESH_TOKENS_PER_USER_CLIENT = 20
ACCESS_DENIED = {
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "error": "Access Denied",
    "status": "failure",
}

# --- credits and concurrency ------------------------------------------------------------------------------
# edition -> (base credits, credits per agent) [working-with-api-credits; transitioning-to-api-credits; Free,
# Express and Standard from a secondary quote of the DeskAPIDocument].
CREDITS_PER_DAY: dict[str, tuple[int, int]] = {
    "free": (5_000, 0),
    "express": (25_000, 100),
    "standard": (50_000, 250),
    "professional": (75_000, 500),
    "enterprise": (100_000, 1_000),
}
CONCURRENCY: dict[str, int] = {"free": 5, "express": 10, "standard": 10, "professional": 15, "enterprise": 25}


def daily_credits(edition: str, agents: int) -> int:
    """Credits an organization gets a day: base credits of its edition + credits per (non-light) agent."""
    base, per_agent = CREDITS_PER_DAY[edition.lower()]
    return base + per_agent * agents


def credit_cost(method: str, path: str, query: dict[str, list[str]]) -> int:
    """1 for a single record or a write; 3/5/10/50/100 for a range fetch by its ``from`` offset."""
    if method != "GET":
        return 1
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if last.isdigit() or last in ("content", "myinfo"):
        return 1
    try:
        start = int((query.get("from") or ["0"])[0])
    except ValueError:
        start = 0
    for bound, cost in ((2_000, 3), (10_000, 5), (50_000, 10), (100_000, 50)):
        if start <= bound:
            return cost
    return 100


# --- modules and their fields ------------------------------------------------------------------------------
MODULES = ("tickets", "contacts", "accounts", "tasks", "calls", "events", "products", "contracts")
FIELD_MODULES = (*MODULES, "timeEntry")
COMMENT_MODULES = ("tickets", "contacts", "accounts", "tasks", "calls", "events")
SEARCH_MODULES = ("tickets", "contacts", "accounts", "tasks", "calls", "events", "products")
MAX_LIMIT = 100
SEARCH_MAX_FROM = 4999
SEARCH_WINDOW = 5000
COMMENT_MAX = 32_000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
HOLD_MAX_SECONDS = 60  # a held answer goes out by itself after this long (a test that forgot to release it)

TICKET_STATUSES = {"Open": "Open", "On Hold": "On Hold", "Escalated": "Open", "Closed": "Closed"}

# module -> [(apiName, displayLabel, type, allowedValues, mandatory-on-create)]; mandatory as the "(required)"
# attributes of the DeskAPIDocument's create endpoints (mirrored at developers.qodex.ai/zoho-desk/zoho-desk-api:
# a call needs startTime, direction, duration, status and contactId, an event startTime, duration, contactId)
# fmt: off
ACTIVITY_PRIORITIES = ["Highest", "High", "Normal", "Low", "Lowest"]
SYSTEM_FIELDS: dict[str, list[tuple[str, str, str, list[str] | None, bool]]] = {
    "tickets": [
        ("subject", "Subject", "Text", None, True),
        ("departmentId", "Department", "LookUp", None, True),
        ("contactId", "Contact Name", "LookUp", None, True),
        ("accountId", "Account Name", "LookUp", None, False),
        ("assigneeId", "Ticket Owner", "LookUp", None, False),
        ("productId", "Product Name", "LookUp", None, False),
        ("email", "Email", "Email", None, False),
        ("phone", "Phone", "Phone", None, False),
        ("description", "Description", "Textarea", None, False),
        ("status", "Status", "Picklist", list(TICKET_STATUSES), False),
        ("priority", "Priority", "Picklist", ["High", "Medium", "Low"], False),
        ("channel", "Channel", "Picklist", ["Email", "Phone", "Web", "Twitter", "Facebook", "Chat", "Forums"], False),
        ("classification", "Classification", "Picklist", ["Question", "Problem", "Feature", "Others"], False),
        ("category", "Category", "Picklist", [], False),
        ("subCategory", "Sub Category", "Picklist", [], False),
        ("dueDate", "Due Date", "DateTime", None, False),
        ("resolution", "Resolution", "Textarea", None, False),
        ("language", "Language", "Picklist", [], False),
    ],
    "contacts": [
        ("firstName", "First Name", "Text", None, False),
        ("lastName", "Last Name", "Text", None, True),
        ("email", "Email", "Email", None, False),
        ("secondaryEmail", "Secondary Email", "Email", None, False),
        ("phone", "Phone", "Phone", None, False),
        ("mobile", "Mobile", "Phone", None, False),
        ("accountId", "Account Name", "LookUp", None, False),
        ("ownerId", "Contact Owner", "LookUp", None, False),
        ("title", "Title", "Text", None, False),
        ("type", "Type", "Picklist", [], False),
        ("description", "Description", "Textarea", None, False),
    ],
    "accounts": [
        ("accountName", "Account Name", "Text", None, True),
        ("website", "Website", "URL", None, False),
        ("phone", "Phone", "Phone", None, False),
        ("email", "Email", "Email", None, False),
        ("industry", "Industry", "Picklist", [], False),
        ("ownerId", "Account Owner", "LookUp", None, False),
        ("description", "Description", "Textarea", None, False),
    ],
    "tasks": [
        ("subject", "Subject", "Text", None, True),
        ("departmentId", "Department", "LookUp", None, True),
        ("status", "Status", "Picklist",
         ["Not Started", "In Progress", "Waiting on someone else", "Deferred", "Completed"], False),
        ("priority", "Priority", "Picklist", ACTIVITY_PRIORITIES, False),
        ("dueDate", "Due Date", "DateTime", None, False),
        ("ticketId", "Ticket", "LookUp", None, False),
        ("contactId", "Contact Name", "LookUp", None, False),
        ("ownerId", "Task Owner", "LookUp", None, False),
        ("category", "Category", "Picklist", [], False),
        ("description", "Description", "Textarea", None, False),
    ],
    "calls": [
        ("subject", "Subject", "Text", None, True),
        ("departmentId", "Department", "LookUp", None, True),
        ("startTime", "Call Start Time", "DateTime", None, True),
        ("direction", "Call Type", "Picklist", ["inbound", "outbound"], True),
        ("duration", "Call Duration", "Number", None, True),
        ("status", "Status", "Picklist", ["Scheduled", "In Progress", "Completed", "Cancelled"], True),
        ("priority", "Priority", "Picklist", ACTIVITY_PRIORITIES, False),
        ("ticketId", "Ticket", "LookUp", None, False),
        ("contactId", "Contact Name", "LookUp", None, True),
        ("ownerId", "Call Owner", "LookUp", None, False),
        ("description", "Description", "Textarea", None, False),
    ],
    "events": [
        ("subject", "Subject", "Text", None, True),
        ("departmentId", "Department", "LookUp", None, True),
        ("startTime", "Start Time", "DateTime", None, True),
        ("duration", "Duration", "Number", None, True),
        ("status", "Status", "Picklist", ["Scheduled", "In Progress", "Completed", "Cancelled"], False),
        ("priority", "Priority", "Picklist", ACTIVITY_PRIORITIES, False),
        ("ticketId", "Ticket", "LookUp", None, False),
        ("contactId", "Contact Name", "LookUp", None, True),
        ("ownerId", "Event Owner", "LookUp", None, False),
        ("description", "Description", "Textarea", None, False),
    ],
    "products": [
        ("productName", "Product Name", "Text", None, True),
        ("productCode", "Product Code", "Text", None, False),
        ("unitPrice", "Unit Price", "Currency", None, False),
        ("ownerId", "Product Owner", "LookUp", None, False),
        ("description", "Description", "Textarea", None, False),
    ],
    "contracts": [
        ("contractName", "Contract Name", "Text", None, True),
        ("accountId", "Account Name", "LookUp", None, True),
        ("departmentId", "Department", "LookUp", None, True),
        ("startDate", "Start Date", "Date", None, True),
        ("endDate", "End Date", "Date", None, False),
        ("ownerId", "Contract Owner", "LookUp", None, False),
        ("description", "Description", "Textarea", None, False),
    ],
    "timeEntry": [
        ("executedTime", "Executed Time", "DateTime", None, True),
        ("hoursSpent", "Hours", "Number", None, False),
        ("minutesSpent", "Minutes", "Number", None, False),
        ("secondsSpent", "Seconds", "Number", None, False),
        ("ownerId", "Owner", "LookUp", None, False),
        ("billingType", "Billing Type", "Picklist", ["Billable", "Non Billable"], False),
        ("description", "Description", "Textarea", None, False),
    ],
}
# fields records answer with but that no client may write
READ_ONLY = {
    "id", "createdTime", "modifiedTime", "createdBy", "modifiedBy", "webUrl", "cf", "customFields", "statusType",
    "ticketNumber", "threadCount", "commentCount", "attachmentCount", "taskCount", "timeEntryCount", "closedTime",
    "contractStatus",
    "onholdTime", "customerResponseTime", "isSpam", "isArchived", "isTrashed", "isDeleted", "layoutId",
    "sharedDepartments", "sentiment", "source", "teamId", "lastThread", "responseDueDate", "isOverDue",
    "creatorId", "completedTime", "parentId", "requestId",
}
# fmt: on
TEXT_LIMITS = {"Text": 255, "Email": 100, "Phone": 30, "URL": 255, "Textarea": 32_000}
LIST_SORTS = {
    "tickets": ("dueDate", "responseDueDate", "customerResponseTime", "createdTime", "recentThread"),
    # DeskAPIDocument "List all contracts" (mirrored at developers.qodex.ai/zoho-desk/zoho-desk-api/contracts-91/
    # list-all-contracts): accountName, contractName, contractEndDate, contractStartDate, createdTime, modifiedTime
    "contracts": ("accountName", "contractName", "contractEndDate", "contractStartDate", "createdTime", "modifiedTime"),
}
# the record key a list's ``sortBy`` orders by, where it differs from the parameter's value
LIST_SORT_KEYS = {
    "recentThread": "customerResponseTime",
    "contractEndDate": "endDate",
    "contractStartDate": "startDate",
}
# fmt: off
SEARCH_PARAMS: dict[str, tuple[str, ...]] = {
    "tickets": ("subject", "ticketNumber", "status", "priority", "email", "phone", "contactName", "accountName",
                "assigneeId", "channel", "category", "departmentId", "customerResponseTimeRange", "dueDateRange"),
    "contacts": ("firstName", "lastName", "fullName", "email", "phone", "mobile", "accountName"),
    # DeskAPIDocument "Search accounts": id, accountName, _all, customField1-10, time ranges - no email, phone or
    # website (mirrored at developers.qodex.ai/zoho-desk/zoho-desk-api/search-404/search-accounts-5)
    "accounts": ("accountName",),
    "tasks": ("subject", "status", "priority", "ownerId", "departmentId", "dueDateRange"),
    "calls": ("subject", "status", "priority", "ownerId", "departmentId"),
    "events": ("subject", "status", "priority", "ownerId", "departmentId"),
    "products": ("productName", "productCode"),
}
# fmt: on
SEARCH_COMMON = ("from", "limit", "sortBy", "_all", "modifiedTimeRange", "createdTimeRange", "id")
# ``customField1``…``customField10`` = ``<cf apiName>:<value>`` (exact, ``*`` wildcards, ``${empty}`` /
# ``${notempty}``), e.g. ``customField1=cf_modelName:F3`` (DeskAPIDocument "Tickets Search API", "Search
# Contacts", "Search accounts", mirrored at developers.qodex.ai/zoho-desk/zoho-desk-api/search-404)
SEARCH_CUSTOM = tuple(f"customField{n}" for n in range(1, 11))
SEARCH_SORTS = {"tickets": ("relevance", "modifiedTime", "createdTime", "customerResponseTime")}
# module -> scope families that grant it (accounts also go with contacts [DeskAPIDocument scope table, as quoted])
SCOPE_FAMILIES: dict[str, tuple[str, ...]] = {
    "tickets": ("tickets",),
    "timeEntry": ("tickets",),
    "contacts": ("contacts",),
    "accounts": ("contacts", "accounts"),
    "tasks": ("tasks", "activities"),
    "calls": ("calls", "activities"),
    "events": ("events", "activities"),
    "products": ("products",),
    # contracts are read and written with the settings scopes (DeskAPIDocument "Contracts": Desk.settings.READ /
    # .CREATE / .UPDATE, mirrored at developers.qodex.ai/zoho-desk/zoho-desk-api/contracts-91)
    "contracts": ("contracts", "settings"),
    "basic": ("basic",),
    "settings": ("settings", "basic"),
    "search": ("search",),
}

DESK_PATH = re.compile(r"^/desk/(?P<dc>[^/]+)(?P<rest>/.*)?$")
P = r"/desk/(?P<dc>[a-z]+)/api/v1"
M = "(?P<module>" + "|".join(MODULES) + ")"
CM = "(?P<module>" + "|".join(COMMENT_MODULES) + ")"


def _stamp(ts: float) -> str:
    moment = datetime.fromtimestamp(round(ts * 1000) / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_stamp(value: str) -> int | None:
    """Milliseconds since the epoch of ``yyyy-MM-ddTHH:mm:ss.SSSZ``; None if it is not that."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value or ""):
        return None
    try:
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return round(moment.timestamp() * 1000)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any):
    body = {"errorCode": code, "message": message, **extra}
    return (status, body, headers) if headers else (status, body)


def _invalid_data(errors: list[dict[str, str]]):
    return _error(
        422,
        "INVALID_DATA",
        "An invalid value was provided for one or more fields. Check the request and retry.",
        errors=errors,
    )


def _unprocessable(message: str):
    return _error(422, "UNPROCESSABLE_ENTITY", message)


def _not_found():
    return _error(404, "URL_NOT_FOUND", "The URL you requested could not be found on the server.")


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text or "")).strip()


def _scopes(value: str | list[str] | tuple[str, ...] | set[str]) -> set[str]:
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else list(value)
    return {s.strip() for s in items if s and s.strip()}


@dataclass
class Org:
    id: str
    dc: str
    name: str
    portal_name: str
    edition: str
    agents_count: int
    daily_credits_override: int | None = None
    concurrency: int = 15
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    departments: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    fields: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=lambda: dict(TICKET_STATUSES))
    comments: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    threads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    attachments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # ticket id -> ticket attachments
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # attachment/upload id -> {name, data, type…}
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)  # unused uploads by id
    credits_by_day: dict[int, int] = field(default_factory=dict)  # fake UTC day number -> credits spent
    in_flight: int = 0
    _ticket_numbers: itertools.count = field(default_factory=lambda: itertools.count(101), repr=False)
    _clock: Callable[[], float] = field(default=time.time, repr=False)

    @property
    def daily_credits(self) -> int:
        if self.daily_credits_override is not None:
            return self.daily_credits_override
        return daily_credits(self.edition, self.agents_count)

    @property
    def credits_used(self) -> int:
        """Credits spent on the current fake day (the counter resets at the fake UTC day boundary)."""
        return self.credits_by_day.get(int(self._clock() // 86400), 0)

    @property
    def credits_remaining(self) -> int:
        return max(0, self.daily_credits - self.credits_used)


class FakeZohoDesk(FakeServer):
    name = "fake-zoho-desk"

    def __init__(self) -> None:
        super().__init__()
        self.orgs: dict[str, Org] = {}
        self.events: list[dict[str, Any]] = []
        self.clients: dict[tuple[str, str], dict[str, Any]] = {}  # (dc, client_id) -> self client
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.token_refreshes: list[dict[str, Any]] = []  # every grant_type=refresh_token request
        self.downloads: list[dict[str, Any]] = []  # every attachment download
        self.activity_bumps_modified_time = False
        # search reads an index that shows a new record only this long after it was made (Zoho's lags: the
        # provider reads changes ZOHO_SEARCH_SETTLE_SECONDS late); lists read the records themselves
        self.search_lag_seconds = 0.0
        self._ids = itertools.count(1892000000043001)
        self._org_ids = itertools.count(60001234567, 7919)
        self._forced: list[dict[str, Any]] = []  # {code, left, org_id}
        self._shift = 0.0
        self._local = threading.local()
        self._holds: list[dict[str, Any]] = []  # {module, left}: creations whose answers wait for the gate
        self._hold_gate = threading.Event()
        self.held_creates: list[dict[str, str]] = []  # {module, id} of the records made with a held answer

    # --- clock ----------------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self._shift

    def advance(self, seconds: float) -> None:
        self._shift += seconds

    def _now_ms(self) -> int:
        return math.floor(self.now() * 1000)

    def stamp(self) -> str:
        return _stamp(self._now_ms() / 1000)

    def _id(self) -> str:
        return str(next(self._ids))

    # --- URLs -----------------------------------------------------------------------------------------
    @property
    def accounts_url_template(self) -> str:
        return f"{self.url}/accounts/{{dc}}"

    @property
    def desk_url_template(self) -> str:
        return f"{self.url}/desk/{{dc}}"

    def accounts_url(self, dc: str) -> str:
        return f"{self.url}/accounts/{dc}"

    def desk_url(self, dc: str) -> str:
        return f"{self.url}/desk/{dc}"

    def _api_url(self, org: Org, path: str) -> str:
        base = self.desk_url(org.dc) if self._server else f"https://{desk_host(org.dc)}"
        return f"{base}/api/v1{path}"

    # --- seeding: organizations, people, fields ----------------------------------------------------------
    def add_org(
        self,
        dc: str,
        *,
        name: str,
        org_id: str | None = None,
        edition: str = "professional",
        agents: int = 10,
        daily_credits: int | None = None,
        portal_name: str | None = None,
    ) -> Org:
        """A portal in data center ``dc`` with a default department "Support". ``agents`` is the licensed agent
        count for the credit formula; ``daily_credits`` overrides the formula."""
        assert dc in DATA_CENTERS, dc
        assert edition.lower() in CREDITS_PER_DAY, edition
        with self._lock:
            new_id = str(org_id) if org_id else str(next(self._org_ids))
            while not org_id and new_id in self.orgs:
                new_id = str(next(self._org_ids))
            assert new_id not in self.orgs, f"org {new_id} exists"
            org = Org(
                id=new_id,
                dc=dc,
                name=name,
                portal_name=portal_name or re.sub(r"[^a-z0-9]", "", name.lower()) or "portal",
                edition=edition.lower(),
                agents_count=agents,
                daily_credits_override=daily_credits,
                concurrency=CONCURRENCY[edition.lower()],
                _clock=self.now,
            )
            org.records = {m: {} for m in (*MODULES, "timeEntry")}
            for module, specs in SYSTEM_FIELDS.items():
                org.fields[module] = [
                    self._field_def(api, label, kind, allowed, mandatory, custom=False)
                    for api, label, kind, allowed, mandatory in specs
                ]
            self.orgs[org.id] = org
            self.add_department(org.id, "Support", is_default=True)
            return org

    def _field_def(self, api: str, label: str, kind: str, allowed, mandatory: bool, *, custom: bool) -> dict:
        return {
            "id": self._id(),
            "apiName": api,
            "displayLabel": label,
            "i18NLabel": label,
            "type": kind,
            "allowedValues": list(allowed) if allowed is not None else None,
            "isMandatory": mandatory,
            "isSystemMandatory": mandatory and not custom,
            "isCustomField": custom,
            "isEncryptedField": False,
            "showToHelpCenter": True,
            "isRemovable": custom,
            "maxLength": TEXT_LIMITS.get(kind, 300),
            "defaultValue": None,
            "toolTip": "",
            "toolTipType": "placeHolder",
            "decimalPlaces": 2 if kind in ("Currency", "Decimal", "Percent") else None,
        }

    def add_department(self, org_id: str, name: str, *, is_default: bool = False) -> dict[str, Any]:
        org = self.orgs[org_id]
        with self._lock:
            department = {
                "id": self._id(),
                "name": name,
                "nameInCustomerPortal": name,
                "description": None,
                "isDefault": is_default,
                "isEnabled": True,
                "isAssignToTeamEnabled": False,
                "isVisibleInCustomerPortal": True,
                "hasLogo": False,
                "creatorId": None,
                "createdTime": self.stamp(),
                "chatStatus": "NOT_CREATED",
                "sanitizedName": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
            }
            org.departments[department["id"]] = department
            return department

    def default_department(self, org_id: str) -> dict[str, Any]:
        return next(d for d in self.orgs[org_id].departments.values() if d["isDefault"])

    def add_agent(self, org_id: str, *, name: str, email: str, role: str = "Administrator") -> dict[str, Any]:
        """An agent of the portal; the same email in several portals is one Zoho user with several agents."""
        org = self.orgs[org_id]
        first, _, last = name.partition(" ")
        with self._lock:
            agent = {
                "id": self._id(),
                "name": name,
                "firstName": first if last else "",
                "lastName": last or first,
                "emailId": email.lower(),
                "roleId": self._id(),
                "roleName": role,
                "profileId": self._id(),
                "rolePermissionType": "Admin" if role == "Administrator" else "Limited",
                "status": "ACTIVE",
                "isConfirmed": True,
                "photoURL": None,
                "langCode": "en_US",
                "timeZone": "Etc/UTC",
                "countryCode": "en_US",
                "phone": None,
                "mobile": None,
                "extn": None,
                "zuid": self._zuid(email),
                "associatedDepartmentIds": [d["id"] for d in org.departments.values()],
                "associatedChatDepartmentIds": [],
                "channelExpert": [],
                "aboutInfo": None,
                "isZiaAgent": False,
            }
            org.agents[agent["id"]] = agent
            return agent

    def _zuid(self, email: str) -> str:
        digest = sum(ord(c) * (i + 1) for i, c in enumerate(email.lower()))
        return str(700000000 + digest)

    def agent_for(self, org_id: str, email: str) -> dict[str, Any] | None:
        return next((a for a in self.orgs[org_id].agents.values() if a["emailId"] == email.lower()), None)

    def add_field(
        self,
        org_id: str,
        module: str,
        *,
        api_name: str,
        label: str,
        type: str = "Text",
        allowed_values: list[str] | None = None,
        mandatory: bool = False,
    ) -> dict[str, Any]:
        """A custom field (``api_name`` ``cf_…``) of ``module``; records answer it under ``cf`` (and their
        ``customFields`` by label). Types: Text Textarea Picklist Multiselect Number Decimal Currency Percent
        Boolean Date DateTime Email Phone URL."""
        assert api_name.startswith("cf_"), "custom fields are named cf_…"
        org = self.orgs[org_id]
        with self._lock:
            definition = self._field_def(api_name, label, type, allowed_values, mandatory, custom=True)
            org.fields[module].append(definition)
            target = org.records[module].values()
            for record in target:
                record["cf"].setdefault(api_name, None)
            return definition

    def add_ticket_status(self, org_id: str, name: str, status_type: str) -> None:
        """A custom ticket status of type ``Open``, ``On Hold`` or ``Closed``."""
        assert status_type in ("Open", "On Hold", "Closed")
        org = self.orgs[org_id]
        with self._lock:
            org.statuses[name] = status_type
            status_field = next(f for f in org.fields["tickets"] if f["apiName"] == "status")
            status_field["allowedValues"] = list(org.statuses)

    # --- seeding: OAuth ------------------------------------------------------------------------------------
    def add_self_client(
        self,
        dc: str,
        *,
        client_id: str,
        client_secret: str,
        user: dict[str, Any] | str,
        orgs: list[str] | None = None,
    ) -> dict[str, Any]:
        """A Self Client registered at ``dc``'s API console for ``user`` (an agent dict or an email). ``orgs``:
        the portals of that data center the user may generate codes for (default: every portal of ``dc`` in which
        the user is an agent); the user becomes an Administrator agent of each listed portal if not yet one."""
        email = (user["emailId"] if isinstance(user, dict) else user).lower()
        with self._lock:
            if orgs is None:
                orgs = [o.id for o in self.orgs.values() if o.dc == dc and self.agent_for(o.id, email)]
            for org_id in orgs:
                assert self.orgs[org_id].dc == dc, f"org {org_id} is not in data center {dc}"
                if self.agent_for(org_id, email) is None:
                    self.add_agent(org_id, name=email.split("@")[0].title(), email=email)
            client = {"dc": dc, "client_id": client_id, "secret": client_secret, "email": email, "orgs": list(orgs)}
            self.clients[(dc, client_id)] = client
            return client

    def self_client_code(
        self,
        client_id: str,
        *,
        scopes: str | list[str] = REQUIRED_SCOPES,
        minutes: int = 3,
        org_id: str | None = None,
        dc: str | None = None,
    ) -> str:
        """An authorization code as the API console's Self Client "Generate Code" tab shows it: single use,
        valid ``minutes`` (3, 5, 7 or 10), bound to the client, its data center and one portal (``org_id``,
        default the client's first)."""
        with self._lock:
            candidates = [c for (d, cid), c in self.clients.items() if cid == client_id and dc in (None, d)]
            assert candidates, f"no self client {client_id}"
            client = candidates[0]
            portal = org_id or (client["orgs"][0] if client["orgs"] else None)
            code = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            self.codes[code] = {
                "client_id": client_id,
                "dc": client["dc"],
                "email": client["email"],
                "org_id": portal,
                "scopes": _scopes(scopes),
                "expires_at": self.now() + minutes * 60,
                "used": False,
            }
            return code

    def revoke_refresh_token(self, token: str) -> None:
        """The user revoked the connection: the refresh token and every access token made from it stop working."""
        with self._lock:
            if token in self.refresh_tokens:
                self.refresh_tokens[token]["revoked"] = True
                for access in self.refresh_tokens[token]["access"]:
                    if access in self.access_tokens:
                        self.access_tokens[access]["revoked"] = True

    def expire_access_tokens(self) -> None:
        with self._lock:
            for token in self.access_tokens.values():
                token["expires_at"] = min(token["expires_at"], self.now())

    def issue_tokens(self, client_id: str, *, scopes: str | list[str] = REQUIRED_SCOPES, org_id: str | None = None):
        """``(access_token, refresh_token)`` as if a code had been exchanged (no request logged)."""
        code = self.self_client_code(client_id, scopes=scopes, org_id=org_id)
        with self._lock:
            grant = self.codes.pop(code)
            refresh = self._new_refresh_token(grant)
            return self._new_access_token(refresh)["token"], refresh["token"]

    # --- injection ----------------------------------------------------------------------------------------
    def threshold_exceeded_next(self, org_id: str | None = None, n: int = 1) -> None:
        """The next ``n`` Desk calls (for ``org_id`` if given) answer 429 ``THRESHOLD_EXCEEDED``."""
        with self._lock:
            self._forced.append({"code": "THRESHOLD_EXCEEDED", "left": n, "org_id": org_id})

    def too_many_requests_next(self, n: int = 1, *, org_id: str | None = None) -> None:
        """The next ``n`` Desk calls answer 429 ``TOO_MANY_REQUESTS`` (the concurrency limit)."""
        with self._lock:
            self._forced.append({"code": "TOO_MANY_REQUESTS", "left": n, "org_id": org_id})

    def hold_create_answers(self, module: str = "tickets", n: int = 1) -> None:
        """The next ``n`` ``POST /{module}`` creations are made at once (in ``records``, ``events`` and
        ``held_creates``) but answered only when ``release_create_answers()`` is called, or after
        ``HOLD_MAX_SECONDS``. Refused creations (422) are answered at once and do not count."""
        with self._lock:
            if self._hold_gate.is_set():
                self._hold_gate = threading.Event()
            self._holds.append({"module": module, "left": n})

    def release_create_answers(self) -> None:
        """Send the held answers (to a caller that may be gone: the record stays made either way) and end the
        holds not used yet."""
        with self._lock:
            self._holds.clear()
            self._hold_gate.set()

    def _take_hold(self, module: str, record_id: str) -> None:
        for hold in self._holds:
            if hold["left"] > 0 and hold["module"] == module:
                hold["left"] -= 1
                self.held_creates.append({"module": module, "id": record_id})
                self._local.hold = self._hold_gate  # waited on by dispatch, outside the lock
                return

    # --- seeding: records ------------------------------------------------------------------------------
    def _log(self, kind: str, org: Org, module: str, record_id: str, by: str, **extra: Any) -> None:
        self.events.append(
            {"type": kind, "org_id": org.id, "module": module, "id": record_id, "by": by, "time": self.stamp(), **extra}
        )

    def _blank(self, org: Org, module: str) -> dict[str, Any]:
        ms = self._now_ms()
        stamp = _stamp(ms / 1000)
        record: dict[str, Any] = {"id": self._id()}
        for api, *_ in SYSTEM_FIELDS[module]:
            record[api] = None
        record.update(
            {
                "createdTime": stamp,
                "modifiedTime": stamp,
                "createdBy": None,
                "modifiedBy": None,
                "cf": {f["apiName"]: None for f in org.fields[module] if f["isCustomField"]},
                "_mtime": ms,
                "_ctime": ms,
            }
        )
        return record

    @staticmethod
    def _sync_times(record: dict[str, Any]) -> None:
        """Seeded ``createdTime``/``modifiedTime`` strings also drive search and sorting."""
        for key, shadow in (("createdTime", "_ctime"), ("modifiedTime", "_mtime")):
            ms = _parse_stamp(record.get(key) or "")
            if ms is not None:
                record[shadow] = ms

    def add_record(self, org_id: str, module: str, **values: Any) -> dict[str, Any]:
        """A record of ``module`` as if created in Zoho (no validation); custom fields as ``cf={…}``."""
        org = self.orgs[org_id]
        if module == "tickets":
            return self.add_ticket(org_id, **values)
        with self._lock:
            record = self._blank(org, module)
            cf = values.pop("cf", None) or {}
            record.update(values)
            record["cf"].update({k: None if v is None else self._cf_string(v) for k, v in cf.items()})
            if module in ("tasks", "calls", "events", "contracts") and not record.get("departmentId"):
                record["departmentId"] = self.default_department(org_id)["id"]
            if module == "tasks":
                record["status"] = record.get("status") or "Not Started"
            self._sync_times(record)
            org.records[module][record["id"]] = record
            self._log("created", org, module, record["id"], "user")
            return record

    def add_contact(self, org_id: str, **values: Any) -> dict[str, Any]:
        values.setdefault("lastName", "Customer")
        return self.add_record(org_id, "contacts", **values)

    def add_account(self, org_id: str, **values: Any) -> dict[str, Any]:
        values.setdefault("accountName", "Acme Corp")
        return self.add_record(org_id, "accounts", **values)

    def add_time_entry(self, org_id: str, ticket_id: str, *, owner_id: str = "", **values: Any) -> dict[str, Any]:
        """A time entry logged on a ticket in the Zoho UI by ``owner_id`` (default: the portal's first agent)."""
        org = self.orgs[org_id]
        with self._lock:
            entry = self._blank(org, "timeEntry")
            entry.update({"executedTime": entry["createdTime"], "hoursSpent": "1", "billingType": "Billable"})
            entry.update(values)
            entry["parentId"] = ticket_id
            entry["ownerId"] = owner_id or next(iter(org.agents))
            self._sync_times(entry)
            org.records["timeEntry"][entry["id"]] = entry
            self._log("created", org, "timeEntry", entry["id"], "user", ticket_id=ticket_id)
            return entry

    def add_ticket(self, org_id: str, **values: Any) -> dict[str, Any]:
        """A ticket as if created in Zoho: a contact is made up when none is given; its description becomes the
        first (inbound, ``isDescriptionThread``) thread."""
        org = self.orgs[org_id]
        with self._lock:
            if not values.get("contactId"):
                n = len(org.records["contacts"]) + 1
                values["contactId"] = self.add_contact(org_id, lastName=f"Customer {n}", email=f"c{n}@example.com")[
                    "id"
                ]
            contact = org.records["contacts"][values["contactId"]]
            record = self._blank(org, "tickets")
            cf = values.pop("cf", None) or {}
            record.update(
                {
                    "subject": "Printer on fire",
                    "description": "<div>The smoke is very colorful.</div>",
                    "departmentId": self.default_department(org_id)["id"],
                    "status": "Open",
                    "channel": "Email",
                    "email": contact.get("email"),
                    "accountId": contact.get("accountId"),
                }
            )
            record.update(values)
            record["cf"].update({k: None if v is None else self._cf_string(v) for k, v in cf.items()})
            record.update(
                {
                    "ticketNumber": str(next(org._ticket_numbers)),
                    "statusType": org.statuses.get(record["status"], "Open"),
                    "customerResponseTime": record["createdTime"],
                    "closedTime": record["createdTime"] if org.statuses.get(record["status"]) == "Closed" else None,
                    "onholdTime": None,
                    "isSpam": False,
                    "isArchived": False,
                    "isTrashed": False,
                    "language": "English",
                    "sentiment": None,
                    "source": {
                        "type": "SYSTEM",
                        "appName": None,
                        "extId": None,
                        "permalink": None,
                        "appPhotoURL": None,
                    },
                    "layoutId": None,
                    "teamId": None,
                    "sharedDepartments": [],
                    "responseDueDate": None,
                }
            )
            self._sync_times(record)
            org.records["tickets"][record["id"]] = record
            org.threads[record["id"]] = []
            org.attachments[record["id"]] = []
            org.comments[("tickets", record["id"])] = []
            self._log("created", org, "tickets", record["id"], "user")
            self._new_thread(
                org,
                record,
                content=record["description"] or "",
                direction="in",
                author=contact,
                attachments=[],
                description_thread=True,
            )
            return record

    def user_update(self, org_id: str, module: str, record_id: str, **values: Any) -> dict[str, Any]:
        """Change a record as a person in the Zoho UI would (no validation): bumps ``modifiedTime``; custom
        fields as ``cf={…}``; a ticket ``status`` also sets ``statusType`` (and closed/on-hold times)."""
        org = self.orgs[org_id]
        with self._lock:
            record = org.records[module][record_id]
            cf = values.pop("cf", None) or {}
            before = copy.deepcopy(record)
            record.update(values)
            record["cf"].update({k: None if v is None else self._cf_string(v) for k, v in cf.items()})
            if module == "tickets":
                self._status_side_effects(org, record, before)
            self._touch(record)
            self._log("updated", org, module, record_id, "user", changes=sorted(set(values) | {f"cf.{k}" for k in cf}))
            return record

    def add_comment(
        self,
        org_id: str,
        module: str,
        record_id: str,
        *,
        content: str,
        is_public: bool = True,
        content_type: str = "html",
        commenter: dict[str, Any] | None = None,
        attachments: list[tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """A comment as if made in Zoho by ``commenter`` (an agent or contact dict; default the portal's first
        agent) with files ``[(name, bytes, content_type)]``."""
        org = self.orgs[org_id]
        with self._lock:
            author = commenter or next(iter(org.agents.values()))
            files = [
                self._store_file(org, name, data, kind, creator=author.get("id"))
                for name, data, kind in attachments or []
            ]
            return self._new_comment(
                org,
                module,
                org.records[module][record_id],
                content=content,
                is_public=is_public,
                content_type=content_type,
                author=author,
                files=files,
                by="user",
            )

    def add_thread(
        self,
        org_id: str,
        ticket_id: str,
        *,
        content: str,
        direction: str = "in",
        attachments: list[tuple[str, bytes, str]] | None = None,
        author: dict[str, Any] | None = None,
        channel: str = "EMAIL",
    ) -> dict[str, Any]:
        """An email reply on the ticket: ``direction`` "in" (from the contact, default) or "out" (an agent)."""
        org = self.orgs[org_id]
        with self._lock:
            ticket = org.records["tickets"][ticket_id]
            if author is None:
                author = (
                    org.records["contacts"].get(ticket.get("contactId") or "")
                    if direction == "in"
                    else next(iter(org.agents.values()), None)
                ) or {}
            files = [
                self._store_file(org, name, data, kind, creator=author.get("id"))
                for name, data, kind in attachments or []
            ]
            return self._new_thread(
                org, ticket, content=content, direction=direction, author=author, attachments=files, channel=channel
            )

    def add_ticket_attachment(
        self,
        org_id: str,
        ticket_id: str,
        name: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        *,
        is_public: bool = True,
    ) -> dict[str, Any]:
        org = self.orgs[org_id]
        with self._lock:
            stored = self._store_file(org, name, data, content_type, creator=None, is_public=is_public)
            org.attachments[ticket_id].append(stored)
            self._activity(org, org.records["tickets"][ticket_id])
            return self._render_file(org, stored, f"/tickets/{ticket_id}")

    # --- internals: records, comments, threads, files --------------------------------------------------------
    @staticmethod
    def _cf_string(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ";".join(str(v) for v in value)
        return str(value)

    def _touch(self, record: dict[str, Any]) -> None:
        ms = max(self._now_ms(), record["_mtime"])
        record["_mtime"] = ms
        record["modifiedTime"] = _stamp(ms / 1000)

    def _activity(self, org: Org, record: dict[str, Any]) -> None:
        if self.activity_bumps_modified_time:
            self._touch(record)

    def _status_side_effects(self, org: Org, ticket: dict[str, Any], before: dict[str, Any]) -> None:
        status_type = org.statuses.get(ticket.get("status") or "", "Open")
        ticket["statusType"] = status_type
        if status_type == "Closed" and before.get("statusType") != "Closed":
            ticket["closedTime"] = self.stamp()
        elif status_type != "Closed":
            ticket["closedTime"] = None
        if status_type == "On Hold" and before.get("statusType") != "On Hold":
            ticket["onholdTime"] = self.stamp()
        elif status_type != "On Hold":
            ticket["onholdTime"] = None

    def _store_file(
        self, org: Org, name: str, data: bytes, content_type: str, *, creator: str | None, is_public: bool = False
    ) -> dict[str, Any]:
        stored = {
            "id": self._id(),
            "name": name,
            "data": bytes(data),
            "content_type": content_type or "application/octet-stream",
            "creatorId": creator,
            "createdTime": self.stamp(),
            "isPublic": is_public,
        }
        org.files[stored["id"]] = stored
        return stored

    def _render_file(self, org: Org, stored: dict[str, Any], parent_path: str) -> dict[str, Any]:
        return {
            "id": stored["id"],
            "name": stored["name"],
            "size": str(len(stored["data"])),
            "href": self._api_url(org, f"{parent_path}/attachments/{stored['id']}/content"),
            "creatorId": stored["creatorId"],
            "createdTime": stored["createdTime"],
            "isPublic": stored["isPublic"],
        }

    def _person(self, person: dict[str, Any]) -> dict[str, Any]:
        if "emailId" in person:  # an agent
            return {
                "id": person["id"],
                "name": person["name"],
                "firstName": person["firstName"],
                "lastName": person["lastName"],
                "email": person["emailId"],
                "photoURL": None,
                "roleName": person.get("roleName"),
                "type": "AGENT",
            }
        name = " ".join(p for p in (person.get("firstName"), person.get("lastName")) if p)
        return {
            "id": person.get("id"),
            "name": name,
            "firstName": person.get("firstName"),
            "lastName": person.get("lastName"),
            "email": person.get("email"),
            "photoURL": None,
            "roleName": None,
            "type": "END_USER",
        }

    def _new_comment(
        self,
        org: Org,
        module: str,
        record: dict[str, Any],
        *,
        content: str,
        is_public: bool,
        content_type: str,
        author: dict[str, Any],
        files: list[dict[str, Any]],
        by: str,
    ) -> dict[str, Any]:
        stamp = self.stamp()
        comment = {
            "id": self._id(),
            "content": content,
            "contentType": content_type,
            "isPublic": is_public,
            "commenterId": author.get("id"),
            "commenter": self._person(author),
            "commentedTime": stamp,
            "modifiedTime": stamp,
            "_files": files,
            "_ms": self._now_ms(),
        }
        org.comments.setdefault((module, record["id"]), []).append(comment)
        self._activity(org, record)
        self._log("comment_created", org, module, record["id"], by, comment_id=comment["id"])
        return comment

    def _render_comment(self, org: Org, module: str, record_id: str, comment: dict[str, Any]) -> dict[str, Any]:
        data = {k: copy.deepcopy(v) for k, v in comment.items() if not k.startswith("_")}
        if module != "tickets":
            data.pop("isPublic")
            data.pop("contentType")
        data["attachments"] = [
            self._render_file(org, f, f"/{module}/{record_id}/comments/{comment['id']}") for f in comment["_files"]
        ]
        data["mention"] = []
        return data

    def _new_thread(
        self,
        org: Org,
        ticket: dict[str, Any],
        *,
        content: str,
        direction: str,
        author: dict[str, Any],
        attachments: list[dict[str, Any]],
        channel: str = "EMAIL",
        description_thread: bool = False,
    ) -> dict[str, Any]:
        stamp = self.stamp()
        person = self._person(author) if author else {"name": None, "type": "END_USER"}
        agent = person.get("type") == "AGENT"
        contact = org.records["contacts"].get(ticket.get("contactId") or "", {})
        thread = {
            "id": self._id(),
            "channel": channel,
            "direction": direction,
            "summary": _plain(content)[:100],
            "content": content,
            "contentType": "text/html",
            "isDescriptionThread": description_thread,
            "visibility": "public",
            "status": "SUCCESS",
            "createdTime": stamp,
            "author": person,
            "fromEmailAddress": person.get("email"),
            "to": contact.get("email") if agent else f"support@{org.portal_name}.zohodesk.com",
            "cc": None,
            "bcc": None,
            "responderId": author.get("id") if agent else None,
            "isForward": False,
            "canReply": True,
            "_files": attachments,
        }
        org.threads.setdefault(ticket["id"], []).append(thread)
        if not description_thread:
            if direction == "in":
                ticket["customerResponseTime"] = stamp
                if ticket.get("statusType") == "On Hold":  # a customer reply puts an On Hold ticket back to Open
                    before = copy.deepcopy(ticket)
                    ticket["status"] = "Open"
                    self._status_side_effects(org, ticket, before)
                    self._touch(ticket)
                else:
                    self._activity(org, ticket)
            else:
                self._activity(org, ticket)
            self._log("thread_created", org, "tickets", ticket["id"], "user", thread_id=thread["id"])
        return thread

    def _render_thread(self, org: Org, ticket_id: str, thread: dict[str, Any], *, full: bool) -> dict[str, Any]:
        data = {k: copy.deepcopy(v) for k, v in thread.items() if not k.startswith("_")}
        data["hasAttach"] = bool(thread["_files"])
        data["attachmentCount"] = str(len(thread["_files"]))
        if full:
            data["attachments"] = [
                self._render_file(org, f, f"/tickets/{ticket_id}/threads/{thread['id']}") for f in thread["_files"]
            ]
        else:
            data.pop("content")
        return data

    # --- rendering ------------------------------------------------------------------------------------------
    def _render(self, org: Org, module: str, record: dict[str, Any], *, listing: bool = False) -> dict[str, Any]:
        data = {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}
        labels = {f["apiName"]: f["displayLabel"] for f in org.fields[module] if f["isCustomField"]}
        data["customFields"] = {labels.get(k, k): v for k, v in data["cf"].items()}
        if module in MODULES:
            kind = {
                "tickets": "Cases",
                "contacts": "Contacts",
                "accounts": "Accounts",
                "tasks": "Tasks",
                "calls": "Calls",
                "events": "Events",
                "products": "Products",
                "contracts": "Contracts",
            }[module]
            data["webUrl"] = (
                f"https://{desk_host(org.dc)}/support/{org.portal_name}/ShowHomePage.do#{kind}/dv/{record['id']}"
            )
        if module == "tickets":
            tid = record["id"]
            threads = org.threads.get(tid, [])
            data["threadCount"] = str(len(threads))
            data["commentCount"] = str(len(org.comments.get(("tickets", tid), [])))
            data["attachmentCount"] = str(len(org.attachments.get(tid, [])))
            data["taskCount"] = str(sum(1 for t in org.records["tasks"].values() if t.get("ticketId") == tid))
            data["timeEntryCount"] = str(sum(1 for t in org.records["timeEntry"].values() if t.get("parentId") == tid))
            data["isOverDue"] = False
            if listing:
                for key in ("modifiedTime", "cf", "customFields", "description", "resolution"):
                    data.pop(key, None)
                last = threads[-1] if threads else None
                data["lastThread"] = (
                    {"channel": last["channel"], "isDraft": False, "isForward": False, "direction": last["direction"]}
                    if last
                    else None
                )
        elif module == "contracts":
            # ACTIVE / EXPIRED / FUTURE from the dates (doc samples); the list's sample answer has no
            # modifiedTime, cf or description: read a contract for those
            today = time.strftime("%Y-%m-%d", time.gmtime(self.now()))
            start, end = record.get("startDate") or "", record.get("endDate") or ""
            data["contractStatus"] = (
                "FUTURE" if start and start > today else "EXPIRED" if end and end < today else "ACTIVE"
            )
            if listing:
                for key in ("modifiedTime", "createdTime", "cf", "customFields", "description"):
                    data.pop(key, None)
        elif module == "timeEntry":
            ticket = org.records["tickets"].get(record.get("parentId") or "")
            data["parent"] = (
                {
                    "id": ticket["id"],
                    "type": "TICKETS",
                    "ticketNumber": ticket.get("ticketNumber"),
                    "subject": ticket.get("subject"),
                    "associatedTicketId": ticket["id"],
                }
                if ticket
                else None
            )
        elif module == "contacts" and listing:
            # the list's sample answer (DeskAPIDocument "List contacts", mirrored at developers.qodex.ai/zoho-desk/
            # zoho-desk-api/contacts-105/list-contacts-20) has email and createdTime but no modifiedTime or cf
            for key in ("modifiedTime", "cf", "customFields"):
                data.pop(key, None)
        if module not in ("tickets", "timeEntry"):
            data["commentCount"] = str(len(org.comments.get((module, record["id"]), [])))
        return data

    def _agent_view(self, agent: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(agent)

    def _org_view(self, org: Org, default: bool) -> dict[str, Any]:
        return {
            "id": org.id,
            "companyName": org.name,
            "organizationName": org.name,
            "portalName": org.portal_name,
            "portalURL": f"https://{desk_host(org.dc)}/support/{org.portal_name}",
            "isDefault": default,
            "edition": org.edition.upper(),
            "isAdminInOrg": True,
            "employeeCount": str(org.agents_count),
            "phoneNumber": None,
            "logoURL": None,
            "alias": None,
            "currencyLocale": "US",
            "description": None,
            "country": None,
        }

    # --- the wire: dispatch, authentication, credits --------------------------------------------------------
    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes):
        self._local.rate_headers = {}
        self._local.over_concurrency = False
        self._local.hold = None
        lowered = {k.lower(): v for k, v in headers.items()}
        org = self.orgs.get((lowered.get("orgid") or "").strip()) if raw_path.startswith("/desk/") else None
        if org is not None:
            with self._lock:
                org.in_flight += 1
                self._local.over_concurrency = org.in_flight > org.concurrency
        try:
            status, payload, out = super().dispatch(method, raw_path, headers, body)
            if self._local.hold is not None:  # a held create (hold_create_answers): made, answered later
                self._local.hold.wait(HOLD_MAX_SECONDS)
        finally:
            if org is not None:
                with self._lock:
                    org.in_flight -= 1
        for key, value in self._local.rate_headers.items():
            out.setdefault(key, value)
        if status == 204:
            payload = b""
        return status, payload, out

    def not_found(self, request: FakeRequest):
        if request.path.startswith("/desk/"):
            return _not_found()
        return super().not_found(request)

    def before(self, request: FakeRequest):
        match = DESK_PATH.match(request.path)
        if not match:
            return None
        dc, rest = match.group("dc"), match.group("rest") or "/"
        if dc not in DATA_CENTERS:
            return 404, "Not Found"
        with self._lock:
            header = request.headers.get("authorization", "")
            scheme, _, value = header.partition(" ")
            token = self.access_tokens.get(value.strip()) if scheme == "Zoho-oauthtoken" else None
            if token is None or token["revoked"] or token["expires_at"] <= self.now() or token["dc"] != dc:
                return _error(401, "INVALID_OAUTH", "The OAuth Token you provided is invalid.")
            request.token = token  # type: ignore[attr-defined]
            request.org = None  # type: ignore[attr-defined]
            if rest.rstrip("/") == "/api/v1/organizations":
                return self._scope_check(token, "basic", ("READ",))
            org_id = (request.headers.get("orgid") or "").strip()
            if not org_id:
                return _unprocessable("Mandatory header 'orgId' is missing in the input.")
            org = self.orgs.get(org_id)
            if org is None or org.dc != dc or org_id != token["org_id"]:
                return _error(403, "OAUTH_ORG_MISMATCH", "The OAuthToken is not valid for specified organization.")
            request.org = org  # type: ignore[attr-defined]
            refusal = self._scope_for(request, rest)
            if refusal is not None:
                return refusal
            cost = credit_cost(request.method, rest, request.query)
            day = int(self.now() // 86400)
            retry = str(max(1, math.ceil((day + 1) * 86400 - self.now())))
            forced = self._take_forced(org.id)
            if forced == "THRESHOLD_EXCEEDED" or org.credits_used + cost > org.daily_credits:
                self._local.rate_headers = {"X-Rate-Limit-Remaining-v3": str(org.credits_remaining)}
                return _error(
                    429,
                    "THRESHOLD_EXCEEDED",
                    "The API call limit for your portal has been exceeded for the day.",
                    {"Retry-After": retry},
                )
            if forced == "TOO_MANY_REQUESTS" or self._local.over_concurrency:
                return _error(429, "TOO_MANY_REQUESTS", "Too many requests are being processed concurrently.")
            org.credits_by_day[day] = org.credits_by_day.get(day, 0) + cost
            self._local.rate_headers = {
                "X-Rate-Limit-Request-Weight-v3": str(cost),
                "X-Rate-Limit-Remaining-v3": str(org.credits_remaining),
            }
        return None

    def _take_forced(self, org_id: str) -> str | None:
        for forced in self._forced:
            if forced["left"] > 0 and forced["org_id"] in (None, org_id):
                forced["left"] -= 1
                return forced["code"]
        return None

    def _scope_check(self, token: dict[str, Any], family: str, actions: tuple[str, ...]):
        granted = {s.lower() for s in token["scopes"]}
        for fam in SCOPE_FAMILIES.get(family, (family,)):
            for action in actions:
                wanted = {f"desk.{fam}.{action}".lower(), f"desk.{fam}.all".lower()}
                if action in ("CREATE", "UPDATE"):
                    wanted.add(f"desk.{fam}.write".lower())
                if granted & wanted:
                    return None
        return _error(403, "SCOPE_MISMATCH", "The OAuth Token does not contain the scope to perform this operation.")

    def _scope_for(self, request: FakeRequest, rest: str):
        token = request.token  # type: ignore[attr-defined]
        parts = rest.strip("/").split("/")[2:]  # after api/v1
        head = parts[0] if parts else ""
        method = request.method
        read = ("READ",)
        write = ("UPDATE", "CREATE")
        if head == "agents" and len(parts) > 2 and parts[2] == "timeEntry":
            # "List Agent Time Entries" needs Desk.settings.READ (DeskAPIDocument, mirrored at
            # developers.qodex.ai/zoho-desk/zoho-desk-api/agent-timeentry/list-agent-time-entries)
            return self._scope_check(token, "settings", read)
        if head in ("myinfo", "agents", "departments"):
            return self._scope_check(token, "basic", read)
        if head in ("organizationFields", "fields"):
            return self._scope_check(token, "settings", read)
        if head == "uploads":
            return self._scope_check(token, "tickets", read if method == "GET" else write)
        if head in MODULES:
            module = "timeEntry" if len(parts) > 2 and parts[2] == "timeEntry" else head
            if len(parts) > 1 and parts[1] == "search":
                if module not in SEARCH_MODULES:
                    return None  # no such endpoint: the 404 comes from routing
                return self._scope_check(token, "search", read) or self._scope_check(token, module, read)
            if method == "GET":
                return self._scope_check(token, module, read)
            if method == "POST" and len(parts) == 1:
                return self._scope_check(token, module, ("CREATE",))
            return self._scope_check(token, module, write)
        return None

    # --- Zoho Accounts ----------------------------------------------------------------------------------------
    @route("POST", r"/accounts/(?P<dc>[a-z]+)/oauth/v2/token")
    def oauth_token(self, request: FakeRequest):
        dc = request.params["dc"]
        if dc not in DATA_CENTERS:
            return 404, "Not Found"
        params = {k: v[0] for k, v in request.query.items()}
        if request.body:
            params.update({k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()})
        client = self.clients.get((dc, params.get("client_id") or ""))
        grant = params.get("grant_type")
        if grant == "refresh_token":
            record = {
                "refresh_token": params.get("refresh_token"),
                "client_id": params.get("client_id"),
                "dc": dc,
                "time": self.now(),
                "granted": False,
            }
            self.token_refreshes.append(record)
        if client is None:
            return 200, {"error": "invalid_client"}
        if params.get("client_secret") != client["secret"]:
            return 200, {"error": "invalid_client_secret"}
        if grant == "authorization_code":
            code = self.codes.get(params.get("code") or "")
            if (
                code is None
                or code["used"]
                or code["expires_at"] <= self.now()
                or code["client_id"] != client["client_id"]
                or code["dc"] != dc
            ):
                return 200, {"error": "invalid_code"}
            code["used"] = True
            refresh = self._new_refresh_token(code)
            access = self._new_access_token(refresh)
            return 200, {
                "access_token": access["token"],
                "refresh_token": refresh["token"],
                "scope": " ".join(sorted(code["scopes"])),
                "api_domain": api_domain(dc),
                "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_LIFETIME,
            }
        if grant == "refresh_token":
            refresh = self.refresh_tokens.get(params.get("refresh_token") or "")
            if (
                refresh is None
                or refresh["revoked"]
                or refresh["client_id"] != client["client_id"]
                or refresh["dc"] != dc
            ):
                return 200, {"error": "invalid_code"}
            now = self.now()
            if now - refresh["window_start"] >= REFRESH_WINDOW:
                refresh["window_start"], refresh["window_count"] = now, 0
            if refresh["window_count"] >= REFRESHES_PER_WINDOW:
                return 400, dict(ACCESS_DENIED)
            access = self._new_access_token(refresh)
            refresh["window_count"] += 1
            record["granted"] = True
            return 200, {
                "access_token": access["token"],
                "scope": " ".join(sorted(refresh["scopes"])),
                "api_domain": api_domain(dc),
                "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_LIFETIME,
            }
        return 200, {"error": "unsupported_grant_type"}

    def _new_refresh_token(self, grant: dict[str, Any]) -> dict[str, Any]:
        token = {
            "token": f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
            "client_id": grant["client_id"],
            "dc": grant["dc"],
            "email": grant["email"],
            "org_id": grant["org_id"],
            "scopes": set(grant["scopes"]),
            "created": self.now(),
            "revoked": False,
            "window_start": self.now(),
            "window_count": 0,
            "access": [],
        }
        mine = [
            r
            for r in self.refresh_tokens.values()
            if not r["revoked"] and r["email"] == token["email"] and r["client_id"] == token["client_id"]
        ]
        mine.sort(key=lambda r: r["created"])
        while len(mine) >= REFRESH_TOKENS_PER_USER_CLIENT:  # the 21st silently revokes the oldest
            self.revoke_refresh_token(mine.pop(0)["token"])
        self.refresh_tokens[token["token"]] = token
        return token

    def _new_access_token(self, refresh: dict[str, Any]) -> dict[str, Any]:
        access = {
            "token": f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
            "refresh": refresh["token"],
            "client_id": refresh["client_id"],
            "dc": refresh["dc"],
            "email": refresh["email"],
            "org_id": refresh["org_id"],
            "scopes": set(refresh["scopes"]),
            "expires_at": self.now() + ACCESS_TOKEN_LIFETIME,
            "revoked": False,
        }
        refresh["access"].append(access["token"])
        live = [
            t
            for t in refresh["access"]
            if t in self.access_tokens
            and not self.access_tokens[t]["revoked"]
            and self.access_tokens[t]["expires_at"] > self.now()
        ]
        while len(live) >= LIVE_ACCESS_TOKENS_PER_REFRESH:  # the 31st live token removes the oldest
            self.access_tokens[live.pop(0)]["revoked"] = True
        self.access_tokens[access["token"]] = access
        return access

    # --- Desk: helpers for handlers ------------------------------------------------------------------------
    @staticmethod
    def _extra_params(request: FakeRequest, allowed: tuple[str, ...] | set[str]):
        for name in request.query:
            if name not in allowed:
                return _unprocessable(f"Extra query parameter '{name}' is present in the input.")
        return None

    @staticmethod
    def _int_param(request: FakeRequest, name: str, default: int, low: int, high: int | None):
        raw = request.arg(name)
        if raw is None:
            return default, None
        if not re.fullmatch(r"-?\d+", raw.strip()):
            return None, _unprocessable(f"The value passed for field '{name}' is invalid.")
        value = int(raw)
        if value < low or (high is not None and value > high):
            bound = f"{low}-{high}" if high is not None else f">= {low}"
            return None, _unprocessable(f"The value passed for field '{name}' exceeds the range of '{bound}'.")
        return value, None

    def _page(self, request: FakeRequest, items: list[Any], *, default_limit: int = 10, max_limit: int = MAX_LIMIT):
        start, refusal = self._int_param(request, "from", 0, 0, None)
        if refusal:
            return None, refusal
        limit, refusal = self._int_param(request, "limit", default_limit, 1, max_limit)
        if refusal:
            return None, refusal
        return items[start : start + limit], None

    @staticmethod
    def _ranges(request: FakeRequest, names: tuple[str, ...]):
        """``<from>,<to>`` time ranges (both ends inclusive here - unverified) → ``{name: (ms, ms)}``."""
        ranges: dict[str, tuple[int, int]] = {}
        for name in names:
            raw = request.arg(name)
            if raw is None:
                continue
            low_raw, _, high_raw = raw.partition(",")
            low, high = _parse_stamp(low_raw.strip()), _parse_stamp(high_raw.strip())
            if low is None or high is None or low > high:
                return None, _unprocessable(f"The value passed for field '{name}' is invalid.")
            ranges[name] = (low, high)
        return ranges, None

    @staticmethod
    def _listing(data: list[dict[str, Any]]):
        return (200, {"data": data}) if data else (204, b"")

    @staticmethod
    def _body(request: FakeRequest):
        try:
            data = request.json()
        except ValueError:
            return None, _unprocessable("The request body is not valid JSON.")
        if not isinstance(data, dict):
            return None, _unprocessable("The request body must be a JSON object.")
        return data, None

    def _record(self, request: FakeRequest, module: str, record_id: str) -> dict[str, Any] | None:
        org: Org = request.org  # type: ignore[attr-defined]
        return org.records[module].get(record_id)

    def _me(self, request: FakeRequest) -> dict[str, Any]:
        org: Org = request.org  # type: ignore[attr-defined]
        token = request.token  # type: ignore[attr-defined]
        return self.agent_for(org.id, token["email"]) or next(iter(org.agents.values()))

    def _validate(self, org: Org, module: str, data: dict[str, Any], *, creating: bool) -> list[dict[str, str]]:
        """INVALID_DATA errors of a create/update body (system fields, lookups, picklists and ``cf``)."""
        errors: list[dict[str, str]] = []
        fields = {f["apiName"]: f for f in org.fields[module]}

        def bad(name: str, kind: str = "invalid", message: str = "") -> None:
            errors.append({"fieldName": f"/{name}", "errorType": kind, "errorMessage": message})

        lookups = {
            "departmentId": org.departments,
            "contactId": org.records["contacts"],
            "accountId": org.records["accounts"],
            "productId": org.records["products"],
            "ticketId": org.records["tickets"],
            "assigneeId": org.agents,
            "ownerId": org.agents,
        }
        for key, value in data.items():
            if key == "cf":
                if not isinstance(value, dict):
                    bad("cf")
                    continue
                for cf_key, cf_value in value.items():
                    definition = fields.get(cf_key)
                    if definition is None or not definition["isCustomField"]:
                        bad(f"cf/{cf_key}", message="No such custom field")
                    elif not self._valid_value(definition, cf_value):
                        bad(f"cf/{cf_key}")
                continue
            if module == "tickets" and key == "contact":
                if not isinstance(value, dict) or not (value.get("lastName") or value.get("email")):
                    bad("contact")
                continue
            definition = fields.get(key)
            if definition is None or definition["isCustomField"] or key in READ_ONLY:
                bad(key, message="Extra field or read-only field")
                continue
            if value is None:
                if definition["isMandatory"]:
                    bad(key, "missing")
                continue
            if key in lookups:
                if str(value) not in lookups[key]:
                    bad(key)
                continue
            if key == "status" and module == "tickets":
                if value not in org.statuses:
                    bad(key)
                continue
            if not self._valid_value(definition, value):
                bad(key)
        if creating:
            for definition in org.fields[module]:
                api = definition["apiName"]
                if not definition["isMandatory"]:
                    continue
                present = (data.get("cf") or {}).get(api) if definition["isCustomField"] else data.get(api)
                if module == "tickets" and api == "contactId" and isinstance(data.get("contact"), dict):
                    continue
                if present in (None, "") and not any(e["fieldName"] == f"/{api}" for e in errors):
                    bad(f"cf/{api}" if definition["isCustomField"] else api, "missing")
        return errors

    @staticmethod
    def _valid_value(definition: dict[str, Any], value: Any) -> bool:
        if value is None:
            return not definition["isMandatory"]
        kind = definition["type"]
        allowed = definition.get("allowedValues")
        text = value if isinstance(value, str) else None
        if kind == "Picklist":
            return isinstance(value, str) and (not allowed or value in allowed)
        if kind == "Multiselect":
            chosen = value if isinstance(value, list) else str(value).split(";")
            return all(isinstance(v, str) for v in chosen) and (not allowed or all(v in allowed for v in chosen))
        if kind == "Boolean":
            return isinstance(value, bool) or value in ("true", "false")
        if kind == "Number":
            return not isinstance(value, bool) and bool(re.fullmatch(r"-?\d+", str(value)))
        if kind in ("Decimal", "Currency", "Percent"):
            return not isinstance(value, bool) and bool(re.fullmatch(r"-?\d+(\.\d+)?", str(value)))
        if kind == "Date":
            return text is not None and bool(re.fullmatch(r"\d{4}-\d\d-\d\d", text))
        if kind == "DateTime":
            return text is not None and _parse_stamp(text) is not None
        if kind == "Email":
            return text is not None and bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text)) and len(text) <= 100
        if text is None:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and kind in ("Text", "Phone")
        return len(text) <= (definition.get("maxLength") or 255)

    def _apply(self, org: Org, module: str, record: dict[str, Any], data: dict[str, Any]) -> None:
        for key, value in data.items():
            if key == "cf":
                record["cf"].update({k: None if v is None else self._cf_string(v) for k, v in value.items()})
            elif key != "contact":
                record[key] = str(value) if key.endswith("Id") and value is not None else value

    # --- Desk: organizations, me, agents, departments, fields --------------------------------------------------
    @route("GET", P + r"/organizations")
    def organizations(self, request: FakeRequest):
        token = request.token  # type: ignore[attr-defined]
        client = self.clients.get((token["dc"], token["client_id"])) or {"orgs": []}
        ids = [o for o in client["orgs"] if o in self.orgs]
        ids += [
            o.id
            for o in self.orgs.values()
            if o.dc == token["dc"] and o.id not in ids and self.agent_for(o.id, token["email"])
        ]
        return self._listing([self._org_view(self.orgs[i], n == 0) for n, i in enumerate(ids)])

    @route("GET", P + r"/myinfo")
    def myinfo(self, request: FakeRequest):
        return 200, self._agent_view(self._me(request))

    @route("GET", P + r"/agents")
    def agents_list(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        refusal = self._extra_params(request, ("from", "limit", "status", "searchStr", "departmentIds"))
        if refusal:
            return refusal
        items, refusal = self._page(request, list(org.agents.values()), max_limit=200)
        return refusal or self._listing([self._agent_view(a) for a in items])

    @route("GET", P + r"/agents/(?P<id>\d+)")
    def agent_show(self, request: FakeRequest):
        agent = request.org.agents.get(request.params["id"])  # type: ignore[attr-defined]
        return (200, self._agent_view(agent)) if agent else _not_found()

    @route("GET", P + r"/departments")
    def departments_list(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        refusal = self._extra_params(request, ("from", "limit", "isEnabled", "chatStatus", "searchStr"))
        if refusal:
            return refusal
        items, refusal = self._page(request, list(org.departments.values()), max_limit=200)
        return refusal or self._listing([dict(d) for d in items])

    @route("GET", P + r"/departments/(?P<id>\d+)")
    def department_show(self, request: FakeRequest):
        department = request.org.departments.get(request.params["id"])  # type: ignore[attr-defined]
        return (200, dict(department)) if department else _not_found()

    @route("GET", P + r"/(?:organizationFields|fields)")
    def organization_fields(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        refusal = self._extra_params(request, ("module", "apiNames", "departmentId"))
        if refusal:
            return refusal
        module = request.arg("module")
        if not module:
            return _unprocessable("The mandatory query parameter 'module' is missing in the input.")
        if module not in FIELD_MODULES:
            return _unprocessable("The value passed for field 'module' is invalid.")
        return self._listing([copy.deepcopy(f) for f in org.fields[module]])

    # --- Desk: module records -----------------------------------------------------------------------------
    @route("GET", P + "/" + M)
    def records_list(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        module = request.params["module"]
        sorts = LIST_SORTS.get(module, ("createdTime", "modifiedTime"))
        refusal = self._extra_params(
            request,
            (
                "from",
                "limit",
                "sortBy",
                "departmentId",
                "departmentIds",
                "status",
                "assignee",
                "include",
                "viewId",
                "fields",
                "accountId",
                "ownerId",
            ),
        )
        if refusal:
            return refusal
        items = list(org.records[module].values())
        sort_by = request.arg("sortBy")
        if sort_by is not None:
            key = sort_by.lstrip("-")
            if key not in sorts:
                return _unprocessable("The value passed for field 'sortBy' is invalid.")
            field_name = LIST_SORT_KEYS.get(key, key)
            if field_name in ("modifiedTime", "createdTime"):  # by the millisecond, as Zoho keeps them
                shadow = "_mtime" if field_name == "modifiedTime" else "_ctime"
                items.sort(key=lambda r: (r[shadow], r["id"]), reverse=sort_by.startswith("-"))
            else:
                items.sort(key=lambda r: (r.get(field_name) or "", r["id"]), reverse=sort_by.startswith("-"))
        if request.arg("departmentId"):
            items = [r for r in items if r.get("departmentId") == request.arg("departmentId")]
        if request.arg("status") and module == "tickets":
            wanted = set(request.arg("status").split(","))
            items = [r for r in items if r.get("status") in wanted or r.get("statusType") in wanted]
        page, refusal = self._page(request, items)
        return refusal or self._listing([self._render(org, module, r, listing=True) for r in page])

    @route("GET", P + "/" + M + r"/(?P<id>\d+)")
    def record_show(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        module = request.params["module"]
        refusal = self._extra_params(request, ("include",))
        if refusal:
            return refusal
        record = self._record(request, module, request.params["id"])
        if record is None:
            return _not_found()
        data = self._render(org, module, record)
        includes = [i for i in (request.arg("include") or "").split(",") if i]
        allowed = {"contacts", "products", "assignee", "departments", "contract", "isRead", "team", "skills"}
        if any(i not in allowed for i in includes) or (includes and module != "tickets"):
            return _unprocessable("The value passed for field 'include' is invalid.")
        if "contacts" in includes and record.get("contactId") in org.records["contacts"]:
            contact = org.records["contacts"][record["contactId"]]
            account = org.records["accounts"].get(contact.get("accountId") or "")
            data["contact"] = {
                "id": contact["id"],
                "firstName": contact.get("firstName"),
                "lastName": contact.get("lastName"),
                "email": contact.get("email"),
                "phone": contact.get("phone"),
                "mobile": contact.get("mobile"),
                "type": contact.get("type"),
                "account": {
                    "id": account["id"],
                    "accountName": account["accountName"],
                    "website": account.get("website"),
                }
                if account
                else None,
            }
        if "assignee" in includes:
            data["assignee"] = _agent_ref(org, record.get("assigneeId"))
        if "departments" in includes:
            department = org.departments.get(record.get("departmentId") or "")
            data["department"] = {"id": department["id"], "name": department["name"]} if department else None
        return 200, data

    @route("POST", P + "/" + M)
    def record_create(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        module = request.params["module"]
        refusal = self._extra_params(request, ())
        if refusal:
            return refusal
        data, refusal = self._body(request)
        if refusal:
            return refusal
        errors = self._validate(org, module, data, creating=True)
        if errors:
            return _invalid_data(errors)
        me = self._me(request)
        if module == "tickets":
            if "contactId" not in data:
                spec = data["contact"]
                existing = next(
                    (
                        c
                        for c in org.records["contacts"].values()
                        if spec.get("email") and c.get("email") == spec.get("email")
                    ),
                    None,
                )
                data["contactId"] = (
                    existing
                    or self.add_contact(
                        org.id, **{k: spec[k] for k in ("firstName", "lastName", "email", "phone") if spec.get(k)}
                    )
                )["id"]
            cf = data.pop("cf", {})
            values = {k: v for k, v in data.items() if k != "contact"}
            values.setdefault("description", None)  # add_ticket's seeded description is not the API's
            record = self.add_ticket(org.id, **values, cf=cf)
            self.events.pop()  # add_ticket logged it as a user action; log it as the API's
        else:
            record = self._blank(org, module)
            self._apply(org, module, record, data)
            if module == "tasks" and not record.get("status"):
                record["status"] = "Not Started"
            org.records[module][record["id"]] = record
        record["createdBy"] = record["modifiedBy"] = me["id"]
        self._log("created", org, module, record["id"], "api", changes=sorted(data))
        self._take_hold(module, record["id"])
        return 200, self._render(org, module, record)

    @route("PATCH", P + "/" + M + r"/(?P<id>\d+)")
    def record_update(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        module = request.params["module"]
        refusal = self._extra_params(request, ())
        if refusal:
            return refusal
        record = self._record(request, module, request.params["id"])
        if record is None:
            return _not_found()
        data, refusal = self._body(request)
        if refusal:
            return refusal
        errors = self._validate(org, module, data, creating=False)
        if errors:
            return _invalid_data(errors)
        before = copy.deepcopy(record)
        self._apply(org, module, record, data)
        if module == "tickets":
            self._status_side_effects(org, record, before)
        record["modifiedBy"] = self._me(request)["id"]
        self._touch(record)
        self._log("updated", org, module, record["id"], "api", changes=sorted(data))
        return 200, self._render(org, module, record)

    # --- Desk: search ---------------------------------------------------------------------------------------
    @route("GET", P + r"/(?P<module>" + "|".join(SEARCH_MODULES) + r")/search")
    def search(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        module = request.params["module"]
        filters = SEARCH_PARAMS[module]
        refusal = self._extra_params(request, set(SEARCH_COMMON) | set(filters) | set(SEARCH_CUSTOM))
        if refusal:
            return refusal
        custom: list[tuple[str, str]] = []
        cf_names = {f["apiName"] for f in org.fields[module] if f["isCustomField"]}
        for name in SEARCH_CUSTOM:
            raw = request.arg(name)
            if raw is None:
                continue
            api, colon, wanted = raw.partition(":")
            if not colon or api.strip() not in cf_names:  # unverified: Zoho's answer to an unknown field
                return _unprocessable(f"The value passed for field '{name}' is invalid.")
            custom.append((api.strip(), wanted))
        start, refusal = self._int_param(request, "from", 0, 0, SEARCH_MAX_FROM)
        if refusal:
            return refusal
        limit, refusal = self._int_param(request, "limit", 10, 1, MAX_LIMIT)
        if refusal:
            return refusal
        sorts = SEARCH_SORTS.get(module, ("relevance", "modifiedTime", "createdTime"))
        sort_by = request.arg("sortBy") or "relevance"
        if sort_by.lstrip("-") not in sorts:
            return _unprocessable("The value passed for field 'sortBy' is invalid.")
        used_filters = [f for f in filters if request.arg(f) is not None and not f.endswith("Range")]
        if request.arg("_all") is not None and (used_filters or custom):
            return _unprocessable("The parameter '_all' cannot be combined with field-specific parameters.")
        ranges, refusal = self._ranges(
            request, ("modifiedTimeRange", "createdTimeRange", "customerResponseTimeRange", "dueDateRange")
        )
        if refusal:
            return refusal

        def text_match(pattern: str, *values: Any) -> bool:
            pattern = pattern.strip().lower()
            for value in values:
                if value is None:
                    continue
                text = str(value).lower()
                if ("*" in pattern and fnmatch.fnmatchcase(text, pattern)) or text == pattern:
                    return True
            return False

        def full_name(record: dict[str, Any]) -> str:
            return " ".join(p for p in (record.get("firstName"), record.get("lastName")) if p)

        def matches(record: dict[str, Any]) -> bool:
            bounds = {
                "modifiedTimeRange": record["_mtime"],
                "createdTimeRange": record["_ctime"],
                "customerResponseTimeRange": _parse_stamp(record.get("customerResponseTime") or ""),
                "dueDateRange": _parse_stamp(record.get("dueDate") or ""),
            }
            for name, (low, high) in ranges.items():
                value = bounds[name]
                if value is None or not (low <= value <= high):  # both ends inclusive
                    return False
            if request.arg("id") and record["id"] != request.arg("id"):
                return False
            everything = request.arg("_all")
            if everything is not None:
                texts = [v for k, v in record.items() if isinstance(v, str) and not k.startswith("_")]
                texts += [v for v in record["cf"].values() if v]
                if not text_match(everything if "*" in everything else f"*{everything}*", *texts):
                    return False
            for api, wanted in custom:
                value = record["cf"].get(api)
                if wanted in ("${empty}", "${notempty}"):
                    if (value in (None, "")) != (wanted == "${empty}"):
                        return False
                elif not text_match(wanted, value):
                    return False
            contact = org.records["contacts"].get(record.get("contactId") or "", {})
            account = org.records["accounts"].get(record.get("accountId") or "", {})
            for name in used_filters:
                wanted = request.arg(name) or ""
                if name in ("status", "priority", "channel", "category"):
                    choices = {w.strip().lower() for w in wanted.split(",")}
                    values = {str(record.get(name) or "").lower()}
                    if name == "status":
                        values.add(str(record.get("statusType") or "").lower())
                    if not choices & values:
                        return False
                elif name == "contactName":
                    if not text_match(wanted, full_name(contact), contact.get("lastName")):
                        return False
                elif name == "accountName":
                    target = record if module == "accounts" else account
                    if not text_match(wanted, target.get("accountName")):
                        return False
                elif name == "fullName":
                    if not text_match(wanted, full_name(record)):
                        return False
                elif not text_match(wanted, record.get(name)):
                    return False
            return True

        # the index shows a record ``search_lag_seconds`` after it was made
        horizon = self._now_ms() - int(self.search_lag_seconds * 1000)
        found = [r for r in org.records[module].values() if r["_ctime"] <= horizon and matches(r)]
        key = sort_by.lstrip("-")
        order = {"relevance": "_mtime", "modifiedTime": "_mtime", "createdTime": "_ctime"}.get(key, key)
        descending = sort_by.startswith("-") or key == "relevance"
        found.sort(
            key=lambda r: (r.get(order) or 0 if order.startswith("_") else r.get(order) or "", r["id"]),
            reverse=descending,
        )
        reachable = found[:SEARCH_WINDOW]
        page = reachable[start : start + limit]
        if not page:
            return 204, b""
        return 200, {"data": [self._render(org, module, r) for r in page], "count": str(len(found))}

    # --- Desk: comments ------------------------------------------------------------------------------------
    @route("GET", P + "/" + CM + r"/(?P<id>\d+)/comments")
    def comments_list(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        module, record_id = request.params["module"], request.params["id"]
        refusal = self._extra_params(request, ("from", "limit", "sortBy", "include"))
        if refusal:
            return refusal
        if self._record(request, module, record_id) is None:
            return _not_found()
        sort_by = request.arg("sortBy") or "-commentedTime"
        if sort_by.lstrip("-") != "commentedTime":
            return _unprocessable("The value passed for field 'sortBy' is invalid.")
        comments = sorted(
            org.comments.get((module, record_id), []),
            key=lambda c: (c["_ms"], c["id"]),
            reverse=sort_by.startswith("-"),
        )
        page, refusal = self._page(request, comments, default_limit=50)
        return refusal or self._listing([self._render_comment(org, module, record_id, c) for c in page])

    @route("GET", P + "/" + CM + r"/(?P<id>\d+)/comments/(?P<cid>\d+)")
    def comment_show(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        module, record_id = request.params["module"], request.params["id"]
        comment = next((c for c in org.comments.get((module, record_id), []) if c["id"] == request.params["cid"]), None)
        return (200, self._render_comment(org, module, record_id, comment)) if comment else _not_found()

    @route("POST", P + "/" + CM + r"/(?P<id>\d+)/comments")
    def comment_create(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        module, record_id = request.params["module"], request.params["id"]
        refusal = self._extra_params(request, ())
        if refusal:
            return refusal
        record = self._record(request, module, record_id)
        if record is None:
            return _not_found()
        data, refusal = self._body(request)
        if refusal:
            return refusal
        allowed = (
            {"content", "attachmentIds", "contentType", "isPublic"}
            if module == "tickets"
            else {"content", "attachmentIds"}
        )
        errors = [
            {"fieldName": f"/{k}", "errorType": "invalid", "errorMessage": "Extra field"}
            for k in data
            if k not in allowed
        ]
        content = data.get("content")
        if content in (None, ""):
            errors.append({"fieldName": "/content", "errorType": "missing", "errorMessage": ""})
        elif not isinstance(content, str) or len(content) > COMMENT_MAX:
            errors.append(
                {
                    "fieldName": "/content",
                    "errorType": "invalid",
                    "errorMessage": f"content must be at most {COMMENT_MAX} characters",
                }
            )
        content_type = data.get("contentType", "plainText")
        if content_type not in ("html", "plainText"):
            errors.append({"fieldName": "/contentType", "errorType": "invalid", "errorMessage": ""})
        is_public = data.get("isPublic", True)
        if not isinstance(is_public, bool):
            errors.append({"fieldName": "/isPublic", "errorType": "invalid", "errorMessage": ""})
        ids = data.get("attachmentIds") or []
        if not isinstance(ids, list) or any(str(i) not in org.uploads for i in ids):
            errors.append({"fieldName": "/attachmentIds", "errorType": "invalid", "errorMessage": ""})
        if errors:
            return _invalid_data(errors)
        files = [org.uploads.pop(str(i)) for i in ids]
        comment = self._new_comment(
            org,
            module,
            record,
            content=content,
            is_public=is_public,
            content_type=content_type,
            author=self._me(request),
            files=files,
            by="api",
        )
        return 200, self._render_comment(org, module, record_id, comment)

    # --- Desk: threads, attachments, uploads, downloads, time entries -------------------------------------
    @route("GET", P + r"/tickets/(?P<id>\d+)/threads")
    def threads_list(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        ticket_id = request.params["id"]
        refusal = self._extra_params(request, ("from", "limit", "sortBy"))
        if refusal:
            return refusal
        if ticket_id not in org.records["tickets"]:
            return _not_found()
        sort_by = request.arg("sortBy") or "-createdTime"
        if sort_by.lstrip("-") != "createdTime":
            return _unprocessable("The value passed for field 'sortBy' is invalid.")
        threads = list(org.threads.get(ticket_id, []))
        if sort_by.startswith("-"):
            threads.reverse()
        page, refusal = self._page(request, threads, max_limit=200)
        return refusal or self._listing([self._render_thread(org, ticket_id, t, full=False) for t in page])

    @route("GET", P + r"/tickets/(?P<id>\d+)/threads/(?P<tid>\d+)")
    def thread_show(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        ticket_id = request.params["id"]
        refusal = self._extra_params(request, ("include",))
        if refusal:
            return refusal
        thread = next((t for t in org.threads.get(ticket_id, []) if t["id"] == request.params["tid"]), None)
        return (200, self._render_thread(org, ticket_id, thread, full=True)) if thread else _not_found()

    @route("GET", P + r"/tickets/(?P<id>\d+)/attachments")
    def attachments_list(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        ticket_id = request.params["id"]
        refusal = self._extra_params(request, ("from", "limit", "sortBy", "isPublic", "include"))
        if refusal:
            return refusal
        if ticket_id not in org.records["tickets"]:
            return _not_found()
        page, refusal = self._page(request, org.attachments.get(ticket_id, []), default_limit=50)
        return refusal or self._listing([self._render_file(org, f, f"/tickets/{ticket_id}") for f in page])

    def _multipart_file(self, request: FakeRequest) -> tuple[str, bytes, str] | None:
        content_type = request.headers.get("content-type", "")
        if "multipart/form-data" not in content_type:
            return None
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body
        )
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                return part.get_filename() or "file", part.get_payload(decode=True) or b"", part.get_content_type()
        return None

    def _file_or_refusal(self, request: FakeRequest):
        upload = self._multipart_file(request)
        if upload is None:
            return None, _invalid_data([{"fieldName": "/file", "errorType": "missing", "errorMessage": ""}])
        if len(upload[1]) > MAX_UPLOAD_BYTES:
            return None, _error(413, "RESOURCE_SIZE_EXCEEDED", "The size of the file exceeds the limit.")
        return upload, None

    @route("POST", P + r"/tickets/(?P<id>\d+)/attachments")
    def attachment_create(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        ticket_id = request.params["id"]
        refusal = self._extra_params(request, ("isPublic",))
        if refusal:
            return refusal
        if ticket_id not in org.records["tickets"]:
            return _not_found()
        upload, refusal = self._file_or_refusal(request)
        if refusal:
            return refusal
        name, data, kind = upload
        stored = self._store_file(
            org,
            name,
            data,
            kind,
            creator=self._me(request)["id"],
            is_public=(request.arg("isPublic") or "false").lower() == "true",
        )
        org.attachments[ticket_id].append(stored)
        self._activity(org, org.records["tickets"][ticket_id])
        self._log("attachment_created", org, "tickets", ticket_id, "api", attachment_id=stored["id"])
        return 200, self._render_file(org, stored, f"/tickets/{ticket_id}")

    @route("POST", P + r"/uploads")
    def upload_create(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        refusal = self._extra_params(request, ())
        if refusal:
            return refusal
        upload, refusal = self._file_or_refusal(request)
        if refusal:
            return refusal
        name, data, kind = upload
        stored = self._store_file(org, name, data, kind, creator=self._me(request)["id"])
        org.uploads[stored["id"]] = stored
        return 200, self._render_file(org, stored, "/uploads")

    @route("GET", P + r"/(?:.+/)?(?:attachments|uploads)/(?P<aid>\d+)/content")
    def download(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        stored = org.files.get(request.params["aid"])
        if stored is None:
            return _not_found()
        self.downloads.append(
            {
                "org_id": org.id,
                "attachment_id": stored["id"],
                "name": stored["name"],
                "path": request.path,
                "authorization": request.headers.get("authorization"),
            }
        )
        return (
            200,
            stored["data"],
            {
                "Content-Type": stored["content_type"],
                "Content-Disposition": f'attachment; filename="{stored["name"]}"',
            },
        )

    @route("GET", P + r"/tickets/(?P<id>\d+)/timeEntry")
    def time_entries(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        ticket_id = request.params["id"]
        if ticket_id not in org.records["tickets"]:
            return _not_found()
        return self._time_entry_list(request, lambda e: e.get("parentId") == ticket_id, ())

    @route("GET", P + r"/agents/(?P<id>\d+)/timeEntry")
    def agent_time_entries(self, request: FakeRequest):
        """An agent's time entries (``module`` tickets|tasks; only ticket entries exist here)."""
        org: Org = request.org  # type: ignore[attr-defined]
        agent_id = request.params["id"]
        if agent_id not in org.agents:
            return _not_found()
        module = request.arg("module") or "tickets"
        if module not in ("tickets", "tasks"):
            return _unprocessable("The value passed for field 'module' is invalid.")
        return self._time_entry_list(
            request,
            lambda e: module == "tickets" and e.get("ownerId") == agent_id,
            ("module", "departmentId"),
        )

    def _time_entry_list(self, request: FakeRequest, wanted: Callable[[dict[str, Any]], bool], extra: tuple):
        org: Org = request.org  # type: ignore[attr-defined]
        names = ("createdTimeRange", "modifiedTimeRange")
        refusal = self._extra_params(
            request, ("from", "limit", "orderBy", "billingType", "billStatus", "include", *names, *extra)
        )
        if refusal:
            return refusal
        ranges, refusal = self._ranges(request, names)
        if refusal:
            return refusal
        order = request.arg("orderBy") or "ASC"
        if order not in ("ASC", "DESC"):
            return _unprocessable("The value passed for field 'orderBy' is invalid.")
        bounds = {"createdTimeRange": "_ctime", "modifiedTimeRange": "_mtime"}
        entries = [
            e
            for e in org.records["timeEntry"].values()
            if wanted(e) and all(low <= e[bounds[n]] <= high for n, (low, high) in ranges.items())
        ]
        # ordered by executedTime only (no sort by modified time)
        entries.sort(key=lambda e: (e.get("executedTime") or "", e["id"]), reverse=order == "DESC")
        page, refusal = self._page(request, entries)
        return refusal or self._listing([self._render(org, "timeEntry", e) for e in page])

    @route("GET", P + r"/tickets/(?P<id>\d+)/timeEntry/(?P<eid>\d+)")
    def time_entry_show(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        entry = org.records["timeEntry"].get(request.params["eid"])
        if entry is None or entry.get("parentId") != request.params["id"]:
            return _not_found()
        return 200, self._render(org, "timeEntry", entry)

    @route("POST", P + r"/tickets/(?P<id>\d+)/timeEntry")
    def time_entry_create(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        ticket_id = request.params["id"]
        if ticket_id not in org.records["tickets"]:
            return _not_found()
        data, refusal = self._body(request)
        if refusal:
            return refusal
        errors = self._validate(org, "timeEntry", data, creating=True)
        if errors:
            return _invalid_data(errors)
        entry = self._blank(org, "timeEntry")
        self._apply(org, "timeEntry", entry, data)
        entry["parentId"] = ticket_id
        entry["ownerId"] = entry.get("ownerId") or self._me(request)["id"]
        org.records["timeEntry"][entry["id"]] = entry
        self._log("created", org, "timeEntry", entry["id"], "api", ticket_id=ticket_id)
        return 200, self._render(org, "timeEntry", entry)

    @route("PATCH", P + r"/tickets/(?P<id>\d+)/timeEntry/(?P<eid>\d+)")
    def time_entry_update(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        entry = org.records["timeEntry"].get(request.params["eid"])
        if entry is None or entry.get("parentId") != request.params["id"]:
            return _not_found()
        data, refusal = self._body(request)
        if refusal:
            return refusal
        errors = self._validate(org, "timeEntry", data, creating=False)
        if errors:
            return _invalid_data(errors)
        self._apply(org, "timeEntry", entry, data)
        self._touch(entry)
        self._log("updated", org, "timeEntry", entry["id"], "api", changes=sorted(data))
        return 200, self._render(org, "timeEntry", entry)

    # --- the recycle bin ---------------------------------------------------------------------------------------
    # Deleted records of every module wait in the recycle bin for 60 days and can be restored [help.zoho.com/
    # portal/en/kb/desk/for-administrators/data-administration/articles/using-the-recycle-bin].
    # ``GET /recycleBin`` lists them ({displayName, departmentId, deletedById, id, type, deletedTime}; ``type`` is
    # the module's label: "Tickets", "Time Entry", …; ``from``, ``limit``, ``departmentId``, ``module``,
    # ``include`` department|deletedBy, ``sortBy`` name|type|department|deletedBy|deletedTime, ``-`` descending;
    # Desk.settings.READ) and ``POST /recycleBin/restore`` ``{"ids": [...]}`` brings them back (a result per id;
    # Desk.settings.UPDATE) [DeskAPIDocument "Recycle Bin", mirrored at developers.qodex.ai/zoho-desk/zoho-desk-api/
    # recycle-bin; Zoho's OpenAPI Recyclebin.json at github.com/api-evangelist/zoho]. Unverified, and so here:
    # ``limit`` 1-50 (the OpenAPI file's maximum; its text says 100); without ``sortBy`` entries come in the
    # order they were deleted (the doc names no default); an entry's id is its record's id; a deleted record
    # answers 404 and leaves lists and search; a restore does not move ``modifiedTime`` (``restore_bumps_modified
    # _time = True`` to change that); an agent without the Recycle Bin permission gets 403 ``FORBIDDEN``
    # (``refuse_recycle_bin()``).
    BIN_TYPES = {
        "tickets": "Tickets",
        "contacts": "Contacts",
        "accounts": "Accounts",
        "tasks": "Tasks",
        "calls": "Calls",
        "events": "Events",
        "timeEntry": "Time Entry",
        "products": "Products",
        "contracts": "Contracts",
    }
    BIN_SORTS = {"name": "displayName", "type": "type", "department": "departmentId", "deletedBy": "deletedById"}

    def recycle_bin(self, org_id: str) -> dict[str, dict[str, Any]]:
        """The organization's recycle bin: entry id → ``{"entry": <as listed>, "module", "record", "ms"}``."""
        with self._lock:
            return self.__dict__.setdefault("_recycle_bins", {}).setdefault(org_id, {})

    def refuse_recycle_bin(self, refused: bool = True) -> None:
        """Every recycle bin call answers 403 ``FORBIDDEN``, as to an agent without the permission."""
        self.__dict__["_recycle_bin_refused"] = refused

    def delete_record(self, org_id: str, module: str, record_id: str, *, by: str = "") -> dict[str, Any]:
        """An agent (``by``; default the portal's first) deletes the record in the Zoho UI: it moves to the
        recycle bin. Returns the bin's entry."""
        org = self.orgs[org_id]
        bin_ = self.recycle_bin(org_id)
        with self._lock:
            record = org.records[module].pop(record_id)
            title = " ".join(
                str(record.get(k) or "")
                for k in ("subject", "firstName", "lastName", "accountName", "productName", "contractName")
                if record.get(k)
            )
            ms = self._now_ms()
            entry = {
                "displayName": title or record.get("description") or record_id,
                "departmentId": record.get("departmentId"),
                "deletedById": by or next(iter(org.agents)),
                "id": record_id,
                "type": self.BIN_TYPES[module],
                "deletedTime": _stamp(ms / 1000),
            }
            bin_[record_id] = {"entry": entry, "module": module, "record": record, "ms": ms}
            self._log("deleted", org, module, record_id, "user")
            return dict(entry)

    def restore_record(self, org_id: str, record_id: str) -> dict[str, Any]:
        """The record restored from the recycle bin (as the UI's Restore does): back as it was."""
        org = self.orgs[org_id]
        with self._lock:
            kept = self.recycle_bin(org_id).pop(record_id)
            record = kept["record"]
            if getattr(self, "restore_bumps_modified_time", False):
                self._touch(record)
            org.records[kept["module"]][record_id] = record
            self._log("restored", org, kept["module"], record_id, "user")
            return record

    def _bin_refusal(self, request: FakeRequest, action: str):
        granted = {s.lower() for s in request.token["scopes"]}  # type: ignore[attr-defined]
        wanted = {f"desk.settings.{action.lower()}", "desk.settings.all"} | (
            {"desk.settings.write"} if action == "UPDATE" else set()
        )
        if not granted & wanted:  # Desk.settings only (Desk.basic does not do here)
            return _error(
                403, "SCOPE_MISMATCH", "The OAuth Token does not contain the scope to perform this operation."
            )
        if self.__dict__.get("_recycle_bin_refused"):
            return _error(403, "FORBIDDEN", "You do not have sufficient permission to perform this operation.")
        return None

    @route("GET", P + r"/recycleBin")
    def recycle_bin_list(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        refusal = self._bin_refusal(request, "READ") or self._extra_params(
            request, ("from", "limit", "departmentId", "sortBy", "include", "module")
        )
        if refusal:
            return refusal
        kept = list(self.recycle_bin(org.id).values())  # in the order they were deleted
        module = request.arg("module")
        if module is not None:
            if module not in self.BIN_TYPES and module not in ("topics", "solutions"):
                return _unprocessable("The value passed for field 'module' is invalid.")
            kept = [k for k in kept if k["module"] == module]
        if request.arg("departmentId"):
            kept = [k for k in kept if k["entry"]["departmentId"] == request.arg("departmentId")]
        sort_by = request.arg("sortBy")
        if sort_by is not None:
            key = sort_by.lstrip("-")
            if key == "deletedTime":
                kept.sort(key=lambda k: (k["ms"], k["entry"]["id"]), reverse=sort_by.startswith("-"))
            elif key in self.BIN_SORTS:
                field_name = self.BIN_SORTS[key]
                kept.sort(key=lambda k: str(k["entry"][field_name] or ""), reverse=sort_by.startswith("-"))
            else:
                return _unprocessable("The value passed for field 'sortBy' is invalid.")
        includes = [i for i in (request.arg("include") or "").split(",") if i]
        if any(i not in ("department", "deletedBy") for i in includes):
            return _unprocessable("The value passed for field 'include' is invalid.")
        page, refusal = self._page(request, kept, max_limit=50)
        if refusal:
            return refusal
        rows = []
        for k in page:
            row = dict(k["entry"])
            if "department" in includes:
                department = org.departments.get(row["departmentId"] or "")
                row["department"] = {"id": department["id"], "name": department["name"]} if department else None
            if "deletedBy" in includes:
                row["deletedBy"] = _agent_ref(org, row["deletedById"])
            rows.append(row)
        return self._listing(rows)

    @route("POST", P + r"/recycleBin/restore")
    def recycle_bin_restore(self, request: FakeRequest):
        org: Org = request.org  # type: ignore[attr-defined]
        refusal = self._bin_refusal(request, "UPDATE")
        if refusal:
            return refusal
        data, refusal = self._body(request)
        if refusal:
            return refusal
        ids = data.get("ids")
        if not isinstance(ids, list) or not ids:
            return _invalid_data([{"fieldName": "/ids", "errorType": "missing", "errorMessage": ""}])
        results = []
        for raw in ids:
            record_id = str(raw)
            if record_id in self.recycle_bin(org.id):
                self.restore_record(org.id, record_id)
                results.append({"success": True, "id": record_id, "errors": None})
            else:
                error = {"errorMessage": None, "errorCode": "UNPROCESSABLE_ENTITY", "httpCode": "422"}
                results.append({"success": False, "id": record_id, "errors": error})
        return 200, {"results": results}


def _agent_ref(org, agent_id: Any) -> dict[str, Any] | None:
    """An agent as Zoho embeds one where ``include`` asks for it (an assignee, who deleted a record)."""
    agent = org.agents.get(agent_id or "")
    if not agent:
        return None
    return {
        "id": agent["id"],
        "firstName": agent["firstName"],
        "lastName": agent["lastName"],
        "email": agent["emailId"],
        "photoURL": None,
    }

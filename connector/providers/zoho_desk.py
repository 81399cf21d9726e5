"""Zoho Desk: nine modules, fields from ``organizationFields``, change detection by modified time, comments
read per changed record, status by the item's status field and its value → category table; records of six
modules created from Jira issues, tagged in a text custom field of the item's choosing."""

from __future__ import annotations

import contextlib
import html
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from ..clients.base import ApiNotFound, is_numeric_id
from ..clients.zoho_desk import (
    COMMENT_MAX_CHARS,
    MAX_FROM,
    MAX_LIMIT,
    ZohoDeskClient,
    desk_url,
    zoho_epoch_ms,
)
from ..mapping import ValueNotMapped
from .base import (
    ChangePage,
    DeletedPage,
    HelpdeskComment,
    HelpdeskFile,
    HelpdeskProvider,
    Identity,
    RecordSummary,
)

CATEGORIES = ("new", "indeterminate", "done")


@dataclass(frozen=True)
class Module:
    label: str
    title: tuple[str, ...]  # record keys joined into its title
    text_param: str  # the search parameter a typed word goes to
    status_field: str = ""  # the module's own status field ("" = none)
    comments: bool = True  # the module has a comments thread (link notes and comment sync)
    email_param: str = ""  # the search parameter an email goes to
    searchable: bool = True  # has ``…/search`` (text search and change detection by modified time)


# The nine modules Deskbridge links and synchronizes. Paths are the module names; the search parameters are
# those of each module's ``…/search`` endpoint (https://desk.zoho.com/DeskAPIDocument, per module "Search").
MODULES: dict[str, Module] = {
    "tickets": Module("Tickets", ("subject",), "subject", "status", True, "email"),
    "contacts": Module("Contacts", ("firstName", "lastName"), "fullName", "", True, "email"),
    "accounts": Module("Accounts", ("accountName",), "accountName", "", True),
    "tasks": Module("Tasks", ("subject",), "subject", "status", True),
    "calls": Module("Calls", ("subject",), "subject", "status", True),
    "events": Module("Events", ("subject",), "subject", "status", True),
    # Time entries live under their ticket (``/tickets/{id}/timeEntry/{entry}``): our record id is
    # ``<ticket id>:<entry id>``, and the panel finds them by their ticket's id or number. Changes are read per
    # agent (``/agents/{id}/timeEntry?modifiedTimeRange=``): see ``_time_entry_changes``.
    "timeEntry": Module("Time entries", ("description",), "", "", False, searchable=False),
    "products": Module("Products", ("productName",), "productName", "", False),
    # Contracts have no search endpoint: found by id in the panel; changes come from the list sorted by
    # modified time (see ``_list_changes``).
    "contracts": Module("Contracts", ("contractName",), "", "contractStatus", False, searchable=False),
}

# --- creating records from Jira ------------------------------------------------------------------------------
# The modules a Jira issue can create a record of, each with the fields Zoho refuses a new record without even
# where a portal's field metadata does not mark them mandatory: the "(required)" attributes of DeskAPIDocument
# "Create a ticket", "Create contact", "Create Account", "Create task", "Create call" and "Create event"
# (mirrored at developers.qodex.ai/zoho-desk/zoho-desk-api). A ticket names a contact (contactId, or a
# ``contact`` object) - "You cannot create a ticket in Zoho Desk without associating it with a contact" (Zoho's
# KB article on the account-contact relationship of tickets). Left out: time entries (they live under a
# ticket, a parent record an issue cannot name), contracts (they belong to an account and carry the SLA and
# the dates its owner agreed; written with the Desk.settings scopes) and products (the Desk.products scopes
# are not among those a connection is made with).
CREATE_MANDATORY: dict[str, dict[str, str]] = {
    "tickets": {"subject": "Subject", "departmentId": "Department", "contactId": "Contact Name"},
    "contacts": {"lastName": "Last Name"},
    "accounts": {"accountName": "Account Name"},
    "tasks": {"subject": "Subject", "departmentId": "Department"},
    "calls": {
        "subject": "Subject",
        "departmentId": "Department",
        "startTime": "Call Start Time",
        "direction": "Call Type",
        "duration": "Call Duration",
        "status": "Status",
        "contactId": "Contact Name",
    },
    "events": {
        "subject": "Subject",
        "departmentId": "Department",
        "startTime": "Start Time",
        "duration": "Duration",
        "contactId": "Contact Name",
    },
}
# What a new record of a module names besides its fields: its person (a contact) and its organization (an
# account), and the body key each is written to (``people_part``).
CREATE_PEOPLE: dict[str, dict[str, str]] = {
    "tickets": {"requester": "contactId", "organization": "accountId"},
    "contacts": {"organization": "accountId"},
    "calls": {"requester": "contactId"},
    "events": {"requester": "contactId"},
}
# How much longer than ZOHO_SEARCH_SETTLE_SECONDS a new record may stay out of search: the newest records are
# also read from the module's list, which shows them at once.
SEARCH_LAG_MARGIN_SECONDS = 60

# Zoho field ``type`` → our normalised type (connector.mapping.TYPES).
_TYPES = {
    "Text": "text",
    "Email": "text",
    "Phone": "text",
    "URL": "text",
    "Textarea": "textarea",
    "Picklist": "dropdown",
    "Multiselect": "multiselect",
    "Date": "date",
    "DateTime": "datetime",
    "Number": "number",
    "Decimal": "number",
    "Currency": "number",
    "Percent": "number",
    "Boolean": "checkbox",
    "LookUp": "unsupported",
}

# Fields Zoho sets itself (never written from Jira), with the reason an admin reads when a mapping is refused.
_SYSTEM_READONLY = {
    "id": "Zoho sets a record's id.",
    "ticketNumber": "Zoho numbers tickets itself.",
    "createdTime": "Zoho records when a record was created.",
    "modifiedTime": "Zoho records when a record was last modified.",
    "createdBy": "Zoho records who created a record.",
    "modifiedBy": "Zoho records who last modified a record.",
    "statusType": "The status type follows the status; map the status field instead.",
    "webUrl": "Zoho sets a record's URL.",
    "commentCount": "Zoho counts comments itself.",
    "contractStatus": "Zoho derives a contract's status from its start and end dates; map those instead.",
    "threadCount": "Zoho counts threads itself.",
}
# Virtual fields every record offers (not in organizationFields).
_VIRTUAL = [
    {"id": "webUrl", "label": "Zoho Desk URL", "type": "text"},
    {"id": "createdTime", "label": "Created", "type": "datetime"},
    {"id": "modifiedTime", "label": "Modified", "type": "datetime"},
]
# A contract's status, derived by Zoho from its dates (the list's sample answer: ACTIVE, EXPIRED, FUTURE).
_CONTRACT_STATUS = {
    "id": "contractStatus",
    "label": "Contract Status",
    "type": "dropdown",
    "options": [{"value": v, "label": v.title()} for v in ("FUTURE", "ACTIVE", "EXPIRED")],
    "system": True,
    "required": False,
    "has_default": False,
}
# Status names that say their category whatever their Zoho status type (defaults of an item's table).
_DONE_TYPES = {"closed"}
_DONE_NAMES = {"closed", "completed", "resolved", "expired"}
_NEW_NAMES = {"new", "not started", "future"}


def _options(raw: dict[str, Any]) -> list[dict[str, str]]:
    options = []
    for value in raw.get("allowedValues") or []:
        if isinstance(value, dict):
            text = value.get("value") or value.get("name")
            if text is None:
                continue
            option = {"value": str(text), "label": str(value.get("displayValue") or text)}
            if value.get("statusType"):
                option["status_type"] = str(value["statusType"])
        else:
            option = {"value": str(value), "label": str(value)}
        if option["value"] not in ("-None-", ""):
            options.append(option)
    return options


def normalise_fields(raw_fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fields = []
    seen = set()
    for raw in raw_fields:
        api_name = str(raw.get("apiName") or "")
        if not api_name or api_name in seen:
            continue
        seen.add(api_name)
        custom = bool(raw.get("isCustomField")) or api_name.startswith("cf_")
        fields.append(
            {
                "id": api_name,
                "label": str(raw.get("displayLabel") or api_name),
                "type": _TYPES.get(str(raw.get("type") or ""), "unsupported"),
                "options": _options(raw),
                "system": not custom,
                "required": bool(raw.get("isMandatory")),
                "has_default": False,
            }
        )
    for virtual in _VIRTUAL:
        if virtual["id"] not in seen:
            fields.append({**virtual, "options": [], "system": True, "required": False, "has_default": False})
    return fields


def _value(record: dict[str, Any], field_id: str) -> Any:
    if field_id in record:
        return record.get(field_id)
    return (record.get("cf") or {}).get(field_id)


def _ms(value: Any) -> int:
    return zoho_epoch_ms(value) or 0


class ZohoDeskProvider(HelpdeskProvider):
    key = "zoho_desk"
    label = "Zoho Desk"
    brand = "Zoho Desk"
    objects = {key: m.label for key, m in MODULES.items()}
    # Every module has change detection by modified time: ``…/search`` for seven, the list sorted by modified
    # time for contracts, each agent's time entries for time entries.
    syncable_objects = frozenset(MODULES)
    access_help = (
        "Generate a new Self Client code with the scopes the Deskbridge admin page shows, for this organization, as "
        "an agent whose profile may read and update these modules, and connect again on the admin page."
    )
    ticket_object = "tickets"  # the object the standard ticket preset maps
    condition_keys = {
        "departmentId": "Department ids",
        "priority": "Priorities",
        "status": "Statuses",
        "channel": "Channels",
        "classification": "Classifications",
        "category": "Categories",
    }
    condition_choice_keys = frozenset({"departmentId"})
    comments_per_record = True
    status_field_choice = True
    link_note_default = True  # agents see which Jira issue a record is linked to
    time_precision = 0.001  # Zoho's times have milliseconds
    # Zoho refuses calls past an edition's concurrency limit (TOO_MANY_REQUESTS: Free 5, Standard 10,
    # Professional 15, Enterprise 25), shared with the organization's other integrations.
    max_parallel = 4

    def condition_choices(self, client, key: str) -> list[dict[str, str]] | None:
        if key != "departmentId":
            return None
        choices = []
        for department in client.departments():
            if department.get("id") is None:
                continue
            label = str(department.get("name") or department["id"])
            if department.get("isEnabled") is False:
                label += " (disabled)"
            choices.append({"value": str(department["id"]), "label": label})
        return choices

    def default_status_field(self, helpdesk_object: str) -> str:
        return self._module(helpdesk_object).status_field

    def status_map_default(self, fields, status_field):
        return status_map_default(fields, status_field)

    def client(self, connection):
        from ..services.zoho import zoho_access_token

        secret = connection.secret()
        return ZohoDeskClient(
            dc=connection.settings.get("data_center", "us"),
            org_id=connection.settings.get("org_id"),
            access_token=secret.get("access_token", ""),
            token_source=lambda refused: zoho_access_token(connection, refused),
        )

    def identity(self, client) -> Identity:
        from ..services.zoho import zoho_identity

        return zoho_identity(client)

    def fields(self, client, helpdesk_object: str) -> list[dict[str, Any]]:
        self._module(helpdesk_object)
        fields = normalise_fields(client.organization_fields(helpdesk_object))
        if helpdesk_object == "contracts" and not any(f["id"] == "contractStatus" for f in fields):
            fields.append(_CONTRACT_STATUS)  # records carry it; the field list does not
        return fields

    @staticmethod
    def _module(helpdesk_object: str) -> Module:
        try:
            return MODULES[helpdesk_object]
        except KeyError:
            raise ValueError(f"Zoho Desk has no module {helpdesk_object!r}") from None

    def record_url(self, connection, helpdesk_object: str, record_id: str) -> str:
        portal = connection.settings.get("portal") or connection.settings.get("org_id", "")
        base = desk_url(connection.settings.get("data_center", "us"))
        return f"{base}/agent/{portal}/all/{helpdesk_object}/details/{record_id}"

    # --- records -------------------------------------------------------------------------------------
    def fetch_record(self, client, helpdesk_object: str, record_id: str) -> dict[str, Any]:
        self._module(helpdesk_object)
        if helpdesk_object == "timeEntry":
            ticket_id, _, entry_id = str(record_id).partition(":")
            if not (is_numeric_id(ticket_id) and is_numeric_id(entry_id)):
                raise ApiNotFound(
                    f"{record_id!r} is not a time entry id (ticket:entry)", status=404, service="Zoho Desk"
                )
            return _time_entry(ticket_id, client.time_entry_get(ticket_id, entry_id))
        if not is_numeric_id(record_id):
            raise ApiNotFound(f"{record_id!r} is not a Zoho Desk id", status=404, service="Zoho Desk")
        return client.record_get(helpdesk_object, record_id)

    def search(self, client, helpdesk_object: str, query: str, *, limit: int = 10) -> list[RecordSummary]:
        """A number is tried as a record id (and, for tickets, as a ticket number); words go to the module's
        title parameter as a prefix (``word*``), an email to its email parameter."""
        module = self._module(helpdesk_object)
        query = " ".join(query.split())
        if not query:
            return []
        hits: dict[str, RecordSummary] = {}
        direct = query.removeprefix("#")
        if helpdesk_object == "timeEntry":  # the entries of the ticket named by its id or number
            return self._time_entries(client, direct, limit) if is_numeric_id(direct) else []
        if is_numeric_id(direct):
            with contextlib.suppress(ApiNotFound):
                record = client.record_get(helpdesk_object, direct)
                if record.get("id"):
                    hits[str(record["id"])] = self._summary(helpdesk_object, record)
            if helpdesk_object == "tickets":
                for record in client.search("tickets", {"ticketNumber": direct}, limit=limit):
                    hits.setdefault(str(record["id"]), self._summary(helpdesk_object, record))
        if not module.searchable:
            return list(hits.values())[:limit]
        if "@" in query and module.email_param:
            params = {module.email_param: query}
        else:
            params = {module.text_param: f"{query.replace('*', '')}*"}
        for record in client.search(helpdesk_object, params, limit=limit):
            hits.setdefault(str(record["id"]), self._summary(helpdesk_object, record))
        return list(hits.values())[:limit]

    def _time_entries(self, client, ticket: str, limit: int) -> list[RecordSummary]:
        ticket_ids = []
        with contextlib.suppress(ApiNotFound):
            if client.record_get("tickets", ticket).get("id"):
                ticket_ids.append(ticket)
        ticket_ids += [str(t["id"]) for t in client.search("tickets", {"ticketNumber": ticket}, limit=1)]
        hits = []
        for ticket_id in dict.fromkeys(ticket_ids):
            for entry in client.time_entries(ticket_id):
                hits.append(self._summary("timeEntry", _time_entry(ticket_id, entry)))
        return hits[:limit]

    def _summary(self, helpdesk_object: str, record: dict[str, Any]) -> RecordSummary:
        module = MODULES[helpdesk_object]
        title = " ".join(str(record.get(k) or "") for k in module.title).strip() or str(record.get("id"))
        if helpdesk_object == "tickets":
            number = record.get("ticketNumber") or record.get("id")
            return RecordSummary(str(record["id"]), f"#{number} {title}".strip(), str(record.get("status") or ""))
        subtitle = str(record.get("email") or (record.get(module.status_field) if module.status_field else "") or "")
        return RecordSummary(str(record["id"]), title, subtitle)

    def previews(self, client, connection, helpdesk_object, records, fields, display_fields):
        by_id = {f["id"]: f for f in fields}
        chosen = [by_id[f] for f in display_fields if f in by_id]
        result = []
        for record in records:
            summary = self._summary(helpdesk_object, record)
            record_id = str(record["id"])
            result.append(
                {
                    "id": record_id,
                    "title": summary.title,
                    "subtitle": summary.subtitle,
                    "url": record.get("webUrl") or self.record_url(connection, helpdesk_object, record_id),
                    "fields": [
                        {"id": f["id"], "label": f["label"], "value": _display(_value(record, f["id"]), f)}
                        for f in chosen
                    ],
                }
            )
        return result

    def post_internal_note(self, client, helpdesk_object: str, record_id: str, text: str) -> None:
        if not self._module(helpdesk_object).comments:
            return  # the module has no comments thread
        body: dict[str, Any] = {"content": text[:COMMENT_MAX_CHARS]}
        if helpdesk_object == "tickets":  # only ticket comments have visibility and a content type
            body.update(contentType="plainText", isPublic=False)
        client.comment_add(helpdesk_object, record_id, body)

    # --- the pull engine's hooks -----------------------------------------------------------------------
    def changes(self, client, helpdesk_object: str, *, cursor: str | None, start_time: int | None) -> ChangePage:
        """Records modified since the cursor, oldest first, up to ``ZOHO_SEARCH_SETTLE_SECONDS`` ago (Zoho's
        search index lags behind writes). The cursor is ``{"t": ms, "ids": [...]}``: the next read starts at
        ``t`` (inclusive, as Zoho's range is) and leaves out the records already taken at exactly ``t``.
        A full page moves the range's start to its last time instead of paging with ``from`` (which stops at
        999); only a page of records all at one millisecond pages with ``from``."""
        module = self._module(helpdesk_object)
        if helpdesk_object == "timeEntry":
            return self._time_entry_changes(client, cursor=cursor, start_time=start_time)
        state = json.loads(cursor) if cursor else {"t": int((start_time or 0) * 1000), "ids": [], "from": 0}
        if not module.searchable:
            return self._list_changes(client, helpdesk_object, state)
        since, taken, start = int(state["t"]), set(state.get("ids") or []), int(state.get("from") or 0)
        until = int((time.time() - settings.ZOHO_SEARCH_SETTLE_SECONDS) * 1000)
        if until <= since:
            return ChangePage([], cursor or json.dumps(state), True)
        rows = client.modified_since(helpdesk_object, since, until, start=start)
        full = len(rows) >= MAX_LIMIT
        records = [r for r in rows if not (_ms(r.get("modifiedTime")) == since and str(r.get("id")) in taken)]
        last = max((_ms(r.get("modifiedTime")) for r in rows), default=since)
        if full and last == since and start + MAX_LIMIT <= MAX_FROM:
            # a whole page at one millisecond: step through it with ``from``
            ids = sorted(taken | {str(r.get("id")) for r in rows})
            return ChangePage(records, json.dumps({"t": since, "ids": ids, "from": start + MAX_LIMIT}), False)
        at_last = {str(r.get("id")) for r in rows if _ms(r.get("modifiedTime")) == last}
        if last == since:
            at_last |= taken
        next_state = {"t": last, "ids": sorted(at_last), "from": 0}
        return ChangePage(records, json.dumps(next_state), not full)

    def _list_changes(self, client, helpdesk_object: str, state: dict[str, Any]) -> ChangePage:
        """Records modified since the cursor from the module's list sorted newest-modified first (contracts:
        no search). The list's rows carry no ``modifiedTime`` in Zoho's sample answer, so each row at the top is
        read until one is older than the cursor; an idle poll is the list page and two reads (the record at the
        cursor and the one below it). Paging a newest-first list is safe from concurrent edits: an edited record
        jumps to the top, which shifts later rows down (read twice, never skipped), and its new time is past
        this read's, so the next poll takes it."""
        since, taken = int(state["t"]), set(state.get("ids") or [])
        changed: list[dict[str, Any]] = []
        start = 0
        while True:
            rows = client.recently_modified(helpdesk_object, start=start)
            older = False
            for row in rows:
                record = row if "modifiedTime" in row and "cf" in row else None
                if record is None:
                    with contextlib.suppress(ApiNotFound):  # deleted between the list and the read
                        record = client.record_get(helpdesk_object, str(row["id"]))
                if not record or not record.get("id"):
                    continue
                ms = _ms(record.get("modifiedTime"))
                if ms < since:
                    older = True
                    break
                if not (ms == since and str(record["id"]) in taken):
                    changed.append(record)
            if older or len(rows) < MAX_LIMIT:
                break
            start += len(rows)
        unique = {str(r["id"]): r for r in changed}  # a row shifted down by an edit is read twice
        records = sorted(unique.values(), key=lambda r: (_ms(r.get("modifiedTime")), str(r["id"])))
        last = max((_ms(r.get("modifiedTime")) for r in records), default=since)
        at_last = {str(r["id"]) for r in records if _ms(r.get("modifiedTime")) == last}
        if last == since:
            at_last |= taken
        return ChangePage(records, json.dumps({"t": last, "ids": sorted(at_last)}), True)

    def _time_entry_changes(self, client, *, cursor: str | None, start_time: int | None) -> ChangePage:
        """Time entries modified since the last read, from every agent's list (``GET /agents/{id}/timeEntry
        ?module=tickets&modifiedTimeRange=``): Zoho has no organization-wide time-entry list, and these lists
        are ordered by executed time only, so paging them while entries change could skip one. Each window of
        time is therefore read twice (a read covers from the end of the read before the last one, to
        ``ZOHO_SEARCH_SETTLE_SECONDS`` ago), and the entries already taken are left out by id and modified
        time. Windows are on our clock, which only ever moves their end: an entry is read once our clock
        passes its time, whatever the two clocks' skew. An idle poll is one call for the agents and one per
        agent."""
        if cursor:
            state = json.loads(cursor)
        else:
            begin = int((start_time or 0) * 1000)
            state = {"a": begin, "u": begin, "seen": {}}
        begin, previous_end, seen = int(state["a"]), int(state["u"]), dict(state.get("seen") or {})
        end = int((time.time() - settings.ZOHO_SEARCH_SETTLE_SECONDS) * 1000)
        if end <= previous_end:
            return ChangePage([], cursor or json.dumps(state), True)
        read: dict[str, dict[str, Any]] = {}
        for agent in client.agents():
            start = 0
            while True:
                rows = client.agent_time_entries(str(agent["id"]), begin, end, start=start)
                for row in rows:
                    parent = row.get("parent") or {}
                    ticket_id = str(parent.get("id") or row.get("parentId") or "")
                    if ticket_id and row.get("id"):
                        entry = _time_entry(ticket_id, row)
                        read[entry["id"]] = entry
                if len(rows) < MAX_LIMIT:
                    break
                start += len(rows)
        fresh = [e for e in read.values() if seen.get(e["id"]) != _ms(e.get("modifiedTime"))]
        records = sorted(fresh, key=lambda e: (_ms(e.get("modifiedTime")), e["id"]))
        # the next read starts where this one's window did not overlap the last: keep what it will read again
        times = {eid: _ms(e.get("modifiedTime")) for eid, e in read.items()}
        again = {eid: ms for eid, ms in times.items() if ms >= previous_end}
        return ChangePage(records, json.dumps({"a": previous_end, "u": end, "seen": again}), True)

    def record_values(self, client, connection, records, field_ids):
        values = {}
        for record in records:
            row = {}
            for fid in field_ids:
                if fid == "webUrl":
                    row[fid] = record.get("webUrl") or ""
                else:
                    row[fid] = _value(record, fid)
            values[str(record["id"])] = row
        return values

    # --- status ------------------------------------------------------------------------------------------
    def _status_field(self, item, helpdesk_object: str | None = None) -> str:
        module = MODULES.get(helpdesk_object or (item.helpdesk_object if item is not None else ""))
        chosen = getattr(item, "status_field", "") if item is not None else ""
        return chosen or (module.status_field if module else "status") or "status"

    def record_status(self, record, item=None):
        value = _value(record, self._status_field(item))
        return "" if value is None else str(value)

    def status_value_category(self, status, item=None):
        """The item's table first; else by name and Zoho's status type (Closed → done, a "New"/"Open"/"Not
        started" status → new, every other → in progress)."""
        if not status:
            return None
        table = getattr(item, "status_map", None) or {}
        if status in table and table[status] in CATEGORIES:
            return table[status]
        return default_category(status, "")

    def is_closed(self, record):
        return False  # a closed Zoho record can be reopened: syncing goes on

    def row_time(self, record):
        # The stream is records read by modified time: a row shows the record as of its ``modifiedTime``.
        ms = zoho_epoch_ms(record.get("modifiedTime"))
        return None if ms is None else ms / 1000

    def record_is_deleted(self, record):
        # Records carry ``isTrashed`` (Zoho's OpenAPI files, e.g. Ticket.json and Account.json): a record read
        # while in the recycle bin, if Zoho ever answers one, is deleted, not back. Search and reads of a deleted
        # record are expected to leave it out or answer 404, as for any deleted record.
        return str(record.get("isTrashed")).lower() == "true"

    # --- deleted records: the recycle bin ------------------------------------------------------------------
    # Zoho's search leaves deleted records out, so the change stream never shows a deletion; the recycle bin
    # lists them (every module, newest first, ``client.RECYCLE_BIN``) and keeps them 60 days, when a restore can
    # bring them back.
    lists_deleted = True
    restorable_days = 60
    # "Users with the Recycle Bin permission can access the recycle bin" (help.zoho.com "Using the Recycle Bin")
    deleted_help = (
        "Give the connected agent's profile the Recycle Bin permission in Zoho Desk (Setup, Profiles) so that "
        "polls see deletions."
    )

    def deleted_records(self, client, watched, *, cursor, start_time):
        """The watched records among those deleted since the cursor: the bin is read from its most recently
        deleted entry down to the cursor's time (``{"t": ms, "ids": [...]}``: the newest deletion time read,
        and the entries at exactly that time, which are left out next time). An entry's ``type`` names its
        module ("Tickets", "Time Entry"); a time entry's id is the entry's own (ours is ``<ticket>:<entry>``).
        Entries deleted while the bin is read push older ones down a page (read twice, never skipped); one
        restored meanwhile pulls them up, and an entry may be missed, to be seen by the 404 of a later read."""
        state = json.loads(cursor) if cursor else {"t": int((start_time or 0) * 1000), "ids": []}
        since, taken = int(state["t"]), set(state.get("ids") or [])
        modules = {key.lower(): key for key in MODULES}
        entries = {rid.partition(":")[2]: rid for rid in watched.get("timeEntry", ())}
        deleted: dict[str, set[str]] = {}
        newest, at_newest = since, set(taken)
        start = 0
        while True:
            rows = client.recycle_bin(start=start)
            older = False
            for row in rows:
                ms, entry_id = zoho_epoch_ms(row.get("deletedTime")), str(row.get("id") or "")
                if ms is None or not entry_id:
                    continue
                if ms < since:
                    older = True
                    break
                if ms == since and entry_id in taken:
                    continue
                if ms > newest:
                    newest, at_newest = ms, set()
                if ms == newest:
                    at_newest.add(entry_id)
                module = modules.get(str(row.get("type") or "").replace(" ", "").lower())
                record_id = entries.get(entry_id) if module == "timeEntry" else entry_id
                if module and record_id in watched.get(module, ()):
                    deleted.setdefault(module, set()).add(record_id)
            if older or len(rows) < client.RECYCLE_BIN_LIMIT:
                break
            start += len(rows)
        return DeletedPage(deleted, json.dumps({"t": newest, "ids": sorted(at_newest)}))

    def status_for_category(self, current, category, item=None):
        if category not in CATEGORIES or self._status_field(item) in _SYSTEM_READONLY:
            return None  # a status Zoho derives itself (a contract's) is never written
        if current and self.status_value_category(current, item) == category:
            return None
        table = getattr(item, "status_map", None) or {}
        target = next((value for value, cat in table.items() if cat == category), None) or DEFAULT_TARGETS[category]
        return None if target == current else target  # already there: no write

    def status_payload(self, status, item=None):
        field = self._status_field(item)
        return {"cf": {field: status}} if field.startswith("cf_") else {field: status}

    # --- comments and files ---------------------------------------------------------------------------------
    def record_comments(self, client, helpdesk_object: str, record_id: str, *, files: bool = True):
        module = self._module(helpdesk_object)
        comments = (
            [_comment(record_id, c) for c in client.comments(helpdesk_object, record_id)] if module.comments else []
        )
        if files and helpdesk_object == "tickets":
            in_comments = {f.id for c in comments for f in c.files}
            for thread in client.threads(record_id):
                if not thread.get("hasAttach") and not int(thread.get("attachmentCount") or 0):
                    continue
                full = client.thread(record_id, str(thread["id"]))
                comments.extend(_files_only(record_id, full, prefix="thread", exclude=in_comments))
            for attachment in client.ticket_attachments(record_id):
                entry = _attachment_entry(record_id, attachment, exclude=in_comments)
                if entry is not None:
                    comments.append(entry)
        return comments

    def author_names(self, client, author_ids: set[str]) -> dict[str, str]:
        names = {}
        for author_id in sorted(a for a in author_ids if is_numeric_id(a)):
            with contextlib.suppress(ApiNotFound):
                agent = client.agent_get(author_id)
                names[author_id] = str(agent.get("name") or agent.get("emailId") or author_id)
        return names

    def download_hosts(self, connection) -> list[str]:
        return []  # attachment hrefs are on the Desk API host itself

    def created_epoch(self, record):
        return _ms(record.get("createdTime")) / 1000

    def matches_conditions(self, record, conditions):
        for key, wanted in (conditions or {}).items():
            wanted_set = {str(w).lower() for w in wanted or []}
            if not wanted_set:
                continue
            value = _value(record, key)
            values = (
                {str(v).lower() for v in value}
                if isinstance(value, list)
                else ({str(value).lower()} if value else set())
            )
            if not values & wanted_set:
                return False
        return True

    def default_title(self, record):
        if "ticketNumber" in record:
            return f"[Zoho Desk #{record.get('ticketNumber')}] {record.get('subject') or ''}".strip()
        title = record.get("subject") or record.get("accountName") or record.get("productName") or ""
        title = title or " ".join(str(record.get(k) or "") for k in ("firstName", "lastName")).strip()
        return f"[Zoho Desk {record.get('id')}] {title}".strip()

    # --- the push engine's hooks -----------------------------------------------------------------------
    def update_payload(self, helpdesk_object: str, values: dict[str, Any]) -> dict[str, Any]:
        self._module(helpdesk_object)
        payload: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for field_id, value in values.items():
            if field_id in _SYSTEM_READONLY:
                raise ValueNotMapped(f"{_SYSTEM_READONLY[field_id]} Map it to Jira only.")
            if field_id.startswith("cf_"):
                custom[field_id] = value
            elif re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", field_id):
                payload[field_id] = value
            else:
                raise ValueNotMapped(f"Zoho Desk field {field_id!r} cannot be written from Jira")
        if custom:
            payload["cf"] = custom
        return payload

    def readonly_fields(self, helpdesk_object: str) -> set[str]:
        self._module(helpdesk_object)
        return set(_SYSTEM_READONLY)

    def record_update(self, client, helpdesk_object, record_id, body):
        if helpdesk_object == "timeEntry":
            ticket_id, _, entry_id = str(record_id).partition(":")
            return _time_entry(ticket_id, client.time_entry_update(ticket_id, entry_id, body))
        return client.record_update(helpdesk_object, record_id, body)

    def comment_add(self, client, helpdesk_object, record_id, *, text, html, public, uploads):
        if not self._module(helpdesk_object).comments:
            raise ValueNotMapped(f"Zoho Desk {self.object_label(helpdesk_object).lower()} have no comments")
        body: dict[str, Any] = {}
        if helpdesk_object != "tickets":  # other modules' comments are plain, with no visibility
            body["content"] = text[:COMMENT_MAX_CHARS]
        elif html:
            body.update(content=html[:COMMENT_MAX_CHARS], contentType="html", isPublic=public)
        else:
            body.update(content=text[:COMMENT_MAX_CHARS], contentType="plainText", isPublic=public)
        if uploads:
            body["attachmentIds"] = list(uploads)
        return str(client.comment_add(helpdesk_object, record_id, body).get("id") or "")

    def upload(self, client, *, filename, content_type, fileobj, size):
        return str(client.upload(filename=filename, content_type=content_type, fileobj=fileobj, size=size).get("id"))

    def agent_comment_find(self, client, helpdesk_object, record_id, agent_id, marker):
        if not self._module(helpdesk_object).comments:
            return None
        for comment in client.comments_recent(helpdesk_object, record_id, limit=MAX_LIMIT):
            content = html.unescape(str(comment.get("content") or ""))
            if str(comment.get("commenterId")) == str(agent_id) and re.search(re.escape(marker) + r"(?!\d)", content):
                return str(comment["id"])
        return None

    # --- creating records from Jira ---------------------------------------------------------------------------
    creatable_objects = frozenset(CREATE_MANDATORY)

    def _creatable(self, helpdesk_object: str) -> None:
        if helpdesk_object not in self.creatable_objects:
            raise ValueNotMapped(
                f"Zoho Desk {self.object_label(helpdesk_object).lower()} cannot be created from Jira; create the "
                "record in Zoho Desk and link it"
            )

    def create_required_fields(self, helpdesk_object: str, fields: list[dict[str, Any]]) -> dict[str, str]:
        """The module's mandatory fields from its field metadata and those Zoho enforces anyway, less the
        contact and account ``people_part`` gives."""
        if helpdesk_object not in self.creatable_objects:
            return {}
        labels = {f["id"]: f["label"] for f in fields}
        given = set(CREATE_PEOPLE.get(helpdesk_object, {}).values())
        required = {f["id"]: f["label"] for f in fields if f.get("required") and f["id"] not in given}
        for field_id, label in CREATE_MANDATORY[helpdesk_object].items():
            if field_id not in given:
                required.setdefault(field_id, labels.get(field_id, label))
        return required

    def create_readonly_fields(self, helpdesk_object: str) -> set[str]:
        """What Zoho sets, and the contact and account: those are the item's requester and organization."""
        return self.readonly_fields(helpdesk_object) | set(CREATE_PEOPLE.get(helpdesk_object, {}).values())

    def create_payload(
        self, helpdesk_object: str, values: dict[str, Any], *, html: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The body of ``POST /{module}``: fields by API name, custom fields under ``cf``; a ticket's
        description as HTML where it came from rich Jira text (Zoho shows ticket descriptions as HTML)."""
        self._creatable(helpdesk_object)
        payload = self.update_payload(helpdesk_object, values)
        rich = (html or {}).get("description")
        if helpdesk_object == "tickets" and rich:
            payload["description"] = rich
        return payload

    def create_people(self, helpdesk_object: str) -> frozenset[str]:
        return frozenset(CREATE_PEOPLE.get(helpdesk_object, {}))

    def people_part(self, helpdesk_object: str, *, person_id: str, organization_id: str) -> dict[str, Any]:
        """The contact (``contactId``) and account (``accountId``) of a new record. Zoho refuses a ticket, call
        or event without a contact, so a blank ``person_id`` is refused here, saying why."""
        people = CREATE_PEOPLE.get(helpdesk_object, {})
        part: dict[str, Any] = {}
        if "requester" in people:
            if not person_id:
                what = self.object_label(helpdesk_object).lower().removesuffix("s")
                raise ValueNotMapped(
                    f"A Zoho Desk {what} needs a contact, and there is none for this issue: Jira hides the "
                    "requester's email address (or no contact has it) and the item names no default requester"
                )
            part[people["requester"]] = str(person_id)
        if "organization" in people and organization_id:
            part[people["organization"]] = str(organization_id)
        return part

    # People are contacts, organizations accounts. Zoho has no upsert and no external id for them, and a new
    # record reaches search only after a while: a create first looks for what an earlier call (one that may
    # have landed before a crash) made, in search and in the newest records of the module's list.
    def person_find(self, client, email: str) -> dict[str, str] | None:
        """The contact with this email (Zoho's contact search, exact unless given ``*``; compared again
        case-insensitively); the oldest one where Zoho holds several."""
        wanted = _email(email)
        if not wanted:
            return None
        hits = [r for r in client.search("contacts", {"email": wanted}, limit=MAX_LIMIT) if _has_email(r, wanted)]
        hits.sort(key=lambda r: (_ms(r.get("createdTime")), str(r.get("id"))))
        return _person(hits[0]) if hits else None

    def person_get(self, client, person_id: str) -> dict[str, str] | None:
        record = self._get_or_none(client, "contacts", person_id)
        return _person(record) if record else None

    def person_create(
        self, client, *, email: str, name: str, organization_id: str = "", searched: bool = False
    ) -> dict[str, str]:
        """The contact with this email, else a new one (``POST /contacts``: lastName, firstName from the
        display name, email, and the account when given). The newest contacts are looked at even when the caller
        has just searched (``searched``): search shows a new contact only after a while."""
        wanted = _email(email)
        if not wanted:
            raise ValueNotMapped(f"A Zoho Desk contact is matched by its email address, and {email!r} is not one")
        found = None if searched else self.person_find(client, wanted)
        if found:
            return found
        recent = self._newest(client, "contacts", lambda r: _has_email(r, wanted), key="email")
        if recent:
            return _person(recent)
        first, last = _name_parts(name, wanted)
        body: dict[str, Any] = {"lastName": last, "email": wanted}
        if first:
            body["firstName"] = first
        if organization_id:
            body["accountId"] = str(organization_id)
        return _person(client.record_create("contacts", body))

    def organization_find(self, client, *, name: str = "", domain: str = "") -> dict[str, str] | None:
        """The account with exactly this name (``accountName`` search, compared again case-insensitively), or
        else the one owning the email domain: its website's host (without ``www.``) or its email's domain.
        Zoho's account search has no website parameter (DeskAPIDocument "Search accounts": id, accountName,
        _all, customField1-10, time ranges), so the domain goes to ``_all`` and only an exact owner counts."""
        wanted = " ".join(name.split())
        if wanted:
            found = self._account_named(client, wanted)
            if found:
                return _organization(found)
        domain = domain.strip().lower()
        if domain and "*" not in domain:
            hits = [r for r in client.search("accounts", {"_all": domain}, limit=MAX_LIMIT) if _owns(r, domain)]
            hits.sort(key=lambda r: (_ms(r.get("createdTime")), str(r.get("id"))))
            if hits:
                return _organization(hits[0])
        return None

    def people_search(self, client, query: str, *, limit: int = 10) -> list[dict[str, str]]:
        """By id, else the contacts search: a whole email, or the start of a full name."""
        query = query.replace("*", "").strip()
        if not query or is_numeric_id(query):
            return super().people_search(client, query, limit=limit)
        params = {"email": query} if "@" in query else {"fullName": f"{query}*"}
        return [_person(r) for r in client.search("contacts", params, limit=limit)]

    def organizations_search(self, client, query: str, *, limit: int = 10) -> list[dict[str, str]]:
        """By id, else the accounts search by the start of the account's name."""
        query = query.replace("*", "").strip()
        if not query or is_numeric_id(query):
            return super().organizations_search(client, query, limit=limit)
        return [_organization(r) for r in client.search("accounts", {"accountName": f"{query}*"}, limit=limit)]

    def organization_get(self, client, organization_id: str) -> dict[str, str] | None:
        record = self._get_or_none(client, "accounts", organization_id)
        return _organization(record) if record else None

    def organization_create(self, client, *, name: str, domain: str = "") -> dict[str, str]:
        """The account with this name (or owning ``domain``), else a new one (``POST /accounts``: accountName -
        the domain when no name is given - and the domain as its website)."""
        wanted = " ".join(name.split())
        domain = domain.strip().lower()
        label = wanted or domain
        if not label:
            raise ValueNotMapped("A Zoho Desk account needs a name, and the issue gives none")
        found = self.organization_find(client, name=label, domain=domain)
        if found:
            return found
        recent = self._newest(
            client, "accounts", lambda r: _same_name(r, label) or bool(domain and _owns(r, domain)), key="accountName"
        )
        if recent:
            return _organization(recent)
        body: dict[str, Any] = {"accountName": label}
        if domain:
            body["website"] = domain
        return _organization(client.record_create("accounts", body))

    def _account_named(self, client, name: str) -> dict[str, Any] | None:
        if "*" in name:  # a wildcard in Zoho's search: the exact name cannot be asked for
            return None
        hits = [r for r in client.search("accounts", {"accountName": name}, limit=MAX_LIMIT) if _same_name(r, name)]
        hits.sort(key=lambda r: (_ms(r.get("createdTime")), str(r.get("id"))))
        return hits[0] if hits else None

    def _get_or_none(self, client, module: str, record_id: str) -> dict[str, Any] | None:
        if not is_numeric_id(str(record_id or "")):
            return None
        try:
            return client.record_get(module, str(record_id)) or None
        except ApiNotFound:
            return None

    def _newest(
        self, client, module: str, wanted: Callable[[dict[str, Any]], bool], *, key: str
    ) -> dict[str, Any] | None:
        """A record among the module's newest (its list, newest first: no search lag) that ``wanted`` accepts.
        Rows carrying ``key`` are judged as they are; the others are read one by one, but only those created
        recently enough to be missing from search (measured on Zoho's clock, from the newest row)."""
        rows = client.recently_created(module)
        newest = max((_ms(r.get("createdTime")) for r in rows), default=0)
        window = int((settings.ZOHO_SEARCH_SETTLE_SECONDS + SEARCH_LAG_MARGIN_SECONDS) * 1000)
        for row in rows:
            if key in row:
                record: dict[str, Any] | None = row
            elif _ms(row.get("createdTime")) >= newest - window:
                record = self._get_or_none(client, module, str(row.get("id") or ""))
            else:
                continue
            if record and wanted(record):
                return record
        return None

    def refused_fields(self, exc) -> list[str]:
        """The fields an ``INVALID_DATA`` / ``UNPROCESSABLE_ENTITY`` answer names (``fieldName`` is a JSON
        pointer: ``/departmentId``, ``/cf/cf_tier``); the contact and account are the requester and
        organization."""
        body = exc.body if isinstance(exc.body, dict) else {}
        pointers = [str(e.get("fieldName") or "") for e in body.get("errors") or [] if isinstance(e, dict)]
        names = {pointer.rsplit("/", 1)[-1] for pointer in pointers} - {""}
        return sorted({"contactId": "requester", "accountId": "organization"}.get(n, n) for n in names)

    def record_tag_required(self, helpdesk_object: str) -> bool:
        return True  # Zoho records have no external id: the Jira origin goes into a text custom field

    def _tag(self, tag_field: str) -> str:
        tag = (tag_field or "").strip()
        if not tag.startswith("cf_"):
            raise ValueNotMapped(
                "Zoho Desk records carry their Jira origin in a text custom field (cf_…), and the item names "
                f"{'none' if not tag else repr(tag)}. A Jira admin can choose one on the Deskbridge admin page"
            )
        return tag

    def record_create(
        self, client, helpdesk_object: str, body: dict[str, Any], *, source_key: str, tag_field: str = ""
    ) -> dict[str, Any]:
        """``POST /{module}`` with ``source_key`` written into the item's tag field."""
        self._creatable(helpdesk_object)
        tag = self._tag(tag_field)
        return client.record_create(helpdesk_object, {**body, "cf": {**(body.get("cf") or {}), tag: source_key}})

    def record_find_by_source(
        self, client, helpdesk_object: str, source_key: str, *, tag_field: str = ""
    ) -> dict[str, Any] | None:
        """The record tagged with ``source_key``: the module's search by the custom field (``customField1=
        <apiName>:<value>``, DeskAPIDocument "Tickets Search API" / "Search Contacts" / "Search accounts"), else
        among its newest records, since search shows a record created a moment ago (just before a crash)
        only later. The tag is compared exactly: Zoho's search ignores case."""
        if helpdesk_object not in self.creatable_objects or not source_key:
            return None
        tag = self._tag(tag_field)

        def tagged(record: dict[str, Any]) -> bool:
            return str((record.get("cf") or {}).get(tag) or "") == source_key

        hits = client.search(helpdesk_object, {"customField1": f"{tag}:{source_key}"}, limit=MAX_LIMIT)
        return next((r for r in hits if tagged(r)), None) or self._newest(client, helpdesk_object, tagged, key="cf")


def _email(value: str) -> str:
    email = str(value or "").strip().lower()
    return email if re.fullmatch(r"[^@\s*]+@[^@\s*]+", email) else ""


def _has_email(record: dict[str, Any], email: str) -> bool:
    return str(record.get("email") or "").strip().lower() == email


def _same_name(record: dict[str, Any], name: str) -> bool:
    return " ".join(str(record.get("accountName") or "").split()).casefold() == name.casefold()


def _name_parts(name: str, email: str) -> tuple[str, str]:
    """(firstName, lastName) of a display name: the last word is the last name (Zoho requires one; the
    email's local part when there is no name)."""
    words = " ".join(str(name or "").split())
    if not words or words.lower() == email:
        return "", email.split("@")[0]
    first, _, last = words.rpartition(" ")
    return first, last


def _person(record: dict[str, Any]) -> dict[str, str]:
    """A contact as a person; ``organization_id`` is the account it belongs to."""
    name = " ".join(str(p) for p in (record.get("firstName"), record.get("lastName")) if p)
    email = str(record.get("email") or "")
    return {
        "id": str(record["id"]),
        "name": name or email or str(record["id"]),
        "email": email,
        "organization_id": str(record.get("accountId") or ""),
    }


def _host(website: Any) -> str:
    text = str(website or "").strip().lower()
    if not text:
        return ""
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    return host.removeprefix("www.")


def _owns(record: dict[str, Any], domain: str) -> bool:
    email_domain = str(record.get("email") or "").strip().lower().rpartition("@")[2]
    return domain in (_host(record.get("website")), email_domain)


def _organization(record: dict[str, Any]) -> dict[str, str]:
    name = str(record.get("accountName") or record["id"])
    return {"id": str(record["id"]), "name": name, "domain": _host(record.get("website"))}


DEFAULT_TARGETS = {"new": "Open", "indeterminate": "Open", "done": "Closed"}


def default_category(status: str, status_type: str) -> str:
    """A Zoho status value's Jira category by its status type and name."""
    if (status_type or "").lower() in _DONE_TYPES or status.lower() in _DONE_NAMES:
        return "done"
    if status.lower() in _NEW_NAMES:
        return "new"
    return "indeterminate"


def status_map_default(fields: list[dict[str, Any]], status_field: str) -> dict[str, str]:
    """An item's status table from the status field's values: by Zoho status type and name."""
    field = next((f for f in fields if f["id"] == status_field), None)
    if field is None:
        return {}
    return {o["value"]: default_category(o["value"], o.get("status_type", "")) for o in field.get("options") or []}


def _display(value: Any, field: dict[str, Any]) -> str:
    if value is None or value == "" or value == []:
        return ""
    if field.get("type") == "checkbox":
        return "Yes" if value in (True, "true") else "No"
    labels = {o["value"]: o["label"] for o in field.get("options") or []}
    if isinstance(value, list):
        return ", ".join(labels.get(str(v), str(v)) for v in value)
    if isinstance(value, dict):
        return str(value.get("name") or value.get("value") or value.get("id") or "")
    return labels.get(str(value), str(value))


def _time_entry(ticket_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A time entry with our composite id (``<ticket>:<entry>``) and a title."""
    hours = entry.get("hoursSpent") or entry.get("totalTime") or ""
    title = entry.get("description") or (
        f"{hours} h on ticket {ticket_id}" if hours else f"Time entry {entry.get('id')}"
    )
    return {**entry, "entryId": entry.get("id"), "id": f"{ticket_id}:{entry.get('id')}", "description": title}


def _file(raw: dict[str, Any]) -> HelpdeskFile:
    return HelpdeskFile(
        id=str(raw.get("id")),
        name=str(raw.get("name") or f"attachment-{raw.get('id')}"),
        url=str(raw.get("href") or ""),
        content_type=str(raw.get("contentType") or raw.get("type") or "application/octet-stream"),
        size=int(raw.get("size") or 0),
    )


def _comment(record_id: str, raw: dict[str, Any]) -> HelpdeskComment:
    content = str(raw.get("content") or "")
    if str(raw.get("contentType") or "").lower() == "html" or "<" in content:
        content = _html_text(content)
    commenter = raw.get("commenter") or {}
    name = commenter.get("name") or " ".join(p for p in (commenter.get("firstName"), commenter.get("lastName")) if p)
    return HelpdeskComment(
        record_id=str(record_id),
        id=str(raw["id"]),
        author_id=str(raw.get("commenterId") or commenter.get("id") or ""),
        body=content,
        public=str(raw.get("isPublic", "false")).lower() == "true",
        created=_ms(raw.get("commentedTime")) // 1000,
        files=tuple(_file(a) for a in raw.get("attachments") or [] if a.get("id")),
        author_name=str(name or ""),
    )


def _files_only(record_id: str, thread: dict[str, Any], *, prefix: str, exclude: set[str]) -> list[HelpdeskComment]:
    author = thread.get("author") or {}
    files = tuple(_file(a) for a in thread.get("attachments") or [] if a.get("id") and str(a["id"]) not in exclude)
    if not files:
        return []
    return [
        HelpdeskComment(
            record_id=str(record_id),
            id=f"{prefix}:{thread.get('id')}",
            author_id=str(author.get("id") or ""),
            body="",
            public=str(thread.get("visibility") or "public") == "public",
            created=_ms(thread.get("createdTime")) // 1000,
            files=files,
            author_name=str(author.get("name") or ""),
            files_only=True,
        )
    ]


def _attachment_entry(record_id: str, attachment: dict[str, Any], *, exclude: set[str]) -> HelpdeskComment | None:
    if not attachment.get("id") or str(attachment["id"]) in exclude:
        return None
    creator = attachment.get("creator") or {}
    return HelpdeskComment(
        record_id=str(record_id),
        id=f"attachment:{attachment['id']}",
        author_id=str(attachment.get("creatorId") or creator.get("id") or ""),
        body="",
        public=str(attachment.get("isPublic")).lower() != "false",
        created=_ms(attachment.get("createdTime")) // 1000,
        files=(_file(attachment),),
        author_name=str(creator.get("name") or ""),
        files_only=True,
    )


_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*(br|/p|/div|/li)\s*/?\s*>", re.I)


def _html_text(content: str) -> str:
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", content))).strip()

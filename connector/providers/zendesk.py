"""Zendesk Support: objects, field normalisation, record URLs."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from typing import Any

from ..clients.base import ApiBadRequest, ApiNotFound, is_numeric_id
from ..mapping import ZENDESK_STATUS_CATEGORY, ValueNotMapped
from .base import ChangePage, CommentPage, HelpdeskComment, HelpdeskFile, HelpdeskProvider, RecordSummary

# Zendesk ticket field ``type`` → our normalised type (connector.mapping.TYPES).
_TICKET_TYPES = {
    "subject": "text",
    "description": "textarea",
    "status": "dropdown",
    "custom_status": "dropdown",
    "tickettype": "dropdown",
    "priority": "priority",
    "group": "group",
    "assignee": "user",
    "text": "text",
    "regexp": "text",
    "partialcreditcard": "text",
    "textarea": "textarea",
    "checkbox": "checkbox",
    "date": "date",
    "integer": "number",
    "decimal": "number",
    "tagger": "dropdown",
    "dropdown": "dropdown",
    "multiselect": "multiselect",
    "lookup": "unsupported",
}

# System ticket field ``type`` → the stable id we use in mappings and previews.
_TICKET_SYSTEM_IDS = {
    "subject": "subject",
    "description": "description",
    "status": "status",
    "custom_status": "custom_status",
    "tickettype": "type",
    "priority": "priority",
    "group": "group",
    "assignee": "assignee",
}

PRIORITY_OPTIONS = [
    {"value": "low", "label": "Low"},
    {"value": "normal", "label": "Normal"},
    {"value": "high", "label": "High"},
    {"value": "urgent", "label": "Urgent"},
]

# Values a ticket carries that are not in ticket_fields.json but admins map and show.
TICKET_VIRTUAL_FIELDS = [
    {"id": "tags", "label": "Tags", "type": "tags"},
    {"id": "requester.name", "label": "Requester name", "type": "text"},
    {"id": "requester.email", "label": "Requester email", "type": "text"},
    {"id": "organization.name", "label": "Organization", "type": "text"},
    {"id": "ticket.url", "label": "Ticket URL", "type": "text"},
    {"id": "brand", "label": "Brand", "type": "text"},
    {"id": "created_at", "label": "Created", "type": "date"},
    {"id": "updated_at", "label": "Updated", "type": "date"},
]

USER_SYSTEM_FIELDS = [
    {"id": "name", "label": "Name", "type": "text"},
    {"id": "email", "label": "Email", "type": "text"},
    {"id": "phone", "label": "Phone", "type": "text"},
    {"id": "organization.name", "label": "Organization", "type": "text"},
    {"id": "role", "label": "Role", "type": "text"},
    {"id": "tags", "label": "Tags", "type": "tags"},
    {"id": "time_zone", "label": "Time zone", "type": "text"},
    {"id": "notes", "label": "Notes", "type": "textarea"},
    {"id": "details", "label": "Details", "type": "textarea"},
    {"id": "created_at", "label": "Created", "type": "date"},
]

ORGANIZATION_SYSTEM_FIELDS = [
    {"id": "name", "label": "Name", "type": "text"},
    {"id": "domain_names", "label": "Domains", "type": "tags"},
    {"id": "tags", "label": "Tags", "type": "tags"},
    {"id": "notes", "label": "Notes", "type": "textarea"},
    {"id": "details", "label": "Details", "type": "textarea"},
    {"id": "created_at", "label": "Created", "type": "date"},
]


# Ticket fields Jira cannot write, and why (the admin reads this when a mapping is refused).
TICKET_READONLY_REASONS = {
    "description": "Zendesk cannot change a ticket's description after it is created; map it to Jira only.",
    "requester.name": "The requester's name belongs to their Zendesk user profile, not to the ticket; "
    "map it to Jira only.",
    "requester.email": "The requester's email belongs to their Zendesk user profile, not to the ticket; "
    "map it to Jira only.",
    "organization.name": "The organization's name belongs to the Zendesk organization, not to the ticket; "
    "map it to Jira only.",
    "ticket.url": "Zendesk sets a ticket's URL itself; map it to Jira only.",
    "brand": "Deskbridge does not move tickets between Zendesk brands; map the brand to Jira only.",
    "created_at": "Zendesk sets when a ticket was created; map it to Jira only.",
    "updated_at": "Zendesk sets when a ticket was last updated; map it to Jira only.",
    "assignee": "The assignee cannot be written from Jira: Zendesk assigns tickets to agents, and Jira hides "
    "most users' email addresses from apps; map it to Jira only.",
    "custom_status": "Deskbridge does not write Zendesk custom ticket statuses; map it to Jira only.",
}

# Ticket fields written as they are, under the same name.
_TICKET_WRITABLE = ("subject", "priority", "type", "status")


def _field(id_: str, label: str, type_: str, options=None, *, system: bool) -> dict[str, Any]:
    return {
        "id": id_,
        "label": label,
        "type": type_,
        "options": options or [],
        "system": system,
        "required": False,
        "has_default": False,
    }


def _options(raw: dict[str, Any]) -> list[dict[str, str]]:
    options = raw.get("custom_field_options") or raw.get("system_field_options") or []
    return [{"value": str(o.get("value")), "label": str(o.get("name", o.get("value")))} for o in options]


def normalise_ticket_fields(raw_fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fields = []
    for raw in raw_fields:
        if raw.get("active") is False:
            continue
        kind = raw.get("type", "")
        type_ = _TICKET_TYPES.get(kind, "unsupported")
        if kind in _TICKET_SYSTEM_IDS:
            id_, system = _TICKET_SYSTEM_IDS[kind], True
        else:
            id_, system = f"custom_field:{raw['id']}", False
        options = PRIORITY_OPTIONS if kind == "priority" else _options(raw)
        fields.append(_field(id_, raw.get("title", id_), type_, options, system=system))
    fields.extend(_field(v["id"], v["label"], v["type"], system=True) for v in TICKET_VIRTUAL_FIELDS)
    return fields


def normalise_custom_fields(raw_fields: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    kinds = {**_TICKET_TYPES, "dropdown": "dropdown"}
    return [
        _field(
            f"{prefix}:{raw['key']}",
            raw.get("title", raw["key"]),
            kinds.get(raw.get("type"), "unsupported"),
            _options(raw),
            system=False,
        )
        for raw in raw_fields
        if raw.get("active") is not False and raw.get("key")
    ]


class ZendeskProvider(HelpdeskProvider):
    key = "zendesk"
    label = "Zendesk Support"
    brand = "Zendesk"
    objects = {"ticket": "Tickets", "user": "Customers", "organization": "Organizations"}
    syncable_objects = frozenset({"ticket"})
    access_help = (
        "Reading changes needs a Zendesk admin: reconnect Deskbridge as an admin on the Deskbridge admin page."
    )
    ticket_object = "ticket"  # the object the standard ticket preset maps
    condition_keys = {
        "tags": "Tags",
        "priority": "Priorities",
        "ticket_type": "Ticket types",
        "group": "Group ids",
        "brand": "Brand ids",
        "form": "Ticket form ids",
    }

    condition_choice_keys = frozenset({"tags", "group", "brand", "form"})
    condition_open_keys = frozenset({"tags"})
    #: how many of the account's most popular tags the tag condition offers (others are typed)
    CONDITION_TAGS = 200

    def condition_choices(self, client, key: str) -> list[dict[str, str]] | None:
        def named(rows, *, gone: str, active: str | None = None):
            choices = []
            for row in rows:
                if row.get("id") is None or row.get(gone):
                    continue
                label = str(row.get("name") or row["id"])
                if active and row.get(active) is False:
                    label += " (inactive)"
                choices.append({"value": str(row["id"]), "label": label})
            return choices

        if key == "group":
            return named(client.groups(), gone="deleted")
        if key == "brand":
            return named(client.brands(), gone="is_deleted", active="active")
        if key == "form":
            return named(client.ticket_forms(), gone="deleted_at", active="active")
        if key == "tags":
            names = [str(t.get("name")) for t in client.tags(limit=self.CONDITION_TAGS) if t.get("name")]
            return [{"value": name, "label": name} for name in names]
        return None

    def identity(self, client):
        from ..services.connections import _zendesk_identity

        return _zendesk_identity(client, client.subdomain)

    def client(self, connection):
        from ..clients.zendesk import ZendeskClient

        if connection.auth_type == connection.AuthType.OAUTH:
            from ..services.connections import zendesk_oauth_access_token

            return ZendeskClient(subdomain=connection.subdomain, oauth_token=zendesk_oauth_access_token(connection))
        secret = connection.secret()
        return ZendeskClient(
            subdomain=connection.subdomain, email=secret.get("email"), api_token=secret.get("api_token")
        )

    def fields(self, client, helpdesk_object: str) -> list[dict[str, Any]]:
        if helpdesk_object == "ticket":
            return normalise_ticket_fields(client.ticket_fields())
        if helpdesk_object == "user":
            system = [_field(f["id"], f["label"], f["type"], system=True) for f in USER_SYSTEM_FIELDS]
            return system + normalise_custom_fields(client.user_fields(), "user_field")
        if helpdesk_object == "organization":
            system = [_field(f["id"], f["label"], f["type"], system=True) for f in ORGANIZATION_SYSTEM_FIELDS]
            return system + normalise_custom_fields(client.organization_fields(), "organization_field")
        raise ValueError(f"Zendesk has no object {helpdesk_object!r}")

    # --- records -------------------------------------------------------------------------------------
    def fetch_record(self, client, helpdesk_object: str, record_id: str) -> dict[str, Any]:
        if not is_numeric_id(record_id):
            raise ApiNotFound(f"{record_id!r} is not a Zendesk id", status=404, service="Zendesk")
        getter = {"ticket": client.ticket_get, "user": client.user_get, "organization": client.organization_get}
        return getter[helpdesk_object](record_id)

    def search(self, client, helpdesk_object: str, query: str, *, limit: int = 10) -> list[RecordSummary]:
        """Tickets by id or partial subject; customers by id, partial name or email; organizations by id
        or partial name. A number is always tried as a direct id first."""
        query = " ".join(query.split())
        if not query:
            return []
        hits: dict[str, RecordSummary] = {}
        direct_id = query.removeprefix("#")  # titles show tickets as "#12 …"; "#12" means ticket 12
        if is_numeric_id(direct_id):
            with contextlib.suppress(ApiNotFound):  # no such id: the text search below may still find matches
                record = self.fetch_record(client, helpdesk_object, direct_id)
                hits[str(record["id"])] = self._summary(helpdesk_object, record)
        # Zendesk search matches whole words; a trailing * makes each word a prefix ("prin*" finds "printer").
        words = " ".join(f"{w}*" for w in query.replace('"', " ").replace(":", " ").split())
        search_type = helpdesk_object
        terms = f"type:{search_type} {words}"
        for record in client.search(terms, limit=limit):
            if record.get("result_type", search_type) == search_type:
                hits.setdefault(str(record["id"]), self._summary(helpdesk_object, record))
        return list(hits.values())[:limit]

    @staticmethod
    def _summary(helpdesk_object: str, record: dict[str, Any]) -> RecordSummary:
        if helpdesk_object == "ticket":
            return RecordSummary(
                str(record["id"]),
                f"#{record['id']} {record.get('subject') or ''}".strip(),
                str(record.get("status") or ""),
            )
        if helpdesk_object == "user":
            return RecordSummary(
                str(record["id"]), str(record.get("name") or record["id"]), str(record.get("email") or "")
            )
        domains = ", ".join(record.get("domain_names") or [])
        return RecordSummary(str(record["id"]), str(record.get("name") or record["id"]), domains)

    def previews(
        self,
        client,
        connection,
        helpdesk_object: str,
        records: list[dict[str, Any]],
        fields: list[dict[str, Any]],
        display_fields: list[str],
    ) -> list[dict[str, Any]]:
        by_id = {f["id"]: f for f in fields}
        chosen = [by_id[f] for f in display_fields if f in by_id]
        users, orgs = self._related(client, records, chosen)
        result = []
        for record in records:
            summary = self._summary(helpdesk_object, record)
            result.append(
                {
                    "id": str(record["id"]),
                    "title": summary.title,
                    "subtitle": summary.subtitle,
                    "url": self.record_url(connection, helpdesk_object, str(record["id"])),
                    "fields": [
                        {
                            "id": f["id"],
                            "label": f["label"],
                            "value": self._readable(connection, helpdesk_object, record, f, users, orgs),
                        }
                        for f in chosen
                    ],
                }
            )
        return result

    @staticmethod
    def _related(client, records, chosen) -> tuple[dict[str, dict], dict[str, dict]]:
        """Users and organizations named by the chosen fields, fetched in two batched calls at most."""
        ids = {f["id"] for f in chosen}
        user_ids: set[str] = set()
        org_ids: set[str] = set()
        for record in records:
            if ids & {"requester.name", "requester.email"} and record.get("requester_id"):
                user_ids.add(str(record["requester_id"]))
            if "assignee" in ids and record.get("assignee_id"):
                user_ids.add(str(record["assignee_id"]))
            if "organization.name" in ids and record.get("organization_id"):
                org_ids.add(str(record["organization_id"]))
        users = {str(u["id"]): u for u in client.users_show_many(sorted(user_ids))} if user_ids else {}
        orgs = {str(o["id"]): o for o in client.organizations_show_many(sorted(org_ids))} if org_ids else {}
        return users, orgs

    def _readable(self, connection, helpdesk_object, record, field, users, orgs) -> str:
        fid = field["id"]
        labels = {o["value"]: o["label"] for o in field.get("options") or []}
        if fid == "requester.name":
            return str(users.get(str(record.get("requester_id")), {}).get("name") or "")
        if fid == "requester.email":
            return str(users.get(str(record.get("requester_id")), {}).get("email") or "")
        if fid == "assignee":
            return str(users.get(str(record.get("assignee_id")), {}).get("name") or "")
        if fid == "organization.name":
            if helpdesk_object == "organization":
                return str(record.get("name") or "")
            return str(orgs.get(str(record.get("organization_id")), {}).get("name") or "")
        if fid == "ticket.url":
            return self.record_url(connection, "ticket", str(record["id"]))
        if fid == "brand":
            return str(record.get("brand_id") or "")
        if fid.startswith("custom_field:"):
            target = int(fid.split(":", 1)[1])
            value = next((c.get("value") for c in record.get("custom_fields") or [] if c.get("id") == target), None)
        elif fid.startswith("user_field:"):
            value = (record.get("user_fields") or {}).get(fid.split(":", 1)[1])
        elif fid.startswith("organization_field:"):
            value = (record.get("organization_fields") or {}).get(fid.split(":", 1)[1])
        elif fid == "type":
            value = record.get("type")
        elif fid == "group":
            value = record.get("group_id")
        else:
            value = record.get(fid)
        return _display(value, field["type"], labels)

    # --- the pull engine's hooks -----------------------------------------------------------------------
    def changes(self, client, helpdesk_object: str, *, cursor: str | None, start_time: int | None) -> ChangePage:
        page = client.incremental_tickets(cursor=cursor, start_time=start_time)
        # The export may repeat a ticket within a page (equal timestamps) and across pages: keep the last.
        latest = {str(t["id"]): t for t in page["tickets"]}
        return ChangePage(list(latest.values()), page["after_cursor"] or cursor, page["end_of_stream"])

    def record_values(self, client, connection, records, field_ids):
        chosen = [{"id": f} for f in field_ids]
        users, orgs = self._related(client, records, chosen)
        values = {}
        for record in records:
            row = {}
            for fid in field_ids:
                row[fid] = self._raw(connection, record, fid, users, orgs)
            values[str(record["id"])] = row
        return values

    def _raw(self, connection, record, fid, users, orgs):
        if fid == "requester.name":
            return users.get(str(record.get("requester_id")), {}).get("name")
        if fid == "requester.email":
            return users.get(str(record.get("requester_id")), {}).get("email")
        if fid == "organization.name":
            return orgs.get(str(record.get("organization_id")), {}).get("name")
        if fid == "assignee":
            return users.get(str(record.get("assignee_id")), {}).get("email")
        if fid == "ticket.url":
            return self.record_url(connection, "ticket", str(record["id"]))
        if fid.startswith("custom_field:"):
            target = int(fid.split(":", 1)[1])
            return next((c.get("value") for c in record.get("custom_fields") or [] if c.get("id") == target), None)
        return record.get({"type": "type", "group": "group_id", "brand": "brand_id"}.get(fid, fid))

    def record_status(self, record, item=None):
        return str(record.get("status") or "")

    def status_value_category(self, status, item=None):
        return ZENDESK_STATUS_CATEGORY.get(str(status or ""))

    def is_closed(self, record):
        return record.get("status") == "closed"

    def record_is_deleted(self, record):
        # The incremental export lists deleted tickets with status "deleted" (client.INCREMENTAL_TICKETS).
        return record.get("status") == "deleted"

    def row_time(self, record):
        # When the export generated the row: Zendesk orders and cuts the export by ``generated_timestamp``,
        # which every change of the ticket moves ("the API compares the start_time with the ticket's
        # generated_timestamp", developer.zendesk.com incremental exports; api-facts: compare with it, not
        # ``updated_at``). A restore shows the ticket again in the export without moving ``updated_at``.
        stamp = record.get("generated_timestamp")
        return float(stamp) if isinstance(stamp, int | float) and not isinstance(stamp, bool) else None

    # Ticket field each auto-create condition reads (``condition_keys``).
    CONDITION_FIELDS = {
        "tags": "tags",
        "priority": "priority",
        "ticket_type": "type",
        "group": "group_id",
        "brand": "brand_id",
        "form": "ticket_form_id",
    }
    # Where Zendesk serves attachment bytes: content_url on the account host redirects there.
    CDN_HOSTS = ["*.zdusercontent.com"]

    def comments_since(self, client, *, start_time: int) -> CommentPage:
        page = client.incremental_ticket_events(start_time=start_time)
        comments: dict[str, HelpdeskComment] = {}  # the export repeats rows: one per comment id
        for event in page["ticket_events"]:
            for child in event.get("child_events") or []:
                if child.get("event_type") != "Comment" or child.get("id") is None:
                    continue
                comments[str(child["id"])] = _comment(
                    str(event.get("ticket_id")), child, int(event.get("timestamp") or 0)
                )
        end_time = page["end_time"]
        next_time = int(end_time) if end_time is not None else int(start_time)
        return CommentPage(list(comments.values()), max(next_time, int(start_time)), page["end_of_stream"])

    def record_comments(self, client, helpdesk_object: str, record_id: str, *, files: bool = True):
        return [_comment(str(record_id), c, _epoch(c.get("created_at"))) for c in client.ticket_comments(record_id)]

    def author_names(self, client, author_ids: set[str]) -> dict[str, str]:
        ids = sorted(a for a in author_ids if is_numeric_id(a))
        names: dict[str, str] = {}
        for start in range(0, len(ids), 100):
            for user in client.users_show_many(ids[start : start + 100]):
                names[str(user.get("id"))] = user.get("name") or user.get("email") or str(user.get("id"))
        return names

    def download_hosts(self, connection) -> list[str]:
        return list(self.CDN_HOSTS)

    def created_epoch(self, record):
        return _epoch(record.get("created_at"))

    def matches_conditions(self, record, conditions):
        for key, wanted in (conditions or {}).items():
            wanted_set = {str(w) for w in wanted or []}
            if not wanted_set:
                continue
            value = record.get(self.CONDITION_FIELDS.get(key, key))
            values = {str(v) for v in value} if isinstance(value, list) else ({str(value)} if value else set())
            if not values & wanted_set:
                return False
        return True

    def default_title(self, record):
        return f"[Zendesk #{record.get('id')}] {record.get('subject') or record.get('raw_subject') or ''}".strip()

    def post_internal_note(self, client, helpdesk_object: str, record_id: str, text: str) -> None:
        if helpdesk_object != "ticket":
            return  # only tickets carry comments; customers and organizations have no notes thread
        client.ticket_update(record_id, {"comment": {"body": text, "public": False}})

    # --- the push engine's hooks -----------------------------------------------------------------------
    def update_payload(self, helpdesk_object: str, values: dict[str, Any]) -> dict[str, Any]:
        """The ``ticket`` of ``PUT /api/v2/tickets/{id}.json``: system fields by name, tags replaced as a
        whole list, every custom field in one ``custom_fields`` list."""
        if helpdesk_object != "ticket":
            raise ValueNotMapped(
                f"Zendesk {self.object_label(helpdesk_object).lower()} are display-only; only tickets are written"
            )
        payload: dict[str, Any] = {}
        custom: list[dict[str, Any]] = []
        for field_id, value in values.items():
            custom_id = field_id.removeprefix("custom_field:")
            if field_id in TICKET_READONLY_REASONS:
                raise ValueNotMapped(TICKET_READONLY_REASONS[field_id])
            if field_id in _TICKET_WRITABLE:
                payload[field_id] = value
            elif field_id == "tags":
                tags = value if isinstance(value, list | tuple) else [] if value is None else [value]
                payload["tags"] = list(tags)
            elif field_id == "group":
                if value is not None and not is_numeric_id(value):
                    raise ValueNotMapped(f"Zendesk groups are written by id; {value!r} is not a group id")
                payload["group_id"] = None if value is None else int(value)
            elif custom_id != field_id and is_numeric_id(custom_id):
                custom.append({"id": int(custom_id), "value": value})
            else:
                raise ValueNotMapped(f"Zendesk ticket field {field_id!r} cannot be written from Jira")
        if custom:
            payload["custom_fields"] = custom
        return payload

    # Jira status category → the ticket status it calls for, and the statuses that already satisfy it: a
    # ticket never returns to "new"; "pending" and "on-hold" are already in progress; "closed" is done.
    PUSH_STATUS = {"new": "open", "indeterminate": "open", "done": "solved"}
    PUSH_SATISFIED = {
        "new": {"new", "open"},
        "indeterminate": {"open", "pending", "hold"},
        "done": {"solved", "closed"},
    }

    def status_for_category(self, current: str | None, category: str, item=None) -> str | None:
        target = self.PUSH_STATUS.get(category)
        if target is None or (current or "").lower() in self.PUSH_SATISFIED[category]:
            return None
        return target  # a closed ticket answers 422 and the engine stops the link

    def status_payload(self, status: str, item=None) -> dict[str, Any]:
        return {"status": status}

    def record_update(self, client, helpdesk_object: str, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return client.ticket_write(record_id, body)["ticket"]

    def comment_add(
        self, client, helpdesk_object: str, record_id: str, *, text: str, html: str, public: bool, uploads: list[str]
    ) -> str:
        comment: dict[str, Any] = {"public": public}
        comment.update({"html_body": html} if html else {"body": text})
        if uploads:
            comment["uploads"] = list(uploads)
        answer = client.ticket_write(record_id, {"comment": comment})
        events = (answer.get("audit") or {}).get("events") or []
        return next((str(e["id"]) for e in events if e.get("type") == "Comment" and e.get("id")), "")

    def upload(self, client, *, filename: str, content_type: str, fileobj, size: int) -> str:
        return client.upload(filename=filename, content_type=content_type, fileobj=fileobj, size=size)

    def agent_comment_find(self, client, helpdesk_object: str, record_id: str, agent_id: str, marker: str):
        for comment in client.ticket_comments_recent(record_id, limit=100):
            body = f"{comment.get('html_body') or ''} {comment.get('body') or ''}"
            # the marker ends an id: "focusedCommentId=1001" must not match a copy of comment 10012
            if str(comment.get("author_id")) == str(agent_id) and re.search(re.escape(marker) + r"(?!\d)", body):
                return str(comment["id"])
        return None

    # --- creating tickets from Jira ----------------------------------------------------------------------
    creatable_objects = frozenset({"ticket"})
    #: what a new ticket must have: Zendesk refuses one without a description (its first comment), and a
    #: ticket without a subject would be named after the first words of its description
    CREATE_REQUIRED = {"subject": "Subject", "description": "Description"}

    def create_required_fields(self, helpdesk_object: str, fields: list[dict[str, Any]]) -> dict[str, str]:
        return dict(self.CREATE_REQUIRED) if helpdesk_object == "ticket" else {}

    def create_readonly_fields(self, helpdesk_object: str) -> set[str]:
        return self.readonly_fields(helpdesk_object) - {"description"}  # a new ticket's description is written

    def create_payload(
        self, helpdesk_object: str, values: dict[str, Any], *, html: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The ``ticket`` of ``POST /api/v2/tickets.json``: the update's fields, and the description as the
        ticket's first comment (HTML where it came from rich Jira text)."""
        rest = {k: v for k, v in values.items() if k != "description"}
        payload = self.update_payload(helpdesk_object, rest)
        if "description" in values:
            text, rich = values["description"], (html or {}).get("description")
            payload["comment"] = {"html_body": rich} if rich else {"body": "" if text is None else str(text)}
        return payload

    assigns_people_by_domain = True  # "automatically assign them to an organization by their email address domain"

    def create_people(self, helpdesk_object: str) -> frozenset[str]:
        return frozenset({"requester", "organization"}) if helpdesk_object == "ticket" else frozenset()

    @staticmethod
    def _person(user: dict[str, Any]) -> dict[str, str]:
        org = user.get("organization_id")
        return {
            "id": str(user["id"]),
            "name": str(user.get("name") or ""),
            "email": str(user.get("email") or ""),
            "organization_id": "" if org is None else str(org),
        }

    @staticmethod
    def _organization(org: dict[str, Any]) -> dict[str, str]:
        return {
            "id": str(org["id"]),
            "name": str(org.get("name") or ""),
            "domain": ",".join(org.get("domain_names") or []),
        }

    def person_find(self, client, email: str) -> dict[str, str] | None:
        wanted = email.strip().lower()
        found = next((u for u in client.users_search(wanted) if str(u.get("email") or "").lower() == wanted), None)
        return self._person(found) if found else None

    def person_get(self, client, person_id: str) -> dict[str, str] | None:
        if not is_numeric_id(person_id):
            return None
        try:
            return self._person(client.user_get(person_id))
        except ApiNotFound:
            return None

    def person_create(
        self, client, *, email: str, name: str, organization_id: str = "", searched: bool = False
    ) -> dict[str, str]:
        """``users/create_or_update``: it matches an existing user by email (one the search index did not show
        yet) instead of making a second one. A new end user whose email domain an organization lists is put in
        it by Zendesk; ``organization_id`` is given only to a user Zendesk left without one."""
        wanted = email.strip().lower()
        user: dict[str, Any] = {"name": name or wanted, "email": wanted}
        if organization_id:
            user["organization_id"] = int(organization_id)
        return self._person(client.user_create_or_update(user))

    def organization_find(self, client, *, name: str = "", domain: str = "") -> dict[str, str] | None:
        """By exact name (``organizations/search?name=``). By domain: the organization we made for it
        (external id ``deskbridge-domain-<domain>``); Zendesk's search has no documented domain keyword, and a
        person whose domain an organization lists is already in it (see ``person_create``)."""
        if name:
            found = client.organizations_search(name=name.strip())
            wanted = name.strip().lower()
        elif domain:
            found = client.organizations_search(external_id=self._domain_external_id(domain))
            wanted = ""
        else:
            return None
        match = next((o for o in found if not wanted or str(o.get("name") or "").lower() == wanted), None)
        return self._organization(match) if match else None

    def people_search(self, client, query: str, *, limit: int = 10) -> list[dict[str, str]]:
        """By id, else ``users/search?query=`` (an email, or part of a name)."""
        query = query.strip()
        if not query or is_numeric_id(query):
            return super().people_search(client, query, limit=limit)
        return [self._person(u) for u in client.users_search(query)[:limit]]

    def organizations_search(self, client, query: str, *, limit: int = 10) -> list[dict[str, str]]:
        """By id, else ``organizations/autocomplete?name=`` (the start of a name; Zendesk wants two
        characters at least)."""
        query = query.strip()
        if is_numeric_id(query) or len(query) < 2:
            return super().organizations_search(client, query, limit=limit)
        return [self._organization(o) for o in client.organizations_autocomplete(query)[:limit]]

    def organization_get(self, client, organization_id: str) -> dict[str, str] | None:
        if not is_numeric_id(organization_id):
            return None
        try:
            return self._organization(client.organization_get(organization_id))
        except ApiNotFound:
            return None

    @staticmethod
    def _domain_external_id(domain: str) -> str:
        return f"deskbridge-domain-{domain.strip().lower()}"

    def organization_create(self, client, *, name: str, domain: str = "") -> dict[str, str]:
        """``organizations/create_or_update`` keyed by an external id derived from the name (or domain), so a
        retry updates the one the first call made. Names are unique in Zendesk: one made meanwhile by someone
        else (422 ``has already been taken``) is found by name instead."""
        key = self._domain_external_id(domain) if domain and not name else f"deskbridge-name-{name.strip().lower()}"
        body: dict[str, Any] = {"name": name.strip() or domain.strip().lower(), "external_id": key[:255]}
        if domain:
            body["domain_names"] = [domain.strip().lower()]
        try:
            return self._organization(client.organization_create_or_update(body))
        except ApiBadRequest:
            found = self.organization_find(client, name=body["name"])
            if found is None:
                raise
            return found

    def refused_fields(self, exc) -> list[str]:
        """The keys of a 422 RecordInvalid's ``details`` (``subject``, ``description``, ``requester`` …; ``base``
        names no field)."""
        details = (exc.body or {}).get("details") if isinstance(exc.body, dict) else None
        return sorted(k for k in (details or {}) if k != "base") if isinstance(details, dict) else []

    def people_part(self, helpdesk_object: str, *, person_id: str, organization_id: str) -> dict[str, Any]:
        """Zendesk makes the connected agent the requester when none is given."""
        part: dict[str, Any] = {}
        if person_id:
            part["requester_id"] = int(person_id)
        if organization_id:
            part["organization_id"] = int(organization_id)
        return part

    def record_create(
        self, client, helpdesk_object: str, body: dict[str, Any], *, source_key: str, tag_field: str = ""
    ) -> dict[str, Any]:
        if helpdesk_object != "ticket":
            raise ValueNotMapped("Only Zendesk tickets can be created from Jira")
        return client.ticket_create({**body, "external_id": source_key})

    def record_find_by_source(
        self, client, helpdesk_object: str, source_key: str, *, tag_field: str = ""
    ) -> dict[str, Any] | None:
        if helpdesk_object != "ticket":
            return None
        return next((t for t in client.tickets_by_external_id(source_key) if t.get("external_id") == source_key), None)

    def readonly_fields(self, helpdesk_object: str) -> set[str]:
        """Ticket fields Jira cannot write; customers and organizations are display-only, so all of their
        (system) fields. Their custom fields need the account's schema: ``update_payload`` refuses them."""
        if helpdesk_object == "ticket":
            return set(TICKET_READONLY_REASONS)
        if helpdesk_object == "user":
            return {f["id"] for f in USER_SYSTEM_FIELDS}
        if helpdesk_object == "organization":
            return {f["id"] for f in ORGANIZATION_SYSTEM_FIELDS}
        raise ValueError(f"Zendesk has no object {helpdesk_object!r}")

    def record_url(self, connection, helpdesk_object: str, record_id: str) -> str:
        from django.conf import settings

        base = settings.ZENDESK_URL_TEMPLATE.format(subdomain=connection.subdomain)
        path = {"ticket": "tickets", "user": "users", "organization": "organizations"}[helpdesk_object]
        return f"{base}/agent/{path}/{record_id}"


def _display(value: Any, type_: str, labels: dict[str, str]) -> str:
    if value is None or value == "" or value == []:
        return ""
    if type_ == "checkbox":
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(labels.get(str(v), str(v)) for v in value)
    return labels.get(str(value), str(value))


def _epoch(stamp: Any) -> int:
    """Zendesk's ISO 8601 time (``2026-11-21T10:00:00Z``) in epoch seconds; 0 when absent or unreadable."""
    if not stamp:
        return 0
    try:
        return int(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _comment(record_id: str, raw: dict[str, Any], created: int) -> HelpdeskComment:
    files = tuple(
        HelpdeskFile(
            id=str(a.get("id")),
            name=str(a.get("file_name") or f"attachment-{a.get('id')}"),
            url=str(a.get("content_url") or ""),
            content_type=str(a.get("content_type") or "application/octet-stream"),
            size=int(a.get("size") or 0),
        )
        for a in raw.get("attachments") or []
        if a.get("id") is not None and not a.get("deleted")
    )
    return HelpdeskComment(
        record_id=record_id,
        id=str(raw["id"]),
        author_id=str(raw.get("author_id") or ""),
        body=str(raw.get("body") or raw.get("plain_body") or ""),
        public=bool(raw.get("public", True)),
        created=created or _epoch(raw.get("created_at")),
        files=files,
    )

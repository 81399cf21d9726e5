from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Identity:
    """Who we are connected as on the helpdesk (our agent: used to ignore our own changes)."""

    agent_id: str
    name: str
    email: str
    role: str


@dataclass(frozen=True)
class RecordSummary:
    """One search hit in the Link dialog."""

    id: str
    title: str
    subtitle: str = ""


@dataclass(frozen=True)
class ChangePage:
    """One page of a helpdesk's change stream: the changed records and the position after them
    (``cursor`` None: the stream gave no position yet — keep the start time)."""

    records: list[dict[str, Any]]
    cursor: str | None
    done: bool


@dataclass(frozen=True)
class HelpdeskFile:
    """A file attached to a helpdesk comment."""

    id: str
    name: str
    url: str
    content_type: str
    size: int


@dataclass(frozen=True)
class HelpdeskComment:
    """One comment (or internal note) of a record, as the engine copies it."""

    record_id: str
    id: str
    author_id: str
    body: str
    public: bool
    created: int  # epoch seconds
    files: tuple[HelpdeskFile, ...] = ()


@dataclass(frozen=True)
class CommentPage:
    """Comments made since a time, and where the next read starts (``done``: nothing more to read now)."""

    comments: list[HelpdeskComment]
    next_time: int
    done: bool


class HelpdeskProvider(abc.ABC):
    key: str
    label: str
    #: the short name agents know it by, in copied comments ("[Zendesk internal note]")
    brand: str
    #: helpdesk object key → label shown to admins
    objects: dict[str, str]
    #: objects that may be synchronized (others are display-only)
    syncable_objects: frozenset[str]

    def object_label(self, helpdesk_object: str) -> str:
        return self.objects.get(helpdesk_object, helpdesk_object)

    @abc.abstractmethod
    def client(self, connection) -> Any:
        """An authenticated API client for the connection."""

    @abc.abstractmethod
    def fields(self, client, helpdesk_object: str) -> list[dict[str, Any]]:
        """Normalised fields of an object (see connector.schema)."""

    @abc.abstractmethod
    def record_url(self, connection, helpdesk_object: str, record_id: str) -> str:
        """Where an agent opens the record in the helpdesk."""

    @abc.abstractmethod
    def fetch_record(self, client, helpdesk_object: str, record_id: str) -> dict[str, Any]:
        """The record; raises ApiNotFound when it does not exist."""

    @abc.abstractmethod
    def search(self, client, helpdesk_object: str, query: str, *, limit: int = 10) -> list[RecordSummary]:
        """Records matching a partial id, title, name or email (as the object supports)."""

    @abc.abstractmethod
    def previews(
        self,
        client,
        connection,
        helpdesk_object: str,
        records: list[dict[str, Any]],
        fields: list[dict[str, Any]],
        display_fields: list[str],
    ) -> list[dict[str, Any]]:
        """Preview snapshots (title, url, status, fields [{id, label, value}]) with readable values."""

    @abc.abstractmethod
    def post_internal_note(self, client, helpdesk_object: str, record_id: str, text: str) -> None:
        """Add an internal (private) note to the record."""

    # --- the pull engine's hooks -----------------------------------------------------------------------
    @abc.abstractmethod
    def changes(self, client, *, cursor: str | None, start_time: int | None) -> ChangePage:
        """Records of the syncable object changed since ``cursor`` (or ``start_time`` on the first poll)."""

    @abc.abstractmethod
    def record_values(
        self, client, connection, records: list[dict[str, Any]], field_ids: set[str]
    ) -> dict[str, dict[str, Any]]:
        """Raw values (option values, not labels) of ``field_ids`` per record id, fetching related records
        (people, organizations) in batches when a field needs them."""

    @abc.abstractmethod
    def status_category(self, record: dict[str, Any]) -> str | None:
        """The Jira status category (new / indeterminate / done) the record's status corresponds to."""

    @abc.abstractmethod
    def is_closed(self, record: dict[str, Any]) -> bool:
        """A record that can never change again (Zendesk: closed): the link stops syncing after it."""

    @abc.abstractmethod
    def comments_since(self, client, *, start_time: int) -> CommentPage:
        """Comments made on any record since ``start_time`` (one stream for the whole account)."""

    @abc.abstractmethod
    def record_comments(self, client, record_id: str) -> list[HelpdeskComment]:
        """Every comment of one record (the panel's Refresh and retries)."""

    @abc.abstractmethod
    def author_names(self, client, author_ids: set[str]) -> dict[str, str]:
        """Display names of comment authors, fetched in batches."""

    @abc.abstractmethod
    def download_hosts(self, connection) -> list[str]:
        """Hosts (patterns) files of this helpdesk are served from, besides its API host."""

    @abc.abstractmethod
    def created_epoch(self, record: dict[str, Any]) -> int:
        """When the record was created (epoch seconds)."""

    @abc.abstractmethod
    def matches_conditions(self, record: dict[str, Any], conditions: dict[str, list[str]]) -> bool:
        """Whether the record meets an item's auto-create conditions (every key; any value of a key)."""

    @abc.abstractmethod
    def default_title(self, record: dict[str, Any]) -> str:
        """The Jira summary when no mapping gives one, e.g. ``[Zendesk #12] Printer on fire``."""

    # --- the push engine's hooks (Jira → helpdesk, two-way items) ----------------------------------------
    @abc.abstractmethod
    def update_payload(self, helpdesk_object: str, values: dict[str, Any]) -> dict[str, Any]:
        """The body of one record update that writes these helpdesk field values (field id → value as
        ``connector.mapping.helpdesk_value`` gives it); raises ValueNotMapped, saying why, for a field that
        cannot be written."""

    @abc.abstractmethod
    def readonly_fields(self, helpdesk_object: str) -> set[str]:
        """Ids of the object's fields that cannot be written from Jira (items refuse to map Jira to them)."""

    @abc.abstractmethod
    def status_for_category(self, current: str | None, category: str) -> str | None:
        """The record status a Jira status category (new / indeterminate / done) calls for, given the
        record's ``current`` status (None: unknown), or None when the record already sits where it should."""

    @abc.abstractmethod
    def status_payload(self, status: str) -> dict[str, Any]:
        """The part of a record update that sets its status."""

    @abc.abstractmethod
    def record_update(self, client, helpdesk_object: str, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Apply one update (``update_payload`` + ``status_payload``) and return the record as it now is."""

    @abc.abstractmethod
    def comment_add(self, client, record_id: str, *, text: str, html: str, public: bool, uploads: list[str]) -> str:
        """Add a comment (HTML when the helpdesk takes it, else ``text``) with uploaded files; returns its id."""

    @abc.abstractmethod
    def upload(self, client, *, filename: str, content_type: str, fileobj, size: int) -> str:
        """Upload a file (streamed) for a later ``comment_add``; returns the upload's token."""

    @abc.abstractmethod
    def agent_comment_find(self, client, record_id: str, agent_id: str, marker: str) -> str | None:
        """The id of a recent comment by ``agent_id`` whose body contains ``marker`` (a write that may have
        landed before a crash), or None."""

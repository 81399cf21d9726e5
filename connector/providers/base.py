from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from ..clients.base import is_numeric_id
from ..mapping import ValueNotMapped


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
class DeletedPage:
    """What a helpdesk's list of deleted records says: which watched records (helpdesk object → record ids)
    it lists as deleted since the cursor, and the position after them."""

    deleted: dict[str, set[str]]
    cursor: str


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
    author_name: str = ""  # when the helpdesk says it with the comment (else ``author_names`` is asked)
    files_only: bool = False  # files of the record itself or of an email thread: copied, no comment made


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
    #: the helpdesk's ticket object (the standard preset maps it; other objects have none)
    ticket_object: str = ""
    #: auto-create condition key → label (the record values an item may require)
    condition_keys: dict[str, str] = {}
    #: condition keys whose values ``condition_choices`` reads from the helpdesk (the others: its field list)
    condition_choice_keys: frozenset[str] = frozenset()
    #: condition keys whose listed values are only the most used ones (others may be typed as well)
    condition_open_keys: frozenset[str] = frozenset()
    #: False: comments come from one account-wide stream, ``comments_since(client, *, start_time) -> CommentPage``
    #: (comments made on any record since then), which such a provider implements; True: they are read per
    #: changed record (``record_comments``), the helpdesk having no such stream
    comments_per_record: bool = False

    #: what an admin does when the helpdesk refuses access (403) during a sync
    access_help: str = "Reconnect on the Deskbridge admin page with an account that may read and update records."
    #: helpdesk calls one poll may have in flight at once (the helpdesk's concurrency limit, shared)
    max_parallel: int = 64
    #: the precision of the helpdesk's record times in seconds (``created_epoch`` is a multiple of it)
    time_precision: float = 1.0
    #: whether new items post a link note on the record unless told otherwise
    link_note_default: bool = False
    #: True: an item chooses its status field and maps the field's values to Jira categories (``status_map``)
    status_field_choice: bool = False

    def default_status_field(self, helpdesk_object: str) -> str:
        """The object's own status field ("" when it has none); only with ``status_field_choice``."""
        return ""

    def status_map_default(self, fields: list[dict[str, Any]], status_field: str) -> dict[str, str]:
        """The default value → Jira category table of a status field; only with ``status_field_choice``."""
        return {}

    def condition_choices(self, client, key: str) -> list[dict[str, str]] | None:
        """The values an auto-create condition ``key`` may take, read from the helpdesk: ``{"value", "label"}``
        with ``value`` as ``matches_conditions`` compares it (an id, a tag) and ``label`` its name. None for a
        key not in ``condition_choice_keys``. Raises the client's ApiError when the helpdesk refuses."""
        return None

    def streams(self, objects: set[str]) -> list[str]:
        """The change streams a poll reads for items of these objects (one cursor each)."""
        return sorted(set(objects) & self.syncable_objects)

    @abc.abstractmethod
    def identity(self, client) -> Identity:
        """Who the client acts as; raises connector.errors.HelpdeskError (code ``helpdesk_auth_failed`` when the
        credentials are refused)."""

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
    def changes(self, client, helpdesk_object: str, *, cursor: str | None, start_time: int | None) -> ChangePage:
        """Records of ``helpdesk_object`` changed since ``cursor`` (or ``start_time`` on the first poll)."""

    @abc.abstractmethod
    def record_values(
        self, client, connection, records: list[dict[str, Any]], field_ids: set[str]
    ) -> dict[str, dict[str, Any]]:
        """Raw values (option values, not labels) of ``field_ids`` per record id, fetching related records
        (people, organizations) in batches when a field needs them."""

    @abc.abstractmethod
    def record_status(self, record: dict[str, Any], item=None) -> str:
        """The record's raw status (in the status field the item chose, where the helpdesk has a choice)."""

    @abc.abstractmethod
    def status_value_category(self, status: str, item=None) -> str | None:
        """The Jira status category (new / indeterminate / done) a raw status value corresponds to."""

    def status_category(self, record: dict[str, Any], item=None) -> str | None:
        """The Jira status category the record's status corresponds to."""
        status = self.record_status(record, item)
        return self.status_value_category(status, item) if status else None

    @abc.abstractmethod
    def is_closed(self, record: dict[str, Any]) -> bool:
        """A record that can never change again (Zendesk: closed): the link stops syncing after it."""

    def record_is_deleted(self, record: dict[str, Any]) -> bool:
        """A record the change stream shows as deleted in the helpdesk (Zendesk's export lists deleted tickets
        with ``status: "deleted"``): its links break as on a 404, and it is never synced or auto-created from.
        False for helpdesks whose change stream leaves deleted records out."""
        return False

    def row_time(self, record: dict[str, Any]) -> float | None:
        """When the helpdesk made this change-stream row (epoch seconds), to judge whether the row shows the
        record after a deletion we marked: a row from before (a page read before a write got a 404) heals
        nothing. None when the row does not say (nothing is healed from it)."""
        return None

    #: True: the helpdesk lists its deleted records apart from the change stream (``deleted_records``) and a
    #: deleted record can come back (restored) for ``restorable_days``; polls read that list at the comment
    #: sweep's interval and read the records of broken links to see whether they are back
    lists_deleted: bool = False
    restorable_days: int = 0
    #: what an admin does when the helpdesk refuses to list its deleted records
    deleted_help: str = ""

    def deleted_records(
        self, client, watched: dict[str, set[str]], *, cursor: str | None, start_time: int | None
    ) -> DeletedPage:
        """Which of ``watched`` (helpdesk object → linked record ids) the helpdesk lists as deleted since
        ``cursor`` (or ``start_time``, epoch seconds, on the first read); polls ask only with ``lists_deleted``.
        A helpdesk without such a list lists nothing, and stays where it was."""
        return DeletedPage(deleted={}, cursor=cursor or "")

    @abc.abstractmethod
    def record_comments(
        self, client, helpdesk_object: str, record_id: str, *, files: bool = True
    ) -> list[HelpdeskComment]:
        """Every comment of one record (with ``files``: also files attached outside comments, as
        ``files_only`` entries)."""

    @abc.abstractmethod
    def author_names(self, client, author_ids: set[str]) -> dict[str, str]:
        """Display names of comment authors, fetched in batches."""

    @abc.abstractmethod
    def download_hosts(self, connection) -> list[str]:
        """Hosts (patterns) files of this helpdesk are served from, besides its API host."""

    @abc.abstractmethod
    def created_epoch(self, record: dict[str, Any]) -> float:
        """When the record was created (epoch seconds, to ``time_precision``)."""

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
    def status_for_category(self, current: str | None, category: str, item=None) -> str | None:
        """The record status a Jira status category (new / indeterminate / done) calls for, given the
        record's ``current`` status (None: unknown), or None when the record already sits where it should."""

    @abc.abstractmethod
    def status_payload(self, status: str, item=None) -> dict[str, Any]:
        """The part of a record update that sets its status (merged into ``update_payload``'s body)."""

    @abc.abstractmethod
    def record_update(self, client, helpdesk_object: str, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Apply one update (``update_payload`` + ``status_payload``) and return the record as it now is."""

    @abc.abstractmethod
    def comment_add(
        self, client, helpdesk_object: str, record_id: str, *, text: str, html: str, public: bool, uploads: list[str]
    ) -> str:
        """Add a comment (HTML when the helpdesk takes it, else ``text``) with uploaded files; returns its id."""

    @abc.abstractmethod
    def upload(self, client, *, filename: str, content_type: str, fileobj, size: int) -> str:
        """Upload a file (streamed) for a later ``comment_add``; returns the upload's token."""

    @abc.abstractmethod
    def agent_comment_find(
        self, client, helpdesk_object: str, record_id: str, agent_id: str, marker: str
    ) -> str | None:
        """The id of a recent comment by ``agent_id`` whose body contains ``marker`` (a write that may have
        landed before a crash), or None."""

    # --- creating records from Jira (Jira → helpdesk) ------------------------------------------------------
    #: objects whose records Deskbridge can create from a Jira issue (empty: none yet)
    creatable_objects: frozenset[str] = frozenset()

    def create_required_fields(self, helpdesk_object: str, fields: list[dict[str, Any]]) -> dict[str, str]:
        """Field id → label of the fields a new record must have (besides what ``requester_part`` gives)."""
        return {}

    def create_readonly_fields(self, helpdesk_object: str) -> set[str]:
        """Ids of the fields a new record cannot be given from Jira (the helpdesk sets them)."""
        return self.readonly_fields(helpdesk_object)

    def create_payload(
        self, helpdesk_object: str, values: dict[str, Any], *, html: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The body of one record creation writing these field values (``html``: the HTML form of text values
        that came from rich Jira text, where the helpdesk takes HTML); raises ValueNotMapped saying why."""
        raise ValueNotMapped(f"{self.label} records cannot be created from Jira yet")

    #: whether the helpdesk puts a new person in the organization that owns their email's domain by itself
    assigns_people_by_domain: bool = False

    # People and organizations of new records. A person is a helpdesk end user / contact, an organization a
    # company / account, both as ``{"id", "name", "email"|"domain"}`` (strings). ``*_create`` has upsert
    # semantics: called again after a crash, it finds what the first call made instead of making a second.
    def create_people(self, helpdesk_object: str) -> frozenset[str]:
        """What a new record of the object names: ``requester`` (a person), ``organization``, both or none."""
        return frozenset()

    def person_find(self, client, email: str) -> dict[str, str] | None:
        """The person with this email address (compared case-insensitively), or None."""
        return None

    def person_get(self, client, person_id: str) -> dict[str, str] | None:
        """The person with this id, or None when there is none (a default requester checked at save)."""
        return None

    def person_create(
        self, client, *, email: str, name: str, organization_id: str = "", searched: bool = False
    ) -> dict[str, str]:
        """A person with this email and name (in the organization, when given), found or made. ``searched``: the
        caller has just asked ``person_find`` for this email, and it found none (no need to ask again)."""
        raise ValueNotMapped(f"{self.label} people cannot be created from Jira")

    def organization_find(self, client, *, name: str = "", domain: str = "") -> dict[str, str] | None:
        """The organization with exactly this name (case-insensitively), or owning this email domain."""
        return None

    def organization_get(self, client, organization_id: str) -> dict[str, str] | None:
        """The organization with this id, or None (a default organization checked at save)."""
        return None

    def people_search(self, client, query: str, *, limit: int = 10) -> list[dict[str, str]]:
        """People a typed query names, for an admin choosing a default requester: here by id; a helpdesk that
        can search emails and names says so in its own."""
        query = query.strip()
        found = self.person_get(client, query) if is_numeric_id(query) else None
        return [found] if found else []

    def organizations_search(self, client, query: str, *, limit: int = 10) -> list[dict[str, str]]:
        """Organizations a typed query names, for an admin choosing a default organization: here by id or
        exact name; a helpdesk that can search by the start of a name says so in its own."""
        query = query.strip()
        found = self.organization_get(client, query) if is_numeric_id(query) else None
        if found is None and query:
            found = self.organization_find(client, name=query)
        return [found] if found else []

    def organization_create(self, client, *, name: str, domain: str = "") -> dict[str, str]:
        """An organization with this name (owning ``domain`` when given), found or made."""
        raise ValueNotMapped(f"{self.label} organizations cannot be created from Jira")

    def people_part(self, helpdesk_object: str, *, person_id: str, organization_id: str) -> dict[str, Any]:
        """The part of a creation body naming the record's person and organization (either may be blank:
        the helpdesk's own default then applies, or ``ValueNotMapped`` says the record cannot be made
        without it)."""
        return {}

    def record_create(
        self, client, helpdesk_object: str, body: dict[str, Any], *, source_key: str, tag_field: str = ""
    ) -> dict[str, Any]:
        """Create the record, tagged with ``source_key`` (in ``tag_field`` where the helpdesk has no external
        id of its own) so that ``record_find_by_source`` finds it again."""
        raise ValueNotMapped(f"{self.label} records cannot be created from Jira yet")

    def record_find_by_source(
        self, client, helpdesk_object: str, source_key: str, *, tag_field: str = ""
    ) -> dict[str, Any] | None:
        """The record an earlier ``record_create`` with this ``source_key`` made (a call that may have landed
        before a crash), or None."""
        return None

    def refused_fields(self, exc) -> list[str]:
        """The ids of the fields a creation or update refusal (an ``ApiBadRequest``) names, for a form to
        point at."""
        return []

    def record_tag_required(self, helpdesk_object: str) -> bool:
        """Whether an item creating records of the object must name a ``record_tag_field`` (the helpdesk has
        no external id to carry the Jira origin)."""
        return False

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


class HelpdeskProvider(abc.ABC):
    key: str
    label: str
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

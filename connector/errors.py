"""Typed errors of the connector app: stable codes, messages that say what to do next."""

from config.errors import ApplicationError, ConflictError, ValidationFailed


class HelpdeskError(ApplicationError):
    """Connecting to or talking with a helpdesk failed (400 unless a subclass says otherwise)."""

    default_code = "helpdesk_error"


class HelpdeskUnavailable(HelpdeskError):
    status_code = 502
    default_code = "helpdesk_unreachable"


class HelpdeskRateLimited(HelpdeskError):
    status_code = 429
    default_code = "helpdesk_rate_limited"


class NotConnected(ApplicationError):
    status_code = 409
    default_code = "helpdesk_not_connected"


class SchemaUnavailable(ApplicationError):
    status_code = 502
    default_code = "schema_unavailable"


class SchemaNotFound(ApplicationError):
    """The service says the project / issue type asked about does not exist (or the app cannot see it)."""

    status_code = 404
    default_code = "schema_not_found"


class ItemInvalid(ValidationFailed):
    default_code = "item_invalid"


class ItemChanged(ConflictError):
    """The item changed since the version an update was merged onto (a concurrent edit)."""

    default_code = "item_changed"

from config.errors import ApplicationError, ConflictError, ForbiddenError, ServiceUnavailable


class LinkExists(ApplicationError):
    status_code = 409
    default_code = "link_exists"


class AutoManagedLink(ForbiddenError):
    default_code = "auto_managed_link"


class LinkRecordDeleted(ConflictError):
    """The link's helpdesk record was deleted: the link is broken, and reading the record can only fail."""

    default_code = "record_deleted"


class RecordNotFound(ApplicationError):
    status_code = 400
    default_code = "record_not_found"


class IssueNotFound(ApplicationError):
    status_code = 400
    default_code = "issue_not_found"


class IssueNotApplicable(ApplicationError):
    """The issue exists but the item does not apply to it (another project or issue type)."""

    status_code = 400
    default_code = "issue_not_applicable"


class JiraUnavailable(ServiceUnavailable):
    default_code = "jira_unavailable"


class SyncNotPossible(ConflictError):
    default_code = "sync_not_possible"


class WebhookInvalid(ApplicationError):
    """A webhook delivery we cannot use (not JSON, an event we do not subscribe to): 400 with the reason."""

    status_code = 400
    default_code = "webhook_invalid"

"""Typed errors of the tenants app. Each carries a stable code and a message an admin can act on."""

from config.errors import ApplicationError, AuthenticationError, ForbiddenError, ServiceUnavailable


class JwtRejected(AuthenticationError):
    """An inbound Atlassian JWT failed verification (401)."""

    default_code = "jwt_invalid"


class JwtBadRequest(ApplicationError):
    """The request carries its token in a way we refuse to guess about (400)."""

    status_code = 400
    default_code = "jwt_ambiguous"


class InstallRejected(ForbiddenError):
    """A lifecycle callback is signed correctly but not acceptable (403)."""

    default_code = "install_rejected"


class InstallKeysUnavailable(ServiceUnavailable):
    """The Atlassian install-keys service could not be reached; Jira retries (503)."""

    default_code = "install_keys_unavailable"


class LifecycleBodyInvalid(ApplicationError):
    status_code = 400
    default_code = "malformed_body"


class TenantInactive(ForbiddenError):
    default_code = "tenant_inactive"


class LicenseRequired(ForbiddenError):
    default_code = "license_required"

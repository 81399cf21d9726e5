from __future__ import annotations

from rest_framework import permissions

from config.errors import ForbiddenError
from connector.clients.base import ApiError
from connector.selectors import jira_user_is_admin
from tenants.auth import (
    ApiTokenScope,
    JiraContextJWTAuthentication,
    JiraJWTAuthentication,
    TenantApiTokenAuthentication,
    TenantLicensed,
)


class AdminRequired(ForbiddenError):
    default_code = "admin_required"


def require_jira_admin(*, tenant, account_id: str | None) -> None:
    try:
        is_admin = jira_user_is_admin(tenant=tenant, account_id=account_id)
    except ApiError as exc:
        raise ForbiddenError(
            f"Could not confirm Jira administrator rights ({exc.message}). Reload the page to try again.",
            code="admin_check_failed",
        ) from exc
    if not is_admin:
        raise AdminRequired(
            "Only Jira administrators can configure Deskbridge. Ask a Jira admin for access.",
        )


class IsTenantAdmin(permissions.BasePermission):
    """A tenant API token (created by an admin), or a Jira JWT whose user holds global ADMINISTER."""

    def has_permission(self, request, view) -> bool:
        principal = request.user
        if principal is None or not getattr(principal, "is_authenticated", False):
            return False
        if principal.api_token_id is not None:
            return True
        require_jira_admin(tenant=principal.tenant, account_id=principal.account_id)
        return True


CONFIG_AUTHENTICATION = [TenantApiTokenAuthentication, JiraContextJWTAuthentication]
CONFIG_PERMISSIONS = [TenantLicensed, IsTenantAdmin, ApiTokenScope]
PANEL_AUTHENTICATION = [JiraContextJWTAuthentication]
STRICT_AUTHENTICATION = [JiraJWTAuthentication]

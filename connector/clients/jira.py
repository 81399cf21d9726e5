"""Jira Cloud REST client for one tenant. Every request is signed with a fresh Connect JWT whose qsh
covers that exact request (``tenants.jwt.encode_outbound``: the header is built in one place)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tenants.jwt import encode_outbound, relative_to_base
from tenants.models import Tenant

from .base import BaseClient


class JiraClient(BaseClient):
    service = "Jira"

    MYSELF = "/rest/api/3/myself"
    ADDON = "/rest/atlassian-connect/1/addons/{app_key}"
    PERMISSIONS_CHECK = "/rest/api/3/permissions/check"
    ISSUE = "/rest/api/3/issue/{issue}"
    ISSUE_CREATE = "/rest/api/3/issue"
    ISSUE_PROPERTY = "/rest/api/3/issue/{issue}/properties/{key}"
    SERVER_INFO = "/rest/api/3/serverInfo"

    def __init__(self, tenant: Tenant, **kwargs):
        super().__init__(**kwargs)
        self.tenant = tenant

    def base_url(self) -> str:
        return self.tenant.base_url

    def authenticate(self, method: str, path: str, query: str, headers: dict[str, str]) -> None:
        relative = relative_to_base(path, self.tenant.base_url) + (f"?{query}" if query else "")
        token = encode_outbound(shared_secret=self.tenant.shared_secret, method=method, relative_url=relative)
        headers["Authorization"] = f"JWT {token}"

    def error_message(self, status: int, data: Any, text: str) -> str:
        parts: list[str] = []
        if isinstance(data, dict):
            parts.extend(str(m) for m in data.get("errorMessages") or [])
            errors = data.get("errors") or {}
            if isinstance(errors, dict):
                parts.extend(f"{field}: {msg}" for field, msg in errors.items())
        detail = "; ".join(parts)
        return f"Jira answered HTTP {status}" + (f": {detail}" if detail else "")

    # endpoints --------------------------------------------------------------------------------------
    def myself(self) -> dict[str, Any]:
        return self.request("GET", self.MYSELF).data

    def server_info(self) -> dict[str, Any]:
        return self.request("GET", self.SERVER_INFO).data

    def addon(self, app_key: str) -> dict[str, Any]:
        return self.request("GET", self.ADDON.format(app_key=quote(app_key, safe=""))).data

    def check_global_permissions(self, *, account_id: str, permissions: list[str]) -> list[str]:
        body = {"accountId": account_id, "globalPermissions": permissions}
        return self.request("POST", self.PERMISSIONS_CHECK, json_body=body).data.get("globalPermissions", [])

    def issue_get(self, issue: str, *, fields: list[str] | None = None) -> dict[str, Any]:
        params = {"fields": ",".join(fields)} if fields else None
        return self.request("GET", self.ISSUE.format(issue=quote(issue, safe="")), params=params).data

    def issue_create(self, fields: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", self.ISSUE_CREATE, json_body={"fields": fields}).data

    def issue_update(self, issue: str, fields: dict[str, Any]) -> None:
        self.request("PUT", self.ISSUE.format(issue=quote(issue, safe="")), json_body={"fields": fields})

    def issue_property_set(self, issue: str, key: str, value: Any) -> None:
        path = self.ISSUE_PROPERTY.format(issue=quote(issue, safe=""), key=quote(key, safe=""))
        self.request("PUT", path, json_body=value)

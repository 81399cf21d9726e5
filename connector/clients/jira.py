"""Jira Cloud REST client for one tenant. Every request is signed with a fresh Connect JWT whose qsh
covers that exact request (``tenants.jwt.encode_outbound``: the header is built in one place)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from tenants.jwt import encode_outbound, relative_to_base
from tenants.models import Tenant

from .base import ApiUnexpectedResponse, BaseClient


def _path(template: str, **parts: str) -> str:
    """``template`` with each part percent-encoded as one path segment."""
    return template.format(**{name: quote(str(value), safe="") for name, value in parts.items()})


class JiraClient(BaseClient):
    service = "Jira"

    ADDON = "/rest/atlassian-connect/1/addons/{app_key}"
    PERMISSIONS_CHECK = "/rest/api/3/permissions/check"
    ISSUE = "/rest/api/3/issue/{issue}"
    ISSUE_PROPERTY = "/rest/api/3/issue/{issue}/properties/{key}"
    ISSUE_CREATE = "/rest/api/3/issue"
    ISSUE_COMMENTS = "/rest/api/3/issue/{issue}/comment"
    ISSUE_ATTACHMENTS = "/rest/api/3/issue/{issue}/attachments"
    SEARCH_JQL = "/rest/api/3/search/jql"
    JQL_PARSE = "/rest/api/3/jql/parse"
    USER_SEARCH = "/rest/api/3/user/search"
    ISSUE_TRANSITIONS = "/rest/api/3/issue/{issue}/transitions"
    PROJECT_SEARCH = "/rest/api/3/project/search"
    PROJECT_STATUSES = "/rest/api/3/project/{project}/statuses"
    CREATEMETA_ISSUE_TYPES = "/rest/api/3/issue/createmeta/{project}/issuetypes"
    CREATEMETA_FIELDS = "/rest/api/3/issue/createmeta/{project}/issuetypes/{issue_type}"
    FIELDS = "/rest/api/3/field"
    PRIORITIES = "/rest/api/3/priority"
    MYSELF = "/rest/api/3/myself"
    # Answers 303 to Atlassian's media host, which must not get our JWT (BaseClient.download sends
    # credentials only to the site itself).
    ATTACHMENT_CONTENT = "/rest/api/3/attachment/content/{attachment}"

    # Where each paged list keeps its items. Cloud answers createmeta as {startAt, maxResults, total,
    # issueTypes | fields} with no isLast; its OpenAPI also lists undocumented twins (createMetaIssueType,
    # results) and Server/DC answers {values, isLast}, so the first key present is read.
    # https://mrrefactoring.github.io/jira.js/interfaces/Version3Models.PageOfCreateMetaIssueTypes.html
    # https://mrrefactoring.github.io/jira.js/interfaces/Version3Models.PageOfCreateMetaIssueTypeWithField.html
    PROJECT_SEARCH_ITEMS = ("values",)
    CREATEMETA_ISSUE_TYPE_ITEMS = ("issueTypes", "createMetaIssueType", "values")
    CREATEMETA_FIELD_ITEMS = ("fields", "results", "values")
    download_hosts_setting = "JIRA_DOWNLOAD_ALLOWED_HOSTS"
    PAGE_SIZE = 50  # Jira's default; it may answer fewer than asked, so paging advances by what came back
    CREATEMETA_PAGE_SIZE = 200  # the maximum the createmeta endpoints document

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

    def _pages(self, path: str, keys: tuple[str, ...], *, page_size: int) -> list[dict[str, Any]]:
        """Every item of an offset-paged list: ``startAt``/``maxResults`` in, the items under the first of
        ``keys`` present out; stops on ``isLast``, on reaching ``total`` or on an empty page."""
        items: list[dict[str, Any]] = []
        while True:
            data = self.request("GET", path, params={"startAt": len(items), "maxResults": page_size}).data
            if not isinstance(data, dict):
                raise ApiUnexpectedResponse(f"Jira returned an unexpected page for {path}", service=self.service)
            page = next((data[key] for key in keys if key in data), None) or []
            if not isinstance(page, list):
                raise ApiUnexpectedResponse(f"Jira returned an unexpected page for {path}", service=self.service)
            items.extend(page)
            total = data.get("total")
            if not page or data.get("isLast") or (isinstance(total, int) and len(items) >= total):
                return items

    def _list(self, path: str) -> list[dict[str, Any]]:
        data = self.request("GET", path).data
        if not isinstance(data, list):
            raise ApiUnexpectedResponse(f"Jira returned an unexpected answer for {path}", service=self.service)
        return data

    # endpoints --------------------------------------------------------------------------------------
    def addon(self, app_key: str) -> dict[str, Any]:
        return self.request("GET", self.ADDON.format(app_key=quote(app_key, safe=""))).data

    def check_global_permissions(self, *, account_id: str, permissions: list[str]) -> list[str]:
        body = {"accountId": account_id, "globalPermissions": permissions}
        return self.request("POST", self.PERMISSIONS_CHECK, json_body=body).data.get("globalPermissions", [])

    def projects(self) -> list[dict[str, Any]]:
        return self._pages(self.PROJECT_SEARCH, self.PROJECT_SEARCH_ITEMS, page_size=self.PAGE_SIZE)

    def project_statuses(self, project_key: str) -> list[dict[str, Any]]:
        return self._list(_path(self.PROJECT_STATUSES, project=project_key))

    def create_issue_types(self, project_id_or_key: str) -> list[dict[str, Any]]:
        path = _path(self.CREATEMETA_ISSUE_TYPES, project=project_id_or_key)
        return self._pages(path, self.CREATEMETA_ISSUE_TYPE_ITEMS, page_size=self.CREATEMETA_PAGE_SIZE)

    def create_fields(self, project_id_or_key: str, issue_type_id: str) -> list[dict[str, Any]]:
        path = _path(self.CREATEMETA_FIELDS, project=project_id_or_key, issue_type=issue_type_id)
        return self._pages(path, self.CREATEMETA_FIELD_ITEMS, page_size=self.CREATEMETA_PAGE_SIZE)

    def fields(self) -> list[dict[str, Any]]:
        return self._list(self.FIELDS)

    def priorities(self) -> list[dict[str, Any]]:
        return self._list(self.PRIORITIES)

    def can_browse_issue(self, *, account_id: str, issue_id: int) -> bool:
        body = {
            "accountId": account_id,
            "projectPermissions": [{"permissions": ["BROWSE_PROJECTS"], "issues": [issue_id]}],
        }
        granted = self.request("POST", self.PERMISSIONS_CHECK, json_body=body).data.get("projectPermissions") or []
        return any(p.get("permission") == "BROWSE_PROJECTS" and issue_id in (p.get("issues") or []) for p in granted)

    def issue_get(self, issue: str, *, fields: list[str] | None = None) -> dict[str, Any]:
        params = {"fields": ",".join(fields)} if fields else None
        return self.request("GET", self.ISSUE.format(issue=quote(issue, safe="")), params=params).data

    def issue_edit(self, issue: str, fields: dict[str, Any]) -> None:
        """``PUT /issue/{id}`` (204). Jira refuses the whole edit (400, ``errors`` per field) if one field
        cannot be set."""
        self.request("PUT", self.ISSUE.format(issue=quote(issue, safe="")), json_body={"fields": fields})

    def transitions(self, issue: str) -> list[dict[str, Any]]:
        path = self.ISSUE_TRANSITIONS.format(issue=quote(issue, safe=""))
        return (self.request("GET", path).data or {}).get("transitions") or []

    def transition(self, issue: str, transition_id: str) -> None:
        path = self.ISSUE_TRANSITIONS.format(issue=quote(issue, safe=""))
        self.request("POST", path, json_body={"transition": {"id": str(transition_id)}})

    def issue_property_set(self, issue: str, key: str, value: Any) -> None:
        path = self.ISSUE_PROPERTY.format(issue=quote(issue, safe=""), key=quote(key, safe=""))
        self.request("PUT", path, json_body=value)

    def issue_create(self, fields: dict[str, Any], *, properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """``POST /issue`` → ``{id, key, self}``. ``properties`` are set on the issue in the same call (an
        entity property declared in the descriptor's ``jiraEntityProperties`` is searchable by JQL)."""
        body: dict[str, Any] = {"fields": fields}
        if properties:
            body["properties"] = [{"key": k, "value": v} for k, v in properties.items()]
        return self.request("POST", self.ISSUE_CREATE, json_body=body).data or {}

    def search_jql(self, jql: str, *, fields: list[str], limit: int = 50) -> list[dict[str, Any]]:
        """Issues matching ``jql`` (the enhanced search: ``nextPageToken`` paging, no total). Jira indexes
        new issues after a short delay, so a just-created issue may not be found yet."""
        issues: list[dict[str, Any]] = []
        for page in self.search_jql_pages(jql, fields=fields, page_size=min(100, limit), limit=limit):
            issues.extend(page)
        return issues

    def search_jql_pages(
        self, jql: str, *, fields: list[str], page_size: int = 100, limit: int | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The pages of ``search_jql``, read one at a time as the caller asks (at most ``limit`` issues)."""
        read = 0
        token = None
        while limit is None or read < limit:
            size = page_size if limit is None else min(page_size, limit - read)
            body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": size}
            if token:
                body["nextPageToken"] = token
            data = self.request("POST", self.SEARCH_JQL, json_body=body).data or {}
            page = list(data.get("issues") or [])
            read += len(page)
            yield page
            token = data.get("nextPageToken")
            if not token or data.get("isLast") or not page:
                break

    def jql_parse(self, query: str) -> list[str]:
        """Jira's errors for one JQL query, as it words them (empty: valid). ``validation=strict``: unknown
        fields, values and functions are errors too. Jira answers 200 with ``queries[].errors`` for a query it
        refuses; 400 only for a malformed request."""
        params = {"validation": "strict"}
        data = self.request("POST", self.JQL_PARSE, params=params, json_body={"queries": [query]}).data
        queries = data.get("queries") if isinstance(data, dict) else None
        if not isinstance(queries, list) or len(queries) != 1 or not isinstance(queries[0], dict):
            raise ApiUnexpectedResponse("Jira returned an unexpected answer to the JQL check", service=self.service)
        return [str(e) for e in queries[0].get("errors") or []]

    def comment_add(self, issue: str, body: dict[str, Any], *, properties: dict[str, Any] | None = None) -> dict:
        """``POST /issue/{id}/comment`` with an ADF body; ``properties`` tag the comment (found again with
        ``comments(expand_properties=True)``)."""
        payload: dict[str, Any] = {"body": body}
        if properties:
            payload["properties"] = [{"key": k, "value": v} for k, v in properties.items()]
        return self.request("POST", _path(self.ISSUE_COMMENTS, issue=issue), json_body=payload).data or {}

    def comments(self, issue: str, *, expand_properties: bool = False) -> list[dict[str, Any]]:
        path = _path(self.ISSUE_COMMENTS, issue=issue)
        items: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"startAt": len(items), "maxResults": 100}
            if expand_properties:
                params["expand"] = "properties"
            data = self.request("GET", path, params=params).data or {}
            page = data.get("comments") or []
            items.extend(page)
            total = data.get("total")
            if not page or (isinstance(total, int) and len(items) >= total):
                return items

    def attachment_add(self, issue: str, *, filename: str, content_type: str, fileobj, size: int) -> list[dict]:
        """``POST /issue/{id}/attachments``, multipart streamed from ``fileobj`` (never read whole). Jira
        refuses it without ``X-Atlassian-Token: no-check``."""
        from .files import MultipartStream

        body = MultipartStream("file", filename, content_type, fileobj, size)
        headers = {"X-Atlassian-Token": "no-check", "Content-Type": body.content_type}
        return self.request("POST", _path(self.ISSUE_ATTACHMENTS, issue=issue), data=body, headers=headers).data

    def user_search(self, query: str) -> list[dict[str, Any]]:
        """Users matching ``query`` (an email finds its user when the site lets apps see it)."""
        data = self.request("GET", self.USER_SEARCH, params={"query": query, "maxResults": 10}).data
        return data if isinstance(data, list) else []

    def myself(self) -> dict[str, Any]:
        """The app's own user on this site (its accountId marks changes the app made)."""
        return self.request("GET", self.MYSELF).data or {}

    def attachment_download(self, attachment_id: str, sink, *, max_bytes: int, allowed_hosts: list[str]) -> int:
        """Stream an attachment's bytes into ``sink`` (see ``BaseClient.download``)."""
        url = self.base_url().rstrip("/") + _path(self.ATTACHMENT_CONTENT, attachment=attachment_id)
        return self.download(url, sink, max_bytes=max_bytes, allowed_hosts=allowed_hosts)

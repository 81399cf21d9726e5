"""The issue panel iframe (``jiraIssueContexts``): cards per applicable SCI, rendered from our database."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from tenants.auth import jira_page, page_session_issue

from ..api.issue_panel import cards_for_issue, record_create_actions


@require_GET
@jira_page
def issue_panel(request):
    params = request.GET
    issue = {
        "id": params.get("issueId", ""),
        "key": params.get("issueKey", ""),
        "project_id": params.get("projectId", ""),
        "project_key": params.get("projectKey", ""),
        "issue_type_id": params.get("issueTypeId", ""),
    }
    if not all(issue[k] for k in ("id", "key", "project_id", "issue_type_id")):
        return render(
            request,
            "tenants/auth_error.html",
            {"code": "panel_context_missing", "message": "Jira did not send the issue context. Reload the issue."},
            status=400,
        )
    data = cards_for_issue(
        tenant=request.tenant,
        issue_id=issue["id"],
        project_id=issue["project_id"],
        issue_type_id=issue["issue_type_id"],
    )
    return render(
        request,
        "panel/issue_panel.html",
        {
            "issue": issue,
            "initial": data,
            "create_actions": record_create_actions(),
            "session": page_session_issue(
                request.user_principal,
                issue_id=issue["id"],
                project_id=issue["project_id"],
                issue_type_id=issue["issue_type_id"],
            ),
        },
    )

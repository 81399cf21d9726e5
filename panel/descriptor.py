"""Modules the panel app adds to the Connect descriptor."""

from django.urls import reverse

ADMIN_PAGE_KEY = "deskbridge-admin"


ISSUE_CONTEXT_KEY = "deskbridge-issue-context"  # sync.services.ISSUE_CONTEXT_MODULE_KEY (badge property)
ISSUE_CONTEXT_QUERY = (
    "issueKey={issue.key}&issueId={issue.id}&projectKey={project.key}&projectId={project.id}&issueTypeId={issuetype.id}"
)


def modules() -> dict:
    admin_url = reverse("panel:admin-page")
    return {
        "modules": {
            "jiraIssueContexts": [
                {
                    "key": ISSUE_CONTEXT_KEY,
                    "name": {"value": "Helpdesk"},
                    "icon": {"width": 16, "height": 16, "url": "/static/panel/icon.svg"},
                    "content": {"type": "label", "label": {"value": "Helpdesk"}},
                    "target": {"type": "web_panel", "url": f"{reverse('panel:issue-panel')}?{ISSUE_CONTEXT_QUERY}"},
                    "jiraNativeAppsEnabled": False,
                }
            ],
            "adminPages": [
                {
                    "key": ADMIN_PAGE_KEY,
                    "name": {"value": "Deskbridge"},
                    "url": admin_url,
                    "conditions": [{"condition": "user_is_admin"}],
                }
            ],
            "configurePage": {
                "key": f"{ADMIN_PAGE_KEY}-configure",
                "name": {"value": "Configure Deskbridge"},
                "url": admin_url,
            },
        },
        "scopes": [],
    }

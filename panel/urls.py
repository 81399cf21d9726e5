from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .api import config as config_api
from .views import admin_page

app_name = "panel"

router = SimpleRouter(trailing_slash=False)
router.register("connections", config_api.ConnectionViewSet, basename="connection")
router.register("items", config_api.ItemViewSet, basename="item")
router.register("tokens", config_api.ApiTokenViewSet, basename="token")

api_v1 = [
    *router.urls,
    path(
        "schema/helpdesk/<str:helpdesk_object>/fields",
        config_api.HelpdeskFieldsView.as_view(),
        name="schema-helpdesk-fields",
    ),
    path("schema/jira/projects", config_api.JiraProjectsView.as_view(), name="schema-jira-projects"),
    path(
        "schema/jira/projects/<str:project>/issuetypes",
        config_api.JiraIssueTypesView.as_view(),
        name="schema-jira-issuetypes",
    ),
    path(
        "schema/jira/projects/<str:project>/issuetypes/<str:issue_type>/fields",
        config_api.JiraCreateFieldsView.as_view(),
        name="schema-jira-createmeta",
    ),
    path("schema/jira/fields", config_api.JiraFieldsView.as_view(), name="schema-jira-fields"),
    path("schema/jira/priorities", config_api.JiraPrioritiesView.as_view(), name="schema-jira-priorities"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("jira/admin", admin_page.admin_page, name="admin-page"),
    path("connect/zendesk/oauth/callback", admin_page.zendesk_oauth_callback, name="zendesk-oauth-callback"),
]

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .api import config as config_api
from .api import issue_panel as panel_api
from .api import links as links_api
from .views import admin_page, issue_panel

app_name = "panel"

router = SimpleRouter(trailing_slash=False)
router.register("connections", config_api.ConnectionViewSet, basename="connection")
router.register("items", config_api.ItemViewSet, basename="item")
router.register("tokens", config_api.ApiTokenViewSet, basename="token")
router.register("runs", config_api.RunViewSet, basename="run")

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
    path(
        "schema/jira/projects/<str:project>/statuses",
        config_api.JiraStatusesView.as_view(),
        name="schema-jira-statuses",
    ),
    path("schema/jira/fields", config_api.JiraFieldsView.as_view(), name="schema-jira-fields"),
    path("schema/jira/priorities", config_api.JiraPrioritiesView.as_view(), name="schema-jira-priorities"),
]

panel_api_urls = [
    path("cards", panel_api.CardsView.as_view(), name="panel-cards"),
    path("items/<int:item_id>/search", panel_api.SearchView.as_view(), name="panel-search"),
    path("items/<int:item_id>/records", panel_api.RecordCreateView.as_view(), name="panel-record-create"),
    path("items/<int:item_id>/records/preview", panel_api.RecordPreviewView.as_view(), name="panel-record-preview"),
    path("links", panel_api.LinkCreateView.as_view(), name="panel-link-create"),
    path("links/<int:link_id>/refresh", panel_api.LinkRefreshView.as_view(), name="panel-link-refresh"),
    path("links/<int:link_id>", panel_api.LinkDeleteView.as_view(), name="panel-link-delete"),
]

links_api_urls = [
    path("links", links_api.LinksView.as_view(), name="links"),
    path("records", links_api.RecordsView.as_view(), name="records"),
    path(
        "links/ticket/<str:ticket_id>/issue/<str:issue_id>",
        links_api.LinkDetailView.as_view(),
        name="link-detail",
    ),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/panel/", include(panel_api_urls)),
    path("api/v2/integrations/jira/<str:external_id>/", include(links_api_urls)),
    path("jira/issue-panel", issue_panel.issue_panel, name="issue-panel"),
    path("jira/admin", admin_page.admin_page, name="admin-page"),
    path("connect/zendesk/oauth/start", admin_page.zendesk_oauth_start_view, name="zendesk-oauth-start"),
    path("connect/zendesk/oauth/callback", admin_page.zendesk_oauth_callback, name="zendesk-oauth-callback"),
]

"""A test URLconf: the real project URLs plus a minimal page and JSON endpoints that use the
authentication mechanisms, so the mechanisms are exercised exactly as product views use them."""

from django.http import HttpResponse
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns
from tenants.auth import JiraContextJWTAuthentication, JiraJWTAuthentication, TenantLicensed, jira_page


@jira_page
def page(request):
    return HttpResponse(f"page tenant={request.tenant.client_key} account={request.jira_account_id}")


class ContextApi(APIView):
    authentication_classes = [JiraContextJWTAuthentication]
    permission_classes = [TenantLicensed]

    def get(self, request):
        return Response({"tenant": request.tenant.client_key, "account": request.jira_account_id})


class StrictApi(ContextApi):
    authentication_classes = [JiraJWTAuthentication]


urlpatterns = [
    path("t/page", page),
    path("t/page/a&b/ü", page),
    path("t/api/context", ContextApi.as_view()),
    path("t/api/strict", StrictApi.as_view()),
    *project_urlpatterns,
]

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from tenants import views as tenant_views

from . import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("atlassian-connect.json", tenant_views.descriptor, name="descriptor"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("tenants.urls")),
    path("", include("panel.urls")),
    path("", include("sync.urls")),
]

admin.site.site_header = "Deskbridge operations"
admin.site.site_title = "Deskbridge"

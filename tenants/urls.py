from django.urls import path

from . import views

app_name = "tenants"

urlpatterns = [
    path("connect/installed", views.installed, name="lifecycle-installed"),
    path("connect/uninstalled", views.uninstalled, name="lifecycle-uninstalled"),
    path("connect/enabled", views.enabled, name="lifecycle-enabled"),
    path("connect/disabled", views.disabled, name="lifecycle-disabled"),
]

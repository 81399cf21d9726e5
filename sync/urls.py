from django.urls import path

from . import views

app_name = "sync"

urlpatterns = [
    path("jira/webhook", views.jira_webhook, name="jira-webhook"),
]

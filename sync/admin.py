from django.contrib import admin

from .models import Link


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = ("jira_issue_key", "record_id", "item", "tenant", "origin", "created_by", "created_at")
    list_filter = ("origin",)
    search_fields = ("jira_issue_key", "jira_issue_id", "record_id", "item__name", "tenant__base_url")
    readonly_fields = ("tenant", "item", "preview", "preview_updated_at", "created_at")
    list_select_related = ("item", "tenant")

    def has_add_permission(self, request):
        return False  # links are made from Jira (panel, links API) where the issue and record are checked

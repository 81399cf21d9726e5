from django.contrib import admin

from .models import Link


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = ("jira_issue_key", "record_id", "item", "tenant", "origin", "created_by", "created_at")
    list_filter = ("origin",)
    search_fields = ("jira_issue_key", "jira_issue_id", "record_id", "item__name", "tenant__base_url")
    readonly_fields = ("preview", "preview_updated_at", "field_state", "created_at")
    list_select_related = ("item", "tenant")
    raw_id_fields = ("item",)

from django.contrib import admin, messages

from config.errors import ApplicationError
from connector.admin import HelpdeskConnectionAdmin

from .models import Link, SyncEvent, SyncRun, WebhookEvent
from .services import event_retry, link_delete, sync_now


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = (
        "jira_issue_key",
        "record_id",
        "item",
        "tenant",
        "origin",
        "created_by",
        "created_at",
        "sync_stopped_at",
        "issue_deleted_at",
        "record_deleted_at",
    )
    list_filter = (
        "origin",
        ("record_deleted_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("jira_issue_key", "jira_issue_id", "record_id", "item__name", "tenant__base_url")
    readonly_fields = ("tenant", "item", "preview", "preview_updated_at", "created_at")
    list_select_related = ("item", "tenant")

    def has_add_permission(self, request):
        return False  # links are made from Jira (panel, links API) where the issue and record are checked

    # Staff may remove any link (one made by sync too); like an unlink in Jira it keeps the item's linked count
    # and the badge true (``link_delete``), which a plain row delete would leave stale.
    def delete_model(self, request, obj):
        link_delete(tenant=obj.tenant, link=obj, allow_auto=True)

    def delete_queryset(self, request, queryset):
        for link in queryset.select_related("tenant", "item"):
            link_delete(tenant=link.tenant, link=link, allow_auto=True)


class SyncEventInline(admin.TabularInline):
    model = SyncEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "link", "action", "direction", "result", "message")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    """Sync history (read-only): what each poll did, why it ended, what it cost."""

    list_display = ("started_at", "tenant", "connection", "trigger", "outcome", "reason", "finished_at")
    list_filter = ("outcome", "trigger")
    search_fields = ("tenant__base_url", "reason")
    list_select_related = ("tenant", "connection")
    inlines = [SyncEventInline]
    readonly_fields = (
        "tenant",
        "connection",
        "trigger",
        "outcome",
        "reason",
        "started_at",
        "finished_at",
        "counts",
        "api_calls",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.action(description="Retry the selected failed events")
def retry_events_action(modeladmin, request, queryset):
    for event in queryset.filter(result=SyncEvent.Result.ERROR):
        modeladmin.message_user(request, f"Event {event.pk}: {event_retry(event=event)}.")


@admin.register(SyncEvent)
class SyncEventAdmin(admin.ModelAdmin):
    """Every action of every run on a link; failed ones can be retried."""

    list_display = ("created_at", "tenant", "item", "link", "action", "result", "message")
    list_filter = ("result", "action")
    search_fields = ("message", "link__jira_issue_key", "link__record_id", "tenant__base_url")
    list_select_related = ("tenant", "item", "link")
    actions = [retry_events_action]
    readonly_fields = ("tenant", "run", "link", "item", "action", "direction", "result", "message", "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.action(description="Sync now")
def sync_now_action(modeladmin, request, queryset):
    """The same as the admin page's Sync now, for each selected connection."""
    for connection in queryset.select_related("tenant"):
        try:
            sync_now(tenant=connection.tenant, connection=connection)
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{connection}: {exc.message}", level=messages.WARNING)
        else:
            modeladmin.message_user(request, f"{connection}: a poll was queued.")


HelpdeskConnectionAdmin.actions = [*(HelpdeskConnectionAdmin.actions or []), sync_now_action]


@admin.action(description="Retry the selected failed webhook events")
def retry_webhook_events_action(modeladmin, request, queryset):
    from .push import events_retry

    count = 0
    for tenant_id in set(queryset.filter(status=WebhookEvent.Status.FAILED).values_list("tenant_id", flat=True)):
        ids = list(queryset.filter(tenant_id=tenant_id, status=WebhookEvent.Status.FAILED).values_list("pk", flat=True))
        count += events_retry(tenant_id=tenant_id, event_ids=ids)
    level = messages.SUCCESS if count else messages.WARNING
    modeladmin.message_user(request, f"{count} failed webhook event(s) queued again.", level=level)


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    """The Jira webhook inbox: every stored delivery, its processing status and last error."""

    list_display = ("received_at", "tenant", "event_type", "issue_key", "status", "attempts", "last_error")
    list_filter = ("status", "event_type")
    search_fields = ("issue_key", "issue_id", "delivery_id", "tenant__base_url", "last_error")
    list_select_related = ("tenant",)
    actions = [retry_webhook_events_action]
    readonly_fields = (
        "tenant",
        "delivery_id",
        "event_type",
        "issue_id",
        "issue_key",
        "actor_account_id",
        "payload",
        "status",
        "attempts",
        "last_error",
        "received_at",
        "process_after",
        "processed_at",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

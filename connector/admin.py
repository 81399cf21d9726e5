from django import forms
from django.contrib import admin

from .models import ConnectedItem, FieldMapping, HelpdeskConnection


class ConnectionForm(forms.ModelForm):
    """Credentials are write-only: the stored values are never rendered; typing a new token replaces it."""

    new_api_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored token.",
    )

    class Meta:
        model = HelpdeskConnection
        fields = (
            "tenant",
            "provider",
            "settings",
            "auth_type",
            "agent_id",
            "agent_name",
            "agent_email",
            "agent_role",
            "status",
            "last_error",
        )

    def save(self, commit=True):
        connection = super().save(commit=False)
        token = self.cleaned_data.get("new_api_token")
        if token:
            secret = connection.secret()
            secret["api_token"] = token
            secret.setdefault("email", connection.agent_email)
            connection.set_secret(secret)
        if commit:
            connection.save()
        return connection


@admin.register(HelpdeskConnection)
class HelpdeskConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ("tenant", "provider", "account_label", "agent_email", "status", "connected_at")
    list_filter = ("provider", "status", "auth_type")
    search_fields = ("tenant__base_url", "agent_email", "settings")
    readonly_fields = ("token_stored", "connected_at", "revoked_at", "last_error_at", "updated_at")
    list_select_related = ("tenant",)

    def get_readonly_fields(self, request, obj=None):
        # A connection never moves to another tenant or provider (its items and links would follow).
        fields = super().get_readonly_fields(request, obj)
        return (*fields, "tenant", "provider") if obj else fields

    @admin.display(description="Credentials", boolean=False)
    def token_stored(self, obj):
        return "stored securely (encrypted)" if obj and obj.credentials else "none"


class FieldMappingInline(admin.TabularInline):
    model = FieldMapping
    extra = 0


@admin.register(ConnectedItem)
class ConnectedItemAdmin(admin.ModelAdmin):
    inlines = [FieldMappingInline]
    list_display = (
        "name",
        "tenant",
        "mode",
        "jira_project_key",
        "jira_issue_type_name",
        "helpdesk_object",
        "is_paused",
        "linked_count",
    )
    list_filter = ("mode", "helpdesk_object", "is_paused", "auto_create")
    search_fields = ("name", "external_id", "tenant__base_url", "jira_project_key")
    readonly_fields = (
        "tenant",
        "connection",
        "external_id",
        "auto_create_baseline",
        "linked_count",
        "created_at",
        "updated_at",
    )
    list_select_related = ("tenant",)

    def has_add_permission(self, request):
        # Items are created by the site's Jira admins (admin page or API), where every rule is checked.
        return False

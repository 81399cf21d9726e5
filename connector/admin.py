from dataclasses import fields as spec_fields

from django import forms
from django.contrib import admin
from django.utils import timezone

from config.errors import ApplicationError

from .errors import ItemInvalid
from .models import ConnectedItem, FieldMapping, HelpdeskConnection
from .services.item_creation import CREATE_DEFAULTS
from .services.items import ItemSpec, connected_item_check


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


ITEM_FIELDSETS = (
    (
        None,
        {
            "fields": (
                "tenant",
                "connection",
                "name",
                "mode",
                "external_id",
                "is_paused",
                "linked_count",
                "last_error",
                "last_sync_at",
                "created_at",
                "updated_at",
            )
        },
    ),
    (
        "Scope",
        {
            "fields": (
                "jira_project_id",
                "jira_project_key",
                "jira_issue_type_id",
                "jira_issue_type_name",
                "helpdesk_object",
                "display_fields",
            )
        },
    ),
    (
        "Sync",
        {
            "fields": (
                "auto_create",
                "auto_create_conditions",
                "auto_create_baseline",
                "status_sync",
                "comment_sync",
                "attachment_sync",
                "status_field",
                "status_map",
                "link_note",
                "links_api_enabled",
            )
        },
    ),
    (
        "Creating records from Jira",
        {
            "description": "Checked when saved as on the Deskbridge admin page: the default requester and "
            "organization must exist in the helpdesk, Jira checks the JQL, and the item's mappings must give "
            "the helpdesk's required fields while records are created from Jira.",
            "fields": (
                "create_from_jira",
                "create_jql",
                "create_from_jira_baseline",
                "requester_field",
                "requester_rule",
                "default_requester_id",
                "default_requester_label",
                "organization_rule",
                "organization_field",
                "organization_missing",
                "default_organization_id",
                "default_organization_label",
                "record_tag_field",
                "create_values",
            ),
        },
    ),
)

ITEM_READONLY = (
    "tenant",
    "connection",
    "external_id",
    "auto_create_baseline",
    "create_from_jira_baseline",
    "default_requester_label",
    "default_organization_label",
    "linked_count",
    "created_at",
    "updated_at",
)


class ConnectedItemForm(forms.ModelForm):
    """A change to the settings for creating records from Jira is checked by the rules the admin page and
    the API apply (the defaults must exist in the helpdesk, Jira checks the JQL, ...), on the item as it would
    be saved (with its stored mappings); other changes are saved as they are."""

    class Meta:
        model = ConnectedItem
        fields = [name for _, options in ITEM_FIELDSETS for name in options["fields"] if name not in ITEM_READONLY]

    creation: dict | None = None

    def clean(self):
        cleaned = super().clean()
        item = self.instance
        if not set(self.changed_data) & set(CREATE_DEFAULTS):
            return cleaned
        spec = ItemSpec.from_item(item)  # the stored item: the form's values are put on it after clean()
        for name in (f.name for f in spec_fields(ItemSpec)):
            if name in cleaned:
                setattr(spec, name, cleaned[name])
        if "jira_project_id" in cleaned:
            spec.jira_project = cleaned["jira_project_id"]
        try:
            checked = connected_item_check(tenant=item.tenant, connection=item.connection, spec=spec, item=item)
        except ItemInvalid as exc:
            for problem in exc.extra["errors"]:
                name = problem["field"].split(".", 1)[0]  # create_values.<field> is shown on create_values
                self.add_error(name if name in self.fields else None, problem["message"])
            return cleaned
        except ApplicationError as exc:  # Jira or the helpdesk could not be asked
            self.add_error(None, exc.message)
            return cleaned
        self.creation = checked.creation
        return cleaned


@admin.register(ConnectedItem)
class ConnectedItemAdmin(admin.ModelAdmin):
    form = ConnectedItemForm
    inlines = [FieldMappingInline]
    fieldsets = ITEM_FIELDSETS
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
    readonly_fields = ITEM_READONLY
    list_select_related = ("tenant",)

    def save_model(self, request, obj, form, change):
        if form.creation is not None:
            for name, value in form.creation.items():
                setattr(obj, name, value)  # as checked: the defaults' names, settings that mean nothing cleared
        if "create_from_jira" in form.changed_data:
            # only issues created after it was switched on create records
            obj.create_from_jira_baseline = timezone.now() if obj.create_from_jira else None
        super().save_model(request, obj, form, change)

    def has_add_permission(self, request):
        # Items are created by the site's Jira admins (admin page or API), where every rule is checked.
        return False

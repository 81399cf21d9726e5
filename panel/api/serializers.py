"""Shapes of the configuration API. Serializers check shapes and types only; rules live in services."""

from __future__ import annotations

from rest_framework import serializers

from connector.models import ConnectedItem, FieldMapping, HelpdeskConnection
from connector.providers import provider_for
from sync.models import SyncEvent, SyncRun
from tenants.models import ApiToken


class ConnectionSerializer(serializers.ModelSerializer):
    subdomain = serializers.CharField(read_only=True)
    token_stored = serializers.SerializerMethodField(help_text="True while credentials are stored (encrypted).")
    provider_label = serializers.CharField(source="get_provider_display", read_only=True)
    zoho = serializers.SerializerMethodField(
        help_text="Zoho Desk: data center, Desk host, organization and the Self Client's Client ID (null otherwise)."
    )

    class Meta:
        model = HelpdeskConnection
        fields = [
            "id",
            "provider",
            "provider_label",
            "subdomain",
            "auth_type",
            "agent_id",
            "agent_name",
            "agent_email",
            "agent_role",
            "status",
            "last_error",
            "last_error_at",
            "connected_at",
            "revoked_at",
            "token_stored",
            "zoho",
        ]
        read_only_fields = fields

    def get_token_stored(self, obj) -> bool:
        return bool(obj.credentials) and obj.status != HelpdeskConnection.Status.REVOKED

    def get_zoho(self, obj) -> dict | None:
        if obj.provider != "zoho_desk" or not obj.settings.get("data_center"):
            return None
        from connector.clients.zoho_desk import desk_url

        keys = ("data_center", "org_id", "org_name", "portal", "edition", "client_id")
        return {**{k: obj.settings.get(k, "") for k in keys}, "desk_host": desk_url(obj.settings["data_center"])}


class ZendeskConnectSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=["zendesk"], default="zendesk")
    subdomain = serializers.CharField(max_length=255, help_text="'acme' or https://acme.zendesk.com")
    email = serializers.EmailField()
    api_token = serializers.CharField(max_length=255, write_only=True, trim_whitespace=True)


class ZohoConnectSerializer(serializers.Serializer):
    data_center = serializers.CharField(max_length=8, help_text="us, eu, in, au, jp, cn, uk, ca or sa.")
    client_id = serializers.CharField(max_length=200, help_text="The Self Client's Client ID (1000.…).")
    client_secret = serializers.CharField(max_length=200, write_only=True)
    code = serializers.CharField(
        max_length=500, write_only=True, help_text="A code generated in the Self Client with the required scopes."
    )
    org_id = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="", help_text="Optional: the organization to use."
    )


class ZohoPendingSerializer(serializers.Serializer):
    pending = serializers.BooleanField()
    data_center = serializers.CharField()
    organizations = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))


class ZohoScopesSerializer(serializers.Serializer):
    scopes = serializers.CharField()
    data_centers = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))


class ZohoOrganizationSerializer(serializers.Serializer):
    org_id = serializers.CharField(max_length=40)


class MappingSerializer(serializers.Serializer):
    helpdesk_field = serializers.CharField(max_length=100)
    jira_field = serializers.CharField(max_length=100)
    direction = serializers.ChoiceField(choices=FieldMapping.Direction.values, default="to_jira")
    value_map = serializers.DictField(child=serializers.CharField(), required=False, default=dict)


def _condition_keys() -> list[str]:
    from connector.providers import all_providers

    return list(dict.fromkeys(key for p in all_providers() for key in p.condition_keys))


class ConditionsSerializer(serializers.DictField):
    """Auto-create conditions: key → values (Zendesk: tags, priority, ticket_type, group, brand, form; Zoho
    Desk: departmentId, priority, status, channel, classification, category). Which keys an item may use
    depends on its helpdesk (checked when it is saved)."""

    child = serializers.ListField(child=serializers.CharField())

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(_condition_keys())
            if unknown:
                raise serializers.ValidationError(
                    f"Unknown conditions: {', '.join(sorted(unknown))}; use {', '.join(_condition_keys())}."
                )
        return super().to_internal_value(data)


class ItemInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    mode = serializers.ChoiceField(choices=ConnectedItem.Mode.values)
    jira_project = serializers.CharField(max_length=32, help_text="Project id or key.")
    jira_issue_type_id = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    helpdesk_object = serializers.CharField(
        max_length=32,
        help_text="Zendesk: ticket, user, organization. Zoho Desk: tickets, contacts, accounts, tasks, calls, events, "
        "timeEntry, products, contracts.",
    )
    display_fields = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    mappings = MappingSerializer(many=True, required=False, default=list)
    auto_create = serializers.BooleanField(required=False, default=False)
    status_sync = serializers.BooleanField(required=False, default=False)
    comment_sync = serializers.BooleanField(required=False, default=False)
    attachment_sync = serializers.BooleanField(required=False, default=False)
    link_note = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Post a note on the record when linked; default: on for Zoho Desk, off for Zendesk.",
    )
    links_api_enabled = serializers.BooleanField(required=False, default=True)
    auto_create_conditions = ConditionsSerializer(required=False, default=dict)
    status_field = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text="Zoho Desk: the status field."
    )
    status_map = serializers.DictField(
        child=serializers.ChoiceField(choices=["new", "indeterminate", "done"]),
        required=False,
        default=dict,
        help_text="Zoho Desk: status value → Jira status category; unnamed values keep their defaults.",
    )
    # creating helpdesk records from Jira (synchronized items of objects Deskbridge can create)
    create_from_jira = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Each new Jira issue of the item's project and issue type (matching create_jql) creates a "
        "helpdesk record, linked to it; issues created before this is switched on never do.",
    )
    create_jql = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="JQL new issues must also match to create a record (checked by Jira); empty: every new issue.",
    )
    requester_field = serializers.CharField(
        max_length=100,
        required=False,
        default="reporter",
        help_text="The Jira user field (reporter, assignee or a user picker) whose person requests the record.",
    )
    requester_rule = serializers.ChoiceField(
        choices=ConnectedItem.RequesterRule.values,
        required=False,
        default=ConnectedItem.RequesterRule.MATCH_OR_CREATE.value,
        help_text="match_or_create: the helpdesk person with the Jira person's email, else one created with it; "
        "match_or_default: else the default requester.",
    )
    default_requester_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="Helpdesk user id of the requester when Jira hides the person's email (and, with "
        "match_or_default, when no one has it); must exist.",
    )
    organization_rule = serializers.ChoiceField(
        choices=ConnectedItem.OrganizationRule.values,
        required=False,
        default=ConnectedItem.OrganizationRule.NONE.value,
        help_text="none, name (from organization_field) or domain (the requester's email domain).",
    )
    organization_field = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="organization_rule name: the Jira text or select field holding the organization's name.",
    )
    organization_missing = serializers.ChoiceField(
        choices=ConnectedItem.OrganizationMissing.values,
        required=False,
        default=ConnectedItem.OrganizationMissing.NONE.value,
        help_text="When no organization matches: create it, use the default organization, or none.",
    )
    default_organization_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="organization_missing default: the helpdesk organization id; must exist.",
    )
    record_tag_field = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="Zoho Desk: the single-line text custom field where a created record carries its Jira issue "
        "(Zendesk uses the ticket's external id: leave empty).",
    )
    create_values = serializers.DictField(
        child=serializers.JSONField(allow_null=True),
        required=False,
        default=dict,
        help_text="Values every record created from Jira starts with: helpdesk field id → value (an option by its "
        "value or label; several as a list). What the mappings give, or a user types, wins over them. E.g. Zoho "
        'Desk\'s department: {"departmentId": "1892000000006907"}. Checked at save (the value must be one the '
        "helpdesk lists).",
    )


class FieldMappingOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = FieldMapping
        fields = ["helpdesk_field", "jira_field", "direction", "value_map"]


class ItemSerializer(serializers.ModelSerializer):
    mappings = FieldMappingOutSerializer(many=True, read_only=True)
    helpdesk_object_label = serializers.SerializerMethodField()
    mode_label = serializers.CharField(source="get_mode_display", read_only=True)
    connection = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = ConnectedItem
        fields = [
            "id",
            "external_id",
            "name",
            "mode",
            "mode_label",
            "connection",
            "jira_project_id",
            "jira_project_key",
            "jira_issue_type_id",
            "jira_issue_type_name",
            "helpdesk_object",
            "helpdesk_object_label",
            "display_fields",
            "mappings",
            "auto_create",
            "status_sync",
            "comment_sync",
            "attachment_sync",
            "link_note",
            "links_api_enabled",
            "auto_create_conditions",
            "auto_create_baseline",
            "status_field",
            "status_map",
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
            "is_paused",
            "linked_count",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_helpdesk_object_label(self, obj) -> str:
        return provider_for(obj.connection.provider).object_label(obj.helpdesk_object)


class ItemSavedSerializer(serializers.Serializer):
    item = ItemSerializer()
    warnings = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))


class ApiTokenSerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
            "scope",
            "expires_at",
            "is_active",
        ]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(
        choices=ApiToken.Scope.choices,
        default=ApiToken.Scope.READ,
        help_text="read: GET only; links: read and manage links (links API); admin: full configuration.",
    )
    expires_in_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=3650, help_text="Empty: never expires."
    )


class OAuthStartSerializer(serializers.Serializer):
    subdomain = serializers.CharField(max_length=200, help_text="acme, acme.zendesk.com or a pasted Zendesk URL.")


class OAuthStartedSerializer(serializers.Serializer):
    authorize_url = serializers.CharField(
        help_text="Open this in a browser signed in to Zendesk as an admin; it works once, within expires_in."
    )
    expires_in = serializers.IntegerField()


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class SchemaOptionSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class SchemaFieldSerializer(serializers.Serializer):
    id = serializers.CharField()
    label = serializers.CharField()
    type = serializers.CharField()
    options = SchemaOptionSerializer(many=True)
    system = serializers.BooleanField()
    required = serializers.BooleanField()
    has_default = serializers.BooleanField()


class ProjectSerializer(serializers.Serializer):
    id = serializers.CharField()
    key = serializers.CharField()
    name = serializers.CharField()


class IssueTypeSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    subtask = serializers.BooleanField()


class PrioritySerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class StatusSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    category = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    extra = serializers.DictField()


class SyncQueuedSerializer(serializers.Serializer):
    queued = serializers.BooleanField()


class SyncEventSerializer(serializers.ModelSerializer):
    link = serializers.SerializerMethodField()

    class Meta:
        model = SyncEvent
        fields = ["id", "created_at", "item", "link", "action", "direction", "result", "message"]

    def get_link(self, event) -> dict | None:
        link = event.link
        return {"id": link.id, "issue_key": link.jira_issue_key, "record_id": link.record_id} if link else None


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncRun
        fields = [
            "id",
            "connection",
            "trigger",
            "outcome",
            "reason",
            "started_at",
            "finished_at",
            "counts",
            "api_calls",
        ]
        read_only_fields = fields


class RunDetailSerializer(RunSerializer):
    events = SyncEventSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "events"]
        read_only_fields = fields


class RecordCreateSerializer(serializers.Serializer):
    issue_id = serializers.CharField(max_length=32, help_text="The numeric id of the Jira issue.")
    values = serializers.DictField(
        required=False,
        default=dict,
        help_text="Helpdesk field id → value, over what the item's mappings give (e.g. a subject of your own).",
    )


class CreatedLinkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    issue_id = serializers.CharField(source="jira_issue_id")
    issue_key = serializers.CharField(source="jira_issue_key")
    record_id = serializers.CharField()
    origin = serializers.CharField()
    created_at = serializers.DateTimeField()


class CreatedRecordSerializer(serializers.Serializer):
    id = serializers.CharField()
    url = serializers.CharField()


class RecordCreatedSerializer(serializers.Serializer):
    link = CreatedLinkSerializer()
    record = CreatedRecordSerializer()
    warnings = serializers.ListField(child=serializers.CharField())

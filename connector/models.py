from __future__ import annotations

import json
import uuid

from django.db import models
from django.utils import timezone

from tenants.fields import EncryptedSecretField
from tenants.models import TenantOwnedModel


class Provider(models.TextChoices):
    ZENDESK = "zendesk", "Zendesk Support"
    ZOHO_DESK = "zoho_desk", "Zoho Desk"


class HelpdeskConnection(TenantOwnedModel):
    """A tenant's connection to one helpdesk account. Credentials are encrypted and never shown."""

    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        REVOKED = "revoked", "Revoked"
        AUTH_FAILED = "auth_failed", "Authentication failed"

    class AuthType(models.TextChoices):
        API_TOKEN = "api_token", "Email and API token"
        OAUTH = "oauth", "OAuth"

    provider = models.CharField(max_length=16, choices=Provider.choices)
    settings = models.JSONField(default=dict, blank=True, help_text="Zendesk: subdomain. Zoho: data center, org id.")
    auth_type = models.CharField(max_length=16, choices=AuthType.choices, default=AuthType.API_TOKEN)
    credentials = EncryptedSecretField(blank=True, default="")
    agent_id = models.CharField(max_length=64, blank=True)
    agent_name = models.CharField(max_length=255, blank=True)
    agent_email = models.CharField(max_length=255, blank=True)
    agent_role = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONNECTED)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "provider"], name="connection_one_per_provider_per_tenant"),
            # Target of the composite foreign key (connection, tenant) from items (PostgreSQL).
            models.UniqueConstraint(fields=["id", "tenant"], name="connection_id_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.account_label}"

    @property
    def subdomain(self) -> str:
        return self.settings.get("subdomain", "")

    @property
    def account_label(self) -> str:
        return self.subdomain or self.settings.get("org_id", "")

    @property
    def is_connected(self) -> bool:
        return self.status == self.Status.CONNECTED

    def secret(self) -> dict:
        """Decrypted credentials as a dict (empty once revoked)."""
        return json.loads(self.credentials) if self.credentials else {}

    def set_secret(self, data: dict) -> None:
        self.credentials = json.dumps(data) if data else ""


def _external_id() -> str:
    return uuid.uuid4().hex


class ConnectedItem(TenantOwnedModel):
    """A Smart Connected Item: which helpdesk object links to issues of which project / issue type,
    what is shown and whether and how the two sides stay in sync."""

    class Mode(models.TextChoices):
        DISPLAY = "display", "Display only"
        ONE_WAY = "one_way", "One-way sync (helpdesk → Jira)"
        TWO_WAY = "two_way", "Two-way sync"

    connection = models.ForeignKey(HelpdeskConnection, on_delete=models.CASCADE, related_name="items")
    name = models.CharField(max_length=100)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.DISPLAY)
    jira_project_id = models.CharField(max_length=32)
    jira_project_key = models.CharField(max_length=32)
    jira_issue_type_id = models.CharField(max_length=32, blank=True)
    jira_issue_type_name = models.CharField(max_length=100, blank=True)
    helpdesk_object = models.CharField(max_length=32)
    display_fields = models.JSONField(default=list, blank=True)
    auto_create = models.BooleanField(default=False)
    status_sync = models.BooleanField(default=False)
    comment_sync = models.BooleanField(default=False)
    attachment_sync = models.BooleanField(default=False)
    link_note = models.BooleanField(default=False, help_text="Post an internal note on the record when linked.")
    links_api_enabled = models.BooleanField(default=True, help_text="Allow link automation through the links API.")
    status_field = models.CharField(max_length=100, blank=True, help_text="Zoho Desk: the status field to use.")
    status_map = models.JSONField(
        default=dict,
        blank=True,
        help_text="Zoho Desk: status value → Jira status category (new, indeterminate, done); the first value of a "
        "category is what Jira's moves into it write.",
    )
    auto_create_conditions = models.JSONField(default=dict, blank=True)
    auto_create_baseline = models.DateTimeField(null=True, blank=True)

    # --- creating helpdesk records from Jira (sync.create) ----------------------------------------------
    class RequesterRule(models.TextChoices):
        MATCH_OR_CREATE = "match_or_create", "Match by email; create the person when none has it"
        MATCH_OR_DEFAULT = "match_or_default", "Match by email; else the default requester"

    class OrganizationRule(models.TextChoices):
        NONE = "none", "No organization"
        NAME = "name", "Match by name (from a Jira field)"
        DOMAIN = "domain", "Match by the requester's email domain"

    class OrganizationMissing(models.TextChoices):
        CREATE = "create", "Create it"
        DEFAULT = "default", "Use the default organization"
        NONE = "none", "Leave it empty"

    requester_field = models.CharField(
        max_length=100, default="reporter", help_text="The Jira user field whose person requests created records."
    )
    requester_rule = models.CharField(
        max_length=20, choices=RequesterRule.choices, default=RequesterRule.MATCH_OR_CREATE
    )
    default_requester_id = models.CharField(
        max_length=64, blank=True, help_text="Helpdesk person used when Jira hides the email or none matches."
    )
    default_requester_label = models.CharField(max_length=255, blank=True)
    organization_rule = models.CharField(max_length=8, choices=OrganizationRule.choices, default=OrganizationRule.NONE)
    organization_field = models.CharField(
        max_length=100, blank=True, help_text="The Jira field holding the organization's name (rule: name)."
    )
    organization_missing = models.CharField(
        max_length=8, choices=OrganizationMissing.choices, default=OrganizationMissing.NONE
    )
    default_organization_id = models.CharField(max_length=64, blank=True)
    default_organization_label = models.CharField(max_length=255, blank=True)
    record_tag_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="Zoho Desk: the text custom field where created records carry their Jira origin (Zendesk uses "
        "external_id).",
    )
    create_values = models.JSONField(
        default=dict,
        blank=True,
        help_text="Values every record created from Jira starts with (helpdesk field id → value), e.g. Zoho Desk's "
        "department; what the item's mappings give, or a user types, wins over them.",
    )
    create_from_jira = models.BooleanField(
        default=False, help_text="New Jira issues of the project and type matching create_jql create a record each."
    )
    create_jql = models.TextField(blank=True, help_text="JQL new issues must match to create a record (blank: all).")
    create_from_jira_baseline = models.DateTimeField(
        null=True, blank=True, help_text="Issues created before this are never auto-created (set when switched on)."
    )
    create_swept_at = models.DateTimeField(
        null=True, blank=True, help_text="New Jira issues created before this were checked for auto-create."
    )
    external_id = models.CharField(max_length=64, unique=True, default=_external_id)
    is_paused = models.BooleanField(default=False, help_text="Paused while the connection is revoked.")
    linked_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="item_unique_name_per_tenant"),
            # Target of the composite foreign key (item, tenant) from links (PostgreSQL).
            models.UniqueConstraint(fields=["id", "tenant"], name="item_id_tenant"),
        ]
        indexes = [models.Index(fields=["tenant", "jira_project_id"], name="item_tenant_project")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_synchronized(self) -> bool:
        return self.mode != self.Mode.DISPLAY


class FieldMapping(models.Model):
    """One mapped field of an SCI. ``value_map`` maps helpdesk option values to Jira allowed values."""

    class Direction(models.TextChoices):
        TO_JIRA = "to_jira", "Helpdesk → Jira"
        TO_HELPDESK = "to_helpdesk", "Jira → helpdesk"

    item = models.ForeignKey(ConnectedItem, on_delete=models.CASCADE, related_name="mappings")
    helpdesk_field = models.CharField(max_length=100)
    jira_field = models.CharField(max_length=100)
    direction = models.CharField(max_length=16, choices=Direction.choices, default=Direction.TO_JIRA)
    value_map = models.JSONField(default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "jira_field"], name="mapping_one_source_per_jira_field"),
        ]

    def __str__(self) -> str:
        arrow = "→" if self.direction == self.Direction.TO_JIRA else "←"
        return f"{self.helpdesk_field} {arrow} {self.jira_field}"


class OAuthState(TenantOwnedModel):
    """One "Connect with Zendesk" attempt: who started it (tenant and Jira user), for which subdomain.

    The nonce travels in the signed OAuth ``state`` and in a cookie set on the browser that opened the
    authorize link; the callback accepts it once (``used_at``), within ``connections.OAUTH_STATE_MAX_AGE``.
    """

    account_id = models.CharField(max_length=128, help_text="Jira accountId (or api-token:<id>) that started it.")
    subdomain = models.CharField(max_length=63)
    nonce = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    opened_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"OAuth {self.subdomain} by {self.account_id}"

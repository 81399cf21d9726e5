from __future__ import annotations

from django.db import models
from django.utils import timezone

from .fields import EncryptedSecretField


class Tenant(models.Model):
    """One Jira Cloud site that installed the app. Never hard-deleted: uninstall is a state."""

    class State(models.TextChoices):
        INSTALLED = "installed", "Installed"
        ENABLED = "enabled", "Enabled"
        DISABLED = "disabled", "Disabled"
        UNINSTALLED = "uninstalled", "Uninstalled"

    class License(models.TextChoices):
        ACTIVE = "active", "Active"
        NONE = "none", "None"
        UNKNOWN = "unknown", "Unknown"

    client_key = models.CharField(max_length=255, unique=True)
    app_key = models.CharField(max_length=255)
    base_url = models.URLField(max_length=255)
    display_url = models.URLField(max_length=255, blank=True)
    shared_secret = EncryptedSecretField()
    product_type = models.CharField(max_length=32, default="jira")
    description = models.CharField(max_length=255, blank=True)
    cloud_id = models.CharField(max_length=64, blank=True)
    oauth_client_id = models.CharField(max_length=255, blank=True)
    server_version = models.CharField(max_length=64, blank=True)
    plugins_version = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.INSTALLED)
    license = models.CharField(max_length=16, choices=License.choices, default=License.UNKNOWN)
    license_checked_at = models.DateTimeField(null=True, blank=True)
    is_development = models.BooleanField(default=False, help_text="Development installs are never licence-gated.")
    app_account_id = models.CharField(
        max_length=128,
        blank=True,
        help_text="Our app user's accountId on this site (GET /rest/api/3/myself): its changes are never synced back.",
    )
    installed_at = models.DateTimeField(default=timezone.now)
    uninstalled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["base_url"]

    def __str__(self) -> str:
        return self.display_url or self.base_url

    @property
    def is_active(self) -> bool:
        return self.state in (self.State.INSTALLED, self.State.ENABLED)

    @property
    def is_licensed(self) -> bool:
        return self.is_development or self.license == self.License.ACTIVE


class TenantOwnedModel(models.Model):
    """Base for every row that belongs to one tenant. Unique constraints start with ``tenant``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


class ApiToken(TenantOwnedModel):
    """A tenant API token for scripts. Only a SHA-256 hash is stored; the token is shown once.

    ``scope`` limits what it may do: ``read`` (GET only), ``links`` (read, plus creating and deleting links
    through the links API), ``admin`` (everything a script may do: configuration included). No token may
    create tokens; only a Jira admin on the admin page can."""

    class Scope(models.TextChoices):
        READ = "read", "Read only"
        LINKS = "links", "Read and manage links"
        ADMIN = "admin", "Full configuration"

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="First characters, to recognise a token in lists.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.CharField(max_length=128, blank=True, help_text="Jira accountId or 'staff'.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.ADMIN)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Refused from this moment; empty: never.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="apitoken_unique_name_per_tenant")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

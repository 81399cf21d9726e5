from __future__ import annotations

from django.db import models
from django.utils import timezone

from connector.models import ConnectedItem
from tenants.models import TenantOwnedModel


class Link(TenantOwnedModel):
    """A helpdesk record linked to a Jira issue through one Smart Connected Item.

    The issue id is stable; the key changes when an issue moves project, so it is kept up to date.
    ``preview`` is the snapshot the issue panel shows (refreshed by Refresh, by linking and by sync),
    so the panel never calls the helpdesk in its critical path.
    """

    class Origin(models.TextChoices):
        MANUAL = "manual", "Linked by a user"
        AUTO = "auto", "Managed by sync"

    item = models.ForeignKey(ConnectedItem, on_delete=models.CASCADE, related_name="links")
    jira_issue_id = models.CharField(max_length=32)
    jira_issue_key = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.MANUAL)
    created_by = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    preview = models.JSONField(default=dict, blank=True)
    preview_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "jira_issue_id", "record_id"], name="link_unique_per_item"),
        ]
        indexes = [
            models.Index(fields=["tenant", "jira_issue_id"], name="link_tenant_issue"),
            models.Index(fields=["item", "record_id"], name="link_item_record"),
        ]

    def __str__(self) -> str:
        return f"{self.jira_issue_key} ↔ {self.record_id}"

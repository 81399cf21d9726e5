from __future__ import annotations

from django.db import models
from django.utils import timezone

from connector.models import ConnectedItem, HelpdeskConnection
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
    field_state = models.JSONField(default=dict, blank=True, help_text="Per-field last-synced value hashes.")
    sync_stopped_at = models.DateTimeField(null=True, blank=True, help_text="The ticket was closed: no more sync.")

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


class SyncState(TenantOwnedModel):
    """The pull engine's bookkeeping for one helpdesk connection: where the change stream stands, when to poll
    next, and who holds the lease (one worker at a time; an expired lease is taken over)."""

    connection = models.OneToOneField(HelpdeskConnection, on_delete=models.CASCADE, related_name="sync_state")
    cursor = models.TextField(blank=True, help_text="The helpdesk's change-stream cursor (opaque).")
    start_time = models.BigIntegerField(null=True, blank=True, help_text="Where the first poll starts (epoch s).")
    last_poll_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True, help_text="Not before (rate-limit back-off).")
    requested_at = models.DateTimeField(null=True, blank=True, help_text="Sync now, not yet served.")
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    halted_reason = models.CharField(max_length=64, blank=True, help_text="Why polls are halted (recorded once).")

    def __str__(self) -> str:
        return f"sync state of {self.connection}"


class SyncRun(TenantOwnedModel):
    """One poll of a connection: what it did, what it cost, how it ended."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Sync now"
        REFRESH = "refresh", "Refresh from the panel"

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCESS = "success", "Success"
        HALTED = "halted", "Halted"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(HelpdeskConnection, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    reason = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    api_calls = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-started_at"], name="syncrun_tenant_started")]

    def __str__(self) -> str:
        return f"{self.get_trigger_display()} {self.started_at:%Y-%m-%d %H:%M} {self.outcome}"


class SyncEvent(TenantOwnedModel):
    """One action (or refusal) on one link during a run, in words an admin can act on."""

    class Result(models.TextChoices):
        OK = "ok", "Done"
        SKIPPED = "skipped", "Skipped"
        ERROR = "error", "Error"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="events")
    link = models.ForeignKey(Link, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    item = models.ForeignKey(ConnectedItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=32)  # fields | status | closed
    direction = models.CharField(max_length=16, default="to_jira")
    result = models.CharField(max_length=16, choices=Result.choices)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.action} {self.result}"

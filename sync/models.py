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
    comments_read_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the record's comments were last read (helpdesks without a comment stream: oldest first).",
    )
    issue_deleted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The Jira issue was deleted: the link is broken (nothing is deleted in the helpdesk).",
    )
    record_deleted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The helpdesk record no longer exists: the link is broken (nothing is recreated).",
    )

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
    cursors = models.JSONField(
        default=dict, blank=True, help_text="Where each change stream stands: helpdesk object → cursor (opaque)."
    )
    start_time = models.BigIntegerField(null=True, blank=True, help_text="Where the first poll starts (epoch s).")
    last_poll_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True, help_text="Not before (rate-limit back-off).")
    requested_at = models.DateTimeField(null=True, blank=True, help_text="Sync now, not yet served.")
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    halted_reason = models.CharField(max_length=64, blank=True, help_text="Why polls are halted (recorded once).")
    events_time = models.BigIntegerField(
        null=True, blank=True, help_text="Where the comment stream (ticket events export) stands (epoch s)."
    )
    events_behind = models.BooleanField(
        default=False, help_text="The comment stream was not read to its end: the next poll reads it regardless."
    )
    reconciled_at = models.DateTimeField(
        null=True, blank=True, help_text="Jira issues updated before this were checked for lost webhook deliveries."
    )

    def __str__(self) -> str:
        return f"sync state of {self.connection}"


class SyncRun(TenantOwnedModel):
    """One poll of a connection: what it did, what it cost, how it ended."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Sync now"
        REFRESH = "refresh", "Refresh from the panel"
        WEBHOOK = "webhook", "Jira webhook"

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
    credits = models.PositiveIntegerField(
        default=0, help_text="Helpdesk API credits the run spent (Zoho Desk bills a daily credit budget)."
    )
    worker = models.CharField(
        max_length=64,
        blank=True,
        help_text="The process running it (host:pid:nonce), for a run no lease closes when its worker dies: "
        "an auto-create sweep's.",
    )

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


class SideMap(TenantOwnedModel):
    """(link, source side, source id) → target id: what one side's comment or file became on the other.

    The row is written *before* the target is written (``target_id`` blank: pending), and completed after.
    A pending row found on a retry means "we may have written it": the target is looked up before writing
    again (Jira comments carry a property naming their source), so a crash never duplicates. Rows whose
    ``target_id`` names what we wrote are also the echo guard: a target we wrote is never copied back."""

    class Side(models.TextChoices):
        HELPDESK = "helpdesk", "Helpdesk"
        JIRA = "jira", "Jira"

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="+")
    source_side = models.CharField(max_length=8, choices=Side.choices)
    source_id = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64, blank=True, help_text="Blank: written or being written (pending).")
    note = models.CharField(max_length=200, blank=True, help_text="Why it was skipped, when it was.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class CommentMap(SideMap):
    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "source_side", "source_id"], name="commentmap_unique_source"),
        ]
        indexes = [models.Index(fields=["link", "target_id"], name="commentmap_link_target")]


class AttachmentMap(SideMap):
    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "source_side", "source_id"], name="attachmentmap_unique_source"),
        ]
        indexes = [models.Index(fields=["link", "target_id"], name="attachmentmap_link_target")]


class AutoCreate(TenantOwnedModel):
    """The intent to auto-create one Jira issue for one record through one item, written before Jira is
    called. Unique per (item, record): two workers, a retry or a crash can never make a second issue. A
    pending intent (no issue id) found again means "Jira may have created it": the issue is looked up by its
    property (``deskbridge.source``) before creating."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Created"
        FAILED = "failed", "Failed"

    item = models.ForeignKey(ConnectedItem, on_delete=models.CASCADE, related_name="+")
    record_id = models.CharField(max_length=64)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    attempted_at = models.DateTimeField(null=True, blank=True)
    jira_issue_id = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "record_id"], name="autocreate_unique_record")]
        indexes = [models.Index(fields=["tenant", "state"], name="autocreate_tenant_state")]

    def __str__(self) -> str:
        return f"auto-create {self.record_id} ({self.state})"


class RecordCreate(TenantOwnedModel):
    """The intent to create one helpdesk record for one Jira issue through one item, written before the
    helpdesk is called. Unique per (item, issue): a retry or a second request finds it. A pending intent
    found again means "the helpdesk may have created it": the record is looked up by ``source_key`` (which it
    carries: Zendesk ``external_id``) before creating; ``record_id`` is kept as soon as the helpdesk answers,
    so a failure after that only retries the link."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Created"
        FAILED = "failed", "Failed"

    item = models.ForeignKey(ConnectedItem, on_delete=models.CASCADE, related_name="+")
    jira_issue_id = models.CharField(max_length=32)
    source_key = models.CharField(max_length=128, help_text="What the record is tagged with (its origin).")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    record_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    attempted_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.CharField(max_length=128, blank=True)
    automatic = models.BooleanField(default=False, help_text="Made by auto-create from Jira (not by a user).")
    attempt_owner = models.CharField(
        max_length=64, blank=True, help_text="The process of the attempt in progress (host:pid:nonce)."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "jira_issue_id"], name="recordcreate_unique_issue")]
        indexes = [models.Index(fields=["tenant", "state"], name="recordcreate_tenant_state")]

    def __str__(self) -> str:
        return f"create record for issue {self.jira_issue_id} ({self.state})"


class WebhookEvent(TenantOwnedModel):
    """The inbox: one Jira webhook delivery (or a change the reconcile found without one), stored before it
    is answered and processed later by a task, in order per issue. Unique per (tenant, delivery id): a
    redelivery of the same event is acknowledged and dropped."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"

    delivery_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=64)
    issue_id = models.CharField(max_length=32, blank=True)
    issue_key = models.CharField(max_length=64, blank=True)
    actor_account_id = models.CharField(max_length=128, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    process_after = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "delivery_id"], name="webhookevent_unique_delivery"),
        ]
        indexes = [
            models.Index(fields=["tenant", "issue_id", "status"], name="webhookevent_issue_status"),
            models.Index(fields=["status", "process_after"], name="webhookevent_due"),
            models.Index(fields=["tenant", "status", "-id"], name="webhookevent_tenant_status"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.issue_key or self.issue_id} ({self.status})"


class IssueState(TenantOwnedModel):
    """The push engine's bookkeeping for one Jira issue: the lease (one worker processes an issue's events
    at a time, in order) and the issue's ``updated`` as of the last change we processed, which the
    reconcile compares against to find changes whose webhook Jira never delivered."""

    jira_issue_id = models.CharField(max_length=32)
    seen_updated = models.DateTimeField(
        null=True, blank=True, help_text="Jira's `updated` of the last processed change."
    )
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_runs = models.JSONField(
        default=list, blank=True, help_text="Runs the lease holder started (closed on takeover)."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "jira_issue_id"], name="issuestate_unique_issue"),
        ]

    def __str__(self) -> str:
        return f"issue {self.jira_issue_id}"

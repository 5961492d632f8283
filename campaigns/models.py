from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models


class Campaign(models.Model):
    """One message sent to many contacts, paced at the channel's rate, with a row per recipient."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        QUIET_HOURS = "quiet_hours", "Waiting for quiet hours to end"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped automatically"
        CANCELLED = "cancelled", "Cancelled"
        COMPLETED = "completed", "Completed"

    class Kind(models.TextChoices):
        TEMPLATE = "template", "Approved template"
        TEXT = "text", "Free text"

    name = models.CharField(max_length=200)
    channel = models.ForeignKey("channels_wa.Channel", on_delete=models.PROTECT, related_name="campaigns")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True)
    # {"tags": [...], "segment": [{"field", "op", "value"}], "contact_ids": [...], "phones": [...]}
    audience = models.JSONField(default=dict, blank=True)
    # Uploaded CSV rows: [{"phone": "+1...", "name": "...", "vars": {column: value}}]
    audience_csv = models.JSONField(default=list, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEMPLATE)
    template_name = models.CharField(max_length=512, blank=True)
    template_language = models.CharField(max_length=16, blank=True)
    # One entry per body placeholder: {"source": "field"|"attribute"|"csv"|"static", "key", "fallback"}
    template_variables = models.JSONField(default=list, blank=True)
    header_media_link = models.URLField(blank=True)
    header_media_kind = models.CharField(max_length=10, blank=True, help_text="image, video or document")
    text = models.TextField(blank=True, help_text="Free text; {{first_name|there}} personalises it")
    is_link_tracking = models.BooleanField(default=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    is_quiet_hours_enabled = models.BooleanField(default=True)
    quiet_hours_start = models.TimeField(default=dt.time(21, 0))
    quiet_hours_end = models.TimeField(default=dt.time(8, 0))
    auto_stop_sample = models.PositiveIntegerField(default=50, help_text="The first N sends watched")
    auto_stop_failure_ratio = models.FloatField(default=0.2)
    is_auto_stop_checked = models.BooleanField(default=False)
    stop_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    resume_at = models.DateTimeField(null=True, blank=True, help_text="When quiet hours end")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.SCHEDULED)


class Recipient(models.Model):
    """pending → sending → sent | failed; `unknown` when a worker died while the provider had it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Unknown (worker stopped mid-send)"
        SKIPPED = "skipped", "Skipped"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    contact = models.ForeignKey("inbox.Contact", on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=20)
    variables = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    message = models.ForeignKey(
        "inbox.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    click_count = models.PositiveIntegerField(default=0)
    opted_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "phone"], name="uniq_campaign_recipient_phone"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "id"], name="recipient_claim_idx"),
            models.Index(fields=["contact", "-sent_at"], name="recipient_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.phone} in {self.campaign_id}"


class TrackedLink(models.Model):
    """A link found in a campaign's message; each recipient gets its own /l/<code> for it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="links")
    code = models.CharField(max_length=12, unique=True)
    url = models.URLField(max_length=2000)
    click_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "url"], name="uniq_campaign_link")]

    def __str__(self) -> str:
        return self.url


class LinkClick(models.Model):
    link = models.ForeignKey(TrackedLink, on_delete=models.CASCADE, related_name="clicks")
    recipient = models.ForeignKey(Recipient, null=True, on_delete=models.CASCADE, related_name="clicks")
    clicked_at = models.DateTimeField(auto_now_add=True)
    user_agent = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"click on {self.link_id}"


class OptOutSettings(models.Model):
    """The company's opt-out keywords (added to the defaults) and the confirmation sent back."""

    extra_keywords = models.JSONField(default=list, blank=True)
    confirmation_text = models.TextField(
        default="You have been unsubscribed and will not receive campaign messages from us any more."
    )

    class Meta:
        verbose_name_plural = "opt-out settings"

    def __str__(self) -> str:
        return "Opt-out settings"

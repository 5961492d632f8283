from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from core.fields import EncryptedTextField


class WebhookEndpoint(models.Model):
    """A customer's URL that receives signed outbound webhooks for the chosen event types."""

    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    events = ArrayField(
        models.CharField(max_length=40), default=list, blank=True, help_text="Empty means every event type."
    )
    secret = EncryptedTextField(help_text="HMAC-SHA256 signing secret (whsec_…); shown once at creation.")
    is_active = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.description or self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint: written in the event's transaction (an outbox), posted by a worker."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_id = models.UUIDField(db_index=True)
    event_type = models.CharField(max_length=40)
    # The exact bytes (ASCII JSON) that are signed and posted, identical on every attempt.
    body = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Pending: when the next attempt is due. Sending: when the worker's claim expires.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhookdelivery_due",
                condition=models.Q(status__in=["pending", "sending"]),
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"


def default_schedule() -> dict:
    weekday = [["09:00", "17:00"]]
    return {
        "mon": weekday,
        "tue": weekday,
        "wed": weekday,
        "thu": weekday,
        "fri": weekday,
        "sat": [],
        "sun": [],
    }


class BusinessHours(models.Model):
    """One row per company: when people answer, and when automatic replies stay quiet."""

    timezone = models.CharField(max_length=64, default="UTC")
    schedule = models.JSONField(
        default=default_schedule, help_text='Per weekday a list of ["HH:MM", "HH:MM"] open intervals'
    )
    holidays = ArrayField(models.DateField(), default=list, blank=True)
    away_message = models.TextField(
        blank=True, default="Thanks for your message! We are closed right now and will answer when we open."
    )
    is_away_message_enabled = models.BooleanField(default=False)
    quiet_hours_start = models.TimeField(null=True, blank=True, help_text="No automatic replies from…")
    quiet_hours_end = models.TimeField(null=True, blank=True, help_text="…until")
    cooldown_s = models.PositiveIntegerField(
        default=300, help_text="A rule answers one contact at most once per"
    )
    loop_limit = models.PositiveSmallIntegerField(
        default=5, help_text="Automatic replies to one contact within the loop window before automation stops"
    )
    loop_window_s = models.PositiveIntegerField(default=600)

    class Meta:
        verbose_name_plural = "business hours"

    def __str__(self) -> str:
        return f"Business hours ({self.timezone})"


class Integration(models.Model):
    """An external HTTP endpoint (ERP, CRM, helpdesk) that messages are forwarded to, signed."""

    name = models.CharField(max_length=80)
    url = models.URLField(max_length=2000)
    api_key = EncryptedTextField(
        blank=True, default="", help_text="Sent as a Bearer token and signs the body"
    )
    timeout_s = models.FloatField(default=10)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AutoReplyRule(models.Model):
    class Trigger(models.TextChoices):
        KEYWORD = "keyword", "Keyword"
        FIRST_MESSAGE = "first_message", "First message from a new contact"
        OUTSIDE_HOURS = "outside_hours", "Outside business hours"
        NO_AGENT_REPLY = "no_agent_reply", "No agent reply within N minutes"

    class Match(models.TextChoices):
        EXACT = "exact", "Exact"
        CONTAINS = "contains", "Contains"
        REGEX = "regex", "Regular expression"

    channel = models.ForeignKey(
        "channels_wa.Channel",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="auto_reply_rules",
        help_text="Empty: every channel",
    )
    name = models.CharField(max_length=120)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    keywords = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    match = models.CharField(max_length=10, choices=Match.choices, default=Match.CONTAINS)
    minutes = models.PositiveIntegerField(null=True, blank=True, help_text="For 'no agent reply'")
    # Conditions (empty means any).
    channel_ids = ArrayField(models.IntegerField(), default=list, blank=True)
    department_ids = ArrayField(models.IntegerField(), default=list, blank=True)
    contact_tags = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    statuses = ArrayField(models.CharField(max_length=10), default=list, blank=True)
    # [{"type": "reply_text", "text": ...}, {"type": "assign", "department_id": ...}, ...]
    actions = models.JSONField(default=list)
    stop_after = models.BooleanField(default=False, help_text="Stop after this rule")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class AutomationLog(models.Model):
    """What automation did or refused to do on a conversation, failures included."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    conversation = models.ForeignKey(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="automation_logs"
    )
    message = models.ForeignKey(
        "inbox.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule = models.ForeignKey(
        AutoReplyRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    event = models.CharField(max_length=40)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event}: {self.detail[:60]}"

from __future__ import annotations

from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

from core.fields import EncryptedTextField


class Plan(models.Model):
    code = models.SlugField(unique=True)
    name = models.CharField(max_length=60)
    max_channels = models.PositiveIntegerField()
    max_seats = models.PositiveIntegerField()
    messages_per_day = models.PositiveIntegerField()
    api_requests_per_minute = models.PositiveIntegerField()

    class Meta:
        ordering = ["max_seats"]

    def __str__(self) -> str:
        return self.name


class Company(TenantMixin):
    """A tenant: one customer company with its own PostgreSQL schema (schema_name == slug)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        TEMPLATE = "template", "Template schema"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=40, unique=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="companies")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    timezone = models.CharField(max_length=64, default="UTC")
    # Default HMAC secret the company's outbound webhooks are signed with.
    signing_secret = EncryptedTextField(blank=True, default="")
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = True

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_suspended(self) -> bool:
        return self.status == self.Status.SUSPENDED

    @property
    def is_public(self) -> bool:
        return self.schema_name == "public"


class Domain(DomainMixin):
    pass


class ChannelRoute(models.Model):
    """Maps a provider's external id (phone_number_id, page id, Twilio number) to a company's channel,
    so one platform webhook URL serves every tenant."""

    provider = models.CharField(max_length=32)
    external_id = models.CharField(max_length=128)
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="channel_routes")
    channel_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "external_id"], name="uniq_channel_route_external_id")
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.external_id} → {self.company_id}/{self.channel_id}"


class WebhookEvent(models.Model):
    """Every provider delivery, stored raw before anything else happens, so nothing is ever lost.

    Lives in the public schema: one platform URL serves every company, and a delivery may concern
    several companies' numbers (or none we know)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        UNROUTED = "unrouted", "No matching channel"

    provider = models.CharField(max_length=32)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_events"
    )
    channel_id = models.BigIntegerField(null=True, blank=True, help_text="Set when received on a channel URL")
    body = models.TextField()
    headers = models.JSONField(default=dict)
    body_sha256 = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "received_at"], name="webhook_event_pending_idx")]

    def __str__(self) -> str:
        return f"{self.provider} event {self.pk} ({self.status})"


class QRRunner(models.Model):
    """A `run_wa_sessions` process, alive while its heartbeat is fresh."""

    runner_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.runner_id


class QRSessionLease(models.Model):
    """Which runner hosts a QR-session channel, until `expires_at` unless renewed by its heartbeat."""

    route = models.OneToOneField(ChannelRoute, on_delete=models.CASCADE, related_name="qr_lease")
    runner_id = models.CharField(max_length=64, blank=True, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.route_id} → {self.runner_id or 'free'}"

from __future__ import annotations

import uuid

from django.db import models

from channels_wa.providers.base import ChannelConfig
from core.fields import EncryptedTextField


class Channel(models.Model):
    """One connected number, page or session of a company."""

    class Provider(models.TextChoices):
        META_WHATSAPP = "meta_whatsapp", "WhatsApp Cloud API"
        SANDBOX = "sandbox", "WhatsApp sandbox"

    class Status(models.TextChoices):
        CONNECTING = "connecting", "Connecting"
        CONNECTED = "connected", "Connected"
        ERROR = "error", "Error"
        DISCONNECTED = "disconnected", "Disconnected"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.CharField(max_length=32, choices=Provider.choices)
    name = models.CharField(max_length=120)
    phone_number = models.CharField(max_length=20, blank=True, help_text="E.164")
    external_id = models.CharField(max_length=128, help_text="WhatsApp phone_number_id")
    account_id = models.CharField(max_length=128, blank=True, help_text="WhatsApp Business Account id")
    access_token = EncryptedTextField(blank=True, default="")
    app_secret = EncryptedTextField(blank=True, default="")
    verify_token = EncryptedTextField(blank=True, default="")
    api_base_url = models.URLField(blank=True, help_text="Overrides the provider's API base URL")
    api_version = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONNECTING)
    last_error = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    rate_per_s = models.PositiveIntegerField(default=80, help_text="Messages per second")
    default_department = models.ForeignKey(
        "accounts.Department", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "external_id"], name="uniq_channel_external_id")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone_number or self.external_id})"

    def config(self) -> ChannelConfig:
        return ChannelConfig(
            provider=self.provider,
            external_id=self.external_id,
            account_id=self.account_id,
            phone_number=self.phone_number,
            access_token=self.access_token,
            app_secret=self.app_secret,
            verify_token=self.verify_token,
            base_url=self.api_base_url,
            api_version=self.api_version,
        )


class Template(models.Model):
    """A message template approved (or not) by the provider, synced from the WhatsApp Business Account."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    category = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=32)
    components = models.JSONField(default=list)
    variable_count = models.PositiveSmallIntegerField(default=0)
    provider_template_id = models.CharField(max_length=64, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "name", "language"], name="uniq_template_per_channel")
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.language}]"

    @property
    def is_approved(self) -> bool:
        return self.status.upper() == "APPROVED"

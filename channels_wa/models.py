from __future__ import annotations

import uuid

from django.db import models

from channels_wa.providers.base import ChannelConfig, Provider
from channels_wa.providers.registry import provider_class
from core.fields import EncryptedTextField


class Channel(models.Model):
    """One connected number, page or session of a company."""

    class Provider(models.TextChoices):
        META_WHATSAPP = "meta_whatsapp", "WhatsApp Cloud API"
        SANDBOX = "sandbox", "WhatsApp sandbox"
        TWILIO_WHATSAPP = "twilio_whatsapp", "WhatsApp through Twilio"
        TWILIO_SMS = "twilio_sms", "SMS through Twilio"
        META_MESSENGER = "meta_messenger", "Facebook Messenger"
        META_INSTAGRAM = "meta_instagram", "Instagram"
        QR_SESSION = "qr_session", "WhatsApp (QR code)"

    class Status(models.TextChoices):
        CONNECTING = "connecting", "Connecting"
        CONNECTED = "connected", "Connected"
        ERROR = "error", "Error"
        DISCONNECTED = "disconnected", "Disconnected"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.CharField(max_length=32, choices=Provider.choices)
    name = models.CharField(max_length=120)
    phone_number = models.CharField(max_length=20, blank=True, help_text="E.164")
    external_id = models.CharField(
        max_length=128,
        help_text="WhatsApp phone_number_id, Twilio number (E.164), Facebook page id or Instagram account id",
    )
    account_id = models.CharField(
        max_length=128, blank=True, help_text="WhatsApp Business Account id, or the Twilio Account SID"
    )
    access_token = EncryptedTextField(blank=True, default="")
    app_secret = EncryptedTextField(blank=True, default="")
    verify_token = EncryptedTextField(blank=True, default="")
    api_base_url = models.URLField(blank=True, help_text="Overrides the provider's API base URL")
    api_version = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONNECTING)
    last_error = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    rate_per_s = models.PositiveIntegerField(default=80, help_text="Messages per second")
    human_agent_tag_enabled = models.BooleanField(
        default=False,
        help_text="Messenger and Instagram: staff may reply up to 7 days after the customer's last message "
        "(sent with the HUMAN_AGENT tag).",
    )
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

    @property
    def capabilities(self) -> type[Provider]:
        """What this kind of channel allows (has_window, supports_templates, counts_segments…)."""
        return provider_class(self.provider)

    def config(self) -> ChannelConfig:
        options: dict = {"human_agent_tag": self.human_agent_tag_enabled}
        if self.capabilities.wants_webhook_url:
            from channels_wa.services import channel_webhook_url

            options["webhook_url"] = channel_webhook_url(channel=self)
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
            options=options,
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


class QRSession(models.Model):
    """The WhatsApp Web session behind a `qr_session` channel: its lifecycle and its safety settings.
    The session keys themselves live in whatsmeow's own store (PostgreSQL schema `whatsmeow`)."""

    class State(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        PENDING = "pending", "Waiting for the QR code to be scanned"
        AUTHENTICATED = "authenticated", "Authenticated, connecting"
        READY = "ready", "Ready"
        AUTH_FAILED = "auth_failed", "Authentication failed"
        DISCONNECTED = "disconnected", "Disconnected"
        LOGGED_OUT = "logged_out", "Logged out"

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="qr_session")
    state = models.CharField(max_length=16, choices=State.choices, default=State.NOT_STARTED)
    state_reason = models.TextField(blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(
        max_length=255, blank=True, help_text="What happens next, e.g. the next reconnect"
    )
    device_jid = models.CharField(max_length=96, blank=True, help_text="whatsmeow device JID once paired")
    qr_code = models.TextField(blank=True, help_text="The QR payload to scan while pending")
    pairing_code = models.CharField(max_length=16, blank=True)
    is_group_messages_enabled = models.BooleanField(default=False)
    daily_cap = models.PositiveIntegerField(default=250, help_text="Most messages a day once warmed up")
    warmup_started_on = models.DateField(null=True, blank=True, help_text="First day the number was ready")
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")

    def __str__(self) -> str:
        return f"{self.channel} [{self.state}]"


class QRSessionTransition(models.Model):
    """Every state change of a session, with when and why."""

    session = models.ForeignKey(QRSession, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=16)
    to_state = models.CharField(max_length=16)
    reason = models.TextField(blank=True)
    occurred_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state}"


class LidMapping(models.Model):
    """WhatsApp's LID (privacy id) of a contact and the phone number it stands for, once learned."""

    lid = models.CharField(max_length=32, unique=True)
    phone = models.CharField(max_length=20, help_text="E.164")
    learned_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.lid} = {self.phone}"

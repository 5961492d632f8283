from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class Label(models.Model):
    name = models.CharField(max_length=60, unique=True)
    color = models.CharField(max_length=7, default="#64748b")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    phone = models.CharField(max_length=20, blank=True, db_index=True, help_text="E.164")
    whatsapp_id = models.CharField(max_length=32, blank=True, db_index=True)
    name = models.CharField(max_length=120, blank=True)
    profile_name = models.CharField(max_length=120, blank=True, help_text="As the customer set it")
    tags = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    custom_attributes = models.JSONField(default=dict, blank=True)
    is_opted_out = models.BooleanField(default=False)
    avatar_url = models.URLField(max_length=1000, blank=True, help_text="From the provider's profile API")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "phone"]
        constraints = [
            models.UniqueConstraint(
                fields=["whatsapp_id"], condition=~models.Q(whatsapp_id=""), name="uniq_contact_whatsapp_id"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.profile_name or self.phone or self.whatsapp_id

    @property
    def display_name(self) -> str:
        return str(self)


class ContactIdentity(models.Model):
    """How one person is known on one kind of channel: a contact has one per channel kind (and page)."""

    class Kind(models.TextChoices):
        WHATSAPP = "whatsapp", "WhatsApp id"
        SMS = "sms", "Phone (SMS)"
        MESSENGER = "messenger", "Messenger page-scoped id"
        INSTAGRAM = "instagram", "Instagram-scoped id"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Page-scoped and Instagram-scoped ids only mean something with their page / account id.
    scope = models.CharField(max_length=128, blank=True)
    value = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "scope", "value"], name="uniq_contact_identity"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PENDING = "pending", "Pending"
        SNOOZED = "snoozed", "Snoozed"
        RESOLVED = "resolved", "Resolved"

    class Priority(models.TextChoices):
        NONE = "none", "None"
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    channel = models.ForeignKey("channels_wa.Channel", on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    department = models.ForeignKey(
        "accounts.Department", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    labels = models.ManyToManyField(Label, blank=True, related_name="conversations")
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NONE)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_message_preview = models.CharField(max_length=160, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    window_expires_at = models.DateTimeField(null=True, blank=True)
    unread_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_message_at"]
        indexes = [models.Index(fields=["status", "-last_message_at"], name="conversation_list_idx")]
        constraints = [
            # One conversation that is not resolved per contact and channel.
            models.UniqueConstraint(
                fields=["contact", "channel"],
                condition=~models.Q(status="resolved"),
                name="uniq_active_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact} on {self.channel}"


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"

    class SenderKind(models.TextChoices):
        CONTACT = "contact", "Contact"
        USER = "user", "Staff"
        AI = "ai", "AI persona"
        AUTOMATION = "automation", "Automation"
        API = "api", "API"
        EXTERNAL = "external", "Sent from the provider's own app"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    channel = models.ForeignKey("channels_wa.Channel", on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    kind = models.CharField(max_length=16, default="text")
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="Template, interactive, location…")
    media_file = models.FileField(upload_to="media/%Y/%m/", blank=True)
    media_provider_id = models.CharField(max_length=2048, blank=True, help_text="Media id or URL")
    media_mime_type = models.CharField(max_length=100, blank=True)
    media_size = models.PositiveBigIntegerField(null=True, blank=True)
    media_sha256 = models.CharField(max_length=64, blank=True)
    media_error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=128, null=True, blank=True)
    reply_to_provider_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    error_code = models.CharField(max_length=32, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    error_detail = models.TextField(blank=True)
    sender_kind = models.CharField(max_length=12, choices=SenderKind.choices)
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    raw = models.JSONField(default=dict, blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    provider_timestamp = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="message_thread_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"], name="uniq_provider_message_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.kind} {self.pk}"


class PendingStatus(models.Model):
    """A status that arrived before the message it concerns; applied when that message is stored or sent."""

    channel = models.ForeignKey("channels_wa.Channel", on_delete=models.CASCADE, related_name="+")
    provider_message_id = models.CharField(max_length=128, db_index=True)
    status = models.CharField(max_length=10)
    error_code = models.CharField(max_length=32, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    error_detail = models.TextField(blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.status} for {self.provider_message_id}"


class Note(models.Model):
    """A private note on a conversation: staff only, never sent to the customer."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.body[:60]


class QuickReply(models.Model):
    shortcut = models.SlugField(max_length=40, unique=True, help_text="Typed after / in the composer")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["shortcut"]
        verbose_name_plural = "quick replies"

    def __str__(self) -> str:
        return f"/{self.shortcut}"

from django.contrib import admin
from django.db import models

from core.admin import tenant_site
from inbox.models import Contact, ContactIdentity, Conversation, Label, Message, Note, QuickReply


class ContactIdentityInline(admin.TabularInline):
    """Every way the person is known: WhatsApp id, phone (SMS), page-scoped and Instagram-scoped ids."""

    model = ContactIdentity
    fields = ("kind", "value", "scope", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "identities (merging contacts moves them)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ContactAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("__str__", "phone", "whatsapp_id", "is_opted_out", "created_at")
    list_filter = ("is_opted_out", "identities__kind")
    search_fields = ("name", "profile_name", "phone", "whatsapp_id", "identities__value")
    inlines = (ContactIdentityInline,)


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created_at", "direction", "kind", "body", "segments", "status", "error_code", "error_title")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("created_at",)

    @admin.display(description="SMS segments")
    def segments(self, obj: Message) -> str:
        return str((obj.payload or {}).get("segments") or "")


class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "kind",
        "contact",
        "channel",
        "status",
        "assignee",
        "unread_count",
        "last_message_at",
        "window_expires_at",
    )
    list_filter = ("status", "channel", "department", "priority")
    search_fields = ("contact__name", "contact__profile_name", "contact__phone", "last_message_preview")
    list_select_related = ("contact", "channel", "assignee")
    inlines = (MessageInline,)
    list_display_links = ("contact",)

    class Media:
        css = {"all": ("channels_wa/channels.css",)}

    @admin.display(description="")
    def kind(self, obj: Conversation) -> str:
        from channels_wa.admin import channel_badge

        return channel_badge(obj.channel)

    def has_add_permission(self, request) -> bool:
        return False  # conversations start from a customer's message or a send, through the services


class MessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "direction", "kind", "status", "conversation", "error_code", "error_title")
    list_filter = ("direction", "status", "kind")
    search_fields = ("body", "provider_message_id")
    list_select_related = ("conversation__contact",)
    readonly_fields = [f.name for f in Message._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


tenant_site.register(Contact, ContactAdmin)
tenant_site.register(Conversation, ConversationAdmin)
tenant_site.register(Message, MessageAdmin)
tenant_site.register(Label)
tenant_site.register(Note)
tenant_site.register(QuickReply)

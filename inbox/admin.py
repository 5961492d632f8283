from django.contrib import admin

from core.admin import tenant_site
from inbox.models import Contact, Conversation, Label, Message, Note, QuickReply


class ContactAdmin(admin.ModelAdmin):
    list_display = ("__str__", "phone", "whatsapp_id", "is_opted_out", "created_at")
    list_filter = ("is_opted_out",)
    search_fields = ("name", "profile_name", "phone", "whatsapp_id")


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created_at", "direction", "kind", "body", "status", "error_code", "error_title")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("created_at",)


class ConversationAdmin(admin.ModelAdmin):
    list_display = (
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

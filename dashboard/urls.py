from django.urls import path

from dashboard import views_channels as channels
from dashboard import views_contacts as contacts
from dashboard import views_inbox as inbox
from dashboard import views_settings as settings_views

urlpatterns = [
    path("", inbox.inbox_page, name="inbox"),
    path("inbox/rows", inbox.conversation_rows, name="inbox-rows"),
    path("inbox/counts", inbox.counts, name="inbox-counts"),
    path("inbox/c/<int:conversation_id>", inbox.conversation_view, name="inbox-conversation"),
    path("inbox/c/<int:conversation_id>/thread", inbox.thread, name="inbox-thread"),
    path("inbox/c/<int:conversation_id>/send", inbox.send, name="inbox-send"),
    path("inbox/c/<int:conversation_id>/note", inbox.note, name="inbox-note"),
    path("inbox/c/<int:conversation_id>/action", inbox.action, name="inbox-action"),
    path("inbox/c/<int:conversation_id>/read", inbox.mark_read, name="inbox-read"),
    path("inbox/c/<int:conversation_id>/templates", inbox.templates_for, name="inbox-templates"),
    path("inbox/m/<int:message_id>", inbox.message_fragment, name="inbox-message"),
    path("inbox/m/<int:message_id>/media", inbox.media, name="inbox-media"),
    path("contacts/", contacts.contact_list, name="contacts"),
    path("contacts/new", contacts.contact_create, name="contact-create"),
    path("contacts/import", contacts.contact_import, name="contacts-import"),
    path("contacts/export.csv", contacts.contact_export, name="contacts-export"),
    path("contacts/<int:contact_id>/", contacts.contact_edit, name="contact"),
    path("contacts/<int:contact_id>/delete", contacts.contact_delete, name="contact-delete"),
    path("contacts/<int:contact_id>/merge", contacts.contact_merge, name="contact-merge"),
    path("settings/users/", settings_views.users, name="settings-users"),
    path("settings/users/<int:user_id>", settings_views.user_edit, name="settings-user"),
    path("settings/departments/", settings_views.departments, name="settings-departments"),
    path(
        "settings/departments/<int:department_id>", settings_views.department_edit, name="settings-department"
    ),
    path("settings/quick-replies/", settings_views.quick_replies, name="settings-quick-replies"),
    path("invite/<uidb64>/<token>/", settings_views.SetPasswordView.as_view(), name="invite-set-password"),
    path("channels/", channels.channel_list, name="channels"),
    path("channels/new", channels.channel_create, name="channel-create"),
    path("channels/<int:channel_id>/", channels.channel_detail, name="channel"),
    path("channels/<int:channel_id>/test", channels.channel_test, name="channel-test"),
    path("channels/<int:channel_id>/sync-templates", channels.channel_sync_templates, name="channel-sync"),
]

"""What an API key may do. A key carries a list of these; the dashboard session carries its role's."""

MESSAGES_SEND = "messages:send"
MESSAGES_READ = "messages:read"
CONVERSATIONS_READ = "conversations:read"
CONVERSATIONS_WRITE = "conversations:write"
CONTACTS_READ = "contacts:read"
CONTACTS_WRITE = "contacts:write"
CHANNELS_MANAGE = "channels:manage"
CAMPAIGNS_WRITE = "campaigns:write"
WEBHOOKS_MANAGE = "webhooks:manage"

ALL_SCOPES = (
    MESSAGES_SEND,
    MESSAGES_READ,
    CONVERSATIONS_READ,
    CONVERSATIONS_WRITE,
    CONTACTS_READ,
    CONTACTS_WRITE,
    CHANNELS_MANAGE,
    CAMPAIGNS_WRITE,
    WEBHOOKS_MANAGE,
)
ADMIN_ONLY_SCOPES = frozenset({CHANNELS_MANAGE, WEBHOOKS_MANAGE})


def scopes_for_role(role: str) -> frozenset[str]:
    if role in ("owner", "admin"):
        return frozenset(ALL_SCOPES)
    return frozenset(ALL_SCOPES) - ADMIN_ONLY_SCOPES

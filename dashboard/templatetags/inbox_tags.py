from django import template

from dashboard.selectors import window_is_open

register = template.Library()

TICKS = {"queued": "🕓", "sending": "🕓", "sent": "✓", "delivered": "✓✓", "read": "✓✓", "failed": "!"}


@register.filter
def window_closed(conversation) -> bool:
    return not window_is_open(conversation)


@register.filter
def tick(status: str) -> str:
    return TICKS.get(status, "")

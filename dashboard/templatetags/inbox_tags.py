from django import template

register = template.Library()

TICKS = {"queued": "🕓", "sending": "🕓", "sent": "✓", "delivered": "✓✓", "read": "✓✓", "failed": "!"}


@register.filter
def tick(status: str) -> str:
    return TICKS.get(status, "")

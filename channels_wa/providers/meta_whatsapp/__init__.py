"""Meta WhatsApp Cloud API provider."""

from .provider import MetaWhatsAppProvider
from .webhooks import phone_number_ids

__all__ = ["MetaWhatsAppProvider", "phone_number_ids"]

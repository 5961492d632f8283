"""Which provider class serves which kind of channel. A new provider is one line here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

from channels_wa.providers.base import ChannelConfig, Provider

if TYPE_CHECKING:
    from channels_wa.models import Channel

PROVIDERS: dict[str, str] = {
    "meta_whatsapp": "channels_wa.providers.meta_whatsapp.provider.MetaWhatsAppProvider",
    "sandbox": "channels_wa.providers.sandbox.provider.SandboxProvider",
    "twilio_whatsapp": "channels_wa.providers.twilio.provider.TwilioWhatsAppProvider",
    "twilio_sms": "channels_wa.providers.twilio.provider.TwilioSmsProvider",
    "meta_messenger": "channels_wa.providers.meta_messenger.provider.MessengerProvider",
    "meta_instagram": "channels_wa.providers.meta_messenger.provider.InstagramProvider",
    "qr_session": "channels_wa.providers.qr_session.provider.QRSessionProvider",
}

# Providers whose webhooks share the WhatsApp Cloud format and are routed by phone_number_id.
WHATSAPP_CLOUD_FORMAT = frozenset({"meta_whatsapp", "sandbox"})
ROUTE_KIND = {
    "meta_whatsapp": "whatsapp",
    "sandbox": "whatsapp",
    "meta_messenger": "messenger",
    "meta_instagram": "instagram",
}
# The path of a channel's own webhook URL on the company host, per provider.
WEBHOOK_PATH = {
    "meta_whatsapp": "whatsapp",
    "sandbox": "whatsapp",
    "twilio_whatsapp": "twilio",
    "twilio_sms": "twilio",
    "meta_messenger": "messenger",
    "meta_instagram": "messenger",
}


def provider_class(name: str) -> type[Provider]:
    try:
        return import_string(PROVIDERS[name])
    except KeyError as exc:
        raise ValueError(f"unknown provider {name!r}") from exc


def provider_for(channel: Channel) -> Provider:
    return provider_class(channel.provider)(channel.config())


def parser_for(name: str) -> Provider:
    """A provider instance for parsing payloads, which needs no channel credentials."""
    return provider_class(name)(ChannelConfig(provider=name, external_id=""))

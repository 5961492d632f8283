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
    "qr_session": "channels_wa.providers.qr_session.provider.QRSessionProvider",
}

# Providers whose webhooks share the WhatsApp Cloud format and are routed by phone_number_id.
WHATSAPP_CLOUD_FORMAT = frozenset({"meta_whatsapp", "sandbox"})
ROUTE_KIND = {"meta_whatsapp": "whatsapp", "sandbox": "whatsapp"}
# WhatsApp Web sessions have no 24-hour customer service window (that is a Cloud API rule).
WINDOWLESS_PROVIDERS = frozenset({"qr_session"})


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

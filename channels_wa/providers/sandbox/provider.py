"""The sandbox is the real WhatsApp Cloud provider pointed at the local sandbox server."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings

from channels_wa.providers.base import ChannelConfig
from channels_wa.providers.meta_whatsapp.provider import MetaWhatsAppProvider


class SandboxProvider(MetaWhatsAppProvider):
    name = "sandbox"

    def __init__(self, config: ChannelConfig, **kwargs):
        super().__init__(replace(config, base_url=config.base_url or settings.WHATSAPP_SANDBOX_URL), **kwargs)

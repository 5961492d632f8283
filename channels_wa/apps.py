from django.apps import AppConfig


class ChannelsWaConfig(AppConfig):
    name = "channels_wa"
    verbose_name = "Channels"

from django.apps import AppConfig


class AiPersonasConfig(AppConfig):
    name = "ai_personas"

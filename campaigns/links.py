"""Short links: every http(s) link in a campaign message becomes /l/<code> on the company host, one code
per link and recipient, so a click is counted for that recipient before the redirect."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.models import Campaign, LinkClick, Recipient, TrackedLink

URL_PATTERN = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
CODE_PATTERN = re.compile(r"^([a-zA-Z0-9]{6,12})(?:-([0-9a-z]{1,13})-([0-9a-f]{6}))?$")
ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _signature(link_code: str, recipient_id: int) -> str:
    message = f"{connection.schema_name}:{link_code}:{recipient_id}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:6]


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text


def link_for(*, campaign: Campaign, url: str, cache: dict[str, str]) -> str:
    """The campaign's code for this URL, created once (concurrent dispatchers agree on it)."""
    code = cache.get(url)
    if code is None:
        link = TrackedLink.objects.filter(campaign=campaign, url=url).first()
        if link is None:
            try:
                with transaction.atomic():
                    link = TrackedLink.objects.create(
                        campaign=campaign, url=url, code="".join(secrets.choice(ALPHABET) for _ in range(7))
                    )
            except IntegrityError:
                link = TrackedLink.objects.get(campaign=campaign, url=url)
        code = cache[url] = link.code
    return code


def short_url(*, base_url: str, link_code: str, recipient_id: int | None) -> str:
    if recipient_id is None:
        return f"{base_url}/l/{link_code}"
    return f"{base_url}/l/{link_code}-{_base36(recipient_id)}-{_signature(link_code, recipient_id)}"


def links_shorten(
    *, text: str, campaign: Campaign, recipient_id: int | None, base_url: str, cache: dict[str, str]
) -> str:
    def replace(match: re.Match) -> str:
        url = match.group(0)
        if url.startswith(f"{base_url}/l/"):
            return url
        code = link_for(campaign=campaign, url=url, cache=cache)
        return short_url(base_url=base_url, link_code=code, recipient_id=recipient_id)

    return URL_PATTERN.sub(replace, text)


def short_link_base(*, domain: str) -> str:
    return settings.SHORT_LINK_BASE.format(host=domain).rstrip("/")


def link_click(*, code: str, user_agent: str = "") -> str | None:
    """Count a click (for its recipient when the code names one) and return where to send the browser;
    None for a code that does not exist or whose signature is wrong."""
    match = CODE_PATTERN.match(code)
    if not match:
        return None
    link_code, recipient_b36, signature = match.groups()
    link = TrackedLink.objects.filter(code=link_code).first()
    if link is None:
        return None
    recipient_id = None
    if recipient_b36:
        recipient_id = int(recipient_b36, 36)
        if not hmac.compare_digest(signature, _signature(link_code, recipient_id)):
            return None
        if not Recipient.objects.filter(pk=recipient_id, campaign_id=link.campaign_id).exists():
            return None
    now = timezone.now()
    with transaction.atomic():
        LinkClick.objects.create(link=link, recipient_id=recipient_id, user_agent=user_agent[:300])
        TrackedLink.objects.filter(pk=link.pk).update(click_count=F("click_count") + 1)
        if recipient_id is not None:
            Recipient.objects.filter(pk=recipient_id).update(click_count=F("click_count") + 1)
            Recipient.objects.filter(pk=recipient_id, clicked_at=None).update(clicked_at=now)
    return link.url

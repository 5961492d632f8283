"""Auto-replies: business and quiet hours, ordered rules per channel, integrations, and the guards that
keep automations from answering bots (or each other) forever.

The engine runs in a worker after an inbound message is committed (`automation.tasks.process_inbound`),
never inside the provider's webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time as time_module
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from django.db import connection, transaction
from django.utils import timezone

from automation.models import AutomationLog, AutoReplyRule, BusinessHours, Integration
from core.errors import OmniDeskError, ValidationFailed
from core.redis import get_redis
from inbox.models import Conversation, Message, Note

logger = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ACTION_TYPES = (
    "reply_text",
    "reply_template",
    "assign",
    "add_label",
    "hand_to_ai",
    "forward_integration",
    "emit_webhook",
)
REPLY_ACTIONS = ("reply_text", "reply_template")
INTEGRATION_USER_AGENT = "OmniDesk-Integrations/1.0"
MAX_INTEGRATION_REPLY = 4096


# Business and quiet hours -----------------------------------------------------------------------------


def business_hours_get() -> BusinessHours:
    """The company's hours; until someone saves them, the defaults in the company's time zone (unsaved,
    so reading never writes)."""
    hours = BusinessHours.objects.first()
    if hours is None:
        tenant = getattr(connection, "tenant", None)
        hours = BusinessHours(timezone=getattr(tenant, "timezone", "") or "UTC")
    return hours


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def business_hours_validate(*, timezone_name: str, schedule: dict) -> None:
    try:
        ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"Unknown time zone {timezone_name!r}.", code="invalid_timezone") from exc
    for day, intervals in schedule.items():
        if day not in WEEKDAYS:
            raise ValidationFailed(f"Unknown weekday {day!r}.", code="invalid_schedule")
        for interval in intervals:
            try:
                start, end = (_minutes(v) for v in interval)
            except (ValueError, TypeError) as exc:
                raise ValidationFailed(
                    f"Bad interval {interval!r} on {day}.", code="invalid_schedule"
                ) from exc
            if not 0 <= start < end <= 24 * 60:
                raise ValidationFailed(
                    f"Interval {interval!r} on {day} ends before it starts.", code="invalid_schedule"
                )


def business_hours_update(*, hours: BusinessHours, **fields) -> BusinessHours:
    business_hours_validate(
        timezone_name=fields.get("timezone", hours.timezone), schedule=fields.get("schedule", hours.schedule)
    )
    for name, value in fields.items():
        setattr(hours, name, value)
    hours.save()
    return hours


def is_open(hours: BusinessHours, at: datetime) -> bool:
    """Whether the company is open at `at`, in its own time zone (holidays are closed all day)."""
    local = at.astimezone(_zone(hours.timezone))
    if local.date() in set(hours.holidays or []):
        return False
    now_minutes = local.hour * 60 + local.minute
    for start, end in (hours.schedule or {}).get(WEEKDAYS[local.weekday()], []):
        if _minutes(start) <= now_minutes < _minutes(end):
            return True
    return False


def is_quiet(hours: BusinessHours, at: datetime) -> bool:
    """Quiet hours may wrap midnight (22:00 → 07:00); no automatic reply goes out inside them."""
    if hours.quiet_hours_start is None or hours.quiet_hours_end is None:
        return False
    local = at.astimezone(_zone(hours.timezone)).time().replace(tzinfo=None)
    start, end = hours.quiet_hours_start, hours.quiet_hours_end
    if start <= end:
        return start <= local < end
    return local >= start or local < end


# Rules ------------------------------------------------------------------------------------------------


def _normalize(text: str) -> str:
    from ai_personas.services import normalize_text

    return normalize_text(text)


def keyword_matches(*, text: str, keywords: list[str], match: str) -> bool:
    """Case- and accent-insensitive: 'PRÉCIO' matches 'precio'."""
    normalized = _normalize(text).strip()
    for keyword in keywords:
        key = _normalize(keyword).strip()
        if not key:
            continue
        if match == AutoReplyRule.Match.EXACT and normalized == key:
            return True
        if match == AutoReplyRule.Match.CONTAINS and re.search(rf"(?<!\w){re.escape(key)}(?!\w)", normalized):
            return True
        if match == AutoReplyRule.Match.REGEX:
            try:
                if re.search(key, normalized):
                    return True
            except re.error:
                continue
    return False


def _validate_actions(actions: list[dict]) -> None:
    if not isinstance(actions, list) or not actions:
        raise ValidationFailed("A rule needs at least one action.", code="invalid_actions")
    for action in actions:
        kind = action.get("type") if isinstance(action, dict) else None
        if kind not in ACTION_TYPES:
            raise ValidationFailed(f"Unknown action {kind!r}.", code="invalid_actions")
        if kind == "reply_text" and not str(action.get("text", "")).strip():
            raise ValidationFailed("A reply action needs its text.", code="invalid_actions")
        if kind == "reply_template" and not action.get("name"):
            raise ValidationFailed("A template reply needs the template's name.", code="invalid_actions")
        if kind == "add_label" and not action.get("label"):
            raise ValidationFailed("Which label?", code="invalid_actions")
        if kind == "hand_to_ai" and not action.get("persona_id"):
            raise ValidationFailed("Which persona?", code="invalid_actions")
        if kind == "forward_integration" and not action.get("integration_id"):
            raise ValidationFailed("Which integration?", code="invalid_actions")


def rule_save(*, rule: AutoReplyRule) -> AutoReplyRule:
    if rule.trigger not in AutoReplyRule.Trigger.values:
        raise ValidationFailed(f"Unknown trigger {rule.trigger!r}.", code="invalid_trigger")
    if rule.trigger == AutoReplyRule.Trigger.KEYWORD:
        if not [k for k in rule.keywords if k.strip()]:
            raise ValidationFailed("A keyword rule needs keywords.", code="keywords_required")
        if rule.match == AutoReplyRule.Match.REGEX:
            for pattern in rule.keywords:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValidationFailed(
                        f"Bad regular expression {pattern!r}: {exc}", code="invalid_regex"
                    ) from exc
    if rule.trigger == AutoReplyRule.Trigger.NO_AGENT_REPLY and not rule.minutes:
        raise ValidationFailed("After how many minutes?", code="minutes_required")
    _validate_actions(rule.actions)
    rule.save()
    return rule


@dataclass
class Context:
    message: Message
    conversation: Conversation
    hours: BusinessHours
    is_new_contact: bool


def _conditions_hold(rule: AutoReplyRule, ctx: Context) -> bool:
    conversation = ctx.conversation
    if rule.channel_ids and conversation.channel_id not in rule.channel_ids:
        return False
    if rule.department_ids and conversation.department_id not in rule.department_ids:
        return False
    if rule.contact_tags and not set(rule.contact_tags) & set(conversation.contact.tags or []):
        return False
    if rule.statuses and conversation.status not in rule.statuses:
        return False
    return True


def _triggered(rule: AutoReplyRule, ctx: Context) -> bool:
    trigger = rule.trigger
    if trigger == AutoReplyRule.Trigger.KEYWORD:
        return keyword_matches(text=ctx.message.body, keywords=rule.keywords, match=rule.match)
    if trigger == AutoReplyRule.Trigger.FIRST_MESSAGE:
        return ctx.is_new_contact
    if trigger == AutoReplyRule.Trigger.OUTSIDE_HOURS:
        return not is_open(ctx.hours, ctx.message.created_at)
    return False  # no_agent_reply fires later, from its own delayed task


def _log(ctx: Context, event: str, detail: str = "", *, rule=None, level=AutomationLog.Level.INFO) -> None:
    AutomationLog.objects.create(
        conversation=ctx.conversation, message=ctx.message, rule=rule, level=level, event=event, detail=detail
    )


def _failure(ctx: Context, event: str, detail: str, *, rule=None) -> None:
    """A failure a person must see: logged and written as a note on the conversation."""
    _log(ctx, event, detail, rule=rule, level=AutomationLog.Level.ERROR)
    Note.objects.create(conversation=ctx.conversation, author=None, body=f"Automation: {detail}")


def _guard_key(kind: str, *parts) -> str:
    return f"automation:{kind}:{connection.schema_name}:" + ":".join(str(p) for p in parts)


def _cooldown_claim(ctx: Context, rule_id) -> bool:
    """True when this rule may answer this contact now (at most once per cooldown)."""
    if not ctx.hours.cooldown_s:
        return True
    key = _guard_key("cooldown", ctx.conversation.contact_id, rule_id)
    return bool(get_redis().set(key, 1, nx=True, ex=ctx.hours.cooldown_s))


def _loop_guard_allows(ctx: Context) -> bool:
    """Count automatic replies to a contact; past the limit within the window, automation stays silent
    (a bot on the other side answering every auto-reply would otherwise loop forever)."""
    key = _guard_key("loop", ctx.conversation.contact_id)
    redis = get_redis()
    count = redis.incr(key)
    if count == 1:
        redis.expire(key, ctx.hours.loop_window_s)
    return count <= ctx.hours.loop_limit


def _reply(ctx: Context, rule, *, kind: str, text: str = "", payload: dict | None = None) -> bool:
    from inbox.services import message_send

    if is_quiet(ctx.hours, timezone.now()):
        _log(ctx, "quiet_hours", "Automatic reply held back: quiet hours.", rule=rule)
        return False
    if not _loop_guard_allows(ctx):
        _log(
            ctx,
            "loop_guard",
            f"More than {ctx.hours.loop_limit} automatic replies to this contact within "
            f"{ctx.hours.loop_window_s} s: automation paused for them.",
            rule=rule,
            level=AutomationLog.Level.WARNING,
        )
        return False
    try:
        with transaction.atomic():
            message_send(
                conversation=ctx.conversation,
                kind=kind,
                text=text,
                payload=payload,
                sender_kind=Message.SenderKind.AUTOMATION,
            )
    except OmniDeskError as exc:
        _failure(ctx, "reply_failed", f"reply not sent ({exc.code}): {exc.message}", rule=rule)
        return False
    return True


def integration_signature(*, api_key: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(api_key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def integration_forward(*, integration: Integration, message: Message) -> str:
    """POST the message to the integration, signed with its key; returns the reply text it gave (maybe
    empty). Raises OmniDeskError on any failure."""
    from automation.services import TargetRefused, webhook_target_check

    conversation = message.conversation
    contact = conversation.contact
    body = json.dumps(
        {
            "event": "message.received",
            "message": {
                "id": message.id,
                "kind": message.kind,
                "text": message.body,
                "created_at": message.created_at.isoformat(),
            },
            "conversation": {
                "id": conversation.id,
                "channel_id": conversation.channel_id,
                "status": conversation.status,
            },
            "contact": {"id": contact.id, "phone": contact.phone, "name": contact.display_name},
        },
        separators=(",", ":"),
    ).encode()
    timestamp = int(time_module.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": INTEGRATION_USER_AGENT,
        "X-OmniDesk-Signature": integration_signature(
            api_key=integration.api_key, timestamp=timestamp, body=body
        ),
    }
    if integration.api_key:
        headers["Authorization"] = f"Bearer {integration.api_key}"
    try:
        webhook_target_check(url=integration.url)
        response = httpx.post(integration.url, content=body, headers=headers, timeout=integration.timeout_s)
    except TargetRefused as exc:
        raise OmniDeskError(str(exc), code="integration_target_refused") from exc
    except (httpx.HTTPError, OSError) as exc:
        raise OmniDeskError(f"{type(exc).__name__}: {exc}", code="integration_unreachable") from exc
    if response.status_code >= 300:
        raise OmniDeskError(
            f"{integration.name} answered HTTP {response.status_code}: {response.text[:200]}",
            code="integration_http_error",
        )
    if "json" in response.headers.get("content-type", ""):
        try:
            data = response.json()
        except ValueError as exc:
            raise OmniDeskError(
                f"{integration.name} sent invalid JSON.", code="integration_bad_response"
            ) from exc
        text = str(data.get("reply") or "") if isinstance(data, dict) else ""
    else:
        text = response.text
    return text.strip()[:MAX_INTEGRATION_REPLY]


def _run_action(ctx: Context, rule, action: dict) -> None:
    from inbox.services import conversation_assign, conversation_label

    kind = action["type"]
    if kind == "reply_text":
        _reply(ctx, rule, kind="text", text=action["text"])
    elif kind == "reply_template":
        _reply(
            ctx,
            rule,
            kind="template",
            payload={
                "name": action["name"],
                "language": action.get("language", "en"),
                "body_params": action.get("body_params", []),
            },
        )
    elif kind == "assign":
        from accounts.models import User

        user = (
            User.objects.filter(pk=action.get("user_id"), is_active=True).first()
            if action.get("user_id")
            else None
        )
        conversation_assign(
            conversation=ctx.conversation,
            assignee=user or ctx.conversation.assignee,
            department_id=action.get("department_id"),
        )
    elif kind == "add_label":
        conversation_label(conversation=ctx.conversation, add=[action["label"]])
    elif kind == "hand_to_ai":
        from ai_personas.models import Persona
        from ai_personas.services import ai_reply_enqueue, conversation_ai_start

        persona = Persona.objects.filter(pk=action["persona_id"], is_active=True).first()
        if persona is None:
            _failure(
                ctx, "persona_missing", f"persona {action['persona_id']} is missing or inactive", rule=rule
            )
            return
        conversation_ai_start(conversation=ctx.conversation, persona=persona)
        ai_reply_enqueue(message=ctx.message)
    elif kind == "forward_integration":
        integration = Integration.objects.filter(pk=action["integration_id"], is_active=True).first()
        if integration is None:
            _failure(
                ctx,
                "integration_missing",
                f"integration {action['integration_id']} is missing or off",
                rule=rule,
            )
            return
        try:
            text = integration_forward(integration=integration, message=ctx.message)
        except OmniDeskError as exc:
            _failure(
                ctx, "integration_failed", f"forward to {integration.name} failed: {exc.message}", rule=rule
            )
            return
        _log(ctx, "integration_forwarded", integration.name, rule=rule)
        if text and action.get("use_response_as_reply", True):
            _reply(ctx, rule, kind="text", text=text)
    elif kind == "emit_webhook":
        from automation.services import webhook_event_emit
        from inbox.events import conversation_payload

        webhook_event_emit(
            event_type="automation.triggered",
            data={
                "rule": {"id": rule.id, "name": rule.name} if rule else None,
                "label": action.get("event", ""),
                "message_id": ctx.message.id,
                "conversation": conversation_payload(ctx.conversation),
            },
        )


def _apply_rule(ctx: Context, rule: AutoReplyRule) -> bool:
    """Run a rule's actions; False when its cooldown for this contact is still running."""
    if any(a.get("type") in REPLY_ACTIONS for a in rule.actions) and not _cooldown_claim(ctx, rule.id):
        _log(ctx, "cooldown", f"{rule.name}: already answered this contact recently.", rule=rule)
        return False
    _log(ctx, "rule_fired", rule.name, rule=rule)
    for action in rule.actions:
        try:
            with transaction.atomic():
                _run_action(ctx, rule, action)
        except OmniDeskError as exc:
            _failure(
                ctx, "action_failed", f"{rule.name}: {action.get('type')} failed: {exc.message}", rule=rule
            )
        except Exception as exc:  # one broken action never stops the others nor kills the worker
            logger.exception("automation rule %s action %s failed", rule.pk, action.get("type"))
            _failure(
                ctx,
                "action_failed",
                f"{rule.name}: {action.get('type')} failed: {type(exc).__name__}",
                rule=rule,
            )
    return True


def rules_for_channel(channel_id: int) -> list[AutoReplyRule]:
    from django.db.models import Q

    return list(
        AutoReplyRule.objects.filter(is_active=True).filter(
            Q(channel_id=channel_id) | Q(channel__isnull=True)
        )
    )


def automation_inbound_handle(*, message_id: int) -> list[str]:
    """Everything automatic that follows one inbound message: the AI if it handles the conversation,
    otherwise the channel's rules in order, the away message, and a persona serving the channel."""
    from ai_personas.models import ConversationAI
    from ai_personas.selectors import personas_for_conversation
    from ai_personas.services import ai_reply_enqueue, conversation_ai_start

    message = (
        Message.objects.select_related("conversation__contact", "conversation__channel")
        .filter(pk=message_id, direction=Message.Direction.INBOUND)
        .first()
    )
    if message is None:
        return []
    conversation = message.conversation
    ai_state = ConversationAI.objects.filter(conversation=conversation).first()
    if ai_state is not None and ai_state.is_active:
        ai_reply_enqueue(message=message)
        return ["ai"]
    hours = business_hours_get()
    first_inbound = (
        Message.objects.filter(
            conversation__contact_id=conversation.contact_id, direction=Message.Direction.INBOUND
        )
        .order_by("created_at", "id")
        .values_list("id", flat=True)
        .first()
    )
    ctx = Context(
        message=message, conversation=conversation, hours=hours, is_new_contact=first_inbound == message.id
    )
    fired: list[str] = []
    for rule in rules_for_channel(conversation.channel_id):
        if not _conditions_hold(rule, ctx):
            continue
        if rule.trigger == AutoReplyRule.Trigger.NO_AGENT_REPLY:
            _schedule_no_agent_reply(message=message, rule=rule)
            continue
        if not _triggered(rule, ctx):
            continue
        if _apply_rule(ctx, rule):
            fired.append(rule.name)
        if rule.stop_after:
            break
    conversation.refresh_from_db()
    if not fired and not ConversationAI.objects.filter(conversation=conversation).exists():
        # A persona serving this channel answers (at 3 a.m. too) rather than the away message.
        personas = personas_for_conversation(
            channel_id=conversation.channel_id, department_id=conversation.department_id
        )
        if personas:
            conversation_ai_start(conversation=conversation, persona=personas[0])
            ai_reply_enqueue(message=message)
            return ["ai"]
    if (
        hours.is_away_message_enabled
        and hours.away_message.strip()
        and not is_open(hours, message.created_at)
        and _cooldown_claim(ctx, "away")
    ):
        _reply(ctx, None, kind="text", text=hours.away_message)
        fired.append("away_message")
    return fired


def _schedule_no_agent_reply(*, message: Message, rule: AutoReplyRule) -> None:
    from automation.tasks import check_no_agent_reply

    schema = connection.schema_name
    countdown_s = rule.minutes * 60
    transaction.on_commit(
        lambda: check_no_agent_reply.apply_async(
            args=(message.id, rule.id), countdown=countdown_s, headers={"_schema_name": schema}
        )
    )


def automation_no_agent_reply_check(*, message_id: int, rule_id: int) -> bool:
    """N minutes after a customer wrote: when no person has answered since, run the rule."""
    message = Message.objects.select_related("conversation__contact").filter(pk=message_id).first()
    rule = AutoReplyRule.objects.filter(pk=rule_id, is_active=True).first()
    if message is None or rule is None:
        return False
    conversation = message.conversation
    answered = conversation.messages.filter(
        direction=Message.Direction.OUTBOUND,
        sender_kind=Message.SenderKind.USER,
        created_at__gte=message.created_at,
    ).exists()
    newer_inbound = conversation.messages.filter(
        direction=Message.Direction.INBOUND, created_at__gt=message.created_at
    ).exists()
    if answered or newer_inbound or conversation.status == Conversation.Status.RESOLVED:
        return False  # a later message schedules its own check
    if AutomationLog.objects.filter(message=message, rule=rule, event="rule_fired").exists():
        return False  # a redelivered task: this wait was answered already
    ctx = Context(
        message=message, conversation=conversation, hours=business_hours_get(), is_new_contact=False
    )
    if not _conditions_hold(rule, ctx):
        return False
    return _apply_rule(ctx, rule)


def integration_save(*, integration: Integration) -> Integration:
    from automation.services import webhook_endpoint_validate

    # The same rules as outbound webhook URLs: absolute http(s), no credentials, no private targets.
    integration.url, _ = webhook_endpoint_validate(url=integration.url, events=[])
    integration.save()
    return integration

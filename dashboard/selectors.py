"""Reads behind the staff dashboard. Every conversation read goes through `conversations_visible_to`,
so what an agent may see is decided in one place, on the server."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import BooleanField, Count, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.models import User
from inbox.models import Contact, Conversation, Message, Note

PAGE_SIZE = 30
THREAD_PAGE_SIZE = 40
SEES_EVERYTHING = frozenset({User.Role.OWNER, User.Role.ADMIN, User.Role.MANAGER})
VIEWS = ("all", "mine", "unassigned")


def user_sees_everything(user) -> bool:
    return user.role in SEES_EVERYTHING


def department_ids_of(user) -> list[int]:
    if not hasattr(user, "_department_ids"):
        user._department_ids = list(user.departments.values_list("id", flat=True))
    return user._department_ids


def conversations_visible_to(user) -> QuerySet[Conversation]:
    """Managers, admins and owners see every conversation. Agents see their departments' conversations,
    the company-wide queue (no department) and whatever is assigned to them."""
    conversations = Conversation.objects.all()
    if user_sees_everything(user):
        return conversations
    return conversations.filter(
        Q(department_id__in=department_ids_of(user)) | Q(department__isnull=True) | Q(assignee_id=user.id)
    )


@dataclass
class RealtimeAudience:
    """Which inbox events one WebSocket may receive: everything for managers and up; for an agent, the
    events of conversations `conversations_visible_to` would show (decided per conversation, remembered)."""

    user_id: int
    sees_everything: bool
    department_ids: frozenset[int]
    known: dict[int, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, user) -> RealtimeAudience:
        everything = user_sees_everything(user)
        return cls(user.id, everything, frozenset() if everything else frozenset(department_ids_of(user)))

    def conversation_visible(self, payload: dict) -> bool:
        department_id = payload.get("department_id")
        visible = (
            department_id is None
            or department_id in self.department_ids
            or payload.get("assignee_id") == self.user_id
        )
        self.known[payload["id"]] = visible
        return visible

    def message_visible(self, conversation_id: int) -> bool | None:
        """None: unknown yet (ask `conversation_visible_by_id`)."""
        return self.known.get(conversation_id)

    def conversation_visible_by_id(self, conversation_id: int) -> bool:
        row = (
            Conversation.objects.filter(pk=conversation_id)
            .values("id", "department_id", "assignee_id")
            .first()
        )
        if row is None:
            return False
        return self.conversation_visible(row)


@dataclass(frozen=True)
class InboxFilters:
    view: str = "all"
    status: str = "open"
    assignee_id: int | None = None
    channel_id: int | None = None
    department_id: int | None = None
    label_id: int | None = None
    search: str = ""


def _filtered(user, filters: InboxFilters) -> QuerySet[Conversation]:
    conversations = conversations_visible_to(user)
    if filters.view == "mine":
        conversations = conversations.filter(assignee_id=user.id)
    elif filters.view == "unassigned":
        conversations = conversations.filter(assignee__isnull=True)
    if filters.status:
        conversations = conversations.filter(status=filters.status)
    for column, value in (
        ("assignee_id", filters.assignee_id),
        ("channel_id", filters.channel_id),
        ("department_id", filters.department_id),
    ):
        if value is not None:
            conversations = conversations.filter(**{column: value})
    if filters.label_id is not None:
        # EXISTS instead of a join: no duplicate rows, no DISTINCT over the whole list.
        through = Conversation.labels.through
        conversations = conversations.filter(
            Exists(through.objects.filter(conversation_id=OuterRef("pk"), label_id=filters.label_id))
        )
    return conversations


def _contact_match(text: str) -> Q:
    digits = "".join(ch for ch in text if ch.isdigit())
    contact_match = Q(name__icontains=text) | Q(profile_name__icontains=text)
    if len(digits) >= 3:
        contact_match |= Q(phone__contains=digits)
    return Q(contact_id__in=Contact.objects.filter(contact_match).values("id"))


def _message_match(text: str) -> QuerySet:
    """The conversation ids of the messages holding the text."""
    return Message.objects.filter(body__icontains=text).order_by().values_list("conversation_id", flat=True)


def _search_everywhere(text: str) -> Q:
    """Contact name, WhatsApp name or phone digits, or the text of any message; each side is one hashed
    subquery answered by a trigram index (migration inbox 0003_issue4). The list is then read newest
    first until a page is full: best when many (older) conversations match."""
    return _contact_match(text) | Q(id__in=_message_match(text))


def _search_matches(text: str, limit: int) -> set[int] | None:
    """The ids of every conversation whose contact or messages match, when fewer than `limit` rows match
    (a name, a phone number, a rare word: the trigram indexes answer at once), else None. Each side stops
    reading at the limit, so a common text costs little here too."""
    contacts = Conversation.objects.filter(_contact_match(text)).order_by().values_list("id", flat=True)
    ids = list(contacts[:limit].union(_message_match(text)[:limit], all=True)[:limit])
    return None if len(ids) >= limit else set(ids)


def _like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _search_recent(text: str) -> RawSQL:
    """The same condition probed conversation by conversation (messages through their conversation's
    index): best when the text is common, as the newest conversations already hold a page of matches.
    `OFFSET 0` keeps PostgreSQL from turning the probes into one hashed scan of every match."""
    digits = "".join(ch for ch in text if ch.isdigit())
    pattern = _like_pattern(text)
    phone = "OR ct.phone LIKE %s" if len(digits) >= 3 else ""
    params = [pattern, pattern] + ([_like_pattern(digits)] if phone else []) + [pattern]
    sql = f"""(
        EXISTS (SELECT 1 FROM inbox_contact ct WHERE ct.id = inbox_conversation.contact_id
                AND (UPPER(ct.name) LIKE UPPER(%s) OR UPPER(ct.profile_name) LIKE UPPER(%s) {phone}) OFFSET 0)
        OR EXISTS (SELECT 1 FROM inbox_message m WHERE m.conversation_id = inbox_conversation.id
                   AND UPPER(m.body) LIKE UPPER(%s) OFFSET 0)
    )"""
    return RawSQL(sql, params, output_field=BooleanField())


@dataclass(frozen=True)
class Cursor:
    """Keyset position in the list: newest activity first, ties broken by id."""

    last_message_at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.last_message_at.timestamp():.6f}_{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        try:
            stamp, ident = text.split("_", 1)
            return cls(datetime.fromtimestamp(float(stamp), tz=UTC), int(ident))
        except (ValueError, OverflowError, OSError):
            return None


@dataclass
class ConversationPage:
    rows: list[dict]
    next_cursor: str


ROW_FIELDS = (
    "id",
    "status",
    "priority",
    "assignee_id",
    "last_message_at",
    "last_message_preview",
    "window_expires_at",
    "unread_count",
    "contact__name",
    "contact__profile_name",
    "contact__phone",
    "contact__whatsapp_id",
    "channel__name",
    "assignee__name",
    "assignee__email",
)
STATUS_LABELS = dict(Conversation.Status.choices)
PRIORITY_LABELS = dict(Conversation.Priority.choices)


def _rows(conversations: QuerySet[Conversation]) -> list[dict]:
    """What a list row shows, as plain values in ONE query (labels as arrays beside each row): the list
    is read on every realtime event, so no model instances, no prefetch query and no per-row formatting
    in the template. Keys: id, status, status_display, priority, priority_display, assignee_id, assignee,
    last_message_at, ts, iso, hm, preview, name, phone, channel, labels [{name, color}], window_closed,
    unread_count."""
    through = Conversation.labels.through
    labels = through.objects.filter(conversation_id=OuterRef("pk")).order_by("label__name")
    values = conversations.annotate(
        label_names=ArraySubquery(labels.values("label__name")),
        label_colors=ArraySubquery(labels.values("label__color")),
    ).values(*ROW_FIELDS, "label_names", "label_colors")
    now = timezone.now()
    rows = []
    for v in values:
        at = v["last_message_at"]
        local = timezone.localtime(at)
        window = v["window_expires_at"]
        rows.append(
            {
                "id": v["id"],
                "status": v["status"],
                "status_display": STATUS_LABELS.get(v["status"], v["status"]),
                "priority": v["priority"],
                "priority_display": PRIORITY_LABELS.get(v["priority"], v["priority"]),
                "assignee_id": v["assignee_id"],
                # as User.__str__ and Contact.display_name put them
                "assignee": (v["assignee__name"] or v["assignee__email"]) if v["assignee_id"] else "",
                "last_message_at": at,
                "ts": f"{int(at.timestamp())}.{at.microsecond:06d}",
                "iso": local.isoformat(),
                "hm": local.strftime("%H:%M"),
                "preview": v["last_message_preview"],
                "name": v["contact__name"]
                or v["contact__profile_name"]
                or v["contact__phone"]
                or v["contact__whatsapp_id"],
                "phone": v["contact__phone"],
                "channel": v["channel__name"],
                "labels": [
                    {"name": name, "color": color}
                    for name, color in zip(v["label_names"], v["label_colors"], strict=True)
                ],
                "window_closed": not (window and window > now),  # as window_is_open
                "unread_count": v["unread_count"],
            }
        )
    return rows


SEARCH_EXACT_LIMIT = 1000
SEARCH_PROBE_WINDOW = 300


def conversation_page(
    *, user, filters: InboxFilters, cursor: Cursor | None = None, limit: int = PAGE_SIZE
) -> ConversationPage:
    """One page of the list with everything a row shows, in a constant number of queries (one; a search
    takes one more when the newest conversations hold a page of matches, else two)."""
    conversations = _filtered(user, filters).filter(last_message_at__isnull=False)
    if cursor is not None:
        # `<=` first: an index condition, so a deep page starts at the cursor instead of reading and
        # dropping every row before it (the OR alone is only a filter).
        conversations = conversations.filter(last_message_at__lte=cursor.last_message_at).filter(
            Q(last_message_at__lt=cursor.last_message_at)
            | Q(last_message_at=cursor.last_message_at, id__lt=cursor.id)
        )
    ordered = ("-last_message_at", "-id")
    if filters.search:
        # Probe the newest conversations first; if they hold a full page, that page is exact (the
        # window is a prefix of the same order). Otherwise read the page by the ids of every match, or,
        # when there are too many of those, walk the list with the hashed match sets.
        window = conversations.order_by(*ordered).values("id")[:SEARCH_PROBE_WINDOW]
        found = list(
            conversations.filter(id__in=window)
            .filter(_search_recent(filters.search))
            .order_by(*ordered)
            .values_list("id", flat=True)[: limit + 1]
        )
        if len(found) > limit:
            conversations = conversations.filter(id__in=found)
        elif (matches := _search_matches(filters.search, SEARCH_EXACT_LIMIT)) is not None:
            conversations = conversations.filter(id__in=matches)
        else:
            conversations = conversations.filter(_search_everywhere(filters.search))
    rows = _rows(conversations.order_by(*ordered)[: limit + 1])
    next_cursor = ""
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = Cursor(rows[-1]["last_message_at"], rows[-1]["id"]).encode()
    return ConversationPage(rows=rows, next_cursor=next_cursor)


def conversation_rows(*, user, ids: list[int], filters: InboxFilters) -> list[dict]:
    """Rows by id that match the filters (the live list refreshes the rows events touched and drops
    those that no longer belong); invisible ids are left out."""
    conversations = _filtered(user, filters).filter(id__in=ids[:PAGE_SIZE], last_message_at__isnull=False)
    if filters.search:
        conversations = conversations.filter(_search_recent(filters.search))
    return _rows(conversations.order_by("-last_message_at", "-id"))


def sidebar_counts(*, user) -> dict[str, int]:
    """Open conversations per view, and unread ones, in one query."""
    return (
        conversations_visible_to(user)
        .filter(status=Conversation.Status.OPEN)
        .aggregate(
            all=Count("id"),
            mine=Count("id", filter=Q(assignee_id=user.id)),
            unassigned=Count("id", filter=Q(assignee__isnull=True)),
            unread=Count("id", filter=Q(unread_count__gt=0)),
        )
    )


def conversation_for(*, user, conversation_id: int) -> Conversation | None:
    return (
        conversations_visible_to(user)
        .select_related("contact", "channel", "assignee", "department")
        .prefetch_related("labels")
        .filter(pk=conversation_id)
        .first()
    )


@dataclass
class ThreadItem:
    kind: str  # "message" or "note"
    created_at: datetime
    obj: Message | Note


@dataclass
class ThreadPage:
    items: list[ThreadItem]
    has_older: bool


def thread_page(
    *,
    conversation: Conversation,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = THREAD_PAGE_SIZE,
) -> ThreadPage:
    """The newest messages (or those before/after a message id) with the notes of the same span,
    oldest first. Two or three queries whatever the page holds."""
    # `raw` is the provider's whole payload, never shown: a page of 40 need not carry 40 of them.
    messages = conversation.messages.defer("raw")
    if after_id is not None:
        page = list(messages.filter(id__gt=after_id).order_by("created_at", "id")[:200])
        has_older = False
    else:
        if before_id is not None:
            pivot = conversation.messages.filter(pk=before_id).values_list("created_at", flat=True).first()
            if pivot is None:
                return ThreadPage(items=[], has_older=False)
            messages = messages.filter(created_at__lte=pivot).filter(  # `<=`: as the list's cursor
                Q(created_at__lt=pivot) | Q(created_at=pivot, id__lt=before_id)
            )
        page = list(messages.order_by("-created_at", "-id")[: limit + 1])
        has_older = len(page) > limit
        page = list(reversed(page[:limit]))
    notes = conversation.notes.select_related("author")
    if page:
        if has_older or before_id is not None:
            notes = notes.filter(created_at__gte=page[0].created_at)
        if before_id is not None:
            notes = notes.filter(created_at__lt=pivot)
        if after_id is not None:
            notes = notes.none()
    elif before_id is not None or after_id is not None:
        notes = notes.none()
    items = [ThreadItem("message", m.created_at, m) for m in page]
    items += [ThreadItem("note", n.created_at, n) for n in notes]
    items.sort(key=lambda item: item.created_at)
    return ThreadPage(items=items, has_older=has_older)


def previous_conversations(*, user, conversation: Conversation, limit: int = 5) -> list[Conversation]:
    return list(
        conversations_visible_to(user)
        .filter(contact_id=conversation.contact_id)
        .exclude(pk=conversation.pk)
        .select_related("channel")
        .order_by("-last_message_at")[:limit]
    )


def window_is_open(conversation: Conversation) -> bool:
    return bool(conversation.window_expires_at and conversation.window_expires_at > timezone.now())

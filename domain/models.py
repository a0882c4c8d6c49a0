"""Plain records shared by storage, the domain rules and the chat layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    COMPLAINT = "complaint"  # 投诉举报
    REPORT = "report"  # 曝光台
    SUGGESTION = "suggestion"  # 我要建言


class Status(StrEnum):
    NEW = "new"  # filed, nobody has taken it at its current tier
    IN_PROGRESS = "in_progress"
    WAITING_RESIDENT = "waiting_resident"  # staff asked the resident; the deadline clock pauses
    RESOLVED = "resolved"  # staff closed it; the resident may confirm or reopen
    REOPENED = "reopened"  # the resident said it is not solved
    CLOSED = "closed"  # the resident confirmed it is solved
    MERGED = "merged"  # closed as a duplicate of another open ticket (data of its MERGED event: {"into": id})
    WITHDRAWN = "withdrawn"  # the resident withdrew it (撤回) while it was open, with a reason


class Tier(StrEnum):
    GRID = "grid"
    VILLAGE = "village"
    TOWN = "town"
    DEPARTMENT = "department"


class Role(StrEnum):
    GRID_WORKER = "grid_worker"  # scope: a grid code
    VILLAGE = "village"  # scope: a village name
    TOWN = "town"  # scope: a town name
    DEPARTMENT = "department"  # scope: a department name
    OFFICIAL = "official"  # reads statistics; scope: a town, or empty for all
    ADMIN = "admin"
    INSPECTOR = "inspector"  # adds inspection records to supervised sites; scope: a town, or empty for all
    SHOP_OWNER = "shop_owner"  # sees the ratings of a shop; scope: the shop's code


class EventType(StrEnum):
    CREATED = "created"
    FOLLOWED = "followed"  # another resident tapped "me too"
    TAKEN = "taken"
    REPLIED = "replied"  # staff wrote to the resident
    RESIDENT_MESSAGE = "resident_message"  # the resident answered
    RESOLVED = "resolved"  # staff closed it
    CONFIRMED = "confirmed"  # the resident confirmed it is solved
    REOPENED = "reopened"
    RATED = "rated"
    HANDED_OVER = "handed_over"
    ESCALATED = "escalated"
    REMINDED = "reminded"  # the holder was reminded of the deadline
    # A deadline passed at a tier, recorded when it happens so later escalations cannot erase it:
    # data {"tier": "grid", "deadline": "reply" | "resolve", "due_at": unix seconds}.
    DEADLINE_MISSED = "deadline_missed"
    RETURNED = "returned"  # a department sent it back to the town command centre (退回), with a reason
    URGED = "urged"  # the town command centre or an official urged the holders (催办)
    NOTE = "note"  # an internal note: staff see it, residents never do
    MERGED = "merged"  # merged into another ticket: data {"into": id}; the kept one gets FOLLOWED events
    WITHDRAWN = "withdrawn"  # the resident withdrew it (撤回); the note is their reason
    # Its holders changed without a move by staff: someone was removed or blocked the bot, so the
    # card went to the remaining holders or the tier above: data {"reason": ..., "to": ...}.
    REASSIGNED = "reassigned"
    # The public board (domain/board.py): approved with the public text (note) and the report photos
    # left out (data {"hidden_photos": [...], "edit": bool}); or kept off the board (data {"was_public"}).
    PUBLISHED = "published"
    KEPT_PRIVATE = "kept_private"
    # Staff called the resident back (已电话联系), with a note staff see: the first response, as a reply is.
    PHONED = "phoned"
    # The resident was reminded to confirm a resolution they had not answered (CONFIRM_REMINDER_DAYS).
    CONFIRM_REMINDED = "confirm_reminded"
    # Closed without the resident's confirmation after AUTO_CLOSE_DAYS: neither solved nor rated.
    AUTO_CLOSED = "auto_closed"
    # A return visit (回访) is due: data {"visit_id", "reason": "low_rating" | "reopened_twice", "tier"}.
    VISIT_DUE = "return_visit_due"
    # Its outcome was recorded, with a note: data {"visit_id", "outcome": see VisitOutcome}.
    VISITED = "return_visited"


@dataclass(frozen=True)
class Grid:
    code: str
    name: str
    village: str
    town: str
    lat: float | None = None
    lon: float | None = None


class DeadlineUnit(StrEnum):
    """What a category's deadlines count: hours of calendar time, or working days (domain/workdays.py)."""

    HOURS = "hours"
    WORKDAYS = "workdays"


@dataclass(frozen=True)
class Category:
    code: str
    name_zh: str
    name_en: str
    department: str
    reply_within: float  # in deadline_unit
    resolve_within: float
    deadline_unit: DeadlineUnit = DeadlineUnit.HOURS

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en


@dataclass(frozen=True)
class RoleGrant:
    role: Role
    scope: str = ""


@dataclass(frozen=True)
class StaffMember:
    telegram_id: int
    name: str
    role: Role
    scope: str


@dataclass(frozen=True)
class Resident:
    telegram_id: int
    language: str | None = None
    full_name: str = ""
    username: str | None = None
    unreachable: bool = False  # they blocked the bot
    telegram_language: str | None = None
    opened_at: int | None = None  # when they first wrote to the bot; None: never

    @property
    def reachable(self) -> bool:
        """The bot can write to them: they have written to it and not blocked it since."""
        return self.opened_at is not None and not self.unreachable


class MediaKind(StrEnum):
    """What a resident or staff member may attach: photos, videos, voice messages, video notes."""

    PHOTO = "photo"
    VIDEO = "video"
    VOICE = "voice"
    VIDEO_NOTE = "video_note"  # Telegram's round video message


@dataclass(frozen=True)
class Attachment:
    file_id: str
    file_unique_id: str = ""
    kind: MediaKind = MediaKind.PHOTO


@dataclass(frozen=True)
class Ticket:
    id: int
    kind: Kind
    category_code: str
    grid_code: str
    resident_id: int
    share_contact: bool
    description: str
    lat: float | None
    lon: float | None
    status: Status
    tier: Tier
    assignee_id: int | None
    created_at: int  # Unix seconds, UTC
    first_reply_at: int | None = None
    resolved_at: int | None = None
    resolved_tier: Tier | None = None
    confirmed_at: int | None = None
    rating: int | None = None
    rating_comment: str | None = None
    reply_due_at: int | None = None
    resolve_due_at: int | None = None
    department: str | None = None
    tier_since: int | None = None
    paused_at: int | None = None
    reminded_at: int | None = None
    # When a miss of the current tier's reply or resolve deadline was recorded (DEADLINE_MISSED).
    reply_missed_at: int | None = None
    resolve_missed_at: int | None = None
    follower_count: int = 0
    attachments: tuple[Attachment, ...] = ()  # the resident's, with the description
    after_attachments: tuple[Attachment, ...] = ()  # staff's, with the resolution
    # The tier it belongs at while it is held above it because nobody there can be reached.
    waiting_tier: Tier | None = None
    # The resident's own number, shared to be called back (回电); None when not asked or erased.
    callback_phone: str | None = None
    closed_at: int | None = None  # closed for good (not merely resolved)
    confirm_reminded_at: int | None = None  # the resident was reminded to confirm the resolution

    @property
    def concerned_residents(self) -> int:
        """The filer plus everyone who tapped "me too"."""
        return 1 + self.follower_count


class VisitReason(StrEnum):
    LOW_RATING = "low_rating"  # rated 1 or 2 stars
    REOPENED_TWICE = "reopened_twice"  # "not solved" a second time


class VisitOutcome(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意


@dataclass(frozen=True)
class ReturnVisit:
    """A return visit (回访) owed to a ticket's resident by the village, or the town (`tier`)."""

    id: int
    ticket_id: int
    reason: VisitReason
    tier: Tier
    created_at: int
    visited_at: int | None = None
    visitor_id: int | None = None
    outcome: VisitOutcome | None = None


@dataclass(frozen=True)
class TicketEvent:
    ticket_id: int
    at: int
    type: EventType
    actor_id: int | None
    note: str | None = None
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    """A message owed to one person, stored in the outbox in the same transaction as its cause.

    `type` names what happened (see `bot.notices` for how each is rendered); `data` carries what
    the text needs as of that moment, so a late delivery still tells what happened then. An
    `urgent` notice (a card, a reminder, a confirmation to whoever acted) goes ahead of the chatter
    queued for the same chat.
    """

    chat_id: int
    type: str
    ticket_id: int | None = None
    data: dict = field(default_factory=dict)
    urgent: bool = False


class Decision(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"  # kept off the board (or taken off it)


@dataclass(frozen=True)
class PublicPost:
    """What staff decided the public may see of one ticket (the 曝光台 board, domain/board.py)."""

    ticket_id: int
    decision: Decision
    text: str  # the public text; empty when private
    hidden_photos: frozenset[int]  # positions of the report photos not shown
    decided_at: int
    decided_by: int

    @property
    def public(self) -> bool:
        return self.decision is Decision.PUBLIC


@dataclass(frozen=True)
class ApiKey:
    """A key of the Open311 API (domain/open311.py): only its hash is stored, never the key."""

    id: int
    name: str
    created_at: int
    revoked_at: int | None = None


@dataclass(frozen=True)
class BoardTowns:
    """The towns with a public board (BOARD_TOWNS), and those that publish suggestions as well as
    public reports (BOARD_SUGGESTIONS)."""

    towns: frozenset[str] = frozenset()
    suggestion_towns: frozenset[str] = frozenset()

    def kinds(self, town: str) -> frozenset[Kind]:
        """The kinds of ticket that may go public in `town`; never complaints (rules: domain/board.py)."""
        if town not in self.towns:
            return frozenset()
        return frozenset({Kind.REPORT, Kind.SUGGESTION}) if town in self.suggestion_towns else frozenset({Kind.REPORT})

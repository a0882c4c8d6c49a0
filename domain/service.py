"""Ticket use cases: each checks who acts, applies the state machine, and stores the change with
the notices it causes in one storage transaction. No chat code here: callers render the notices."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from domain.categories import COMMAND_CENTRE
from domain.models import (
    BoardTowns,
    EventType,
    Grid,
    Kind,
    Notice,
    Attachment,
    Role,
    ReturnVisit,
    RoleGrant,
    StaffMember,
    Status,
    Ticket,
    TicketEvent,
    Tier,
    VisitOutcome,
    VisitReason,
)
from domain.deadlines import DueAction, deadlines, due_action, missed_deadlines, next_tier, shifted
from domain.geo import valid_location
from domain.media import MAX_ATTACHMENTS, counts, sending_parts, spoken, to_data
from domain.text import clean_text, telegram_length
from domain.tickets import (
    MAX_DESCRIPTION,
    MAX_NOTE,
    OPEN_STATUSES,
    PUBLIC_KINDS,
    REOPEN_WINDOW_SECONDS,
    FALLBACK_TIER,
    TIER_OF_ROLE,
    Action,
    TransitionError,
    callback_number,
    is_api_submitter,
    may_supervise,
    may_visit,
    next_status,
    staff_may_handle,
    staff_may_view,
    tier_holder,
    visit_tier,
)
from domain.workdays import WorkCalendar
from storage.base import NewTicket, Storage, TicketChange


class TicketError(Exception):
    """Base of the errors a caller turns into a clear answer."""


class NotFound(TicketError):
    pass


class NotAllowed(TicketError):
    """This person may not do that to this ticket (wrong role, scope or tier)."""


class Conflict(TicketError):
    """The ticket is no longer in a state that allows the action (stale button, double tap)."""


class InvalidInput(TicketError):
    pass


class TooManyAnswers(TicketError):
    """The resident wrote as many answers on this ticket in the past hour as allowed."""

    def __init__(self, per_hour: int):
        super().__init__(per_hour)
        self.per_hour = per_hour


class Unstaffed(TicketError):
    """Nobody at this department (or tier) can receive tickets now: routing there would leave the
    ticket with no one."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class UrgedRecently(TicketError):
    """The ticket's holders were urged less than URGE_INTERVAL_SECONDS ago (at `at`)."""

    def __init__(self, at: int):
        super().__init__(at)
        self.at = at


class RateLimited(TicketError):
    """The resident filed as many tickets in the past hour as allowed."""

    def __init__(self, per_hour: int):
        super().__init__(per_hour)
        self.per_hour = per_hour


# Notice types; bot.notices renders each one.
NOTICE_NEW_TICKET = "new_ticket"  # the card for staff who now hold the ticket
# To the board's channel (PUBLIC_CHANNEL_ID): post, edit or delete the ticket's post (bot/channel.py),
# queued with each change of a ticket the board shows.
NOTICE_CHANNEL_POST = "channel_post"
# The public board: to village staff (the town's where the village has nobody reachable) when a
# ticket that may go public is filed and waits for their decision; to its filer once it is public.
NOTICE_AWAITS_REVIEW = "awaits_review"
NOTICE_NOW_PUBLIC = "now_public"
# The ticket's attachments, before its card: data {"part": i}, the i-th of
# domain.media.sending_parts (an album, or a voice message or video note on its own).
NOTICE_TICKET_PHOTOS = "ticket_photos"
NOTICE_TICKET_LOCATION = "ticket_location"
NOTICE_STATUS = "status"  # to the resident and followers
NOTICE_REPLY = "reply"  # staff's words to the resident
NOTICE_RESIDENT_MESSAGE = "resident_message"  # the resident's words to staff
NOTICE_AFTER_PHOTOS = "after_photos"  # staff's attachments of the finished work: data {"part": i}
# Attachments of a message (a resident's answer or addition, a staff reply), after its text: data
# {"media": domain.media.to_data of one sending part}.
NOTICE_MEDIA = "media"
NOTICE_RESOLVED = "resolved"  # asks the resident "solved?"
NOTICE_RATED = "rated"
NOTICE_REMINDER = "reminder"  # to the holders: a deadline is near or passed
# To the person who acted: what they did is stored (the ticket number, "marked resolved", "thank
# you for rating"). Written with the change, so it is told once even if the bot dies right after:
# Telegram does not deliver a press again that aiogram has confirmed. data {"event": type, ...}.
NOTICE_DONE = "done"
# A resident's answers per ticket and hour: enough to say anything, too few to flood a worker's chat.
ANSWERS_PER_HOUR = 10
# The actions confirmed that way; their handlers reply nothing else on success.
CONFIRMED_EVENTS = frozenset({
    EventType.CREATED, EventType.FOLLOWED, EventType.RESIDENT_MESSAGE, EventType.CONFIRMED, EventType.REOPENED,
    EventType.RATED, EventType.TAKEN, EventType.REPLIED, EventType.RESOLVED, EventType.HANDED_OVER,
    EventType.ESCALATED, EventType.RETURNED, EventType.MERGED, EventType.NOTE, EventType.URGED, EventType.WITHDRAWN,
    EventType.PUBLISHED, EventType.KEPT_PRIVATE, EventType.PHONED, EventType.VISITED,
})
# To the town command centre and admins: staff who have not opened the bot or blocked it, with
# how many tickets wait for them (data {"people": [{"name", "role", "scope", "blocked", "waiting"}]}).
NOTICE_UNREACHABLE_STAFF = "unreachable_staff"
NOTICE_ROLE_REMOVED = "role_removed"  # to someone removed from staff: data {"role", "scope"}
NOTICE_COMMANDS = "commands"  # resets a person's command menu to the roles they hold now
# Why a ticket's holders changed without a move by staff (EventType.REASSIGNED's data["reason"]).
PASSED_ON_REMOVED = "removed"  # a holder was removed from staff
PASSED_ON_UNREACHABLE = "unreachable"  # a holder blocked the bot or cannot be reached
PASSED_ON_OPENED = "opened"  # staff of the tier it belongs at opened the bot: it came back
NOTICE_ESCALATED_AWAY = "escalated_away"  # to the holders a ticket left by itself at its deadline
NOTICE_URGED = "urged"  # to the holders: the town command centre or an official urges them (催办)
NOTICE_MERGED = "merged"  # to the residents of a ticket merged into another
NOTICE_WITHDRAWN = "withdrawn"  # to whoever handled it: the resident withdrew it, data {"reason"}
# To the resident: a resolution waits for their answer (data {"close_at"}), with "solved?" again.
NOTICE_CONFIRM_REMINDER = "confirm_reminder"
NOTICE_AUTO_CLOSED = "auto_closed"  # to the resident: closed without their confirmation
# To the village or town: a return visit (回访) is due (data {"reason"}), with the outcome buttons.
NOTICE_RETURN_VISIT = "return_visit"
DAY_SECONDS = 86400

# One urge per ticket within this time is enough: the holders already have the message.
URGE_INTERVAL_SECONDS = 3600
# A rating of this many stars or fewer brings a return visit (回访).
LOW_RATING = 2


@dataclass(frozen=True)
class Draft:
    """What a resident's form collected, before it becomes a ticket."""

    kind: Kind
    category_code: str
    grid_code: str
    description: str
    attachments: tuple[Attachment, ...] = ()
    lat: float | None = None
    lon: float | None = None
    share_contact: bool = False
    callback_phone: str | None = None  # the resident's own number, from Telegram's contact button


@dataclass(frozen=True)
class Aftercare:
    """What follows a resolution, in days: the resident is reminded to confirm it once, then it
    closes without confirmation; a call-back number is kept this long after the ticket closed."""

    confirm_reminder_days: int = 3
    auto_close_days: int = 7
    phone_retention_days: int = 30


@dataclass(frozen=True)
class Placement:
    """Who holds a ticket now, by the one rule of `TicketService.place`."""

    tier: Tier  # the tier that holds it
    holders: list[int]  # who get its card: the reachable staff there (or admins, see `place`)
    waiting_tier: Tier | None  # the tier it belongs at, while it is held above that
    passed_over: list[StaffMember]  # staff of the tiers passed over: not opened the bot, or blocked it


def wall_clock() -> int:
    """Now, in whole seconds: the clock of the running bot and of the commands."""
    return int(time.time())


class TicketService:
    def __init__(
        self,
        storage: Storage,
        clock: Callable[[], int],
        tickets_per_hour: int = 10,
        admin_ids: frozenset[int] = frozenset(),
        timezone: ZoneInfo = ZoneInfo("Asia/Shanghai"),
        aftercare: Aftercare = Aftercare(),
        channel_id: int | None = None,
        board: BoardTowns = BoardTowns(),
    ):
        self.storage = storage
        self.clock = clock
        self.timezone = timezone  # the days of working-day deadlines are days in this zone
        self.tickets_per_hour = tickets_per_hour  # per resident; 0 means no limit
        self.admin_ids = admin_ids  # ADMIN_IDS from the settings; admins imported as staff count too
        self.aftercare = aftercare
        self.channel_id = channel_id  # PUBLIC_CHANNEL_ID: the board's mirror, told of each move
        self.board = board  # BOARD_TOWNS: where tickets of which kinds wait for a decision to go public

    # -- helpers ----------------------------------------------------------------------------------
    async def get(self, ticket_id: int) -> Ticket:
        ticket = await self.storage.get_ticket(ticket_id)
        if ticket is None:
            raise NotFound(ticket_id)
        return ticket

    async def place(self, ticket: Ticket, tier: Tier | None = None) -> Placement:
        """The one rule of who holds a ticket: the reachable staff of `tier` (by default the tier
        the ticket belongs at); where that tier has nobody reachable, the tier above, and on up to
        the town command centre, which holds it even then: its reachable admins get the card
        meanwhile, and whoever opens the bot there gets it too."""
        grid = await self.storage.get_grid(ticket.grid_code)
        wanted = tier or ticket.waiting_tier or ticket.tier
        current = wanted
        passed_over: list[StaffMember] = []
        while True:
            role, scope = tier_holder(ticket, grid, current)
            staff = await self.storage.staff_with_role(role, scope)
            holders = sorted(await self.storage.reachable([m.telegram_id for m in staff]))
            above = FALLBACK_TIER[current]
            if holders:
                break
            passed_over += staff
            if above is None:
                holders = sorted(await self.storage.reachable(await self._admin_ids()))
                break
            current = above
        return Placement(current, holders, wanted if current is not wanted else None, passed_over)

    async def holders(self, ticket: Ticket) -> list[int]:
        """Who gets news of the ticket where it is held now: its tier's reachable staff."""
        return (await self.place(ticket, ticket.tier)).holders

    async def _admin_ids(self) -> list[int]:
        return sorted(self.admin_ids | {m.telegram_id for m in await self.storage.staff_with_role(Role.ADMIN)})

    async def handlers_of(self, ticket: Ticket) -> list[int]:
        """Who works on the ticket now: whoever took it, or else every holder of its tier."""
        return [ticket.assignee_id] if ticket.assignee_id else await self.holders(ticket)

    async def residents_of(self, ticket: Ticket) -> list[int]:
        """The filer and everyone who follows the ticket."""
        return [ticket.resident_id, *await self.storage.followers(ticket.id)]

    async def department_staffed(self, department: str | None) -> bool:
        """Whether someone of the department can receive tickets now (has opened the bot and not
        blocked it). The command centre is the town itself."""
        if not department or department == COMMAND_CENTRE:
            return False
        staff = await self.storage.staff_with_role(Role.DEPARTMENT, department)
        return bool(await self.storage.reachable([m.telegram_id for m in staff]))

    async def routable_departments(self) -> tuple[list[str], list[str]]:
        """(departments the town may route to, departments without staff), sorted."""
        staffed: list[str] = []
        unstaffed: list[str] = []
        for name in await self.storage.list_departments():
            if name != COMMAND_CENTRE:
                (staffed if await self.department_staffed(name) else unstaffed).append(name)
        return staffed, unstaffed

    @staticmethod
    def card_notices(ticket: Ticket, recipients: Sequence[int], reason: str = "", passed_on: str = "",
                     **context: str) -> list[Notice]:
        """The card with its attachments and location; `passed_on` says why it came without a move
        by staff (PASSED_ON_*), `context` why it came back to the town (see bot.notices)."""
        notices: list[Notice] = []
        data = {"reason": reason, "passed_on": passed_on} if passed_on else {"reason": reason}
        parts = range(len(sending_parts(ticket.attachments)))
        for chat_id in recipients:
            notices += [Notice(chat_id, NOTICE_TICKET_PHOTOS, ticket.id, {"part": i}, urgent=True) for i in parts]
            if ticket.lat is not None and ticket.lon is not None:
                notices.append(Notice(chat_id, NOTICE_TICKET_LOCATION, ticket.id, urgent=True))
            notices.append(Notice(chat_id, NOTICE_NEW_TICKET, ticket.id, {**data, **context}, urgent=True))
        return notices

    async def _staff_ticket(self, ticket_id: int, grants: Sequence[RoleGrant]) -> tuple[Ticket, Grid]:
        ticket = await self.get(ticket_id)
        grid = await self.storage.get_grid(ticket.grid_code)
        if grid is None or not staff_may_handle(grants, ticket, grid):
            raise NotAllowed(ticket_id)
        return ticket, grid

    async def _resident_ticket(self, ticket_id: int, resident_id: int) -> Ticket:
        ticket = await self.get(ticket_id)
        if ticket.resident_id != resident_id:
            raise NotAllowed(ticket_id)
        return ticket

    async def _change(
        self,
        ticket: Ticket,
        change: TicketChange,
        event: TicketEvent,
        notices: Sequence[Notice],
    ) -> Ticket:
        # A deadline that passed unnoticed (the watcher was down) is recorded before the action.
        await self._record_misses(ticket, event.at)
        if ticket.paused_at is not None and change.status is not Status.WAITING_RESIDENT:
            # Leaving "waiting for the resident" in any way restarts the clock where it stopped.
            rules = (await self.storage.get_category(ticket.category_code), await self.work_calendar())
            change = replace(
                change,
                resume_clock=True,
                reply_due_at=change.reply_due_at or shifted(ticket.reply_due_at, ticket.paused_at, event.at, *rules),
                resolve_due_at=(change.resolve_due_at
                                or shifted(ticket.resolve_due_at, ticket.paused_at, event.at, *rules)),
            )
        if change.status is not ticket.status:
            notices = [*notices, *await self._channel_notices(ticket)]
        stored = await self.storage.change_ticket(ticket.id, ticket.status, change, event,
                                                  self._to_chats([*notices, *self._done(event)]))
        if stored is None:
            raise Conflict(ticket.id)
        return stored

    async def _review_notices(self, kind: Kind, grid: Grid) -> list[Notice]:
        """A new ticket that may go public waits for a decision: its village's reachable staff are
        told, or where there are none, its town's (domain.board.may_moderate)."""
        if kind not in self.board.kinds(grid.town):
            return []
        for role, scope in ((Role.VILLAGE, grid.village), (Role.TOWN, grid.town)):
            staff = await self.storage.staff_with_role(role, scope)
            reachable = sorted(await self.storage.reachable([m.telegram_id for m in staff]))
            if reachable:
                return [Notice(r, NOTICE_AWAITS_REVIEW, 0) for r in reachable]
        return []

    async def _channel_notices(self, ticket: Ticket) -> list[Notice]:
        """The board's channel post of the ticket to bring up to date, if the board shows it."""
        if self.channel_id is None or ticket.kind not in PUBLIC_KINDS:
            return []
        post = await self.storage.public_post(ticket.id)
        return [Notice(self.channel_id, NOTICE_CHANNEL_POST, ticket.id)] if post is not None and post.public else []

    @staticmethod
    def _to_chats(notices: Sequence[Notice]) -> list[Notice]:
        """The notices someone can be sent: not those for the filer of a ticket filed through the
        Open311 API, who follows it there."""
        return [n for n in notices if not is_api_submitter(n.chat_id)]

    @staticmethod
    def _done(event: TicketEvent) -> list[Notice]:
        """The confirmation (NOTICE_DONE) for the person who acted, if the action has one."""
        if event.actor_id is None or event.type not in CONFIRMED_EVENTS:
            return []
        data = {"event": event.type.value, **event.data, "with_note": event.note is not None}
        return [Notice(event.actor_id, NOTICE_DONE, event.ticket_id, data, urgent=True)]

    def _next(self, ticket: Ticket, action: Action) -> Status:
        try:
            return next_status(ticket.status, action)
        except TransitionError:
            raise Conflict(ticket.id) from None

    @staticmethod
    def _status_notices(residents: Sequence[int], ticket: Ticket, status: Status, **moved_to: str) -> list[Notice]:
        """"Your ticket is now …", with where it moved (`grid=` or `tier=`) when it did."""
        return [Notice(r, NOTICE_STATUS, ticket.id, {"status": status.value, **moved_to}) for r in residents]

    async def work_calendar(self) -> WorkCalendar:
        return WorkCalendar(self.timezone, await self.storage.calendar_days())

    async def _deadlines_from(self, ticket: Ticket, start: int) -> tuple[int | None, int | None]:
        category = await self.storage.get_category(ticket.category_code)
        return deadlines(category, start, await self.work_calendar()) if category else (None, None)

    def _check_message(self, text: str, attachments: Sequence[Attachment]) -> str:
        """A message's text (may be empty when something is attached) after the checks."""
        if len(attachments) > MAX_ATTACHMENTS:
            raise InvalidInput("too many attachments")
        return self._check_text(text, MAX_NOTE) if text or not attachments else ""

    @staticmethod
    def _media_notices(recipients: Sequence[int], ticket: Ticket, attachments: Sequence[Attachment]) -> list[Notice]:
        """A message's attachments, after its text: one notice for each part as it is sent."""
        return [Notice(r, NOTICE_MEDIA, ticket.id, {"media": to_data(part)})
                for r in recipients for part in sending_parts(attachments)]

    @staticmethod
    def _attached(attachments: Sequence[Attachment]) -> dict:
        """An event's record of what was attached to its message (its history shows the counts)."""
        return {"attachments": to_data(attachments)} if attachments else {}

    @staticmethod
    def _check_text(text: str, limit: int) -> str:
        text = clean_text(text)
        if not text:
            raise InvalidInput("empty")
        if telegram_length(text) > limit:
            raise InvalidInput("too long")
        return text

    def _first_reply(self, ticket: Ticket, now: int) -> int | None:
        return now if ticket.first_reply_at is None else None

    async def _check_filing_limit(self, resident_id: int, source_key: str | None, now: int) -> None:
        # An update delivered again files nothing new, so it must not be refused either.
        if not self.tickets_per_hour or (source_key and await self.storage.ticket_for_source(source_key)):
            return
        if await self.storage.tickets_filed_since(resident_id, now - 3600) >= self.tickets_per_hour:
            raise RateLimited(self.tickets_per_hour)

    # -- resident ---------------------------------------------------------------------------------
    async def file(self, resident_id: int, draft: Draft, source_key: str | None = None) -> tuple[Ticket, bool]:
        """Store a new ticket and queue its card for the grid's workers. Returns (ticket, created)."""
        description = (self._check_text(draft.description, MAX_DESCRIPTION)
                       if draft.description or not spoken(draft.attachments) else "")
        if (draft.lat is None) != (draft.lon is None) or (
            draft.lat is not None and not valid_location(draft.lat, draft.lon)
        ):
            raise InvalidInput("location")
        if len(draft.attachments) > MAX_ATTACHMENTS:
            raise InvalidInput("too many attachments")
        if draft.callback_phone is not None and callback_number(draft.callback_phone) != draft.callback_phone:
            raise InvalidInput("phone")
        grid = await self.storage.get_grid(draft.grid_code)
        category = await self.storage.get_category(draft.category_code)
        if grid is None or category is None:
            raise NotFound(draft.grid_code if grid is None else draft.category_code)
        now = self.clock()
        await self._check_filing_limit(resident_id, source_key, now)
        reply_due, resolve_due = deadlines(category, now, await self.work_calendar())
        # The card needs the stored ticket's id; notices get it from storage in the same transaction.
        draft_ticket = Ticket(
            id=0, kind=draft.kind, category_code=category.code, grid_code=grid.code,
            resident_id=resident_id, share_contact=draft.share_contact, description=description,
            lat=draft.lat, lon=draft.lon, status=Status.NEW, tier=Tier.GRID, assignee_id=None,
            created_at=now, department=category.department, attachments=draft.attachments,
        )
        placement = await self.place(draft_ticket, Tier.GRID)
        new = NewTicket(
            kind=draft.kind,
            category_code=category.code,
            grid_code=grid.code,
            resident_id=resident_id,
            description=description,
            share_contact=draft.share_contact,
            lat=draft.lat,
            lon=draft.lon,
            attachments=draft.attachments,
            reply_due_at=reply_due,
            resolve_due_at=resolve_due,
            department=category.department,
            tier=placement.tier,
            waiting_tier=placement.waiting_tier,
            source_key=source_key,
            callback_phone=draft.callback_phone,
        )
        draft_ticket = replace(draft_ticket, tier=placement.tier)
        filed = TicketEvent(0, now, EventType.CREATED, resident_id, None, {"tier": placement.tier.value})
        ticket, created = await self.storage.create_ticket(
            new, now, self._to_chats(self.card_notices(draft_ticket, placement.holders) + self._done(filed)
                                     + await self._review_notices(draft.kind, grid))
        )
        if created:
            await self._warn_passed_over(ticket, placement, now)
        return ticket, created

    async def follow(self, ticket_id: int, resident_id: int) -> Ticket:
        ticket = await self.get(ticket_id)
        if ticket.resident_id == resident_id:
            raise NotAllowed(ticket_id)  # the filer would count twice among its residents
        if ticket.status not in OPEN_STATUSES:
            raise Conflict(ticket_id)
        event = TicketEvent(ticket.id, self.clock(), EventType.FOLLOWED, resident_id)
        if not await self.storage.add_follower(ticket.id, resident_id, event, self._done(event)):
            raise Conflict(ticket_id)
        return await self.get(ticket_id)

    async def resident_message(self, ticket_id: int, resident_id: int, text: str,
                               attachments: Sequence[Attachment] = (), addition: bool = False) -> Ticket:
        """The resident answers staff, or adds to the ticket on their own (`addition`): text,
        attachments or both. A ticket that waited for the answer runs again."""
        ticket = await self._resident_ticket(ticket_id, resident_id)
        text = self._check_message(text, attachments)
        status = self._next(ticket, Action.RESIDENT_ANSWER)
        now = self.clock()
        answers = [e for e in await self.storage.events(ticket.id)
                   if e.type is EventType.RESIDENT_MESSAGE and e.at > now - 3600]
        if len(answers) >= ANSWERS_PER_HOUR:
            raise TooManyAnswers(ANSWERS_PER_HOUR)
        recipients = await self.handlers_of(ticket)
        data = {"text": text, "media": counts(attachments), "addition": addition}
        notices = [Notice(r, NOTICE_RESIDENT_MESSAGE, ticket.id, data) for r in recipients]
        notices += self._media_notices(recipients, ticket, attachments)
        event = TicketEvent(ticket.id, now, EventType.RESIDENT_MESSAGE, resident_id, text or None,
                            {**({"addition": True} if addition else {}), **self._attached(attachments)})
        if status == ticket.status:
            await self.storage.record_event(event, notices + self._done(event))
            return ticket
        return await self._change(ticket, TicketChange(status=status), event, notices)

    async def withdraw(self, ticket_id: int, resident_id: int, reason: str) -> Ticket:
        """The filer withdraws an open ticket (撤回) with a reason: whoever handled it is told
        (with the reason), followers read the new status; it leaves every queue."""
        ticket = await self._resident_ticket(ticket_id, resident_id)
        reason = self._check_text(reason, MAX_NOTE)
        status = self._next(ticket, Action.WITHDRAW)
        now = self.clock()
        notices = [Notice(s, NOTICE_WITHDRAWN, ticket.id, {"reason": reason}, urgent=True)
                   for s in await self.handlers_of(ticket)]
        notices += self._status_notices(await self.storage.followers(ticket.id), ticket, status)
        return await self._change(
            ticket, TicketChange(status=status),
            TicketEvent(ticket.id, now, EventType.WITHDRAWN, resident_id, reason), notices,
        )

    async def confirm(self, ticket_id: int, resident_id: int) -> Ticket:
        ticket = await self._resident_ticket(ticket_id, resident_id)
        status = self._next(ticket, Action.CONFIRM)
        now = self.clock()
        followers = await self.storage.followers(ticket.id)
        return await self._change(
            ticket,
            TicketChange(status=status, confirmed_at=now),
            TicketEvent(ticket.id, now, EventType.CONFIRMED, resident_id),
            self._status_notices(followers, ticket, status),
        )

    async def reopen(self, ticket_id: int, resident_id: int, reason: str) -> Ticket:
        ticket = await self._resident_ticket(ticket_id, resident_id)
        reason = self._check_text(reason, MAX_NOTE)
        status = self._next(ticket, Action.REOPEN)
        now = self.clock()
        if ticket.resolved_at is not None and now - ticket.resolved_at > REOPEN_WINDOW_SECONDS:
            raise Conflict(ticket_id)
        # "Not solved" goes one tier above the tier that resolved it (departments stay on top).
        resolved_tier = ticket.resolved_tier or ticket.tier
        tier = next_tier(resolved_tier) or resolved_tier
        reply_due, resolve_due = await self._deadlines_from(ticket, now)
        placement = await self.place(ticket, tier)
        reopened = replace(ticket, status=status, tier=placement.tier)
        followers = await self.storage.followers(ticket.id)
        notices = self.card_notices(reopened, placement.holders, reason)
        notices += self._status_notices(followers, ticket, status)
        earlier = [e for e in await self.storage.events(ticket.id) if e.type is EventType.REOPENED]
        visit, visitors = await self._return_visit(ticket, VisitReason.REOPENED_TWICE) if len(earlier) == 1 else (None, [])
        stored = await self._change(
            ticket,
            TicketChange(
                status=status, tier=placement.tier, waiting_tier=placement.waiting_tier, clear_assignee=True,
                tier_since=now, reply_due_at=reply_due, resolve_due_at=resolve_due, new_deadline_window=True,
                resume_clock=True, return_visit=visit,
            ),
            TicketEvent(ticket.id, now, EventType.REOPENED, resident_id, reason),
            notices + visitors,
        )
        await self._warn_passed_over(stored, placement, now)
        return stored

    async def rate(self, ticket_id: int, resident_id: int, stars: int, comment: str | None = None) -> Ticket:
        ticket = await self._resident_ticket(ticket_id, resident_id)
        if not 1 <= stars <= 5:
            raise InvalidInput("stars")
        # Only what the resident confirmed is rated: not a ticket closed without their answer.
        if (ticket.rating is not None and comment is None) or ticket.confirmed_at is None:
            raise Conflict(ticket_id)
        if comment is not None:
            comment = self._check_text(comment, MAX_NOTE)
        status = self._next(ticket, Action.RATE)
        now = self.clock()
        staff = await self.handlers_of(ticket)
        low = ticket.rating is None and stars <= LOW_RATING
        visit, visitors = await self._return_visit(ticket, VisitReason.LOW_RATING) if low else (None, [])
        return await self._change(
            ticket,
            TicketChange(status=status, rating=stars, rating_comment=comment, return_visit=visit),
            TicketEvent(ticket.id, now, EventType.RATED, resident_id, comment, {"stars": stars}),
            [Notice(s, NOTICE_RATED, ticket.id, {"stars": stars, "comment": comment or ""}) for s in staff] + visitors,
        )

    # -- staff ------------------------------------------------------------------------------------
    async def take(self, ticket_id: int, actor_id: int, grants: Sequence[RoleGrant]) -> Ticket:
        ticket, _ = await self._staff_ticket(ticket_id, grants)
        status = self._next(ticket, Action.TAKE)
        now = self.clock()
        return await self._change(
            ticket,
            TicketChange(status=status, assignee_id=actor_id),
            TicketEvent(ticket.id, now, EventType.TAKEN, actor_id),
            self._status_notices(await self.residents_of(ticket), ticket, status),
        )

    async def reply(
        self, ticket_id: int, actor_id: int, grants: Sequence[RoleGrant], text: str, ask: bool = False,
        attachments: Sequence[Attachment] = (),
    ) -> Ticket:
        """Write to the resident (text, a voice message, or both). With `ask`, the ticket waits
        for the resident's answer."""
        ticket, _ = await self._staff_ticket(ticket_id, grants)
        if ask and is_api_submitter(ticket.resident_id):
            raise NotAllowed(ticket_id)  # no answer could come: the clock would stop for good
        text = self._check_message(text, attachments)
        status = self._next(ticket, Action.ASK if ask else Action.REPLY)
        now = self.clock()
        change = TicketChange(
            status=status,
            first_reply_at=self._first_reply(ticket, now),
            assignee_id=actor_id if ticket.assignee_id is None else None,
            paused_at=now if ask and ticket.paused_at is None else None,
        )
        notices = [Notice(ticket.resident_id, NOTICE_REPLY, ticket.id,
                          {"text": text, "ask": ask, "media": counts(attachments)})]
        notices += self._media_notices([ticket.resident_id], ticket, attachments)
        return await self._change(
            ticket,
            change,
            TicketEvent(ticket.id, now, EventType.REPLIED, actor_id, text or None,
                        {"ask": ask, **self._attached(attachments)}),
            notices,
        )

    async def resolve(
        self,
        ticket_id: int,
        actor_id: int,
        grants: Sequence[RoleGrant],
        note: str,
        after: Sequence[Attachment] = (),
    ) -> Ticket:
        ticket, _ = await self._staff_ticket(ticket_id, grants)
        note = self._check_text(note, MAX_NOTE)
        if len(after) > MAX_ATTACHMENTS:
            raise InvalidInput("too many attachments")
        status = self._next(ticket, Action.RESOLVE)
        now = self.clock()
        followers = await self.storage.followers(ticket.id)
        notices = [Notice(ticket.resident_id, NOTICE_AFTER_PHOTOS, ticket.id, {"part": i})
                   for i in range(len(sending_parts(after)))]
        notices.append(Notice(ticket.resident_id, NOTICE_RESOLVED, ticket.id, {"note": note}))
        notices += self._status_notices(followers, ticket, status)
        return await self._change(
            ticket,
            TicketChange(
                status=status,
                resolved_at=now,
                resolved_tier=ticket.tier,
                first_reply_at=self._first_reply(ticket, now),
                assignee_id=actor_id if ticket.assignee_id is None else None,
                after_attachments=tuple(after),
            ),
            TicketEvent(ticket.id, now, EventType.RESOLVED, actor_id, note),
            notices,
        )

    async def add_note(self, ticket_id: int, actor_id: int, grants: Sequence[RoleGrant], text: str) -> Ticket:
        """An internal note on the ticket's history: staff of its area see it, residents never."""
        ticket = await self.get(ticket_id)
        if not staff_may_view(grants, ticket, await self.storage.get_grid(ticket.grid_code)):
            raise NotAllowed(ticket_id)
        text = self._check_text(text, MAX_NOTE)
        event = TicketEvent(ticket.id, self.clock(), EventType.NOTE, actor_id, text)
        await self.storage.record_event(event, self._done(event))
        return ticket

    async def phoned(self, ticket_id: int, actor_id: int, grants: Sequence[RoleGrant], note: str) -> Ticket:
        """Staff called the resident back (已电话联系): a note for staff, and the first response to
        the resident if nothing answered them before, as a reply would be."""
        ticket, _ = await self._staff_ticket(ticket_id, grants)
        note = self._check_text(note, MAX_NOTE)
        status = self._next(ticket, Action.PHONE)
        now = self.clock()
        notices = self._status_notices(await self.residents_of(ticket), ticket, status) if status != ticket.status else []
        return await self._change(
            ticket,
            TicketChange(status=status, first_reply_at=self._first_reply(ticket, now),
                         assignee_id=actor_id if ticket.assignee_id is None else None),
            TicketEvent(ticket.id, now, EventType.PHONED, actor_id, note),
            notices,
        )

    async def hand_over_target(self, ticket_id: int, grants: Sequence[RoleGrant], grid_code: str) -> tuple[Ticket, Grid]:
        """The ticket and the grid this person may hand it to, or the error why not."""
        ticket, grid = await self._staff_ticket(ticket_id, grants)
        if ticket.tier is not Tier.GRID or grid_code == ticket.grid_code:
            raise Conflict(ticket_id)
        target = await self.storage.get_grid(grid_code)
        if target is None:
            raise NotFound(grid_code)
        if target.town != grid.town:
            raise NotAllowed(ticket_id)  # hand-over stays within the town; beyond it is escalation
        return ticket, target

    async def hand_over(
        self, ticket_id: int, actor_id: int, grants: Sequence[RoleGrant], grid_code: str, reason: str = ""
    ) -> Ticket:
        """Move a grid-tier ticket to another grid, e.g. when the resident scanned the wrong code."""
        ticket, target = await self.hand_over_target(ticket_id, grants, grid_code)
        reason = self._check_text(reason, MAX_NOTE) if reason else ""
        status = self._next(ticket, Action.HAND_OVER)
        now = self.clock()
        placement = await self.place(replace(ticket, grid_code=target.code), Tier.GRID)
        moved = replace(ticket, grid_code=target.code, status=status, tier=placement.tier)
        notices = self.card_notices(moved, placement.holders, reason)
        notices += self._status_notices(await self.residents_of(ticket), ticket, status, grid=target.code)
        stored = await self._change(
            ticket,
            TicketChange(status=status, grid_code=target.code, tier=placement.tier,
                         waiting_tier=placement.waiting_tier, clear_assignee=True),
            TicketEvent(
                ticket.id, now, EventType.HANDED_OVER, actor_id, reason or None,
                {"from": ticket.grid_code, "to": target.code},
            ),
            notices,
        )
        await self._warn_passed_over(stored, placement, now)
        return stored

    async def escalate(
        self,
        ticket_id: int,
        actor_id: int | None,
        grants: Sequence[RoleGrant] = (),
        reason: str = "",
        department: str | None = None,
    ) -> Ticket:
        """Move the ticket up one tier: by staff (with a reason), or by the deadline watcher
        (`actor_id` None). From the town it goes to `department`, by default the category's."""
        if actor_id is None:
            ticket = await self.get(ticket_id)
        else:
            ticket, _ = await self._staff_ticket(ticket_id, grants)
            reason = self._check_text(reason, MAX_NOTE)
        tier = next_tier(ticket.tier)
        if tier is None:
            raise Conflict(ticket_id)
        target_department = (department or ticket.department) if tier is Tier.DEPARTMENT else ticket.department
        if tier is Tier.DEPARTMENT and not await self.department_staffed(target_department):
            raise Unstaffed(target_department or "")  # the ticket stays with the town
        event = TicketEvent(
            ticket.id, self.clock(), EventType.ESCALATED, actor_id, reason or None,
            {"from": ticket.tier.value, "to": tier.value, "automatic": actor_id is None}
            # The department it is sent to: statistics count it there as of any later date.
            | ({"department": target_department} if tier is Tier.DEPARTMENT else {}),
        )
        return await self._move(ticket, Action.ESCALATE, tier, target_department, event, reason)

    async def return_to_town(self, ticket_id: int, actor_id: int, grants: Sequence[RoleGrant], reason: str) -> Ticket:
        """A department sends back a ticket that is not its business (退回): the town command centre
        gets the card with the reason and routes it again."""
        ticket, _ = await self._staff_ticket(ticket_id, grants)
        reason = self._check_text(reason, MAX_NOTE)
        if ticket.tier is not Tier.DEPARTMENT:
            raise Conflict(ticket_id)
        event = TicketEvent(
            ticket.id, self.clock(), EventType.RETURNED, actor_id, reason,
            {"from": ticket.department, "to": Tier.TOWN.value},
        )
        return await self._move(
            ticket, Action.RETURN, Tier.TOWN, ticket.department, event, reason, returned_by=ticket.department or ""
        )

    async def _move(self, ticket: Ticket, action: Action, tier: Tier, department: str | None,
                    event: TicketEvent, reason: str, **context: str) -> Ticket:
        """Give the ticket to `tier` with fresh deadlines: its holders get the card, the residents a
        status line (never the reason: it is internal)."""
        status = self._next(ticket, action)
        reply_due, resolve_due = await self._deadlines_from(ticket, event.at)
        placement = await self.place(replace(ticket, department=department), tier)
        moved = replace(ticket, status=status, tier=placement.tier, department=department)
        notices = self.card_notices(moved, placement.holders, reason, **context)
        notices += self._status_notices(await self.residents_of(ticket), ticket, status, tier=placement.tier.value)
        if event.actor_id is None:  # nobody moved it: those who held it learn it is no longer theirs
            previous = await self.handlers_of(ticket)
            notices += [Notice(p, NOTICE_ESCALATED_AWAY, ticket.id, {"to": placement.tier.value}, urgent=True)
                        for p in previous]
        stored = await self._change(
            ticket,
            TicketChange(
                status=status, tier=placement.tier, waiting_tier=placement.waiting_tier, department=department,
                clear_assignee=True, tier_since=event.at, reply_due_at=reply_due, resolve_due_at=resolve_due,
                new_deadline_window=True,
            ),
            replace(event, data={**event.data, "to": placement.tier.value}),
            notices,
        )
        await self._warn_passed_over(stored, placement, event.at)
        return stored

    async def _overdue(self, ticket: Ticket) -> None:
        """Past its resolve deadline a ticket goes up one tier. A department's goes back under the
        town's supervision (督办); the town keeps one whose department cannot take it or returned it."""
        now = self.clock()
        if ticket.tier is Tier.DEPARTMENT:
            event = TicketEvent(
                ticket.id, now, EventType.ESCALATED, None, None,
                {"from": Tier.DEPARTMENT.value, "to": Tier.TOWN.value, "automatic": True, "supervision": True},
            )
            await self._move(ticket, Action.ESCALATE, Tier.TOWN, ticket.department, event, "",
                             supervision=ticket.department or "")
            return
        if ticket.tier is Tier.TOWN:
            returned = any(
                e.type is EventType.RETURNED and e.data.get("from") == ticket.department
                for e in await self.storage.events(ticket.id)
            )
            if returned or not await self.department_staffed(ticket.department):
                await self._keep_at_town(ticket, now)
                return
        await self.escalate(ticket.id, None)

    async def _keep_at_town(self, ticket: Ticket, now: int) -> None:
        """The town stays the holder with a fresh deadline and gets the card again, to route it."""
        reply_due, resolve_due = await self._deadlines_from(ticket, now)
        await self._change(
            ticket,
            TicketChange(
                status=ticket.status, tier_since=now, reply_due_at=reply_due, resolve_due_at=resolve_due,
                new_deadline_window=True,
            ),
            TicketEvent(ticket.id, now, EventType.REMINDED, None, None,
                        {"resolve_due_at": resolve_due, "unrouted": ticket.department}),
            self.card_notices(ticket, await self.holders(ticket), unrouted=ticket.department or ""),
        )

    async def urge(self, ticket_id: int, actor_id: int, grants: Sequence[RoleGrant]) -> None:
        """The town command centre or an official urges the holders (催办), at most once an hour per
        ticket."""
        ticket = await self.get(ticket_id)
        grid = await self.storage.get_grid(ticket.grid_code)
        if grid is None or not may_supervise(grants, grid):
            raise NotAllowed(ticket_id)
        if ticket.status not in OPEN_STATUSES:
            raise Conflict(ticket_id)
        now = self.clock()
        urged = [e.at for e in await self.storage.events(ticket.id) if e.type is EventType.URGED]
        if urged and now - urged[-1] < URGE_INTERVAL_SECONDS:
            raise UrgedRecently(urged[-1])
        recipients = await self.handlers_of(ticket)
        if not recipients:
            raise Unstaffed(tier_holder(ticket, grid)[1])
        event = TicketEvent(ticket.id, now, EventType.URGED, actor_id, None, {"holders": recipients})
        await self.storage.record_event(
            event, [Notice(r, NOTICE_URGED, ticket.id, urgent=True) for r in recipients] + self._done(event)
        )

    async def merge(self, ticket_id: int, into_id: int, actor_id: int, grants: Sequence[RoleGrant]) -> Ticket:
        """Close a duplicate as merged into another open ticket of the same grid: its filer and
        followers follow the kept one and are told. Returns the kept ticket."""
        if ticket_id == into_id:
            raise InvalidInput("same ticket")
        ticket, _ = await self._staff_ticket(ticket_id, grants)
        kept, _ = await self._staff_ticket(into_id, grants)
        if kept.grid_code != ticket.grid_code:
            raise NotAllowed(into_id)
        if kept.status not in OPEN_STATUSES:
            raise Conflict(into_id)
        self._next(ticket, Action.MERGE)
        now = self.clock()
        residents = await self.residents_of(ticket)
        already = set(await self.residents_of(kept))
        follows = [
            TicketEvent(kept.id, now, EventType.FOLLOWED, r, None, {"merged_from": ticket.id})
            for r in residents
            if r not in already
        ]
        await self._record_misses(ticket, now)  # as `_change` does before any action
        merged = TicketEvent(ticket.id, now, EventType.MERGED, actor_id, None, {"into": kept.id})
        notices = [Notice(r, NOTICE_MERGED, ticket.id, {"into": kept.id}) for r in residents] + self._done(merged)
        notices += await self._channel_notices(ticket)  # merged: off the board
        if not await self.storage.merge_ticket(ticket.id, ticket.status, kept.id, merged, follows, self._to_chats(notices)):
            raise Conflict(ticket_id)
        return await self.get(kept.id)

    async def run_deadlines(self) -> tuple[int, int]:
        """Escalate what is overdue and remind holders of what is near: each exactly once, because
        every change is a compare-and-set on the stored ticket. Returns (escalated, reminded)."""
        now = self.clock()
        escalated = reminded = 0
        for ticket in await self.storage.tickets_due(now):
            due = due_action(ticket, now)
            if due is None:
                await self._record_misses(ticket, now)
                continue
            try:
                if due.action is DueAction.ESCALATE:
                    await self._overdue(ticket)
                    escalated += 1
                else:
                    await self._remind(ticket, now, due.reply_overdue)
                    reminded += 1
            except Conflict:
                continue  # someone acted on it meanwhile
        return escalated, reminded

    async def _record_misses(self, ticket: Ticket, now: int) -> None:
        """One DEADLINE_MISSED event per tier and deadline, when it is first noticed; storage
        writes it only once, whoever notices it first."""
        for deadline, due_at in missed_deadlines(ticket, now):
            data = {"tier": ticket.tier.value, "deadline": deadline.value, "due_at": due_at}
            await self.storage.record_deadline_miss(
                TicketEvent(ticket.id, now, EventType.DEADLINE_MISSED, None, None, data)
            )

    async def _remind(self, ticket: Ticket, now: int, reply_overdue: bool) -> None:
        recipients = await self.handlers_of(ticket)
        data = {"resolve_due_at": ticket.resolve_due_at, "reply_overdue": reply_overdue}
        await self._change(
            ticket,
            TicketChange(status=ticket.status, reminded_at=now),
            TicketEvent(ticket.id, now, EventType.REMINDED, None, None, data),
            [Notice(r, NOTICE_REMINDER, ticket.id, data, urgent=True) for r in recipients],
        )

    # -- after the resolution: confirming, closing, return visits (回访) ----------------------------
    async def run_aftercare(self) -> tuple[int, int, int]:
        """Remind residents of resolutions they have not answered, once each; close those still
        unanswered as closed without confirmation; erase call-back numbers kept long enough. Each
        change is a compare-and-set on the stored ticket, so a restart neither reminds nor closes
        twice. Returns (reminded, closed, numbers erased)."""
        now, rules = self.clock(), self.aftercare
        remind_before = now - rules.confirm_reminder_days * DAY_SECONDS
        close_before = now - rules.auto_close_days * DAY_SECONDS
        reminded = closed = 0
        for ticket in await self.storage.tickets_unconfirmed(remind_before, close_before):
            try:
                if ticket.resolved_at is not None and ticket.resolved_at <= close_before:
                    await self._close_unconfirmed(ticket, now)
                    closed += 1
                else:
                    await self._remind_to_confirm(ticket, now)
                    reminded += 1
            except Conflict:
                continue  # the resident answered meanwhile
        erased = await self.storage.erase_callback_phones(now - rules.phone_retention_days * DAY_SECONDS)
        return reminded, closed, erased

    async def _remind_to_confirm(self, ticket: Ticket, now: int) -> None:
        close_at = (ticket.resolved_at or now) + self.aftercare.auto_close_days * DAY_SECONDS
        await self._change(
            ticket,
            TicketChange(status=ticket.status, confirm_reminded_at=now),
            TicketEvent(ticket.id, now, EventType.CONFIRM_REMINDED, None),
            [Notice(ticket.resident_id, NOTICE_CONFIRM_REMINDER, ticket.id, {"close_at": close_at})],
        )

    async def _close_unconfirmed(self, ticket: Ticket, now: int) -> None:
        status = self._next(ticket, Action.AUTO_CLOSE)
        followers = await self.storage.followers(ticket.id)
        await self._change(
            ticket,
            TicketChange(status=status),
            TicketEvent(ticket.id, now, EventType.AUTO_CLOSED, None, None, {"days": self.aftercare.auto_close_days}),
            [Notice(ticket.resident_id, NOTICE_AUTO_CLOSED, ticket.id, {"days": self.aftercare.auto_close_days}),
             *self._status_notices(followers, ticket, status)],
        )

    async def _return_visit(self, ticket: Ticket, reason: VisitReason) -> tuple[tuple[VisitReason, Tier], list[Notice]]:
        """A return visit to open with a change, and the notices for who pays it: the reachable
        staff of the village (or the town), or of the tiers above when nobody there is reachable."""
        tier = visit_tier(ticket)
        visitors = (await self.place(ticket, tier)).holders
        return (reason, tier), [Notice(v, NOTICE_RETURN_VISIT, ticket.id, {"reason": reason.value}, urgent=True)
                                for v in visitors]

    async def visit_to_record(self, visit_id: int, grants: Sequence[RoleGrant]) -> ReturnVisit:
        """The return visit this person may record now, or the error why not."""
        visit = await self.storage.get_return_visit(visit_id)
        if visit is None:
            raise NotFound(visit_id)
        ticket = await self.get(visit.ticket_id)
        grid = await self.storage.get_grid(ticket.grid_code)
        if grid is None or not may_visit(grants, visit, grid):
            raise NotAllowed(ticket.id)
        if visit.visited_at is not None:
            raise Conflict(ticket.id)
        return visit

    async def record_visit(self, visit_id: int, actor_id: int, grants: Sequence[RoleGrant],
                           outcome: VisitOutcome, note: str) -> ReturnVisit:
        """The village (or town) contacted the resident and records how satisfied they are now."""
        visit = await self.visit_to_record(visit_id, grants)
        note = self._check_text(note, MAX_NOTE)
        event = TicketEvent(visit.ticket_id, self.clock(), EventType.VISITED, actor_id, note,
                            {"visit_id": visit.id, "reason": visit.reason.value, "outcome": outcome.value})
        if not await self.storage.record_return_visit(visit.id, outcome, event, self._done(event)):
            raise Conflict(visit.ticket_id)
        return replace(visit, visited_at=event.at, visitor_id=actor_id, outcome=outcome)

    # -- reachable holders ------------------------------------------------------------------------
    async def _warn_passed_over(self, ticket: Ticket, placement: Placement, now: int) -> None:
        """Tell the town command centre and admins who was passed over and how many tickets wait
        for them: once a day per person and state, not once per ticket."""
        people = []
        for member in placement.passed_over:
            user = await self.storage.get_user(member.telegram_id)
            blocked = user is not None and user.unreachable
            key = f"passed_over:{member.telegram_id}:{member.role.value}:{member.scope}"
            value = f"{now // 86400}:{'blocked' if blocked else 'not_opened'}"
            if await self.storage.get_value(key) == value:
                continue
            await self.storage.set_value(key, value)
            if member.role is Role.TOWN:  # the top: its tickets wait where they are
                waiting = len(await self.storage.staff_queue([RoleGrant(Role.TOWN, member.scope)], limit=10**6))
            else:
                waiting = len(await self.storage.tickets_waiting_for(member.role, member.scope))
            people.append({"name": member.name, "role": member.role.value, "scope": member.scope,
                           "blocked": blocked, "waiting": waiting})
        if not people:
            return
        grid = await self.storage.get_grid(ticket.grid_code)
        town = await self.storage.staff_with_role(Role.TOWN, grid.town if grid else "")
        recipients = await self.storage.reachable([m.telegram_id for m in town] + await self._admin_ids())
        await self.storage.enqueue(
            [Notice(r, NOTICE_UNREACHABLE_STAFF, None, {"people": people}) for r in sorted(recipients)], now
        )

    async def _pass_on(self, ticket: Ticket, reason: str, gone: int | None = None, send_cards: bool = True) -> bool:
        """Put the ticket where `place` says it belongs now, recorded as REASSIGNED; `gone` is a
        person who can no longer hold it, so a ticket they took loses them. False if nothing changed."""
        ticket = await self.get(ticket.id)  # with its attachments, for the card
        placement = await self.place(ticket)
        lost_assignee = gone is not None and ticket.assignee_id == gone
        if placement.tier is ticket.tier and placement.waiting_tier is ticket.waiting_tier and not lost_assignee:
            return False
        now = self.clock()
        # Taken by someone who is gone, it is nobody's now: the holders left can take it.
        status = Status.NEW if lost_assignee and ticket.status is Status.IN_PROGRESS else ticket.status
        moved = replace(ticket, tier=placement.tier, status=status,
                        assignee_id=None if lost_assignee else ticket.assignee_id)
        data = {"reason": reason, "from": ticket.tier.value, "to": placement.tier.value}
        notices = self.card_notices(moved, placement.holders, passed_on=reason) if send_cards else []
        try:
            await self._change(
                ticket,
                TicketChange(status=status, tier=placement.tier, waiting_tier=placement.waiting_tier,
                             clear_assignee=lost_assignee),
                TicketEvent(ticket.id, now, EventType.REASSIGNED, None, None, data),
                notices,
            )
        except Conflict:
            return False  # someone acted on it meanwhile; their action placed it
        await self._warn_passed_over(ticket, placement, now)
        return True

    async def staff_reachable(self, telegram_id: int, grants: Sequence[RoleGrant]) -> int:
        """They opened the bot, or wrote again after blocking it. Tickets held above their tier
        for want of anyone reachable there, and nobody took meanwhile, come back; then they get the
        card of every ticket open for them that they have not had, oldest first, with attachments
        (the cards sent before they blocked the bot are still in their chat). Returns how many cards."""
        handling = [g for g in grants if g.role in TIER_OF_ROLE]
        for grant in handling:
            for ticket in await self.storage.tickets_waiting_for(grant.role, grant.scope):
                await self._pass_on(ticket, PASSED_ON_OPENED, send_cards=False)
        if not handling:
            return 0
        had = await self.storage.sent_ticket_ids(telegram_id, NOTICE_NEW_TICKET)
        # Listed without attachments; each card goes with its own.
        tickets = [await self.get(t.id) for t in await self.storage.staff_queue(handling, limit=10**6)
                   if t.id not in had]
        await self.storage.enqueue(
            [n for ticket in tickets for n in self.card_notices(ticket, [telegram_id])], self.clock()
        )
        return len(tickets)

    async def staff_added(self, added: Sequence[StaffMember]) -> None:
        """New roles were imported. Someone who has already written to the bot is reachable at
        once: they get the command menu of their roles, the tickets held above their new tiers
        for want of anyone there come back to them, and they get the cards open for them there."""
        by_person: dict[int, list[RoleGrant]] = {}
        for member in added:
            by_person.setdefault(member.telegram_id, []).append(RoleGrant(member.role, member.scope))
        for telegram_id in sorted(await self.storage.reachable(list(by_person))):
            await self.storage.enqueue([Notice(telegram_id, NOTICE_COMMANDS)], self.clock())
            await self.staff_reachable(telegram_id, by_person[telegram_id])

    async def _pass_on_held_by(self, telegram_id: int, grants: Sequence[RoleGrant], reason: str) -> None:
        for grant in grants:
            if grant.role in TIER_OF_ROLE:
                for ticket in await self.storage.staff_queue([grant], limit=10**6):
                    await self._pass_on(ticket, reason, gone=telegram_id)

    async def staff_unreachable(self, telegram_id: int) -> None:
        """They blocked the bot, or Telegram knows no chat with them: what they held goes to the
        remaining reachable holders of its tier, or up."""
        await self._pass_on_held_by(telegram_id, await self.storage.roles_of(telegram_id), PASSED_ON_UNREACHABLE)

    async def staff_removed(self, removed: Sequence[StaffMember]) -> None:
        """Roles were taken away (`gridbot staff remove`, or an import with --replace): each person
        is told and their command menu reset, and what they held goes to the remaining holders of
        its tier, or up."""
        now = self.clock()
        by_person: dict[int, list[StaffMember]] = {}
        for member in removed:
            by_person.setdefault(member.telegram_id, []).append(member)
        for telegram_id, rows in by_person.items():
            if await self.storage.reachable([telegram_id]):
                notices = [Notice(telegram_id, NOTICE_ROLE_REMOVED, None, {"role": m.role.value, "scope": m.scope})
                           for m in rows]
                await self.storage.enqueue([*notices, Notice(telegram_id, NOTICE_COMMANDS)], now)
            await self._pass_on_held_by(telegram_id, [RoleGrant(m.role, m.scope) for m in rows], PASSED_ON_REMOVED)

"""The one storage interface. Handlers and domain code see only this; SQL stays in the backends.

A backend (SQLite today, PostgreSQL later) implements every method. Each method is one transaction:
a ticket change, its event and the notices it causes are committed together or not at all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from domain.models import (
    ApiKey,
    Category,
    Grid,
    Kind,
    Notice,
    Attachment,
    PublicPost,
    Resident,
    ReturnVisit,
    Role,
    RoleGrant,
    StaffMember,
    Status,
    Ticket,
    TicketEvent,
    Tier,
    VisitOutcome,
    VisitReason,
)
from domain.console import TicketQuery, ViewScope
from domain.digest import DigestChoice
from domain.shops import Inspection, NewInspection, Shop, ShopRating, ShopScore, Site
from domain.workdays import CalendarDay
from domain.stats import PeriodRows, PeriodWindow, Scope, Tally, TicketAtEnd


@dataclass(frozen=True)
class NewTicket:
    kind: Kind
    category_code: str
    grid_code: str
    resident_id: int
    description: str
    share_contact: bool = False
    lat: float | None = None
    lon: float | None = None
    attachments: tuple[Attachment, ...] = ()
    reply_due_at: int | None = None
    resolve_due_at: int | None = None
    department: str | None = None
    tier: Tier = Tier.GRID
    waiting_tier: Tier | None = None  # see Ticket.waiting_tier
    # Identifies the Telegram update that asked for it, so a redelivered update files nothing new.
    source_key: str | None = None
    callback_phone: str | None = None  # see Ticket.callback_phone


@dataclass(frozen=True)
class QueuePage:
    tickets: list[Ticket]
    total: int
    overdue: int


@dataclass(frozen=True)
class OutboxItem:
    id: int
    notice: Notice
    attempts: int
    created_at: int


@dataclass(frozen=True)
class WorkInHand:
    """What waits in the database now, for the operators' figures (web/metrics.py)."""

    outbox_pending: int  # notices not yet sent nor dropped
    outbox_oldest_at: int | None  # when the oldest of them was queued
    deadlines_due: int  # open tickets whose deadline has passed
    stored_updates: int  # webhook updates stored and not yet handled


@dataclass(frozen=True)
class TicketChange:
    """Columns to set on a ticket; fields left as None are not touched."""

    status: Status
    tier: Tier | None = None
    # Set with `tier` or an assignee: the tier the ticket belongs at while held above it, or None.
    waiting_tier: Tier | None = None
    grid_code: str | None = None
    department: str | None = None
    assignee_id: int | None = None
    clear_assignee: bool = False
    first_reply_at: int | None = None
    resolved_at: int | None = None
    resolved_tier: Tier | None = None
    confirmed_at: int | None = None
    rating: int | None = None
    rating_comment: str | None = None
    reply_due_at: int | None = None
    resolve_due_at: int | None = None
    tier_since: int | None = None
    paused_at: int | None = None
    resume_clock: bool = False  # clear paused_at
    reminded_at: int | None = None
    # Clear reminded_at and the recorded misses: a new deadline gets its own reminder and misses.
    new_deadline_window: bool = False
    after_attachments: tuple[Attachment, ...] = field(default_factory=tuple)
    confirm_reminded_at: int | None = None
    # Also open a return visit (回访) for this reason at this tier, with its VISIT_DUE event, unless
    # the ticket has one for that reason already.
    return_visit: tuple[VisitReason, Tier] | None = None


class Storage(ABC):
    # -- lifecycle --------------------------------------------------------------------------------
    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def is_empty(self) -> bool:
        """True when no grids, staff, users, tickets, shops or sites are stored (default categories
        do not count)."""

    # -- grids, staff, categories -----------------------------------------------------------------
    @abstractmethod
    async def upsert_grids(self, grids: Iterable[Grid]) -> None:
        """Insert or update by code, in one transaction; `grids` is read once, as it is written (an
        import streams a file through it), and an error it raises writes nothing."""

    @abstractmethod
    async def get_grid(self, code: str) -> Grid | None: ...

    @abstractmethod
    async def list_grids(self) -> list[Grid]: ...

    @abstractmethod
    async def search_grids(self, text: str, limit: int = 10) -> list[Grid]: ...

    @abstractmethod
    async def upsert_staff(self, staff: Sequence[StaffMember]) -> None: ...

    @abstractmethod
    async def roles_of(self, telegram_id: int) -> list[RoleGrant]: ...

    @abstractmethod
    async def list_staff(self) -> list[StaffMember]: ...

    @abstractmethod
    async def staff_with_role(self, role: Role, scope: str | None = None) -> list[StaffMember]:
        """Staff holding `role`, limited to `scope` unless it is None."""

    @abstractmethod
    async def remove_staff(self, telegram_id: int, role: Role | None = None, scope: str | None = None) -> list[StaffMember]:
        """Delete the person's roles (only `role`, and only in `scope`, when given); returns the rows deleted."""

    @abstractmethod
    async def replace_staff(self, staff: Sequence[StaffMember]) -> list[StaffMember]:
        """Make `staff` the complete staff list in one transaction; returns the rows deleted."""

    @abstractmethod
    async def reachable(self, telegram_ids: Sequence[int]) -> set[int]:
        """Those of `telegram_ids` who have written to the bot and not blocked it since."""

    @abstractmethod
    async def upsert_categories(self, categories: Iterable[Category]) -> None:
        """As upsert_grids; new categories are listed after the stored ones."""

    @abstractmethod
    async def list_categories(self) -> list[Category]: ...

    @abstractmethod
    async def get_category(self, code: str) -> Category | None: ...

    @abstractmethod
    async def list_departments(self) -> list[str]:
        """Departments named by categories or staff, sorted."""

    @abstractmethod
    async def upsert_calendar_days(self, days: Sequence[CalendarDay]) -> None:
        """Store holidays and adjusted working days (调休), replacing what a day was before."""

    @abstractmethod
    async def calendar_days(self) -> dict[date, bool]:
        """Every imported day: True for a working day, False for a holiday."""

    # -- users ------------------------------------------------------------------------------------
    @abstractmethod
    async def touch_user(
        self, telegram_id: int, full_name: str, username: str | None, telegram_language: str | None
    ) -> tuple[Resident, list[RoleGrant], bool]:
        """Create or refresh the user's profile (a user who writes again is reachable again);
        returns it with the user's roles, and whether this made them reachable (their first
        message to the bot, or the first since they blocked it)."""

    @abstractmethod
    async def get_user(self, telegram_id: int) -> Resident | None: ...

    @abstractmethod
    async def set_language(self, telegram_id: int, language: str) -> None: ...

    @abstractmethod
    async def mark_unreachable(self, telegram_id: int) -> None:
        """They blocked the bot."""

    @abstractmethod
    async def mark_not_opened(self, telegram_id: int) -> None:
        """Telegram does not know a chat with them: they have not opened the bot (any more)."""

    @abstractmethod
    async def set_digest_choice(self, telegram_id: int, choice: DigestChoice) -> None: ...

    @abstractmethod
    async def digest_choices(self, telegram_ids: Sequence[int]) -> dict[int, DigestChoice]:
        """Each of these users' digest choice; the default for users the bot has no row of."""

    # -- tickets ----------------------------------------------------------------------------------
    @abstractmethod
    async def create_ticket(
        self, ticket: NewTicket, now: int, notices: Sequence[Notice] = ()
    ) -> tuple[Ticket, bool]:
        """Store the ticket with its attachments, its `created` event and its notices in one transaction.

        Returns the ticket and whether it was created now; a repeated `source_key` returns the
        ticket stored the first time and writes nothing.
        """

    @abstractmethod
    async def get_ticket(self, ticket_id: int) -> Ticket | None: ...

    @abstractmethod
    async def change_ticket(
        self,
        ticket_id: int,
        expected: Status,
        change: TicketChange,
        event: TicketEvent,
        notices: Sequence[Notice] = (),
    ) -> Ticket | None:
        """Apply `change` only if the ticket is still in status `expected` (so two workers
        tapping at once cannot both act); record `event` and `notices`. None if it moved on."""

    @abstractmethod
    async def record_event(self, event: TicketEvent, notices: Sequence[Notice] = ()) -> None:
        """An event that does not change the ticket's columns (a reply, a resident's message)."""

    @abstractmethod
    async def record_deadline_miss(self, event: TicketEvent) -> bool:
        """Record a DEADLINE_MISSED event unless that deadline's miss is already recorded for the
        ticket's current tier (then nothing is written and False is returned)."""

    @abstractmethod
    async def add_follower(
        self, ticket_id: int, resident_id: int, event: TicketEvent, notices: Sequence[Notice] = ()
    ) -> bool:
        """False when the resident already follows or filed the ticket."""

    @abstractmethod
    async def merge_ticket(
        self,
        ticket_id: int,
        expected: Status,
        into_id: int,
        event: TicketEvent,
        follows: Sequence[TicketEvent],
        notices: Sequence[Notice] = (),
    ) -> bool:
        """Close `ticket_id` as merged (if still in status `expected`) into `into_id` (if still
        open): each of `follows` (FOLLOWED events of `into_id`) adds its actor as a follower.
        False, with nothing written, if either ticket moved on."""

    @abstractmethod
    async def followers(self, ticket_id: int) -> list[int]: ...

    @abstractmethod
    async def tickets_unconfirmed(self, remind_before: int, close_before: int, limit: int = 500) -> list[Ticket]:
        """Resolved tickets the resident has not answered: resolved before `close_before`, or
        before `remind_before` and not yet reminded of this resolution; oldest first."""

    @abstractmethod
    async def erase_callback_phones(self, closed_before: int) -> int:
        """Forget the call-back numbers of tickets closed before `closed_before`; returns how many."""

    @abstractmethod
    async def return_visits(self, ticket_id: int) -> list[ReturnVisit]: ...

    @abstractmethod
    async def get_return_visit(self, visit_id: int) -> ReturnVisit | None: ...

    @abstractmethod
    async def record_return_visit(self, visit_id: int, outcome: VisitOutcome, event: TicketEvent,
                                  notices: Sequence[Notice] = ()) -> bool:
        """Store the outcome (the visitor is the event's actor) and its VISITED event, unless an
        outcome is recorded already (then nothing is written and False is returned)."""

    @abstractmethod
    async def events(self, ticket_id: int) -> list[TicketEvent]: ...

    @abstractmethod
    async def open_tickets(self, grid_code: str, category_code: str, limit: int = 5) -> list[Ticket]:
        """Open public tickets (reports, suggestions) of one grid and category, newest first: what
        other residents are offered to follow ("me too"). Complaints are never listed."""

    @abstractmethod
    async def grid_open_tickets(self, grid_code: str, limit: int = 20) -> list[Ticket]:
        """Every open ticket of one grid, of any kind and category, newest first: what a duplicate
        may be merged into."""

    @abstractmethod
    async def resident_tickets(self, resident_id: int, limit: int = 20) -> list[Ticket]:
        """Tickets the resident filed or follows, newest first."""

    @abstractmethod
    async def tickets_due(self, now: int, limit: int = 500) -> list[Ticket]:
        """Open, running tickets that are past their resolve deadline, or due a reminder: a quarter
        of the resolve window left, or the reply deadline passed without a reply."""

    @abstractmethod
    async def tickets_waiting_for(self, role: Role, scope: str) -> list[Ticket]:
        """Open tickets held above the tier of `role` and `scope` because nobody there (or, for a
        village, in its grid either) could be reached, oldest first."""

    @abstractmethod
    async def overdue_tickets(
        self, now: int, towns: frozenset[str] | None, offset: int = 0, limit: int = 10
    ) -> tuple[int, list[Ticket]]:
        """Running tickets past their resolve deadline in `towns` (None: every town), the latest
        first: (how many in all, one page)."""

    @abstractmethod
    async def staff_queue(self, grants: Sequence[RoleGrant], limit: int = 50) -> list[Ticket]:
        """Open tickets that these roles handle at the tickets' current tiers, oldest first."""

    @abstractmethod
    async def staff_queue_page(
        self, grants: Sequence[RoleGrant], now: int, offset: int = 0, limit: int = 10
    ) -> QueuePage:
        """One page of the open tickets these roles handle: overdue first (`domain.deadlines.is_overdue`
        at `now`), then oldest; with how many there are in all and how many are overdue."""

    # -- the console (rules: domain/console.py) -------------------------------------------------------
    @abstractmethod
    async def console_tickets(self, scope: ViewScope, query: TicketQuery) -> tuple[int, list[Ticket]]:
        """One page of the tickets of `scope` that match `query`, in its order, without photos:
        (how many match in all, the page)."""

    @abstractmethod
    async def console_changes(self, scope: ViewScope, since: int | None, settled_before: int,
                              limit: int = 500) -> tuple[int, list[int]]:
        """(a cursor, the tickets of `scope` with an event after the event `since`, the latest
        changed first); `since` None: just a cursor, to start from. The cursor is the newest event
        before `settled_before` (or `since`): an event's id is drawn before its transaction commits,
        so with writers in parallel a lower id may become visible after a higher one; events of the
        last moments are named again at the next call rather than passed over."""

    # -- the public board (rules: domain/board.py) -------------------------------------------------
    @abstractmethod
    async def public_post(self, ticket_id: int) -> PublicPost | None:
        """What staff decided the public may see of the ticket; None if nobody decided yet."""

    @abstractmethod
    async def decide_public(self, post: PublicPost, event: TicketEvent, notices: Sequence[Notice] = ()) -> None:
        """Store the decision (replacing the one before), its event and its notices in one transaction."""

    @abstractmethod
    async def undecided_public_tickets(
        self, grid_codes: Sequence[str], kinds: Sequence[Kind], closed_since: int, limit: int
    ) -> list[Ticket]:
        """Tickets of these grids and kinds that nobody decided about yet, not merged, open or
        closed (resolved or confirmed) at or after `closed_since`; oldest first, without photos."""

    @abstractmethod
    async def public_posts(self, grid_codes: Sequence[str], closed_since: int) -> list[tuple[Ticket, PublicPost]]:
        """Tickets of these grids decided public, not merged, open or closed at or after
        `closed_since`, newest first, each with its photos and its decision."""

    # -- keys of the Open311 API (SQL: storage/api_keys_sql.py; rules: domain/open311.py) -----------
    @abstractmethod
    async def add_api_key(self, name: str, key_hash: str, now: int) -> ApiKey | None:
        """A new live key; None, with nothing stored, when a live key has this name."""

    @abstractmethod
    async def revoke_api_key(self, name: str, now: int) -> bool:
        """Revoke the live key of this name; False if there is none."""

    @abstractmethod
    async def api_keys(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""

    @abstractmethod
    async def live_api_key(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, unless it is revoked."""

    # -- the board's channel mirror (SQL: storage/channel_sql.py; rules: bot/channel.py) -------------
    @abstractmethod
    async def channel_post(self, ticket_id: int) -> tuple[int, bool] | None:
        """The channel message of the ticket, as (message id, whether it is a photo); None if none."""

    @abstractmethod
    async def keep_channel_post(self, ticket_id: int, message_id: int, with_photo: bool) -> None: ...

    @abstractmethod
    async def forget_channel_post(self, ticket_id: int) -> None: ...

    # -- outbox -----------------------------------------------------------------------------------
    @abstractmethod
    async def enqueue(self, notices: Sequence[Notice], now: int) -> None: ...

    @abstractmethod
    async def enqueue_once(self, key: str, value: str, notices: Sequence[Notice], now: int) -> bool:
        """Queue `notices` and set `key` to `value` in one transaction, unless `key` already holds
        `value` (then nothing is queued and False is returned): e.g. one digest per week."""

    @abstractmethod
    async def due_outbox(self, now: int, limit: int = 100) -> list[OutboxItem]:
        """The first unsent item of each chat (urgent ones first, then in the order written), if its
        time has come."""

    @abstractmethod
    async def pending_alike(self, item: OutboxItem) -> list[OutboxItem]:
        """The other unsent items for the same chat, ticket and type, in order (sent with it as one)."""

    @abstractmethod
    async def last_sent_at(self, chat_id: int, ticket_id: int, notice_type: str) -> int | None: ...

    @abstractmethod
    async def sent_ticket_ids(self, chat_id: int, notice_type: str) -> set[int]:
        """The tickets of which a notice of `notice_type` was sent to `chat_id` (e.g. their cards)."""

    @abstractmethod
    async def claim_outbox(self, claimant: str, now: int, until: int, limit: int = 30) -> list[OutboxItem]:
        """Like `due_outbox`, but each item is claimed by `claimant` (a process) until `until`, and
        items another claimant holds are passed over, as is every item of their chats: a chat's
        notices go out one after another from one process. Items whose claim ran out (a process
        died) are claimed again; `claimant`'s own are given back to it."""

    @abstractmethod
    async def keep_claim(self, claimant: str, item_id: int, until: int) -> bool:
        """Right before sending: whether `claimant` still holds the unsent item (its claim may have
        run out while it waited, and another process taken it), and if so hold it until `until`."""

    @abstractmethod
    async def release_outbox(self, claimant: str, item_ids: Sequence[int]) -> None:
        """`claimant` gives back what it claimed and did not send; `retry_later` and `drop` free
        an item as well."""

    @abstractmethod
    async def next_outbox_time(self) -> int | None: ...

    @abstractmethod
    async def work_in_hand(self, now: int) -> WorkInHand:
        """How much is waiting: the outbox, overdue tickets, stored updates (one snapshot)."""

    @abstractmethod
    async def mark_sent(self, item_ids: Sequence[int], now: int) -> None: ...

    @abstractmethod
    async def retry_later(self, item_id: int, attempts: int, next_attempt_at: int) -> None: ...

    @abstractmethod
    async def drop(self, item_id: int, reason: str) -> None: ...

    # -- small key-value settings (e.g. the bot's username) ---------------------------------------
    @abstractmethod
    async def get_value(self, key: str) -> str | None: ...

    @abstractmethod
    async def set_value(self, key: str, value: str) -> None: ...

    # -- statistics (SQL: storage/stats_sql.py; figures: domain/stats.py) --------------------
    @abstractmethod
    async def close_days(self, tz: ZoneInfo, now: int) -> int:
        """Sum and store, once, each local day in `tz` over by `now` and not summed yet (what
        its events changed in the figures); returns how many. A day summed never changes: an
        event recorded later counts on a later day, whatever its time."""

    @abstractmethod
    async def period_rows(self, window: PeriodWindow, scope: Scope) -> PeriodRows:
        """Sums over the tickets of `scope` received or closed in `window`, each as its events
        before `window.end` say it stood then: the sums of the days summed (`close_days`), with
        what the events changed since."""

    @abstractmethod
    async def period_totals(self, window: PeriodWindow, scope: Scope) -> Tally:
        """The sum of `period_rows`' tallies alone (for the period before, a trend)."""

    @abstractmethod
    async def period_rows_from_events(self, window: PeriodWindow, scope: Scope) -> PeriodRows:
        """`period_rows` worked out from the events alone, as the definition reads (slow on a
        big year): the day sums are held to it."""

    @abstractmethod
    async def period_tickets(self, window: PeriodWindow, scope: Scope, from_events: bool = False) -> list[TicketAtEnd]:
        """Tickets received in `window` and `scope`, oldest first, each with its state at
        `window.end` and its current state (without photos), for export. A ticket without events
        since `window.end` nor since the last day summed stood then as the day sums keep it now;
        `from_events`: every one worked out from the events, as the definition reads (the tests
        hold the other to it)."""

    # -- conversation state, handled updates, blocked users, filing limit (fsm_sql.py), backup ----
    EMPTY_FORM_DATA = "{}"  # a form's data when it has none

    @abstractmethod
    async def load_form(self, key: str) -> tuple[str | None, str] | None:
        """The form in progress stored under `key`, as (FSM state, data as JSON); None if none."""

    @abstractmethod
    async def save_forms(
        self, forms: Mapping[str, tuple[str | None, str]], now: int, update_id: int | None = None
    ) -> None:
        """Store forms as (state, data as JSON); no state and EMPTY_FORM_DATA delete one.
        With `update_id`, also record that update as handled, in the same transaction. This commit
        may reach the disk only with the next durable one: a power cut can take a form back a
        step, never lose a ticket."""

    @abstractmethod
    async def newest_handled_update(self) -> int | None: ...

    @abstractmethod
    async def update_handled(self, update_id: int) -> bool: ...

    @abstractmethod
    async def forget_handled_updates(self, before: int) -> None:
        """Drop records of updates handled before `before`; Telegram will not send them again."""

    @abstractmethod
    async def store_update(self, update_id: int, body: str, now: int, claimant: str, until: int) -> bool:
        """Keep an update Telegram posted (webhook mode) until it is handled, claimed by `claimant`
        (the process that handles it) until `until`; False, with nothing stored, if it is stored
        already or was handled."""

    @abstractmethod
    async def claim_stored_updates(self, claimant: str, now: int, until: int, limit: int = 100) -> list[tuple[int, str]]:
        """Stored updates that nobody handles, claimed by `claimant` until `until`, as (update id,
        body), oldest first: those whose claim ran out (its process died) and, on a database of one
        process (not `shared`), every other process's, which can only be dead."""

    @abstractmethod
    async def stored_updates(self, limit: int = 100) -> list[tuple[int, str]]:
        """Updates stored and not yet handled, as (update id, body), oldest first."""

    @abstractmethod
    async def forget_update(self, update_id: int) -> None:
        """The stored update is handled."""

    @abstractmethod
    async def drop_pending(self, chat_id: int, reason: str) -> None:
        """Drop every unsent outbox item of one chat (the user blocked the bot)."""

    @abstractmethod
    async def tickets_filed_since(self, resident_id: int, since: int) -> int: ...

    @abstractmethod
    async def ticket_for_source(self, source_key: str) -> int | None:
        """The id of the ticket filed by the update `source_key`, if there is one."""

    @abstractmethod
    async def backup_to(self, target: Path) -> None:
        """A consistent copy of the whole database in the file `target`, while the bot runs."""

    # -- several processes on one database (issue 14) ---------------------------------------------
    # True when other processes may use the database at the same time (PostgreSQL): the bot then
    # coordinates through it. False (SQLite): this process is its only user, and in-process locks
    # and pacing are enough.
    shared = False

    def user_turn(self, key: str) -> AbstractAsyncContextManager[None]:
        """Held while one user's update is handled (`key` names the user's chat), so that their
        updates are handled one at a time across every process on the database. Here nothing: on a
        database of one process the bot's own locks (bot/fsm_storage.py) do it."""
        return nullcontext()

    async def lead(self) -> bool:
        """Whether this process is the one of all on the database that runs the deadline watcher and
        the digest; asked again and again, it stays True until the process ends or loses its
        connection, and then another one's turns True. A database of one process: always True."""
        return True

    async def book_send(self, chat_id: int | str, messages: int, overall: float, per_chat: float) -> float:
        """Telegram's limits kept for every process on a `shared` database: books the next moment
        `messages` may go to `chat_id`, `overall` seconds a message after any other and `per_chat`
        after the chat's last, and returns the seconds until that moment."""
        raise NotImplementedError("only a shared database paces its processes")

    async def hold_sends(self, seconds: float) -> None:
        """Telegram answered 429: nothing goes out from any process for `seconds` (`shared` only)."""
        raise NotImplementedError("only a shared database paces its processes")

    # -- shops and supervised sites (SQL: storage/codes_sql.py; rules: domain/shops.py) --------
    @abstractmethod
    async def upsert_shops(self, shops: Iterable[Shop]) -> None:
        """Insert or update by code, as upsert_grids; an empty owner clears the owner."""

    @abstractmethod
    async def get_shop(self, code: str) -> Shop | None: ...

    @abstractmethod
    async def shop_codes(self) -> list[str]: ...

    @abstractmethod
    async def list_shops(self) -> list[Shop]:
        """Every shop, by grid and code (their posters)."""

    @abstractmethod
    async def owned_shops(self, telegram_id: int, codes: Sequence[str] = ()) -> list[Shop]:
        """Shops whose owner column is `telegram_id`, and the shops of `codes` (the person's
        `shop_owner` roles), by name."""

    @abstractmethod
    async def save_shop_rating(self, rating: ShopRating, notices: Sequence[Notice] = ()) -> bool:
        """Store the rating with `notices` (their data completed with `replaced`) in one
        transaction; one per resident, shop and day, so a later one of the same day replaces it.
        True if it replaced one."""

    @abstractmethod
    async def shop_score(self, shop_code: str, since: int, until: int) -> ShopScore | None:
        """The shop's ratings given in [since, until); None if the shop does not exist."""

    @abstractmethod
    async def shop_comments(self, shop_code: str, limit: int = 10) -> list[ShopRating]:
        """The shop's latest ratings that carry a comment, newest first."""

    @abstractmethod
    async def shop_scores(self, since: int, until: int, scope: Scope) -> list[ShopScore]:
        """Every shop of `scope` rated in [since, until), with its ratings of that time."""

    @abstractmethod
    async def upsert_sites(self, sites: Iterable[Site]) -> None:
        """Insert or update by code, as upsert_grids."""

    @abstractmethod
    async def get_site(self, code: str) -> Site | None: ...

    @abstractmethod
    async def list_sites(self) -> list[Site]:
        """Every supervised site, by grid and code (their posters)."""

    @abstractmethod
    async def add_inspection(
        self, inspection: NewInspection, now: int, notices: Sequence[Notice] = ()
    ) -> tuple[Inspection, bool]:
        """Store the record with its photos and `notices` (their data completed with the record's
        id `inspection`) in one transaction; a repeated `source_key` returns the record stored the
        first time and writes nothing. Returns it and whether it was stored now."""

    @abstractmethod
    async def site_inspections(self, site_code: str, limit: int = 5) -> list[Inspection]:
        """The site's latest inspections, newest first, with their photo counts (not the photos)."""

    @abstractmethod
    async def get_inspection(self, inspection_id: int) -> Inspection | None:
        """One inspection with its photos."""

"""The public board (曝光台): which tickets may be public, who decides, and what the public reads.

Nothing is public until town or village staff decide so. A complaint (投诉举报) never is; a public
report is, once approved; a suggestion only in towns that allow it. The approved text is what the
public reads (staff may take out names, numbers, addresses; the starting text has mobile and ID
numbers masked); the ticket keeps the resident's original, and each decision is an event."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from urllib.parse import quote

from domain.models import Attachment, BoardTowns, Decision, EventType, Grid, Kind, MediaKind, Notice, PublicPost, Role, RoleGrant, Status, Ticket, TicketEvent
from domain.service import NOTICE_CHANNEL_POST, NOTICE_NOW_PUBLIC, Conflict, InvalidInput, NotAllowed, TicketService
from domain.text import clean_text, telegram_length
from domain.tickets import MAX_DESCRIPTION, mask_personal
from storage.base import Storage

# Closed tickets stay on the board (and in the moderation queue) this long after closing.
RECENT_DAYS = 30
RECENT_SECONDS = RECENT_DAYS * 86400
# Tickets the moderation queue shows at once.
QUEUE_LIMIT = 20


def may_moderate(grants: Iterable[RoleGrant], grid: Grid) -> bool:
    """Town staff of its town, village staff of its village, and admins decide what goes public."""
    return any(
        g.role is Role.ADMIN
        or (g.role is Role.TOWN and g.scope == grid.town)
        or (g.role is Role.VILLAGE and g.scope == grid.village)
        for g in grants
    )


def may_go_public(ticket: Ticket, grid: Grid, towns: BoardTowns) -> bool:
    """Its kind may go public in its town, and it was neither merged into another nor withdrawn."""
    return ticket.kind in towns.kinds(grid.town) and ticket.status not in (Status.MERGED, Status.WITHDRAWN)


def report_photos(ticket: Ticket) -> tuple[Attachment, ...]:
    """The resident's photos, which the board may show (hidden ones aside); never their videos,
    voice messages or video notes, which may carry their voice or face. Hidden photos are counted
    by their position here."""
    return tuple(a for a in ticket.attachments if a.kind is MediaKind.PHOTO)


def public_photos(ticket: Ticket, post: PublicPost) -> tuple[Attachment, ...]:
    """The photos the board shows: the resident's not hidden, then staff's "after" photos."""
    shown = tuple(p for i, p in enumerate(report_photos(ticket)) if i not in post.hidden_photos)
    return shown + tuple(a for a in ticket.after_attachments if a.kind is MediaKind.PHOTO)


def board_path(town: str) -> str:
    """Where the web server serves the town's board (web/board.py)."""
    return f"/board/{quote(town)}"


# Pins are rounded to about 100 m: a report's location may be the resident's doorstep.
PIN_DECIMALS = 3


def pin_location(ticket: Ticket, grid: Grid | None) -> tuple[float, float] | None:
    """Where the board's map puts the ticket: its location, rounded, or else its grid's."""
    if ticket.lat is not None and ticket.lon is not None:
        return round(ticket.lat, PIN_DECIMALS), round(ticket.lon, PIN_DECIMALS)
    if grid is not None and grid.lat is not None and grid.lon is not None:
        return grid.lat, grid.lon
    return None


def reviews(grants: Iterable[RoleGrant], ticket: Ticket, grid: Grid | None, towns: BoardTowns) -> bool:
    """Whether the person's card of the ticket offers the public board's review."""
    return grid is not None and may_moderate(grants, grid) and may_go_public(ticket, grid, towns)


def public_text(text: str) -> str:
    """The public text as stored, or InvalidInput when it shows nothing or is too long."""
    text = clean_text(text)
    if not text or telegram_length(text) > MAX_DESCRIPTION:
        raise InvalidInput("public text")
    return text


def proposed_text(description: str) -> str:
    """The starting text staff edit: the resident's words with mobile and ID numbers masked."""
    return mask_personal(description)


class BoardService:
    """Staff decide what of a ticket is public; each decision is checked, stored with its event and
    confirmed through the outbox in one transaction."""

    def __init__(self, storage: Storage, clock: Callable[[], int], towns: BoardTowns, channel_id: int | None = None):
        self.storage = storage
        self.clock = clock
        self.towns = towns
        self.channel_id = channel_id  # PUBLIC_CHANNEL_ID: each decision brings its post up to date

    async def moderated(self, ticket_id: int, grants: Sequence[RoleGrant]) -> tuple[Ticket, PublicPost | None]:
        """The ticket and its current decision, if this person may decide about it now."""
        ticket = await self.storage.get_ticket(ticket_id)
        grid = await self.storage.get_grid(ticket.grid_code) if ticket else None
        if ticket is None or grid is None or not may_moderate(grants, grid) or not may_go_public(ticket, grid, self.towns):
            raise NotAllowed(ticket_id)
        return ticket, await self.storage.public_post(ticket_id)

    async def publish(self, ticket_id: int, actor_id: int, grants: Sequence[RoleGrant], text: str,
                      hidden_photos: Iterable[int]) -> PublicPost:
        """Approve the ticket for the board with this public text and without these report photos;
        on a ticket already public, an edit."""
        ticket, before = await self.moderated(ticket_id, grants)
        text = public_text(text)
        hidden = frozenset(hidden_photos)
        if not hidden <= set(range(len(report_photos(ticket)))):
            raise InvalidInput("photo")
        if before is not None and before.public and before.text == text and before.hidden_photos == hidden:
            raise Conflict(ticket_id)  # nothing changed (a second tap)
        now = self.clock()
        post = PublicPost(ticket.id, Decision.PUBLIC, text, hidden, now, actor_id)
        event = TicketEvent(ticket.id, now, EventType.PUBLISHED, actor_id, text,
                            {"hidden_photos": sorted(hidden), "edit": before is not None and before.public})
        told = [] if before is not None and before.public else [Notice(ticket.resident_id, NOTICE_NOW_PUBLIC, ticket.id)]
        notices = TicketService._to_chats(TicketService._done(event) + told) + self._channel(ticket)
        await self.storage.decide_public(post, event, notices)
        return post

    async def keep_private(self, ticket_id: int, actor_id: int, grants: Sequence[RoleGrant]) -> PublicPost:
        """Keep the ticket off the board, or take it off."""
        ticket, before = await self.moderated(ticket_id, grants)
        if before is not None and not before.public:
            raise Conflict(ticket_id)
        now = self.clock()
        post = PublicPost(ticket.id, Decision.PRIVATE, "", frozenset(), now, actor_id)
        event = TicketEvent(ticket.id, now, EventType.KEPT_PRIVATE, actor_id, None,
                            {"was_public": before is not None})
        taken_off = self._channel(ticket) if before is not None else []
        await self.storage.decide_public(post, event, TicketService._done(event) + taken_off)
        return post

    def _channel(self, ticket: Ticket) -> list[Notice]:
        """The channel post to bring up to date with a decision (it renders whatever is decided)."""
        return [Notice(self.channel_id, NOTICE_CHANNEL_POST, ticket.id)] if self.channel_id is not None else []

    async def queue(self, grants: Sequence[RoleGrant]) -> list[Ticket]:
        """Tickets in this person's area that may go public and nobody decided about yet, oldest
        first: open ones and those closed within RECENT_DAYS."""
        by_kinds: dict[frozenset[Kind], list[str]] = {}
        for grid in await self.storage.list_grids():
            kinds = self.towns.kinds(grid.town)
            if kinds and may_moderate(grants, grid):
                by_kinds.setdefault(kinds, []).append(grid.code)
        since = self.clock() - RECENT_SECONDS
        found: list[Ticket] = []
        for kinds, codes in by_kinds.items():
            found += await self.storage.undecided_public_tickets(codes, sorted(kinds), since, QUEUE_LIMIT)
        return sorted(found, key=lambda t: t.id)[:QUEUE_LIMIT]

    async def board(self, town: str) -> list[tuple[Ticket, PublicPost]]:
        """What the public board of `town` shows: approved tickets, open or closed within
        RECENT_DAYS, newest first, with their photos."""
        if town not in self.towns.towns:
            return []
        return [(t, p) for t, p, _ in await self.published({town}, self.clock() - RECENT_SECONDS)]

    async def published(self, towns: Iterable[str], closed_since: int) -> list[tuple[Ticket, PublicPost, Grid]]:
        """The approved tickets of these board towns, open or closed at or after `closed_since`,
        newest first, each with its decision and grid."""
        wanted = set(towns) & self.towns.towns
        grids = {g.code: g for g in await self.storage.list_grids() if g.town in wanted}
        # A town that stops publishing suggestions takes those it published off its board.
        return [(t, p, grids[t.grid_code]) for t, p in await self.storage.public_posts(list(grids), closed_since)
                if may_go_public(t, grids[t.grid_code], self.towns)]

    async def published_ticket(self, ticket_id: int) -> tuple[Ticket, PublicPost, Grid] | None:
        """One approved ticket of a board town, however long ago it closed; None for any other."""
        ticket = await self.storage.get_ticket(ticket_id)
        grid = await self.storage.get_grid(ticket.grid_code) if ticket else None
        if ticket is None or grid is None or not may_go_public(ticket, grid, self.towns):
            return None
        post = await self.storage.public_post(ticket_id)
        return (ticket, post, grid) if post is not None and post.public else None

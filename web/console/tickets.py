"""The console's ticket API under /app/api/: the list of the tickets in the caller's scope with
filters, sort and paging; one ticket's card, history, photos and the actions the caller may take;
the actions themselves, through the same TicketService as the chat card; and the tickets changed
since a cursor (polled by the page). Signed in by web/console/auth.py; every request checks again
that this person may see or act on that ticket now."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime, time, timezone
from html import unescape

from aiohttp import web

from bot.cards import holder_place, history_lines, history_names
from bot.catalogs import gettext as _
from bot.config import Settings
from bot.factory import ticket_service
from bot.texts import category_name, kind_name, status_name, ticket_error_text, tier_name, urged_recently_text
from domain.console import MAX_PER_PAGE, SORTS, ConsoleUser, TicketQuery, ticket_actions, view_scope
from domain.deadlines import is_overdue
from domain.models import Category, Grid, MediaKind, Status, Ticket, Tier
from domain.service import (
    Conflict,
    InvalidInput,
    NotAllowed,
    NotFound,
    TicketError,
    TicketService,
    Unstaffed,
    UrgedRecently,
)
from domain.text import clip
from domain.tickets import (
    MAX_NOTE,
    OPEN_STATUSES,
    TICKET_NUMBER,
    format_number,
    is_api_submitter,
    staff_may_handle,
    staff_may_view,
)
from web.board import FILES
from web.console.auth import API_PREFIX, console_user, grants_of
from web.keys import CLOCK, SETTINGS, STORAGE
from web.photos import photo_response

# A list row's summary of the description, in UTF-16 units.
SUMMARY_LENGTH = 120
# A photo's address stays good this long after the card was read (whole hours, so it can be cached).
PHOTO_URL_SECONDS = 3600
PHOTO_PATH = "/app/photos/{ticket_id}/{stage}/{index}"
PHOTO_ROUTE = r"/app/photos/{ticket_id:\d{1,12}}/{stage:report|after}/{index:\d{1,2}}"
STAGES = ("report", "after")
# Far beyond any list, and within what a database's integer takes as an offset.
MAX_PAGE = 1_000_000
# Choices offered with an action: the grids to hand over to, the tickets to merge into.
MAX_CHOICES = 20
# Changes this recent are named again at the next poll: a write may still be committing (storage's
# `console_changes`).
CHANGES_SETTLE_SECONDS = 5
STATUS_OF_ERROR = {NotFound: 404, NotAllowed: 403, Conflict: 409, Unstaffed: 409, UrgedRecently: 409,
                   InvalidInput: 400}


def iso(epoch: int | None) -> str | None:
    """A time as ISO-8601 in UTC, "2025-11-22T08:13:20Z"."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


def plain(html_text: str) -> str:
    """A text the chat shows as HTML (names escaped), as plain words for JSON."""
    return unescape(html_text.replace("<b>", "").replace("</b>", ""))


def json_error(status: int, text: str) -> web.HTTPException:
    """An error answered as {"error": text}, raised from a handler."""
    error = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict}[status]
    return error(text=json.dumps({"error": text}, ensure_ascii=False), content_type="application/json")


def bad_input() -> web.HTTPException:
    return json_error(400, plain(ticket_error_text(InvalidInput())))


def ticket_number(text: str, prefix: str) -> int | None:
    """The ticket a searched text names ("XG-000123", "123"), if it names one of ours."""
    match = TICKET_NUMBER.fullmatch(text.strip())
    if match is None or (match.group(1) and match.group(1).upper() != prefix.upper()):
        return None
    return int(match.group(2))


def parse_query(request: web.Request, now: int) -> TicketQuery:
    """The list's filters from the query string; 400 for anything malformed."""
    settings, args = request.app[SETTINGS], request.query
    if not all(is_storable_text(value) for value in args.values()):
        raise bad_input()

    def values(name: str) -> frozenset[str]:
        return frozenset(v for v in args.get(name, "").split(",") if v)

    def local_midnight(name: str, days_after: int = 0) -> int | None:
        if not args.get(name):
            return None
        day = date.fromisoformat(args[name]).toordinal() + days_after
        return int(datetime.combine(date.fromordinal(day), time(), settings.timezone).timestamp())

    try:
        text = args.get("q", "").strip()
        number = ticket_number(text, settings.ticket_prefix) if text else None
        query = TicketQuery(
            statuses=frozenset(Status(v) for v in values("status")),
            tiers=frozenset(Tier(v) for v in values("tier")),
            categories=values("category"),
            grids=values("grid"),
            overdue_at=now if args.get("overdue") == "1" else None,
            waiting=args.get("waiting") == "1",
            created_from=local_midnight("from"),
            created_until=local_midnight("to", 1),  # the last day counts whole
            number=number,
            text="" if number is not None else text[:100],
            sort=args.get("sort", "-created"),
            page=int(args.get("page", "1")),
            per_page=int(args.get("per_page", "20")),
        )
    except ValueError:
        raise bad_input() from None
    if query.sort not in SORTS or not 1 <= query.page <= MAX_PAGE or not 1 <= query.per_page <= MAX_PER_PAGE:
        raise bad_input()
    return query


class Names:
    """What list rows and cards name: grids, categories and staff, read once per request."""

    def __init__(self, grids: list[Grid], categories: list[Category], staff: dict[int, str]):
        self.grids = {g.code: g for g in grids}
        self.categories = {c.code: c for c in categories}
        self.staff = staff

    @classmethod
    async def read(cls, request: web.Request) -> Names:
        storage = request.app[STORAGE]
        staff = {m.telegram_id: m.name for m in await storage.list_staff()}
        return cls(await storage.list_grids(), await storage.list_categories(), staff)


def ticket_row(ticket: Ticket, names: Names, settings: Settings, language: str, now: int) -> dict:
    grid = names.grids.get(ticket.grid_code)
    return {
        "id": ticket.id,
        "number": format_number(settings.ticket_prefix, ticket.id),
        "status": ticket.status.value,
        "status_text": status_name(ticket.status),
        "tier": ticket.tier.value,
        "tier_text": tier_name(ticket.tier),
        "category": ticket.category_code,
        "category_text": category_name(names.categories.get(ticket.category_code), ticket.category_code, language),
        "grid": ticket.grid_code,
        "grid_name": grid.name if grid else ticket.grid_code,
        "holder": plain(holder_place(ticket.tier, grid, ticket.department)),
        "assignee": names.staff.get(ticket.assignee_id) if ticket.assignee_id else None,
        "created_at": iso(ticket.created_at),
        "deadline": iso(ticket.resolve_due_at),
        "overdue": ticket.status in OPEN_STATUSES and is_overdue(ticket, now),
        "summary": clip(ticket.description, SUMMARY_LENGTH),
        "lat": ticket.lat,
        "lon": ticket.lon,
    }


async def list_tickets(request: web.Request) -> web.Response:
    """GET /app/api/tickets: one page of the caller's tickets."""
    user, settings, now = console_user(request), request.app[SETTINGS], request.app[CLOCK]()
    query = parse_query(request, now)
    total, tickets = await request.app[STORAGE].console_tickets(view_scope(user.grants), query)
    names = await Names.read(request)
    return web.json_response({
        "total": total, "page": query.page, "per_page": query.per_page,
        "tickets": [ticket_row(t, names, settings, user.language, now) for t in tickets],
    })


# -- one ticket -------------------------------------------------------------------------------------
def photo_key(bot_token: str) -> bytes:
    return hmac.new(b"ConsolePhotos", bot_token.encode(), hashlib.sha256).digest()


def photo_signature(bot_token: str, viewer: int, ticket_id: int, stage: str, index: int, expires: int) -> str:
    message = f"{viewer}:{ticket_id}:{stage}:{index}:{expires}".encode()
    return hmac.new(photo_key(bot_token), message, hashlib.sha256).hexdigest()


def photo_urls(request: web.Request, user: ConsoleUser, ticket: Ticket) -> list[dict]:
    """The ticket's photos as addresses this person alone may open for a while (an <img> sends
    no Authorization header, so the address carries a signature instead)."""
    settings = request.app[SETTINGS]
    expires = (request.app[CLOCK]() // PHOTO_URL_SECONDS + 2) * PHOTO_URL_SECONDS
    photos = []
    for stage, attachments in zip(STAGES, (ticket.attachments, ticket.after_attachments)):
        for index, attachment in enumerate(attachments):
            if attachment.kind is not MediaKind.PHOTO:
                continue
            signature = photo_signature(settings.bot_token or "", user.telegram_id, ticket.id, stage, index, expires)
            path = PHOTO_PATH.format(ticket_id=ticket.id, stage=stage, index=index)
            photos.append({"stage": stage, "url": f"{path}?u={user.telegram_id}&e={expires}&s={signature}"})
    return photos


async def visible_ticket(request: web.Request, user: ConsoleUser) -> tuple[Ticket, Grid | None]:
    """The ticket of the path if this person may open it; 404 otherwise (whether it exists or not:
    numbers outside one's area are not revealed)."""
    storage = request.app[STORAGE]
    ticket = await storage.get_ticket(int(request.match_info["ticket_id"]))
    grid = await storage.get_grid(ticket.grid_code) if ticket else None
    if ticket is None or not staff_may_view(user.grants, ticket, grid):
        raise json_error(404, _("There is no ticket with this number in your area."))
    return ticket, grid


async def choices(service: TicketService, user: ConsoleUser, ticket: Ticket, grid: Grid | None,
                  actions: list[str]) -> dict:
    """What the actions that need a choice may choose, as the chat offers it."""
    storage, found = service.storage, {}
    if "handover" in actions and grid is not None:
        targets = [g for g in await storage.list_grids() if g.town == grid.town and g.code != grid.code]
        targets.sort(key=lambda g: (g.village != grid.village, g.village, g.code))
        found["handover"] = [{"grid": g.code, "name": g.name, "village": g.village} for g in targets]
    if "route" in actions:
        staffed, unstaffed = await service.routable_departments()
        found["route"] = {"departments": staffed, "unstaffed": unstaffed}
    if "merge" in actions and grid is not None:
        candidates = [t for t in await storage.grid_open_tickets(ticket.grid_code, limit=MAX_CHOICES * 3)
                      if t.id != ticket.id and staff_may_handle(user.grants, t, grid)]
        found["merge"] = [t.id for t in candidates[:MAX_CHOICES]]
    return found


async def ticket_answer(request: web.Request, user: ConsoleUser, ticket: Ticket, grid: Grid | None) -> web.Response:
    settings, storage, now = request.app[SETTINGS], request.app[STORAGE], request.app[CLOCK]()
    names = await Names.read(request)
    holds = grid is not None and staff_may_handle(user.grants, ticket, grid)
    events = await storage.events(ticket.id)
    lines = history_lines(events, await history_names(storage, settings, ticket, events), settings.timezone,
                          for_staff=True, note_limit=None)
    card = ticket_row(ticket, names, settings, user.language, now) | {
        "kind": ticket.kind.value,
        "kind_text": kind_name(ticket.kind),
        "description": ticket.description,
        "department": ticket.department,
        "reply_deadline": iso(ticket.reply_due_at) if ticket.first_reply_at is None else None,
        "concerned_residents": ticket.concerned_residents,
        "rating": ticket.rating,
        # The number to call back, for those who may act on the ticket now (as the chat card).
        "callback_phone": ticket.callback_phone if holds else None,
        "callback_asked": ticket.callback_phone is not None,
    }
    if ticket.share_contact:
        resident = await storage.get_user(ticket.resident_id)
        card["resident"] = " ".join(filter(None, [resident.full_name, resident.username and "@" + resident.username])) \
            if resident else None
    actions = ticket_actions(user.grants, ticket, grid)
    service = ticket_service(settings, storage, request.app[CLOCK])
    return web.json_response({
        "ticket": card,
        # Each line as the chat card's history: "time · what happened (who): words".
        "history": [{"at": iso(e.at), "type": e.type.value, "text": plain(line.split(" · ", 1)[1])}
                    for e, line in zip(events, lines)],
        "photos": photo_urls(request, user, ticket),
        "actions": actions,
        "choices": await choices(service, user, ticket, grid, actions),
    })


async def show_ticket(request: web.Request) -> web.Response:
    """GET /app/api/tickets/{id}: the card, its history in plain words, its photos and what the
    caller may do now."""
    user = console_user(request)
    ticket, grid = await visible_ticket(request, user)
    return await ticket_answer(request, user, ticket, grid)


# -- actions -----------------------------------------------------------------------------------------
def text_field(body: dict, name: str, required: bool = True) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()) or not is_storable_text(value):
        raise bad_input()
    return value


def is_storable_text(value: str) -> bool:
    """No lone UTF-16 surrogate ("\\ud800", which JSON allows): no text can hold one, nor a database;
    and no U+0000, which PostgreSQL text cannot hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


async def act(request: web.Request) -> web.Response:
    """POST /app/api/tickets/{id}/{action} with a JSON body: the action as the chat card takes it,
    its words (reply, note, resolution, reason) always in "text". Answers the ticket as it is now,
    or the error in the caller's language."""
    user, settings, storage = console_user(request), request.app[SETTINGS], request.app[STORAGE]
    ticket, _grid = await visible_ticket(request, user)
    action = request.match_info["action"]
    try:
        body = await request.json() if request.can_read_body else {}
    except (ValueError, LookupError):  # not JSON, not in its charset, or a charset nobody knows
        raise bad_input() from None
    if not isinstance(body, dict):
        raise bad_input()
    service = ticket_service(settings, storage, request.app[CLOCK])
    actor, grants = user.telegram_id, list(user.grants)
    try:
        if action == "take":
            await service.take(ticket.id, actor, grants)
        elif action == "reply":
            ask = body.get("ask") is True
            if ask and is_api_submitter(ticket.resident_id):  # the domain's NotAllowed would say "not in your area"
                raise json_error(409, _("This ticket was filed through the Open311 API: nobody can answer a "
                                        "question, so reply without asking."))
            await service.reply(ticket.id, actor, grants, text_field(body, "text"), ask=ask)
        elif action == "note":
            await service.add_note(ticket.id, actor, grants, text_field(body, "text"))
        elif action == "resolve":
            await service.resolve(ticket.id, actor, grants, text_field(body, "text"))
        elif action == "handover":
            await service.hand_over(ticket.id, actor, grants, text_field(body, "grid"),
                                    text_field(body, "text", required=False))
        elif action == "escalate":
            await service.escalate(ticket.id, actor, grants, text_field(body, "text"))
        elif action == "route":
            if ticket.tier is not Tier.TOWN:
                raise Conflict(ticket.id)
            department = text_field(body, "department")
            if department not in (await service.routable_departments())[0]:
                raise Unstaffed(department)
            await service.escalate(ticket.id, actor, grants, text_field(body, "text"), department)
        elif action == "return":
            await service.return_to_town(ticket.id, actor, grants, text_field(body, "text"))
        elif action == "urge":
            await service.urge(ticket.id, actor, grants)
        elif action == "merge":
            into = ticket_number(str(body.get("into", "")), settings.ticket_prefix)
            if into is None:
                raise bad_input()
            await service.merge(ticket.id, into, actor, grants)
        else:
            raise json_error(404, _("There is no such action."))
    except UrgedRecently as error:
        raise json_error(409, urged_recently_text(format_number(settings.ticket_prefix, ticket.id), error.at,
                                                   settings.timezone)) from None
    except InvalidInput as error:
        # Every text an action takes is a note's length at most (domain/service.py), as the chat says.
        if error.args == ("too long",):
            raise json_error(400, _("Please keep it under {max} characters.").format(max=MAX_NOTE)) from None
        raise bad_input() from None
    except TicketError as error:
        raise json_error(STATUS_OF_ERROR.get(type(error), 400), plain(ticket_error_text(error))) from None
    ticket = await storage.get_ticket(ticket.id)
    return await ticket_answer(request, user, ticket, await storage.get_grid(ticket.grid_code))


# -- photos and changes --------------------------------------------------------------------------------
async def photo(request: web.Request) -> web.Response:
    """GET /app/photos/{ticket}/{stage}/{index}?u=&e=&s=: a photo of a ticket, for the person the
    address was signed for, while it is good and while they may still open the ticket."""
    settings, storage, now = request.app[SETTINGS], request.app[STORAGE], request.app[CLOCK]()
    ticket_id, stage, index = (int(request.match_info["ticket_id"]), request.match_info["stage"],
                               int(request.match_info["index"]))
    try:
        viewer, expires = int(request.query.get("u", "")), int(request.query.get("e", ""))
    except ValueError:
        raise web.HTTPNotFound() from None
    expected = photo_signature(settings.bot_token or "", viewer, ticket_id, stage, index, expires)
    if not settings.bot_token or FILES not in request.app or expires < now \
            or not hmac.compare_digest(expected, request.query.get("s", "")):
        raise web.HTTPNotFound()
    ticket = await storage.get_ticket(ticket_id)
    grants = await grants_of(request, viewer)
    if ticket is None or not staff_may_view(grants, ticket, await storage.get_grid(ticket.grid_code)):
        raise web.HTTPNotFound()
    attachments = ticket.attachments if stage == "report" else ticket.after_attachments
    if index >= len(attachments) or attachments[index].kind is not MediaKind.PHOTO:
        raise web.HTTPNotFound()
    return await photo_response(request.app[FILES], attachments[index], "private, max-age=3600")


async def changes(request: web.Request) -> web.Response:
    """GET /app/api/changes?since=<cursor>: the tickets of the caller's scope changed since the
    cursor, the latest first, and the cursor to ask with next (without `since`: the cursor alone).
    A ticket changed in the last seconds may be named twice."""
    try:
        since = int(request.query["since"]) if "since" in request.query else None
    except ValueError:
        raise bad_input() from None
    if since is not None and abs(since) >= 2**63:  # beyond a database integer: no cursor we gave
        raise bad_input()
    settled_before = request.app[CLOCK]() - CHANGES_SETTLE_SECONDS
    cursor, tickets = await request.app[STORAGE].console_changes(view_scope(console_user(request).grants), since,
                                                                  settled_before)
    return web.json_response({"cursor": cursor, "tickets": tickets})


def add_ticket_api(app: web.Application) -> None:
    app.router.add_get(API_PREFIX + "tickets", list_tickets)
    app.router.add_get(API_PREFIX + r"tickets/{ticket_id:\d{1,12}}", show_ticket)
    app.router.add_post(API_PREFIX + r"tickets/{ticket_id:\d{1,12}}/{action:[a-z]{1,20}}", act)
    app.router.add_get(API_PREFIX + "changes", changes)
    app.router.add_get(PHOTO_ROUTE, photo)

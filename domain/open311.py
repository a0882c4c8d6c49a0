"""Open311 GeoReport v2 (wiki.open311.org/GeoReport_v2): what a public ticket is as a service
request, the rules of the `GET requests` query, and `POST requests`: a ticket filed with an API
key. The web layer (web/open311.py) renders these as JSON or XML; only tickets the public board
shows (domain/board.py) ever get here, and only with their approved public text, never the
resident's original or identity; except that the holder of an API key reads the tickets filed with
it as they were filed."""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone

from domain.geo import nearest_grids, within
from domain.models import ApiKey, Grid, Kind, PublicPost, Status, Ticket, Tier
from domain.service import Draft, InvalidInput, TicketService
from domain.tickets import OPEN_STATUSES, api_submitter
from storage.base import Storage

# The spec's limits of `GET requests`: at most this many a page, and without dates the last 90 days.
MAX_REQUESTS = 1000
DEFAULT_WINDOW_SECONDS = 90 * 86400


# Tickets one API key may file in an hour (the filing limit of `TicketService`, counted in the
# database, so it holds across processes): a 12345 desk files many more than a resident.
FILINGS_PER_HOUR_PER_KEY = 300
# The attribute of every service (its service definition) that names the grid by its code.
GRID_ATTRIBUTE = "grid"


class InvalidQuery(ValueError):
    """A query parameter the spec does not allow as given; its argument names the parameter."""


class UnknownService(LookupError):
    """`POST requests` named a service code we do not have (the spec's 404)."""


def new_api_key() -> str:
    """A key to hand out once: 256 random bits, so a plain SHA-256 of it is safe to store (no
    slow hash is needed against guessing)."""
    return secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def filed_with(ticket: Ticket, key: ApiKey | None) -> bool:
    """The ticket was filed with this API key: its holder may follow it, public or not."""
    return key is not None and ticket.resident_id == api_submitter(key.id)


def open311_status(status: Status) -> str:
    """The spec knows two states: open, and closed (resolved, confirmed or withdrawn)."""
    return "open" if status in OPEN_STATUSES else "closed"


def agency_responsible(ticket: Ticket, grid: Grid) -> str:
    """The holder as a body, never a person: the grid, the village, the town or the department."""
    if ticket.tier is Tier.DEPARTMENT and ticket.department:
        return ticket.department
    return {Tier.GRID: grid.name, Tier.VILLAGE: grid.village}.get(ticket.tier, grid.town)


def expected_at(ticket: Ticket) -> int | None:
    """When it should be resolved: the running resolve deadline of an open ticket (none while the
    clock waits for the resident)."""
    if ticket.status not in OPEN_STATUSES or ticket.paused_at is not None:
        return None
    return ticket.resolve_due_at


def updated_at(ticket: Ticket, post: PublicPost | None) -> int:
    """The latest change the reader may know of."""
    moments = (ticket.created_at, ticket.first_reply_at, ticket.tier_since, ticket.resolved_at,
               ticket.confirmed_at, post.decided_at if post else None)
    return max(m for m in moments if m is not None)


def w3c(epoch: int | None) -> str | None:
    """A W3C datetime in UTC, as the spec writes them (2010-04-14T06:37:38Z)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_w3c(name: str, text: str) -> int:
    """A W3C datetime with its zone (a bare date is midnight UTC) as Unix seconds."""
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), timezone.utc)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidQuery(name) from None
    if moment.tzinfo is None:
        raise InvalidQuery(name)  # the spec requires the zone
    return int(moment.timestamp())


@dataclass(frozen=True)
class RequestQuery:
    """The filters of `GET requests`. With ids, the dates do not apply (the spec: ids override them);
    without an end, up to now; without a start, the 90 days before the end. A longer range is
    allowed (the spec's 90 days is a server's choice): the 1,000 a page bound it."""

    ids: frozenset[int] | None
    service_code: str | None
    status: str | None
    start: int
    end: int

    @classmethod
    def parse(cls, params: dict[str, str], now: int) -> RequestQuery:
        ids = None
        if params.get("service_request_id"):
            try:
                ids = frozenset(int(part) for part in params["service_request_id"].split(",") if part.strip())
            except ValueError:
                raise InvalidQuery("service_request_id") from None
        status = params.get("status") or None
        if status not in (None, "open", "closed"):
            raise InvalidQuery("status")
        start = parse_w3c("start_date", params["start_date"]) if params.get("start_date") else None
        end = parse_w3c("end_date", params["end_date"]) if params.get("end_date") else None
        if end is None:
            end = now
        if start is None:
            start = end - DEFAULT_WINDOW_SECONDS
        if start > end:
            raise InvalidQuery("start_date")
        return cls(ids, params.get("service_code") or None, status, start, end)

    def matches(self, ticket: Ticket) -> bool:
        if self.ids is not None and ticket.id not in self.ids:
            return False
        if self.ids is None and not self.start <= ticket.created_at <= self.end:
            return False
        if self.service_code is not None and ticket.category_code != self.service_code:
            return False
        return self.status is None or open311_status(ticket.status) == self.status


@dataclass(frozen=True)
class NewRequest:
    """What `POST requests` asks to file: a service code, a description and a place, by lat/long
    or by the grid's code (the spec's address_id, as our answers give it, or the service's `grid`
    attribute). The spec's personal fields (email, names, phone, device and account ids) are not
    kept: the API key is the filer."""

    service_code: str
    description: str
    lat: float | None
    lon: float | None
    grid_code: str | None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> NewRequest:
        service_code = params.get("service_code", "").strip()
        if not service_code:
            raise InvalidQuery("service_code")
        description = params.get("description", "").strip()
        if not description:
            raise InvalidQuery("description")
        grid_code = (params.get(f"attribute[{GRID_ATTRIBUTE}]") or params.get("address_id") or "").strip() or None
        lat = lon = None
        if params.get("lat") or params.get("long"):
            try:
                lat, lon = float(params.get("lat", "")), float(params.get("long", ""))
            except ValueError:
                raise InvalidQuery("lat/long") from None
            if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
                raise InvalidQuery("lat/long")
        elif grid_code is None:
            raise InvalidQuery("lat/long")  # the spec: a location is required
        return cls(service_code, description, lat, lon, grid_code)


class RequestDesk:
    """Files service requests posted with an API key as tickets, through the same `TicketService`
    as the bot: the card is queued in the outbox for the grid's workers (the bot sends it, also when
    another process filed it), the filer's own notices are not (see domain.tickets.api_submitter).
    A request is a public report: it reaches the board only once staff approve it."""

    def __init__(self, storage: Storage, tickets: TicketService, nearest_grid_km: float):
        self.storage = storage
        self.tickets = tickets
        self.nearest_m = nearest_grid_km * 1000

    async def key(self, api_key: str) -> ApiKey | None:
        """The live key `api_key` is, if any."""
        return await self.storage.live_api_key(key_hash(api_key)) if api_key else None

    async def grid(self, request: NewRequest) -> Grid:
        """The grid named, or else the nearest within NEAREST_GRID_KM of the location."""
        if request.grid_code is not None:
            grid = await self.storage.get_grid(request.grid_code)
            if grid is None:
                raise InvalidQuery("address_id")
            return grid
        near = within(nearest_grids(await self.storage.list_grids(), request.lat, request.lon, 1), self.nearest_m)
        if not near:
            raise InvalidQuery("lat/long")
        return near[0][0]

    async def file(self, key: ApiKey, request: NewRequest) -> Ticket:
        """The stored ticket; UnknownService, InvalidQuery or the service's RateLimited."""
        if await self.storage.get_category(request.service_code) is None:
            raise UnknownService(request.service_code)
        grid = await self.grid(request)
        draft = Draft(Kind.REPORT, request.service_code, grid.code, request.description, lat=request.lat, lon=request.lon)
        try:
            ticket, _created = await self.tickets.file(api_submitter(key.id), draft)
        except InvalidInput as refused:
            # The location and codes were checked above; the reason ("empty", "too long") goes along.
            raise InvalidQuery("description", *refused.args) from None
        return ticket

"""Open311 GeoReport v2 (wiki.open311.org/GeoReport_v2): what a public ticket is as a service
request, and the rules of the `GET requests` query. The web layer (web/open311.py) renders these
as JSON or XML; only tickets the public board shows (domain/board.py) ever get here, and only with
their approved public text, never the resident's original or identity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from domain.models import Grid, PublicPost, Status, Ticket, Tier
from domain.tickets import OPEN_STATUSES

# The spec's limits of `GET requests`: at most this many a page, and without dates the last 90 days.
MAX_REQUESTS = 1000
DEFAULT_WINDOW_SECONDS = 90 * 86400


class InvalidQuery(ValueError):
    """A query parameter the spec does not allow as given; its argument names the parameter."""


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


def updated_at(ticket: Ticket, post: PublicPost) -> int:
    """The latest change the public may know of."""
    moments = (ticket.created_at, ticket.first_reply_at, ticket.tier_since, ticket.resolved_at,
               ticket.confirmed_at, post.decided_at)
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

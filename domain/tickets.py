"""Ticket rules: the state machine, numbering, limits and who may act on a ticket."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from domain.models import Grid, Kind, ReturnVisit, Role, RoleGrant, Status, Ticket, Tier

# Photos per ticket, as in the Xigang phone form.
MAX_PHOTOS = 5
# Keeps the resident's summary and the worker's card (description plus about 600 characters of
# headings) under Telegram's 4,096-character limit for one message.
MAX_DESCRIPTION = 3000
MAX_NOTE = 1500
# A resident may say "not solved" for this long after staff closed the ticket.
REOPEN_WINDOW_SECONDS = 7 * 24 * 3600
# Deep-link payloads allow A-Z, a-z, 0-9, _ and - and at most 64 characters; "g_" takes two.
GRID_CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,60}")  # use with fullmatch

# A ticket filed through the Open311 API has the API key as its resident, under an id no Telegram
# chat has (Telegram's ids have at most 52 significant bits): nothing is ever sent to it.
API_SUBMITTER_BASE = -(2**53)


def api_submitter(key_id: int) -> int:
    """The resident id of the tickets filed with the API key `key_id`."""
    return API_SUBMITTER_BASE - key_id


def is_api_submitter(resident_id: int) -> bool:
    return resident_id <= API_SUBMITTER_BASE


def api_key_id(resident_id: int) -> int:
    """The API key a ticket was filed with, from its resident id (see `api_submitter`)."""
    return API_SUBMITTER_BASE - resident_id


# What other residents may see (and follow with "me too"); a complaint stays with its filer and staff.
PUBLIC_KINDS = frozenset({Kind.REPORT, Kind.SUGGESTION})
# Mainland mobile numbers (optionally +86, digits in groups) and 18- or 15-digit ID numbers; \d
# also matches full-width digits, which residents' keyboards produce.
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?([1１][3-9３-９]\d)((?:[\s-]?\d){4})[\s-]?(\d{4})(?!\d)")
_ID_NUMBER = re.compile(r"(?<!\d)(\d{3})(\d{11}|\d{8})(\d{3}[\dXx]|\d{4})(?![\dXx])")


def mask_personal(text: str) -> str:
    """Masks mobile and ID numbers in what one resident sees of another's ticket."""
    text = _ID_NUMBER.sub(lambda m: m[1] + "*" * len(m[2]) + m[3], text)
    return _MOBILE.sub(lambda m: m[1] + "****" + m[3], text)


OPEN_STATUSES = frozenset(
    {Status.NEW, Status.IN_PROGRESS, Status.WAITING_RESIDENT, Status.REOPENED}
)


class Action(StrEnum):
    TAKE = "take"
    REPLY = "reply"
    ASK = "ask"  # reply that waits for the resident's answer
    RESIDENT_ANSWER = "resident_answer"
    RESOLVE = "resolve"
    HAND_OVER = "hand_over"
    ESCALATE = "escalate"
    RETURN = "return"  # a department sends it back to the town command centre (退回)
    MERGE = "merge"  # closed as a duplicate of another open ticket
    WITHDRAW = "withdraw"  # the resident withdraws it (撤回)
    CONFIRM = "confirm"
    REOPEN = "reopen"
    RATE = "rate"
    PHONE = "phone"  # staff called the resident back (已电话联系)
    AUTO_CLOSE = "auto_close"  # the resident never answered "solved?"


class TransitionError(Exception):
    """The action is not allowed in the ticket's current state."""

    def __init__(self, status: Status, action: Action):
        super().__init__(f"cannot {action} a ticket that is {status}")
        self.status = status
        self.action = action


_TRANSITIONS: dict[Action, dict[Status, Status]] = {
    Action.TAKE: {Status.NEW: Status.IN_PROGRESS, Status.REOPENED: Status.IN_PROGRESS},
    Action.REPLY: {s: s for s in OPEN_STATUSES} | {Status.NEW: Status.IN_PROGRESS},
    Action.ASK: {s: Status.WAITING_RESIDENT for s in OPEN_STATUSES},
    Action.RESIDENT_ANSWER: {s: s for s in OPEN_STATUSES}
    | {Status.WAITING_RESIDENT: Status.IN_PROGRESS},
    Action.RESOLVE: {s: Status.RESOLVED for s in OPEN_STATUSES},
    Action.HAND_OVER: {s: Status.NEW for s in OPEN_STATUSES},
    Action.ESCALATE: {s: Status.NEW for s in OPEN_STATUSES},
    Action.RETURN: {s: Status.NEW for s in OPEN_STATUSES},
    Action.MERGE: {s: Status.MERGED for s in OPEN_STATUSES},
    Action.WITHDRAW: {s: Status.WITHDRAWN for s in OPEN_STATUSES},
    Action.CONFIRM: {Status.RESOLVED: Status.CLOSED},
    Action.REOPEN: {Status.RESOLVED: Status.REOPENED},
    Action.RATE: {Status.CLOSED: Status.CLOSED},
    Action.PHONE: {s: s for s in OPEN_STATUSES} | {Status.NEW: Status.IN_PROGRESS},
    Action.AUTO_CLOSE: {Status.RESOLVED: Status.CLOSED},
}


def next_status(status: Status, action: Action) -> Status:
    try:
        return _TRANSITIONS[action][status]
    except KeyError:
        raise TransitionError(status, action) from None


# A phone number as Telegram's contact button gives it: digits with or without "+" (E.164 has at
# most 15 digits; Telegram's test numbers have 5).
_PHONE_NUMBER = re.compile(r"\+?([0-9]{5,15})")


def callback_number(phone_number: str | None) -> str | None:
    """A shared contact's number as stored for a call-back ("+8613912345678"), or None if it is not one."""
    match = _PHONE_NUMBER.fullmatch((phone_number or "").replace(" ", ""))
    return "+" + match.group(1) if match else None


def visit_tier(ticket: Ticket) -> Tier:
    """Who pays a return visit (回访): the village for tickets closed at the grid or the village,
    the town command centre for those closed above."""
    closed_at = ticket.resolved_tier or ticket.tier
    return Tier.VILLAGE if closed_at in (Tier.GRID, Tier.VILLAGE) else Tier.TOWN


def may_visit(grants: Iterable[RoleGrant], visit: ReturnVisit, grid: Grid) -> bool:
    """Whether someone may record a return visit: its village's staff, the town command centre of
    its town (which gets a village's visits when nobody there is reachable), admins."""
    return any(
        g.role is Role.ADMIN
        or (g.role is Role.TOWN and g.scope == grid.town)
        or (visit.tier is Tier.VILLAGE and g.role is Role.VILLAGE and g.scope == grid.village)
        for g in grants
    )


# "XG-000123", "xg-123" or "123".
TICKET_NUMBER = re.compile(r"(?:([A-Za-z]+)-)?0*(\d{1,12})")


def format_number(prefix: str, ticket_id: int) -> str:
    return f"{prefix}-{ticket_id:06d}"


# Where a ticket goes when nobody at its tier can be reached: up the chain to the town command
# centre, which departments answer to. The town is the top: it holds a ticket even while nobody
# there can be reached (admins are warned).
FALLBACK_TIER: dict[Tier, Tier | None] = {
    Tier.GRID: Tier.VILLAGE,
    Tier.VILLAGE: Tier.TOWN,
    Tier.DEPARTMENT: Tier.TOWN,
    Tier.TOWN: None,
}
TIER_OF_ROLE = {Role.GRID_WORKER: Tier.GRID, Role.VILLAGE: Tier.VILLAGE, Role.TOWN: Tier.TOWN,
                Role.DEPARTMENT: Tier.DEPARTMENT}


def tier_holder(ticket: Ticket, grid: Grid | None, tier: Tier | None = None) -> tuple[Role, str]:
    """The role and scope that hold the ticket at `tier` (by default its current tier): the grid,
    its village, its town, or its department; an unknown grid leaves the village and town scopes
    empty."""
    return holder_at(tier or ticket.tier, ticket.grid_code, ticket.department, grid)


def holder_at(tier: Tier, grid_code: str, department: str | None, grid: Grid | None) -> tuple[Role, str]:
    """`tier_holder` of a ticket at `tier` in grid `grid_code` (`grid`, when known) and `department`."""
    if tier is Tier.GRID:
        return Role.GRID_WORKER, grid_code
    if tier is Tier.VILLAGE:
        return Role.VILLAGE, grid.village if grid else ""
    if tier is Tier.TOWN:
        return Role.TOWN, grid.town if grid else ""
    return Role.DEPARTMENT, department or ""


def staff_may_handle(grants: Iterable[RoleGrant], ticket: Ticket, grid: Grid) -> bool:
    """Whether someone with these roles may act on the ticket at its current tier."""
    role, scope = tier_holder(ticket, grid)
    return any(g.role is Role.ADMIN or (g.role is role and g.scope == scope) for g in grants)


def staff_may_view(grants: Iterable[RoleGrant], ticket: Ticket, grid: Grid | None) -> bool:
    """Whether someone may open the ticket's card (/t): admins and officials without a town any
    ticket; staff and officials those of their area at any tier, a department those of its own."""
    for g in grants:
        if g.role is Role.ADMIN or (g.role is Role.OFFICIAL and not g.scope):
            return True
        if (
            (g.role is Role.GRID_WORKER and g.scope == ticket.grid_code)
            or (g.role is Role.DEPARTMENT and g.scope == ticket.department)
            or (grid is not None and g.role is Role.VILLAGE and g.scope == grid.village)
            or (grid is not None and g.role in (Role.TOWN, Role.OFFICIAL) and g.scope == grid.town)
        ):
            return True
    return False


def supervised_towns(grants: Iterable[RoleGrant]) -> frozenset[str] | None:
    """The towns whose tickets this person oversees at every tier (督办): the town command centre
    its town, officials their town; None for every town (admins, officials without a scope)."""
    grants = list(grants)
    if any(g.role is Role.ADMIN or (g.role is Role.OFFICIAL and not g.scope) for g in grants):
        return None
    return frozenset(g.scope for g in grants if g.role in (Role.TOWN, Role.OFFICIAL))


def may_supervise(grants: Iterable[RoleGrant], grid: Grid) -> bool:
    towns = supervised_towns(grants)
    return towns is None or grid.town in towns


def is_staff(grants: Iterable[RoleGrant]) -> bool:
    handling = {Role.GRID_WORKER, Role.VILLAGE, Role.TOWN, Role.DEPARTMENT, Role.ADMIN}
    return any(g.role in handling for g in grants)


def has_role(grants: Iterable[RoleGrant], *roles: Role) -> bool:
    return any(g.role in roles for g in grants)


def grids_in_scope(grants: Iterable[RoleGrant], grids: Iterable[Grid]) -> list[Grid]:
    """The grids whose codes this person may print: admins all, others those of their scope."""
    grants = list(grants)
    if has_role(grants, Role.ADMIN):
        return list(grids)
    return [
        grid
        for grid in grids
        if any(
            (g.role is Role.GRID_WORKER and g.scope == grid.code)
            or (g.role is Role.VILLAGE and g.scope == grid.village)
            or (g.role is Role.TOWN and g.scope == grid.town)
            for g in grants
        )
    ]

"""The console's rules (the Mini App of web/console/): who may open it, what each person may see
and do there, and what a ticket list asks of storage. The same scopes as the chat: a ticket a
person may open with /t is a ticket of their console list (domain.tickets.staff_may_view)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from domain.models import Grid, Role, RoleGrant, Status, Ticket, Tier
from domain.tickets import OPEN_STATUSES, has_role, is_staff, may_supervise, staff_may_handle, staff_may_view

# Who may open the console at all: staff of every tier, officials and admins (not residents,
# inspectors or shop owners).
CONSOLE_ROLES = (Role.GRID_WORKER, Role.VILLAGE, Role.TOWN, Role.DEPARTMENT, Role.OFFICIAL, Role.ADMIN)
# Who reads the figures: as /stats in the chat, and the town command centre its town's.
FIGURES_ROLES = (Role.OFFICIAL, Role.TOWN, Role.ADMIN)


@dataclass(frozen=True)
class ConsoleUser:
    """Who signed in through Telegram, in the language they chose in the bot, with their roles."""

    telegram_id: int
    name: str
    language: str
    grants: tuple[RoleGrant, ...]

    @property
    def may_open(self) -> bool:
        return has_role(self.grants, *CONSOLE_ROLES)

    @property
    def may_act(self) -> bool:
        """Staff may act on tickets (each action still checks the ticket); officials only read."""
        return is_staff(self.grants)

    @property
    def may_read_figures(self) -> bool:
        return has_role(self.grants, *FIGURES_ROLES)


@dataclass(frozen=True)
class ViewScope:
    """The tickets someone may open, as storage filters them: every ticket (`everything`), or those
    of these grids, villages and towns (by the ticket's grid) and departments (by the ticket's
    department), at any tier. Mirrors domain.tickets.staff_may_view."""

    everything: bool = False
    grids: frozenset[str] = frozenset()
    villages: frozenset[str] = frozenset()
    towns: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.everything or self.grids or self.villages or self.towns or self.departments)


def view_scope(grants: Iterable[RoleGrant]) -> ViewScope:
    grants = list(grants)
    if any(g.role is Role.ADMIN or (g.role is Role.OFFICIAL and not g.scope) for g in grants):
        return ViewScope(everything=True)

    def scopes(*roles: Role) -> frozenset[str]:
        return frozenset(g.scope for g in grants if g.role in roles)

    return ViewScope(
        grids=scopes(Role.GRID_WORKER),
        villages=scopes(Role.VILLAGE),
        towns=scopes(Role.TOWN, Role.OFFICIAL),
        departments=scopes(Role.DEPARTMENT),
    )


# The orders of the list, as the API names them: (what orders it, newest or latest first).
SORTS = {
    "created": ("created_at", False),
    "-created": ("created_at", True),
    "deadline": ("resolve_due_at", False),
    "-updated": ("updated_at", True),
}
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class TicketQuery:
    """One page of a console list: the filters (None: any), the order (a key of SORTS) and the page
    (from 1). `created_from`/`created_until` are Unix seconds, [from, until)."""

    statuses: frozenset[Status] = frozenset()
    tiers: frozenset[Tier] = frozenset()
    categories: frozenset[str] = frozenset()
    grids: frozenset[str] = frozenset()
    overdue_at: int | None = None  # only tickets overdue at this time (domain.deadlines.is_overdue)
    waiting: bool = False  # only tickets waiting for the resident's answer
    created_from: int | None = None
    created_until: int | None = None
    number: int | None = None  # the ticket searched for by its number
    text: str = ""  # else: searched in the description
    sort: str = "-created"
    page: int = 1
    per_page: int = 20


def ticket_actions(grants: Iterable[RoleGrant], ticket: Ticket, grid: Grid | None) -> list[str]:
    """What someone may do to the ticket now, as the chat card offers it (handlers/keyboards.py
    `staff_ticket`; urging as /overdue): the holders of its tier act on it, staff of its area add
    internal notes, the town command centre and officials urge its holders. Each action checks
    again in domain.service when it is taken."""
    grants = list(grants)
    open_ = ticket.status in OPEN_STATUSES
    actions = []
    if grid is not None and staff_may_handle(grants, ticket, grid):
        if ticket.status in (Status.NEW, Status.REOPENED):
            actions.append("take")
        if open_:
            actions += ["reply", "resolve"]
            actions += {Tier.GRID: ["handover", "escalate"], Tier.VILLAGE: ["escalate"], Tier.TOWN: ["route"],
                        Tier.DEPARTMENT: ["return"]}[ticket.tier]
            actions.append("merge")
    if staff_may_view(grants, ticket, grid):
        actions.append("note")
    if open_ and grid is not None and may_supervise(grants, grid):
        actions.append("urge")
    return actions

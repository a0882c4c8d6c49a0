"""Officials' weekly statistics: ISO weeks, and every figure computed from the rows storage sums up.

A week is Monday 00:00 to the next Monday 00:00 in the bot's time zone. The figures for a week are
about the tickets *received* in it (created in the week, in the chosen scope), each measured as it
stood at the week's end, so that a week looks the same whenever it is viewed and the week before is
compared on equal terms. The definitions (each rate is a `Rate`, None when nothing is counted):

- received: tickets created in the week.
- resolved: received tickets that staff closed by the week's end and that have not been reopened
  since (status resolved or closed, `resolved_at` before the end). A ticket reopened later counts
  as not resolved: the tickets table keeps only the latest closing.
- completion rate (办结率) = resolved / received.
- replied: received tickets with a first staff reply, or failing that a staff closing, before the
  week's end. Reply rate (回复率) = replied / received.
- solved (解决率): tickets the resident confirmed as solved (status closed, `confirmed_at` before the
  end), over received; kept apart from resolved so that closing a ticket does not count as solving
  it.
- satisfaction rate (满意率) = ratings of 4 or 5 / rated tickets, where rated tickets are those
  confirmed by the week's end that carry a rating (ratings have no time of their own). `rated` is
  shown beside it; with no ratings the rate is None ("no ratings").
- overdue: resolved after `resolve_due_at`, or not resolved although `resolve_due_at` passed before
  the week's end. On-time rate (按期办结率) = resolved on time / (resolved + open and overdue):
  tickets still open but not yet due at the week's end may still be on time and are left out.
  The deadline is the one in force at the tier that holds the ticket: an escalation starts a new
  one, so a ticket the next tier closes in its own time counts as on time there.
- time to first reply and to resolve: from `created_at`, over the replied or resolved tickets; the
  mean and the 90th percentile by nearest rank (the smallest duration that at least 90% of the
  durations do not exceed).
- share closed in each tier: resolved tickets by `resolved_tier` / resolved.
- closed during the week: every staff closing in the week, whenever the ticket was received (the
  backlog cleared), counted apart from the cohort above.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from domain.models import Grid, Role, RoleGrant, Tier

if TYPE_CHECKING:
    from storage.base import Storage

DAYS_PER_WEEK = 7
# Below this many rated tickets a grid's satisfaction rate says too little to rank it by.
DEFAULT_MIN_RATED = 5
DEFAULT_TOP = 5
SATISFIED_FROM_RATING = 4

_WEEK_PATTERN = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)


# -- weeks -----------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Week:
    """An ISO 8601 week: weeks start on Monday and week 1 holds the year's first Thursday."""

    year: int
    number: int

    def __post_init__(self) -> None:
        # Raises ValueError for week 53 of a year that has only 52 weeks.
        date.fromisocalendar(self.year, self.number, 1)

    @classmethod
    def parse(cls, text: str) -> Week:
        """Accept "2026-W47", "2026W47" or "2026-w47"."""
        match = _WEEK_PATTERN.match(text)
        if not match:
            raise ValueError(f"not an ISO week like 2026-W47: {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of_day(cls, day: date) -> Week:
        year, number, _ = day.isocalendar()
        return cls(year, number)

    @classmethod
    def containing(cls, moment: int, tz: ZoneInfo) -> Week:
        """The week, in `tz`, that the Unix time `moment` falls in."""
        return cls.of_day(datetime.fromtimestamp(moment, tz).date())

    @classmethod
    def last_full(cls, now: int, tz: ZoneInfo) -> Week:
        """The latest week that has ended by `now`: during any day of a week, the week before."""
        return cls.containing(now, tz).previous()

    def __str__(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def days(self) -> tuple[date, ...]:
        return tuple(self.monday + timedelta(days=i) for i in range(DAYS_PER_WEEK))

    def previous(self) -> Week:
        return Week.of_day(self.monday - timedelta(days=DAYS_PER_WEEK))

    def next(self) -> Week:
        return Week.of_day(self.monday + timedelta(days=DAYS_PER_WEEK))

    def window(self, tz: ZoneInfo) -> WeekWindow:
        """The week as Unix seconds; each local midnight is converted on its own, so a week with a
        daylight-saving change has a 23- or 25-hour day."""
        midnights = [self.monday + timedelta(days=i) for i in range(DAYS_PER_WEEK + 1)]
        bounds = tuple(int(datetime.combine(d, time(0), tzinfo=tz).timestamp()) for d in midnights)
        return WeekWindow(bounds)


@dataclass(frozen=True)
class WeekWindow:
    """Local midnights of a week's Monday to the next Monday, as Unix seconds (eight values)."""

    bounds: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.bounds) != DAYS_PER_WEEK + 1 or list(self.bounds) != sorted(set(self.bounds)):
            raise ValueError("a week window needs eight increasing day boundaries")

    @property
    def start(self) -> int:
        return self.bounds[0]

    @property
    def end(self) -> int:
        """Exclusive: the next Monday 00:00."""
        return self.bounds[-1]


# -- scope -----------------------------------------------------------------------------------------
class ScopeLevel(StrEnum):
    ALL = "all"
    TOWN = "town"
    VILLAGE = "village"
    GRID = "grid"


@dataclass(frozen=True)
class Scope:
    """Which tickets count: all, or those of the grids of one town, one village or one grid.

    `name` is the town's or village's name (as in the grids table) or the grid's code."""

    level: ScopeLevel = ScopeLevel.ALL
    name: str = ""

    def __post_init__(self) -> None:
        if (self.level is ScopeLevel.ALL) != (self.name == ""):
            raise ValueError("scope 'all' takes no name; a town, village or grid scope needs one")


# -- what storage returns --------------------------------------------------------------------------
class Counts(NamedTuple):
    """Additive tallies of received tickets (see the module docstring for each definition).

    Storage returns one per grid; `total` of them gives the scope's. A tuple, so that they add up
    quickly column by column."""

    received: int = 0
    replied: int = 0
    reply_seconds: int = 0  # summed over replied tickets
    resolved: int = 0
    resolve_seconds: int = 0  # summed over resolved tickets
    resolved_late: int = 0
    open_overdue: int = 0
    confirmed: int = 0
    rated: int = 0
    satisfied: int = 0
    resolved_in_grid: int = 0
    resolved_in_village: int = 0
    resolved_in_town: int = 0
    resolved_in_department: int = 0

    def resolved_in(self, tier: Tier) -> int:
        return getattr(self, f"resolved_in_{tier.value}")


def total(counts: Iterable[Counts]) -> Counts:
    sums = tuple(map(sum, zip(*counts)))
    return Counts._make(sums) if sums else Counts()


class DayCounts(NamedTuple):
    """The few tallies the chart shows per day, so that the day's pass over the tickets is cheap."""

    received: int = 0
    replied: int = 0
    resolved: int = 0
    rated: int = 0
    satisfied: int = 0


@dataclass(frozen=True)
class GridCounts:
    grid_code: str
    counts: Counts


@dataclass(frozen=True)
class CategoryCount:
    category_code: str
    received: int


@dataclass(frozen=True)
class WeekRows:
    """What storage sums up for the week shown; figures are computed from it here. (The week
    before needs only the total of its counts.)"""

    by_grid: tuple[GridCounts, ...]  # grids that received tickets
    by_day: tuple[DayCounts, ...]  # Monday to Sunday, local time
    categories: tuple[CategoryCount, ...]
    # 90th percentiles by nearest rank, computed where the durations are (None when there are none).
    reply_p90_seconds: int | None
    resolve_p90_seconds: int | None
    closed_during_week: int
    grids: tuple[Grid, ...]  # the grids of the scope, for names


# -- figures ---------------------------------------------------------------------------------------
class Rate(NamedTuple):
    """A share with its counts; `value` is None when the denominator is zero."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


class Duration(NamedTuple):
    count: int
    mean_seconds: float | None
    p90_seconds: int | None


class _Shares:
    """The counts and rates shown for a scope, a grid and a day alike; `counts` has the fields."""

    __slots__ = ()
    counts: Counts | DayCounts

    @property
    def received(self) -> int:
        return self.counts.received

    @property
    def resolved(self) -> int:
        return self.counts.resolved

    @property
    def replied(self) -> int:
        return self.counts.replied

    @property
    def rated(self) -> int:
        return self.counts.rated

    @property
    def completion_rate(self) -> Rate:
        """办结率"""
        return Rate(self.counts.resolved, self.counts.received)

    @property
    def reply_rate(self) -> Rate:
        """回复率"""
        return Rate(self.counts.replied, self.counts.received)

    @property
    def satisfaction_rate(self) -> Rate:
        """满意率; its denominator is the number rated."""
        return Rate(self.counts.satisfied, self.counts.rated)


@dataclass(frozen=True, slots=True)
class Figures(_Shares):
    """The figures of summed counts, worked out when asked for (a week has hundreds of grids).

    Percentiles come from storage, for the week's whole scope only."""

    counts: Counts
    reply_p90_seconds: int | None = None
    resolve_p90_seconds: int | None = None

    @property
    def confirmed(self) -> int:
        return self.counts.confirmed

    @property
    def overdue(self) -> int:
        return self.counts.resolved_late + self.counts.open_overdue

    @property
    def open_at_end(self) -> int:
        """Received tickets that were not resolved at the week's end."""
        return self.counts.received - self.counts.resolved

    @property
    def solved_rate(self) -> Rate:
        """解决率: confirmed by the resident."""
        return Rate(self.counts.confirmed, self.counts.received)

    @property
    def on_time_rate(self) -> Rate:
        c = self.counts
        return Rate(c.resolved - c.resolved_late, c.resolved + c.open_overdue)

    @property
    def time_to_reply(self) -> Duration:
        c = self.counts
        return Duration(c.replied, _mean(c.reply_seconds, c.replied), self.reply_p90_seconds)

    @property
    def time_to_resolve(self) -> Duration:
        c = self.counts
        return Duration(c.resolved, _mean(c.resolve_seconds, c.resolved), self.resolve_p90_seconds)

    @property
    def closed_by_tier(self) -> dict[Tier, Rate]:
        """Share of the resolved tickets closed in each tier."""
        return {tier: Rate(self.counts.resolved_in(tier), self.counts.resolved) for tier in Tier}


def _mean(total_seconds: int, count: int) -> float | None:
    return total_seconds / count if count else None


@dataclass(frozen=True)
class FiguresChange:
    """This week minus the week before: counts in tickets, rates in fractions (0.05 = 5 points),
    times in seconds; None where either week has no value."""

    received: int
    resolved: int
    completion_rate: float | None
    reply_rate: float | None
    satisfaction_rate: float | None
    solved_rate: float | None
    on_time_rate: float | None
    mean_reply_seconds: float | None
    mean_resolve_seconds: float | None


def _difference(current: float | None, previous: float | None) -> float | None:
    return None if current is None or previous is None else current - previous


_COMPARED_RATES = ("completion_rate", "reply_rate", "satisfaction_rate", "solved_rate", "on_time_rate")


def change(current: Figures, previous: Figures) -> FiguresChange:
    rates = {
        name: _difference(getattr(current, name).value, getattr(previous, name).value)
        for name in _COMPARED_RATES
    }
    return FiguresChange(
        received=current.received - previous.received,
        resolved=current.resolved - previous.resolved,
        mean_reply_seconds=_difference(
            current.time_to_reply.mean_seconds, previous.time_to_reply.mean_seconds
        ),
        mean_resolve_seconds=_difference(
            current.time_to_resolve.mean_seconds, previous.time_to_resolve.mean_seconds
        ),
        **rates,
    )


@dataclass(frozen=True)
class GridFigures:
    grid: Grid
    figures: Figures


@dataclass(frozen=True, slots=True)
class DayFigures(_Shares):
    day: date
    counts: DayCounts


@dataclass(frozen=True)
class CategoryShare:
    category_code: str
    received: int
    share: Rate  # of the scope's received tickets


@dataclass(frozen=True)
class WeekStats:
    week: Week
    scope: Scope
    window: WeekWindow
    totals: Figures
    previous: Figures  # the week before, same scope; without percentiles
    change: FiguresChange
    closed_during_week: int
    days: tuple[DayFigures, ...]  # Monday to Sunday
    grids: tuple[GridFigures, ...]  # grids that received tickets, by code
    top_categories: tuple[CategoryShare, ...]
    most_overdue: tuple[GridFigures, ...]  # most overdue first; grids with none are left out
    lowest_satisfaction: tuple[GridFigures, ...]  # among grids with at least `min_rated` rated
    not_ranked: tuple[GridFigures, ...]  # received tickets but too few rated to rank
    min_rated: int = DEFAULT_MIN_RATED


def _grid_figures(rows: WeekRows) -> list[GridFigures]:
    grids = {g.code: g for g in rows.grids}
    # A ticket's grid missing from the grids table still shows, under its code.
    return [
        GridFigures(grids.get(row.grid_code) or Grid(row.grid_code, row.grid_code, "", ""),
                    Figures(row.counts))
        for row in sorted(rows.by_grid, key=lambda row: row.grid_code)
    ]


def _satisfaction_key(grid: GridFigures) -> tuple:
    value = grid.figures.satisfaction_rate.value
    # Unrated grids last; among equal rates, more ratings first (the surer result).
    return (value is None, value or 0.0, -grid.figures.rated, grid.grid.code)


def rank_grids(
    grids: Sequence[GridFigures], min_rated: int = DEFAULT_MIN_RATED, top: int = DEFAULT_TOP
) -> tuple[tuple[GridFigures, ...], tuple[GridFigures, ...], tuple[GridFigures, ...]]:
    """(most overdue, lowest satisfaction, not ranked for satisfaction).

    Overdue counts need no ratings, so every grid can rank by them. A grid with fewer than
    `min_rated` rated tickets is listed in the third part, lowest satisfaction first, instead of
    being ranked: two ratings of 1 do not make a grid the worst."""
    most_overdue = sorted(
        (g for g in grids if g.figures.overdue),
        key=lambda g: (-g.figures.overdue, -g.figures.received, g.grid.code),
    )
    rankable = [g for g in grids if g.figures.rated >= min_rated]
    too_few = [g for g in grids if g.figures.rated < min_rated]
    return (
        tuple(most_overdue[:top]),
        tuple(sorted(rankable, key=_satisfaction_key)[:top]),
        tuple(sorted(too_few, key=_satisfaction_key)),
    )


def compute_week_stats(
    week: Week,
    scope: Scope,
    window: WeekWindow,
    rows: WeekRows,
    previous_counts: Counts,
    min_rated: int = DEFAULT_MIN_RATED,
    top: int = DEFAULT_TOP,
) -> WeekStats:
    totals = Figures(
        total(row.counts for row in rows.by_grid), rows.reply_p90_seconds, rows.resolve_p90_seconds
    )
    previous = Figures(previous_counts)
    grids = _grid_figures(rows)
    most_overdue, lowest_satisfaction, not_ranked = rank_grids(grids, min_rated, top)
    categories = sorted(rows.categories, key=lambda c: (-c.received, c.category_code))[:top]
    return WeekStats(
        week=week,
        scope=scope,
        window=window,
        totals=totals,
        previous=previous,
        change=change(totals, previous),
        closed_during_week=rows.closed_during_week,
        days=tuple(DayFigures(day, counts) for day, counts in zip(week.days, rows.by_day)),
        grids=tuple(grids),
        top_categories=tuple(
            CategoryShare(c.category_code, c.received, Rate(c.received, totals.received))
            for c in categories
        ),
        most_overdue=most_overdue,
        lowest_satisfaction=lowest_satisfaction,
        not_ranked=not_ranked,
        min_rated=min_rated,
    )


async def load_week_stats(
    storage: Storage,
    week: Week,
    tz: ZoneInfo,
    scope: Scope = Scope(),
    min_rated: int = DEFAULT_MIN_RATED,
    top: int = DEFAULT_TOP,
) -> WeekStats:
    """The week's statistics with the week before for comparison, read through `storage`."""
    window = week.window(tz)
    rows = await storage.week_stats_rows(window, scope)
    previous_counts = await storage.week_totals(week.previous().window(tz), scope)
    return compute_week_stats(week, scope, window, rows, previous_counts, min_rated, top)


# -- who may see which scope ----------------------------------------------------------------------
def widest_scope(grants: Iterable[RoleGrant]) -> Scope | None:
    """Admins and officials without a scope see everything; an official with a town scope sees
    that town; anyone else sees no statistics."""
    towns = set()
    for grant in grants:
        if grant.role is Role.ADMIN or (grant.role is Role.OFFICIAL and not grant.scope):
            return Scope()
        if grant.role is Role.OFFICIAL:
            towns.add(grant.scope)
    # An official of several towns starts with the first; each town is allowed (scope_allowed).
    return Scope(ScopeLevel.TOWN, sorted(towns)[0]) if towns else None


def scope_allowed(scope: Scope, grants: Iterable[RoleGrant], grids: Sequence[Grid]) -> bool:
    grants = list(grants)
    widest = widest_scope(grants)
    if widest is None:
        return False
    if widest.level is ScopeLevel.ALL:
        return True
    towns = {g.scope for g in grants if g.role is Role.OFFICIAL}
    if scope.level is ScopeLevel.TOWN:
        return scope.name in towns
    if scope.level is ScopeLevel.VILLAGE:
        return any(g.village == scope.name and g.town in towns for g in grids)
    if scope.level is ScopeLevel.GRID:
        return any(g.code == scope.name and g.town in towns for g in grids)
    return False


def child_scopes(scope: Scope, grids: Sequence[Grid]) -> list[Scope]:
    """The next level down: towns of all, villages of a town, grids of a village."""
    if scope.level is ScopeLevel.ALL:
        return [Scope(ScopeLevel.TOWN, town) for town in sorted({g.town for g in grids})]
    if scope.level is ScopeLevel.TOWN:
        return [Scope(ScopeLevel.VILLAGE, v) for v in sorted({g.village for g in grids if g.town == scope.name})]
    if scope.level is ScopeLevel.VILLAGE:
        return [Scope(ScopeLevel.GRID, g.code) for g in grids if g.village == scope.name]
    return []


def parent_scope(scope: Scope, grids: Sequence[Grid]) -> Scope | None:
    if scope.level is ScopeLevel.TOWN:
        return Scope()
    if scope.level is ScopeLevel.VILLAGE:
        town = next((g.town for g in grids if g.village == scope.name), None)
        return Scope(ScopeLevel.TOWN, town) if town else None
    if scope.level is ScopeLevel.GRID:
        village = next((g.village for g in grids if g.code == scope.name), None)
        return Scope(ScopeLevel.VILLAGE, village) if village else None
    return None

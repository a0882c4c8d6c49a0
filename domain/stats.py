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

# -- periods --------------------------------------------------------------------------------------
# Years a period may name: wide enough for any real report, narrow enough that every date and
# Unix time around it is representable (year 1 or 9999 would overflow date arithmetic).
MIN_YEAR = 2000
MAX_YEAR = 2099
# A date range covers at most this many days (a year, with a leap day).
MAX_RANGE_DAYS = 366


class PeriodError(ValueError):
    """A period that cannot be read or lies out of range. `reason` says which, for the answer:
    "format" (not one of the forms), "year" (outside MIN_YEAR..MAX_YEAR), "date" (no such day,
    week, month or quarter), "order" (a range ending before it starts), "length" (a range longer
    than MAX_RANGE_DAYS)."""

    def __init__(self, reason: str, text: str):
        super().__init__(f"{reason}: {text!r}")
        self.reason = reason
        self.text = text


_WEEK_PATTERN = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)
_MONTH_PATTERN = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
_QUARTER_PATTERN = re.compile(r"^\s*(\d{4})-?Q(\d)\s*$", re.IGNORECASE)
_DAY = r"(\d{4})-(\d{1,2})-(\d{1,2})"
_RANGE_PATTERN = re.compile(rf"^\s*{_DAY}\s*(?:\.\.|–|~|/)\s*{_DAY}\s*$")
MONTHS_PER_QUARTER = 3


def _check_year(year: int, text: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError("year", text)


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
        """Accept "2026-W47", "2026W47" or "2026-w47"; PeriodError for anything else, and for
        years outside MIN_YEAR..MAX_YEAR."""
        match = _WEEK_PATTERN.match(text)
        if not match:
            raise PeriodError("format", text)
        year = int(match.group(1))
        _check_year(year, text)
        try:
            return cls(year, int(match.group(2)))
        except ValueError:
            raise PeriodError("date", text) from None

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

    def window(self, tz: ZoneInfo) -> PeriodWindow:
        return window_of_days(self.days, tz)


def window_of_days(days: Sequence[date], tz: ZoneInfo, as_of: int | None = None) -> PeriodWindow:
    """Consecutive days as Unix seconds; each local midnight is converted on its own, so a period
    with a daylight-saving change has a 23- or 25-hour day."""
    midnights = [*days, days[-1] + timedelta(days=1)]
    bounds = tuple(int(datetime.combine(d, time(0), tzinfo=tz).timestamp()) for d in midnights)
    return PeriodWindow(bounds, as_of)


@dataclass(frozen=True)
class PeriodWindow:
    """The local midnights that start each day of a period, and the one after its last day, as
    Unix seconds. `as_of` cuts a period that is not over yet at that moment ("so far")."""

    bounds: tuple[int, ...]
    as_of: int | None = None

    def __post_init__(self) -> None:
        if len(self.bounds) < 2 or list(self.bounds) != sorted(set(self.bounds)):
            raise ValueError("a period window needs at least two increasing day boundaries")

    @property
    def start(self) -> int:
        return self.bounds[0]

    @property
    def end(self) -> int:
        """Exclusive: the midnight after the last day, or `as_of` if that is earlier. Every
        figure is measured as of this moment."""
        return self.bounds[-1] if self.as_of is None else min(self.as_of, self.bounds[-1])

    @property
    def final(self) -> bool:
        """True when the period is over: its figures never change again."""
        return self.as_of is None or self.as_of >= self.bounds[-1]


class PeriodKind(StrEnum):
    WEEK = "week"  # 2026-W47, ISO
    MONTH = "month"  # 2026-11
    QUARTER = "quarter"  # 2026-Q4
    RANGE = "range"  # 2026-11-01..2026-11-15, both days included


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, order=True)
class Period:
    """Whole local days from `first` to `last` (both included), of one kind. Built by `parse`,
    `containing` or `last_full`, which check it; `str()` gives the form `parse` reads back."""

    first: date
    last: date
    kind: PeriodKind = PeriodKind.RANGE

    @classmethod
    def of_week(cls, week: Week) -> Period:
        return cls(week.monday, week.days[-1], PeriodKind.WEEK)

    @classmethod
    def of_month(cls, year: int, month: int) -> Period:
        first = date(year, month, 1)
        return cls(first, _add_months(first, 1) - timedelta(days=1), PeriodKind.MONTH)

    @classmethod
    def of_quarter(cls, year: int, quarter: int) -> Period:
        first = date(year, (quarter - 1) * MONTHS_PER_QUARTER + 1, 1)
        last = _add_months(first, MONTHS_PER_QUARTER) - timedelta(days=1)
        return cls(first, last, PeriodKind.QUARTER)

    @classmethod
    def of_range(cls, first: date, last: date, text: str = "") -> Period:
        text = text or f"{first}..{last}"
        for day in (first, last):
            _check_year(day.year, text)
        if last < first:
            raise PeriodError("order", text)
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise PeriodError("length", text)
        return cls(first, last, PeriodKind.RANGE)

    @classmethod
    def parse(cls, text: str) -> Period:
        """"2026-W47", "2026-11", "2026-Q4" or "2026-11-01..2026-11-15"; PeriodError otherwise."""
        if _WEEK_PATTERN.match(text):
            return cls.of_week(Week.parse(text))
        for pattern, build in ((_MONTH_PATTERN, cls.of_month), (_QUARTER_PATTERN, cls.of_quarter)):
            if match := pattern.match(text):
                year, part = int(match.group(1)), int(match.group(2))
                _check_year(year, text)
                try:
                    return build(year, part)
                except ValueError:  # month 13, quarter 5
                    raise PeriodError("date", text) from None
        if match := _RANGE_PATTERN.match(text):
            numbers = [int(n) for n in match.groups()]
            for year in numbers[0], numbers[3]:
                _check_year(year, text)
            try:
                first, last = date(*numbers[:3]), date(*numbers[3:])
            except ValueError:  # 2026-02-30
                raise PeriodError("date", text) from None
            return cls.of_range(first, last, text)
        raise PeriodError("format", text)

    @classmethod
    def containing(cls, kind: PeriodKind, moment: int, tz: ZoneInfo) -> Period:
        """The week, month or quarter, in `tz`, that the Unix time `moment` falls in."""
        day = datetime.fromtimestamp(moment, tz).date()
        if kind is PeriodKind.WEEK:
            return cls.of_week(Week.of_day(day))
        if kind is PeriodKind.MONTH:
            return cls.of_month(day.year, day.month)
        if kind is PeriodKind.QUARTER:
            return cls.of_quarter(day.year, (day.month - 1) // MONTHS_PER_QUARTER + 1)
        raise ValueError("a date range has no period containing a moment")

    @classmethod
    def last_full(cls, kind: PeriodKind, now: int, tz: ZoneInfo) -> Period:
        """The latest week, month or quarter that has ended by `now`."""
        return cls.containing(kind, now, tz).previous()

    def __str__(self) -> str:
        if self.kind is PeriodKind.WEEK:
            return str(self.week)
        if self.kind is PeriodKind.MONTH:
            return f"{self.first.year}-{self.first.month:02d}"
        if self.kind is PeriodKind.QUARTER:
            return f"{self.first.year}-Q{(self.first.month - 1) // MONTHS_PER_QUARTER + 1}"
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    @property
    def week(self) -> Week:
        """The ISO week of the first day (the week itself for a weekly period)."""
        return Week.of_day(self.first)

    @property
    def days(self) -> tuple[date, ...]:
        return tuple(self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1))

    def previous(self) -> Period:
        """The period of the same kind just before (a range: as many days, ending the day before)."""
        if self.kind is PeriodKind.WEEK:
            return Period.of_week(self.week.previous())
        if self.kind in (PeriodKind.MONTH, PeriodKind.QUARTER):
            months = 1 if self.kind is PeriodKind.MONTH else MONTHS_PER_QUARTER
            first = _add_months(self.first, -months)
            return Period(first, self.first - timedelta(days=1), self.kind)
        length = self.last - self.first
        return Period(self.first - length - timedelta(days=1), self.first - timedelta(days=1), self.kind)

    def next(self) -> Period:
        if self.kind is PeriodKind.WEEK:
            return Period.of_week(self.week.next())
        if self.kind in (PeriodKind.MONTH, PeriodKind.QUARTER):
            months = 1 if self.kind is PeriodKind.MONTH else MONTHS_PER_QUARTER
            first = _add_months(self.first, months)
            return Period(first, _add_months(first, months) - timedelta(days=1), self.kind)
        length = self.last - self.first
        return Period(self.last + timedelta(days=1), self.last + length + timedelta(days=1), self.kind)

    def window(self, tz: ZoneInfo, now: int | None = None) -> PeriodWindow:
        """The period in Unix seconds; with `now` before its end, cut there (not final)."""
        return window_of_days(self.days, tz, now)

    def is_over(self, now: int, tz: ZoneInfo) -> bool:
        return self.window(tz).end <= now


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
    window: PeriodWindow
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
    window: PeriodWindow,
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

"""Officials' weekly statistics: ISO weeks, and every figure computed from the rows storage sums up.

A week is Monday 00:00 to the next Monday 00:00 in the bot's time zone. The figures for a week are
about the tickets *received* in it (created in the week, in the chosen scope), each measured as it
stood at the week's end, so that a week looks the same whenever it is viewed and the week before is
compared on equal terms. The definitions (each rate is a `Rate`, None when nothing is counted):

- received: tickets created in the week; those merged into another or withdrawn by the resident
  (撤回) by the end are counted apart (`merged`, `withdrawn`) and in no rate.
- resolved: received tickets that staff closed by the week's end and that have not been reopened
  since (status resolved or closed, `resolved_at` before the end). A ticket reopened later counts
  as not resolved: the tickets table keeps only the latest closing.
- completion rate (办结率) = resolved / received.
- replied: received tickets with a first staff reply or call to the resident (已电话联系), or failing
  that a staff closing, before the week's end. Reply rate (回复率) = replied / received.
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

from domain.models import Grid, Role, RoleGrant, Status, Ticket, Tier

if TYPE_CHECKING:
    from storage.base import Storage

DAYS_PER_WEEK = 7
# Below this many rated tickets a grid's satisfaction rate says too little to rank it by.
DEFAULT_MIN_RATED = 5
# Below this many received tickets a unit's rates say too little to rank it by.
DEFAULT_MIN_TICKETS = 5
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
class Tally(NamedTuple):
    """Additive counts of one unit's tickets in a period, each ticket as it stood at the period's
    end (see the module docstring for each definition). A tuple, so that units add up quickly.

    The first group counts tickets *received* in the period (merged ones only in `merged`, those
    the resident withdrew by the period's end only in `withdrawn`); the second, tickets *closed* in
    the period. `withdrawn` is last so that sums stored before it existed read back with 0."""

    received: int = 0
    merged: int = 0
    responded: int = 0
    responded_on_time: int = 0
    response_seconds: int = 0  # summed over responded tickets
    completed: int = 0
    overdue: int = 0
    reopened: int = 0
    returned: int = 0
    urges: int = 0
    closed: int = 0
    closed_on_time: int = 0
    first_time: int = 0
    confirmed: int = 0
    rated: int = 0
    satisfied: int = 0
    close_seconds: int = 0  # summed over closed tickets
    closed_in_grid: int = 0
    closed_in_village: int = 0
    closed_in_town: int = 0
    closed_in_department: int = 0
    withdrawn: int = 0
    # Of the tickets closed: closed without the resident's confirmation (neither solved nor rated),
    # and those with a return visit (回访) by the period's end, by its outcome then (none: not yet).
    auto_closed: int = 0
    visits: int = 0
    visits_satisfied: int = 0
    visits_basically_satisfied: int = 0
    visits_unsatisfied: int = 0

    def closed_in(self, tier: Tier) -> int:
        return getattr(self, f"closed_in_{tier.value}")


def total(tallies: Iterable[Tally]) -> Tally:
    sums = tuple(map(sum, zip(*tallies)))
    return Tally._make(sums) if sums else Tally()


class DayTally(NamedTuple):
    """Per local day: tickets received that day, and tickets closed that day (as of the end)."""

    received: int = 0
    closed: int = 0


@dataclass(frozen=True)
class UnitTally:
    """A grid (by code) or a department (by name) with its counts."""

    key: str
    tally: Tally


@dataclass(frozen=True)
class CategoryCount:
    category_code: str
    received: int


@dataclass(frozen=True)
class PeriodRows:
    """What storage sums up for the period shown; figures are computed from it here. (The period
    before needs only the total of its counts.)"""

    by_grid: tuple[UnitTally, ...]  # grids with tickets received or closed in the period
    by_department: tuple[UnitTally, ...]  # departments holding tickets at the period's end
    by_day: tuple[DayTally, ...]  # one per day of the period
    categories: tuple[CategoryCount, ...]  # of received tickets
    # 90th percentiles by nearest rank, computed where the durations are (None when there are none).
    response_p90_seconds: int | None
    close_p90_seconds: int | None
    grids: tuple[Grid, ...]  # the grids of the scope, for names
    grid_workers: tuple[tuple[str, str], ...] = ()  # (grid code, name) of their workers now


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


class Base(StrEnum):
    """The set of tickets a rate counts."""

    RECEIVED = "received"  # received in the period (merged and withdrawn ones apart)
    CLOSED = "closed"  # closed by staff in the period and still closed at its end
    RATED = "rated"  # closed in the period and rated by its end


@dataclass(frozen=True)
class RateDefinition:
    """One rate: `numerator` and `denominator` name `Tally` fields; `base` the set counted."""

    key: str
    name_zh: str  # the name officials know it by, shown beside the translated one
    base: Base
    numerator: str
    denominator: str


# Every rate shown anywhere (report, legend, chart, exports, scorecards), defined once here.
RATES = (
    RateDefinition("response_rate", "响应率", Base.RECEIVED, "responded_on_time", "received"),
    RateDefinition("completion_rate", "办结率", Base.RECEIVED, "completed", "received"),
    RateDefinition("reopen_rate", "重办率", Base.RECEIVED, "reopened", "received"),
    RateDefinition("return_rate", "退单率", Base.RECEIVED, "returned", "received"),
    RateDefinition("on_time_rate", "按期办结率", Base.CLOSED, "closed_on_time", "closed"),
    RateDefinition("first_time_rate", "一次办结率", Base.CLOSED, "first_time", "closed"),
    RateDefinition("solved_rate", "解决率", Base.CLOSED, "confirmed", "closed"),
    RateDefinition("rating_rate", "参评率", Base.CLOSED, "rated", "closed"),
    RateDefinition("satisfaction_rate", "满意率", Base.RATED, "satisfied", "rated"),
)
RATE = {definition.key: definition for definition in RATES}


def _mean(total_seconds: int, count: int) -> float | None:
    return total_seconds / count if count else None


@dataclass(frozen=True, slots=True)
class Figures:
    """The figures of a tally, worked out when asked for (a period has hundreds of units). Each
    rate of `RATES` is an attribute of its key (`figures.completion_rate`) and a `Rate`.

    Percentiles come from storage, for the period's whole scope only."""

    tally: Tally
    response_p90_seconds: int | None = None
    close_p90_seconds: int | None = None

    def rate(self, definition: RateDefinition) -> Rate:
        return Rate(getattr(self.tally, definition.numerator), getattr(self.tally, definition.denominator))

    @property
    def received(self) -> int:
        return self.tally.received

    @property
    def closed(self) -> int:
        return self.tally.closed

    @property
    def rated(self) -> int:
        return self.tally.rated

    @property
    def merged(self) -> int:
        return self.tally.merged

    @property
    def withdrawn(self) -> int:
        """Received in the period and withdrawn by the resident (撤回) by its end: neither closed
        by staff nor solved, so in no rate."""
        return self.tally.withdrawn

    @property
    def overdue(self) -> int:
        return self.tally.overdue

    @property
    def urges(self) -> int:
        """催办次数: urges on the received tickets by the period's end."""
        return self.tally.urges

    @property
    def open_at_end(self) -> int:
        """Received tickets that were not closed at the period's end."""
        return self.tally.received - self.tally.completed

    @property
    def time_to_response(self) -> Duration:
        t = self.tally
        return Duration(t.responded, _mean(t.response_seconds, t.responded), self.response_p90_seconds)

    @property
    def time_to_close(self) -> Duration:
        t = self.tally
        return Duration(t.closed, _mean(t.close_seconds, t.closed), self.close_p90_seconds)

    @property
    def closed_by_tier(self) -> dict[Tier, Rate]:
        """Share of the tickets closed in the period that each tier closed."""
        return {tier: Rate(self.tally.closed_in(tier), self.tally.closed) for tier in Tier}


for _definition in RATES:
    setattr(Figures, _definition.key, property(lambda self, d=_definition: self.rate(d), doc=_definition.name_zh))


@dataclass(frozen=True)
class FiguresChange:
    """This period minus the one before: counts in tickets, rates in fractions (0.05 = 5 points),
    times in seconds; None where either period has no value."""

    received: int
    closed: int
    rates: dict[str, float | None]  # by rate key
    mean_response_seconds: float | None
    mean_close_seconds: float | None


def _difference(current: float | None, previous: float | None) -> float | None:
    return None if current is None or previous is None else current - previous


def change(current: Figures, previous: Figures) -> FiguresChange:
    return FiguresChange(
        received=current.received - previous.received,
        closed=current.closed - previous.closed,
        rates={d.key: _difference(current.rate(d).value, previous.rate(d).value) for d in RATES},
        mean_response_seconds=_difference(
            current.time_to_response.mean_seconds, previous.time_to_response.mean_seconds
        ),
        mean_close_seconds=_difference(current.time_to_close.mean_seconds, previous.time_to_close.mean_seconds),
    )


# -- units and their ranking -----------------------------------------------------------------------
class UnitLevel(StrEnum):
    GRID = "grid"
    VILLAGE = "village"
    TOWN = "town"
    DEPARTMENT = "department"


@dataclass(frozen=True)
class UnitScore:
    """A scorecard: one grid, village, town or department with its figures. `parent` is the
    village of a grid and the town of a village; `ranked` says whether it has enough samples
    (`has_enough_samples`) to be ranked."""

    level: UnitLevel
    key: str  # the grid's code, or the village's, town's or department's name
    name: str
    parent: str
    figures: Figures
    ranked: bool
    workers: tuple[str, ...] = ()  # a grid's workers (as staff now), by name


def has_enough_samples(figures: Figures, min_rated: int, min_tickets: int) -> bool:
    """A unit is ranked only with at least `min_tickets` received and `min_rated` rated tickets:
    two ratings of 1 do not make a grid the worst."""
    return figures.received >= min_tickets and figures.rated >= min_rated


def score(figures: Figures) -> float | None:
    """The one ranking rule (text, chart and exports use it): the mean of 响应率, 解决率 and 满意率,
    the three rates residents feel. None if any of them has nothing to count."""
    values = [figures.rate(RATE[key]).value for key in ("response_rate", "solved_rate", "satisfaction_rate")]
    return None if None in values else sum(values) / len(values)


def ranking_key(unit: UnitScore) -> tuple:
    """Best first: higher score, then more tickets received (the surer result), then by key."""
    value = score(unit.figures)
    return (not unit.ranked or value is None, -(value or 0.0), -unit.figures.received, unit.key)


def ranked(units: Iterable[UnitScore]) -> list[UnitScore]:
    """The units that can be ranked, best first."""
    return sorted((u for u in units if u.ranked and score(u.figures) is not None), key=ranking_key)


@dataclass(frozen=True)
class RedBlackList:
    """红黑榜 of one level: the best and the worst units among those with enough samples, at most
    `size` each and each at most half of them, so that no unit is on both lists."""

    level: UnitLevel
    best: tuple[UnitScore, ...]
    worst: tuple[UnitScore, ...]  # worst first


def red_black_list(level: UnitLevel, units: Iterable[UnitScore], size: int = DEFAULT_TOP) -> RedBlackList:
    order = ranked(units)
    length = min(size, len(order) // 2)
    return RedBlackList(level, tuple(order[:length]), tuple(reversed(order[len(order) - length:])))


@dataclass(frozen=True, slots=True)
class DayFigures:
    day: date
    tally: DayTally

    @property
    def received(self) -> int:
        return self.tally.received

    @property
    def closed(self) -> int:
        return self.tally.closed


@dataclass(frozen=True)
class CategoryShare:
    category_code: str
    received: int
    share: Rate  # of the scope's received tickets


@dataclass(frozen=True)
class PeriodReport:
    """Everything shown of one period and scope. `final` is False for a period not over yet
    ("so far"): its figures are as of `window.end` and will change."""

    period: Period
    scope: Scope
    window: PeriodWindow
    totals: Figures
    previous: Figures  # the period before, same scope and kind; without percentiles
    change: FiguresChange
    days: tuple[DayFigures, ...]
    top_categories: tuple[CategoryShare, ...]
    units: dict[UnitLevel, tuple[UnitScore, ...]]  # every unit with tickets, by key
    min_rated: int = DEFAULT_MIN_RATED
    min_tickets: int = DEFAULT_MIN_TICKETS

    @property
    def final(self) -> bool:
        return self.window.final

    @property
    def grids(self) -> tuple[UnitScore, ...]:
        return self.units[UnitLevel.GRID]

    def red_black(self, level: UnitLevel, size: int = DEFAULT_TOP) -> RedBlackList:
        return red_black_list(level, self.units[level], size)


def unit_scores(rows: PeriodRows, min_rated: int, min_tickets: int) -> dict[UnitLevel, tuple[UnitScore, ...]]:
    """Grids as storage counted them; villages and towns as the sums of their grids; departments
    as storage counted them."""
    grids = {g.code: g for g in rows.grids}
    workers: dict[str, list[str]] = {}
    for code, name in rows.grid_workers:
        workers.setdefault(code, []).append(name)

    def unit(level: UnitLevel, key: str, name: str, parent: str, tally: Tally) -> UnitScore:
        figures = Figures(tally)
        return UnitScore(level, key, name, parent, figures, has_enough_samples(figures, min_rated, min_tickets),
                         tuple(workers.get(key, ())) if level is UnitLevel.GRID else ())

    by_grid, villages, towns = [], {}, {}
    for row in sorted(rows.by_grid, key=lambda r: r.key):
        # A ticket's grid missing from the grids table still shows, under its code.
        grid = grids.get(row.key) or Grid(row.key, row.key, "", "")
        by_grid.append(unit(UnitLevel.GRID, grid.code, grid.name, grid.village, row.tally))
        villages.setdefault((grid.village, grid.town), []).append(row.tally)
        towns.setdefault(grid.town, []).append(row.tally)
    return {
        UnitLevel.GRID: tuple(by_grid),
        UnitLevel.VILLAGE: tuple(
            unit(UnitLevel.VILLAGE, village, village, town, total(tallies))
            for (village, town), tallies in sorted(villages.items())
        ),
        UnitLevel.TOWN: tuple(
            unit(UnitLevel.TOWN, town, town, "", total(tallies)) for town, tallies in sorted(towns.items())
        ),
        UnitLevel.DEPARTMENT: tuple(
            unit(UnitLevel.DEPARTMENT, row.key, row.key, "", row.tally)
            for row in sorted(rows.by_department, key=lambda r: r.key)
        ),
    }


def compute_report(
    period: Period,
    scope: Scope,
    window: PeriodWindow,
    rows: PeriodRows,
    previous_tally: Tally,
    min_rated: int = DEFAULT_MIN_RATED,
    min_tickets: int = DEFAULT_MIN_TICKETS,
    top: int = DEFAULT_TOP,
) -> PeriodReport:
    totals = Figures(total(row.tally for row in rows.by_grid), rows.response_p90_seconds, rows.close_p90_seconds)
    previous = Figures(previous_tally)
    categories = sorted(rows.categories, key=lambda c: (-c.received, c.category_code))[:top]
    return PeriodReport(
        period=period,
        scope=scope,
        window=window,
        totals=totals,
        previous=previous,
        change=change(totals, previous),
        days=tuple(DayFigures(day, tally) for day, tally in zip(period.days, rows.by_day)),
        top_categories=tuple(
            CategoryShare(c.category_code, c.received, Rate(c.received, totals.received)) for c in categories
        ),
        units=unit_scores(rows, min_rated, min_tickets),
        min_rated=min_rated,
        min_tickets=min_tickets,
    )


async def load_report(
    storage: Storage,
    period: Period,
    tz: ZoneInfo,
    scope: Scope = Scope(),
    now: int | None = None,
    min_rated: int = DEFAULT_MIN_RATED,
    min_tickets: int = DEFAULT_MIN_TICKETS,
    top: int = DEFAULT_TOP,
) -> PeriodReport:
    """The period's report with the period before for comparison, read through `storage`. With
    `now`, the days over by then are summed first (`Storage.close_days`), and a period not over is
    shown so far (not final)."""
    window = period.window(tz, now)
    if now is not None:
        await storage.close_days(tz, now)
    rows = await storage.period_rows(window, scope)
    previous_tally = await storage.period_totals(period.previous().window(tz), scope)
    return compute_report(period, scope, window, rows, previous_tally, min_rated, min_tickets, top)


# -- each ticket as it stood at a period's end -----------------------------------------------------
@dataclass(frozen=True)
class TicketAtEnd:
    """A ticket with its state at a period's end, derived from its events before then (None for
    a ticket received after it); `ticket` is its current state."""

    ticket: Ticket
    status: Status
    tier: Tier
    grid_code: str  # its grid then (a later hand-over moves only `ticket`)
    department: str | None  # the department it was last sent to by then, else its department now
    holder_scope: str  # the grid's code, village, town or department that held it
    first_response_at: int | None
    closed_at: int | None  # staff's closing, if closed at the end
    closed_tier: Tier | None
    confirmed: bool
    stars: int | None
    overdue: bool  # a resolve deadline was missed by the end
    reopened: bool
    returned: bool
    urges: int


async def tickets_at_end(storage: Storage, period: Period, tz: ZoneInfo, scope: Scope = Scope(),
                         now: int | None = None) -> list[TicketAtEnd]:
    """The period's received tickets, each as it stood at the period's end (for exports)."""
    return await storage.period_tickets(period.window(tz, now), scope)


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

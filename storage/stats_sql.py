"""SQL for the officials' statistics, mixed into the SQL backends (storage/sql.py).

Every figure comes from the append-only event log as of the period's end: a ticket's events
before then say whether it was answered in time, closed, reopened, returned, urged, rated and
where it stood (tier, grid and department: a later hand-over or re-routing moves it in no closed
period), so a closed period's figures never change. One pass over the events of the
period's tickets (index ticket_events_facts, migration 0006, holds every column it reads) fills a
temporary table with one row of facts per ticket; the sums per grid, department, day and category
and the percentiles are read from it. `domain.stats` turns the sums into figures.

The statements are written once; what SQLite and PostgreSQL spell differently (JSON fields, yes/no
columns and their sums) comes from the backend's `StatsDialect`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, replace
from functools import cache
from typing import Any

from domain.models import Grid, Status, Ticket, Tier, VisitOutcome
from domain.stats import (
    SATISFIED_FROM_RATING,
    CategoryCount,
    DayTally,
    PeriodRows,
    PeriodWindow,
    Scope,
    ScopeLevel,
    Tally,
    TicketAtEnd,
    UnitTally,
    total,
)
from domain.tickets import tier_holder
from storage.statements import Work, one, run
from storage.statements import rows as select


# The grids of a scope. Naming every grid, even for "all", lets SQLite seek each grid's period in
# the index tickets_grid_week.
_GRID_CODES = {
    ScopeLevel.ALL: "SELECT code FROM grids",
    ScopeLevel.TOWN: "SELECT code FROM grids WHERE town = :scope",
    ScopeLevel.VILLAGE: "SELECT code FROM grids WHERE village = :scope",
    ScopeLevel.GRID: "SELECT CAST(:scope AS TEXT)",
}

# Statuses and tiers as small numbers, so that "the value at the latest event" is one MAX over
# id * base + code (an event's id orders the log).
_STATUSES = list(Status)
_TIERS = list(Tier)
_STATUS_BASE = 8
_TIER_BASE = 4
assert len(_STATUSES) <= _STATUS_BASE and len(_TIERS) <= _TIER_BASE


def _code(column: str, values: Sequence[str]) -> str:
    return f"CASE {column} " + " ".join(f"WHEN '{v}' THEN {i}" for i, v in enumerate(values)) + " END"


_MERGED = _STATUSES.index(Status.MERGED)
_WITHDRAWN = _STATUSES.index(Status.WITHDRAWN)
_CLOSED_CODES = f"({_STATUSES.index(Status.RESOLVED)}, {_STATUSES.index(Status.CLOSED)})"
_DEPARTMENT = _TIERS.index(Tier.DEPARTMENT)
# A return visit's outcome, as its index in VisitOutcome.
_OUTCOMES = list(VisitOutcome)
_OUTCOME_BASE = 4
assert len(_OUTCOMES) <= _OUTCOME_BASE



@dataclass(frozen=True)
class StatsDialect:
    """How a backend spells what the statistics need; each is a format string."""

    integer: str  # the type of a whole-number column of the facts table
    flag: str  # the type of a yes/no column of the facts table
    temp: str  # the schema of temporary tables
    json_text: str  # {column}, {key}: a field of a JSON column, as text
    json_int: str  # {column}, {key}: a field of a JSON column, as a whole number
    padded: str  # {column}: a whole number as {digits} digits
    any_of: str  # {condition}: whether any row's holds
    count_of: str  # {condition}: how many rows' hold
    sum_of: str  # {value}: the sum, 0 without rows
    join_in_order: str  # a join the planner must take in the order written


SQLITE_STATS = StatsDialect(
    integer="INTEGER",
    flag="INTEGER",
    temp="temp",
    json_text="json_extract({column}, '$.{key}')",
    json_int="json_extract({column}, '$.{key}')",
    padded="printf('%0{digits}d', {column})",
    any_of="MAX({condition})",
    count_of="TOTAL({condition})",
    sum_of="TOTAL({value})",
    # CROSS JOIN keeps SQLite's planner to the order written.
    join_in_order="CROSS JOIN",
)
POSTGRES_STATS = StatsDialect(
    integer="BIGINT",
    flag="BOOLEAN",
    temp="pg_temp",
    json_text="({column}->>'{key}')",
    json_int="({column}->>'{key}')::integer",
    padded="lpad({column}::text, {digits}, '0')",
    any_of="bool_or({condition})",
    count_of="COUNT(*) FILTER (WHERE {condition})",
    sum_of="COALESCE(SUM({value}), 0)",
    join_in_order="JOIN",
)

# The department a ticket was last sent to by :end (an escalation's data names it), as the
# event's id in 20 digits followed by the name, so that the latest is one MAX.
_SENT_TO_DIGITS = 20

# Received in the period (merged and withdrawn ones apart), and closed in the period (still
# closed at its end: a withdrawn ticket is not).
_R = f"(received AND status NOT IN ({_MERGED}, {_WITHDRAWN}))"
_C = "(closed_at >= :start)"
_CLOSED_IN_PERIOD = "SELECT ticket_id FROM ticket_events WHERE type = 'resolved' AND at >= :start AND at < :end"
_RECEIVED_TICKETS = (
    "t.grid_code IN ({grids}) AND t.created_at >= :start AND t.created_at < :end"
)
_CLOSED_TICKETS = f"t.id IN ({_CLOSED_IN_PERIOD}) AND t.grid_code IN ({{grids}})"
_PERIOD_TICKETS = "SELECT id FROM tickets WHERE created_at >= :start AND created_at < :end"


@dataclass(frozen=True)
class StatsSql:
    facts_table: str
    facts: str
    handed_over_tickets: str
    by_grid: str
    by_department: str
    categories: str
    response_p90: str
    close_p90: str
    facts_table_name: str


@cache
def stats_sql(d: StatsDialect) -> StatsSql:
    """The statements of the statistics in dialect `d`."""
    def json_text(column: str, key: str) -> str:
        return d.json_text.format(column=column, key=key)

    facts_table = f"""
CREATE TEMP TABLE IF NOT EXISTS period_facts (
    id {d.integer} PRIMARY KEY, grid_code TEXT, category_code TEXT, department TEXT,
    created_at {d.integer}, received {d.flag}, status {d.integer}, tier {d.integer}, response_at {d.integer},
    responded_on_time {d.flag}, closed_at {d.integer}, closed_tier {d.integer}, closed_late {d.flag},
    first_time {d.flag}, overdue {d.flag}, reopened {d.flag}, returned {d.flag}, urges {d.integer},
    confirmed {d.flag}, stars {d.integer}, auto_closed {d.flag}, visit {d.flag}, visit_outcome {d.integer}
)"""
    table = f"{d.temp}.period_facts"
    # One row per ticket of the scope's grids, from its events before :end, received in the period
    # or closed in it (a staff closing in it, as in _CLOSED_TICKETS). Its grid and department are
    # those it had at :end: the grid a later hand-over took it from (the log's hand-overs chain, each
    # from the grid the one before took it to), else its grid now; the department named by its last
    # escalation before :end, else its department now. Definitions: domain/stats.py.
    facts = f"""
INSERT INTO {table}
SELECT id, grid_code, category_code, COALESCE(substr(sent_to, {_SENT_TO_DIGITS + 1}), department), created_at,
    created_at >= :start AND created_at < :end,
    last_status % {_STATUS_BASE}, last_tier % {_TIER_BASE}, response_at,
    response_id IS NOT NULL AND (reply_miss IS NULL OR reply_miss > response_id),
    CASE WHEN last_status % {_STATUS_BASE} IN {_CLOSED_CODES} THEN closing_at END,
    CASE WHEN last_status % {_STATUS_BASE} IN {_CLOSED_CODES} THEN closing % {_TIER_BASE} END,
    resolve_miss IS NOT NULL AND resolve_miss < closing / {_TIER_BASE},
    detour IS NULL, resolve_miss IS NOT NULL, reopened, returned, urges, confirmed,
    rating % {_STATUS_BASE}, auto_closed, visit, visit_outcome % {_OUTCOME_BASE}
FROM (
    SELECT t.id, t.category_code, t.department, t.created_at,
        COALESCE((SELECT {json_text("h.data", "from")} FROM ticket_events h
            WHERE h.ticket_id = t.id AND h.at >= :end AND h.type = 'handed_over'
            ORDER BY h.id LIMIT 1), t.grid_code) AS grid_code,
        MAX(CASE WHEN e.type = 'escalated' AND {json_text("e.data", "department")} IS NOT NULL
            THEN {d.padded.format(column="e.id", digits=_SENT_TO_DIGITS)} || {json_text("e.data", "department")} END)
            AS sent_to,
        MAX(e.id * {_STATUS_BASE} + {_code("e.status", _STATUSES)}) AS last_status,
        MAX(e.id * {_TIER_BASE} + {_code("e.tier", _TIERS)}) AS last_tier,
        MIN(CASE WHEN e.type IN ('replied', 'resolved', 'phoned') THEN e.id END) AS response_id,
        MIN(CASE WHEN e.type IN ('replied', 'resolved', 'phoned') THEN e.at END) AS response_at,
        MIN(CASE WHEN e.type = 'deadline_missed' AND {json_text("e.data", "deadline")} = 'reply'
            THEN e.id END) AS reply_miss,
        MIN(CASE WHEN e.type = 'deadline_missed' AND {json_text("e.data", "deadline")} = 'resolve'
            THEN e.id END) AS resolve_miss,
        MAX(CASE WHEN e.type = 'resolved' THEN e.id * {_TIER_BASE} + {_code("e.tier", _TIERS)} END)
            AS closing,
        MAX(CASE WHEN e.type = 'resolved' THEN e.at END) AS closing_at,
        MIN(CASE WHEN e.type IN ('reopened', 'escalated') THEN e.id END) AS detour,
        {d.any_of.format(condition="e.type = 'reopened'")} AS reopened,
        {d.any_of.format(condition="e.type = 'returned'")} AS returned,
        {d.count_of.format(condition="e.type = 'urged'")} AS urges,
        {d.any_of.format(condition="e.type = 'confirmed'")} AS confirmed,
        MAX(CASE WHEN e.type = 'rated'
            THEN e.id * {_STATUS_BASE} + {d.json_int.format(column="e.data", key="stars")} END) AS rating,
        {d.any_of.format(condition="e.type = 'auto_closed'")} AS auto_closed,
        {d.any_of.format(condition="e.type = 'return_visit_due'")} AS visit,
        MAX(CASE WHEN e.type = 'return_visited'
            THEN e.id * {_OUTCOME_BASE} + {_code(json_text("e.data", "outcome"), _OUTCOMES)} END) AS visit_outcome
    FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id AND e.at < :end
    WHERE {{which}}
    GROUP BY t.id
) AS ticket_facts
WHERE grid_code IN ({{grids}})
    AND (created_at >= :start AND created_at < :end OR {{closed_too}} AND closing_at >= :start)
ON CONFLICT DO NOTHING"""
    # Tickets of the period handed over from the scope's grids after :end, now in another grid: the
    # period's tickets first, then each one's events after :end from the index ticket_events_facts,
    # rather than every hand-over since :end. A hand-over stays within the town, so only grid and
    # village scopes need them.
    handed_over_tickets = (
        f"t.id IN (SELECT h.ticket_id FROM ({{period}}) p {d.join_in_order} ticket_events h"
        " ON h.ticket_id = p.id AND h.at >= :end AND h.type = 'handed_over'"
        f" WHERE {json_text('h.data', 'from')} IN ({{{{grids}}}}))"
    )
    column_of = {
        "received": d.count_of.format(condition=_R),
        "merged": d.count_of.format(condition=f"received AND status = {_MERGED}"),
        "withdrawn": d.count_of.format(condition=f"received AND status = {_WITHDRAWN}"),
        "responded": d.count_of.format(condition=f"{_R} AND response_at IS NOT NULL"),
        "responded_on_time": d.count_of.format(condition=f"{_R} AND responded_on_time"),
        "response_seconds": d.sum_of.format(value=f"CASE WHEN {_R} THEN response_at - created_at END"),
        "completed": d.count_of.format(condition=f"{_R} AND closed_at IS NOT NULL"),
        "overdue": d.count_of.format(condition=f"{_R} AND overdue"),
        "reopened": d.count_of.format(condition=f"{_R} AND reopened"),
        "returned": d.count_of.format(condition=f"{_R} AND returned"),
        "urges": d.sum_of.format(value=f"CASE WHEN {_R} THEN urges END"),
        "closed": d.count_of.format(condition=_C),
        "closed_on_time": d.count_of.format(condition=f"{_C} AND NOT closed_late"),
        "first_time": d.count_of.format(condition=f"{_C} AND first_time"),
        "confirmed": d.count_of.format(condition=f"{_C} AND confirmed"),
        "rated": d.count_of.format(condition=f"{_C} AND stars IS NOT NULL"),
        "satisfied": d.count_of.format(condition=f"{_C} AND stars >= :satisfied"),
        "close_seconds": d.sum_of.format(value=f"CASE WHEN {_C} THEN closed_at - created_at END"),
        **{f"closed_in_{tier.value}": d.count_of.format(condition=f"{_C} AND closed_tier = {i}")
           for i, tier in enumerate(_TIERS)},
        "auto_closed": d.count_of.format(condition=f"{_C} AND auto_closed"),
        "visits": d.count_of.format(condition=f"{_C} AND visit"),
        **{f"visits_{o.value}": d.count_of.format(condition=f"{_C} AND visit AND visit_outcome = {i}")
           for i, o in enumerate(_OUTCOMES)},
    }
    tally = ", ".join(column_of[name] for name in Tally._fields)
    return StatsSql(
        facts_table=facts_table,
        facts=facts,
        handed_over_tickets=handed_over_tickets,
        by_grid=f"SELECT grid_code, {tally} FROM {table} GROUP BY grid_code ORDER BY grid_code",
        by_department=(
            f"SELECT department, {tally} FROM {table} WHERE tier = {_DEPARTMENT} GROUP BY department"
            " ORDER BY department NULLS FIRST"
        ),
        categories=(
            f"SELECT category_code, COUNT(*) FROM {table} WHERE {_R} GROUP BY category_code ORDER BY category_code"
        ),
        # The nearest-rank 90th percentile of n durations is the (n - ceil(0.9 n) + 1)-th largest.
        response_p90=(
            f"SELECT response_at - created_at AS seconds FROM {table}"
            f" WHERE {_R} AND response_at IS NOT NULL ORDER BY seconds DESC LIMIT 1 OFFSET :offset"
        ),
        close_p90=(
            f"SELECT closed_at - created_at AS seconds FROM {table} WHERE {_C}"
            " ORDER BY seconds DESC LIMIT 1 OFFSET :offset"
        ),
        facts_table_name=table,
    )


def _day_of(column: str, days: int) -> str:
    """The index of the period's day that `column` falls in (:day1 .. are the midnights)."""
    return "CASE " + " ".join(f"WHEN {column} < :day{d + 1} THEN {d}" for d in range(days - 1)) + f" ELSE {days - 1} END"


def _p90_offset(count: int) -> int:
    return count - (9 * count + 9) // 10


def _parameters(window: PeriodWindow, scope: Scope) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "start": window.start,
        "end": window.end,
        "scope": scope.name,
        "satisfied": SATISFIED_FROM_RATING,
    }
    parameters.update({f"day{i}": bound for i, bound in enumerate(window.bounds)})
    return parameters


def _tally(row: Sequence[Any]) -> Tally:
    return Tally(*map(int, row))


class StatsMixin:
    """Statistics queries for `storage.sql.SqlStorage`, which provides the rest."""

    _STATS: StatsDialect
    _all: Callable[..., Any]
    _read: Callable[..., Any]
    _transaction: Callable[..., Any]

    @classmethod
    def _fill_facts(cls, window: PeriodWindow, scope: Scope, closed_too: bool = True) -> Work[dict[str, Any]]:
        sql = stats_sql(cls._STATS)
        parameters = _parameters(window, scope)
        yield run(sql.facts_table)
        yield run(f"DELETE FROM {sql.facts_table_name}")
        grids = _GRID_CODES[scope.level]
        which = [_RECEIVED_TICKETS] + [_CLOSED_TICKETS] * closed_too
        if scope.level in (ScopeLevel.GRID, ScopeLevel.VILLAGE):
            period = _PERIOD_TICKETS + (f" UNION {_CLOSED_IN_PERIOD}" if closed_too else "")
            which.append(sql.handed_over_tickets.format(period=period))
        for tickets in which:
            yield run(sql.facts.format(which=tickets.format(grids=grids), grids=grids,
                                       closed_too="TRUE" if closed_too else "FALSE"), parameters)
        return parameters

    async def period_rows(self, window: PeriodWindow, scope: Scope, closed: bool = False) -> PeriodRows:
        key = (window.start, window.end, scope.level.value, scope.name)
        if closed:
            stored = await self._all(
                'SELECT rows FROM closed_period_rows WHERE start = ? AND "end" = ? AND scope_level = ?'
                " AND scope_name = ?", key)
            if stored:
                return _rows_from_json(stored[0][0])
        rows = await self._read(lambda: self._sum_facts(window, scope))
        if closed:
            def write() -> Work[None]:
                yield run(
                    'INSERT INTO closed_period_rows(start, "end", scope_level, scope_name, rows)'
                    " VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING", (*key, _rows_to_json(rows)))

            await self._transaction(write)
        return rows

    async def period_totals(self, window: PeriodWindow, scope: Scope, closed: bool = False) -> Tally:
        return total(row.tally for row in (await self.period_rows(window, scope, closed)).by_grid)

    @classmethod
    def _sum_facts(cls, window: PeriodWindow, scope: Scope) -> Work[PeriodRows]:
        sql = stats_sql(cls._STATS)
        days = len(window.bounds) - 1
        parameters = yield from cls._fill_facts(window, scope)
        by_grid = tuple(UnitTally(row[0], _tally(row[1:])) for row in (yield select(sql.by_grid, parameters)))
        sums = total(row.tally for row in by_grid)
        by_day = [[0, 0] for _ in range(days)]
        received_by_day = (
            f"SELECT {_day_of('created_at', days)} AS day, COUNT(*) FROM {sql.facts_table_name}"
            f" WHERE {_R} GROUP BY day"
        )
        closed_by_day = (
            f"SELECT {_day_of('closed_at', days)} AS day, COUNT(*) FROM {sql.facts_table_name}"
            f" WHERE {_C} GROUP BY day"
        )
        for column, statement in enumerate((received_by_day, closed_by_day)):
            for day, count in (yield select(statement, parameters)):
                by_day[day][column] = count

        def p90(statement: str, count: int) -> Work[int | None]:
            if not count:
                return None
            row = yield one(statement, parameters | {"offset": _p90_offset(count)})
            return row[0]

        grids = yield select(
            "SELECT code, name, village, town, lat, lon FROM grids"
            f" WHERE code IN ({_GRID_CODES[scope.level]}) ORDER BY code",
            parameters,
        )
        by_department = yield select(sql.by_department, parameters)
        categories = yield select(sql.categories, parameters)
        return PeriodRows(
            by_grid=by_grid,
            by_department=tuple(UnitTally(row[0] or "", _tally(row[1:])) for row in by_department),
            by_day=tuple(DayTally(*counts) for counts in by_day),
            categories=tuple(CategoryCount(code, n) for code, n in categories),
            response_p90_seconds=(yield from p90(sql.response_p90, sums.responded)),
            close_p90_seconds=(yield from p90(sql.close_p90, sums.closed)),
            grids=tuple(Grid(*row) for row in grids),
        )

    async def period_tickets(self, window: PeriodWindow, scope: Scope) -> list[TicketAtEnd]:
        # Imported here: storage.sql imports this module to build SqlStorage.
        from storage.sql import TICKET_COLUMNS, ticket_from_row

        table = stats_sql(self._STATS).facts_table_name

        def work() -> Work[list[TicketAtEnd]]:
            yield from self._fill_facts(window, scope, closed_too=False)
            found = yield select(
                f"SELECT {TICKET_COLUMNS}, f.status, f.tier, f.response_at, f.closed_at, f.closed_tier,"
                " f.confirmed, f.stars, f.overdue, f.reopened, f.returned, f.urges, f.grid_code, f.department,"
                " g.code, g.name, g.village, g.town, g.lat, g.lon"
                f" FROM {table} f JOIN tickets t ON t.id = f.id"
                " LEFT JOIN grids g ON g.code = f.grid_code ORDER BY t.created_at, t.id"
            )
            return [_at_end(ticket_from_row(row), row[-19:-6], Grid(*row[-6:]) if row[-6] else None)
                    for row in found]

        return await self._read(work)


def _rows_to_json(rows: PeriodRows) -> str:
    return json.dumps({
        "by_grid": [[u.key, list(u.tally)] for u in rows.by_grid],
        "by_department": [[u.key, list(u.tally)] for u in rows.by_department],
        "by_day": [list(d) for d in rows.by_day],
        "categories": [[c.category_code, c.received] for c in rows.categories],
        "response_p90_seconds": rows.response_p90_seconds,
        "close_p90_seconds": rows.close_p90_seconds,
        "grids": [list(astuple(g)) for g in rows.grids],
    }, ensure_ascii=False)


def _rows_from_json(text: str) -> PeriodRows:
    data = json.loads(text)
    return PeriodRows(
        by_grid=tuple(UnitTally(key, Tally(*tally)) for key, tally in data["by_grid"]),
        by_department=tuple(UnitTally(key, Tally(*tally)) for key, tally in data["by_department"]),
        by_day=tuple(DayTally(*day) for day in data["by_day"]),
        categories=tuple(CategoryCount(code, n) for code, n in data["categories"]),
        response_p90_seconds=data["response_p90_seconds"],
        close_p90_seconds=data["close_p90_seconds"],
        grids=tuple(Grid(*grid) for grid in data["grids"]),
    )


def _at_end(ticket: Ticket, facts: Sequence[Any], grid: Grid | None) -> TicketAtEnd:
    (status, tier, response_at, closed_at, closed_tier, confirmed, stars, overdue, reopened, returned, urges,
     grid_code, department) = facts
    tier_at_end = _TIERS[tier] if tier is not None else ticket.tier
    return TicketAtEnd(
        ticket=ticket,
        status=_STATUSES[status] if status is not None else ticket.status,
        tier=tier_at_end,
        grid_code=grid_code,
        department=department,
        holder_scope=tier_holder(
            replace(ticket, tier=tier_at_end, grid_code=grid_code, department=department), grid)[1],
        first_response_at=response_at,
        closed_at=closed_at,
        closed_tier=_TIERS[closed_tier] if closed_tier is not None else None,
        confirmed=bool(confirmed),
        stars=stars,
        overdue=bool(overdue),
        reopened=bool(reopened),
        returned=bool(returned),
        urges=int(urges),
    )

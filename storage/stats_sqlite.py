"""SQL for the officials' statistics, mixed into `SqliteStorage`.

Every figure comes from the append-only event log as of the period's end: a ticket's events
before then say whether it was answered in time, closed, reopened, returned, urged, rated and
where it stood (tier, grid and department: a later hand-over or re-routing moves it in no closed
period), so a closed period's figures never change. One pass over the events of the
period's tickets (index ticket_events_facts, migration 0006, holds every column it reads) fills a
temporary table with one row of facts per ticket; the sums per grid, department, day and category
and the percentiles are read from it. `domain.stats` turns the sums into figures.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import astuple, replace
from typing import Any, TypeVar

import aiosqlite

from domain.models import Grid, Status, Ticket, Tier
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

T = TypeVar("T")

# The grids of a scope. Naming every grid, even for "all", lets SQLite seek each grid's period in
# the index tickets_grid_week.
_GRID_CODES = {
    ScopeLevel.ALL: "SELECT code FROM grids",
    ScopeLevel.TOWN: "SELECT code FROM grids WHERE town = :scope",
    ScopeLevel.VILLAGE: "SELECT code FROM grids WHERE village = :scope",
    ScopeLevel.GRID: "SELECT :scope",
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

_FACTS_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS period_facts (
    id INTEGER PRIMARY KEY, grid_code TEXT, category_code TEXT, department TEXT,
    created_at INTEGER, received INTEGER, status INTEGER, tier INTEGER, response_at INTEGER,
    responded_on_time INTEGER, closed_at INTEGER, closed_tier INTEGER, closed_late INTEGER,
    first_time INTEGER, overdue INTEGER, reopened INTEGER, returned INTEGER, urges INTEGER,
    confirmed INTEGER, stars INTEGER
)"""
# The department a ticket was last sent to by :end (an escalation's data names it), as the
# event's id in 20 digits followed by the name, so that the latest is one MAX.
_SENT_TO_DIGITS = 20
# One row per ticket of the scope's grids, from its events before :end, received in the period
# or closed in it (a staff closing in it, as in _CLOSED_TICKETS). Its grid and department are
# those it had at :end: the grid a later hand-over took it from (the log's hand-overs chain, each
# from the grid the one before took it to), else its grid now; the department named by its last
# escalation before :end, else its department now. Definitions: domain/stats.py.
_FACTS = f"""
INSERT OR IGNORE INTO temp.period_facts
SELECT id, grid_code, category_code, COALESCE(substr(sent_to, {_SENT_TO_DIGITS + 1}), department), created_at,
    created_at >= :start AND created_at < :end,
    last_status % {_STATUS_BASE}, last_tier % {_TIER_BASE}, response_at,
    response_id IS NOT NULL AND (reply_miss IS NULL OR reply_miss > response_id),
    CASE WHEN last_status % {_STATUS_BASE} IN {_CLOSED_CODES} THEN closing_at END,
    CASE WHEN last_status % {_STATUS_BASE} IN {_CLOSED_CODES} THEN closing % {_TIER_BASE} END,
    resolve_miss IS NOT NULL AND resolve_miss < closing / {_TIER_BASE},
    detour IS NULL, resolve_miss IS NOT NULL, reopened, returned, urges, confirmed,
    rating % {_STATUS_BASE}
FROM (
    SELECT t.id, t.category_code, t.department, t.created_at,
        COALESCE((SELECT json_extract(h.data, '$.from') FROM ticket_events h
            WHERE h.ticket_id = t.id AND h.at >= :end AND h.type = 'handed_over'
            ORDER BY h.id LIMIT 1), t.grid_code) AS grid_code,
        MAX(CASE WHEN e.type = 'escalated' AND json_extract(e.data, '$.department') IS NOT NULL
            THEN printf('%0{_SENT_TO_DIGITS}d', e.id) || json_extract(e.data, '$.department') END)
            AS sent_to,
        MAX(e.id * {_STATUS_BASE} + {_code("e.status", _STATUSES)}) AS last_status,
        MAX(e.id * {_TIER_BASE} + {_code("e.tier", _TIERS)}) AS last_tier,
        MIN(CASE WHEN e.type IN ('replied', 'resolved') THEN e.id END) AS response_id,
        MIN(CASE WHEN e.type IN ('replied', 'resolved') THEN e.at END) AS response_at,
        MIN(CASE WHEN e.type = 'deadline_missed' AND json_extract(e.data, '$.deadline') = 'reply'
            THEN e.id END) AS reply_miss,
        MIN(CASE WHEN e.type = 'deadline_missed' AND json_extract(e.data, '$.deadline') = 'resolve'
            THEN e.id END) AS resolve_miss,
        MAX(CASE WHEN e.type = 'resolved' THEN e.id * {_TIER_BASE} + {_code("e.tier", _TIERS)} END)
            AS closing,
        MAX(CASE WHEN e.type = 'resolved' THEN e.at END) AS closing_at,
        MIN(CASE WHEN e.type IN ('reopened', 'escalated') THEN e.id END) AS detour,
        MAX(e.type = 'reopened') AS reopened,
        MAX(e.type = 'returned') AS returned,
        TOTAL(e.type = 'urged') AS urges,
        MAX(e.type = 'confirmed') AS confirmed,
        MAX(CASE WHEN e.type = 'rated'
            THEN e.id * {_STATUS_BASE} + json_extract(e.data, '$.stars') END) AS rating
    FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id AND e.at < :end
    WHERE {{which}}
    GROUP BY t.id
)
WHERE grid_code IN ({{grids}})
    AND (created_at >= :start AND created_at < :end OR {{closed_too}} AND closing_at >= :start)"""
_RECEIVED_TICKETS = (
    "t.grid_code IN ({grids}) AND t.created_at >= :start AND t.created_at < :end"
)
_CLOSED_IN_PERIOD = "SELECT ticket_id FROM ticket_events WHERE type = 'resolved' AND at >= :start AND at < :end"
_CLOSED_TICKETS = f"t.id IN ({_CLOSED_IN_PERIOD}) AND t.grid_code IN ({{grids}})"
# Tickets of the period handed over from the scope's grids after :end, now in another grid: the
# period's tickets first (CROSS JOIN keeps that order), then each one's events after :end from
# the index ticket_events_facts, rather than every hand-over since :end. A hand-over stays within
# the town, so only grid and village scopes need them.
_PERIOD_TICKETS = "SELECT id FROM tickets WHERE created_at >= :start AND created_at < :end"
_HANDED_OVER_TICKETS = (
    "t.id IN (SELECT h.ticket_id FROM ({period}) p CROSS JOIN ticket_events h"
    " ON h.ticket_id = p.id AND h.at >= :end AND h.type = 'handed_over'"
    " WHERE json_extract(h.data, '$.from') IN ({{grids}}))"
)

# Received in the period (merged and withdrawn ones apart), and closed in the period (still
# closed at its end: a withdrawn ticket is not).
_R = f"(received AND status NOT IN ({_MERGED}, {_WITHDRAWN}))"
_C = "(closed_at >= :start)"
_COLUMN_OF = {
    "received": f"TOTAL({_R})",
    "merged": f"TOTAL(received AND status = {_MERGED})",
    "withdrawn": f"TOTAL(received AND status = {_WITHDRAWN})",
    "responded": f"TOTAL({_R} AND response_at IS NOT NULL)",
    "responded_on_time": f"TOTAL({_R} AND responded_on_time)",
    "response_seconds": f"TOTAL(CASE WHEN {_R} THEN response_at - created_at END)",
    "completed": f"TOTAL({_R} AND closed_at IS NOT NULL)",
    "overdue": f"TOTAL({_R} AND overdue)",
    "reopened": f"TOTAL({_R} AND reopened)",
    "returned": f"TOTAL({_R} AND returned)",
    "urges": f"TOTAL(CASE WHEN {_R} THEN urges END)",
    "closed": f"TOTAL({_C})",
    "closed_on_time": f"TOTAL({_C} AND NOT closed_late)",
    "first_time": f"TOTAL({_C} AND first_time)",
    "confirmed": f"TOTAL({_C} AND confirmed)",
    "rated": f"TOTAL({_C} AND stars IS NOT NULL)",
    "satisfied": f"TOTAL({_C} AND stars >= :satisfied)",
    "close_seconds": f"TOTAL(CASE WHEN {_C} THEN closed_at - created_at END)",
    **{f"closed_in_{tier.value}": f"TOTAL({_C} AND closed_tier = {i})" for i, tier in enumerate(_TIERS)},
}
_TALLY = ", ".join(_COLUMN_OF[name] for name in Tally._fields)
_BY_GRID = f"SELECT grid_code, {_TALLY} FROM temp.period_facts GROUP BY grid_code"
_BY_DEPARTMENT = (
    f"SELECT department, {_TALLY} FROM temp.period_facts WHERE tier = {_DEPARTMENT}"
    " GROUP BY department"
)
_CATEGORIES = (
    f"SELECT category_code, COUNT(*) FROM temp.period_facts WHERE {_R} GROUP BY category_code"
)
# The nearest-rank 90th percentile of n durations is the (n - ceil(0.9 n) + 1)-th largest.
_RESPONSE_P90 = (
    "SELECT response_at - created_at AS seconds FROM temp.period_facts"
    f" WHERE {_R} AND response_at IS NOT NULL ORDER BY seconds DESC LIMIT 1 OFFSET :offset"
)
_CLOSE_P90 = (
    f"SELECT closed_at - created_at AS seconds FROM temp.period_facts WHERE {_C}"
    " ORDER BY seconds DESC LIMIT 1 OFFSET :offset"
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


class SqliteStatsMixin:
    """Statistics queries for `SqliteStorage`, which provides the connection and its lock."""

    _db: aiosqlite.Connection
    _lock: asyncio.Lock
    _stats_path: str | None = None  # the database file, "" when in memory; found on first use

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one read transaction: the answers agree even while tickets are being
        written. Summing a period from its events can take seconds on a big year, so it runs on a
        connection of its own in a worker thread (WAL lets it read beside the writer), and the bot
        goes on filing and answering meanwhile; an in-memory database has only the one connection."""

        def transaction(db: sqlite3.Connection) -> T:
            db.execute("PRAGMA temp_store=MEMORY")  # the facts table never touches the disk
            db.execute("BEGIN")
            try:
                return work(db)
            finally:
                db.execute("COMMIT")

        def on_its_own_connection(path: str) -> T:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
            try:
                db.execute("PRAGMA busy_timeout=5000")
                return transaction(db)
            finally:
                db.close()

        if self._stats_path is None:
            async with self._lock:
                rows = await self._db.execute_fetchall("PRAGMA database_list")
            self._stats_path = next((row[2] for row in rows if row[1] == "main"), "")
        if self._stats_path:
            return await asyncio.to_thread(on_its_own_connection, self._stats_path)
        async with self._lock:
            return await self._db._execute(transaction, self._db._conn)

    @staticmethod
    def _fill_facts(db: sqlite3.Connection, window: PeriodWindow, scope: Scope,
                    closed_too: bool = True) -> dict[str, Any]:
        parameters = _parameters(window, scope)
        db.execute(_FACTS_TABLE)
        db.execute("DELETE FROM temp.period_facts")
        grids = _GRID_CODES[scope.level]
        which = [_RECEIVED_TICKETS] + [_CLOSED_TICKETS] * closed_too
        if scope.level in (ScopeLevel.GRID, ScopeLevel.VILLAGE):
            period = _PERIOD_TICKETS + (f" UNION {_CLOSED_IN_PERIOD}" if closed_too else "")
            which.append(_HANDED_OVER_TICKETS.format(period=period))
        for tickets in which:
            db.execute(_FACTS.format(which=tickets.format(grids=grids), grids=grids, closed_too=int(closed_too)),
                       parameters)
        return parameters

    async def period_rows(self, window: PeriodWindow, scope: Scope, closed: bool = False) -> PeriodRows:
        key = (window.start, window.end, scope.level.value, scope.name)
        if closed:
            async with self._lock:
                stored = await self._db.execute_fetchall(
                    "SELECT rows FROM closed_period_rows WHERE start = ? AND end = ? AND scope_level = ?"
                    " AND scope_name = ?", key)
            if stored:
                return _rows_from_json(stored[0][0])
        rows = await self._read(lambda db: self._sum_facts(db, window, scope))
        if closed:
            await self._in_one_trip(lambda db: db.execute(
                "INSERT OR IGNORE INTO closed_period_rows(start, end, scope_level, scope_name, rows)"
                " VALUES (?,?,?,?,?)", (*key, _rows_to_json(rows))))
        return rows

    async def period_totals(self, window: PeriodWindow, scope: Scope, closed: bool = False) -> Tally:
        return total(row.tally for row in (await self.period_rows(window, scope, closed)).by_grid)

    @classmethod
    def _sum_facts(cls, db: sqlite3.Connection, window: PeriodWindow, scope: Scope) -> PeriodRows:
        days = len(window.bounds) - 1
        parameters = cls._fill_facts(db, window, scope)
        by_grid = tuple(UnitTally(row[0], _tally(row[1:]))
                        for row in db.execute(_BY_GRID, parameters))
        sums = total(row.tally for row in by_grid)
        by_day = [[0, 0] for _ in range(days)]
        received_by_day = (
            f"SELECT {_day_of('created_at', days)} AS day, COUNT(*) FROM temp.period_facts"
            f" WHERE {_R} GROUP BY day"
        )
        closed_by_day = (
            f"SELECT {_day_of('closed_at', days)} AS day, COUNT(*) FROM temp.period_facts"
            f" WHERE {_C} GROUP BY day"
        )
        for column, sql in enumerate((received_by_day, closed_by_day)):
            for day, count in db.execute(sql, parameters):
                by_day[day][column] = count

        def p90(sql: str, count: int) -> int | None:
            return db.execute(sql, parameters | {"offset": _p90_offset(count)}).fetchone()[0] if count else None

        grids = db.execute(
            "SELECT code, name, village, town, lat, lon FROM grids"
            f" WHERE code IN ({_GRID_CODES[scope.level]}) ORDER BY code",
            parameters,
        ).fetchall()
        return PeriodRows(
            by_grid=by_grid,
            by_department=tuple(UnitTally(row[0] or "", _tally(row[1:]))
                                for row in db.execute(_BY_DEPARTMENT, parameters)),
            by_day=tuple(DayTally(*counts) for counts in by_day),
            categories=tuple(CategoryCount(code, n) for code, n in db.execute(_CATEGORIES, parameters)),
            response_p90_seconds=p90(_RESPONSE_P90, sums.responded),
            close_p90_seconds=p90(_CLOSE_P90, sums.closed),
            grids=tuple(Grid(*row) for row in grids),
        )

    async def period_tickets(self, window: PeriodWindow, scope: Scope) -> list[TicketAtEnd]:
        # Imported here: storage.sqlite imports this module to build SqliteStorage.
        from storage.sqlite import TICKET_COLUMNS, _ticket

        def work(db: sqlite3.Connection) -> list[TicketAtEnd]:
            self._fill_facts(db, window, scope, closed_too=False)
            rows = db.execute(
                f"SELECT {TICKET_COLUMNS}, f.status, f.tier, f.response_at, f.closed_at, f.closed_tier,"
                " f.confirmed, f.stars, f.overdue, f.reopened, f.returned, f.urges, f.grid_code, f.department,"
                " g.code, g.name, g.village, g.town, g.lat, g.lon"
                " FROM temp.period_facts f JOIN tickets t ON t.id = f.id"
                " LEFT JOIN grids g ON g.code = f.grid_code ORDER BY t.created_at, t.id"
            ).fetchall()
            return [_at_end(_ticket(row), row[-19:-6], Grid(*row[-6:]) if row[-6] else None) for row in rows]

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

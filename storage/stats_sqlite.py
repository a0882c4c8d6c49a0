"""SQL for the officials' statistics, mixed into `SqliteStorage`.

The sums are done in SQL, from indexes alone (migration 0002): a week of a million-ticket year is
about 19,000 index entries, read once per query. `domain.stats` turns the sums into figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiosqlite

from domain.models import Grid, Ticket, Tier
from domain.stats import (
    DAYS_PER_WEEK,
    SATISFIED_FROM_RATING,
    CategoryCount,
    Counts,
    DayCounts,
    GridCounts,
    Scope,
    ScopeLevel,
    WeekRows,
    PeriodWindow,
    total,
)

# The grids of a scope. Naming every grid, even for "all", lets SQLite seek each grid's week in the
# index tickets_grid_week and meet the grids in order, so grouping by grid needs no sorting.
_GRID_CODES = {
    ScopeLevel.ALL: "SELECT code FROM grids",
    ScopeLevel.TOWN: "SELECT code FROM grids WHERE town = :scope",
    ScopeLevel.VILLAGE: "SELECT code FROM grids WHERE village = :scope",
    ScopeLevel.GRID: "SELECT :scope",
}


def _in_week(scope: Scope) -> str:
    return (
        f"t.grid_code IN ({_GRID_CODES[scope.level]})"
        " AND t.created_at >= :start AND t.created_at < :end"
    )


def _scope_filter(scope: Scope) -> str:
    """A condition on `t`, for queries that do not go through the grids (nothing for "all")."""
    if scope.level is ScopeLevel.ALL:
        return ""
    return f" AND t.grid_code IN ({_GRID_CODES[scope.level]})"


# A ticket as it stood at the week's end (see domain.stats for why).
_REPLY_AT = "COALESCE(t.first_reply_at, t.resolved_at)"
_RESOLVED = "t.resolved_at < :end AND t.status IN ('resolved', 'closed')"
_CONFIRMED = "t.confirmed_at < :end AND t.status = 'closed'"
# Each field of `Counts`, about a millisecond a week each. Plain CASE expressions, which SQLite
# runs faster than sums of comparisons or a subquery of derived columns; the test that most often
# fails comes first, to skip the rest.
_COLUMN_OF = {
    "received": "COUNT(*)",
    "replied": f"COUNT(CASE WHEN {_REPLY_AT} < :end THEN 1 END)",
    "reply_seconds": f"TOTAL(CASE WHEN {_REPLY_AT} < :end THEN {_REPLY_AT} - t.created_at END)",
    "resolved": f"COUNT(CASE WHEN {_RESOLVED} THEN 1 END)",
    "resolve_seconds": f"TOTAL(CASE WHEN {_RESOLVED} THEN t.resolved_at - t.created_at END)",
    "resolved_late": (
        f"COUNT(CASE WHEN t.resolved_at > t.resolve_due_at AND {_RESOLVED} THEN 1 END)"
    ),
    # A ticket waiting for the resident's answer has its clock paused: not overdue.
    "open_overdue": (
        f"COUNT(CASE WHEN {_RESOLVED} THEN NULL WHEN t.status = 'waiting_resident' THEN NULL"
        " WHEN t.resolve_due_at < :end THEN 1 END)"
    ),
    "confirmed": f"COUNT(CASE WHEN {_CONFIRMED} THEN 1 END)",
    "rated": f"COUNT(CASE WHEN {_CONFIRMED} THEN t.rating END)",
    "satisfied": f"COUNT(CASE WHEN t.rating >= :satisfied AND {_CONFIRMED} THEN 1 END)",
    **{
        f"resolved_in_{tier}": (
            f"COUNT(CASE WHEN t.resolved_tier = '{tier}' AND {_RESOLVED} THEN 1 END)"
        )
        for tier in Tier
    },
}
_COUNTS = ", ".join(_COLUMN_OF[name] for name in Counts._fields)
_DAY = (
    "CASE "
    + " ".join(f"WHEN t.created_at < :day{d + 1} THEN {d}" for d in range(DAYS_PER_WEEK - 1))
    + f" ELSE {DAYS_PER_WEEK - 1} END"
)

_TOTALS = f"SELECT {_COUNTS} FROM tickets t WHERE {{in_week}}"
_BY_GRID = f"SELECT t.grid_code, {_COUNTS} FROM tickets t WHERE {{in_week}} GROUP BY t.grid_code"
# Only the chart's few tallies per day, to keep the pass cheap.
_BY_DAY = (
    f"SELECT {_DAY} AS day, " + ", ".join(_COLUMN_OF[name] for name in DayCounts._fields)
    + " FROM tickets t WHERE {in_week} GROUP BY day"
)
_CATEGORIES = (
    "SELECT c.code, (SELECT COUNT(*) FROM tickets t WHERE t.category_code = c.code"
    " AND t.created_at >= :start AND t.created_at < :end{scope}) FROM categories c"
)
# The nearest-rank 90th percentile of n durations is the (n - ceil(0.9 n) + 1)-th largest: sorting
# from the top with an offset keeps only a tenth of them in the sorter.
_REPLY_P90 = (
    f"SELECT {_REPLY_AT} - t.created_at AS seconds FROM tickets t WHERE {{in_week}}"
    f" AND {_REPLY_AT} < :end ORDER BY seconds DESC LIMIT 1 OFFSET :offset"
)
_RESOLVE_P90 = (
    "SELECT t.resolved_at - t.created_at AS seconds FROM tickets t WHERE {in_week}"
    f" AND {_RESOLVED} ORDER BY seconds DESC LIMIT 1 OFFSET :offset"
)
_CLOSED_DURING = (
    "SELECT COUNT(*) FROM tickets t WHERE t.resolved_at >= :start AND t.resolved_at < :end"
    " AND t.status IN ('resolved', 'closed'){scope}"
)


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


class SqliteStatsMixin:
    """Statistics queries for `SqliteStorage`, which provides the connection and its lock."""

    _db: aiosqlite.Connection
    _lock: asyncio.Lock

    async def week_totals(self, window: PeriodWindow, scope: Scope) -> Counts:
        async with self._lock:
            ((*sums,),) = await self._fetch(
                _TOTALS.format(in_week=_in_week(scope)), _parameters(window, scope)
            )
        return Counts(*map(int, sums))

    async def week_stats_rows(self, window: PeriodWindow, scope: Scope) -> WeekRows:
        parameters = _parameters(window, scope)
        in_week = _in_week(scope)
        async with self._lock:
            # One read transaction: the answers agree even while tickets are being written.
            await self._db.execute("BEGIN")
            try:
                by_grid = tuple(
                    GridCounts(row[0], Counts(*map(int, row[1:])))
                    for row in await self._fetch(_BY_GRID.format(in_week=in_week), parameters)
                )
                sums = total(row.counts for row in by_grid)
                by_day = [DayCounts()] * DAYS_PER_WEEK
                for day, *counts in await self._fetch(_BY_DAY.format(in_week=in_week), parameters):
                    by_day[day] = DayCounts(*counts)
                reply_p90 = await self._p90(_REPLY_P90.format(in_week=in_week), parameters,
                                            sums.replied)
                resolve_p90 = await self._p90(_RESOLVE_P90.format(in_week=in_week), parameters,
                                              sums.resolved)
                categories = await self._fetch(
                    _CATEGORIES.format(scope=_scope_filter(scope)), parameters
                )
                ((closed_during,),) = await self._fetch(
                    _CLOSED_DURING.format(scope=_scope_filter(scope)), parameters
                )
                grids = await self._fetch(
                    "SELECT code, name, village, town, lat, lon FROM grids"
                    f" WHERE code IN ({_GRID_CODES[scope.level]}) ORDER BY code",
                    parameters,
                )
            finally:
                await self._db.execute("COMMIT")
        return WeekRows(
            by_grid=by_grid,
            by_day=tuple(by_day),
            categories=tuple(CategoryCount(code, n) for code, n in categories if n),
            reply_p90_seconds=reply_p90,
            resolve_p90_seconds=resolve_p90,
            closed_during_week=closed_during,
            grids=tuple(Grid(*row) for row in grids),
        )

    async def week_tickets(self, window: PeriodWindow, scope: Scope) -> list[Ticket]:
        # Imported here: storage.sqlite imports this module to build SqliteStorage.
        from storage.sqlite import TICKET_COLUMNS, _ticket

        async with self._lock:
            rows = await self._fetch(
                f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE {_in_week(scope)}"
                " ORDER BY t.created_at, t.id",
                _parameters(window, scope),
            )
        return [_ticket(row) for row in rows]

    async def _p90(self, sql: str, parameters: dict[str, Any], count: int) -> int | None:
        if not count:
            return None
        ((seconds,),) = await self._fetch(sql, parameters | {"offset": _p90_offset(count)})
        return seconds

    async def _fetch(self, sql: str, parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
        async with self._db.execute(sql, parameters) as cursor:
            return list(await cursor.fetchall())

"""SQL for the officials' statistics, mixed into `SqliteStorage`.

The sums are done in SQL, from indexes alone (migration 0002): a week of a million-ticket year is
about 19,000 index entries, read once per query. `domain.stats` turns the sums into figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiosqlite

from domain.models import Grid, Ticket
from domain.stats import (
    DAYS_PER_WEEK,
    SATISFIED_FROM_RATING,
    CategoryCount,
    Counts,
    GridDayCounts,
    Scope,
    ScopeLevel,
    WeekRows,
    WeekWindow,
    total,
)

# The grids of a scope. Naming every grid, even for "all", lets SQLite seek the week of each grid
# in the index tickets_grid_week and meet the grids in order, so GROUP BY needs no sorting.
_GRID_CODES = {
    ScopeLevel.ALL: "SELECT code FROM grids",
    ScopeLevel.TOWN: "SELECT code FROM grids WHERE town = :scope",
    ScopeLevel.VILLAGE: "SELECT code FROM grids WHERE village = :scope",
    ScopeLevel.GRID: "SELECT :scope",
}


def _scope_filter(scope: Scope) -> str:
    """A condition on `t`, for queries that do not go through the grids (nothing for "all")."""
    return "" if scope.level is ScopeLevel.ALL else f" AND t.grid_code IN ({_GRID_CODES[scope.level]})"


# A ticket as it stood at the week's end (see domain.stats for why).
_REPLY_AT = "COALESCE(t.first_reply_at, t.resolved_at)"
_RESOLVED = "t.status IN ('resolved', 'closed') AND t.resolved_at < :end"
_CONFIRMED = "t.status = 'closed' AND t.confirmed_at < :end"
# In the order of the fields of `Counts`. Plain CASE expressions: SQLite runs them faster than
# sums of comparisons or a subquery of derived columns.
_COUNT_COLUMNS = (
    "COUNT(*)",
    f"COUNT(CASE WHEN {_REPLY_AT} < :end THEN 1 END)",
    f"TOTAL(CASE WHEN {_REPLY_AT} < :end THEN {_REPLY_AT} - t.created_at END)",
    f"COUNT(CASE WHEN {_RESOLVED} THEN 1 END)",
    f"TOTAL(CASE WHEN {_RESOLVED} THEN t.resolved_at - t.created_at END)",
    f"COUNT(CASE WHEN {_RESOLVED} AND t.resolved_at > t.resolve_due_at THEN 1 END)",
    f"COUNT(CASE WHEN {_RESOLVED} THEN NULL WHEN t.resolve_due_at < :end THEN 1 END)",
    f"COUNT(CASE WHEN {_CONFIRMED} THEN 1 END)",
    f"COUNT(CASE WHEN {_CONFIRMED} THEN t.rating END)",
    f"COUNT(CASE WHEN {_CONFIRMED} AND t.rating >= :satisfied THEN 1 END)",
    *(f"COUNT(CASE WHEN {_RESOLVED} AND t.resolved_tier = '{tier}' THEN 1 END)"
      for tier in ("grid", "village", "town", "department")),
)
assert len(_COUNT_COLUMNS) == len(Counts._fields)


def _cells_sql(scope: Scope) -> str:
    """Counts per grid and local day: one part per day, so each part groups by grid in index
    order, and the day needs no CASE and no sort."""
    part = (
        "SELECT t.grid_code, {day}, " + ", ".join(_COUNT_COLUMNS) + " FROM tickets t"
        f" WHERE t.grid_code IN ({_GRID_CODES[scope.level]})"
        " AND t.created_at >= :day{day} AND t.created_at < :day{next_day} GROUP BY t.grid_code"
    )
    return " UNION ALL ".join(part.format(day=d, next_day=d + 1) for d in range(DAYS_PER_WEEK))


def _in_week(scope: Scope) -> str:
    return (
        f"t.grid_code IN ({_GRID_CODES[scope.level]})"
        " AND t.created_at >= :start AND t.created_at < :end"
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


def _parameters(window: WeekWindow, scope: Scope) -> dict[str, Any]:
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

    async def week_counts(self, window: WeekWindow, scope: Scope) -> tuple[GridDayCounts, ...]:
        async with self._lock:
            return await self._cells(window, scope)

    async def week_stats_rows(self, window: WeekWindow, scope: Scope) -> WeekRows:
        parameters = _parameters(window, scope)
        in_week = _in_week(scope)
        async with self._lock:
            # One read transaction: the answers agree even while tickets are being written.
            await self._db.execute("BEGIN")
            try:
                cells = await self._cells(window, scope)
                sums = total(c.counts for c in cells)
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
            cells=cells,
            categories=tuple(CategoryCount(code, n) for code, n in categories if n),
            reply_p90_seconds=reply_p90,
            resolve_p90_seconds=resolve_p90,
            closed_during_week=closed_during,
            grids=tuple(Grid(*row) for row in grids),
        )

    async def week_tickets(self, window: WeekWindow, scope: Scope) -> list[Ticket]:
        # Imported here: storage.sqlite imports this module to build SqliteStorage.
        from storage.sqlite import TICKET_COLUMNS, _ticket

        async with self._lock:
            rows = await self._fetch(
                f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE {_in_week(scope)}"
                " ORDER BY t.created_at, t.id",
                _parameters(window, scope),
            )
        return [_ticket(row) for row in rows]

    async def _cells(self, window: WeekWindow, scope: Scope) -> tuple[GridDayCounts, ...]:
        rows = await self._fetch(_cells_sql(scope), _parameters(window, scope))
        # TOTAL() sums as floats; the seconds are whole.
        return tuple(GridDayCounts(r[0], r[1], Counts(*map(int, r[2:]))) for r in rows)

    async def _p90(self, sql: str, parameters: dict[str, Any], count: int) -> int | None:
        if not count:
            return None
        ((seconds,),) = await self._fetch(sql, parameters | {"offset": _p90_offset(count)})
        return seconds

    async def _fetch(self, sql: str, parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
        async with self._db.execute(sql, parameters) as cursor:
            return list(await cursor.fetchall())

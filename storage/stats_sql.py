"""SQL for the officials' statistics, mixed into the SQL backends (storage/sql.py).

Every figure comes from the append-only event log as of the period's end: a ticket's events
before then say whether it was answered in time, closed, reopened, returned, urged, rated and
where it stood (tier, grid and department: a later hand-over or re-routing moves it in no closed
period), so a closed period's figures never change. One pass over a set of tickets' events (index
ticket_events_facts, migration 0006, holds every column it reads) fills a temporary table with one
row of facts per ticket as of a moment.

Summing a period that way takes seconds on a big year, so the figures are kept by the day
(migration 0021): once a local day is over (`close_days`), the facts of the tickets whose events
changed that day are taken as of its end, and what they changed in the counts of each grid,
department, category and duration is stored under the day the ticket was received (or closed) and
the day the change was seen, never rewritten. A period's counts are the sums of the changes to
its days seen by its end; a period not over adds what the events since the last day summed
changed. Each calendar week, month and quarter is also added up once its last day is summed, and
read back. `period_rows_from_events` sums a period from the events alone: the tests hold the day
sums to it, and the bench measures the two side by side. `domain.stats` turns the sums into figures.

The statements are written once; what SQLite and PostgreSQL spell differently (JSON fields, yes/no
columns and their sums) comes from the backend's `StatsDialect`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from domain.models import EventType, Grid, Status, Ticket, Tier, VisitOutcome
from domain.stats import (
    SATISFIED_FROM_RATING,
    CategoryCount,
    DayTally,
    Period,
    PeriodKind,
    PeriodRows,
    PeriodWindow,
    Scope,
    ScopeLevel,
    Tally,
    TicketAtEnd,
    UnitTally,
    total,
    window_of_days,
)
from domain.tickets import holder_at
from storage.statements import Work, one, run, run_many
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
    # Temporary tables are empty when a transaction begins: `on_commit` (created so) or `empty`
    # ({table}: run first, if any) makes them so.
    on_commit: str
    empty: str | None


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
    on_commit="",
    empty="DELETE FROM {table}",
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
    # PostgreSQL never vacuums temporary tables: rows deleted would pile up in them and their
    # indexes for as long as the pool keeps the connection. Emptied at commit (a truncation, only
    # after a transaction that used them), they never hold any; cheaper than TRUNCATE first.
    on_commit=" ON COMMIT DELETE ROWS",
    empty=None,
)

# The department a ticket was last sent to by :end (an escalation's data names it), as the
# event's id in 20 digits followed by the name (none in escalations logged before they named it),
# so that the latest is one MAX.
_SENT_TO_DIGITS = 20

# Received in the period (merged and withdrawn ones apart), and closed in the period (still
# closed at its end: a withdrawn ticket is not).
_R = f"(received AND status NOT IN ({_MERGED}, {_WITHDRAWN}))"
_C = "(closed_at >= :start)"
# What one ticket's facts add to each count of `Tally`: a count of those whose condition holds, or
# a sum of values.
_TERMS = {
    "received": ("count", _R),
    "merged": ("count", f"received AND status = {_MERGED}"),
    "withdrawn": ("count", f"received AND status = {_WITHDRAWN}"),
    "responded": ("count", f"{_R} AND response_at IS NOT NULL"),
    "responded_on_time": ("count", f"{_R} AND responded_on_time"),
    "response_seconds": ("sum", f"CASE WHEN {_R} THEN response_at - created_at END"),
    "completed": ("count", f"{_R} AND closed_at IS NOT NULL"),
    "overdue": ("count", f"{_R} AND overdue"),
    "reopened": ("count", f"{_R} AND reopened"),
    "returned": ("count", f"{_R} AND returned"),
    "urges": ("sum", f"CASE WHEN {_R} THEN urges END"),
    "closed": ("count", _C),
    "closed_on_time": ("count", f"{_C} AND NOT closed_late"),
    "first_time": ("count", f"{_C} AND first_time"),
    "confirmed": ("count", f"{_C} AND confirmed"),
    "rated": ("count", f"{_C} AND stars IS NOT NULL"),
    "satisfied": ("count", f"{_C} AND stars >= :satisfied"),
    "close_seconds": ("sum", f"CASE WHEN {_C} THEN closed_at - created_at END"),
    **{f"closed_in_{tier.value}": ("count", f"{_C} AND closed_tier = {i}") for i, tier in enumerate(_TIERS)},
    "auto_closed": ("count", f"{_C} AND auto_closed"),
    "visits": ("count", f"{_C} AND visit"),
    **{f"visits_{o.value}": ("count", f"{_C} AND visit AND visit_outcome = {i}") for i, o in enumerate(_OUTCOMES)},
}
# The counts of the tickets closed in the period; the others count those received in it.
_CLOSED_FIELDS = tuple(name for name, (_, term) in _TERMS.items() if _C in term)
# A unit that counts nothing (its only ticket was closed in the period, then reopened) is left out.
_SOMETHING = ("received", "merged", "withdrawn", "closed")
_CLOSED_IN_PERIOD = "SELECT ticket_id FROM ticket_events WHERE type = 'resolved' AND at >= :start AND at < :end"
_RECEIVED_TICKETS = (
    "t.grid_code IN ({grids}) AND t.created_at >= :start AND t.created_at < :end"
)
_CLOSED_TICKETS = f"t.id IN ({_CLOSED_IN_PERIOD}) AND t.grid_code IN ({{grids}})"
_PERIOD_TICKETS = "SELECT id FROM tickets WHERE created_at >= :start AND created_at < :end"
# A period's tickets: those of the scope's grids received in it or closed in it (a staff closing
# in it, as in _CLOSED_TICKETS).
_IN_PERIOD = (
    "grid_code IN ({grids})"
    " AND (created_at >= :start AND created_at < :end OR {closed_too} AND closing_at >= :start)"
)


_LAST_DAY_SUMMED = "SELECT day_end, last_event_id FROM stats_days ORDER BY day_start DESC LIMIT 1"
# The facts kept for the tickets received in the period with no event from its end on nor
# recorded after the last day summed (:seen): as they stood at its end.
_SETTLED_FACTS = (
    "INSERT INTO {facts} SELECT f.* FROM tickets t JOIN stats_ticket_facts f ON f.id = t.id"
    f" WHERE {_RECEIVED_TICKETS}"
    " AND NOT EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.at >= :end)"
    " AND NOT EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.id > :seen)"
)


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
){d.on_commit}"""
    table = f"{d.temp}.period_facts"
    # One row per ticket chosen by {which}, from its events before :end, kept by {keep}. Its grid
    # and department are those it had at :end: the grid a later hand-over took it from (the log's hand-overs chain, each
    # from the grid the one before took it to), else its grid now; the department its last
    # escalation to a department before :end named, else (logged before escalations named it) the
    # one that returned it first after that escalation, else its department now. `received` says
    # it was received from :start on. Definitions: domain/stats.py.
    facts = f"""
INSERT INTO {table}
SELECT id, grid_code, category_code,
    COALESCE(NULLIF(substr(sent_to, {_SENT_TO_DIGITS + 1}), ''), CASE WHEN sent_to IS NOT NULL THEN (
        SELECT {json_text("r.data", "from")} FROM ticket_events r
        WHERE r.ticket_id = ticket_facts.id AND r.type = 'returned'
            AND r.id > CAST(substr(sent_to, 1, {_SENT_TO_DIGITS}) AS BIGINT)
        ORDER BY r.id LIMIT 1) END, department),
    created_at,
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
        MAX(CASE WHEN e.type = 'escalated' AND {json_text("e.data", "to")} = '{Tier.DEPARTMENT.value}'
            THEN {d.padded.format(column="e.id", digits=_SENT_TO_DIGITS)}
                || COALESCE({json_text("e.data", "department")}, '') END) AS sent_to,
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
WHERE {{keep}}
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
        name: d.count_of.format(condition=term) if kind == "count" else d.sum_of.format(value=term)
        for name, (kind, term) in _TERMS.items()
    }
    tally = ", ".join(column_of[name] for name in Tally._fields)
    something = " + ".join(column_of[name] for name in _SOMETHING) + " > 0"
    return StatsSql(
        facts_table=facts_table,
        facts=facts,
        handed_over_tickets=handed_over_tickets,
        by_grid=f"SELECT grid_code, {tally} FROM {table} GROUP BY grid_code HAVING {something} ORDER BY grid_code",
        by_department=(
            f"SELECT department, {tally} FROM {table} WHERE tier = {_DEPARTMENT} GROUP BY department"
            f" HAVING {something} ORDER BY department NULLS FIRST"
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


# -- the day sums (migration 0021) ---------------------------------------------------------------
_RESPONSE, _CLOSE = 0, 1  # the kinds of the durations tables
# Each day table, and its temporary twin for what the events since the last day summed changed.
_OPEN_TWIN = {"stats_day_sums": "open_day_sums", "stats_day_categories": "open_day_categories",
              "stats_day_durations": "open_day_durations"}
_HELD_BY = f"CASE WHEN tier = {_DEPARTMENT} THEN COALESCE(department, '') ELSE '' END"
_SUM_COLUMNS = f"grid_code, key_day, department, {', '.join(Tally._fields)}"
_SUMS = ", ".join(f"SUM({name})" for name in Tally._fields)
_DAY_BY_GRID = (
    f"SELECT grid_code, {_SUMS} FROM {{sums}} GROUP BY grid_code"
    f" HAVING {' + '.join(f'SUM({name})' for name in _SOMETHING)} > 0 ORDER BY grid_code"
)
_DAY_TOTALS = f"SELECT {_SUMS} FROM {{sums}}"
_DAY_BY_DEPARTMENT = (
    f"SELECT department, {_SUMS} FROM {{sums}} AND department != '' GROUP BY department"
    f" HAVING {' + '.join(f'SUM({name})' for name in _SOMETHING)} > 0 ORDER BY department"
)
_DAY_BY_DAY = "SELECT key_day, SUM(received), SUM(closed) FROM {days} GROUP BY key_day"
_DAY_CATEGORIES = (
    "SELECT category_code, SUM(received) FROM {categories} GROUP BY category_code"
    " HAVING SUM(received) > 0 ORDER BY category_code"
)
# The largest durations of :kind with how many tickets took each, as far as the (:limit)-th.
_DAY_DURATIONS = (
    "SELECT seconds, SUM(tickets) FROM {durations} AND kind = :kind GROUP BY seconds"
    " HAVING SUM(tickets) != 0 ORDER BY seconds DESC LIMIT :limit"
)
# A calendar week's, month's or quarter's sums, added up once from the day tables, read back.
_ROLLED_UP = {
    source: f"stats_period_{source} WHERE period_start = :start AND period_end = :end AND grid_code IN ({{grids}})"
    for source in ("sums", "days", "categories", "durations")
}


def _day_rows(table: str, columns: str, temp: str | None) -> str:
    """The rows of a day table for the scope's grids and the period's key days, as changed by the
    days up to :end; with the `temp` schema, those of the days not summed yet too. Without them
    the rows come in the order of the table's key, grid by grid, and need no sorting to group."""
    chosen = "grid_code IN ({grids}) AND key_day >= :start AND key_day < :end"
    summed = f"{table} WHERE {chosen} AND day < :end"
    if temp is None:
        return summed
    return (f"(SELECT {columns} FROM {summed} UNION ALL SELECT {columns} FROM {temp}.{_OPEN_TWIN[table]}"
            f" WHERE {chosen}) AS day_rows WHERE 1 = 1")


def _day_sources(temp: str | None) -> dict[str, str]:
    sums = _day_rows("stats_day_sums", _SUM_COLUMNS, temp)
    return {
        "sums": sums,
        "days": sums,
        "categories": _day_rows("stats_day_categories", "grid_code, category_code, received", temp),
        "durations": _day_rows("stats_day_durations", "grid_code, kind, seconds, tickets", temp),
    }


_ALL_GRIDS = {"grids": _GRID_CODES[ScopeLevel.ALL]}
_ROLL_UP = tuple(sql.format(**{k: v.format(**_ALL_GRIDS) for k, v in _day_sources(None).items()}) for sql in (
    f"INSERT INTO stats_period_sums SELECT CAST(:start AS BIGINT), CAST(:end AS BIGINT), grid_code, department, {_SUMS}"
    " FROM {sums} GROUP BY grid_code, department",
    "INSERT INTO stats_period_days SELECT CAST(:start AS BIGINT), CAST(:end AS BIGINT), grid_code, key_day, SUM(received), SUM(closed)"
    " FROM {days} GROUP BY grid_code, key_day",
    "INSERT INTO stats_period_categories SELECT CAST(:start AS BIGINT), CAST(:end AS BIGINT), grid_code, category_code, SUM(received)"
    " FROM {categories} GROUP BY grid_code, category_code HAVING SUM(received) != 0",
    "INSERT INTO stats_period_durations SELECT CAST(:start AS BIGINT), CAST(:end AS BIGINT), kind, seconds, grid_code, SUM(tickets)"
    " FROM {durations} GROUP BY kind, seconds, grid_code HAVING SUM(tickets) != 0",
    "INSERT INTO stats_periods VALUES (CAST(:start AS BIGINT), CAST(:end AS BIGINT))",
))


@dataclass(frozen=True)
class DaySql:
    temp_tables: tuple[str, ...]
    changed: str  # the tickets whose events changed since the last day summed
    # What their facts now (sign 1) and then (sign -1) count, by the days summed (False) or by
    # the midnights of a period not over (True).
    changes: dict[bool, tuple[str, str]]
    store_changes: tuple[str, ...]  # {stats_day_sums} ...: the changes, summed, into these tables
    open_twins: dict[str, str]  # each day table's temporary twin, by its name
    midnights: str  # the temporary table of a period's midnights
    temp: str


@cache
def day_sql(d: StatsDialect) -> DaySql:
    """The statements of the day sums in dialect `d`."""
    received = ", ".join("0" if name in _CLOSED_FIELDS else _term_value(name) for name in Tally._fields)
    closed = ", ".join(_term_value(name) if name in _CLOSED_FIELDS else "0" for name in Tally._fields)
    midnights = f"{d.temp}.midnights"
    # The local day a time falls in: the last midnight at or before it. Summing a day, the days
    # summed are the midnights (the day itself is claimed first); a period not over reads the
    # days since the last one summed by its own midnights, written for that read.
    key_day = {
        False: "(SELECT MAX(day_start) FROM stats_days WHERE day_start <= {time})",
        True: f"(SELECT MAX(m) FROM {midnights} WHERE m <= {{time}})",
    }
    changed_ids = f"id IN (SELECT id FROM {d.temp}.changed)"

    def changes_from(facts: str, open_days: bool) -> str:
        # One row per ticket and count group: the received counts under the day it was received,
        # the closed ones under the day it was closed. :start is 0, so `received` holds for all.
        day_of = key_day[open_days]
        return f"""
INSERT INTO {d.temp}.changes
SELECT CAST(:sign AS BIGINT), grid_code, {day_of.format(time="created_at")}, {_HELD_BY}, category_code, {received},
    CASE WHEN {_R} THEN response_at - created_at END, NULL
FROM {facts} WHERE {changed_ids}
UNION ALL
SELECT CAST(:sign AS BIGINT), grid_code, {day_of.format(time="closed_at")}, {_HELD_BY}, category_code, {closed},
    NULL, closed_at - created_at
FROM {facts} WHERE {_C} AND {changed_ids}"""

    summed = ", ".join(f"SUM(sign * {name})" for name in Tally._fields)
    any_change = " OR ".join(f"SUM(sign * {name}) != 0" for name in Tally._fields)
    changes = f"{d.temp}.changes WHERE key_day IS NOT NULL"
    return DaySql(
        temp_tables=(
            f"CREATE TEMP TABLE IF NOT EXISTS midnights (m {d.integer} PRIMARY KEY){d.on_commit}",
            f"CREATE TEMP TABLE IF NOT EXISTS changed (id {d.integer} PRIMARY KEY){d.on_commit}",
            f"""CREATE TEMP TABLE IF NOT EXISTS changes (
    sign {d.integer}, grid_code TEXT, key_day {d.integer}, department TEXT, category_code TEXT,
    {", ".join(f"{name} {d.integer}" for name in Tally._fields)}, response_value {d.integer},
    close_value {d.integer}){d.on_commit}""",
            *(f"CREATE TEMP TABLE IF NOT EXISTS {twin}{d.on_commit} AS SELECT * FROM {table} WHERE 1 = 0"
              for table, twin in _OPEN_TWIN.items()),
        ),
        # Events recorded since then, and events of the time between. Each event type is named,
        # so that the index ticket_events_type_at finds the second set.
        changed=f"""
INSERT INTO {d.temp}.changed
SELECT ticket_id FROM ticket_events WHERE id > :seen AND at < :end
UNION SELECT ticket_id FROM ticket_events
WHERE type IN ({", ".join(f"'{t.value}'" for t in EventType)}) AND at >= :since AND at < :end""",
        changes={open_days: (changes_from(f"{d.temp}.period_facts", open_days),
                             changes_from("stats_ticket_facts", open_days)) for open_days in (False, True)},
        store_changes=(
            f"INSERT INTO {{stats_day_sums}} SELECT grid_code, key_day, CAST(:day AS BIGINT), department, {summed}"
            f" FROM {changes} GROUP BY grid_code, key_day, department HAVING {any_change}",
            "INSERT INTO {stats_day_categories} SELECT grid_code, key_day, CAST(:day AS BIGINT), category_code, SUM(sign * received)"
            f" FROM {changes} AND received != 0 GROUP BY grid_code, key_day, category_code"
            " HAVING SUM(sign * received) != 0",
            *(f"INSERT INTO {{stats_day_durations}} SELECT grid_code, key_day, CAST(:day AS BIGINT), {kind}, {value}, SUM(sign)"
              f" FROM {changes} AND {value} IS NOT NULL GROUP BY grid_code, key_day, {value} HAVING SUM(sign) != 0"
              for kind, value in ((_RESPONSE, "response_value"), (_CLOSE, "close_value"))),
        ),
        open_twins={table: f"{d.temp}.{twin}" for table, twin in _OPEN_TWIN.items()},
        midnights=midnights,
        temp=d.temp,
    )


def _term_value(name: str) -> str:
    """What one ticket's facts add to the count `name`."""
    kind, term = _TERMS[name]
    return f"CASE WHEN {term} THEN 1 ELSE 0 END" if kind == "count" else f"COALESCE({term}, 0)"


def _sum_changes(d: StatsDialect, since: int, seen: int, end: int, day: int,
                 midnights: Sequence[int] | None = None) -> Work[None]:
    """Write into the day tables, as of `day`, what the events up to `end` changed in the counts
    since the last day summed (ended at `since`, the log's last event then `seen`); with the
    `midnights` of a period not over, into their temporary twins, by those days. The changed
    tickets' facts are left in the facts table."""
    sql, days = stats_sql(d), day_sql(d)
    open_days = midnights is not None
    for statement in (sql.facts_table, *days.temp_tables):
        yield run(statement)
    tables = {table: twin if open_days else table for table, twin in days.open_twins.items()}
    emptied = [sql.facts_table_name, f"{d.temp}.changed", f"{d.temp}.changes"]
    if midnights is not None:
        emptied += [days.midnights, *days.open_twins.values()]
    yield from _empty(d, emptied)
    if midnights is not None:
        yield run_many(f"INSERT INTO {days.midnights} VALUES (?)", [(m,) for m in midnights])
    parameters = {"start": 0, "end": end, "since": since, "seen": seen, "satisfied": SATISFIED_FROM_RATING}
    yield run(days.changed, parameters)
    yield run(sql.facts.format(which=f"t.id IN (SELECT id FROM {d.temp}.changed)", keep="1 = 1"), parameters)
    for sign, statement in zip((1, -1), days.changes[open_days]):
        yield run(statement, parameters | {"sign": sign})
    for statement in days.store_changes:
        yield run(statement.format(**tables), {"day": day})


def _empty(d: StatsDialect, tables: Iterable[str]) -> Work[None]:
    """Empty temporary tables a transaction is about to fill, unless they came so: they live as
    long as the connection (PostgreSQL's pool keeps it)."""
    if d.empty is not None:
        for table in tables:
            yield run(d.empty.format(table=table))


def _roll_up(day: date, tz: ZoneInfo, quiet_since: date | None = None) -> Work[None]:
    """Add up each calendar week, month and quarter that ends with `day` (just summed). Nothing
    happened from `quiet_since` on: a period begun since then has nothing to add up (a read sums
    its days, as for any period)."""
    for kind in (PeriodKind.WEEK, PeriodKind.MONTH, PeriodKind.QUARTER):
        period = Period.containing(kind, window_of_days([day], tz).start, tz)
        if period.last == day and (quiet_since is None or period.first < quiet_since):
            window = period.window(tz)
            for statement in _ROLL_UP:
                yield run(statement, {"start": window.start, "end": window.end})


# Whether an event was recorded since the last day summed (:seen) for a time before :end, and the
# time of the first event from :start on (the least of each type's, each found in the index
# ticket_events_type_at).
# Bounded on both sides, so that PostgreSQL's generic plan of it reads the ids recorded since
# rather than every event (with only `id > :seen` it scanned the whole log, 70 ms a day at 100,000
# tickets a year).
_RECORDED_SINCE = "SELECT 1 FROM ticket_events WHERE id > :seen AND id <= :top AND at < :end LIMIT 1"
_NEXT_EVENT_AT = "SELECT MIN(at) FROM (" + " UNION ALL ".join(
    f"SELECT (SELECT MIN(at) FROM ticket_events WHERE type = '{t.value}' AND at >= :start) AS at"
    for t in EventType) + ") AS firsts"


def _nth_largest(rows: Iterable[Sequence[Any]], offset: int) -> int | None:
    """The (offset + 1)-th largest of durations given largest first with how many tickets took each."""
    reach = 0
    for seconds, tickets in rows:
        reach += int(tickets)
        if reach > offset:
            return int(seconds)
    return None


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
    def _fill_facts(cls, window: PeriodWindow, scope: Scope, closed_too: bool = True,
                    settled: bool = False) -> Work[dict[str, Any]]:
        """The facts table as of `window.end`, of the tickets received in it (and closed in it,
        `closed_too`). `settled`: those received with no event since its end, nor since the last
        day summed (when that is after it), are copied from the day sums' facts rather than worked
        out from their events: nothing changed them since."""
        sql = stats_sql(cls._STATS)
        parameters = _parameters(window, scope)
        yield run(sql.facts_table)
        yield from _empty(cls._STATS, [sql.facts_table_name])
        grids = _GRID_CODES[scope.level]
        which = [_RECEIVED_TICKETS] + [_CLOSED_TICKETS] * closed_too
        last = (yield one(_LAST_DAY_SUMMED)) if settled else None
        if last and last[0] >= window.end:
            yield run(_SETTLED_FACTS.format(facts=sql.facts_table_name, grids=grids), parameters | {"seen": last[1]})
            which[0] += f" AND t.id NOT IN (SELECT id FROM {sql.facts_table_name})"
        if scope.level in (ScopeLevel.GRID, ScopeLevel.VILLAGE):
            period = _PERIOD_TICKETS + (f" UNION {_CLOSED_IN_PERIOD}" if closed_too else "")
            which.append(sql.handed_over_tickets.format(period=period))
        for tickets in which:
            keep = _IN_PERIOD.format(grids=grids, closed_too="TRUE" if closed_too else "FALSE")
            yield run(sql.facts.format(which=tickets.format(grids=grids), keep=keep), parameters)
        return parameters

    async def close_days(self, tz: ZoneInfo, now: int) -> int:
        """Sum and store each local day (in `tz`) over by `now` and not summed yet, oldest first,
        each in a transaction of its own so that the bot writes between them. Returns how many."""
        [(first, since)] = await self._all(
            "SELECT (SELECT MIN(created_at) FROM tickets), (SELECT MAX(day_end) FROM stats_days)")
        if first is None:
            return 0
        today = datetime.fromtimestamp(now, tz).date()
        first_day = datetime.fromtimestamp(since if since is not None else first, tz).date()
        if first_day >= today:
            return 0
        days = [first_day + timedelta(days=i) for i in range((today - first_day).days)]
        midnights = window_of_days(days, tz).bounds
        dialect = self._STATS

        def close(index: int) -> Work[int]:
            """Sum days[index], or, when nothing happened in it, the days from it to the one of
            the next event; returns how many (none if another writer summed it meanwhile)."""
            start, end = midnights[index], midnights[index + 1]
            last = yield one(_LAST_DAY_SUMMED)
            if last and last[0] >= end:
                return 0
            [top] = yield one("SELECT COALESCE(MAX(id), 0) FROM ticket_events")
            begins, seen = (max(start, last[0]), last[1]) if last else (start, 0)
            quiet_until = index
            if top == seen or not (yield one(_RECORDED_SINCE, {"seen": seen, "top": top, "end": end})):
                [next_at] = yield one(_NEXT_EVENT_AT, {"start": begins})
                # The days ended by the next event's time (all, without one) have no changes.
                quiet_until = len(days) if next_at is None else min(
                    len(days), max(index, bisect_right(midnights, next_at) - 1))
            # The day is claimed first: a second writer summing it at the same time (another
            # replica on PostgreSQL) waits here, finds it taken and leaves it.
            if not (yield run("INSERT INTO stats_days(day_start, day_end, last_event_id) VALUES (?, ?, ?)"
                              " ON CONFLICT DO NOTHING", (begins, end, top))):
                return 0
            if quiet_until > index:
                # Each quiet day has its row all the same: the days summed are the midnights a
                # ticket's time is placed by.
                yield run_many("INSERT INTO stats_days(day_start, day_end, last_event_id) VALUES (?, ?, ?)",
                               [(midnights[i], midnights[i + 1], top) for i in range(index + 1, quiet_until)])
                for day in days[index:quiet_until]:
                    yield from _roll_up(day, tz, quiet_since=days[index])
                return quiet_until - index
            yield from _sum_changes(dialect, begins, seen, end, begins)
            facts = stats_sql(dialect).facts_table_name
            yield run(f"DELETE FROM stats_ticket_facts WHERE id IN (SELECT id FROM {dialect.temp}.changed)")
            yield run(f"INSERT INTO stats_ticket_facts SELECT * FROM {facts}")
            yield from _roll_up(days[index], tz)
            return 1

        closed = index = 0
        while index < len(days):
            # Not waiting for the disk at each day's commit: a day lost to a power cut is lost
            # with its row in stats_days, and summed again.
            summed = await self._transaction(lambda index=index: close(index), durable=False)
            closed += summed
            index += max(summed, 1)
        return closed

    async def period_rows(self, window: PeriodWindow, scope: Scope) -> PeriodRows:
        return await self._read(lambda: self._sum_days(window, scope))

    async def period_totals(self, window: PeriodWindow, scope: Scope) -> Tally:
        return await self._read(lambda: self._sum_days(window, scope, totals_only=True))

    async def period_rows_from_events(self, window: PeriodWindow, scope: Scope) -> PeriodRows:
        return await self._read(lambda: self._sum_facts(window, scope))

    @classmethod
    def _sum_days(cls, window: PeriodWindow, scope: Scope, totals_only: bool = False) -> Work[Any]:
        """The period's sums from the day tables and, past the last day summed, the events since."""
        dialect = cls._STATS
        last = yield one(_LAST_DAY_SUMMED)
        with_open = last is None or window.end > last[0]
        if with_open:
            since, seen = last or (0, 0)
            yield from _sum_changes(dialect, since, seen, window.end, window.end, window.bounds)
        elif not (yield one("SELECT 1 FROM stats_days WHERE day_end = ? OR (SELECT MIN(day_start) FROM stats_days) >= ?",
                            (window.end, window.end))):
            # A moment inside the days summed (a period "so far" asked for later): from the events.
            rows = yield from cls._sum_facts(window, scope)
            return total(row.tally for row in rows.by_grid) if totals_only else rows
        parameters = _parameters(window, scope)
        rolled_up = not with_open and (yield one(
            "SELECT 1 FROM stats_periods WHERE period_start = ? AND period_end = ?", (window.start, window.end)))
        sources = _ROLLED_UP if rolled_up else _day_sources(dialect.temp if with_open else None)
        grids = _GRID_CODES[scope.level]
        statements = {key: source.format(grids=grids) for key, source in sources.items()}

        def query(statement: str, extra: dict[str, Any] | None = None) -> Work[list[Sequence[Any]]]:
            return (yield select(statement.format(**statements), parameters | (extra or {})))

        if totals_only:
            [row] = yield from query(_DAY_TOTALS)
            return Tally(*(int(n or 0) for n in row))
        by_grid = tuple(UnitTally(row[0], _tally(row[1:])) for row in (yield from query(_DAY_BY_GRID)))
        sums = total(row.tally for row in by_grid)
        by_day = {key: DayTally(int(received), int(closed))
                  for key, received, closed in (yield from query(_DAY_BY_DAY))}

        def p90(kind: int, count: int) -> Work[int | None]:
            if not count:
                return None
            offset = _p90_offset(count)
            return _nth_largest((yield from query(_DAY_DURATIONS, {"kind": kind, "limit": offset + 1})), offset)

        by_department = yield from query(_DAY_BY_DEPARTMENT)
        categories = yield from query(_DAY_CATEGORIES)
        return PeriodRows(
            by_grid=by_grid,
            by_department=tuple(UnitTally(row[0], _tally(row[1:])) for row in by_department),
            by_day=tuple(by_day.get(bound, DayTally()) for bound in window.bounds[:-1]),
            categories=tuple(CategoryCount(code, int(n)) for code, n in categories),
            response_p90_seconds=(yield from p90(_RESPONSE, sums.responded)),
            close_p90_seconds=(yield from p90(_CLOSE, sums.closed)),
            **(yield from _grids(scope, parameters)),
        )

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

        by_department = yield select(sql.by_department, parameters)
        categories = yield select(sql.categories, parameters)
        return PeriodRows(
            by_grid=by_grid,
            by_department=tuple(UnitTally(row[0] or "", _tally(row[1:])) for row in by_department),
            by_day=tuple(DayTally(*counts) for counts in by_day),
            categories=tuple(CategoryCount(code, n) for code, n in categories),
            response_p90_seconds=(yield from p90(sql.response_p90, sums.responded)),
            close_p90_seconds=(yield from p90(sql.close_p90, sums.closed)),
            **(yield from _grids(scope, parameters)),
        )

    async def period_tickets(self, window: PeriodWindow, scope: Scope, from_events: bool = False) -> list[TicketAtEnd]:
        # Imported here: storage.sql imports this module to build SqlStorage.
        from storage.sql import TICKET_COLUMNS, ticket_from_row

        table = stats_sql(self._STATS).facts_table_name

        def work() -> Work[list[TicketAtEnd]]:
            yield from self._fill_facts(window, scope, closed_too=False, settled=not from_events)
            found = yield select(
                f"SELECT {TICKET_COLUMNS}, f.status, f.tier, f.response_at, f.closed_at, f.closed_tier,"
                " f.confirmed, f.stars, f.overdue, f.reopened, f.returned, f.urges, f.grid_code, f.department,"
                " g.code, g.name, g.village, g.town, g.lat, g.lon"
                # The period's tickets first: by its index on created_at SQLite would read every
                # ticket ever filed and look each up in the facts.
                f" FROM {table} f {self._STATS.join_in_order} tickets t ON t.id = f.id"
                " LEFT JOIN grids g ON g.code = f.grid_code ORDER BY t.created_at, t.id"
            )
            return [_at_end(ticket_from_row(row), row[-19:-6], Grid(*row[-6:]) if row[-6] else None)
                    for row in found]

        return await self._read(work)


def _grids(scope: Scope, parameters: dict[str, Any]) -> Work[dict[str, tuple]]:
    """The scope's grids and their workers as they are now: a renamed grid shows its new name in
    every period, and its scorecard names who works it today."""
    codes = _GRID_CODES[scope.level]
    grids = yield select(
        f"SELECT code, name, village, town, lat, lon FROM grids WHERE code IN ({codes}) ORDER BY code", parameters)
    workers = yield select(
        f"SELECT scope, name FROM staff WHERE role = 'grid_worker' AND scope IN ({codes}) ORDER BY scope, name",
        parameters)
    return {"grids": tuple(Grid(*row) for row in grids), "grid_workers": tuple((code, name) for code, name in workers)}


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
        holder_scope=holder_at(tier_at_end, grid_code, department, grid)[1],
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

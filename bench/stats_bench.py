"""Time the officials' statistics on a year of tickets and their histories.

    .venv/bin/python -m bench.stats_bench [--tickets 100000] [--grids 500] [--keep FILE]

Builds a year of tickets over the grids in a temporary SQLite file, each with the events the bot
writes for it (filed, handed over to another grid, replied, deadline misses, escalations, closed,
reopened, confirmed, rated; bulk inserts, indexes built after), then sums its days as the bot does
once each is over (`close_days`; timed, as on the first start after an upgrade), and times the
weekly and the monthly report (the period and the one before, as `/stats` shows them) and,
beside each, COUNT(*) over the same rows in the same run: the period's tickets and their events.
Each report is timed two ways: from the day sums (every reader now) and worked out from the
events alone (every first reader before the day sums; fewer runs, it is slow), and the two must
be equal. Then the current week so far, on the year's last Friday at noon: its days summed, and
the morning's events. Last, a week's export rows (each ticket as it stood at the week's end):
copied from the day sums' facts where nothing changed a ticket since, and all worked out from
the events. Prints figures only. With `--keep`, the days are summed in the kept file: copy it
before the first run to time the summing again.

The default 100,000 tickets take a few minutes. `--tickets 1000000` (the issue's figure) takes
about ten minutes and 1.5 GB of disk, `--tickets 10000000` some hours and 15 GB: pass
`--keep FILE` to build it once and measure it again later.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from domain.categories import DEFAULT_CATEGORIES
from domain.deadlines import TIER_ORDER
from domain.models import Grid, Tier
from domain.stats import Period, PeriodReport, PeriodWindow, Scope, ScopeLevel, Week, compute_report, load_report, total
from storage.sqlite import SqliteStorage

TIMEZONE = ZoneInfo("Asia/Shanghai")
FIRST_WEEK = Week(2025, 1)
WEEKS = 52
HOUR = 3600
REPLY_HOURS = 2
RESOLVE_HOURS = 24
BATCH = 50_000
GRIDS_PER_VILLAGE = 10
VILLAGES_PER_TOWN = 5
GRIDS_PER_TOWN = GRIDS_PER_VILLAGE * VILLAGES_PER_TOWN
# Where tickets close, after the Xigang figure of 89% in the village or below.
TIER_WEIGHTS = {Tier.GRID: 60, Tier.VILLAGE: 29, Tier.TOWN: 8, Tier.DEPARTMENT: 3}
RATING_WEIGHTS = {1: 3, 2: 3, 3: 9, 4: 25, 5: 60}
HANDED_OVER_SHARE = 0.03  # filed at the wrong grid's code and handed over within the day


def make_grids(count: int) -> list[Grid]:
    grids = []
    for i in range(count):
        village = i // GRIDS_PER_VILLAGE
        town = village // VILLAGES_PER_TOWN
        grids.append(Grid(f"G{i:04d}", f"网格{i}", f"村{village}", f"镇{town}"))
    return grids


def miss(tier: Tier, deadline: str, due: int) -> str:
    return json.dumps({"tier": tier.value, "deadline": deadline, "due_at": due})


def make_history(rng: random.Random, ticket_id: int, created: int, grid_codes: list[str],
                 department: str) -> tuple[tuple, list[tuple]]:
    """A ticket's row (grid, status, tier, times) and its events (ticket, at, type, status, tier,
    data), with plausible lifecycles: most answered within hours, some late, some escalated."""
    events = [(ticket_id, created, "created", "new", "grid", "{}")]
    index, status, tier = rng.randrange(len(grid_codes)), "new", Tier.GRID
    grid = grid_codes[index]
    reply, resolved, confirmed, rating = None, None, None, None
    handed_over = created
    if rng.random() < HANDED_OVER_SHARE:
        handed_over = created + rng.randrange(24 * HOUR)
        town = index // GRIDS_PER_TOWN * GRIDS_PER_TOWN  # a hand-over stays within the town
        to = grid_codes[rng.randrange(town, min(town + GRIDS_PER_TOWN, len(grid_codes)))]
        events.append((ticket_id, handed_over, "handed_over", status, tier.value, json.dumps({"from": grid, "to": to})))
        grid = to
    if rng.random() < 0.95:
        reply = max(handed_over, created + int(rng.expovariate(1 / (1.5 * HOUR))))
        if reply >= created + REPLY_HOURS * HOUR:
            events.append((ticket_id, reply, "deadline_missed", status, tier.value,
                           miss(tier, "reply", created + REPLY_HOURS * HOUR)))
        status = "in_progress"
        events.append((ticket_id, reply, "replied", status, tier.value, "{}"))
    if rng.random() < 0.85:
        resolved = max(reply or created, created + int(rng.expovariate(1 / (17.3 * HOUR))))
        closing_tier = rng.choices(list(TIER_WEIGHTS), list(TIER_WEIGHTS.values()))[0]
        for step in range(TIER_ORDER.index(closing_tier)):
            due = created + (step + 1) * RESOLVE_HOURS * HOUR
            events.append((ticket_id, due, "deadline_missed", status, tier.value, miss(tier, "resolve", due)))
            tier = TIER_ORDER[step + 1]
            status = "new"
            sent_to = {"department": department} if tier is Tier.DEPARTMENT else {}
            events.append((ticket_id, due, "escalated", status, tier.value,
                           json.dumps({"from": TIER_ORDER[step].value, "to": tier.value, "automatic": True} | sent_to)))
            resolved = max(resolved, due + 1)
        status = "resolved"
        events.append((ticket_id, resolved, "resolved", status, tier.value, "{}"))
        outcome = rng.random()
        if outcome < 0.70:
            confirmed = resolved + rng.randrange(24 * HOUR)
            status = "closed"
            events.append((ticket_id, confirmed, "confirmed", status, tier.value, "{}"))
            if rng.random() < 0.8:
                rating = rng.choices(list(RATING_WEIGHTS), list(RATING_WEIGHTS.values()))[0]
                events.append((ticket_id, confirmed, "rated", status, tier.value, json.dumps({"stars": rating})))
        elif outcome >= 0.97:
            status = "reopened"
            events.append((ticket_id, resolved + HOUR, "reopened", status, tier.value, "{}"))
    row = (grid, status, tier.value, reply, resolved, tier.value if resolved else None, confirmed, rating)
    return row, events


def make_tickets(count: int, grids: list[Grid], start: int, end: int) -> Iterator[tuple[tuple, list[tuple]]]:
    """(ticket row, its events) in creation order."""
    rng = random.Random(47)
    grid_codes = [g.code for g in grids]
    for ticket_id, created in enumerate(sorted(rng.randrange(start, end) for _ in range(count)), start=1):
        category = rng.choice(DEFAULT_CATEGORIES)
        (grid, status, tier, reply, resolved, resolved_tier, confirmed, rating), events = make_history(
            rng, ticket_id, created, grid_codes, category.department)
        ticket = (
            ticket_id, "complaint", category.code, grid, 1000 + ticket_id, "bench",
            status, tier, created, reply, resolved, resolved_tier, confirmed, rating,
            created + REPLY_HOURS * HOUR, created + RESOLVE_HOURS * HOUR, category.department,
        )
        yield ticket, events


async def prepare(path: Path, grids: list[Grid]) -> None:
    storage = await SqliteStorage.open(path)  # the schema and its migrations
    await storage.upsert_grids(grids)
    await storage.close()


def bulk_insert(path: Path, tickets: Iterator[tuple[tuple, list[tuple]]]) -> int:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    # Building the indexes once at the end is faster than updating them row by row.
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('tickets', 'ticket_events')"
        " AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    insert_ticket = (
        "INSERT INTO tickets(id, kind, category_code, grid_code, resident_id, description, status,"
        " tier, created_at, first_reply_at, resolved_at, resolved_tier, confirmed_at, rating,"
        " reply_due_at, resolve_due_at, department) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    insert_event = "INSERT INTO ticket_events(ticket_id, at, type, status, tier, data) VALUES (?,?,?,?,?,?)"
    events_written = 0
    while batch := [item for _, item in zip(range(BATCH), tickets)]:
        db.execute("BEGIN")
        db.executemany(insert_ticket, [ticket for ticket, _ in batch])
        # The log is written in time order, as the bot writes it: ids order the events.
        events = sorted((e for _, history in batch for e in history), key=lambda e: e[1])
        db.executemany(insert_event, events)
        db.execute("COMMIT")
        events_written += len(events)
    for _, sql in indexes:
        db.execute(sql)
    db.execute("ANALYZE")
    db.close()
    return events_written


async def timed(action: Callable[[], Awaitable[object]], runs: int) -> tuple[list[float], list[float]]:
    """Milliseconds of wall time and of this process's CPU time, for `runs` runs after a first
    one that warms the cache. CPU time shows the cost when others share the machine."""
    await action()
    wall, cpu = [], []
    for _ in range(runs):
        wall_began, cpu_began = time.perf_counter(), time.process_time()
        await action()
        wall.append((time.perf_counter() - wall_began) * 1000)
        cpu.append((time.process_time() - cpu_began) * 1000)
    return wall, cpu


def describe(label: str, wall: list[float], cpu: list[float]) -> str:
    return (
        f"{label:<44} median {statistics.median(wall):7.1f} ms, best {min(wall):7.1f} ms"
        f"   (CPU median {statistics.median(cpu):7.1f} ms)"
    )


_COUNT_ROWS = (
    "SELECT COUNT(*), (SELECT COUNT(*) FROM ticket_events e WHERE e.ticket_id BETWEEN MIN(t.id) AND MAX(t.id)"
    " AND e.at < ?2) FROM tickets t WHERE t.created_at >= ?1 AND t.created_at < ?2"
)


async def report_from_events(storage: SqliteStorage, period: Period, scope: Scope, now: int) -> PeriodReport:
    """The report worked out from the events alone, as every first reader of a closed period
    waited for it before the day sums."""
    window = period.window(TIMEZONE, now)
    rows = await storage.period_rows_from_events(window, scope)
    previous = await storage.period_rows_from_events(period.previous().window(TIMEZONE), scope)
    return compute_report(period, scope, window, rows, total(r.tally for r in previous.by_grid))


async def measure_period(storage: SqliteStorage, period: Period, now: int, runs: int) -> None:
    window: PeriodWindow = period.window(TIMEZONE, now)
    parameters = (window.start, window.end)
    tickets, events = (await storage._all(_COUNT_ROWS, parameters))[0]
    so_far = "" if window.final else " so far"
    print(f"\n{period}{so_far}: {tickets} tickets received, {events} events of theirs before its end")

    async def count_rows() -> None:
        await storage._all(_COUNT_ROWS, parameters)

    print(describe("COUNT(*) over those tickets and events", *await timed(count_rows, runs)))
    for label, scope in (("all", Scope()), ("one town", Scope(ScopeLevel.TOWN, "镇1")),
                         ("one village", Scope(ScopeLevel.VILLAGE, "村7")),
                         ("one grid", Scope(ScopeLevel.GRID, "G0023"))):
        print(describe(f"report, {label}, from the day sums", *await timed(
            lambda scope=scope: load_report(storage, period, TIMEZONE, scope, now), runs)))
        if not window.final:
            continue
        print(describe(f"report, {label}, from the events (before)", *await timed(
            lambda scope=scope: report_from_events(storage, period, scope, now), max(1, runs // 5))))
        if await load_report(storage, period, TIMEZONE, scope, now) != await report_from_events(
                storage, period, scope, now):
            print(f"{period}, {label}: THE DAY SUMS AND THE EVENTS DISAGREE")
    t = (await load_report(storage, period, TIMEZONE, Scope(), now)).totals
    print(
        f"figures: received {t.received}, response {t.response_rate.value or 0:.1%},"
        f" completion {t.completion_rate.value or 0:.1%}, closed {t.closed},"
        f" on time {t.on_time_rate.value or 0:.1%}, satisfaction {t.satisfaction_rate.value or 0:.1%}"
        f" of {t.rated}, p90 close {(t.time_to_close.p90_seconds or 0) / HOUR:.1f} h"
    )


# What a bench times on the built database: (its path, runs) -> prints its figures.
Measure = Callable[[Path, int], Awaitable[None]]


async def measure(path: Path, runs: int) -> None:
    storage = await SqliteStorage.open(path)
    last_week = Week.of_day(FIRST_WEEK.monday + timedelta(weeks=WEEKS - 1))
    now = last_week.window(TIMEZONE).bounds[4] + 12 * HOUR  # the year's last Friday, noon
    began, cpu_began = time.perf_counter(), time.process_time()
    days = await storage.close_days(TIMEZONE, now)
    if days:
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        print(f"summed {days} days once over, as the bot does: {seconds:.0f} s, {seconds / days * 1000:.0f} ms a day"
              f" (CPU {cpu:.0f} s, {cpu / days * 1000:.0f} ms a day)")
    await measure_period(storage, Period.of_week(Week(2025, 26)), now, runs)
    await measure_period(storage, Period.parse("2025-06"), now, runs)
    await measure_period(storage, Period.of_week(last_week), now, runs)
    week = Period.of_week(Week(2025, 26)).window(TIMEZONE)
    states = await storage.period_tickets(week, Scope())
    print(f"\nexport rows of 2025-W26, each as it stood at the week's end: {len(states)}")
    for label, from_events in (("from the day sums' facts", False), ("from the events (before)", True)):
        print(describe(f"export rows, {label}", *await timed(
            lambda from_events=from_events: storage.period_tickets(week, Scope(), from_events), max(1, runs // 5))))
    await storage.close()


async def build(tickets: int, grid_count: int, path: Path) -> None:
    grids = make_grids(grid_count)
    start = FIRST_WEEK.window(TIMEZONE).start
    end = start + WEEKS * 7 * 24 * HOUR
    began = time.perf_counter()
    await prepare(path, grids)
    events = bulk_insert(path, make_tickets(tickets, grids, start, end))
    size_mb = path.stat().st_size / 2**20
    print(f"generated {tickets} tickets and {events} events over {grid_count} grids, {WEEKS} weeks, in"
          f" {time.perf_counter() - began:.0f} s ({size_mb:.0f} MB)")


async def run(tickets: int, grid_count: int, path: Path, runs: int, measure_built: Measure) -> None:
    if not path.exists():
        await build(tickets, grid_count, path)
    await measure_built(path, runs)


def main(description: str = __doc__.splitlines()[0], default_tickets: int = 100_000,
         measure_built: Measure = measure) -> None:
    """The command line of this bench, and of the benches that time other things on its database."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tickets", type=int, default=default_tickets)
    parser.add_argument("--grids", type=int, default=500)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--keep", type=Path,
        help="build the database in this file and keep it; reuse it if it exists",
    )
    args = parser.parse_args()
    if args.keep:
        asyncio.run(run(args.tickets, args.grids, args.keep, args.runs, measure_built))
        return
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args.tickets, args.grids, Path(folder) / "bench.sqlite3", args.runs, measure_built))


if __name__ == "__main__":
    main()

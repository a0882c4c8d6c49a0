"""Time the officials' weekly statistics on a million tickets.

    /work/venv/bin/python -m bench.stats_bench [--tickets 1000000] [--grids 500] [--keep FILE]

Builds a year of tickets over the grids in a temporary SQLite file (bulk inserts, indexes built
after), then times the full weekly statistics of one week (that week and the week before, as
`/stats` shows them) and, beside it, one plain COUNT(*) over the week. Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

from domain.categories import DEFAULT_CATEGORIES
from domain.models import Grid, Tier
from domain.stats import Period, Scope, ScopeLevel, Week, load_report
from storage.sqlite import SqliteStorage

TIMEZONE = ZoneInfo("Asia/Shanghai")
FIRST_WEEK = Week(2025, 1)
WEEKS = 52
HOUR = 3600
BATCH = 100_000
GRIDS_PER_VILLAGE = 10
VILLAGES_PER_TOWN = 5
# Where tickets close, after the Xigang figure of 89% in the village or below.
TIER_WEIGHTS = {Tier.GRID: 60, Tier.VILLAGE: 29, Tier.TOWN: 8, Tier.DEPARTMENT: 3}
RATING_WEIGHTS = {1: 3, 2: 3, 3: 9, 4: 25, 5: 60}


def make_grids(count: int) -> list[Grid]:
    grids = []
    for i in range(count):
        village = i // GRIDS_PER_VILLAGE
        town = village // VILLAGES_PER_TOWN
        grids.append(Grid(f"G{i:04d}", f"网格{i}", f"村{village}", f"镇{town}"))
    return grids


def make_tickets(count: int, grids: list[Grid], start: int, end: int) -> Iterator[tuple]:
    """Rows for the tickets table in creation order, with plausible lifecycles."""
    rng = random.Random(47)
    grid_codes = [g.code for g in grids]
    categories = [c.code for c in DEFAULT_CATEGORIES]
    tiers = [t.value for t in TIER_WEIGHTS]
    ratings = list(RATING_WEIGHTS)
    created_times = sorted(rng.randrange(start, end) for _ in range(count))
    for ticket_id, created in enumerate(created_times, start=1):
        reply = resolved = tier = confirmed = rating = None
        status = "new"
        if rng.random() < 0.95:
            reply = created + int(rng.expovariate(1 / (1.5 * HOUR)))
            status = "in_progress"
        if rng.random() < 0.85:
            resolved = created + int(rng.expovariate(1 / (17.3 * HOUR)))
            tier = rng.choices(tiers, list(TIER_WEIGHTS.values()))[0]
            outcome = rng.random()
            if outcome < 0.70:
                status = "closed"
                confirmed = resolved + rng.randrange(24 * HOUR)
                if rng.random() < 0.8:
                    rating = rng.choices(ratings, list(RATING_WEIGHTS.values()))[0]
            else:
                status = "resolved" if outcome < 0.97 else "reopened"
        yield (
            ticket_id, "complaint", rng.choice(categories), rng.choice(grid_codes),
            1000 + ticket_id, "bench", status, tier or "grid", created, reply, resolved, tier, confirmed, rating,
            created + 2 * HOUR, created + 24 * HOUR,
        )


async def prepare(path: Path, grids: list[Grid]) -> None:
    storage = await SqliteStorage.open(path)  # the schema and its migrations
    await storage.upsert_grids(grids)
    await storage.close()


def bulk_insert(path: Path, rows: Iterator[tuple]) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    # Building the indexes once at the end is faster than updating them row by row.
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets'"
        " AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    insert = (
        "INSERT INTO tickets(id, kind, category_code, grid_code, resident_id, description, status,"
        " tier, created_at, first_reply_at, resolved_at, resolved_tier, confirmed_at, rating,"
        " reply_due_at, resolve_due_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    while batch := [row for _, row in zip(range(BATCH), rows)]:
        db.execute("BEGIN")
        db.executemany(insert, batch)
        db.execute("COMMIT")
    for _, sql in indexes:
        db.execute(sql)
    db.close()


async def timed(
    action: Callable[[], Awaitable[object]], runs: int
) -> tuple[list[float], list[float]]:
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
        f"{label:<30} median {statistics.median(wall):6.1f} ms, best {min(wall):6.1f} ms"
        f"   (CPU median {statistics.median(cpu):6.1f} ms)"
    )


async def measure(path: Path, week: Week, runs: int) -> None:
    storage = await SqliteStorage.open(path)
    window = week.window(TIMEZONE)
    (count,) = (await storage._all(
        "SELECT COUNT(*) FROM tickets WHERE created_at >= ? AND created_at < ?",
        (window.start, window.end),
    ))[0]
    print(f"week {week}: {count} tickets received")

    async def count_week() -> None:
        await storage._all(
            "SELECT COUNT(*) FROM tickets WHERE created_at >= ? AND created_at < ?",
            (window.start, window.end),
        )

    print(describe("COUNT(*) over the week", *await timed(count_week, runs)))
    for label, scope in (("weekly statistics, all", Scope()),
                         ("weekly statistics, one town", Scope(ScopeLevel.TOWN, "镇3")),
                         ("weekly statistics, one grid", Scope(ScopeLevel.GRID, "G0123"))):
        print(describe(label, *await timed(
            lambda scope=scope: load_report(storage, Period.of_week(week), TIMEZONE, scope), runs)))
    t = (await load_report(storage, Period.of_week(week), TIMEZONE)).totals
    print(f"figures: received {t.received}, closed {t.closed}, completion {t.completion_rate.value or 0:.1%}")
    export_began = time.perf_counter()
    tickets = await storage.week_tickets(window, Scope())
    export_ms = (time.perf_counter() - export_began) * 1000
    print(f"export rows: {len(tickets)} tickets in {export_ms:.0f} ms")
    await storage.close()


async def build(tickets: int, grid_count: int, path: Path) -> None:
    grids = make_grids(grid_count)
    start = FIRST_WEEK.window(TIMEZONE).start
    end = start + WEEKS * 7 * 24 * HOUR
    began = time.perf_counter()
    await prepare(path, grids)
    bulk_insert(path, make_tickets(tickets, grids, start, end))
    size_mb = path.stat().st_size / 2**20
    print(f"generated {tickets} tickets over {grid_count} grids, {WEEKS} weeks, in"
          f" {time.perf_counter() - began:.0f} s ({size_mb:.0f} MB)")


async def run(tickets: int, grid_count: int, path: Path, runs: int) -> None:
    if not path.exists():
        await build(tickets, grid_count, path)
    await measure(path, Week(2025, 26), runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=500)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--keep", type=Path,
        help="build the database in this file and keep it; reuse it if it exists",
    )
    args = parser.parse_args()
    if args.keep:
        asyncio.run(run(args.tickets, args.grids, args.keep, args.runs))
        return
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args.tickets, args.grids, Path(folder) / "bench.sqlite3", args.runs))


if __name__ == "__main__":
    main()

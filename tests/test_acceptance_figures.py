"""Acceptance (issue 10): the reproduction of "closed weeks rewrite themselves", as an official would
meet it: `gridbot demo`, `gridbot stats` for last week and last month, the bot's deadline watcher
escalating overdue tickets over several rounds, then `gridbot stats` again, byte for byte."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.factory import create_dispatcher, wall_clock
from domain.stats import Period, PeriodKind
from storage.sqlite import SqliteStorage
from tests.conftest import FakeClock, make_settings
from tests.fake_telegram import make_bot

HOUR = 3600
# The CSV columns that describe a ticket as it stood at the period's end (the rest say "now").
NOW_COLUMNS = ("（当前）", "(now)")


def gridbot_stats(monkeypatch, capsys, database: Path, *flags: str, csv_file: Path | None = None) -> str:
    monkeypatch.setenv("DATABASE_PATH", str(database))
    capsys.readouterr()
    extra = ["--csv", str(csv_file)] if csv_file else []
    assert main(["stats", *flags, "--scorecards", *extra]) == 0
    return capsys.readouterr().out


def at_period_end_columns(csv_file: Path) -> list[list[str]]:
    """The export without its 'now' columns."""
    rows = list(csv.reader(io.StringIO(csv_file.read_text(encoding="utf-8-sig"))))
    keep = [i for i, name in enumerate(rows[0]) if not name.endswith(NOW_COLUMNS)]
    assert 0 < len(keep) < len(rows[0]), rows[0]  # the export has both kinds of column
    return [[row[i] for i in keep] for row in rows]


async def run_the_deadline_watcher(database: Path, tmp_path: Path, rounds: list[int]) -> int:
    """The bot's deadline watcher on this database, one pass per round, the clock moved on between
    rounds (hours); cards and notices go to a fake Telegram. Returns how many tickets it escalated."""
    db = await SqliteStorage.open(database)
    try:
        clock = FakeClock(wall_clock())
        dp = create_dispatcher(make_settings(tmp_path, database_path=database), db, clock=clock,
                               send_intervals=(0.0, 0.0))
        bot = make_bot()
        escalated = 0
        for hours in rounds:
            clock.advance(hours * HOUR)
            moved, _ = await dp["tickets"].run_deadlines()
            escalated += moved
            await dp["outbox"].deliver_due(bot)
        return escalated
    finally:
        await db.close()


@pytest.fixture
def demo(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    database = tmp_path / "demo.sqlite3"
    monkeypatch.setenv("DATABASE_PATH", str(database))
    assert main(["demo"]) == 0
    return database


def closed_periods() -> list[list[str]]:
    """Last week, last month and a range across them named explicitly, so both runs ask for the
    same periods."""
    settings_tz = make_settings(Path(".")).timezone
    now = wall_clock()
    week = Period.last_full(PeriodKind.WEEK, now, settings_tz)
    month = Period.last_full(PeriodKind.MONTH, now, settings_tz)
    first = week.days[0] - timedelta(days=10)
    return [["--week", str(week)], ["--month", str(month)],
            ["--from", first.isoformat(), "--to", week.days[-1].isoformat()]]


def test_issue_10_reproduction_stats_watcher_stats_is_byte_identical(demo, tmp_path, monkeypatch, capsys):
    periods = closed_periods()
    before = {}
    for flags in periods:
        csv_file = tmp_path / f"before{flags[0]}.csv"
        before[flags[1]] = (gridbot_stats(monkeypatch, capsys, demo, *flags, csv_file=csv_file),
                            at_period_end_columns(csv_file))
        assert "超期" in before[flags[1]][0] or "Overdue" in before[flags[1]][0]

    escalated = asyncio.run(run_the_deadline_watcher(demo, tmp_path, rounds=[0, 2, 26, 72, 24 * 7]))
    assert escalated > 0  # the watcher did move overdue tickets (else the test proves nothing)

    for flags in periods:
        csv_file = tmp_path / f"after{flags[0]}.csv"
        text = gridbot_stats(monkeypatch, capsys, demo, *flags, csv_file=csv_file)
        assert text == before[flags[1]][0], flags
        assert at_period_end_columns(csv_file) == before[flags[1]][1], flags


def test_closed_periods_from_the_events_alone_ignore_later_escalations(demo, tmp_path, monkeypatch, capsys):
    """The same without the stored sums of the first report helping: one copy of the demo town
    untouched, the other escalated by the watcher, each summed for the first time afterwards."""
    untouched = tmp_path / "untouched.sqlite3"
    shutil.copyfile(demo, untouched)
    assert asyncio.run(run_the_deadline_watcher(demo, tmp_path, rounds=[0, 2, 26, 72])) > 0
    for flags in closed_periods():
        expected = gridbot_stats(monkeypatch, capsys, untouched, *flags, csv_file=tmp_path / "a.csv")
        got = gridbot_stats(monkeypatch, capsys, demo, *flags, csv_file=tmp_path / "b.csv")
        assert got == expected, flags
        assert at_period_end_columns(tmp_path / "b.csv") == at_period_end_columns(tmp_path / "a.csv"), flags

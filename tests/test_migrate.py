"""Moving a town to PostgreSQL: `gridbot migrate --to postgresql://…` on the demo town, and the bot's
reads agree on both databases afterwards."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.__main__ import main
from domain.models import Kind
from domain.stats import Period, Scope
from storage import NewTicket, open_storage, transfer

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def town(tmp_path, monkeypatch, capsys):
    """The demo town in SQLite, as `gridbot demo` writes it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "town.sqlite3"))
    monkeypatch.setenv("STATS_MIN_RATED", "3")
    monkeypatch.setenv("STATS_MIN_TICKETS", "3")
    assert main(["demo"]) == 0
    capsys.readouterr()
    return tmp_path / "town.sqlite3"


async def what_the_bot_reads(db) -> list:
    far = 2**40
    month = Period.parse(datetime.now(SHANGHAI).strftime("%Y-%m")).window(SHANGHAI)  # the demo's last weeks
    return [
        await db.list_grids(), await db.list_staff(), await db.list_categories(), await db.list_departments(),
        await db.tickets_due(far, limit=10**6), await db.due_outbox(far, limit=10**6),
        await db.overdue_tickets(far, None, limit=10**6), await db.shop_codes(),
        await db.period_rows(month, Scope()), await db.period_tickets(month, Scope()),
    ]


def test_migrate_copies_the_demo_town_and_the_bot_reads_the_same(town, postgres_schema, monkeypatch, capsys):
    monkeypatch.setattr(transfer, "BATCH_ROWS", 50)  # tables go in many batches, as a big town's do
    assert main(["migrate", "--to", postgres_schema]) == 0
    out = capsys.readouterr().out
    assert "每张表的行都相同" in out  # in DEFAULT_LANGUAGE
    for table in ("tickets", "ticket_events", "outbox", "ticket_attachments", "shops", "shop_ratings", "inspections"):
        assert f"\n{table} " in f"\n{out}"

    async def compare() -> None:
        sqlite, postgres = await open_storage(town), await open_storage(postgres_schema)
        try:
            assert await what_the_bot_reads(postgres) == await what_the_bot_reads(sqlite)
            # New rows continue after the copied ids.
            (last,) = (await postgres._all("SELECT MAX(id) FROM tickets"))[0]
            grid = (await postgres.list_grids())[0].code
            ticket, _ = await postgres.create_ticket(NewTicket(Kind.REPORT, "water", grid, 5, "新的"), 1)
            assert ticket.id == last + 1
        finally:
            await sqlite.close()
            await postgres.close()

    asyncio.run(compare())
    # The statistics an official prints are the same, byte for byte.
    assert main(["stats", "--month", "last", "--scorecards"]) == 0
    on_sqlite = capsys.readouterr().out
    monkeypatch.setenv("DATABASE_URL", postgres_schema)
    assert main(["stats", "--month", "last", "--scorecards"]) == 0
    assert capsys.readouterr().out == on_sqlite


def test_migrate_copies_into_an_empty_database_only(town, postgres_schema, capsys):
    assert main(["migrate", "--to", postgres_schema]) == 0
    assert main(["migrate", "--to", postgres_schema]) == 1
    assert "already holds data" in capsys.readouterr().err
    assert main(["migrate", "--to", "mysql://x"]) == 2


def test_backup_on_postgresql_points_to_pg_dump(postgres_schema, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", postgres_schema)
    assert main(["backup", str(tmp_path / "copy.sqlite3")]) == 2
    assert "pg_dump" in capsys.readouterr().err and not (tmp_path / "copy.sqlite3").exists()

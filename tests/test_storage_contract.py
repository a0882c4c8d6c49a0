"""What every backend promises (storage/base.py), checked on SQLite and on PostgreSQL alike:
idempotent filing, a change and its notices in one transaction, one winner among concurrent
writers, forms kept across a restart."""

from __future__ import annotations

import asyncio

import pytest

from domain.models import EventType, Kind, Notice, Status, TicketEvent
from storage import NewTicket, TicketChange, open_storage
from storage.postgres import numbered
from storage.sql import migrations
from tests.conftest import GRIDS, START


@pytest.fixture
async def db(database):
    storage = await open_storage(database)
    await storage.upsert_grids(GRIDS)
    yield storage
    await storage.close()


def new_ticket(source_key: str | None = "update:1", category: str = "water") -> NewTicket:
    return NewTicket(Kind.COMPLAINT, category, "DL01", 1001, "水管漏水", source_key=source_key)


async def ticket_count(db) -> int:
    return len(await db.resident_tickets(1001, limit=1000))


async def test_a_repeated_update_files_one_ticket_and_queues_its_notices_once(db):
    notice = Notice(501, "new_ticket", None, {"n": 1})
    first, created = await db.create_ticket(new_ticket(), START, [notice])
    again, created_again = await db.create_ticket(new_ticket(), START + 5, [notice])
    assert created and not created_again and again.id == first.id
    assert await ticket_count(db) == 1 and len(await db.events(first.id)) == 1
    due = await db.due_outbox(START + 10)
    assert [(item.notice.chat_id, item.notice.ticket_id) for item in due] == [(501, first.id)]
    assert not await db.pending_alike(due[0])
    assert await db.ticket_for_source("update:1") == first.id


async def test_concurrent_deliveries_of_one_update_file_one_ticket(db):
    results = await asyncio.gather(*(db.create_ticket(new_ticket(), START) for _ in range(8)))
    assert sum(created for _, created in results) == 1
    assert len({ticket.id for ticket, _ in results}) == 1 and await ticket_count(db) == 1


async def test_a_failed_write_leaves_neither_ticket_nor_notice(db):
    with pytest.raises(Exception):  # the category does not exist: a foreign key refuses it
        await db.create_ticket(new_ticket(category="no-such-category"), START, [Notice(501, "new_ticket", None, {})])
    assert await ticket_count(db) == 0 and await db.due_outbox(START + 10) == []


async def test_a_change_applies_once_with_its_event_and_notices(db):
    ticket, _ = await db.create_ticket(new_ticket(), START)
    taken = TicketEvent(ticket.id, START + 60, EventType.TAKEN, 501)
    change = TicketChange(Status.IN_PROGRESS, assignee_id=501)
    notices = [Notice(1001, "status", ticket.id, {"status": "in_progress"})]
    results = await asyncio.gather(*(db.change_ticket(ticket.id, Status.NEW, change, taken, notices) for _ in range(4)))
    assert sum(result is not None for result in results) == 1  # the others found it moved on
    stored = await db.get_ticket(ticket.id)
    assert stored.status is Status.IN_PROGRESS and stored.assignee_id == 501
    assert [e.type for e in await db.events(ticket.id)] == [EventType.CREATED, EventType.TAKEN]
    assert [item.notice.type for item in await db.due_outbox(START + 120)] == ["status"]


async def test_a_digest_is_queued_once_per_period_even_when_asked_at_once(db):
    digest = [Notice(701, "digest", None, {"week": "2025-W47"})]
    results = await asyncio.gather(*(db.enqueue_once("digest:701", "2025-W47", digest, START) for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    assert not await db.enqueue_once("digest:701", "2025-W47", digest, START)
    assert await db.enqueue_once("digest:701", "2025-W48", digest, START)
    assert len(await db.due_outbox(START)) == 1 and len(await db.pending_alike((await db.due_outbox(START))[0])) == 1


async def test_a_chats_urgent_notices_go_first_then_in_order(db):
    await db.enqueue([Notice(9, "chatter", None, {"i": 1}), Notice(9, "card", None, {"i": 2}, urgent=True),
                      Notice(9, "chatter", None, {"i": 3})], START)
    sent = []
    while due := await db.due_outbox(START):
        sent.append(due[0].notice.data["i"])
        await db.mark_sent([due[0].id], START)
    assert sent == [2, 1, 3] and await db.next_outbox_time() is None


async def test_a_form_and_its_update_survive_a_restart(database):
    db = await open_storage(database)
    await db.save_forms({"fsm:1": ("TicketForm:text", '{"grid": "DL01", "text": "水管"}')}, START, update_id=77)
    await db.close()
    db = await open_storage(database)  # another process, or this one started again
    assert await db.load_form("fsm:1") == ("TicketForm:text", '{"grid": "DL01", "text": "水管"}')
    assert await db.update_handled(77) and await db.newest_handled_update() == 77
    await db.save_forms({"fsm:1": (None, db.EMPTY_FORM_DATA)}, START)
    assert await db.load_form("fsm:1") is None
    await db.close()


async def test_grid_search_ignores_ascii_case_and_takes_wildcards_literally(db):
    assert [g.code for g in await db.search_grids("dl0")] == ["DL01", "DL02"]
    assert await db.search_grids("%") == [] and await db.search_grids("_") == []


def test_each_backend_has_every_migration():
    """A migration added for SQLite needs its PostgreSQL twin of the same number (README: Adding a
    migration); the PostgreSQL baseline stands for the SQLite numbers up to its own."""
    sqlite, postgres = [v for v, _ in migrations()], [v for v, _ in migrations("migrations_pg")]
    assert postgres and max(sqlite) == max(postgres)
    assert [v for v in sqlite if v > postgres[0]] == postgres[1:]


def test_placeholders_are_numbered_for_postgresql():
    assert numbered("SELECT a FROM t WHERE b = ? AND c IN (?, ?)") == ("SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)", ())
    assert numbered("SELECT ?1 WHERE x <= ?1 LIMIT ?2") == ("SELECT $1 WHERE x <= $1 LIMIT $2", ())
    assert numbered("SELECT :end, '?:x', e.id::text WHERE s >= :start AND t < :end") == (
        "SELECT $1, '?:x', e.id::text WHERE s >= $2 AND t < $1", ("end", "start"))


async def test_a_migration_landed_after_a_higher_one_is_still_applied(database, monkeypatch):
    """Work landed in parallel can add migration 15 after a database already has 17: a database
    that has 17 must still get 15 when it next opens."""
    import storage.sql

    real = storage.sql.migrations

    def with_extra(extra):
        def scripts(folder="migrations"):
            return sorted([*real(folder), *((version, f"CREATE TABLE {table} (x INTEGER);") for version, table in extra)])

        return scripts

    monkeypatch.setattr(storage.sql, "migrations", with_extra([(9002, "landed_first")]))
    monkeypatch.setattr("storage.sqlite.migrations", storage.sql.migrations)
    first = await open_storage(database)
    await first.close()

    monkeypatch.setattr(storage.sql, "migrations", with_extra([(9001, "landed_later"), (9002, "landed_first")]))
    monkeypatch.setattr("storage.sqlite.migrations", storage.sql.migrations)
    again = await open_storage(database)
    try:
        assert await again._all("SELECT x FROM landed_later") == []
    finally:
        await again.close()

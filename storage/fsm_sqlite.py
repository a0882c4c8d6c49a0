"""SQL for forms in progress, handled updates, the outbox of a blocked user, the filing limit and
backups, mixed into `SqliteStorage`.

Forms change on every step of a resident's form, so their commits skip the fsync that ticket commits
make (synchronous=NORMAL for that one transaction). In WAL mode such a commit survives a crash of the
process and is made durable by the next FULL commit; only a power cut can lose it, and then a form
goes back a step while every ticket stays.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from storage.base import Storage


def _is_finished(form: tuple[str | None, str]) -> bool:
    return form[0] is None and form[1] == Storage.EMPTY_FORM_DATA


class SqliteFsmMixin:
    # Provided by SqliteStorage.
    _db: aiosqlite.Connection
    _lock: asyncio.Lock
    _all: Callable[[str, Sequence], Awaitable[list[sqlite3.Row]]]
    _in_one_trip: Callable[..., Awaitable[Any]]

    async def load_form(self, key: str) -> tuple[str | None, str] | None:
        rows = await self._all("SELECT state, data FROM fsm_states WHERE key = ?", (key,))
        return (rows[0][0], rows[0][1]) if rows else None

    async def save_forms(
        self, forms: Mapping[str, tuple[str | None, str]], now: int, update_id: int | None = None
    ) -> None:
        finished = [(key,) for key, form in forms.items() if _is_finished(form)]
        going_on = [(key, *form, now) for key, form in forms.items() if not _is_finished(form)]

        def write(db: sqlite3.Connection) -> None:
            if finished:
                db.executemany("DELETE FROM fsm_states WHERE key = ?", finished)
            if going_on:
                db.executemany(
                    "INSERT INTO fsm_states(key, state, data, updated_at) VALUES (?,?,?,?)"
                    " ON CONFLICT(key) DO UPDATE SET state = excluded.state, data = excluded.data,"
                    " updated_at = excluded.updated_at",
                    going_on,
                )
            if update_id is not None:
                db.execute(
                    "INSERT INTO handled_updates(update_id, handled_at) VALUES (?, ?)"
                    " ON CONFLICT(update_id) DO NOTHING",
                    (update_id, now),
                )

        # A form is not a promise to anyone: its commit need not wait for the disk.
        await self._in_one_trip(write, durable=False)

    async def newest_handled_update(self) -> int | None:
        rows = await self._all("SELECT MAX(update_id) FROM handled_updates", ())
        return rows[0][0]

    async def update_handled(self, update_id: int) -> bool:
        return bool(await self._all("SELECT 1 FROM handled_updates WHERE update_id = ?", (update_id,)))

    async def forget_handled_updates(self, before: int) -> None:
        await self._in_one_trip(
            lambda db: db.execute("DELETE FROM handled_updates WHERE handled_at < ?", (before,)), durable=False
        )

    async def drop_pending(self, chat_id: int, reason: str) -> None:
        async with self._lock:
            await self._db.execute(
                "UPDATE outbox SET dropped_reason = ? WHERE chat_id = ? AND sent_at IS NULL"
                " AND dropped_reason IS NULL",
                (reason, chat_id),
            )

    async def tickets_filed_since(self, resident_id: int, since: int) -> int:
        rows = await self._all(
            "SELECT COUNT(*) FROM tickets WHERE resident_id = ? AND created_at >= ?", (resident_id, since)
        )
        return rows[0][0]

    async def ticket_for_source(self, source_key: str) -> int | None:
        rows = await self._all("SELECT id FROM tickets WHERE source_key = ?", (source_key,))
        return rows[0][0] if rows else None

    async def backup_to(self, target: Path) -> None:
        # Copied into a side file first, so `target` is never a half-written database.
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        # The copy is written from aiosqlite's thread, hence check_same_thread=False.
        copy = sqlite3.connect(partial, check_same_thread=False)
        try:
            try:
                async with self._lock:
                    # All pages in one step: one read transaction, so one consistent snapshot while
                    # the bot goes on writing (WAL readers do not block writers).
                    await self._db.backup(copy, pages=-1)
                # One self-contained file, without -wal or -shm beside it.
                copy.execute("PRAGMA journal_mode=DELETE")
                (verdict,) = copy.execute("PRAGMA quick_check").fetchone()
            finally:
                copy.close()
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its check: {verdict}")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, target)

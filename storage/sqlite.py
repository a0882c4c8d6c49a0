"""SQLite backend: WAL, versioned migrations, one connection serialised by a lock. Every `Storage`
method is in storage/sql.py; this drives its statements."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from storage.sql import SqlStorage, migrations, pending_migrations
from storage.statements import Statement, Work
from storage.stats_sql import SQLITE_STATS

T = TypeVar("T")


def _execute(db: sqlite3.Connection, statement: Statement) -> Any:
    if statement.result == "many":
        db.executemany(statement.sql, statement.params)
        return None
    cursor = db.execute(statement.sql, statement.params)
    if statement.result == "one":
        return cursor.fetchone()
    if statement.result == "rows":
        return cursor.fetchall()
    # RETURNING rows must be read before rowcount counts them; these statements have none.
    return cursor.rowcount


def drive(db: sqlite3.Connection, work: Work[T]) -> T:
    """Run the statements of `work` on `db`, sending each one's result back."""
    try:
        statement = next(work)
        while True:
            statement = work.send(_execute(db, statement))
    except StopIteration as done:
        return done.value


class SqliteStorage(SqlStorage):
    _STATS = SQLITE_STATS

    def __init__(self, connection: aiosqlite.Connection):
        self._db = connection
        # One connection serves the whole bot; the lock keeps one coroutine's transaction from
        # interleaving with another's statements.
        self._lock = asyncio.Lock()
        self._stats_path: str | None = None  # the database file, "" when in memory; found on first use

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStorage:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(str(path), isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit reaches the disk before we tell a resident the ticket is filed.
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        storage = cls(db)
        await storage._migrate()
        return storage

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cur:
            (current,) = await cur.fetchone()
        async with self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'") as cur:
            recorded = await cur.fetchone() is not None
        if not recorded:
            # Databases from before this table kept only the highest version (user_version): every
            # script up to it was applied.
            await self._db.executescript(
                "BEGIN IMMEDIATE;CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY);"
                + "".join(
                    f"INSERT INTO schema_migrations(version) VALUES ({version});"
                    for version, _ in migrations()
                    if version <= current
                )
                + "COMMIT;"
            )
        async with self._db.execute("SELECT version FROM schema_migrations") as cur:
            applied = {row[0] for row in await cur.fetchall()}
        for version, script in pending_migrations("migrations", applied):
            # executescript commits first; the script itself is one transaction with its version.
            await self._db.executescript(
                f"BEGIN IMMEDIATE;\n{script}\n"
                f"INSERT INTO schema_migrations(version) VALUES ({version});\n"
                f"PRAGMA user_version={max(version, current)};\nCOMMIT;"
            )
            current = max(version, current)
        await self._after_migrations(fresh=not applied)

    async def _transaction(self, work: Callable[[], Work[T]], durable: bool = True, write: bool = True) -> T:
        """One transaction in a single trip to the database thread.

        A trip costs a few hundred microseconds on a loaded machine, and a transaction statement by
        statement takes one per statement. aiosqlite has no public call for this, so its worker
        queue (`_execute`) is used directly. `durable=False` commits without waiting for the disk
        (synchronous=NORMAL, which cannot change inside a transaction) and restores FULL after."""

        def transaction(db: sqlite3.Connection) -> T:
            if not durable:
                db.execute("PRAGMA synchronous=NORMAL")
            try:
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = drive(db, work())
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
                return result
            finally:
                if not durable:
                    db.execute("PRAGMA synchronous=FULL")

        async with self._lock:
            return await self._db._execute(transaction, self._db._conn)

    async def _all(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Sequence[Any]]:
        async with self._lock:
            # One trip to the database thread instead of three (execute, fetch, close).
            return list(await self._db.execute_fetchall(sql, params))

    async def _read(self, work: Callable[[], Work[T]]) -> T:
        """Summing a period from its events can take seconds on a big year, so it runs on a
        connection of its own in a worker thread (WAL lets it read beside the writer), and the bot
        goes on filing and answering meanwhile; an in-memory database has only the one connection."""

        def transaction(db: sqlite3.Connection) -> T:
            db.execute("PRAGMA temp_store=MEMORY")  # the facts table never touches the disk
            db.execute("BEGIN")
            try:
                return drive(db, work())
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

    async def close(self) -> None:
        await self._db.close()

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
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

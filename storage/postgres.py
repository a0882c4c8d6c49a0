"""PostgreSQL backend (asyncpg): a pool of connections, versioned migrations in
storage/migrations_pg/. Every `Storage` method is in storage/sql.py; this drives its statements.

Chosen by DATABASE_URL=postgresql://…, for a county or city that runs many towns through one bot, or
several bot processes on one database. Query parameters of the URL that asyncpg does not know are
server settings, e.g. `?search_path=town1` keeps a database's tables in a schema of its own.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from storage.sql import SqlStorage, pending_migrations
from storage.statements import Statement, Work, one, run
from storage.stats_sql import POSTGRES_STATS

T = TypeVar("T")

# Held while migrating, so that processes starting together migrate once (any constant of our own).
_MIGRATION_LOCK = 0x67726964  # "grid"
# Two-number advisory locks (a key space apart from the one-number lock above): a user's updates
# (`user_turn`), and leadership (`lead`).
_USER_LOCKS = 0x67726965
_LEAD_LOCK = 0x67726966
USER_TURN_FIRST_POLL = 0.005
USER_TURN_LAST_POLL = 0.1
# Chats' pacing rows older than a minute say nothing any more; swept every so many bookings.
FORGET_PACE_EVERY = 500
# A quoted literal (left alone), or a placeholder: ?, ?N or :name.
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?(\d*)|(?<![:\w]):([A-Za-z_]\w*)")


async def _keep_as_is(connection: asyncpg.Connection) -> None:
    """Nothing to reset (see `PostgresStorage.open`), unless a cancelled transaction is still open."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


@lru_cache(maxsize=2048)
def numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with PostgreSQL's $N placeholders, and the names its :name placeholders had, in the
    order of their numbers (empty when it takes ? or ?N: their numbers are the positions)."""
    names: list[str] = []
    position = 0

    def number(match: re.Match[str]) -> str:
        nonlocal position
        whole, digits, name = match.group(0), match.group(1), match.group(2)
        if whole.startswith("'"):
            return whole
        if name is not None:
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"
        if digits:
            return f"${digits}"
        position += 1
        return f"${position}"

    return _PLACEHOLDER.sub(number, sql), tuple(names)


def _arguments(names: tuple[str, ...], params: Sequence[Any] | Mapping[str, Any]) -> Sequence[Any]:
    if isinstance(params, Mapping):
        return [params[name] for name in names]
    return params


async def _execute(connection: asyncpg.Connection, statement: Statement) -> Any:
    sql, names = numbered(statement.sql)
    if statement.result == "many":
        if statement.params:
            await connection.executemany(sql, [_arguments(names, row) for row in statement.params])
        return None
    arguments = _arguments(names, statement.params)
    if statement.result == "one":
        row = await connection.fetchrow(sql, *arguments)
        return tuple(row) if row is not None else None
    if statement.result == "rows":
        return [tuple(row) for row in await connection.fetch(sql, *arguments)]
    status = await connection.execute(sql, *arguments)  # e.g. "UPDATE 1", "INSERT 0 1"
    count = status.rsplit(" ", 1)[-1]
    return int(count) if count.isdigit() else 0


async def drive(connection: asyncpg.Connection, work: Work[T]) -> T:
    """Run the statements of `work` on `connection`, sending each one's result back."""
    try:
        statement = next(work)
        while True:
            statement = work.send(await _execute(connection, statement))
    except StopIteration as done:
        return done.value


class _Session:
    """A connection of this process's own for advisory locks held across transactions (session
    locks): PostgreSQL releases them when the connection ends, so a process that dies lets go of
    everything it held. One query at a time; a lost connection is opened again, holding nothing."""

    def __init__(self, url: str):
        self.url = url
        self.holds_lead = False
        self._connection: asyncpg.Connection | None = None
        self._busy = asyncio.Lock()

    async def value(self, sql: str, *args: Any) -> Any:
        async with self._busy:
            if self._connection is None or self._connection.is_closed():
                self._connection = await asyncpg.connect(self.url)
                self.holds_lead = False
            try:
                return await self._connection.fetchval(sql, *args)
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
                self._connection.terminate()
                self._connection = None
                raise

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


def _lock_key(key: str) -> int:
    """`key` as the second number of a two-number advisory lock; two keys that share one merely wait
    for each other."""
    return zlib.crc32(key.encode()) - 2**31


class PostgresStorage(SqlStorage):
    _STATS = POSTGRES_STATS
    _LIKE = "ILIKE"  # SQLite's LIKE ignores ASCII case
    _SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
    shared = True

    def __init__(self, pool: asyncpg.Pool, url: str, lock_sessions: int = 4):
        self._pool = pool
        # Users' locks are spread over a few connections, so that taking one does not wait for
        # the round trips of all the others; leadership has a connection of its own.
        self._user_sessions = [_Session(url) for _ in range(lock_sessions)]
        self._lead_session = _Session(url)
        self._bookings = 0

    @classmethod
    async def open(cls, url: str, connections: int = 10) -> PostgresStorage:
        # A connection goes back to the pool as it came: transactions end with COMMIT or ROLLBACK,
        # settings are SET LOCAL, locks are the transaction's. Skipping asyncpg's reset on release
        # saves a round trip per query; the statistics' temporary table is kept on purpose.
        pool = await asyncpg.create_pool(url, min_size=1, max_size=connections, reset=_keep_as_is)
        storage = cls(pool, url)
        try:
            await storage._migrate()
        except BaseException:
            await pool.close()
            raise
        return storage

    async def _migrate(self) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            # DDL is transactional here: every pending migration and its version commit together.
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
            )
            applied = {row[0] for row in await connection.fetch("SELECT version FROM schema_migrations")}
            for version, script in pending_migrations("migrations_pg", applied):
                await connection.execute(script)
                await connection.execute(
                    "INSERT INTO schema_migrations(version, applied_at)"
                    " VALUES ($1, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))",
                    version,
                )
        await self._after_migrations(fresh=not applied)

    async def _transaction(self, work: Callable[[], Work[T]], durable: bool = True, write: bool = True) -> T:
        begin = "BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        if not durable:
            # The commit does not wait for the WAL to reach the disk (see storage/fsm_sql.py).
            begin += "; SET LOCAL synchronous_commit = off"
        async with self._pool.acquire() as connection:
            await connection.execute(begin)  # one round trip for both
            try:
                result = await drive(connection, work())
            except BaseException:
                await connection.execute("ROLLBACK")
                raise
            await connection.execute("COMMIT")
            return result

    async def _all(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Sequence[Any]]:
        numbered_sql, names = numbered(sql)
        return [tuple(row) for row in await self._pool.fetch(numbered_sql, *_arguments(names, params))]

    async def _read(self, work: Callable[[], Work[T]]) -> T:
        # One snapshot; the facts table is the connection's own temporary table.
        async with self._pool.acquire() as connection, connection.transaction(isolation="repeatable_read"):
            return await drive(connection, work())

    @asynccontextmanager
    async def user_turn(self, key: str) -> AsyncIterator[None]:
        number = _lock_key(key)
        session = self._user_sessions[number % len(self._user_sessions)]
        # Polled rather than waited for: a waiting pg_advisory_lock would hold the connection that
        # other users' locks share. Another process has the user rarely, and briefly.
        pause = USER_TURN_FIRST_POLL
        while not await session.value("SELECT pg_try_advisory_lock($1, $2)", _USER_LOCKS, number):
            await asyncio.sleep(pause)
            pause = min(pause * 2, USER_TURN_LAST_POLL)
        try:
            yield
        finally:
            try:
                await session.value("SELECT pg_advisory_unlock($1, $2)", _USER_LOCKS, number)
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
                pass  # the connection is gone, and the lock with it

    async def lead(self) -> bool:
        session = self._lead_session
        try:
            if session.holds_lead:
                await session.value("SELECT 1")  # still connected (a new connection holds nothing)
            else:
                session.holds_lead = await session.value("SELECT pg_try_advisory_lock($1, 0)", _LEAD_LOCK)
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
            return False
        return session.holds_lead

    async def book_send(self, chat_id: int | str, messages: int, overall: float, per_chat: float) -> float:
        self._bookings += 1
        forget = self._bookings % FORGET_PACE_EVERY == 0

        def write() -> Work[float]:
            # The overall row first, in every booking: bookings queue on it, one at a time.
            (free_at,) = yield one("SELECT free_at FROM send_pace WHERE id = 1 FOR UPDATE")
            (now,) = yield one("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8")  # once it is our turn
            chat = yield one("SELECT free_at FROM chat_pace WHERE chat_id = ?", (str(chat_id),))
            at = max(now, free_at, chat[0] if chat else now)
            yield run("UPDATE send_pace SET free_at = ? WHERE id = 1", (at + overall * messages,))
            yield run(
                "INSERT INTO chat_pace(chat_id, free_at) VALUES (?, ?)"
                " ON CONFLICT(chat_id) DO UPDATE SET free_at = excluded.free_at",
                (str(chat_id), at + per_chat * messages),
            )
            if forget:
                yield run("DELETE FROM chat_pace WHERE free_at < ?", (now - 60,))
            return at - now

        return await self._transaction(write, durable=False)

    async def hold_sends(self, seconds: float) -> None:
        def write() -> Work[None]:
            yield run(
                "UPDATE send_pace SET free_at = GREATEST(free_at, EXTRACT(EPOCH FROM clock_timestamp())::float8 + ?)"
                " WHERE id = 1",
                (float(seconds),),
            )

        await self._transaction(write, durable=False)

    async def close(self) -> None:
        for session in (*self._user_sessions, self._lead_session):
            await session.close()
        await self._pool.close()

    async def backup_to(self, target: Path) -> None:
        raise NotImplementedError(BACKUP_ADVICE)


BACKUP_ADVICE = (
    "gridbot backup copies a SQLite database; back up PostgreSQL with pg_dump"
    " (README: Backups on PostgreSQL), e.g. pg_dump --format=custom --file=gridbot.dump \"$DATABASE_URL\""
)

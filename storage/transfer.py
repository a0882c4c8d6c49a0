"""`gridbot migrate --to postgresql://…`: a town's SQLite database copied whole into an empty
PostgreSQL database, then every table read back and compared by row count and checksum.

Both databases are first brought to the same migration (each by its own backend), so their tables
and columns agree; a SQLite table or column without a PostgreSQL twin stops the copy. Rows keep
their ids (the identity sequences continue after them), and the copy is one transaction: a failure
leaves the target as empty as it was.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from storage.postgres import PostgresStorage
from storage.sqlite import SqliteStorage


class TransferError(Exception):
    """The copy cannot be made or did not come out the same; the message says why."""


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    checksum: str  # the same on both sides, or the copy is refused


# The migration bookkeeping of each backend is its own.
_NOT_COPIED = {"schema_migrations"}
# Rows read, written and read back at a time.
BATCH_ROWS = 5000


def _canonical(value: Any, kind: str) -> Any:
    """A value as both databases give it back: SQLite's 0/1 for PostgreSQL's booleans, JSON
    with its keys sorted (PostgreSQL's jsonb keeps its own order)."""
    if value is None:
        return None
    if kind == "boolean":
        return int(value)
    if kind == "jsonb":
        return json.dumps(json.loads(value), sort_keys=True, ensure_ascii=False)
    if kind == "double precision":
        return float(value)
    return value


class _Checksum:
    """Of rows in any order (the databases may sort text differently), added up a row at a time:
    the sum of each row's own digest, so that no table is ever held whole."""

    def __init__(self, kinds: Sequence[str]):
        self.kinds = kinds
        self.rows = 0
        self._sum = 0

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            line = repr(tuple(_canonical(v, k) for v, k in zip(row, self.kinds)))
            self._sum += int.from_bytes(hashlib.sha256(line.encode()).digest()[:16], "big")
            self.rows += 1

    def __str__(self) -> str:
        return f"{self._sum % 2**128:032x}"[:16]


def _for_postgres(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "boolean":
        return bool(value)
    if kind == "double precision":
        return float(value)
    if kind in ("bigint", "integer"):
        return int(value)
    return value


async def _columns(connection: asyncpg.Connection) -> dict[str, dict[str, str]]:
    """Each table of the schema in use, with its columns and their types."""
    found: dict[str, dict[str, str]] = {}
    for row in await connection.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ):
        found.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
    return found


async def _in_dependency_order(connection: asyncpg.Connection, tables: Iterable[str]) -> list[str]:
    """`tables` with every table after the tables its foreign keys name."""
    parents: dict[str, set[str]] = {table: set() for table in tables}
    for row in await connection.fetch(
        "SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent"
        " FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace"
    ):
        if row["child"] in parents and row["child"] != row["parent"]:
            parents[row["child"]].add(row["parent"])
    ordered: list[str] = []
    while parents:
        ready = sorted(t for t, needs in parents.items() if not needs - set(ordered))
        ordered += ready
        for table in ready:
            del parents[table]
    return ordered


async def copy_to_postgres(source: Path, url: str) -> list[TableCopy]:
    """Copy the SQLite database `source` into the empty PostgreSQL database at `url`."""
    if not source.is_file():
        raise TransferError(f"{source} does not exist: there is nothing to copy.")
    # Opening each brings it to the latest migration (and gives an empty PostgreSQL its tables).
    await (await SqliteStorage.open(source)).close()
    target = await PostgresStorage.open(url, connections=1)
    try:
        if not await target.is_empty():
            raise TransferError("the PostgreSQL database already holds data; migrate copies into an empty one only.")
    finally:
        await target.close()
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)
    connection = await asyncpg.connect(url)
    try:
        reader.execute("BEGIN")  # one snapshot of the source
        tables = [row[0] for row in reader.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        columns = await _columns(connection)
        missing = [t for t in tables if t not in columns]
        if missing:
            raise TransferError(f"PostgreSQL has no table {', '.join(missing)}: its migration is missing")
        copies = []
        async with connection.transaction():
            # The new database's default categories make way for the town's own.
            await connection.execute("DELETE FROM categories")
            for table in await _in_dependency_order(connection, [t for t in tables if t not in _NOT_COPIED]):
                copies.append(await _copy_table(reader, connection, table, columns[table]))
    finally:
        reader.close()
        await connection.close()
    return copies


async def _copy_table(reader: sqlite3.Connection, connection: asyncpg.Connection, table: str,
                      target_columns: dict[str, str]) -> TableCopy:
    names = [row[1] for row in reader.execute(f'PRAGMA table_info("{table}")')]
    missing = [name for name in names if name not in target_columns]
    if missing or len(names) != len(target_columns):
        raise TransferError(f"the columns of {table} differ: SQLite has {names}, PostgreSQL {list(target_columns)}")
    kinds = [target_columns[name] for name in names]
    quoted = ", ".join(f'"{name}"' for name in names)
    # In batches both ways (a town's photos and events can be more than memory holds).
    read, written = _Checksum(kinds), _Checksum(kinds)
    source = reader.execute(f'SELECT {quoted} FROM "{table}"')
    while rows := source.fetchmany(BATCH_ROWS):
        read.add(rows)
        await connection.copy_records_to_table(
            table, columns=names, records=[tuple(_for_postgres(v, k) for v, k in zip(row, kinds)) for row in rows])
    for name in names:
        if await connection.fetchval(
            "SELECT is_identity = 'YES' FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2", table, name):
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{name}'),"
                f' COALESCE((SELECT MAX("{name}") FROM "{table}"), 0) + 1, false)')
    cursor = await connection.cursor(f'SELECT {quoted} FROM "{table}"')
    while rows := await cursor.fetch(BATCH_ROWS):
        written.add(rows)
    if written.rows != read.rows or str(written) != str(read):
        raise TransferError(f"{table}: {read.rows} rows read, {written.rows} written; checksum {read} != {written}")
    return TableCopy(table, read.rows, str(written))

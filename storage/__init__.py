"""Storage: the interface in `storage.base`, backends beside it. Only this package holds SQL."""

from __future__ import annotations

from pathlib import Path

from storage.base import NewTicket, OutboxItem, Storage, TicketChange


async def open_storage(target: str | Path) -> Storage:
    """Open the configured backend: PostgreSQL for a postgresql:// URL, else the SQLite file
    `target` (the embedded default)."""
    from storage.postgres import PostgresStorage, is_postgres_url
    from storage.sqlite import SqliteStorage

    if is_postgres_url(target):
        return await PostgresStorage.open(str(target))
    return await SqliteStorage.open(target)


__all__ = ["NewTicket", "OutboxItem", "Storage", "TicketChange", "open_storage"]

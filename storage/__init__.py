"""Storage: the interface in `storage.base`, backends beside it. Only this package holds SQL."""

from __future__ import annotations

from pathlib import Path

from storage.base import NewTicket, OutboxItem, Storage, TicketChange


URL_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


async def open_storage(target: str | Path) -> Storage:
    """Open the configured backend: PostgreSQL for a postgresql:// URL, else the SQLite file
    `target` (the embedded default). Each backend's driver is imported only when it is used."""
    if is_postgres_url(target):
        from storage.postgres import PostgresStorage

        return await PostgresStorage.open(str(target))
    from storage.sqlite import SqliteStorage

    return await SqliteStorage.open(target)


__all__ = ["NewTicket", "OutboxItem", "Storage", "TicketChange", "is_postgres_url", "open_storage"]

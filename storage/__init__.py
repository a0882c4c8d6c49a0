"""Storage: the interface in `storage.base`, backends beside it. Only this package holds SQL."""

from __future__ import annotations

from pathlib import Path

from storage.base import NewTicket, OutboxItem, Storage, TicketChange


async def open_storage(path: str | Path) -> Storage:
    """Open the configured backend; SQLite is the embedded default."""
    from storage.sqlite import SqliteStorage

    return await SqliteStorage.open(path)


__all__ = ["NewTicket", "OutboxItem", "Storage", "TicketChange", "open_storage"]

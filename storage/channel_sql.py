"""SQL for the board's channel mirror, mixed into the SQL backends (storage/sql.py; table:
migration 0024; rules: bot/channel.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from storage.statements import Work, run


class ChannelPostsMixin:
    # Provided by storage.sql.SqlStorage.
    _one: Callable[..., Awaitable[Sequence[Any] | None]]
    _transaction: Callable[..., Awaitable[Any]]

    async def channel_post(self, ticket_id: int) -> tuple[int, bool] | None:
        row = await self._one("SELECT message_id, with_photo FROM channel_posts WHERE ticket_id = ?", (ticket_id,))
        return (row[0], bool(row[1])) if row else None

    async def keep_channel_post(self, ticket_id: int, message_id: int, with_photo: bool) -> None:
        def write() -> Work[None]:
            yield run("INSERT INTO channel_posts(ticket_id, message_id, with_photo) VALUES (?,?,?)"
                      " ON CONFLICT(ticket_id) DO UPDATE SET message_id = excluded.message_id,"
                      " with_photo = excluded.with_photo", (ticket_id, message_id, with_photo))

        await self._transaction(write)

    async def forget_channel_post(self, ticket_id: int) -> None:
        def write() -> Work[None]:
            yield run("DELETE FROM channel_posts WHERE ticket_id = ?", (ticket_id,))

        await self._transaction(write)

"""SQL for the keys of the Open311 API, mixed into the SQL backends (storage/sql.py; table:
migration 0023; rules: domain/open311.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from domain.models import ApiKey
from storage.statements import Work, one

_KEY = "id, name, created_at, revoked_at"


def _api_key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(*row)


class ApiKeysMixin:
    # Provided by storage.sql.SqlStorage.
    _all: Callable[..., Awaitable[list[Sequence[Any]]]]
    _one: Callable[..., Awaitable[Sequence[Any] | None]]
    _transaction: Callable[..., Awaitable[Any]]

    async def add_api_key(self, name: str, key_hash: str, now: int) -> ApiKey | None:
        def write() -> Work[Sequence[Any] | None]:
            # The unique index on live names settles two commands at once too.
            return (yield one("INSERT INTO api_keys(name, key_hash, created_at) VALUES (?,?,?)"
                              f" ON CONFLICT DO NOTHING RETURNING {_KEY}", (name, key_hash, now)))

        row = await self._transaction(write)
        return _api_key(row) if row else None

    async def revoke_api_key(self, name: str, now: int) -> bool:
        def write() -> Work[Sequence[Any] | None]:
            return (yield one("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL RETURNING id",
                              (now, name)))

        return await self._transaction(write) is not None

    async def api_keys(self) -> list[ApiKey]:
        return [_api_key(r) for r in await self._all(f"SELECT {_KEY} FROM api_keys ORDER BY id")]

    async def live_api_key(self, key_hash: str) -> ApiKey | None:
        row = await self._one(f"SELECT {_KEY} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (key_hash,))
        return _api_key(row) if row else None

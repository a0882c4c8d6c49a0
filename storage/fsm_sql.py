"""SQL for forms in progress, handled updates, the outbox of a blocked user and the filing limit,
mixed into the SQL backends (storage/sql.py).

Forms change on every step of a resident's form, so their commits skip the wait for the disk that
ticket commits make (`durable=False`: SQLite's synchronous=NORMAL, PostgreSQL's synchronous_commit
off, for that one transaction). Such a commit survives a crash of the process and is made durable
by the next durable commit; only a power cut can lose it, and then a form goes back a step while
every ticket stays.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from storage.base import Storage
from storage.statements import Work, one, run, run_many
from storage.statements import rows as select


def _is_finished(form: tuple[str | None, str]) -> bool:
    return form[0] is None and form[1] == Storage.EMPTY_FORM_DATA


class FormsMixin:
    # Provided by storage.sql.SqlStorage.
    shared: bool
    _SKIP_LOCKED: str
    _all: Callable[..., Awaitable[list[Sequence[Any]]]]
    _run_many: Callable[[str, Sequence[Sequence[Any]]], Awaitable[None]]
    _transaction: Callable[..., Awaitable[Any]]

    async def load_form(self, key: str) -> tuple[str | None, str] | None:
        rows = await self._all("SELECT state, data FROM fsm_states WHERE key = ?", (key,))
        return (rows[0][0], rows[0][1]) if rows else None

    async def save_forms(
        self, forms: Mapping[str, tuple[str | None, str]], now: int, update_id: int | None = None
    ) -> None:
        finished = [(key,) for key, form in forms.items() if _is_finished(form)]
        going_on = [(key, *form, now) for key, form in forms.items() if not _is_finished(form)]

        def write() -> Work[None]:
            if finished:
                yield run_many("DELETE FROM fsm_states WHERE key = ?", finished)
            if going_on:
                yield run_many(
                    "INSERT INTO fsm_states(key, state, data, updated_at) VALUES (?,?,?,?)"
                    " ON CONFLICT(key) DO UPDATE SET state = excluded.state, data = excluded.data,"
                    " updated_at = excluded.updated_at",
                    going_on,
                )
            if update_id is not None:
                yield run(
                    "INSERT INTO handled_updates(update_id, handled_at) VALUES (?, ?)"
                    " ON CONFLICT(update_id) DO NOTHING",
                    (update_id, now),
                )

        # A form is not a promise to anyone: its commit need not wait for the disk.
        await self._transaction(write, durable=False)

    async def newest_handled_update(self) -> int | None:
        rows = await self._all("SELECT MAX(update_id) FROM handled_updates", ())
        return rows[0][0]

    async def update_handled(self, update_id: int) -> bool:
        return bool(await self._all("SELECT 1 FROM handled_updates WHERE update_id = ?", (update_id,)))

    async def forget_handled_updates(self, before: int) -> None:
        def write() -> Work[None]:
            yield run("DELETE FROM handled_updates WHERE handled_at < ?", (before,))

        await self._transaction(write, durable=False)

    async def store_update(self, update_id: int, body: str, now: int, claimant: str, until: int) -> bool:
        def write() -> Work[bool]:
            handled = yield one("SELECT 1 FROM handled_updates WHERE update_id = ?", (update_id,))
            if handled:
                return False
            stored = yield run(
                "INSERT INTO incoming_updates(update_id, body, received_at, claimed_by, claimed_until)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(update_id) DO NOTHING",
                (update_id, body, now, claimant, until),
            )
            return stored == 1

        # Durable: Telegram is told 200 after this and will not send the update again.
        return await self._transaction(write)

    async def stored_updates(self, limit: int = 100) -> list[tuple[int, str]]:
        rows = await self._all(
            "SELECT update_id, body FROM incoming_updates ORDER BY received_at, update_id LIMIT ?", (limit,))
        return [(row[0], row[1]) for row in rows]

    async def claim_stored_updates(self, claimant: str, now: int, until: int, limit: int = 100) -> list[tuple[int, str]]:
        # On a database of one process another claimant's update is a dead process's.
        unclaimed = "claimed_until IS NULL OR claimed_until < :now" + ("" if self.shared else " OR claimed_by != :me")

        def write() -> Work[list[tuple[int, str]]]:
            found = yield select(
                "UPDATE incoming_updates SET claimed_by = :me, claimed_until = :until WHERE update_id IN ("
                f"SELECT update_id FROM incoming_updates WHERE {unclaimed}"
                f" ORDER BY received_at, update_id LIMIT :limit{self._SKIP_LOCKED}) RETURNING update_id, body, received_at",
                {"me": claimant, "until": until, "now": now, "limit": limit},
            )
            return [(row[0], row[1]) for row in sorted(found, key=lambda row: (row[2], row[0]))]

        return await self._transaction(write)

    async def forget_update(self, update_id: int) -> None:
        await self._run_many("DELETE FROM incoming_updates WHERE update_id = ?", [(update_id,)])

    async def drop_pending(self, chat_id: int, reason: str) -> None:
        await self._run_many(
            "UPDATE outbox SET dropped_reason = ? WHERE chat_id = ? AND sent_at IS NULL AND dropped_reason IS NULL",
            [(reason, chat_id)],
        )

    async def tickets_filed_since(self, resident_id: int, since: int) -> int:
        rows = await self._all(
            "SELECT COUNT(*) FROM tickets WHERE resident_id = ? AND created_at >= ?", (resident_id, since)
        )
        return rows[0][0]

    async def ticket_for_source(self, source_key: str) -> int | None:
        rows = await self._all("SELECT id FROM tickets WHERE source_key = ?", (source_key,))
        return rows[0][0] if rows else None

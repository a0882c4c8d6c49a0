"""aiogram's FSM storage in the bot's database, so forms in progress survive a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder, StateType, StorageKey

from storage.base import Storage

Form = tuple[str | None, str]  # (FSM state, data as JSON)


@dataclass
class UpdateForms:
    """The forms one update has read and written, kept until the update is done."""

    known: dict[str, Form] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)

    def changes(self) -> dict[str, Form]:
        return {key: self.known[key] for key in self.changed}


_current_update: ContextVar[UpdateForms | None] = ContextVar("gridbot_update_forms", default=None)
# The forms read while a user's turn is held (FormLocks): nobody can change them meanwhile, in this
# process or another, so aiogram's read of the state before the update and the handler's reads
# after it cost one query.
_held_forms: ContextVar[dict[str, Form] | None] = ContextVar("gridbot_held_forms", default=None)


class DatabaseFsmStorage(BaseStorage):
    """Forms in the `Storage` (SQLite or PostgreSQL). Inside `collecting()` (one per update, see
    bot/dedup.py) changes stay in memory until `commit` writes them in one go with the update's id:
    a step costs one commit, and a bot killed in the middle of an update leaves the form as it was
    before it. Outside, every change is written at once.

    A form is read from the database once per update, under the user's lock, and never kept
    beyond it: with replicas, the user's next update may be handled by another process, which moves
    the form on."""

    def __init__(self, db: Storage, clock: Callable[[], int]):
        self.db = db
        self.clock = clock
        self.key_builder = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)

    @contextmanager
    def collecting(self) -> Iterator[UpdateForms]:
        forms = UpdateForms()
        token = _current_update.set(forms)
        try:
            yield forms
        finally:
            _current_update.reset(token)

    async def commit(self, forms: UpdateForms, update_id: int | None = None) -> None:
        """Write what one update changed, and record the update as handled."""
        changes = forms.changes()
        await self.db.save_forms(changes, self.clock(), update_id)
        self._remember(changes)

    async def _load(self, key: StorageKey) -> tuple[str, Form]:
        name = self.key_builder.build(key)
        forms = _current_update.get()
        if forms is not None and name in forms.known:
            return name, forms.known[name]
        held = _held_forms.get()
        form = held.get(name) if held is not None else None
        if form is None:
            form = await self.db.load_form(name) or (None, Storage.EMPTY_FORM_DATA)
            self._remember({name: form})
        if forms is not None:
            forms.known[name] = form
        return name, form

    @staticmethod
    def _remember(forms: Mapping[str, Form]) -> None:
        held = _held_forms.get()
        if held is not None:
            held.update(forms)

    async def _store(self, name: str, form: Form) -> None:
        forms = _current_update.get()
        if forms is None:
            await self.db.save_forms({name: form}, self.clock())
            self._remember({name: form})
            return
        forms.known[name] = form
        forms.changed.add(name)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name, (_, data) = await self._load(key)
        await self._store(name, (state.state if isinstance(state, State) else state, data))

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._load(key))[1][0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        name, (state, _) = await self._load(key)
        # Serialised now, so data that JSON cannot hold fails in the handler that stores it.
        await self._store(name, (state, json.dumps(dict(data), ensure_ascii=False, separators=(",", ":"))))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        # A fresh dict each time: handlers may change what they read without touching the form.
        return json.loads((await self._load(key))[1][1])

    async def close(self) -> None:
        """Nothing to close: the database belongs to whoever opened it."""


@dataclass
class _FormLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class FormLocks(BaseEventIsolation):
    """One form's updates one after another, from before the form is read: a double tap sees what
    the first tap left. Like aiogram's SimpleEventIsolation, but a lock is forgotten as soon as no
    update holds or waits for it, so a bot with many residents does not keep one for each. Inside
    this process's lock the database's `user_turn` is taken, which holds off the other processes
    on the same database (replicas on PostgreSQL)."""

    def __init__(self, db: Storage) -> None:
        self.db = db
        self._locks: dict[StorageKey, _FormLock] = {}

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncIterator[None]:
        entry = self._locks.setdefault(key, _FormLock())
        entry.users += 1
        try:
            async with entry.lock, self.db.user_turn(f"{key.chat_id}:{key.user_id}"):
                held = _held_forms.set({})
                try:
                    yield
                finally:
                    _held_forms.reset(held)
        finally:
            entry.users -= 1
            if not entry.users:
                del self._locks[key]

    async def close(self) -> None:
        """Nothing to do: aiogram calls this at shutdown while updates may still hold locks, and
        each lock goes when its last update is done."""

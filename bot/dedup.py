"""Each Telegram update is handled once, and a form step is all or nothing.

Telegram sends an update again when the bot died before confirming it. Such an update is skipped
if it was handled; otherwise it is handled from the form as it stood before it, because the form
changes an update makes are written only at its end, in one commit with the update's id. A ticket
filed by a replayed update is not filed twice: `TicketService.file` is keyed by the update.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import TelegramObject, Update

from bot.fsm_storage import DatabaseFsmStorage, UpdateForms
from storage.base import Storage

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
log = logging.getLogger(__name__)

# Records of handled updates are kept two days: Telegram redelivers only what the bot did not
# confirm, which is at most the updates of its last moments.
KEEP_HANDLED_SECONDS = 2 * 24 * 3600
FORGET_EVERY_UPDATES = 1000


class HandledUpdatesMiddleware(BaseMiddleware):
    """An outer middleware on `dp.update`, inside the per-user lock. It also counts the updates in
    hand, so that a stopping bot can wait for them."""

    def __init__(self, db: Storage, fsm: BaseStorage, clock: Callable[[], int]):
        self.db = db
        # With another FSM storage (tests may pass MemoryStorage) forms are written as they change.
        self.forms = fsm if isinstance(fsm, DatabaseFsmStorage) else None
        self.clock = clock
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._until_forgetting = 0
        self._newest_seen: int | None = None

    async def _handled_before(self, update_id: int) -> bool:
        # Telegram numbers updates in sequence, so one newer than all seen is new: no query. (After
        # a week without updates the numbering restarts at random; the query then decides.) Not
        # so when other processes handle updates too: they may have handled this one.
        if self.db.shared:
            return await self.db.update_handled(update_id)
        if self._newest_seen is None:
            self._newest_seen = await self.db.newest_handled_update() or 0
        if update_id > self._newest_seen:
            self._newest_seen = update_id
            return False
        return await self.db.update_handled(update_id)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        if await self._handled_before(event.update_id):
            log.info("update %s was handled before; skipped", event.update_id)
            return UNHANDLED
        self._in_flight += 1
        self._idle.clear()
        try:
            with self.forms.collecting() if self.forms else nullcontext(UpdateForms()) as forms:
                try:
                    result = await handler(event, data)
                except TelegramAPIError:
                    # A reply could not be sent (bot/pacing.py retried it): the form stays where the
                    # person last got a prompt, and their next press is answered from there.
                    await self._finish(event.update_id, UpdateForms())
                    raise
                except Exception:
                    # The handler failed, but what it did (a ticket filed, a message sent) stays
                    # done, and so does its form; Telegram will not send the update again either.
                    await self._finish(event.update_id, forms)
                    raise
                # An update cancelled on the way (the bot stopping) records nothing: if Telegram
                # sends it again, it is handled again from the form as it was.
                await self._finish(event.update_id, forms)
            return result
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _finish(self, update_id: int, forms: UpdateForms) -> None:
        now = self.clock()
        if self.forms is not None:
            await self.forms.commit(forms, update_id)
        else:
            await self.db.save_forms({}, now, update_id)
        if self._until_forgetting <= 0:
            self._until_forgetting = FORGET_EVERY_UPDATES
            await self.db.forget_handled_updates(now - KEEP_HANDLED_SECONDS)
        self._until_forgetting -= 1

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no update is being handled; False if some still are after `timeout`."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

"""Delivers the persistent outbox: in order per chat, within Telegram's limits, retrying what fails."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.notices import NoticeRenderer
from storage.base import OutboxItem, Storage

log = logging.getLogger(__name__)

# Telegram allows about 30 messages a second overall and one a second per chat.
GLOBAL_INTERVAL = 1 / 30
PER_CHAT_INTERVAL = 1.0
MAX_BACKOFF_SECONDS = 3600
# A notice still failing after a day is dropped and logged rather than retried for ever.
GIVE_UP_AFTER_SECONDS = 24 * 3600


def backoff_seconds(attempts: int) -> int:
    return min(MAX_BACKOFF_SECONDS, 5 * 2 ** max(0, attempts - 1))


class OutboxSender:
    def __init__(
        self,
        storage: Storage,
        renderer: NoticeRenderer,
        clock: Callable[[], int],
        global_interval: float = GLOBAL_INTERVAL,
        per_chat_interval: float = PER_CHAT_INTERVAL,
    ):
        self.storage = storage
        self.renderer = renderer
        self.clock = clock
        self.global_interval = global_interval
        self.per_chat_interval = per_chat_interval
        self._last_sent_to: dict[int, float] = {}
        self._last_sent_any = 0.0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something new is in the outbox: send it now rather than at the next poll."""
        self._wake.set()

    async def deliver_due(self, bot: Bot) -> int:
        """Send everything that is due now; returns how many were sent."""
        sent = 0
        while True:
            items = await self.storage.due_outbox(self.clock())
            if not items:
                return sent
            progressed = False
            for item in items:
                wait = self._per_chat_wait(item.notice.chat_id)
                if wait > 0:
                    continue  # this chat had a message less than a second ago; next round
                if await self._deliver(bot, item):
                    sent += 1
                progressed = True
            if not progressed:
                await asyncio.sleep(min(self._per_chat_wait(i.notice.chat_id) for i in items))

    def _per_chat_wait(self, chat_id: int) -> float:
        last = self._last_sent_to.get(chat_id)
        return 0.0 if last is None else last + self.per_chat_interval - time.monotonic()

    async def _pace_globally(self) -> None:
        wait = self._last_sent_any + self.global_interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_sent_any = time.monotonic()

    async def _deliver(self, bot: Bot, item: OutboxItem) -> bool:
        chat_id = item.notice.chat_id
        now = self.clock()
        recipient = await self.storage.get_user(chat_id)
        if recipient is not None and recipient.unreachable:
            # They blocked the bot; a message from them marks them reachable again.
            await self.storage.drop(item.id, "unreachable")
            return False
        method = await self.renderer.render(item.notice)
        if method is None:
            await self.storage.drop(item.id, "nothing to send")
            return False
        await self._pace_globally()
        self._last_sent_to[chat_id] = time.monotonic()
        try:
            await bot(method)
        except TelegramRetryAfter as error:
            await self.storage.retry_later(item.id, item.attempts + 1, now + error.retry_after)
            return False
        except TelegramForbiddenError:
            # The user blocked the bot: stop, and remember so nobody waits on them.
            await self.storage.mark_unreachable(chat_id)
            await self.storage.drop(item.id, "forbidden")
            return False
        except (TelegramBadRequest, TelegramNotFound) as error:
            log.warning("outbox item %s refused for good: %s", item.id, error.message)
            await self.storage.drop(item.id, "bad request: " + error.message[:200])
            return False
        except (TelegramServerError, TelegramNetworkError, asyncio.TimeoutError, OSError) as error:
            if now - item.created_at > GIVE_UP_AFTER_SECONDS:
                log.error("outbox item %s dropped after a day of failures: %s", item.id, error)
                await self.storage.drop(item.id, "gave up")
            else:
                attempts = item.attempts + 1
                await self.storage.retry_later(item.id, attempts, now + backoff_seconds(attempts))
            return False
        await self.storage.mark_sent(item.id, self.clock())
        return True

    async def run(self, bot: Bot, poll_seconds: float = 5.0) -> None:
        """The background loop started with the bot; it ends when cancelled."""
        while True:
            self._wake.clear()
            try:
                await self.deliver_due(bot)
            except Exception:  # a storage hiccup must not end delivery for good
                log.exception("outbox delivery failed; trying again")
            next_at = await self.storage.next_outbox_time()
            timeout = poll_seconds if next_at is None else max(0.05, min(poll_seconds, next_at - self.clock()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass

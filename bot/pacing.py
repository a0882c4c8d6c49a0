"""Telegram's limits for everything the bot sends, the outbox's notices and the direct replies of
handlers alike: about 30 messages a second overall and one a second per chat. A 429 ("retry
after n") holds every send for n seconds: the flood limit is the bot's, not one chat's.

Direct replies pass through `PacedReplies`, a request middleware on the bot's session: it waits
for the chat's turn and, after a 429, waits and sends again. If a reply still cannot be sent, the
error ends the handler, and the update's form changes are not stored (bot/dedup.py): a form never
moves past a prompt the person did not get.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import SendMediaGroup, TelegramMethod
from aiogram.types import TelegramObject

from storage.base import Storage

log = logging.getLogger(__name__)

GLOBAL_INTERVAL = 1 / 30
PER_CHAT_INTERVAL = 1.0
# A direct reply refused with 429 is sent again this many times before the handler gives up.
REPLY_ATTEMPTS = 5
# Kinds of request Telegram counts as messages.
_MESSAGE_METHODS = ("Send", "Edit", "Copy", "Forward")


def message_count(method: TelegramMethod) -> int:
    """An album is one call but several messages, and Telegram's limits count messages."""
    return len(method.media) if isinstance(method, SendMediaGroup) else 1


class Limiter:
    """When the next message may go, overall and per chat. Runs on its own clock (tests pass fake
    ones; `sleep` must then move that clock on)."""

    def __init__(
        self,
        global_interval: float = GLOBAL_INTERVAL,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.global_interval = global_interval
        self.per_chat_interval = per_chat_interval
        self.monotonic = monotonic
        self.sleep = sleep
        self._chat_free_at: dict[int | str, float] = {}
        self._next_send_at = 0.0

    def chat_wait(self, chat_id: int | str) -> float:
        return self._chat_free_at.get(chat_id, 0.0) - self.monotonic()

    async def take(self, chat_id: int | str, messages: int = 1) -> None:
        """Wait until `messages` may go to `chat_id`, and book them."""
        while (wait := max(self._next_send_at - self.monotonic(), self.chat_wait(chat_id))) > 0:
            await self.sleep(wait)
        now = self.monotonic()
        self._next_send_at = now + self.global_interval * messages
        self._book_chat(chat_id, now + self.per_chat_interval * messages)

    def _book_chat(self, chat_id: int | str, free_at: float) -> None:
        self._chat_free_at[chat_id] = free_at
        if len(self._chat_free_at) > 1000:  # keeps the table small without scanning it every time
            now = self.monotonic()
            self._chat_free_at = {c: t for c, t in self._chat_free_at.items() if t > now}

    async def hold_all(self, seconds: float) -> None:
        """Telegram answered 429: nothing goes out for `seconds`."""
        self._next_send_at = max(self._next_send_at, self.monotonic() + seconds)


class SharedLimiter(Limiter):
    """The limits kept in a shared database (PostgreSQL) for every process on it: the ~30 messages a
    second and the 429 holds are the bot's, whichever process sends, and so is a chat's one a
    second. Each message books its moment in the database (a round trip, far below 1/30 s).

    What `chat_wait` says is this process's own bookings, enough to choose which notices to try
    first; `take` asks the database."""

    def __init__(self, db: Storage, global_interval: float = GLOBAL_INTERVAL,
                 per_chat_interval: float = PER_CHAT_INTERVAL,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        super().__init__(global_interval, per_chat_interval, monotonic, sleep)
        self.db = db

    async def take(self, chat_id: int | str, messages: int = 1) -> None:
        wait = await self.db.book_send(chat_id, messages, self.global_interval, self.per_chat_interval)
        self._book_chat(chat_id, self.monotonic() + max(0.0, wait) + self.per_chat_interval * messages)
        if wait > 0:
            await self.sleep(wait)

    async def hold_all(self, seconds: float) -> None:
        await self.db.hold_sends(seconds)


# The limiter for replies of the update being handled; unset for the outbox, which paces itself.
_replies: ContextVar[Limiter | None] = ContextVar("gridbot_replies_limiter", default=None)


class PaceRepliesMiddleware(BaseMiddleware):
    """An outer middleware on `dp.update`: the replies of this update go through `limiter`
    (dispatcher data, so that tests can give it a fake clock)."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        token = _replies.set(data["limiter"])
        try:
            return await handler(event, data)
        finally:
            _replies.reset(token)


class PacedReplies(BaseRequestMiddleware):
    """On the bot's session: a handler's message waits for its turn, and a 429 waits and retries."""

    async def __call__(self, make_request: NextRequestMiddlewareType, bot: Bot, method: TelegramMethod) -> Any:
        limiter = _replies.get()
        chat_id = getattr(method, "chat_id", None)
        if limiter is None or chat_id is None or not type(method).__name__.startswith(_MESSAGE_METHODS):
            return await make_request(bot, method)
        attempt = 1
        while True:
            await limiter.take(chat_id, message_count(method))
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                await limiter.hold_all(max(1, error.retry_after))
                if attempt == REPLY_ATTEMPTS:
                    raise
                log.warning("a reply: Telegram asked to wait %s s (429); sending it again", error.retry_after)
                attempt += 1

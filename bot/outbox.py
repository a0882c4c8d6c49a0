"""Delivers the persistent outbox: in order per chat, within Telegram's limits, retrying what fails.

In a chat's queue urgent notices (cards, reminders, urges, the replies that confirm an action) go
ahead of chatter. A resident's queued answers on a ticket go out as one message; a resident or
follower gets at most one status message per ticket a minute, later changes combined into it. The
pacing (bot/pacing.py) is shared with the handlers' direct replies.

Errors are logged in one line with the item's and the chat's id and the error's class: Telegram's
descriptions and a bug's error text can quote what was sent.

A notice is marked sent right after Telegram accepted it, so it goes out twice only if the bot dies
between the two. Telegram's errors: 429 waits as long as it says (everything waits: the flood limit
is the bot's), 5xx and network errors are retried after about 1, 2, 4 … s (with jitter) for up to
a day, 403 (the user blocked the bot) and "chat not found" (they never opened it) mark the user
unreachable, drop what was queued for them and hand what they held to others (`on_unreachable`):
never "done". Other refusals drop the one notice. Any other failure of one notice is retried later
too, and never holds up the others.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace

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
from bot.pacing import Limiter, message_count
from domain import service
from domain.models import Notice
from domain.text import telegram_length
from storage.base import OutboxItem, Storage

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600
# How long a process holds the notices it claimed (it gives them back after each round): one that
# dies holds them no longer, and then another process sends them. Far longer than a round takes.
# (Read when used: the replica test shortens it.)
CLAIM_SECONDS = 60
# A notice still failing after a day is dropped and logged rather than retried for ever.
GIVE_UP_AFTER_SECONDS = 24 * 3600
# How long a stopping bot lets the notice being sent finish, so that it is recorded as sent.
STOP_GRACE_SECONDS = 10.0
# A resident or follower gets at most one status message per ticket in this time: changes in quick
# succession wait and go out as one.
STATUS_INTERVAL_SECONDS = 60
# Combined answers stay well within one message (4,096 UTF-16 units, with the heading and markup).
COMBINED_TEXT_LIMIT = 3500


def backoff_seconds(attempts: int) -> int:
    """The pause before the next try after `attempts` failed ones: about 1, 2, 4 … s (Telegram's 5xx
    bursts usually last seconds), each between half and one and a half times that, so that
    retries do not all come at once, up to an hour. Whole seconds, as the outbox stores times."""
    pause = min(MAX_BACKOFF_SECONDS, 2 ** max(0, attempts - 1)) * random.uniform(0.5, 1.5)
    return min(MAX_BACKOFF_SECONDS, math.ceil(pause))


def combine(first: Notice, later: list[Notice]) -> Notice:
    """One notice for several of the same kind: the latest status with every move, or the answers
    one after another with everything they attached counted (the attachments follow on their own)."""
    if not later:
        return first
    if first.type == service.NOTICE_RESIDENT_MESSAGE:
        text = "\n\n".join(n.data["text"] for n in (first, *later) if n.data["text"])
        media = Counter()
        for notice in (first, *later):
            media.update(notice.data.get("media", {}))
        return replace(first, data={**first.data, "text": text, "media": dict(media)})
    data = dict(first.data)
    for notice in later:
        data.update(notice.data)
    return replace(first, data=data)


class OutboxSender:
    """Sends what is due, claimed as `claimant` (this process): several processes on one database
    share the outbox, each chat's notices going out from one of them at a time."""

    def __init__(self, storage: Storage, renderer: NoticeRenderer, clock: Callable[[], int], limiter: Limiter,
                 claimant: str):
        self.storage = storage
        self.claimant = claimant
        self.renderer = renderer
        self.clock = clock
        # Pacing runs on the limiter's clock; `clock` dates what is stored.
        self.limiter = limiter
        # Since the start, for the operators' figures: notices sent, and tries that failed.
        self.sent = 0
        self.failures = 0
        # Sent, but recording that failed: recorded before anything else, never sent again.
        self._unrecorded: set[int] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        # One round at a time, whoever calls: two at once could both send the same notice.
        self._delivering = asyncio.Lock()
        # Called with a chat that blocked the bot or never opened it, so that its tickets go to
        # someone who can be reached (TicketService.staff_unreachable).
        self.on_unreachable: Callable[[int], Awaitable[None]] | None = None

    def wake(self) -> None:
        """Something new is in the outbox: send it now rather than at the next poll."""
        self._wake.set()

    async def deliver_due(self, bot: Bot) -> int:
        """Send everything that is due now; returns how many notices were sent."""
        async with self._delivering:
            return await self._deliver_due(bot)

    async def _deliver_due(self, bot: Bot) -> int:
        sent = 0
        while not self._stopping:
            now = self.clock()
            items = await self.storage.claim_outbox(self.claimant, now, now + CLAIM_SECONDS)
            if not items:
                return sent
            try:
                ready = [item for item in items if self.limiter.chat_wait(item.notice.chat_id) <= 0]
                if not ready:
                    # Every chat with something due had a message just now: wait for the first to be free.
                    await self.limiter.sleep(min(self.limiter.chat_wait(item.notice.chat_id) for item in items))
                    continue
                for item in ready:
                    if self._stopping:
                        break
                    if await self._deliver_one(bot, item):
                        sent += 1
                        self.sent += 1
            finally:
                # What was not sent goes back to the outbox for whichever process comes first.
                await self.storage.release_outbox(self.claimant, [item.id for item in items])
        return sent

    async def _deliver_one(self, bot: Bot, item: OutboxItem) -> bool:
        if item.id in self._unrecorded:
            await self.storage.mark_sent([item.id], self.clock())
            self._unrecorded.discard(item.id)
            return False
        try:
            return await self._deliver(bot, item)
        except (TelegramServerError, TelegramNetworkError) as error:
            log.warning("outbox item %s to chat %s not sent: %s", item.id, item.notice.chat_id, type(error).__name__)
            await self._retry_later(item, error)
        except Exception as error:  # a bug or an unforeseen error: retried too, the others go on
            log.error("outbox item %s to chat %s failed: %s", item.id, item.notice.chat_id, type(error).__name__)
            await self._retry_later(item, error)
        return False

    async def _deliver(self, bot: Bot, item: OutboxItem) -> bool:
        chat_id = item.notice.chat_id
        recipient = await self.storage.get_user(chat_id)
        if recipient is not None and recipient.unreachable:
            # They blocked the bot; a message from them marks them reachable again.
            await self.storage.drop(item.id, "unreachable")
            return False
        if await self._waits_for_the_minute(item):
            return False
        combined = await self._combined(item)
        notice = combine(item.notice, [c.notice for c in combined])
        method = await self.renderer.render(notice)
        if method is None:
            await self.storage.drop(item.id, "nothing to send")
            return False
        # Still ours? Its claim may have run out while this round went on (pacing, a 429), and
        # another process taken it. Asked before the message's moment is booked (a query between
        # the two would let sends bunch up), and again if the wait for that moment was long.
        asked_at = self.clock()
        if not await self._keep_claim(item):
            return False
        await self.limiter.take(chat_id, message_count(method))
        if self.clock() - asked_at > CLAIM_SECONDS / 2 and not await self._keep_claim(item):
            return False
        try:
            result = await bot(method)
        except TelegramRetryAfter as error:
            retry_after = max(1, error.retry_after)
            await self.limiter.hold_all(retry_after)
            await self.storage.retry_later(item.id, item.attempts + 1, self.clock() + retry_after)
            return False
        except TelegramForbiddenError:
            # The user blocked the bot: stop, and remember so nobody waits on them.
            await self.storage.mark_unreachable(chat_id)
            await self._unreachable(chat_id, "forbidden")
            return False
        except (TelegramBadRequest, TelegramNotFound) as error:
            if "chat not found" in error.message.lower():  # they never opened the bot
                await self.storage.mark_not_opened(chat_id)
                await self._unreachable(chat_id, "chat not found")
                return False
            log.warning("outbox item %s to chat %s refused for good: %s", item.id, chat_id, type(error).__name__)
            await self.storage.drop(item.id, "bad request: " + error.message[:200])
            return False
        # 5xx, network errors (a timeout is one) and the rest: `_deliver_one` schedules a retry.
        await self.renderer.sent(notice, method, result)  # e.g. a channel post's id, for its edits
        try:
            await self.storage.mark_sent([item.id, *(c.id for c in combined)], self.clock())
        except Exception:
            self._unrecorded.add(item.id)
            raise
        return True

    async def _keep_claim(self, item: OutboxItem) -> bool:
        return await self.storage.keep_claim(self.claimant, item.id, self.clock() + CLAIM_SECONDS)

    async def _waits_for_the_minute(self, item: OutboxItem) -> bool:
        """A status message to a resident waits until a minute after the last one on the ticket."""
        if item.notice.type != service.NOTICE_STATUS or item.notice.ticket_id is None:
            return False
        last = await self.storage.last_sent_at(item.notice.chat_id, item.notice.ticket_id, item.notice.type)
        if last is None or self.clock() >= last + STATUS_INTERVAL_SECONDS:
            return False
        await self.storage.retry_later(item.id, item.attempts, last + STATUS_INTERVAL_SECONDS)
        return True

    async def _combined(self, item: OutboxItem) -> list[OutboxItem]:
        """What goes out with `item` as one message: the other status changes of its ticket for the
        same person, or a resident's further answers on it (as many as fit)."""
        if item.notice.type == service.NOTICE_STATUS:
            return await self.storage.pending_alike(item)
        if item.notice.type != service.NOTICE_RESIDENT_MESSAGE:
            return []
        taken, length = [], telegram_length(item.notice.data["text"])
        for other in await self.storage.pending_alike(item):
            length += telegram_length(other.notice.data["text"]) + 2
            if length > COMBINED_TEXT_LIMIT:
                break
            taken.append(other)
        return taken

    async def _unreachable(self, chat_id: int, reason: str) -> None:
        # What was queued for them is dropped: a staff member gets every open card again when they
        # write to the bot, and what they held goes to someone reachable now.
        await self.storage.drop_pending(chat_id, reason)
        if self.on_unreachable is not None:
            await self.on_unreachable(chat_id)

    async def _retry_later(self, item: OutboxItem, error: Exception) -> None:
        if item.id in self._unrecorded:
            return  # it was sent; only recording it is left, and the next round does that
        self.failures += 1
        now = self.clock()
        if now - item.created_at > GIVE_UP_AFTER_SECONDS:
            log.error("outbox item %s to chat %s dropped after a day of failures: %s", item.id, item.notice.chat_id,
                      type(error).__name__)
            await self.storage.drop(item.id, "gave up")
            return
        attempts = item.attempts + 1
        await self.storage.retry_later(item.id, attempts, now + backoff_seconds(attempts))

    async def run(self, bot: Bot, poll_seconds: float = 5.0) -> None:
        """The background loop started with the bot; it ends after `stop()`."""
        while not self._stopping:
            self._wake.clear()
            try:
                await self.deliver_due(bot)
                next_at = await self.storage.next_outbox_time()
                if self.storage.shared and next_at is not None and next_at <= self.clock():
                    # Due, yet not ours to claim: other processes are sending it. Asked again at the
                    # next poll (or when woken), not every few milliseconds meanwhile.
                    next_at = None
            except Exception as error:  # a storage hiccup must not end delivery for good
                log.error("outbox delivery failed; trying again: %s", type(error).__name__)
                next_at = None
            if self._stopping:
                return
            timeout = poll_seconds if next_at is None else max(0.05, min(poll_seconds, next_at - self.clock()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    async def stop(self, task: asyncio.Task, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """End `run` (in `task`) once the notice being sent is sent and recorded; cancel it if
        that takes longer than `grace_seconds` (a send stuck on the network)."""
        self._stopping = True
        self._wake.set()
        done, _ = await asyncio.wait({task}, timeout=grace_seconds)
        if not done:
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception as error:
            log.error("the outbox loop ended with an error: %s", type(error).__name__)

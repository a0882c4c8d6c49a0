"""The weekly digest: every official gets last week's figures at DIGEST_AT (default Monday 08:00
local time), once, even if the bot was down at that moment. It goes through the outbox, which keeps
to Telegram's sending limits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from typing import TYPE_CHECKING

from bot.config import Settings
from domain.models import Notice, Role
from domain.stats import Week
from storage.base import Storage

if TYPE_CHECKING:  # the outbox renders digests, so it imports this module
    from bot.outbox import OutboxSender

log = logging.getLogger(__name__)
NOTICE_DIGEST = "digest"
DIGEST_MARKER_KEY = "digest_sent_week"
CHECK_EVERY_SECONDS = 60.0


def digest_due_week(now: int, settings: Settings) -> Week | None:
    """The week whose digest is due at `now`: the last full week, once its digest time has come."""
    week = Week.last_full(now, settings.timezone)
    day = week.monday + timedelta(days=7 + settings.digest_weekday)
    due = datetime.combine(day, settings.digest_time, tzinfo=settings.timezone)
    return week if now >= due.timestamp() else None


async def queue_digest(storage: Storage, settings: Settings, now: int) -> int:
    """Queue the due digest for every official; returns how many were queued (0 if not due or
    already queued for that week)."""
    week = digest_due_week(now, settings)
    if week is None:
        return 0
    officials = await storage.staff_with_role(Role.OFFICIAL)
    notices = [
        Notice(o.telegram_id, NOTICE_DIGEST, None, {"week": str(week), "town": o.scope})
        for o in officials
    ]
    if not await storage.enqueue_once(DIGEST_MARKER_KEY, str(week), notices, now):
        return 0
    return len(notices)


async def watch_digest(
    storage: Storage, settings: Settings, clock: Callable[[], int], outbox: OutboxSender,
    every: float = CHECK_EVERY_SECONDS,
) -> None:
    while True:
        try:
            queued = await queue_digest(storage, settings, clock())
            if queued:
                log.info("weekly digest queued for %d officials", queued)
                outbox.wake()
        except Exception:  # a passing database error must not stop the digest for good
            log.exception("digest check failed; trying again")
        await asyncio.sleep(every)

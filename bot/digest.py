"""The digests: each official gets last week's figures at DIGEST_AT (default Monday 08:00 local
time) and/or last month's on the 1st at the same time, as they chose with /digest (weekly by
default). Each goes out once per period, even if the bot was down at that moment, through the
outbox, which keeps to Telegram's sending limits. The same watcher sums each day once it is over
(`Storage.close_days`), which the reports read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.config import Settings
from domain.digest import DIGEST_KINDS
from domain.models import Notice, Role
from domain.stats import Period, PeriodKind
from storage.base import Storage

if TYPE_CHECKING:  # the outbox renders digests, so it imports this module
    from bot.outbox import OutboxSender

log = logging.getLogger(__name__)
NOTICE_DIGEST = "digest"
# settings_kv keys holding the last period whose digest was queued; the weekly key is the one
# the weekly-only digest used, so an upgrade does not send last week's digest again.
DIGEST_MARKER_KEYS = {PeriodKind.WEEK: "digest_sent_week", PeriodKind.MONTH: "digest_sent_month"}
CHECK_EVERY_SECONDS = 60.0


def digest_due_period(kind: PeriodKind, now: int, settings: Settings) -> Period | None:
    """The week or month whose digest is due at `now`: the last full one, once its digest time has
    come (the week's: DIGEST_AT's weekday after it; the month's: its next day, the 1st)."""
    period = Period.last_full(kind, now, settings.timezone)
    days_after = 1 + (settings.digest_weekday if kind is PeriodKind.WEEK else 0)
    due = datetime.combine(
        period.last + timedelta(days=days_after), settings.digest_time, tzinfo=settings.timezone
    )
    return period if now >= due.timestamp() else None


async def queue_digest(storage: Storage, settings: Settings, now: int) -> int:
    """Queue every due digest for the officials who chose it; returns how many were queued (0 if
    none is due or each was already queued for its period)."""
    officials = await storage.staff_with_role(Role.OFFICIAL)
    choices = await storage.digest_choices([o.telegram_id for o in officials])
    queued = 0
    for kind in DIGEST_KINDS:
        period = digest_due_period(kind, now, settings)
        if period is None:
            continue
        notices = [
            Notice(o.telegram_id, NOTICE_DIGEST, None, {"period": str(period), "town": o.scope})
            for o in officials
            if kind in choices[o.telegram_id].kinds
        ]
        # The marker is set even when nobody chose this digest: choosing it later starts with
        # the next period, not with one that is long past.
        if await storage.enqueue_once(DIGEST_MARKER_KEYS[kind], str(period), notices, now):
            queued += len(notices)
    return queued


async def watch_digest(
    storage: Storage, settings: Settings, clock: Callable[[], int], outbox: OutboxSender,
    every: float = CHECK_EVERY_SECONDS,
) -> None:
    while True:
        try:
            # The days over are summed soon after midnight (the digests read those sums): an
            # event recorded later with an earlier time then counts on a later day.
            await storage.close_days(settings.timezone, clock())
            queued = await queue_digest(storage, settings, clock())
            if queued:
                log.info("%d digests queued", queued)
                outbox.wake()
        except Exception:  # a passing database error must not stop the digest for good
            log.exception("digest check failed; trying again")
        await asyncio.sleep(every)

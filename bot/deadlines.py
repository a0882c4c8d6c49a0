"""The deadline watcher: escalates overdue tickets and reminds holders, reminds residents of
resolutions they have not answered and closes them, erases call-back numbers kept long enough; all
from what the database says."""

from __future__ import annotations

import asyncio
import logging

from bot.outbox import OutboxSender
from domain.service import TicketService

log = logging.getLogger(__name__)
CHECK_EVERY_SECONDS = 60.0


async def watch_deadlines(tickets: TicketService, outbox: OutboxSender, every: float = CHECK_EVERY_SECONDS) -> None:
    """Runs until cancelled. The first pass runs at once, so a night with the bot stopped is
    caught up at start-up; each ticket moves at most one tier per pass, exactly once."""
    while True:
        try:
            escalated, reminded = await tickets.run_deadlines()
            if escalated or reminded:
                log.info("deadlines: %d escalated, %d reminded", escalated, reminded)
                outbox.wake()
            asked, closed, erased = await tickets.run_aftercare()
            if asked or closed or erased:
                log.info("after resolution: %d residents reminded, %d closed without confirmation, "
                         "%d call-back numbers erased", asked, closed, erased)
                outbox.wake()
        except Exception:  # a passing database error must not stop the watcher for good
            log.exception("deadline check failed; trying again")
        await asyncio.sleep(every)

"""Work that one process of all on the database must do, and only one: the deadline watcher, the
digest, setting the webhook. The process that `Storage.lead()` names does it (on PostgreSQL it holds
an advisory lock on a connection of its own); when it dies, its connection ends, the lock with it,
and within LEAD_CHECK_SECONDS another process takes the lead and starts the work. A lone process
on SQLite leads from the start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from storage.base import Storage

log = logging.getLogger(__name__)
LEAD_CHECK_SECONDS = 5.0

Duty = Callable[[], Awaitable[None]]


class Leadership:
    """Asks the database every `every` seconds whether this process leads; starts each duty (a
    coroutine function: a loop, or a task done once) when it begins to, cancels them when it stops."""

    def __init__(self, db: Storage, every: float | None = None):
        self.db = db
        self.every = LEAD_CHECK_SECONDS if every is None else every  # read now: the replica test shortens it
        self.duties: list[Duty] = []
        self.leading = False
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        """Until cancelled; the duties end with it."""
        try:
            while True:
                try:
                    leading = await self.db.lead()
                except Exception as error:  # the database unreachable: no leading without it
                    log.error("cannot tell whether this process leads: %s", type(error).__name__)
                    leading = False
                if leading and not self.leading:
                    log.info("this process leads: the deadline watcher and the digest run here")
                    self._tasks = [asyncio.create_task(duty()) for duty in self.duties]
                elif self.leading and not leading:
                    log.warning("this process no longer leads; its watchers stop")
                    await self._stop_duties()
                self.leading = leading
                await asyncio.sleep(self.every)
        finally:
            self.leading = False
            await self._stop_duties()

    async def _stop_duties(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                try:
                    await task
                except Exception as error:  # a duty that failed has logged why
                    log.error("a leader's duty ended with %s", type(error).__name__)

"""Webhook mode (issue 14): Telegram posts each update to WEBHOOK_URL instead of the bot polling.

An update is answered 200 only after it is stored in the database (durably), and it is deleted
once handled: a process killed after answering loses nothing, for the next start handles what is
stored. Telegram proves a request is its own with the secret token header (WEBHOOK_SECRET); other
requests are refused and store nothing. An update delivered twice is handled once (stored once,
and bot/dedup.py skips one already handled). With several processes behind a load balancer, an
update is handled by the one that stored it; if that one dies first, another takes it over.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web

from bot.config import Settings
from storage.base import Storage

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
log = logging.getLogger(__name__)


# How long the process that stored an update holds it: one that dies lets it go after this, and
# another process's sweep (every UPDATE_SWEEP_SECONDS) handles it. Far longer than handling takes.
# (Read when used: the replica test shortens them.)
UPDATE_CLAIM_SECONDS = 60
UPDATE_SWEEP_SECONDS = 30.0


class UpdateIntake:
    """Receives Telegram's requests, stores each update (claimed by this process, `claimant`), then
    has the dispatcher handle it. Behind a load balancer every process on the database has one."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, storage: Storage, secret: str, clock: Callable[[], int],
                 claimant: str):
        self.dispatcher = dispatcher
        self.bot = bot
        self.storage = storage
        self.secret = secret.encode()
        self.clock = clock
        self.claimant = claimant
        self._handling: set[asyncio.Task[None]] = set()

    async def receive(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), self.secret):
            return web.Response(status=401)
        body = await request.text()
        try:
            update_id = json.loads(body)["update_id"]
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400)
        if not isinstance(update_id, int):
            return web.Response(status=400)
        now = self.clock()
        if await self.storage.store_update(update_id, body, now, self.claimant, now + UPDATE_CLAIM_SECONDS):
            task = asyncio.create_task(self.handle(update_id, body))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)
        return web.Response()  # 200 only now: the update is on disk

    async def handle(self, update_id: int, body: str) -> None:
        update = Update.model_validate(json.loads(body), context={"bot": self.bot})
        # A handler's error is logged by the dispatcher (bot/middlewares.py) and the update counts
        # as handled; an error here (the database gone) leaves it stored for a sweep to take over.
        await self.dispatcher.feed_update(self.bot, update)
        await self.storage.forget_update(update_id)

    async def handle_stored(self) -> int:
        """Handle what no live process handles: stored by a process that died (or, at the start of
        the only process, by the one before it)."""
        count = 0
        while True:
            now = self.clock()
            stored = await self.storage.claim_stored_updates(self.claimant, now, now + UPDATE_CLAIM_SECONDS)
            if not stored:
                return count
            for update_id, body in stored:
                await self.handle(update_id, body)
                count += 1

    async def sweep(self) -> None:
        """Until cancelled: take over, now and then, the updates of a process that died."""
        while True:
            await asyncio.sleep(UPDATE_SWEEP_SECONDS)
            try:
                if handled := await self.handle_stored():
                    log.info("handled %s updates that another process stored and did not handle", handled)
            except Exception as error:  # the database away for a moment: the next sweep tries again
                log.error("sweeping stored updates failed: %s", type(error).__name__)

    async def wait_idle(self) -> None:
        while self._handling:
            await asyncio.gather(*self._handling, return_exceptions=True)


def add_webhook(app: web.Application, settings: Settings, dispatcher: Dispatcher, bot: Bot,
                storage: Storage, clock: Callable[[], int]) -> UpdateIntake:
    """Route Telegram's requests (the path of WEBHOOK_URL) on the web server's application."""
    assert settings.webhook_url and settings.webhook_secret
    intake = UpdateIntake(dispatcher, bot, storage, settings.webhook_secret, clock, dispatcher["replica"])
    app.router.add_post(urlsplit(settings.webhook_url).path or "/", intake.receive)
    return intake

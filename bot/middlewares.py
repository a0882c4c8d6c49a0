"""Outer middlewares: logging, one update at a time per user, who the user is, and their language."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User
from aiogram.utils.i18n import I18nMiddleware

from bot.config import Settings
from bot.i18n import pick_language
from bot.outbox import OutboxSender
from domain.models import Role, RoleGrant
from storage.base import Storage

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
log = logging.getLogger("gridbot.updates")


class UpdateLogMiddleware(BaseMiddleware):
    """One line per update: its kind and the time it took. No texts, tokens or phone numbers."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        started = time.perf_counter()
        kind = event.event_type if isinstance(event, Update) else type(event).__name__
        try:
            return await handler(event, data)
        finally:
            log.info("update %s %s %.1f ms", getattr(event, "update_id", "-"), kind,
                     (time.perf_counter() - started) * 1000)


class SerialPerUserMiddleware(BaseMiddleware):
    """Handles one user's updates one after another, so the photos of an album (separate updates
    that arrive together) cannot overwrite each other in the form's state."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        lock = self._locks.setdefault(user.id, asyncio.Lock())
        self._waiting[user.id] = self._waiting.get(user.id, 0) + 1
        try:
            async with lock:
                return await handler(event, data)
        finally:
            self._waiting[user.id] -= 1
            if not self._waiting[user.id]:  # forget idle users so the dicts stay small
                del self._waiting[user.id]
                del self._locks[user.id]


class UserContextMiddleware(BaseMiddleware):
    """Puts `user` (the stored profile), `grants` (roles) and `lang` into handler data, and
    wakes the outbox after the handler so that what it queued goes out at once."""

    def __init__(self, storage: Storage, settings: Settings, outbox: OutboxSender):
        self.storage = storage
        self.settings = settings
        self.outbox = outbox

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: User | None = data.get("event_from_user")
        if tg_user is None or tg_user.is_bot:
            return await handler(event, data)
        user, grants = await self.storage.touch_user(
            tg_user.id, tg_user.full_name, tg_user.username, tg_user.language_code
        )
        if tg_user.id in self.settings.admin_ids:
            grants.append(RoleGrant(Role.ADMIN))
        data["user"] = user
        data["grants"] = grants
        data["lang"] = pick_language(user.language, user.telegram_language, self.settings.default_language)
        try:
            return await handler(event, data)
        finally:
            self.outbox.wake()


class LocaleMiddleware(I18nMiddleware):
    """aiogram's i18n context, in the language `UserContextMiddleware` picked."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        return data.get("lang") or self.i18n.default_locale

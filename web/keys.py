"""What every route finds in the application (set by `web.app.create_app`)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from bot.config import Settings
from storage.base import Storage

SETTINGS = web.AppKey("settings", Settings)
STORAGE = web.AppKey("storage", Storage)
CLOCK = web.AppKey("clock", Callable[[], int])

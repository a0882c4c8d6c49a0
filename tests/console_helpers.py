"""Signing in to the console as Telegram would (web/console/auth.py), for the API and browser tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from storage.base import Storage
from web.app import create_app
from web.console.auth import init_data_hash


def sign_init_data(bot_token: str, user: dict, auth_date: int, **fields: str) -> str:
    """Mini App initData for `user` (a Telegram user: {"id": …, "first_name": …}), signed with the
    bot's token as Telegram signs it."""
    signed = {"auth_date": str(auth_date), "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
              "user": json.dumps(user, ensure_ascii=False, separators=(",", ":")), **fields}
    return urlencode({**signed, "hash": init_data_hash(signed, bot_token)})


def console_headers(settings: Settings, user_id: int, auth_date: int, first_name: str = "Test") -> dict[str, str]:
    """The Authorization header of a console request by `user_id`."""
    init_data = sign_init_data(settings.bot_token or "", {"id": user_id, "first_name": first_name}, auth_date)
    return {"Authorization": f"tma {init_data}"}


@asynccontextmanager
async def console_client(settings: Settings, db: Storage, clock: Callable[[], int]) -> AsyncIterator[TestClient]:
    """A client of the web server (the factory `gridbot run` uses) on this storage and clock."""
    client = TestClient(TestServer(create_app(settings, db, clock)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()

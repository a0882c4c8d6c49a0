"""The public web server: an aiohttp application over the same storage and domain code as the bot.

`gridbot run` starts it beside the bot when WEB_PORT is set; `gridbot web` runs it alone (no token
needed). Other parts plug their routes into the application `create_app` returns (the public board,
an API, a webhook) before it starts."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

from aiohttp import web

from bot.config import Settings
from storage.base import Storage
from web.board import add_board
from web.console import add_console
from web.keys import CLOCK, SETTINGS, STORAGE
from web.metrics import add_metrics
from web.open311 import add_open311

# The port `gridbot web` listens on when WEB_PORT is not set.
DEFAULT_WEB_PORT = 8080


def wall_clock() -> int:
    return int(time.time())


async def healthz(request: web.Request) -> web.Response:
    """Up, and the database answers (for a load balancer or a service manager)."""
    await request.app[STORAGE].get_value("healthz")
    return web.json_response({"status": "ok"})


def create_app(settings: Settings, storage: Storage, clock: Callable[[], int] = wall_clock) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[STORAGE] = storage
    app[CLOCK] = clock
    app.router.add_get("/healthz", healthz)
    add_board(app, settings)
    add_open311(app)
    add_console(app)
    add_metrics(app)
    return app


async def start_web(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Listening on host:port; the caller stops it with `await runner.cleanup()`. No access log:
    it would keep visitors' addresses."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def serve_until_stopped(app: web.Application, host: str, port: int) -> None:
    """`gridbot web`: serve until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = await start_web(app, host, port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()

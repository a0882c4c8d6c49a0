"""A Bot API server on 127.0.0.1 for a real bot process (TELEGRAM_API_URL points at it).

It serves getUpdates from updates the test queues, answers every other method like Telegram would,
records all calls, can refuse chosen calls (429, 5xx), and can hold chosen requests unanswered (to
kill the bot in the middle of a send).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

BOT_USER = {"id": 42, "is_bot": True, "first_name": "GridBot", "username": "grid_test_bot"}


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]

    @property
    def chat_id(self) -> int | None:
        chat_id = self.params.get("chat_id")
        return int(chat_id) if chat_id is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))


class FakeBotApi:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.answered: list[Call] = []  # the calls answered "ok": what Telegram accepted
        self.updates: list[dict[str, Any]] = []
        self.confirmed = 0  # getUpdates returns the updates from this id on
        self.hold: Callable[[Call], bool] = lambda call: False
        # Answers a call with an error instead: (HTTP status, description, retry_after or None).
        self.refuse: Callable[[Call], tuple[int, str, int | None] | None] = lambda call: None
        self._changed = asyncio.Condition()
        self._released = asyncio.Event()  # ends held requests when the server stops
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Serve on a free port; returns the base URL."""
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        # A killed bot's requests end with its connections.
        self._runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def stop(self) -> None:
        self._released.set()
        if self._runner:
            await self._runner.cleanup()

    # -- what the test does -------------------------------------------------------------------------
    async def push(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._ids), **update}
        async with self._changed:
            self.updates.append(update)
            self._changed.notify_all()
        return update

    async def wait_for(self, test: Callable[[Call], bool], since: int = 0, timeout: float = 60) -> Call:
        """The first call from index `since` on that passes `test` (a bound, not a measurement)."""

        def found() -> Call | None:
            return next((c for c in self.calls[since:] if test(c)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), timeout)
        return found()  # type: ignore[return-value]

    # -- the Bot API ---------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = {key: value for key, value in (await request.post()).items() if isinstance(value, str)}
        call = Call(method, params)
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        if method.lower() == "getupdates":
            return self._ok(await self._get_updates(params))
        if self.hold(call):
            await self._released.wait()  # not answered while the bot lives
        refusal = self.refuse(call)
        if refusal:
            status, description, retry_after = refusal
            parameters = {"parameters": {"retry_after": retry_after}} if retry_after else {}
            return web.json_response({"ok": False, "error_code": status, "description": description, **parameters},
                                     status=status)
        self.answered.append(call)
        return self._ok(self._result(call))

    async def _get_updates(self, params: dict[str, str]) -> list[dict[str, Any]]:
        async with self._changed:
            if params.get("offset"):
                self.confirmed = max(self.confirmed, int(params["offset"]))

            def pending() -> list[dict[str, Any]]:
                return [u for u in self.updates if u["update_id"] >= self.confirmed]

            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: bool(pending())),
                                       float(params.get("timeout") or 0))
            except asyncio.TimeoutError:
                pass
            return pending()

    def _result(self, call: Call) -> Any:
        if call.method == "getMe":
            return BOT_USER
        if call.method.startswith("send") or call.method.startswith("edit"):
            message = {"message_id": len(self.calls), "date": int(time.time()),
                       "chat": {"id": call.chat_id or 0, "type": "private"}, "from": BOT_USER,
                       "text": call.text or "·"}
            if call.method == "sendMediaGroup":
                return [message for _ in json.loads(call.params["media"])]
            return message
        return True

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})


def user(user_id: int, language: str = "en") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": language}


def message(user_id: int, text: str, language: str = "en") -> dict[str, Any]:
    fields: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        fields["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"message": {"message_id": int(time.time() * 1000) % 10**9, "date": int(time.time()),
                        "chat": {"id": user_id, "type": "private"}, "from": user(user_id, language), **fields}}


def tap(user_id: int, data: str, language: str = "en") -> dict[str, Any]:
    return {"callback_query": {
        "id": f"q{time.monotonic_ns()}", "from": user(user_id, language), "chat_instance": "ci", "data": data,
        "message": {"message_id": 1, "date": int(time.time()), "chat": {"id": user_id, "type": "private"},
                    "from": BOT_USER, "text": "(buttons)"},
    }}

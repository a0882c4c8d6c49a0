"""The HTTP session of `gridbot run`: aiogram's, except that updates are decoded one by one.

aiogram decodes a getUpdates batch as a whole: one update it cannot parse (Telegram sends some, such
as a forward from a hidden account without `sender_user_name`) fails the batch, polling fetches the
same batch again for ever, and each failure logs the batch with residents' names and texts. Here an
update that does not decode is skipped and logged by its id and kind only; the others are handled,
and the next poll confirms a skipped update that ended its batch, so Telegram does not send it again."""

from __future__ import annotations

import logging
import re
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import Update
from pydantic import ValidationError

log = logging.getLogger("gridbot.updates")
# An update's kind is the name of its one field besides update_id; nothing else of it is printed.
KIND_PATTERN = re.compile(r"[a-z_]{1,40}")


def describe(raw: Any) -> tuple[int | None, str]:
    """The id and kind of a raw update, for the log."""
    if not isinstance(raw, dict):
        return None, "?"
    update_id = raw.get("update_id")
    kinds = [key for key in raw if key != "update_id" and isinstance(key, str) and KIND_PATTERN.fullmatch(key)]
    return (update_id if isinstance(update_id, int) else None), (kinds[0] if kinds else "?")


def decode_updates(raw_updates: list[Any], bot: Bot) -> tuple[list[Update], int | None]:
    """The updates that decode into a kind aiogram knows, and the id of the last one skipped."""
    updates: list[Update] = []
    last_skipped: int | None = None
    for raw in raw_updates:
        try:
            update = Update.model_validate(raw, context={"bot": bot})
            update.event_type  # noqa: B018  raises for a kind this aiogram does not know
        except (ValidationError, LookupError, TypeError, ValueError):
            update_id, kind = describe(raw)
            log.warning("update %s (%s) could not be decoded; skipped", update_id, kind)
            if update_id is not None:
                last_skipped = max(update_id, last_skipped or update_id)
            continue
        updates.append(update)
    return updates, last_skipped


class UpdateDecodingSession(AiohttpSession):
    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        # The offset the next getUpdates must at least have: past skipped updates that ended a batch.
        self._confirm_from: int | None = None

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None) -> TelegramType:
        if isinstance(method, GetUpdates) and self._confirm_from is not None:
            # Once only: after a week without updates Telegram may start numbering anew, lower.
            if method.offset is None or method.offset < self._confirm_from:
                method.offset = self._confirm_from
            self._confirm_from = None
        return await super().make_request(bot, method, timeout)

    def check_response(self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int,
                       content: str) -> Response[TelegramType]:
        raw_updates = self._raw_updates(method, content)
        if raw_updates is None:  # not getUpdates, or not a successful answer: as aiogram does
            return super().check_response(bot, method, status_code, content)
        updates, last_skipped = decode_updates(raw_updates, bot)
        if last_skipped is not None and all(u.update_id < last_skipped for u in updates):
            self._confirm_from = last_skipped + 1
        return Response[list[Update]](ok=True, result=updates)  # type: ignore[return-value]

    def _raw_updates(self, method: TelegramMethod[Any], content: str) -> list[Any] | None:
        if not isinstance(method, GetUpdates):
            return None
        try:
            answer = self.json_loads(content)
        except ValueError:
            return None
        if isinstance(answer, dict) and answer.get("ok") is True and isinstance(answer.get("result"), list):
            return answer["result"]
        return None

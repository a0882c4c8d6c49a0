"""A fake Bot API: records every method the bot calls and answers like Telegram would.

Errors can be queued for a chat to test retries (429, 5xx, 403, dropped connections), and
Telegram's limits on sending can be enforced on a clock the test controls. Like Telegram, it refuses
texts, captions, callback answers and button data over Telegram's limits."""

from __future__ import annotations

import html
import itertools
import re
from collections import defaultdict, deque
from collections.abc import AsyncGenerator, Callable
from datetime import datetime, timezone
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendDocument,
    SendLocation,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import Response
from aiogram.types import Chat, InlineKeyboardMarkup, Location, Message, PhotoSize, User

BOT_USER = User(id=42, is_bot=True, first_name="GridBot", username="grid_test_bot")


class FakeSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod] = []
        self.refused: list[TelegramMethod] = []  # refused for Telegram's limits
        self._message_ids = itertools.count(1000)
        # chat id (or None for any chat) -> queued failures: (status code, description, retry_after)
        self.failures: dict[int | None, deque[tuple[int, str, int | None]]] = defaultdict(deque)
        self._limits: Callable[[], float] | None = None
        self._sent_at: deque[float] = deque()  # messages of the last second
        self._chat_sent_at: dict[int, float] = {}
        self.refused_429 = 0
        # Messages older than 48 hours: Telegram no longer lets the bot edit them.
        self.old_messages: set[int] = set()

    def enforce_limits(self, monotonic: Callable[[], float]) -> None:
        """Refuse with 429, as Telegram does, more than 30 messages a second overall or more than
        one a second in one chat (times from `monotonic`)."""
        self._limits = monotonic

    def _over_limit(self, method: TelegramMethod) -> bool:
        chat_id = getattr(method, "chat_id", None)
        if self._limits is None or chat_id is None or not type(method).__name__.startswith(("Send", "Edit")):
            return False
        now = self._limits()
        while self._sent_at and self._sent_at[0] <= now - 1 + 1e-9:
            self._sent_at.popleft()
        messages = len(method.media) if isinstance(method, SendMediaGroup) else 1
        if len(self._sent_at) + messages > 30 or now < self._chat_sent_at.get(chat_id, float("-inf")) + 1 - 1e-9:
            return True
        self._sent_at.extend([now] * messages)
        self._chat_sent_at[chat_id] = now + messages - 1
        return False

    def fail_next(self, chat_id: int | None, status: int, description: str = "", retry_after: int | None = None) -> None:
        """The next call to `chat_id` fails with this HTTP status; status 0 drops the connection."""
        self.failures[chat_id].append((status, description or "Fake failure", retry_after))

    async def close(self) -> None:
        pass

    async def stream_content(self, url: str, headers=None, timeout: int = 30, chunk_size: int = 65536,
                             raise_for_status: bool = True) -> AsyncGenerator[bytes, None]:
        yield b""

    def _message(self, chat_id: int, **fields: Any) -> Message:
        return Message(
            message_id=next(self._message_ids),
            date=datetime.now(timezone.utc),
            chat=Chat(id=chat_id, type="private"),
            from_user=BOT_USER,
            **fields,
        )

    def _result(self, method: TelegramMethod) -> Any:
        chat_id = getattr(method, "chat_id", None)
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, (SendMessage, EditMessageText)):
            return self._message(chat_id or 0, text=method.text)
        if isinstance(method, SendPhoto):
            return self._message(chat_id, photo=[PhotoSize(file_id="sent", file_unique_id="sent", width=1, height=1)])
        if isinstance(method, SendMediaGroup):
            return [
                self._message(chat_id, photo=[PhotoSize(file_id="sent", file_unique_id="sent", width=1, height=1)])
                for _ in method.media
            ]
        if isinstance(method, SendLocation):
            return self._message(chat_id, location=Location(latitude=method.latitude, longitude=method.longitude))
        if isinstance(method, SendDocument):
            return self._message(chat_id, text="document")
        if isinstance(method, EditMessageReplyMarkup):
            return True
        return True

    def refusal(self, method: TelegramMethod) -> str | None:
        """Telegram's limits, counted as Telegram counts: UTF-16 units of the text after parsing
        HTML (an entity such as &amp; is one character), button data in bytes."""
        text, limit, error = None, 0, ""
        if isinstance(method, (EditMessageText, EditMessageReplyMarkup)) and method.message_id in self.old_messages:
            return "Bad Request: message can't be edited"
        if isinstance(method, (SendMessage, EditMessageText)):
            text, limit, error = method.text, 4096, "Bad Request: message is too long"
        elif isinstance(getattr(method, "caption", None), str):
            text, limit, error = method.caption, 1024, "Bad Request: message caption is too long"
        elif isinstance(method, AnswerCallbackQuery) and method.text:
            text, limit, error = method.text, 200, "Bad Request: MESSAGE_TOO_LONG"
        if text is not None and len(html.unescape(re.sub(r"<[^>]*>", "", text)).encode("utf-16-le")) // 2 > limit:
            return error
        markup = getattr(method, "reply_markup", None)
        if isinstance(markup, InlineKeyboardMarkup):
            for row in markup.inline_keyboard:
                if any(b.callback_data and len(b.callback_data.encode()) > 64 for b in row):
                    return "Bad Request: BUTTON_DATA_INVALID"
        return None

    def _refuse(self, bot: Bot, method: TelegramMethod, status: int, description: str, retry_after: int | None) -> None:
        self.calls.append(method)
        if status == 0:
            raise TelegramNetworkError(method=method, message="connection dropped")
        response = Response[Any](
            ok=False, error_code=status, description=description,
            parameters={"retry_after": retry_after} if retry_after else None,
        )
        self.check_response(bot=bot, method=method, status_code=status, content=response.model_dump_json())

    async def make_request(self, bot: Bot, method: TelegramMethod, timeout: int | None = None) -> Any:
        chat_id = getattr(method, "chat_id", None)
        refusal = self.refusal(method)
        if refusal:
            self.calls.append(method)
            self.refused.append(method)
            self.check_response(bot=bot, method=method, status_code=400,
                                content=Response[Any](ok=False, error_code=400, description=refusal).model_dump_json())
        for key in (chat_id, None):
            if self.failures.get(key):
                self._refuse(bot, method, *self.failures[key].popleft())
        if self._over_limit(method):
            self.refused_429 += 1
            self._refuse(bot, method, 429, "Too Many Requests: retry after 1", 1)
        self.calls.append(method)
        return self._result(method)


def make_bot() -> Bot:
    from bot.factory import configure_session

    bot = Bot(
        token="42:TEST_TOKEN_THAT_IS_LONG_ENOUGH_123456",
        session=FakeSession(),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    configure_session(bot)
    return bot

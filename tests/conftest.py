"""Drives the real dispatcher (the factory `gridbot run` uses) with fake updates and a fake Bot API.

Tests that use a database (through `harness`, `database` or `backend`) run once on SQLite and once
on PostgreSQL: the server at 127.0.0.1:5432 (trust authentication, as on this project's machines),
or else one started from the pgserver package. A fresh database for the session, a fresh schema for
each test. `@pytest.mark.backends("sqlite")` keeps a test about SQLite itself to SQLite.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import tempfile
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiogram import Bot, Dispatcher
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import TelegramMethod
from aiogram.types import (
    CallbackQuery,
    Chat,
    Contact,
    Document,
    InaccessibleMessage,
    InlineKeyboardMarkup,
    Location,
    Message,
    PhotoSize,
    ReplyKeyboardMarkup,
    Sticker,
    Update,
    User,
    Video,
    VideoNote,
    Voice,
)

from bot.config import Settings
from bot.factory import create_dispatcher
from domain.models import Grid, Role, StaffMember
from storage import Storage, is_postgres_url, open_storage
from tests.fake_telegram import FakeSession, make_bot

START = 1_763_800_000  # 2025-11-22, a fixed "now" for every test


@dataclass
class FakeClock:
    now: int = START

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += seconds


BACKENDS = ("sqlite", "postgresql")
T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): run only on these storage backends (default: all)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("backends")
        metafunc.parametrize("backend", only.args if only else BACKENDS)


def _blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on a loop of its own (sync fixtures run outside the tests' loop)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def _with(url: str, database: str | None = None, **settings: str) -> str:
    """`url` naming another database, with server settings (e.g. search_path) added."""
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), *settings.items()])
    return urlunsplit(parts._replace(path=f"/{database}" if database else parts.path, query=query))


async def _local_postgres() -> str | None:
    for user in ("root", "postgres"):
        url = f"postgresql://{user}@127.0.0.1:5432/test"
        try:
            connection = await asyncpg.connect(url, timeout=3)
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError):
            continue
        await connection.close()
        return url
    return None


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of a database made for this test session, dropped after it."""
    server = None
    admin = _blocking(_local_postgres())
    if admin is None:
        # No server here: start one from the pip package. Failing that, every PostgreSQL test
        # fails (none is skipped).
        import pgserver

        server = pgserver.get_server(tempfile.mkdtemp(prefix="gridbot-pg-"), cleanup_mode="delete")
        admin = server.get_uri()
    name = f"gridbot_test_{secrets.token_hex(4)}"
    # C collation: text sorts by code point, as in SQLite.
    _blocking(_admin(admin, f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"))
    try:
        yield _with(admin, name)
    finally:
        _blocking(_admin(admin, f"DROP DATABASE {name} WITH (FORCE)"))
        if server is not None:
            server.cleanup()


_schemas = itertools.count(1)


@pytest.fixture
def postgres_schema(postgres_database: str) -> str:
    """The URL of an empty PostgreSQL database of this test's own (a fresh schema)."""
    schema = f"test_{next(_schemas)}"
    _blocking(_admin(postgres_database, f"CREATE SCHEMA {schema}"))
    # Commits need not wait for the disk here: a test survives no power cut anyway.
    return _with(postgres_database, search_path=schema, synchronous_commit="off")


@pytest.fixture
def database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str | Path:
    """What `open_storage` opens in this test: a SQLite file, or an empty PostgreSQL database."""
    if backend == "sqlite":
        return tmp_path / "test.sqlite3"
    return request.getfixturevalue("postgres_schema")


def database_settings(database: str | Path) -> dict[str, Any]:
    """The Settings fields (and so the environment for the CLI) that name `database`."""
    if is_postgres_url(database):
        return {"database_url": database}
    return {"database_path": database}


def use_database(monkeypatch: pytest.MonkeyPatch, database: str | Path) -> None:
    """Point the CLI (`gridbot …` in this process) at `database`."""
    if is_postgres_url(database):
        monkeypatch.setenv("DATABASE_URL", str(database))
    else:
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.setenv("DATABASE_PATH", str(database))


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values = dict(
        bot_token="42:TEST_TOKEN_THAT_IS_LONG_ENOUGH_123456",
        database_path=tmp_path / "test.sqlite3",
        telegram_api_url=None,
        admin_ids=frozenset({1}),
        timezone=ZoneInfo("Asia/Shanghai"),
        default_language="zh",
        ticket_prefix="XG",
        bot_username="grid_test_bot",
    )
    values.update(overrides)
    return Settings(**values)


@dataclass
class Harness:
    dp: Dispatcher
    bot: Bot
    db: Storage
    clock: FakeClock
    settings: Settings
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _message_ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def session(self) -> FakeSession:
        return self.bot.session  # type: ignore[return-value]

    def user(self, user_id: int, language: str | None = "zh") -> User:
        return User(id=user_id, is_bot=False, first_name=f"User{user_id}", username=f"user{user_id}",
                    language_code=language)

    async def feed(self, update: Update, deliver: bool = True) -> list[TelegramMethod]:
        before = len(self.session.calls)
        await self.dp.feed_update(self.bot, update)
        if deliver:
            await self.dp["outbox"].deliver_due(self.bot)
        return self.session.calls[before:]

    def _message(self, sender: User, chat_id: int, **fields: Any) -> Message:
        return Message(
            message_id=next(self._message_ids),
            date=datetime.fromtimestamp(self.clock.now, timezone.utc),
            chat=Chat(id=chat_id, type="private"),
            from_user=sender,
            **fields,
        )

    async def send(self, user: User, text: str | None = None, deliver: bool = True,
                   **fields: Any) -> list[TelegramMethod]:
        if text is not None:
            fields["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                fields["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return await self.feed(Update(update_id=next(self._ids), message=self._message(user, user.id, **fields)),
                               deliver)

    async def photo(self, user: User, file_id: str, caption: str | None = None,
                    media_group_id: str | None = None, deliver: bool = True) -> list[TelegramMethod]:
        sizes = [PhotoSize(file_id=file_id + "_s", file_unique_id=file_id + "_su", width=90, height=90),
                 PhotoSize(file_id=file_id, file_unique_id=file_id + "_u", width=1280, height=960)]
        return await self.send(user, photo=sizes, caption=caption, media_group_id=media_group_id, deliver=deliver)

    async def location(self, user: User, lat: float, lon: float) -> list[TelegramMethod]:
        return await self.send(user, location=Location(latitude=lat, longitude=lon))

    async def contact(self, user: User, phone_number: str, owner_id: int | None = None) -> list[TelegramMethod]:
        """A shared contact: the sender's own (Telegram's contact button) unless `owner_id` names
        another user (0: a contact without a Telegram account)."""
        owner = user.id if owner_id is None else owner_id
        return await self.send(user, contact=Contact(phone_number=phone_number, first_name=user.first_name,
                                                     user_id=owner or None))

    async def sticker(self, user: User) -> list[TelegramMethod]:
        return await self.send(user, sticker=Sticker(file_id="st", file_unique_id="stu", type="regular",
                                                     width=512, height=512, is_animated=False, is_video=False))

    async def voice(self, user: User, file_id: str = "v", duration: int = 3, size: int | None = None,
                    caption: str | None = None) -> list[TelegramMethod]:
        return await self.send(user, voice=Voice(file_id=file_id, file_unique_id=file_id + "_u", duration=duration,
                                                 file_size=size), caption=caption)

    async def video(self, user: User, file_id: str, size: int | None = None,
                    media_group_id: str | None = None) -> list[TelegramMethod]:
        video = Video(file_id=file_id, file_unique_id=file_id + "_u", width=640, height=480, duration=10,
                      file_size=size)
        return await self.send(user, video=video, media_group_id=media_group_id)

    async def video_note(self, user: User, file_id: str, duration: int = 20) -> list[TelegramMethod]:
        return await self.send(user, video_note=VideoNote(file_id=file_id, file_unique_id=file_id + "_u",
                                                          length=240, duration=duration))

    async def document(self, user: User) -> list[TelegramMethod]:
        return await self.send(user, document=Document(file_id="d", file_unique_id="du", file_name="a.jpg"))

    async def tap(self, user: User, data: CallbackData | str, query_id: str | None = None,
                  message: str = "recent", deliver: bool = True,
                  reply_to: int | None = None) -> list[TelegramMethod]:
        """A button press on a `message` that is "recent", "old" (more than 48 hours: Telegram sends
        an InaccessibleMessage) or "inline" (no message, only an inline_message_id). A recent one
        may be a reply to the bot's message `reply_to`."""
        packed = data.pack() if isinstance(data, CallbackData) else data
        origin: dict[str, Any] = {"inline_message_id": "inline-1"}
        if message == "recent":
            replied = None if reply_to is None else Message(
                message_id=reply_to, date=datetime.fromtimestamp(self.clock.now, timezone.utc),
                chat=Chat(id=user.id, type="private"), from_user=BOT, text="(replied to)",
            )
            origin = {"message": self._message(BOT, user.id, text="(button message)", reply_to_message=replied)}
        elif message == "old":
            old = InaccessibleMessage(chat=Chat(id=user.id, type="private"), message_id=next(self._message_ids))
            self.session.old_messages.add(old.message_id)  # Telegram refuses to edit it
            origin = {"message": old}
        query = CallbackQuery(id=query_id or f"q{next(self._ids)}", from_user=user, chat_instance="ci",
                              data=packed, **origin)
        return await self.feed(Update(update_id=next(self._ids), callback_query=query), deliver)


BOT = User(id=42, is_bot=True, first_name="GridBot", username="grid_test_bot")


# -- reading what the bot sent --------------------------------------------------------------------
def to_chat(calls: list[TelegramMethod], chat_id: int) -> list[TelegramMethod]:
    return [c for c in calls if getattr(c, "chat_id", None) == chat_id]


def texts(calls: list[TelegramMethod], chat_id: int | None = None) -> list[str]:
    """Texts of sent messages and of answered callback queries (alerts and toasts)."""
    found = []
    for call in calls:
        if chat_id is not None and getattr(call, "chat_id", None) not in (chat_id, None):
            continue
        if chat_id is not None and getattr(call, "chat_id", None) is None and not hasattr(call, "callback_query_id"):
            continue
        text = getattr(call, "text", None)
        if isinstance(text, str) and text:
            found.append(text)
    return found


def joined(calls: list[TelegramMethod], chat_id: int | None = None) -> str:
    return "\n---\n".join(texts(calls, chat_id))


def buttons(call: TelegramMethod) -> list[tuple[str, str | None]]:
    markup = getattr(call, "reply_markup", None)
    if isinstance(markup, InlineKeyboardMarkup):
        return [(b.text, b.callback_data) for row in markup.inline_keyboard for b in row]
    if isinstance(markup, ReplyKeyboardMarkup):
        return [(b.text, None) for row in markup.keyboard for b in row]
    return []


def last_buttons(calls: list[TelegramMethod], chat_id: int) -> list[tuple[str, str | None]]:
    for call in reversed(to_chat(calls, chat_id)):
        if buttons(call):
            return buttons(call)
    return []


# -- fixtures -------------------------------------------------------------------------------------
GRIDS = [
    Grid("DL01", "东里一网格", "东里村", "西岗镇", 34.8105, 117.1702),
    Grid("DL02", "东里二网格", "东里村", "西岗镇", 34.8131, 117.1768),
    Grid("NZ01", "南庄一网格", "南庄村", "西岗镇", 34.7987, 117.1655),
]
WORKER_DL01 = 501
WORKER_DL02 = 502
WORKER_NZ01 = 503
STAFF = [
    StaffMember(WORKER_DL01, "王网格", Role.GRID_WORKER, "DL01"),
    StaffMember(WORKER_DL02, "李网格", Role.GRID_WORKER, "DL02"),
    StaffMember(WORKER_NZ01, "赵网格", Role.GRID_WORKER, "NZ01"),
    StaffMember(601, "东里村书记", Role.VILLAGE, "东里村"),
    StaffMember(701, "镇长", Role.OFFICIAL, "西岗镇"),
    StaffMember(801, "镇指挥中心", Role.TOWN, "西岗镇"),
    StaffMember(901, "水务局专员", Role.DEPARTMENT, "水务局"),
]
VILLAGE_DL = 601
TOWN_STAFF = 801
WATER_DEPT = 901


async def opened_the_bot(db: Storage, staff: list[StaffMember]) -> None:
    """These staff have written to the bot, so it can reach them."""
    for member in staff:
        await db.touch_user(member.telegram_id, f"User{member.telegram_id}", f"user{member.telegram_id}", None)


@asynccontextmanager
async def open_harness(tmp_path: Path, caplog, database: str | Path, **settings: Any) -> AsyncIterator[Harness]:
    """The test town with its staff in `database`, and the dispatcher with these settings changed."""
    db = await open_storage(database)
    await db.upsert_grids(GRIDS)
    await db.upsert_staff(STAFF)
    await opened_the_bot(db, STAFF)  # tests of staff who have not add their own
    clock = FakeClock()
    chosen = make_settings(tmp_path, **database_settings(database), **settings)
    dp = create_dispatcher(chosen, db, clock=clock, send_intervals=(0.0, 0.0))
    bot = make_bot()
    try:
        yield Harness(dp, bot, db, clock, chosen)
    finally:  # also when the test fails: an open database's thread would keep pytest from exiting
        await db.close()
    # The bot logs a handler's error instead of raising it (bot.middlewares.UpdateLogMiddleware):
    # in a test, such an error is a failure.
    failed = [r.getMessage() for r in caplog.get_records("call") if r.name == "gridbot.updates" and r.levelno >= logging.ERROR]
    assert not failed, failed


@pytest.fixture
async def harness(tmp_path: Path, caplog, database):
    async with open_harness(tmp_path, caplog, database) as h:
        yield h

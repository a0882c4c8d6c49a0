"""Builds the Bot and the Dispatcher. `gridbot run`, the tests and the benchmarks use the same factory."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from contextlib import suppress

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage

from bot.codes import BOT_USERNAME_KEY
from bot.commands import register_chat_commands, register_default_commands
from bot.config import Settings
from bot.counters import UpdateCounts
from bot.deadlines import watch_deadlines
from bot.digest import watch_digest
from bot.dedup import HandledUpdatesMiddleware
from bot.fsm_storage import FormLocks, DatabaseFsmStorage
from bot.i18n import create_i18n, pick_language
from bot.middlewares import (
    InlineButtonMiddleware,
    LocaleMiddleware,
    PrivateChatsOnlyMiddleware,
    StaleCallbackAnswerMiddleware,
    TelegramLimitsMiddleware,
    UpdateLogMiddleware,
    UserContextMiddleware,
)
from bot.notices import NoticeRenderer
from bot.outbox import OutboxSender
from bot.leadership import Leadership
from bot.pacing import Limiter, PacedReplies, PaceRepliesMiddleware, SharedLimiter
from bot.session import UpdateDecodingSession
from bot.steps import StepCommandMiddleware
from domain.board import BoardService
from domain.models import Role, RoleGrant
from domain.service import Aftercare, TicketService, wall_clock
from handlers import get_routers
from storage.base import Storage

log = logging.getLogger(__name__)
# How long a stopping bot waits for the updates it is handling.
SHUTDOWN_GRACE_SECONDS = 10.0


def replica_name() -> str:
    """This process among all on the database: what its claims on notices and updates are made in."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def create_bot(settings: Settings) -> Bot:
    session = (
        UpdateDecodingSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        if settings.telegram_api_url
        else UpdateDecodingSession()
    )
    bot = Bot(
        token=settings.require_token(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    configure_session(bot)
    return bot


def configure_session(bot: Bot) -> None:
    """What every bot's requests go through (tests apply it to their fake session too)."""
    bot.session.middleware(StaleCallbackAnswerMiddleware())
    bot.session.middleware(TelegramLimitsMiddleware())
    bot.session.middleware(PacedReplies())


def ticket_service(settings: Settings, storage: Storage, clock: Callable[[], int] = wall_clock) -> TicketService:
    """The ticket service with the settings' rules, as the bot and the commands use it."""
    aftercare = Aftercare(settings.confirm_reminder_days, settings.auto_close_days, settings.phone_retention_days)
    return TicketService(storage, clock, settings.tickets_per_hour, settings.admin_ids, settings.timezone, aftercare,
                         settings.public_channel_id, settings.board)


def create_dispatcher(
    settings: Settings,
    storage: Storage,
    clock: Callable[[], int] = wall_clock,
    fsm_storage: BaseStorage | None = None,
    send_intervals: tuple[float, float] | None = None,
) -> Dispatcher:
    """Everything handlers need reaches them as dispatcher data: `db`, `settings`, `tickets`,
    `outbox`, `limiter`, `replica` (this process's name in claims), `leadership`, `update_counts`,
    `clock`, `i18n`, `board`; per update the middlewares add `user`, `grants` and `lang`. `send_intervals` (overall,
    per chat) replace Telegram's limits, e.g. (0, 0) in tests; without them a shared database
    (PostgreSQL) paces every process on it together."""
    i18n = create_i18n(settings.default_language)
    renderer = NoticeRenderer(storage, settings, i18n, clock)
    # One limiter for the outbox and the handlers' replies: Telegram's limits are the bot's.
    if send_intervals:
        limiter = Limiter(*send_intervals)
    else:
        limiter = SharedLimiter(storage) if storage.shared else Limiter()
    replica = replica_name()
    outbox = OutboxSender(storage, renderer, clock, limiter, replica)
    leadership = Leadership(storage)
    tickets = ticket_service(settings, storage, clock)
    outbox.on_unreachable = tickets.staff_unreachable
    dp = Dispatcher(
        # Forms live in the database, so a resident can go on after a restart.
        storage=fsm_storage or DatabaseFsmStorage(storage, clock),
        # A user's updates wait for each other before the form is read, so a double tap sees the
        # form the first tap left; it also keeps an album's photos (separate updates) in order.
        events_isolation=FormLocks(storage),
        db=storage,
        settings=settings,
        tickets=tickets,
        outbox=outbox,
        limiter=limiter,
        replica=replica,
        leadership=leadership,
        update_counts=UpdateCounts(),
        clock=clock,
        i18n=i18n,
        board=BoardService(storage, clock, settings.board, settings.public_channel_id),
    )
    dp.update.outer_middleware(UpdateLogMiddleware(dp["update_counts"]))
    dp.update.outer_middleware(PaceRepliesMiddleware())
    dp.update.outer_middleware(PrivateChatsOnlyMiddleware())
    dp["handled_updates"] = dp.update.outer_middleware(HandledUpdatesMiddleware(storage, dp.storage, clock))
    dp.update.outer_middleware(UserContextMiddleware(storage, settings, outbox, tickets))
    LocaleMiddleware(i18n).setup(dp)
    dp.callback_query.outer_middleware(InlineButtonMiddleware())
    dp.message.outer_middleware(StepCommandMiddleware(dp))  # needs the form state and the locale
    dp.include_routers(*get_routers())
    dp.startup.register(on_startup)
    dp.shutdown.register(on_shutdown)
    return dp


async def on_startup(
    dispatcher: Dispatcher, bot: Bot, db: Storage, settings: Settings, outbox: OutboxSender, tickets: TicketService,
    leadership: Leadership,
) -> None:
    me = await bot.get_me()
    if me.username:
        await db.set_value(BOT_USERNAME_KEY, me.username)
    i18n = dispatcher["i18n"]
    await register_default_commands(bot, i18n)
    staff: dict[int, list[RoleGrant]] = {}
    for member in await db.list_staff():
        staff.setdefault(member.telegram_id, []).append(RoleGrant(member.role, member.scope))
    for admin_id in settings.admin_ids:
        staff.setdefault(admin_id, []).append(RoleGrant(Role.ADMIN))
    for chat_id, grants in staff.items():
        user = await db.get_user(chat_id)
        language = pick_language(user.language if user else None, user.telegram_language if user else None,
                                 settings.default_language)
        try:
            await register_chat_commands(bot, i18n, chat_id, grants, language, settings.console_url)
        except Exception as error:  # a staff member who never opened the chat: skip, not fatal
            log.info("no command menu for chat %s: %s", chat_id, type(error).__name__)
    dispatcher["outbox_task"] = asyncio.create_task(outbox.run(bot))
    # In one process of all on the database (replicas on PostgreSQL), whichever leads.
    leadership.duties += [lambda: watch_deadlines(tickets, outbox),
                          lambda: watch_digest(db, settings, dispatcher["clock"], outbox)]
    dispatcher["leadership_task"] = asyncio.create_task(leadership.run())
    log.info("bot @%s started", me.username)


async def on_shutdown(dispatcher: Dispatcher, outbox: OutboxSender, handled_updates: HandledUpdatesMiddleware) -> None:
    """Polling has stopped (SIGINT/SIGTERM). Updates in hand finish first, as they may file tickets
    and queue notices; then the watchers stop; then the outbox finishes the notice it is sending and
    records it. The caller closes the database after this."""
    if not await handled_updates.wait_idle(SHUTDOWN_GRACE_SECONDS):
        log.warning("stopping while updates are still being handled")
    task = dispatcher.workflow_data.pop("leadership_task", None)
    if task:
        task.cancel()  # and with it the watchers, if this process leads
        with suppress(asyncio.CancelledError):
            await task
    outbox_task = dispatcher.workflow_data.pop("outbox_task", None)
    if outbox_task:
        await outbox.stop(outbox_task)

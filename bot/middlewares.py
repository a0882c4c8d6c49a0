"""Middlewares: logging, who the user is and their language, and one for outgoing requests."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Chat, TelegramObject, Update, User
from aiogram.utils.i18n import I18nMiddleware

from bot.catalogs import gettext as _
from bot.commands import register_chat_commands
from bot.counters import UpdateCounts
from bot.config import Settings
from bot.texts import CALLBACK_ANSWER_LIMIT, CAPTION_LIMIT, MESSAGE_LIMIT, fit_html
from bot.i18n import pick_language
from bot.outbox import OutboxSender
from domain.text import clip
from domain.models import Role, RoleGrant
from domain.service import TicketService
from storage.base import Storage

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
log = logging.getLogger("gridbot.updates")


class UpdateLogMiddleware(BaseMiddleware):
    """One line per update: its kind and the time it took. No texts, tokens or phone numbers.

    It also ends every error of a handler, which aiogram would log with the error's text (a
    validation error quotes the input, a resident's text) and a traceback for each 429 in a flood:
    Telegram's refusals get one line, other errors their type and where they arose, never their text."""

    def __init__(self, counts: UpdateCounts):
        self.counts = counts

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        started = time.perf_counter()
        update_id = getattr(event, "update_id", "-")
        kind = event.event_type if isinstance(event, Update) else type(event).__name__
        failed = True
        try:
            result = await handler(event, data)
            failed = False
            return result
        except TelegramRetryAfter as error:
            log.warning("update %s %s: Telegram asked to wait %s s (429)", update_id, kind, error.retry_after)
        except TelegramAPIError as error:
            log.warning("update %s %s: Telegram refused %s: %s", update_id, kind,
                        type(error.method).__name__, error.message)
        except Exception as error:
            frames = "".join(traceback.format_tb(error.__traceback__)).rstrip()
            log.error("update %s %s failed with %s\n%s", update_id, kind, type(error).__name__, frames)
        finally:
            seconds = time.perf_counter() - started
            self.counts.count(seconds, failed)
            log.info("update %s %s %.1f ms", update_id, kind, seconds * 1000)
        return UNHANDLED


class PrivateChatsOnlyMiddleware(BaseMiddleware):
    """The bot serves people in private chats only: updates from groups, supergroups and channels
    (someone added the bot to one) are ignored before anything is read or stored. Updates without
    a chat (a button on an inline message) go on. The one place to admit staff groups later."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        if chat is not None and chat.type != ChatType.PRIVATE:
            log.info("update %s from a %s chat ignored", getattr(event, "update_id", "-"), chat.type)
            return UNHANDLED
        return await handler(event, data)


class UserContextMiddleware(BaseMiddleware):
    """Puts `user` (the stored profile), `grants` (roles) and `lang` into handler data, and
    wakes the outbox after the handler so that what it queued goes out at once. A staff member's
    first message (or the first after blocking the bot) brings them their command menu and the
    cards of every ticket open for them."""

    def __init__(self, storage: Storage, settings: Settings, outbox: OutboxSender, tickets: TicketService):
        self.storage = storage
        self.settings = settings
        self.outbox = outbox
        self.tickets = tickets

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: User | None = data.get("event_from_user")
        if tg_user is None or tg_user.is_bot:
            return await handler(event, data)
        user, grants, reached = await self.storage.touch_user(
            tg_user.id, tg_user.full_name, tg_user.username, tg_user.language_code
        )
        if tg_user.id in self.settings.admin_ids:
            grants.append(RoleGrant(Role.ADMIN))
        data["user"] = user
        data["grants"] = grants
        data["lang"] = pick_language(user.language, user.telegram_language, self.settings.default_language)
        if reached and grants:
            await self.tickets.staff_reachable(tg_user.id, grants)
            try:
                await register_chat_commands(data["bot"], data["i18n"], tg_user.id, grants, data["lang"],
                                             self.settings.console_url)
            except Exception as error:  # the menu is a convenience; the update goes on without it
                log.warning("no command menu for chat %s: %s", tg_user.id, type(error).__name__)
        try:
            return await handler(event, data)
        finally:
            self.outbox.wake()


class InlineButtonMiddleware(BaseMiddleware):
    """A button on an inline message (sent through "@bot" in another chat) comes without the
    message, so nothing could be answered there: the press gets a clear answer and goes no further."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, CallbackQuery) and event.message is None:
            await event.answer(_("This button works only in the chat with the bot."), show_alert=True)
            return None
        return await handler(event, data)


class LocaleMiddleware(I18nMiddleware):
    """aiogram's i18n context, in the language `UserContextMiddleware` picked."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        return data.get("lang") or self.i18n.default_locale


class TelegramLimitsMiddleware(BaseRequestMiddleware):
    """No request is refused for its length: a text, caption or callback answer over Telegram's
    limit (counted as Telegram counts) is shortened here, whatever composed it. Composers that
    can offer the whole text (a ticket's card) fit it themselves first; this is the last line."""

    async def __call__(self, make_request: NextRequestMiddlewareType, bot: Bot, method: TelegramMethod) -> Any:
        changes: dict[str, Any] = {}
        html_mode = getattr(method, "parse_mode", None) is not None
        for field, limit in (("text", MESSAGE_LIMIT), ("caption", CAPTION_LIMIT)):
            if isinstance(method, AnswerCallbackQuery):
                break
            value = getattr(method, field, None)
            if isinstance(value, str):
                fitted = fit_html(value, limit) if html_mode else clip(value, limit)
                if fitted != value:
                    changes[field] = fitted
        if isinstance(method, AnswerCallbackQuery) and method.text:
            fitted = clip(method.text, CALLBACK_ANSWER_LIMIT)
            if fitted != method.text:
                changes["text"] = fitted
        media = getattr(method, "media", None)
        if isinstance(media, list) and any(isinstance(getattr(m, "caption", None), str) for m in media):
            fitted_media = [
                m.model_copy(update={"caption": fit_html(m.caption, CAPTION_LIMIT)}) if isinstance(getattr(m, "caption", None), str) else m
                for m in media
            ]
            if fitted_media != media:
                changes["media"] = fitted_media
        if changes:
            log.warning("%s shortened to Telegram's limits: %s", type(method).__name__, ", ".join(changes))
            method = method.model_copy(update=changes)
        return await make_request(bot, method)


class StaleCallbackAnswerMiddleware(BaseRequestMiddleware):
    """Telegram refuses to answer a button tap that is more than a few minutes old, e.g. one
    handled again after a restart. That refusal must not stop the handler before it tells the
    user what it did (such as the number of the ticket it filed)."""

    async def __call__(self, make_request: NextRequestMiddlewareType, bot: Bot, method: TelegramMethod) -> Any:
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as error:
            if isinstance(method, AnswerCallbackQuery) and (
                "query is too old" in error.message or "query ID is invalid" in error.message
            ):
                return True
            raise

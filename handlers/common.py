"""Commands that work everywhere and in every state: /cancel, /lang, /help."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import I18n

from bot.catalogs import gettext as _
from bot.commands import register_chat_commands
from bot.config import Settings
from bot.steps import IN_ANY_STEP
from domain.media import MAX_FILE_BYTES, MAX_VIDEO_NOTE_SECONDS, Refusal, refusal, to_data
from domain.models import Attachment, MediaKind, Role, RoleGrant
from domain.geo import valid_location
from domain.text import clean_text, telegram_length
from domain.tickets import MAX_NOTE, has_role, is_staff
from handlers import keyboards
from handlers.callbacks import LanguageCb
from storage.base import Storage

log = logging.getLogger(__name__)


async def cancel(message: Message, state: FSMContext) -> None:
    had_form = await state.get_state() is not None
    await state.clear()
    text = _("Cancelled. Nothing was sent.") if had_form else _("There is nothing to cancel.")
    await message.answer(text, reply_markup=ReplyKeyboardRemove())


async def choose_language(message: Message) -> None:
    await message.answer(_("Choose your language:"), reply_markup=keyboards.languages())


async def set_language(
    query: CallbackQuery,
    callback_data: LanguageCb,
    db: Storage,
    i18n: I18n,
    bot: Bot,
    grants: list[RoleGrant],
    settings: Settings,
) -> None:
    await db.set_language(query.from_user.id, callback_data.code)
    with i18n.use_locale(callback_data.code):
        await query.answer()
        await query.message.answer(_("Language set to English."))
        await register_chat_commands(bot, i18n, query.from_user.id, grants, callback_data.code,
                                     settings.console_url)


async def help_command(message: Message, grants: list[RoleGrant], bot: Bot, i18n: I18n, lang: str,
                       settings: Settings) -> None:
    await message.answer(help_text(grants))
    # Staff imported while the bot runs get their command menu here (start-up sets the others').
    await register_chat_commands(bot, i18n, message.from_user.id, grants, lang, settings.console_url)


async def discard_form(message: Message, state: FSMContext) -> None:
    """A new /start in the middle of a form starts over on purpose, and says so."""
    if await state.get_state() is not None:
        await state.clear()
        await message.answer(_("Your unfinished form was discarded."), reply_markup=ReplyKeyboardRemove())


async def take_note(message: Message) -> str | None:
    """A note (a reply, a reason, a comment) as it is stored, or None, after saying why, when it
    shows nothing or is over the limit (counted as Telegram counts)."""
    text = clean_text(message.text)
    if not text:
        await message.answer(no_visible_text())
        return None
    return text if await within_note_limit(message, text) else None


async def within_note_limit(message: Message, text: str) -> bool:
    if telegram_length(text) > MAX_NOTE:
        await message.answer(_("Please keep it under {max} characters.").format(max=MAX_NOTE))
        return False
    return True


async def take_caption(message: Message) -> str | None:
    """The words sent with an attachment as they are stored ("" for none), or None, after saying
    why, when they are over the limit."""
    text = clean_text(message.caption)
    return text if await within_note_limit(message, text) else None


async def take_location(message: Message) -> tuple[float, float] | None:
    """The shared point, or None, after saying so, when it is not on Earth (a forged update)."""
    lat, lon = message.location.latitude, message.location.longitude
    if not valid_location(lat, lon):
        await message.answer(_("This location is not valid. Please share it again from the map."))
        return None
    return lat, lon


def no_visible_text() -> str:
    return _("This message has no visible text. Please write it in words, or send /cancel.")


async def edit_buttons(query: CallbackQuery, markup: InlineKeyboardMarkup | None, text: str = "") -> None:
    """Gives the message a pressed button was on new buttons (None: no buttons). Every handler
    edits through this, after its change is stored, so an edit can never leave an action half
    done: a message older than 48 hours (an InaccessibleMessage) or one Telegram refuses to edit
    keeps its buttons, and the new ones, if any, come in a new message with `text`."""
    if isinstance(query.message, Message):
        try:
            await query.message.edit_reply_markup(reply_markup=markup)
            return
        except TelegramBadRequest as error:  # e.g. "message can't be edited", "message is not modified"
            log.info("buttons not edited: %s", error.message)
    if markup is not None and text and query.message is not None:
        await query.message.answer(text, reply_markup=markup)


async def show_page(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Another page of a list (/queue, /overdue), in the message whose button asked for it."""
    if isinstance(query.message, Message):
        try:
            await query.message.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest as error:
            if "not modified" in error.message:  # the same page again
                return
    # A list older than 48 hours (or one Telegram will not edit): the page comes anew.
    await query.bot.send_message(query.from_user.id, text, reply_markup=markup)


def media_of(message: Message) -> tuple[Attachment, int | None, int | None] | None:
    """The message's photo (its largest size), video, voice message or video note, with its size
    in bytes and its length in seconds where Telegram says them; None for anything else."""
    if message.photo:
        largest = message.photo[-1]
        return Attachment(largest.file_id, largest.file_unique_id, MediaKind.PHOTO), largest.file_size, None
    for kind, media in ((MediaKind.VIDEO, message.video), (MediaKind.VOICE, message.voice),
                        (MediaKind.VIDEO_NOTE, message.video_note)):
        if media is not None:
            return Attachment(media.file_id, media.file_unique_id, kind), media.file_size, media.duration
    return None


async def take_attachment(message: Message, state: FSMContext, limit: int) -> list | None:
    """Adds the message's attachment to the form's "attachments" (see domain.media.to_data), up
    to `limit`, and returns them; a file Telegram's limits keep the bot from handling, or one past
    the limit, is refused with the reason (past the limit once per album: an album arrives as one
    update per item) and None is returned."""
    attachment = await checked_media(message)
    if attachment is None:
        return None
    stored: list = (await state.get_data()).get("attachments", [])
    if len(stored) >= limit:
        if await first_of_album(message, state):
            await message.answer(
                _("At most {max} photos, videos and voice messages can be attached; this one was not added.").format(
                    max=limit)
                if message.media_group_id is None
                else _("At most {max} photos, videos and voice messages can be attached; the extra ones were not "
                       "added.").format(max=limit)
            )
        return None
    stored += to_data([attachment])
    await state.update_data(attachments=stored)
    return stored


async def first_of_album(message: Message, state: FSMContext) -> bool:
    """False for the second and later items of an album (each comes as an update of its own), so
    that an answer about the album is given once; True for anything else."""
    album = message.media_group_id
    if album is None:
        return True
    answered: list = (await state.get_data()).get("warned_albums", [])
    if album in answered:
        return False
    await state.update_data(warned_albums=[*answered, album])
    return True


async def checked_media(message: Message) -> Attachment | None:
    """The message's attachment, or None, after saying why, when Telegram's limits keep the bot
    from handling it."""
    found = media_of(message)
    if found is None:
        return None
    attachment, size, duration = found
    why = refusal(attachment.kind, size, duration)
    if why is not None:
        await message.answer(refusal_text(why))
        return None
    return attachment


def refusal_text(why: Refusal) -> str:
    if why is Refusal.TOO_LARGE:
        return _("This file is larger than {mb} MB, more than Telegram lets the bot handle; it was not added. "
                 "Please send a shorter recording or video.").format(mb=MAX_FILE_BYTES // (1024 * 1024))
    return _("Video messages may be at most {seconds} seconds long; this one was not added.").format(
        seconds=MAX_VIDEO_NOTE_SECONDS)


def help_text(grants: list[RoleGrant]) -> str:
    parts = [
        _(
            "Scan the QR code of your grid to report a problem, or send /start to find your grid.\n"
            "/my – your tickets and their progress\n"
            "/t XG-000123 – open a ticket by its number\n"
            "/lang – language\n"
            "/cancel – stop the current form"
        )
    ]
    if is_staff(grants):
        parts.append(
            _(
                "Staff:\n"
                "/queue – your open tickets, overdue first, then oldest, with their deadlines\n"
                "New tickets of your area come to you as cards with buttons."
            )
        )
    if is_staff(grants):
        parts.append(_("/qr – the QR code of a grid in your area"))
    if has_role(grants, Role.OFFICIAL, Role.ADMIN):
        parts.append(_("Officials: /stats – weekly statistics"))
    if has_role(grants, Role.SHOP_OWNER):
        parts.append(_("Shop owners: /myshop – your shop's ratings; /shopqr – its QR code"))
    if has_role(grants, Role.INSPECTOR, Role.ADMIN):
        parts.append(_("Inspectors: scan a site's code to add an inspection; /siteqr – a site's QR code"))
    if has_role(grants, Role.ADMIN):
        parts.append(_("Admins: /posters – printable posters of all grids (/posters shops, /posters sites for "
                       "shops and sites; A5, A6 or A6x4 for smaller paper); /shopqr – a shop's QR code"))
    return "\n\n".join(parts)


def build_router() -> Router:
    router = Router(name="common")
    router.message.register(cancel, Command("cancel"), flags=IN_ANY_STEP)
    router.message.register(choose_language, Command("lang"), flags=IN_ANY_STEP)
    router.callback_query.register(set_language, LanguageCb.filter(F.code.in_({"zh", "en"})))
    router.message.register(help_command, Command("help"), flags=IN_ANY_STEP)
    return router

"""/digest: each official chooses the digests they get: weekly, monthly, both or off."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.catalogs import gettext as _
from bot.config import Settings
from bot.texts import weekday_names
from domain.digest import DigestChoice, parse_digest_choice
from domain.models import Role, RoleGrant
from domain.tickets import has_role
from handlers.callbacks import DigestCb
from handlers.common import edit_buttons
from handlers.filters import HasRole
from handlers.keyboards import button, markup
from storage.base import Storage


def choice_text(choice: DigestChoice, settings: Settings) -> str:
    day = weekday_names()[settings.digest_weekday]
    at = settings.digest_time.strftime("%H:%M")
    if choice is DigestChoice.WEEKLY:
        return _("weekly, every {day} at {time}").format(day=day, time=at)
    if choice is DigestChoice.MONTHLY:
        return _("monthly, on the 1st at {time}").format(time=at)
    if choice is DigestChoice.BOTH:
        return _("weekly every {day} and monthly on the 1st, at {time}").format(day=day, time=at)
    return _("none")


def choice_keyboard(current: DigestChoice) -> InlineKeyboardMarkup:
    labels = {
        DigestChoice.WEEKLY: _("Weekly"),
        DigestChoice.MONTHLY: _("Monthly"),
        DigestChoice.BOTH: _("Both"),
        DigestChoice.OFF: _("Off"),
    }
    return markup(
        [button(("✅ " if c is current else "") + labels[c], DigestCb(choice=c.value)) for c in DigestChoice],
        2,
    )


async def digest_command(message: Message, command: CommandObject, db: Storage, grants: list[RoleGrant],
                         settings: Settings) -> None:
    if not has_role(grants, Role.OFFICIAL):
        await message.answer(_("Digests go to staff with the role official."))
        return
    user_id = message.from_user.id
    if command.args:
        choice = parse_digest_choice(command.args)
        if choice is None:
            await message.answer(_("Write /digest weekly, /digest monthly, /digest both or /digest off."))
            return
        await db.set_digest_choice(user_id, choice)
        await message.answer(_("Your digest: {choice}.").format(choice=choice_text(choice, settings)),
                             reply_markup=choice_keyboard(choice))
        return
    [choice] = (await db.digest_choices([user_id])).values()
    await message.answer(
        _("Your digest: {choice}.").format(choice=choice_text(choice, settings)) + "\n"
        + _("Change it with the buttons or with /digest weekly, monthly, both or off."),
        reply_markup=choice_keyboard(choice),
    )


async def digest_chosen(query: CallbackQuery, callback_data: DigestCb, db: Storage, settings: Settings) -> None:
    try:
        choice = DigestChoice(callback_data.choice)
    except ValueError:
        await query.answer(_("This button is not valid (any more) or not meant for you."), show_alert=True)
        return
    await db.set_digest_choice(query.from_user.id, choice)
    await query.answer(_("Your digest: {choice}.").format(choice=choice_text(choice, settings)))
    await edit_buttons(query, choice_keyboard(choice), _("Your digest: {choice}.").format(choice=choice_text(choice, settings)))


def build_router() -> Router:
    router = Router(name="digest")
    router.message.filter(HasRole(Role.OFFICIAL, Role.ADMIN))
    router.message.register(digest_command, Command("digest"))
    router.callback_query.filter(HasRole(Role.OFFICIAL))
    router.callback_query.register(digest_chosen, DigestCb.filter())
    return router

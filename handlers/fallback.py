"""Last router: whatever no other router took gets a clear answer instead of silence."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.catalogs import gettext as _
from domain.models import RoleGrant
from handlers.callbacks import DepartmentCb, HandOverCb, StaffTicketCb
from handlers.common import help_text


async def staff_button_without_role(query: CallbackQuery) -> None:
    """A staff button pressed by someone who holds no staff role (any more): removed, say."""
    await query.answer(
        _("You no longer hold a staff role in this bot, so this button does nothing. "
          "If that is a mistake, please ask your admin."),
        show_alert=True,
    )


async def unknown_button(query: CallbackQuery) -> None:
    await query.answer(_("This button is not valid (any more) or not meant for you."), show_alert=True)


async def unknown_message(message: Message, grants: list[RoleGrant]) -> None:
    await message.answer(_("I did not understand that.") + "\n\n" + help_text(grants))


def build_router() -> Router:
    router = Router(name="fallback")
    for staff_button in (StaffTicketCb, HandOverCb, DepartmentCb):
        router.callback_query.register(staff_button_without_role, staff_button.filter())
    router.callback_query.register(unknown_button)
    router.message.register(unknown_message)
    return router

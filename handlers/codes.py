"""QR codes for staff: /qr sends a grid's card (grids in the user's scope), /posters (admins) a
printable PDF with a poster per grid."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from html import escape
from io import BytesIO

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.codes import NoBotUsername, filter_grids, grid_card_png, grid_posters
from bot.config import Settings
from domain.models import Grid, Role, RoleGrant
from domain.tickets import grids_in_scope
from handlers.callbacks import QrGridCb
from handlers.filters import HasRole, IsStaff
from handlers.keyboards import button, markup
from qr import PAGE_SIZES, FontNotFoundError, write_posters
from storage.base import Storage

# More grids than this are listed by a search word: /qr <part of a name>.
MAX_GRID_BUTTONS = 30


async def answer_with_card(message: Message, render: Awaitable[bytes], code: str, name: str) -> None:
    """Sends a code's PNG card, or says what is missing to make one."""
    try:
        png = await render
    except NoBotUsername:
        await message.answer(_("The bot's username is not known yet; set BOT_USERNAME."))
        return
    except FontNotFoundError:
        await message.answer(_("No Chinese font was found for the code; set FONT_PATH."))
        return
    await message.answer_photo(
        BufferedInputFile(png, filename="qr_{}.png".format(code)),
        caption=_("QR code of {name}").format(name=escape(name)),
    )


async def send_card(message: Message, grid: Grid, db: Storage, settings: Settings, i18n: I18n) -> None:
    await answer_with_card(message, grid_card_png(grid, settings, db, i18n), grid.code, grid.name)


async def qr_command(message: Message, command: CommandObject, db: Storage, grants: list[RoleGrant],
                     settings: Settings, i18n: I18n) -> None:
    grids = grids_in_scope(grants, await db.list_grids())
    if command.args:
        needle = command.args.strip().lower()
        grids = [g for g in grids if needle in g.code.lower() or needle in g.name.lower() or needle in g.village]
    if not grids:
        await message.answer(_("No grid in your area matches."))
        return
    if len(grids) == 1:
        await send_card(message, grids[0], db, settings, i18n)
        return
    if len(grids) > MAX_GRID_BUTTONS:
        await message.answer(
            _("{count} grids match. Narrow it down: /qr followed by part of a name.").format(count=len(grids))
        )
        return
    await message.answer(
        _("Which grid's code?"),
        reply_markup=markup([button("{} · {}".format(g.name, g.village), QrGridCb(code=g.code)) for g in grids], 2),
    )


async def qr_for_grid(query: CallbackQuery, callback_data: QrGridCb, db: Storage, grants: list[RoleGrant],
                      settings: Settings, i18n: I18n) -> None:
    grid = await db.get_grid(callback_data.code)
    # The button's grid must still be in this person's scope.
    if grid is None or not grids_in_scope(grants, [grid]):
        await query.answer(_("This button is not valid (any more) or not meant for you."), show_alert=True)
        return
    await query.answer()
    await send_card(query.message, grid, db, settings, i18n)


async def posters_command(message: Message, command: CommandObject, db: Storage, settings: Settings,
                          i18n: I18n) -> None:
    """/posters [A4|A6] [town or village]"""
    words = (command.args or "").split()
    size = "A4"
    if words and words[0].upper() in PAGE_SIZES:
        size = words.pop(0).upper()
    place = " ".join(words) or None
    grids = await db.list_grids()
    if place:
        grids = filter_grids(grids, town=place) or filter_grids(grids, village=place)
    if not grids:
        await message.answer(_("No grids to print."))
        return
    try:
        specs = await grid_posters(grids, settings, db, i18n)
    except NoBotUsername:
        await message.answer(_("The bot's username is not known yet; set BOT_USERNAME."))
        return
    await message.answer(_("Making {count} posters ({size})…").format(count=len(grids), size=size))
    pdf = BytesIO()
    try:
        # Drawing a thousand pages takes seconds: off the event loop, so the bot keeps answering.
        await asyncio.to_thread(write_posters, pdf, specs, size, settings.font_path)
    except FontNotFoundError:
        await message.answer(_("No Chinese font was found for the code; set FONT_PATH."))
        return
    await message.answer_document(
        BufferedInputFile(pdf.getvalue(), filename="posters_{}.pdf".format(size)),
        caption=_("{count} posters, one page per grid.").format(count=len(grids)),
    )


def build_router() -> Router:
    router = Router(name="codes")
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())
    router.message.register(qr_command, Command("qr"))
    router.callback_query.register(qr_for_grid, QrGridCb.filter())
    router.message.register(posters_command, Command("posters"), HasRole(Role.ADMIN))
    return router

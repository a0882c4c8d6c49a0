"""QR codes for staff: /qr sends a grid's card (grids in the user's scope), /posters (admins) a
printable PDF with a poster per grid. Every failure is answered in words."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from html import escape
from io import BytesIO

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.i18n import I18n

from bot.catalogs import gettext as _
from bot.codes import (
    PAPER_NAMES,
    NoBotUsername,
    card_image,
    code_specs,
    codes_in,
    grid_specs,
    paper_size,
    posters_pdf,
)
from bot.config import Settings
from domain.models import Grid, Role, RoleGrant
from domain.tickets import grids_in_scope
from handlers.callbacks import QrGridCb
from handlers.filters import HasRole, IsStaff
from handlers.keyboards import button, markup
from qr import CodeKind, FontNotFoundError, MissingGlyphsError, PosterSpec, describe_characters
from storage.base import Storage

log = logging.getLogger(__name__)
# More grids than this are listed by a search word: /qr <part of a name>.
MAX_GRID_BUTTONS = 30
# A word like A3, b5 or A5x2 names a paper size (maybe one we do not print on), never a place.
PAPER_LIKE = re.compile(r"[AaBb]\d{1,2}([xX]\d)?")
# Posters left out of a PDF named in the answer; the rest are counted.
MAX_NAMED_REFUSALS = 10


def unprintable(error: MissingGlyphsError) -> str:
    return _(
        "{name} cannot be printed: no font has {characters}. Set FALLBACK_FONTS to a font that has "
        "them (or install the Debian package fonts-hanazono), or change the name."
    ).format(name=escape(error.text), characters=escape(describe_characters(error.characters)))


async def printing_failed(message: Message, error: Exception) -> None:
    """Says in words why a card or posters could not be made."""
    if isinstance(error, NoBotUsername):
        await message.answer(_("The bot's username is not known yet; set BOT_USERNAME."))
    elif isinstance(error, FontNotFoundError):
        await message.answer(_("No Chinese font was found for the code; set FONT_PATH."))
    elif isinstance(error, MissingGlyphsError):
        await message.answer(unprintable(error))
    else:
        log.error("printing failed", exc_info=error)
        await message.answer(_("Something went wrong while drawing the code; the error was logged."))


async def answer_with_card(message: Message, specs: Awaitable[list[PosterSpec]], settings: Settings, code: str,
                           name: str) -> None:
    """Sends a code's card (`specs` makes the one spec) as a photo to look at, and the same PNG
    as a file to print (Telegram compresses photos); or says why it cannot be made."""
    try:
        [spec] = await specs
        png = await card_image(spec, settings)
    except Exception as error:  # noqa: BLE001 - every failure is told, in words
        await printing_failed(message, error)
        return
    caption = _("QR code of {name}").format(name=escape(name))
    await message.answer_photo(BufferedInputFile(png, filename="qr_{}.png".format(code)), caption=caption)
    await message.answer_document(
        BufferedInputFile(png, filename="qr_{}.png".format(code)),
        caption=_("The same card as a file, for printing."),
    )


async def send_card(message: Message, grid: Grid, db: Storage, settings: Settings, i18n: I18n) -> None:
    await answer_with_card(message, grid_specs([grid], settings, db, i18n), settings, grid.code, grid.name)


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


# The word after /posters for shops' and sites' posters instead of grids'.
POSTER_KINDS = {"shops": CodeKind.SHOP, "商户": CodeKind.SHOP, "sites": CodeKind.SUPERVISION, "场所": CodeKind.SUPERVISION}


def parse_posters_args(args: str | None) -> tuple[CodeKind, str, str | None] | str:
    """`/posters [shops|sites] [size] [town or village]` → (kind, size, place), or the word that
    looks like a paper size we do not print on ("A3"): a place is never named like a paper size."""
    words = (args or "").split()
    kind = CodeKind.GRID
    if words and words[0].lower() in POSTER_KINDS:
        kind = POSTER_KINDS[words.pop(0).lower()]
    size = "A4"
    if words and PAPER_LIKE.fullmatch(words[0]):
        size = paper_size(words[0]) or ""
        if not size:
            return words[0]
        words.pop(0)
    return kind, size, " ".join(words) or None


async def posters_command(message: Message, command: CommandObject, db: Storage, settings: Settings,
                          i18n: I18n) -> None:
    """/posters [shops|sites] [A4|A5|A6|A6x4] [town or village]"""
    parsed = parse_posters_args(command.args)
    if isinstance(parsed, str):
        await message.answer(
            _("{size} is not a paper size for posters: use {sizes} (A6x4: four A6 posters on an A4 sheet, "
              "with cut marks).").format(size=escape(parsed), sizes=", ".join(PAPER_NAMES))
        )
        return
    kind, size, place = parsed
    # A place is a town, or else a village.
    items = await codes_in(db, kind, place, None)
    if place and not items:
        items = await codes_in(db, kind, None, place)
    if not items:
        await message.answer(_("No grids to print.") if kind is CodeKind.GRID else _("No shops or sites to print."))
        return
    await message.answer(_("Making {count} posters ({size})…").format(count=len(items), size=size))
    pdf = BytesIO()
    try:
        specs = await code_specs(kind, items, settings, db, i18n)
        # Drawing a thousand pages takes seconds: off the event loop, so the bot keeps answering.
        report = await asyncio.to_thread(posters_pdf, pdf, specs, size, settings)
    except Exception as error:  # noqa: BLE001 - every failure is told, in words
        await printing_failed(message, error)
        return
    await message.answer_document(
        BufferedInputFile(pdf.getvalue(), filename="posters_{}.pdf".format(size)),
        caption=_("{count} posters ({size}).").format(count=report.written, size=size),
    )
    if report.refused:
        named = [unprintable(r.error) for r in report.refused[:MAX_NAMED_REFUSALS]]
        more = len(report.refused) - len(named)
        if more:
            named.append(_("… and {count} more.").format(count=more))
        await message.answer(
            _("{count} posters were left out:").format(count=len(report.refused)) + "\n" + "\n".join(named)
        )


def build_router() -> Router:
    router = Router(name="codes")
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())
    router.message.register(qr_command, Command("qr"))
    router.callback_query.register(qr_for_grid, QrGridCb.filter())
    router.message.register(posters_command, Command("posters"), HasRole(Role.ADMIN))
    return router

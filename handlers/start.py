"""Where a resident lands: a grid's deep link, or finding the grid by location or by name."""

from __future__ import annotations

import uuid
from html import escape

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove

from bot.catalogs import gettext as _
from bot.commands import commands_for
from bot.config import Settings
from bot.steps import IN_ANY_STEP
from bot.texts import format_distance, grid_line, role_name
from domain.geo import nearest_grids, within
from domain.models import Grid, Role, RoleGrant
from domain.tickets import is_staff
from handlers import keyboards, shops, sites
from handlers.common import discard_form, take_location
from handlers.filters import Has
from handlers.callbacks import GridPickCb, HomeCb
from handlers.states import FindGrid, TicketForm
from qr import CodeKind, parse_start_payload
from storage.base import Storage


SEARCH_MAX_CHARS = 50


async def open_grid(message: Message, state: FSMContext, db: Storage, grid: Grid) -> None:
    await state.clear()
    await state.set_state(TicketForm.kind)
    # The form's id keys the ticket it files: a second Submit (a double tap, or after a crash
    # between filing and clearing the form) finds the same ticket instead of filing another.
    await state.update_data(grid=grid.code, form_id=uuid.uuid4().hex)
    workers = await db.staff_with_role(Role.GRID_WORKER, grid.code)
    lines = [_("Grid: {grid}").format(grid=grid_line(grid, grid.code))]
    if workers:
        lines.append(_("Grid worker: {names}").format(names=escape(", ".join(w.name for w in workers))))
    else:
        lines.append(_("This grid has no worker yet; the village will handle your ticket."))
    lines.append("")
    lines.append(_("What would you like to do?"))
    await message.answer("\n".join(lines), reply_markup=keyboards.kinds())


async def ask_for_grid(message: Message, state: FSMContext) -> None:
    await state.set_state(FindGrid.searching)
    await message.answer(
        _(
            "Which grid are you in? Share your location to find the nearest grid, "
            "or type part of the grid's or village's name."
        ),
        reply_markup=keyboards.share_location(),
    )


def claimed_kind(payload: str | None) -> CodeKind | None:
    """The kind of code a payload's prefix names (`m_...` a shop), even if the code is malformed."""
    parsed = parse_start_payload((payload or "").partition("_")[0] + "_0")
    return parsed[0] if parsed else None


async def start_with_code(
    message: Message, command: CommandObject, state: FSMContext, db: Storage, grants: list[RoleGrant],
    settings: Settings, clock,
) -> None:
    await discard_form(message, state)
    kind = claimed_kind(command.args)
    parsed = parse_start_payload(command.args)
    code = parsed[1] if parsed else None
    if kind is CodeKind.SHOP:
        await shops.open_shop(message, db, grants, clock, code)
        return
    if kind is CodeKind.SUPERVISION:
        await sites.open_site(message, db, grants, settings, code)
        return
    grid = await db.get_grid(code) if kind is CodeKind.GRID and code else None
    if grid is None:
        await message.answer(_("This QR code is not known. Let us find your grid another way."))
        await ask_for_grid(message, state)
        return
    await open_grid(message, state, db, grid)


async def start_plain(message: Message, state: FSMContext, db: Storage, grants: list[RoleGrant],
                      clock) -> None:
    await discard_form(message, state)
    if grants:
        await staff_home(message, db, grants, clock())
        return
    await resident_menu(message, state)


async def resident_menu(message: Message, state: FSMContext) -> None:
    await message.answer(
        _("Welcome! Here you can report problems to your grid worker and follow how they are solved.")
    )
    await ask_for_grid(message, state)


async def staff_home(message: Message, db: Storage, grants: list[RoleGrant], now: int) -> None:
    """Who they are here (roles and scopes), what waits for them, and their commands."""
    lines = [_("Hello, {name}! Your roles:").format(name=escape(message.from_user.full_name))]
    lines += ["• " + role_name(g.role, g.scope) for g in grants]
    if is_staff(grants):
        waiting = await db.staff_queue_page(grants, now, 0, 0)
        lines += ["", _("Open tickets for you: {total}, of them overdue: {overdue}. /queue lists them.").format(
            total=waiting.total, overdue=waiting.overdue
        )]
    lines += ["", _("Your commands:")]
    lines += ["/{} – {}".format(c.command, escape(c.description)) for c in commands_for(grants)]
    await message.answer("\n".join(lines), reply_markup=keyboards.staff_home())


async def open_resident_menu(query: CallbackQuery, state: FSMContext) -> None:
    await query.answer()
    await discard_form(query.message, state)
    await resident_menu(query.message, state)


async def find_by_location(message: Message, db: Storage, settings: Settings) -> None:
    point = await take_location(message)
    if point is None:
        return
    found = nearest_grids(await db.list_grids(), *point)
    if not found:
        await message.answer(_("No grid with a known location was found. Please type its name."))
        return
    near = within(found, settings.nearest_grid_km * 1000)
    if not near:
        await message.answer(_(
            "No grid is within {limit} of your location (the nearest, {grid}, is {distance} away). "
            "Please type your grid's name."
        ).format(limit=format_distance(settings.nearest_grid_km * 1000), grid=escape(found[0][0].name),
                 distance=format_distance(found[0][1])))
        return
    await message.answer(
        _("The nearest grids:"),
        reply_markup=keyboards.grid_choices([grid for grid, _distance in near],
                                            [format_distance(metres) for _grid, metres in near]),
    )


async def find_by_name(message: Message, db: Storage) -> None:
    text = message.text.strip()
    if not 1 <= len(text) <= SEARCH_MAX_CHARS:
        await message.answer(
            _("Please type part of a grid's name (at most {limit} characters), or share your location.").format(
                limit=SEARCH_MAX_CHARS
            )
        )
        return
    grids = await db.search_grids(text)
    if not grids:
        await message.answer(_("No grid matches \u201c{text}\u201d. Try another name.").format(text=escape(text)))
        return
    await message.answer(_("Choose your grid:"), reply_markup=keyboards.grid_choices(grids))


async def find_bad_input(message: Message) -> None:
    await message.answer(_("Please type a grid's name or share your location."))


async def pick_grid(query: CallbackQuery, callback_data: GridPickCb, state: FSMContext, db: Storage) -> None:
    grid = await db.get_grid(callback_data.code)
    if grid is None:
        await query.answer(_("This grid no longer exists."), show_alert=True)
        return
    await query.answer()
    await query.message.answer(_("Grid selected."), reply_markup=ReplyKeyboardRemove())
    await open_grid(query.message, state, db, grid)


def build_router() -> Router:
    router = Router(name="start")
    # A new /start in the middle of a form discards it on purpose, and says so.
    router.message.register(start_with_code, CommandStart(deep_link=True), flags=IN_ANY_STEP)
    router.message.register(start_plain, CommandStart(), flags=IN_ANY_STEP)
    router.message.register(find_by_location, StateFilter(FindGrid.searching), Has("location"))
    router.message.register(find_by_name, StateFilter(FindGrid.searching), Has("text"))
    router.message.register(find_bad_input, StateFilter(FindGrid.searching))
    router.callback_query.register(pick_grid, GridPickCb.filter())
    router.callback_query.register(open_resident_menu, HomeCb.filter(F.action == "resident"))
    return router

"""/stats for officials: the last full week, earlier weeks, a town, village or grid, with a chart
and CSV and Excel exports of the week's tickets."""

from __future__ import annotations

import asyncio
import re
from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.stats_report import (
    category_names,
    chart_labels,
    export_headers,
    export_labels,
    report_text,
    scope_name,
)
from domain.charts import render_week_chart
from domain.exports import csv_bytes, export_header, ticket_rows, xlsx_bytes
from domain.models import Grid, Role, RoleGrant
from domain.stats import (
    Scope,
    ScopeLevel,
    Week,
    child_scopes,
    load_week_stats,
    parent_scope,
    scope_allowed,
    widest_scope,
)
from handlers.callbacks import StatsCb
from handlers.filters import HasRole
from handlers.keyboards import button
from qr import find_cjk_font
from storage.base import Storage

MAX_SCOPE_BUTTONS = 12
# Characters kept in an export's file name: letters (Chinese too), digits, "-" and "_". A forged
# button's scope name must not reach the upload's Content-Disposition header as it is.
_UNSAFE_IN_FILENAME = re.compile(r"[^\w-]+")


def scope_exists(scope: Scope, grids: list[Grid]) -> bool:
    """A scope from a button names a town, village or grid that is in the grids table."""
    if scope.level is ScopeLevel.ALL:
        return True
    if scope.level is ScopeLevel.TOWN:
        return any(g.town == scope.name for g in grids)
    if scope.level is ScopeLevel.VILLAGE:
        return any(g.village == scope.name for g in grids)
    return any(g.code == scope.name for g in grids)


def export_filename(period: object, scope: Scope) -> str:
    return _UNSAFE_IN_FILENAME.sub("_", "stats_{}_{}".format(period, scope.name or "all"))


def stats_button(text: str, week: Week, scope: Scope, action: str) -> InlineKeyboardButton | None:
    try:
        return button(text, StatsCb(week=str(week), level=scope.level.value, name=scope.name, action=action))
    except ValueError:  # the scope's name is too long for a button's 64 bytes
        return None


def report_keyboard(week: Week, scope: Scope, last_full: Week, grants: list[RoleGrant],
                    grids: list[Grid]) -> InlineKeyboardMarkup:
    def row(*buttons: InlineKeyboardButton | None) -> list[InlineKeyboardButton]:
        return [b for b in buttons if b is not None]

    names = {g.code: g.name for g in grids}
    navigation = row(
        stats_button("◀ " + str(week.previous()), week.previous(), scope, "show"),
        stats_button(str(week.next()) + " ▶", week.next(), scope, "show") if week.next() <= last_full else None,
    )
    exports = row(
        stats_button(_("📈 Chart"), week, scope, "chart"),
        stats_button("CSV", week, scope, "csv"),
        stats_button("Excel", week, scope, "xlsx"),
    )
    scopes = [s for s in child_scopes(scope, grids) if scope_allowed(s, grants, grids)][:MAX_SCOPE_BUTTONS]
    parent = parent_scope(scope, grids)
    scope_buttons = row(*(stats_button(scope_name(s, names), week, s, "show") for s in scopes))
    if parent is not None and scope_allowed(parent, grants, grids):
        scope_buttons.insert(0, stats_button("⬆ " + scope_name(parent, names), week, parent, "show"))
    rows = [navigation, exports] + [scope_buttons[i:i + 3] for i in range(0, len(scope_buttons), 3)]
    return InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r])


async def stats_command(message: Message, command: CommandObject, db: Storage, grants: list[RoleGrant],
                        settings: Settings, clock, lang: str) -> None:
    last_full = Week.last_full(clock(), settings.timezone)
    week = last_full
    if command.args:
        try:
            week = Week.parse(command.args.strip().upper())
        except ValueError:
            await message.answer(_("Write the week like 2026-W47, or just /stats for the last full week."))
            return
        if week > last_full:
            await message.answer(_("Week {week} is not over yet.").format(week=str(week)))
            return
    scope = widest_scope(grants)
    await send_report(message, db, grants, settings, lang, week, scope, last_full)


async def send_report(message: Message, db: Storage, grants: list[RoleGrant], settings: Settings, lang: str,
                      week: Week, scope: Scope, last_full: Week) -> None:
    await message.answer(
        await report_text(db, settings, week, scope, lang, escape),
        reply_markup=report_keyboard(week, scope, last_full, grants, await db.list_grids()),
    )


async def stats_view(query: CallbackQuery, callback_data: StatsCb, db: Storage, grants: list[RoleGrant],
                     settings: Settings, clock, lang: str) -> None:
    grids = await db.list_grids()
    try:
        week = Week.parse(callback_data.week)
        scope = Scope(ScopeLevel(callback_data.level), callback_data.name)
    except ValueError:
        scope = None
    last_full = Week.last_full(clock(), settings.timezone)
    if (scope is None or week > last_full or not scope_exists(scope, grids)
            or not scope_allowed(scope, grants, grids)):
        await query.answer(_("This button is not valid (any more) or not meant for you."), show_alert=True)
        return
    await query.answer()
    if callback_data.action == "show":
        await send_report(query.message, db, grants, settings, lang, week, scope, last_full)
        return
    stats = await load_week_stats(db, week, settings.timezone, scope, settings.stats_min_rated)
    names = {g.code: g.name for g in grids}
    filename = export_filename(week, scope)
    if callback_data.action == "chart":
        labels = chart_labels(stats, scope_name(scope, names))
        # matplotlib needs a second or so: off the event loop.
        png = await asyncio.to_thread(render_week_chart, stats, labels, str(find_cjk_font(settings.font_path)))
        await query.message.answer_photo(BufferedInputFile(png, filename=filename + ".png"))
        return
    tickets = await db.week_tickets(week.window(settings.timezone), scope)
    rows = list(ticket_rows(tickets, {g.code: g for g in grids}, await category_names(db, lang),
                            settings.timezone, settings.ticket_prefix, export_labels()))
    header = export_header(export_headers())
    if callback_data.action == "csv":
        data, extension = csv_bytes(header, rows), ".csv"
    else:
        data, extension = await asyncio.to_thread(xlsx_bytes, header, rows), ".xlsx"
    await query.message.answer_document(
        BufferedInputFile(data, filename=filename + extension),
        caption=_("{count} tickets received in week {week}.").format(count=len(rows), week=str(week)),
    )


def build_router() -> Router:
    router = Router(name="stats")
    router.message.filter(HasRole(Role.OFFICIAL, Role.ADMIN))
    router.callback_query.filter(HasRole(Role.OFFICIAL, Role.ADMIN))
    router.message.register(stats_command, Command("stats"))
    router.callback_query.register(stats_view, StatsCb.filter(F.action.in_({"show", "chart", "csv", "xlsx"})))
    return router

"""/stats for officials: a week, month, quarter or date range (the last full week by default), a
town, village or grid, with a chart and CSV and Excel exports of the period's tickets."""

from __future__ import annotations

import asyncio
import io
import re
from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.catalogs import gettext as _
from bot.config import Settings
from bot.stats_chart import chart_caption, chart_png
from bot.stats_export import load_export, write_export_xlsx, write_tickets_csv
from bot.stats_report import legend_text, load_period_report, report_text, scope_name
from domain.models import Grid, Role, RoleGrant
from domain.stats import (
    MAX_RANGE_DAYS,
    MAX_YEAR,
    MIN_YEAR,
    Period,
    PeriodError,
    PeriodKind,
    Scope,
    ScopeLevel,
    child_scopes,
    parent_scope,
    scope_allowed,
    widest_scope,
)
from handlers.callbacks import StatsCb
from handlers.filters import HasRole
from handlers.keyboards import button, console_view, with_console
from storage.base import Storage

MAX_SCOPE_BUTTONS = 12
# Characters kept in an export's file name: letters (Chinese too), digits, "-" and "_". A forged
# button's scope name must not reach the upload's Content-Disposition header as it is.
_UNSAFE_IN_FILENAME = re.compile(r"[^\w-]+")
# Button actions: "show" the report, send the "chart", "csv" or "xlsx", or the "legend".
ACTIONS = frozenset({"show", "chart", "csv", "xlsx", "legend"})


def scope_exists(scope: Scope, grids: list[Grid]) -> bool:
    """A scope from a button names a town, village or grid that is in the grids table."""
    if scope.level is ScopeLevel.ALL:
        return True
    if scope.level is ScopeLevel.TOWN:
        return any(g.town == scope.name for g in grids)
    if scope.level is ScopeLevel.VILLAGE:
        return any(g.village == scope.name for g in grids)
    return any(g.code == scope.name for g in grids)


def export_filename(period: Period, scope: Scope) -> str:
    return _UNSAFE_IN_FILENAME.sub("_", "stats_{}_{}".format(period, scope.name or "all"))


def period_error_text(error: PeriodError) -> str:
    if error.reason == "year":
        return _("Statistics cover the years {first} to {last}.").format(first=MIN_YEAR, last=MAX_YEAR)
    if error.reason == "date":
        return _("There is no such week, month, quarter or day: {text}").format(text=escape(error.text))
    if error.reason == "order":
        return _("The range ends before it starts: {text}").format(text=escape(error.text))
    if error.reason == "length":
        return _("A range covers at most {days} days.").format(days=MAX_RANGE_DAYS)
    return _(
        "Write the period like 2026-W47 (a week), 2026-11 (a month), 2026-Q4 (a quarter) or "
        "2026-11-01..2026-11-15 (days), or just /stats for the last full week."
    )


def in_range(period: Period) -> bool:
    """Whether the period can be asked for (its years are within the statistics' range)."""
    try:
        Period.parse(str(period))
    except PeriodError:
        return False
    return True


def started(period: Period, now: int, settings: Settings) -> bool:
    """A period that has started can be shown: when it is not over yet, as it is so far."""
    return period.window(settings.timezone).start <= now


def stats_button(text: str, period: Period, scope: Scope, action: str) -> InlineKeyboardButton | None:
    try:
        return button(text, StatsCb(period=str(period), level=scope.level.value, name=scope.name, action=action))
    except ValueError:  # the scope's name is too long for a button's 64 bytes
        return None


def report_keyboard(period: Period, scope: Scope, now: int, settings: Settings, grants: list[RoleGrant],
                    grids: list[Grid]) -> InlineKeyboardMarkup:
    def row(*buttons: InlineKeyboardButton | None) -> list[InlineKeyboardButton]:
        return [b for b in buttons if b is not None]

    names = {g.code: g.name for g in grids}
    previous, following = period.previous(), period.next()
    navigation = row(
        stats_button("◀ " + str(previous), previous, scope, "show") if in_range(previous) else None,
        stats_button(str(following) + " ▶", following, scope, "show")
        if in_range(following) and following.is_over(now, settings.timezone) else None,
    )
    tz = settings.timezone
    kinds = row(*(
        stats_button(label, Period.last_full(kind, now, tz), scope, "show")
        for kind, label in ((PeriodKind.WEEK, _("Week")), (PeriodKind.MONTH, _("Month")),
                            (PeriodKind.QUARTER, _("Quarter")))
        if kind is not period.kind
    ))
    # The current week, month or quarter so far (a range's: the current week).
    current = Period.containing(PeriodKind.WEEK if period.kind is PeriodKind.RANGE else period.kind, now, tz)
    if current != period:
        kinds.append(stats_button(_("⏳ {period} so far").format(period=str(current)), current, scope, "show"))
    exports = row(
        stats_button(_("📈 Chart"), period, scope, "chart"),
        stats_button("CSV", period, scope, "csv"),
        stats_button("Excel", period, scope, "xlsx"),
        stats_button("ℹ️", period, scope, "legend"),
    )
    scopes = [s for s in child_scopes(scope, grids) if scope_allowed(s, grants, grids)][:MAX_SCOPE_BUTTONS]
    parent = parent_scope(scope, grids)
    scope_buttons = row(*(stats_button(scope_name(s, names), period, s, "show") for s in scopes))
    if parent is not None and scope_allowed(parent, grants, grids):
        scope_buttons.insert(0, stats_button("⬆ " + scope_name(parent, names), period, parent, "show"))
    rows = [navigation, kinds, exports] + [scope_buttons[i:i + 3] for i in range(0, len(scope_buttons), 3)]
    console = console_view(settings.console_url, "figures", period=str(period), level=scope.level.value,
                           name=scope.name)
    return with_console(InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r]), console)


async def stats_command(message: Message, command: CommandObject, db: Storage, grants: list[RoleGrant],
                        settings: Settings, clock, lang: str) -> None:
    now = clock()
    period = Period.last_full(PeriodKind.WEEK, now, settings.timezone)
    if command.args:
        try:
            period = Period.parse(command.args)
        except PeriodError as error:
            await message.answer(period_error_text(error))
            return
        if not started(period, now, settings):
            await message.answer(_("{period} has not started yet.").format(period=str(period)))
            return
    await send_report(message, db, grants, settings, lang, period, widest_scope(grants), now)


async def send_report(message: Message, db: Storage, grants: list[RoleGrant], settings: Settings, lang: str,
                      period: Period, scope: Scope, now: int) -> None:
    await message.answer(
        await report_text(db, settings, period, scope, lang, escape, now),
        reply_markup=report_keyboard(period, scope, now, settings, grants, await db.list_grids()),
    )


def button_view(callback_data: StatsCb, grants: list[RoleGrant], grids: list[Grid], now: int,
                settings: Settings) -> tuple[Period, Scope] | None:
    """The period and scope a button asks for, or None if it is not valid (any more) for this
    user: forged, out of range, not started, or a scope that is gone or not theirs."""
    try:
        period = Period.parse(callback_data.period)
        scope = Scope(ScopeLevel(callback_data.level), callback_data.name)
    except ValueError:
        return None
    if (callback_data.action not in ACTIONS or not started(period, now, settings)
            or not scope_exists(scope, grids) or not scope_allowed(scope, grants, grids)):
        return None
    return period, scope


async def stats_view(query: CallbackQuery, callback_data: StatsCb, db: Storage, grants: list[RoleGrant],
                     settings: Settings, clock, lang: str) -> None:
    grids = await db.list_grids()
    now = clock()
    view = button_view(callback_data, grants, grids, now, settings)
    if view is None:
        await query.answer(_("This button is not valid (any more) or not meant for you."), show_alert=True)
        return
    period, scope = view
    await query.answer()
    if callback_data.action == "show":
        await send_report(query.message, db, grants, settings, lang, period, scope, now)
        return
    if callback_data.action == "legend":
        await query.message.answer(legend_text())
        return
    title = scope_name(scope, {g.code: g.name for g in grids})
    filename = export_filename(period, scope)
    if callback_data.action == "chart":
        report = await load_period_report(db, settings, period, scope, now)
        png = await chart_png(db, settings, report, title)
        await query.message.answer_photo(BufferedInputFile(png, filename=filename + ".png"),
                                         caption=chart_caption(report, title))
        return
    export = await load_export(db, settings, period, scope, lang, now)
    buffer = io.BytesIO()
    if callback_data.action == "csv":
        count, extension = write_tickets_csv(buffer, export, settings), ".csv"
    else:
        # Writing a large workbook takes a while: off the event loop.
        count = await asyncio.to_thread(write_export_xlsx, buffer, export, settings, title)
        extension = ".xlsx"
    caption = _("{count} tickets received in {period}.").format(count=count, period=str(period))
    if not export.report.final:
        caption += "\n" + _("⏳ So far: the period is not over and these figures will change.")
    await query.message.answer_document(BufferedInputFile(buffer.getvalue(), filename=filename + extension),
                                        caption=caption)


def build_router() -> Router:
    router = Router(name="stats")
    router.message.filter(HasRole(Role.OFFICIAL, Role.ADMIN))
    router.callback_query.filter(HasRole(Role.OFFICIAL, Role.ADMIN))
    router.message.register(stats_command, Command("stats"))
    router.callback_query.register(stats_view, StatsCb.filter())
    return router

"""Routing with returns, supervision and duplicates: a department returns a ticket to the town
command centre (退回); the town command centre and officials list overdue tickets and urge their
holders (/overdue, 催办); staff merge a duplicate into another open ticket of the same grid.

Each handler checks its role here and, in the domain code, that this person may act on that
ticket now: buttons may be forged or pressed days later."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.catalogs import gettext as _
from bot.config import Settings
from bot.texts import deadline_text, grid_line, tier_name, ticket_error_text, urged_recently_text
from domain.models import Role, RoleGrant, Tier
from domain.service import TicketError, TicketService, UrgedRecently
from domain.tickets import format_number, staff_may_handle, supervised_towns
from handlers import keyboards
from handlers.callbacks import MergeCb, OverduePageCb, StaffTicketCb, UrgeCb
from handlers.filters import Has, HasRole, IsStaff
from handlers.common import edit_buttons, show_page, take_note
from handlers.staff import begin_step, handled_ticket, staff_bad_input
from handlers.states import ReturnTicket
from handlers.tickets import finish_card_step
from storage.base import Storage

OVERDUE_PAGE = 10
MERGE_CHOICES = 20
SUPERVISORS = (Role.TOWN, Role.OFFICIAL, Role.ADMIN)


# -- returns (退回) -----------------------------------------------------------------------------------
async def start_return(query: CallbackQuery, callback_data: StaffTicketCb, state: FSMContext, db: Storage,
                       grants: list[RoleGrant], settings: Settings) -> None:
    ticket = await handled_ticket(query, db, grants, callback_data.ticket_id)
    if ticket is None:
        return
    if ticket.tier is not Tier.DEPARTMENT:
        await query.answer(_("Only a department can return a ticket to the town command centre."), show_alert=True)
        return
    await begin_step(query, ticket.id, state, db, grants, ReturnTicket.reason)
    await query.message.answer(
        _("Why is ticket {number} not your department's business? The town command centre reads the reason "
          "and routes it again (or /cancel):").format(number=format_number(settings.ticket_prefix, ticket.id)),
        reply_markup=keyboards.markup([keyboards.cancel_button(ticket.id)]),
    )


async def return_reason(message: Message, state: FSMContext, db: Storage, tickets: TicketService,
                        grants: list[RoleGrant], settings: Settings, clock, lang: str) -> None:
    reason = await take_note(message)
    if reason is None:
        return
    data = await state.get_data()
    await state.clear()
    returned = tickets.return_to_town(data["ticket_id"], message.from_user.id, grants, reason)
    await finish_card_step(message, data, returned, db, settings, grants, lang, clock())


# -- merging duplicates ---------------------------------------------------------------------------
async def choose_merge_target(query: CallbackQuery, callback_data: StaffTicketCb, db: Storage,
                              grants: list[RoleGrant], settings: Settings, lang: str) -> None:
    ticket = await handled_ticket(query, db, grants, callback_data.ticket_id)
    if ticket is None:
        return
    grid = await db.get_grid(ticket.grid_code)
    candidates = [
        t for t in await db.grid_open_tickets(ticket.grid_code, limit=MERGE_CHOICES * 3)
        if t.id != ticket.id and staff_may_handle(grants, t, grid)
    ][:MERGE_CHOICES]
    if not candidates:
        await query.answer(_("There is no other open ticket of this grid that you handle."), show_alert=True)
        return
    await query.answer()
    categories = {c.code: c for c in await db.list_categories()}
    await query.message.answer(
        _("Ticket {number} is a duplicate of which open ticket of {grid}? Its residents will follow that one, "
          "and it closes as merged.").format(
            number=format_number(settings.ticket_prefix, ticket.id), grid=grid_line(grid, ticket.grid_code)
        ),
        reply_markup=keyboards.merge_targets(ticket.id, candidates, settings.ticket_prefix, lang, categories),
    )


async def merge(query: CallbackQuery, callback_data: MergeCb, tickets: TicketService,
                grants: list[RoleGrant]) -> None:
    try:
        await tickets.merge(callback_data.ticket_id, callback_data.into_id, query.from_user.id, grants)
    except TicketError as error:
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    await query.answer()
    await edit_buttons(query, None)  # the confirmation goes out through the outbox, written with the merge


# -- supervision (督办) -----------------------------------------------------------------------------
async def overdue_page(db: Storage, tickets: TicketService, grants: list[RoleGrant], settings: Settings,
                       now: int, page: int):
    """The text and buttons of one page of /overdue."""
    total, items = await db.overdue_tickets(now, supervised_towns(grants), page * OVERDUE_PAGE, OVERDUE_PAGE)
    if not total:
        return _("No ticket in your area is overdue."), None
    pages = (total + OVERDUE_PAGE - 1) // OVERDUE_PAGE
    page = min(page, pages - 1)
    names = {m.telegram_id: m.name for m in await db.list_staff()}
    lines = [_("Overdue tickets in your area: {total} (page {page} of {pages}), the latest first:").format(
        total=total, page=page + 1, pages=pages
    )]
    for ticket in items:
        holders = await tickets.handlers_of(ticket)
        grid = await db.get_grid(ticket.grid_code)
        lines.append(
            "{number} · {grid} · {tier} · {holders} · {late}".format(
                number=format_number(settings.ticket_prefix, ticket.id),
                grid=escape(grid.name if grid else ticket.grid_code),
                tier=tier_name(ticket.tier) + (
                    ": " + escape(ticket.department or "") if ticket.tier is Tier.DEPARTMENT else ""
                ),
                holders=escape("、".join(names.get(h, str(h)) for h in holders)) or _("nobody"),
                late=deadline_text(ticket.resolve_due_at, now),
            )
        )
    lines.append(_("📋 opens a ticket's card; ⏰ urges its holders, at most once an hour per ticket."))
    return "\n".join(lines), keyboards.with_console(keyboards.overdue_page(items, settings.ticket_prefix, page, pages),
                                                   keyboards.console_view(settings.console_url, "tickets", overdue="1"))


async def overdue(message: Message, db: Storage, tickets: TicketService, grants: list[RoleGrant],
                  settings: Settings, clock) -> None:
    text, markup = await overdue_page(db, tickets, grants, settings, clock(), 0)
    await message.answer(text, reply_markup=markup)


async def overdue_turn_page(query: CallbackQuery, callback_data: OverduePageCb, db: Storage, tickets: TicketService,
                            grants: list[RoleGrant], settings: Settings, clock) -> None:
    text, markup = await overdue_page(db, tickets, grants, settings, clock(), callback_data.page)
    await query.answer()
    await show_page(query, text, markup)


async def urge(query: CallbackQuery, callback_data: UrgeCb, tickets: TicketService, grants: list[RoleGrant],
               settings: Settings) -> None:
    number = format_number(settings.ticket_prefix, callback_data.ticket_id)
    try:
        await tickets.urge(callback_data.ticket_id, query.from_user.id, grants)
    except UrgedRecently as error:
        await query.answer(urged_recently_text(number, error.at, settings.timezone), show_alert=True)
        return
    except TicketError as error:
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    await query.answer()  # the outbox confirms the urge, written with it


def build_router() -> Router:
    router = Router(name="supervision")
    router.callback_query.register(start_return, IsStaff(), StaffTicketCb.filter(F.action == "return"))
    router.message.register(return_reason, IsStaff(), StateFilter(ReturnTicket.reason), Has("text"))
    router.message.register(staff_bad_input, IsStaff(), StateFilter(ReturnTicket.reason))
    router.callback_query.register(choose_merge_target, IsStaff(), StaffTicketCb.filter(F.action == "merge"))
    router.callback_query.register(merge, IsStaff(), MergeCb.filter())
    router.message.register(overdue, HasRole(*SUPERVISORS), Command("overdue"))
    router.callback_query.register(overdue_turn_page, HasRole(*SUPERVISORS), OverduePageCb.filter())
    router.callback_query.register(urge, HasRole(*SUPERVISORS), UrgeCb.filter())
    return router

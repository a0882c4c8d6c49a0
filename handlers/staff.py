"""Grid workers and higher tiers: the ticket card's buttons, replies, resolving, handing over, /queue.

Only staff reach this router (a router-level filter); each action still checks in the domain code
that this person may act on this ticket now."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyKeyboardRemove

from bot.catalogs import gettext as _
from bot.config import Settings
from bot.texts import category_name, deadline_summary, status_name, ticket_error_text
from domain.deadlines import is_overdue
from domain.media import MAX_ATTACHMENTS, from_data
from domain.models import RoleGrant, Ticket, Tier
from domain.service import Conflict, NotAllowed, TicketError, TicketService, Unstaffed
from domain.tickets import OPEN_STATUSES, format_number, staff_may_handle
from handlers import keyboards
from handlers.common import (
    checked_media,
    discard_form,
    edit_buttons,
    show_page,
    take_attachment,
    take_caption,
    take_note,
)
from handlers.callbacks import DepartmentCb, HandOverCb, QueuePageCb, StaffTicketCb
from handlers.filters import DoneButton, Has, HasMedia, IsStaff
from handlers.states import Escalate, HandOver, Resolve, StaffReply
from handlers.tickets import finish_card_step, refresh_card
from storage.base import Storage




# Tickets on one page of /queue.
QUEUE_PAGE_SIZE = 10


async def queue_page(db: Storage, grants: list[RoleGrant], settings: Settings, now: int, lang: str,
                     page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of the open tickets this person handles: overdue first, then oldest, with the totals."""
    found = await db.staff_queue_page(grants, now, page * QUEUE_PAGE_SIZE, QUEUE_PAGE_SIZE)
    if found.total == 0:
        return _("Your queue is empty. Well done!"), None
    pages = -(-found.total // QUEUE_PAGE_SIZE)
    if not found.tickets:  # the queue shrank since this page was offered: show its last page
        return await queue_page(db, grants, settings, now, lang, pages - 1)
    categories = {c.code: c for c in await db.list_categories()}
    lines = [
        _("Open tickets: {total}, overdue: {overdue}. Overdue first, then oldest. Page {page} of {pages}:").format(
            total=found.total, overdue=found.overdue, page=page + 1, pages=pages
        )
    ]
    for ticket in found.tickets:
        lines.append(
            "{mark}{number} · {category} · {status} · {deadlines}".format(
                mark="⏰ " if is_overdue(ticket, now) else "",
                number=format_number(settings.ticket_prefix, ticket.id),
                category=escape(category_name(categories.get(ticket.category_code), ticket.category_code, lang)),
                status=status_name(ticket.status),
                deadlines=deadline_summary(ticket, now),
            )
        )
    return "\n".join(lines), keyboards.with_console(keyboards.staff_queue(found.tickets, settings.ticket_prefix, page, pages),
                                                   keyboards.console_view(settings.console_url, "tickets"))


async def queue(message: Message, db: Storage, grants: list[RoleGrant], settings: Settings, clock, lang: str) -> None:
    text, markup = await queue_page(db, grants, settings, clock(), lang, 0)
    await message.answer(text, reply_markup=markup)


async def turn_queue_page(query: CallbackQuery, callback_data: QueuePageCb, db: Storage, grants: list[RoleGrant],
                          settings: Settings, clock, lang: str) -> None:
    text, markup = await queue_page(db, grants, settings, clock(), lang, callback_data.page)
    await query.answer()
    await show_page(query, text, markup)


async def handled_ticket(query: CallbackQuery, db: Storage, grants: list[RoleGrant], ticket_id: int):
    """The ticket if this person may act on it now; otherwise answers the button and returns None."""
    ticket = await db.get_ticket(ticket_id)
    grid = await db.get_grid(ticket.grid_code) if ticket else None
    if ticket is None or grid is None or not staff_may_handle(grants, ticket, grid):
        await query.answer(ticket_error_text(NotAllowed(ticket_id)), show_alert=True)
        return None
    return ticket


async def take(query: CallbackQuery, callback_data: StaffTicketCb, tickets: TicketService, db: Storage,
               grants: list[RoleGrant], settings: Settings, clock, lang: str) -> None:
    try:
        ticket = await tickets.take(callback_data.ticket_id, query.from_user.id, grants)
    except TicketError as error:
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    await query.answer()  # the outbox confirms it, written with the change
    await refresh_card(query.bot, query.message.chat.id, query.message.message_id, db, settings, ticket.id, grants,
                       lang, clock())


async def begin_step(query: CallbackQuery, ticket_id: int, state: FSMContext, db: Storage,
                     grants: list[RoleGrant], step: State, **data) -> Ticket | None:
    """Opens a staff form step about one ticket, if this person may act on it now."""
    ticket = await handled_ticket(query, db, grants, ticket_id)
    if ticket is None:
        return None
    await query.answer()
    await discard_form(query.message, state)  # a form left half-way is dropped openly, not silently
    await state.set_state(step)
    # The card the button is on: it shows the ticket's new state once the step is done.
    await state.update_data(ticket_id=ticket.id, card_message_id=query.message.message_id, **data)
    return ticket


async def start_reply(query: CallbackQuery, callback_data: StaffTicketCb, state: FSMContext, db: Storage,
                      grants: list[RoleGrant], settings: Settings) -> None:
    ask = callback_data.action == "ask"
    ticket = await begin_step(query, callback_data.ticket_id, state, db, grants, StaffReply.text, ask=ask)
    if ticket is None:
        return
    prompt = (
        _("Write your question to the resident on ticket {number}, or send it as a voice message. Its deadlines "
          "pause until they answer (or /cancel):")
        if ask
        else _("Write your reply to the resident on ticket {number}, or send it as a voice message (or /cancel):")
    )
    await query.message.answer(prompt.format(number=format_number(settings.ticket_prefix, ticket.id)))


async def send_reply(message: Message, state: FSMContext, tickets: TicketService, db: Storage,
                     grants: list[RoleGrant], settings: Settings, clock, lang: str) -> None:
    """A reply in words, or a voice message (its caption, if any, goes with it)."""
    voice = None
    if message.voice is not None:
        voice = await checked_media(message)
        text = await take_caption(message)
        if voice is None or text is None:
            return
    else:
        text = await take_note(message)
        if text is None:
            return
    data = await state.get_data()
    await state.clear()
    reply = tickets.reply(data["ticket_id"], message.from_user.id, grants, text, ask=data.get("ask", False),
                          attachments=[voice] if voice else [])
    await finish_card_step(message, data, reply, db, settings, grants, lang, clock())


async def start_resolve(query: CallbackQuery, callback_data: StaffTicketCb, state: FSMContext, db: Storage,
                        grants: list[RoleGrant], settings: Settings) -> None:
    ticket = await handled_ticket(query, db, grants, callback_data.ticket_id)
    if ticket is None:
        return
    if ticket.status not in OPEN_STATUSES:
        await query.answer(ticket_error_text(Conflict(ticket.id)), show_alert=True)
        return
    await query.answer()
    await discard_form(query.message, state)  # a form left half-way is dropped openly, not silently
    await state.set_state(Resolve.note)
    await state.update_data(ticket_id=ticket.id, attachments=[], card_message_id=query.message.message_id)
    await query.message.answer(
        _("How was ticket {number} resolved? Write a short note for the resident (required).").format(
            number=format_number(settings.ticket_prefix, ticket.id)
        )
    )


async def resolve_note(message: Message, state: FSMContext) -> None:
    text = await take_note(message)
    if text is None:
        return
    await state.update_data(note=text)
    await state.set_state(Resolve.photos)
    await message.answer(
        _("You may add up to {max} “after” photos, videos or voice messages. Tap “Done” to finish.").format(
            max=MAX_ATTACHMENTS),
        reply_markup=keyboards.resolve_photos_done(),
    )


async def resolve_media(message: Message, state: FSMContext) -> None:
    await take_attachment(message, state, MAX_ATTACHMENTS)


async def resolve_done(message: Message, state: FSMContext, tickets: TicketService, db: Storage,
                       grants: list[RoleGrant], settings: Settings, clock, lang: str) -> None:
    data = await state.get_data()
    await state.clear()
    after = from_data(data.get("attachments", []))
    resolve = tickets.resolve(data["ticket_id"], message.from_user.id, grants, data["note"], after)
    # A refusal also takes away the "Done" keyboard of the resolution form.
    await finish_card_step(message, data, resolve, db, settings, grants, lang, clock(),
                           error_markup=ReplyKeyboardRemove())


async def staff_bad_input(message: Message) -> None:
    await message.answer(_("Please send text (or photos, videos and voice messages where asked), or /cancel."))


async def choose_handover(query: CallbackQuery, callback_data: StaffTicketCb, db: Storage,
                          grants: list[RoleGrant]) -> None:
    ticket = await handled_ticket(query, db, grants, callback_data.ticket_id)
    if ticket is None:
        return
    if ticket.tier is not Tier.GRID:
        await query.answer(_("Only tickets at the grid tier can be handed to another grid."), show_alert=True)
        return
    grid = await db.get_grid(ticket.grid_code)
    # Neighbouring grids: the same town, nearest in the list first by village.
    targets = [g for g in await db.list_grids() if g.town == grid.town and g.code != grid.code]
    targets.sort(key=lambda g: (g.village != grid.village, g.village, g.code))
    if not targets:
        await query.answer(_("There is no other grid to hand over to."), show_alert=True)
        return
    await query.answer()
    # Answering the card, so that the step knows which card to refresh when it is done.
    await query.message.reply(_("Hand over to which grid?"), allow_sending_without_reply=True,
                              reply_markup=keyboards.hand_over_targets(ticket.id, targets[:20]))


async def choose_handover_target(query: CallbackQuery, callback_data: HandOverCb, state: FSMContext, db: Storage,
                                 tickets: TicketService, grants: list[RoleGrant], settings: Settings) -> None:
    try:  # a forged or stale button is refused now, not after the reason is written
        await tickets.hand_over_target(callback_data.ticket_id, grants, callback_data.grid_code)
    except TicketError as error:
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    ticket = await begin_step(query, callback_data.ticket_id, state, db, grants, HandOver.reason,
                              grid_code=callback_data.grid_code)
    if ticket is None:
        return
    # The card is the message the picker answers (Telegram says which); without it none is refreshed.
    card = query.message.reply_to_message if isinstance(query.message, Message) else None
    await state.update_data(card_message_id=card.message_id if card else None)
    await edit_buttons(query, None)
    await query.message.answer(
        _("Why does ticket {number} belong to another grid? Write the reason (or /cancel):").format(
            number=format_number(settings.ticket_prefix, ticket.id)
        )
    )


async def hand_over(message: Message, state: FSMContext, tickets: TicketService, db: Storage,
                    grants: list[RoleGrant], settings: Settings, clock, lang: str) -> None:
    reason = await take_note(message)
    if reason is None:
        return
    data = await state.get_data()
    await state.clear()
    hand_over = tickets.hand_over(data["ticket_id"], message.from_user.id, grants, data["grid_code"], reason)
    await finish_card_step(message, data, hand_over, db, settings, grants, lang, clock())


async def cancel_step(query: CallbackQuery, callback_data: StaffTicketCb, state: FSMContext) -> None:
    """✖️ under a picker: drops the form about this ticket, if it is still open, and the buttons."""
    if (await state.get_data()).get("ticket_id") == callback_data.ticket_id:
        await state.clear()
    await query.answer()
    await edit_buttons(query, None)
    if query.message is not None:
        await query.message.answer(_("Cancelled. Nothing was changed."))


async def start_escalate(query: CallbackQuery, callback_data: StaffTicketCb, state: FSMContext, db: Storage,
                         grants: list[RoleGrant], settings: Settings) -> None:
    ticket = await begin_step(query, callback_data.ticket_id, state, db, grants, Escalate.reason)
    if ticket is None:
        return
    await query.message.answer(
        _("Why does ticket {number} need the next tier? Write the reason (or /cancel):").format(
            number=format_number(settings.ticket_prefix, ticket.id)
        )
    )


async def escalate_reason(message: Message, state: FSMContext, db: Storage, tickets: TicketService,
                          grants: list[RoleGrant], settings: Settings, clock, lang: str) -> None:
    reason = await take_note(message)
    if reason is None:
        return
    data = await state.get_data()
    ticket_id = data["ticket_id"]
    ticket = await db.get_ticket(ticket_id)
    if ticket is not None and ticket.tier is Tier.TOWN:
        # The town command centre routes the ticket to a department that can receive it; the form
        # keeps the names offered, so a button means what it said when it was pressed.
        staffed, unstaffed = await tickets.routable_departments()
        await state.update_data(reason=reason, departments=staffed)
        text = _("Which department should handle it?") if staffed else _("No department can receive tickets now.")
        if unstaffed:
            text += "\n" + _("Without staff who can receive tickets (not offered): {names}").format(
                names=escape("、".join(unstaffed))
            )
        await message.answer(text, reply_markup=keyboards.departments(ticket_id, staffed))
        return
    await state.clear()
    await finish_card_step(message, data, tickets.escalate(ticket_id, message.from_user.id, grants, reason),
                           db, settings, grants, lang, clock())


async def route_to_department(query: CallbackQuery, callback_data: DepartmentCb, state: FSMContext, db: Storage,
                              tickets: TicketService, grants: list[RoleGrant], settings: Settings, clock,
                              lang: str) -> None:
    data = await state.get_data()
    names = data.get("departments", [])
    if data.get("ticket_id") != callback_data.ticket_id or not 0 <= callback_data.index < len(names):
        await query.answer(_("This button is not valid (any more) or not meant for you."), show_alert=True)
        return
    try:
        ticket = await tickets.escalate(callback_data.ticket_id, query.from_user.id, grants, data["reason"],
                                        names[callback_data.index])
    except Unstaffed as error:  # the department's staff left since the picker was shown
        await query.answer(
            ticket_error_text(error) + " " + _("The ticket stays with the town command centre."), show_alert=True
        )
        return
    except TicketError as error:
        await state.clear()
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    await state.clear()
    await query.answer()
    await edit_buttons(query, None)
    await refresh_card(query.bot, query.message.chat.id, data.get("card_message_id"), db, settings, ticket.id, grants,
                       lang, clock())


def build_router() -> Router:
    router = Router(name="staff")
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())
    router.message.register(queue, Command("queue"))
    router.callback_query.register(turn_queue_page, QueuePageCb.filter())
    router.callback_query.register(take, StaffTicketCb.filter(F.action == "take"))
    router.callback_query.register(start_reply, StaffTicketCb.filter(F.action.in_({"reply", "ask"})))
    router.callback_query.register(start_escalate, StaffTicketCb.filter(F.action == "escalate"))
    router.message.register(escalate_reason, StateFilter(Escalate.reason), Has("text"))
    router.callback_query.register(route_to_department, StateFilter(Escalate.reason), DepartmentCb.filter())
    router.message.register(send_reply, StateFilter(StaffReply.text), Has("text"))
    router.message.register(send_reply, StateFilter(StaffReply.text), Has("voice"))
    router.callback_query.register(start_resolve, StaffTicketCb.filter(F.action == "resolve"))
    router.message.register(resolve_note, StateFilter(Resolve.note), Has("text"))
    router.message.register(resolve_media, StateFilter(Resolve.photos), HasMedia())
    router.message.register(resolve_done, StateFilter(Resolve.photos), DoneButton())
    router.message.register(staff_bad_input, StateFilter(Resolve.note))
    router.message.register(staff_bad_input, StateFilter(Resolve.photos))
    router.message.register(staff_bad_input, StateFilter(StaffReply.text))
    router.message.register(staff_bad_input, StateFilter(Escalate.reason))
    router.callback_query.register(choose_handover, StaffTicketCb.filter(F.action == "handover"))
    router.callback_query.register(choose_handover_target, HandOverCb.filter())
    router.message.register(hand_over, StateFilter(HandOver.reason), Has("text"))
    router.message.register(staff_bad_input, StateFilter(HandOver.reason))
    router.callback_query.register(cancel_step, StaffTicketCb.filter(F.action == "cancel"))
    return router

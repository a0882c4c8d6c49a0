"""Opening a ticket: the staff card (the same as the pushed one, with attachments and location), /t to
open any ticket in one's scope, internal notes (📝), and refreshing a card after an action."""

from __future__ import annotations

from collections.abc import Awaitable

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.cards import TicketCard, media_method, resident_view, staff_card_whole
from bot.catalogs import gettext as _
from bot.config import Settings
from bot.texts import split_message, ticket_error_text
from domain.board import reviews
from domain.media import sending_parts
from domain.models import RoleGrant, Ticket
from domain.service import NotAllowed, TicketError, TicketService
from domain.tickets import TICKET_NUMBER, format_number, staff_may_handle, staff_may_view
from handlers import keyboards
from handlers.callbacks import ResidentTicketCb, StaffTicketCb
from handlers.common import discard_form, take_note
from handlers.filters import Has
from handlers.resident import concerns, show_ticket
from handlers.states import InternalNote
from storage.base import Storage



async def staff_card(db: Storage, settings: Settings, ticket: Ticket, grants: list[RoleGrant], lang: str,
                     now: int) -> tuple[TicketCard, InlineKeyboardMarkup]:
    """The card as this person may see it, with the buttons they may use; the call-back number
    only for those who may act on the ticket now."""
    grid = await db.get_grid(ticket.grid_code)
    holder = grid is not None and staff_may_handle(grants, ticket, grid)
    card = await staff_card_whole(db, settings, ticket, lang, now, holder)
    return card, keyboards.staff_ticket(ticket, handles=holder, shortened=card.shortened,
                                        moderates=reviews(grants, ticket, grid, settings.board))


async def send_staff_card(bot: Bot, chat_id: int, db: Storage, settings: Settings, ticket: Ticket,
                          grants: list[RoleGrant], lang: str, now: int) -> None:
    """The card as it is pushed: attachments, location, then the text with the buttons this person may use."""
    for part in sending_parts(ticket.attachments):
        await bot(media_method(chat_id, part))
    if ticket.lat is not None and ticket.lon is not None:
        await bot.send_location(chat_id, latitude=ticket.lat, longitude=ticket.lon)
    card, markup = await staff_card(db, settings, ticket, grants, lang, now)
    await bot.send_message(chat_id, card.text, reply_markup=markup)


async def refresh_card(bot: Bot, chat_id: int, message_id: int | None, db: Storage, settings: Settings,
                       ticket_id: int, grants: list[RoleGrant], lang: str, now: int) -> None:
    """After an action, the card it was taken on shows the ticket as it is now (text and buttons)."""
    ticket = await db.get_ticket(ticket_id)
    if message_id is None or ticket is None:
        return
    card, markup = await staff_card(db, settings, ticket, grants, lang, now)
    text = card.text
    try:
        await bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup)
    except TelegramBadRequest as error:
        # The action is done either way. A card Telegram will not edit (older than 48 hours, or
        # gone) comes anew, as with `handlers.common.edit_buttons`; an unchanged one stays.
        if "not modified" not in error.message:
            await bot.send_message(chat_id, text, reply_markup=markup)


async def finish_card_step(message: Message, data: dict, action: Awaitable[object], db: Storage, settings: Settings,
                           grants: list[RoleGrant], lang: str, now: int, error_markup=None) -> None:
    """Ends a staff step begun on a ticket's card (`data` holds ticket_id and card_message_id): does
    the action, whose confirmation the outbox sends with the change, answers a refusal, and shows the
    card as it is now."""
    try:
        await action
    except TicketError as error:
        await message.answer(ticket_error_text(error), reply_markup=error_markup)
        return
    await refresh_card(message.bot, message.chat.id, data.get("card_message_id"), db, settings, data["ticket_id"],
                       grants, lang, now)


async def viewable(db: Storage, ticket_id: int, grants: list[RoleGrant]) -> Ticket | None:
    ticket = await db.get_ticket(ticket_id)
    if ticket is None or not staff_may_view(grants, ticket, await db.get_grid(ticket.grid_code)):
        return None
    return ticket


async def open_ticket(message: Message, command: CommandObject, db: Storage, grants: list[RoleGrant],
                      settings: Settings, clock, lang: str) -> None:
    match = TICKET_NUMBER.fullmatch((command.args or "").strip())
    if match is None:
        await message.answer(_("Send the ticket's number, for example /t {number} or /t 123.").format(
            number=format_number(settings.ticket_prefix, 123)
        ))
        return
    ticket_id = int(match.group(2))
    number = format_number(settings.ticket_prefix, ticket_id)
    prefix = match.group(1)
    ticket = None if prefix and prefix.upper() != settings.ticket_prefix.upper() else await db.get_ticket(ticket_id)
    user_id = message.from_user.id
    if ticket is not None and await viewable(db, ticket.id, grants):
        await send_staff_card(message.bot, message.chat.id, db, settings, ticket, grants, lang, clock())
    elif ticket is not None and await concerns(db, ticket, user_id):
        await show_ticket(message, db, settings, ticket, user_id, lang)
    else:
        # The same answer whether it exists or not: numbers of others' tickets are not revealed.
        await message.answer(
            _("You cannot open ticket {number}: it is not yours, not one you follow, and not in your area.").format(
                number=number
            )
        )


async def send_whole(query: CallbackQuery, text: str) -> None:
    """A card's whole text, for its 📄 button, in as many messages as it takes."""
    for part in split_message(text):
        await query.bot.send_message(query.from_user.id, part)


async def view(query: CallbackQuery, callback_data: StaffTicketCb, db: Storage, grants: list[RoleGrant],
               settings: Settings, clock, lang: str) -> None:
    """📋 sends the card as it is pushed; 📄 the whole card, every note in full, in as many
    messages as it takes."""
    ticket = await viewable(db, callback_data.ticket_id, grants)
    if ticket is None:
        await query.answer(ticket_error_text(NotAllowed(callback_data.ticket_id)), show_alert=True)
        return
    await query.answer()
    if callback_data.action == "full":
        await send_whole(query, (await staff_card(db, settings, ticket, grants, lang, clock()))[0].whole)
        return
    await send_staff_card(query.bot, query.message.chat.id, db, settings, ticket, grants, lang, clock())


async def resident_full_text(query: CallbackQuery, callback_data: ResidentTicketCb, db: Storage,
                             grants: list[RoleGrant], settings: Settings, clock, lang: str) -> None:
    """📄 under a ticket as a resident reads it: its whole text for the filer or a follower (as they
    read it); staff of the area get their card's whole text, as from /t; anyone else nothing."""
    ticket = await db.get_ticket(callback_data.ticket_id)
    user_id = query.from_user.id
    if ticket is not None and await concerns(db, ticket, user_id):
        whole = (await resident_view(db, settings, ticket, user_id, lang)).whole
    elif ticket is not None and await viewable(db, ticket.id, grants):
        whole = (await staff_card(db, settings, ticket, grants, lang, clock()))[0].whole
    else:
        await query.answer(ticket_error_text(NotAllowed(callback_data.ticket_id)), show_alert=True)
        return
    await query.answer()
    await send_whole(query, whole)


async def start_note(query: CallbackQuery, callback_data: StaffTicketCb, state: FSMContext, db: Storage,
                     grants: list[RoleGrant], settings: Settings) -> None:
    ticket = await viewable(db, callback_data.ticket_id, grants)
    if ticket is None:
        await query.answer(ticket_error_text(NotAllowed(callback_data.ticket_id)), show_alert=True)
        return
    await query.answer()
    await discard_form(query.message, state)
    await state.set_state(InternalNote.text)
    await state.update_data(ticket_id=ticket.id, card_message_id=query.message.message_id)
    await query.message.answer(
        _("Write an internal note on ticket {number}. Only staff see it, never the resident (or /cancel):").format(
            number=format_number(settings.ticket_prefix, ticket.id)
        )
    )


async def save_note(message: Message, state: FSMContext, db: Storage, tickets: TicketService,
                    grants: list[RoleGrant], settings: Settings, clock, lang: str) -> None:
    text = await take_note(message)
    if text is None:
        return
    data = await state.get_data()
    await state.clear()
    await finish_card_step(message, data, tickets.add_note(data["ticket_id"], message.from_user.id, grants, text),
                           db, settings, grants, lang, clock())


async def note_expects_text(message: Message) -> None:
    await message.answer(_("Please write the note as text, or send /cancel."))


def build_router() -> Router:
    router = Router(name="tickets")
    router.message.register(open_ticket, Command("t"))
    router.callback_query.register(view, StaffTicketCb.filter(F.action.in_({"view", "full"})))
    router.callback_query.register(resident_full_text, ResidentTicketCb.filter(F.action == "full"))
    router.callback_query.register(start_note, StaffTicketCb.filter(F.action == "note"))
    router.message.register(save_note, StateFilter(InternalNote.text), Has("text"))
    router.message.register(note_expects_text, StateFilter(InternalNote.text))
    return router

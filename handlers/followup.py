"""Call-backs (回电) and return visits (回访).

A resident asks to be called back from the form's summary and shares their own number with
Telegram's contact button (never a typed number, never someone else's contact); staff record a
call (已电话联系) from the card; the village or town records the outcome of a return visit."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.filters import StateFilter
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove

from bot.catalogs import gettext as _
from bot.config import Settings
from bot.texts import ticket_error_text, visit_outcome_name
from domain.models import RoleGrant, VisitOutcome
from domain.service import TicketError, TicketService
from domain.tickets import callback_number, format_number
from handlers import keyboards
from handlers.callbacks import FormCb, StaffTicketCb, VisitCb
from handlers.common import discard_form, edit_buttons, take_note
from handlers.filters import NO_CALL_MSGID, Has, IsStaff, ReplyButton
from handlers.resident import summary
from handlers.staff import begin_step
from handlers.states import PhoneCall, TicketForm, VisitNote
from handlers.tickets import finish_card_step, note_expects_text
from storage.base import Storage


# -- the resident asks to be called back ----------------------------------------------------------
async def ask_for_number(query: CallbackQuery, state: FSMContext, settings: Settings) -> None:
    """📞 on the summary: asks for the number, or, when one was given, takes it back."""
    data = await state.get_data()
    if data.get("callback_phone"):
        await state.update_data(callback_phone=None)
        await query.answer(_("Nobody will call you about this report; your number was removed."))
        await edit_buttons(query, keyboards.confirm(data.get("share", False), False), _("Please check your report."))
        return
    await query.answer()
    await state.set_state(TicketForm.callback)
    await query.message.answer(
        _("To be called back, tap “📱 Share my phone number” below: Telegram sends your own number. "
          "Only the staff handling your report see it, and it is erased {days} days after the report "
          "is closed.").format(days=settings.phone_retention_days),
        reply_markup=keyboards.share_phone(),
    )


async def back_to_summary(message: Message, state: FSMContext, db: Storage, lang: str, said: str) -> None:
    await state.set_state(TicketForm.confirm)
    data = await state.get_data()
    await message.answer(said, reply_markup=ReplyKeyboardRemove())
    await message.answer(await summary(data, db, lang),
                         reply_markup=keyboards.confirm(data.get("share", False), bool(data.get("callback_phone"))))


async def take_number(message: Message, state: FSMContext, db: Storage, lang: str) -> None:
    contact = message.contact
    # Only the sender's own number, as the contact button sends it: not a contact forwarded or
    # picked from the address book, whose user_id is someone else's or missing.
    phone = callback_number(contact.phone_number) if contact.user_id == message.from_user.id else None
    if phone is None:
        await message.answer(_("Please share your own number with the button below, or tap “↩️ Back, no call”."),
                             reply_markup=keyboards.share_phone())
        return
    await state.update_data(callback_phone=phone)
    await back_to_summary(message, state, db, lang, _("Thank you: the staff handling your report will call you back."))


async def no_call(message: Message, state: FSMContext, db: Storage, lang: str) -> None:
    await back_to_summary(message, state, db, lang, _("No call-back: nobody will call you about this report."))


async def number_expected(message: Message) -> None:
    # A typed number could be anyone's: only the contact button's is taken.
    await message.answer(_("Please tap “📱 Share my phone number” below (typed numbers are not taken), "
                           "or “↩️ Back, no call”."), reply_markup=keyboards.share_phone())


# -- staff record a call --------------------------------------------------------------------------
async def start_call_note(query: CallbackQuery, callback_data: StaffTicketCb, state: FSMContext, db: Storage,
                          grants: list[RoleGrant], settings: Settings) -> None:
    ticket = await begin_step(query, callback_data.ticket_id, state, db, grants, PhoneCall.note)
    if ticket is None:
        return
    await query.message.answer(
        _("You called the resident of ticket {number}. Write what was said, for staff (or /cancel):").format(
            number=format_number(settings.ticket_prefix, ticket.id)
        )
    )


async def save_call_note(message: Message, state: FSMContext, db: Storage, tickets: TicketService,
                         grants: list[RoleGrant], settings: Settings, clock, lang: str) -> None:
    note = await take_note(message)
    if note is None:
        return
    data = await state.get_data()
    await state.clear()
    await finish_card_step(message, data, tickets.phoned(data["ticket_id"], message.from_user.id, grants, note),
                           db, settings, grants, lang, clock())


# -- return visits --------------------------------------------------------------------------------
async def choose_visit_outcome(query: CallbackQuery, callback_data: VisitCb, state: FSMContext,
                               tickets: TicketService, grants: list[RoleGrant], settings: Settings) -> None:
    outcomes = list(VisitOutcome)
    if callback_data.outcome >= len(outcomes):
        await query.answer(_("This button is not valid (any more) or not meant for you."), show_alert=True)
        return
    try:  # refused now, not after the note is written: another's visit, or one recorded already
        visit = await tickets.visit_to_record(callback_data.visit_id, grants)
    except TicketError as error:
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    outcome = outcomes[callback_data.outcome]
    await query.answer()
    await discard_form(query.message, state)
    await state.set_state(VisitNote.note)
    await state.update_data(visit_id=visit.id, outcome=outcome.value)
    await query.message.answer(
        _("Return visit for ticket {number}: {outcome}. Write a short note on what the resident said (or /cancel):").format(
            number=format_number(settings.ticket_prefix, visit.ticket_id), outcome=visit_outcome_name(outcome)
        )
    )


async def save_visit(message: Message, state: FSMContext, tickets: TicketService, grants: list[RoleGrant]) -> None:
    note = await take_note(message)
    if note is None:
        return
    data = await state.get_data()
    await state.clear()
    try:  # the confirmation comes through the outbox with the change (NOTICE_DONE)
        await tickets.record_visit(data["visit_id"], message.from_user.id, grants, VisitOutcome(data["outcome"]), note)
    except TicketError as error:
        await message.answer(ticket_error_text(error))


def build_router() -> Router:
    router = Router(name="followup")
    router.callback_query.register(ask_for_number, StateFilter(TicketForm.confirm, TicketForm.callback),
                                   FormCb.filter(F.action == "callback"))
    router.message.register(take_number, StateFilter(TicketForm.callback), Has("contact"))
    router.message.register(no_call, StateFilter(TicketForm.callback), ReplyButton(NO_CALL_MSGID))
    router.message.register(number_expected, StateFilter(TicketForm.callback))
    staff = Router(name="followup_staff")
    staff.message.filter(IsStaff())
    staff.callback_query.filter(IsStaff())
    staff.callback_query.register(start_call_note, StaffTicketCb.filter(F.action == "phoned"))
    staff.message.register(save_call_note, StateFilter(PhoneCall.note), Has("text"))
    staff.callback_query.register(choose_visit_outcome, VisitCb.filter())
    staff.message.register(save_visit, StateFilter(VisitNote.note), Has("text"))
    staff.message.register(note_expects_text, StateFilter(PhoneCall.note))
    staff.message.register(note_expects_text, StateFilter(VisitNote.note))
    router.include_router(staff)
    return router

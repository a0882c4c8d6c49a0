"""The resident's form (kind → category → "me too" → description → confirm), /my, and answers,
confirmations, reopening and ratings on their tickets."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove

from bot.catalogs import gettext as _
from bot.config import Settings
from bot.cards import resident_view
from bot.texts import (
    category_name,
    format_age,
    grid_line,
    kind_name,
    media_summary,
    status_name,
    ticket_error_text,
)
from domain.media import MAX_ATTACHMENTS, counts, from_data, spoken
from domain.models import Kind, Status, Ticket
from domain.service import Conflict, Draft, TicketError, TicketService
from domain.text import clean_text, clip, telegram_length
from domain.tickets import MAX_DESCRIPTION, OPEN_STATUSES, PUBLIC_KINDS, format_number, mask_personal
from handlers import keyboards
from handlers.common import (
    discard_form,
    edit_buttons,
    first_of_album,
    no_visible_text,
    take_attachment,
    take_caption,
    take_location,
    take_note,
    within_note_limit,
)
from handlers.filters import DoneButton, Has, HasMedia
from handlers.callbacks import CategoryCb, FormCb, KindCb, MeTooCb, RateCb, ResidentTicketCb
from handlers.states import RatingComment, Reopen, ResidentAnswer, TicketForm, Withdraw
from storage.base import Storage


# Characters of another resident's ticket shown in the "me too" list.
ME_TOO_PREVIEW = 80


# -- /my and a ticket's history -------------------------------------------------------------------
async def my_tickets(message: Message, db: Storage, settings: Settings, clock) -> None:
    tickets = await db.resident_tickets(message.from_user.id)
    if not tickets:
        await message.answer(_("You have no tickets yet. Scan your grid's QR code or send /start."))
        return
    now = clock()
    lines = [_("Your tickets:")]
    for ticket in tickets:
        lines.append(
            _("{number} · {status} · {age}").format(
                number=format_number(settings.ticket_prefix, ticket.id),
                status=status_name(ticket.status),
                age=format_age(now - ticket.created_at),
            )
        )
    await message.answer(
        "\n".join(lines), reply_markup=keyboards.resident_tickets(tickets, settings.ticket_prefix)
    )


async def view_ticket(
    query: CallbackQuery, callback_data: ResidentTicketCb, db: Storage, settings: Settings, lang: str
) -> None:
    ticket = await db.get_ticket(callback_data.ticket_id)
    if ticket is None or not await concerns(db, ticket, query.from_user.id):
        await query.answer(_("This ticket is not yours."), show_alert=True)
        return
    await query.answer()
    await show_ticket(query.message, db, settings, ticket, query.from_user.id, lang)


async def show_ticket(message: Message, db: Storage, settings: Settings, ticket: Ticket, viewer_id: int,
                      lang: str) -> None:
    """A ticket as a resident reads it (from /my or /t), with the buttons the filer may use now."""
    view = await resident_view(db, settings, ticket, viewer_id, lang)
    await message.answer(view.text, reply_markup=keyboards.resident_ticket(ticket, ticket.resident_id == viewer_id,
                                                                           view.shortened))


async def concerns(db: Storage, ticket: Ticket, user_id: int) -> bool:
    return ticket.resident_id == user_id or user_id in await db.followers(ticket.id)


# -- the form -------------------------------------------------------------------------------------
async def pick_kind(query: CallbackQuery, callback_data: KindCb, state: FSMContext, db: Storage, lang: str) -> None:
    await state.update_data(kind=callback_data.kind)
    await state.set_state(TicketForm.category)
    await query.answer()
    await query.message.answer(
        _("{kind}: which area is it about?").format(kind=kind_name(Kind(callback_data.kind))),
        reply_markup=keyboards.categories(await db.list_categories(), lang),
    )


async def pick_category(
    query: CallbackQuery, callback_data: CategoryCb, state: FSMContext, db: Storage, settings: Settings
) -> None:
    category = await db.get_category(callback_data.code)
    if category is None:
        await query.answer(_("This category no longer exists; please choose another."), show_alert=True)
        return
    await query.answer()
    await state.update_data(category=category.code)
    data = await state.get_data()
    # Their own tickets are not "already reported by others": they would follow themselves.
    open_tickets = [t for t in await db.open_tickets(data["grid"], category.code)
                    if t.resident_id != query.from_user.id]
    if open_tickets:
        await state.set_state(TicketForm.duplicates)
        lines = [_("These problems are already reported in your grid. Is yours one of them?")]
        for ticket in open_tickets:
            preview = (clip(mask_personal(" ".join(ticket.description.split())), ME_TOO_PREVIEW)
                       or _("(told in a voice message)"))
            lines.append(
                _("{number} ({count} residents): {text}").format(
                    number=format_number(settings.ticket_prefix, ticket.id),
                    count=ticket.concerned_residents,
                    text=escape(preview),
                )
            )
        await query.message.answer(
            "\n".join(lines), reply_markup=keyboards.duplicates(open_tickets, settings.ticket_prefix)
        )
        return
    await ask_description(query.message, state)


async def ask_description(message: Message, state: FSMContext) -> None:
    await state.set_state(TicketForm.description)
    await state.update_data(text="", attachments=[], lat=None, lon=None, warned_albums=[])
    await message.answer(
        _(
            "Describe the problem: what, where and since when, in words or as a voice message. You can add "
            "up to {max} photos, videos and voice messages, and your location. Tap “Done” when finished."
        ).format(max=MAX_ATTACHMENTS),
        reply_markup=keyboards.description_done(),
    )


async def me_too(
    query: CallbackQuery, callback_data: MeTooCb, state: FSMContext, db: Storage,
    tickets: TicketService, settings: Settings,
) -> None:
    data = await state.get_data()
    ticket = await db.get_ticket(callback_data.ticket_id)
    # Only a ticket that was offered: public, of the same grid and category as this form.
    if (ticket is None or ticket.kind not in PUBLIC_KINDS
            or (ticket.grid_code, ticket.category_code) != (data.get("grid"), data.get("category"))):
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    try:
        ticket = await tickets.follow(ticket.id, query.from_user.id)
    except TicketError as error:
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    await state.clear()
    await query.answer()  # what they now follow comes from the outbox (NOTICE_DONE), as for every change


async def not_a_duplicate(query: CallbackQuery, state: FSMContext) -> None:
    await query.answer()
    await ask_description(query.message, state)


async def add_media(message: Message, state: FSMContext) -> None:
    attachments = await take_attachment(message, state, MAX_ATTACHMENTS)
    if attachments is None:
        return
    if clean_text(message.caption):
        text = join_text((await state.get_data())["text"], message.caption)
        if telegram_length(text) > MAX_DESCRIPTION:
            await message.answer(too_long_text(telegram_length(text)))
        else:
            await state.update_data(text=text)
    if message.media_group_id is None:
        await message.answer(_("Attachment {count} of {max} added.").format(count=len(attachments), max=MAX_ATTACHMENTS))


def join_text(old: str, new: str) -> str:
    return clean_text(old + "\n" + clean_text(new))


def too_long_text(length: int) -> str:
    return _(
        "That is too long: the description may have at most {max} characters, this would be {length}. "
        "Please send it shorter."
    ).format(max=MAX_DESCRIPTION, length=length)


async def add_location(message: Message, state: FSMContext) -> None:
    point = await take_location(message)
    if point is None:
        return
    await state.update_data(lat=point[0], lon=point[1])
    await message.answer(_("Location added."))


async def description_done(message: Message, state: FSMContext, db: Storage, lang: str) -> None:
    data = await state.get_data()
    if not data["text"] and not spoken(from_data(data["attachments"])):
        await message.answer(_("Please describe the problem in words or as a voice message first."))
        return
    await state.set_state(TicketForm.confirm)
    await state.update_data(share=False)
    await message.answer(_("Please check your report."), reply_markup=ReplyKeyboardRemove())
    await message.answer(await summary(data, db, lang),
                         reply_markup=keyboards.confirm(False, bool(data.get("callback_phone"))))


async def add_text(message: Message, state: FSMContext) -> None:
    if not clean_text(message.text):
        await message.answer(no_visible_text())
        return
    data = await state.get_data()
    text = join_text(data["text"], message.text)
    if telegram_length(text) > MAX_DESCRIPTION:
        await message.answer(too_long_text(telegram_length(text)))
        return
    await state.update_data(text=text)
    await message.answer(_("Noted. Add more text, photos, videos, voice messages or your location, or tap “Done”."))


async def document_instead_of_photo(message: Message) -> None:
    await message.answer(_("Please send pictures as photos, not as files."))


async def description_bad_input(message: Message) -> None:
    await message.answer(
        _("Only text, photos, videos, voice messages and a location can be added here; stickers and files cannot.")
    )


async def summary(data: dict, db: Storage, lang: str) -> str:
    grid = await db.get_grid(data["grid"])
    category = await db.get_category(data["category"])
    lines = [
        _("<b>{kind}</b> · {category}").format(
            kind=kind_name(Kind(data["kind"])), category=escape(category_name(category, data["category"], lang))
        ),
        _("Grid: {grid}").format(grid=grid_line(grid, data["grid"])),
    ]
    if data["attachments"]:
        lines.append(media_summary(counts(from_data(data["attachments"]))))
    if data.get("lat") is not None:
        lines.append(_("Location: {lat:.5f}, {lon:.5f}").format(lat=data["lat"], lon=data["lon"]))
    if data.get("callback_phone"):
        lines.append(_("📞 Call me back on {phone}").format(phone=escape(data["callback_phone"])))
    lines += ["", escape(data["text"])]
    return "\n".join(lines)


async def toggle_contact(query: CallbackQuery, state: FSMContext) -> None:
    data = await state.get_data()
    share = not data.get("share", False)
    await state.update_data(share=share)
    await query.answer(
        _("The grid worker will see your name.") if share else _("The grid worker will not see your name.")
    )
    await edit_buttons(query, keyboards.confirm(share, bool(data.get("callback_phone"))), _("Please check your report."))


async def edit_description(query: CallbackQuery, state: FSMContext) -> None:
    await query.answer()
    await edit_buttons(query, None)
    await ask_description(query.message, state)


async def cancel_form(query: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    await edit_buttons(query, None)
    await query.message.answer(_("Cancelled. Nothing was sent."))


async def submit(
    query: CallbackQuery, state: FSMContext, tickets: TicketService, settings: Settings
) -> None:
    data = await state.get_data()
    draft = Draft(
        kind=Kind(data["kind"]),
        category_code=data["category"],
        grid_code=data["grid"],
        description=data["text"],
        attachments=from_data(data["attachments"]),
        lat=data.get("lat"),
        lon=data.get("lon"),
        share_contact=data.get("share", False),
        callback_phone=data.get("callback_phone"),
    )
    try:
        ticket, created = await tickets.file(query.from_user.id, draft, source_key="form:" + data["form_id"])
    except TicketError as error:
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    await state.clear()
    if created:
        await query.answer()
    else:  # submitted again after a crash: told the number when it was filed, from the outbox
        await query.answer(_("This report was filed as {number}.").format(
            number=format_number(settings.ticket_prefix, ticket.id)), show_alert=True)
    await edit_buttons(query, None)  # the number comes from the outbox, written with the ticket


async def use_the_buttons(message: Message, state: FSMContext) -> None:
    if not await first_of_album(message, state):
        return  # one hint for a whole album, not one per photo
    await message.answer(_("Please choose with the buttons above, or send /cancel to stop."))


async def stale_form_button(query: CallbackQuery) -> None:
    await query.answer(_("This form is no longer active. Send /start to begin again."), show_alert=True)


# -- answering staff, confirming, reopening, rating -----------------------------------------------
async def own_ticket(query: CallbackQuery, db: Storage, ticket_id: int) -> Ticket | None:
    ticket = await db.get_ticket(ticket_id)
    if ticket is None or ticket.resident_id != query.from_user.id:
        await query.answer(_("This ticket is not yours."), show_alert=True)
        return None
    return ticket


async def start_answer(query: CallbackQuery, callback_data: ResidentTicketCb, state: FSMContext, db: Storage,
                       settings: Settings) -> None:
    """"💬 Answer" (to staff) and "➕ Add" (at any time, from /my) open the same step: words, a voice
    message, photos and videos, which go to the staff as one message."""
    ticket = await own_ticket(query, db, callback_data.ticket_id)
    if ticket is None:
        return
    if ticket.status not in OPEN_STATUSES:
        await query.answer(_("This ticket is closed; answers are no longer possible."), show_alert=True)
        return
    await query.answer()
    await discard_form(query.message, state)  # a form left half-way is dropped openly, not silently
    await state.set_state(ResidentAnswer.text)
    addition = callback_data.action == "add"
    await state.update_data(ticket_id=ticket.id, addition=addition, text="", attachments=[], warned_albums=[])
    prompt = (
        _("What would you like to add to ticket {number}? Write it or send a voice message; photos and videos "
          "(up to {max}) may go with it. Send them first, then your words, or tap “Done”.")
        if addition
        else _("Write your answer on ticket {number}, or send a voice message; photos and videos (up to {max}) "
               "may go with it. Send them first, then your words, or tap “Done”.")
    )
    await query.message.answer(
        prompt.format(number=format_number(settings.ticket_prefix, ticket.id), max=MAX_ATTACHMENTS),
        reply_markup=keyboards.resolve_photos_done(),
    )


async def answer_media(message: Message, state: FSMContext) -> None:
    """Photos and videos are gathered (an album comes as one update per item); they go with the
    words or voice message that follow, or with “Done”."""
    if await take_attachment(message, state, MAX_ATTACHMENTS) is None or not await take_answer_caption(message, state):
        return
    if message.media_group_id is None:
        await message.answer(_("Added. Now write your words or send a voice message, or tap “Done” to send."))


async def answer_spoken(message: Message, state: FSMContext, tickets: TicketService) -> None:
    """A voice message or a video note sends the answer, with whatever was gathered before it."""
    if await take_attachment(message, state, MAX_ATTACHMENTS) is not None and await take_answer_caption(message, state):
        await send_answer(message, state, tickets)


async def answer_text(message: Message, state: FSMContext, tickets: TicketService) -> None:
    text = await take_note(message)
    if text is not None and await add_answer_text(message, state, text):
        await send_answer(message, state, tickets)


async def answer_done(message: Message, state: FSMContext, tickets: TicketService) -> None:
    data = await state.get_data()
    if not data.get("text") and not data.get("attachments"):
        await message.answer(_("There is nothing to send yet: write your words, or send a voice message, photos "
                               "or videos."))
        return
    await send_answer(message, state, tickets)


async def take_answer_caption(message: Message, state: FSMContext) -> bool:
    caption = await take_caption(message)
    return caption is not None and (not caption or await add_answer_text(message, state, caption))


async def add_answer_text(message: Message, state: FSMContext, text: str) -> bool:
    joined_text = join_text((await state.get_data()).get("text", ""), text)
    if not await within_note_limit(message, joined_text):
        return False
    await state.update_data(text=joined_text)
    return True


async def send_answer(message: Message, state: FSMContext, tickets: TicketService) -> None:
    data = await state.get_data()
    await state.clear()
    try:
        await tickets.resident_message(data["ticket_id"], message.from_user.id, data.get("text", ""),
                                       from_data(data.get("attachments", [])), addition=data.get("addition", False))
    except TicketError as error:
        await message.answer(ticket_error_text(error), reply_markup=ReplyKeyboardRemove())


async def start_withdraw(query: CallbackQuery, callback_data: ResidentTicketCb, state: FSMContext, db: Storage,
                         settings: Settings) -> None:
    ticket = await own_ticket(query, db, callback_data.ticket_id)
    if ticket is None:
        return
    if ticket.status not in OPEN_STATUSES:
        await query.answer(ticket_error_text(Conflict(ticket.id)), show_alert=True)
        return
    await query.answer()
    await discard_form(query.message, state)  # a form left half-way is dropped openly, not silently
    await state.set_state(Withdraw.reason)
    await state.update_data(ticket_id=ticket.id)
    await query.message.answer(_("Why do you withdraw ticket {number}? The staff will read your reason "
                                 "(or /cancel to keep it).").format(number=format_number(settings.ticket_prefix, ticket.id)))


async def withdraw_reason(message: Message, state: FSMContext, settings: Settings) -> None:
    reason = await take_note(message)
    if reason is None:
        return
    ticket_id = (await state.get_data())["ticket_id"]
    await state.update_data(reason=reason)
    await message.answer(
        _("Withdraw ticket {number}? The staff stop working on it, and it cannot be reopened. Your reason:\n"
          "{reason}").format(number=format_number(settings.ticket_prefix, ticket_id), reason=escape(reason)),
        reply_markup=keyboards.confirm_withdrawal(ticket_id),
    )


async def confirm_withdraw(query: CallbackQuery, callback_data: ResidentTicketCb, state: FSMContext,
                           tickets: TicketService) -> None:
    data = await state.get_data()
    if await state.get_state() != Withdraw.reason.state or data.get("ticket_id") != callback_data.ticket_id:
        await stale_form_button(query)
        return
    if callback_data.action == "withdraw_no":
        await state.clear()
        await query.answer()
        await edit_buttons(query, None)
        await query.message.answer(_("Nothing changed: the ticket stays open."))
        return
    try:
        await tickets.withdraw(callback_data.ticket_id, query.from_user.id, data["reason"])
    except TicketError as error:
        await state.clear()
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    await state.clear()
    await query.answer()
    await edit_buttons(query, None)  # the confirmation comes from the outbox, with the change


async def confirm_solved(query: CallbackQuery, callback_data: ResidentTicketCb, db: Storage, tickets: TicketService) -> None:
    if await own_ticket(query, db, callback_data.ticket_id) is None:
        return
    try:
        await tickets.confirm(callback_data.ticket_id, query.from_user.id)
    except TicketError as error:
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    await query.answer()
    await edit_buttons(query, None)  # the stars come from the outbox, with the change


async def start_reopen(query: CallbackQuery, callback_data: ResidentTicketCb, state: FSMContext, db: Storage) -> None:
    ticket = await own_ticket(query, db, callback_data.ticket_id)
    if ticket is None:
        return
    if ticket.status is not Status.RESOLVED:
        await query.answer(_("This ticket can no longer be reopened."), show_alert=True)
        return
    await query.answer()
    await discard_form(query.message, state)  # a form left half-way is dropped openly, not silently
    await state.set_state(Reopen.reason)
    await state.update_data(ticket_id=ticket.id)
    await query.message.answer(_("What is still wrong? Your answer goes back to the staff."))


async def reopen_with_reason(message: Message, state: FSMContext, tickets: TicketService, settings: Settings) -> None:
    text = await take_note(message)
    if text is None:
        return
    ticket_id = (await state.get_data())["ticket_id"]
    await state.clear()
    try:
        await tickets.reopen(ticket_id, message.from_user.id, text)
    except TicketError as error:
        await message.answer(ticket_error_text(error))


async def rate(query: CallbackQuery, callback_data: RateCb, state: FSMContext, db: Storage, tickets: TicketService) -> None:
    if await own_ticket(query, db, callback_data.ticket_id) is None:
        return
    try:
        await tickets.rate(callback_data.ticket_id, query.from_user.id, callback_data.stars)
    except TicketError as error:
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    await query.answer()
    await edit_buttons(query, None)
    await discard_form(query.message, state)  # a form left half-way is dropped openly, not silently
    await state.set_state(RatingComment.text)
    await state.update_data(ticket_id=callback_data.ticket_id, stars=callback_data.stars)


async def skip_comment(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(_("Thank you!"))


async def rating_comment(message: Message, state: FSMContext, tickets: TicketService) -> None:
    text = await take_note(message)
    if text is None:
        return
    data = await state.get_data()
    await state.clear()
    try:
        await tickets.rate(data["ticket_id"], message.from_user.id, data["stars"], text)
    except TicketError as error:
        await message.answer(ticket_error_text(error))


async def answer_bad_input(message: Message) -> None:
    await message.answer(_("Please write your words, or send a voice message, photos or videos; or send /cancel."))


async def text_expected(message: Message) -> None:
    await message.answer(_("Please answer with text, or send /cancel."))


def build_router() -> Router:
    router = Router(name="resident")
    router.message.register(my_tickets, Command("my"))
    router.callback_query.register(view_ticket, ResidentTicketCb.filter(F.action == "view"))
    router.callback_query.register(pick_kind, StateFilter(TicketForm.kind), KindCb.filter(F.kind.in_({k.value for k in Kind})))
    router.callback_query.register(pick_category, StateFilter(TicketForm.category), CategoryCb.filter())
    router.callback_query.register(me_too, StateFilter(TicketForm.duplicates), MeTooCb.filter())
    router.callback_query.register(not_a_duplicate, StateFilter(TicketForm.duplicates), FormCb.filter(F.action == "new"))
    router.message.register(add_media, StateFilter(TicketForm.description), HasMedia())
    router.message.register(add_location, StateFilter(TicketForm.description), Has("location"))
    router.message.register(description_done, StateFilter(TicketForm.description), DoneButton())
    router.message.register(add_text, StateFilter(TicketForm.description), Has("text"))
    router.message.register(document_instead_of_photo, StateFilter(TicketForm.description), Has("document"))
    router.message.register(description_bad_input, StateFilter(TicketForm.description))
    router.callback_query.register(toggle_contact, StateFilter(TicketForm.confirm), FormCb.filter(F.action == "contact"))
    router.callback_query.register(edit_description, StateFilter(TicketForm.confirm), FormCb.filter(F.action == "edit"))
    router.callback_query.register(cancel_form, StateFilter(TicketForm.confirm), FormCb.filter(F.action == "cancel"))
    router.callback_query.register(submit, StateFilter(TicketForm.confirm), FormCb.filter(F.action == "confirm"))
    router.message.register(use_the_buttons, StateFilter(TicketForm.kind))
    router.message.register(use_the_buttons, StateFilter(TicketForm.category))
    router.message.register(use_the_buttons, StateFilter(TicketForm.duplicates))
    router.message.register(use_the_buttons, StateFilter(TicketForm.confirm))
    router.callback_query.register(stale_form_button, FormCb.filter())
    router.callback_query.register(stale_form_button, KindCb.filter())
    router.callback_query.register(stale_form_button, CategoryCb.filter())
    router.callback_query.register(stale_form_button, MeTooCb.filter())
    router.callback_query.register(start_answer, ResidentTicketCb.filter(F.action == "answer"))
    router.callback_query.register(start_answer, ResidentTicketCb.filter(F.action == "add"))
    router.message.register(answer_done, StateFilter(ResidentAnswer.text), DoneButton())
    router.message.register(answer_text, StateFilter(ResidentAnswer.text), Has("text"))
    router.message.register(answer_spoken, StateFilter(ResidentAnswer.text), Has("voice"))
    router.message.register(answer_spoken, StateFilter(ResidentAnswer.text), Has("video_note"))
    router.message.register(answer_media, StateFilter(ResidentAnswer.text), HasMedia())
    router.callback_query.register(start_withdraw, ResidentTicketCb.filter(F.action == "withdraw"))
    router.message.register(withdraw_reason, StateFilter(Withdraw.reason), Has("text"))
    router.callback_query.register(confirm_withdraw, ResidentTicketCb.filter(F.action.in_({"withdraw_yes",
                                                                                           "withdraw_no"})))
    router.message.register(text_expected, StateFilter(Withdraw.reason))
    router.callback_query.register(confirm_solved, ResidentTicketCb.filter(F.action == "solved"))
    router.callback_query.register(start_reopen, ResidentTicketCb.filter(F.action == "unsolved"))
    router.message.register(reopen_with_reason, StateFilter(Reopen.reason), Has("text"))
    router.callback_query.register(rate, RateCb.filter(F.stars.in_({1, 2, 3, 4, 5})))
    router.message.register(skip_comment, StateFilter(RatingComment.text), Command("skip"))
    router.message.register(rating_comment, StateFilter(RatingComment.text), Has("text"))
    router.message.register(answer_bad_input, StateFilter(ResidentAnswer.text))
    router.message.register(text_expected, StateFilter(Reopen.reason))
    router.message.register(text_expected, StateFilter(RatingComment.text))
    return router

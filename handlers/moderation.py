"""The public board's moderation (曝光台): town and village staff review what the public will read of
a public report (or a suggestion, where the town allows it) and publish it, edit it, hide photos, or
keep it off the board. /moderate lists what waits for a decision. Every tap is checked again in
domain/board.py against the person's area and the town's board."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.cards import media_method
from bot.catalogs import gettext as _
from bot.config import Settings
from bot.texts import category_name, fit_message, format_duration, format_time, kind_name, ticket_error_text
from domain.board import BoardService, proposed_text, public_text, report_photos
from domain.models import PublicPost, Role, RoleGrant, Ticket
from domain.service import TicketError
from domain.tickets import format_number
from handlers import keyboards
from handlers.callbacks import ModerateCb
from handlers.common import discard_form, edit_buttons
from handlers.filters import Has, HasRole
from handlers.states import Moderate
from storage.base import Storage

DRAFT = "board_draft"  # the form's key for the review in progress: {"ticket_id", "text", "hidden"}


def review_text(ticket: Ticket, post: PublicPost | None, draft: dict, settings: Settings) -> str:
    number = format_number(settings.ticket_prefix, ticket.id)
    if post is None:
        state = _("Not on the public board yet.")
    elif post.public:
        state = _("On the public board since {time}.").format(time=format_time(post.decided_at, settings.timezone))
    else:
        state = _("Kept off the public board.")
    lines = [
        _("📢 <b>Public board · {number}</b> · {kind}").format(number=number, kind=kind_name(ticket.kind)),
        state,
        _("The public reads this text, never the resident's name or contact. Take out names, phone "
          "numbers and addresses of private persons (mobile and ID numbers are masked to start with):"),
        "",
        escape(draft["text"]),
    ]
    photos = report_photos(ticket)
    if photos:
        lines += ["", _("Photos: {count}, sent above. Tap a photo's button to show or hide it.").format(
            count=len(photos))]
    return fit_message("\n".join(lines))


async def send_review(message: Message, state: FSMContext, board: BoardService, ticket_id: int,
                      grants: list[RoleGrant], settings: Settings, draft: dict | None = None) -> None:
    """The review of one ticket in a new message (its photos first), from `draft` or else from
    what is stored: the public text, or the masked resident's text."""
    ticket, post = await board.moderated(ticket_id, grants)
    if draft is None:
        photos = report_photos(ticket)
        if photos:
            await message.bot(media_method(message.chat.id, photos))
        published = post is not None and post.public
        draft = {"ticket_id": ticket.id, "text": post.text if published else proposed_text(ticket.description),
                 "hidden": sorted(post.hidden_photos) if published else []}
    await state.set_state(Moderate.review)
    await state.update_data({DRAFT: draft})
    await message.answer(review_text(ticket, post, draft, settings),
                         reply_markup=keyboards.moderation(ticket, draft["hidden"], post is not None and post.public))


async def open_review(query: CallbackQuery, callback_data: ModerateCb, state: FSMContext, board: BoardService,
                      grants: list[RoleGrant], settings: Settings) -> None:
    try:
        await board.moderated(callback_data.ticket_id, grants)
    except TicketError as error:
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    await query.answer()
    await discard_form(query.message, state)
    await send_review(query.message, state, board, callback_data.ticket_id, grants, settings)


async def current_draft(query: CallbackQuery, callback_data: ModerateCb, state: FSMContext, board: BoardService,
                        grants: list[RoleGrant], settings: Settings) -> dict | None:
    """The review this button belongs to, if the person may still decide; otherwise answers the
    button (an older review, or another form meanwhile: the review comes anew) and returns None."""
    try:
        await board.moderated(callback_data.ticket_id, grants)
    except TicketError as error:
        await query.answer(ticket_error_text(error), show_alert=True)
        return None
    draft = (await state.get_data()).get(DRAFT)
    if await state.get_state() != Moderate.review.state or not draft or draft["ticket_id"] != callback_data.ticket_id:
        await query.answer(_("This review is out of date; here it is again."), show_alert=True)
        await discard_form(query.message, state)
        await send_review(query.message, state, board, callback_data.ticket_id, grants, settings)
        return None
    return draft


async def toggle_photo(query: CallbackQuery, callback_data: ModerateCb, state: FSMContext, board: BoardService,
                       grants: list[RoleGrant], settings: Settings) -> None:
    draft = await current_draft(query, callback_data, state, board, grants, settings)
    if draft is None:
        return
    ticket, post = await board.moderated(callback_data.ticket_id, grants)
    if callback_data.index >= len(report_photos(ticket)):
        await query.answer(_("This button is not valid (any more) or not meant for you."), show_alert=True)
        return
    hidden = set(draft["hidden"]) ^ {callback_data.index}
    draft = {**draft, "hidden": sorted(hidden)}
    await state.update_data({DRAFT: draft})
    await query.answer()
    text = review_text(ticket, post, draft, settings)
    markup = keyboards.moderation(ticket, draft["hidden"], post is not None and post.public)
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except (TelegramBadRequest, AttributeError):  # too old to edit, or an inaccessible message
        await query.bot.send_message(query.from_user.id, text, reply_markup=markup)


async def start_edit(query: CallbackQuery, callback_data: ModerateCb, state: FSMContext, board: BoardService,
                     grants: list[RoleGrant], settings: Settings) -> None:
    draft = await current_draft(query, callback_data, state, board, grants, settings)
    if draft is None:
        return
    await query.answer()
    await state.set_state(Moderate.text)
    await query.bot.send_message(query.from_user.id, _(
        "Send the text the public will read for {number} (or /cancel). The current text follows, to copy and edit:"
    ).format(number=format_number(settings.ticket_prefix, callback_data.ticket_id)))
    await query.bot.send_message(query.from_user.id, escape(draft["text"]))


async def take_text(message: Message, state: FSMContext, board: BoardService, grants: list[RoleGrant],
                    settings: Settings) -> None:
    draft = (await state.get_data()).get(DRAFT)
    try:
        text = public_text(message.text)
    except TicketError:
        await message.answer(_("The public text must show something and stay under 3,000 characters. "
                               "Send it again, or /cancel."))
        return
    try:
        await send_review(message, state, board, draft["ticket_id"], grants, settings, {**draft, "text": text})
    except TicketError as error:
        await state.clear()
        await message.answer(ticket_error_text(error))


async def text_expected(message: Message) -> None:
    await message.answer(_("Please send the public text as a message, or /cancel."))


async def decide(query: CallbackQuery, callback_data: ModerateCb, state: FSMContext, board: BoardService,
                 grants: list[RoleGrant], settings: Settings) -> None:
    """✅ publishes the review's text without its hidden photos (or saves the changes); 🔒 keeps the
    ticket off the board. The confirmation comes through the outbox with the change."""
    draft = await current_draft(query, callback_data, state, board, grants, settings)
    if draft is None:
        return
    try:
        if callback_data.action == "publish":
            await board.publish(draft["ticket_id"], query.from_user.id, grants, draft["text"], draft["hidden"])
        else:
            await board.keep_private(draft["ticket_id"], query.from_user.id, grants)
    except TicketError as error:
        await query.answer(ticket_error_text(error), show_alert=True)
        return
    await state.clear()
    await query.answer()
    await edit_buttons(query, None)


async def moderation_queue(message: Message, board: BoardService, grants: list[RoleGrant], settings: Settings,
                           db: Storage, clock, lang: str) -> None:
    if not board.towns.towns:
        await message.answer(_("No town has a public board yet (the setting BOARD_TOWNS)."))
        return
    waiting = await board.queue(grants)
    if not waiting:
        await message.answer(_("Nothing waits for a decision about the public board in your area."))
        return
    categories = {c.code: c for c in await db.list_categories()}
    now = clock()
    lines = [_("Waiting for a decision about the public board, oldest first (tap one to review it):")]
    for ticket in waiting:
        lines.append("{number} · {kind} · {category} · {age}".format(
            number=format_number(settings.ticket_prefix, ticket.id), kind=kind_name(ticket.kind),
            category=escape(category_name(categories.get(ticket.category_code), ticket.category_code, lang)),
            age=format_duration(now - ticket.created_at),
        ))
    await message.answer(fit_message("\n".join(lines)),
                         reply_markup=keyboards.moderation_queue(waiting, settings.ticket_prefix))


def build_router() -> Router:
    router = Router(name="moderation")
    router.message.register(moderation_queue, Command("moderate"), HasRole(Role.TOWN, Role.VILLAGE, Role.ADMIN))
    router.callback_query.register(open_review, ModerateCb.filter(F.action == "open"))
    router.callback_query.register(toggle_photo, ModerateCb.filter(F.action == "photo"))
    router.callback_query.register(start_edit, ModerateCb.filter(F.action == "edit"))
    router.callback_query.register(decide, ModerateCb.filter(F.action.in_({"publish", "private"})))
    router.message.register(take_text, StateFilter(Moderate.text), Has("text"))
    router.message.register(text_expected, StateFilter(Moderate.text))
    return router

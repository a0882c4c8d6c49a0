"""Keyboard builders. Each button's data is a typed class from `handlers.callbacks`."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import (
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import kind_name, status_name
from domain.models import Category, Grid, Kind, Status, Ticket
from domain.tickets import format_number
from handlers.callbacks import (
    CategoryCb,
    FormCb,
    GridPickCb,
    HandOverCb,
    KindCb,
    LanguageCb,
    MeTooCb,
    RateCb,
    ResidentTicketCb,
    StaffTicketCb,
)


def languages() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="中文", callback_data=LanguageCb(code="zh"))
    kb.button(text="English", callback_data=LanguageCb(code="en"))
    return kb.as_markup()


def grid_choices(grids: Sequence[Grid]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for grid in grids:
        kb.button(
            text="{} · {}".format(grid.name, grid.village), callback_data=GridPickCb(code=grid.code)
        )
    kb.adjust(1)
    return kb.as_markup()


def share_location() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_("📍 Share my location"), request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def kinds() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for kind in Kind:
        kb.button(text=kind_name(kind), callback_data=KindCb(kind=kind.value))
    kb.adjust(1)
    return kb.as_markup()


def categories(items: Sequence[Category], language: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for category in items:
        kb.button(text=category.name(language), callback_data=CategoryCb(code=category.code))
    kb.adjust(2)
    return kb.as_markup()


def duplicates(tickets: Sequence[Ticket], prefix: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for ticket in tickets:
        kb.button(
            text=_("🙋 Me too: {number}").format(number=format_number(prefix, ticket.id)),
            callback_data=MeTooCb(ticket_id=ticket.id),
        )
    kb.button(text=_("➕ No, a different problem"), callback_data=FormCb(action="new"))
    kb.adjust(1)
    return kb.as_markup()


def description_done() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=_("📍 Add my location"), request_location=True)],
            [KeyboardButton(text=_("✅ Done"))],
        ],
        resize_keyboard=True,
    )


def confirm(share_contact: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("✅ Submit"), callback_data=FormCb(action="confirm"))
    kb.button(text=_("✏️ Edit description"), callback_data=FormCb(action="edit"))
    kb.button(
        text=_("👤 Share my contact: yes") if share_contact else _("👤 Share my contact: no"),
        callback_data=FormCb(action="contact"),
    )
    kb.button(text=_("✖️ Cancel"), callback_data=FormCb(action="cancel"))
    kb.adjust(2, 1, 1)
    return kb.as_markup()


def staff_ticket(ticket: Ticket) -> InlineKeyboardMarkup:
    """Buttons on a staff card, only for what the ticket's status allows now."""
    kb = InlineKeyboardBuilder()
    if ticket.status in (Status.NEW, Status.REOPENED):
        kb.button(text=_("🙋 Take it"), callback_data=StaffTicketCb(action="take", ticket_id=ticket.id))
    if ticket.status not in (Status.RESOLVED, Status.CLOSED):
        kb.button(text=_("💬 Reply"), callback_data=StaffTicketCb(action="reply", ticket_id=ticket.id))
        kb.button(
            text=_("✅ Mark resolved"), callback_data=StaffTicketCb(action="resolve", ticket_id=ticket.id)
        )
        kb.button(
            text=_("↪️ Hand over"), callback_data=StaffTicketCb(action="handover", ticket_id=ticket.id)
        )
    kb.adjust(2)
    return kb.as_markup()


def hand_over_targets(ticket_id: int, grids: Sequence[Grid]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for grid in grids:
        kb.button(
            text="{} · {}".format(grid.name, grid.village),
            callback_data=HandOverCb(ticket_id=ticket_id, grid_code=grid.code),
        )
    kb.adjust(1)
    return kb.as_markup()


def resolve_photos_done() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_("✅ Done"))]], resize_keyboard=True
    )


def answer_staff(ticket_id: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("💬 Answer"), callback_data=ResidentTicketCb(action="answer", ticket_id=ticket_id))
    return kb.as_markup()


def solved_question(ticket_id: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("👍 Solved"), callback_data=ResidentTicketCb(action="solved", ticket_id=ticket_id))
    kb.button(
        text=_("👎 Not solved"), callback_data=ResidentTicketCb(action="unsolved", ticket_id=ticket_id)
    )
    return kb.as_markup()


def stars(ticket_id: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for value in range(1, 6):
        kb.button(text="⭐" * value, callback_data=RateCb(ticket_id=ticket_id, stars=value))
    kb.adjust(1)
    return kb.as_markup()


def resident_tickets(tickets: Sequence[Ticket], prefix: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for ticket in tickets:
        kb.button(
            text="{} · {}".format(format_number(prefix, ticket.id), status_name(ticket.status)),
            callback_data=ResidentTicketCb(action="view", ticket_id=ticket.id),
        )
    kb.adjust(1)
    return kb.as_markup()


def staff_queue(tickets: Sequence[Ticket], prefix: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for ticket in tickets:
        kb.button(
            text=format_number(prefix, ticket.id),
            callback_data=StaffTicketCb(action="view", ticket_id=ticket.id),
        )
    kb.adjust(3)
    return kb.as_markup()

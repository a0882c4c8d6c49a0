"""Every inline button's data, typed. Handlers re-check in the database that the user may act."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageCb(CallbackData, prefix="lang"):
    code: str


class GridPickCb(CallbackData, prefix="grid"):
    code: str


class KindCb(CallbackData, prefix="kind"):
    kind: str


class CategoryCb(CallbackData, prefix="cat"):
    code: str


class FormCb(CallbackData, prefix="form"):
    """Steps of the resident's form: done describing, confirm, edit, share contact, new ticket."""

    action: str


class MeTooCb(CallbackData, prefix="metoo"):
    ticket_id: int


class StaffTicketCb(CallbackData, prefix="st"):
    """A staff action on a ticket: take, reply, ask, resolve, handover, escalate, view."""

    action: str
    ticket_id: int


class DepartmentCb(CallbackData, prefix="dep"):
    """Town staff route a ticket to a department: its index in the sorted department list."""

    ticket_id: int
    index: int


class HandOverCb(CallbackData, prefix="ho"):
    ticket_id: int
    grid_code: str


class ResidentTicketCb(CallbackData, prefix="rt"):
    """A resident's action on a ticket: view, answer, solved, unsolved."""

    action: str
    ticket_id: int


class RateCb(CallbackData, prefix="rate"):
    ticket_id: int
    stars: int


class QrGridCb(CallbackData, prefix="qr"):
    code: str

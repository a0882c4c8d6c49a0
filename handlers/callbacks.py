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


# Shop and site codes may be 60 characters long and button data at most 64 bytes: one class per
# action, with a two-letter prefix, keeps the longest code within the limit.
class ShopRateCb(CallbackData, prefix="mr"):
    """A resident starts rating a shop."""

    code: str


class ShopScoreCb(CallbackData, prefix="ms"):
    """One score of the rating form (the shop is in the form): `step` is the aspect's index in
    `domain.shops.ASPECTS`."""

    step: int
    stars: int


class ShopRatingsCb(CallbackData, prefix="mo"):
    """An owner opens the ratings of one of their shops."""

    code: str


class SiteInspectCb(CallbackData, prefix="si"):
    """An inspector starts an inspection record of a site."""

    code: str


class InspectionCb(CallbackData, prefix="ir"):
    """Anyone opens one inspection record in full, with its photos."""

    inspection_id: int


class StatsCb(CallbackData, prefix="stats"):
    """A view of the statistics: the period (2026-W47, 2026-11, 2026-Q4, 2026-11-01..2026-11-15),
    scope level and name, and what to send: show, chart, csv or xlsx. Checked against the
    official's scope on every tap."""

    period: str
    level: str
    name: str
    action: str


class DigestCb(CallbackData, prefix="dg"):
    """An official chooses their digest: weekly, monthly, both or off."""

    choice: str

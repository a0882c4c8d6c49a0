"""Every inline button's data, typed and bounded. Handlers re-check in the database that the user may act.

Telegram returns button data as the client sent it, so it may be forged: every field has one of the
bounded types below, and data that is not exactly what the bot would have packed (an id beyond 64
bits, "+1" or "01", a newline) matches no button, so the press gets "this button is not valid"."""

from __future__ import annotations

from typing import Annotated, Any

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

# Row ids (tickets, inspections): SQLite keeps signed 64-bit integers.
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]
# A position in a short list, a step of a form, a number of stars.
SmallNumber = Annotated[int, Field(ge=0, le=99)]
# A page of a long list.
PageNumber = Annotated[int, Field(ge=0, le=99_999)]
# An action, a kind, a language, a scope level, a digest choice.
Word = Annotated[str, Field(pattern=r"^[a-z_]{1,16}$")]
# Grid, category, shop and site codes (domain.tickets.GRID_CODE_PATTERN).
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,60}$")]
# A page of a long list.
PageNumber = Annotated[int, Field(ge=0, le=10**6)]
# A statistics period: 2026-W47, 2026-11, 2026-Q4, 2026-11-01..2026-11-15.
PeriodText = Annotated[str, Field(pattern=r"^[0-9A-Z.-]{4,22}$")]
# A town's or village's name: one line of printable characters, or empty for every town.
Name = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029:]{0,40}$")]

# Telegram's limit for button data, in bytes.
MAX_BUTTON_DATA_BYTES = 64


class CheckedCallbackData(CallbackData, prefix="-"):
    """The base of every button's data (its own prefix is never used)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, field in cls.model_fields.items():
            if not field.metadata:
                raise TypeError(f"{cls.__name__}.{name} has no bound: give it one of the types of handlers.callbacks")

    @classmethod
    def unpack(cls, value: str) -> Any:
        if len(value.encode()) > MAX_BUTTON_DATA_BYTES:
            raise ValueError("button data longer than Telegram allows")
        data = super().unpack(value)
        if data.pack() != value:  # "+1", "01", " 1": not what the bot packs
            raise ValueError("button data not in the form the bot packs")
        return data


class LanguageCb(CheckedCallbackData, prefix="lang"):
    code: Word


class GridPickCb(CheckedCallbackData, prefix="gp"):
    """A grid found by name or location. The prefix is short so that a 60-character code fits
    Telegram's 64 bytes."""

    code: Code


class KindCb(CheckedCallbackData, prefix="kind"):
    kind: Word


class CategoryCb(CheckedCallbackData, prefix="cat"):
    code: Code


class FormCb(CheckedCallbackData, prefix="form"):
    """Steps of the resident's form: done describing, confirm, edit, share contact, new ticket."""

    action: Word


class MeTooCb(CheckedCallbackData, prefix="metoo"):
    ticket_id: RowId


class StaffTicketCb(CheckedCallbackData, prefix="st"):
    """A staff action on a ticket: take, reply, ask, resolve, handover, escalate, view, note,
    return, merge, or cancel (a picker or a reason step about this ticket)."""

    action: Word
    ticket_id: RowId


class HomeCb(CheckedCallbackData, prefix="home"):
    """From a staff member's home (/start): "resident" opens the resident's menu."""

    action: Word


class QueuePageCb(CheckedCallbackData, prefix="qp"):
    """A page of /queue (0 is the first)."""

    page: PageNumber


class DepartmentCb(CheckedCallbackData, prefix="dep"):
    """Town staff route a ticket to a department: its index in the list the picker offered (kept
    in the form)."""

    ticket_id: RowId
    index: SmallNumber


class HandOverCb(CheckedCallbackData, prefix="ho"):
    ticket_id: RowId
    grid_code: Code


class MergeCb(CheckedCallbackData, prefix="mg"):
    """Staff merge `ticket_id` into `into_id`, another open ticket of the same grid."""

    ticket_id: RowId
    into_id: RowId


class OverduePageCb(CheckedCallbackData, prefix="odp"):
    """/overdue: another page of the list."""

    page: PageNumber


class UrgeCb(CheckedCallbackData, prefix="urge"):
    """/overdue: urge the holders of one ticket (催办)."""

    ticket_id: RowId


class ResidentTicketCb(CheckedCallbackData, prefix="rt"):
    """A resident's action on a ticket: view, answer, add, withdraw, solved, unsolved."""

    action: Word
    ticket_id: RowId


class VisitCb(CheckedCallbackData, prefix="rv"):
    """The village or town records a return visit (回访): `outcome` is the index in
    `domain.models.VisitOutcome`."""

    visit_id: RowId
    outcome: SmallNumber


class RateCb(CheckedCallbackData, prefix="rate"):
    ticket_id: RowId
    stars: SmallNumber


class QrGridCb(CheckedCallbackData, prefix="qr"):
    code: Code


# Shop and site codes may be 60 characters long and button data at most 64 bytes: one class per
# action, with a two-letter prefix, keeps the longest code within the limit.
class ShopRateCb(CheckedCallbackData, prefix="mr"):
    """A resident starts rating a shop."""

    code: Code


class ShopScoreCb(CheckedCallbackData, prefix="ms"):
    """One score of the rating form (the shop is in the form): `step` is the aspect's index in
    `domain.shops.ASPECTS`."""

    step: SmallNumber
    stars: SmallNumber


class ShopRatingsCb(CheckedCallbackData, prefix="mo"):
    """An owner opens the ratings of one of their shops."""

    code: Code


class SiteInspectCb(CheckedCallbackData, prefix="si"):
    """An inspector starts an inspection record of a site."""

    code: Code


class InspectionCb(CheckedCallbackData, prefix="ir"):
    """Anyone opens one inspection record in full, with its photos."""

    inspection_id: RowId


class StatsCb(CheckedCallbackData, prefix="stats"):
    """A view of the statistics: the period (2026-W47, 2026-11, 2026-Q4, 2026-11-01..2026-11-15),
    scope level and name, and what to send: show, chart, csv or xlsx. Checked against the
    official's scope on every tap."""

    period: PeriodText
    level: Word
    name: Name
    action: Word


class DigestCb(CheckedCallbackData, prefix="dg"):
    """An official chooses their digest: weekly, monthly, both or off."""

    choice: Word


class ModerateCb(CheckedCallbackData, prefix="mod"):
    """Town or village staff decide what the public board shows of a ticket: open (the review),
    edit (the text), photo (show or hide the report photo at `index`), publish, private. Checked
    against the person's area and the town's board on every tap."""

    action: Word
    ticket_id: RowId
    index: SmallNumber = 0

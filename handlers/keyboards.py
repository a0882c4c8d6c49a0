"""Keyboard builders. Each button's data is a typed class from `handlers.callbacks`."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    WebAppInfo,
)

from bot.catalogs import gettext as _
from bot.texts import kind_name, status_name, visit_outcome_name
from domain.board import report_photos
from domain.deadlines import next_tier
from domain.models import Category, Grid, Kind, Status, Ticket, Tier, VisitOutcome
from domain.tickets import OPEN_STATUSES, format_number
from handlers.filters import done_label, no_call_label
from handlers.callbacks import (
    CategoryCb,
    DepartmentCb,
    FormCb,
    GridPickCb,
    HandOverCb,
    KindCb,
    LanguageCb,
    HomeCb,
    MeTooCb,
    QueuePageCb,
    MergeCb,
    ModerateCb,
    OverduePageCb,
    RateCb,
    ResidentTicketCb,
    StaffTicketCb,
    UrgeCb,
    VisitCb,
)


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def markup(buttons: Sequence[InlineKeyboardButton], width: int = 1) -> InlineKeyboardMarkup:
    # Built directly: aiogram's InlineKeyboardBuilder deep-copies every button on export, which
    # costs about a millisecond for the category keyboard on every form.
    return InlineKeyboardMarkup(
        inline_keyboard=[list(buttons[i:i + width]) for i in range(0, len(buttons), width)]
    )


def console_view(console_url: str | None, view: str, **filters: str) -> str | None:
    """The console's address showing `view` ("tickets", "map" or "figures") with these filters;
    None without a console. Not in the fragment: Telegram puts the sign-in there."""
    return f"{console_url}?{urlencode({'view': view, **filters})}" if console_url else None


def with_console(markup: InlineKeyboardMarkup | None, url: str | None) -> InlineKeyboardMarkup | None:
    """`markup` with a last row that opens the console at `url` (a Mini App: Telegram signs the
    person in); `markup` as it is without a console."""
    if not url:
        return markup
    rows = list(markup.inline_keyboard) if markup else []
    return InlineKeyboardMarkup(inline_keyboard=[*rows, [
        InlineKeyboardButton(text=_("🖥 Open in the console"), web_app=WebAppInfo(url=url))]])


def languages() -> InlineKeyboardMarkup:
    return markup([button("中文", LanguageCb(code="zh")), button("English", LanguageCb(code="en"))], 2)


def grid_choices(grids: Sequence[Grid], distances: Sequence[str] = ()) -> InlineKeyboardMarkup:
    """Grids to pick from; those found by location each with its distance."""
    labels = ["{} · {}".format(g.name, g.village) for g in grids]
    if distances:
        labels = ["{} · {}".format(label, distance) for label, distance in zip(labels, distances)]
    return markup([button(label, GridPickCb(code=g.code)) for label, g in zip(labels, grids)])


def share_location() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_("📍 Share my location"), request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def kinds() -> InlineKeyboardMarkup:
    return markup([button(kind_name(kind), KindCb(kind=kind.value)) for kind in Kind])


def categories(items: Sequence[Category], language: str) -> InlineKeyboardMarkup:
    return markup([button(c.name(language), CategoryCb(code=c.code)) for c in items], 2)


def duplicates(tickets: Sequence[Ticket], prefix: str) -> InlineKeyboardMarkup:
    buttons = [
        button(
            _("🙋 Me too: {number}").format(number=format_number(prefix, t.id)), MeTooCb(ticket_id=t.id)
        )
        for t in tickets
    ]
    buttons.append(button(_("➕ No, a different problem"), FormCb(action="new")))
    return markup(buttons)


def description_done() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=_("📍 Add my location"), request_location=True)],
            [KeyboardButton(text=done_label())],
        ],
        resize_keyboard=True,
    )


def confirm(share_contact: bool, call_back: bool) -> InlineKeyboardMarkup:
    contact = _("👤 Share my contact: yes") if share_contact else _("👤 Share my contact: no")
    phone = _("📞 Call me back: yes") if call_back else _("📞 Call me back")
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [button(_("✅ Submit"), FormCb(action="confirm")), button(_("✏️ Edit description"), FormCb(action="edit"))],
            [button(contact, FormCb(action="contact"))],
            [button(phone, FormCb(action="callback"))],
            [button(_("✖️ Cancel"), FormCb(action="cancel"))],
        ]
    )


def share_phone() -> ReplyKeyboardMarkup:
    """Telegram's contact button: it sends the resident's own number, which they cannot edit."""
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_("📱 Share my phone number"), request_contact=True)],
                  [KeyboardButton(text=no_call_label())]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def visit_outcomes(visit_id: int, ticket: Ticket) -> InlineKeyboardMarkup:
    """A return visit's card: how satisfied the resident is now, and the ticket's card."""
    picks = [button(visit_outcome_name(o), VisitCb(visit_id=visit_id, outcome=i)) for i, o in enumerate(VisitOutcome)]
    return markup([*picks, button(_("📋 Open the card"), StaffTicketCb(action="view", ticket_id=ticket.id))])


def staff_ticket(ticket: Ticket, handles: bool = True, shortened: bool = False,
                 moderates: bool = False) -> InlineKeyboardMarkup:
    """Buttons on a staff card, only for what the ticket's status allows now; someone who may
    only read the card (another tier of the area) can still add an internal note. A card that
    had to leave something out offers its whole text; town and village staff decide what the
    public board shows of it (`moderates`)."""
    buttons = []
    open_ = ticket.status in OPEN_STATUSES
    if handles and ticket.status in (Status.NEW, Status.REOPENED):
        buttons.append(button(_("🙋 Take it"), StaffTicketCb(action="take", ticket_id=ticket.id)))
    if handles and open_:
        buttons += [
            button(_("💬 Reply"), StaffTicketCb(action="reply", ticket_id=ticket.id)),
            button(_("❓ Ask the resident"), StaffTicketCb(action="ask", ticket_id=ticket.id)),
            button(_("✅ Mark resolved"), StaffTicketCb(action="resolve", ticket_id=ticket.id)),
            button(_("📞 Called the resident"), StaffTicketCb(action="phoned", ticket_id=ticket.id)),
        ]
        if ticket.tier is Tier.GRID:
            buttons.append(button(_("↪️ Hand over"), StaffTicketCb(action="handover", ticket_id=ticket.id)))
        if next_tier(ticket.tier) is not None:
            buttons.append(button(_("⬆️ Escalate"), StaffTicketCb(action="escalate", ticket_id=ticket.id)))
        if ticket.tier is Tier.DEPARTMENT:
            buttons.append(button(_("↩️ Return to the town"), StaffTicketCb(action="return", ticket_id=ticket.id)))
        buttons.append(button(_("🔗 Merge into…"), StaffTicketCb(action="merge", ticket_id=ticket.id)))
    buttons.append(button(_("📝 Internal note"), StaffTicketCb(action="note", ticket_id=ticket.id)))
    if moderates:
        buttons.append(button(_("📢 Public board…"), ModerateCb(action="open", ticket_id=ticket.id)))
    if shortened:
        buttons.append(button(_("📄 Full text"), StaffTicketCb(action="full", ticket_id=ticket.id)))
    return markup(buttons, 2)


def cancel_button(ticket_id: int) -> InlineKeyboardButton:
    return button(_("✖️ Cancel"), StaffTicketCb(action="cancel", ticket_id=ticket_id))


def open_card(ticket: Ticket) -> InlineKeyboardMarkup:
    """On a message about a ticket that is not its card (an answer, a reminder): the actions are
    on the card, which this opens, current."""
    return markup([button(_("📋 Open the card"), StaffTicketCb(action="view", ticket_id=ticket.id))])


def departments(ticket_id: int, names: Sequence[str]) -> InlineKeyboardMarkup:
    picks = [button(name, DepartmentCb(ticket_id=ticket_id, index=i)) for i, name in enumerate(names)]
    return markup([*picks, cancel_button(ticket_id)], 2)


def merge_targets(ticket_id: int, tickets: Sequence[Ticket], prefix: str, language: str,
                  categories: dict[str, Category]) -> InlineKeyboardMarkup:
    picks = [
        button(
            "{} · {} · {}".format(
                format_number(prefix, t.id),
                categories[t.category_code].name(language) if t.category_code in categories else t.category_code,
                t.description[:24],
            ),
            MergeCb(ticket_id=ticket_id, into_id=t.id),
        )
        for t in tickets
    ]
    return markup([*picks, cancel_button(ticket_id)])


def overdue_page(tickets: Sequence[Ticket], prefix: str, page: int, pages: int) -> InlineKeyboardMarkup:
    """Per ticket: open its card, or urge its holders; then ◀ ▶ between pages."""
    rows = [
        [button("📋 " + format_number(prefix, t.id), StaffTicketCb(action="view", ticket_id=t.id)),
         button(_("⏰ Urge"), UrgeCb(ticket_id=t.id))]
        for t in tickets
    ]
    paging = []
    if page > 0:
        paging.append(button("◀", OverduePageCb(page=page - 1)))
    if page + 1 < pages:
        paging.append(button("▶", OverduePageCb(page=page + 1)))
    if paging:
        rows.append(paging)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def hand_over_targets(ticket_id: int, grids: Sequence[Grid]) -> InlineKeyboardMarkup:
    buttons = []
    for grid in grids:
        try:
            buttons.append(
                button("{} · {}".format(grid.name, grid.village), HandOverCb(ticket_id=ticket_id, grid_code=grid.code))
            )
        except ValueError:  # a button carries at most 64 bytes: a very long grid code cannot be offered
            continue
    return markup([*buttons, cancel_button(ticket_id)])


def resolve_photos_done() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=done_label())]], resize_keyboard=True)


def answer_staff(ticket_id: int) -> InlineKeyboardMarkup:
    return markup([button(_("💬 Answer"), ResidentTicketCb(action="answer", ticket_id=ticket_id))])


def resident_open_ticket(ticket_id: int) -> InlineKeyboardMarkup:
    """Under an open ticket the filer opened from /my or /t."""
    return markup(
        [
            button(_("➕ Add information"), ResidentTicketCb(action="add", ticket_id=ticket_id)),
            button(_("↩️ Withdraw"), ResidentTicketCb(action="withdraw", ticket_id=ticket_id)),
        ],
        2,
    )


def confirm_withdrawal(ticket_id: int) -> InlineKeyboardMarkup:
    return markup(
        [
            button(_("↩️ Yes, withdraw it"), ResidentTicketCb(action="withdraw_yes", ticket_id=ticket_id)),
            button(_("✖️ Keep it"), ResidentTicketCb(action="withdraw_no", ticket_id=ticket_id)),
        ],
        2,
    )


def solved_question(ticket_id: int) -> InlineKeyboardMarkup:
    return markup(
        [
            button(_("👍 Solved"), ResidentTicketCb(action="solved", ticket_id=ticket_id)),
            button(_("👎 Not solved"), ResidentTicketCb(action="unsolved", ticket_id=ticket_id)),
        ],
        2,
    )


def stars(ticket_id: int) -> InlineKeyboardMarkup:
    return markup([button("⭐" * value, RateCb(ticket_id=ticket_id, stars=value)) for value in range(1, 6)])


def resident_ticket(ticket: Ticket, filer: bool, shortened: bool) -> InlineKeyboardMarkup | None:
    """Under a ticket as a resident reads it (from /my or /t): the filer's next step (add
    information, or say whether it is solved), and its whole text when the view had to leave
    something out."""
    rows: list[list[InlineKeyboardButton]] = []
    if filer and ticket.status is Status.RESOLVED:
        rows += solved_question(ticket.id).inline_keyboard
    elif filer and ticket.status in OPEN_STATUSES:
        rows += resident_open_ticket(ticket.id).inline_keyboard
    if shortened:
        rows.append([button(_("📄 Full text"), ResidentTicketCb(action="full", ticket_id=ticket.id))])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def resident_tickets(tickets: Sequence[Ticket], prefix: str) -> InlineKeyboardMarkup:
    return markup(
        [
            button(
                "{} · {}".format(format_number(prefix, t.id), status_name(t.status)),
                ResidentTicketCb(action="view", ticket_id=t.id),
            )
            for t in tickets
        ]
    )


def staff_queue(tickets: Sequence[Ticket], prefix: str, page: int, pages: int) -> InlineKeyboardMarkup:
    """A button per ticket, then ◀ ▶ to the pages before and after this one."""
    rows = markup(
        [button(format_number(prefix, t.id), StaffTicketCb(action="view", ticket_id=t.id)) for t in tickets], 3
    ).inline_keyboard
    paging = []
    if page > 0:
        paging.append(button("◀", QueuePageCb(page=page - 1)))
    if page + 1 < pages:
        paging.append(button("▶", QueuePageCb(page=page + 1)))
    return InlineKeyboardMarkup(inline_keyboard=[*rows, paging] if paging else rows)


def staff_home() -> InlineKeyboardMarkup:
    return markup([button(_("🏠 Report a problem as a resident"), HomeCb(action="resident"))])


def moderation(ticket: Ticket, hidden: Sequence[int], public: bool) -> InlineKeyboardMarkup:
    """The review of what the public board shows of a ticket: each report photo shown or hidden,
    the text, and the decision."""
    buttons = [
        button((_("🚫 Photo {n}: hidden") if i in hidden else _("🖼 Photo {n}: shown")).format(n=i + 1),
               ModerateCb(action="photo", ticket_id=ticket.id, index=i))
        for i in range(len(report_photos(ticket)))
    ]
    buttons.append(button(_("✏️ Edit the public text"), ModerateCb(action="edit", ticket_id=ticket.id)))
    buttons.append(button(_("✅ Save the changes") if public else _("✅ Publish"),
                          ModerateCb(action="publish", ticket_id=ticket.id)))
    buttons.append(button(_("🔒 Take off the board") if public else _("🔒 Keep off the board"),
                          ModerateCb(action="private", ticket_id=ticket.id)))
    return markup(buttons, 2)


def moderation_queue(tickets: Sequence[Ticket], prefix: str) -> InlineKeyboardMarkup:
    return markup([button(format_number(prefix, t.id), ModerateCb(action="open", ticket_id=t.id)) for t in tickets], 3)

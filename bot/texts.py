"""Shared wording: names of kinds, statuses and tiers, times, and the ticket card. All through i18n."""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _

from domain.models import Category, EventType, Grid, Kind, Resident, Role, Status, Ticket, TicketEvent, Tier
from domain.service import (
    PASSED_ON_OPENED,
    PASSED_ON_REMOVED,
    PASSED_ON_UNREACHABLE,
    Conflict,
    NotAllowed,
    NotFound,
    RateLimited,
    TicketError,
)
from domain.tickets import format_number


def kind_name(kind: Kind) -> str:
    return {
        Kind.COMPLAINT: _("Complaint"),
        Kind.REPORT: _("Public report"),
        Kind.SUGGESTION: _("Suggestion"),
    }[kind]


def status_name(status: Status) -> str:
    return {
        Status.NEW: _("New"),
        Status.IN_PROGRESS: _("In progress"),
        Status.WAITING_RESIDENT: _("Waiting for your answer"),
        Status.RESOLVED: _("Resolved, awaiting confirmation"),
        Status.REOPENED: _("Reopened"),
        Status.CLOSED: _("Closed"),
        Status.MERGED: _("Merged into another ticket"),
    }[status]


def tier_name(tier: Tier) -> str:
    return {
        Tier.GRID: _("grid"),
        Tier.VILLAGE: _("village"),
        Tier.TOWN: _("town command centre"),
        Tier.DEPARTMENT: _("department"),
    }[tier]


def weekday_names() -> tuple[str, ...]:
    """Short names of the days, Monday first."""
    return (_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun"))


def role_name(role: Role, scope: str = "") -> str:
    """A staff role with its scope, e.g. "grid worker · DL01"."""
    name = {
        Role.GRID_WORKER: _("grid worker"),
        Role.VILLAGE: _("village staff"),
        Role.TOWN: _("town command centre staff"),
        Role.DEPARTMENT: _("department staff"),
        Role.OFFICIAL: _("official"),
        Role.ADMIN: _("admin"),
        Role.INSPECTOR: _("inspector"),
        Role.SHOP_OWNER: _("shop owner"),
    }[role]
    return f"{name} · {escape(scope)}" if scope else name


def passed_on_text(reason: str, tier: Tier) -> str:
    """Why a ticket's holders changed without a move by staff (EventType.REASSIGNED)."""
    return {
        PASSED_ON_REMOVED: _("Passed on to the {tier}: a holder was removed from staff"),
        PASSED_ON_UNREACHABLE: _("Passed on to the {tier}: its holder cannot be reached on the bot"),
        PASSED_ON_OPENED: _("Back with the {tier}: its staff opened the bot"),
    }.get(reason, _("Passed on to the {tier}")).format(tier=tier_name(tier))


def category_name(category: Category | None, code: str, language: str) -> str:
    return category.name(language) if category else code


def format_duration(seconds: int) -> str:
    minutes = max(0, seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("{days} d {hours} h").format(days=days, hours=hours)
    if hours:
        return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
    return _("{minutes} min").format(minutes=minutes)


def format_time(epoch: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def deadline_text(due_at: int | None, now: int) -> str:
    if due_at is None:
        return ""
    if due_at >= now:
        return _("{left} left").format(left=format_duration(due_at - now))
    return _("overdue by {late}").format(late=format_duration(now - due_at))


def grid_line(grid: Grid | None, code: str) -> str:
    if grid is None:
        return escape(code)
    return _("{name} ({village}, {town})").format(
        name=escape(grid.name), village=escape(grid.village), town=escape(grid.town)
    )


def event_line(event_type: EventType, note: str | None, data: dict) -> str:
    if event_type is EventType.RATED:
        text = _("Rated {stars} of 5").format(stars=data.get("stars", "?"))
    elif event_type is EventType.DEADLINE_MISSED:
        missed = _("Reply deadline passed at the {tier}") if data.get("deadline") == "reply" else _(
            "Resolve deadline passed at the {tier}")
        text = missed.format(tier=tier_name(Tier(data["tier"])))
    elif event_type is EventType.ESCALATED and "to" in data:
        text = _("Escalated to the {tier}").format(tier=tier_name(Tier(data["to"])))
    elif event_type is EventType.REASSIGNED:
        text = passed_on_text(data.get("reason", ""), Tier(data.get("to", Tier.TOWN)))
    else:
        text = {
            EventType.CREATED: _("Filed"),
            EventType.FOLLOWED: _("Another resident joined (me too)"),
            EventType.TAKEN: _("Taken by staff"),
            EventType.REPLIED: _("Staff replied"),
            EventType.RESIDENT_MESSAGE: _("Resident answered"),
            EventType.RESOLVED: _("Marked resolved"),
            EventType.CONFIRMED: _("Confirmed solved by the resident"),
            EventType.REOPENED: _("Reopened by the resident"),
            EventType.HANDED_OVER: _("Handed over to another grid"),
            EventType.ESCALATED: _("Escalated"),
            EventType.REMINDED: _("Deadline reminder sent"),
        }[event_type]
    return text + (": " + escape(note) if note else "")


# Telegram's limit for one message's text.
MESSAGE_LIMIT = 4096
# A note in a history line is cut to this, so a long history still fits in one message.
HISTORY_NOTE_LIMIT = 200


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_message(text: str) -> str:
    """Keeps a composed message under Telegram's limit (cut at a line break when one is near)."""
    if len(text) <= MESSAGE_LIMIT:
        return text
    cut = text.rfind("\n", MESSAGE_LIMIT - 400, MESSAGE_LIMIT - 1)
    text = text[: cut if cut > 0 else MESSAGE_LIMIT - 1]
    if text.rfind("&") > text.rfind(";"):  # never end inside an HTML entity such as &amp;
        text = text[: text.rfind("&")]
    return text + "…"


def history_lines(events: list[TicketEvent], tz: ZoneInfo) -> list[str]:
    return [
        format_time(e.at, tz) + " · " + event_line(e.type, clip(e.note, HISTORY_NOTE_LIMIT) if e.note else None, e.data)
        for e in events
    ]


def ticket_card(
    ticket: Ticket,
    number_prefix: str,
    grid: Grid | None,
    category: Category | None,
    language: str,
    now: int,
    contact: Resident | None = None,
) -> str:
    """The card staff see. The resident's name appears only if they chose to share contact."""
    lines = [
        _("<b>Ticket {number}</b> · {kind}").format(
            number=format_number(number_prefix, ticket.id), kind=kind_name(ticket.kind)
        ),
        _("Category: {category}").format(
            category=escape(category_name(category, ticket.category_code, language))
        ),
        _("Grid: {grid}").format(grid=grid_line(grid, ticket.grid_code)),
        _("Status: {status} · tier: {tier}").format(
            status=status_name(ticket.status), tier=tier_name(ticket.tier)
        ),
        _("Filed {age} ago").format(age=format_duration(now - ticket.created_at)),
    ]
    if ticket.concerned_residents > 1:
        lines.append(_("Concerns {count} residents").format(count=ticket.concerned_residents))
    if ticket.photos:
        lines.append(_("Photos: {count}").format(count=len(ticket.photos)))
    if ticket.lat is not None and ticket.lon is not None:
        lines.append(_("Location: {lat:.5f}, {lon:.5f}").format(lat=ticket.lat, lon=ticket.lon))
    if contact is not None and ticket.share_contact:
        name = escape(contact.full_name or "")
        if contact.username:
            name += " @" + escape(contact.username)
        if contact.phone:
            name += " " + escape(contact.phone)
        lines.append(_("Resident: {name}").format(name=name.strip()))
    lines.append("")
    lines.append(escape(ticket.description))
    return "\n".join(lines)


def ticket_error_text(error: TicketError) -> str:
    if isinstance(error, NotFound):
        return _("This ticket or grid does not exist.")
    if isinstance(error, NotAllowed):
        return _("You cannot act on this ticket: it is not in your area or not at your tier.")
    if isinstance(error, Conflict):
        return _("This ticket has changed in the meantime, so this action no longer applies.")
    if isinstance(error, RateLimited):
        return _(
            "You have filed {count} tickets within the past hour, the most allowed. Your report is kept: "
            "please tap “Submit” again later."
        ).format(count=error.per_hour)
    return _("That input is not valid.")

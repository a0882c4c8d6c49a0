"""Shared wording: names of kinds, statuses and tiers, times, deadlines and lengths. All through i18n.
The ticket card and its history are in `bot.cards`."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from html import escape
from zoneinfo import ZoneInfo

from bot.catalogs import gettext as _
from domain.models import Category, Grid, Kind, MediaKind, Role, Status, Ticket, Tier, VisitOutcome, VisitReason
from domain.service import (
    PASSED_ON_OPENED,
    PASSED_ON_REMOVED,
    PASSED_ON_UNREACHABLE,
    Conflict,
    NotAllowed,
    NotFound,
    RateLimited,
    TicketError,
    TooManyAnswers,
    Unstaffed,
)
from domain.text import telegram_length, units


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
        Status.WITHDRAWN: _("Withdrawn by the resident"),
    }[status]


def public_status(status: Status) -> str:
    """The status as the public board and its channel say it."""
    if status is Status.WAITING_RESIDENT:  # "waiting for your answer" speaks to the resident
        return _("Waiting for the resident's answer")
    return status_name(status)


def visit_reason_text(reason: VisitReason) -> str:
    return {
        VisitReason.LOW_RATING: _("the resident rated it 1 or 2 stars"),
        VisitReason.REOPENED_TWICE: _("the resident said twice it is not solved"),
    }[reason]


def visit_outcome_name(outcome: VisitOutcome) -> str:
    return {
        VisitOutcome.SATISFIED: _("satisfied (满意)"),
        VisitOutcome.BASICALLY_SATISFIED: _("basically satisfied (基本满意)"),
        VisitOutcome.UNSATISFIED: _("unsatisfied (不满意)"),
    }[outcome]


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


def format_age(seconds: int) -> str:
    """How long ago: "just now" (刚刚) within the first minute, not "0 min ago"."""
    if seconds < 60:
        return _("just now")
    return _("{duration} ago").format(duration=format_duration(seconds))


def format_distance(metres: float) -> str:
    """350 m, 2.4 km, 480 km."""
    if metres < 1000:
        return _("{metres} m").format(metres=round(metres))
    km = metres / 1000
    return _("{km} km").format(km=f"{round(km, 1):g}" if km < 10 else round(km))


def media_summary(counted: dict[str, int]) -> str:
    """How many of each kind were attached (see domain.media.counts): "照片 2 张 · 语音 1 条"."""
    names = {
        MediaKind.PHOTO: _("Photos: {count}"),
        MediaKind.VIDEO: _("Videos: {count}"),
        MediaKind.VOICE: _("Voice messages: {count}"),
        MediaKind.VIDEO_NOTE: _("Video messages: {count}"),
    }
    return " · ".join(names[kind].format(count=counted[kind.value]) for kind in MediaKind if counted.get(kind.value))


def format_time(epoch: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def deadline_text(due_at: int | None, now: int) -> str:
    if due_at is None:
        return ""
    if due_at >= now:
        return _("{left} left").format(left=format_duration(due_at - now))
    return _("overdue by {late}").format(late=format_duration(now - due_at))


def deadline_summary(ticket: Ticket, now: int) -> str:
    """The time left to (or past) each running deadline of an open ticket."""
    if ticket.status is Status.WAITING_RESIDENT:
        return _("deadlines paused")
    parts = []
    if ticket.first_reply_at is None and ticket.reply_due_at is not None:
        parts.append(_("reply: {left}").format(left=deadline_text(ticket.reply_due_at, now)))
    if ticket.resolve_due_at is not None:
        parts.append(_("resolve: {left}").format(left=deadline_text(ticket.resolve_due_at, now)))
    return "; ".join(parts)


def grid_line(grid: Grid | None, code: str) -> str:
    if grid is None:
        return escape(code)
    return _("{name} ({village}, {town})").format(
        name=escape(grid.name), village=escape(grid.village), town=escape(grid.town)
    )


# Telegram's limits, in UTF-16 units of the text as shown (after HTML is parsed).
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_ANSWER_LIMIT = 200
# A note in a history line is cut to this, so a long history still fits in one message.
HISTORY_NOTE_LIMIT = 200
# An HTML tag or entity of the texts the bot composes (escaped text, <b>, <i>, <a href>, <code>).
HTML_TOKEN = re.compile(r"<[^<>]*>|&#?\w+;")


def visible_length(html_text: str) -> int:
    """What Telegram counts of an HTML text: the characters shown, in UTF-16 units."""
    return telegram_length(html.unescape(re.sub(r"<[^<>]*>", "", html_text)))


def fit_html(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The HTML text cut to `limit` shown units, with "…": at a line break when one is near, never
    inside a tag or an entity, and with the tags still open closed."""
    if visible_length(text) <= limit:
        return text
    budget = limit - 1  # the "…"
    open_tags: list[str] = []
    position = 0
    cut = 0
    line_break: tuple[int, list[str]] | None = None
    while position < len(text):
        token = HTML_TOKEN.match(text, position)
        if token and token.group().startswith("<"):
            name = re.match(r"</?\s*(\w+)", token.group())
            if name and token.group().startswith("</"):
                if open_tags and open_tags[-1] == name.group(1):
                    open_tags.pop()
            elif name and not token.group().endswith("/>"):
                open_tags.append(name.group(1))
            position = token.end()
            cut = position
            continue
        size = 1 if token else units(text[position])
        if size > budget:
            break
        budget -= size
        if text[position] == "\n" and budget < 400:
            line_break = (position, list(open_tags))
        position = token.end() if token else position + 1
        cut = position
    if line_break is not None:
        cut, open_tags = line_break
    return text[:cut] + "…" + "".join(f"</{tag}>" for tag in reversed(open_tags))


def fit_message(text: str) -> str:
    """Keeps a composed message within Telegram's limit for one message."""
    return fit_html(text, MESSAGE_LIMIT)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """An HTML text in messages of at most `limit` shown units, cut at line breaks (a line longer
    than a message, which the bot's texts do not have, is shortened)."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = current + "\n" + line if current else line
        if current and visible_length(candidate) > limit:
            parts.append(current)
            candidate = line
        current = candidate if visible_length(candidate) <= limit else fit_html(candidate, limit)
    if current:
        parts.append(current)
    return parts


def urged_recently_text(number: str, at: int, tz: ZoneInfo) -> str:
    return _("{number} was already urged at {time}; one urge per ticket an hour is enough.").format(
        number=number, time=format_time(at, tz))


def ticket_error_text(error: TicketError) -> str:
    if isinstance(error, NotFound):
        return _("This ticket or grid does not exist.")
    if isinstance(error, NotAllowed):
        return _("You cannot act on this ticket: it is not in your area or not at your tier.")
    if isinstance(error, Conflict):
        return _("This ticket has changed in the meantime, so this action no longer applies.")
    if isinstance(error, TooManyAnswers):
        return _(
            "You can send at most {count} answers on a ticket within an hour. Please wait for the staff, "
            "or try again later."
        ).format(count=error.per_hour)
    if isinstance(error, Unstaffed):
        return _("Nobody at {name} can receive tickets now.").format(name=escape(error.name))
    if isinstance(error, RateLimited):
        return _(
            "You have filed {count} tickets within the past hour, the most allowed. Your report is kept: "
            "please tap “Submit” again later."
        ).format(count=error.per_hour)
    return _("That input is not valid.")

"""A ticket's card and history: one text wherever it is opened (the pushed card, /queue, /t,
/overdue), for staff with everything, for residents without what is internal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from aiogram.methods import SendMediaGroup, SendPhoto, SendVideo, SendVideoNote, SendVoice, TelegramMethod
from aiogram.types import InputMediaPhoto, InputMediaVideo

from bot.catalogs import gettext as _
from bot.config import Settings
from bot.texts import (
    HISTORY_NOTE_LIMIT,
    MESSAGE_LIMIT,
    category_name,
    deadline_summary,
    format_age,
    fit_message,
    format_time,
    grid_line,
    kind_name,
    media_summary,
    passed_on_text,
    status_name,
    tier_name,
    visible_length,
    visit_outcome_name,
    visit_reason_text,
)
from domain.models import (
    Attachment, EventType, Grid, MediaKind, Ticket, TicketEvent, Tier, VisitOutcome, VisitReason,
)
from domain.media import counts, from_data
from domain.text import clip
from domain.tickets import OPEN_STATUSES, api_key_id, format_number, is_api_submitter, mask_personal
from storage.base import Storage

# Events only staff see: residents read what happened to their ticket (a missed deadline too),
# not how staff work on it.
INTERNAL_EVENTS = frozenset({EventType.NOTE, EventType.REMINDED, EventType.URGED, EventType.REASSIGNED,
                             EventType.PUBLISHED, EventType.KEPT_PRIVATE,
                             EventType.CONFIRM_REMINDED, EventType.VISIT_DUE, EventType.VISITED})
# Words the resident and staff wrote to each other; the filer reads them, followers do not.
# Every other note (escalation, hand-over and return reasons) is internal.
PUBLIC_NOTES = frozenset(
    {EventType.REPLIED, EventType.RESIDENT_MESSAGE, EventType.RESOLVED, EventType.REOPENED, EventType.RATED,
     EventType.WITHDRAWN}
)


def media_method(chat_id: int, part: Sequence[Attachment], caption: str | None = None) -> TelegramMethod:
    """One part of `domain.media.sending_parts`: an album of photos and videos (two to ten), or
    one item alone; a voice message goes as voice, a video note as a video note (which takes no
    caption)."""
    if len(part) > 1:
        album = [
            (InputMediaPhoto if a.kind is MediaKind.PHOTO else InputMediaVideo)(media=a.file_id) for a in part
        ]
        if caption:
            album[0] = album[0].model_copy(update={"caption": caption})
        return SendMediaGroup(chat_id=chat_id, media=album)
    item = part[0]
    if item.kind is MediaKind.VIDEO:
        return SendVideo(chat_id=chat_id, video=item.file_id, caption=caption)
    if item.kind is MediaKind.VOICE:
        return SendVoice(chat_id=chat_id, voice=item.file_id, caption=caption)
    if item.kind is MediaKind.VIDEO_NOTE:
        return SendVideoNote(chat_id=chat_id, video_note=item.file_id)
    return SendPhoto(chat_id=chat_id, photo=item.file_id, caption=caption)


def holder_place(tier: Tier, grid: Grid | None, department: str | None) -> str:
    """Who handles a ticket at a tier, as a resident reads it: a grid, a village committee, the
    town's command centre, or a department, by name."""
    if grid is None:
        return tier_name(tier)
    if tier is Tier.GRID:
        return escape(grid.name)
    if tier is Tier.VILLAGE:
        return _("the {village} village committee").format(village=escape(grid.village))
    if tier is Tier.TOWN:
        return _("the {town} command centre").format(town=escape(grid.town))
    return escape(department) if department else tier_name(tier)


@dataclass(frozen=True)
class HistoryNames:
    """What a history needs to name people and places: grids by code, staff by id."""

    prefix: str
    grids: dict[str, Grid]
    staff: dict[int, str]
    residents: frozenset[int]

    def actor(self, actor_id: int | None) -> str:
        if actor_id is None:
            return _("automatic")
        if actor_id in self.residents:
            return _("resident")
        return escape(self.staff.get(actor_id) or "#{}".format(actor_id))

    def grid(self, code: str) -> str:
        grid = self.grids.get(code)
        return escape(grid.name if grid else code)


async def history_names(db: Storage, settings: Settings, ticket: Ticket, events: list[TicketEvent]) -> HistoryNames:
    residents = frozenset([ticket.resident_id, *await db.followers(ticket.id)])
    actors = {e.actor_id for e in events if e.actor_id is not None and e.actor_id not in residents}
    staff = {m.telegram_id: m.name for m in await db.list_staff() if m.telegram_id in actors}
    for actor_id in actors - staff.keys():  # an admin from ADMIN_IDS, or someone no longer staff
        user = await db.get_user(actor_id)
        if user and user.full_name:
            staff[actor_id] = user.full_name
    codes = {ticket.grid_code} | {
        e.data[key] for e in events if e.type is EventType.HANDED_OVER for key in ("from", "to") if key in e.data
    }
    grids = {code: grid for code in codes if (grid := await db.get_grid(code)) is not None}
    return HistoryNames(settings.ticket_prefix, grids, staff, residents)


def _tier_move(data: dict) -> str:
    moves = [tier_name(Tier(data["from"])) if "from" in data else "", tier_name(Tier(data["to"])) if "to" in data else ""]
    text = " → ".join(m for m in moves if m)
    if data.get("department"):
        text += " ({})".format(escape(data["department"]))
    return text


def event_text(event: TicketEvent, names: HistoryNames, for_staff: bool) -> str:
    """What happened, without time and note; staff read who did it, and from where to where."""
    data = event.data
    kind = event.type
    if kind is EventType.HANDED_OVER:
        text = _("Handed over: {source} → {target}").format(
            source=names.grid(data.get("from", "")), target=names.grid(data.get("to", ""))
        )
    elif kind is EventType.ESCALATED and data.get("automatic"):
        text = _("Escalated automatically (resolve deadline passed): {move}").format(move=_tier_move(data))
    elif kind is EventType.ESCALATED:
        text = _("Escalated: {move}").format(move=_tier_move(data)) if "to" in data else _("Escalated")
    elif kind is EventType.RETURNED:
        text = _("Returned to the town command centre")
    elif kind is EventType.DEADLINE_MISSED:
        missed = (_("Reply deadline passed at the {tier}") if data.get("deadline") == "reply"
                  else _("Resolve deadline passed at the {tier}"))
        text = missed.format(tier=tier_name(Tier(data["tier"])))
    elif kind is EventType.RATED:
        text = _("Rated {stars} of 5").format(stars=data.get("stars", "?"))
    elif kind is EventType.MERGED:
        text = _("Merged into {number}").format(number=format_number(names.prefix, int(data.get("into", 0))))
    elif kind is EventType.REASSIGNED:
        text = passed_on_text(data.get("reason", ""), Tier(data.get("to", Tier.TOWN)))
    elif kind is EventType.PUBLISHED:
        text = _("📢 Public text changed") if data.get("edit") else _("📢 Published on the public board")
        if data.get("hidden_photos"):
            text += " " + _("(photos left out: {positions})").format(
                positions=", ".join(str(i + 1) for i in data["hidden_photos"]))
    elif kind is EventType.KEPT_PRIVATE:
        text = _("🔒 Taken off the public board") if data.get("was_public") else _("🔒 Kept off the public board")
    elif kind is EventType.REPLIED and data.get("ask"):
        text = _("Asked the resident")
    elif kind is EventType.RESIDENT_MESSAGE and data.get("addition"):
        text = _("Resident added information")
    elif kind is EventType.AUTO_CLOSED:
        text = _("Closed without the resident's confirmation after {days} days").format(days=data.get("days", "?"))
    elif kind is EventType.VISIT_DUE:
        text = _("Return visit (回访) due: {reason}, by the {tier}").format(
            reason=visit_reason_text(VisitReason(data["reason"])), tier=tier_name(Tier(data["tier"])))
    elif kind is EventType.VISITED:
        text = _("Return visit (回访): {outcome}").format(outcome=visit_outcome_name(VisitOutcome(data["outcome"])))
    else:
        text = {
            EventType.CREATED: _("Filed"),
            EventType.FOLLOWED: _("Another resident joined (me too)"),
            EventType.TAKEN: _("Taken"),
            EventType.REPLIED: _("Replied"),
            EventType.RESIDENT_MESSAGE: _("Resident answered"),
            EventType.RESOLVED: _("Marked resolved"),
            EventType.CONFIRMED: _("Confirmed solved by the resident"),
            EventType.REOPENED: _("Reopened by the resident"),
            EventType.REMINDED: _("Deadline reminder sent"),
            EventType.URGED: _("Urged"),
            EventType.NOTE: _("📝 Internal note"),
            EventType.WITHDRAWN: _("Withdrawn by the resident"),
            EventType.PHONED: _("📞 Contacted by phone"),
            EventType.CONFIRM_REMINDED: _("The resident was reminded to confirm"),
        }[kind]
    shows_actor = for_staff and event.actor_id is not None and event.actor_id not in names.residents
    return _("{event} ({who})").format(event=text, who=names.actor(event.actor_id)) if shows_actor else text


def history_lines(events: list[TicketEvent], names: HistoryNames, tz, for_staff: bool, show_notes: bool = True,
                  note_limit: int | None = HISTORY_NOTE_LIMIT) -> list[str]:
    """One line per event, oldest first. For residents, internal events are left out and only the
    words staff and the filer wrote to each other are shown (`show_notes` False: none at all).
    Notes are cut to `note_limit` (None: whole)."""
    lines = []
    for event in events:
        if not for_staff and event.type in INTERNAL_EVENTS:
            continue
        words_shown = for_staff or (show_notes and event.type in PUBLIC_NOTES)
        note = event.note if words_shown else None
        text = event_text(event, names, for_staff)
        if note:
            text = _("{event}: {note}").format(event=text, note=escape(clip(note, note_limit) if note_limit else note))
        if words_shown and event.data.get("attachments"):
            text += " · " + media_summary(counts(from_data(event.data["attachments"])))
        lines.append(format_time(event.at, tz) + " · " + text)
    return lines


def with_history(head: str, lines: list[str]) -> str:
    """The head and as much of the history as fits one message, newest kept, oldest left out."""
    text = head + "\n\n" + _("History:")
    budget = MESSAGE_LIMIT - visible_length(text) - 40
    kept: list[str] = []
    for line in reversed(lines):
        if visible_length(line) + 1 > budget:
            break
        kept.append(line)
        budget -= visible_length(line) + 1
    if len(kept) < len(lines):
        kept.append(_("… {count} earlier entries").format(count=len(lines) - len(kept)))
    return fit_message(text + "\n" + "\n".join(reversed(kept)))


def callback_line(phone: str) -> str:
    return _("📞 Please call back: {phone}").format(phone=escape(phone))


@dataclass(frozen=True)
class TicketCard:
    """A ticket as staff or a resident read it, as it fits one message, and the whole of it (every
    note in full), which its "📄 Full text" button sends in parts when it had to leave something out."""

    text: str
    whole: str

    @property
    def shortened(self) -> bool:
        return self.text != self.whole

    @classmethod
    def of(cls, head: str, events: list[TicketEvent], names: HistoryNames, tz, for_staff: bool,
           show_notes: bool = True) -> TicketCard:
        """`head` with as much of the history as fits (notes cut), and with all of it (as `history_lines`)."""
        whole = history_lines(events, names, tz, for_staff, show_notes, note_limit=None)
        return cls(
            with_history(head, history_lines(events, names, tz, for_staff, show_notes)),
            head + "\n\n" + _("History:") + "\n" + "\n".join(whole),
        )


async def staff_card_whole(db: Storage, settings: Settings, ticket: Ticket, language: str, now: int,
                           holds: bool) -> TicketCard:
    """The card staff see: kind, category, grid, status and holder, age, deadlines, photos,
    location, the resident's name if they shared it, the call-back number for those who hold the
    ticket (`holds`: they may act on it now), the text, and the whole history."""
    grid = await db.get_grid(ticket.grid_code)
    category = await db.get_category(ticket.category_code)
    events = await db.events(ticket.id)
    names = await history_names(db, settings, ticket, events)
    lines = [
        _("<b>Ticket {number}</b> · {kind}").format(
            number=format_number(settings.ticket_prefix, ticket.id), kind=kind_name(ticket.kind)
        ),
        _("Category: {category}").format(category=escape(category_name(category, ticket.category_code, language))),
        _("Grid: {grid}").format(grid=grid_line(grid, ticket.grid_code)),
        _("Status: {status} · tier: {tier}").format(status=status_name(ticket.status), tier=tier_name(ticket.tier)),
    ]
    if ticket.tier is Tier.DEPARTMENT and ticket.department:
        lines.append(_("Department: {name}").format(name=escape(ticket.department)))
    if ticket.assignee_id is not None:
        lines.append(_("Handled by: {name}").format(name=names.actor(ticket.assignee_id)))
    lines.append(_("Filed {time} ({age})").format(
        time=format_time(ticket.created_at, settings.timezone), age=format_age(now - ticket.created_at)
    ))
    if ticket.status in OPEN_STATUSES:
        deadlines = deadline_summary(ticket, now)
        if deadlines:
            lines.append(_("Deadlines: {deadlines}").format(deadlines=deadlines))
    if ticket.concerned_residents > 1:
        lines.append(_("Concerns {count} residents").format(count=ticket.concerned_residents))
    if ticket.attachments:
        lines.append(media_summary(counts(ticket.attachments)))
    if ticket.lat is not None and ticket.lon is not None:
        lines.append(_("Location: {lat:.5f}, {lon:.5f}").format(lat=ticket.lat, lon=ticket.lon))
    if ticket.share_contact:
        contact = await db.get_user(ticket.resident_id)
        if contact is not None:
            name = escape(contact.full_name or "")
            if contact.username:
                name += " @" + escape(contact.username)
            lines.append(_("Resident: {name}").format(name=name.strip()))
    if is_api_submitter(ticket.resident_id):
        key = next((k for k in await db.api_keys() if k.id == api_key_id(ticket.resident_id)), None)
        lines.append(_("🌐 Filed through the Open311 API by {name}, which follows it there: nobody can be asked or "
                       "told anything in Telegram.").format(name=escape(key.name if key else "?")))
    if ticket.callback_phone:
        lines.append(callback_line(ticket.callback_phone) if holds
                     else _("📞 The resident asked to be called back (the number is shown to those handling it)"))
    lines += ["", escape(ticket.description)]
    return TicketCard.of("\n".join(lines), events, names, settings.timezone, for_staff=True)


async def resident_view(db: Storage, settings: Settings, ticket: Ticket, viewer_id: int, language: str) -> TicketCard:
    """A ticket as a resident reads it: no internal notes or events; a follower reads what happened,
    not what the filer and staff wrote to each other."""
    grid = await db.get_grid(ticket.grid_code)
    category = await db.get_category(ticket.category_code)
    events = await db.events(ticket.id)
    names = await history_names(db, settings, ticket, events)
    head = "\n".join([
        _("<b>Ticket {number}</b> · {kind}").format(
            number=format_number(settings.ticket_prefix, ticket.id), kind=kind_name(ticket.kind)
        ),
        _("Category: {category}").format(category=escape(category_name(category, ticket.category_code, language))),
        _("Grid: {grid}").format(grid=grid_line(grid, ticket.grid_code)),
        _("Status: {status}").format(status=status_name(ticket.status)),
        "",
        escape(ticket.description if ticket.resident_id == viewer_id else mask_personal(ticket.description)),
    ])
    return TicketCard.of(head, events, names, settings.timezone, for_staff=False,
                         show_notes=ticket.resident_id == viewer_id)

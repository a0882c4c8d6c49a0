"""Turns a stored notice into one Bot API call, in the recipient's language at sending time."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from aiogram.methods import DeleteMyCommands, SendLocation, SendMessage, SetMyCommands, TelegramMethod
from aiogram.types import BotCommandScopeChat, ReplyKeyboardRemove
from aiogram.utils.i18n import I18n

from bot.catalogs import gettext as _
from bot.channel import ChannelMirror, board_link
from bot.commands import commands_for
from bot.config import Settings
from bot.digest import NOTICE_DIGEST
from bot.i18n import pick_language
from bot.stats_report import report_text
from bot.cards import callback_line, holder_place, media_method, staff_card_whole
from bot.texts import (
    deadline_text,
    fit_message,
    format_time,
    kind_name,
    media_summary,
    passed_on_text,
    role_name,
    status_name,
    tier_name,
    visit_outcome_name,
    visit_reason_text,
)
from domain import service
from domain.board import reviews
from domain.media import from_data, sending_parts
from domain.models import EventType, Notice, Role, RoleGrant, Status, Ticket, Tier, VisitOutcome, VisitReason
from domain.shops import NOTICE_INSPECTION_SAVED, NOTICE_SHOP_RATED
from domain.stats import Period, PeriodKind, Scope, ScopeLevel
from domain.tickets import format_number
from handlers import keyboards
from handlers.stats import report_keyboard
from storage.base import Storage


def card_context(data: dict) -> str:
    """Why a card came again to the town command centre (the card's notice data says)."""
    if data.get("returned_by"):
        return _("↩️ Returned by {department}: route it again.").format(department=escape(data["returned_by"]))
    if data.get("supervision"):
        return _("⏰ {department} did not resolve it in time: it is back under your supervision. "
                 "Route it again or urge the department.").format(department=escape(data["supervision"]))
    if data.get("unrouted"):
        return _("⏰ Overdue, and {department} cannot take it (nobody there, or it returned the ticket): "
                 "it stays with you. Route it to another department or resolve it.").format(
            department=escape(data["unrouted"])
        )
    return ""


def message_text(heading: str, data: dict) -> str:
    """A message between the resident and staff: its heading, its words, and what is attached
    (sent right after it)."""
    lines = [heading]
    if data["text"]:
        lines.append(escape(data["text"]))
    if data.get("media"):
        lines.append(_("Attached (sent with this message): {media}").format(media=media_summary(data["media"])))
    return "\n".join(lines)


class NoticeRenderer:
    def __init__(self, storage: Storage, settings: Settings, i18n: I18n, clock: Callable[[], int]):
        self.storage = storage
        self.settings = settings
        self.i18n = i18n
        self.clock = clock
        self.channel = ChannelMirror(storage, settings, clock)

    async def language_of(self, chat_id: int) -> str:
        user = await self.storage.get_user(chat_id)
        if user is None:
            return self.settings.default_language
        return pick_language(user.language, user.telegram_language, self.settings.default_language)

    async def grants_of(self, chat_id: int) -> list[RoleGrant]:
        """The person's roles, with admin for ADMIN_IDS."""
        grants = await self.storage.roles_of(chat_id)
        if chat_id in self.settings.admin_ids:
            grants.append(RoleGrant(Role.ADMIN))
        return grants

    async def render(self, notice: Notice) -> TelegramMethod | None:
        """None when there is nothing left to say (the ticket is gone)."""
        if notice.type == NOTICE_DIGEST:
            return await self._digest(notice)
        if notice.type in (service.NOTICE_UNREACHABLE_STAFF, service.NOTICE_ROLE_REMOVED, service.NOTICE_COMMANDS):
            return await self._staff_notice(notice)
        if notice.type in (NOTICE_SHOP_RATED, NOTICE_INSPECTION_SAVED):
            return await self._codes_notice(notice)
        ticket = await self.storage.get_ticket(notice.ticket_id) if notice.ticket_id else None
        if ticket is None:
            return None
        language = await self.language_of(notice.chat_id)
        number = format_number(self.settings.ticket_prefix, ticket.id)
        chat_id = notice.chat_id
        with self.i18n.context(), self.i18n.use_locale(language):
            if notice.type == service.NOTICE_CHANNEL_POST:
                return await self.channel.render(notice)
            if notice.type in (service.NOTICE_TICKET_PHOTOS, service.NOTICE_AFTER_PHOTOS):
                stored = ticket.attachments if notice.type == service.NOTICE_TICKET_PHOTOS else ticket.after_attachments
                parts = sending_parts(stored)
                part = notice.data.get("part", 0)
                return media_method(chat_id, parts[part]) if part < len(parts) else None
            if notice.type == service.NOTICE_MEDIA:
                return media_method(chat_id, from_data(notice.data["media"]), caption=number)
            if notice.type == service.NOTICE_TICKET_LOCATION:
                return SendLocation(chat_id=chat_id, latitude=ticket.lat, longitude=ticket.lon)
            if notice.type == service.NOTICE_NEW_TICKET:
                # A card goes to those who hold the ticket now.
                card = await staff_card_whole(self.storage, self.settings, ticket, language, self.clock(), True)
                text = card.text
                if notice.data.get("passed_on"):
                    text = passed_on_text(notice.data["passed_on"], ticket.tier) + "\n\n" + text
                why = card_context(notice.data)
                if why:
                    text = why + "\n\n" + text
                moderates = reviews(await self.grants_of(chat_id), ticket, await self.storage.get_grid(ticket.grid_code), self.settings.board)
                return SendMessage(chat_id=chat_id, text=fit_message(text),
                                   reply_markup=keyboards.staff_ticket(ticket, shortened=card.shortened,
                                                                       moderates=moderates))
            if notice.type == service.NOTICE_STATUS:
                status = Status(notice.data["status"])
                text = _("Your ticket {number} is now: {status}").format(
                    number=number, status=status_name(status)
                )
                if notice.data.get("tier") or notice.data.get("grid"):
                    # Where it went, by name; why (the reason) is internal.
                    grid = await self.storage.get_grid(notice.data.get("grid") or ticket.grid_code)
                    tier = Tier(notice.data.get("tier") or Tier.GRID)
                    text += "\n" + _("It is now handled by {place}.").format(
                        place=holder_place(tier, grid, notice.data.get("department") or ticket.department)
                    )
                return SendMessage(chat_id=chat_id, text=text)
            if notice.type == service.NOTICE_REPLY:
                heading = (
                    _("Question from staff on ticket {number}:")
                    if notice.data.get("ask")
                    else _("Reply from staff on ticket {number}:")
                )
                return SendMessage(
                    chat_id=chat_id,
                    text=message_text(heading.format(number=number), notice.data),
                    reply_markup=keyboards.answer_staff(ticket.id),
                )
            if notice.type == service.NOTICE_RESIDENT_MESSAGE:
                heading = (_("The resident added to ticket {number}:") if notice.data.get("addition")
                           else _("The resident answered on ticket {number}:"))
                return SendMessage(
                    chat_id=chat_id,
                    text=message_text(heading.format(number=number), notice.data),
                    reply_markup=keyboards.open_card(ticket),
                )
            if notice.type == service.NOTICE_RESOLVED:
                return SendMessage(
                    chat_id=chat_id,
                    text=_(
                        "Your ticket {number} was marked resolved:\n{note}\n\nIs the problem solved?"
                    ).format(number=number, note=escape(notice.data["note"])),
                    reply_markup=keyboards.solved_question(ticket.id),
                )
            if notice.type == service.NOTICE_REMINDER:
                due = notice.data.get("resolve_due_at")
                lines = [_("Reminder: ticket {number} is waiting for you.").format(number=number)]
                if notice.data.get("reply_overdue"):
                    lines.append(_("The resident has had no reply yet, and the reply deadline has passed."))
                if due:
                    lines.append(
                        _("Resolve by {time} ({left}); after that it goes up to the next tier.").format(
                            time=format_time(due, self.settings.timezone), left=deadline_text(due, self.clock())
                        )
                    )
                return SendMessage(chat_id=chat_id, text="\n".join(lines), reply_markup=keyboards.open_card(ticket))
            if notice.type == service.NOTICE_ESCALATED_AWAY:
                return SendMessage(
                    chat_id=chat_id,
                    text=_(
                        "Ticket {number} passed its resolve deadline and went up to the {tier} by itself; "
                        "it has left your queue."
                    ).format(number=number, tier=tier_name(Tier(notice.data["to"]))),
                    reply_markup=keyboards.open_card(ticket),
                )
            if notice.type == service.NOTICE_DONE:
                return self._done(notice, ticket, number)
            if notice.type == service.NOTICE_URGED:
                text = _("⏰ You are urged to deal with ticket {number} now.").format(number=number)
                if ticket.resolve_due_at:
                    text += "\n" + _("Resolve deadline: {due}").format(
                        due=deadline_text(ticket.resolve_due_at, self.clock())
                    )
                return SendMessage(chat_id=chat_id, text=text, reply_markup=keyboards.open_card(ticket))
            if notice.type == service.NOTICE_MERGED:
                into = format_number(self.settings.ticket_prefix, notice.data["into"])
                return SendMessage(
                    chat_id=chat_id,
                    text=_(
                        "Your ticket {number} is about the same problem as ticket {into}, so the two were merged. "
                        "You now follow {into} and will be told of its progress."
                    ).format(number=number, into=into),
                )
            if notice.type == service.NOTICE_WITHDRAWN:
                return SendMessage(
                    chat_id=chat_id,
                    text=_("↩️ The resident withdrew ticket {number}; nothing more is to be done. Their reason:").format(
                        number=number) + "\n" + escape(notice.data["reason"]),
                    reply_markup=keyboards.open_card(ticket),
                )
            if notice.type == service.NOTICE_CONFIRM_REMINDER:
                return SendMessage(
                    chat_id=chat_id,
                    text=_(
                        "Ticket {number} was marked resolved and waits for your answer: is the problem solved? "
                        "Without an answer it will be closed on {time} without your confirmation."
                    ).format(number=number, time=format_time(notice.data["close_at"], self.settings.timezone)),
                    reply_markup=keyboards.solved_question(ticket.id),
                )
            if notice.type == service.NOTICE_AUTO_CLOSED:
                return SendMessage(chat_id=chat_id, text=_(
                    "Ticket {number} was closed without your confirmation: it waited {days} days for your answer. "
                    "If the problem is still there, please report it again."
                ).format(number=number, days=notice.data["days"]))
            if notice.type == service.NOTICE_RETURN_VISIT:
                return await self._return_visit(notice, ticket, number)
            if notice.type == service.NOTICE_AWAITS_REVIEW:
                grid = await self.storage.get_grid(ticket.grid_code)
                return SendMessage(chat_id=chat_id, text=_(
                    "📢 {kind} {number} ({grid}) waits for your decision: may the public board show it? "
                    "Open it to decide, or see everything waiting with /moderate."
                ).format(kind=kind_name(ticket.kind), number=number, grid=escape(grid.name if grid else ticket.grid_code)),
                    reply_markup=keyboards.open_card(ticket))
            if notice.type == service.NOTICE_NOW_PUBLIC:
                grid = await self.storage.get_grid(ticket.grid_code)
                link = board_link(self.settings, grid.town, ticket.id) if grid else ""
                return SendMessage(chat_id=chat_id, text=_(
                    "📢 Your ticket {number} ({kind}) is now on the public board, as staff approved it. Your name "
                    "and contact details are never shown."
                ).format(kind=kind_name(ticket.kind), number=number) + ("\n" + link if link else ""))
            if notice.type == service.NOTICE_RATED:
                text = _("The resident rated ticket {number}: {stars} of 5").format(
                    number=number, stars=notice.data["stars"]
                )
                if notice.data.get("comment"):
                    text += "\n" + escape(notice.data["comment"])
                return SendMessage(chat_id=chat_id, text=text)
        raise ValueError(f"unknown notice type {notice.type!r}")

    async def sent(self, notice: Notice, method: TelegramMethod, result: object) -> None:
        """What Telegram answered a notice matters for later ones: a channel post's message id."""
        if notice.type == service.NOTICE_CHANNEL_POST:
            await self.channel.sent(notice, method, result)

    def _done(self, notice: Notice, ticket: Ticket, number: str) -> TelegramMethod:
        """What the person who acted is told, with the buttons of their next step."""
        event, data, markup = EventType(notice.data["event"]), notice.data, None
        if event is EventType.CREATED:
            tier = Tier(data["tier"])
            if tier is Tier.GRID:
                text = _(
                    "Thank you! Your ticket number is <b>{number}</b>. It went to your grid worker; "
                    "you will get every update here. /my shows your tickets."
                ).format(number=number)
            else:  # nobody in the grid could be reached on the bot yet: the tier above has it
                text = _(
                    "Thank you! Your ticket number is <b>{number}</b>. It went to the {tier}; "
                    "you will get every update here. /my shows your tickets."
                ).format(number=number, tier=tier_name(tier))
        elif event is EventType.FOLLOWED:
            text = _("You now follow ticket {number} and will get its updates. It concerns {count} residents.").format(
                number=number, count=ticket.concerned_residents
            )
        elif event is EventType.RESIDENT_MESSAGE:
            text = (_("What you added was sent to the staff.") if data.get("addition")
                    else _("Your answer was sent to the staff."))
            markup = ReplyKeyboardRemove()  # the "Done" keyboard of the answer step
        elif event is EventType.CONFIRMED:
            text = _("Glad it is solved! How satisfied are you with how it was handled?")
            markup = keyboards.stars(ticket.id)
        elif event is EventType.REOPENED:
            text = _("Ticket {number} is reopened; the staff will look at it again.").format(number=number)
        elif event is EventType.RATED:
            text = (_("Thank you! Your comment was passed on.") if data.get("with_note")
                    else _("Thank you for rating! You may add a comment, or send /skip."))
        elif event is EventType.TAKEN:
            text = _("You took ticket {number}.").format(number=number)
        elif event is EventType.URGED:
            text = _("Urged: {count} holder(s) of {number} got a message.").format(
                count=len(data["holders"]), number=number
            )
        elif event is EventType.REPLIED:
            text = _("Your reply was sent to the resident.")
        elif event is EventType.RESOLVED:
            text = _("Ticket {number} is marked resolved. The resident is asked to confirm.").format(number=number)
            markup = ReplyKeyboardRemove()  # the "Done" keyboard of the resolution form
        elif event is EventType.HANDED_OVER:
            text = _("Ticket {number} was handed over.").format(number=number)
        elif event is EventType.RETURNED:
            text = _("Ticket {number} went back to the town command centre with your reason.").format(number=number)
        elif event is EventType.MERGED:
            text = _("Ticket {number} was merged into {into}; its residents now follow {into} and were told.").format(
                number=number, into=format_number(self.settings.ticket_prefix, data["into"])
            )
        elif event is EventType.NOTE:
            text = _("Note added to ticket {number}. Only staff see it.").format(number=number)
        elif event is EventType.WITHDRAWN:
            text = _("Ticket {number} is withdrawn; the staff were told. /my shows your tickets.").format(number=number)
        elif event is EventType.PUBLISHED:
            text = (_("The public text of ticket {number} is changed on the board.") if data.get("edit")
                    else _("Ticket {number} is on the public board now."))
        elif event is EventType.KEPT_PRIVATE:
            text = (_("Ticket {number} was taken off the public board.") if data.get("was_public")
                    else _("Ticket {number} stays off the public board."))
        elif event is EventType.PHONED:
            text = _("Your call with the resident of ticket {number} is recorded.").format(number=number)
        elif event is EventType.VISITED:
            text = _("Return visit for ticket {number} recorded: {outcome}.").format(
                number=number, outcome=visit_outcome_name(VisitOutcome(data["outcome"])))
        elif event is EventType.ESCALATED:
            text = _("Ticket {number} went up to the {tier}.").format(number=number, tier=tier_name(Tier(data["to"])))
        else:
            raise ValueError(f"no confirmation for {event}")
        return SendMessage(chat_id=notice.chat_id, text=text, reply_markup=markup)

    async def _return_visit(self, notice: Notice, ticket: Ticket, number: str) -> TelegramMethod | None:
        """To the village or town: whom to contact and why, the call-back number if the resident
        gave one (they are the staff who contact the resident now), and the outcome buttons."""
        reason = VisitReason(notice.data["reason"])
        visit = next((v for v in await self.storage.return_visits(ticket.id) if v.reason is reason), None)
        if visit is None:
            return None
        lines = [_("📞 Return visit (回访) for ticket {number}: {reason}. Please contact the resident, then record "
                   "how satisfied they are now.").format(number=number, reason=visit_reason_text(reason))]
        if ticket.callback_phone:
            lines.append(callback_line(ticket.callback_phone))
        return SendMessage(chat_id=notice.chat_id, text="\n".join(lines),
                           reply_markup=keyboards.visit_outcomes(visit.id, ticket))

    async def _staff_notice(self, notice: Notice) -> TelegramMethod:
        """Who cannot be reached (to the town command centre and admins); a removed role and the
        command menu that goes with the roles left (to the person removed)."""
        chat_id = notice.chat_id
        language = await self.language_of(chat_id)
        with self.i18n.context(), self.i18n.use_locale(language):
            if notice.type == service.NOTICE_COMMANDS:
                grants = await self.grants_of(chat_id)
                scope = BotCommandScopeChat(chat_id=chat_id)
                if not grants:
                    return DeleteMyCommands(scope=scope)
                return SetMyCommands(commands=commands_for(grants), scope=scope)
            if notice.type == service.NOTICE_ROLE_REMOVED:
                return SendMessage(chat_id=chat_id, text=_(
                    "You no longer hold the role {role} in this bot. The tickets you held went to your "
                    "colleagues or to the tier above."
                ).format(role=role_name(Role(notice.data["role"]), notice.data["scope"])))
            lines = [_("⚠️ Staff who cannot be reached on the bot. Their tickets went to the tier above; "
                       "please ask them to open the bot and send /start.")]
            for person in notice.data["people"]:
                state = _("blocked the bot") if person["blocked"] else _("has not opened the bot")
                lines.append(_("• {name} ({role}): {state}; tickets waiting: {count}").format(
                    name=escape(person["name"]), role=role_name(Role(person["role"]), person["scope"]),
                    state=state, count=person["waiting"],
                ))
            return SendMessage(chat_id=chat_id, text=fit_message("\n".join(lines)))

    async def _codes_notice(self, notice: Notice) -> TelegramMethod | None:
        """The thanks for a shop rating (asking for the comment) or for its comment; an inspection saved."""
        chat_id, data = notice.chat_id, notice.data
        language = await self.language_of(chat_id)
        with self.i18n.context(), self.i18n.use_locale(language):
            if notice.type == NOTICE_SHOP_RATED:
                if data["comment"]:
                    return SendMessage(chat_id=chat_id, text=_("Thank you! Your comment was passed on."))
                shop = await self.storage.get_shop(data["shop"])
                lines = [_("Thank you for rating {shop}!").format(shop=escape(shop.name if shop else data["shop"]))]
                if data["replaced"]:
                    lines.append(_("It replaces your earlier rating of this shop today: one rating per shop and day "
                                   "counts."))
                lines.append(_("You may add a comment for the shop owner, or send /skip."))
                return SendMessage(chat_id=chat_id, text="\n".join(lines))
            inspection = await self.storage.get_inspection(data["inspection"])
            site = await self.storage.get_site(inspection.site_code) if inspection else None
            if site is None:
                return None
            return SendMessage(
                chat_id=chat_id,
                text=_("Inspection of {site} saved (photos: {photos}).").format(
                    site=escape(site.name), photos=inspection.photo_count
                ),
                reply_markup=ReplyKeyboardRemove(),  # the "Done" keyboard of the inspection form
            )

    async def _digest(self, notice: Notice) -> TelegramMethod:
        # "week": notices queued before monthly digests existed.
        period = Period.parse(notice.data.get("period") or notice.data["week"])
        scope = Scope(ScopeLevel.TOWN, notice.data["town"]) if notice.data.get("town") else Scope()
        language = await self.language_of(notice.chat_id)
        grants = await self.storage.roles_of(notice.chat_id)
        grids = await self.storage.list_grids()
        with self.i18n.context(), self.i18n.use_locale(language):
            report = await report_text(self.storage, self.settings, period, scope, language, escape, self.clock())
            title = _("Weekly digest") if period.kind is PeriodKind.WEEK else _("Monthly digest")
            markup = report_keyboard(period, scope, self.clock(), self.settings, grants, grids)
        return SendMessage(chat_id=notice.chat_id, text=title + "\n" + report, reply_markup=markup)

"""The board's mirror in a Telegram channel (PUBLIC_CHANNEL_ID, issue 15): each approved public
report is posted to the channel, and the post is edited as the ticket moves (status, resolution,
the "after" photo); taken off the board, it is deleted.

Posts go through the crash-safe outbox as notices of kind NOTICE_CHANNEL_POST (domain/service.py),
queued with the change that calls for them. Each renders the ticket as it is when it is sent, so a
notice queued twice does no harm. A post shows what the board shows: the number, kind, category,
grid, the approved public text, the status in plain words, when it was resolved, and the latest
approved photo (the "after" photo once there is one); never the resident, their words or staff's."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from aiogram.methods import (
    DeleteMessage,
    EditMessageMedia,
    EditMessageText,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import InputMediaPhoto, Message

from bot.catalogs import gettext as _
from bot.config import Settings
from bot.texts import CAPTION_LIMIT, category_name, fit_html, format_time, kind_name, public_status
from domain import service
from domain.board import BoardService, board_path, public_photos
from domain.models import Category, Grid, Notice, PublicPost, Status, Ticket
from domain.tickets import format_number
from storage.base import Storage


def channel_text(ticket: Ticket, post: PublicPost, grid: Grid, category: Category | None, settings: Settings) -> str:
    """The post (or a photo's caption, hence its limit), in DEFAULT_LANGUAGE."""
    head = " · ".join([
        "📢 " + format_number(settings.ticket_prefix, ticket.id), kind_name(ticket.kind),
        escape(category_name(category, ticket.category_code, settings.default_language)),
    ])
    lines = [f"<b>{head}</b>", escape(f"{grid.name}（{grid.village}，{grid.town}）"), "", escape(post.text), "",
             _("Status: {status}").format(status=public_status(ticket.status))]
    if ticket.resolved_at is not None and ticket.status in (Status.RESOLVED, Status.CLOSED):
        lines.append(_("Resolved on {time}").format(time=format_time(ticket.resolved_at, settings.timezone)))
    link = board_link(settings, grid.town, ticket.id)
    if link:
        lines.append(link)
    return fit_html("\n".join(lines), CAPTION_LIMIT)


def board_link(settings: Settings, town: str, ticket_id: int) -> str:
    """A link to the ticket on the town's board page, where WEB_BASE_URL says the server is."""
    if not settings.web_base_url:
        return ""
    url = f"{settings.web_base_url}{board_path(town)}#{format_number(settings.ticket_prefix, ticket_id)}"
    return '<a href="{url}">{label}</a>'.format(url=escape(url, quote=True), label=_("On the public board"))


class ChannelMirror:
    def __init__(self, storage: Storage, settings: Settings, clock: Callable[[], int]):
        self.storage = storage
        self.settings = settings
        self.clock = clock

    async def _shown(self, ticket_id: int) -> tuple[Ticket, PublicPost, Grid] | None:
        return await BoardService(self.storage, self.clock, self.settings.board).published_ticket(ticket_id)

    async def render(self, notice: Notice) -> TelegramMethod | None:
        """The post, its edit, or its deletion once the board no longer shows the ticket."""
        chat_id, stored = notice.chat_id, await self.storage.channel_post(notice.ticket_id)
        shown = await self._shown(notice.ticket_id)
        if shown is None:
            return DeleteMessage(chat_id=chat_id, message_id=stored[0]) if stored else None
        ticket, post, grid = shown
        text = channel_text(ticket, post, grid, await self.storage.get_category(ticket.category_code), self.settings)
        photos = public_photos(ticket, post)
        if stored is None:
            if photos:
                return SendPhoto(chat_id=chat_id, photo=photos[-1].file_id, caption=text)
            return SendMessage(chat_id=chat_id, text=text)
        message_id, with_photo = stored
        if with_photo and not photos:
            # Staff hid the photo: a photo cannot be taken out of a post, so the post goes and
            # comes again without it (`sent`).
            return DeleteMessage(chat_id=chat_id, message_id=message_id)
        if with_photo:
            return EditMessageMedia(chat_id=chat_id, message_id=message_id,
                                    media=InputMediaPhoto(media=photos[-1].file_id, caption=text))
        # A text post stays text (Telegram cannot add a photo to it); the board shows the photos.
        return EditMessageText(chat_id=chat_id, message_id=message_id, text=text)

    async def sent(self, notice: Notice, method: TelegramMethod, result: object) -> None:
        """Keep a new post's message id for its edits; after a deletion, post again if the board
        still shows the ticket."""
        if isinstance(method, (SendMessage, SendPhoto)) and isinstance(result, Message):
            await self.storage.keep_channel_post(notice.ticket_id, result.message_id, isinstance(method, SendPhoto))
        elif isinstance(method, DeleteMessage):
            await self.storage.forget_channel_post(notice.ticket_id)
            if await self._shown(notice.ticket_id) is not None:
                await self.storage.enqueue([Notice(notice.chat_id, service.NOTICE_CHANNEL_POST, notice.ticket_id)],
                                           self.clock())

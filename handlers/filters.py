"""Role filters, used on whole routers so handlers do not repeat the check."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import I18n

from bot.catalogs import gettext as _
from domain.models import Role, RoleGrant
from domain.tickets import has_role, is_staff


class IsStaff(Filter):
    """Grid workers, village, town and department staff, and admins."""

    async def __call__(self, event: TelegramObject, grants: list[RoleGrant] | None = None) -> bool:
        return is_staff(grants or [])


class HasRole(Filter):
    def __init__(self, *roles: Role):
        self.roles = roles

    async def __call__(self, event: TelegramObject, grants: list[RoleGrant] | None = None) -> bool:
        return has_role(grants or [], *self.roles)


DONE_MSGID = "✅ Done"


def done_label() -> str:
    """The label of the "Done" reply button, in the current language."""
    return _("✅ Done")


NO_CALL_MSGID = "↩️ Back, no call"


def no_call_label() -> str:
    """The reply button that leaves the call-back step without a number."""
    return _("↩️ Back, no call")


class ReplyButton(Filter):
    """A reply button by its text (`msgid`) in any language: the user may have switched with /lang mid-form."""

    def __init__(self, msgid: str):
        self.msgid = msgid

    async def __call__(self, message: Message, i18n: I18n) -> bool:
        labels = {i18n.gettext(self.msgid, locale=language) for language in i18n.available_locales}
        return message.text in labels | {self.msgid}


class DoneButton(ReplyButton):
    """The "Done" button in any language."""

    def __init__(self):
        super().__init__(DONE_MSGID)


class Has(Filter):
    """A message carrying this content: "text", "photo", "voice", "location" or "document".

    Used instead of F.text and the like: aiogram runs a synchronous filter, which a magic filter
    is, in a worker thread (asyncio.to_thread), and that trip costs far more than the check."""

    def __init__(self, content: str):
        self.content = content

    async def __call__(self, message: Message) -> bool:
        return getattr(message, self.content, None) is not None


class HasMedia(Filter):
    """A message carrying something that can be attached (see handlers.common.media_of)."""

    async def __call__(self, message: Message) -> bool:
        return any(getattr(message, kind, None) for kind in ("photo", "video", "voice", "video_note"))

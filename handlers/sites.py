"""Supervision codes (监管码): whoever scans `s_<code>` sees the facility or street and its latest
inspection records (each opens in full, with its photos); inspectors of the site's town also get
"Add inspection": a note (required), up to 5 photos, then Done. /siteqr sends a site's code
(admins, and inspectors of its town). Rules: domain/shops.py."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import I18n

from bot.cards import media_method
from bot.catalogs import gettext as _
from bot.codes import site_specs
from bot.config import Settings
from bot.texts import format_time, grid_line
from domain.media import from_data
from domain.models import Role, RoleGrant
from domain.shops import (
    MAX_INSPECTION_PHOTOS,
    RECENT_INSPECTIONS,
    Inspection,
    NewInspection,
    Site,
    SiteKind,
    inspection_confirmation,
    may_inspect,
)
from domain.tickets import has_role
from handlers import keyboards
from handlers.codes import answer_with_card
from handlers.common import take_attachment, take_note
from handlers.filters import DoneButton, Has
from handlers.callbacks import InspectionCb, SiteInspectCb
from handlers.keyboards import button, markup
from handlers.shops import not_yours
from handlers.states import Inspect
from storage.base import Storage

# A site's card lists the start of each note; the whole note is one tap away.
NOTE_PREVIEW_CHARS = 200


def kind_name(kind: SiteKind) -> str:
    return {SiteKind.FACILITY: _("facility"), SiteKind.STREET: _("street")}[kind]


def preview(text: str) -> str:
    return text if len(text) <= NOTE_PREVIEW_CHARS else text[: NOTE_PREVIEW_CHARS - 1] + "…"


def record_heading(inspection: Inspection, settings: Settings) -> str:
    return _("{time} · {inspector} · photos: {photos}").format(
        time=format_time(inspection.at, settings.timezone),
        inspector=escape(inspection.inspector_name),
        photos=inspection.photo_count,
    )


# -- scanning a site's code -------------------------------------------------------------------------
async def open_site(message: Message, db: Storage, grants: list[RoleGrant], settings: Settings,
                    code: str | None) -> None:
    """Where `/start s_<code>` lands (called by handlers.start); `code` is None when malformed."""
    site = await db.get_site(code) if code else None
    if site is None:
        await message.answer(
            _(
                "This supervision code is not known; the site may have been removed. "
                "To report a problem in your grid instead, send /start."
            )
        )
        return
    await show_site(message, site, db, grants, settings)


async def show_site(message: Message, site: Site, db: Storage, grants: list[RoleGrant],
                    settings: Settings) -> None:
    grid = await db.get_grid(site.grid_code)
    inspections = await db.site_inspections(site.code, RECENT_INSPECTIONS)
    lines = [
        _("<b>{site}</b> · {kind}").format(site=escape(site.name), kind=kind_name(site.kind)),
        _("Grid: {grid}").format(grid=grid_line(grid, site.grid_code)),
        "",
    ]
    if inspections:
        lines.append(_("Latest inspections:"))
        for inspection in inspections:
            lines.append(record_heading(inspection, settings) + "\n" + escape(preview(inspection.note)))
    else:
        lines.append(_("No inspections recorded yet."))
    buttons = [
        button("📄 " + format_time(i.at, settings.timezone), InspectionCb(inspection_id=i.id))
        for i in inspections
    ]
    if may_inspect(grants, grid):
        buttons.append(button(_("📝 Add inspection"), SiteInspectCb(code=site.code)))
    await message.answer("\n".join(lines), reply_markup=markup(buttons) if buttons else None)


async def view_inspection(query: CallbackQuery, callback_data: InspectionCb, db: Storage,
                          settings: Settings) -> None:
    # Inspection records are public, like the code on the wall: any existing record may be opened.
    inspection = await db.get_inspection(callback_data.inspection_id)
    site = await db.get_site(inspection.site_code) if inspection else None
    if inspection is None or site is None:
        await query.answer(_("This inspection record does not exist."), show_alert=True)
        return
    await query.answer()
    await query.message.answer(
        "\n".join([
            _("<b>{site}</b> · inspection").format(site=escape(site.name)),
            record_heading(inspection, settings),
            "",
            escape(inspection.note),
        ])
    )
    if inspection.photos:
        await query.bot(media_method(query.message.chat.id, inspection.photos))


# -- the inspection form ----------------------------------------------------------------------------
async def inspectable_site(db: Storage, grants: list[RoleGrant], code: str) -> Site | None:
    """The site, if this person may add inspections to it now."""
    site = await db.get_site(code)
    if site is None or not may_inspect(grants, await db.get_grid(site.grid_code)):
        return None
    return site


async def start_inspection(query: CallbackQuery, callback_data: SiteInspectCb, state: FSMContext, db: Storage,
                           grants: list[RoleGrant]) -> None:
    site = await inspectable_site(db, grants, callback_data.code)
    if site is None:
        await query.answer(not_yours(), show_alert=True)
        return
    await query.answer()
    await state.set_state(Inspect.note)
    await state.set_data({"site": site.code, "attachments": [], "warned_albums": []})
    await query.message.answer(
        _("Inspection of {site}: write what you found (required), or /cancel.").format(site=escape(site.name))
    )


async def note_expected(message: Message) -> None:
    await message.answer(_("Please write the inspection note, or send /cancel."))


async def inspection_note(message: Message, state: FSMContext) -> None:
    text = await take_note(message)
    if text is None:
        return
    await state.update_data(note=text)
    await state.set_state(Inspect.photos)
    await message.answer(
        _("You may add up to {max} photos. Tap “Done” to save the inspection.").format(max=MAX_INSPECTION_PHOTOS),
        reply_markup=keyboards.resolve_photos_done(),
    )


async def inspection_photo(message: Message, state: FSMContext) -> None:
    await take_attachment(message, state, MAX_INSPECTION_PHOTOS)


async def inspection_done(message: Message, state: FSMContext, db: Storage, grants: list[RoleGrant],
                          settings: Settings, clock) -> None:
    data = await state.get_data()
    await state.clear()
    # Checked again: the role may have been taken away while the form was open.
    site = await inspectable_site(db, grants, data["site"])
    if site is None:
        await message.answer(_("You may no longer add inspections to this site."), reply_markup=ReplyKeyboardRemove())
        return
    names = [s.name for s in await db.staff_with_role(Role.INSPECTOR) if s.telegram_id == message.from_user.id]
    inspection = NewInspection(
        site.code,
        message.from_user.id,
        names[0] if names else message.from_user.full_name,
        data["note"],
        from_data(data["attachments"]),
        # Keyed by the message, so the same update delivered twice saves one record.
        source_key="msg:{}:{}".format(message.chat.id, message.message_id),
    )
    await db.add_inspection(inspection, clock(), [inspection_confirmation(inspection)])
    await show_site(message, site, db, grants, settings)


async def inspection_bad_input(message: Message) -> None:
    await message.answer(_("Please send photos, or tap “Done” to save the inspection."))


# -- printing the code --------------------------------------------------------------------------------
async def site_qr(message: Message, command: CommandObject, db: Storage, grants: list[RoleGrant],
                  settings: Settings, i18n: I18n) -> None:
    """/siteqr <code>: admins for every site, inspectors for the sites of their town."""
    code = (command.args or "").strip()
    if not code:
        await message.answer(_("Send /siteqr followed by the site's code, e.g. /siteqr S001."))
        return
    site = await db.get_site(code)
    grid = await db.get_grid(site.grid_code) if site else None
    if site is None or not (has_role(grants, Role.ADMIN) or may_inspect(grants, grid)):
        await message.answer(_("No site with the code {code} is yours to print.").format(code=escape(code)))
        return
    await answer_with_card(message, site_specs([site], settings, db, i18n), settings, site.code, site.name)


def build_router() -> Router:
    router = Router(name="sites")
    router.message.register(site_qr, Command("siteqr"))
    router.callback_query.register(view_inspection, InspectionCb.filter())
    router.callback_query.register(start_inspection, SiteInspectCb.filter())
    router.message.register(inspection_note, StateFilter(Inspect.note), Has("text"))
    router.message.register(inspection_photo, StateFilter(Inspect.photos), Has("photo"))
    router.message.register(inspection_done, StateFilter(Inspect.photos), DoneButton())
    router.message.register(inspection_bad_input, StateFilter(Inspect.photos))
    router.message.register(note_expected, StateFilter(Inspect.note))
    return router

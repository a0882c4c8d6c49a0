"""What goes on the QR cards and posters of grids, shops and sites, for the bot (/qr, /posters,
/shopqr, /siteqr) and the CLI (`gridbot qr`, `gridbot posters`) alike.

Printed codes hang on walls for residents, so they use the default language, not the asker's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from aiogram.utils.i18n import I18n

from bot.catalogs import gettext as _
from bot.config import Settings
from domain.models import Grid, Role, StaffMember
from domain.shops import Shop, Site
from qr import CodeKind, PosterReport, PosterSpec, grid_link, render_card, shop_link, supervision_link, write_posters
from storage.base import Storage

BOT_USERNAME_KEY = "bot_username"
# Paper sizes by the names people type: /posters a5, gridbot posters --size a6x4.
PAPER_NAMES = ("A4", "A5", "A6", "A6x4")


class NoBotUsername(Exception):
    """Neither BOT_USERNAME nor a username stored by a running bot is known."""


async def bot_username(settings: Settings, storage: Storage) -> str:
    username = settings.bot_username or await storage.get_value(BOT_USERNAME_KEY)
    if not username:
        raise NoBotUsername(
            "the bot's username is unknown: run the bot once (it stores it) or set BOT_USERNAME"
        )
    return username


def paper_size(word: str) -> str | None:
    """'a5' → 'A5', 'a6X4' → 'A6x4'; None if the word names no paper size we print on."""
    return next((name for name in PAPER_NAMES if name.lower() == word.lower()), None)


def _hotline(settings: Settings) -> str:
    return _("Hotline: {number}").format(number=settings.hotline) if settings.hotline else ""


def _scan_step() -> str:
    return _("1. Scan the code with your phone's camera and open it in Telegram.")


def _grid_spec(username: str, grid: Grid, workers: Sequence[StaffMember], settings: Settings) -> PosterSpec:
    lines = [_("{village} · {town}").format(village=grid.village, town=grid.town)]
    if workers:
        lines.append(_("Grid worker: {names}").format(names="、".join(w.name for w in workers)))
    return PosterSpec(
        link=grid_link(username, grid.code),
        heading=_("{town} · grid service").format(town=grid.town),
        title=grid.name,
        lines=lines,
        caption=_("Scan to report a problem"),
        how_to=[
            _scan_step(),
            _("2. Choose complaint, report or suggestion, describe the problem, add photos."),
            _("3. Your grid worker answers; follow and rate it with /my."),
        ],
        hotline=_hotline(settings),
        privacy=_("Your name reaches the staff only if you choose; your report is used only to handle it."),
    )


def _place_line(grid: Grid | None, grid_code: str) -> str:
    return "{} · {} · {}".format(grid.name, grid.village, grid.town) if grid else grid_code


def _placed_spec(link: str, name: str, grid: Grid | None, grid_code: str, heading: str, caption: str, step: str,
                 privacy: str, settings: Settings) -> PosterSpec:
    """A shop's or a site's code: placed in its grid, with the texts of its kind."""
    return PosterSpec(
        link=link,
        heading=heading.format(town=grid.town) if grid else "",
        title=name,
        lines=[_place_line(grid, grid_code)],
        caption=caption,
        how_to=[_scan_step(), step],
        hotline=_hotline(settings),
        privacy=privacy,
    )


async def _workers_by_grid(storage: Storage) -> dict[str, list[StaffMember]]:
    workers: dict[str, list[StaffMember]] = {}
    for member in await storage.staff_with_role(Role.GRID_WORKER):
        workers.setdefault(member.scope, []).append(member)
    return workers


async def grid_specs(grids: Sequence[Grid], settings: Settings, storage: Storage, i18n: I18n) -> list[PosterSpec]:
    username = await bot_username(settings, storage)
    workers = await _workers_by_grid(storage)
    with i18n.context(), i18n.use_locale(settings.default_language):
        return [_grid_spec(username, grid, workers.get(grid.code, []), settings) for grid in grids]


async def _placed_specs(items: Sequence[Shop | Site], make_link: Callable[[str, str], str],
                        texts: Callable[[], tuple[str, str, str, str]], settings: Settings, storage: Storage,
                        i18n: I18n) -> list[PosterSpec]:
    username = await bot_username(settings, storage)
    grids = {grid.code: grid for grid in await storage.list_grids()}
    with i18n.context(), i18n.use_locale(settings.default_language):
        kind_texts = texts()
        return [
            _placed_spec(make_link(username, item.code), item.name, grids.get(item.grid_code), item.grid_code,
                         *kind_texts, settings)
            for item in items
        ]


def _shop_texts() -> tuple[str, str, str, str]:
    return (
        _("{town} · shop ratings"),
        _("Scan to rate this shop"),
        _("2. Rate cleanliness, order and service, 1 to 5 stars each."),
        _("Ratings are anonymous: the shop sees the scores and comments, never who gave them."),
    )


def _site_texts() -> tuple[str, str, str, str]:
    return (
        _("{town} · supervision"),
        _("Scan to see the inspection records"),
        _("2. See the latest inspections of this place, with their photos."),
        _("Opening the records is anonymous."),
    )


async def shop_specs(shops: Sequence[Shop], settings: Settings, storage: Storage, i18n: I18n) -> list[PosterSpec]:
    return await _placed_specs(shops, shop_link, _shop_texts, settings, storage, i18n)


async def site_specs(sites: Sequence[Site], settings: Settings, storage: Storage, i18n: I18n) -> list[PosterSpec]:
    return await _placed_specs(sites, supervision_link, _site_texts, settings, storage, i18n)


async def card_image(spec: PosterSpec, settings: Settings, image_format: str = "PNG") -> bytes:
    """A code's card as an image, drawn off the event loop (a tenth of a second)."""
    return await asyncio.to_thread(render_card, spec, settings.font_path, settings.fallback_fonts, image_format)


def posters_pdf(out: Path | BinaryIO, specs: Sequence[PosterSpec], size: str, settings: Settings) -> PosterReport:
    """`write_posters` with the font settings; blocks for seconds with many posters."""
    return write_posters(out, specs, size, settings.font_path, settings.fallback_fonts)


def filter_grids(grids: Sequence[Grid], town: str | None = None, village: str | None = None) -> list[Grid]:
    return [g for g in grids if (town is None or g.town == town) and (village is None or g.village == village)]


async def find_code(storage: Storage, kind: CodeKind, code: str) -> Grid | Shop | Site | None:
    """The grid, shop or site with this code."""
    get = {CodeKind.GRID: storage.get_grid, CodeKind.SHOP: storage.get_shop, CodeKind.SUPERVISION: storage.get_site}
    return await get[kind](code)


async def codes_in(storage: Storage, kind: CodeKind, town: str | None, village: str | None) -> list[Grid | Shop | Site]:
    """The grids, shops or sites in a town or village (None: everywhere), shops and sites by their grid."""
    grids = filter_grids(await storage.list_grids(), town, village)
    if kind is CodeKind.GRID:
        return grids
    codes = {grid.code for grid in grids}
    items = await (storage.list_shops() if kind is CodeKind.SHOP else storage.list_sites())
    return [item for item in items if item.grid_code in codes]


async def code_specs(kind: CodeKind, items: Sequence[Grid | Shop | Site], settings: Settings, storage: Storage,
                     i18n: I18n) -> list[PosterSpec]:
    make = {CodeKind.GRID: grid_specs, CodeKind.SHOP: shop_specs, CodeKind.SUPERVISION: site_specs}[kind]
    return await make(items, settings, storage, i18n)

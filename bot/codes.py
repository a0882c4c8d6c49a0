"""What goes on a grid's QR card and poster, for the bot (/qr, /posters) and the CLI alike.

Printed codes hang on walls for residents, so they use the default language, not the asker's."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from domain.models import Grid, Role, StaffMember
from qr import PosterSpec, grid_link, render_grid_card
from storage.base import Storage

BOT_USERNAME_KEY = "bot_username"


class NoBotUsername(Exception):
    """Neither BOT_USERNAME nor a username stored by a running bot is known."""


async def bot_username(settings: Settings, storage: Storage) -> str:
    username = settings.bot_username or await storage.get_value(BOT_USERNAME_KEY)
    if not username:
        raise NoBotUsername(
            "the bot's username is unknown: run the bot once (it stores it) or set BOT_USERNAME"
        )
    return username


def _grid_lines(grid: Grid, workers: Sequence[StaffMember]) -> list[str]:
    lines = [_("{village} · {town}").format(village=grid.village, town=grid.town)]
    if workers:
        lines.append(_("Grid worker: {names}").format(names="、".join(w.name for w in workers)))
    return lines


async def _workers_by_grid(storage: Storage) -> dict[str, list[StaffMember]]:
    workers: dict[str, list[StaffMember]] = {}
    for member in await storage.staff_with_role(Role.GRID_WORKER):
        workers.setdefault(member.scope, []).append(member)
    return workers


async def grid_card_png(grid: Grid, settings: Settings, storage: Storage, i18n: I18n) -> bytes:
    username = await bot_username(settings, storage)
    workers = (await _workers_by_grid(storage)).get(grid.code, [])
    with i18n.context(), i18n.use_locale(settings.default_language):
        return render_grid_card(
            grid_link(username, grid.code),
            grid.name,
            _grid_lines(grid, workers),
            _("Scan to report a problem"),
            settings.font_path,
        )


async def grid_posters(
    grids: Sequence[Grid], settings: Settings, storage: Storage, i18n: I18n
) -> list[PosterSpec]:
    username = await bot_username(settings, storage)
    workers = await _workers_by_grid(storage)
    with i18n.context(), i18n.use_locale(settings.default_language):
        how_to = _(
            "1. Scan the code with your phone's camera and open it in Telegram.\n"
            "2. Choose complaint, report or suggestion, describe the problem, add photos.\n"
            "3. Your grid worker answers; follow and rate it with /my."
        ).split("\n")
        caption = _("Scan to report a problem")
        return [
            PosterSpec(
                link=grid_link(username, grid.code),
                title=grid.name,
                lines=_grid_lines(grid, workers.get(grid.code, [])),
                caption=caption,
                how_to=how_to,
                bot_name="@" + username,
            )
            for grid in grids
        ]


def filter_grids(grids: Sequence[Grid], town: str | None = None, village: str | None = None) -> list[Grid]:
    return [g for g in grids if (town is None or g.town == town) and (village is None or g.village == village)]


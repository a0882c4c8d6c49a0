"""The command menu (setMyCommands): per language for everyone, and per chat for staff; and for
staff, the menu button that opens the console (setChatMenuButton) when WEB_BASE_URL is set."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import Bot
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    MenuButtonDefault,
    MenuButtonWebApp,
    WebAppInfo,
)
from aiogram.utils.i18n import I18n

from bot.catalogs import gettext as _
from bot.config import SUPPORTED_LANGUAGES
from domain.console import CONSOLE_ROLES
from domain.models import Role, RoleGrant
from domain.tickets import has_role, is_staff


def commands_for(grants: Sequence[RoleGrant]) -> list[BotCommand]:
    commands = [
        BotCommand(command="start", description=_("Find your grid and report a problem")),
        BotCommand(command="my", description=_("My tickets")),
        BotCommand(command="t", description=_("Open a ticket by its number, e.g. /t XG-000123")),
    ]
    if is_staff(grants):
        commands.append(BotCommand(command="queue", description=_("Open tickets I handle")))
        commands.append(BotCommand(command="qr", description=_("QR code of a grid")))
    if has_role(grants, Role.TOWN, Role.OFFICIAL, Role.ADMIN):
        commands.append(BotCommand(command="overdue", description=_("Overdue tickets in my area")))
    if has_role(grants, Role.TOWN, Role.VILLAGE, Role.ADMIN):
        commands.append(BotCommand(command="moderate", description=_("Decide what the public board shows")))
    if has_role(grants, Role.ADMIN):
        commands.append(BotCommand(command="posters", description=_("Printable posters of all grids")))
    if has_role(grants, Role.OFFICIAL, Role.ADMIN):
        commands.append(BotCommand(command="stats", description=_("Statistics")))
    if has_role(grants, Role.OFFICIAL):
        commands.append(BotCommand(command="digest", description=_("Weekly or monthly digest")))
    if has_role(grants, Role.SHOP_OWNER):
        commands.append(BotCommand(command="myshop", description=_("Ratings of my shop")))
    if has_role(grants, Role.SHOP_OWNER, Role.ADMIN):
        commands.append(BotCommand(command="shopqr", description=_("QR code of a shop")))
    if has_role(grants, Role.INSPECTOR, Role.ADMIN):
        commands.append(BotCommand(command="siteqr", description=_("QR code of a supervised site")))
    commands += [
        BotCommand(command="lang", description=_("Language")),
        BotCommand(command="help", description=_("Help")),
        BotCommand(command="cancel", description=_("Cancel the current form")),
    ]
    return commands


async def register_default_commands(bot: Bot, i18n: I18n) -> None:
    for language in SUPPORTED_LANGUAGES:
        with i18n.context(), i18n.use_locale(language):
            await bot.set_my_commands(commands_for([]), BotCommandScopeDefault(), language)
    with i18n.context(), i18n.use_locale(i18n.default_locale):
        await bot.set_my_commands(commands_for([]), BotCommandScopeDefault())


async def register_chat_commands(
    bot: Bot, i18n: I18n, chat_id: int, grants: Sequence[RoleGrant], language: str, console_url: str | None = None
) -> None:
    """Staff get their role's commands in their own chat, and with `console_url` a menu button
    that opens the console; residents keep the default menu."""
    if not grants:
        return
    with i18n.context(), i18n.use_locale(language):
        await bot.set_my_commands(commands_for(grants), BotCommandScopeChat(chat_id=chat_id))
        if console_url:
            # Per chat, so that residents keep the list of commands behind the menu button.
            button = (MenuButtonWebApp(text=_("Console"), web_app=WebAppInfo(url=console_url))
                      if has_role(grants, *CONSOLE_ROLES) else MenuButtonDefault())
            await bot.set_chat_menu_button(chat_id=chat_id, menu_button=button)

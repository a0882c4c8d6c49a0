"""Signing in to the console through Telegram: every request under /app/api/ carries the Mini App's
initData in `Authorization: tma <initData>`, signed by Telegram with the bot's token
(core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app). A middleware checks it,
finds the person's roles and language as the bot knows them, and answers in that language; a
handler reads who it is with `console_user(request)`."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from bot.catalogs import gettext as _
from bot.i18n import pick_language
from bot.texts import role_name
from domain.console import ConsoleUser
from domain.models import Role, RoleGrant
from web.board import I18N
from web.keys import CLOCK, SETTINGS, STORAGE

API_PREFIX = "/app/api/"
# Signed initData older than this is refused: a leaked one is good for an hour at most.
MAX_AGE_SECONDS = 3600
# A device clock ahead of ours by this much still signs in.
CLOCK_SKEW_SECONDS = 300
CONSOLE_USER = web.RequestKey("console_user", ConsoleUser)


class InitDataError(Exception):
    """The initData is missing, malformed, not signed with our token, or too old."""

    def __init__(self, expired: bool = False):
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def data_check_string(fields: dict[str, str]) -> str:
    """Every field but the hash, sorted by key, as key=value lines."""
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def init_data_hash(fields: dict[str, str], bot_token: str) -> str:
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return hmac.new(secret, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def verified_user(init_data: str, bot_token: str, now: int) -> dict:
    """The Telegram user (id, first_name, language_code, …) the initData was signed for, if its
    signature is ours and it is at most MAX_AGE_SECONDS old; InitDataError otherwise."""
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InitDataError() from None
    fields = dict(pairs)
    if len(fields) != len(pairs) or "hash" not in fields:  # a repeated key could mean two things
        raise InitDataError()
    if not hmac.compare_digest(init_data_hash(fields, bot_token), fields["hash"]):
        raise InitDataError()
    try:
        auth_date = int(fields.get("auth_date", ""))
        user = json.loads(fields.get("user", ""))
    except ValueError:
        raise InitDataError() from None
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        raise InitDataError()
    if not now - MAX_AGE_SECONDS <= auth_date <= now + CLOCK_SKEW_SECONDS:
        raise InitDataError(expired=True)
    return user


def error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


async def grants_of(request: web.Request, telegram_id: int) -> list[RoleGrant]:
    """The person's roles, with ADMIN_IDS counted as admins as the bot counts them (bot/middlewares.py)."""
    grants = await request.app[STORAGE].roles_of(telegram_id)
    if telegram_id in request.app[SETTINGS].admin_ids:
        grants.append(RoleGrant(Role.ADMIN))
    return grants


async def signed_in(request: web.Request) -> ConsoleUser:
    """Who sent the request, with the roles and language the bot knows; raises InitDataError."""
    settings, storage = request.app[SETTINGS], request.app[STORAGE]
    scheme, _sep, init_data = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "tma" or not init_data:
        raise InitDataError()
    user = verified_user(init_data.strip(), settings.bot_token or "", request.app[CLOCK]())
    telegram_id = user["id"]
    grants = await grants_of(request, telegram_id)
    stored = await storage.get_user(telegram_id)
    language = pick_language(stored.language if stored else None,
                             (stored.telegram_language if stored else None) or user.get("language_code"),
                             settings.default_language)
    name = " ".join(str(user.get(part) or "") for part in ("first_name", "last_name")).strip()
    return ConsoleUser(telegram_id, name or str(user.get("username") or telegram_id), language, tuple(grants))


@web.middleware
async def console_auth(request: web.Request,
                       handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Under /app/api/ only: 503 without a bot token, 401 without valid initData, 403 for people
    with no console role; otherwise the handler runs in the person's language."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    settings, i18n = request.app[SETTINGS], request.app[I18N]
    with i18n.context(), i18n.use_locale(settings.default_language):
        if not settings.bot_token:
            return error(503, _("The console is not available: the server has no bot token (BOT_TOKEN)."))
        try:
            user = await signed_in(request)
        except InitDataError as refused:
            return error(401, _("Your sign-in has expired: open the console from the bot again.") if refused.expired
                         else _("Open the console from the bot: this request has no valid Telegram sign-in."))
    with i18n.context(), i18n.use_locale(user.language):
        if not user.may_open:
            return error(403, _("The console is for staff and officials; you have no role that opens it."))
        request[CONSOLE_USER] = user
        return await handler(request)


def console_user(request: web.Request) -> ConsoleUser:
    """Who is asking (set by `console_auth` for every request under /app/api/)."""
    return request[CONSOLE_USER]


async def me(request: web.Request) -> web.Response:
    """Who the caller is and what the console shows them."""
    user = console_user(request)
    return web.json_response({
        "user": {"id": user.telegram_id, "name": user.name},
        "language": user.language,
        "roles": [{"role": g.role.value, "scope": g.scope, "text": role_name(g.role)} for g in user.grants],
        "can": {"tickets": user.may_open, "act": user.may_act, "figures": user.may_read_figures},
    })


def add_console_auth(app: web.Application) -> None:
    app.middlewares.append(console_auth)
    app.router.add_get(API_PREFIX + "me", me)

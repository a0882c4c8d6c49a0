"""`gridbot` (or `python -m bot`): run the bot, fill a demo town, import CSV files, back up.

Each command imports what it needs when it runs: aiogram takes three seconds to import, and only
`run` (and the QR cards) use it, so `gridbot --help` and `gridbot stats` start at once. Messages
follow DEFAULT_LANGUAGE through the bot's catalogs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.catalogs import Catalogs
from bot.catalogs import gettext as _
from bot.config import Settings, SettingsError, configured_language, load_settings
from domain.models import Role

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

    from qr import CodeKind
    from domain.imports import Kind
    from domain.models import StaffMember
    from domain.stats import Period
    from storage.base import Storage


log = logging.getLogger("gridbot")


class CommandError(Exception):
    """A command cannot do what was asked; the (translated) message says why."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class RedactTokenFilter(logging.Filter):
    """Keeps the bot token out of every log line and traceback, wherever a library might print a
    URL. The secret after the colon is what matters, also in URL-encoded forms of the token."""

    def __init__(self, token: str):
        super().__init__()
        self.secret = token.split(":", 1)[-1]

    def redact(self, text: str) -> str:
        return text.replace(self.secret, "<token>")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg = self.redact(message)
            record.args = ()
        if record.exc_info and not record.exc_text:
            # The formatter prints exc_text as it is, so the traceback is rendered and redacted here.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def setup_logging(token: str | None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiosqlite logs every statement's parameters at DEBUG: residents' texts and phone numbers.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    if token:
        for handler in logging.getLogger().handlers:
            handler.addFilter(RedactTokenFilter(token))


def shown(settings: Settings) -> str:
    """The database as messages name it: the SQLite file, or PostgreSQL's host and database (the
    URL may hold a password)."""
    if not settings.database_url:
        return str(settings.database_path)
    parts = urlsplit(settings.database_url)
    return f"PostgreSQL {parts.hostname or 'localhost'}{parts.path}"


async def open_database(settings: Settings) -> Storage:
    from storage import open_storage

    return await open_storage(settings.database)


def require_database(settings: Settings) -> None:
    """A command that reads the database refuses a missing one instead of creating it empty: run
    from another folder, a relative DATABASE_PATH names a file that is not there. (A PostgreSQL
    server is asked when the command opens it.)"""
    if not settings.database_url and not settings.database_path.is_file():
        raise CommandError(_(
            "the database {path} does not exist. DATABASE_PATH is relative to the folder the command runs "
            "in ({folder}): run it in the bot's folder or set DATABASE_PATH to the file; a new database is "
            "made by `gridbot import`, `gridbot demo` or `gridbot run`."
        ).format(path=settings.database_path.absolute(), folder=Path.cwd()))


def output_file(path: Path) -> Path:
    """A file a command is about to write: its folder must exist (checked before any work)."""
    if path.is_dir():
        raise CommandError(_("{path} is a folder; name the file to write").format(path=path))
    if not path.parent.is_dir():
        raise CommandError(_("cannot write {path}: the folder {folder} does not exist").format(
            path=path, folder=path.parent.absolute()))
    return path


async def run_bot(settings: Settings, args: argparse.Namespace) -> int:
    from aiogram.exceptions import TelegramAPIError, TelegramNetworkError

    from bot.factory import create_bot, create_dispatcher

    settings.require_token()
    try:
        bot = create_bot(settings)
        storage = await open_database(settings)
        web_runner = None
        try:
            dispatcher = create_dispatcher(settings, storage)
            if settings.webhook_url:
                await run_webhook(settings, bot, storage, dispatcher)
                return 0
            if settings.web_port:
                from web.app import create_app, start_web

                from web.metrics import count_for

                app = create_app(settings, storage)
                count_for(app, dispatcher)
                web_runner = await start_web(app, settings.web_host, settings.web_port)
                log.info("web server on %s:%s", settings.web_host, settings.web_port)
            await dispatcher.start_polling(bot, handle_signals=True)
        finally:
            if web_runner is not None:
                await web_runner.cleanup()
            await storage.close()
            await bot.session.close()
    except (TelegramNetworkError, TelegramAPIError) as error:
        # At start-up (getMe, the command menus): a wrong URL, a server down, a revoked token.
        log.critical("cannot reach the Bot API: %s", error)
        return 1
    return 0


async def run_webhook(settings: Settings, bot: Bot, storage: Storage, dispatcher: Dispatcher) -> None:
    """Webhook mode: the web server (WEB_PORT, default 8080) takes Telegram's updates at the path
    of WEBHOOK_URL; what an earlier process stored and did not handle is handled first."""
    from bot.factory import wall_clock
    from web.app import DEFAULT_WEB_PORT, create_app, start_web
    from web.metrics import count_for
    from web.webhook import add_webhook

    app = create_app(settings, storage)
    count_for(app, dispatcher)
    intake = add_webhook(app, settings, dispatcher, bot, storage, wall_clock)
    dispatcher["leadership"].duties.append(webhook_setter(settings, bot, dispatcher))
    workflow = {"dispatcher": dispatcher, "bots": [bot], **dispatcher.workflow_data}
    await dispatcher.emit_startup(bot=bot, **workflow)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    port = settings.web_port or DEFAULT_WEB_PORT
    runner = await start_web(app, settings.web_host, port)
    sweeping = asyncio.create_task(intake.sweep())
    try:
        if handled := await intake.handle_stored():
            log.info("handled %s updates stored before the last stop", handled)
        log.info("webhook mode: updates on %s:%s", settings.web_host, port)
        await stop.wait()
    finally:
        sweeping.cancel()
        await runner.cleanup()  # no new requests; the ones in hand are stored and go on
        await intake.wait_idle()
        await dispatcher.emit_shutdown(bot=bot, **workflow)


def webhook_setter(settings: Settings, bot: Bot, dispatcher: Dispatcher) -> Callable[[], Awaitable[None]]:
    """Sets the webhook: the leading process's duty, so that of several replicas one does it."""

    async def set_webhook() -> None:
        while True:
            try:
                await bot.set_webhook(settings.webhook_url, secret_token=settings.webhook_secret,
                                      allowed_updates=dispatcher.resolve_used_update_types())
            except Exception as error:  # the Bot API away for a moment: updates wait at Telegram
                log.error("cannot set the webhook (%s); trying again in a minute", type(error).__name__)
                await asyncio.sleep(60)
                continue
            log.info("webhook set to %s", urlsplit(settings.webhook_url).hostname)
            return

    return set_webhook


async def run_web(settings: Settings, args: argparse.Namespace) -> int:
    """The web server alone: public pages need no token."""
    from web.app import DEFAULT_WEB_PORT, create_app, serve_until_stopped

    port = settings.web_port or DEFAULT_WEB_PORT
    storage = await open_database(settings)
    try:
        log.info("web server on %s:%s", settings.web_host, port)
        await serve_until_stopped(create_app(settings, storage), settings.web_host, port)
    finally:
        await storage.close()
    return 0


def backup_file(target: str, source: Path, settings: Settings) -> Path:
    """The file `gridbot backup TARGET` writes: into a folder (existing, or written with a trailing
    slash) goes a copy named after the database and the local time."""
    path = Path(target)
    if path.is_dir() or target.endswith(("/", os.sep)):
        stamp = datetime.now(settings.timezone).strftime("%Y-%m-%d-%H%M%S")
        return path / f"{source.stem}-{stamp}{source.suffix}"
    return path


async def run_backup(settings: Settings, args: argparse.Namespace) -> int:
    """A consistent copy of the database, also while the bot runs (restore: see README)."""
    if settings.database_url:
        from storage.postgres import BACKUP_ADVICE

        raise CommandError(BACKUP_ADVICE, 2)
    source = settings.database_path
    target = backup_file(args.file, source, settings)
    if target.exists() and target.resolve() == source.resolve():
        raise CommandError(_("the backup must go to another file than the database itself"))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(_("cannot write {path}: {error}").format(path=target, error=error)) from None
    storage = await open_database(settings)
    try:
        await storage.backup_to(target)
    except (OSError, sqlite3.Error) as error:
        raise CommandError(_("backup failed: {error}").format(error=error)) from None
    finally:
        await storage.close()
    print(_("backup of {source} written to {target} ({size:,} bytes)").format(
        source=source, target=target, size=target.stat().st_size))
    return 0


async def run_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Copy the SQLite database into an empty PostgreSQL database and check the copy (stop the
    bot first: what it writes meanwhile would not be copied)."""
    from storage import is_postgres_url
    from storage.transfer import TransferError, copy_to_postgres

    if not is_postgres_url(args.url):
        raise CommandError(
            _("--to must be a PostgreSQL URL such as postgresql://gridbot@127.0.0.1:5432/gridbot"), 2)
    try:
        copies = await copy_to_postgres(settings.database_path, args.url)
    except TransferError as error:
        raise CommandError(_("migrate: {error}").format(error=error)) from None
    for copy in copies:
        print(_("{table:<20} {rows:>9,} rows  checksum {checksum}").format(
            table=copy.table, rows=copy.rows, checksum=copy.checksum))
    print(_("Copied {source} into {target}: every table has the same rows. Set DATABASE_URL to it and start "
            "the bot.").format(source=settings.database_path, target=shown(replace(settings, database_url=args.url))))
    return 0


async def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    from domain.demo import fill_demo
    from domain.service import wall_clock

    storage = await open_database(settings)
    try:
        if not await storage.is_empty():
            raise CommandError(_("{path} already holds data; the demo fills only an empty database").format(
                path=shown(settings)))
        count = await fill_demo(storage, wall_clock())
    finally:
        await storage.close()
    print(_("Demo town written to {path}: 6 grids, their staff and {count} tickets.").format(
        path=shown(settings), count=count))
    return 0


async def import_kind(settings: Settings, storage: Storage, what: str) -> Kind:
    """What `gridbot import WHAT` reads, checked against what is stored; names that go on posters
    must be printable with the fonts at hand."""
    from domain import imports
    from qr import FontNotFoundError, find_fonts

    kind = await stored_kind(storage, what)
    if what not in imports.PRINTED:
        return kind
    try:
        fonts = find_fonts(settings.font_path, settings.fallback_fonts)
    except FontNotFoundError:
        return kind  # nothing can be printed: `gridbot posters` says why
    return imports.printable(kind, imports.PRINTED[what], fonts.missing)


async def stored_kind(storage: Storage, what: str) -> Kind:
    """What `gridbot import WHAT` reads, checked against what is stored."""
    from domain import imports

    if what == "grids":
        return imports.grids(await storage.list_grids())
    if what == "staff":
        from bot.texts import role_name

        departments = {c.department for c in await storage.list_categories()}
        with Catalogs("zh").context():  # a town office writes 网格员 as the bot shows it
            role_names = {role_name(role): role for role in Role}
        known = imports.KnownScopes(await storage.list_grids(), departments, await storage.shop_codes())
        return imports.staff(known, role_names)
    if what == "categories":
        return imports.categories()
    if what == "calendar":
        return imports.calendar()
    # Shops and sites lie in grids: each row's grid is checked against the stored grids.
    grid_codes = {grid.code for grid in await storage.list_grids()}
    return {"shops": imports.shops, "sites": imports.sites}[what](grid_codes)


def import_message(message: str, params: Mapping[str, object]) -> str:
    """A message of domain/imports or domain/tables (a message id and its values), translated."""
    return _(message).format(**params)


async def run_import(settings: Settings, args: argparse.Namespace) -> int:
    """Checks the whole file first (the first bad rows listed, the rest counted), then writes its
    rows in one transaction; both passes read the file row by row."""
    from domain import imports
    from domain.tables import Table, TableError

    what, path, replace = args.what, args.file, args.replace
    if replace and what != "staff":
        raise CommandError(_("--replace is for `gridbot import staff` only"), 2)
    if not path.is_file():
        raise CommandError(_("cannot read {path}: there is no such file").format(path=path))
    table = Table(path)
    if not settings.database_url and not settings.database_path.exists():
        # Said, so that an import run in the wrong folder does not fill a database the bot never reads.
        print(_("a new database is made: {path}").format(path=settings.database_path.absolute()))
    storage = await open_database(settings)
    try:
        kind = await import_kind(settings, storage, what)
        check = imports.check(table, kind)
        if check.unread_columns:
            print(_("columns not read (not columns of {what}): {names}").format(
                what=what, names=", ".join(check.unread_columns)))
        if check.bad:
            for problem in check.problems:
                line = _("line {line}: {problem}").format(
                    line=problem.line, problem=import_message(problem.message, problem.params))
                print(f"{path}: {line}", file=sys.stderr)
            if check.bad > len(check.problems):
                print(_("{path}: … and {count:,} more bad rows ({total:,} in all)").format(
                    path=path, count=check.bad - len(check.problems), total=check.bad), file=sys.stderr)
            raise CommandError(_("nothing was imported from {path}").format(path=path))
        rows = imports.read(table, kind)
        if what == "staff":
            await write_staff(settings, storage, list(rows), replace)  # a staff list is short
        elif what == "calendar":
            days = list(rows)  # a year's holidays and 调休 days
            await storage.upsert_calendar_days(days)
        else:
            upsert = {"grids": storage.upsert_grids, "categories": storage.upsert_categories,
                      "shops": storage.upsert_shops, "sites": storage.upsert_sites}[what]
            await upsert(rows)
    except (TableError, imports.RowError) as error:
        raise CommandError(import_message(error.message, error.params)) from None
    except OSError as error:
        raise CommandError(_("cannot read {path}: {error}").format(path=path, error=error.strerror or error)) from None
    finally:
        await storage.close()
    if what == "calendar":  # what the admin can check against the published holiday notice
        holidays = sum(not d.working for d in days)
        print(_("imported {count} calendar days from {path} ({first} to {last}: {holidays} holidays, {working} "
                "working days)").format(count=len(days), path=path, first=min(d.day for d in days),
                                        last=max(d.day for d in days), holidays=holidays, working=len(days) - holidays))
        return 0
    imported = {
        "grids": _("imported {count} grids from {path}"), "staff": _("imported {count} staff roles from {path}"),
        "categories": _("imported {count} service categories from {path}"),
        "shops": _("imported {count} shops from {path}"), "sites": _("imported {count} sites from {path}"),
    }
    print(imported[what].format(count=check.good, path=path))
    return 0


async def write_staff(settings: Settings, storage: Storage, members: list[StaffMember], replace: bool) -> None:
    stored = {(m.telegram_id, m.role, m.scope) for m in await storage.list_staff()}
    service = staff_service(settings, storage)
    if replace:
        removed = await storage.replace_staff(members)
        await service.staff_removed(removed)
        print_removed(removed)
    else:
        await storage.upsert_staff(members)
    await service.staff_added([m for m in members if (m.telegram_id, m.role, m.scope) not in stored])


def staff_service(settings: Settings, storage: Storage):
    """The ticket service as the bot runs it: a removal here reaches the running bot through the
    database (its outbox sends the cards and the notices)."""
    from bot.factory import ticket_service

    return ticket_service(settings, storage)


def print_removed(removed) -> None:
    for member in removed:
        scope = f" {member.scope}" if member.scope else ""
        print(_("removed {telegram_id} {name}: {role}").format(
            telegram_id=member.telegram_id, name=member.name, role=f"{member.role.value}{scope}"))
    if not removed:
        print(_("nobody was removed"))


async def run_staff(settings: Settings, args: argparse.Namespace) -> int:
    if args.staff_command == "list":
        return await run_staff_list(settings)
    return await run_staff_remove(settings, args.telegram_id, args.role, args.scope)


async def run_staff_list(settings: Settings) -> int:
    yes, no = _("yes"), _("no")
    storage = await open_database(settings)
    try:
        people: dict[int, list] = {}
        for member in await storage.list_staff():
            people.setdefault(member.telegram_id, []).append(member)
        for admin_id in sorted(settings.admin_ids - people.keys()):
            people[admin_id] = []
        for telegram_id in sorted(people):
            rows = people[telegram_id]
            user = await storage.get_user(telegram_id)
            roles = [f"{m.role.value} {m.scope}".strip() for m in rows]
            if telegram_id in settings.admin_ids:
                roles.append("admin (ADMIN_IDS)")
            name = rows[0].name if rows else (user.full_name if user else "")
            opened = yes if user is not None and user.opened_at is not None else no
            blocked = yes if user is not None and user.unreachable else no
            print(_("{telegram_id}\t{name}\t{roles}\topened the bot: {opened}\tblocked: {blocked}").format(
                telegram_id=telegram_id, name=name, roles="; ".join(roles), opened=opened, blocked=blocked))
        if not people:
            print(_("no staff; import them with `gridbot import staff FILE.csv`"))
    finally:
        await storage.close()
    return 0


async def run_staff_remove(settings: Settings, telegram_id: int, role: str | None, scope: str | None) -> int:
    storage = await open_database(settings)
    try:
        removed = await storage.remove_staff(telegram_id, Role(role) if role else None, scope)
        if not removed:
            raise CommandError(_("{telegram_id} holds no such role; nothing was removed").format(telegram_id=telegram_id))
        await staff_service(settings, storage).staff_removed(removed)
    finally:
        await storage.close()
    print_removed(removed)
    if telegram_id in settings.admin_ids:
        print(_("{telegram_id} stays an admin: remove them from ADMIN_IDS for that").format(telegram_id=telegram_id))
    return 0


async def run_apikey(settings: Settings, args: argparse.Namespace) -> int:
    """Keys of the Open311 API: a new key is printed once, and only its hash is kept."""
    from domain.open311 import key_hash, new_api_key

    storage = await open_database(settings)
    now = int(datetime.now().timestamp())
    try:
        if args.apikey_command == "create":
            key = new_api_key()
            if await storage.add_api_key(args.name, key_hash(key), now) is None:
                raise CommandError(_("a live key named {name!r} exists: revoke it first").format(name=args.name))
            print(key)
            print(_("Keep this key now: it is not shown again, only its hash is stored."), file=sys.stderr)
        elif args.apikey_command == "revoke":
            if not await storage.revoke_api_key(args.name, now):
                raise CommandError(_("no live key named {name!r}").format(name=args.name))
            print(_("revoked {name}").format(name=args.name))
        else:
            def local(epoch: int) -> str:
                return datetime.fromtimestamp(epoch, settings.timezone).strftime("%Y-%m-%d %H:%M")

            keys = await storage.api_keys()
            for key in keys:
                state = _("revoked {at}").format(at=local(key.revoked_at)) if key.revoked_at else _("live")
                print(_("{name}\tcreated {at}\t{state}").format(name=key.name, at=local(key.created_at), state=state))
            if not keys:
                print(_("no API keys; create one with `gridbot apikey create NAME`"))
    finally:
        await storage.close()
    return 0


def printing_error(error: Exception) -> CommandError:
    return CommandError(_("error: {error}").format(error=error), 2)


# What `gridbot qr -o FILE` writes for each file name ending (Pillow's format names).
CARD_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def no_such_code(kind: CodeKind, code: str) -> str:
    from qr import CodeKind

    return {
        CodeKind.GRID: _("no grid with the code {code!r}"), CodeKind.SHOP: _("no shop with the code {code!r}"),
        CodeKind.SUPERVISION: _("no site with the code {code!r}"),
    }[kind].format(code=code)


async def run_qr(settings: Settings, args: argparse.Namespace) -> int:
    from bot.codes import NoBotUsername, card_image, code_specs, find_code
    from bot.i18n import create_i18n
    from qr import CodeKind, FontNotFoundError, MissingGlyphsError

    codes = {CodeKind.GRID: args.grid, CodeKind.SHOP: args.shop, CodeKind.SUPERVISION: args.site}
    kind, code = next((kind, code) for kind, code in codes.items() if code)
    out = output_file(args.output)
    image_format = CARD_FORMATS.get(out.suffix.lower())
    if image_format is None:
        raise CommandError(_("cannot write a card as {name!r}: name the file .png, .jpg or .jpeg").format(
            name=out.name), 2)
    storage = await open_database(settings)
    try:
        item = await find_code(storage, kind, code)
        if item is None:
            raise CommandError(no_such_code(kind, code))
        try:
            [spec] = await code_specs(kind, [item], settings, storage, create_i18n(settings.default_language))
            image = await card_image(spec, settings, image_format)
        except (NoBotUsername, FontNotFoundError, MissingGlyphsError) as error:
            raise printing_error(error) from None
    finally:
        await storage.close()
    out.write_bytes(image)
    print(_("QR code of {code} written to {path}").format(code=item.code, path=out))
    return 0


async def run_posters(settings: Settings, args: argparse.Namespace) -> int:
    from bot.codes import NoBotUsername, code_specs, codes_in, paper_size, posters_pdf
    from bot.i18n import create_i18n
    from qr import CodeKind, FontNotFoundError, MissingGlyphsError, describe_characters
    from qr.fonts import FONT_HINT

    size = paper_size(args.size)
    if size is None:
        raise CommandError(_("{word!r} is not a paper size: use A4, A5, A6 or A6x4").format(word=args.size), 2)
    out = output_file(args.output)
    storage = await open_database(settings)
    try:
        kind = CodeKind.SHOP if args.shops else CodeKind.SUPERVISION if args.sites else CodeKind.GRID
        items = await codes_in(storage, kind, args.town, args.village)
        if not items:
            raise CommandError({
                CodeKind.GRID: _("no grids match; import them first with `gridbot import grids FILE.csv`"),
                CodeKind.SHOP: _("no shops match; import them first with `gridbot import shops FILE.csv`"),
                CodeKind.SUPERVISION: _("no sites match; import them first with `gridbot import sites FILE.csv`"),
            }[kind])
        try:
            specs = await code_specs(kind, items, settings, storage, create_i18n(settings.default_language))
        except (NoBotUsername, FontNotFoundError, MissingGlyphsError) as error:
            raise printing_error(error) from None
    finally:
        await storage.close()
    try:
        report = posters_pdf(out, specs, size, settings)
    except (FontNotFoundError, MissingGlyphsError) as error:
        raise printing_error(error) from None
    print(_("{count} posters ({size}) written to {path}").format(count=report.written, size=size, path=out))
    for refused in report.refused:
        print(_("left out {title!r}: no font has {characters}").format(
            title=refused.spec.title, characters=describe_characters(refused.error.characters)), file=sys.stderr)
    if report.refused:
        raise CommandError(_("error: {count} posters left out; {hint}").format(count=len(report.refused), hint=FONT_HINT))
    return 0


def period_error(reason: str) -> str:
    """What `gridbot stats` says for each PeriodError reason."""
    from domain.stats import MAX_RANGE_DAYS, MAX_YEAR, MIN_YEAR

    reasons = {
        "format": _("write a week like 2026-W47, a month like 2026-11, a quarter like 2026-Q4, a day like "
                    "2026-11-01, or last or current"),
        "year": _("statistics cover the years {first} to {last}"),
        "date": _("there is no such week, month, quarter or day"),
        "order": _("the range ends before it starts"),
        "length": _("a range covers at most {days} days"),
    }
    return reasons[reason].format(first=MIN_YEAR, last=MAX_YEAR, days=MAX_RANGE_DAYS)


def stats_period(args: argparse.Namespace, now: int, tz: ZoneInfo) -> Period:
    """The period `gridbot stats` asks for; one still running is measured so far (not final).
    Raises PeriodError."""
    from domain.stats import Period, PeriodError, PeriodKind

    kinds = {"week": PeriodKind.WEEK, "month": PeriodKind.MONTH, "quarter": PeriodKind.QUARTER}
    if args.from_day or args.to_day:
        if not (args.from_day and args.to_day):
            raise PeriodError("format", args.from_day or args.to_day)
        period = Period.parse(f"{args.from_day}..{args.to_day}")
    else:
        kind, text = next(((kinds[k], getattr(args, k)) for k in kinds if getattr(args, k)), (PeriodKind.WEEK, "last"))
        text = text.strip()
        if text.lower() == "last":
            period = Period.last_full(kind, now, tz)
        elif text.lower() == "current":
            period = Period.containing(kind, now, tz)
        else:
            period = Period.parse(text)
            if period.kind is not kind:
                raise PeriodError("format", text)
    if period.window(tz).start > now:
        raise PeriodError("date", str(period))  # nothing has happened in it yet
    return period


async def stats_scope(storage: Storage, args: argparse.Namespace):
    """The town, village or grid `gridbot stats` narrows to; a name no stored grid has is an error,
    not a report of zeros."""
    from domain.stats import Scope, ScopeLevel

    grids = await storage.list_grids()
    levels = (
        (ScopeLevel.TOWN, args.town, {g.town for g in grids}, _("there is no town {name!r}; towns: {names}")),
        (ScopeLevel.VILLAGE, args.village, {g.village for g in grids},
         _("there is no village {name!r}; villages: {names}")),
        (ScopeLevel.GRID, args.grid, {g.code for g in grids}, _("there is no grid with the code {name!r}; codes: {names}")),
    )
    for level, name, known, unknown in levels:
        if name is None:
            continue
        if name not in known:
            shown = sorted(known)
            names = "、".join(shown[:20]) + ("…" if len(shown) > 20 else "") if shown else "–"
            raise CommandError(unknown.format(name=name, names=names), 2)
        return Scope(level, name)
    return Scope()


async def run_stats(settings: Settings, args: argparse.Namespace) -> int:
    from bot.stats_export import load_export, write_export_xlsx, write_tickets_csv
    from bot.stats_report import category_names, load_period_report, period_report, scope_name, scorecards
    from domain.service import wall_clock
    from domain.shops import lowest_rated_shops
    from domain.stats import PeriodError

    try:
        # As the bot does: a period still running is cut at `now`, the sums of one over are stored.
        now = wall_clock()
        period = stats_period(args, now, settings.timezone)
    except PeriodError as error:
        raise CommandError(_("cannot read the period {text!r}: {reason}").format(
            text=error.text, reason=period_error(error.reason)), 2) from None
    if args.with_phones and not args.csv:
        raise CommandError(_("--with-phones adds a column to the CSV: give --csv FILE too"), 2)
    exports = [output_file(path) for path in (args.csv, args.xlsx) if path]
    storage = await open_database(settings)
    try:
        scope = await stats_scope(storage, args)
        names = await category_names(storage, settings.default_language)
        report = await load_period_report(storage, settings, period, scope, now)
        shops = await lowest_rated_shops(storage, report.window, scope)
        print(period_report(report, names, settings.timezone, shops=shops))
        if args.scorecards:
            print("\n" + scorecards(report))
        if exports:
            export = await load_export(storage, settings, period, scope, settings.default_language, now)
            try:
                if args.csv:
                    count = write_tickets_csv(args.csv, export, settings, args.with_phones)
                if args.xlsx:
                    grids = {g.code: g.name for g in export.grids.values()}
                    count = write_export_xlsx(args.xlsx, export, settings, scope_name(scope, grids))
            except OSError as error:
                raise CommandError(_("cannot write {path}: {error}").format(
                    path=error.filename or exports[-1], error=error.strerror or error)) from None
            print("\n" + _("{count} tickets exported").format(count=count))
    finally:
        await storage.close()
    return 0


# Each command: what runs it; the servers and the commands that fill a database may start without
# one (they make it), the others refuse to read an empty one made by mistake.
Command = Callable[[Settings, argparse.Namespace], Awaitable[int]]
COMMANDS: dict[str, Command] = {
    "run": run_bot, "web": run_web, "demo": run_demo, "import": run_import, "staff": run_staff, "qr": run_qr,
    "posters": run_posters, "stats": run_stats, "backup": run_backup, "migrate": run_migrate, "apikey": run_apikey,
}
MAKE_DATABASE = {"run", "web", "demo", "import"}


def build_parser() -> argparse.ArgumentParser:
    """The command line, in the language of the active catalog."""
    parser = argparse.ArgumentParser(prog="gridbot", description=_("Grid service-request bot for Telegram"), add_help=False)
    # argparse's own -h text is English; ours follows the catalog.
    help_flag = {"action": "help", "help": _("show this help and exit")}
    parser.add_argument("-h", "--help", **help_flag)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title=_("commands"))

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, add_help=False)
        sub.add_argument("-h", "--help", **help_flag)
        return sub

    command("run", _("start the bot (long polling), and the web server if WEB_PORT is set"))
    command("web", _("run the public web server alone (no token needed)"))
    command("demo", _("fill an empty database with a demo town"))
    importer = command(
        "import", _("import grids, staff, categories, shops, sites or the calendar of holidays from CSV or Excel"))
    importer.add_argument("what", choices=["grids", "staff", "categories", "shops", "sites", "calendar"])
    importer.add_argument("file", type=Path)
    importer.add_argument("--replace", action="store_true",
                          help=_("staff only: the file is the complete staff list; everyone else loses their roles"))
    staff = command("staff", _("list staff or remove someone's roles"))
    staff_commands = staff.add_subparsers(dest="staff_command", required=True, metavar="list|remove")
    staff_commands.add_parser("list", help=_("each staff member: roles, scopes, opened the bot, blocked it"))
    remove = staff_commands.add_parser("remove", help=_("take roles away; their open tickets go to others at once"))
    remove.add_argument("telegram_id", type=int)
    remove.add_argument("--role", choices=[r.value for r in Role], help=_("only this role (default: all)"))
    remove.add_argument("--scope", help=_("only the role in this scope (a grid code, village, town, …)"))
    apikey = command("apikey", _("create, revoke or list keys of the Open311 API"))
    apikey_commands = apikey.add_subparsers(dest="apikey_command", required=True, metavar="create|revoke|list")
    for name, help_text in (("create", _("print a new key once (only its hash is stored)")),
                            ("revoke", _("revoke the live key of this name"))):
        apikey_commands.add_parser(name, help=help_text).add_argument("name", metavar="NAME")
    apikey_commands.add_parser("list", help=_("every key: name, when created, revoked or live"))
    qr_command = command("qr", _("write the QR code card of a grid, a shop or a site"))
    which = qr_command.add_mutually_exclusive_group(required=True)
    which.add_argument("--grid", help=_("a grid's code"))
    which.add_argument("--shop", help=_("a shop's code (经营码)"))
    which.add_argument("--site", help=_("a supervised site's code (监管码)"))
    qr_command.add_argument("-o", "--output", type=Path, required=True, help=_("file to write: .png, .jpg or .jpeg"))
    posters = command("posters", _("write a printable PDF with a poster per grid, shop or site"))
    kinds = posters.add_mutually_exclusive_group()
    kinds.add_argument("--shops", action="store_true", help=_("a poster per shop instead of per grid"))
    kinds.add_argument("--sites", action="store_true", help=_("a poster per supervised site instead of per grid"))
    posters.add_argument("--town")
    posters.add_argument("--village")
    # Checked when the command runs: the paper sizes live with the printing code (bot.codes), which
    # imports aiogram.
    posters.add_argument("--size", default="A4", help=_("A4, A5, A6 or A6x4 (four A6 posters on an A4 sheet, with cut marks)"))
    posters.add_argument("-o", "--output", type=Path, required=True, help=_("PDF file to write"))
    stats = command("stats", _("print a period's statistics (default: the last full week); export its tickets"))
    period = stats.add_mutually_exclusive_group()
    for flag, example, help_text in (
        ("week", "2026-W47", _("a week such as {example}; 'last' for the last full one, 'current' for this week so far (not final)")),
        ("month", "2026-11", _("a month such as {example}; 'last' for the last full one, 'current' for this month so far (not final)")),
        ("quarter", "2026-Q4", _("a quarter such as {example}; 'last' for the last full one, 'current' for this quarter so far (not final)")),
    ):
        period.add_argument(f"--{flag}", metavar=flag.upper(), help=help_text.format(example=example))
    period.add_argument("--from", dest="from_day", metavar="DAY", help=_("first day of a range, 2026-11-01 (with --to)"))
    stats.add_argument("--to", dest="to_day", metavar="DAY", help=_("last day of a range, 2026-11-15 (with --from)"))
    where = stats.add_mutually_exclusive_group()
    where.add_argument("--town", help=_("a town's name"))
    where.add_argument("--village", help=_("a village's name"))
    where.add_argument("--grid", help=_("a grid's code"))
    stats.add_argument("--scorecards", action="store_true",
                       help=_("also print every grid's, village's, town's and department's scorecard"))
    stats.add_argument("--csv", type=Path, help=_("also write the period's tickets as CSV (UTF-8 with BOM)"))
    stats.add_argument("--xlsx", type=Path, help=_("also write the period's tickets as an Excel file"))
    stats.add_argument("--with-phones", action="store_true", help=_(
        "add to the CSV the call-back numbers residents shared and not yet erased (for admins: keep the file safe)"))
    backup = command("backup", _("copy the database consistently, also while the bot runs"))
    backup.add_argument("file", help=_("the copy to write, or a folder to write it into"))
    migrate = command("migrate", _("copy the SQLite database (DATABASE_PATH) into an empty PostgreSQL one"))
    migrate.add_argument("--to", dest="url", required=True, metavar="postgresql://…",
                         help=_("the PostgreSQL database; then set DATABASE_URL to it"))
    return parser


def main(argv: list[str] | None = None) -> int:
    with Catalogs(configured_language()).context():
        args = build_parser().parse_args(argv)
        try:
            settings = load_settings()
            setup_logging(settings.bot_token)
            if args.command not in MAKE_DATABASE:
                require_database(settings)
            return asyncio.run(COMMANDS[args.command](settings, args))
        except SettingsError as error:
            print(_("configuration error: {error}").format(error=error), file=sys.stderr)
            return 2
        except CommandError as error:
            print(error, file=sys.stderr)
            return error.exit_code
        except KeyboardInterrupt:
            return 0
        except Exception:
            # Through logging, whose filter takes the token out of the traceback as well.
            log.critical("gridbot stopped by an unexpected error", exc_info=True)
            return 1


if __name__ == "__main__":
    sys.exit(main())

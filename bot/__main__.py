"""`gridbot` (or `python -m bot`): run the bot, fill a demo town, import CSV files, back up."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from aiogram.exceptions import TelegramAPIError, TelegramNetworkError

from bot.codes import NoBotUsername, paper_size
from bot.config import Settings, SettingsError, load_settings
from domain.models import Role
from qr import CodeKind, FontNotFoundError, MissingGlyphsError
from qr.fonts import FONT_HINT
from storage import open_storage

if TYPE_CHECKING:
    from domain.stats import Period


log = logging.getLogger("gridbot")


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


async def run_bot(settings: Settings) -> None:
    from bot.factory import create_bot, create_dispatcher

    bot = create_bot(settings)
    storage = await open_storage(settings.database)
    web_runner = None
    try:
        dispatcher = create_dispatcher(settings, storage)
        if settings.web_port:
            from web.app import create_app, start_web

            web_runner = await start_web(create_app(settings, storage), settings.web_host, settings.web_port)
            log.info("web server on %s:%s", settings.web_host, settings.web_port)
        await dispatcher.start_polling(bot, handle_signals=True)
    finally:
        if web_runner is not None:
            await web_runner.cleanup()
        await storage.close()
        await bot.session.close()


async def run_web(settings: Settings) -> None:
    """The web server alone: public pages need no token."""
    from web.app import DEFAULT_WEB_PORT, create_app, serve_until_stopped

    port = settings.web_port or DEFAULT_WEB_PORT
    storage = await open_storage(settings.database)
    try:
        log.info("web server on %s:%s", settings.web_host, port)
        await serve_until_stopped(create_app(settings, storage), settings.web_host, port)
    finally:
        await storage.close()


async def run_backup(settings: Settings, target: Path) -> int:
    """A consistent copy of the database, also while the bot runs (restore: see README)."""
    if settings.database_url:
        from storage.postgres import BACKUP_ADVICE

        print(BACKUP_ADVICE, file=sys.stderr)
        return 2
    source = settings.database_path
    if not source.is_file():
        print(f"{source} does not exist: there is nothing to back up.", file=sys.stderr)
        return 1
    if target.exists() and target.resolve() == source.resolve():
        print("the backup must go to another file than the database itself.", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    storage = await open_storage(source)
    try:
        await storage.backup_to(target)
    except (OSError, sqlite3.Error) as error:
        print(f"backup failed: {error}", file=sys.stderr)
        return 1
    finally:
        await storage.close()
    print(f"backup of {source} written to {target} ({target.stat().st_size:,} bytes)")
    return 0


async def run_migrate(settings: Settings, url: str) -> int:
    """Copy the SQLite database into an empty PostgreSQL database and check the copy (stop the
    bot first: what it writes meanwhile would not be copied)."""
    from storage.postgres import is_postgres_url
    from storage.transfer import TransferError, copy_to_postgres

    if not is_postgres_url(url):
        print("--to must be a PostgreSQL URL such as postgresql://gridbot@127.0.0.1:5432/gridbot", file=sys.stderr)
        return 2
    try:
        copies = await copy_to_postgres(settings.database_path, url)
    except TransferError as error:
        print(f"migrate: {error}", file=sys.stderr)
        return 1
    for copy in copies:
        print(f"{copy.table:<20} {copy.rows:>9,} rows  checksum {copy.checksum}")
    print(f"Copied {settings.database_path} into {shown(replace(settings, database_url=url))}:"
          " every table has the same rows. Set DATABASE_URL to it and start the bot.")
    return 0


async def run_demo(settings: Settings) -> int:
    from bot.factory import wall_clock
    from domain.demo import fill_demo

    storage = await open_storage(settings.database)
    try:
        if not await storage.is_empty():
            print(f"{shown(settings)} already holds data; the demo fills only an empty database.",
                  file=sys.stderr)
            return 1
        count = await fill_demo(storage, wall_clock())
    finally:
        await storage.close()
    print(f"Demo town written to {shown(settings)}: 6 grids, their staff and {count} tickets.")
    return 0


async def run_import(settings: Settings, what: str, path: Path, replace: bool = False) -> int:
    from domain import imports

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"cannot read {path}: {error}", file=sys.stderr)
        return 1
    if replace and what != "staff":
        print("--replace is for `gridbot import staff` only", file=sys.stderr)
        return 2
    storage = await open_storage(settings.database)
    try:
        stored_grids = await storage.list_grids()
        if what == "staff":
            departments = {c.department for c in await storage.list_categories()}
            known = imports.KnownScopes(stored_grids, departments, await storage.shop_codes())
    finally:
        await storage.close()
    if what in ("shops", "sites"):
        # Shops and sites lie in grids: each row's grid is checked against the stored grids.
        grid_codes = {grid.code for grid in stored_grids}
        result = {"shops": imports.parse_shops, "sites": imports.parse_sites}[what](text, grid_codes)
    elif what == "grids":
        result = imports.parse_grids(text, stored_grids)
    elif what == "staff":
        result = imports.parse_staff(text, known)
    elif what == "calendar":
        result = imports.parse_calendar(text)
    else:
        result = imports.parse_categories(text)
    if result.errors:
        for error in result.errors:
            print(f"{path}: {error}", file=sys.stderr)
        print(f"nothing was imported from {path}", file=sys.stderr)
        return 1
    storage = await open_storage(settings.database)
    try:
        if what == "staff":
            stored = {(m.telegram_id, m.role, m.scope) for m in await storage.list_staff()}
            service = staff_service(settings, storage)
            if replace:
                removed = await storage.replace_staff(result.rows)
                await service.staff_removed(removed)
            else:
                await storage.upsert_staff(result.rows)
            await service.staff_added([m for m in result.rows if (m.telegram_id, m.role, m.scope) not in stored])
        else:
            upsert = {"grids": storage.upsert_grids, "categories": storage.upsert_categories,
                      "shops": storage.upsert_shops, "sites": storage.upsert_sites,
                      "calendar": storage.upsert_calendar_days}[what]
            await upsert(result.rows)
    finally:
        await storage.close()
    if what == "calendar":  # what the admin can check against the published holiday notice
        holidays = sum(not d.working for d in result.rows)
        first, last = min(d.day for d in result.rows), max(d.day for d in result.rows)
        print(f"imported {len(result.rows)} calendar days from {path} ({first} to {last}: "
              f"{holidays} holidays, {len(result.rows) - holidays} working days)")
    else:
        print(f"imported {len(result.rows)} {what} from {path}")
    if replace:
        print_removed(removed)
    return 0


def staff_service(settings: Settings, storage):
    """The ticket service as the bot runs it: a removal here reaches the running bot through the
    database (its outbox sends the cards and the notices)."""
    from bot.factory import wall_clock
    from domain.service import TicketService

    return TicketService(storage, wall_clock, settings.tickets_per_hour, settings.admin_ids, settings.timezone)


def print_removed(removed) -> None:
    for member in removed:
        scope = f" {member.scope}" if member.scope else ""
        print(f"removed {member.telegram_id} {member.name}: {member.role.value}{scope}")
    if not removed:
        print("nobody was removed")


async def run_staff_list(settings: Settings) -> int:
    storage = await open_storage(settings.database)
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
            opened = "yes" if user is not None and user.opened_at is not None else "no"
            blocked = "yes" if user is not None and user.unreachable else "no"
            print(f"{telegram_id}\t{name}\t{'; '.join(roles)}\topened the bot: {opened}\tblocked: {blocked}")
        if not people:
            print("no staff; import them with `gridbot import staff FILE.csv`")
    finally:
        await storage.close()
    return 0


async def run_staff_remove(settings: Settings, telegram_id: int, role: str | None, scope: str | None) -> int:
    from domain.models import Role

    storage = await open_storage(settings.database)
    try:
        removed = await storage.remove_staff(telegram_id, Role(role) if role else None, scope)
        if not removed:
            print(f"{telegram_id} holds no such role; nothing was removed", file=sys.stderr)
            return 1
        await staff_service(settings, storage).staff_removed(removed)
    finally:
        await storage.close()
    print_removed(removed)
    if telegram_id in settings.admin_ids:
        print(f"{telegram_id} stays an admin: remove them from ADMIN_IDS for that")
    return 0


# What `gridbot qr -o FILE` writes for each file name ending (Pillow's format names).
CARD_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
CODE_NOUNS = {CodeKind.GRID: "grid", CodeKind.SHOP: "shop", CodeKind.SUPERVISION: "site"}


async def run_qr(settings: Settings, kind: CodeKind, code: str, out: Path) -> int:
    from bot.codes import card_image, code_specs, find_code
    from bot.i18n import create_i18n

    image_format = CARD_FORMATS.get(out.suffix.lower())
    if image_format is None:
        print(f"cannot write a card as {out.name!r}: name the file .png, .jpg or .jpeg", file=sys.stderr)
        return 2
    storage = await open_storage(settings.database)
    try:
        item = await find_code(storage, kind, code)
        if item is None:
            print(f"no {CODE_NOUNS[kind]} with the code {code!r}", file=sys.stderr)
            return 1
        [spec] = await code_specs(kind, [item], settings, storage, create_i18n(settings.default_language))
    finally:
        await storage.close()
    out.write_bytes(await card_image(spec, settings, image_format))
    print(f"QR code of {item.code} written to {out}")
    return 0


async def run_posters(settings: Settings, kind: CodeKind, out: Path, size: str, town: str | None,
                      village: str | None) -> int:
    from bot.codes import code_specs, codes_in, posters_pdf
    from bot.i18n import create_i18n
    from qr import describe_characters

    storage = await open_storage(settings.database)
    try:
        items = await codes_in(storage, kind, town, village)
        if not items:
            print(f"no {CODE_NOUNS[kind]}s match; import them first with `gridbot import`", file=sys.stderr)
            return 1
        specs = await code_specs(kind, items, settings, storage, create_i18n(settings.default_language))
    finally:
        await storage.close()
    report = posters_pdf(out, specs, size, settings)
    print(f"{report.written} posters ({size}) written to {out}")
    for refused in report.refused:
        print(
            f"left out {refused.spec.title!r}: no font has {describe_characters(refused.error.characters)}",
            file=sys.stderr,
        )
    if report.refused:
        print(f"error: {len(report.refused)} posters left out; {FONT_HINT}", file=sys.stderr)
        return 1
    return 0


# What `gridbot stats` says for each PeriodError reason.
_PERIOD_ERRORS = {
    "format": "write a week like 2026-W47, a month like 2026-11, a quarter like 2026-Q4, a day like "
              "2026-11-01, or last or current",
    "year": "statistics cover the years {first} to {last}",
    "date": "there is no such week, month, quarter or day",
    "order": "the range ends before it starts",
    "length": "a range covers at most {days} days",
}


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


async def run_stats(settings: Settings, args: argparse.Namespace) -> int:
    from bot.factory import wall_clock
    from bot.i18n import create_i18n
    from bot.stats_export import load_export, write_export_xlsx, write_tickets_csv
    from bot.stats_report import category_names, load_period_report, period_report, scope_name, scorecards
    from domain.shops import lowest_rated_shops
    from domain.stats import MAX_RANGE_DAYS, MAX_YEAR, MIN_YEAR, PeriodError, Scope, ScopeLevel

    try:
        # As the bot does: a period still running is cut at `now`, the sums of one over are stored.
        now = wall_clock()
        period = stats_period(args, now, settings.timezone)
    except PeriodError as error:
        reason = _PERIOD_ERRORS[error.reason].format(first=MIN_YEAR, last=MAX_YEAR, days=MAX_RANGE_DAYS)
        print(f"cannot read the period {error.text!r}: {reason}", file=sys.stderr)
        return 2
    scope = Scope()
    for level, name in ((ScopeLevel.TOWN, args.town), (ScopeLevel.VILLAGE, args.village), (ScopeLevel.GRID, args.grid)):
        if name:
            scope = Scope(level, name)
    i18n = create_i18n(settings.default_language)
    storage = await open_storage(settings.database)
    try:
        names = await category_names(storage, settings.default_language)
        with i18n.context(), i18n.use_locale(settings.default_language):
            report = await load_period_report(storage, settings, period, scope, now)
            shops = await lowest_rated_shops(storage, report.window, scope)
            print(period_report(report, names, settings.timezone, shops=shops))
            if args.scorecards:
                print("\n" + scorecards(report))
            if args.csv or args.xlsx:
                export = await load_export(storage, settings, period, scope, settings.default_language, now)
                if args.csv:
                    count = write_tickets_csv(args.csv, export, settings)
                if args.xlsx:
                    grids = {g.code: g.name for g in export.grids.values()}
                    count = write_export_xlsx(args.xlsx, export, settings, scope_name(scope, grids))
                print(f"\n{count} tickets exported")
    finally:
        await storage.close()
    return 0


def paper_size_argument(word: str) -> str:
    size = paper_size(word)
    if size is None:
        raise argparse.ArgumentTypeError(f"{word!r} is not a paper size: use A4, A5, A6 or A6x4")
    return size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridbot", description="Grid service-request bot for Telegram")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the bot (long polling), and the web server if WEB_PORT is set")
    commands.add_parser("web", help="run the public web server alone (no token needed)")
    commands.add_parser("demo", help="fill an empty database with a demo town")
    importer = commands.add_parser(
        "import", help="import grids, staff, categories, shops, sites or the calendar of holidays from CSV"
    )
    importer.add_argument("what", choices=["grids", "staff", "categories", "shops", "sites", "calendar"])
    importer.add_argument("file", type=Path)
    importer.add_argument("--replace", action="store_true",
                          help="staff only: the file is the complete staff list; everyone else loses their roles")
    staff = commands.add_parser("staff", help="list staff or remove someone's roles")
    staff_commands = staff.add_subparsers(dest="staff_command", required=True)
    staff_commands.add_parser("list", help="each staff member: roles, scopes, opened the bot, blocked it")
    remove = staff_commands.add_parser("remove", help="take roles away; their open tickets go to others at once")
    remove.add_argument("telegram_id", type=int)
    remove.add_argument("--role", choices=[r.value for r in Role], help="only this role (default: all)")
    remove.add_argument("--scope", help="only the role in this scope (a grid code, village, town, …)")
    qr_command = commands.add_parser("qr", help="write the QR code card of a grid, a shop or a site")
    which = qr_command.add_mutually_exclusive_group(required=True)
    which.add_argument("--grid", help="a grid's code")
    which.add_argument("--shop", help="a shop's code (经营码)")
    which.add_argument("--site", help="a supervised site's code (监管码)")
    qr_command.add_argument("-o", "--output", type=Path, required=True, help="file to write: .png, .jpg or .jpeg")
    posters = commands.add_parser("posters", help="write a printable PDF with a poster per grid, shop or site")
    kinds = posters.add_mutually_exclusive_group()
    kinds.add_argument("--shops", action="store_true", help="a poster per shop instead of per grid")
    kinds.add_argument("--sites", action="store_true", help="a poster per supervised site instead of per grid")
    posters.add_argument("--town")
    posters.add_argument("--village")
    posters.add_argument("--size", type=paper_size_argument, default="A4",
                         help="A4, A5, A6 or A6x4 (four A6 posters on an A4 sheet, with cut marks)")
    posters.add_argument("-o", "--output", type=Path, required=True, help="PDF file to write")
    stats = commands.add_parser(
        "stats", help="print a period's statistics (default: the last full week); export its tickets")
    period = stats.add_mutually_exclusive_group()
    for flag, example in (("week", "2026-W47"), ("month", "2026-11"), ("quarter", "2026-Q4")):
        period.add_argument(f"--{flag}", metavar=flag.upper(),
                            help=f"a {flag} such as {example}; 'last' for the last full one, 'current' for"
                                 f" this {flag} so far (not final)")
    period.add_argument("--from", dest="from_day", metavar="DAY", help="first day of a range, 2026-11-01 (with --to)")
    stats.add_argument("--to", dest="to_day", metavar="DAY", help="last day of a range, 2026-11-15 (with --from)")
    where = stats.add_mutually_exclusive_group()
    where.add_argument("--town")
    where.add_argument("--village")
    where.add_argument("--grid", help="a grid's code")
    stats.add_argument("--scorecards", action="store_true",
                       help="also print every grid's, village's, town's and department's scorecard")
    stats.add_argument("--csv", type=Path, help="also write the period's tickets as CSV (UTF-8 with BOM)")
    stats.add_argument("--xlsx", type=Path, help="also write the period's tickets as an Excel file")
    backup = commands.add_parser("backup", help="copy the database consistently, also while the bot runs")
    backup.add_argument("file", type=Path, help="the copy to write")
    migrate = commands.add_parser("migrate", help="copy the SQLite database (DATABASE_PATH) into an empty PostgreSQL one")
    migrate.add_argument("--to", dest="url", required=True, metavar="postgresql://…",
                         help="the PostgreSQL database; then set DATABASE_URL to it")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        setup_logging(settings.bot_token)
        if args.command == "run":
            settings.require_token()
            asyncio.run(run_bot(settings))
            return 0
        if args.command == "web":
            asyncio.run(run_web(settings))
            return 0
        if args.command == "demo":
            return asyncio.run(run_demo(settings))
        if args.command == "backup":
            return asyncio.run(run_backup(settings, args.file))
        if args.command == "migrate":
            return asyncio.run(run_migrate(settings, args.url))
        if args.command == "import":
            return asyncio.run(run_import(settings, args.what, args.file, args.replace))
        if args.command == "staff" and args.staff_command == "list":
            return asyncio.run(run_staff_list(settings))
        if args.command == "staff":
            return asyncio.run(run_staff_remove(settings, args.telegram_id, args.role, args.scope))
        if args.command == "qr":
            codes = {CodeKind.GRID: args.grid, CodeKind.SHOP: args.shop, CodeKind.SUPERVISION: args.site}
            kind, code = next((kind, code) for kind, code in codes.items() if code)
            return asyncio.run(run_qr(settings, kind, code, args.output))
        if args.command == "stats":
            return asyncio.run(run_stats(settings, args))
        if args.command == "posters":
            kind = CodeKind.SHOP if args.shops else CodeKind.SUPERVISION if args.sites else CodeKind.GRID
            return asyncio.run(run_posters(settings, kind, args.output, args.size, args.town, args.village))
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except (NoBotUsername, FontNotFoundError, MissingGlyphsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except (TelegramNetworkError, TelegramAPIError) as error:
        # At start-up (getMe, the command menus): a wrong URL, a server down, a revoked token.
        log.critical("cannot reach the Bot API: %s", error)
        return 1
    except Exception:
        # Through logging, whose filter takes the token out of the traceback as well.
        log.critical("gridbot stopped by an unexpected error", exc_info=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

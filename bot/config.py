"""Settings from the environment and `.env`, loaded once by the entry point."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from bot.catalogs import gettext as _
from domain.models import BoardTowns

SUPPORTED_LANGUAGES = ("zh", "en")
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
# Telegram tokens look like "123456789:AA...": a numeric bot id, a colon and a 35-character secret.
TOKEN_PATTERN = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    # repr=False keeps the token out of tracebacks and logs that print the settings.
    bot_token: str | None = field(repr=False)
    database_path: Path
    telegram_api_url: str | None
    admin_ids: frozenset[int]
    timezone: ZoneInfo
    default_language: str
    ticket_prefix: str
    bot_username: str | None
    font_path: Path | None = None
    fallback_fonts: tuple[Path, ...] = ()  # for characters the first font lacks (CJK Extension B)
    hotline: str = ""  # printed on posters and cards when set
    stats_min_rated: int = 5
    stats_min_tickets: int = 5  # a unit with fewer received tickets in a period is not ranked
    digest_weekday: int = 0  # Monday
    digest_time: time = time(8, 0)
    tickets_per_hour: int = 10  # new tickets a resident may file in an hour; 0: no limit
    # The public web server (web/): `gridbot run` starts it beside the bot only with a port.
    web_host: str = "127.0.0.1"
    web_port: int | None = None
    # The public board (domain/board.py): towns that have one, and those whose suggestions may go
    # public too (public reports always may, complaints never).
    board: BoardTowns = BoardTowns()
    nearest_grid_km: float = 5.0  # a shared location farther than this from every grid finds none
    # Map tiles of the board's page, e.g. https://tile.example.org/{z}/{x}/{y}.png; None: no map.
    map_tile_url: str | None = None
    map_attribution: str = ""  # the tile provider's required credit, shown under the map
    # The Telegram channel that mirrors the board (bot/channel.py), e.g. -1001234567890; None: none.
    public_channel_id: int | None = None
    # postgresql://… to keep everything in PostgreSQL instead of the SQLite file `database_path`.
    database_url: str | None = field(default=None, repr=False)  # may hold a password
    # Webhook mode (web/webhook.py): Telegram posts updates to this https URL, with this secret.
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    # The console (web/console/), a Telegram Mini App: the https address this web server is reached
    # at from outside, e.g. https://gridbot.example.org; None: no console buttons in the bot.
    web_base_url: str | None = None

    @property
    def console_url(self) -> str | None:
        """The console's first page, as the bot's buttons open it."""
        return f"{self.web_base_url}/app/" if self.web_base_url else None

    @property
    def database(self) -> str | Path:
        """What `storage.open_storage` opens: the PostgreSQL URL if set, else the SQLite file."""
        return self.database_url or self.database_path
    phone_retention_days: int = 30  # a call-back number is erased this long after its ticket closed
    confirm_reminder_days: int = 3  # an unanswered resolution: the resident is reminded once
    auto_close_days: int = 7  # and then closed without confirmation

    def require_token(self) -> str:
        if not self.bot_token:
            raise SettingsError(_("BOT_TOKEN is not set. Get a token from @BotFather and put BOT_TOKEN=... in .env"))
        if not TOKEN_PATTERN.match(self.bot_token):
            raise SettingsError(_("BOT_TOKEN is malformed: expected '<digits>:<secret>' as @BotFather gives it"))
        return self.bot_token


# A host name, an IPv4 address or an IPv6 address (urlsplit strips its brackets).
HOST_PATTERN = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")


def check_api_url(url: str) -> str:
    """A Bot API server's base URL as aiohttp will accept it, or a SettingsError. Checked here
    because a bad URL would otherwise fail at the first request, with the token in the URL."""
    if not url:
        return url
    example = "http://127.0.0.1:8081, https://bot-api.example.org"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as error:
        raise SettingsError(
            _("TELEGRAM_API_URL is not a valid URL ({error}); it must look like {example}").format(error=error, example=example)
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not HOST_PATTERN.fullmatch(parts.hostname) or port == 0:
        raise SettingsError(_("TELEGRAM_API_URL must look like {example}").format(example=example))
    if parts.query or parts.fragment or parts.username or parts.password:
        raise SettingsError(
            _("TELEGRAM_API_URL must have no user, query or fragment; it must look like {example}").format(example=example)
        )
    return url


def names_list(value: str) -> frozenset[str]:
    """Names separated by commas (also Chinese ones, ，and 、) or semicolons."""
    return frozenset(part.strip() for part in re.split(r"[,;，、]", value) if part.strip())


def _values(environ: Mapping[str, str] | None, env_file: str | Path | None) -> dict[str, str]:
    """The settings as given; real environment variables win over the `.env` file."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def configured_language(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> str:
    """DEFAULT_LANGUAGE for the command line's own messages, also when another setting is wrong
    (a wrong DEFAULT_LANGUAGE is reported by load_settings, in Chinese)."""
    language = _values(environ, env_file).get("DEFAULT_LANGUAGE", "").strip().lower()
    return language if language in SUPPORTED_LANGUAGES else SUPPORTED_LANGUAGES[0]


def _whole_number(name: str, text: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", text) or not low <= int(text) <= high:
        raise SettingsError(
            _("{name} must be a whole number from {low} to {high}, got {value!r}").format(
                name=name, low=low, high=high, value=text)
        )
    return int(text)


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Read and check the settings; real environment variables win over the `.env` file."""
    values = _values(environ, env_file)

    def get(name: str, default: str = "") -> str:
        return values.get(name, default).strip()

    admin_ids: set[int] = set()
    for part in get("ADMIN_IDS").replace(";", ",").split(","):
        if not part.strip():
            continue
        try:
            admin_ids.add(int(part))
        except ValueError:
            raise SettingsError(
                _("ADMIN_IDS must be comma-separated Telegram user ids, got {value!r}").format(value=part.strip())
            ) from None

    tz_name = get("TIMEZONE", "Asia/Shanghai")
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(_("TIMEZONE {value!r} is not a known time zone").format(value=tz_name)) from None

    language = get("DEFAULT_LANGUAGE", "zh").lower()
    if language not in SUPPORTED_LANGUAGES:
        raise SettingsError(
            _("DEFAULT_LANGUAGE must be one of {choices}, got {value!r}").format(
                choices=", ".join(SUPPORTED_LANGUAGES), value=language)
        )

    api_url = check_api_url(get("TELEGRAM_API_URL")) or None

    prefix = get("TICKET_PREFIX", "XG").upper()
    if not re.fullmatch(r"[A-Z]{1,6}", prefix):
        raise SettingsError(_("TICKET_PREFIX must be 1 to 6 Latin letters"))

    username = get("BOT_USERNAME").lstrip("@") or None
    # A unit is ranked from this many tickets on; fewer than one would rank units without any.
    min_rated = _whole_number("STATS_MIN_RATED", get("STATS_MIN_RATED", "5"), 1, 100_000)
    min_tickets = _whole_number("STATS_MIN_TICKETS", get("STATS_MIN_TICKETS", "5"), 1, 100_000)
    digest = re.fullmatch(r"(MON|TUE|WED|THU|FRI|SAT|SUN) ([01]\d|2[0-3]):([0-5]\d)", get("DIGEST_AT", "MON 08:00").upper())
    if not digest:
        raise SettingsError(_("DIGEST_AT must look like 'MON 08:00' (weekday and 24-hour time)"))
    per_hour = _whole_number("TICKETS_PER_HOUR", get("TICKETS_PER_HOUR", "10"), 0, 999_999)  # 0: no limit
    web_port = _whole_number("WEB_PORT", get("WEB_PORT"), 1, 65535) if get("WEB_PORT") else None
    web_host = get("WEB_HOST", "127.0.0.1")
    if not HOST_PATTERN.fullmatch(web_host):
        raise SettingsError(_("WEB_HOST must be a host name or an IP address, got {value!r}").format(value=web_host))
    channel = get("PUBLIC_CHANNEL_ID")
    if channel and not re.fullmatch(r"-100[0-9]{6,16}", channel):
        raise SettingsError(_("PUBLIC_CHANNEL_ID must be the channel's id, such as -1001234567890, got {value!r}").format(
            value=channel))
    board_towns = names_list(get("BOARD_TOWNS"))
    suggestion_towns = names_list(get("BOARD_SUGGESTIONS"))
    if not suggestion_towns <= board_towns:
        raise SettingsError(_("BOARD_SUGGESTIONS names towns that are not in BOARD_TOWNS: {towns}").format(
            towns=", ".join(sorted(suggestion_towns - board_towns))))
    webhook_url, webhook_secret = get("WEBHOOK_URL"), get("WEBHOOK_SECRET")
    if webhook_url:
        parts = urlsplit(webhook_url)
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise SettingsError(_("WEBHOOK_URL must be an https URL such as https://bot.example.org/telegram"))
        # Telegram's secret_token: 1 to 256 of A-Z a-z 0-9 _ -.
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", webhook_secret):
            raise SettingsError(_("WEBHOOK_SECRET must be 16 to 256 letters, digits, _ or - (with WEBHOOK_URL)"))
    web_base_url = get("WEB_BASE_URL").rstrip("/")
    if web_base_url:
        parts = urlsplit(web_base_url)
        # Telegram opens a Mini App only from an https address (core.telegram.org/bots/webapps).
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment or parts.username:
            raise SettingsError(_("WEB_BASE_URL must be the https address of the web server as Telegram reaches it, "
                                  "such as https://gridbot.example.org (Telegram opens the console only over HTTPS)"))
    database_url = get("DATABASE_URL")
    if database_url and not database_url.startswith(("postgresql://", "postgres://")):
        raise SettingsError(_("DATABASE_URL must look like postgresql://user@host:5432/gridbot (or be unset for SQLite)"))
    nearest_km = get("NEAREST_GRID_KM", "5")
    if not re.fullmatch(r"[0-9]{1,4}(\.[0-9]{1,3})?", nearest_km) or float(nearest_km) <= 0:
        raise SettingsError(_("NEAREST_GRID_KM must be a distance in kilometres above 0, e.g. 5 or 2.5, got {value!r}")
                            .format(value=nearest_km))
    days = {}
    for name, default in (("PHONE_RETENTION_DAYS", "30"), ("CONFIRM_REMINDER_DAYS", "3"), ("AUTO_CLOSE_DAYS", "7")):
        value = get(name, default)
        if not re.fullmatch(r"[0-9]{1,4}", value) or not 1 <= int(value) <= 3650:
            raise SettingsError(_("{name} must be a whole number of days from 1 to 3650, got {value!r}").format(
                name=name, value=value))
        days[name] = int(value)
    if days["CONFIRM_REMINDER_DAYS"] >= days["AUTO_CLOSE_DAYS"]:
        raise SettingsError(_("CONFIRM_REMINDER_DAYS must be fewer than AUTO_CLOSE_DAYS: the reminder comes before "
                              "the closing"))
    tile_url = get("MAP_TILE_URL")
    if tile_url:
        parts = urlsplit(tile_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or not all(
                key in tile_url for key in ("{z}", "{x}", "{y}")):
            raise SettingsError(_("MAP_TILE_URL must be an http(s) address with {{z}}, {{x}} and {{y}}, e.g. {example}")
                                .format(example="https://tile.example.org/{z}/{x}/{y}.png"))
    font = get("FONT_PATH")
    if font and not Path(font).is_file():
        raise SettingsError(_("FONT_PATH {value!r} is not a file").format(value=font))
    fallback_fonts = tuple(Path(part.strip()) for part in get("FALLBACK_FONTS").split(os.pathsep) if part.strip())
    for path in fallback_fonts:
        if not path.is_file():
            raise SettingsError(_("FALLBACK_FONTS: {value!r} is not a file").format(value=str(path)))
    hotline = " ".join(get("HOTLINE").split())
    if len(hotline) > 40:
        raise SettingsError(_("HOTLINE must be at most 40 characters, got {count}").format(count=len(hotline)))
    # Relative to the folder the command runs in, as any path on a command line.
    database = Path(get("DATABASE_PATH", "./data/gridbot.sqlite3"))
    if database.is_dir():
        raise SettingsError(_("DATABASE_PATH {value!r} is a folder; name the database file in it").format(value=str(database)))

    return Settings(
        bot_token=get("BOT_TOKEN") or None,
        database_path=database,
        telegram_api_url=api_url.rstrip("/") if api_url else None,
        admin_ids=frozenset(admin_ids),
        timezone=timezone,
        default_language=language,
        ticket_prefix=prefix,
        bot_username=username,
        font_path=Path(font) if font else None,
        fallback_fonts=fallback_fonts,
        hotline=hotline,
        stats_min_rated=min_rated,
        stats_min_tickets=min_tickets,
        digest_weekday=WEEKDAYS.index(digest.group(1)),
        digest_time=time(int(digest.group(2)), int(digest.group(3))),
        tickets_per_hour=per_hour,
        web_host=web_host,
        web_port=web_port,
        board=BoardTowns(board_towns, suggestion_towns),
        database_url=database_url or None,
        nearest_grid_km=float(nearest_km),
        phone_retention_days=days["PHONE_RETENTION_DAYS"],
        confirm_reminder_days=days["CONFIRM_REMINDER_DAYS"],
        auto_close_days=days["AUTO_CLOSE_DAYS"],
        webhook_url=webhook_url or None,
        webhook_secret=webhook_secret if webhook_url else None,
        web_base_url=web_base_url or None,
        map_tile_url=tile_url or None,
        map_attribution=get("MAP_ATTRIBUTION"),
        public_channel_id=int(channel) if channel else None,
    )

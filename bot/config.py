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
    # postgresql://… to keep everything in PostgreSQL instead of the SQLite file `database_path`.
    database_url: str | None = field(default=None, repr=False)  # may hold a password

    @property
    def database(self) -> str | Path:
        """What `storage.open_storage` opens: the PostgreSQL URL if set, else the SQLite file."""
        return self.database_url or self.database_path

    def require_token(self) -> str:
        if not self.bot_token:
            raise SettingsError(
                "BOT_TOKEN is not set. Get a token from @BotFather and put BOT_TOKEN=... in .env"
            )
        if not TOKEN_PATTERN.match(self.bot_token):
            raise SettingsError(
                "BOT_TOKEN is malformed: expected '<digits>:<secret>' as @BotFather gives it"
            )
        return self.bot_token


# A host name, an IPv4 address or an IPv6 address (urlsplit strips its brackets).
HOST_PATTERN = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")


def check_api_url(url: str) -> str:
    """A Bot API server's base URL as aiohttp will accept it, or a SettingsError. Checked here
    because a bad URL would otherwise fail at the first request, with the token in the URL."""
    if not url:
        return url
    problem = "must look like http://127.0.0.1:8081 or https://bot-api.example.org"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as error:
        raise SettingsError(f"TELEGRAM_API_URL is not a valid URL ({error}); it {problem}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not HOST_PATTERN.fullmatch(parts.hostname) or port == 0:
        raise SettingsError(f"TELEGRAM_API_URL {problem}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise SettingsError(f"TELEGRAM_API_URL must have no user, query or fragment; it {problem}")
    return url


def names_list(value: str) -> frozenset[str]:
    """Names separated by commas (also Chinese ones, ，and 、) or semicolons."""
    return frozenset(part.strip() for part in re.split(r"[,;，、]", value) if part.strip())


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Read settings; real environment variables win over the `.env` file."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)

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
                f"ADMIN_IDS must be comma-separated Telegram user ids, got {part.strip()!r}"
            ) from None

    tz_name = get("TIMEZONE", "Asia/Shanghai")
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"TIMEZONE {tz_name!r} is not a known time zone") from None

    language = get("DEFAULT_LANGUAGE", "zh").lower()
    if language not in SUPPORTED_LANGUAGES:
        raise SettingsError(
            f"DEFAULT_LANGUAGE must be one of {', '.join(SUPPORTED_LANGUAGES)}, got {language!r}"
        )

    api_url = check_api_url(get("TELEGRAM_API_URL")) or None

    prefix = get("TICKET_PREFIX", "XG").upper()
    if not re.fullmatch(r"[A-Z]{1,6}", prefix):
        raise SettingsError("TICKET_PREFIX must be 1 to 6 Latin letters")

    username = get("BOT_USERNAME").lstrip("@") or None
    try:
        min_rated = int(get("STATS_MIN_RATED", "5"))
    except ValueError:
        raise SettingsError("STATS_MIN_RATED must be a whole number") from None
    try:
        min_tickets = int(get("STATS_MIN_TICKETS", "5"))
    except ValueError:
        raise SettingsError("STATS_MIN_TICKETS must be a whole number") from None
    digest = re.fullmatch(r"(MON|TUE|WED|THU|FRI|SAT|SUN) ([01]\d|2[0-3]):([0-5]\d)", get("DIGEST_AT", "MON 08:00").upper())
    if not digest:
        raise SettingsError("DIGEST_AT must look like 'MON 08:00' (weekday and 24-hour time)")
    per_hour = get("TICKETS_PER_HOUR", "10")
    if not re.fullmatch(r"[0-9]{1,6}", per_hour):
        raise SettingsError(f"TICKETS_PER_HOUR must be a whole number (0 for no limit), got {per_hour!r}")
    web_port = get("WEB_PORT")
    if web_port and not (web_port.isdigit() and 1 <= int(web_port) <= 65535):
        raise SettingsError(f"WEB_PORT must be a port number from 1 to 65535, got {web_port!r}")
    web_host = get("WEB_HOST", "127.0.0.1")
    if not HOST_PATTERN.fullmatch(web_host):
        raise SettingsError(f"WEB_HOST must be a host name or an IP address, got {web_host!r}")
    board_towns = names_list(get("BOARD_TOWNS"))
    suggestion_towns = names_list(get("BOARD_SUGGESTIONS"))
    if not suggestion_towns <= board_towns:
        raise SettingsError("BOARD_SUGGESTIONS names towns that are not in BOARD_TOWNS: "
                            + ", ".join(sorted(suggestion_towns - board_towns)))
    database_url = get("DATABASE_URL")
    if database_url and not database_url.startswith(("postgresql://", "postgres://")):
        raise SettingsError("DATABASE_URL must look like postgresql://user@host:5432/gridbot (or be unset for SQLite)")
    nearest_km = get("NEAREST_GRID_KM", "5")
    if not re.fullmatch(r"[0-9]{1,4}(\.[0-9]{1,3})?", nearest_km) or float(nearest_km) <= 0:
        raise SettingsError(f"NEAREST_GRID_KM must be a distance in kilometres above 0, e.g. 5 or 2.5, "
                            f"got {nearest_km!r}")
    font = get("FONT_PATH")
    if font and not Path(font).is_file():
        raise SettingsError(f"FONT_PATH {font!r} is not a file")
    fallback_fonts = tuple(Path(part.strip()) for part in get("FALLBACK_FONTS").split(os.pathsep) if part.strip())
    for path in fallback_fonts:
        if not path.is_file():
            raise SettingsError(f"FALLBACK_FONTS: {str(path)!r} is not a file")
    hotline = " ".join(get("HOTLINE").split())
    if len(hotline) > 40:
        raise SettingsError(f"HOTLINE must be at most 40 characters, got {len(hotline)}")

    return Settings(
        bot_token=get("BOT_TOKEN") or None,
        database_path=Path(get("DATABASE_PATH", "./data/gridbot.sqlite3")),
        telegram_api_url=api_url.rstrip("/") if api_url else None,
        admin_ids=frozenset(admin_ids),
        timezone=timezone,
        default_language=language,
        ticket_prefix=prefix,
        bot_username=username,
        font_path=Path(font) if font else None,
        fallback_fonts=fallback_fonts,
        hotline=hotline,
        stats_min_rated=max(1, min_rated),
        stats_min_tickets=max(1, min_tickets),
        digest_weekday=WEEKDAYS.index(digest.group(1)),
        digest_time=time(int(digest.group(2)), int(digest.group(3))),
        tickets_per_hour=int(per_hour),
        web_host=web_host,
        web_port=int(web_port) if web_port else None,
        board=BoardTowns(board_towns, suggestion_towns),
        database_url=database_url or None,
        nearest_grid_km=float(nearest_km),
    )

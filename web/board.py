"""The public board's page, /board/<town>, in Chinese and English, rendered on the server: the
town's approved public reports (open, and closed within domain.board.RECENT_DAYS) with category,
grid, age, status, their steps in plain words and approved photos; and a map with pins coloured by
status when MAP_TILE_URL is set (the grids as a list otherwise). The page asks nothing of any other
server but the tile server (its Content-Security-Policy says so to the browser)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from bot.cards import history_lines, history_names
from bot.catalogs import gettext as _
from bot.config import SUPPORTED_LANGUAGES, Settings
from bot.i18n import CatalogI18n, create_i18n
from bot.texts import category_name, format_duration, format_time, kind_name, public_status
from domain.board import BoardService, board_path, pin_location, public_photos
from domain.models import Grid, PublicPost, Status, Ticket
from domain.tickets import OPEN_STATUSES, format_number
from web.keys import CLOCK, SETTINGS, STORAGE
from web.photos import TelegramFiles, photo_response

STATIC = Path(__file__).parent / "static"
I18N = web.AppKey("i18n", CatalogI18n)
# Telegram Web shows a Mini App (the console) in a frame of its own page; the apps in a web view.
TELEGRAM_WEB = "https://web.telegram.org"
FILES = web.AppKey("files", TelegramFiles)
# The newest of each list the page shows, so that it stays small on a phone.
OPEN_SHOWN = 60
CLOSED_SHOWN = 30
# The pin's colour (board.css): new or reopened, being worked on, done.
PIN_STATE = {
    Status.NEW: "open", Status.REOPENED: "open", Status.IN_PROGRESS: "progress",
    Status.WAITING_RESIDENT: "progress", Status.RESOLVED: "done", Status.CLOSED: "done",
}


def page_language(request: web.Request, default: str) -> str:
    """?lang= wins; then the browser's Accept-Language (by its q-values); then the default."""
    chosen = request.query.get("lang", "")
    if chosen in SUPPORTED_LANGUAGES:
        return chosen
    best, best_q = default, 0.0
    for part in request.headers.get("Accept-Language", "").split(","):
        tag, _sep, params = part.strip().partition(";")
        base = tag.split("-")[0].lower()
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            continue
        if base in SUPPORTED_LANGUAGES and q > best_q:
            best, best_q = base, q
    return best


def security_headers(settings: Settings, console: bool = False) -> dict[str, str]:
    """Our own scripts, styles and images, and the tile server's images; nothing else. The
    console's page (web/console/pages.py) also fetches from us and is shown in Telegram Web's frame."""
    tiles = ""
    if settings.map_tile_url:
        parts = urlsplit(settings.map_tile_url)
        tiles = f" {parts.scheme}://{parts.netloc}"
    fetches, framed_by = ("connect-src 'self'; ", TELEGRAM_WEB) if console else ("", "'none'")
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'{tiles}; {fetches}"
            f"base-uri 'none'; form-action 'none'; frame-ancestors {framed_by}"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def photo_path(town: str, ticket_id: int, index: int) -> str:
    """Where the board serves a ticket's `index`-th public photo (domain.board.public_photos)."""
    return f"{board_path(town)}/photo/{ticket_id}/{index}"


async def ticket_html(request: web.Request, town: str, ticket: Ticket, post: PublicPost, grid: Grid | None,
                      language: str, now: int) -> str:
    settings, storage = request.app[SETTINGS], request.app[STORAGE]
    number = format_number(settings.ticket_prefix, ticket.id)
    category = await storage.get_category(ticket.category_code)
    events = await storage.events(ticket.id)
    steps = history_lines(events, await history_names(storage, settings, ticket, events), settings.timezone,
                          for_staff=False, show_notes=False)
    pin = pin_location(ticket, grid)
    where = f' data-lat="{pin[0]}" data-lon="{pin[1]}"' if pin else ""
    head = " · ".join([number, kind_name(ticket.kind), escape(category_name(category, ticket.category_code, language))])
    place = escape(f"{grid.name}（{grid.village}）" if grid else ticket.grid_code)
    parts = [
        f'<article class="ticket" id="{number}" data-state="{PIN_STATE[ticket.status]}" '
        f'data-title="{escape(head, quote=True)}"{where}>',
        f'<h3><span class="dot {PIN_STATE[ticket.status]}"></span>{head}</h3>',
        '<p class="meta">{place} · {age} · <strong>{status}</strong></p>'.format(
            place=place, age=_("filed {age} ago").format(age=format_duration(now - ticket.created_at)),
            status=public_status(ticket.status)),
        f'<p class="text">{escape(post.text)}</p>',
    ]
    photos = public_photos(ticket, post) if FILES in request.app else ()
    if photos:
        parts.append('<div class="photos">' + "".join(
            f'<img src="{photo_path(town, ticket.id, i)}" loading="lazy" alt="{number}">'
            for i in range(len(photos))) + "</div>")
    parts.append("<details><summary>{label}</summary><ol>{steps}</ol></details></article>".format(
        label=_("What happened ({count})").format(count=len(steps)),
        steps="".join(f"<li>{line}</li>" for line in steps)))
    return "".join(parts)


def grids_html(grids: list[Grid], tickets: list[Ticket]) -> str:
    rows = []
    for grid in grids:
        mine = [t for t in tickets if t.grid_code == grid.code]
        open_count = sum(t.status in OPEN_STATUSES for t in mine)
        rows.append("<li>{name}（{village}）: {counts}</li>".format(
            name=escape(grid.name), village=escape(grid.village),
            counts=_("{open} open, {closed} closed").format(open=open_count, closed=len(mine) - open_count)))
    return "<section><h2>{title}</h2><ul class=\"grids\">{rows}</ul></section>".format(
        title=_("Grids"), rows="".join(rows))


def map_html(settings: Settings) -> str:
    legend = "".join(f'<span><span class="dot {state}"></span>{label}</span>' for state, label in (
        ("open", _("New or reopened")), ("progress", _("Being handled")), ("done", _("Resolved or closed"))))
    attribution = f'<p class="attribution">{escape(settings.map_attribution)}</p>' if settings.map_attribution else ""
    zoom_in, zoom_out = escape(_("Zoom in"), quote=True), escape(_("Zoom out"), quote=True)
    return (f'<section class="map-box"><div id="map" data-tiles="{escape(settings.map_tile_url, quote=True)}" '
            f'data-zoom-in="{zoom_in}" data-zoom-out="{zoom_out}">'
            f'</div><p class="legend">{legend}</p>{attribution}</section>')


def page(title: str, language: str, body: str) -> str:
    switch = " · ".join(f'<a href="?lang={code}" hreflang="{code}" lang="{code}">{name}</a>'
                        for code, name in (("zh", "中文"), ("en", "English")))
    return (
        f'<!doctype html><html lang="{"zh-CN" if language == "zh" else "en"}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title}</title><link rel="stylesheet" href="/static/board.css">'
        '<link rel="stylesheet" href="/static/tilemap.css"></head><body>'
        f'<header><nav class="lang">{switch}</nav><h1>{title}</h1></header>{body}'
        '<script src="/static/tilemap.js" defer></script></body></html>'
    )


async def board_page(request: web.Request) -> web.Response:
    settings, storage, clock = request.app[SETTINGS], request.app[STORAGE], request.app[CLOCK]
    town = request.match_info["town"]
    language = page_language(request, settings.default_language)
    i18n = request.app[I18N]
    headers = {**security_headers(settings), "Content-Language": language, "Vary": "Accept-Language",
               "Cache-Control": "public, max-age=60"}
    with i18n.context(), i18n.use_locale(language):
        if town not in settings.board.towns:
            body = "<p>{}</p>".format(_("This town has no public board."))
            return web.Response(text=page(_("Public board"), language, body), status=404,
                                content_type="text/html", headers=headers)
        now = clock()
        posts = await BoardService(storage, clock, settings.board).board(town)
        grids = {g.code: g for g in await storage.list_grids() if g.town == town}
        open_posts = [(t, p) for t, p in posts if t.status in OPEN_STATUSES]
        closed_posts = [(t, p) for t, p in posts if t.status not in OPEN_STATUSES]
        body = ['<p class="intro">{}</p>'.format(_(
            "Problems residents reported in public, and what became of them. The town's staff check "
            "each report before it is shown here; residents are never named. As of {time}."
        ).format(time=format_time(now, settings.timezone)))]
        body.append(map_html(settings) if settings.map_tile_url else grids_html(list(grids.values()), [t for t, _p in posts]))
        for title, shown, limit in ((_("Open ({count})"), open_posts, OPEN_SHOWN),
                                    (_("Recently resolved ({count})"), closed_posts, CLOSED_SHOWN)):
            body.append(f"<section><h2>{title.format(count=len(shown))}</h2>")
            if not shown:
                body.append("<p>{}</p>".format(_("None.")))
            for ticket, post in shown[:limit]:
                body.append(await ticket_html(request, town, ticket, post, grids.get(ticket.grid_code), language, now))
            if len(shown) > limit:
                body.append("<p>{}</p>".format(_("… and {count} older ones.").format(count=len(shown) - limit)))
            body.append("</section>")
        html = page(_("{town} · public board").format(town=escape(town)), language, "".join(body))
    return web.Response(text=html, content_type="text/html", headers=headers)


async def board_photo(request: web.Request) -> web.Response:
    """An approved photo of a ticket on the town's board, fetched from Telegram once and kept."""
    settings, storage, clock = request.app[SETTINGS], request.app[STORAGE], request.app[CLOCK]
    found = await BoardService(storage, clock, settings.board).published_ticket(int(request.match_info["ticket_id"]))
    index = int(request.match_info["index"])
    photos = public_photos(found[0], found[1]) if found and found[2].town == request.match_info["town"] else ()
    if FILES not in request.app or index >= len(photos):
        raise web.HTTPNotFound()
    return await photo_response(request.app[FILES], photos[index], "public, max-age=86400")


async def static_file(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in ("board.css", "tilemap.css", "tilemap.js"):
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "public, max-age=3600",
                                                    "X-Content-Type-Options": "nosniff"})


def add_board(app: web.Application, settings: Settings) -> None:
    """The board's routes; photos only with a bot token to fetch them (kept beside the database)."""
    app[I18N] = create_i18n(settings.default_language)
    if settings.bot_token:
        files = TelegramFiles(settings.bot_token, settings.telegram_api_url,
                              settings.database_path.parent / "board-photos")
        app[FILES] = files

        async def close_files(_app: web.Application) -> None:
            await files.close()

        app.on_cleanup.append(close_files)
    app.router.add_get("/board/{town}", board_page)
    app.router.add_get(r"/board/{town}/photo/{ticket_id:\d{1,12}}/{index:\d{1,2}}", board_photo)
    app.router.add_get("/static/{name}", static_file)

"""The console's page, /app/: one server-rendered shell in Chinese or English (?lang=) with the
filters' choices and the words the script shows, and our own script (web/static/console/) that
reads everything else from /app/api/ signed in with the Mini App's initData.

No framework and no build: a page with a few hundred lines of script is enough for a list, a
card, a map and a few charts, and nothing has to be built or fetched from elsewhere. Telegram's
telegram-web-app.js is not loaded either (the page asks no host but ours and the tile server):
Telegram hands the Mini App its signed initData in the address's fragment (#tgWebAppData=…), which
the script reads, and keeps for reloads; a window.Telegram.WebApp that is there anyway (a client
that injects it, or a test's stub) is used first. The script tells Telegram it is ready the way
Telegram's own script does (TelegramWebviewProxy.postEvent, or postMessage in Telegram Web)."""

from __future__ import annotations

import json
from html import escape

from aiohttp import web

from bot.catalogs import gettext as _
from bot.config import SUPPORTED_LANGUAGES, Settings
from bot.texts import tier_name
from domain.models import Status, Tier
from web.board import I18N, PIN_STATE, STATIC, public_status, security_headers
from web.keys import SETTINGS, STORAGE

CONSOLE_STATIC = STATIC / "console"
ASSETS = {"console.js": "application/javascript", "console.css": "text/css"}
# The list's orders, as /app/api/tickets names them.
SORTS = ("-created", "created", "deadline", "-updated")


def words(settings: Settings) -> dict[str, str]:
    """What the script says, in the page's language, and how it writes times and numbers."""
    return {
        "timezone": settings.timezone.key, "prefix": settings.ticket_prefix, "deadline": _("Deadline"),
        "loading": _("Loading…"), "signin": _("Open the console from the bot: this page has no Telegram sign-in."),
        "failed": _("The server did not answer. Try again."), "none": _("No tickets match."),
        "page": _("Page {page} of {pages} · {total} tickets"), "back": _("◀ Back to the list"),
        "history": _("What happened"), "send": _("Send"), "cancel": _("Cancel"),
        "done": _("Done."), "overdue": _("overdue"), "no_location": _("Without a location: {count}"),
        "trend": _("Rates week by week"), "received": _("Received"),
        "closed": _("Closed"), "open_at_end": _("Open at the period's end"), "overdue_n": _("Overdue"),
        "urges": _("Urged (times)"), "rank": _("Rank"), "unit": _("Unit"), "score": _("Score"),
        "red": _("Red list"), "black": _("Black list"), "report": _("The report as the chat shows it"),
        "so_far": _("So far: the period is not over and these figures will change."),
        "week": _("Week"), "month": _("Month"), "quarter": _("Quarter"),
        "text": _("Text"), "department": _("Department"), "grid": _("Grid"), "into": _("Ticket number"),
        "change": _("Against the period before"),
        "take": _("🙋 Take it"), "reply": _("💬 Reply"), "ask": _("❓ Ask the resident"),
        "note": _("📝 Internal note"),
        "resolve": _("✅ Mark resolved"), "handover": _("↪️ Hand over"), "escalate": _("⬆️ Escalate"),
        "route": _("🏢 Route to a department"), "return": _("↩️ Return to the town"), "urge": _("⏰ Urge"),
        "merge": _("🔗 Merge into…"),
    }


def options(values: list[tuple[str, str]], any_label: str) -> str:
    return f'<option value="">{escape(any_label)}</option>' + "".join(
        f'<option value="{escape(value, quote=True)}">{escape(label)}</option>' for value, label in values)


def select(name: str, label: str, choices: str) -> str:
    return f'<select name="{name}" aria-label="{escape(label, quote=True)}">{choices}</select>'


def check(name: str, label: str) -> str:
    return f'<label><input type="checkbox" name="{name}" value="1"> {escape(label)}</label>'


def filters_html(categories: list[tuple[str, str]]) -> str:
    """The list's filters, named as /app/api/tickets names them (the grids come from the API)."""
    statuses = [(s.value, public_status(s)) for s in Status]
    tiers = [(t.value, tier_name(t)) for t in Tier]
    sorts = list(zip(SORTS, (_("Newest first"), _("Oldest first"), _("Deadline first"), _("Latest change first"))))
    search, filed_from, filed_to = _("Number or text"), _("Filed from"), _("to")
    return "".join((
        '<form id="filters" class="filters">',
        f'<input type="search" name="q" placeholder="{escape(search, quote=True)}" aria-label="{escape(search, quote=True)}">',
        select("status", _("Status"), options(statuses, _("Any status"))),
        select("tier", _("Tier"), options(tiers, _("Any tier"))),
        select("category", _("Category"), options(categories, _("Any category"))),
        select("grid", _("Grid"), options([], _("Any grid"))),
        check("overdue", _("Overdue")),
        check("waiting", _("Waiting for the resident")),
        f'<label>{escape(filed_from)} <input type="date" name="from"></label>',
        f'<label>{escape(filed_to)} <input type="date" name="to"></label>',
        select("sort", _("Order"), "".join(f'<option value="{k}">{escape(v)}</option>' for k, v in sorts)),
        '<button type="submit">{}</button></form>'.format(escape(_("Show"))),
    ))


def map_legend() -> str:
    states = {state: [] for state in ("open", "progress", "done")}
    for status, state in PIN_STATE.items():
        states[state].append(public_status(status))
    return '<p class="legend">' + "".join(
        f'<span><span class="dot {state}"></span>{escape(" / ".join(names))}</span>' for state, names in states.items()
    ) + "</p>"


def shell(settings: Settings, language: str, categories: list[tuple[str, str]]) -> str:
    columns = (_("Number"), _("Status"), _("Category"), _("Grid"), _("Held by"), _("Filed at"), _("Deadline"),
               _("Description"))
    tabs = (("tickets", _("Tickets")), ("map", _("Map")), ("figures", _("Figures")))
    title = escape(_("Console"))
    # A script element's text is not HTML-decoded: "<" as JSON's \u003c keeps "</script>" out of it.
    strings = json.dumps(words(settings), ensure_ascii=False).replace("<", "\\u003c")
    return (
        f'<!doctype html><html lang="{"zh-CN" if language == "zh" else "en"}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title}</title><link rel="stylesheet" href="/static/tilemap.css">'
        '<link rel="stylesheet" href="/static/console/console.css"></head><body>'
        f'<header><h1>{title}</h1>'
        '<p id="who" class="who"></p><nav class="tabs">'
        + "".join(f'<button type="button" data-view="{view}" hidden>{escape(label)}</button>' for view, label in tabs)
        + '</nav></header><main><p id="status" class="status" role="status"></p>'
        f'<section id="view-tickets" hidden>{filters_html(categories)}'
        '<div class="table"><table id="tickets"><thead><tr>'
        + "".join(f"<th>{escape(c)}</th>" for c in columns)
        + '</tr></thead><tbody></tbody></table></div>'
        '<nav class="pager"><button type="button" id="previous">◀</button><span id="page"></span>'
        '<button type="button" id="next">▶</button></nav></section>'
        '<section id="view-ticket" hidden><button type="button" id="back" class="link"></button>'
        '<article id="ticket"></article></section>'
        '<section id="view-map" hidden><form id="map-filters" class="filters">'
        + select("category", _("Category"), options(categories, _("Any category")))
        + select("status", _("Status"), "".join(f'<option value="{value}">{escape(label)}</option>' for value, label in (
            ("open", _("Open")), ("all", _("Open and closed")))))
        + f'</form><div id="console-map"></div>{map_legend()}'
        f'<p class="attribution">{escape(settings.map_attribution)}</p><p id="unplaced" class="muted"></p></section>'
        '<section id="view-figures" hidden><div id="figures"></div></section>'
        f'</main><script type="application/json" id="words">{strings}</script>'
        '<script src="/static/tilemap.js" defer></script><script src="/static/console/console.js" defer></script>'
        '</body></html>'
    )


def page_headers(request: web.Request) -> dict[str, str]:
    headers = security_headers(request.app[SETTINGS], console=True)
    return {**headers, "Cache-Control": "no-cache"}


async def console_page(request: web.Request) -> web.Response:
    """The shell, in ?lang= or the default language (the script reloads it in the person's)."""
    settings, storage = request.app[SETTINGS], request.app[STORAGE]
    language = request.query.get("lang", "")
    if language not in SUPPORTED_LANGUAGES:
        language = settings.default_language
    with request.app[I18N].context(), request.app[I18N].use_locale(language):
        categories = [(c.code, c.name(language)) for c in await storage.list_categories()]
        html = shell(settings, language, categories)
    return web.Response(text=html, content_type="text/html", headers={**page_headers(request),
                                                                        "Content-Language": language})


async def console_asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.FileResponse(CONSOLE_STATIC / name, headers={"Content-Type": ASSETS[name],
                                                             "Cache-Control": "public, max-age=300",
                                                             "X-Content-Type-Options": "nosniff"})


def add_console_pages(app: web.Application) -> None:
    app.router.add_get("/app/", console_page)
    app.router.add_get("/static/console/{name}", console_asset)

"""The console's map and figures: `GET /app/api/map`, the tickets a person may see as pins by
status and category with the grids and their positions; `GET /app/api/figures`, the period report
of /stats (scorecards, red and black lists, the 12-week trend) for a scope of the person's, and
its exports `/app/api/figures.xlsx` and `.csv`, the files /stats sends. The figures come from the
statistics code (bot/stats_report.py, bot/stats_export.py, domain/stats.py), never from SQL here.

Who reads which figures: admins and officials without a town every scope, officials and the town
command centre (镇综合指挥中心) their town and its villages and grids; nobody else."""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from urllib.parse import quote

from aiohttp import web

from bot.catalogs import gettext as _
from bot.stats_chart import trend_end
from bot.stats_export import load_export, write_export_xlsx, write_tickets_csv
from bot.stats_report import (
    category_names,
    load_period_report,
    period_report,
    rate_name,
    scope_name,
    unit_level_name,
)
from bot.texts import category_name, status_name
from domain.charts import TREND_RATES, load_trend
from domain.console import TicketQuery, ViewScope, view_scope
from domain.models import Grid, Role, RoleGrant
from domain.shops import lowest_rated_shops
from domain.stats import (
    RATES,
    Figures,
    Period,
    PeriodError,
    PeriodKind,
    PeriodReport,
    Scope,
    ScopeLevel,
    UnitLevel,
    UnitScore,
    child_scopes,
    parent_scope,
    ranked,
    score,
    scope_allowed,
    widest_scope,
)
from domain.tickets import OPEN_STATUSES, format_number
from handlers.stats import export_filename, in_range, period_error_text, scope_exists, started
from web.board import PIN_STATE
from web.console.auth import console_user
from web.keys import CLOCK, SETTINGS, STORAGE


def figures_grants(grants: tuple[RoleGrant, ...] | list[RoleGrant]) -> list[RoleGrant]:
    """The grants as the statistics' scope rules read them: the town command centre reads its
    town's figures as the town's officials do."""
    return [RoleGrant(Role.OFFICIAL, g.scope) if g.role is Role.TOWN else g for g in grants]


def refusal(status: int, text: str) -> web.HTTPException:
    """An error to raise, as the console's API answers them: {"error": text}."""
    kind = {400: web.HTTPBadRequest, 403: web.HTTPForbidden}[status]
    return kind(text=web.json_response({"error": text}).text, content_type="application/json")


async def requested_view(request: web.Request) -> tuple[Period, Scope, list[RoleGrant], list[Grid], int]:
    """The period (?period=, the last full week by default) and scope (?level=&name=, the widest
    of the person's by default) asked for, if this person may read them; 400 or 403 otherwise."""
    settings, storage = request.app[SETTINGS], request.app[STORAGE]
    grants = figures_grants(console_user(request).grants)
    widest = widest_scope(grants)
    if widest is None:
        raise refusal(403, _("The figures are for officials, the town command centre and admins."))
    now = request.app[CLOCK]()
    text = request.query.get("period", "")
    try:
        period = Period.parse(text) if text else Period.last_full(PeriodKind.WEEK, now, settings.timezone)
    except PeriodError as refused:
        raise refusal(400, period_error_text(refused)) from None
    if not started(period, now, settings):
        raise refusal(400, _("{period} has not started yet.").format(period=str(period)))
    grids = await storage.list_grids()
    scope = widest
    if "level" in request.query:
        try:
            scope = Scope(ScopeLevel(request.query["level"]), request.query.get("name", ""))
        except ValueError:
            raise refusal(400, _("This scope is not valid.")) from None
    if not scope_exists(scope, grids) or not scope_allowed(scope, grants, grids):
        raise refusal(403, _("These figures are not in your area."))
    return period, scope, grants, grids, now


def scope_json(scope: Scope, names: dict[str, str]) -> dict:
    return {"level": scope.level.value, "name": scope.name, "title": scope_name(scope, names)}


def rates_json(figures: Figures) -> dict:
    return {d.key: figures.rate(d).value for d in RATES}


def unit_json(unit: UnitScore, rank: int | None) -> dict:
    f = unit.figures
    return {"key": unit.key, "name": unit.name, "parent": unit.parent, "received": f.received, "closed": f.closed,
            "rated": f.rated, "overdue": f.overdue, "urges": f.urges, "rates": rates_json(f), "score": score(f),
            "rank": rank, "ranked": unit.ranked}


def scorecards_json(report: PeriodReport) -> list[dict]:
    """Each level with units: its units ranked ones first (in the ranking rule's order), and its
    red and black lists (红黑榜)."""
    levels = []
    for level in UnitLevel:
        units = report.units[level]
        if not units:
            continue
        order = ranked(units)
        rank = {unit.key: place for place, unit in enumerate(order, start=1)}
        lists = report.red_black(level)
        levels.append({
            "level": level.value, "title": unit_level_name(level),
            "units": [unit_json(u, rank.get(u.key)) for u in order + [u for u in units if u.key not in rank]],
            "red": [u.key for u in lists.best], "black": [u.key for u in lists.worst],
        })
    return levels


async def figures(request: web.Request) -> web.Response:
    settings, storage = request.app[SETTINGS], request.app[STORAGE]
    period, scope, grants, grids, now = await requested_view(request)
    language = console_user(request).language
    report = await load_period_report(storage, settings, period, scope, now)
    names = {g.code: g.name for g in grids}
    categories = await category_names(storage, language)
    shops = await lowest_rated_shops(storage, report.window, scope)
    trend = await load_trend(storage, trend_end(report, settings.timezone), settings.timezone, scope)
    tz = settings.timezone
    periods = {"previous": str(period.previous()) if in_range(period.previous()) else None,
               "next": str(period.next()) if in_range(period.next()) and period.next().is_over(now, tz) else None}
    for kind in (PeriodKind.WEEK, PeriodKind.MONTH, PeriodKind.QUARTER):
        periods[kind.value] = str(Period.last_full(kind, now, tz))
    parent = parent_scope(scope, grids)
    totals = report.totals
    return web.json_response({
        "period": str(period), "final": report.final, "scope": scope_json(scope, names),
        "periods": periods,
        "parent": scope_json(parent, names) if parent and scope_allowed(parent, grants, grids) else None,
        "children": [scope_json(s, names) for s in child_scopes(scope, grids) if scope_allowed(s, grants, grids)],
        "text": period_report(report, categories, tz, str, shops),
        "totals": {"received": totals.received, "closed": totals.closed, "open_at_end": totals.open_at_end,
                   "overdue": totals.overdue, "urges": totals.urges, "rates": rates_json(totals),
                   "change": report.change.rates},
        "rates": [{"key": d.key, "title": rate_name(d)} for d in RATES],
        "scorecards": scorecards_json(report),
        "days": [{"day": d.day.isoformat(), "received": d.received, "closed": d.closed} for d in report.days],
        "trend": {"rates": [{"key": d.key, "title": rate_name(d)} for d in TREND_RATES],
                  "weeks": [{"week": str(p.week), "received": p.figures.received, "closed": p.figures.closed,
                             "rates": rates_json(p.figures)} for p in trend]},
        "top_categories": [{"code": c.category_code, "title": categories.get(c.category_code, c.category_code),
                            "received": c.received, "share": c.share.value} for c in report.top_categories],
    })


async def figures_file(request: web.Request) -> web.Response:
    """The period's tickets as /stats sends them: `.xlsx` (summary, tickets, scorecards) or `.csv`."""
    settings, storage = request.app[SETTINGS], request.app[STORAGE]
    period, scope, _grants, grids, now = await requested_view(request)
    export = await load_export(storage, settings, period, scope, console_user(request).language, now)
    buffer = io.BytesIO()
    if request.match_info["kind"] == "csv":
        write_tickets_csv(buffer, export, settings)
        content_type = "text/csv"
    else:
        title = scope_name(scope, {g.code: g.name for g in grids})
        # Writing a large workbook takes a while: off the event loop.
        await asyncio.to_thread(write_export_xlsx, buffer, export, settings, title)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    name = export_filename(period, scope) + "." + request.match_info["kind"]
    return web.Response(body=buffer.getvalue(), content_type=content_type, headers={
        "Content-Disposition": "attachment; filename=\"{}\"; filename*=UTF-8''{}".format(
            name.encode("ascii", "replace").decode().replace("?", "_"), quote(name)),
        "Cache-Control": "no-store",
    })




# -- the map ---------------------------------------------------------------------------------------
# Pins on the map at most: the newest tickets of the person's area.
MAP_PINS = 2000


def grid_in_scope(scope: ViewScope, grid: Grid) -> bool:
    return (scope.everything or grid.code in scope.grids or grid.village in scope.villages
            or grid.town in scope.towns)


async def ticket_map(request: web.Request) -> web.Response:
    """GET /app/api/map?status=open|all&category=: the person's tickets as pins coloured by status
    (as on the board), where the resident shared a location or else at their grid's position; and
    the grids of their area with their open tickets and positions (the page draws them as tiles
    without MAP_TILE_URL). The same tickets as their list (domain.console.view_scope)."""
    user, settings, storage = console_user(request), request.app[SETTINGS], request.app[STORAGE]
    scope = view_scope(user.grants)
    category = request.query.get("category", "")
    query = TicketQuery(statuses=frozenset() if request.query.get("status") == "all" else OPEN_STATUSES,
                        categories=frozenset({category}) if category else frozenset(), per_page=MAP_PINS)
    _total, tickets = await storage.console_tickets(scope, query)
    grids = {g.code: g for g in await storage.list_grids()}
    categories = {c.code: c for c in await storage.list_categories()}
    pins, unplaced, open_in = [], 0, Counter()
    for ticket in tickets:
        grid = grids.get(ticket.grid_code)
        open_in[ticket.grid_code] += ticket.status in OPEN_STATUSES
        if ticket.lat is not None and ticket.lon is not None:
            place = ticket.lat, ticket.lon
        elif grid is not None and grid.lat is not None and grid.lon is not None:
            place = grid.lat, grid.lon
        else:
            unplaced += 1
            continue
        pins.append({
            "id": ticket.id, "number": format_number(settings.ticket_prefix, ticket.id), "lat": place[0],
            "lon": place[1], "state": PIN_STATE.get(ticket.status, "done"), "status": ticket.status.value,
            "status_text": status_name(ticket.status), "category": ticket.category_code,
            "category_text": category_name(categories.get(ticket.category_code), ticket.category_code, user.language),
            "grid": ticket.grid_code,
        })
    shown = [g for g in grids.values() if grid_in_scope(scope, g) or g.code in open_in]
    return web.json_response({
        "tiles": settings.map_tile_url or "", "pins": pins, "unplaced": unplaced,
        "grids": [{"code": g.code, "name": g.name, "village": g.village, "lat": g.lat, "lon": g.lon,
                   "open": open_in[g.code]} for g in sorted(shown, key=lambda g: (g.town, g.village, g.code))],
    })


def add_console_figures(app: web.Application) -> None:
    app.router.add_get("/app/api/map", ticket_map)
    app.router.add_get("/app/api/figures", figures)
    app.router.add_get(r"/app/api/figures.{kind:xlsx|csv}", figures_file)

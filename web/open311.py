"""Open311 GeoReport v2 under /open311/v2/ (wiki.open311.org/GeoReport_v2), in JSON and XML.

Discovery, the services (our categories) and the public tickets as service requests, to anyone;
`POST requests` files a ticket with an API key (`gridbot apikey create NAME`), and that key's holder
also reads the tickets filed with it, public or not. What a ticket shows and which tickets are
public come from domain/board.py and domain/open311.py; this module parses the request and writes
the answer. Rate limits per client address and per API key (web/limits.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from xml.etree import ElementTree

from aiohttp import web

from bot.catalogs import Catalogs
from bot.catalogs import gettext as _
from bot.factory import ticket_service
from domain.board import BoardService, pin_location, public_photos
from domain.models import ApiKey, Category, Grid, PublicPost, Status, Ticket
from domain.open311 import (
    FILINGS_PER_HOUR_PER_KEY,
    GRID_ATTRIBUTE,
    MAX_REQUESTS,
    InvalidQuery,
    NewRequest,
    RequestDesk,
    RequestQuery,
    UnknownService,
    agency_responsible,
    expected_at,
    filed_with,
    open311_status,
    updated_at,
    w3c,
)
from domain.service import RateLimited
from domain.tickets import MAX_DESCRIPTION, api_submitter, format_number
from web.board import FILES, photo_path
from web.keys import CLOCK, SETTINGS, STORAGE
from web.limits import TokenBuckets

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
TICKET_ID = re.compile(r"[0-9]{1,12}")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
CONTENT_TYPES = {"json": "application/json", "xml": "text/xml"}
CATALOGS = web.AppKey("open311_catalogs", Catalogs)
PER_ADDRESS = web.AppKey("open311_per_address", TokenBuckets)
PER_KEY = web.AppKey("open311_per_key", TokenBuckets)
DESK = web.AppKey("open311_desk", RequestDesk)
# Requests a client address may make at once, and refilled each second (web/limits.py).
BURST_PER_ADDRESS = 60
PER_SECOND_PER_ADDRESS = 1.0
# The same for each API key, wherever its requests come from (one key may be used by several
# machines of a desk).
BURST_PER_KEY = 30
PER_SECOND_PER_KEY = 0.5
# What XML 1.0 cannot hold (its Char production), though a ticket's text may: noncharacters such as
# U+FFFF, and the control characters other fields may carry.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The element each list's items get in XML, by the list's element (the spec's examples).
XML_ITEMS = {
    "services": "service", "service_requests": "request", "attributes": "attribute", "values": "value",
    "endpoints": "endpoint", "formats": "format", "errors": "error",
}


def status_notes(status: Status) -> str:
    """The state in plain words for anyone reading the board."""
    return {
        Status.NEW: _("Received, waiting to be taken up"),
        Status.IN_PROGRESS: _("Being handled"),
        Status.WAITING_RESIDENT: _("Waiting for more details from the person who reported it"),
        Status.RESOLVED: _("Resolved, waiting for the person who reported it to confirm"),
        Status.REOPENED: _("Reopened: the person who reported it says it is not solved"),
        Status.CLOSED: _("Closed: the person who reported it confirmed it is solved"),
        Status.MERGED: _("Merged into another report"),
        Status.WITHDRAWN: _("Withdrawn by the person who reported it"),
    }[status]


def service(category: Category, language: str) -> dict:
    other = "en" if language == "zh" else "zh"
    return {
        "service_code": category.code, "service_name": category.name(language),
        "description": category.name(other), "metadata": True, "type": "realtime",
        "keywords": "", "group": category.department,
    }


def grid_attribute() -> dict:
    """The one attribute of every service: the grid by its code (on its QR code), instead of a
    location."""
    return {
        "variable": True, "code": GRID_ATTRIBUTE, "datatype": "string", "required": False,
        "datatype_description": _("The grid's code, as on its QR code poster"), "order": 1,
        "description": _("Grid code (instead of lat/long)"),
    }


def service_request(ticket: Ticket, post: PublicPost | None, grid: Grid, category: Category | None,
                    language: str, media_url: str = "") -> dict:
    """A ticket as the spec's service request: the grid as the address, the location as rounded
    as the board's pin, `media_url` its first approved photo; the approved public text, or with no
    `post` (only for the holder of the API key it was filed with) the words it was filed with."""
    pin = pin_location(ticket, grid)
    return {
        "service_request_id": str(ticket.id),
        "status": open311_status(ticket.status),
        "status_notes": status_notes(ticket.status),
        "service_name": category.name(language) if category else ticket.category_code,
        "service_code": ticket.category_code,
        "description": post.text if post is not None else ticket.description,
        "agency_responsible": agency_responsible(ticket, grid),
        "service_notice": "",
        "requested_datetime": w3c(ticket.created_at),
        "updated_datetime": w3c(updated_at(ticket, post)),
        "expected_datetime": w3c(expected_at(ticket)),
        "address": f"{grid.town}{grid.village}{grid.name}",
        "address_id": grid.code,
        "zipcode": "",
        "lat": pin[0] if pin else None,
        "long": pin[1] if pin else None,
        "media_url": media_url,
    }


def to_xml(root: str, value: object) -> bytes:
    element = ElementTree.Element(root)
    _fill(element, value)
    return b'<?xml version="1.0" encoding="UTF-8"?>' + ElementTree.tostring(element, encoding="utf-8")


def _fill(element: ElementTree.Element, value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(ElementTree.SubElement(element, key), item)
    elif isinstance(value, list):
        for item in value:
            _fill(ElementTree.SubElement(element, XML_ITEMS[element.tag]), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = NOT_XML.sub("\ufffd", str(value))


def answer(fmt: str, root: str, value: object, status: int = 200) -> web.Response:
    if fmt == "xml":
        return web.Response(body=to_xml(root, value), status=status, content_type="text/xml", charset="utf-8")
    return web.Response(text=json.dumps(value, ensure_ascii=False), status=status,
                        content_type="application/json", charset="utf-8")


def error(fmt: str, status: int, description: str) -> web.Response:
    """The spec's error answer: a list of {code, description}."""
    return answer(fmt, "errors", [{"code": status, "description": description}], status)


async def parameters(request: web.Request) -> dict[str, str]:
    """The query, and for a POST its form (which wins)."""
    found = dict(request.query)
    if request.method == "POST":
        found.update({name: value for name, value in (await request.post()).items() if isinstance(value, str)})
    return found


def formatted(handler: Callable) -> Callable:
    """Handlers for `<resource>.json` and `<resource>.xml`, speaking in the town's language, within
    the rate limits of the client's address and of its API key, if it gives one (a key that is not
    live is a 403); any other format is a 404 in JSON. The handler gets the parameters and the key."""

    async def handle(request: web.Request) -> web.Response:
        fmt = request.match_info["format"]
        with request.app[CATALOGS].context():
            if fmt not in CONTENT_TYPES:
                return error("json", 404, _("Unknown format {format}: use json or xml").format(format=fmt))
            if not request.app[PER_ADDRESS].take(request.remote):
                return error(fmt, 429, _("Too many requests: wait a minute and try again"))
            not_a_form = _("Send the fields form-encoded (application/x-www-form-urlencoded), "
                           "as the Open311 specification says")
            if request.method == "POST" and request.body_exists and request.content_type not in FORM_TYPES:
                # Read as a form, it would be no fields at all ("needs an api_key" for a body that has one).
                return error(fmt, 415, not_a_form)
            try:
                params = await parameters(request)
            except (ValueError, LookupError):  # a multipart body without its boundary, an unknown charset
                return error(fmt, 400, not_a_form)
            # PostgreSQL text cannot hold U+0000, and no code or text needs it.
            with_nul = next((name for name, value in {**request.match_info, **params}.items() if "\x00" in value), None)
            if with_nul is not None:
                return error(fmt, 400, _("Invalid {parameter}").format(parameter=with_nul))
            key = None
            if "api_key" in params:
                key = await request.app[DESK].key(params["api_key"])
                if key is None:
                    return error(fmt, 403, _("This api_key is not valid: ask the town command centre for one"))
                if not request.app[PER_KEY].take(key.id):
                    return error(fmt, 429, _("Too many requests with this api_key: wait a minute and try again"))
            return await handler(request, fmt, params, key)

    return handle


@formatted
async def discovery(request: web.Request, fmt: str, params: dict[str, str], key: ApiKey | None) -> web.Response:
    base = f"{request.scheme}://{request.host}{PREFIX}"
    return answer(fmt, "discovery", {
        "changeset": "2026-11-30T00:00:00Z",
        "contact": request.app[SETTINGS].hotline,
        "key_service": _("API keys are issued by the town command centre"),
        "endpoints": [{
            "specification": SPECIFICATION, "url": base, "changeset": "2026-11-30T00:00:00Z",
            "type": "production", "formats": list(CONTENT_TYPES.values()),
        }],
    })


@formatted
async def services(request: web.Request, fmt: str, params: dict[str, str], key: ApiKey | None) -> web.Response:
    language = request.app[SETTINGS].default_language
    return answer(fmt, "services", [service(c, language) for c in await request.app[STORAGE].list_categories()])


@formatted
async def service_definition(request: web.Request, fmt: str, params: dict[str, str], key: ApiKey | None) -> web.Response:
    code = request.match_info["code"]
    if await request.app[STORAGE].get_category(code) is None:
        return error(fmt, 404, _("No service {code}").format(code=code))
    return answer(fmt, "service_definition", {"service_code": code, "attributes": [grid_attribute()]})


def board_service(request: web.Request) -> BoardService:
    return BoardService(request.app[STORAGE], request.app[CLOCK], request.app[SETTINGS].board)


def media_url(request: web.Request, ticket: Ticket, post: PublicPost | None, grid: Grid) -> str:
    """The board's address of the first approved photo, when the board serves photos."""
    if post is None or not post.public or FILES not in request.app or not public_photos(ticket, post):
        return ""
    return f"{request.scheme}://{request.host}{photo_path(grid.town, ticket.id, 0)}"


async def as_requests(request: web.Request, found: list[tuple[Ticket, PublicPost | None, Grid]]) -> list[dict]:
    language = request.app[SETTINGS].default_language
    categories = {c.code: c for c in await request.app[STORAGE].list_categories()}
    return [service_request(t, p, g, categories.get(t.category_code), language, media_url(request, t, p, g))
            for t, p, g in found]


async def filed_with_key(request: web.Request, key: ApiKey) -> list[tuple[Ticket, None, Grid]]:
    """The tickets filed with this API key, newest first, as their filer reads them."""
    storage = request.app[STORAGE]
    grids = {g.code: g for g in await storage.list_grids()}
    return [(t, None, grids[t.grid_code]) for t in await storage.resident_tickets(api_submitter(key.id), MAX_REQUESTS)
            if filed_with(t, key) and t.grid_code in grids]


@formatted
async def requests(request: web.Request, fmt: str, params: dict[str, str], key: ApiKey | None) -> web.Response:
    try:
        query = RequestQuery.parse(params, request.app[CLOCK]())
    except InvalidQuery as bad:
        return error(fmt, 400, _("Invalid {parameter}").format(parameter=bad.args[0]))
    board = board_service(request)
    # A ticket requested in the window and closed was closed after its start.
    found: list[tuple[Ticket, PublicPost | None, Grid]] = list(
        await board.published(board.towns.towns, 0 if query.ids is not None else query.start))
    if key is not None:
        public = {t.id for t, _p, _g in found}
        found = sorted(found + [item for item in await filed_with_key(request, key) if item[0].id not in public],
                       key=lambda item: -item[0].id)
    found = [item for item in found if query.matches(item[0])][:MAX_REQUESTS]
    return answer(fmt, "service_requests", await as_requests(request, found))


@formatted
async def one_request(request: web.Request, fmt: str, params: dict[str, str], key: ApiKey | None) -> web.Response:
    ticket_id = request.match_info["id"]
    found = None
    # ASCII digits only (str.isdigit takes "²", which int refuses), and few enough for a database integer.
    if TICKET_ID.fullmatch(ticket_id):
        found = await board_service(request).published_ticket(int(ticket_id))
        ticket = await request.app[STORAGE].get_ticket(int(ticket_id)) if found is None and key else None
        if ticket is not None and filed_with(ticket, key):
            found = (ticket, None, await request.app[STORAGE].get_grid(ticket.grid_code))
    if found is None:
        return error(fmt, 404, _("No public service request {id}").format(id=ticket_id))
    return answer(fmt, "service_requests", await as_requests(request, [found]))


@formatted
async def post_request(request: web.Request, fmt: str, params: dict[str, str], key: ApiKey | None) -> web.Response:
    """File a ticket (a public report: the board shows it once staff approve it); its filer follows
    it by service_request_id with the same key."""
    if key is None:
        return error(fmt, 403, _("Filing a service request needs an api_key: ask the town command centre for one"))
    try:
        ticket = await request.app[DESK].file(key, NewRequest.parse(params))
    except InvalidQuery as bad:
        if bad.args == ("description", "too long"):
            return error(fmt, 400, _("Invalid description: at most {count} characters (UTF-16 code units)").format(
                count=MAX_DESCRIPTION))
        return error(fmt, 400, _("Invalid {parameter}").format(parameter=bad.args[0]))
    except UnknownService as unknown:
        return error(fmt, 404, _("No service {code}").format(code=unknown.args[0]))
    except RateLimited as limited:
        return error(fmt, 429, _("This api_key filed {count} requests in the past hour: wait and try again").format(
            count=limited.per_hour))
    number = format_number(request.app[SETTINGS].ticket_prefix, ticket.id)
    return answer(fmt, "service_requests", [{
        "service_request_id": str(ticket.id),
        "service_notice": _("Filed as {number}; the public board shows it once staff approve it").format(number=number),
        "account_id": None,
    }])


@web.middleware
async def cors_for_reading(request: web.Request, handler) -> web.StreamResponse:
    """Any web page may read the public API; only GET is open across origins, so no page can file
    a ticket with a visitor's browser (no preflight for POST is answered)."""
    response = await handler(request)
    if request.method in ("GET", "HEAD") and request.path.startswith(PREFIX + "/"):
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def add_open311(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[CATALOGS] = Catalogs(settings.default_language)
    app[PER_ADDRESS] = TokenBuckets(PER_SECOND_PER_ADDRESS, BURST_PER_ADDRESS, app[CLOCK])
    app[PER_KEY] = TokenBuckets(PER_SECOND_PER_KEY, BURST_PER_KEY, app[CLOCK])
    tickets = ticket_service(replace(settings, tickets_per_hour=FILINGS_PER_HOUR_PER_KEY), app[STORAGE], app[CLOCK])
    app[DESK] = RequestDesk(app[STORAGE], tickets, settings.nearest_grid_km)
    app.middlewares.append(cors_for_reading)
    get = app.router.add_get
    get(PREFIX + "/discovery.{format}", discovery)
    get(PREFIX + "/services.{format}", services)
    get(PREFIX + "/services/{code}.{format}", service_definition)
    get(PREFIX + "/requests.{format}", requests)
    get(PREFIX + "/requests/{id}.{format}", one_request)
    app.router.add_post(PREFIX + "/requests.{format}", post_request)

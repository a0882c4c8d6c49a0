"""The console's page, map and figures (issue 16) without a browser: who reads which figures and
pins, the exports, the page's own assets; and the bot's ways into the console (WEB_BASE_URL, the
menu button, the buttons under /queue, /overdue and /stats)."""

from __future__ import annotations

import io
from contextlib import asynccontextmanager

import pytest
from aiogram.methods import SetChatMenuButton
from aiogram.types import MenuButtonDefault, MenuButtonWebApp
from openpyxl import load_workbook

from bot.config import SettingsError, load_settings
from domain.models import Category, Kind, Role, RoleGrant, StaffMember
from domain.service import Draft, TicketService
from storage import open_storage
from tests.conftest import (
    GRIDS,
    STAFF,
    TOWN_STAFF,
    VILLAGE_DL,
    WORKER_DL01,
    FakeClock,
    make_settings,
    open_harness,
    opened_the_bot,
)
from tests.console_helpers import console_client, console_headers

OFFICIAL, ADMIN, RESIDENT = 701, 1, 1001
WEEK = 7 * 86400
CONSOLE = "https://gridbot.example.org"


@asynccontextmanager
async def town_with_tickets(tmp_path, database, **settings):
    """The test town with a ticket in each village, filed the week before the clock's."""
    db = await open_storage(database)
    await db.upsert_grids(GRIDS)
    await db.upsert_staff(STAFF)
    await opened_the_bot(db, STAFF)
    await db.upsert_categories([Category("water", "供水", "Water supply", "水务局", 24, 72)])
    clock = FakeClock()
    tickets = TicketService(db, clock, 0)
    for grid, text, location in (("DL01", "东里井盖丢了", (34.8105, 117.1702)), ("NZ01", "南庄水管漏水", (34.7987, 117.1655))):
        await tickets.file(RESIDENT, Draft(Kind.COMPLAINT, "water", grid, text, (), *location))
    clock.advance(WEEK)
    chosen = make_settings(tmp_path, **settings)
    async with console_client(chosen, db, clock) as client:
        yield db, clock, chosen, client
    await db.close()


async def test_figures_of_ones_own_area_only(tmp_path, database):
    async with town_with_tickets(tmp_path, database) as (db, clock, settings, client):
        async def figures(user: int, query: str = "") -> tuple[int, dict]:
            response = await client.get("/app/api/figures" + query, headers=console_headers(settings, user, clock.now))
            return response.status, await response.json()

        status, town = await figures(OFFICIAL)
        assert status == 200 and town["scope"] == {"level": "town", "name": "西岗镇", "title": "西岗镇"}
        assert town["totals"]["received"] == 2 and town["parent"] is None
        assert [c["name"] for c in town["children"]] == ["东里村", "南庄村"]
        assert [u["key"] for u in town["scorecards"][0]["units"]] == ["DL01", "NZ01"]
        assert len(town["trend"]["weeks"]) == 12 and town["trend"]["weeks"][-1]["received"] == 2
        assert "西岗镇" in town["text"] and town["final"]
        status, village = await figures(TOWN_STAFF, "?level=village&name=东里村")  # the command centre too
        assert status == 200 and village["totals"]["received"] == 1
        assert (await figures(ADMIN))[1]["scope"]["level"] == "all"
        # Other towns, villages that do not exist, people without figures: refused.
        assert (await figures(OFFICIAL, "?level=all"))[0] == 403
        assert (await figures(OFFICIAL, "?level=village&name=别村"))[0] == 403
        for user in (VILLAGE_DL, WORKER_DL01):
            status, body = await figures(user, "?level=village&name=东里村")
            assert status == 403 and body["error"]
        status, body = await figures(OFFICIAL, "?period=2025-W99")
        assert status == 400 and "2025-W99" in body["error"]
        assert (await figures(OFFICIAL, "?period=2099-01"))[0] == 400
        assert (await figures(OFFICIAL, "?level=planet&name=x"))[0] == 400
        unsigned = await client.get("/app/api/figures")
        assert unsigned.status == 401


@pytest.mark.backends("sqlite")
async def test_the_exports_as_stats_sends_them(tmp_path, database):
    async with town_with_tickets(tmp_path, database) as (db, clock, settings, client):
        headers = console_headers(settings, OFFICIAL, clock.now)
        response = await client.get("/app/api/figures.xlsx?level=village&name=东里村", headers=headers)
        assert response.status == 200 and "attachment" in response.headers["Content-Disposition"]
        workbook = load_workbook(io.BytesIO(await response.read()))
        assert len(workbook.sheetnames) == 3
        tickets = list(workbook.worksheets[1].iter_rows(values_only=True))
        assert len(tickets) == 2 and "东里井盖丢了" in tickets[1]  # the header and the one ticket of the village
        response = await client.get("/app/api/figures.csv", headers=headers)
        text = (await response.read()).decode("utf-8-sig")
        assert response.status == 200 and "南庄水管漏水" in text and "东里井盖丢了" in text
        response = await client.get("/app/api/figures.csv?level=village&name=东里村",
                                    headers=console_headers(settings, VILLAGE_DL, clock.now))
        assert response.status == 403


def test_web_base_url_must_be_https():
    assert load_settings({"WEB_BASE_URL": CONSOLE + "/"}, None).console_url == CONSOLE + "/app/"
    assert load_settings({}, None).console_url is None
    for bad in ("http://gridbot.example.org", "https://", "https://gridbot.example.org/?a=1", "gridbot.example.org"):
        with pytest.raises(SettingsError, match="HTTPS"):
            load_settings({"WEB_BASE_URL": bad}, None)


@pytest.mark.backends("sqlite")
async def test_the_bot_opens_the_console(tmp_path, caplog, database):
    async with open_harness(tmp_path, caplog, database, web_base_url=CONSOLE) as h:
        await h.db.upsert_staff([StaffMember(1200, "店主", Role.SHOP_OWNER, "S1")])
        calls = await h.send(h.user(TOWN_STAFF), "/help")
        menu = [c for c in calls if isinstance(c, SetChatMenuButton)]
        assert len(menu) == 1 and isinstance(menu[0].menu_button, MenuButtonWebApp)
        assert menu[0].menu_button.web_app.url == CONSOLE + "/app/" and menu[0].menu_button.text == "工作台"
        calls = await h.send(h.user(1200), "/help")  # a shop owner has no console
        assert {type(c.menu_button) for c in calls if isinstance(c, SetChatMenuButton)} == {MenuButtonDefault}
        calls = await h.send(h.user(RESIDENT), "/help")  # residents keep Telegram's menu
        assert not [c for c in calls if isinstance(c, SetChatMenuButton)]

        def console_buttons(calls) -> list[str]:
            return [b.web_app.url for c in calls for row in getattr(getattr(c, "reply_markup", None), "inline_keyboard", [])
                    for b in row if b.web_app]

        h.clock.advance(WEEK)
        assert console_buttons(await h.send(h.user(OFFICIAL), "/stats")) == [
            CONSOLE + "/app/?view=figures&period=2025-W47&level=town&name=%E8%A5%BF%E5%B2%97%E9%95%87"]
        assert console_buttons(await h.send(h.user(TOWN_STAFF), "/overdue")) == []  # nothing overdue: no list
        tickets = h.dp["tickets"]
        await tickets.file(RESIDENT, Draft(Kind.COMPLAINT, "water", "DL01", "井盖丢了", (), None, None))
        assert console_buttons(await h.send(h.user(WORKER_DL01), "/queue")) == [CONSOLE + "/app/?view=tickets"]
        h.clock.advance(30 * 86400)
        assert console_buttons(await h.send(h.user(TOWN_STAFF), "/overdue")) == [CONSOLE + "/app/?view=tickets&overdue=1"]
    async with open_harness(tmp_path, caplog, database) as h:  # no WEB_BASE_URL: no console anywhere
        calls = await h.send(h.user(TOWN_STAFF), "/help")
        assert not [c for c in calls if isinstance(c, SetChatMenuButton)]
async def test_the_page_and_its_assets(tmp_path, database):
    async with town_with_tickets(tmp_path, database, map_tile_url="https://tile.example.org/{z}/{x}/{y}.png") as (
            db, clock, settings, client):
        response = await client.get("/app/")
        html = await response.text()
        assert response.status == 200 and '<html lang="zh-CN">' in html and "供水" in html
        policy = response.headers["Content-Security-Policy"]
        assert "img-src 'self' https://tile.example.org;" in policy and "connect-src 'self'" in policy
        assert "frame-ancestors https://web.telegram.org" in policy and "script-src 'self';" in policy
        english = await (await client.get("/app/?lang=en")).text()
        assert '<html lang="en">' in english and "Water supply" in english and "Figures" in english
        for asset in ("/static/console/console.js", "/static/console/console.css", "/static/tilemap.js"):
            assert (await client.get(asset)).status == 200
        assert (await client.get("/static/console/..%2Fboard.css")).status == 404
        assert "http" not in html.replace("https://web.telegram.org", "")  # nothing from elsewhere




async def test_map_pins_of_ones_own_area_only(tmp_path, database):
    async with town_with_tickets(tmp_path, database) as (db, clock, settings, client):
        async def pins(user: int, query: str = "") -> dict:
            response = await client.get("/app/api/map" + query, headers=console_headers(settings, user, clock.now))
            assert response.status == 200
            return await response.json()

        village = await pins(VILLAGE_DL)
        assert [(p["number"], p["state"], p["grid"], p["category_text"]) for p in village["pins"]] == [
            ("XG-000001", "open", "DL01", "供水")]
        assert [g["code"] for g in village["grids"]] == ["DL01", "DL02"] and village["grids"][0]["open"] == 1
        assert village["tiles"] == "" and village["unplaced"] == 0
        town = await pins(OFFICIAL, "?category=water")
        assert sorted(p["grid"] for p in town["pins"]) == ["DL01", "NZ01"] and len(town["grids"]) == 3
        assert (await pins(OFFICIAL, "?category=road"))["pins"] == []
        await TicketService(db, clock, 0).resolve(2, 503, [RoleGrant(Role.GRID_WORKER, "NZ01")], "已修好")
        assert len((await pins(OFFICIAL))["pins"]) == 1
        assert [p["state"] for p in (await pins(OFFICIAL, "?status=all"))["pins"]] == ["done", "open"]
        assert (await client.get("/app/api/map")).status == 401

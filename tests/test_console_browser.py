"""The console in a real browser (issue 16): Debian's chromium, driven by Playwright, opens /app/
as Telegram would, with a stubbed window.Telegram.WebApp whose initData is signed with the test
token. A village's staff member filters the list, opens a ticket and replies, and the resident
gets the reply in the chat (the outbox sends it to the fake Bot API); the town command centre
routes a ticket to a department; a new ticket shows without reloading; an official opens the figures and downloads the Excel. Nothing is
asked of any other server. Screenshots are kept in tests/artifacts/.

chromium must be installed (`.ci/run` installs it): without it this test fails, it does not skip."""

from __future__ import annotations

import io
import json

import pytest
from aiohttp.test_utils import TestServer
from aiogram.methods import SendMessage
from openpyxl import load_workbook

from domain.models import Category, Kind, Role, RoleGrant, Status, Tier
from domain.service import Draft
from tests.conftest import TOWN_STAFF, VILLAGE_DL, open_harness
from tests.console_helpers import sign_init_data
from tests.test_board_browser import ARTIFACTS, BROWSER_ARGS, CHROMIUM
from web.app import create_app

RESIDENT, OFFICIAL = 1001, 701
WEEK = 7 * 86400


def telegram_stub(settings, user_id: int, auth_date: int) -> str:
    """What Telegram's script would give the page: window.Telegram.WebApp with signed initData."""
    init_data = sign_init_data(settings.bot_token, {"id": user_id, "first_name": f"User{user_id}"}, auth_date)
    return ("window.Telegram = {WebApp: {initData: %s, ready: function () { window.tgReady = true; },"
            " expand: function () {}}};" % json.dumps(init_data))


@pytest.mark.backends("sqlite")  # the browser's part does not depend on the database; one run is enough
async def test_the_console_in_chromium(tmp_path, caplog, database):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium, as .ci/run does)")
    from playwright.async_api import async_playwright

    async with open_harness(tmp_path, caplog, database) as h:
        await h.db.upsert_categories([Category("water", "供水", "Water supply", "水务局", 24, 72),
                                      Category("road", "道路", "Roads", "交通局", 24, 72)])
        await h.db.touch_user(RESIDENT, "居民", None, "zh-hans")
        tickets = h.dp["tickets"]

        async def file(grid: str, category: str, text: str, location=None) -> int:
            lat, lon = location or (None, None)
            ticket, _ = await tickets.file(RESIDENT, Draft(Kind.COMPLAINT, category, grid, text, (), lat, lon))
            return ticket.id

        lamp = await file("DL01", "road", "路灯不亮", (34.8105, 117.1702))
        pipe = await file("DL02", "water", "水管漏水", (34.8131, 117.1768))
        other = await file("NZ01", "water", "南庄井盖丢了", (34.7987, 117.1655))
        for ticket_id, grid in ((lamp, "DL01"), (pipe, "DL02")):  # to the village (东里村)
            await tickets.escalate(ticket_id, 500 + int(grid[-1]), [RoleGrant(Role.GRID_WORKER, grid)], "需要村里协调")
        await tickets.escalate(pipe, VILLAGE_DL, [RoleGrant(Role.VILLAGE, "东里村")], "需要镇里协调")  # to the town
        await h.dp["outbox"].deliver_due(h.bot)
        server = TestServer(create_app(h.settings, h.db, h.clock), host="127.0.0.1")
        await server.start_server()
        try:
            origin = str(server.make_url("")).rstrip("/")
            ARTIFACTS.mkdir(exist_ok=True)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
                try:
                    requested: list[str] = []
                    errors: list[str] = []

                    async def console(user_id: int, path: str = "/app/", **options):
                        context = await browser.new_context(viewport={"width": 420, "height": 860}, **options)
                        await context.add_init_script(telegram_stub(h.settings, user_id, h.clock.now))
                        page = await context.new_page()
                        page.on("request", lambda request: requested.append(request.url))
                        page.on("pageerror", lambda error: errors.append(str(error)))
                        await page.goto(origin + path)
                        return page

                    # A village's staff member: the village's tickets, filtered, one opened and answered.
                    page = await console(VILLAGE_DL)
                    rows = page.locator("#tickets tbody tr")
                    await rows.first.wait_for()
                    assert await page.evaluate("window.tgReady") is True
                    assert await page.locator("html").get_attribute("lang") == "zh-CN"
                    numbers = await rows.evaluate_all("rows => rows.map(r => r.cells[0].textContent)")
                    assert sorted(numbers) == [f"XG-{lamp:06d}", f"XG-{pipe:06d}"] and f"XG-{other:06d}" not in numbers
                    # Live: a new ticket of the village shows without reloading (the page polls every 2 s).
                    await file("DL02", "water", "垃圾没人清运")
                    await page.wait_for_function("() => document.querySelectorAll('#tickets tbody tr').length === 3")
                    await page.locator("#filters select[name=category]").select_option("road")
                    await page.wait_for_function("() => document.querySelectorAll('#tickets tbody tr').length === 1")
                    assert await rows.first.locator("td").first.inner_text() == f"XG-{lamp:06d}"
                    await page.screenshot(path=str(ARTIFACTS / "console-list-zh.png"), full_page=True)
                    await rows.first.click()
                    await page.locator("#ticket h2").wait_for()
                    assert "路灯不亮" in await page.locator("#ticket").inner_text()
                    actions = await page.locator("#ticket .actions button").evaluate_all("els => els.map(e => e.dataset.action)")
                    assert actions == ["take", "reply", "ask", "resolve", "escalate", "merge", "note"]
                    await page.locator('#ticket .actions button[data-action="reply"]').click()
                    await page.locator('#ticket form[data-action="reply"] textarea').fill("明天派电工来修")
                    await page.locator('#ticket form[data-action="reply"] button[type=submit]').click()
                    await page.wait_for_function("() => document.querySelector('#ticket .history').textContent.includes('明天派电工来修')")
                    await page.screenshot(path=str(ARTIFACTS / "console-ticket-zh.png"), full_page=True)
                    before = len(h.session.calls)
                    await h.dp["outbox"].deliver_due(h.bot)
                    sent = [c for c in h.session.calls[before:] if isinstance(c, SendMessage) and c.chat_id == RESIDENT]
                    assert any("明天派电工来修" in c.text for c in sent)
                    # The map: the village's pins only, on grid tiles (no tile server is set).
                    await page.locator('.tabs button[data-view="map"]').click()
                    await page.wait_for_function("() => document.querySelectorAll('#console-map a.pin').length === 3")
                    assert await page.locator("#console-map .grid-tile").count() == 2
                    await page.screenshot(path=str(ARTIFACTS / "console-map-zh.png"))
                    await page.context.close()

                    # The town command centre routes a ticket to a department.
                    page = await console(TOWN_STAFF, f"/app/?view=tickets&q=XG-{pipe:06d}")
                    await page.locator("#tickets tbody tr").first.click()
                    await page.locator('#ticket .actions button[data-action="route"]').click()
                    form = page.locator('#ticket form[data-action="route"]')
                    await form.locator("select").select_option("水务局")
                    await form.locator("textarea").fill("请水务局处理")
                    await form.locator("button[type=submit]").click()
                    await page.wait_for_function("() => !document.querySelector('#ticket .actions [data-action=route]')")
                    routed = await h.db.get_ticket(pipe)
                    assert routed.tier is Tier.DEPARTMENT and routed.department == "水务局" and routed.status is Status.NEW
                    await page.context.close()

                    # An official reads the figures of the week before and downloads the Excel.
                    h.clock.advance(WEEK)
                    page = await console(OFFICIAL, "/app/?view=figures", accept_downloads=True)
                    await page.locator("#figures .totals").wait_for()
                    assert await page.locator('.total[data-figure="received"] strong').inner_text() == "4"
                    assert await page.locator("#figures .trend circle").count() > 0
                    await page.screenshot(path=str(ARTIFACTS / "console-figures-zh.png"), full_page=True)
                    async with page.expect_download() as download_info:
                        await page.locator('button[data-download="xlsx"]').click()
                    download = await download_info.value
                    path = ARTIFACTS / "console-figures.xlsx"
                    await download.save_as(str(path))
                    sheet = load_workbook(io.BytesIO(path.read_bytes())).worksheets[1]
                    assert len(list(sheet.iter_rows(values_only=True))) == 5  # the header and the four tickets
                    await page.context.close()
                    assert not errors, errors
                    assert all(url.startswith(origin) for url in requested), requested
                finally:
                    await browser.close()
        finally:
            await server.close()

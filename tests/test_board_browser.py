"""The public board in a real browser (issue 15): Debian's chromium, driven by Playwright, reads the
page from the web server: the list, the map's pins over tiles from a local tile server, the language
switch, and nothing asked of any other server. A screenshot is kept in tests/artifacts/.

chromium must be installed (`.ci/run` installs it): without it this test fails, it does not skip."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

from domain.models import Kind, Role, RoleGrant
from tests.test_board_page import TOWN, town_and_page

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def tile_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), (205, 225, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def tile_server():
    """Map tiles on 127.0.0.1, recording which were asked for."""
    asked: list[str] = []
    png = tile_png()

    async def tile(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(body=png, content_type="image/png")

    app = web.Application()
    app.router.add_get("/{z}/{x}/{y}.png", tile)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), asked
    await server.close()


async def test_the_board_in_chromium(tmp_path, tile_server):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium, as .ci/run does)")
    from playwright.async_api import async_playwright

    tiles, asked = tile_server
    worker = [RoleGrant(Role.GRID_WORKER, "DL01")]
    async with town_and_page(tmp_path, map_tile_url=tiles + "/{z}/{x}/{y}.png") as (town, client):
        new = await town.file("路口井盖丢了", location=(34.8105, 117.1702))
        taken = await town.file("村口路灯不亮", location=(34.8131, 117.1768), grid="DL02")
        done = await town.file("垃圾桶满了", location=(34.7987, 117.1655), grid="NZ01")
        unlocated = await town.file("水管漏水")  # pinned at its grid's point
        for ticket_id, text in ((new, "路口井盖丢了"), (taken, "村口路灯不亮"), (done, "垃圾桶满了"), (unlocated, "水管漏水")):
            await town.publish(ticket_id, text)
        await town.file("未审核的曝光", location=(34.81, 117.17))
        await town.file("投诉", kind=Kind.COMPLAINT, location=(34.81, 117.17))
        await town.tickets.take(taken, 502, [RoleGrant(Role.GRID_WORKER, "DL02")])
        await town.tickets.resolve(done, 503, [RoleGrant(Role.GRID_WORKER, "NZ01")], "已清运")
        assert worker  # the DL01 ticket stays new
        board = str(client.make_url(f"/board/{TOWN}"))
        origins = {str(client.make_url("/")).rstrip("/"), tiles}
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 420, "height": 900}, locale="zh-CN")
                requested: list[str] = []
                page.on("request", lambda request: requested.append(request.url))
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.goto(board)
                await page.wait_for_load_state("networkidle")
                assert await page.locator("html").get_attribute("lang") == "zh-CN"
                assert await page.locator("h1").inner_text() == f"{TOWN} · 曝光台"
                # The list: the four approved tickets, open ones first.
                numbers = await page.locator("article.ticket").evaluate_all("els => els.map(e => e.id)")
                assert numbers == [f"XG-{i:06d}" for i in (unlocated, taken, new, done)]
                assert "未审核的曝光" not in await page.content()
                # The map: a pin per ticket, coloured by status, over tiles from the tile server.
                pins = page.locator("#map a.pin")
                assert await pins.count() == 4
                states = await pins.evaluate_all("els => Object.fromEntries(els.map(e => [e.dataset.ticket, e.className]))")
                assert states[f"XG-{new:06d}"] == "pin dot open" and states[f"XG-{taken:06d}"] == "pin dot progress"
                assert states[f"XG-{done:06d}"] == "pin dot done"
                colours = await pins.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
                assert set(colours) == {"rgb(217, 48, 37)", "rgb(242, 153, 0)", "rgb(24, 128, 56)"}
                inside = await pins.evaluate_all(
                    "els => els.every(e => { const r = e.getBoundingClientRect(), m = document.getElementById('map')"
                    ".getBoundingClientRect(); return r.left >= m.left && r.right <= m.right && r.top >= m.top"
                    " && r.bottom <= m.bottom; })")
                assert inside
                assert asked and await page.locator("#map img.tile").count() >= 2
                loaded = await page.locator("#map img.tile").evaluate_all("els => els.filter(e => e.naturalWidth === 256).length")
                assert loaded >= 2
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "board-zh.png"), full_page=True)
                # A pin leads to its ticket in the list.
                await page.locator(f'#map a.pin[data-ticket="XG-{taken:06d}"]').click()
                assert page.url.endswith(f"#XG-{taken:06d}")
                # Zooming asks for other tiles.
                before = len(asked)
                await page.locator("#map .zoom button").first.click()
                await page.wait_for_load_state("networkidle")
                assert len(asked) > before
                # The language switch.
                await page.get_by_role("link", name="English").click()
                await page.wait_for_load_state("networkidle")
                assert await page.locator("html").get_attribute("lang") == "en"
                assert await page.locator("h1").inner_text() == f"{TOWN} · public board"
                assert "In progress" in await page.locator("article.ticket").nth(1).inner_text()
                await page.screenshot(path=str(ARTIFACTS / "board-en.png"), full_page=True)
                assert not errors
                assert all(any(url.startswith(origin) for origin in origins) for url in requested), requested
            finally:
                await browser.close()

"""The public board's page (/board/<town>) and its photos, through the web application."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from domain.board import BoardService
from domain.models import Attachment, BoardTowns, Kind, MediaKind, Role, RoleGrant
from domain.service import Draft, NotAllowed, TicketService
from tests.conftest import GRIDS, STAFF, FakeClock, make_settings, opened_the_bot
from storage.sqlite import SqliteStorage
from web.app import create_app

TOWN = "西岗镇"
TOWNS = BoardTowns(frozenset({TOWN}))
ADMIN = [RoleGrant(Role.ADMIN)]
RESIDENT = 1001
TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"


@dataclass
class Town:
    db: SqliteStorage
    clock: FakeClock
    tickets: TicketService
    board: BoardService

    async def file(self, text: str, kind: Kind = Kind.REPORT, grid: str = "DL01", photos: int = 0,
                   location: tuple[float, float] | None = None, resident: int = RESIDENT) -> int:
        attachments = tuple(Attachment(f"file{i}", f"unique{i}", MediaKind.PHOTO) for i in range(photos))
        lat, lon = location or (None, None)
        ticket, _ = await self.tickets.file(resident, Draft(kind, "water", grid, text, attachments, lat, lon))
        return ticket.id

    async def publish(self, ticket_id: int, text: str, hidden: tuple[int, ...] = ()) -> None:
        await self.board.publish(ticket_id, 1, ADMIN, text, hidden)


@asynccontextmanager
async def town_and_page(tmp_path, **settings):
    db = await SqliteStorage.open(tmp_path / "board.sqlite3")
    await db.upsert_grids(GRIDS)
    await db.upsert_staff(STAFF)
    await opened_the_bot(db, STAFF)
    clock = FakeClock()
    chosen = make_settings(tmp_path, board=TOWNS, database_path=tmp_path / "board.sqlite3", **settings)
    client = TestClient(TestServer(create_app(chosen, db, clock)))
    await client.start_server()
    try:
        yield Town(db, clock, TicketService(db, clock, 0), BoardService(db, clock, TOWNS)), client
    finally:
        await client.close()
        await db.close()


async def text_of(client: TestClient, path: str, **headers: str) -> str:
    response = await client.get(path, headers=headers)
    assert response.status == 200, await response.text()
    return await response.text()


async def test_only_approved_text_of_public_reports_in_both_languages(tmp_path):
    async with town_and_page(tmp_path, bot_token=None) as (town, client):
        shown = await town.file("王五家门口13812345678漏水", location=(34.81234, 117.17011))
        await town.publish(shown, "东里一网格路口水管漏水")
        pending = await town.file("还没有审核的曝光")
        complaint = await town.file("投诉隔壁噪音", kind=Kind.COMPLAINT)
        await town.tickets.take(shown, 501, [RoleGrant(Role.GRID_WORKER, "DL01")])
        town.clock.advance(3 * 3600)
        zh = await text_of(client, f"/board/{TOWN}")
        assert "东里一网格路口水管漏水" in zh and "王五" not in zh and "13812345678" not in zh
        assert "还没有审核" not in zh and "投诉隔壁噪音" not in zh
        assert f"XG-{pending:06d}" not in zh and f"XG-{complaint:06d}" not in zh
        assert "<strong>处理中</strong>" in zh and "· 已提交</li>" in zh and "· 受理</li>" in zh
        assert "东里一网格（东里村） · 3小时0分钟前提交" in zh
        assert 'data-lat="34.812" data-lon="117.17"' in zh  # rounded to about 100 m
        assert '<html lang="zh-CN">' in zh and "<img" not in zh  # no token: no photos
        en = await text_of(client, f"/board/{TOWN}?lang=en")
        assert '<html lang="en">' in en and "In progress" in en and "Water" in en
        assert '<html lang="en">' in await text_of(client, f"/board/{TOWN}", **{"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"})
        assert '<html lang="zh-CN">' in await text_of(client, f"/board/{TOWN}?lang=zh", **{"Accept-Language": "en"})
        assert '<html lang="zh-CN">' in await text_of(client, f"/board/{TOWN}", **{"Accept-Language": "fr, en;q=0.1, zh"})
        missing = await client.get("/board/别的镇")
        assert missing.status == 404 and "没有曝光台" in await missing.text()


async def test_map_or_grids_and_no_other_server(tmp_path):
    async with town_and_page(tmp_path, map_tile_url=TILES) as (town, client):
        response = await client.get(f"/board/{TOWN}")
        html = await response.text()
        assert f'data-tiles="{TILES}"' in html and 'class="grids"' not in html
        policy = response.headers["Content-Security-Policy"]
        assert "img-src 'self' http://127.0.0.1:9;" in policy and "script-src 'self'" in policy
        assert "http" not in html.replace(TILES, "")  # every other resource is the page's own
        for asset in ("/static/board.css", "/static/tilemap.css", "/static/tilemap.js"):
            assert (await client.get(asset)).status == 200
        assert (await client.get("/static/../app.py")).status == 404
    async with town_and_page(tmp_path) as (town, client):
        html = await text_of(client, f"/board/{TOWN}")
        assert 'id="map"' not in html and "东里一网格（东里村）: 0 件未办结，0 件已办结" in html


async def test_the_page_stays_small(tmp_path):
    async with town_and_page(tmp_path, map_tile_url=TILES) as (town, client):
        for i in range(120):
            ticket_id = await town.file(f"问题{i}：" + "路灯不亮，晚上看不清路。" * 20, location=(34.81, 117.17))
            await town.publish(ticket_id, "路灯不亮，晚上看不清路。" * 20)
            if i % 2:
                await town.tickets.take(ticket_id, 501, [RoleGrant(Role.GRID_WORKER, "DL01")])
        html = await text_of(client, f"/board/{TOWN}")
        css = await (await client.get("/static/board.css")).read() + await (await client.get("/static/tilemap.css")).read()
        js = await (await client.get("/static/tilemap.js")).read()
        assert len(html.encode()) + len(css) + len(js) < 200_000
        assert "还有 60 件更早的" in html


@asynccontextmanager
async def fake_telegram_files():
    """getFile and the file download of the Bot API, counting downloads."""
    downloads: list[str] = []

    async def get_file(request: web.Request) -> web.Response:
        file_id = request.query["file_id"]
        if file_id == "file1":
            return web.json_response({"ok": False, "error_code": 400, "description": "file is too big"})
        return web.json_response({"ok": True, "result": {"file_id": file_id, "file_path": f"photos/{file_id}.jpg"}})

    async def download(request: web.Request) -> web.Response:
        downloads.append(request.match_info["path"])
        return web.Response(body=b"\xff\xd8JPEG " + request.match_info["path"].encode())

    app = web.Application()
    app.router.add_get("/bot{token}/getFile", get_file)
    app.router.add_get("/file/bot{token}/{path:.+}", download)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), downloads
    finally:
        await server.close()


async def test_approved_photos_are_fetched_once_with_the_token(tmp_path):
    async with fake_telegram_files() as (api, downloads):
        async with town_and_page(tmp_path, telegram_api_url=api) as (town, client):
            ticket_id = await town.file("井盖丢了", photos=3)
            await town.publish(ticket_id, "井盖丢了", hidden=(1,))
            hidden_only = await town.file("另一张", photos=1)
            html = await text_of(client, f"/board/{TOWN}")
            assert html.count("<img") == 2  # photos 0 and 2
            first = await client.get(f"/board/{TOWN}/photo/{ticket_id}/0")
            assert first.status == 200 and first.content_type == "image/jpeg"
            assert await first.read() == b"\xff\xd8JPEG photos/file0.jpg"
            second = await client.get(f"/board/{TOWN}/photo/{ticket_id}/1")
            assert await second.read() == b"\xff\xd8JPEG photos/file2.jpg"
            await client.get(f"/board/{TOWN}/photo/{ticket_id}/0")
            assert downloads == ["photos/file0.jpg", "photos/file2.jpg"]  # kept on disk after
            assert (tmp_path / "board-photos" / "unique0.jpg").is_file()
            for path in (f"/board/{TOWN}/photo/{ticket_id}/2",  # only two are shown
                         f"/board/{TOWN}/photo/{hidden_only}/0",  # not approved
                         f"/board/南庄镇/photo/{ticket_id}/0"):
                assert (await client.get(path)).status == 404
            await town.publish(ticket_id, "井盖丢了", hidden=(0, 2))
            assert (await client.get(f"/board/{TOWN}/photo/{ticket_id}/0")).status == 404  # file1: refused


@pytest.mark.parametrize("status", ["closed", "merged", "withdrawn"])
async def test_closed_tickets_stay_a_month_merged_and_withdrawn_ones_never(tmp_path, status):
    async with town_and_page(tmp_path) as (town, client):
        ticket_id = await town.file("路灯坏了")
        await town.publish(ticket_id, "路灯坏了")
        worker = [RoleGrant(Role.GRID_WORKER, "DL01")]
        if status != "closed":
            if status == "merged":
                await town.tickets.merge(ticket_id, await town.file("路灯坏了两盏"), 501, worker)
            else:
                await town.tickets.withdraw(ticket_id, RESIDENT, "自己修好了")
            assert f"XG-{ticket_id:06d}" not in await text_of(client, f"/board/{TOWN}")
            with pytest.raises(NotAllowed):
                await town.publish(ticket_id, "路灯坏了")
            return
        await town.tickets.resolve(ticket_id, 501, worker, "已换灯泡")
        await town.tickets.confirm(ticket_id, RESIDENT)
        html = await text_of(client, f"/board/{TOWN}")
        assert "最近办结（1）" in html and "已换灯泡" not in html  # the resolution note is for the resident
        town.clock.advance(31 * 86400)
        assert f"XG-{ticket_id:06d}" not in await text_of(client, f"/board/{TOWN}")

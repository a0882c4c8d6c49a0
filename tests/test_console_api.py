"""The console's ticket API (issue 16): the list in each person's scope, a ticket's card, the actions
through the same domain code as the chat card, photos for the signed-in viewer, and changes."""

from __future__ import annotations

from urllib.parse import urlsplit

from domain.models import Attachment, Kind, MediaKind, Status, Tier
from domain.service import Draft
from domain.tickets import api_submitter
from tests.conftest import (
    TOWN_STAFF,
    VILLAGE_DL,
    WATER_DEPT,
    WORKER_DL01,
    WORKER_DL02,
    joined,
    open_harness,
)
from tests.console_helpers import console_client, console_headers
from tests.test_board_page import fake_telegram_files

RESIDENT, OFFICIAL = 1001, 701
HOUR = 3600


async def file(h, grid: str, category: str = "water", text: str = "楼下水管漏水", photos: int = 0) -> int:
    attachments = tuple(Attachment(f"file{i}", f"unique{i}", MediaKind.PHOTO) for i in range(photos))
    ticket, _created = await h.dp["tickets"].file(RESIDENT, Draft(Kind.COMPLAINT, category, grid, text, attachments))
    return ticket.id


class Console:
    """Requests as one person or another, signed in now."""

    def __init__(self, h, client):
        self.h, self.client = h, client

    async def get(self, user: int, path: str, status: int = 200) -> dict:
        response = await self.client.get(path, headers=console_headers(self.h.settings, user, self.h.clock.now))
        assert response.status == status, await response.text()
        return await response.json()

    async def ids(self, user: int, query: str = "") -> list[int]:
        return [t["id"] for t in (await self.get(user, "/app/api/tickets?" + query))["tickets"]]

    async def post(self, user: int, ticket_id: int, action: str, body: dict | None = None, status: int = 200) -> dict:
        response = await self.client.post(f"/app/api/tickets/{ticket_id}/{action}", json=body or {},
                                          headers=console_headers(self.h.settings, user, self.h.clock.now))
        assert response.status == status, await response.text()
        return await response.json()


async def test_the_list_shows_each_scope_with_filters_sort_and_paging(harness):
    h = harness
    first = await file(h, "DL01", "water", "楼下水管漏水")
    h.clock.advance(60)
    second = await file(h, "DL02", "power", "路灯不亮 please fix")
    h.clock.advance(60)
    third = await file(h, "NZ01", "water", "井盖丢了")
    async with console_client(h.settings, h.db, h.clock) as client:
        console = Console(h, client)
        assert await console.ids(WORKER_DL01) == [first]
        assert await console.ids(VILLAGE_DL) == [second, first]  # 东里村: DL01 and DL02, newest first
        assert await console.ids(TOWN_STAFF) == await console.ids(OFFICIAL) == [third, second, first]
        assert await console.ids(WATER_DEPT) == [third, first]  # the water bureau's category, at any tier
        await console.get(RESIDENT, "/app/api/tickets", status=403)

        page = await console.get(TOWN_STAFF, "/app/api/tickets?sort=created&per_page=2&page=2")
        assert (page["total"], page["page"], page["per_page"], [t["id"] for t in page["tickets"]]) == (3, 2, 2, [third])
        row = (await console.get(WORKER_DL01, "/app/api/tickets"))["tickets"][0]
        assert row | {"deadline": None} == {
            "id": first, "number": f"XG-{first:06d}", "status": "new", "status_text": "待受理", "tier": "grid",
            "tier_text": "网格", "category": "water", "category_text": "供水", "grid": "DL01",
            "grid_name": "东里一网格", "holder": "东里一网格", "assignee": None, "created_at": "2025-11-22T08:26:40Z",
            "deadline": None, "overdue": False, "summary": "楼下水管漏水", "lat": None, "lon": None,
        }
        assert row["deadline"].endswith("Z")
        assert await console.ids(TOWN_STAFF, "category=power") == [second]
        assert await console.ids(TOWN_STAFF, "grid=DL01,NZ01&status=new,in_progress&tier=grid") == [third, first]
        assert await console.ids(TOWN_STAFF, f"q=XG-{second:06d}") == [second]
        assert await console.ids(TOWN_STAFF, "q=PLEASE") == [second]  # ASCII case ignored, as in SQLite
        assert await console.ids(TOWN_STAFF, "q=50%25") == []
        assert await console.ids(TOWN_STAFF, "from=2025-11-22&to=2025-11-22") == [third, second, first]
        assert await console.ids(TOWN_STAFF, "from=2025-11-23") == []
        assert await console.ids(TOWN_STAFF, "overdue=1") == []
        await console.post(WORKER_DL01, first, "reply", {"text": "请问具体在几楼？", "ask": True})
        assert await console.ids(TOWN_STAFF, "waiting=1") == [first]
        assert await console.ids(TOWN_STAFF, "sort=-updated") == [first, third, second]
        h.db._WALK_EVENTS_ABOVE, h.db._WALK_EVENTS_PER_TICKET = 0, 1  # as for a large scope: the event log read back
        assert await console.ids(TOWN_STAFF, "sort=-updated") == [first, third, second]
        assert await console.ids(TOWN_STAFF, "sort=-updated&per_page=1&page=2") == [third]
        assert await console.ids(TOWN_STAFF, "sort=-updated&page=2") == []
        assert await console.ids(VILLAGE_DL, "sort=-updated&grid=DL02") == [second]
        h.clock.advance(30 * 24 * HOUR)
        assert await console.ids(TOWN_STAFF, "overdue=1&sort=deadline") == [second, third]  # waiting: clock paused
        for bad in ("status=lost", "sort=name", "per_page=101", "page=0", "page=99999999999999999999",
                    "from=22.11.2025", "to=9999-12-31", "tier=x"):
            body = await console.get(TOWN_STAFF, "/app/api/tickets?" + bad, status=400)
            assert body["error"]


async def test_actions_go_through_the_chat_cards_rules_and_reach_the_resident(harness):
    h = harness
    ticket_id = await file(h, "DL01", "water")
    duplicate = await file(h, "DL01", "water", "同一个水管")
    await h.dp["outbox"].deliver_due(h.bot)
    async with console_client(h.settings, h.db, h.clock) as client:
        console = Console(h, client)
        card = await console.get(WORKER_DL01, f"/app/api/tickets/{ticket_id}")
        assert card["actions"] == ["take", "reply", "resolve", "handover", "escalate", "merge", "note"]
        assert [c["grid"] for c in card["choices"]["handover"]] == ["DL02", "NZ01"]
        assert card["choices"]["merge"] == [duplicate]
        assert card["history"][0]["text"] == "已提交" and card["history"][0]["at"] == "2025-11-22T08:26:40Z"
        await console.get(WORKER_DL02, f"/app/api/tickets/{ticket_id}", status=404)  # not in their area
        assert (await console.get(VILLAGE_DL, f"/app/api/tickets/{ticket_id}"))["actions"] == ["note"]
        refused = await console.post(VILLAGE_DL, ticket_id, "take", status=403)  # not at their tier
        assert refused["error"] == "您无法处理该工单：它不在您的辖区，或不在您的层级。"

        taken = await console.post(WORKER_DL01, ticket_id, "take")
        assert taken["ticket"]["status"] == "in_progress" and "take" not in taken["actions"]
        assert (await console.post(WORKER_DL01, ticket_id, "take", status=409))["error"]
        await console.post(WORKER_DL01, ticket_id, "reply", {"text": ""}, status=400)
        before = len(h.session.calls)
        await console.post(WORKER_DL01, ticket_id, "reply", {"text": "明天上午派人维修"})
        await console.post(WORKER_DL01, ticket_id, "note", {"text": "内部：三楼住户难联系"})
        await h.dp["outbox"].deliver_due(h.bot)
        to_resident = joined(h.session.calls[before:], RESIDENT)
        assert "明天上午派人维修" in to_resident and "三楼住户" not in to_resident

        merged = await console.post(WORKER_DL01, duplicate, "merge", {"into": f"XG-{ticket_id:06d}"})
        assert merged["ticket"]["status"] == "merged"
        moved = await console.post(WORKER_DL01, ticket_id, "escalate", {"text": "需要村里协调"})
        assert moved["ticket"]["tier"] == "village" and moved["actions"] == ["note"]
        await console.post(VILLAGE_DL, ticket_id, "escalate", {"text": "需要镇里协调"})
        card = await console.get(TOWN_STAFF, f"/app/api/tickets/{ticket_id}")
        assert card["actions"] == ["take", "reply", "resolve", "route", "merge", "note", "urge"]
        assert "水务局" in card["choices"]["route"]["departments"]
        await console.post(TOWN_STAFF, ticket_id, "route", {"department": "供电公司", "text": "x"}, status=409)
        routed = await console.post(TOWN_STAFF, ticket_id, "route", {"department": "水务局", "text": "主管道"})
        assert (routed["ticket"]["tier"], routed["ticket"]["holder"]) == ("department", "水务局")
        await console.post(TOWN_STAFF, ticket_id, "urge")
        urged_again = await console.post(OFFICIAL, ticket_id, "urge", status=409)
        assert urged_again["error"].startswith(f"XG-{ticket_id:06d} 已于 ")
        returned = await console.post(WATER_DEPT, ticket_id, "return", {"text": "不归我们管"})
        assert returned["ticket"]["tier"] == "town"
        resolved = await console.post(TOWN_STAFF, ticket_id, "resolve", {"text": "已修好"})
        assert resolved["ticket"]["status"] == "resolved"
        await console.post(TOWN_STAFF, ticket_id, "dance", status=404)
        assert (await h.db.get_ticket(ticket_id)).status is Status.RESOLVED


async def test_changes_name_the_tickets_of_the_scope_changed_since_the_cursor(harness):
    h = harness
    mine = await file(h, "DL01")
    other = await file(h, "NZ01")
    h.clock.advance(60)
    async with console_client(h.settings, h.db, h.clock) as client:
        console = Console(h, client)
        start = await console.get(WORKER_DL01, "/app/api/changes")
        assert start["tickets"] == []
        await h.dp["tickets"].add_note(other, TOWN_STAFF, await h.db.roles_of(TOWN_STAFF), "看一下")
        await h.dp["tickets"].take(mine, WORKER_DL01, await h.db.roles_of(WORKER_DL01))
        changed = await console.get(WORKER_DL01, f"/app/api/changes?since={start['cursor']}")
        assert changed == {"cursor": start["cursor"], "tickets": [mine]}  # just now: named again next time
        assert (await console.get(TOWN_STAFF, f"/app/api/changes?since={start['cursor']}"))["tickets"] == [mine, other]
        h.clock.advance(10)
        again = await console.get(WORKER_DL01, f"/app/api/changes?since={changed['cursor']}")
        assert again["tickets"] == [mine] and again["cursor"] > start["cursor"]
        assert (await console.get(WORKER_DL01, f"/app/api/changes?since={again['cursor']}"))["tickets"] == []
        await console.get(WORKER_DL01, "/app/api/changes?since=x", status=400)


async def test_photos_open_for_the_viewer_they_were_signed_for(tmp_path, caplog, database):
    async with fake_telegram_files() as (api, downloads), \
            open_harness(tmp_path, caplog, database, telegram_api_url=api) as h:
        ticket_id = await file(h, "DL01", photos=1)
        async with console_client(h.settings, h.db, h.clock) as client:
            console = Console(h, client)
            photos = (await console.get(VILLAGE_DL, f"/app/api/tickets/{ticket_id}"))["photos"]
            assert [p["stage"] for p in photos] == ["report"]
            url = photos[0]["url"]
            got = await client.get(url)
            assert got.status == 200 and await got.read() == b"\xff\xd8JPEG photos/file0.jpg"
            path, query = urlsplit(url).path, urlsplit(url).query
            forged = [url.replace(f"u={VILLAGE_DL}", f"u={WORKER_DL02}"), url[:-1] + "0", path,
                      path.replace("/report/0", "/report/1") + "?" + query]
            for address in forged:
                assert (await client.get(address)).status == 404, address
            town_url = (await console.get(TOWN_STAFF, f"/app/api/tickets/{ticket_id}"))["photos"][0]["url"]
            await h.db._run_many("DELETE FROM staff WHERE telegram_id = ?", [(VILLAGE_DL,)])
            assert (await client.get(url)).status == 404  # no longer staff: no longer theirs
            assert (await client.get(town_url)).status == 200
            h.clock.advance(3 * HOUR)
            assert (await client.get(town_url)).status == 404  # expired
            assert downloads == ["photos/file0.jpg"]  # kept after the first time


async def test_malformed_bodies_are_refused_in_words_and_change_nothing(harness):
    h = harness
    ticket_id = await file(h, "DL01", "water")
    before = await h.db.events(ticket_id)
    async with console_client(h.settings, h.db, h.clock) as client:
        console = Console(h, client)
        # JSON allows a lone UTF-16 surrogate ("\ud800"), which no text can hold.
        for action, body in (("reply", {"text": "\ud800"}), ("note", {"text": "好\udfff"}),
                             ("handover", {"grid": "\ud800"}), ("reply", {"text": 5}), ("reply", ["text"])):
            refused = await console.post(WORKER_DL01, ticket_id, action, body, status=400)
            assert refused["error"] == "输入内容无效。"
        for raw, content_type in ((b"{not json", "application/json"), (b"\xff\xfe", "application/json"),
                                  (b'{"text": "x"}', "application/json; charset=klingon")):
            headers = console_headers(h.settings, WORKER_DL01, h.clock.now) | {"Content-Type": content_type}
            response = await client.post(f"/app/api/tickets/{ticket_id}/note", data=raw, headers=headers)
            assert response.status == 400 and (await response.json())["error"] == "输入内容无效。"
        # Too long as Telegram counts it (a 😀 is two UTF-16 units): said so, as the chat says it.
        for text in ("字" * 1501, "😀" * 751):
            refused = await console.post(WORKER_DL01, ticket_id, "reply", {"text": text}, status=400)
            assert refused["error"] == "请不要超过1500个字。"
        assert await h.db.events(ticket_id) == before
        await console.post(WORKER_DL01, ticket_id, "reply", {"text": "😀" * 750})
        # PostgreSQL text cannot hold U+0000: a filter or a grid with one was a 500 there.
        for query in ("q=a%00b", "grid=DL01%00", "category=%00"):
            await console.get(TOWN_STAFF, "/app/api/tickets?" + query, status=400)
        await console.post(WORKER_DL01, ticket_id, "handover", {"grid": "DL02\x00"}, status=400)
        # A cursor beyond any database integer (a cursor is an event's number).
        for beyond in ("9" * 30, "-" + "9" * 30):
            refused = await console.get(WORKER_DL01, "/app/api/changes?since=" + beyond, status=400)
            assert refused["error"] == "输入内容无效。"


async def test_a_ticket_filed_through_open311_cannot_be_asked_and_says_why(harness):
    h = harness
    key = await h.db.add_api_key("12345 desk", "0" * 64, h.clock.now)
    ticket, _created = await h.dp["tickets"].file(api_submitter(key.id), Draft(Kind.REPORT, "water", "DL01", "路灯坏了"))
    async with console_client(h.settings, h.db, h.clock) as client:
        console = Console(h, client)
        holder = WORKER_DL01 if ticket.tier is Tier.GRID else TOWN_STAFF
        # The person holds the ticket; it is the filer who cannot answer (it was "not in your area").
        refused = await console.post(holder, ticket.id, "reply", {"text": "请补充具体位置", "ask": True}, status=409)
        assert refused["error"] == "这件工单经 Open311 接口提交，没有人可以回答提问，请直接回复，不要提问。"
        assert (await console.post(holder, ticket.id, "reply", {"text": "已安排维修"}))["ticket"]["status"] == "in_progress"

"""Acceptance (issue 9): the first day of a town, as the town would live it. Grids and staff come in
with `gridbot import`, residents file before any staff member has opened the bot, staff open it when
they get round to it; the command centre routes, a department returns, someone leaves mid-day."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiogram.methods import SendMediaGroup, SendMessage

from bot.__main__ import main
from bot.factory import create_dispatcher
from domain.models import EventType, Status, Tier
from handlers.callbacks import DepartmentCb, QueuePageCb, StaffTicketCb
from storage.sqlite import SqliteStorage
from tests.conftest import FakeClock, Harness, buttons, joined, last_buttons, make_settings, to_chat
from tests.fake_telegram import make_bot
from tests.test_ticket_loop import file_ticket

ADMIN = 1
WORKER_A, WORKER_B, SECOND_A = 501, 502, 511
VILLAGE, TOWN, WATER = 601, 801, 901
STAFF_IDS = (WORKER_A, WORKER_B, SECOND_A, VILLAGE, TOWN, WATER)
GRIDS_CSV = ("code,name,village,town,lat,lon\n"
             "DL01,东里一网格,东里村,西岗镇,34.8105,117.1702\n"
             "DL02,东里二网格,东里村,西岗镇,34.8131,117.1768\n")
STAFF_CSV = ("telegram_id,name,role,scope\n"
             f"{WORKER_A},王网格,grid_worker,DL01\n"
             f"{SECOND_A},钱网格,grid_worker,DL01\n"
             f"{WORKER_B},李网格,grid_worker,DL02\n"
             f"{VILLAGE},东里村书记,village,东里村\n"
             f"{TOWN},镇指挥中心,town,西岗镇\n"
             f"{WATER},水务局专员,department,水务局\n")


def cards(calls, chat_id: int) -> list[str]:
    """Ticket cards sent to `chat_id`: messages with a staff action button."""
    return [c.text for c in to_chat(calls, chat_id)
            if isinstance(c, SendMessage) and any(d and d.startswith("st:") for _, d in buttons(c))]


async def gridbot(h: Harness, *argv: str) -> int:
    """The real `gridbot` command on the bot's database (as an operator runs it beside the bot)."""
    code = await asyncio.to_thread(main, list(argv))
    h.clock.now = max(h.clock.now, int(time.time()) + 1)  # the command dated its changes by the wall clock
    return code


@pytest.fixture
async def town(tmp_path: Path, monkeypatch):
    """A town imported with the CLI this morning; nobody but the admin has written to the bot."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    database = tmp_path / "town.sqlite3"
    monkeypatch.setenv("DATABASE_PATH", str(database))
    monkeypatch.setenv("ADMIN_IDS", str(ADMIN))
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    (tmp_path / "grids.csv").write_text(GRIDS_CSV, encoding="utf-8")
    (tmp_path / "staff.csv").write_text(STAFF_CSV, encoding="utf-8")
    assert await asyncio.to_thread(main, ["import", "grids", str(tmp_path / "grids.csv")]) == 0
    assert await asyncio.to_thread(main, ["import", "staff", str(tmp_path / "staff.csv")]) == 0
    db = await SqliteStorage.open(database)
    clock = FakeClock(int(time.time()) + 1)
    settings = make_settings(tmp_path, database_path=database)
    dp = create_dispatcher(settings, db, clock=clock, send_intervals=(0.0, 0.0))
    h = Harness(dp, make_bot(), db, clock, settings)
    # Telegram knows no chat with someone who never wrote to the bot.
    for staff_id in STAFF_IDS:
        for _ in range(50):
            h.session.fail_next(staff_id, 400, "Bad Request: chat not found")
    await h.send(h.user(ADMIN), "/start")
    yield h
    await db.close()


async def opens_the_bot(h: Harness, staff_id: int) -> list:
    h.session.failures.pop(staff_id, None)
    return await h.send(h.user(staff_id), "/start")


async def test_tickets_filed_before_staff_opened_the_bot_wait_for_them(town):
    h = town
    first = await file_ticket(h, h.user(1001), grid="DL01", text="第一件：路灯不亮", photos=2)
    await file_ticket(h, h.user(1002), grid="DL02", text="第二件：井盖丢了")
    await file_ticket(h, h.user(1003), grid="DL01", text="第三件：垃圾没人清")
    assert "XG-" in joined(first, 1001)
    # Nobody up to the town can be reached: the admin holds the cards, and is warned once a person.
    all_calls = h.session.calls
    assert len(cards(all_calls, ADMIN)) == 3
    warnings = [t for t in (c.text for c in to_chat(all_calls, ADMIN) if isinstance(c, SendMessage))
                if "尚未启用机器人" in t]
    assert warnings and sum(t.count("王网格") for t in warnings) == 1, warnings
    for staff_id in STAFF_IDS:  # no card was lost into a chat that does not exist
        assert not cards(all_calls, staff_id)

    # The grid worker of DL01 opens the bot: both DL01 cards, oldest first, photos before the first.
    calls = await opens_the_bot(h, WORKER_A)
    got = cards(calls, WORKER_A)
    assert len(got) == 2 and "第一件" in got[0] and "第三件" in got[1], got
    mine = to_chat(calls, WORKER_A)
    first_card = next(i for i, c in enumerate(mine) if isinstance(c, SendMessage) and "第一件" in c.text)
    assert any(isinstance(c, SendMediaGroup) for c in mine[:first_card])
    # The town command centre opens it later: the DL02 ticket, whose worker is still away, is theirs.
    calls = await opens_the_bot(h, TOWN)
    assert any("第二件" in t for t in cards(calls, TOWN))
    # Their /start is their staff home, not the resident's grid finder; their commands still work.
    calls = await h.send(h.user(TOWN), "/queue")
    assert "请输入网格名称" not in joined(calls, TOWN)


async def ticket_at_the_town(h: Harness) -> int:
    for staff_id in (WORKER_A, SECOND_A, VILLAGE, TOWN, WATER):
        await opens_the_bot(h, staff_id)
    await file_ticket(h, h.user(1001), grid="DL01", text="自来水管爆了")
    [ticket] = await h.db.resident_tickets(1001)
    for staff_id in (WORKER_A, VILLAGE):
        await h.tap(h.user(staff_id), StaffTicketCb(action="escalate", ticket_id=ticket.id))
        await h.send(h.user(staff_id), "需要上级协调")
    assert (await h.db.get_ticket(ticket.id)).tier is Tier.TOWN
    return ticket.id


async def route(h: Harness, ticket_id: int, reason: str) -> list[tuple[str, str]]:
    """The town presses ⬆️ and writes a reason; returns the department buttons it is offered."""
    await h.tap(h.user(TOWN), StaffTicketCb(action="escalate", ticket_id=ticket_id))
    calls = await h.send(h.user(TOWN), reason)
    return [(text, data) for text, data in last_buttons(calls, TOWN) if data and data.startswith("dep:")]


async def test_the_department_picker_offers_only_departments_with_someone(town):
    h = town
    ticket_id = await ticket_at_the_town(h)
    names = await h.db.list_departments()
    assert "水务局" in names and len(names) > 1  # the categories name departments nobody staffs
    offered = await route(h, ticket_id, "请相关部门处理")
    assert [text for text, _ in offered] == ["水务局"], offered


async def test_the_town_cannot_route_to_a_department_whose_staff_left(town):
    """The picker offered the water bureau; its only member is removed before the town presses."""
    h = town
    ticket_id = await ticket_at_the_town(h)
    [(_, water)] = await route(h, ticket_id, "请水务局处理")
    assert await gridbot(h, "staff", "remove", str(WATER)) == 0
    await h.dp["outbox"].deliver_due(h.bot)
    calls = await h.tap(h.user(TOWN), water)
    ticket = await h.db.get_ticket(ticket_id)
    assert ticket.tier is Tier.TOWN and ticket.status is not Status.RESOLVED, (ticket, joined(calls))
    assert "工单仍由镇综合指挥中心办理。" in joined(calls), joined(calls)
    # A forged index beyond the offered list is refused as well.
    calls = await h.tap(h.user(TOWN), DepartmentCb(ticket_id=ticket_id, index=5))
    assert (await h.db.get_ticket(ticket_id)).tier is Tier.TOWN


async def test_a_department_returns_a_ticket_to_the_town_with_a_reason(town):
    h = town
    ticket_id = await ticket_at_the_town(h)
    [(_, water)] = await route(h, ticket_id, "请水务局处理")
    await h.tap(h.user(TOWN), water)
    assert (await h.db.get_ticket(ticket_id)).tier is Tier.DEPARTMENT
    await h.tap(h.user(WATER), StaffTicketCb(action="return", ticket_id=ticket_id))
    calls = await h.send(h.user(WATER), "不属于本部门职责，属于燃气公司")
    ticket = await h.db.get_ticket(ticket_id)
    assert ticket.tier is Tier.TOWN
    assert any(e.type is EventType.RETURNED for e in await h.db.events(ticket_id))
    assert any("燃气公司" in t for t in cards(calls, TOWN)), joined(calls)
    # The resident reads a plain status line, not the department's reason.
    assert "燃气公司" not in joined(h.session.calls, 1001)
    # The town routes it again: the picker comes back.
    assert await route(h, ticket_id, "再次分派")


async def test_staff_removed_while_tickets_are_open(town):
    h = town
    for staff_id in (WORKER_A, SECOND_A, VILLAGE, TOWN):
        await opens_the_bot(h, staff_id)
    await file_ticket(h, h.user(1001), grid="DL01", text="楼道灯坏了")
    [ticket] = await h.db.resident_tickets(1001)
    await h.tap(h.user(WORKER_A), StaffTicketCb(action="take", ticket_id=ticket.id))
    assert (await h.db.get_ticket(ticket.id)).assignee_id == WORKER_A

    assert await gridbot(h, "staff", "remove", str(WORKER_A)) == 0
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    calls = h.session.calls[before:]
    # The other worker of the grid holds it now and has the card.
    ticket = await h.db.get_ticket(ticket.id)
    assert ticket.assignee_id != WORKER_A and ticket.status is not Status.RESOLVED
    assert any("楼道灯坏了" in t for t in cards(calls, SECOND_A)), joined(calls)
    # The removed worker's next press on the old card is refused and changes nothing.
    calls = await h.tap(h.user(WORKER_A), StaffTicketCb(action="resolve", ticket_id=ticket.id))
    assert "不再担任工作人员" in joined(calls)
    assert (await h.db.get_ticket(ticket.id)).status is ticket.status
    # The one who stays answers from the card they were given.
    await h.tap(h.user(SECOND_A), StaffTicketCb(action="reply", ticket_id=ticket.id))
    calls = await h.send(h.user(SECOND_A), "明天上午来修")
    assert "明天上午来修" in joined(calls, 1001)


async def test_queue_pages_through_every_open_ticket(town):
    h = town
    await opens_the_bot(h, WORKER_A)
    for i in range(23):
        await file_ticket(h, h.user(2000 + i), grid="DL01", text=f"问题{i:02d}号")
        h.clock.advance(60)
    calls = await h.send(h.user(WORKER_A), "/queue")
    page = joined(calls, WORKER_A)
    assert "23" in page
    pages = [page]
    for number in (1, 2):
        calls = await h.tap(h.user(WORKER_A), QueuePageCb(page=number))
        pages.append(joined(calls, WORKER_A))
    numbers = [f"XG-{i:06d}" for i in range(1, 24)]
    assert [sum(n in p for n in numbers) for p in pages] == [10, 10, 3], pages
    assert all(any(n in p for p in pages) for n in numbers)
    assert "第 3/3 页" in pages[2]


async def test_a_command_typed_in_the_reply_step_is_not_sent_to_the_resident(town):
    h = town
    await opens_the_bot(h, WORKER_A)
    await file_ticket(h, h.user(1001), grid="DL01")
    [ticket] = await h.db.resident_tickets(1001)
    await h.tap(h.user(WORKER_A), StaffTicketCb(action="reply", ticket_id=ticket.id))
    calls = await h.send(h.user(WORKER_A), "/my")
    assert "/my" not in joined(calls, 1001)
    calls = await h.send(h.user(WORKER_A), "已安排维修")  # the step was left: this is no reply either
    assert "已安排维修" not in joined(calls, 1001)
    assert not [e for e in await h.db.events(ticket.id) if e.type is EventType.REPLIED]

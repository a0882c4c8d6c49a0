"""Issue 9: every open ticket has a reachable holder. Staff who have not opened the bot, who blocked
it, or who were removed never leave a ticket with nobody; end to end through the real dispatcher,
the outbox and the fake Bot API, and `gridbot staff`/`import staff --replace` on the same database."""

from __future__ import annotations

import asyncio
import time

from aiogram.methods import DeleteMyCommands, SendMediaGroup, SendMessage

from bot.__main__ import main
from domain.models import EventType, Grid, Role, StaffMember, Status, Tier
from handlers.callbacks import StaffTicketCb
from tests.conftest import TOWN_STAFF, VILLAGE_DL, WORKER_DL01, WORKER_DL02, buttons, joined, to_chat, use_database
from tests.test_ticket_loop import file_ticket

RESIDENT = 1001
NEW_WORKER = 555  # imported this morning; has not written to the bot yet
DL03 = Grid("DL03", "东里三网格", "东里村", "西岗镇", 34.8159, 117.1731)


def cards(calls, chat_id: int) -> list[str]:
    """Texts of the ticket cards sent to `chat_id`: messages with a "Reply" button."""
    return [c.text for c in to_chat(calls, chat_id)
            if any(data and data.startswith("st:reply:") for _, data in buttons(c))]


async def new_grid_with_unopened_worker(h) -> None:
    await h.db.upsert_grids([DL03])
    await h.db.upsert_staff([StaffMember(NEW_WORKER, "新网格员", Role.GRID_WORKER, "DL03")])
    # Telegram knows no chat with someone who never wrote to the bot.
    for _ in range(10):
        h.session.fail_next(NEW_WORKER, 400, "Bad Request: chat not found")


async def test_a_worker_who_has_not_opened_the_bot_gets_every_card_when_they_do(harness):
    """Failure 1: the card was refused with "chat not found" and dropped for good; nobody had it."""
    h = harness
    await new_grid_with_unopened_worker(h)
    resident = h.user(RESIDENT, "en")
    calls = await file_ticket(h, resident, grid="DL03", text="第一件：路灯不亮", photos=2, lang="en")
    first = (await h.db.resident_tickets(RESIDENT))[0]
    assert "It went to the village;" in joined(calls, RESIDENT)
    # The village has it at once, with its photos; the ticket waits there for the grid.
    assert any("第一件" in text for text in cards(calls, VILLAGE_DL))
    assert first.tier is Tier.VILLAGE and first.waiting_tier is Tier.GRID
    # The town command centre is told once who cannot be reached and how much waits (in Chinese,
    # the default language).
    warning = joined(calls, TOWN_STAFF)
    assert "新网格员（网格员 · DL03）：尚未启用机器人；待办工单 1 件" in warning

    calls = await file_ticket(h, resident, grid="DL03", text="第二件：垃圾没人清", lang="en")
    assert any("第二件" in text for text in cards(calls, VILLAGE_DL))
    assert "尚未启用机器人" not in joined(calls, TOWN_STAFF)  # one warning, not one per ticket

    # The worker opens the bot: both cards arrive, oldest first, the photos before the first.
    h.session.failures.pop(NEW_WORKER, None)
    calls = await h.send(h.user(NEW_WORKER, "en"), "/start")
    mine = to_chat(calls, NEW_WORKER)
    got = cards(calls, NEW_WORKER)
    assert len(got) == 2 and "第一件" in got[0] and "第二件" in got[1]
    first_card = next(i for i, c in enumerate(mine) if isinstance(c, SendMessage) and "第一件" in c.text)
    assert isinstance(mine[first_card - 1], SendMediaGroup) and len(mine[first_card - 1].media) == 2
    # The tickets are back with the grid, which the history records; the worker can take them.
    first = await h.db.get_ticket(first.id)
    assert first.tier is Tier.GRID and first.waiting_tier is None
    assert (await h.db.events(first.id))[-1].type is EventType.REASSIGNED
    await h.tap(h.user(NEW_WORKER, "en"), StaffTicketCb(action="take", ticket_id=first.id))
    assert (await h.db.get_ticket(first.id)).status is Status.IN_PROGRESS


async def test_chat_not_found_is_not_done(harness):
    """A card that bounces with "chat not found" goes to the tier above at once."""
    h = harness
    resident = h.user(RESIDENT)
    await file_ticket(h, resident)
    [ticket] = await h.db.resident_tickets(RESIDENT)
    # The worker's account went away: the next notice to them bounces.
    h.session.fail_next(WORKER_DL01, 400, "Bad Request: chat not found")
    await h.db.enqueue(h.dp["tickets"].card_notices(ticket, [WORKER_DL01]), h.clock.now)
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    assert (await h.db.get_ticket(ticket.id)).tier is Tier.VILLAGE
    assert cards(h.session.calls[before:], VILLAGE_DL)
    assert (await h.db.get_user(WORKER_DL01)).opened_at is None


async def test_a_grid_whose_only_worker_blocked_the_bot(harness):
    """Failure 5: the village got nothing until the resolve deadline escalated it a day later."""
    h = harness
    await h.db.set_language(TOWN_STAFF, "en")
    h.session.fail_next(WORKER_DL02, 403, "Forbidden: bot was blocked by the user")
    resident = h.user(RESIDENT)
    calls = await file_ticket(h, resident, grid="DL02", text="李家门口污水外溢")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    ticket = await h.db.get_ticket(ticket.id)
    assert ticket.tier is Tier.VILLAGE and ticket.waiting_tier is Tier.GRID
    village_cards = cards(calls, VILLAGE_DL)
    assert village_cards and "李家门口污水外溢" in village_cards[-1]
    assert "无法通过机器人联系" in village_cards[-1]
    warning = joined(calls, TOWN_STAFF)
    assert "李网格 (grid worker · DL02): blocked the bot; tickets waiting: 1" in warning
    # A second ticket of that grid goes straight to the village, without trying the worker.
    calls = await file_ticket(h, resident, grid="DL02", text="第二件")
    assert not to_chat(calls, WORKER_DL02) and cards(calls, VILLAGE_DL)
    # The worker unblocks the bot and writes: what nobody took comes back to them.
    calls = await h.send(h.user(WORKER_DL02), "/queue")
    assert len(cards(calls, WORKER_DL02)) == 2
    assert all(t.tier is Tier.GRID for t in await h.db.resident_tickets(RESIDENT))


async def run_cli(h, monkeypatch, *argv: str) -> int:
    use_database(monkeypatch, h.settings.database)
    monkeypatch.setenv("ADMIN_IDS", "1")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    code = await asyncio.to_thread(main, list(argv))
    # The command dated what it queued by the wall clock; the running bot's clock is the real one too.
    h.clock.now = max(h.clock.now, int(time.time()) + 1)
    return code


async def test_a_removed_worker_is_refused_at_once_and_their_tickets_go_on(harness, monkeypatch, capsys, tmp_path):
    """Failure 4: a worker who left kept receiving cards and could still take and resolve tickets."""
    h = harness
    monkeypatch.chdir(tmp_path)  # no .env here
    worker = h.user(WORKER_DL01)
    await file_ticket(h, h.user(RESIDENT))
    [ticket] = await h.db.resident_tickets(RESIDENT)
    await h.tap(worker, StaffTicketCb(action="take", ticket_id=ticket.id))

    assert await run_cli(h, monkeypatch, "staff", "remove", str(WORKER_DL01)) == 0
    assert "已撤销 501" in capsys.readouterr().out
    # The running bot's outbox finds the rest in the database.
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    calls = h.session.calls[before:]
    assert "不再担任" in joined(calls, WORKER_DL01)
    assert any(isinstance(c, DeleteMyCommands) and c.scope.chat_id == WORKER_DL01 for c in calls)
    village = cards(calls, VILLAGE_DL)
    assert village and "移出" in village[-1]
    ticket = await h.db.get_ticket(ticket.id)
    assert ticket.tier is Tier.VILLAGE and ticket.assignee_id is None
    last = (await h.db.events(ticket.id))[-1]
    assert last.type is EventType.REASSIGNED and last.data["reason"] == "removed"

    calls = await h.tap(worker, StaffTicketCb(action="resolve", ticket_id=ticket.id))
    assert "不再担任工作人员" in joined(calls)
    # New tickets of the grid no longer reach them.
    calls = await file_ticket(h, h.user(RESIDENT + 1), text="新的问题")
    assert not cards(calls, WORKER_DL01) and cards(calls, VILLAGE_DL)


async def test_import_with_replace_makes_the_file_the_staff_list(harness, monkeypatch, capsys, tmp_path):
    h = harness
    monkeypatch.chdir(tmp_path)
    await file_ticket(h, h.user(RESIDENT))
    [ticket] = await h.db.resident_tickets(RESIDENT)
    staff = tmp_path / "staff.csv"
    # 501 is replaced by 511 for DL01; everyone else stays but 601 (the village).
    staff.write_text(
        "telegram_id,name,role,scope\n511,新王网格,grid_worker,DL01\n502,李网格,grid_worker,DL02\n"
        "503,赵网格,grid_worker,NZ01\n701,镇长,official,西岗镇\n801,镇指挥中心,town,西岗镇\n"
        "901,水务局专员,department,水务局\n",
        encoding="utf-8",
    )
    assert await run_cli(h, monkeypatch, "import", "staff", str(staff), "--replace") == 0
    out = capsys.readouterr().out
    assert "已撤销 501" in out and "已撤销 601" in out and "已撤销 502" not in out
    assert await h.db.roles_of(WORKER_DL01) == [] and await h.db.roles_of(VILLAGE_DL) == []
    assert [m.telegram_id for m in await h.db.staff_with_role(Role.GRID_WORKER, "DL01")] == [511]
    # Nobody in DL01 or its village can be reached now: the town command centre holds the ticket.
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    calls = h.session.calls[before:]
    assert (await h.db.get_ticket(ticket.id)).tier is Tier.TOWN and cards(calls, TOWN_STAFF)
    assert "新王网格" in joined(calls, TOWN_STAFF)  # warned: the new worker has not opened the bot

    assert await run_cli(h, monkeypatch, "staff", "list") == 0
    listing = capsys.readouterr().out
    line_511 = next(line for line in listing.splitlines() if line.startswith("511"))
    assert "grid_worker DL01" in line_511 and "打开过机器人：否" in line_511
    line_801 = next(line for line in listing.splitlines() if line.startswith("801"))
    assert "打开过机器人：是" in line_801 and "已屏蔽：否" in line_801
    assert any(line.startswith("1\t") and "ADMIN_IDS" in line for line in listing.splitlines())

    # The new worker opens the bot: the ticket comes back to the grid, card and all.
    calls = await h.send(h.user(511), "/start")
    assert cards(calls, 511) and (await h.db.get_ticket(ticket.id)).tier is Tier.GRID


async def test_a_staff_file_naming_unknown_places_is_refused_whole(harness, monkeypatch, capsys, tmp_path):
    h = harness
    monkeypatch.chdir(tmp_path)
    staff = tmp_path / "staff.csv"
    staff.write_text(
        "telegram_id,name,role,scope\n"
        "520,甲,grid_worker,DL01\n"
        "521,乙,grid_worker,A99\n"
        "522,丙,village,北村\n"
        "523,丁,town,东岗镇\n"
        "524,戊,department,宣传部\n"
        "525,己,admin,西岗镇\n"
        "526,庚,official,东岗镇\n"
        "527,辛,official,\n",
        encoding="utf-8",
    )
    assert await run_cli(h, monkeypatch, "import", "staff", str(staff), "--replace") == 1
    err = capsys.readouterr().err
    for line, word in ((3, "'A99'"), (4, "'北村'"), (5, "'东岗镇'"), (6, "'宣传部'"), (7, "admin 角色不带范围"),
                       (8, "'东岗镇'")):
        assert f"第 {line} 行：" in err and word in err
    assert "第 2 行：" not in err and "第 9 行：" not in err
    assert "中的内容都未导入" in err
    assert await h.db.roles_of(520) == [] and await h.db.roles_of(WORKER_DL01)  # nothing changed


async def test_someone_who_already_wrote_is_reachable_as_soon_as_imported(harness, monkeypatch, capsys, tmp_path):
    h = harness
    monkeypatch.chdir(tmp_path)
    await h.db.upsert_grids([DL03])  # a grid without a worker: its tickets start at the village
    await file_ticket(h, h.user(RESIDENT), grid="DL03", text="没人管的网格")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    assert ticket.tier is Tier.VILLAGE
    neighbour = 1200  # has used the bot as a resident; now becomes the grid's worker
    await h.send(h.user(neighbour), "/my")
    staff = tmp_path / "staff.csv"
    staff.write_text("telegram_id,name,role,scope\n1200,孙网格,grid_worker,DL03\n", encoding="utf-8")
    assert await run_cli(h, monkeypatch, "import", "staff", str(staff)) == 0
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    calls = h.session.calls[before:]
    assert any("没人管的网格" in text for text in cards(calls, neighbour))
    assert any(type(c).__name__ == "SetMyCommands" and c.scope.chat_id == neighbour for c in calls)
    assert (await h.db.get_ticket(ticket.id)).tier is Tier.GRID
    # Importing the same file again sends nothing new.
    assert await run_cli(h, monkeypatch, "import", "staff", str(staff)) == 0
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    assert not to_chat(h.session.calls[before:], neighbour)


async def test_with_nobody_reachable_up_to_the_town_the_admins_get_the_card(harness):
    h = harness
    for person in (WORKER_DL01, VILLAGE_DL, TOWN_STAFF):
        await h.db.mark_unreachable(person)  # all three blocked the bot
    await h.send(h.user(1, "en"), "/help")  # the admin (ADMIN_IDS) has opened the bot
    calls = await file_ticket(h, h.user(RESIDENT), text="谁来管")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    assert ticket.tier is Tier.TOWN and any("谁来管" in text for text in cards(calls, 1))
    warning = joined(calls, 1)
    for name in ("王网格 (grid worker · DL01)", "东里村书记 (village staff · 东里村)",
                 "镇指挥中心 (town command centre staff · 西岗镇)"):
        assert name + ": blocked the bot" in warning


SECOND_WORKER_DL01 = 511


async def test_a_ticket_whose_taker_was_removed_can_be_taken_by_the_worker_left(harness, monkeypatch, capsys,
                                                                               tmp_path):
    """Issue 9's rough edge: the worker who took a ticket is removed; it stayed "in progress" with
    nobody handling it, and the other worker of the grid had no "Take it"."""
    h = harness
    monkeypatch.chdir(tmp_path)  # no .env here
    await h.db.upsert_staff([StaffMember(SECOND_WORKER_DL01, "刘网格", Role.GRID_WORKER, "DL01")])
    await h.send(h.user(SECOND_WORKER_DL01), "/start")
    await file_ticket(h, h.user(RESIDENT))
    [ticket] = await h.db.resident_tickets(RESIDENT)
    await h.tap(h.user(WORKER_DL01), StaffTicketCb(action="take", ticket_id=ticket.id))

    assert await run_cli(h, monkeypatch, "staff", "remove", str(WORKER_DL01), "--role", "grid_worker",
                         "--scope", "DL01") == 0
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    ticket = await h.db.get_ticket(ticket.id)
    assert (ticket.tier, ticket.status, ticket.assignee_id) == (Tier.GRID, Status.NEW, None)
    [card] = [c for c in to_chat(h.session.calls[before:], SECOND_WORKER_DL01) if cards([c], SECOND_WORKER_DL01)]
    take = StaffTicketCb(action="take", ticket_id=ticket.id).pack()
    assert take in [data for _, data in buttons(card)]
    await h.tap(h.user(SECOND_WORKER_DL01), take)
    ticket = await h.db.get_ticket(ticket.id)
    assert (ticket.status, ticket.assignee_id) == (Status.IN_PROGRESS, SECOND_WORKER_DL01)


async def test_a_worker_who_unblocks_the_bot_gets_only_the_cards_they_have_not_had(harness):
    """Issue 9's rough edge: writing again after blocking the bot sent every open card again,
    although the cards sent before the block are still in the chat."""
    h = harness
    await file_ticket(h, h.user(RESIDENT), grid="DL02", text="第一件")
    h.session.fail_next(WORKER_DL02, 403, "Forbidden: bot was blocked by the user")
    await file_ticket(h, h.user(RESIDENT), grid="DL02", text="第二件")  # its card is refused
    first, second = sorted(await h.db.resident_tickets(RESIDENT), key=lambda t: t.id)
    assert (await h.db.get_ticket(first.id)).tier is Tier.VILLAGE  # both went up

    calls = await h.send(h.user(WORKER_DL02), "/queue")  # unblocked, writes again
    got = cards(calls, WORKER_DL02)
    assert len(got) == 1 and "第二件" in got[0]
    assert [t.tier for t in await h.db.resident_tickets(RESIDENT)] == [Tier.GRID, Tier.GRID]  # both back
    calls = await h.send(h.user(WORKER_DL02), "/queue")
    assert not cards(calls, WORKER_DL02)

"""/queue lists every open ticket, paged, overdue first; /start from staff opens their home."""

from __future__ import annotations

from aiogram.methods import EditMessageText

from domain.models import Kind, Role, StaffMember
from domain.service import Draft
from handlers.callbacks import FormCb, GridPickCb, HomeCb, QueuePageCb, StaffTicketCb
from tests.conftest import VILLAGE_DL, WORKER_DL01, buttons, joined, last_buttons, to_chat

HOUR = 3600


async def file_many(h, count, first_resident=2000):
    tickets = h.dp["tickets"]
    filed = []
    for i in range(count):
        ticket, _ = await tickets.file(first_resident + i, Draft(Kind.COMPLAINT, "water", "DL01", f"问题{i}"))
        filed.append(ticket)
    return filed


def numbers(text):
    return [word for word in text.replace("⏰ ", "").split() if word.startswith("XG-")]


async def test_queue_pages_all_open_tickets_overdue_first(harness):
    h = harness
    worker = h.user(WORKER_DL01)
    [oldest] = await file_many(h, 1)
    await h.tap(worker, StaffTicketCb(action="reply", ticket_id=oldest.id))
    await h.send(worker, "马上处理")  # replied: its reply deadline no longer counts
    h.clock.advance(HOUR)
    late = await file_many(h, 2, 3000)  # 2 h to reply
    h.clock.advance(2 * HOUR + 60)  # now these two passed their reply deadline
    await file_many(h, 52, 4000)  # 55 open in all, more than the old silent limit of 50
    await h.dp["outbox"].deliver_due(h.bot)  # the cards of the tickets filed above

    calls = await h.send(worker, "/queue")
    [page] = to_chat(calls, WORKER_DL01)
    assert "未办结工单 55 件，其中超时 2 件" in page.text and "第 1/6 页" in page.text
    listed = numbers(page.text)
    assert len(listed) == 10
    assert listed[:3] == ["XG-{:06d}".format(t.id) for t in [*late, oldest]]
    assert page.text.count("⏰") == 2
    assert [b[0] for b in buttons(page)][-1] == "▶" and "◀" not in [b[0] for b in buttons(page)]

    seen = set(listed)
    for number in range(1, 6):
        calls = await h.tap(worker, QueuePageCb(page=number))
        [edit] = [c for c in to_chat(calls, WORKER_DL01) if isinstance(c, EditMessageText)]
        seen |= set(numbers(edit.text))
    assert len(seen) == 55
    assert numbers(edit.text) and len(numbers(edit.text)) == 5  # the last page
    assert [b[0] for b in buttons(edit)][-1] == "◀"


async def test_queue_in_english_and_empty(harness):
    h = harness
    calls = await h.send(h.user(WORKER_DL01, "en"), "/queue")
    assert "Your queue is empty" in joined(calls, WORKER_DL01)
    await file_many(h, 1)
    calls = await h.send(h.user(WORKER_DL01, "en"), "/queue")
    assert "Open tickets: 1, overdue: 0. Overdue first, then oldest. Page 1 of 1:" in joined(calls, WORKER_DL01)


async def test_a_page_pressed_after_the_queue_shrank_shows_the_last_page(harness):
    h = harness
    await file_many(h, 11)
    calls = await h.tap(h.user(WORKER_DL01), QueuePageCb(page=5))
    [edit] = [c for c in to_chat(calls, WORKER_DL01) if isinstance(c, EditMessageText)]
    assert "第 2/2 页" in edit.text


async def test_staff_start_shows_the_home_not_the_grid_finder(harness):
    h = harness
    await file_many(h, 3)
    h.clock.advance(3 * HOUR)
    await h.dp["outbox"].deliver_due(h.bot)  # the cards of the tickets filed above
    calls = await h.send(h.user(WORKER_DL01), "/start")
    out = joined(calls, WORKER_DL01)
    assert "请输入" not in out and "网格员 · DL01" in out
    assert "待办工单 3 件，其中超时 3 件" in out
    assert "/queue" in out and "/t" in out and "/qr" in out
    assert last_buttons(calls, WORKER_DL01) == [("🏠 以居民身份反映问题", HomeCb(action="resident").pack())]

    # The resident's menu is one tap away; a worker can file like anyone.
    calls = await h.tap(h.user(WORKER_DL01), HomeCb(action="resident"))
    assert "网格" in joined(calls, WORKER_DL01)
    calls = await h.send(h.user(WORKER_DL01), "东里")
    assert GridPickCb(code="DL01").pack() in {b[1] for b in last_buttons(calls, WORKER_DL01)}


async def test_staff_home_in_english_for_several_roles(harness):
    h = harness
    await h.db.upsert_staff([StaffMember(VILLAGE_DL, "东里村书记", Role.OFFICIAL, "西岗镇")])
    calls = await h.send(h.user(VILLAGE_DL, "en"), "/start")
    out = joined(calls, VILLAGE_DL)
    assert "village staff · 东里村" in out and "official · 西岗镇" in out
    assert "Open tickets for you: 0, of them overdue: 0" in out
    assert "/stats" in out


async def test_deep_link_still_opens_the_code_for_staff(harness):
    h = harness
    calls = await h.send(h.user(WORKER_DL01), "/start g_DL02")
    out = joined(calls, WORKER_DL01)
    assert "东里二网格" in out and "您的角色" not in out


async def test_resident_start_is_unchanged(harness):
    h = harness
    calls = await h.send(h.user(1001), "/start")
    assert "请输入" in joined(calls, 1001) or "网格" in joined(calls, 1001)
    assert FormCb(action="confirm").pack() not in {b[1] for b in last_buttons(calls, 1001)}

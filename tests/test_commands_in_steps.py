"""A /command typed into a free-text step is never taken as the step's text (issue 9, failure 2):
a command the bot knows runs and the step is left with one word; an unknown one is refused."""

from __future__ import annotations

from domain.models import EventType, Role, StaffMember, Status
from handlers.callbacks import RateCb, ResidentTicketCb, SiteInspectCb, StaffTicketCb
from tests.conftest import TOWN_STAFF, WORKER_DL01, joined, to_chat
from tests.test_codes import INSPECTOR, SHOP, SITE, rate
from tests.test_ticket_loop import RESIDENT, file_ticket


async def filed(h, resident):
    await file_ticket(h, resident)
    return (await h.db.resident_tickets(RESIDENT))[0]


async def test_worker_typing_my_in_the_reply_step_sends_nothing_to_the_resident(harness):
    h = harness
    ticket = await filed(h, h.user(RESIDENT))
    worker = h.user(WORKER_DL01)
    await h.tap(worker, StaffTicketCb(action="reply", ticket_id=ticket.id))
    calls = await h.send(worker, "/my")
    assert not to_chat(calls, RESIDENT)
    out = joined(calls, WORKER_DL01)
    assert "已退出上一步" in out and "您还没有工单" in out  # /my ran
    assert EventType.REPLIED not in [e.type for e in await h.db.events(ticket.id)]
    # The step is left: plain text now is not a reply either.
    calls = await h.send(worker, "随便说一句")
    assert not to_chat(calls, RESIDENT)


async def test_staff_start_then_queue_runs_the_queue(harness):
    h = harness
    await filed(h, h.user(RESIDENT))
    worker = h.user(WORKER_DL01)
    await h.send(worker, "/start")
    calls = await h.send(worker, "/queue")
    out = joined(calls, WORKER_DL01)
    assert "请输入网格名称中的部分文字" not in out
    assert "XG-000001" in out


async def test_resident_in_grid_search_can_run_my(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await h.send(resident, "/start")
    calls = await h.send(resident, "/my")
    out = joined(calls, RESIDENT)
    assert "Left the previous step" in out and "You have no tickets yet" in out
    assert await h.dp.storage.get_state(key_for(h, RESIDENT)) is None


def key_for(h, user_id):
    from aiogram.fsm.storage.base import StorageKey

    return StorageKey(bot_id=h.bot.id, chat_id=user_id, user_id=user_id)


async def test_unknown_command_is_refused_and_the_step_stays(harness):
    h = harness
    ticket = await filed(h, h.user(RESIDENT))
    worker = h.user(WORKER_DL01, "en")
    await h.tap(worker, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    calls = await h.send(worker, "/urgent please")
    assert "Commands are not text" in joined(calls, WORKER_DL01)
    assert (await h.db.get_ticket(ticket.id)).tier.value == "grid"
    # Still in the step: the reason now escalates.
    await h.send(worker, "需要村里协调")
    assert (await h.db.get_ticket(ticket.id)).tier.value == "village"


async def test_known_command_in_escalation_and_resolution_steps(harness):
    h = harness
    ticket = await filed(h, h.user(RESIDENT))
    worker = h.user(WORKER_DL01)
    await h.tap(worker, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    calls = await h.send(worker, "/queue")
    assert "已退出上一步" in joined(calls, WORKER_DL01) and "XG-000001" in joined(calls, WORKER_DL01)
    assert (await h.db.get_ticket(ticket.id)).tier.value == "grid"

    await h.tap(worker, StaffTicketCb(action="resolve", ticket_id=ticket.id))
    calls = await h.send(worker, "/qr")
    assert "已退出上一步" in joined(calls, WORKER_DL01)
    assert (await h.db.get_ticket(ticket.id)).status is Status.NEW


async def test_help_and_lang_keep_the_step(harness):
    h = harness
    ticket = await filed(h, h.user(RESIDENT))
    worker = h.user(WORKER_DL01, "en")
    await h.tap(worker, StaffTicketCb(action="reply", ticket_id=ticket.id))
    calls = await h.send(worker, "/help")
    assert "Left the previous step" not in joined(calls, WORKER_DL01)
    calls = await h.send(worker, "Which building?")
    assert "Which building?" in joined(calls, RESIDENT)


async def test_resident_answer_and_rating_comment_steps(harness):
    h = harness
    resident = h.user(RESIDENT)
    ticket = await filed(h, resident)
    worker = h.user(WORKER_DL01)
    await h.tap(worker, StaffTicketCb(action="ask", ticket_id=ticket.id))
    await h.send(worker, "几号楼？")
    await h.tap(resident, ResidentTicketCb(action="answer", ticket_id=ticket.id))
    calls = await h.send(resident, "/my")
    assert not to_chat(calls, WORKER_DL01)
    assert "已退出上一步" in joined(calls, RESIDENT)

    await h.tap(worker, StaffTicketCb(action="resolve", ticket_id=ticket.id))
    await h.send(worker, "已修好")
    await h.send(worker, "✅ 完成")
    await h.tap(resident, ResidentTicketCb(action="solved", ticket_id=ticket.id))
    await h.tap(resident, RateCb(ticket_id=ticket.id, stars=4))
    calls = await h.send(resident, "/lang")  # keeps the step
    calls = await h.send(resident, "/nonsense")
    assert "命令不是文字" in joined(calls, RESIDENT)
    calls = await h.send(resident, "/skip")  # the step's own command still works
    assert "谢谢" in joined(calls, RESIDENT)
    assert (await h.db.get_ticket(ticket.id)).rating_comment is None


async def test_command_in_the_description_leaves_the_form(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await h.send(resident, "/start g_DL01")
    from handlers.callbacks import CategoryCb, KindCb

    await h.tap(resident, KindCb(kind="complaint"))
    await h.tap(resident, CategoryCb(code="water"))
    calls = await h.send(resident, "/stats")
    out = joined(calls, RESIDENT)
    assert "Left the previous step" in out
    assert await h.dp.storage.get_state(key_for(h, RESIDENT)) is None


async def test_town_staff_start_in_step_still_opens_a_code(harness):
    h = harness
    ticket = await filed(h, h.user(RESIDENT))
    town = h.user(TOWN_STAFF)
    # Reaches the town by two escalations.
    await h.tap(h.user(WORKER_DL01), StaffTicketCb(action="escalate", ticket_id=ticket.id))
    await h.send(h.user(WORKER_DL01), "村里处理")
    await h.tap(h.user(601), StaffTicketCb(action="escalate", ticket_id=ticket.id))
    await h.send(h.user(601), "镇里处理")
    await h.tap(town, StaffTicketCb(action="reply", ticket_id=ticket.id))
    calls = await h.send(town, "/start g_DL02")
    assert "东里二网格" in joined(calls, TOWN_STAFF)
    assert not to_chat(calls, RESIDENT)


async def test_shop_comment_and_inspection_note_steps(harness):
    h = harness
    await h.db.upsert_shops([SHOP])
    await h.db.upsert_sites([SITE])
    await h.db.upsert_staff([StaffMember(INSPECTOR, "张监管", Role.INSPECTOR, "西岗镇")])
    resident = h.user(RESIDENT, "en")
    await rate(h, resident)
    calls = await h.send(resident, "/my")  # in the comment step
    assert "Left the previous step" in joined(calls, RESIDENT)
    assert [r[0] for r in await h.db._all("SELECT comment FROM shop_ratings")] == [None]

    inspector = h.user(INSPECTOR, "en")
    await h.send(inspector, f"/start s_{SITE.code}")
    await h.tap(inspector, SiteInspectCb(code=SITE.code))
    calls = await h.send(inspector, "/siteqr")
    assert "Left the previous step" in joined(calls, INSPECTOR)
    assert await h.db.site_inspections(SITE.code) == []

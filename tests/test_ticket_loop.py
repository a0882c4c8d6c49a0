"""The backbone, end to end: a resident files a ticket, the grid worker handles it, the resident
confirms and rates it. Everything goes through the real dispatcher and a fake Bot API."""

from __future__ import annotations

from aiogram.methods import SendLocation, SendMessage

from domain.models import EventType, Status
from handlers.callbacks import (
    CategoryCb,
    FormCb,
    KindCb,
    MeTooCb,
    RateCb,
    ResidentTicketCb,
    StaffTicketCb,
)
from tests.conftest import WORKER_DL01, WORKER_DL02, buttons, joined, last_buttons, to_chat

RESIDENT = 1001


async def file_ticket(h, user, grid="DL01", category="water", text="楼下水管漏水三天了", photos=0,
                      location=None, share=False, lang="zh", kind="complaint"):
    """Walks the whole form; returns the calls of the confirming tap."""
    await h.send(user, f"/start g_{grid}")
    await h.tap(user, KindCb(kind=kind))
    calls = await h.tap(user, CategoryCb(code=category))
    if FormCb(action="new").pack() in {b[1] for b in last_buttons(calls, user.id)}:
        await h.tap(user, FormCb(action="new"))  # open tickets were offered: file a new one anyway
    await h.send(user, text)
    for i in range(photos):
        await h.photo(user, f"photo{i}")
    if location:
        await h.location(user, *location)
    done = "✅ 完成" if lang == "zh" else "✅ Done"
    await h.send(user, done)
    if share:
        await h.tap(user, FormCb(action="contact"))
    return await h.tap(user, FormCb(action="confirm"))


async def test_resident_files_and_worker_gets_card(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    calls = await h.send(resident, "/start g_DL01")
    out = joined(calls, RESIDENT)
    assert "东里一网格" in out and "东里村" in out and "王网格" in out
    assert [b[0] for b in last_buttons(calls, RESIDENT)] == ["Complaint", "Public report", "Suggestion"]

    calls = await h.tap(resident, KindCb(kind="report"))
    category_buttons = last_buttons(calls, RESIDENT)
    assert len(category_buttons) >= 20
    assert ("Water supply", CategoryCb(code="water").pack()) in category_buttons

    calls = await h.tap(resident, CategoryCb(code="water"))
    assert "Describe the problem" in joined(calls, RESIDENT)
    await h.send(resident, "Water pipe leaking in building 3")
    await h.photo(resident, "p1")
    calls = await h.location(resident, 34.81, 117.17)
    assert "Location added" in joined(calls, RESIDENT)
    calls = await h.send(resident, "✅ Done")
    summary = joined(calls, RESIDENT)
    assert "Public report" in summary and "Water supply" in summary and "Photos: 1" in summary
    assert "Water pipe leaking in building 3" in summary
    assert [b[1] for b in last_buttons(calls, RESIDENT)][0] == FormCb(action="confirm").pack()

    calls = await h.tap(resident, FormCb(action="confirm"))
    ticket = await h.db.get_ticket((await h.db.resident_tickets(RESIDENT))[0].id)
    assert "XG-{:06d}".format(ticket.id) in joined(calls, RESIDENT)
    assert ticket.status is Status.NEW and len(ticket.attachments) == 1 and ticket.lat == 34.81

    worker_calls = to_chat(calls, WORKER_DL01)
    # photo, location, then the card with buttons, in this order
    assert [type(c) for c in worker_calls][-2:] == [SendLocation, SendMessage]
    card = worker_calls[-1]
    assert "Water pipe leaking" in card.text and "东里一网格" in card.text
    assert "User1001" not in card.text and "user1001" not in card.text  # contact not shared
    assert {b[1] for b in buttons(card)} >= {
        StaffTicketCb(action="take", ticket_id=ticket.id).pack(),
        StaffTicketCb(action="resolve", ticket_id=ticket.id).pack(),
    }
    assert not to_chat(calls, WORKER_DL02)  # another grid's worker gets nothing


async def test_full_loop_reply_answer_resolve_confirm_rate(harness):
    h = harness
    resident = h.user(RESIDENT)
    worker = h.user(WORKER_DL01)
    await file_ticket(h, resident, photos=2)
    ticket = (await h.db.resident_tickets(RESIDENT))[0]

    calls = await h.tap(worker, StaffTicketCb(action="take", ticket_id=ticket.id))
    assert "处理中" in joined(calls, RESIDENT)

    h.clock.advance(1800)
    await h.tap(worker, StaffTicketCb(action="reply", ticket_id=ticket.id))
    calls = await h.send(worker, "请问是几号楼？")
    reply = to_chat(calls, RESIDENT)[-1]
    assert "请问是几号楼？" in reply.text
    assert buttons(reply)[0][1] == ResidentTicketCb(action="answer", ticket_id=ticket.id).pack()

    await h.tap(resident, ResidentTicketCb(action="answer", ticket_id=ticket.id))
    calls = await h.send(resident, "3号楼")
    assert "3号楼" in joined(calls, WORKER_DL01)

    h.clock.advance(3600)
    await h.tap(worker, StaffTicketCb(action="resolve", ticket_id=ticket.id))
    await h.send(worker, "水管已更换")
    await h.photo(worker, "after1")
    calls = await h.send(worker, "✅ 完成")
    ticket = await h.db.get_ticket(ticket.id)
    assert ticket.status is Status.RESOLVED
    resident_msgs = to_chat(calls, RESIDENT)
    assert resident_msgs[0].photo == "after1"  # the "after" photo, then the question
    question = resident_msgs[-1]
    assert "水管已更换" in question.text
    assert {b[1] for b in buttons(question)} == {
        ResidentTicketCb(action="solved", ticket_id=ticket.id).pack(),
        ResidentTicketCb(action="unsolved", ticket_id=ticket.id).pack(),
    }
    assert ticket.first_reply_at == h.clock.now - 3600
    assert ticket.resolved_at == h.clock.now

    calls = await h.tap(resident, ResidentTicketCb(action="solved", ticket_id=ticket.id))
    assert len(last_buttons(calls, RESIDENT)) == 5
    await h.tap(resident, RateCb(ticket_id=ticket.id, stars=5))
    calls = await h.send(resident, "很满意")
    assert "5" in joined(calls, WORKER_DL01) and "很满意" in joined(calls, WORKER_DL01)

    ticket = await h.db.get_ticket(ticket.id)
    assert ticket.status is Status.CLOSED and ticket.rating == 5 and ticket.rating_comment == "很满意"
    kinds = [e.type for e in await h.db.events(ticket.id)]
    # staff closing and the resident confirming are separate events
    assert EventType.RESOLVED in kinds and EventType.CONFIRMED in kinds
    assert kinds.index(EventType.RESOLVED) < kinds.index(EventType.CONFIRMED)


async def test_me_too_follows_instead_of_filing(harness):
    h = harness
    first, second = h.user(RESIDENT), h.user(1002, "en")
    await file_ticket(h, first, kind="report")  # only public reports and suggestions are offered
    ticket = (await h.db.resident_tickets(RESIDENT))[0]

    await h.send(second, "/start g_DL01")
    await h.tap(second, KindCb(kind="complaint"))
    calls = await h.tap(second, CategoryCb(code="water"))
    assert "XG-{:06d}".format(ticket.id) in joined(calls, 1002)
    calls = await h.tap(second, MeTooCb(ticket_id=ticket.id))
    assert "2 residents" in joined(calls, 1002)
    assert len(await h.db.resident_tickets(1002)) == 1  # follows, did not file a new one
    assert (await h.db.get_ticket(ticket.id)).concerned_residents == 2

    calls = await h.tap(h.user(WORKER_DL01), StaffTicketCb(action="take", ticket_id=ticket.id))
    assert "In progress" in joined(calls, 1002)  # the follower gets updates too


async def test_my_lists_tickets_with_history(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await file_ticket(h, resident, lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    h.clock.advance(7200)
    calls = await h.send(resident, "/my")
    assert "XG-{:06d} · New · 2 h 0 min ago".format(ticket.id) in joined(calls, RESIDENT)
    calls = await h.tap(resident, ResidentTicketCb(action="view", ticket_id=ticket.id))
    assert "History:" in joined(calls, RESIDENT) and "Filed" in joined(calls, RESIDENT)

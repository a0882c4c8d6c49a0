"""One card, complete and current, wherever it is opened; /t; internal notes that residents never read."""

from __future__ import annotations

from aiogram.methods import EditMessageText, SendLocation, SendMessage, SendPhoto

from bot.texts import MESSAGE_LIMIT
from domain.text import telegram_length
from handlers.callbacks import HandOverCb, ResidentTicketCb, StaffTicketCb
from tests.test_supervision import confirmations
from tests.conftest import (
    TOWN_STAFF,
    VILLAGE_DL,
    WORKER_DL01,
    WORKER_DL02,
    WORKER_NZ01,
    buttons,
    joined,
    to_chat,
)
from tests.test_ticket_loop import RESIDENT, file_ticket


async def filed(h, resident=None, **kwargs):
    await file_ticket(h, resident or h.user(RESIDENT), **kwargs)
    return (await h.db.resident_tickets(RESIDENT))[0]


def edits(calls, chat_id):
    return [c for c in to_chat(calls, chat_id) if isinstance(c, EditMessageText)]


async def test_take_edits_the_card_text_to_the_new_status(harness):
    h = harness
    ticket = await filed(h)
    calls = await h.tap(h.user(WORKER_DL01), StaffTicketCb(action="take", ticket_id=ticket.id))
    [edit] = edits(calls, WORKER_DL01)
    assert "处理中" in edit.text and "待受理" not in edit.text
    assert "受理（王网格）" in edit.text  # who did it, in the history
    assert StaffTicketCb(action="take", ticket_id=ticket.id).pack() not in {b[1] for b in buttons(edit)}


async def test_reply_and_resolve_refresh_the_card_they_started_on(harness):
    h = harness
    ticket = await filed(h)
    worker = h.user(WORKER_DL01, "en")
    await h.tap(worker, StaffTicketCb(action="reply", ticket_id=ticket.id))
    calls = await h.send(worker, "We will come tomorrow")
    [edit] = edits(calls, WORKER_DL01)
    assert "Status: In progress" in edit.text and "Replied (王网格): We will come tomorrow" in edit.text

    await h.tap(worker, StaffTicketCb(action="resolve", ticket_id=ticket.id))
    await h.send(worker, "Pipe replaced")
    calls = await h.send(worker, "✅ Done")
    [edit] = edits(calls, WORKER_DL01)
    assert "Resolved, awaiting confirmation" in edit.text
    assert [b[1] for b in buttons(edit)] == [StaffTicketCb(action="note", ticket_id=ticket.id).pack()]


async def test_hand_over_refreshes_the_card_it_started_on(harness):
    """Issue 9's rough edge: the grid picker is a message of its own, and after the reason the card
    still offered the buttons of a ticket that had left the grid."""
    h = harness
    ticket = await filed(h)
    worker = h.user(WORKER_DL01, "en")
    calls = await h.tap(worker, StaffTicketCb(action="handover", ticket_id=ticket.id))
    [picker] = [c for c in to_chat(calls, WORKER_DL01) if isinstance(c, SendMessage)]
    card_id = picker.reply_parameters.message_id  # the picker answers the card
    await h.tap(worker, HandOverCb(ticket_id=ticket.id, grid_code="DL02"), reply_to=card_id)
    calls = await h.send(worker, "Building 7 belongs to DL02")
    [edit] = edits(calls, WORKER_DL01)
    assert edit.message_id == card_id and "东里二网格" in edit.text
    assert [b[1] for b in buttons(edit)] == [StaffTicketCb(action="note", ticket_id=ticket.id).pack()]


async def test_card_history_says_who_moved_it_from_where_to_where(harness):
    h = harness
    ticket = await filed(h, photos=2, location=(34.81, 117.17))
    worker = h.user(WORKER_DL01)
    await h.tap(worker, StaffTicketCb(action="handover", ticket_id=ticket.id))
    await h.tap(worker, HandOverCb(ticket_id=ticket.id, grid_code="DL02"))
    calls = await h.send(worker, "3号楼属于二网格")  # the hand-over asks for a reason
    card = to_chat(calls, WORKER_DL02)[-1].text
    assert "转交：东里一网格 → 东里二网格（王网格）：3号楼属于二网格" in card
    assert "照片：2" in card and "时限：" in card

    other = h.user(WORKER_DL02)
    await h.tap(other, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    calls = await h.send(other, "需要村里协调")
    card = to_chat(calls, VILLAGE_DL)[-1].text
    assert "上报：网格 → 村（李网格）：需要村里协调" in card
    assert "转交：东里一网格 → 东里二网格" in card


async def test_automatic_escalation_is_on_the_card_and_the_holder_is_told(harness):
    h = harness
    ticket = await filed(h)
    await h.tap(h.user(WORKER_DL01), StaffTicketCb(action="take", ticket_id=ticket.id))
    h.clock.advance(3 * 24 * 3600)
    await h.dp["tickets"].run_deadlines()
    calls = []
    await h.dp["outbox"].deliver_due(h.bot)
    calls = h.session.calls
    told = joined(calls, WORKER_DL01)
    assert "已超过处理时限，已自动上报至村" in told
    card = to_chat(calls, VILLAGE_DL)[-1].text
    assert "超时自动上报（处理时限已过）：网格 → 村" in card


async def test_queue_view_sends_the_same_card_with_photos_and_location(harness):
    h = harness
    ticket = await filed(h, photos=1, location=(34.81, 117.17))
    pushed = [c for c in to_chat(h.session.calls, WORKER_DL01) if isinstance(c, SendMessage)][-1]
    calls = await h.tap(h.user(WORKER_DL01), StaffTicketCb(action="view", ticket_id=ticket.id))
    sent = to_chat(calls, WORKER_DL01)
    assert [type(c) for c in sent] == [SendPhoto, SendLocation, SendMessage]
    assert sent[-1].text == pushed.text and buttons(sent[-1]) == buttons(pushed)


async def test_t_opens_tickets_in_scope_and_refuses_others(harness):
    h = harness
    ticket = await filed(h)
    number = "XG-{:06d}".format(ticket.id)
    calls = await h.send(h.user(WORKER_DL01), f"/t {number}")
    assert number in joined(calls, WORKER_DL01) and "楼下水管漏水三天了" in joined(calls, WORKER_DL01)
    calls = await h.send(h.user(TOWN_STAFF), f"/t {ticket.id}")  # the town sees its area, without actions
    card = to_chat(calls, TOWN_STAFF)[-1]
    assert number in card.text
    assert [b[1] for b in buttons(card)] == [StaffTicketCb(action="note", ticket_id=ticket.id).pack()]
    calls = await h.send(h.user(1, "en"), f"/t xg-{ticket.id}")  # an admin: everything, with actions
    assert StaffTicketCb(action="take", ticket_id=ticket.id).pack() in {b[1] for b in buttons(to_chat(calls, 1)[-1])}

    for user_id in (WORKER_NZ01, 1002):  # another grid's worker, a stranger
        calls = await h.send(h.user(user_id, "en"), f"/t {number}")
        out = joined(calls, user_id)
        assert "You cannot open ticket" in out and "楼下水管" not in out
    calls = await h.send(h.user(1002, "en"), "/t XG-999999")
    assert "You cannot open ticket XG-999999" in joined(calls, 1002)
    calls = await h.send(h.user(1002, "en"), "/t")
    assert "/t XG-000123" in joined(calls, 1002)

    calls = await h.send(h.user(RESIDENT, "en"), f"/t {number}")
    out = joined(calls, RESIDENT)
    assert number in out and "History:" in out
    assert ResidentTicketCb(action="add", ticket_id=ticket.id).pack() in {b[1] for b in buttons(to_chat(calls, RESIDENT)[-1])}


async def test_internal_note_only_staff_see(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    ticket = await filed(h, resident, lang="en")
    worker = h.user(WORKER_DL01, "en")
    await h.tap(worker, StaffTicketCb(action="note", ticket_id=ticket.id))
    calls = await h.send(worker, "Neighbour says the landlord is away")
    assert not to_chat(calls, RESIDENT)
    assert "Only staff see it" in joined(calls, WORKER_DL01)
    assert await confirmations(h, WORKER_DL01) == ["note"]  # written to the outbox with the note
    [edit] = edits(calls, WORKER_DL01)
    assert "📝 Internal note (王网格): Neighbour says the landlord is away" in edit.text

    await h.tap(worker, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    await h.send(worker, "Secret escalation reason")
    # Staff of the next tier read both on the card.
    card = to_chat(h.session.calls, VILLAGE_DL)[-1].text
    assert "landlord is away" in card and "Secret escalation reason" in card

    # The resident's history: plain steps, no internal words.
    calls = await h.tap(resident, ResidentTicketCb(action="view", ticket_id=ticket.id))
    view = joined(calls, RESIDENT)
    assert "Escalated: grid → village" in view
    assert "landlord" not in view and "Secret" not in view and "Internal note" not in view
    assert "王网格" not in view
    # Every message the resident ever got is free of them too.
    everything = joined(h.session.calls, RESIDENT)
    assert "landlord" not in everything and "Secret" not in everything


async def test_note_refused_outside_the_area(harness):
    h = harness
    ticket = await filed(h)
    calls = await h.tap(h.user(WORKER_NZ01), StaffTicketCb(action="note", ticket_id=ticket.id))
    assert "不在您的辖区" in joined(calls) or "不能" in joined(calls)
    assert [e.type.value for e in await h.db.events(ticket.id)] == ["created"]


async def test_long_history_still_fits_one_message(harness):
    h = harness
    ticket = await filed(h, text="漏" * 3000)
    worker = h.user(WORKER_DL01)
    for i in range(40):
        await h.tap(worker, StaffTicketCb(action="note", ticket_id=ticket.id))
        await h.send(worker, f"#{i} " + "𠀀" * 150)  # a character outside the BMP counts twice
    calls = await h.tap(worker, StaffTicketCb(action="view", ticket_id=ticket.id))
    card = to_chat(calls, WORKER_DL01)[-1].text
    assert telegram_length(card) <= MESSAGE_LIMIT
    assert "#39 " in card  # the newest entries are kept (each note cut to 200 UTF-16 units)
    assert "更早的" in card


async def test_resident_reads_a_plain_line_where_it_went_never_the_reason(harness):
    h = harness
    ticket = await filed(h)
    worker = h.user(WORKER_DL01)
    await h.tap(worker, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    calls = await h.send(worker, "内部原因：网格员人手不足")
    told = joined(calls, RESIDENT)
    assert "已转至东里村委会办理" in told and "人手不足" not in told
    await h.tap(h.user(VILLAGE_DL), StaffTicketCb(action="escalate", ticket_id=ticket.id))
    await h.send(h.user(VILLAGE_DL), "需要镇里协调")
    h.clock.advance(120)  # a resident gets at most one message a minute per ticket
    await h.dp["outbox"].deliver_due(h.bot)
    assert "已转至西岗镇综合指挥中心办理" in joined(h.session.calls, RESIDENT)


async def test_hand_over_line_in_english(harness):
    h = harness
    await file_ticket(h, h.user(RESIDENT, "en"), lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    worker = h.user(WORKER_DL01)
    await h.tap(worker, StaffTicketCb(action="handover", ticket_id=ticket.id))
    await h.tap(worker, HandOverCb(ticket_id=ticket.id, grid_code="DL02"))
    calls = await h.send(worker, "3号楼属于二网格")  # the hand-over asks for a reason
    assert "It is now handled by 东里二网格." in joined(calls, RESIDENT)
    assert "3号楼" not in joined(calls, RESIDENT)  # the reason is internal

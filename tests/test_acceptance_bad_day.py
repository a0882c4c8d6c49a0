"""Acceptance (issue 11): a bad day, as users have it. A worker who works a ticket from cards two
days old, forged presses with 20-digit ids on every ticket button, text made of angry faces and
text made of nothing."""

from __future__ import annotations

import pytest
from aiogram.methods import AnswerCallbackQuery, SendMessage

from domain.models import EventType, Status, Tier
from handlers.callbacks import CategoryCb, FormCb, KindCb, RateCb, ResidentTicketCb, StaffTicketCb
from tests.conftest import VILLAGE_DL, WORKER_DL01, joined, last_buttons, to_chat
from tests.test_ticket_loop import file_ticket

RESIDENT = 1001
TWENTY_DIGITS = "1" * 20
NOT_VALID = "此按钮已失效，或不是给您使用的。"
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u2800\u3164"


def answers(calls) -> list[str]:
    return [c.text for c in calls if isinstance(c, AnswerCallbackQuery)]


async def test_a_ticket_worked_start_to_end_from_messages_two_days_old(harness):
    """Every press arrives with an InaccessibleMessage; each change is made once and told in a new
    message with the new buttons."""
    h = harness
    resident, worker = h.user(RESIDENT), h.user(WORKER_DL01)
    await file_ticket(h, resident)
    [ticket] = await h.db.resident_tickets(RESIDENT)
    h.clock.advance(49 * 3600)
    calls = await h.tap(worker, StaffTicketCb(action="take", ticket_id=ticket.id), message="old")
    assert (await h.db.get_ticket(ticket.id)).status is Status.IN_PROGRESS
    assert answers(calls) and StaffTicketCb(action="resolve", ticket_id=ticket.id).pack() in {
        data for _, data in last_buttons(calls, WORKER_DL01)}
    await h.tap(worker, StaffTicketCb(action="resolve", ticket_id=ticket.id), message="old")
    await h.send(worker, "已更换水管")
    calls = await h.send(worker, "✅ 完成")
    assert (await h.db.get_ticket(ticket.id)).status is Status.RESOLVED
    assert "已更换水管" in joined(calls, RESIDENT)
    h.clock.advance(49 * 3600)
    calls = await h.tap(resident, ResidentTicketCb(action="solved", ticket_id=ticket.id), message="old")
    rate = [data for _, data in last_buttons(calls, RESIDENT) if data and data.startswith("rate:")]
    assert len(rate) == 5
    calls = await h.tap(resident, RateCb(ticket_id=ticket.id, stars=5), message="old")
    assert (await h.db.get_ticket(ticket.id)).rating == 5
    assert not [c for c in calls if type(c).__name__.startswith("Edit")]  # nothing edited that cannot be


@pytest.mark.parametrize("data", [
    f"st:take:{TWENTY_DIGITS}", f"st:resolve:{TWENTY_DIGITS}", f"st:escalate:{TWENTY_DIGITS}",
    f"st:view:{TWENTY_DIGITS}", f"rt:view:{TWENTY_DIGITS}", f"rt:solved:{TWENTY_DIGITS}",
    f"rate:{TWENTY_DIGITS}:5", f"dep:{TWENTY_DIGITS}:0", f"ho:{TWENTY_DIGITS}:DL02", f"metoo:{TWENTY_DIGITS}",
    f"qp:{TWENTY_DIGITS}", "st:take:-1", "st:take:01",
])
async def test_a_forged_press_with_a_20_digit_id_is_answered_not_valid(harness, data):
    h = harness
    await file_ticket(h, h.user(RESIDENT))
    for person in (h.user(WORKER_DL01), h.user(RESIDENT), h.user(1)):
        calls = await h.tap(person, data)
        assert answers(calls) == [NOT_VALID], (person.id, calls)
    [ticket] = await h.db.resident_tickets(RESIDENT)
    assert ticket.status is Status.NEW  # nothing changed


async def test_1995_angry_faces(harness):
    """As a description: the resident is told it is too long as Telegram counts it and may try
    again; in a staff reply and an escalation reason: refused or delivered, never a refused request
    nor a card dropped."""
    h = harness
    resident, worker = h.user(RESIDENT), h.user(WORKER_DL01)
    await h.send(resident, "/start g_DL01")
    await h.tap(resident, KindCb(kind="complaint"))
    await h.tap(resident, CategoryCb(code="water"))
    calls = await h.send(resident, "😡" * 1995)
    assert "3990" in joined(calls, RESIDENT) and not await h.db.resident_tickets(RESIDENT)
    await h.send(resident, "😡" * 1400 + "水管漏了")  # 2,804 units: within the limit
    await h.send(resident, "✅ 完成")
    calls = await h.tap(resident, FormCb(action="confirm"))
    [ticket] = await h.db.resident_tickets(RESIDENT)
    assert [c for c in to_chat(calls, WORKER_DL01) if isinstance(c, SendMessage)], "the worker's card"

    await h.tap(worker, StaffTicketCb(action="reply", ticket_id=ticket.id))
    calls = await h.send(worker, "😡" * 1995)
    assert not [e for e in await h.db.events(ticket.id) if e.type is EventType.REPLIED]
    assert joined(calls, WORKER_DL01)  # told why
    await h.tap(worker, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    calls = await h.send(worker, "😡" * 750)  # 1,500 units: at the limit
    assert (await h.db.get_ticket(ticket.id)).tier is Tier.VILLAGE
    assert [c for c in to_chat(calls, VILLAGE_DL) if isinstance(c, SendMessage)], "the village's card"
    assert not h.session.refused


async def test_zero_width_text_is_no_text_anywhere(harness):
    h = harness
    resident, worker = h.user(RESIDENT), h.user(WORKER_DL01)
    await h.send(resident, "/start g_DL01")
    await h.tap(resident, KindCb(kind="complaint"))
    await h.tap(resident, CategoryCb(code="water"))
    await h.send(resident, INVISIBLE)
    await h.send(resident, "✅ 完成")
    assert not await h.db.resident_tickets(RESIDENT)

    await file_ticket(h, resident)
    [ticket] = await h.db.resident_tickets(RESIDENT)
    await h.tap(worker, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    await h.send(worker, INVISIBLE)
    assert (await h.db.get_ticket(ticket.id)).tier is Tier.GRID  # a reason is required
    await h.send(worker, "/cancel")
    await h.tap(worker, StaffTicketCb(action="ask", ticket_id=ticket.id))
    await h.send(worker, "请问具体是几号楼？")
    await h.tap(resident, ResidentTicketCb(action="answer", ticket_id=ticket.id))
    calls = await h.send(resident, INVISIBLE)
    assert not [e for e in await h.db.events(ticket.id) if e.type is EventType.RESIDENT_MESSAGE]
    assert INVISIBLE not in joined(h.session.calls, WORKER_DL01)
    await h.tap(worker, StaffTicketCb(action="note", ticket_id=ticket.id))
    await h.send(worker, INVISIBLE)
    assert not [e for e in await h.db.events(ticket.id) if e.type is EventType.NOTE]

"""Buttons pressed on messages older than 48 hours (Telegram sends an InaccessibleMessage, which
cannot be edited) or on inline messages (no message at all): every action is done whole and told."""

from __future__ import annotations

from aiogram.methods import AnswerCallbackQuery, EditMessageReplyMarkup, SendMessage

from domain.models import Status, Tier
from handlers.callbacks import DepartmentCb, FormCb, ResidentTicketCb, StaffTicketCb
from tests.conftest import TOWN_STAFF, WORKER_DL01, buttons, joined, last_buttons, to_chat
from tests.test_reliability import start_form
from tests.test_ticket_loop import file_ticket

RESIDENT = 1001


def answered(calls) -> bool:
    return any(isinstance(c, AnswerCallbackQuery) for c in calls)


async def test_submit_on_an_old_summary_files_and_tells_the_number(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await start_form(h, resident)
    await h.send(resident, "✅ Done")
    calls = await h.tap(resident, FormCb(action="confirm"), message="old")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    assert "Your ticket number is <b>XG-{:06d}</b>".format(ticket.id) in joined(calls, RESIDENT)
    assert answered(calls) and not [c for c in calls if isinstance(c, EditMessageReplyMarkup)]
    calls = await h.tap(resident, FormCb(action="confirm"))  # the form is finished
    assert "no longer active" in joined(calls) and len(await h.db.resident_tickets(RESIDENT)) == 1


async def test_solved_on_an_old_message_closes_and_offers_stars(harness):
    h = harness
    resident, worker = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en")
    await file_ticket(h, resident, lang="en")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    await h.tap(worker, StaffTicketCb(action="resolve", ticket_id=ticket.id))
    await h.send(worker, "Pipe replaced")
    await h.send(worker, "✅ Done")
    h.clock.advance(3 * 24 * 3600)
    calls = await h.tap(resident, ResidentTicketCb(action="solved", ticket_id=ticket.id), message="old")
    assert (await h.db.get_ticket(ticket.id)).status is Status.CLOSED
    assert "How satisfied" in joined(calls, RESIDENT)
    assert len([b for b in last_buttons(calls, RESIDENT) if b[1] and b[1].startswith("rate:")]) == 5


async def test_department_routing_from_an_old_message_escalates(harness):
    h = harness
    town = h.user(TOWN_STAFF, "en")
    await file_ticket(h, h.user(RESIDENT, "en"), lang="en")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    for actor in (WORKER_DL01, 601):  # grid → village → town
        await h.tap(h.user(actor, "en"), StaffTicketCb(action="escalate", ticket_id=ticket.id))
        await h.send(h.user(actor, "en"), "Needs the next tier")
    await h.tap(town, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    calls = await h.send(town, "Water main, for the water bureau")
    department = next(b for b in last_buttons(calls, TOWN_STAFF) if "水务局" in b[0])
    calls = await h.tap(town, department[1], message="old")
    ticket = await h.db.get_ticket(ticket.id)
    assert ticket.tier is Tier.DEPARTMENT and ticket.department == "水务局"
    assert "went up to the" in joined(calls, TOWN_STAFF)
    assert await h.dp.storage.get_state(h.dp.fsm.get_context(h.bot, TOWN_STAFF, TOWN_STAFF).key) is None


async def test_take_on_an_old_card_sends_the_new_buttons(harness):
    h = harness
    await file_ticket(h, h.user(RESIDENT))
    [ticket] = await h.db.resident_tickets(RESIDENT)
    calls = await h.tap(h.user(WORKER_DL01, "en"), StaffTicketCb(action="take", ticket_id=ticket.id), message="old")
    assert (await h.db.get_ticket(ticket.id)).status is Status.IN_PROGRESS
    resolve = StaffTicketCb(action="resolve", ticket_id=ticket.id).pack()
    assert any(isinstance(c, SendMessage) and resolve in {b[1] for b in buttons(c)} for c in to_chat(calls, WORKER_DL01))


async def test_inline_buttons_get_a_clear_answer(harness):
    h = harness
    await file_ticket(h, h.user(RESIDENT))
    [ticket] = await h.db.resident_tickets(RESIDENT)
    calls = await h.tap(h.user(WORKER_DL01, "en"), StaffTicketCb(action="take", ticket_id=ticket.id), message="inline")
    [answer] = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
    assert "chat with the bot" in answer.text
    assert (await h.db.get_ticket(ticket.id)).status is Status.NEW

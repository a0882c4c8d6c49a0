"""Deadlines, reminders and escalation up the tiers: grid → village → town → department."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram.methods import EditMessageText, SendMessage

from domain.deadlines import DueAction, due_action, next_tier, shifted
from domain.models import EventType, Status, Ticket, Tier, Kind
from domain.service import TicketService
from domain.workdays import WorkCalendar
from handlers.callbacks import DepartmentCb, ResidentTicketCb, StaffTicketCb
from tests.conftest import TOWN_STAFF, VILLAGE_DL, WATER_DEPT, WORKER_DL01, buttons, joined, to_chat
from tests.test_ticket_loop import file_ticket

RESIDENT = 1001
HOUR = 3600


def ticket_at(**fields) -> Ticket:
    base = dict(id=1, kind=Kind.COMPLAINT, category_code="water", grid_code="DL01", resident_id=1,
                share_contact=False, description="x", lat=None, lon=None, status=Status.NEW, tier=Tier.GRID,
                assignee_id=None, created_at=0, tier_since=0, reply_due_at=2 * HOUR, resolve_due_at=24 * HOUR)
    base.update(fields)
    return Ticket(**base)


def test_due_action_rules():
    assert next_tier(Tier.GRID) is Tier.VILLAGE and next_tier(Tier.DEPARTMENT) is None
    assert due_action(ticket_at(), HOUR) is None
    reply_late = due_action(ticket_at(), 2 * HOUR)
    assert reply_late.action is DueAction.REMIND and reply_late.reply_overdue
    assert due_action(ticket_at(first_reply_at=HOUR), 17 * HOUR) is None
    assert due_action(ticket_at(first_reply_at=HOUR), 18 * HOUR).action is DueAction.REMIND  # a quarter left
    assert due_action(ticket_at(first_reply_at=HOUR, reminded_at=18 * HOUR), 20 * HOUR) is None  # once
    assert due_action(ticket_at(reminded_at=18 * HOUR), 24 * HOUR).action is DueAction.ESCALATE
    assert due_action(ticket_at(status=Status.WAITING_RESIDENT), 30 * HOUR) is None  # clock paused
    assert due_action(ticket_at(status=Status.RESOLVED), 30 * HOUR) is None
    top = ticket_at(tier=Tier.DEPARTMENT, first_reply_at=HOUR)
    assert due_action(top, 20 * HOUR).action is DueAction.REMIND
    # past the deadline a department's ticket goes back under the town's supervision
    assert due_action(ticket_at(tier=Tier.DEPARTMENT, reminded_at=18 * HOUR), 30 * HOUR).action is DueAction.ESCALATE
    hours = (None, WorkCalendar(ZoneInfo("UTC")))  # no category: calendar hours
    assert shifted(10, 100, 160, *hours) == 70 and shifted(None, 1, 2, *hours) is None


async def run_deadlines(h):
    result = await h.dp["tickets"].run_deadlines()
    await h.dp["outbox"].deliver_due(h.bot)
    return result


async def test_overdue_ticket_climbs_one_tier_at_a_time_and_everyone_is_told(harness):
    h = harness
    await file_ticket(h, h.user(RESIDENT, "en"), lang="en")  # water: reply 2 h, resolve 24 h
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    before = len(h.session.calls)

    h.clock.advance(2 * HOUR)
    assert await run_deadlines(h) == (0, 1)  # no reply yet: the worker is reminded
    assert await run_deadlines(h) == (0, 0)  # and only once
    reminders = [c for c in to_chat(h.session.calls[before:], WORKER_DL01) if isinstance(c, SendMessage)]
    assert len(reminders) == 1 and "提醒" in reminders[0].text and "回复时限已过" in reminders[0].text

    h.clock.advance(22 * HOUR)
    assert await run_deadlines(h) == (1, 0)
    assert await run_deadlines(h) == (0, 0)  # exactly once
    calls = h.session.calls[before:]
    village_card = [c for c in to_chat(calls, VILLAGE_DL) if isinstance(c, SendMessage)][-1]
    assert "办理记录" in village_card.text and "已提交" in village_card.text  # village staff: Chinese
    assert "It is now handled by the 东里村 village committee" in joined(calls, RESIDENT)
    moved = await h.db.get_ticket(ticket.id)
    assert moved.tier is Tier.VILLAGE and moved.status is Status.NEW
    assert moved.resolve_due_at == h.clock.now + 24 * HOUR  # the new tier gets a fresh deadline

    h.clock.advance(24 * HOUR)
    await run_deadlines(h)
    assert (await h.db.get_ticket(ticket.id)).tier is Tier.TOWN
    h.clock.advance(24 * HOUR)
    await run_deadlines(h)
    top = await h.db.get_ticket(ticket.id)
    assert top.tier is Tier.DEPARTMENT and top.department == "水务局"
    assert [c for c in to_chat(h.session.calls, WATER_DEPT) if isinstance(c, SendMessage)]
    h.clock.advance(48 * HOUR)
    before = len(h.session.calls)
    assert await run_deadlines(h) == (1, 0)  # the department missed it: back under the town's supervision
    assert await run_deadlines(h) == (0, 0)
    back = await h.db.get_ticket(ticket.id)
    assert back.tier is Tier.TOWN and back.status is Status.NEW
    town_card = [c for c in to_chat(h.session.calls[before:], TOWN_STAFF) if isinstance(c, SendMessage)][-1]
    assert "水务局" in town_card.text and "督办" in town_card.text
    escalations = [e for e in await h.db.events(ticket.id) if e.type is EventType.ESCALATED]
    assert [e.data["to"] for e in escalations] == ["village", "town", "department", "town"]
    assert all(e.data["automatic"] for e in escalations)


async def test_after_a_night_offline_each_overdue_ticket_moves_once(harness):
    h = harness
    for resident in (RESIDENT, 1002, 1003):
        await file_ticket(h, h.user(resident), category="roads" if resident != RESIDENT else "water")
    h.clock.advance(5 * 24 * HOUR)  # the bot was stopped for days
    restarted = TicketService(h.db, h.clock)  # a fresh process: nothing kept in memory
    escalated, _reminded = await restarted.run_deadlines()
    assert escalated == 3
    assert await restarted.run_deadlines() == (0, 0)
    for resident in (RESIDENT, 1002, 1003):
        assert (await h.db.resident_tickets(resident))[0].tier is Tier.VILLAGE


async def test_waiting_for_the_resident_pauses_the_clock(harness):
    h = harness
    resident, worker = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en")
    await file_ticket(h, resident, lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    await h.tap(worker, StaffTicketCb(action="ask", ticket_id=ticket.id))
    calls = await h.send(worker, "Which building?")
    assert "Question from staff" in joined(calls, RESIDENT)
    assert (await h.db.get_ticket(ticket.id)).status is Status.WAITING_RESIDENT

    h.clock.advance(30 * HOUR)
    assert await run_deadlines(h) == (0, 0)
    calls = await h.send(worker, "/queue")
    assert "deadlines paused" in joined(calls, WORKER_DL01) and "overdue by" not in joined(calls, WORKER_DL01)
    await h.tap(resident, ResidentTicketCb(action="answer", ticket_id=ticket.id))
    await h.send(resident, "Building 3")
    resumed = await h.db.get_ticket(ticket.id)
    assert resumed.status is Status.IN_PROGRESS and resumed.paused_at is None
    assert resumed.resolve_due_at == ticket.resolve_due_at + 30 * HOUR
    h.clock.advance(20 * HOUR)
    assert (await run_deadlines(h))[0] == 0  # 24 h - 10 h before the pause < 30 h total
    h.clock.advance(4 * HOUR + 1)
    assert (await run_deadlines(h))[0] == 1


async def test_manual_escalation_and_town_routes_to_a_department(harness):
    h = harness
    worker, village, town, dept = (h.user(i, "en") for i in (WORKER_DL01, VILLAGE_DL, TOWN_STAFF, WATER_DEPT))
    calls = await file_ticket(h, h.user(RESIDENT, "en"), lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    card = [c for c in to_chat(calls, WORKER_DL01) if isinstance(c, SendMessage)][-1]
    assert StaffTicketCb(action="escalate", ticket_id=ticket.id).pack() in {b[1] for b in buttons(card)}

    await h.tap(worker, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    calls = await h.send(worker, "Needs a new main pipe")
    assert "went up to the village" in joined(calls, WORKER_DL01)
    village_card = [c for c in to_chat(calls, VILLAGE_DL) if isinstance(c, SendMessage)][-1]
    assert "Needs a new main pipe" in village_card.text

    calls = await h.send(village, "/queue")
    assert "XG-{:06d}".format(ticket.id) in joined(calls, VILLAGE_DL)
    calls = await h.send(worker, "/queue")
    assert "queue is empty" in joined(calls, WORKER_DL01)  # each tier sees its own queue

    await h.tap(village, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    await h.send(village, "Beyond the village")
    await h.tap(town, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    calls = await h.send(town, "For the water bureau")
    choices = [b for b in buttons(to_chat(calls, TOWN_STAFF)[-1])]
    names = [b[0] for b in choices]
    assert "水务局" in names
    calls = await h.tap(town, DepartmentCb(ticket_id=ticket.id, index=names.index("水务局")))
    assert to_chat(calls, WATER_DEPT)
    # The town's card now shows where it went, and has no buttons but the note.
    [card] = [c for c in to_chat(calls, TOWN_STAFF) if isinstance(c, EditMessageText)]
    assert "Department: 水务局" in card.text and "Escalated: town command centre → department" in card.text
    routed = await h.db.get_ticket(ticket.id)
    assert routed.tier is Tier.DEPARTMENT and routed.department == "水务局"

    # the department resolves it like a worker
    await h.tap(dept, StaffTicketCb(action="resolve", ticket_id=ticket.id))
    await h.send(dept, "Main pipe replaced")
    await h.send(dept, "✅ Done")
    done = await h.db.get_ticket(ticket.id)
    assert done.status is Status.RESOLVED and done.resolved_tier is Tier.DEPARTMENT
    card = [c for c in to_chat(h.session.calls, WATER_DEPT) if isinstance(c, SendMessage)][0]
    assert StaffTicketCb(action="escalate", ticket_id=ticket.id).pack() not in {b[1] for b in buttons(card)}


async def test_forged_department_button_is_refused(harness):
    h = harness
    await file_ticket(h, h.user(RESIDENT))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    calls = await h.tap(h.user(TOWN_STAFF, "en"), DepartmentCb(ticket_id=ticket.id, index=0))
    assert any(getattr(c, "show_alert", False) for c in calls)
    assert (await h.db.get_ticket(ticket.id)).tier is Tier.GRID


async def test_a_paused_ticket_is_not_counted_overdue(harness):
    from domain.stats import Period, PeriodKind, Scope, load_report

    h = harness
    await file_ticket(h, h.user(RESIDENT))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    await h.tap(h.user(WORKER_DL01), StaffTicketCb(action="ask", ticket_id=ticket.id))
    await h.send(h.user(WORKER_DL01), "几号楼？")
    week = Period.containing(PeriodKind.WEEK, h.clock.now, h.settings.timezone)
    h.clock.advance(3 * 24 * HOUR)
    stats = await load_report(h.db, week, h.settings.timezone, Scope())
    assert stats.totals.received == 1 and stats.totals.overdue == 0


async def test_hand_over_stays_in_the_town_and_reaches_someone(harness):
    from domain.models import Grid

    h = harness
    await h.db.upsert_grids([Grid("FAR1", "远方网格", "远村", "别的镇"), Grid("DL09", "东里九网格", "东里村", "西岗镇")])
    await file_ticket(h, h.user(RESIDENT))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    worker = h.user(WORKER_DL01, "en")
    from handlers.callbacks import HandOverCb

    calls = await h.tap(worker, HandOverCb(ticket_id=ticket.id, grid_code="FAR1"))  # forged: another town
    assert "not in your area" in " ".join(c.text for c in calls if getattr(c, "show_alert", False))
    assert (await h.db.get_ticket(ticket.id)).grid_code == "DL01"

    await h.tap(worker, HandOverCb(ticket_id=ticket.id, grid_code="DL09"))  # a grid with no worker
    calls = await h.send(worker, "The leak is in DL09")
    moved = await h.db.get_ticket(ticket.id)
    assert moved.grid_code == "DL09" and moved.tier is Tier.VILLAGE
    assert [c for c in to_chat(calls, VILLAGE_DL) if isinstance(c, SendMessage)]  # the village gets the card
    event = [e for e in await h.db.events(ticket.id) if e.type is EventType.HANDED_OVER][-1]
    assert event.note == "The leak is in DL09" and event.data == {"from": "DL01", "to": "DL09"}


async def test_escalating_a_paused_ticket_restarts_its_clock(harness):
    h = harness
    worker, village = h.user(WORKER_DL01, "en"), h.user(VILLAGE_DL, "en")
    await file_ticket(h, h.user(RESIDENT))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    await h.tap(worker, StaffTicketCb(action="ask", ticket_id=ticket.id))
    await h.send(worker, "Which building?")
    h.clock.advance(5 * HOUR)
    await h.tap(worker, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    await h.send(worker, "Needs the village")
    escalated = await h.db.get_ticket(ticket.id)
    assert escalated.paused_at is None and escalated.resolve_due_at == h.clock.now + 24 * HOUR
    h.clock.advance(HOUR)
    await h.tap(village, StaffTicketCb(action="ask", ticket_id=ticket.id))
    await h.send(village, "Since when?")
    h.clock.advance(60)
    await h.tap(h.user(RESIDENT), ResidentTicketCb(action="answer", ticket_id=ticket.id))
    await h.send(h.user(RESIDENT), "Since Monday")
    resumed = await h.db.get_ticket(ticket.id)
    assert resumed.resolve_due_at == escalated.resolve_due_at + 60  # paused one minute, not six hours


async def test_overdue_department_tickets_go_back_to_the_town_and_do_not_hold_up_the_rest(harness):
    h = harness
    service = h.dp["tickets"]
    for resident in range(3):
        await file_ticket(h, h.user(2000 + resident))
    top = [t for r in range(3) for t in await h.db.resident_tickets(2000 + r)]
    for ticket in top[:2]:
        for _ in range(3):
            await service.escalate(ticket.id, None)
    h.clock.advance(30 * 24 * HOUR)
    assert await service.run_deadlines() == (3, 0)  # the two at the top go back to the town; the third up
    assert (await h.db.get_ticket(top[2].id)).tier is Tier.VILLAGE
    assert [(await h.db.get_ticket(t.id)).tier for t in top[:2]] == [Tier.TOWN, Tier.TOWN]
    assert await h.db.tickets_due(h.clock.now) == []  # each moved with a fresh deadline

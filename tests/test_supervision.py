"""Routing with returns, supervision (督办) and merging duplicates, through the real dispatcher."""

from __future__ import annotations

from aiogram.methods import SendMessage

from domain.models import EventType, Status, Tier
from handlers.callbacks import DepartmentCb, StaffTicketCb
from tests.conftest import TOWN_STAFF, WATER_DEPT, buttons, joined, to_chat
from tests.test_ticket_loop import file_ticket

RESIDENT = 1001
HOUR = 3600


async def ticket_at_town(h, category="power", resident=RESIDENT):
    """A ticket the grid and the village passed up: it waits at the town command centre."""
    await file_ticket(h, h.user(resident), category=category)
    ticket = (await h.db.resident_tickets(resident))[0]
    for _ in range(2):
        await h.dp["tickets"].escalate(ticket.id, None)
    await h.dp["outbox"].deliver_due(h.bot)
    return await h.db.get_ticket(ticket.id)


async def remove_department_staff(h, department: str) -> None:
    async with h.db._tx() as db:
        await db.execute("DELETE FROM staff WHERE role = 'department' AND scope = ?", (department,))


async def open_department_picker(h, town, ticket_id, reason="需要职能部门处理"):
    await h.tap(town, StaffTicketCb(action="escalate", ticket_id=ticket_id))
    calls = await h.send(town, reason)
    return calls, to_chat(calls, town.id)[-1]


async def test_failure_3_the_town_cannot_route_to_a_department_without_staff(harness):
    h = harness
    town = h.user(TOWN_STAFF)
    ticket = await ticket_at_town(h, category="power")  # 供电公司: nobody imported
    assert ticket.tier is Tier.TOWN

    calls, picker = await open_department_picker(h, town, ticket.id)
    offered = [text for text, _data in buttons(picker)]
    assert "水务局" in offered
    assert "供电公司" not in offered and "综合指挥中心" not in offered  # nobody there; the town itself
    assert "供电公司" in picker.text  # named among those without staff
    assert "取消" in " ".join(offered)

    # The water bureau's only member leaves while the picker is open: the old button is refused.
    await remove_department_staff(h, "水务局")
    calls = await h.tap(town, DepartmentCb(ticket_id=ticket.id, index=offered.index("水务局")))
    alert = " ".join(c.text for c in calls if getattr(c, "show_alert", False))
    assert "水务局" in alert and "镇" in alert
    stays = await h.db.get_ticket(ticket.id)
    assert stays.tier is Tier.TOWN and stays.department == "供电公司"
    assert "XG-{:06d}".format(ticket.id) in joined(await h.send(town, "/queue"), TOWN_STAFF)


async def test_a_forged_department_button_routes_nowhere(harness):
    h = harness
    town = h.user(TOWN_STAFF, "en")
    ticket = await ticket_at_town(h)
    for index in range(30):  # whatever a forged index names, only a staffed department takes it
        await h.tap(town, DepartmentCb(ticket_id=ticket.id, index=index))
    assert (await h.db.get_ticket(ticket.id)).tier is Tier.TOWN


async def test_routing_to_a_staffed_department_with_reason_and_cancel(harness):
    h = harness
    town = h.user(TOWN_STAFF, "en")
    ticket = await ticket_at_town(h, category="water")
    _calls, picker = await open_department_picker(h, town, ticket.id, "Main pipe: the bureau decides")
    cancel = [data for text, data in buttons(picker) if "Cancel" in text]
    calls = await h.tap(town, cancel[0])
    assert "cancel" in joined(calls, TOWN_STAFF).lower()
    assert (await h.db.get_ticket(ticket.id)).tier is Tier.TOWN

    _calls, picker = await open_department_picker(h, town, ticket.id, "Main pipe: the bureau decides")
    offered = [text for text, _data in buttons(picker)]
    calls = await h.tap(town, DepartmentCb(ticket_id=ticket.id, index=offered.index("水务局")))
    card = [c for c in to_chat(calls, WATER_DEPT) if isinstance(c, SendMessage)][-1]
    assert "Main pipe: the bureau decides" in card.text
    routed = await h.db.get_ticket(ticket.id)
    assert routed.tier is Tier.DEPARTMENT and routed.department == "水务局"
    event = [e for e in await h.db.events(ticket.id) if e.type is EventType.ESCALATED][-1]
    assert event.note == "Main pipe: the bureau decides" and event.data["to"] == "department"
    assert routed.status is Status.NEW


async def ticket_at_department(h, lang="zh"):
    ticket = await ticket_at_town(h, category="water")
    await h.dp["tickets"].escalate(ticket.id, None)  # the deadline watcher routes it to 水务局
    await h.dp["outbox"].deliver_due(h.bot)
    return await h.db.get_ticket(ticket.id)


async def test_a_department_returns_a_ticket_that_is_not_its_business(harness):
    h = harness
    dept, town = h.user(WATER_DEPT, "en"), h.user(TOWN_STAFF)
    ticket = await ticket_at_department(h)
    card = [c for c in to_chat(h.session.calls, WATER_DEPT) if isinstance(c, SendMessage)][-1]
    assert StaffTicketCb(action="return", ticket_id=ticket.id).pack() in {b[1] for b in buttons(card)}

    calls = await h.tap(dept, StaffTicketCb(action="return", ticket_id=ticket.id))
    assert "Why is ticket" in joined(calls, WATER_DEPT)
    await h.send(dept, "/queue")  # a command is not taken as the reason: it leaves the step
    assert (await h.db.get_ticket(ticket.id)).tier is Tier.DEPARTMENT
    await h.tap(dept, StaffTicketCb(action="return", ticket_id=ticket.id))
    calls = await h.send(dept, "It is the private well of the estate, not the public supply")
    assert "went back to the town command centre" in joined(calls, WATER_DEPT)
    back = await h.db.get_ticket(ticket.id)
    assert back.tier is Tier.TOWN and back.status is Status.NEW and back.assignee_id is None
    town_card = [c for c in to_chat(calls, TOWN_STAFF) if isinstance(c, SendMessage)][-1]
    assert "水务局已退回" in town_card.text and "private well" in town_card.text
    assert "private well" not in joined(calls, RESIDENT)  # the reason is internal
    event = [e for e in await h.db.events(ticket.id) if e.type is EventType.RETURNED][-1]
    assert event.actor_id == WATER_DEPT and event.data["from"] == "水务局" and "private well" in event.note

    # The town routes it again; a second return tap on the old card is refused.
    calls = await h.tap(dept, StaffTicketCb(action="return", ticket_id=ticket.id))
    assert any(getattr(c, "show_alert", False) for c in calls)
    # Overdue again at the town, it is not sent back to the department that returned it.
    h.clock.advance(25 * HOUR)
    await h.dp["tickets"].run_deadlines()
    await h.dp["outbox"].deliver_due(h.bot)
    kept = await h.db.get_ticket(ticket.id)
    assert kept.tier is Tier.TOWN and kept.resolve_due_at > h.clock.now
    card = to_chat(h.session.calls, TOWN_STAFF)[-1].text
    assert "水务局无法承接" in card and "private well" in card  # why, and the return in the history


async def test_a_ticket_of_the_command_centre_stays_with_the_town_when_overdue(harness):
    h = harness
    ticket = await ticket_at_town(h, category="other")  # 综合指挥中心: the town itself
    h.clock.advance(73 * HOUR)
    await h.dp["tickets"].run_deadlines()
    await h.dp["outbox"].deliver_due(h.bot)
    kept = await h.db.get_ticket(ticket.id)
    assert kept.tier is Tier.TOWN and kept.resolve_due_at > h.clock.now
    assert await h.db.tickets_due(h.clock.now) == []  # a fresh deadline: not picked again each minute

"""Routing with returns, supervision (督办) and merging duplicates, through the real dispatcher."""

from __future__ import annotations

import json

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
    await h.db._run_many("DELETE FROM staff WHERE role = 'department' AND scope = ?", [(department,)])


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
    assert (await confirmations(h, WATER_DEPT))[-1] == "returned"  # written with the return
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


async def test_overdue_lists_every_overdue_ticket_of_the_area_paged_and_urges_once_an_hour(harness):
    from handlers.callbacks import OverduePageCb, UrgeCb
    from tests.conftest import WORKER_DL01

    h = harness
    for resident in range(12):
        await file_ticket(h, h.user(3000 + resident))
    h.clock.advance(25 * HOUR)  # past the 24-hour resolve deadline, before the watcher ran
    official = h.user(701, "en")  # 镇长: official of 西岗镇
    calls = await h.send(official, "/overdue")
    page = to_chat(calls, 701)[-1]
    assert "Overdue tickets in your area: 12 (page 1 of 2)" in page.text
    assert "王网格" in page.text and "grid" in page.text and "overdue by 1 h" in page.text
    rows = buttons(page)
    first = (await h.db.resident_tickets(3000))[0].id  # the first filed is the latest
    assert ("📋 XG-{:06d}".format(first), StaffTicketCb(action="view", ticket_id=first).pack()) in rows
    assert OverduePageCb(page=1).pack() in {data for _text, data in rows}
    calls = await h.tap(official, OverduePageCb(page=1))
    assert "page 2 of 2" in " ".join(getattr(c, "text", "") or "" for c in calls)

    calls = await h.tap(official, StaffTicketCb(action="view", ticket_id=first))  # the line opens the card
    assert "XG-{:06d}".format(first) in joined(calls, 701)

    calls = await h.tap(official, UrgeCb(ticket_id=first))
    assert "Urged: 1 holder(s)" in joined(calls, 701)  # told with the urge, through the outbox
    urged = [c for c in to_chat(calls, WORKER_DL01) if isinstance(c, SendMessage)]
    assert urged and "催办" in urged[-1].text and "XG-{:06d}".format(first) in urged[-1].text
    calls = await h.tap(official, UrgeCb(ticket_id=first))  # again within the hour
    assert "already urged" in " ".join(c.text for c in calls if getattr(c, "show_alert", False))
    assert not [c for c in to_chat(calls, WORKER_DL01) if isinstance(c, SendMessage)]
    h.clock.advance(HOUR)
    await h.tap(official, UrgeCb(ticket_id=first))
    events = [e for e in await h.db.events(first) if e.type is EventType.URGED]
    assert len(events) == 2 and events[0].actor_id == 701 and events[0].data["holders"] == [WORKER_DL01]

    # Staff of another role, and an official of another town, cannot urge; workers have no /overdue.
    from domain.models import Role, StaffMember

    await h.db.upsert_staff([StaffMember(702, "别镇官员", Role.OFFICIAL, "别的镇")])
    calls = await h.tap(h.user(702, "en"), UrgeCb(ticket_id=first))
    assert any(getattr(c, "show_alert", False) for c in calls)
    calls = await h.send(h.user(702, "en"), "/overdue")
    assert "No ticket in your area is overdue." in joined(calls, 702)
    calls = await h.send(h.user(WORKER_DL01, "en"), "/overdue")
    assert "Overdue tickets" not in joined(calls, WORKER_DL01)


async def test_merging_a_duplicate_moves_its_residents_to_the_kept_ticket(harness):
    from handlers.callbacks import MergeCb
    from tests.conftest import WORKER_DL01, WORKER_NZ01

    h = harness
    await file_ticket(h, h.user(RESIDENT, "en"), lang="en")
    kept = (await h.db.resident_tickets(RESIDENT))[0]
    await file_ticket(h, h.user(1002), category="roads", text="东门路灯不亮")
    duplicate = (await h.db.resident_tickets(1002))[0]
    await file_ticket(h, h.user(1003), grid="NZ01")
    elsewhere = (await h.db.resident_tickets(1003))[0]
    worker = h.user(WORKER_DL01)

    calls = await h.tap(worker, StaffTicketCb(action="merge", ticket_id=duplicate.id))
    offered = {data for _text, data in buttons(to_chat(calls, WORKER_DL01)[-1])}
    assert MergeCb(ticket_id=duplicate.id, into_id=kept.id).pack() in offered
    assert MergeCb(ticket_id=duplicate.id, into_id=elsewhere.id).pack() not in offered  # another grid

    calls = await h.tap(worker, MergeCb(ticket_id=duplicate.id, into_id=elsewhere.id))  # forged
    assert any(getattr(c, "show_alert", False) for c in calls)
    calls = await h.tap(h.user(WORKER_NZ01), MergeCb(ticket_id=duplicate.id, into_id=kept.id))  # not theirs
    assert any(getattr(c, "show_alert", False) for c in calls)
    assert (await h.db.get_ticket(duplicate.id)).status is Status.NEW

    calls = await h.tap(worker, MergeCb(ticket_id=duplicate.id, into_id=kept.id))
    assert "XG-{:06d}".format(kept.id) in joined(calls, WORKER_DL01)
    # the confirmation was written to the outbox with the merge, so a crash cannot lose it
    assert await confirmations(h, WORKER_DL01) == ["merged"]
    told = joined(calls, 1002)
    assert "合并" in told and "XG-{:06d}".format(kept.id) in told
    merged = await h.db.get_ticket(duplicate.id)
    assert merged.status is Status.MERGED
    assert [e.data for e in await h.db.events(duplicate.id) if e.type is EventType.MERGED] == [{"into": kept.id}]
    assert 1002 in await h.db.followers(kept.id)
    assert (await h.db.get_ticket(kept.id)).concerned_residents == 2
    # the former filer now hears of the kept ticket
    calls = await h.tap(h.user(WORKER_DL01), StaffTicketCb(action="take", ticket_id=kept.id))
    assert to_chat(calls, 1002)
    # a second merge of the same ticket is refused
    calls = await h.tap(worker, MergeCb(ticket_id=duplicate.id, into_id=kept.id))
    assert any(getattr(c, "show_alert", False) for c in calls)


async def confirmations(h, chat_id: int) -> list[str]:
    """The events whose confirmation (NOTICE_DONE) was written to the outbox for `chat_id`."""
    rows = await h.db._all("SELECT data FROM outbox WHERE chat_id = ? AND type = 'done' ORDER BY id", (chat_id,))
    return [json.loads(data)["event"] for (data,) in rows]

"""A resident withdraws (撤回) their open ticket with a reason (issue 12): a confirmation step, the
staff holding it told through the outbox, and the statistics counting it apart."""

from __future__ import annotations

from aiogram.methods import SendMessage

from domain.models import EventType, Status, TicketEvent
from domain.stats import Period, Rate, load_report
from handlers.callbacks import ResidentTicketCb, StaffTicketCb
from tests.conftest import WORKER_DL01, buttons, joined, last_buttons, to_chat
from tests.test_stats import SHANGHAI, W49, Town, d, staff_who_opened_the_bot, storage  # noqa: F401 (fixture)
from tests.test_ticket_loop import file_ticket

RESIDENT = 1001
FOLLOWER = 1002
OFFICIAL = 701  # 镇长, an official of the town


async def test_withdrawing_asks_a_reason_and_a_confirmation_then_tells_the_holder(harness):
    h = harness
    for language, words in (("zh", {"view": "撤回", "ask": "撤回工单", "yes": "确认撤回", "done": "已撤回",
                                    "staff": "居民撤回了工单", "status": "居民已撤回"}),
                            ("en", {"view": "Withdraw", "ask": "Why do you withdraw", "yes": "Yes, withdraw",
                                    "done": "is withdrawn", "staff": "withdrew ticket",
                                    "status": "Withdrawn by the resident"})):
        resident = h.user(RESIDENT if language == "zh" else RESIDENT + 10, language)
        worker = h.user(WORKER_DL01, language)
        await file_ticket(h, resident, lang=language, kind="report", category="roads")
        ticket = (await h.db.resident_tickets(resident.id))[0]
        await h.tap(worker, StaffTicketCb(action="take", ticket_id=ticket.id))
        await h.db.set_language(WORKER_DL01, language)

        calls = await h.tap(resident, ResidentTicketCb(action="view", ticket_id=ticket.id))
        withdraw = ResidentTicketCb(action="withdraw", ticket_id=ticket.id)
        assert (next(b[0] for b in last_buttons(calls, resident.id) if b[1] == withdraw.pack())).endswith(words["view"])
        calls = await h.tap(resident, withdraw)
        assert words["ask"] in joined(calls, resident.id)
        calls = await h.send(resident, "已经自己修好了" if language == "zh" else "Fixed it myself")
        assert words["yes"] in " ".join(b[0] for b in last_buttons(calls, resident.id))
        assert (await h.db.get_ticket(ticket.id)).status is Status.IN_PROGRESS  # nothing yet

        # "Keep it" changes nothing; then withdrawing again, confirmed.
        await h.tap(resident, ResidentTicketCb(action="withdraw_no", ticket_id=ticket.id))
        assert (await h.db.get_ticket(ticket.id)).status is Status.IN_PROGRESS
        await h.tap(resident, withdraw)
        await h.send(resident, "已经自己修好了" if language == "zh" else "Fixed it myself")
        calls = await h.tap(resident, ResidentTicketCb(action="withdraw_yes", ticket_id=ticket.id))
        stored = await h.db.get_ticket(ticket.id)
        assert stored.status is Status.WITHDRAWN
        assert words["done"] in joined(calls, resident.id)
        told = [c for c in to_chat(calls, WORKER_DL01) if isinstance(c, SendMessage)]
        assert len(told) == 1 and words["staff"] in told[0].text
        assert ("已经自己修好了" if language == "zh" else "Fixed it myself") in told[0].text
        events = await h.db.events(ticket.id)
        assert events[-1].type is EventType.WITHDRAWN and events[-1].actor_id == resident.id

        # The card has no actions left; the resident's view says so; a second tap is refused.
        calls = await h.send(worker, f"/t {ticket.id}")
        card = to_chat(calls, WORKER_DL01)[-1]
        assert words["status"] in card.text
        assert [b[1] for b in buttons(card)] == [StaffTicketCb(action="note", ticket_id=ticket.id).pack()]
        calls = await h.tap(resident, ResidentTicketCb(action="view", ticket_id=ticket.id))
        assert not last_buttons(calls, resident.id) or withdraw.pack() not in {
            b[1] for b in last_buttons(calls, resident.id)}
        calls = await h.tap(resident, withdraw)
        assert (await h.db.get_ticket(ticket.id)).status is Status.WITHDRAWN and calls

    # The officials' report counts both apart, in either language.
    h.clock.advance(60)  # "so far" counts what happened before this moment
    for language, line in (("zh", "居民撤回、不计入：2"), ("en", "Withdrawn by the resident and not counted: 2")):
        await h.db.set_language(OFFICIAL, language)
        calls = await h.send(h.user(OFFICIAL, language), "/stats 2025-W47")  # the harness's week, so far
        out = joined(calls, OFFICIAL)
        assert line in out and ("受理：0 件" in out or "Received: 0 tickets" in out)


async def test_only_the_filer_withdraws_and_followers_read_the_status(harness):
    h = harness
    resident, follower = h.user(RESIDENT, "en"), h.user(FOLLOWER, "en")
    await file_ticket(h, resident, kind="report", category="roads", lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    await h.db.add_follower(ticket.id, FOLLOWER, TicketEvent(ticket.id, h.clock.now, EventType.FOLLOWED, FOLLOWER))
    calls = await h.tap(follower, ResidentTicketCb(action="withdraw", ticket_id=ticket.id))
    assert "not yours" in joined(calls, FOLLOWER)
    await h.tap(resident, ResidentTicketCb(action="withdraw", ticket_id=ticket.id))
    await h.send(resident, "Duplicate of my neighbour's")
    calls = await h.tap(resident, ResidentTicketCb(action="withdraw_yes", ticket_id=ticket.id))
    assert "Withdrawn by the resident" in joined(calls, FOLLOWER)
    assert "Duplicate of my neighbour's" not in joined(calls, FOLLOWER)  # the reason is for staff


# -- statistics, worked by hand ----------------------------------------------------------------------
# In W49, grid A: W1 filed d0 10:00, replied +1 h, withdrawn d1 10:00; W2 filed d0 11:00, replied
# +1 h, closed d0 15:00, confirmed; W3 filed d1 09:00, replied +1 h, closed d1 12:00, reopened
# d1 13:00, withdrawn d1 14:00. Received: 1 (W2; W1 and W3 withdrawn, apart); closed: 1 (W2: W3's
# closing is undone by its withdrawal); solved 1 of 1; withdrawn 2.
async def test_withdrawn_tickets_are_counted_apart(storage):  # noqa: F811 (the fixture)
    await staff_who_opened_the_bot(storage)
    town = Town(storage)
    await town.at(d(0, 10)).file("W1", "A", "water")
    await town.at(d(0, 11)).reply("W1")
    await town.file("W2", "A", "water")
    await town.at(d(0, 12)).reply("W2")
    await town.at(d(0, 15)).resolve("W2")
    await town.at(d(0, 16)).confirm("W2", 5)
    await town.at(d(1, 9)).file("W3", "A", "water")
    await town.at(d(1, 10)).reply("W3")
    await town.service.withdraw(town.ids["W1"], town.resident("W1"), "不需要了")
    await town.at(d(1, 12)).resolve("W3")
    await town.at(d(1, 13)).reopen("W3")
    await town.at(d(1, 14)).service.withdraw(town.ids["W3"], town.resident("W3"), "算了")

    t = (await load_report(storage, Period.of_week(W49), SHANGHAI, min_rated=1, min_tickets=1)).totals
    assert (t.received, t.withdrawn, t.merged) == (1, 2, 0)
    assert t.completion_rate == Rate(1, 1) and t.response_rate == Rate(1, 1)
    assert t.closed == 1 and t.solved_rate == Rate(1, 1)
    assert t.open_at_end == 0

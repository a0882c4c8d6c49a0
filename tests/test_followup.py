"""Residents as they are (issue 12): call-back (回电), closing unanswered resolutions, return visits
(回访). Through the real dispatcher and the fake Bot API, in both languages."""

from __future__ import annotations

import io
import logging

import pytest
from aiogram.methods import SendMessage

from bot.__main__ import CommandError, build_parser, run_stats
from bot.stats_export import load_export, write_tickets_csv
from domain.models import EventType, Status, Tier
from domain.service import TicketService
from domain.stats import Period, Scope, load_report
from handlers.callbacks import CategoryCb, FormCb, KindCb, MeTooCb, RateCb, ResidentTicketCb, StaffTicketCb, VisitCb
from tests.conftest import TOWN_STAFF, VILLAGE_DL, WORKER_DL01, buttons, joined, last_buttons, to_chat
from tests.test_forms_and_access import resolve
from tests.test_stats import i18n_context
from tests.test_ticket_loop import file_ticket

RESIDENT = 1001
FOLLOWER = 1002
PHONE = "+8613912345678"
DAY = 86400
# The days around the tests' "now" (2025-11-22), for reports that count everything they do.
PERIOD = Period.parse("2025-11-17..2026-01-31")


async def file_with_callback(h, user, lang="zh", kind="complaint", text="楼下水管漏水三天了"):
    """The form up to the summary, then 📞 and the contact button, then Submit; the ticket."""
    await file_ticket_until_summary(h, user, lang, kind, text)
    calls = await h.tap(user, FormCb(action="callback"))
    assert any(getattr(b, "request_contact", False) for row in to_chat(calls, user.id)[-1].reply_markup.keyboard
               for b in row)
    calls = await h.contact(user, PHONE.lstrip("+"))
    assert PHONE in joined(calls, user.id)  # the summary shows the resident their own number
    await h.tap(user, FormCb(action="confirm"))
    return (await h.db.resident_tickets(user.id))[0]


async def file_ticket_until_summary(h, user, lang, kind, text):
    await h.send(user, "/start g_DL01")
    await h.tap(user, KindCb(kind=kind))
    calls = await h.tap(user, CategoryCb(code="water"))
    if FormCb(action="new").pack() in {b[1] for b in last_buttons(calls, user.id)}:
        await h.tap(user, FormCb(action="new"))
    await h.send(user, text)
    await h.send(user, "✅ 完成" if lang == "zh" else "✅ Done")


# -- call-back ------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_call_back_number_reaches_only_the_holders(harness, caplog, lang, tmp_path):
    h = harness
    resident, follower = h.user(RESIDENT, lang), h.user(FOLLOWER, lang)
    worker, village = h.user(WORKER_DL01, lang), h.user(VILLAGE_DL, lang)
    with caplog.at_level(logging.INFO):
        ticket = await file_with_callback(h, resident, lang, kind="report", text="Xingfu Road lamp broken")
        assert ticket.callback_phone == PHONE
        # The worker's card has the number; a follower who taps "me too" never gets it.
        card = [c for c in to_chat(h.session.calls, WORKER_DL01) if isinstance(c, SendMessage)][-1]
        assert PHONE in card.text
        await h.send(follower, "/start g_DL01")
        await h.tap(follower, KindCb(kind="report"))
        await h.tap(follower, CategoryCb(code="water"))
        await h.tap(follower, MeTooCb(ticket_id=ticket.id))
        await h.tap(worker, StaffTicketCb(action="take", ticket_id=ticket.id))
        await h.send(follower, "/my")
        await h.tap(follower, ResidentTicketCb(action="view", ticket_id=ticket.id))
        await h.send(follower, f"/t {ticket.id}")
        await resolve(h, worker, ticket.id)
        # The village may open the card (its area) but does not hold the ticket: no number.
        calls = await h.send(village, f"/t {ticket.id}")
        assert PHONE not in joined(calls, VILLAGE_DL)
        assert "📞" in joined(calls, VILLAGE_DL)  # it says a call-back was asked for
    follower_calls = to_chat(h.session.calls, FOLLOWER)
    assert len(follower_calls) > 5 and "13912345678" not in str([c.model_dump() for c in follower_calls])
    assert (await h.db.get_ticket(ticket.id)).follower_count == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "13912345678" not in logged
    # Exports never carry it.
    h.clock.advance(60)
    export = await load_export(h.db, h.settings, PERIOD, Scope(), lang, h.clock())
    out = io.BytesIO()
    with i18n_context(lang):
        assert write_tickets_csv(out, export, h.settings) == 1
    assert "13912345678" not in out.getvalue().decode("utf-8-sig")


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_only_the_senders_own_number_from_the_button(harness, lang):
    h = harness
    resident = h.user(RESIDENT, lang)
    await file_ticket_until_summary(h, resident, lang, "complaint", "水管漏水")
    await h.tap(resident, FormCb(action="callback"))
    await h.send(resident, "13800000000")  # typed: refused
    await h.contact(resident, "8613800000001", owner_id=777)  # someone else's contact: refused
    await h.contact(resident, "8613800000002", owner_id=0)  # an address-book contact: refused
    calls = await h.tap(resident, FormCb(action="confirm"))  # still in the step: not submitted
    assert not await h.db.resident_tickets(RESIDENT)
    calls = await h.send(resident, "↩️ 不用回电" if lang == "zh" else "↩️ Back, no call")
    assert FormCb(action="callback").pack() in {b[1] for b in last_buttons(calls, RESIDENT)}
    await h.tap(resident, FormCb(action="confirm"))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    assert ticket.callback_phone is None


async def test_taking_the_number_back_on_the_summary(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await file_ticket_until_summary(h, resident, "en", "complaint", "Pipe leaking")
    await h.tap(resident, FormCb(action="callback"))
    calls = await h.contact(resident, PHONE)
    assert ("📞 Call me back: yes", FormCb(action="callback").pack()) in last_buttons(calls, RESIDENT)
    calls = await h.tap(resident, FormCb(action="callback"))  # tapped again: no call-back after all
    assert "removed" in joined(calls, RESIDENT)
    await h.tap(resident, FormCb(action="confirm"))
    assert (await h.db.resident_tickets(RESIDENT))[0].callback_phone is None


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_called_the_resident_is_the_first_response(harness, lang):
    h = harness
    resident, worker = h.user(RESIDENT, lang), h.user(WORKER_DL01, lang)
    ticket = await file_with_callback(h, resident, lang)
    calls = await h.tap(worker, StaffTicketCb(action="phoned", ticket_id=ticket.id))
    calls = await h.send(worker, "Spoke with her, plumber comes tomorrow")
    stored = await h.db.get_ticket(ticket.id)
    assert stored.first_reply_at == h.clock.now and stored.status is Status.IN_PROGRESS
    assert stored.assignee_id == WORKER_DL01
    assert (await h.db.events(ticket.id))[-1].type is EventType.PHONED
    assert ticket.id and ("XG-{:06d}".format(ticket.id)) in joined(calls, WORKER_DL01)  # confirmed
    # The resident reads that staff called, never the staff's note.
    calls = await h.send(resident, f"/t {ticket.id}")
    assert "📞" in joined(calls, RESIDENT) and "plumber" not in joined(calls, RESIDENT)
    # A grid worker of another grid may not record a call on it.
    before = len(await h.db.events(ticket.id))
    await h.tap(h.user(502, lang), StaffTicketCb(action="phoned", ticket_id=ticket.id))
    await h.send(h.user(502, lang), "called")
    assert len(await h.db.events(ticket.id)) == before


async def test_response_rate_counts_a_call_hand_computed(harness):
    """Four tickets with the water category's reply deadline: one replied to in time, one called in
    time, one called after the deadline, one never answered. 响应率 = 2 of 4; responded = 3."""
    h = harness
    service: TicketService = h.dp["tickets"]
    ids = []
    for i in range(4):
        await file_ticket(h, h.user(2000 + i, "en"), lang="en", text=f"leak {i}")
        ids.append((await h.db.resident_tickets(2000 + i))[0].id)
    grants = await h.db.roles_of(WORKER_DL01)
    await service.reply(ids[0], WORKER_DL01, grants, "on our way")
    await service.phoned(ids[1], WORKER_DL01, grants, "called her")
    due = (await h.db.get_ticket(ids[2])).reply_due_at
    h.clock.advance(due - h.clock.now + 60)
    await service.run_deadlines()
    await service.phoned(ids[2], WORKER_DL01, grants, "called late")
    h.clock.advance(DAY * 60)
    report = await load_report(h.db, PERIOD, h.settings.timezone, now=h.clock())
    response = report.totals.response_rate
    assert (response.numerator, response.denominator) == (2, 4)
    assert report.totals.time_to_response.count == 3


async def test_call_back_number_erased_after_the_retention(harness):
    h = harness
    resident, worker = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en")
    ticket = await file_with_callback(h, resident, "en")
    await resolve(h, worker, ticket.id)
    await h.tap(resident, ResidentTicketCb(action="solved", ticket_id=ticket.id))
    closed_at = (await h.db.get_ticket(ticket.id)).closed_at
    assert closed_at == h.clock.now
    service: TicketService = h.dp["tickets"]
    h.clock.advance(h.settings.phone_retention_days * DAY - 60)
    assert (await service.run_aftercare())[2] == 0
    assert (await h.db.get_ticket(ticket.id)).callback_phone == PHONE
    h.clock.advance(120)
    assert (await service.run_aftercare())[2] == 1
    assert (await h.db.get_ticket(ticket.id)).callback_phone is None
    calls = await h.send(h.user(1, "en"), f"/t {ticket.id}")  # an admin: the card has no number now
    assert "13912345678" not in joined(calls, 1)


# -- closing without confirmation ------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_unanswered_resolution_reminded_once_then_closed_once(harness, lang):
    h = harness
    resident, worker = h.user(RESIDENT, lang), h.user(WORKER_DL01, lang)
    await file_ticket(h, resident, lang=lang)
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    await resolve(h, worker, ticket.id)
    outbox = h.dp["outbox"]
    h.clock.advance(3 * DAY - 60)
    assert await h.dp["tickets"].run_aftercare() == (0, 0, 0)
    h.clock.advance(120)
    before = len(h.session.calls)
    for service in (h.dp["tickets"], TicketService(h.db, h.clock)):  # again, and after a restart
        await service.run_aftercare()
        await outbox.deliver_due(h.bot)
    reminders = to_chat(h.session.calls[before:], RESIDENT)
    assert len(reminders) == 1
    assert ResidentTicketCb(action="solved", ticket_id=ticket.id).pack() in {b[1] for b in buttons(reminders[0])}
    h.clock.advance(4 * DAY)
    before = len(h.session.calls)
    for service in (h.dp["tickets"], TicketService(h.db, h.clock)):
        await service.run_aftercare()
        await outbox.deliver_due(h.bot)
    assert len(to_chat(h.session.calls[before:], RESIDENT)) == 1  # "closed without your confirmation"
    stored = await h.db.get_ticket(ticket.id)
    assert stored.status is Status.CLOSED and stored.confirmed_at is None
    events = [e.type for e in await h.db.events(ticket.id)]
    assert events.count(EventType.CONFIRM_REMINDED) == 1 and events.count(EventType.AUTO_CLOSED) == 1
    # The old "solved?" buttons now get a clear answer; nothing changes, nobody rates it.
    await h.tap(resident, ResidentTicketCb(action="solved", ticket_id=ticket.id), message="old")
    await h.tap(resident, RateCb(ticket_id=ticket.id, stars=5), message="old")
    assert (await h.db.get_ticket(ticket.id)).rating is None
    # Counted apart: closed, neither solved nor rated.
    h.clock.advance(60 * DAY)
    totals = (await load_report(h.db, PERIOD, h.settings.timezone, now=h.clock())).totals
    assert (totals.closed, totals.tally.auto_closed, totals.tally.confirmed, totals.rated) == (1, 1, 0, 0)
    assert totals.solved_rate.numerator == 0 and totals.satisfaction_rate.denominator == 0


async def test_reminder_button_pressed_days_later_still_works(harness):
    h = harness
    resident, worker = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en")
    await file_ticket(h, resident, lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    await resolve(h, worker, ticket.id)
    h.clock.advance(3 * DAY + 60)
    await h.dp["tickets"].run_aftercare()
    h.clock.advance(3 * DAY)  # the reminder is older than 48 hours: Telegram will not edit it
    calls = await h.tap(resident, ResidentTicketCb(action="solved", ticket_id=ticket.id), message="old")
    assert "How satisfied" in joined(calls, RESIDENT)
    await h.tap(resident, RateCb(ticket_id=ticket.id, stars=4), message="old")
    stored = await h.db.get_ticket(ticket.id)
    assert stored.status is Status.CLOSED and stored.confirmed_at is not None and stored.rating == 4
    h.clock.advance(2 * DAY)
    assert (await h.dp["tickets"].run_aftercare())[1] == 0  # confirmed: never closed again


# -- return visits ---------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_low_rating_brings_a_return_visit_recorded_days_later(harness, lang):
    h = harness
    resident, worker, village = h.user(RESIDENT, lang), h.user(WORKER_DL01, lang), h.user(VILLAGE_DL, lang)
    ticket = await file_with_callback(h, resident, lang)
    await resolve(h, worker, ticket.id)
    await h.tap(resident, ResidentTicketCb(action="solved", ticket_id=ticket.id))
    calls = await h.tap(resident, RateCb(ticket_id=ticket.id, stars=1))
    visit_card = [c for c in to_chat(calls, VILLAGE_DL) if isinstance(c, SendMessage)][-1]
    assert PHONE in visit_card.text  # the village contacts the resident: it gets the number
    (visit,) = await h.db.return_visits(ticket.id)
    assert visit.tier is Tier.VILLAGE and visit.visited_at is None
    outcome_buttons = [b for b in buttons(visit_card) if b[1] and b[1].startswith("rv:")]
    assert len(outcome_buttons) == 3
    # The grid worker may not record it.
    calls = await h.tap(worker, VisitCb(visit_id=visit.id, outcome=2))
    assert not (await h.db.return_visits(ticket.id))[0].visited_at
    # Days later, on the old message: 基本满意 with a note.
    h.clock.advance(4 * DAY)
    await h.tap(village, VisitCb(visit_id=visit.id, outcome=1), message="old")
    calls = await h.send(village, "Called her, the pipe holds now")
    (visit,) = await h.db.return_visits(ticket.id)
    assert visit.visitor_id == VILLAGE_DL and visit.outcome and visit.outcome.value == "basically_satisfied"
    assert "XG-{:06d}".format(ticket.id) in joined(calls, VILLAGE_DL)
    # Pressed again: already recorded, nothing changes.
    calls = await h.tap(village, VisitCb(visit_id=visit.id, outcome=0))
    assert (await h.db.return_visits(ticket.id))[0].outcome.value == "basically_satisfied"
    h.clock.advance(60 * DAY)
    tally = (await load_report(h.db, PERIOD, h.settings.timezone, now=h.clock())).totals.tally
    assert (tally.visits, tally.visits_basically_satisfied, tally.visits_satisfied, tally.visits_unsatisfied) == (
        1, 1, 0, 0)


async def test_second_not_solved_brings_a_return_visit_for_the_town_above_the_village(harness):
    h = harness
    resident, worker, village = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en"), h.user(VILLAGE_DL, "en")
    await file_ticket(h, resident, lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    await resolve(h, worker, ticket.id)
    await h.tap(resident, ResidentTicketCb(action="unsolved", ticket_id=ticket.id))
    await h.send(resident, "Still leaking")
    assert not await h.db.return_visits(ticket.id)  # the first "not solved" reopens it, no visit
    # The village passes it up and the town resolves it; the second "not solved" sends the visit
    # to the town, as the tier that closed it is above the village.
    await h.tap(village, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    await h.send(village, "Needs the town")
    await resolve(h, h.user(TOWN_STAFF, "en"), ticket.id)
    await h.tap(resident, ResidentTicketCb(action="unsolved", ticket_id=ticket.id))
    calls = await h.send(resident, "Still leaking!")
    (visit,) = await h.db.return_visits(ticket.id)
    assert visit.tier is Tier.TOWN and visit.reason.value == "reopened_twice"
    assert any(VisitCb(visit_id=visit.id, outcome=2).pack() in {b[1] for b in buttons(c)}
               for c in to_chat(calls, TOWN_STAFF))
    await h.tap(h.user(TOWN_STAFF, "en"), VisitCb(visit_id=visit.id, outcome=2))
    calls = await h.send(h.user(TOWN_STAFF, "en"), "Still angry; the department is on it")
    assert "unsatisfied" in joined(calls, TOWN_STAFF)
    assert (await h.db.return_visits(ticket.id))[0].outcome.value == "unsatisfied"


async def test_only_an_admin_asking_exports_the_numbers(harness, tmp_path):
    """The bot's exports never carry call-back numbers; `gridbot stats --csv F --with-phones`, run
    by whoever administers the server, adds them."""
    h = harness
    await file_with_callback(h, h.user(RESIDENT, "en"), "en")
    parser = build_parser()
    period = ["stats", "--from", "2025-11-17", "--to", "2026-01-31"]
    plain, with_phones = tmp_path / "plain.csv", tmp_path / "phones.csv"
    assert await run_stats(h.settings, parser.parse_args([*period, "--csv", str(plain)])) == 0
    assert await run_stats(h.settings, parser.parse_args([*period, "--csv", str(with_phones), "--with-phones"])) == 0
    assert "13912345678" not in plain.read_text("utf-8-sig")
    assert "8613912345678" in with_phones.read_text("utf-8-sig")
    with pytest.raises(CommandError):
        await run_stats(h.settings, parser.parse_args([*period, "--with-phones"]))

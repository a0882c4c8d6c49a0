"""Delivery under Telegram's real behaviour: short outages, limits, priorities, combining."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiogram.methods import SendMessage

from bot.outbox import GIVE_UP_AFTER_SECONDS, backoff_seconds
from bot.pacing import REPLY_ATTEMPTS, Limiter
from domain.models import EventType, Kind, Notice, TicketEvent
from domain.service import ANSWERS_PER_HOUR, Draft, NOTICE_NEW_TICKET, NOTICE_RATED, NOTICE_RESIDENT_MESSAGE
from handlers.callbacks import CategoryCb, KindCb, MeTooCb, ResidentTicketCb, StaffTicketCb
from tests.conftest import VILLAGE_DL, WORKER_DL01, joined, to_chat
from tests.test_reliability import FakeTime
from tests.test_ticket_loop import file_ticket

RESIDENT = 1001


def test_back_off_starts_near_a_second_and_grows_with_jitter():
    first = {backoff_seconds(1) for _ in range(200)}
    assert max(first) <= 2 and len(first) > 1  # jitter: not every bot retries at the same moment
    assert max(backoff_seconds(3) for _ in range(200)) <= 6
    assert min(backoff_seconds(12) for _ in range(200)) >= 600  # grows towards the cap
    assert max(backoff_seconds(40) for _ in range(200)) <= 3600


async def test_three_502s_delay_a_card_by_seconds_and_later_cards_wait_in_order(harness):
    h = harness
    for _ in range(3):
        h.session.fail_next(WORKER_DL01, 502, "Bad Gateway")
    await file_ticket(h, h.user(RESIDENT), text="第一张")
    await file_ticket(h, h.user(RESIDENT + 1), text="第二张")
    started = h.clock.now
    while (item := (await h.db.due_outbox(h.clock.now + 10**6) or [None])[0]) is not None:
        h.clock.now = max(h.clock.now, (await h.db.next_outbox_time()) or h.clock.now)
        await h.dp["outbox"].deliver_due(h.bot)
    cards = [c.text for c in to_chat(h.session.calls, WORKER_DL01) if isinstance(c, SendMessage)]
    assert h.clock.now - started <= 12  # 1 + 2 + 4 s with jitter, not 5 + 10 + 20
    assert ["第一张" in t for t in cards] == [True] * 4 + [False]  # three refused, then sent; then the second
    assert "第二张" in cards[-1]


async def test_a_day_of_failures_still_gives_up(harness):
    h = harness
    # Pauses are jittered, at least half of each doubling and of the hour's cap: 100 failures
    # outlast a day whatever the jitter (40 did not always).
    for _ in range(100):
        h.session.fail_next(WORKER_DL01, 502, "Bad Gateway")
    await file_ticket(h, h.user(RESIDENT))
    end = h.clock.now + GIVE_UP_AFTER_SECONDS + 3600
    while h.clock.now < end and await h.db.due_outbox(h.clock.now + 10**6):
        h.clock.now = (await h.db.next_outbox_time()) or h.clock.now
        await h.dp["outbox"].deliver_due(h.bot)
    assert not await h.db.due_outbox(h.clock.now + 10**6)
    dropped = await h.db._all("SELECT dropped_reason FROM outbox WHERE chat_id = ?", (WORKER_DL01,))
    assert dropped == [("gave up",)]


# -- one resident cannot hold up a worker's chat; a minute between status messages ---------------
async def test_a_new_card_goes_ahead_of_a_residents_answers_which_come_as_one(harness):
    h = harness
    tickets = h.dp["tickets"]
    await file_ticket(h, h.user(RESIDENT))
    [ticket] = await h.db.resident_tickets(RESIDENT)
    for i in range(ANSWERS_PER_HOUR):  # queued while the worker's chat is busy
        await tickets.resident_message(ticket.id, RESIDENT, f"补充说明{i}")
    await tickets.file(RESIDENT + 1, Draft(Kind.REPORT, "roads", "DL01", "新的工单"))
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    worker = [c for c in to_chat(h.session.calls[before:], WORKER_DL01) if isinstance(c, SendMessage)]
    assert "新的工单" in worker[0].text  # the new card first
    [answers] = worker[1:]  # then all the answers, in one message, in order
    assert [answers.text.index(f"补充说明{i}") for i in range(ANSWERS_PER_HOUR)] == sorted(
        answers.text.index(f"补充说明{i}") for i in range(ANSWERS_PER_HOUR))


async def test_a_resident_may_send_a_limited_number_of_answers_per_ticket(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await file_ticket(h, resident, lang="en")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    for i in range(ANSWERS_PER_HOUR + 1):
        await h.tap(resident, ResidentTicketCb(action="answer", ticket_id=ticket.id))
        calls = await h.send(resident, f"answer {i}")
    assert "at most" in joined(calls, RESIDENT)
    events = [e for e in await h.db.events(ticket.id) if e.type is EventType.RESIDENT_MESSAGE]
    assert len(events) == ANSWERS_PER_HOUR
    h.clock.advance(3600)  # an hour later they may write again
    await h.tap(resident, ResidentTicketCb(action="answer", ticket_id=ticket.id))
    calls = await h.send(resident, "one more")
    assert "Your answer was sent" in joined(calls, RESIDENT)


async def test_status_changes_within_a_minute_reach_residents_as_one_message(harness):
    h = harness
    resident, follower = h.user(RESIDENT, "en"), h.user(RESIDENT + 1, "en")
    await file_ticket(h, resident, lang="en", kind="report")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    await h.send(follower, "/start g_DL01")
    await h.tap(follower, KindCb(kind="report"))
    await h.tap(follower, CategoryCb(code="water"))
    await h.tap(follower, MeTooCb(ticket_id=ticket.id))
    calls = await h.tap(h.user(WORKER_DL01, "en"), StaffTicketCb(action="take", ticket_id=ticket.id))
    assert "In progress" in joined(calls, RESIDENT) and "In progress" in joined(calls, RESIDENT + 1)
    h.clock.advance(10)
    await h.tap(h.user(WORKER_DL01, "en"), StaffTicketCb(action="escalate", ticket_id=ticket.id))
    calls = await h.send(h.user(WORKER_DL01, "en"), "Needs the village")
    h.clock.advance(10)
    calls += await h.tap(h.user(VILLAGE_DL, "en"), StaffTicketCb(action="take", ticket_id=ticket.id))
    assert not to_chat(calls, RESIDENT) and not to_chat(calls, RESIDENT + 1)  # not within the minute
    h.clock.advance(40)
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    for person in (RESIDENT, RESIDENT + 1):
        [combined] = to_chat(h.session.calls[before:], person)
        assert "In progress" in combined.text and "village" in combined.text


async def test_cards_and_confirmations_go_ahead_of_chatter_in_the_outbox(harness):
    h = harness
    await file_ticket(h, h.user(RESIDENT))
    [ticket] = await h.db.resident_tickets(RESIDENT)
    await h.db.enqueue([Notice(WORKER_DL01, NOTICE_RATED, ticket.id, {"stars": 5, "comment": ""}),
                        Notice(WORKER_DL01, NOTICE_NEW_TICKET, ticket.id, {}, urgent=True)], h.clock.now)
    [head] = await h.db.due_outbox(h.clock.now)
    assert head.notice.type == NOTICE_NEW_TICKET


# -- Telegram's limits for direct replies too ----------------------------------------------------
@pytest.fixture
def limited(harness) -> FakeTime:
    """Telegram's real limits, enforced by the fake API, on a fake clock the bot's limiter shares."""
    fake = FakeTime()
    harness.dp["limiter"] = harness.dp["outbox"].limiter = Limiter(monotonic=fake.monotonic, sleep=fake.sleep)
    harness.session.enforce_limits(fake.monotonic)
    return fake


async def test_200_residents_filing_at_once_within_telegrams_limits(harness, limited):
    h = harness
    h.dp["tickets"].tickets_per_hour = 0
    residents = [h.user(10_000 + i, "en") for i in range(200)]
    results = await asyncio.gather(*(file_ticket(h, r, grid=("DL01", "DL02", "NZ01")[i % 3], text=f"Lamp {i} broken",
                                                 lang="en") for i, r in enumerate(residents)))
    assert h.session.refused_429 == 0
    for resident, calls in zip(residents, results):
        [ticket] = await h.db.resident_tickets(resident.id)
        told = [c for c in h.session.calls if getattr(c, "chat_id", None) == resident.id
                and "Your ticket number is <b>XG-{:06d}</b>".format(ticket.id) in str(getattr(c, "text", ""))]
        assert len(told) == 1
    assert "no longer active" not in joined(h.session.calls)
    assert len({t.id for r in residents for t in await h.db.resident_tickets(r.id)}) == 200


async def test_a_reply_refused_with_429_waits_and_is_sent_again(harness, limited):
    h = harness
    resident = h.user(RESIDENT, "en")
    await h.send(resident, "/start g_DL01")
    h.session.fail_next(RESIDENT, 429, "Too Many Requests: retry after 3", retry_after=3)
    started = limited.now
    calls = await h.tap(resident, KindCb(kind="complaint"))
    assert "which area" in joined(calls, RESIDENT) and limited.now - started >= 3
    calls = await h.tap(resident, CategoryCb(code="roads"))
    assert "Describe the problem" in joined(calls, RESIDENT)


async def test_a_form_does_not_move_past_a_prompt_that_was_not_delivered(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await h.send(resident, "/start g_DL01")
    for _ in range(REPLY_ATTEMPTS):
        h.session.fail_next(RESIDENT, 429, "Too Many Requests: retry after 1", retry_after=1)
    calls = await h.tap(resident, KindCb(kind="complaint"))
    assert joined(calls, RESIDENT).count("which area") == REPLY_ATTEMPTS  # each refused: the handler gave up
    calls = await h.tap(resident, KindCb(kind="complaint"))  # pressed again: answered, not "no longer active"
    assert "which area" in joined(calls, RESIDENT)


async def test_1000_followers_notified_at_30_a_second_blocked_ones_dropped_after_one_403(harness, limited):
    h = harness
    await file_ticket(h, h.user(RESIDENT), kind="report")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    followers = [20_000 + i for i in range(1000)]
    blocked = set(followers[::100])
    for follower in followers:
        await h.db.add_follower(ticket.id, follower, TicketEvent(ticket.id, h.clock.now, EventType.FOLLOWED, follower))
        if follower in blocked:
            h.session.fail_next(follower, 403, "Forbidden: bot was blocked by the user")
    before, started = len(h.session.calls), limited.now
    await h.tap(h.user(WORKER_DL01), StaffTicketCb(action="take", ticket_id=ticket.id))
    calls = h.session.calls[before:]
    took = limited.now - started
    assert h.session.refused_429 == 0
    for follower in followers:
        assert len(to_chat(calls, follower)) == 1  # none twice; a blocked one tried once
    assert {f for f in followers if (user := await h.db.get_user(f)) is not None and user.unreachable} == blocked
    assert 1000 / 30 - 1 <= took <= 1000 / 30 * 1.2  # about 30 a second
    assert not await h.db.due_outbox(h.clock.now + 10**6)


# -- what the outbox logs ---------------------------------------------------------------------------
async def test_the_outbox_logs_one_line_with_ids_and_the_error_class_never_the_text(harness, caplog):
    """Telegram's descriptions and the errors of a bug can quote what was sent: the log gets the
    item's id and the error's class, in one line, and no traceback."""
    h = harness
    secret = "张三 13912345678 楼下水管漏水"
    await file_ticket(h, h.user(RESIDENT), text=secret)
    [ticket] = await h.db.resident_tickets(RESIDENT)
    outbox = h.dp["outbox"]

    async def deliver_answer() -> None:
        await h.db.enqueue([Notice(WORKER_DL01, NOTICE_RESIDENT_MESSAGE, ticket.id, {"text": secret})], h.clock.now)
        while await h.db.due_outbox(h.clock.now + 10**6):
            h.clock.now = max(h.clock.now, (await h.db.next_outbox_time()) or h.clock.now)
            await outbox.deliver_due(h.bot)

    h.session.fail_next(WORKER_DL01, 502, f"Bad Gateway {secret}")
    h.session.fail_next(WORKER_DL01, 0)
    h.session.fail_next(WORKER_DL01, 400, f"Bad Request: can't parse entities: {secret}")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        await deliver_answer()
        render = outbox.renderer.render

        async def buggy_render(notice):
            outbox.renderer.render = render  # once
            raise ValueError(f"cannot render {notice.data}")

        outbox.renderer.render = buggy_render
        await deliver_answer()
    records = [r for r in caplog.records if r.name == "bot.outbox"]
    for record in records:
        line = record.getMessage()
        assert "13912345678" not in line and "张三" not in line, line
        assert "\n" not in line and not record.exc_info and not record.exc_text, line
        assert "outbox item" in line, line
    logged = "\n".join(r.getMessage() for r in records)
    for error in ("TelegramServerError", "TelegramNetworkError", "TelegramBadRequest", "ValueError"):
        assert error in logged

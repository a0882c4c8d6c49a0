"""Delivery under Telegram's real behaviour: short outages, limits, priorities, combining."""

from __future__ import annotations

from aiogram.methods import SendMessage

from bot.outbox import GIVE_UP_AFTER_SECONDS, backoff_seconds
from tests.conftest import WORKER_DL01, to_chat
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
    for _ in range(40):
        h.session.fail_next(WORKER_DL01, 502, "Bad Gateway")
    await file_ticket(h, h.user(RESIDENT))
    end = h.clock.now + GIVE_UP_AFTER_SECONDS + 3600
    while h.clock.now < end and await h.db.due_outbox(h.clock.now + 10**6):
        h.clock.now = (await h.db.next_outbox_time()) or h.clock.now
        await h.dp["outbox"].deliver_due(h.bot)
    assert not await h.db.due_outbox(h.clock.now + 10**6)
    dropped = await h.db._all("SELECT dropped_reason FROM outbox WHERE chat_id = ?", (WORKER_DL01,))
    assert dropped == [("gave up",)]

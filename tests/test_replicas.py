"""Several processes on one database (issue 14): what each replica's storage promises the others. Two
storages opened on one PostgreSQL database stand for two processes (each has its own connections,
and so its own advisory locks); claims are checked on SQLite too, where one process is the only one."""

from __future__ import annotations

import asyncio

import pytest

from aiogram.types import Update

from bot.factory import create_dispatcher
from bot.leadership import Leadership
from domain.models import Notice
from handlers.callbacks import FormCb
from storage import open_storage
from tests.conftest import START, Harness, open_harness, texts
from tests.fake_telegram import make_bot
from tests.test_reliability import RESIDENT, start_form

pytestmark = pytest.mark.backends("postgresql")
LEASE = 60


@pytest.fixture
async def two(database):
    """Two processes' storages on one database."""
    first = await open_storage(database)
    second = await open_storage(database)
    yield first, second
    await first.close()
    await second.close()


def notices(chat_id: int, count: int) -> list[Notice]:
    return [Notice(chat_id, "new_ticket", None, {"n": n}) for n in range(count)]


async def test_a_users_turn_waits_for_the_other_process_and_not_for_other_users(two):
    first, second = two
    order = []

    async def turn(db, key: str, name: str, hold: float) -> None:
        async with db.user_turn(key):
            order.append(f"{name} in")
            await asyncio.sleep(hold)
            order.append(f"{name} out")

    held = asyncio.create_task(turn(first, "1001:1001", "a", 0.3))
    await asyncio.sleep(0.05)
    await asyncio.gather(turn(second, "1001:1001", "b", 0), turn(second, "1002:1002", "c", 0))
    await held
    assert order.index("c out") < order.index("a out") < order.index("b in")


async def test_each_notice_is_claimed_once_and_a_chat_goes_out_in_order(two):
    first, second = two
    await first.enqueue(notices(501, 2) + notices(502, 1) + notices(503, 1), START)
    mine = await first.claim_outbox("a", START, START + LEASE, limit=2)
    theirs = await second.claim_outbox("b", START, START + LEASE)
    assert [i.notice.chat_id for i in mine] == [501, 502] and [i.notice.chat_id for i in theirs] == [503]
    # 501's second notice waits for its first, and nobody else claims a held chat (a claimant
    # gets its own claims back).
    urgent = Notice(502, "card", None, {}, urgent=True)
    await first.enqueue([urgent], START)
    assert await second.claim_outbox("b", START, START + LEASE) == theirs
    await second.mark_sent([theirs[0].id], START)
    await first.mark_sent([mine[0].id], START)
    await first.release_outbox("a", [mine[1].id])
    assert [(i.notice.chat_id, i.notice.data) for i in await second.claim_outbox("b", START, START + LEASE)] == [
        (501, {"n": 1}), (502, {})]


async def test_a_dead_processs_claims_run_out_and_are_taken_over(two):
    first, second = two
    await first.enqueue(notices(501, 1), START)
    [claimed] = await first.claim_outbox("dead", START, START + LEASE)
    assert await second.claim_outbox("b", START + LEASE, START + 2 * LEASE) == []
    [taken] = await second.claim_outbox("b", START + LEASE + 1, START + 2 * LEASE)
    assert taken.id == claimed.id
    # The first process, had it only waited too long, would now see that it no longer holds it.
    assert not await first.keep_claim("dead", claimed.id, START + 2 * LEASE)
    assert await second.keep_claim("b", taken.id, START + 2 * LEASE)
    assert await first.store_update(7, '{"update_id": 7}', START, "dead", START + LEASE)
    assert not await second.store_update(7, '{"update_id": 7}', START, "b", START + LEASE)
    assert await second.claim_stored_updates("b", START + LEASE, START + 2 * LEASE) == []
    assert await second.claim_stored_updates("b", START + LEASE + 1, START + 2 * LEASE) == [(7, '{"update_id": 7}')]
    assert await first.claim_stored_updates("c", START + LEASE + 1, START + 2 * LEASE) == []


async def test_concurrent_claims_share_the_outbox_without_overlap(two):
    first, second = two
    await first.enqueue([n for chat in range(600, 680) for n in notices(chat, 2)], START)
    claims = await asyncio.gather(*(db.claim_outbox(f"{name}{n}", START, START + LEASE, limit=7)
                                    for n in range(4) for db, name in ((first, "a"), (second, "b"))))
    chats = [item.notice.chat_id for claim in claims for item in claim]
    assert len(chats) == len(set(chats)) == 56


async def test_one_process_leads_and_the_lead_moves_when_it_dies(database):
    first, second = await open_storage(database), await open_storage(database)
    try:
        assert await first.lead() and await first.lead()
        assert not await second.lead()
        await first.close()  # its connection ends, and the lock with it
        assert await second.lead()
    finally:
        await second.close()


async def test_telegrams_limits_are_kept_for_all_processes_together(two):
    first, second = two
    await second.hold_sends(5)  # a 429 seen by one process holds the other's sends too
    assert 4.5 <= await first.book_send(99, 1, 0.0, 0.0) <= 5
    loop = asyncio.get_running_loop()

    async def book(db, chat: int) -> tuple[int, float]:
        # Long intervals, so that when the answer came says the moment booked well enough.
        return chat, loop.time() + await db.book_send(chat, 1, 100.0, 1000.0)

    booked = await asyncio.gather(*(book(db, chat) for chat in range(3) for db in (first, second)))
    # Whichever process books, messages are an interval apart overall, and a chat's second goes a
    # chat's interval after its first.
    moments = sorted(at for _, at in booked)
    assert all(b - a >= 99 for a, b in zip(moments, moments[1:]))
    for chat in range(3):
        one, other = sorted(at for c, at in booked if c == chat)
        assert other - one >= 999


@pytest.fixture
async def replicas(tmp_path, caplog, database):
    """Two dispatchers, each with its own storage (its own connections) and fake Bot API session,
    on the test town's one database: two replicas behind a load balancer."""
    async with open_harness(tmp_path, caplog, database) as first:
        db = await open_storage(database)
        dp = create_dispatcher(first.settings, db, clock=first.clock, send_intervals=(0.0, 0.0))
        second = Harness(dp, make_bot(), db, first.clock, first.settings)
        second._ids = first._ids  # Telegram numbers the updates, whichever replica gets them
        try:
            yield first, second
        finally:
            await db.close()


async def test_a_form_goes_on_whichever_replica_gets_each_step(replicas):
    first, second = replicas
    resident = first.user(RESIDENT, "en")
    await start_form(first, resident)
    await second.send(resident, "✅ Done")
    calls = await first.tap(resident, FormCb(action="confirm"))
    assert any("Your ticket number" in t for t in texts(calls, RESIDENT))


async def test_a_double_tap_split_over_two_replicas_files_one_ticket(replicas):
    first, second = replicas
    resident = first.user(RESIDENT, "en")
    await start_form(first, resident)
    await second.send(resident, "✅ Done")  # the form goes on on the other replica
    await asyncio.gather(first.tap(resident, FormCb(action="confirm")),
                         second.tap(resident, FormCb(action="confirm")))
    told = [t for h in replicas for t in texts(h.session.calls, RESIDENT) if "Your ticket number" in t]
    assert len(await first.db.resident_tickets(RESIDENT)) == 1 and len(told) == 1


async def test_an_update_delivered_to_two_replicas_is_handled_once(replicas):
    first, second = replicas
    resident = first.user(RESIDENT, "en")
    await first.send(first.user(RESIDENT + 1, "en"), "/start")  # the first replica has seen an update

    def start(update_id: int) -> Update:
        return Update(update_id=update_id, message=first._message(
            resident, RESIDENT, text="/start g_DL01", entities=[{"type": "bot_command", "offset": 0, "length": 6}]))

    await second.feed(start(900))
    await first.feed(start(900))  # Telegram sent it again, to the other replica
    assert len([t for h in replicas for t in texts(h.session.calls, RESIDENT) if "Grid:" in t]) == 1


async def test_the_watchers_run_in_the_leading_process_only_and_move_when_it_dies(database):
    stores = [await open_storage(database) for _ in range(2)]
    running: list[int] = []
    leaderships = [Leadership(db, every=0.02) for db in stores]
    for number, leadership in enumerate(leaderships):
        async def watch(number: int = number) -> None:
            running.append(number)
            await asyncio.Event().wait()

        leadership.duties.append(watch)
    assert await stores[0].lead()  # the first process started first
    tasks = [asyncio.create_task(leadership.run()) for leadership in leaderships]
    try:
        await asyncio.sleep(0.2)
        assert running == [0] and [lead.leading for lead in leaderships] == [True, False]
        await stores[0].close()  # the leader's connections end, as when its process is killed
        await asyncio.sleep(0.2)
        assert running == [0, 1] and leaderships[1].leading
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await stores[1].close()

"""Nothing lost: forms and tickets across restarts, updates delivered twice, Telegram's errors in the
outbox, the filing limit, forged buttons, clean logs, backups, shutdown, and 200 residents at once.

Most tests run the dispatcher in this process; the last two kill a real bot process (`gridbot run`
against tests/fake_bot_api.py on 127.0.0.1): once in the middle of a form and of sends, and five times
while residents file."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiogram.methods import AnswerCallbackQuery, SendLocation, SendMediaGroup, SendMessage, SendPhoto, TelegramMethod
from aiogram.types import Update

from bot.__main__ import main as gridbot_main
from bot.factory import create_dispatcher
from bot.pacing import Limiter
from domain.models import Kind, Notice, Attachment, Status
from domain.service import NOTICE_NEW_TICKET, NOTICE_STATUS, Draft, RateLimited
from handlers.callbacks import (
    CategoryCb,
    FormCb,
    HandOverCb,
    KindCb,
    RateCb,
    ResidentTicketCb,
    StaffTicketCb,
)
from storage import Storage, open_storage
from storage.sqlite import SqliteStorage
from tests.conftest import (
    GRIDS, STAFF, WORKER_DL01, WORKER_DL02, WORKER_NZ01, Harness, joined, opened_the_bot, texts, to_chat,
)
from tests.fake_bot_api import Call, FakeBotApi, message, tap
from tests.test_ticket_loop import file_ticket

RESIDENT = 1001
OTHER_RESIDENT = 1002


# -- helpers --------------------------------------------------------------------------------------
@pytest.fixture
def fed(harness) -> list[Update]:
    """Every update fed to the dispatcher, so that a test can deliver one again."""
    updates: list[Update] = []
    feed_update = harness.dp.feed_update

    async def recording(bot, update, **kwargs):
        updates.append(update)
        return await feed_update(bot, update, **kwargs)

    harness.dp.feed_update = recording  # type: ignore[method-assign]
    return updates


async def restart(h: Harness) -> None:
    """As after a crash: the database is reopened, and the dispatcher (with every cache and lock
    in memory) is made anew. Update ids go on where they were, as Telegram's do."""
    await h.db.close()
    h.db = await open_storage(h.settings.database)
    h.dp = create_dispatcher(h.settings, h.db, clock=h.clock, send_intervals=(0.0, 0.0))


async def start_form(h: Harness, user, text: str = "楼下水管漏水三天了") -> None:
    await h.send(user, "/start g_DL01")
    await h.tap(user, KindCb(kind="complaint"))
    await h.tap(user, CategoryCb(code="roads"))
    await h.send(user, text)


def alerts(calls: list[TelegramMethod]) -> list[str]:
    return [c.text for c in calls if isinstance(c, AnswerCallbackQuery) and c.text]


async def ticket_count(db: Storage) -> int:
    return (await db._all("SELECT COUNT(*) FROM tickets", ()))[0][0]


# -- forms and updates across restarts ------------------------------------------------------------
async def test_form_survives_a_restart(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await start_form(h, resident, "Street lamp broken at the school gate")
    await h.photo(resident, "lamp")
    await restart(h)
    try:
        calls = await h.send(resident, "✅ Done")
        summary = joined(calls, RESIDENT)
        assert "Street lamp broken at the school gate" in summary and "Photos: 1" in summary
        calls = await h.tap(resident, FormCb(action="confirm"))
        tickets = await h.db.resident_tickets(RESIDENT)
        assert len(tickets) == 1 and tickets[0].description == "Street lamp broken at the school gate"
        assert "XG-{:06d}".format(tickets[0].id) in joined(calls, RESIDENT)
    finally:
        await h.db.close()


async def test_the_same_update_twice_is_handled_once(harness, fed):
    h = harness
    resident = h.user(RESIDENT, "en")
    await start_form(h, resident, "Pothole")
    text_update = fed[-1]
    assert await h.feed(text_update) == []  # no answer, and the text is not added again
    calls = await h.send(resident, "✅ Done")
    assert "Pothole\nPothole" not in joined(calls, RESIDENT)

    await h.tap(resident, FormCb(action="confirm"))
    confirm_update = fed[-1]
    await restart(h)  # Telegram redelivers after a restart
    try:
        assert await h.feed(confirm_update) == []
        assert await ticket_count(h.db) == 1
    finally:
        await h.db.close()


async def test_bot_killed_after_filing_replays_the_confirmation(harness, fed):
    """The ticket is on disk, then the bot dies before telling the resident. The update was not
    recorded as handled, and the form is as it was before it, so Telegram's redelivery runs the
    confirmation again: the same ticket, its number told, nothing filed twice."""
    h = harness
    resident = h.user(RESIDENT, "en")
    await start_form(h, resident)
    await h.send(resident, "✅ Done")
    make_request = h.session.make_request

    async def dies_on_the_thank_you(bot, method, timeout=None):
        if isinstance(method, SendMessage) and "Thank you" in method.text:
            raise asyncio.CancelledError  # what the process sees of kill -9, as near as it gets
        return await make_request(bot, method, timeout)

    h.session.make_request = dies_on_the_thank_you  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await h.tap(resident, FormCb(action="confirm"))
    h.session.make_request = make_request  # type: ignore[method-assign]
    [ticket] = await h.db.resident_tickets(RESIDENT)

    await restart(h)
    try:
        calls = await h.feed(fed[-1])
        assert "Your ticket number is <b>XG-{:06d}</b>".format(ticket.id) in joined(calls, RESIDENT)
        assert await ticket_count(h.db) == 1
        # The worker's card was queued with the ticket, once.
        cards = [c for c in to_chat(h.session.calls, WORKER_DL01) if isinstance(c, SendMessage)]
        assert len(cards) == 1
        # And the form is finished now: another tap on the old button files nothing.
        calls = await h.tap(resident, FormCb(action="confirm"))
        assert alerts(calls) and await ticket_count(h.db) == 1
    finally:
        await h.db.close()


async def test_double_tap_on_submit_files_one_ticket(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await start_form(h, resident)
    await h.send(resident, "✅ Done")
    before = len(h.session.calls)
    await asyncio.gather(h.tap(resident, FormCb(action="confirm")), h.tap(resident, FormCb(action="confirm")))
    calls = h.session.calls[before:]
    assert await ticket_count(h.db) == 1
    assert len([t for t in texts(calls, RESIDENT) if "Your ticket number" in t]) == 1
    assert any("no longer active" in a for a in alerts(calls))


# -- the outbox and Telegram's errors -------------------------------------------------------------
@dataclass
class FakeTime:
    """Pacing's clock: `sleep` moves it on at once, so nothing here waits for real."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)


@pytest.fixture
def paced(harness) -> tuple[FakeTime, list[tuple[float, TelegramMethod]]]:
    """Telegram's real limits on a fake clock; returns the clock and every call with its time."""
    h = harness
    fake = FakeTime()
    # The outbox and the handlers' replies share it, as in `gridbot run`.
    h.dp["limiter"] = h.dp["outbox"].limiter = Limiter(monotonic=fake.monotonic, sleep=fake.sleep)
    sent: list[tuple[float, TelegramMethod]] = []
    make_request = h.session.make_request

    async def timed(bot, method, timeout=None):
        sent.append((fake.now, method))
        return await make_request(bot, method, timeout)

    h.session.make_request = timed  # type: ignore[method-assign]
    return fake, sent


async def test_pacing_one_a_second_per_chat_thirty_overall(harness, paced):
    h = harness
    fake, sent = paced
    # Tickets reach the workers through the outbox as photos (an album of 2), location and card:
    # two for the DL01 worker, one for DL02's.
    for resident_id, grid in ((RESIDENT, "DL01"), (OTHER_RESIDENT, "DL01"), (1003, "DL02")):
        await file_ticket(h, h.user(resident_id), grid=grid, photos=2, location=(34.81, 117.17))
    outgoing = [(at, m) for at, m in sent if getattr(m, "chat_id", None) in (WORKER_DL01, WORKER_DL02)]
    assert len(outgoing) == 9
    for (earlier, _), (later, _) in zip(outgoing, outgoing[1:]):
        assert later - earlier >= 1 / 30 - 1e-9
    worker = [(at, m) for at, m in outgoing if m.chat_id == WORKER_DL01]
    for (earlier, first), (later, _) in zip(worker, worker[1:]):
        messages = len(first.media) if isinstance(first, SendMediaGroup) else 1
        assert later - earlier >= messages - 1e-9  # one a second; an album of two counts twice
    # In order per chat: each ticket's album, location, then its card.
    assert [type(m) for _, m in worker] == [SendMediaGroup, SendLocation, SendMessage] * 2


async def test_429_waits_as_long_as_telegram_says(harness, paced):
    h = harness
    fake, sent = paced
    h.session.fail_next(WORKER_DL01, 429, "Too Many Requests: retry after 7", retry_after=7)
    await file_ticket(h, h.user(RESIDENT))
    [item] = await h.db.due_outbox(h.clock.now + 7)
    assert item.attempts == 1 and not await h.db.due_outbox(h.clock.now + 6)
    h.clock.advance(7)
    await h.dp["outbox"].deliver_due(h.bot)
    refused, accepted = [at for at, m in sent if isinstance(m, SendMessage) and m.chat_id == WORKER_DL01]
    assert accepted - refused >= 7
    assert not await h.db.due_outbox(h.clock.now + 10**6)


@pytest.mark.parametrize("status", [500, 502, 0])  # 0: the connection dropped
async def test_server_and_network_errors_back_off_and_keep_order(harness, status):
    h = harness
    h.session.fail_next(WORKER_DL01, status)
    h.session.fail_next(WORKER_DL01, status)
    calls = await file_ticket(h, h.user(RESIDENT), photos=1)
    assert not [c for c in to_chat(calls, WORKER_DL01) if not isinstance(c, SendPhoto)]
    [item] = await h.db.due_outbox(h.clock.now + 2)
    assert item.attempts == 1  # retried within two seconds
    h.clock.advance(2)
    await h.dp["outbox"].deliver_due(h.bot)
    [item] = await h.db.due_outbox(h.clock.now + 3)
    assert item.attempts == 2  # then within three
    h.clock.advance(3)
    await h.dp["outbox"].deliver_due(h.bot)
    worker = to_chat(h.session.calls, WORKER_DL01)
    # Two failed attempts at the photo, then photo and card, in this order, each once.
    assert [type(c) for c in worker] == [SendPhoto, SendPhoto, SendPhoto, SendMessage]
    assert not await h.db.due_outbox(h.clock.now + 10**6)


async def test_403_marks_the_user_unreachable_and_drops_their_notices(harness):
    h = harness
    resident, worker = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en")
    await file_ticket(h, resident, lang="en")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    h.session.fail_next(RESIDENT, 403, "Forbidden: bot was blocked by the user")
    # Two status notices for the resident: "in progress", then the reply.
    await h.db.enqueue([Notice(RESIDENT, NOTICE_STATUS, ticket.id, {"status": "in_progress"}),
                        Notice(RESIDENT, NOTICE_STATUS, ticket.id, {"status": "in_progress"}),
                        Notice(WORKER_DL01, NOTICE_NEW_TICKET, ticket.id, {})], h.clock.now)
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    after = h.session.calls[before:]
    assert len(to_chat(after, RESIDENT)) == 1  # tried once, then stopped
    assert len(to_chat(after, WORKER_DL01)) == 1  # other chats go on
    assert (await h.db.get_user(RESIDENT)).unreachable
    assert not await h.db.due_outbox(h.clock.now + 10**6)
    # Writing to the bot again makes the resident reachable; new notices reach them.
    await h.send(resident, "/my")
    assert not (await h.db.get_user(RESIDENT)).unreachable
    calls = await h.tap(worker, StaffTicketCb(action="take", ticket_id=ticket.id))
    assert "In progress" in joined(calls, RESIDENT)


async def test_a_broken_notice_does_not_hold_up_the_others(harness):
    h = harness
    await file_ticket(h, h.user(RESIDENT))
    [ticket] = await h.db.resident_tickets(RESIDENT)
    # First in the queue: a notice nobody can render (a bug); then one for another chat.
    await h.db.enqueue([Notice(OTHER_RESIDENT, "no_such_notice", ticket.id, {}),
                        Notice(RESIDENT, NOTICE_STATUS, ticket.id, {"status": "in_progress"})], h.clock.now)
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    assert len(to_chat(h.session.calls[before:], RESIDENT)) == 1
    [broken] = await h.db.due_outbox(h.clock.now + 5)
    assert broken.notice.chat_id == OTHER_RESIDENT and broken.attempts == 1
    h.clock.advance(25 * 3600)  # still broken a day later: dropped, not retried for ever
    await h.dp["outbox"].deliver_due(h.bot)
    assert not await h.db.due_outbox(h.clock.now + 10**6)


async def test_a_sent_notice_is_not_sent_again_when_recording_it_fails(harness):
    h = harness
    mark_sent = h.db.mark_sent
    failures = iter([sqlite3.OperationalError("disk I/O error")])

    async def flaky_mark_sent(item_id, now):
        error = next(failures, None)
        if error:
            raise error
        await mark_sent(item_id, now)

    h.db.mark_sent = flaky_mark_sent  # type: ignore[method-assign]
    await file_ticket(h, h.user(RESIDENT))
    await h.dp["outbox"].deliver_due(h.bot)
    cards = [c for c in to_chat(h.session.calls, WORKER_DL01) if isinstance(c, SendMessage)]
    assert len(cards) == 1
    assert not await h.db.due_outbox(h.clock.now + 10**6)


# -- abuse: the filing limit and forged buttons ---------------------------------------------------
@pytest.mark.parametrize("lang, expected", [("en", "You have filed 2 tickets within the past hour"),
                                            ("zh", "您在过去一小时内已提交 2 个工单")])
async def test_filing_limit_per_resident(harness, lang, expected):
    h = harness
    h.dp["tickets"].tickets_per_hour = 2
    resident = h.user(RESIDENT, lang)
    await file_ticket(h, resident, category="roads", lang=lang)
    await file_ticket(h, resident, category="power", lang=lang)
    calls = await file_ticket(h, resident, category="water", lang=lang)
    assert any(expected in a for a in alerts(calls))
    assert len(await h.db.resident_tickets(RESIDENT)) == 2
    assert len(await h.db.resident_tickets(OTHER_RESIDENT)) == 0
    await file_ticket(h, h.user(OTHER_RESIDENT, lang), lang=lang)  # others are not affected
    assert len(await h.db.resident_tickets(OTHER_RESIDENT)) == 1
    # The form was kept: an hour later the same button files it.
    h.clock.advance(3601)
    calls = await h.tap(resident, FormCb(action="confirm"))
    assert not alerts(calls) and len(await h.db.resident_tickets(RESIDENT)) == 3


async def test_filing_limit_does_not_refuse_a_redelivered_update(harness):
    h = harness
    tickets = h.dp["tickets"]
    tickets.tickets_per_hour = 1
    draft = Draft(Kind.COMPLAINT, "water", "DL01", "漏水", (Attachment("p", "pu"),))
    ticket, created = await tickets.file(RESIDENT, draft, source_key="cbq:1")
    again, created_again = await tickets.file(RESIDENT, draft, source_key="cbq:1")
    assert created and not created_again and again.id == ticket.id
    with pytest.raises(RateLimited):
        await tickets.file(RESIDENT, draft, source_key="cbq:2")


async def test_forged_buttons_touch_nothing(harness):
    h = harness
    resident, stranger = h.user(RESIDENT, "en"), h.user(OTHER_RESIDENT, "en")
    dl_worker, nz_worker = h.user(WORKER_DL01, "en"), h.user(WORKER_NZ01, "en")
    await file_ticket(h, resident, lang="en")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    await file_ticket(h, stranger, grid="NZ01", lang="en")
    [nz_ticket] = await h.db.resident_tickets(OTHER_RESIDENT)
    # The resident's ticket is resolved, so that rating it would be possible for its owner.
    await h.tap(dl_worker, StaffTicketCb(action="resolve", ticket_id=ticket.id))
    await h.send(dl_worker, "fixed")
    await h.send(dl_worker, "✅ Done")
    before = {t: (await h.db.get_ticket(t), len(await h.db.events(t))) for t in (ticket.id, nz_ticket.id)}
    forged = [
        (stranger, StaffTicketCb(action="take", ticket_id=ticket.id)),  # a resident, staff's button
        (stranger, RateCb(ticket_id=ticket.id, stars=1)),  # rating someone else's ticket
        (stranger, ResidentTicketCb(action="unsolved", ticket_id=ticket.id)),
        (dl_worker, StaffTicketCb(action="take", ticket_id=nz_ticket.id)),  # grid A on grid B's ticket
        (dl_worker, HandOverCb(ticket_id=nz_ticket.id, grid_code="DL01")),  # pulling it into grid A
        (nz_worker, StaffTicketCb(action="resolve", ticket_id=ticket.id)),
        (stranger, "st:take:abc"),  # malformed
        (stranger, "rate:{}:9".format(ticket.id)),
        (stranger, "rt:view:-1"),
        (stranger, "x" * 64),
    ]
    for user, data in forged:
        calls = await h.tap(user, data)
        assert [c for c in calls if isinstance(c, AnswerCallbackQuery)], data  # always an answer
    after = {t: (await h.db.get_ticket(t), len(await h.db.events(t))) for t in (ticket.id, nz_ticket.id)}
    assert after == before
    assert before[ticket.id][0].status is Status.RESOLVED and before[nz_ticket.id][0].status is Status.NEW


# -- logs ---------------------------------------------------------------------------------------
async def test_one_log_line_per_update_without_token_or_phone(harness, caplog):
    h = harness
    phone = "+8613912345678"
    resident = h.user(RESIDENT, "en")
    await h.send(resident, "/start")
    caplog.clear()
    # INFO, as `gridbot run` sets it up (at DEBUG, aiosqlite prints every SQL parameter).
    with caplog.at_level(logging.INFO):
        await start_form(h, resident, "Call me on " + phone)
        await h.send(resident, "✅ Done")
        await h.tap(resident, FormCb(action="callback"))
        await h.contact(resident, phone.lstrip("+"))  # shared with the contact button (call me back)
        await h.tap(resident, FormCb(action="contact"))
        await h.tap(resident, FormCb(action="confirm"))
    assert (await h.db.resident_tickets(RESIDENT))[0].callback_phone == phone
    update_lines = [r.getMessage() for r in caplog.records if r.name == "gridbot.updates"]
    assert [line.split()[2] for line in update_lines] == [
        "message", "callback_query", "callback_query", "message", "message", "callback_query", "message",
        "callback_query", "callback_query",
    ]
    assert all(line.endswith(" ms") for line in update_lines)
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert h.settings.bot_token not in everything and h.settings.bot_token.split(":")[1] not in everything
    assert phone not in everything and "13912345678" not in everything


# -- backup and restore ---------------------------------------------------------------------------
@pytest.mark.backends("sqlite")  # PostgreSQL is backed up with pg_dump (tests/test_migrate.py)
async def test_backup_while_residents_file_is_consistent(harness, tmp_path):
    h = harness
    for i in range(5):
        await file_ticket(h, h.user(2000 + i), category="roads")
    filing = [asyncio.create_task(file_ticket(h, h.user(3000 + i), category="power")) for i in range(20)]
    copy = tmp_path / "backups" / "copy.sqlite3"
    copy.parent.mkdir()
    await asyncio.sleep(0)
    await h.db.backup_to(copy)
    await asyncio.gather(*filing)
    assert not (tmp_path / "backups" / "copy.sqlite3-wal").exists()
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy.sqlite3"]
    with sqlite3.connect(copy) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tickets = db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
        # Whatever moment it caught, each ticket in it came with its event and its card.
        assert 5 <= tickets <= 25
        assert db.execute("SELECT COUNT(DISTINCT ticket_id) FROM ticket_events WHERE type = 'created'").fetchone()[0] == tickets
        assert db.execute("SELECT COUNT(DISTINCT ticket_id) FROM outbox WHERE type = ?", (NOTICE_NEW_TICKET,)).fetchone()[0] == tickets


@pytest.mark.backends("sqlite")
async def test_gridbot_backup_and_the_documented_restore(harness, tmp_path, monkeypatch, capsys):
    h = harness
    await file_ticket(h, h.user(RESIDENT))
    monkeypatch.chdir(tmp_path)  # no .env from the working copy
    monkeypatch.setenv("DATABASE_PATH", str(h.settings.database_path))
    backup = tmp_path / "gridbot-backup.sqlite3"
    assert await asyncio.to_thread(gridbot_main, ["backup", str(backup)]) == 0
    assert "的备份已写入" in capsys.readouterr().out
    assert await asyncio.to_thread(gridbot_main, ["backup", str(h.settings.database_path)]) == 1
    # Restore as README says: stop the bot, copy the backup over DATABASE_PATH, remove -wal/-shm.
    restored_path = tmp_path / "restored" / "gridbot.sqlite3"
    restored_path.parent.mkdir()
    restored_path.write_bytes(backup.read_bytes())
    for suffix in ("-wal", "-shm"):
        Path(str(restored_path) + suffix).unlink(missing_ok=True)
    restored = await SqliteStorage.open(restored_path)
    try:
        assert [t.id for t in await restored.resident_tickets(RESIDENT)] == [
            t.id for t in await h.db.resident_tickets(RESIDENT)
        ]
    finally:
        await restored.close()


# -- shutdown -------------------------------------------------------------------------------------
async def test_shutdown_waits_for_the_update_in_hand_then_stops_the_outbox(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await start_form(h, resident)
    await h.send(resident, "✅ Done")
    await h.dp.emit_startup(bot=h.bot, dispatcher=h.dp, **h.dp.workflow_data)
    outbox_task = h.dp["outbox_task"]
    reached, gate = asyncio.Event(), asyncio.Event()
    make_request = h.session.make_request

    async def held_thank_you(bot, method, timeout=None):
        if isinstance(method, SendMessage) and "Thank you" in method.text:
            reached.set()
            await gate.wait()
        return await make_request(bot, method, timeout)

    handled_updates = h.dp["handled_updates"]
    wait_idle = handled_updates.wait_idle

    async def wait_idle_then_open_the_gate(timeout: float) -> bool:
        waiting = asyncio.create_task(wait_idle(timeout))
        await asyncio.sleep(0)
        assert not waiting.done()  # the confirmation is still in hand, so shutdown waits
        gate.set()
        return await waiting

    h.session.make_request = held_thank_you  # type: ignore[method-assign]
    handled_updates.wait_idle = wait_idle_then_open_the_gate
    confirming = asyncio.create_task(h.tap(resident, FormCb(action="confirm")))
    await reached.wait()  # the ticket is filed; the answer is on its way
    await h.dp.emit_shutdown(bot=h.bot, dispatcher=h.dp, **h.dp.workflow_data)
    assert outbox_task.done() and not outbox_task.cancelled()
    assert "leadership_task" not in h.dp.workflow_data
    calls = await confirming
    assert "Your ticket number" in joined(calls, RESIDENT)
    await restart(h)  # the finished form was written before the shutdown ended
    try:
        calls = await h.tap(resident, FormCb(action="confirm"))
        assert "no longer active" in " ".join(alerts(calls)) and await ticket_count(h.db) == 1
    finally:
        await h.db.close()


# -- load -----------------------------------------------------------------------------------------
async def test_200_residents_filing_at_once(harness):
    h = harness
    h.dp["tickets"].tickets_per_hour = 0
    residents = [h.user(10_000 + i, "zh") for i in range(200)]
    grids = ("DL01", "DL02", "NZ01")
    results = await asyncio.gather(
        *(file_ticket(h, r, grid=grids[i % 3], text=f"第{i}号居民：路灯坏了") for i, r in enumerate(residents))
    )
    numbers = set()
    for resident, calls in zip(residents, results):
        [ticket] = await h.db.resident_tickets(resident.id)
        assert ticket.description.endswith("路灯坏了") and ticket.resident_id == resident.id
        told = [t for t in texts(calls, resident.id) if "XG-{:06d}".format(ticket.id) in t]
        assert len(told) == 1
        numbers.add(ticket.id)
    assert len(numbers) == 200 == await ticket_count(h.db)
    await h.dp["outbox"].deliver_due(h.bot)
    cards = [c for c in h.session.calls if isinstance(c, SendMessage) and c.chat_id in (501, 502, 503)
             and "路灯坏了" in c.text]
    assert len(cards) == 200 and len({c.text for c in cards}) == 200
    assert not await h.db.due_outbox(h.clock.now + 10**6)


@pytest.mark.backends("sqlite")  # SQLite's synchronous setting
async def test_form_commits_leave_ticket_commits_durable(harness):
    """Form steps are committed with synchronous=NORMAL; the connection is back to FULL after each,
    also after a failed one, so a ticket is on disk before its number is shown."""
    h = harness
    full = 2
    await h.db.save_forms({"fsm:42:1:1:default": ("TicketForm:kind", "{}")}, h.clock.now, 1)
    assert (await h.db._all("PRAGMA synchronous", ()))[0][0] == full
    with pytest.raises(sqlite3.IntegrityError):
        await h.db.save_forms({"fsm:42:1:1:default": ("TicketForm:kind", None)}, h.clock.now, 2)
    assert (await h.db._all("PRAGMA synchronous", ()))[0][0] == full
    assert await h.db.load_form("fsm:42:1:1:default") == ("TicketForm:kind", "{}")
    assert not await h.db.update_handled(2)  # the failed commit left nothing behind


async def test_form_locks_are_forgotten_when_idle(harness):
    h = harness
    await asyncio.gather(*(start_form(h, h.user(5000 + i)) for i in range(20)))
    assert h.dp.fsm.events_isolation._locks == {}


# -- a real process, killed -----------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAHfakeTokenForTheCrashTest_0123456789"


def bot_env(database: Path, api_url: str, **settings: str) -> dict[str, str]:
    # Run in a folder without .env, so only these settings count.
    return {**os.environ, "BOT_TOKEN": TOKEN, "DATABASE_PATH": str(database), "TELEGRAM_API_URL": api_url,
            "ADMIN_IDS": "", "PYTHONPATH": str(ROOT), **settings}


async def start_bot(folder: Path, database: Path, api_url: str, log) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=folder,
                                                env=bot_env(database, api_url), stdout=log, stderr=log)


# Starts `gridbot run` again and again, fast: this process imports the bot once, then forks a fresh
# bot (its own event loop, database connection and HTTP session) for each line on its stdin and
# prints its pid. Importing aiogram takes seconds on a loaded machine; a fork takes milliseconds.
FORKING_RUN = """
import os, signal, sys
from bot.__main__ import main
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # a bot that ends is reaped at once
for _ in sys.stdin:
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(2, 1)  # its output to the log, not to the pipe of pids
        os._exit(main(["run"]))
    print(pid, flush=True)
"""


class BotForks:
    """One bot at a time, forked by FORKING_RUN. Only the running bot is ever signalled: the pid of
    one that has ended may already belong to another process (other tests, other runs)."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.running: int | None = None

    @classmethod
    async def open(cls, folder: Path, database: Path, api_url: str, log, **settings: str) -> BotForks:
        return cls(await asyncio.create_subprocess_exec(
            sys.executable, "-c", FORKING_RUN, cwd=folder, env=bot_env(database, api_url, **settings),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
        ))

    async def start(self) -> None:
        self.process.stdin.write(b"run\n")
        self.running = int(await self.process.stdout.readline())

    async def end(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the running bot and wait until it is gone."""
        pid, self.running = self.running, None
        os.kill(pid, sig)
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        if self.running is not None:
            await self.end()
        self.process.kill()
        await self.process.wait()


async def polling(api: FakeBotApi) -> None:
    await api.wait_for(lambda c: c.method == "getUpdates", since=len(api.calls), timeout=120)


async def ask(api: FakeBotApi, resident: int, update: dict, answer_contains: str, timeout: float = 60) -> Call:
    since = len(api.calls)
    await api.push(update)
    return await api.wait_for(lambda c: c.chat_id == resident and answer_contains in c.text, since, timeout)


async def handled(database: Path, update: dict) -> None:
    """Wait until the bot has written the update away: a kill after that is between two updates."""
    def written() -> bool:
        with sqlite3.connect(database) as db:
            return bool(db.execute("SELECT 1 FROM handled_updates WHERE update_id = ?",
                                   (update["update_id"],)).fetchone())

    while not await asyncio.to_thread(written):
        await asyncio.sleep(0.05)


async def town_database(folder: Path) -> Path:
    """A database with the test town's grids and staff, who have all opened the bot."""
    database = folder / "gridbot.sqlite3"
    db = await SqliteStorage.open(database)
    await db.upsert_grids(GRIDS)
    await db.upsert_staff(STAFF)
    await opened_the_bot(db, STAFF)
    await db.close()
    return database


async def stop_cleanly(bot: asyncio.subprocess.Process) -> None:
    bot.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(bot.wait(), 60) == 0


def assert_clean_log(log_path: Path) -> None:
    output = log_path.read_text(encoding="utf-8", errors="replace")
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert "Traceback" not in output  # nor on the clean stop


async def test_kill_9_in_a_form_and_in_sends_then_sigterm(tmp_path):
    """Resident A has just confirmed: the ticket is on disk with its card and A's number in the
    outbox, the card is on its way (the fake API does not answer) and A is not told yet, when the bot
    is killed. Resident B is in the middle of a form. Telegram does not deliver A's tap again (aiogram
    confirmed it when it fetched the next batch); after the restart A is told the number, once, and
    B goes on."""
    database = await town_database(tmp_path)
    api = FakeBotApi()
    url = await api.start()
    log_path = tmp_path / "bot.log"
    bot = None
    a, b = RESIDENT, OTHER_RESIDENT

    def told_number(resident: int):
        return lambda c: c.chat_id == resident and "Your ticket number" in c.text

    def card(description: str):
        return lambda c: c.chat_id == WORKER_DL01 and description in c.text

    async def describe(resident: int, grid: str, category: str, text: str) -> None:
        await ask(api, resident, message(resident, "/start g_" + grid), "Grid:")
        await ask(api, resident, tap(resident, KindCb(kind="complaint").pack()), "which area")
        await ask(api, resident, tap(resident, CategoryCb(code=category).pack()), "Describe the problem")
        await handled(database, await api.push(message(resident, text)))

    with log_path.open("wb") as log:
        try:
            bot = await start_bot(tmp_path, database, url, log)
            await polling(api)
            await describe(a, "DL01", "water", "Pipe burst in building 3")
            await ask(api, a, message(a, "✅ Done"), "Pipe burst in building 3")
            await describe(b, "DL01", "roads", "Street lamp broken at the school gate")
            api.hold = card("Pipe burst")
            since = len(api.calls)
            confirm = await api.push(tap(a, FormCb(action="confirm").pack()))
            await api.wait_for(card("Pipe burst"), since)
            await api.wait_for(lambda c: c.method == "getUpdates" and int(c.params.get("offset") or 0)
                               > confirm["update_id"], since)  # the tap is confirmed
            bot.kill()  # kill -9
            await bot.wait()

            api.hold = lambda c: False
            since = len(api.calls)
            bot = await start_bot(tmp_path, database, url, log)
            told_a = await api.wait_for(told_number(a), since)
            await api.wait_for(card("Pipe burst"), since)
            await ask(api, b, message(b, "✅ Done"), "Street lamp broken at the school gate")
            told_b = await ask(api, b, tap(b, FormCb(action="confirm").pack()), "Your ticket number")
            await api.wait_for(card("Street lamp"))
            await stop_cleanly(bot)
        finally:
            if bot is not None and bot.returncode is None:
                bot.kill()
                await bot.wait()
            await api.stop()

    db = await SqliteStorage.open(database)
    try:
        [ticket_a] = await db.resident_tickets(a)
        [ticket_b] = await db.resident_tickets(b)
        assert ticket_a.description == "Pipe burst in building 3"
        assert ticket_b.description == "Street lamp broken at the school gate"
        assert "XG-{:06d}".format(ticket_a.id) in told_a.text and "XG-{:06d}".format(ticket_b.id) in told_b.text
        assert not await db.due_outbox(2**40)  # every card is recorded as sent
        assert (await db._all("PRAGMA integrity_check", ())) == [("ok",)]
    finally:
        await db.close()
    # Only the card in flight at the kill went out twice; A was told the number once.
    assert len([c for c in api.calls if card("Pipe burst")(c)]) == 2
    assert len([c for c in api.calls if told_number(a)(c)]) == 1
    assert len([c for c in api.calls if card("Street lamp")(c)]) == 1
    assert_clean_log(log_path)


# Six residents file two reports each in three grids, one after the other, while the bot is killed
# after each of these pauses (seconds).
FILERS = {2001 + i: ("DL01", "DL02", "NZ01")[i % 3] for i in range(6)}
REPORTS = 2
WORKER_OF = {"DL01": WORKER_DL01, "DL02": WORKER_DL02, "NZ01": WORKER_NZ01}
KILL_AFTER = (2.0, 3.0, 1.5, 3.5, 2.5)
# A step unanswered this long was in the bot's hands at a kill: a person begins again (or taps
# Submit again).
STEP_SECONDS = 5


async def test_repeated_kill_9_under_traffic_loses_and_doubles_nothing(tmp_path):
    """Residents file report after report while the bot is killed (SIGKILL) five times and started
    again. They act as people do: a step left unanswered (it was in hand at a kill) is begun again as
    a new report, an unanswered Submit is tapped again. Afterwards the database is sound, no form was
    filed twice, and for every ticket its resident was told the number and its worker got the card:
    each once, except the one notice in flight at a kill, which may go out twice."""
    database = await town_database(tmp_path)
    api = FakeBotApi()
    url = await api.start()
    log_path = tmp_path / "bot.log"

    async def file_reports(resident: int, grid: str, delay: float) -> None:
        await asyncio.sleep(delay)  # not all in step
        filed = 0
        for attempt in itertools.count():
            if filed == REPORTS:
                return
            text = f"Resident {resident}, report {attempt}: the water pipe burst"
            try:
                await ask(api, resident, message(resident, "/start g_" + grid), "Grid:", STEP_SECONDS)
                await ask(api, resident, tap(resident, KindCb(kind="complaint").pack()), "which area", STEP_SECONDS)
                await ask(api, resident, tap(resident, CategoryCb(code="water").pack()), "Describe the problem",
                          STEP_SECONDS)
                await asyncio.wait_for(handled(database, await api.push(message(resident, text))), STEP_SECONDS)
                await ask(api, resident, message(resident, "✅ Done"), text, STEP_SECONDS)
            except asyncio.TimeoutError:
                continue  # begun again, as a new report
            since = len(api.calls)
            for _ in range(3):  # tapped again: the same form files once, and its number comes from the outbox
                await api.push(tap(resident, FormCb(action="confirm").pack()))
                try:
                    await api.wait_for(lambda c: c.chat_id == resident and "Your ticket number" in c.text, since,
                                       STEP_SECONDS)
                    filed += 1
                    break
                except asyncio.TimeoutError:
                    pass  # still nothing after three taps: the summary was shown, but its step lost

    async def kill_repeatedly(bots: BotForks) -> None:
        for pause in KILL_AFTER:
            await asyncio.sleep(pause)
            await bots.end()  # kill -9, with residents in every step of their forms
            since = len(api.calls)
            await bots.start()
            await api.wait_for(lambda c: c.method == "getUpdates", since, 120)

    def unsent() -> int:
        with sqlite3.connect(database) as db:
            return db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]

    with log_path.open("wb") as log:
        bots = await BotForks.open(tmp_path, database, url, log, TICKETS_PER_HOUR="0")
        try:
            await bots.start()
            await polling(api)
            await asyncio.wait_for(asyncio.gather(kill_repeatedly(bots), *(
                file_reports(resident, grid, i * 0.3) for i, (resident, grid) in enumerate(FILERS.items())
            )), 240)
            while await asyncio.to_thread(unsent):  # the last cards and numbers go out
                await asyncio.sleep(0.1)
            await bots.end(signal.SIGTERM)
        finally:
            await bots.close()
            await api.stop()

    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        tickets = db.execute("SELECT id, resident_id, grid_code, description FROM tickets").fetchall()
        assert not db.execute("SELECT id FROM outbox WHERE dropped_reason IS NOT NULL").fetchall()
    descriptions = [t[3] for t in tickets]
    assert len(descriptions) == len(set(descriptions)) >= len(FILERS) * REPORTS  # no form filed twice
    sent = [c for c in api.calls if c.method == "sendMessage"]
    told = [sum(c.chat_id == resident and f"Your ticket number is <b>XG-{ticket_id:06d}</b>" in c.text for c in sent)
            for ticket_id, resident, _grid, _text in tickets]
    cards = [sum(c.chat_id == WORKER_OF[grid] and f"XG-{ticket_id:06d}" in c.text for c in sent)
             for ticket_id, _resident, grid, _text in tickets]
    assert all(count >= 1 for count in told + cards)  # nothing missing
    assert sum(count - 1 for count in told + cards) <= len(KILL_AFTER)  # at most the one in flight at each kill
    assert_clean_log(log_path)

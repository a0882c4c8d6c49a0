"""The day sums (storage/stats_sqlite.py, migration 0021) against the events they are summed from.

Random histories run through the ticket service with a clock, across a year's end and month ends:
filing, replies, closings, confirmations and ratings (often days later, for old tickets),
reopenings, escalations by staff and by the deadline watcher, routing to departments and their
returns (退回), hand-overs to another grid, merges, withdrawals (撤回) and urges. The days are
summed as the bot does, now and then (after a pause, several at once). Every week, month, quarter
and range report, over and so far, in every scope, must then read exactly as the one worked out
from the events alone, and so must its export rows; and a report of a period that was over when
first produced must read the same at the end."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.stats_report import period_report
from domain.models import EventType, Kind, Role, RoleGrant, TicketEvent
from domain.service import Draft, TicketError, TicketService
from domain.stats import Period, PeriodKind, Scope, ScopeLevel, compute_report, load_report, total
from storage import Storage, open_storage
from tests.conftest import FakeClock
from tests.test_stats import GRIDS, HOUR, SHANGHAI, i18n_context, local, staff_who_opened_the_bot

ADMIN = [RoleGrant(Role.ADMIN)]
SCOPES = [Scope(), Scope(ScopeLevel.TOWN, "T1"), Scope(ScopeLevel.VILLAGE, "V2"), Scope(ScopeLevel.GRID, "A")]
CATEGORIES = ["water", "roads", "power"]
DEPARTMENTS = ["水务局", "城管局"]
BEGIN = local(date(2026, 12, 21), 9)  # a Monday; the histories run into February
ACTIONS = ["file", "file", "reply", "resolve", "resolve", "confirm", "reopen", "escalate", "return",
           "hand_over", "merge", "withdraw", "urge", "deadline"]

steps = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, 99), st.integers(0, 99), st.integers(0, 40),
              st.booleans()),
    min_size=20, max_size=70,
)


async def report_text(storage: Storage, period: Period, scope: Scope, now: int) -> str:
    report = await load_report(storage, period, SHANGHAI, scope, now, min_rated=1, min_tickets=1)
    return period_report(report, {"water": "供水"}, SHANGHAI)


async def text_from_events(storage: Storage, period: Period, scope: Scope, now: int) -> str:
    window = period.window(SHANGHAI, now)
    rows = await storage.period_rows_from_events(window, scope)
    previous = await storage.period_rows_from_events(period.previous().window(SHANGHAI), scope)
    report = compute_report(period, scope, window, rows, total(r.tally for r in previous.by_grid), 1, 1)
    return period_report(report, {"water": "供水"}, SHANGHAI)


def periods_until(now: int) -> list[Period]:
    """Every week, month and quarter begun by `now` since the history began, and a few ranges."""
    chosen: set[Period] = set()
    for kind in (PeriodKind.WEEK, PeriodKind.MONTH, PeriodKind.QUARTER):
        period = Period.containing(kind, now, SHANGHAI)
        while period.window(SHANGHAI).end > BEGIN - 7 * 24 * HOUR:
            chosen.add(period)
            period = period.previous()
    chosen |= {Period.parse("2026-12-25..2027-01-03"), Period.parse("2026-12-31..2027-01-01"),
               Period.parse("2027-01-30..2027-02-02")}
    return sorted(p for p in chosen if p.window(SHANGHAI).start <= now)


async def act(service: TicketService, storage: Storage, tickets: list[int], step: tuple) -> None:
    action, a, b, hours, _ = step
    ticket_id = tickets[a % len(tickets)] if tickets else None
    if action == "file":
        draft = Draft(Kind.COMPLAINT, CATEGORIES[b % 3], GRIDS[a % len(GRIDS)].code, "路灯不亮")
        ticket, _ = await service.file(1000 + len(tickets), draft)
        tickets.append(ticket.id)
    elif action == "deadline":
        await service.run_deadlines()
    elif ticket_id is None:
        return
    elif action == "reply":
        await service.reply(ticket_id, 1, ADMIN, "收到")
    elif action == "resolve":
        await service.resolve(ticket_id, 1, ADMIN, "已处理")
    elif action == "confirm":
        ticket = await storage.get_ticket(ticket_id)
        await service.confirm(ticket_id, ticket.resident_id)
        await service.rate(ticket_id, ticket.resident_id, b % 5 + 1)
    elif action == "reopen":
        ticket = await storage.get_ticket(ticket_id)
        await service.reopen(ticket_id, ticket.resident_id, "没修好")
    elif action == "withdraw":
        ticket = await storage.get_ticket(ticket_id)
        await service.withdraw(ticket_id, ticket.resident_id, "已自行解决")
    elif action == "escalate":
        await service.escalate(ticket_id, 1, ADMIN, "转办", DEPARTMENTS[b % 2])
    elif action == "return":
        await service.return_to_town(ticket_id, 1, ADMIN, "不属于本部门")
    elif action == "hand_over":
        await service.hand_over(ticket_id, 1, ADMIN, GRIDS[b % len(GRIDS)].code, "扫错码")
    elif action == "merge":
        await service.merge(ticket_id, tickets[b % len(tickets)], 1, ADMIN)
    elif action == "urge":
        await storage.record_event(TicketEvent(ticket_id, service.clock(), EventType.URGED, 1, None))


async def run_history(database: str | Path, sequence: list[tuple]) -> None:
    storage = await open_storage(database)
    try:
        await storage.upsert_grids(GRIDS)
        await staff_who_opened_the_bot(storage)
        service = TicketService(storage, FakeClock(BEGIN), tickets_per_hour=0)
        tickets: list[int] = []
        first_seen: dict[tuple[Period, Scope], str] = {}
        with i18n_context("zh"):
            await play(service, storage, tickets, sequence, first_seen)
            now = service.clock()
            for period in periods_until(now):
                for scope in SCOPES:
                    summed = await report_text(storage, period, scope, now)
                    assert summed == await text_from_events(storage, period, scope, now), (period, scope)
                    assert summed == first_seen.get((period, scope), summed), (period, scope)
                    window = period.window(SHANGHAI, now)
                    assert await storage.period_tickets(window, scope) == await storage.period_tickets(
                        window, scope, from_events=True), (period, scope)
    finally:
        await storage.close()


async def play(service: TicketService, storage: Storage, tickets: list[int], sequence: list[tuple],
               first_seen: dict[tuple[Period, Scope], str]) -> None:
    clock = service.clock
    for step in sequence:
        clock.advance(step[3] * 3 * HOUR + 600)
        try:
            await act(service, storage, tickets, step)
        except TicketError:
            pass
        if step[4]:  # the bot was up: the days over are summed; the reports of periods over are seen
            await storage.close_days(SHANGHAI, clock.now)
            scope = SCOPES[step[1] % len(SCOPES)]
            for period in periods_until(clock.now)[-4:]:
                if period.is_over(clock.now, SHANGHAI):
                    first_seen.setdefault((period, scope), await report_text(storage, period, scope, clock.now))


@pytest.mark.backends("sqlite")
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(sequence=steps)
async def test_day_sums_read_as_the_events_over_random_histories(tmp_path, sequence):
    await run_history(tmp_path / f"h{len(list(tmp_path.iterdir()))}.sqlite3", sequence)


async def test_day_sums_read_as_the_events_on_every_backend(database):
    rng = random.Random(10)
    sequence = [(rng.choice(ACTIONS), rng.randrange(100), rng.randrange(100), rng.randrange(41), rng.random() < 0.5)
                for _ in range(60)]
    await run_history(database, sequence)


async def test_an_event_recorded_late_counts_on_the_day_it_was_recorded(database):
    """An import may bring an event whose time lies in a day already summed: that day, and every
    period over, stays as it was; the event counts on the first day not summed when it came."""
    storage = await open_storage(database)
    try:
        await storage.upsert_grids(GRIDS)
        await staff_who_opened_the_bot(storage)
        clock = FakeClock(local(date(2027, 1, 4), 9))  # Monday of 2027-W01
        service = TicketService(storage, clock, tickets_per_hour=0)
        ticket, _ = await service.file(1000, Draft(Kind.COMPLAINT, "water", "A", "停水"))
        clock.now = local(date(2027, 1, 13), 10)  # Wednesday of W02: W01 is over and summed
        week1, fortnight = Period.parse("2027-W01"), Period.parse("2027-01-04..2027-01-17")
        with i18n_context("zh"):
            before = await report_text(storage, week1, Scope(), clock.now)
            await storage.record_event(TicketEvent(ticket.id, local(date(2027, 1, 5), 8), EventType.URGED, 1, None))
            assert await report_text(storage, week1, Scope(), clock.now) == before
            clock.now = local(date(2027, 1, 18), 10)
            assert await report_text(storage, week1, Scope(), clock.now) == before
            # The two weeks together end after it was recorded: it counts there.
            report = await load_report(storage, fortnight, SHANGHAI, Scope(), clock.now)
            assert report.totals.urges == 1
            # Worked out from the events by their time, W01 would have changed.
            rows = await storage.period_rows_from_events(week1.window(SHANGHAI), Scope())
            assert total(r.tally for r in rows.by_grid).urges == 1
    finally:
        await storage.close()


@pytest.mark.parametrize("hours", [0, 5])
async def test_summing_days_twice_or_in_parts_stores_each_day_once(database, hours):
    storage = await open_storage(database)
    try:
        await storage.upsert_grids(GRIDS)
        await staff_who_opened_the_bot(storage)
        clock = FakeClock(local(date(2027, 1, 4), 9))
        service = TicketService(storage, clock, tickets_per_hour=0)
        await service.file(1000, Draft(Kind.COMPLAINT, "water", "A", "停水"))
        assert await storage.close_days(SHANGHAI, clock.now) == 0  # its first day is not over
        assert await storage.close_days(SHANGHAI, local(date(2027, 1, 6), hours)) == 2
        assert await storage.close_days(SHANGHAI, local(date(2027, 1, 6), 12)) == 0
        assert await storage.close_days(SHANGHAI, local(date(2027, 1, 9), 1)) == 3
        days = await storage._all("SELECT day_start, day_end FROM stats_days ORDER BY day_start")
        assert [tuple(d) for d in days] == [
            (local(date(2027, 1, d)), local(date(2027, 1, d + 1))) for d in range(4, 9)]
        # Once its Sunday is summed, the week is added up and read back from its own sums.
        assert await storage.close_days(SHANGHAI, local(date(2027, 1, 11), 1)) == 2
        rolled_up = await storage._all("SELECT period_start, period_end FROM stats_periods")
        assert [tuple(p) for p in rolled_up] == [(local(date(2027, 1, 4)), local(date(2027, 1, 11)))]
        report = await load_report(storage, Period.parse("2027-W01"), SHANGHAI, Scope(), local(date(2027, 1, 11), 1))
        assert report.totals.received == 1
    finally:
        await storage.close()


async def test_days_without_events_are_summed_at_once_each_a_day_of_its_own(database):
    """A year without events (a demo town also holding a ticket from 1970 once took minutes to
    sum on PostgreSQL) is summed in one go, yet a day of it keeps its midnight: a ticket closed
    within it, recorded later, counts under that day."""
    storage = await open_storage(database)
    try:
        await storage.upsert_grids(GRIDS)
        await staff_who_opened_the_bot(storage)
        clock = FakeClock(local(date(2026, 1, 5), 9))
        service = TicketService(storage, clock, tickets_per_hour=0)
        old, _ = await service.file(1000, Draft(Kind.COMPLAINT, "water", "A", "停水"))
        clock.now = local(date(2027, 1, 6), 9)
        await service.file(1001, Draft(Kind.COMPLAINT, "roads", "B", "路灯不亮"))
        assert await storage.close_days(SHANGHAI, local(date(2027, 1, 13), 1)) == 373
        [(rows,)] = await storage._all("SELECT COUNT(*) FROM stats_days")
        assert rows == 373
        clock.now = local(date(2026, 6, 10), 8)
        await service.resolve(old.id, 1, ADMIN, "已处理")
        now = local(date(2027, 1, 14), 1)
        for period, closed in (("2026-06-10..2027-01-13", 1), ("2026-06-11..2027-01-13", 0)):
            report = await load_report(storage, Period.parse(period), SHANGHAI, Scope(), now)
            assert report.totals.closed == closed
    finally:
        await storage.close()

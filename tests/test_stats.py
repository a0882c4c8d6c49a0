"""Officials' statistics: periods, and every figure from real ticket histories (the week 2026-W49
scenario below, computed by hand). The exports and the chart are tested in tests/test_exports.py
and tests/test_stats_chart.py."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.__main__ import main
from bot.i18n import create_i18n
from bot.stats_report import legend_text, period_report, rate_name, scorecards
from domain.exports import ticket_rows
from domain.models import EventType, Grid, Kind, Role, RoleGrant, StaffMember, Status, TicketEvent, Tier
from domain.service import Draft, TicketService
from domain.stats import (
    MAX_RANGE_DAYS,
    RATES,
    Figures,
    Period,
    PeriodError,
    PeriodKind,
    Rate,
    Scope,
    ScopeLevel,
    Tally,
    UnitLevel,
    UnitScore,
    Week,
    has_enough_samples,
    load_report,
    ranked,
    red_black_list,
    score,
    tickets_at_end,
)
from storage.base import TicketChange
from storage import Storage, open_storage
from handlers.callbacks import ResidentTicketCb, StaffTicketCb
from tests.conftest import WORKER_DL01, FakeClock, joined
from tests.test_ticket_loop import file_ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600
W49 = Week(2026, 49)
GRIDS = [
    Grid("A", "一网格", "V1", "T1"),
    Grid("B", "二网格", "V2", "T1"),
    Grid("C", "三网格", "V3", "T2"),
]


@contextmanager
def i18n_context(language: str):
    i18n = create_i18n(language)
    with i18n.context(), i18n.use_locale(language):
        yield


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


def local(day: date, hour: float = 0) -> int:
    midnight = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return int(midnight.timestamp() + hour * HOUR)


def at(week: Week, day: int, hour: float = 0) -> int:
    return local(week.days[day], hour)


@pytest.fixture
async def storage(database):
    store = await open_storage(database)
    await store.upsert_grids(GRIDS)
    yield store
    await store.close()


# -- weeks -----------------------------------------------------------------------------------------
def test_week_parse_and_format():
    assert Week.parse("2026-W47") == Week(2026, 47)
    assert Week.parse(" 2026w07 ") == Week(2026, 7)
    assert str(Week(2026, 7)) == "2026-W07"
    assert Week(2026, 53).monday == date(2026, 12, 28)  # 2026 starts on a Thursday: 53 weeks
    for text in ("2025-W53", "2026-W00", "2026-47", "W47"):
        with pytest.raises(ValueError):
            Week.parse(text)


def test_week_across_year_boundary():
    week = Week(2026, 1)
    # ISO week 1 holds the year's first Thursday (1 Jan 2026), so it starts on 29 Dec 2025.
    assert week.monday == date(2025, 12, 29)
    assert week.days[-1] == date(2026, 1, 4)
    window = week.window(SHANGHAI)
    assert window.start == utc(2025, 12, 28, 16)
    assert window.end == utc(2026, 1, 4, 16)
    assert window.bounds[3] == utc(2025, 12, 31, 16)
    assert week.previous() == Week(2025, 52)
    assert Week(2026, 53).next() == Week(2027, 1)
    assert Week(2027, 1).previous() == Week(2026, 53)


def test_week_across_month_boundary():
    assert W49.days[0] == date(2026, 11, 30)
    assert W49.days[1] == date(2026, 12, 1)
    assert W49.window(SHANGHAI).start == utc(2026, 11, 29, 16)


def test_last_full_week_depends_on_the_time_zone():
    # Mon 5 Jan 2026 00:30 in Shanghai is still Sunday in UTC.
    now = utc(2026, 1, 4, 16, 30)
    assert Week.last_full(now, SHANGHAI) == Week(2026, 1)
    assert Week.last_full(now, ZoneInfo("UTC")) == Week(2025, 52)
    # Late on a Sunday the week is not over yet.
    assert Week.last_full(utc(2026, 1, 4, 15, 59), SHANGHAI) == Week(2025, 52)


def test_daylight_saving_week_has_a_short_day():
    berlin = Week(2026, 13).window(ZoneInfo("Europe/Berlin"))  # clocks go forward on 29 Mar
    lengths = [b - a for a, b in zip(berlin.bounds, berlin.bounds[1:])]
    assert lengths == [24 * HOUR] * 6 + [23 * HOUR]


@pytest.mark.parametrize("text, first, last, kind", [
    ("2026-W47", date(2026, 11, 16), date(2026, 11, 22), PeriodKind.WEEK),
    ("2026w01", date(2025, 12, 29), date(2026, 1, 4), PeriodKind.WEEK),
    ("2026-11", date(2026, 11, 1), date(2026, 11, 30), PeriodKind.MONTH),
    ("2028-2", date(2028, 2, 1), date(2028, 2, 29), PeriodKind.MONTH),
    ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31), PeriodKind.QUARTER),
    ("2026q1", date(2026, 1, 1), date(2026, 3, 31), PeriodKind.QUARTER),
    ("2026-11-01..2026-11-15", date(2026, 11, 1), date(2026, 11, 15), PeriodKind.RANGE),
    ("2026-12-25..2027-01-03", date(2026, 12, 25), date(2027, 1, 3), PeriodKind.RANGE),
])
def test_period_parse_and_format(text, first, last, kind):
    period = Period.parse(text)
    assert (period.first, period.last, period.kind) == (first, last, kind)
    assert Period.parse(str(period)) == period


@pytest.mark.parametrize("text, reason", [
    ("0001-W01", "year"),  # crashed /stats with OverflowError
    ("9999-W52", "year"),
    ("0001-01", "year"),
    ("1999-12-31..2000-01-02", "year"),
    ("2025-W53", "date"),
    ("2026-W00", "date"),
    ("2026-13", "date"),
    ("2026-Q5", "date"),
    ("2026-02-30..2026-03-02", "date"),
    ("2026-11-15..2026-11-01", "order"),
    ("2025-01-01..2026-01-02", "length"),
    ("last week", "format"),
    ("", "format"),
])
def test_bad_periods_get_a_reason_not_a_traceback(text, reason):
    with pytest.raises(PeriodError) as caught:
        Period.parse(text)
    assert caught.value.reason == reason
    assert MAX_RANGE_DAYS == 366


def test_period_neighbours_cross_years():
    assert str(Period.parse("2026-01").previous()) == "2025-12"
    assert str(Period.parse("2026-12").next()) == "2027-01"
    assert str(Period.parse("2026-Q1").previous()) == "2025-Q4"
    assert str(Period.parse("2026-W53").next()) == "2027-W01"
    assert str(Period.parse("2026-12-28..2027-01-03").previous()) == "2026-12-21..2026-12-27"


def test_period_windows_and_the_current_period_so_far():
    month = Period.parse("2026-12").window(SHANGHAI)
    assert (month.start, month.end) == (utc(2026, 11, 30, 16), utc(2026, 12, 31, 16))
    assert len(month.bounds) == 32 and month.final
    now = utc(2026, 12, 10, 3)
    current = Period.containing(PeriodKind.MONTH, now, SHANGHAI)
    assert str(current) == "2026-12"
    so_far = current.window(SHANGHAI, now)
    assert so_far.end == now and not so_far.final
    assert str(Period.last_full(PeriodKind.QUARTER, now, SHANGHAI)) == "2026-Q3"
    assert str(Period.last_full(PeriodKind.WEEK, now, SHANGHAI)) == "2026-W49"
    assert Period.parse("2026-W49").window(SHANGHAI) == W49.window(SHANGHAI)


def test_scope_needs_a_name_except_all():
    Scope()
    Scope(ScopeLevel.TOWN, "T1")
    with pytest.raises(ValueError):
        Scope(ScopeLevel.TOWN)
    with pytest.raises(ValueError):
        Scope(ScopeLevel.ALL, "T1")


# -- figures: a week of real ticket histories ------------------------------------------------------
# Every ticket is driven through TicketService with a clock, so the figures come from the same
# events the bot writes. W49 is Mon 30 Nov to Sun 6 Dec 2026 (across a month), Asia/Shanghai;
# "d2 10:00" is Wednesday 10:00. water and power: reply 2 h, resolve 24 h; roads: 2 h and 48 h.
#
#   T12 A water W48-d6 20:00  closed d0 09:00 by the grid (+13 h, the reply deadline missed)
#   T5  B water d0 00:00  reply +1 h; missed at the grid (d1) and the village (d2); the town sends
#                         it to 水务局, which closes it d2 02:00 (+50 h); confirmed, 5 stars
#   T1  A water d0 10:00  reply +1 h, closed +5 h at the grid, confirmed, 5 stars
#   T2  A water d1 09:00  reply +3 h (late); missed at the grid d2 09:00 and escalated; the village
#                         closes it d2 15:00 (+30 h); confirmed, 2 stars
#   T3  A roads d2 08:00  reply +0.5 h, closed +10 h, reopened; the village closes it d3 04:00
#                         (+20 h); confirmed, 4 stars
#   T8  B roads d2 10:00  reply +1 h, urged twice, returned once, closed d2 18:00, reopened
#                         d2 19:00; at d6 23:00 its village deadline has passed: escalated
#   T9  C power d3 10:00  closed +1.5 h without a reply (the closing is the response)
#   T6  B roads d4 15:00  reply +1 h, closed +3 h
#   T7  B power d5 10:00  merged into T6 at 12:00
#   T10 C water d6 10:00  reply +1 h, closed +2 h (confirmed and rated 1 only next week)
#   T4  A water d6 20:00  nothing; its reply deadline is missed at 22:00
#   T11 A water W50-d0 00:00, the first moment of the next week
ADMIN = [RoleGrant(Role.ADMIN)]
STAFF_OF_GRIDS = [
    StaffMember(11, "甲", Role.GRID_WORKER, "A"), StaffMember(12, "乙", Role.GRID_WORKER, "B"),
    StaffMember(13, "丙", Role.GRID_WORKER, "C"), StaffMember(21, "村一", Role.VILLAGE, "V1"),
    StaffMember(22, "村二", Role.VILLAGE, "V2"), StaffMember(23, "村三", Role.VILLAGE, "V3"),
    StaffMember(31, "镇一", Role.TOWN, "T1"), StaffMember(32, "镇二", Role.TOWN, "T2"),
    StaffMember(41, "水务", Role.DEPARTMENT, "水务局"),
]


async def staff_who_opened_the_bot(storage: Storage) -> None:
    await storage.upsert_staff(STAFF_OF_GRIDS)
    for member in STAFF_OF_GRIDS:
        await storage.touch_user(member.telegram_id, member.name, None, "zh")


class Town:
    def __init__(self, storage: Storage):
        self.storage = storage
        self.clock = FakeClock(0)
        self.service = TicketService(storage, self.clock, tickets_per_hour=0)
        self.ids: dict[str, int] = {}

    def at(self, moment: int) -> Town:
        assert moment >= self.clock.now, "the scenario runs forward in time"
        self.clock.now = moment
        return self

    async def file(self, name: str, grid: str, category: str) -> None:
        ticket, _ = await self.service.file(100 + len(self.ids), Draft(Kind.COMPLAINT, category, grid, "路灯不亮"))
        self.ids[name] = ticket.id

    def resident(self, name: str) -> int:
        return 100 + list(self.ids).index(name)

    async def reply(self, name: str) -> None:
        await self.service.reply(self.ids[name], 1, ADMIN, "收到")

    async def resolve(self, name: str) -> None:
        await self.service.resolve(self.ids[name], 1, ADMIN, "已处理")

    async def confirm(self, name: str, stars: int) -> None:
        await self.service.confirm(self.ids[name], self.resident(name))
        await self.service.rate(self.ids[name], self.resident(name), stars)

    async def reopen(self, name: str) -> None:
        await self.service.reopen(self.ids[name], self.resident(name), "没修好")

    async def record(self, name: str, event_type: EventType) -> None:
        await self.storage.record_event(TicketEvent(self.ids[name], self.clock.now, event_type, 1, "快办"))

    async def merge(self, name: str, into: str) -> None:
        ticket = await self.storage.get_ticket(self.ids[name])
        await self.storage.change_ticket(
            ticket.id, ticket.status, TicketChange(status=Status.MERGED),
            TicketEvent(ticket.id, self.clock.now, EventType.MERGED, 1, None, {"into": self.ids[into]}),
        )


def d(day: int, hour: float = 0, week: Week = W49) -> int:
    return at(week, day, hour)


async def week49(storage: Storage) -> Town:
    await staff_who_opened_the_bot(storage)
    town = Town(storage)
    await town.at(d(6, 20, W49.previous())).file("T12", "A", "water")
    await town.at(d(0, 0)).file("T5", "B", "water")
    await town.at(d(0, 1)).reply("T5")
    await town.at(d(0, 9)).resolve("T12")
    await town.at(d(0, 10)).file("T1", "A", "water")
    await town.at(d(0, 11)).reply("T1")
    await town.at(d(0, 15)).resolve("T1")
    await town.at(d(0, 16)).confirm("T1", 5)
    await town.at(d(1, 0)).service.run_deadlines()  # T5 missed at the grid: to the village
    await town.at(d(1, 9)).file("T2", "A", "water")
    await town.at(d(1, 12)).reply("T2")
    await town.at(d(2, 0)).service.run_deadlines()  # T5 missed at the village: to the town
    await town.at(d(2, 1)).service.escalate(town.ids["T5"], 1, ADMIN, "转水务局", "水务局")
    await town.at(d(2, 2)).resolve("T5")
    await town.at(d(2, 3)).confirm("T5", 5)
    await town.at(d(2, 8)).file("T3", "A", "roads")
    await town.at(d(2, 8.5)).reply("T3")
    await town.at(d(2, 9)).service.run_deadlines()  # T2 missed at the grid: to the village
    await town.at(d(2, 10)).file("T8", "B", "roads")
    await town.at(d(2, 11)).reply("T8")
    await town.at(d(2, 12)).record("T8", EventType.URGED)
    await town.record("T8", EventType.URGED)
    await town.at(d(2, 13)).record("T8", EventType.RETURNED)
    await town.at(d(2, 15)).resolve("T2")
    await town.at(d(2, 16)).confirm("T2", 2)
    await town.at(d(2, 18)).resolve("T3")
    await town.resolve("T8")
    await town.at(d(2, 19)).reopen("T8")
    await town.at(d(2, 20)).reopen("T3")
    await town.at(d(3, 4)).resolve("T3")
    await town.at(d(3, 5)).confirm("T3", 4)
    await town.at(d(3, 10)).file("T9", "C", "power")
    await town.at(d(3, 11.5)).resolve("T9")
    await town.at(d(4, 15)).file("T6", "B", "roads")
    await town.at(d(4, 16)).reply("T6")
    await town.at(d(4, 18)).resolve("T6")
    await town.at(d(5, 10)).file("T7", "B", "power")
    await town.at(d(5, 12)).merge("T7", "T6")
    await town.at(d(6, 10)).file("T10", "C", "water")
    await town.at(d(6, 11)).reply("T10")
    await town.at(d(6, 12)).resolve("T10")
    await town.at(d(6, 20)).file("T4", "A", "water")
    await town.at(d(6, 23)).service.run_deadlines()  # T4's reply deadline; T8 escalated
    await town.at(d(0, 0, W49.next())).file("T11", "A", "water")
    return town


async def after_the_period(town: Town) -> None:
    """Everything that happens later must leave W49 as it was."""
    w50 = W49.next()
    await town.at(d(0, 5, w50)).confirm("T10", 1)
    await town.at(d(0, 6, w50)).confirm("T6", 5)
    await town.at(d(0, 7, w50)).reopen("T9")
    await town.at(d(0, 8, w50)).record("T4", EventType.URGED)
    await town.record("T4", EventType.RETURNED)
    await town.at(d(0, 9, w50)).resolve("T8")
    await town.at(d(0, 10, w50)).confirm("T8", 3)
    await town.at(d(3, 0, w50)).service.run_deadlines()  # T4, T9 and T11 escalated
    await town.at(d(3, 1, w50)).merge("T11", "T4")
    await town.storage.upsert_grids([Grid("D", "四网格", "V1", "T1")])  # an import
    await town.storage.upsert_staff([StaffMember(14, "丁", Role.GRID_WORKER, "D")])


async def test_every_figure_of_a_week_from_its_events(storage):
    await week49(storage)
    report = await load_report(storage, Period.of_week(W49), SHANGHAI, min_rated=1, min_tickets=1)
    t = report.totals
    assert report.final
    assert (t.received, t.merged) == (9, 1)  # T7 merged is counted apart; T12 came in W48
    assert t.response_rate == Rate(7, 9)  # T2 replied late; T4 not at all
    assert t.time_to_response == (8, 10 * HOUR / 8, 3 * HOUR)
    assert t.completion_rate == Rate(7, 9)  # T4 open, T8 reopened at the end
    assert t.overdue == 3  # T2, T5, T8: their misses stay although later tiers acted
    assert t.reopen_rate == Rate(2, 9)  # T3, T8
    assert t.return_rate == Rate(1, 9)
    assert t.urges == 2
    assert t.open_at_end == 2
    # Closed in W49: T1, T2, T3, T5, T6, T9, T10 and T12 (received in W48).
    assert t.closed == 8
    assert t.on_time_rate == Rate(6, 8)  # T2 and T5 missed a resolve deadline before closing
    assert t.first_time_rate == Rate(5, 8)  # T2, T5 escalated, T3 reopened
    assert t.solved_rate == Rate(4, 8)  # T10's confirmation came next week
    assert t.rating_rate == Rate(4, 8)
    assert t.satisfaction_rate == Rate(3, 4)
    assert t.time_to_close == (8, 124.5 * HOUR / 8, 50 * HOUR)
    assert t.closed_by_tier == {Tier.GRID: Rate(5, 8), Tier.VILLAGE: Rate(2, 8), Tier.TOWN: Rate(0, 8),
                                Tier.DEPARTMENT: Rate(1, 8)}
    assert [day.received for day in report.days] == [2, 1, 2, 1, 1, 0, 2]
    assert [day.closed for day in report.days] == [2, 0, 2, 2, 1, 0, 1]
    assert [(c.category_code, c.received) for c in report.top_categories] == [
        ("water", 5), ("roads", 3), ("power", 1)]

    grids = {u.key: u.figures for u in report.units[UnitLevel.GRID]}
    assert (grids["A"].received, grids["A"].closed, grids["A"].overdue) == (4, 4, 1)
    # A grid's scorecard names its worker.
    assert [u.workers for u in report.units[UnitLevel.GRID]] == [("甲",), ("乙",), ("丙",)]
    with i18n_context("zh"):
        assert "一网格 (V1)，网格员 甲：受理 4 件" in scorecards(report)
    assert (grids["B"].received, grids["B"].merged, grids["B"].closed) == (3, 1, 2)
    assert grids["C"].satisfaction_rate == Rate(0, 0)
    villages = {u.key: u for u in report.units[UnitLevel.VILLAGE]}
    assert villages["V1"].parent == "T1" and villages["V1"].figures.received == 4
    towns = {u.key: u.figures.received for u in report.units[UnitLevel.TOWN]}
    assert towns == {"T1": 7, "T2": 2}
    [department] = report.units[UnitLevel.DEPARTMENT]
    assert (department.key, department.figures.closed) == ("水务局", 1)


async def test_a_month_across_the_month_end_counts_as_of_its_last_moment(storage):
    await week49(storage)
    november = await load_report(storage, Period.parse("2026-11"), SHANGHAI)
    t = november.totals
    assert t.received == 3  # T12 (29 Nov), T5 and T1 (30 Nov)
    assert t.response_rate == Rate(2, 3)  # T12's first response, its closing, came late
    assert t.completion_rate == Rate(2, 3)
    # T5's grid deadline passed at the very first moment of December: not November's.
    assert t.overdue == 0
    assert (t.closed, t.satisfaction_rate) == (2, Rate(1, 1))
    assert len(november.days) == 30 and november.days[-1].received == 2


async def test_a_period_without_ratings_says_so(storage):
    await week49(storage)
    report = await load_report(storage, Period.parse("2026-12-05..2026-12-06"), SHANGHAI)
    assert report.totals.received == 2 and report.totals.rated == 0  # T10 and T4
    assert report.totals.satisfaction_rate.value is None
    assert report.change.rates["satisfaction_rate"] is None
    with i18n_context("zh"):
        text = period_report(report, {}, SHANGHAI)
    assert "满意率：暂无评价" in text


async def test_a_year_end_crossing(storage):
    await staff_who_opened_the_bot(storage)
    town = Town(storage)
    new_year = local(date(2027, 1, 1))
    await town.at(new_year - HOUR // 2).file("T1", "A", "water")
    await town.at(new_year + HOUR // 2).resolve("T1")
    december = await load_report(storage, Period.parse("2026-12"), SHANGHAI)
    january = await load_report(storage, Period.parse("2027-01"), SHANGHAI)
    assert (december.totals.received, december.totals.closed, december.totals.open_at_end) == (1, 0, 1)
    assert (january.totals.received, january.totals.closed) == (0, 1)
    assert january.totals.time_to_close.mean_seconds == HOUR
    assert str(Period.parse("2026-W53").next()) == "2027-W01"


async def reports(storage, now: int | None = None) -> list[str]:
    """Reports of a week, a month and a range; with `now`, the sums of those over are stored."""
    texts = []
    with i18n_context("zh"):
        for text in ("2026-W49", "2026-12", "2026-11-25..2026-12-06"):
            for scope in (Scope(), Scope(ScopeLevel.VILLAGE, "V2")):
                report = await load_report(storage, Period.parse(text), SHANGHAI, scope, now, 1, 1)
                texts.append(period_report(report, {"water": "供水"}, SHANGHAI))
    # The state at the end; the current state (`ticket`) rides along and may change.
    texts += [repr(replace(state, ticket=state.ticket.id))
              for state in await tickets_at_end(storage, Period.of_week(W49), SHANGHAI)]
    return texts


async def test_a_closed_period_is_byte_identical_whenever_it_is_produced(storage):
    town = await week49(storage)
    now = town.at(d(0, 3, W49.next())).clock.now
    before = await reports(storage)
    # The days over by `now` are summed, as the bot does, and W49 and the range are read from
    # them; December goes on after W49.
    stored = await reports(storage, now)
    assert stored[:2] == before[:2] and stored[4:] == before[4:] and "本期尚未结束" in stored[2]
    # Summed by the day: every day up to the end of W49 was over at `now`, not the next.
    [(first, last)] = await storage._all("SELECT MIN(day_start), MAX(day_end) FROM stats_days")
    assert first == local(date(2026, 11, 29)) and last == W49.window(SHANGHAI).end
    await after_the_period(town)
    for after in (await reports(storage), await reports(storage, town.clock.now)):
        assert after[:2] == before[:2] and after[4:] == before[4:]
    assert "红榜" in before[2]  # monthly: the red/black list


async def units_of_week49(storage) -> list[str]:
    """W49's reports of each grid and village and their scorecards (grids, villages, towns,
    departments), and the export rows of each grid's tickets, computed from the events (nothing
    stored)."""
    texts = []
    with i18n_context("zh"):
        for scope in (Scope(), *(Scope(ScopeLevel.GRID, g.code) for g in GRIDS),
                      *(Scope(ScopeLevel.VILLAGE, g.village) for g in GRIDS)):
            report = await load_report(storage, Period.of_week(W49), SHANGHAI, scope, None, 1, 1)
            texts += [period_report(report, {"water": "供水"}, SHANGHAI), repr(report.units)]
            states = await tickets_at_end(storage, Period.of_week(W49), SHANGHAI, scope)
            texts += [repr(row[:19]) for row in ticket_rows(states, {g.code: g for g in GRIDS}, {}, SHANGHAI, "XG")]
    return texts


@pytest.mark.parametrize("named", [True, False], ids=["named", "logged_before_escalations_named_it"])
async def test_a_hand_over_or_another_department_after_the_period_leaves_its_units_as_they_were(storage, named):
    town = await week49(storage)
    if not named:
        # Escalations logged before they named the department: the return after W49 says whose it was.
        await storage._all("UPDATE ticket_events SET data = '{\"from\": \"town\", \"to\": \"department\"}'"
                           " WHERE ticket_id = ? AND note = '转水务局'", (town.ids["T5"],))
    before = await units_of_week49(storage)
    w50 = W49.next()
    # T4 was grid A's at the end of W49: handed over to grid B (village V2) afterwards.
    await town.at(d(0, 7, w50)).service.hand_over(town.ids["T4"], 1, ADMIN, "B", "扫错码")
    # T5 was closed by 水务局 in W49: back with the town afterwards (returned), then sent to 住建局.
    t5 = await storage.get_ticket(town.ids["T5"])
    await town.at(d(0, 8, w50)).storage.change_ticket(
        t5.id, t5.status, TicketChange(status=Status.NEW, tier=Tier.TOWN),
        TicketEvent(t5.id, town.clock.now, EventType.RETURNED, 41, "非本局职责", {"from": "水务局", "to": "town"}))
    await storage.upsert_staff([StaffMember(42, "住建", Role.DEPARTMENT, "住建局")])
    await storage.touch_user(42, "住建", None, "zh")
    await town.at(d(0, 9, w50)).service.escalate(t5.id, 1, ADMIN, "转住建局", "住建局")
    assert (await storage.get_ticket(town.ids["T4"])).grid_code == "B"
    assert (await storage.get_ticket(t5.id)).department == "住建局"
    assert await units_of_week49(storage) == before
    grids = {u.key: u.figures.received for u in (await load_report(
        storage, Period.of_week(W49), SHANGHAI, min_rated=1, min_tickets=1)).units[UnitLevel.GRID]}
    assert (grids["A"], grids["B"]) == (4, 3)
    states = {s.ticket.id: s for s in await tickets_at_end(storage, Period.of_week(W49), SHANGHAI)}
    assert (states[town.ids["T4"]].grid_code, states[t5.id].department) == ("A", "水务局")


async def test_a_renamed_grid_shows_its_new_name_in_every_period(storage):
    """Figures are kept by grid code; the names shown are the grids' now (README: Names), also in a
    week over and read before, and in its scorecards."""
    await week49(storage)
    now = d(0, 9, W49.next())

    async def week_text() -> str:
        report = await load_report(storage, Period.of_week(W49), SHANGHAI, Scope(), now, 1, 1)
        return period_report(report, {}, SHANGHAI) + scorecards(report)

    with i18n_context("zh"):
        first = await week_text()
        await storage.upsert_grids([replace(GRIDS[0], name="东里网格")])
        assert "一网格" in first and await week_text() == first.replace("一网格", "东里网格")


async def test_each_ticket_as_it_stood_at_the_period_end(storage):
    town = await week49(storage)
    await after_the_period(town)
    states = {s.ticket.id: s for s in await tickets_at_end(storage, Period.of_week(W49), SHANGHAI)}
    t8 = states[town.ids["T8"]]
    assert (t8.status, t8.tier, t8.holder_scope) == (Status.NEW, Tier.TOWN, "T1")
    assert t8.ticket.status is Status.CLOSED  # its current state rides along
    assert (t8.reopened, t8.returned, t8.urges, t8.overdue) == (True, True, 2, True)
    t9 = states[town.ids["T9"]]
    assert (t9.status, t9.tier, t9.closed_tier) == (Status.RESOLVED, Tier.GRID, Tier.GRID)
    t4 = states[town.ids["T4"]]
    assert (t4.status, t4.tier, t4.holder_scope, t4.urges) == (Status.NEW, Tier.GRID, "A", 0)
    t5 = states[town.ids["T5"]]
    assert (t5.status, t5.tier, t5.holder_scope, t5.stars) == (Status.CLOSED, Tier.DEPARTMENT, "水务局", 5)
    assert states[town.ids["T7"]].status is Status.MERGED
    assert town.ids["T11"] not in states and town.ids["T12"] not in states


async def test_the_current_period_so_far_is_marked_not_final(storage):
    town = await week49(storage)
    now = d(3, 12)
    report = await load_report(storage, Period.of_week(W49), SHANGHAI, now=now)
    assert not report.final and report.window.end == now
    assert report.totals.received == 6  # T5, T1, T2, T3, T8, T9 by Thursday noon
    with i18n_context("zh"):
        assert "本期尚未结束" in period_report(report, {}, SHANGHAI)
    assert town.ids


def unit(key: str, received: int, rated: int, response: int, solved: int, satisfied: int,
         min_rated: int = 3, min_tickets: int = 3) -> UnitScore:
    tally = Tally(received=received, responded_on_time=response, closed=received, confirmed=solved,
                  rated=rated, satisfied=satisfied)
    figures = Figures(tally)
    return UnitScore(UnitLevel.GRID, key, key, "", figures, has_enough_samples(figures, min_rated, min_tickets))


def test_one_ranking_rule_leaves_out_small_samples():
    units = [
        unit("g1", 10, 5, 10, 5, 5),   # score (1 + .5 + 1) / 3
        unit("g2", 10, 2, 10, 0, 0),   # two ratings only: shown, not ranked
        unit("g3", 2, 5, 2, 2, 5),     # two tickets only
        unit("g4", 10, 5, 5, 5, 1),    # (.5 + .5 + .2) / 3
        unit("g5", 20, 5, 10, 10, 1),  # the same score as g4, more tickets: ahead of it
    ]
    assert [u.key for u in ranked(units)] == ["g1", "g5", "g4"]
    assert score(units[0].figures) == pytest.approx(2.5 / 3)
    lists = red_black_list(UnitLevel.GRID, units, size=2)
    assert [u.key for u in lists.best] == ["g1"]  # three ranked: one on each list, none on both
    assert [u.key for u in lists.worst] == ["g4"]
    lists = red_black_list(UnitLevel.GRID, units * 2, size=2)
    assert [u.key for u in lists.best] == ["g1", "g1"] and [u.key for u in lists.worst] == ["g4", "g4"]
    assert red_black_list(UnitLevel.GRID, units[:1]).best == ()  # one unit is no ranking


async def test_legend_defines_every_rate_with_its_set(storage):
    with i18n_context("zh"):
        legend = legend_text()
        names = [rate_name(d) for d in RATES]
    assert all(name in legend for name in names)
    assert "本期受理的工单" in legend and "本期办结的工单" in legend


async def test_empty_period_divides_by_nothing(storage):
    report = await load_report(storage, Period.parse("2026-10"), SHANGHAI)
    t = report.totals
    assert t.received == 0 and t.closed == 0
    assert all(t.rate(d).value is None for d in RATES)
    assert t.time_to_response == (0, None, None) and t.time_to_close == (0, None, None)
    assert report.top_categories == () and report.grids == ()


# -- deadline misses, recorded when they happen ---------------------------------------------------
async def misses(h, ticket_id: int) -> list[tuple[str, str, int]]:
    return [(e.data["tier"], e.data["deadline"], e.data["due_at"])
            for e in await h.db.events(ticket_id) if e.type is EventType.DEADLINE_MISSED]


async def test_each_missed_deadline_is_recorded_once_per_tier(harness):
    h = harness
    await file_ticket(h, h.user(1001))  # water: reply 2 h, resolve 24 h
    ticket = (await h.db.resident_tickets(1001))[0]
    service = h.dp["tickets"]
    h.clock.advance(2 * HOUR - 1)
    await service.run_deadlines()
    assert await misses(h, ticket.id) == []
    h.clock.advance(1)
    await service.run_deadlines()
    await service.run_deadlines()
    assert await misses(h, ticket.id) == [("grid", "reply", ticket.reply_due_at)]
    h.clock.advance(22 * HOUR)
    assert (await service.run_deadlines())[0] == 1  # escalated to the village
    assert await misses(h, ticket.id) == [
        ("grid", "reply", ticket.reply_due_at), ("grid", "resolve", ticket.resolve_due_at)
    ]
    village = await h.db.get_ticket(ticket.id)
    assert village.tier is Tier.VILLAGE and village.reply_missed_at is None
    h.clock.advance(3 * HOUR)  # still nobody replied: the village misses its reply deadline too
    await service.run_deadlines()
    assert (await misses(h, ticket.id))[-1] == ("village", "reply", village.reply_due_at)
    assert len(await misses(h, ticket.id)) == 3


async def test_misses_after_downtime_are_recorded_once_before_the_escalation(harness):
    h = harness
    await file_ticket(h, h.user(1001))
    ticket = (await h.db.resident_tickets(1001))[0]
    h.clock.advance(5 * 24 * HOUR)  # the bot was stopped for days
    restarted = TicketService(h.db, h.clock)
    assert (await restarted.run_deadlines())[0] == 1
    assert await restarted.run_deadlines() == (0, 0)
    assert await misses(h, ticket.id) == [
        ("grid", "reply", ticket.reply_due_at), ("grid", "resolve", ticket.resolve_due_at)
    ]
    types = [e.type for e in await h.db.events(ticket.id)]
    assert types.index(EventType.DEADLINE_MISSED) < types.index(EventType.ESCALATED)


async def test_a_late_reply_before_the_watcher_noticed_still_counts_as_missed(harness):
    h = harness
    await file_ticket(h, h.user(1001))
    ticket = (await h.db.resident_tickets(1001))[0]
    worker = h.user(WORKER_DL01)
    h.clock.advance(3 * HOUR)  # the reply deadline passed; the watcher has not run
    await h.tap(worker, StaffTicketCb(action="reply", ticket_id=ticket.id))
    await h.send(worker, "马上派人来看")
    assert await misses(h, ticket.id) == [("grid", "reply", ticket.reply_due_at)]
    await h.dp["tickets"].run_deadlines()
    assert len(await misses(h, ticket.id)) == 1


async def test_department_misses_its_resolve_deadline_once_after_its_reminder(harness):
    h = harness
    await file_ticket(h, h.user(1001))
    ticket = (await h.db.resident_tickets(1001))[0]
    service = h.dp["tickets"]
    for _ in range(3):  # grid → village → town → department
        h.clock.advance(24 * HOUR)
        await service.run_deadlines()
    top = await h.db.get_ticket(ticket.id)
    assert top.tier is Tier.DEPARTMENT
    h.clock.advance(20 * HOUR)
    assert await service.run_deadlines() == (0, 1)  # the quarter-left reminder
    h.clock.advance(4 * HOUR)
    assert await service.run_deadlines() == (1, 0)  # back under the town's supervision; the miss is recorded
    await service.run_deadlines()
    department = [m for m in await misses(h, ticket.id) if m[0] == "department"]
    assert department == [("department", "reply", top.reply_due_at),
                          ("department", "resolve", top.resolve_due_at)]


async def test_history_names_the_missed_deadline(harness):
    h = harness
    await file_ticket(h, h.user(1001))
    ticket = (await h.db.resident_tickets(1001))[0]
    h.clock.advance(2 * HOUR)
    await h.dp["tickets"].run_deadlines()
    calls = await h.tap(h.user(1001), ResidentTicketCb(action="view", ticket_id=ticket.id))
    assert "网格超过回复时限" in joined(calls, 1001)


# -- gridbot stats ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_database(tmp_path_factory) -> Path:
    """One demo town for the module: the statistics only read it."""
    folder = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("DATABASE_PATH", str(folder / "demo.sqlite3"))
        assert main(["demo"]) == 0
    return folder / "demo.sqlite3"


@pytest.fixture
def demo_town(demo_database, monkeypatch, capsys):
    monkeypatch.chdir(demo_database.parent)
    monkeypatch.setenv("DATABASE_PATH", str(demo_database))
    monkeypatch.setenv("STATS_MIN_RATED", "3")
    monkeypatch.setenv("STATS_MIN_TICKETS", "3")
    capsys.readouterr()


@pytest.mark.parametrize("flags", [
    ["--month", "last"], ["--quarter", "last"], ["--week", "current"], ["--month", "current"],
    ["--from", "2020-01-01", "--to", "2020-01-31"], ["--week", "2025-w47"],
])
def test_cli_periods(demo_town, capsys, flags):
    assert main(["stats", *flags, "--scorecards"]) == 0
    out = capsys.readouterr().out
    assert "受理：" in out and "办结率：" in out and "网格" in out
    assert ("本期尚未结束" in out) == (flags[1] == "current")


def test_cli_monthly_red_black_list_and_scorecards(demo_town, capsys):
    assert main(["stats", "--month", "last", "--scorecards"]) == 0
    out = capsys.readouterr().out
    assert "🏅 红榜 · 网格" in out and "⚫ 黑榜 · 网格" in out
    assert "网格，排名：" in out and "\n1. " in out


@pytest.mark.parametrize("flags, says", [
    (["--week", "0001-W01"], "2000 年至 2099 年"),  # crashed with OverflowError
    (["--week", "2026-W99"], "没有这样的"),
    (["--month", "2026-13"], "没有这样的"),
    (["--quarter", "2026-Q0"], "没有这样的"),
    (["--week", "2026-11"], "请写成周"),
    (["--from", "2026-11-15"], "请写成周"),
    (["--from", "2026-11-15", "--to", "2026-11-01"], "结束早于开始"),
    (["--from", "2025-01-01", "--to", "2026-06-01"], "最多 366 天"),
    (["--month", "2099-12"], "没有这样的"),  # has not started
])
def test_cli_refuses_bad_periods_clearly(demo_town, capsys, flags, says):
    assert main(["stats", *flags]) == 2
    captured = capsys.readouterr()
    assert says in captured.err and "Traceback" not in captured.err


@pytest.mark.backends("sqlite")
async def test_summing_a_period_leaves_the_bot_free_to_write(storage):
    """A big period takes seconds to sum from its events: it reads on a connection of its own, so
    the storage's one connection (filing, answering) is not held meanwhile."""
    town = await week49(storage)
    window = Period.of_week(W49).window(SHANGHAI)
    await storage.period_rows(window, Scope())  # finds the database file
    async with storage._lock:  # the bot's connection is busy the whole time
        rows = await asyncio.wait_for(storage.period_rows(window, Scope()), timeout=30)
    assert sum(row.tally.received for row in rows.by_grid) == 9 and town.ids


async def test_a_trend_of_weeks_reads_the_day_sums(storage):
    from domain.charts import TREND_WEEKS, load_trend

    town = await week49(storage)
    assert await storage.close_days(SHANGHAI, d(0, 1, W49.next())) == 8  # 29 Nov to 6 Dec
    first = await load_trend(storage, W49, SHANGHAI, Scope())
    assert len(first) == TREND_WEEKS and first[-1].figures.received == 9
    await after_the_period(town)
    await storage.close_days(SHANGHAI, town.clock.now)
    assert await load_trend(storage, W49, SHANGHAI, Scope()) == first

"""Officials' statistics against a hand-computed data set, plus the week arithmetic, the exports and
the chart.

The data set, in Asia/Shanghai (UTC+8), week 2026-W49 = Mon 30 Nov to Sun 6 Dec (across a month):
grids A and B in town T1 (villages V1, V2), grid C in town T2. "d2 10:00" is Wednesday 10:00.

    ticket grid cat   created   reply  resolved        tier        status     confirmed rating due
    A1     A    water d0 10:00  +1h    +5h             grid        closed     yes       5      +24h
    A2     A    water d1 09:00  +2h    +30h (late)     village     closed     yes       2      +24h
    A3     A    roads d2 08:00  +0.5h  +10h            grid        closed     yes       4      +24h
    A4     A    water d6 20:00  -      -               -           new        -         -      +24h
    A5     A    power d3 12:00  +3h    +20h            town        resolved   -         -      +24h
    B1     B    water d0 00:00  +1h    +48h (late)     department  closed     yes       5      +24h
    B2     B    roads d4 15:00  +1h    +3h             grid        closed     yes       4      +24h
    B3     B    water d5 10:00  -      -               -           new        -         -      +12h
    B4     B    roads d2 10:00  +1h    +8h, reopened   grid        reopened   -         -      +24h
    B5     B    power d6 18:00  +1h    +10h (next wk)  grid        resolved   -         -      +24h
    C1     C    power d3 10:00  - (resolved counts)  +2h  grid     resolved   -         -      +24h
    C2     C    water d6 10:00  +1h    +2h             grid        closed     next week 1      +24h
"""

from __future__ import annotations

import io
import struct
import warnings
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from domain.charts import ChartLabels, render_week_chart
from domain.exports import EXPORT_FIELDS, csv_bytes, export_header, ticket_rows, xlsx_bytes
from domain.models import EventType, Grid, Kind, Tier
from domain.service import TicketService
from domain.stats import (
    MAX_RANGE_DAYS,
    Counts,
    Figures,
    GridFigures,
    Rate,
    Scope,
    ScopeLevel,
    Period,
    PeriodError,
    PeriodKind,
    Week,
    load_week_stats,
    rank_grids,
)
from storage.base import NewTicket
from storage.sqlite import SqliteStorage
from handlers.callbacks import ResidentTicketCb, StaffTicketCb
from tests.conftest import WORKER_DL01, joined
from tests.test_ticket_loop import file_ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600
W49 = Week(2026, 49)
GRIDS = [
    Grid("A", "一网格", "V1", "T1"),
    Grid("B", "二网格", "V2", "T1"),
    Grid("C", "三网格", "V3", "T2"),
]


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


def local(day: date, hour: float = 0) -> int:
    midnight = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return int(midnight.timestamp() + hour * HOUR)


def at(week: Week, day: int, hour: float = 0) -> int:
    return local(week.days[day], hour)


@pytest.fixture
async def storage(tmp_path: Path):
    store = await SqliteStorage.open(tmp_path / "t.sqlite3")
    await store.upsert_grids(GRIDS)
    yield store
    await store.close()


async def add_ticket(
    storage: SqliteStorage,
    grid: str,
    category: str,
    created: int,
    reply: float | None = None,
    resolved: float | None = None,
    confirmed: float | None = None,
    due: float | None = 24,
    **columns,
) -> int:
    """File a ticket, then set the columns the scenario needs directly: reply, resolved, confirmed
    and due are hours after `created`."""
    ticket, _ = await storage.create_ticket(
        NewTicket(Kind.COMPLAINT, category, grid, resident_id=1, description="路灯不亮，晚上很黑"),
        now=created,
    )
    for name, hours in (("first_reply_at", reply), ("resolved_at", resolved),
                        ("confirmed_at", confirmed), ("resolve_due_at", due)):
        if hours is not None:
            columns[name] = created + int(hours * HOUR)
    if columns:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        async with storage._lock:
            await storage._db.execute(
                f"UPDATE tickets SET {assignments} WHERE id = ?", (*columns.values(), ticket.id)
            )
    return ticket.id


async def add_week49(storage: SqliteStorage) -> None:
    closed = {"status": "closed"}
    await add_ticket(storage, "A", "water", at(W49, 0, 10), 1, 5, 6, rating=5,
                     resolved_tier="grid", **closed)
    await add_ticket(storage, "A", "water", at(W49, 1, 9), 2, 30, 31, rating=2,
                     resolved_tier="village", **closed)
    await add_ticket(storage, "A", "roads", at(W49, 2, 8), 0.5, 10, 11, rating=4,
                     resolved_tier="grid", **closed)
    await add_ticket(storage, "A", "water", at(W49, 6, 20))
    await add_ticket(storage, "A", "power", at(W49, 3, 12), 3, 20, status="resolved",
                     resolved_tier="town")
    await add_ticket(storage, "B", "water", at(W49, 0, 0), 1, 48, 49, rating=5,
                     resolved_tier="department", **closed)
    await add_ticket(storage, "B", "roads", at(W49, 4, 15), 1, 3, 4, rating=4,
                     resolved_tier="grid", **closed)
    await add_ticket(storage, "B", "water", at(W49, 5, 10), due=12)
    await add_ticket(storage, "B", "roads", at(W49, 2, 10), 1, 8, status="reopened",
                     resolved_tier="grid")
    await add_ticket(storage, "B", "power", at(W49, 6, 18), 1, 10, status="resolved",
                     resolved_tier="grid")
    await add_ticket(storage, "C", "power", at(W49, 3, 10), None, 2, status="resolved",
                     resolved_tier="grid")
    await add_ticket(storage, "C", "water", at(W49, 6, 10), 1, 2, 15, rating=1,
                     resolved_tier="grid", **closed)
    # The first moment of the next week belongs to it.
    await add_ticket(storage, "A", "water", at(W49.next(), 0, 0))


async def add_week48(storage: SqliteStorage) -> None:
    w48 = W49.previous()
    await add_ticket(storage, "A", "water", at(w48, 1, 10), 1, 4, 5, rating=5,
                     resolved_tier="grid", status="closed")
    await add_ticket(storage, "C", "water", at(w48, 3, 10))
    # The week's last second; no deadline.
    await add_ticket(storage, "B", "roads", at(W49, 0, 0) - 1, due=None)
    # Closed by staff only in W49: counted in W49's closings, open at W48's end.
    await add_ticket(storage, "A", "water", at(w48, 6, 20), None, 13, status="resolved",
                     resolved_tier="grid")


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


# -- figures ---------------------------------------------------------------------------------------
async def test_every_figure_of_the_week(storage):
    await add_week48(storage)
    await add_week49(storage)
    stats = await load_week_stats(storage, W49, SHANGHAI, min_rated=3)
    t = stats.totals
    assert (t.received, t.resolved, t.replied, t.confirmed, t.rated) == (12, 8, 10, 5, 5)
    assert t.open_at_end == 4  # A4, B3, B4 reopened, B5 closed only next week
    assert t.completion_rate == Rate(8, 12)
    assert t.reply_rate == Rate(10, 12)
    assert t.solved_rate == Rate(5, 12)
    assert t.satisfaction_rate == Rate(4, 5)  # C2's rating came with next week's confirmation
    assert t.overdue == 4  # A2 and B1 late; B3 and B4 open past their deadline
    assert t.on_time_rate == Rate(6, 10)
    assert t.time_to_reply.count == 10
    assert t.time_to_reply.mean_seconds == 48600 / 10
    assert t.time_to_reply.p90_seconds == 2 * HOUR  # 9th of 10 sorted
    assert t.time_to_resolve.mean_seconds == 120 * HOUR / 8
    assert t.time_to_resolve.p90_seconds == 48 * HOUR  # 8th of 8 sorted
    assert t.closed_by_tier == {
        Tier.GRID: Rate(5, 8), Tier.VILLAGE: Rate(1, 8),
        Tier.TOWN: Rate(1, 8), Tier.DEPARTMENT: Rate(1, 8),
    }
    assert stats.closed_during_week == 9  # the eight above and one received in W48

    assert [d.day for d in stats.days][:2] == [date(2026, 11, 30), date(2026, 12, 1)]
    assert [d.received for d in stats.days] == [2, 1, 2, 2, 1, 1, 3]
    assert [d.resolved for d in stats.days] == [2, 1, 1, 2, 1, 0, 1]

    assert [(c.category_code, c.received) for c in stats.top_categories] == [
        ("water", 6), ("power", 3), ("roads", 3)
    ]
    assert stats.top_categories[0].share == Rate(6, 12)

    by_code = {g.grid.code: g.figures for g in stats.grids}
    assert by_code["A"].received == 5 and by_code["A"].satisfaction_rate == Rate(2, 3)
    assert by_code["B"].overdue == 3 and by_code["B"].satisfaction_rate == Rate(2, 2)
    assert by_code["C"].satisfaction_rate.value is None
    assert stats.grids[0].grid.name == "一网格"
    assert [g.grid.code for g in stats.most_overdue] == ["B", "A"]
    assert [g.grid.code for g in stats.lowest_satisfaction] == ["A"]
    assert [g.grid.code for g in stats.not_ranked] == ["B", "C"]


async def test_change_against_the_week_before(storage):
    await add_week48(storage)
    await add_week49(storage)
    stats = await load_week_stats(storage, W49, SHANGHAI)
    before = stats.previous
    assert (before.received, before.resolved, before.replied) == (4, 1, 1)
    assert before.satisfaction_rate == Rate(1, 1)
    assert before.on_time_rate == Rate(1, 2)
    change = stats.change
    assert (change.received, change.resolved) == (8, 7)
    assert change.completion_rate == pytest.approx(8 / 12 - 1 / 4)
    assert change.satisfaction_rate == pytest.approx(-0.2)
    assert change.on_time_rate == pytest.approx(0.1)
    assert change.mean_reply_seconds == pytest.approx(4860 - 3600)
    assert change.mean_resolve_seconds == pytest.approx(15 * HOUR - 4 * HOUR)


async def test_default_threshold_ranks_no_grid_with_fewer_than_five_ratings(storage):
    await add_week49(storage)
    stats = await load_week_stats(storage, W49, SHANGHAI)
    assert stats.min_rated == 5
    assert stats.lowest_satisfaction == ()
    assert [g.grid.code for g in stats.not_ranked] == ["A", "B", "C"]


def test_ranking_threshold_and_order():
    def grid(code: str, satisfied: int, rated: int, overdue: int = 0) -> GridFigures:
        counts = Counts(received=10, rated=rated, satisfied=satisfied, open_overdue=overdue)
        return GridFigures(Grid(code, code, "", ""), Figures(counts))

    grids = [grid("g1", 4, 5, 2), grid("g2", 1, 4, 7), grid("g3", 3, 6), grid("g4", 3, 5, 2)]
    most_overdue, lowest, not_ranked = rank_grids(grids, min_rated=5, top=2)
    assert [g.grid.code for g in most_overdue] == ["g2", "g1"]  # ties by received, then code
    assert [g.grid.code for g in lowest] == ["g3", "g4"]  # 3/6 before 3/5
    assert [g.grid.code for g in not_ranked] == ["g2"]  # 1/4 would have been the worst


async def test_scope_filters(storage):
    await add_week48(storage)
    await add_week49(storage)
    town = await load_week_stats(storage, W49, SHANGHAI, Scope(ScopeLevel.TOWN, "T1"))
    assert (town.totals.received, town.totals.resolved) == (10, 6)
    assert town.closed_during_week == 7
    assert [g.grid.code for g in town.grids] == ["A", "B"]
    village = await load_week_stats(storage, W49, SHANGHAI, Scope(ScopeLevel.VILLAGE, "V2"))
    assert (village.totals.received, village.totals.resolved) == (5, 2)
    assert village.previous.received == 1
    grid = await load_week_stats(storage, W49, SHANGHAI, Scope(ScopeLevel.GRID, "C"))
    assert (grid.totals.received, grid.totals.resolved, grid.totals.rated) == (2, 2, 0)
    assert grid.totals.satisfaction_rate.value is None
    assert grid.change.satisfaction_rate is None
    nowhere = await load_week_stats(storage, W49, SHANGHAI, Scope(ScopeLevel.TOWN, "nowhere"))
    assert nowhere.totals.received == 0 and nowhere.grids == ()


async def test_empty_week_divides_by_nothing(storage):
    stats = await load_week_stats(storage, Week(2026, 10), SHANGHAI)
    t = stats.totals
    assert t.received == 0
    for rate in (t.completion_rate, t.reply_rate, t.satisfaction_rate, t.solved_rate,
                 t.on_time_rate, *t.closed_by_tier.values()):
        assert rate.value is None
    assert t.time_to_reply.mean_seconds is None and t.time_to_reply.p90_seconds is None
    assert t.time_to_resolve.mean_seconds is None and t.time_to_resolve.p90_seconds is None
    assert stats.change.completion_rate is None and stats.change.received == 0
    assert stats.top_categories == () and stats.most_overdue == ()


async def test_week_across_the_new_year_counts_local_days(storage):
    w01 = Week(2026, 1)
    await add_ticket(storage, "A", "water", local(date(2025, 12, 28), 23.99))  # 2025-W52
    await add_ticket(storage, "A", "water", local(date(2025, 12, 31), 23.5))
    await add_ticket(storage, "A", "water", local(date(2026, 1, 4), 23.99))
    await add_ticket(storage, "A", "water", local(date(2026, 1, 5), 0))  # UTC still says 4 Jan
    stats = await load_week_stats(storage, w01, SHANGHAI)
    assert [d.received for d in stats.days] == [0, 0, 1, 0, 0, 0, 1]
    assert stats.previous.received == 1


def test_figures_of_nothing():
    figures = Figures(Counts())
    assert figures.overdue == 0 and figures.open_at_end == 0 and figures.rated == 0


# -- exports ---------------------------------------------------------------------------------------
HEADERS = {name: f"列{i}" for i, name in enumerate(EXPORT_FIELDS)} | {"description": "问题描述"}


async def export_rows(storage) -> list[list]:
    await add_week49(storage)
    await add_ticket(storage, "A", "roads", at(W49, 1), description="=HYPERLINK(\"x\")")
    tickets = await storage.week_tickets(W49.window(SHANGHAI), Scope(ScopeLevel.GRID, "A"))
    categories = {c.code: c.name_zh for c in await storage.list_categories()}
    return list(ticket_rows(tickets, {g.code: g for g in GRIDS}, categories, SHANGHAI, "XG",
                            {"closed": "已办结"}))


async def test_week_tickets_for_export(storage):
    rows = await export_rows(storage)
    assert len(rows) == 6  # A1-A5 and the formula one; not next week's
    first = dict(zip(EXPORT_FIELDS, rows[0]))
    assert first["number"] == "XG-000001"
    assert first["created_at"] == datetime(2026, 11, 30, 10, 0)
    assert (first["category"], first["grid"], first["town"]) == ("供水", "一网格", "T1")
    assert (first["status"], first["resolved_tier"], first["rating"]) == ("已办结", "grid", 5)


async def test_csv_has_a_bom_and_round_trips_chinese(storage):
    data = csv_bytes(export_header(HEADERS), await export_rows(storage))
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[-1] == "问题描述"
    assert lines[1].endswith("路灯不亮，晚上很黑")
    assert "2026-11-30 10:00" in lines[1]
    # A resident's text is never a formula in Excel.
    assert lines[2].endswith("\"'=HYPERLINK(\"\"x\"\")\"")


def test_export_header_names_missing_columns():
    with pytest.raises(KeyError, match="description"):
        export_header({name: name for name in EXPORT_FIELDS[:-1]})


async def test_xlsx_opens_with_chinese_and_times(storage):
    openpyxl = pytest.importorskip("openpyxl")
    data = xlsx_bytes(export_header(HEADERS), await export_rows(storage), "工单")
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["工单"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][-1] == "问题描述"
    assert rows[1][1] == datetime(2026, 11, 30, 10, 0)
    assert rows[1][-1] == "路灯不亮，晚上很黑"
    assert rows[3][EXPORT_FIELDS.index("confirmed_at")] == datetime(2026, 12, 2, 16, 0)
    assert rows[2][-1] == "=HYPERLINK(\"x\")"  # stored as text, not as a formula
    assert sheet.cell(row=3, column=len(EXPORT_FIELDS)).data_type == "s"


# -- chart -----------------------------------------------------------------------------------------
def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


async def test_chart_is_a_png_with_chinese_text(storage):
    fonts = pytest.importorskip("qr.fonts")
    try:
        font = fonts.find_cjk_font()
    except fonts.FontNotFoundError:
        pytest.skip("no CJK font installed")
    await add_week49(storage)
    stats = await load_week_stats(storage, W49, SHANGHAI, min_rated=3)
    labels = ChartLabels(
        title="2026-W49 全镇", per_day="每日工单", per_grid="各网格对比", tickets="件数",
        received="受理", resolved="办结", completion_rate="办结率", reply_rate="回复率",
        satisfaction_rate="满意率", weekdays=("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = render_week_chart(stats, labels, font)
    assert not [w for w in caught if "missing from" in str(w.message)]  # no tofu boxes
    width, height = png_size(data)
    assert 800 <= width <= 1280 and 800 <= height <= 2000
    assert 20_000 < len(data) < 2_000_000


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
    assert await service.run_deadlines() == (0, 0)  # nothing above; the miss is still recorded
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

"""Deadlines in working days (工作日, issue 12): the rule of domain/workdays.py, worked by hand over
weekends, an imported holiday calendar, pauses and time zones; the import of calendars and of
categories in working days; the deadline watcher end to end."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram.methods import SendMessage

from bot.__main__ import main
from domain.deadlines import deadlines, shifted
from domain import imports
from domain.models import Category, DeadlineUnit, EventType, Tier
from domain.tables import Table
from domain.workdays import CalendarDay, WorkCalendar
from handlers.callbacks import ResidentTicketCb, StaffTicketCb
from storage.sqlite import SqliteStorage
from tests.conftest import VILLAGE_DL, WORKER_DL01, joined, to_chat
from tests.test_ticket_loop import file_ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
RESIDENT = 1001
# 国庆 2026 as the State Council published it: 1–7 October off; Sunday 20 September and Saturday
# 10 October are working days (调休).
def parse(kind: imports.Kind, text: str) -> tuple[list, list[str]]:
    """The rows of a CSV text, or its problems, as `gridbot import` reads a file."""
    with tempfile.TemporaryDirectory() as folder:
        table = Table(Path(folder) / "import.csv")
        table.path.write_text(text, encoding="utf-8")
        check = imports.check(table, kind)
        return ([] if check.bad else list(imports.read(table, kind))), [str(p) for p in check.problems]


NATIONAL_DAY_CSV = "\ufeff日期,类型\n" + "".join(f"2026-10-0{d},休\n" for d in range(1, 8)) + "2026/9/20,班\n2026-10-10,班\n"
NATIONAL_DAY = {d.day: d.working for d in parse(imports.calendar(), NATIONAL_DAY_CSV)[0]}
WORKDAY_WATER = Category("water", "供水", "Water supply", "水务局", 1, 3, DeadlineUnit.WORKDAYS)


def at(local: str, tz: ZoneInfo = SHANGHAI) -> int:
    return int(datetime.fromisoformat(local).replace(tzinfo=tz).timestamp())


def days(calendar: WorkCalendar, start: str, count: int) -> int:
    return calendar.add_working_days(at(start, calendar.timezone), count)


def test_across_a_weekend_the_clock_time_is_kept_and_a_weekend_filing_starts_on_monday():
    plain = WorkCalendar(SHANGHAI)
    # Friday 16:00 + 3 working days: Monday, Tuesday, Wednesday at 16:00.
    assert days(plain, "2026-11-27 16:00", 3) == at("2026-12-02 16:00")
    # Filed on Saturday: counting starts Monday 00:00, due at the end of Wednesday.
    assert days(plain, "2026-11-28 10:00", 3) == at("2026-12-03 00:00")
    # Friday 00:00 counts all of Friday: due at the end of Tuesday.
    assert days(plain, "2026-11-27 00:00", 3) == at("2026-12-02 00:00")
    assert days(plain, "2026-11-30 09:30", 1) == at("2026-12-01 09:30")  # a plain weekday


def test_a_holiday_from_the_imported_calendar_is_skipped_and_an_adjusted_saturday_counts():
    national_day, plain = WorkCalendar(SHANGHAI, NATIONAL_DAY), WorkCalendar(SHANGHAI)
    # Wednesday 30 September 10:00 + 3: the 30th, then 8, 9 and the adjusted Saturday 10 October.
    assert days(national_day, "2026-09-30 10:00", 3) == at("2026-10-10 10:00")
    assert days(plain, "2026-09-30 10:00", 3) == at("2026-10-05 10:00")  # without the calendar
    # Friday 18 September 15:00 + 2: Sunday the 20th is a working day (调休), so Monday 15:00.
    assert days(national_day, "2026-09-18 15:00", 2) == at("2026-09-21 15:00")
    assert days(plain, "2026-09-18 15:00", 2) == at("2026-09-22 15:00")
    # Filed on the holiday: counting starts on Thursday 8 October; 1 day is the end of that day.
    assert days(national_day, "2026-10-03 11:00", 1) == at("2026-10-09 00:00")


def test_a_pause_keeps_the_working_time_left_and_a_pause_on_the_holiday_costs_nothing():
    calendar = WorkCalendar(SHANGHAI, NATIONAL_DAY)
    five_days = Category("water", "供水", "Water", "水务局", 1, 5, DeadlineUnit.WORKDAYS)
    reply_due, resolve_due = deadlines(five_days, at("2026-09-28 09:00"), calendar)
    assert (reply_due, resolve_due) == (at("2026-09-29 09:00"), at("2026-10-10 09:00"))
    # Asked Tuesday 08:00 with 97 working hours left; answered Thursday 8 October 09:00: 97 hours
    # from then are the 8th (15), 9th (24), 10th (24), 12th (24) and 10 hours of the 13th.
    assert shifted(resolve_due, at("2026-09-29 08:00"), at("2026-10-08 09:00"), five_days, calendar) == at(
        "2026-10-13 10:00"
    )
    # Asked and answered within the holiday: no working time passed, the deadline stays.
    assert shifted(resolve_due, at("2026-10-02 09:00"), at("2026-10-06 18:00"), five_days, calendar) == resolve_due
    # A deadline in hours moves on by the whole pause, as before.
    hours = Category("water", "供水", "Water", "水务局", 2, 24)
    assert shifted(resolve_due, at("2026-10-02 09:00"), at("2026-10-06 18:00"), hours, calendar) == (
        resolve_due + at("2026-10-06 18:00") - at("2026-10-02 09:00")
    )


def test_days_are_days_of_the_configured_time_zone():
    calendar = WorkCalendar(SHANGHAI)
    # Friday 23:59 local (15:59 UTC): one minute of Friday, then Monday up to 23:59.
    assert days(calendar, "2026-11-27 23:59", 1) == at("2026-11-30 23:59")
    # Two minutes later it is Saturday there: due at the end of Monday, a minute later.
    assert days(calendar, "2026-11-28 00:01", 1) == at("2026-12-01 00:00")
    # The same instant counted in UTC would be Friday 16:01 and due Monday 16:01 UTC instead.
    assert WorkCalendar(ZoneInfo("UTC")).add_working_days(at("2026-11-28 00:01"), 1) == at("2026-12-01 00:01")
    # Sunday 23:59 local: Monday is the first working day.
    assert days(calendar, "2026-11-29 23:59", 1) == at("2026-12-01 00:00")
    # A day that summer time makes 23 hours long is still one working day: 16:00 stays 16:00.
    berlin = ZoneInfo("Europe/Berlin")
    assert days(WorkCalendar(berlin), "2026-03-27 16:00", 1) == at("2026-03-30 16:00", berlin)


def test_calendar_and_category_files():
    days_read, errors = parse(imports.calendar(),
                              "date,type\n2026-10-01,holiday\n2026-10-10,workday\n2026-10-02,节假日\n2026-09-20,工作日\n")
    assert not errors
    assert [(d.day, d.working) for d in days_read] == [
        (date(2026, 10, 1), False), (date(2026, 10, 10), True), (date(2026, 10, 2), False), (date(2026, 9, 20), True)
    ]
    assert NATIONAL_DAY[date(2026, 9, 20)] is True and NATIONAL_DAY[date(2026, 10, 7)] is False
    rows, errors = parse(imports.calendar(), "日期,类型\n2026-02-30,休\n2026-10-01,放假\n2026-10-01,休\n2026-10-01,班\n")
    assert rows == [] and errors == [  # columns named as the file names them
        "line 2: 日期 must be a day such as 2026-10-01, got '2026-02-30'",
        "line 3: 类型 '放假' is not one of holiday, 休, 节假日, workday, 班, 工作日",
        "line 5: repeats line 4",
    ]

    header = "code,name_zh,name_en,department,reply,resolve,unit\n"
    good, errors = parse(imports.categories(), header + "water,供水,Water,水务局,1,3,workdays\n"
                         "roads,道路,Roads,交通运输局,2,48,hours\nother,其他,Other,综合指挥中心,4,72,\n")
    assert not errors
    assert [(c.code, c.reply_within, c.resolve_within, c.deadline_unit) for c in good] == [
        ("water", 1, 3, DeadlineUnit.WORKDAYS), ("roads", 2, 48, DeadlineUnit.HOURS),
        ("other", 4, 72, DeadlineUnit.HOURS),
    ]
    _rows, errors = parse(imports.categories(),
                          header + "a,甲,A,水务局,0.5,3,workdays\nb,乙,B,水务局,1,2,days\nc,丙,C,水务局,3,2,workdays\n")
    assert errors == [
        "line 2: reply must be a whole number of working days from 1 to 365, got '0.5'",
        "line 3: unit 'days' is not one of hours, 小时, workdays, 工作日",
        "line 4: resolve must not be shorter than reply",
    ]
    old, _errors = parse(imports.categories(),
                         "code,name_zh,name_en,department,reply_hours,resolve_hours\nwater,供水,Water,水务局,1,12\n")
    assert [(c.reply_within, c.resolve_within, c.deadline_unit) for c in old] == [(1, 12, DeadlineUnit.HOURS)]


def test_gridbot_imports_a_calendar_and_a_category_in_working_days(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("BOT_TOKEN", "ADMIN_IDS", "TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    database = tmp_path / "gridbot.sqlite3"
    monkeypatch.setenv("DATABASE_PATH", str(database))
    calendar = tmp_path / "2026.csv"
    calendar.write_text(NATIONAL_DAY_CSV, encoding="utf-8")
    assert main(["import", "calendar", str(calendar)]) == 0
    assert "导入 9 天日历" in (out := capsys.readouterr().out)
    assert "（2026-09-20 至 2026-10-10：7 天节假日，2 天工作日）" in out
    categories = tmp_path / "categories.csv"
    categories.write_text("code,name_zh,name_en,department,reply,resolve,unit\nwater,供水,Water,水务局,1,3,workdays\n",
                          encoding="utf-8")
    assert main(["import", "categories", str(categories)]) == 0
    calendar.write_text("date,type\n2026-13-01,holiday\n", encoding="utf-8")
    assert main(["import", "calendar", str(calendar)]) == 1
    assert "第 2 行：date 须为日期" in capsys.readouterr().err

    async def stored():
        db = await SqliteStorage.open(database)
        try:
            return await db.calendar_days(), await db.get_category("water")
        finally:
            await db.close()

    days_stored, water = asyncio.run(stored())
    assert days_stored == NATIONAL_DAY
    assert (water.reply_within, water.resolve_within, water.deadline_unit) == (1, 3, DeadlineUnit.WORKDAYS)


async def working_days_town(h, category: Category, now: str) -> None:
    await h.db.upsert_calendar_days([CalendarDay(day, working) for day, working in NATIONAL_DAY.items()])
    await h.db.upsert_categories([category])
    h.clock.now = at(now)


async def run_deadlines(h):
    result = await h.dp["tickets"].run_deadlines()
    await h.dp["outbox"].deliver_due(h.bot)
    return result


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_the_watcher_escalates_on_the_right_working_day_after_national_day_and_not_before(harness, lang):
    h = harness
    await working_days_town(h, WORKDAY_WATER, "2026-09-30 10:00")
    await file_ticket(h, h.user(RESIDENT, lang), lang=lang)
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    assert (ticket.reply_due_at, ticket.resolve_due_at) == (at("2026-10-08 10:00"), at("2026-10-10 10:00"))

    for moment in ("2026-10-03 10:00", "2026-10-05 10:00", "2026-10-09 23:00", "2026-10-10 09:59"):
        h.clock.now = at(moment)  # 72 calendar hours passed long ago; 3 working days have not
        escalated, _reminded = await run_deadlines(h)
        assert escalated == 0 and (await h.db.get_ticket(ticket.id)).tier is Tier.GRID, moment

    before = len(h.session.calls)
    h.clock.now = at("2026-10-10 10:00")  # the adjusted Saturday (调休) is the third working day
    assert (await run_deadlines(h))[0] == 1
    moved = await h.db.get_ticket(ticket.id)
    assert moved.tier is Tier.VILLAGE
    # The village's 3 working days: the rest of Saturday 10th, Monday 12th, Tuesday 13th, to Wednesday 10:00.
    assert moved.resolve_due_at == at("2026-10-14 10:00")
    calls = h.session.calls[before:]
    assert [c for c in to_chat(calls, VILLAGE_DL) if isinstance(c, SendMessage)]  # the village gets the card
    assert "已超过处理时限，已自动上报至村" in joined(calls, WORKER_DL01)
    told = {"zh": "已转至东里村委会办理", "en": "now handled by the 东里村 village committee"}[lang]
    assert told in joined(calls, RESIDENT)

    # The statistics count the misses at the very times the watcher used.
    misses = {e.data["deadline"]: e.data["due_at"] for e in await h.db.events(ticket.id)
              if e.type is EventType.DEADLINE_MISSED}
    assert misses == {"reply": at("2026-10-08 10:00"), "resolve": at("2026-10-10 10:00")}


async def test_a_question_to_the_resident_over_national_day_pauses_working_time_only(harness):
    h = harness
    five_days = Category("water", "供水", "Water supply", "水务局", 1, 5, DeadlineUnit.WORKDAYS)
    await working_days_town(h, five_days, "2026-09-28 09:00")
    resident, worker = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en")
    await file_ticket(h, resident, lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    assert ticket.resolve_due_at == at("2026-10-10 09:00")

    h.clock.now = at("2026-09-29 08:00")
    await h.tap(worker, StaffTicketCb(action="ask", ticket_id=ticket.id))
    await h.send(worker, "Which building?")
    h.clock.now = at("2026-10-08 09:00")  # the resident answers after the holiday
    await h.tap(resident, ResidentTicketCb(action="answer", ticket_id=ticket.id))
    await h.send(resident, "Building 3")
    resumed = await h.db.get_ticket(ticket.id)
    assert resumed.paused_at is None and resumed.resolve_due_at == at("2026-10-13 10:00")

    h.clock.now = at("2026-10-13 09:59")
    assert (await run_deadlines(h))[0] == 0
    h.clock.now = at("2026-10-13 10:00")
    assert (await run_deadlines(h))[0] == 1

"""Working days (工作日) as China's 12345 service lines count them, for categories whose deadlines are
in working days.

A working day is a day, in the bot's time zone, from Monday to Friday, unless the imported calendar
makes it a holiday (法定节假日); a Saturday or Sunday the calendar makes a working day (调休 上班) is
one too. Only time on working days runs, a whole working day counting 24 hours of clock time:

- a deadline of N working days set at 16:00 on a working day is due at 16:00 on the N-th working day
  after it (Friday 16:00 + 3 → Wednesday 16:00);
- set on a day that is not a working day, it starts at 00:00 of the next working day and is due at
  the end (24:00) of the N-th working day, counting that one (Saturday + 3 → end of Wednesday, the
  same instant as Thursday 00:00);
- a clock stopped while waiting for the resident keeps the working time it had left, and runs again
  from the answer (a pause over a holiday costs the holder nothing, and gains them nothing either).

Clock time, not elapsed seconds, so a day that a daylight-saving change makes 23 or 25 hours long is
still one working day and "16:00" stays 16:00. A legal period (民法典 第二百零一条) starts the day
after and ends at 24:00; 12345 platforms time a ticket to the minute, which is what this does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_SECONDS = 86400
WORKING_WEEKDAYS = range(5)  # Monday to Friday, when the calendar says nothing of a day


@dataclass(frozen=True)
class CalendarDay:
    """One day of an imported calendar: a holiday, or a weekend day made a working day (调休)."""

    day: date
    working: bool


@dataclass(frozen=True)
class WorkCalendar:
    timezone: ZoneInfo
    days: Mapping[date, bool] = field(default_factory=dict)  # the imported days: working or not

    def is_working(self, day: date) -> bool:
        return self.days.get(day, day.weekday() in WORKING_WEEKDAYS)

    def _local(self, moment: int) -> tuple[date, int]:
        """The day `moment` falls on and the seconds of clock time since its midnight."""
        local = datetime.fromtimestamp(moment, self.timezone)
        return local.date(), local.hour * 3600 + local.minute * 60 + local.second

    def _moment(self, day: date, clock: int) -> int:
        if clock >= DAY_SECONDS:
            day, clock = day + timedelta(days=1), 0
        at = time(clock // 3600, clock // 60 % 60, clock % 60)
        return int(datetime.combine(day, at, tzinfo=self.timezone).timestamp())

    def add_working_time(self, start: int, seconds: int) -> int:
        """The first moment at which `seconds` of working time have run since `start`."""
        if seconds <= 0:
            return start
        day, clock = self._local(start)
        while True:
            if self.is_working(day):
                room = DAY_SECONDS - clock
                if seconds <= room:
                    return self._moment(day, clock + seconds)
                seconds -= room
            day, clock = day + timedelta(days=1), 0

    def add_working_days(self, start: int, days: int) -> int:
        """When a deadline of `days` working days set at `start` is due."""
        return self.add_working_time(start, days * DAY_SECONDS)

    def working_time(self, start: int, end: int) -> int:
        """Seconds of working time from `start` to `end` (0 if `end` is not later)."""
        if end <= start:
            return 0
        day, clock = self._local(start)
        last_day, last_clock = self._local(end)
        total = 0
        while day <= last_day:
            if self.is_working(day):
                total += (last_clock if day == last_day else DAY_SECONDS) - clock
            day, clock = day + timedelta(days=1), 0
        return total

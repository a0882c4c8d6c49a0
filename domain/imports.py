"""Reading the CSV files admins import. A file is taken whole or not at all: every bad row is
reported with its line number, and nothing is written unless all rows are good."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from domain.models import Category, DeadlineUnit, Grid, Role, StaffMember
from domain.shops import Shop, Site, SiteKind
from domain.tickets import GRID_CODE_PATTERN
from domain.workdays import CalendarDay

T = TypeVar("T")


@dataclass(frozen=True)
class ImportResult(Generic[T]):
    rows: list[T]
    errors: list[str]  # "line 4: lat must be a number between -90 and 90"


class RowError(ValueError):
    pass


def _number(value: str, name: str, low: float, high: float, optional: bool = False) -> float | None:
    value = value.strip()
    if not value and optional:
        return None
    try:
        number = float(value)
    except ValueError:
        raise RowError(f"{name} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise RowError(f"{name} must be between {low:g} and {high:g}, got {value}")
    return number


def _required(row: dict, name: str) -> str:
    value = (row.get(name) or "").strip()
    if not value:
        raise RowError(f"{name} is empty")
    return value


def _link_code(row: dict) -> str:
    code = _required(row, "code")
    if not GRID_CODE_PATTERN.fullmatch(code):
        raise RowError(
            f"code {code!r} may use only Latin letters, digits, '_' and '-' (at most 60), "
            "because it goes into the QR code's link"
        )
    return code


def _grid(row: dict) -> Grid:
    code = _link_code(row)
    lat = _number(row.get("lat") or "", "lat", -90, 90, optional=True)
    lon = _number(row.get("lon") or "", "lon", -180, 180, optional=True)
    if (lat is None) != (lon is None):
        raise RowError("lat and lon must both be given or both be empty")
    return Grid(code, _required(row, "name"), _required(row, "village"), _required(row, "town"), lat, lon)


def _staff(row: dict) -> StaffMember:
    raw_id = _required(row, "telegram_id")
    if not raw_id.isdigit():
        raise RowError(f"telegram_id must be a positive whole number, got {raw_id!r}")
    role_name = _required(row, "role")
    try:
        role = Role(role_name)
    except ValueError:
        raise RowError(f"role {role_name!r} is not one of {', '.join(r.value for r in Role)}") from None
    scope = (row.get("scope") or "").strip()
    # Officials and inspectors without a scope cover every town.
    if role not in (Role.ADMIN, Role.OFFICIAL, Role.INSPECTOR) and not scope:
        raise RowError(f"role {role.value} needs a scope (a grid code, village, town, department or shop code)")
    return StaffMember(int(raw_id), _required(row, "name"), role, scope)


def _category(row: dict) -> Category:
    code = _required(row, "code")
    if not GRID_CODE_PATTERN.fullmatch(code):
        raise RowError(f"code {code!r} may use only Latin letters, digits, '_' and '-'")
    unit_name = (row.get("unit") or DeadlineUnit.HOURS.value).strip()
    if unit_name not in {u.value for u in DeadlineUnit}:
        raise RowError(f"unit {unit_name!r} is not one of {', '.join(u.value for u in DeadlineUnit)}")
    unit = DeadlineUnit(unit_name)
    if unit is DeadlineUnit.WORKDAYS:  # whole days: half a working day has no agreed meaning
        reply, resolve = (_whole_number(_required(row, name), name, 1, 365) for name in ("reply", "resolve"))
    else:
        reply, resolve = (_number(_required(row, name), name, 0.1, 24 * 365) for name in ("reply", "resolve"))
    if resolve < reply:
        raise RowError("resolve must not be shorter than reply")
    return Category(
        code, _required(row, "name_zh"), _required(row, "name_en"), _required(row, "department"), reply, resolve,
        unit,
    )


def _whole_number(value: str, name: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise RowError(f"{name} must be a whole number of working days from {low} to {high}, got {value!r}")
    return int(value)


# 2026-10-01, or 2026/10/1 as Excel writes dates in China.
_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})")
_DAY_TYPES = {"holiday": False, "休": False, "节假日": False, "workday": True, "班": True, "工作日": True}


def _calendar_day(row: dict) -> CalendarDay:
    raw_date = _required(row, "date")
    match = _DATE.fullmatch(raw_date)
    try:
        day = date(*(int(part) for part in match.groups())) if match else None
    except ValueError:
        day = None
    if day is None:
        raise RowError(f"date must be a day such as 2026-10-01, got {raw_date!r}")
    day_type = _required(row, "type")
    if day_type not in _DAY_TYPES:
        raise RowError(f"type {day_type!r} is not one of {', '.join(_DAY_TYPES)}")
    return CalendarDay(day, _DAY_TYPES[day_type])


def _known_grid(row: dict, grid_codes: Collection[str]) -> str:
    grid = _required(row, "grid")
    if grid not in grid_codes:
        raise RowError(f"grid {grid!r} is not known; import it first with `gridbot import grids`")
    return grid


def _shop(row: dict, grid_codes: Collection[str]) -> Shop:
    code = _link_code(row)
    grid = _known_grid(row, grid_codes)
    owner = (row.get("owner_telegram_id") or "").strip()
    if owner and not owner.isdigit():
        raise RowError(f"owner_telegram_id must be empty or a positive whole number, got {owner!r}")
    return Shop(code, _required(row, "name"), grid, int(owner) if owner else None)


def _site(row: dict, grid_codes: Collection[str]) -> Site:
    code = _link_code(row)
    grid = _known_grid(row, grid_codes)
    kind = _required(row, "kind")
    if kind not in {k.value for k in SiteKind}:
        raise RowError(f"kind {kind!r} is not one of {', '.join(k.value for k in SiteKind)}")
    return Site(code, _required(row, "name"), grid, SiteKind(kind))


GRID_HEADER = ("code", "name", "village", "town", "lat", "lon")
STAFF_HEADER = ("telegram_id", "name", "role", "scope")
CATEGORY_HEADER = ("code", "name_zh", "name_en", "department", "reply", "resolve", "unit")
# The header before deadlines could be in working days: hours, no unit column.
CATEGORY_HOURS_HEADER = ("code", "name_zh", "name_en", "department", "reply_hours", "resolve_hours")
CALENDAR_HEADER = ("date", "type")
CALENDAR_ZH_HEADER = ("日期", "类型")
SHOP_HEADER = ("code", "name", "grid", "owner_telegram_id")
SITE_HEADER = ("code", "name", "grid", "kind")


def _parse(
    text: str, header: tuple[str, ...], parse_row: Callable[[dict], T], key: Callable[[T], object],
    also: tuple[str, ...] = (),
) -> ImportResult[T]:
    """`also`: another header accepted, read as the first columns of `header` (those it lacks are empty)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a BOM
    found = tuple((name or "").strip() for name in (reader.fieldnames or ()))
    if found and found == also:
        reader.fieldnames = list(header[:len(also)])
    elif found != header:
        accepted = " or ".join(",".join(h) for h in (header, also) if h)
        return ImportResult([], [f"line 1: the header must be {accepted}, got {','.join(found)}"])
    rows: list[T] = []
    errors: list[str] = []
    seen: dict[object, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(f"line {line}: too many fields")
            continue
        try:
            item = parse_row(row)
        except RowError as error:
            errors.append(f"line {line}: {error}")
            continue
        if key(item) in seen:
            errors.append(f"line {line}: repeats line {seen[key(item)]}")
            continue
        seen[key(item)] = line
        rows.append(item)
    if not rows and not errors:
        errors.append("the file has no rows")
    return ImportResult(rows if not errors else [], errors)


def parse_grids(text: str, stored: Sequence[Grid] = ()) -> ImportResult[Grid]:
    """Grids of the file; `stored` are the grids already in the database. A village is known by its
    name in access rules and statistics, so one name may not stand in two towns."""
    towns_of_village: dict[str, dict[str, str]] = {}  # village -> {grid code: town}
    for grid in stored:
        towns_of_village.setdefault(grid.village, {})[grid.code] = grid.town

    def grid_in_one_town(row: dict) -> Grid:
        grid = _grid(row)
        others = {code: town for code, town in towns_of_village.get(grid.village, {}).items() if code != grid.code}
        clash = next((town for town in others.values() if town != grid.town), None)
        if clash is not None:
            raise RowError(
                f"village {grid.village!r} is already in town {clash!r}; a village's name must be "
                f"unique across towns (name it e.g. '{grid.town}{grid.village}')"
            )
        towns_of_village.setdefault(grid.village, {})[grid.code] = grid.town
        return grid

    return _parse(text, GRID_HEADER, grid_in_one_town, lambda g: g.code)


@dataclass(frozen=True)
class KnownScopes:
    """What a staff row's scope may name: the stored grids, departments named by categories, shops."""

    grids: Sequence[Grid]
    departments: Collection[str]
    shop_codes: Collection[str]

    def check(self, member: StaffMember) -> None:
        role, scope = member.role, member.scope
        if role is Role.ADMIN:
            if scope:
                raise RowError(f"role admin takes no scope, got {scope!r}")
            return
        towns = {g.town for g in self.grids}
        known: dict[Role, tuple[Collection[str], str]] = {
            Role.GRID_WORKER: ({g.code for g in self.grids}, "grid; import it first with `gridbot import grids`"),
            Role.VILLAGE: ({g.village for g in self.grids}, "village (no grid lies in it)"),
            Role.TOWN: (towns, "town (no grid lies in it)"),
            Role.OFFICIAL: (towns, "town (no grid lies in it)"),
            Role.INSPECTOR: (towns, "town (no grid lies in it)"),
            Role.DEPARTMENT: (self.departments, "department (no service category names it)"),
            Role.SHOP_OWNER: (self.shop_codes, "shop; import it first with `gridbot import shops`"),
        }
        names, what = known[role]
        if scope and scope not in names:
            raise RowError(f"{scope!r} is not a known {what}")


def parse_staff(text: str, known: KnownScopes) -> ImportResult[StaffMember]:
    """Staff of the file; a row whose scope names no stored grid, village, town, department or
    shop, or an admin row with a scope, is an error."""

    def known_staff(row: dict) -> StaffMember:
        member = _staff(row)
        known.check(member)
        return member

    return _parse(text, STAFF_HEADER, known_staff, lambda s: (s.telegram_id, s.role, s.scope))


def parse_categories(text: str) -> ImportResult[Category]:
    return _parse(text, CATEGORY_HEADER, _category, lambda c: c.code, also=CATEGORY_HOURS_HEADER)


def parse_calendar(text: str) -> ImportResult[CalendarDay]:
    """Holidays and adjusted working days (调休), with an English or a Chinese header."""
    return _parse(text, CALENDAR_HEADER, _calendar_day, lambda d: d.day, also=CALENDAR_ZH_HEADER)


def parse_shops(text: str, grid_codes: Collection[str]) -> ImportResult[Shop]:
    """`grid_codes`: the grids stored; a shop must lie in one of them."""
    return _parse(text, SHOP_HEADER, lambda row: _shop(row, grid_codes), lambda s: s.code)


def parse_sites(text: str, grid_codes: Collection[str]) -> ImportResult[Site]:
    """`grid_codes`: the grids stored; a site must lie in one of them."""
    return _parse(text, SITE_HEADER, lambda row: _site(row, grid_codes), lambda s: s.code)

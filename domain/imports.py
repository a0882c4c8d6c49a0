"""Reading the files admins import: grids, staff, service categories, shops, sites and the calendar
of holidays, as CSV
(UTF-8, UTF-8 with BOM or GB18030) or XLSX (domain/tables.py), with English or Chinese headers in
any order; optional columns may be left out.

A file is taken whole or not at all. `check` reads it through and reports its bad rows (the first
MAX_LISTED of them, and how many in all); `read` then yields its rows again, one at a time, for one
transaction to write. Neither holds the file: only the keys seen (to refuse a row that repeats
another) grow with it. Messages are message ids (English) with their values: the caller translates."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Generic, TypeVar

from domain.models import Category, DeadlineUnit, Grid, Role, StaffMember
from domain.shops import Shop, Site, SiteKind
from domain.tables import Table
from domain.text import N_
from domain.tickets import GRID_CODE_PATTERN
from domain.workdays import CalendarDay

T = TypeVar("T")

MAX_LISTED = 20  # bad rows listed; the rest are counted


class RowError(ValueError):
    """A row (or the header) is wrong; `message` is a message id to format with `params`."""

    def __init__(self, message: str, **params: object):
        super().__init__(message.format(**params))
        self.message = message
        self.params = params


@dataclass(frozen=True)
class Problem:
    line: int
    message: str  # a message id, formatted with params once translated
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"line {self.line}: {self.message.format(**self.params)}"


@dataclass(frozen=True)
class Check:
    problems: list[Problem]  # the first MAX_LISTED
    bad: int  # bad rows (and header problems) in all
    good: int  # rows that would be written
    unread_columns: list[str]  # header cells that name no column of this kind


@dataclass(frozen=True)
class Column:
    key: str
    names: tuple[str, ...]  # other headers taken for it: Chinese, and other English spellings
    required: bool = True


def _header_key(text: str) -> str:
    """A header as compared: "Telegram ID", "telegram_id" and "回复时限（小时）" match "telegram id" and
    "回复时限": case, blanks, '_' and '-', a BOM and a unit in brackets do not count."""
    text = re.sub(r"[(（\[【].*?[)）\]】]", "", text.replace("\ufeff", ""))
    return re.sub(r"[\s_\-]+", "", text).lower()


class Row:
    """One row's cells by column key, with the file's own header to name a column in a message."""

    def __init__(self, values: dict[str, str], headers: Mapping[str, str]):
        self.values = values
        self.headers = headers

    def column(self, key: str) -> str:
        return self.headers.get(key, key)

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    def required(self, key: str) -> str:
        value = self.get(key)
        if not value:
            raise RowError(N_("{column} is empty"), column=self.column(key))
        return value

    def number(self, key: str, low: float, high: float, optional: bool = False) -> float | None:
        value = self.get(key) if optional else self.required(key)
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            raise RowError(N_("{column} must be a number, got {value!r}"), column=self.column(key), value=value) from None
        if not low <= number <= high:
            raise RowError(N_("{column} must be between {low:g} and {high:g}, got {value}"),
                           column=self.column(key), low=low, high=high, value=value)
        return number

    def whole_number(self, key: str, optional: bool = False) -> int | None:
        value = self.get(key) if optional else self.required(key)
        if not value:
            return None
        if not value.isdigit():
            raise RowError(N_("{column} must be a positive whole number, got {value!r}"),
                           column=self.column(key), value=value)
        return int(value)

    def code(self, key: str = "code") -> str:
        """A code that goes into a QR code's link (or a category's button): few characters allowed."""
        code = self.required(key)
        if not GRID_CODE_PATTERN.fullmatch(code):
            raise RowError(N_("{column} {value!r} may use only Latin letters, digits, '_' and '-' (at most 60)"),
                           column=self.column(key), value=code)
        return code

    def choice(self, key: str, choices: Sequence[str]) -> str:
        value = self.required(key)
        if value not in choices:
            raise RowError(N_("{column} {value!r} is not one of {choices}"), column=self.column(key), value=value,
                           choices=", ".join(choices))
        return value


@dataclass(frozen=True)
class Kind(Generic[T]):
    """What a file of one kind holds: its columns, how a row becomes an item (a fresh parser for
    each pass, as a parser may remember earlier rows), and the key no two rows may share."""

    columns: tuple[Column, ...]
    parser: Callable[[], Callable[[Row], T]]
    key: Callable[[T], object]


def _columns(cells: list[str], columns: Sequence[Column]) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Column key -> index and the file's header for it; the header cells that name no column.
    Raises RowError for a required column missing or a column named twice."""
    wanted = {_header_key(name): column.key for column in columns for name in (column.key, *column.names)}
    index: dict[str, int] = {}
    headers: dict[str, str] = {}
    unread: list[str] = []
    for position, cell in enumerate(cells):
        header = cell.replace("\ufeff", "").strip()
        key = wanted.get(_header_key(header))
        if key is None:
            if header:
                unread.append(header)
            continue
        if key in index:
            raise RowError(N_("two columns stand for {column}: {first!r} and {second!r}"), column=key,
                           first=headers[key], second=header)
        index[key], headers[key] = position, header
    for column in columns:
        if column.required and column.key not in index:
            names = ", ".join((column.key, *column.names))
            raise RowError(N_("the header has no column {column} (taken as: {names})"), column=column.key, names=names)
    return index, headers, unread


def _entries(table: Table, kind: Kind[T], unread: list[str] | None = None) -> Iterator[tuple[int, T | Problem]]:
    """Each row of the table as (line, item) or (line, its problem)."""
    rows = table.rows()
    first = next(rows, None)
    if first is None:
        yield 1, Problem(1, N_("the file has no rows"))
        return
    line, header = first
    try:
        index, headers, unread_columns = _columns(header, kind.columns)
    except RowError as error:
        yield line, Problem(line, error.message, error.params)
        return
    if unread is not None:
        unread.extend(unread_columns)
    parse = kind.parser()
    seen: dict[object, int] = {}
    width = len(header)
    for line, cells in rows:
        if any(cell.strip() for cell in cells[width:]):
            yield line, Problem(line, N_("more cells than the header has columns"))
            continue
        values = {key: cells[i].strip() if i < len(cells) else "" for key, i in index.items()}
        try:
            item = parse(Row(values, headers))
        except RowError as error:
            yield line, Problem(line, error.message, error.params)
            continue
        key = kind.key(item)
        if key in seen:
            yield line, Problem(line, N_("repeats line {line}"), {"line": seen[key]})
            continue
        seen[key] = line
        yield line, item


def check(table: Table, kind: Kind) -> Check:
    """Reads the whole table; keeps only the first MAX_LISTED problems and counts."""
    problems: list[Problem] = []
    unread: list[str] = []
    bad = good = 0
    for _line, entry in _entries(table, kind, unread):
        if isinstance(entry, Problem):
            bad += 1
            if len(problems) < MAX_LISTED:
                problems.append(entry)
        else:
            good += 1
    if not bad and not good:
        bad, problems = 1, [Problem(2, N_("the file has no rows"))]
    return Check(problems, bad, good, unread)


def read(table: Table, kind: Kind[T]) -> Iterator[T]:
    """The items of a table `check` found good, one at a time. Raises RowError if a row has become
    bad since (the file changed): the transaction writing them then writes nothing."""
    for line, entry in _entries(table, kind):
        if isinstance(entry, Problem):
            raise RowError(N_("line {line} changed since it was checked: {problem}"), line=line, problem=str(entry))
        yield entry


def printable(kind: Kind[T], texts: Callable[[T], Sequence[tuple[str, str]]],
              missing: Callable[[str], str]) -> Kind[T]:
    """`kind`, refusing a row with a text that goes on posters and QR cards (`texts` gives each
    with its column) holding a character that no font has (`missing` finds them): a poster would
    print an empty box, so the name is refused here, with its line and the character."""

    def parser() -> Callable[[Row], T]:
        parse = kind.parser()

        def checked(row: Row) -> T:
            item = parse(row)
            for key, text in texts(item):
                lacking = missing(text)
                if lacking:
                    raise RowError(
                        N_("{column} {value!r} has {characters}, which no font can print: set FALLBACK_FONTS to a "
                           "font that has it (or install the Debian package fonts-hanazono), or change the name"),
                        column=row.column(key), value=text,
                        characters=", ".join(f"{c} (U+{ord(c):04X})" for c in lacking))
            return item

        return checked

    return replace(kind, parser=parser)


# What each kind prints on posters and QR cards, with its column.
PRINTED: dict[str, Callable[[object], Sequence[tuple[str, str]]]] = {
    "grids": lambda grid: [("name", grid.name), ("village", grid.village), ("town", grid.town)],
    # A grid worker's name is on the grid's poster; other staff are printed nowhere.
    "staff": lambda member: [("name", member.name)] if member.role is Role.GRID_WORKER else [],
    "shops": lambda shop: [("name", shop.name)],
    "sites": lambda site: [("name", site.name)],
}


# -- the kinds --------------------------------------------------------------------------------------
GRID_COLUMNS = (
    Column("code", ("编码", "网格编码", "代码")),
    Column("name", ("名称", "网格名称", "网格名")),
    Column("village", ("村", "村名", "村庄", "所属村", "社区")),
    Column("town", ("镇", "乡镇", "镇名", "所属乡镇", "街道")),
    Column("lat", ("纬度", "latitude"), required=False),
    Column("lon", ("经度", "longitude", "lng"), required=False),
)
STAFF_COLUMNS = (
    Column("telegram_id", ("Telegram ID", "TG ID", "电报ID", "用户ID")),
    Column("name", ("姓名", "名字", "名称")),
    Column("role", ("角色",)),
    Column("scope", ("范围", "负责范围", "管辖范围"), required=False),
)
CATEGORY_COLUMNS = (
    Column("code", ("编码", "类别编码", "代码")),
    Column("name_zh", ("中文名称", "名称", "类别名称", "中文名")),
    Column("name_en", ("英文名称", "英文名")),
    Column("department", ("部门", "责任部门", "承办部门")),
    # reply_hours, resolve_hours: the header from before deadlines could count working days.
    Column("reply", ("reply_hours", "回复时限", "响应时限", "答复时限")),
    Column("resolve", ("resolve_hours", "办结时限", "办理时限", "解决时限")),
    Column("unit", ("单位", "时限单位"), required=False),  # hours when left out
)
CALENDAR_COLUMNS = (Column("date", ("日期",)), Column("type", ("类型",)))
SHOP_COLUMNS = (
    Column("code", ("编码", "商户编码", "店铺编码")),
    Column("name", ("名称", "店名", "商户名称")),
    Column("grid", ("网格", "网格编码", "所属网格")),
    Column("owner_telegram_id", ("店主", "店主Telegram ID", "店主ID"), required=False),
)
SITE_COLUMNS = (
    Column("code", ("编码", "场所编码")),
    Column("name", ("名称", "场所名称")),
    Column("grid", ("网格", "网格编码", "所属网格")),
    Column("kind", ("类型", "场所类型")),
)


def _grid(row: Row) -> Grid:
    code = row.code()
    lat = row.number("lat", -90, 90, optional=True)
    lon = row.number("lon", -180, 180, optional=True)
    if (lat is None) != (lon is None):
        raise RowError(N_("{column} and {other} must both be given or both be empty"),
                       column=row.column("lat"), other=row.column("lon"))
    return Grid(code, row.required("name"), row.required("village"), row.required("town"), lat, lon)


def grids(stored: Sequence[Grid] = ()) -> Kind[Grid]:
    """Grids; `stored` are the grids already in the database. A village is known by its name in
    access rules and statistics, so one name may not stand in two towns."""

    def parser() -> Callable[[Row], Grid]:
        # The stored grids' places until the file names them again (a code twice in the file is
        # refused anyway), so that what this keeps does not grow with the file.
        stored_place = {grid.code: (grid.village, grid.town) for grid in stored}
        towns_of_village: dict[str, Counter[str]] = {}  # village -> grids in each town
        for village, town in stored_place.values():
            towns_of_village.setdefault(village, Counter())[town] += 1

        def grid_in_one_town(row: Row) -> Grid:
            grid = _grid(row)
            towns = towns_of_village.setdefault(grid.village, Counter())
            moved = stored_place.get(grid.code)  # a grid's own place before does not count against it

            def others(town: str) -> int:
                return towns[town] - (moved == (grid.village, town))

            clash = next((town for town in towns if town != grid.town and others(town) > 0), None)
            if clash is not None:
                raise RowError(
                    N_("village {village!r} is already in town {town!r}; a village's name must be unique across "
                       "towns (name it e.g. '{suggestion}')"),
                    village=grid.village, town=clash, suggestion=f"{grid.town}{grid.village}",
                )
            if moved is not None:
                towns_of_village[moved[0]][moved[1]] -= 1
                del stored_place[grid.code]
            towns[grid.town] += 1
            return grid

        return grid_in_one_town

    return Kind(GRID_COLUMNS, parser, lambda g: g.code)


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
                raise RowError(N_("role admin takes no scope, got {scope!r}"), scope=scope)
            return
        towns = {g.town for g in self.grids}
        known: dict[Role, tuple[Collection[str], str]] = {
            Role.GRID_WORKER: ({g.code for g in self.grids},
                               N_("{scope!r} is not a known grid; import it first with `gridbot import grids`")),
            Role.VILLAGE: ({g.village for g in self.grids}, N_("{scope!r} is not a known village (no grid lies in it)")),
            Role.TOWN: (towns, N_("{scope!r} is not a known town (no grid lies in it)")),
            Role.OFFICIAL: (towns, N_("{scope!r} is not a known town (no grid lies in it)")),
            Role.INSPECTOR: (towns, N_("{scope!r} is not a known town (no grid lies in it)")),
            Role.DEPARTMENT: (self.departments, N_("{scope!r} is not a known department (no service category names it)")),
            Role.SHOP_OWNER: (self.shop_codes,
                              N_("{scope!r} is not a known shop; import it first with `gridbot import shops`")),
        }
        names, unknown = known[role]
        if scope and scope not in names:
            raise RowError(unknown, scope=scope)


def staff(known: KnownScopes, role_names: Mapping[str, Role] | None = None) -> Kind[StaffMember]:
    """Staff; a row whose scope names no stored grid, village, town, department or shop, or an
    admin row with a scope, is an error. A role is its value (grid_worker) or one of `role_names`
    (the names the bot shows, such as 网格员)."""
    roles = {role.value: role for role in Role} | dict(role_names or {})

    def member(row: Row) -> StaffMember:
        telegram_id = row.whole_number("telegram_id")
        role = roles[row.choice("role", list(roles))]
        scope = row.get("scope")
        # Officials and inspectors without a scope cover every town.
        if role not in (Role.ADMIN, Role.OFFICIAL, Role.INSPECTOR) and not scope:
            raise RowError(N_("role {role} needs a scope (a grid code, village, town, department or shop code)"),
                           role=role.value)
        found = StaffMember(telegram_id, row.required("name"), role, scope)
        known.check(found)
        return found

    return Kind(STAFF_COLUMNS, lambda: member, lambda s: (s.telegram_id, s.role, s.scope))


_UNITS = {"hours": DeadlineUnit.HOURS, "小时": DeadlineUnit.HOURS, "workdays": DeadlineUnit.WORKDAYS,
          "工作日": DeadlineUnit.WORKDAYS}


def _working_days(row: Row, key: str) -> int:
    """Whole days: half a working day has no agreed meaning."""
    value = row.required(key)
    if not value.isdigit() or not 1 <= int(value) <= 365:
        raise RowError(N_("{column} must be a whole number of working days from {low} to {high}, got {value!r}"),
                       column=row.column(key), low=1, high=365, value=value)
    return int(value)


def _category(row: Row) -> Category:
    code = row.code()
    unit = _UNITS[row.choice("unit", list(_UNITS))] if row.get("unit") else DeadlineUnit.HOURS
    if unit is DeadlineUnit.WORKDAYS:
        reply, resolve = _working_days(row, "reply"), _working_days(row, "resolve")
    else:
        reply, resolve = row.number("reply", 0.1, 24 * 365), row.number("resolve", 0.1, 24 * 365)
    if resolve < reply:
        raise RowError(N_("{column} must not be shorter than {other}"), column=row.column("resolve"),
                       other=row.column("reply"))
    return Category(code, row.required("name_zh"), row.required("name_en"), row.required("department"), reply,
                    resolve, unit)


def categories() -> Kind[Category]:
    return Kind(CATEGORY_COLUMNS, lambda: _category, lambda c: c.code)


# 2026-10-01, or 2026/10/1 as Excel writes dates in China.
_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})")
_DAY_TYPES = {"holiday": False, "休": False, "节假日": False, "workday": True, "班": True, "工作日": True}


def _calendar_day(row: Row) -> CalendarDay:
    text = row.required("date")
    match = _DATE.fullmatch(text)
    try:
        day = date(*(int(part) for part in match.groups())) if match else None
    except ValueError:
        day = None
    if day is None:
        raise RowError(N_("{column} must be a day such as 2026-10-01, got {value!r}"), column=row.column("date"),
                       value=text)
    return CalendarDay(day, _DAY_TYPES[row.choice("type", list(_DAY_TYPES))])


def calendar() -> Kind[CalendarDay]:
    """Holidays and adjusted working days (调休)."""
    return Kind(CALENDAR_COLUMNS, lambda: _calendar_day, lambda d: d.day)


def _known_grid(row: Row, grid_codes: Collection[str]) -> str:
    grid = row.required("grid")
    if grid not in grid_codes:
        raise RowError(N_("{column} {value!r} is not a known grid; import it first with `gridbot import grids`"),
                       column=row.column("grid"), value=grid)
    return grid


def shops(grid_codes: Collection[str]) -> Kind[Shop]:
    """Shops; `grid_codes`: the grids stored, a shop must lie in one of them."""

    def shop(row: Row) -> Shop:
        code = row.code()
        grid = _known_grid(row, grid_codes)
        return Shop(code, row.required("name"), grid, row.whole_number("owner_telegram_id", optional=True))

    return Kind(SHOP_COLUMNS, lambda: shop, lambda s: s.code)


def sites(grid_codes: Collection[str]) -> Kind[Site]:
    """Supervised sites; `grid_codes`: the grids stored, a site must lie in one of them."""

    def site(row: Row) -> Site:
        code = row.code()
        grid = _known_grid(row, grid_codes)
        kind = SiteKind(row.choice("kind", [k.value for k in SiteKind]))
        return Site(code, row.required("name"), grid, kind)

    return Kind(SITE_COLUMNS, lambda: site, lambda s: s.code)

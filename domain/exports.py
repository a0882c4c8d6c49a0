"""A period's tickets as CSV (UTF-8 with BOM, which Excel needs to read Chinese) and Excel
workbooks of several sheets (`Sheet`, `write_workbook`).

Each ticket is exported as it stood at the period's end (`domain.stats.TicketAtEnd`), so an export
of a closed period never changes; its current state follows in extra columns. Every word a reader
sees comes from the caller, already translated: the column headers, the names of categories, the
labels of kinds, statuses, tiers, yes and no, the sheets' names. Residents' ids are not exported,
nor their call-back numbers unless an admin asks (`with_phones`, `gridbot stats --csv F --with-phones`).
are not exported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

import xlsxwriter

from domain.models import Grid, Tier
from domain.stats import TicketAtEnd
from domain.tickets import format_number, tier_holder

# Columns, in order; `headers` passed to `export_header` must name each. The ticket as it stood
# at the period's end, then (the fields ending in "_now") as it is today.
EXPORT_FIELDS = (
    "number",
    "created_at",
    "kind",
    "category",
    "town",
    "village",
    "grid",
    "status",
    "tier",
    "holder",
    "first_response_at",
    "closed_at",
    "closed_tier",
    "overdue",
    "reopened",
    "returned",
    "urges",
    "confirmed",
    "rating",
    "status_now",
    "tier_now",
    "holder_now",
    "closed_at_now",
    "rating_now",
    "rating_comment_now",
    "description",
)
# Label keys for the yes/no columns.
YES, NO = "yes", "no"
_COLUMN_WIDTHS = {"number": 12, "description": 60, "rating_comment_now": 30, "rating": 6, "rating_now": 6,
                  "urges": 6, "overdue": 6, "reopened": 6, "returned": 6, "confirmed": 6}
_TIME_COLUMN_WIDTH = 17
_DEFAULT_COLUMN_WIDTH = 12
_CSV_TIME_FORMAT = "%Y-%m-%d %H:%M"
_EXCEL_TIME_FORMAT = "yyyy-mm-dd hh:mm"
# A cell starting with one of these is run as a formula by spreadsheet programs; residents write
# the descriptions, so such text is kept as text (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | datetime | None
_A4 = 9  # xlsxwriter's paper size code


# The call-back number a resident shared (while it is kept), after the other columns, only when asked.
PHONE_FIELD = "callback_phone"


def export_header(headers: Mapping[str, str], with_phones: bool = False) -> list[str]:
    """The caller's translated headers in column order; KeyError names any that are missing."""
    fields = (*EXPORT_FIELDS, PHONE_FIELD) if with_phones else EXPORT_FIELDS
    missing = [name for name in fields if name not in headers]
    if missing:
        raise KeyError(f"no header for export columns {', '.join(missing)}")
    return [headers[name] for name in fields]


def ticket_rows(
    tickets: Iterable[TicketAtEnd],
    grids: Mapping[str, Grid],
    category_names: Mapping[str, str],
    tz: ZoneInfo,
    number_prefix: str,
    labels: Mapping[str, str] | None = None,
    with_phones: bool = False,
) -> Iterator[list[Cell]]:
    """One row per ticket in `EXPORT_FIELDS` order (then `PHONE_FIELD` `with_phones`); times are
    local, without a zone, as Excel wants them. `labels` translates kind, status and tier values
    ("in_progress" -> "处理中") and `YES` and `NO`; values without a label are written as they are."""
    labels = labels or {}

    def local(moment: int | None) -> datetime | None:
        return None if moment is None else datetime.fromtimestamp(moment, tz).replace(tzinfo=None)

    def label(value: str | None) -> str | None:
        return labels.get(value, value) if value else None

    def yes_no(value: bool) -> str:
        return labels.get(YES if value else NO, YES if value else NO)

    def holder(tier: Tier, scope: str) -> str:
        # At the grid tier the holder is the grid, known by its code: show its name.
        grid = grids.get(scope) if tier is Tier.GRID else None
        return grid.name if grid else scope

    for at_end in tickets:
        ticket = at_end.ticket
        grid = grids.get(at_end.grid_code)
        grid_now = grids.get(ticket.grid_code)
        row: list[Cell] = [
            format_number(number_prefix, ticket.id),
            local(ticket.created_at),
            label(ticket.kind),
            category_names.get(ticket.category_code, ticket.category_code),
            grid.town if grid else None,
            grid.village if grid else None,
            grid.name if grid else at_end.grid_code,
            label(at_end.status),
            label(at_end.tier),
            holder(at_end.tier, at_end.holder_scope),
            local(at_end.first_response_at),
            local(at_end.closed_at),
            label(at_end.closed_tier),
            yes_no(at_end.overdue),
            yes_no(at_end.reopened),
            yes_no(at_end.returned),
            at_end.urges,
            yes_no(at_end.confirmed),
            at_end.stars,
            label(ticket.status),
            label(ticket.tier),
            holder(ticket.tier, tier_holder(ticket, grid_now)[1]),
            local(ticket.resolved_at),
            ticket.rating,
            ticket.rating_comment,
            ticket.description,
        ]
        yield [*row, ticket.callback_phone] if with_phones else row


def _csv_cell(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, Percent):
        return "{:.1f}%".format(value * 100)
    if isinstance(value, datetime):
        return value.strftime(_CSV_TIME_FORMAT)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


@contextmanager
def _binary_output(out: str | Path | BinaryIO) -> Iterator[BinaryIO]:
    if isinstance(out, (str, Path)):
        with open(out, "wb") as file:
            yield file
    else:
        yield out


def write_csv(
    out: str | Path | BinaryIO, header: Sequence[str], rows: Iterable[Sequence[Cell]]
) -> None:
    with _binary_output(out) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows([_csv_cell(v) for v in row] for row in rows)
        text.flush()
        # Leave the caller's stream open: TextIOWrapper would close it when collected.
        text.detach()


class Percent(float):
    """A share from 0 to 1, written as a percentage ("66.1%" in CSV, a percent cell in Excel)."""


@dataclass(frozen=True)
class Sheet:
    """One worksheet: a header row, then rows. `widths` gives column widths in characters (a
    column without one is sized by its header); `wrap` names columns of long text to wrap."""

    name: str
    header: Sequence[str]
    rows: Iterable[Sequence[Cell]]
    widths: Sequence[float] = ()
    wrap: frozenset[int] = frozenset()


def _header_width(text: str) -> float:
    # A Chinese character is about two columns wide in Excel's default font.
    return max(_DEFAULT_COLUMN_WIDTH, 2 + sum(2 if ord(c) > 0x2E80 else 1 for c in text))


def write_workbook(out: str | Path | BinaryIO, sheets: Sequence[Sheet]) -> None:
    """An Excel workbook officials can use as it is: on every sheet the header row is bold,
    frozen, filterable and printed on every page, and a page holds the sheet's whole width
    (landscape A4). Rows are streamed to disk (constant-memory mode), so a large period does not
    fill memory."""
    workbook = xlsxwriter.Workbook(
        out,
        {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False},
    )
    header_format = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7"})
    time_format = workbook.add_format({"num_format": _EXCEL_TIME_FORMAT})
    percent_format = workbook.add_format({"num_format": "0.0%"})
    wrap_format = workbook.add_format({"text_wrap": True, "valign": "top"})
    for spec in sheets:
        sheet = workbook.add_worksheet(spec.name)
        for column, title in enumerate(spec.header):
            width = spec.widths[column] if column < len(spec.widths) else _header_width(title)
            sheet.set_column(column, column, width, wrap_format if column in spec.wrap else None)
        sheet.freeze_panes(1, 0)
        sheet.write_row(0, 0, spec.header, header_format)
        last_row = 0
        for last_row, row in enumerate(spec.rows, start=1):
            for column, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, datetime):
                    sheet.write_datetime(last_row, column, value, time_format)
                elif isinstance(value, Percent):
                    sheet.write_number(last_row, column, value, percent_format)
                elif isinstance(value, str):
                    sheet.write_string(last_row, column, value, wrap_format if column in spec.wrap else None)
                else:
                    sheet.write_number(last_row, column, value)
        sheet.autofilter(0, 0, last_row, max(len(spec.header) - 1, 0))
        sheet.repeat_rows(0)
        sheet.set_landscape()
        sheet.set_paper(_A4)
        sheet.fit_to_pages(1, 0)  # as wide as one page, as many pages down as it takes
    workbook.close()


def ticket_column_widths() -> list[float]:
    return [
        _TIME_COLUMN_WIDTH if name.endswith(("_at", "_at_now")) else _COLUMN_WIDTHS.get(name, _DEFAULT_COLUMN_WIDTH)
        for name in EXPORT_FIELDS
    ]

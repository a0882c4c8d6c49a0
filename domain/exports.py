"""The week's tickets as CSV (UTF-8 with BOM, which Excel needs to read Chinese) or Excel (.xlsx).

Every word a reader sees comes from the caller, already translated: the column headers, the
names of categories, the labels of kinds, statuses and tiers, the sheet's name. Residents' ids and
phone numbers are not exported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

import xlsxwriter

from domain.models import Grid, Ticket
from domain.tickets import format_number

# Columns, in order; `headers` passed to `export_header` must name each.
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
    "department",
    "first_reply_at",
    "resolved_at",
    "resolved_tier",
    "confirmed_at",
    "rating",
    "rating_comment",
    "reply_due_at",
    "resolve_due_at",
    "description",
)
_COLUMN_WIDTHS = {"number": 12, "description": 60, "rating_comment": 30, "rating": 6}
_TIME_COLUMN_WIDTH = 17
_DEFAULT_COLUMN_WIDTH = 12
_CSV_TIME_FORMAT = "%Y-%m-%d %H:%M"
_EXCEL_TIME_FORMAT = "yyyy-mm-dd hh:mm"
# A cell starting with one of these is run as a formula by spreadsheet programs; residents write
# the descriptions, so such text is kept as text (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | datetime | None


def export_header(headers: Mapping[str, str]) -> list[str]:
    """The caller's translated headers in column order; KeyError names any that are missing."""
    missing = [name for name in EXPORT_FIELDS if name not in headers]
    if missing:
        raise KeyError(f"no header for export columns {', '.join(missing)}")
    return [headers[name] for name in EXPORT_FIELDS]


def ticket_rows(
    tickets: Iterable[Ticket],
    grids: Mapping[str, Grid],
    category_names: Mapping[str, str],
    tz: ZoneInfo,
    number_prefix: str,
    labels: Mapping[str, str] | None = None,
) -> Iterator[list[Cell]]:
    """One row per ticket in `EXPORT_FIELDS` order; times are local, without a zone, as Excel
    wants them. `labels` translates kind, status and tier values ("in_progress" -> "处理中");
    values without a label are written as they are."""
    labels = labels or {}

    def local(moment: int | None) -> datetime | None:
        return None if moment is None else datetime.fromtimestamp(moment, tz).replace(tzinfo=None)

    def label(value: str | None) -> str | None:
        return labels.get(value, value) if value else None

    for ticket in tickets:
        grid = grids.get(ticket.grid_code)
        yield [
            format_number(number_prefix, ticket.id),
            local(ticket.created_at),
            label(ticket.kind),
            category_names.get(ticket.category_code, ticket.category_code),
            grid.town if grid else None,
            grid.village if grid else None,
            grid.name if grid else ticket.grid_code,
            label(ticket.status),
            label(ticket.tier),
            ticket.department,
            local(ticket.first_reply_at),
            local(ticket.resolved_at),
            label(ticket.resolved_tier),
            local(ticket.confirmed_at),
            ticket.rating,
            ticket.rating_comment,
            local(ticket.reply_due_at),
            local(ticket.resolve_due_at),
            ticket.description,
        ]


def _csv_cell(value: Cell) -> str | int:
    if value is None:
        return ""
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


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    buffer = io.BytesIO()
    write_csv(buffer, header, rows)
    return buffer.getvalue()


def write_xlsx(
    out: str | Path | BinaryIO,
    header: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    sheet_name: str | None = None,
) -> None:
    """Rows are streamed to disk (constant-memory mode), so a large week does not fill memory."""
    workbook = xlsxwriter.Workbook(
        out,
        {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False},
    )
    sheet = workbook.add_worksheet(sheet_name)
    bold = workbook.add_format({"bold": True})
    time_format = workbook.add_format({"num_format": _EXCEL_TIME_FORMAT})
    for column, name in enumerate(EXPORT_FIELDS):
        width = _TIME_COLUMN_WIDTH if name.endswith("_at") else _COLUMN_WIDTHS.get(
            name, _DEFAULT_COLUMN_WIDTH
        )
        sheet.set_column(column, column, width)
    sheet.freeze_panes(1, 0)
    sheet.write_row(0, 0, header, bold)
    for row_number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, datetime):
                sheet.write_datetime(row_number, column, value, time_format)
            elif isinstance(value, str):
                sheet.write_string(row_number, column, value)
            else:
                sheet.write_number(row_number, column, value)
    workbook.close()


def xlsx_bytes(
    header: Sequence[str], rows: Iterable[Sequence[Cell]], sheet_name: str | None = None
) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(buffer, header, rows, sheet_name)
    return buffer.getvalue()

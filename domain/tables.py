"""The rows of a spreadsheet as a town office saves it: CSV in UTF-8 (with or without Excel's BOM)
or in GB18030 (what Chinese Excel writes as "CSV"), or an XLSX workbook. Rows are read one at a
time as they are asked for, so a file of any size takes the same memory, and a table can be read
again from its start (checked whole first, then written)."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from domain.text import N_

XLSX_SUFFIXES = (".xlsx", ".xlsm")
_CHUNK = 1 << 16


class TableError(ValueError):
    """The file cannot be read as a table; `message` is a message id (English) for the catalogs."""

    def __init__(self, message: str, **params: object):
        super().__init__(message.format(**params))
        self.message = message
        self.params = params


def csv_encoding(path: Path) -> str:
    """utf-8-sig for a file with a BOM, utf-8 for a file that decodes as UTF-8 to its end, else
    gb18030 (a superset of GBK and GB2312). Decoded chunk by chunk: constant memory."""
    with path.open("rb") as file:
        if file.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
        file.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := file.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8"


def _cell(value: object) -> str:
    """An XLSX cell as the text a CSV file would hold: 1001 and 1001.0 are "1001" (codes and
    Telegram ids are typed as numbers in Excel), a date is 2026-11-30."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Table:
    path: Path

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number, cells) for each row, the header first; rows with nothing in them skipped.
        Raises TableError for a file that is neither CSV text nor a workbook."""
        if self.path.suffix.lower() == ".xls":  # Excel 97-2003: a binary format openpyxl does not read
            raise TableError(N_("{path} is an old Excel file (.xls); save it as .xlsx or as CSV"), path=self.path)
        if self.path.suffix.lower() in XLSX_SUFFIXES:
            yield from self._workbook_rows()
        else:
            yield from self._csv_rows()

    def _csv_rows(self) -> Iterator[tuple[int, list[str]]]:
        encoding = csv_encoding(self.path)
        try:
            with self.path.open(encoding=encoding, newline="") as file:
                reader = csv.reader(file)
                for cells in reader:
                    if any(cell.strip() for cell in cells):
                        yield reader.line_num, cells
        except UnicodeDecodeError:
            raise TableError(N_("{path} is neither UTF-8 nor GB18030 (GBK) text; save it as CSV UTF-8"),
                             path=self.path) from None
        except csv.Error as error:
            raise TableError(N_("{path} is not a CSV file: {error}"), path=self.path, error=error) from None

    def _workbook_rows(self) -> Iterator[tuple[int, list[str]]]:
        # openpyxl's read-only mode streams the sheet's XML row by row instead of loading it.
        from zipfile import BadZipFile

        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            workbook = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except (BadZipFile, InvalidFileException, KeyError, OSError) as error:
            raise TableError(N_("{path} is not an Excel workbook (.xlsx): {error}"), path=self.path,
                             error=error) from None
        try:
            sheet = workbook.worksheets[0]  # the first sheet, whichever was open when it was saved
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells = [_cell(value) for value in values]
                if any(cell.strip() for cell in cells):
                    yield number, cells
        finally:
            workbook.close()

"""Printable posters: one PDF with a page per code, A4 or A6, black and white."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from qr.fonts import find_cjk_font, require_glyphs
from qr.layout import Column, PlacedQr, PlacedText, QrBlock, TextBlock, lay_out_column
from qr.pdf import PdfWriter


@dataclass(frozen=True)
class PageSize:
    width_mm: float
    height_mm: float
    # A6 at twice the A4 resolution gives both about 1240 x 1750 px: the same crisp QR modules
    # and readable small text, at the same cost per page.
    dpi: int

    @property
    def pixels(self) -> tuple[int, int]:
        return round(self.width_mm / 25.4 * self.dpi), round(self.height_mm / 25.4 * self.dpi)


PAGE_SIZES = {"A4": PageSize(210, 297, 150), "A6": PageSize(105, 148, 300)}


@dataclass(frozen=True)
class PosterSpec:
    """One poster. Every text comes from the caller, already translated.

    - `link`: what the QR code encodes, e.g. `qr.codes.grid_link(...)`.
    - `title`: the grid's (or shop's, or site's) name, in large bold type.
    - `lines`: details under the title, e.g. the village and the grid worker.
    - `caption`: the call under the code, e.g. "扫码反映问题".
    - `how_to`: a few short steps on using the code, in small type.
    - `bot_name`: the bot's name at the top, e.g. "码上西岗 @xigang_bot".
    """

    link: str
    title: str
    lines: Sequence[str]
    caption: str
    how_to: Sequence[str]
    bot_name: str

    def texts(self) -> list[str]:
        return [self.bot_name, self.title, *self.lines, self.caption, *self.how_to]


def write_posters(
    out: str | os.PathLike[str] | BinaryIO,
    posters: Iterable[PosterSpec],
    page_size: str = "A4",
    font_path: str | os.PathLike[str] | None = None,
) -> int:
    """Write one PDF to `out` (a path or a binary file) with a page per poster; return the page count.

    `posters` may be a generator: pages are drawn and written one at a time, so memory stays
    flat however many there are. `page_size` is "A4" or "A6". `font_path` is the FONT_PATH setting
    (None: the bundled Noto Sans SC). Raises ValueError for no posters or an unknown page size,
    FontNotFoundError without a usable CJK font, and MissingGlyphsError if the font cannot draw a
    character of a poster. If `out` is a path, a failure leaves no partial file behind.
    """
    if page_size not in PAGE_SIZES:
        raise ValueError(f"page size must be one of {', '.join(PAGE_SIZES)}, not {page_size!r}")
    font = find_cjk_font(font_path)
    remaining = iter(posters)
    first = next(remaining, None)
    if first is None:
        raise ValueError("no posters to write: a PDF needs at least one page")
    all_posters = itertools.chain([first], remaining)
    if not isinstance(out, (str, os.PathLike)):
        return _write_pages(out, all_posters, PAGE_SIZES[page_size], font)
    path = Path(out)
    try:
        with path.open("wb") as file:
            return _write_pages(file, all_posters, PAGE_SIZES[page_size], font)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def lay_out_poster(poster: PosterSpec, page_size: PageSize, font_path: Path) -> Column:
    """Where each line and the QR code of a poster go, in pixels at the page's resolution."""
    require_glyphs(font_path, poster.texts())
    width_px, height_px = page_size.pixels
    return lay_out_column(
        [
            TextBlock([poster.bot_name], size=0.04),
            TextBlock([poster.title], size=0.075, bold=True),
            TextBlock(poster.lines, size=0.045),
            QrBlock(poster.link, size=0.62),
            TextBlock([poster.caption], size=0.07, bold=True),
            TextBlock(poster.how_to, size=0.035),
        ],
        font_path,
        width_px,
        height_px,
        ink_mode="1",
    )


def _write_pages(
    out: BinaryIO, posters: Iterable[PosterSpec], page_size: PageSize, font_path: Path
) -> int:
    pages = 0
    with PdfWriter(out) as pdf:
        for poster in posters:
            _add_page(pdf, lay_out_poster(poster, page_size, font_path), page_size.dpi)
            pages += 1
    return pages


def _add_page(pdf: PdfWriter, column: Column, dpi: int) -> None:
    """Text as black-and-white images at the page's resolution; the QR code as vector squares,
    sharp at any printer's resolution."""
    pt_per_px = 72 / dpi
    height_pt = column.height_px * pt_per_px
    # Draw in pixels from the top-left corner, as the layout does.
    drawing = [b"q %.6f 0 0 %.6f 0 %.3f cm 0 g" % (pt_per_px, -pt_per_px, height_pt)]
    xobjects: dict[str, int] = {}
    for piece in column.pieces:
        if isinstance(piece, PlacedText):
            name = f"T{len(xobjects)}"
            xobjects[name] = pdf.add_ink_mask(piece.ink)
            # An image fills the unit square upwards; flip it back, since y runs down here.
            drawing.append(
                b"q %d 0 0 %d %d %d cm /%s Do Q"
                % (
                    piece.ink.width,
                    -piece.ink.height,
                    piece.left,
                    piece.top + piece.ink.height,
                    name.encode("ascii"),
                )
            )
        else:
            drawing.append(_qr_squares(piece))
    drawing.append(b"Q")
    pdf.add_page(column.width_px * pt_per_px, height_pt, b"\n".join(drawing), xobjects)


def _qr_squares(qr: PlacedQr) -> bytes:
    """A filled path of one rectangle per run of dark modules in a row: one fill, so no seams."""
    rectangles = []
    size = qr.module_px
    for row_index, row in enumerate(qr.modules):
        column_index = 0
        while column_index < len(row):
            if not row[column_index]:
                column_index += 1
                continue
            run_start = column_index
            while column_index < len(row) and row[column_index]:
                column_index += 1
            rectangles.append(
                b"%d %d %d %d re"
                % (
                    qr.left + run_start * size,
                    qr.top + row_index * size,
                    (column_index - run_start) * size,
                    size,
                )
            )
    return b"\n".join(rectangles) + b" f"

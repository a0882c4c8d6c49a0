"""Printable posters: one PDF with a page per code, A4 or A6, black and white."""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from qr.codes import qr_matrix
from qr.fonts import find_cjk_font, require_glyphs
from qr.layout import Column, PlacedQr, PlacedText, QrBlock, TextBlock, lay_out_column
from qr.pdf import PdfWriter


@dataclass(frozen=True)
class PageSize:
    """A paper size, and the resolution its text is drawn at."""

    width_mm: float
    height_mm: float
    # A6 at twice the A4 resolution gives both about 1240 x 1750 px: the same crisp QR modules
    # and readable small text, at the same cost per page.
    dpi: int

    @property
    def pixels(self) -> tuple[int, int]:
        return round(self.width_mm / 25.4 * self.dpi), round(self.height_mm / 25.4 * self.dpi)

    @property
    def points(self) -> tuple[float, float]:
        """The size in PDF points (1/72 inch)."""
        return self.width_mm / 25.4 * 72, self.height_mm / 25.4 * 72


PAGE_SIZES = {"A4": PageSize(210, 297, 150), "A6": PageSize(105, 148, 300)}
# Encoding a QR code (pure Python in the qrcode library) takes most of a page's time, so worker
# processes encode batches of this many codes while the pages are drawn. Fewer posters than one
# batch are encoded here: starting processes would cost more than it saves.
_QR_BATCH = 32
# This process draws pages about as fast as two processes encode their codes; more workers
# would only add memory.
_DEFAULT_WORKERS = 2


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
    workers: int | None = None,
) -> int:
    """Write one PDF to `out` (a path or a binary file) with a page per poster; return the page count.

    `posters` may be a generator: pages are drawn and written one at a time, so memory stays
    flat however many there are. `page_size` is "A4" or "A6". `font_path` is the FONT_PATH setting
    (None: the bundled Noto Sans SC).

    `workers` is how many processes encode QR codes in parallel when there are more than a few
    dozen posters (None: two, or one a CPU if fewer; 1: all in this process). They are started
    with "spawn", which imports the program's main module again: a script calling this must keep
    its top-level code under `if __name__ == "__main__":`. With many posters this blocks for
    seconds: call it from a thread in async code.

    Raises ValueError for no posters, an unknown page size or fewer than one worker,
    FontNotFoundError without a usable CJK font, and MissingGlyphsError if the font cannot draw a
    character of a poster. If `out` is a path, a failure leaves no partial file behind.
    """
    if page_size not in PAGE_SIZES:
        raise ValueError(f"page size must be one of {', '.join(PAGE_SIZES)}, not {page_size!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    font = find_cjk_font(font_path)
    remaining = iter(posters)
    first = next(remaining, None)
    if first is None:
        raise ValueError("no posters to write: a PDF needs at least one page")
    all_posters = itertools.chain([first], remaining)
    if not isinstance(out, (str, os.PathLike)):
        return _write_pages(out, all_posters, PAGE_SIZES[page_size], font, workers)
    path = Path(out)
    try:
        with path.open("wb") as file:
            return _write_pages(file, all_posters, PAGE_SIZES[page_size], font, workers)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def lay_out_poster(
    poster: PosterSpec, qr_modules: list[list[bool]], page_size: PageSize, font_path: Path
) -> Column:
    """Where each line and the QR code (`qr_matrix(poster.link)`) of a poster go, in pixels at
    the page's resolution."""
    require_glyphs(font_path, poster.texts())
    width_px, height_px = page_size.pixels
    return lay_out_column(
        [
            TextBlock([poster.bot_name], size=0.04),
            TextBlock([poster.title], size=0.075, bold=True),
            TextBlock(poster.lines, size=0.045),
            QrBlock(qr_modules, size=0.62),
            TextBlock([poster.caption], size=0.07, bold=True),
            TextBlock(poster.how_to, size=0.035),
        ],
        font_path,
        width_px,
        height_px,
        ink_mode="1",
    )


def _write_pages(
    out: BinaryIO,
    posters: Iterator[PosterSpec],
    page_size: PageSize,
    font_path: Path,
    workers: int | None,
) -> int:
    pages = 0
    with PdfWriter(out) as pdf:
        for poster, qr_modules in _with_qr_codes(posters, workers):
            column = lay_out_poster(poster, qr_modules, page_size, font_path)
            _add_page(pdf, column, page_size)
            pages += 1
    return pages


def _with_qr_codes(
    posters: Iterator[PosterSpec], workers: int | None
) -> Iterator[tuple[PosterSpec, list[list[bool]]]]:
    """Each poster with its QR code, in order; at most a few batches are encoded ahead."""
    if workers is None:
        workers = min(_DEFAULT_WORKERS, os.cpu_count() or 1)
    batch = list(itertools.islice(posters, _QR_BATCH))
    if workers == 1 or len(batch) < _QR_BATCH:
        for poster in itertools.chain(batch, posters):
            yield poster, qr_matrix(poster.link)
        return
    # "spawn": forking a process that runs threads (the bot's) can deadlock the child.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        in_flight: deque[tuple[list[PosterSpec], Iterator[list[list[bool]]]]] = deque()
        while batch:
            in_flight.append((batch, pool.map(qr_matrix, [poster.link for poster in batch])))
            # One batch a worker queued beyond the one being drawn keeps every worker busy.
            if len(in_flight) > workers:
                yield from zip(*in_flight.popleft())
            batch = list(itertools.islice(posters, _QR_BATCH))
        while in_flight:
            yield from zip(*in_flight.popleft())


def _add_page(pdf: PdfWriter, column: Column, page_size: PageSize) -> None:
    """Text as black-and-white images at the page's resolution; the QR code as vector squares,
    sharp at any printer's resolution."""
    width_pt, height_pt = page_size.points
    # Draw in pixels from the top-left corner, as the layout does; whole pixels miss the paper
    # size by a fraction of a pixel, so the scale is the paper's over the pixels'.
    drawing = [
        b"q %.6f 0 0 %.6f 0 %.3f cm 0 g"
        % (width_pt / column.width_px, -height_pt / column.height_px, height_pt)
    ]
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
    pdf.add_page(width_pt, height_pt, b"\n".join(drawing), xobjects)


def _qr_squares(qr: PlacedQr) -> bytes:
    """A filled path of one rectangle per run of dark modules in a row: one fill, so no seams."""
    size = qr.module_px
    rectangles = []
    for row_index, row in enumerate(qr.modules):
        top = qr.top + row_index * size
        left = qr.left
        for dark, run in itertools.groupby(row):
            width = len(list(run)) * size
            if dark:
                rectangles.append(b"%d %d %d %d re" % (left, top, width, size))
            left += width
    return b"\n".join(rectangles) + b" f"

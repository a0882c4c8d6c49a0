"""Printable posters and cards as vector PDF: text as text (the fonts embedded and subset), the
QR code as filled rectangles, so they print sharp at any size and the file stays small.

fpdf2 writes the PDF: it embeds CFF-outline OpenType fonts such as the bundled Noto Sans SC,
subsets them to the characters used, and draws each character a font lacks with a fallback font.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from qr.codes import QUIET_ZONE_MODULES, qr_matrix
from qr.fonts import FontChain, MissingGlyphsError, find_fonts

_POINTS_PER_MM = 72 / 25.4
# "PDFium is inherently not thread-safe" (pypdfium2's documentation), and the bot draws cards in
# worker threads: one card at a time.
_PDFIUM = threading.Lock()
# Card PNGs for the chat: wide enough for crisp text on a phone; Telegram shows up to 1280 px.
CARD_WIDTH_PX = 1000
# Fake bold (the bundled font has one weight): the glyphs' outline stroked too, this share of
# the font size wide.
_BOLD_STROKE = 0.03
# Text never shrinks below this share of its size; a longer text is cut with "…" instead.
_SMALLEST = 0.45
_SHRINK_STEP = 0.9
# A line breaks at spaces, or between any two CJK characters (which need no spaces); a word
# wider than the line breaks anywhere.
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f"
_WRAP_TOKEN = re.compile(rf"\s+|[^\s{_CJK}]+|.")


@dataclass(frozen=True)
class PageSize:
    """A sheet of paper holding `across` x `down` posters of `cell_mm`, whose QR code is
    `qr_mm` wide (the code itself, without the white quiet zone around it).

    The code never shrinks when texts are long: ≥ 80 mm on A4 and ≥ 40 mm on A6 scan from an
    arm's length off a wall; the texts wrap and shrink instead.
    """

    name: str
    sheet_mm: tuple[float, float]
    cell_mm: tuple[float, float]
    qr_mm: float
    across: int = 1
    down: int = 1

    @property
    def cut_marks(self) -> bool:
        return self.across * self.down > 1

    @property
    def per_sheet(self) -> int:
        return self.across * self.down


_A4, _A5, _A6 = (210.0, 297.0), (148.0, 210.0), (105.0, 148.5)
PAGE_SIZES = {
    "A4": PageSize("A4", _A4, _A4, qr_mm=85),
    "A5": PageSize("A5", _A5, _A5, qr_mm=60),
    "A6": PageSize("A6", _A6, _A6, qr_mm=42.5),
    # Four A6 posters on one A4 sheet, for office printers; cut along the marks.
    "A6x4": PageSize("A6x4", _A4, _A6, qr_mm=42.5, across=2, down=2),
}


@dataclass(frozen=True)
class PosterSpec:
    """One poster or card. Every text comes from the caller, already translated.

    - `link`: what the QR code encodes, e.g. `qr.codes.grid_link(...)`; printed under it too,
      for those whose phone has no camera app.
    - `heading`: the town's heading at the top.
    - `title`: the grid's (or shop's, or site's) name, in large bold type.
    - `lines`: details under the title, e.g. the village and the grid worker.
    - `caption`: the call under the code, e.g. "扫码反映问题".
    - `how_to`: a few short steps on using the code, in small type.
    - `hotline`: the hotline line, or "" for none.
    - `privacy`: one line on what happens with the residents' data.
    """

    link: str
    title: str
    heading: str = ""
    lines: Sequence[str] = ()
    caption: str = ""
    how_to: Sequence[str] = ()
    hotline: str = ""
    privacy: str = ""

    def texts(self) -> list[str]:
        return [self.heading, self.title, *self.lines, self.caption, *self.how_to, self.hotline, self.privacy]


@dataclass(frozen=True)
class _Block:
    """Paragraphs in one style; `size_pt` is for an A4 poster (scaled to the cell)."""

    texts: Sequence[str]
    size_pt: float
    bold: bool = False
    max_lines: int = 2  # a paragraph's lines at most; it shrinks, then is cut, to stay within


@dataclass
class _Line:
    text: str
    size_pt: float
    bold: bool


@dataclass(frozen=True)
class Refused:
    """A poster left out of a PDF, and why (no font has some of its characters)."""

    spec: PosterSpec
    error: MissingGlyphsError


@dataclass
class PosterReport:
    """What `write_posters` wrote: the posters drawn and the ones it had to leave out."""

    written: int = 0
    refused: list[Refused] = field(default_factory=list)


def write_posters(
    out: str | os.PathLike[str] | BinaryIO,
    posters: Iterable[PosterSpec],
    page_size: str = "A4",
    font_path: str | os.PathLike[str] | None = None,
    fallback_fonts: Sequence[str | os.PathLike[str]] = (),
) -> PosterReport:
    """Write one PDF to `out` (a path or a binary file) with a poster per spec.

    `page_size` is a key of PAGE_SIZES. `font_path` and `fallback_fonts` are the FONT_PATH and
    FALLBACK_FONTS settings. A poster with a character that no font has is left out and listed in
    the report; the others are written. With many posters this blocks for seconds: call it
    from a thread in async code.

    Raises ValueError for an unknown page size or no posters, MissingGlyphsError (the first
    poster's) when not one poster could be drawn, and FontNotFoundError without a usable CJK
    font; nothing is written then. If `out` is a path, a failure leaves no file behind.
    """
    if page_size not in PAGE_SIZES:
        raise ValueError(f"page size must be one of {', '.join(PAGE_SIZES)}, not {page_size!r}")
    document = _Document(find_fonts(font_path, fallback_fonts), PAGE_SIZES[page_size])
    report = PosterReport()
    for spec in posters:
        try:
            document.add(spec)
        except MissingGlyphsError as error:
            report.refused.append(Refused(spec, error))
        else:
            report.written += 1
    if report.refused and not report.written:
        raise report.refused[0].error
    if not report.written:
        raise ValueError("no posters to write: a PDF needs at least one page")
    data = document.output()
    if not isinstance(out, (str, os.PathLike)):
        out.write(data)
        return report
    path = Path(out)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return report


def render_card(
    spec: PosterSpec,
    font_path: str | os.PathLike[str] | None = None,
    fallback_fonts: Sequence[str | os.PathLike[str]] = (),
    image_format: str = "PNG",
) -> bytes:
    """One code's card as an image (PNG, or JPEG): the A6 poster, drawn at CARD_WIDTH_PX.

    Raises FontNotFoundError without a usable CJK font, and MissingGlyphsError if no font has a
    character of the texts.
    """
    import pypdfium2  # only cards need the renderer; posters stay vector

    document = _Document(find_fonts(font_path, fallback_fonts), PAGE_SIZES["A6"])
    document.add(spec)
    data = bytes(document.output())
    with _PDFIUM:
        pdf = pypdfium2.PdfDocument(data)
        try:
            page = pdf[0]
            image = page.render(scale=CARD_WIDTH_PX / page.get_width(), grayscale=True).to_pil()
        finally:
            pdf.close()
    encoded = io.BytesIO()
    if image_format == "PNG":
        image.save(encoded, "PNG", optimize=True)
    else:
        image.save(encoded, image_format, quality=95)
    return encoded.getvalue()


class _Document:
    """An fpdf2 document that posters are added to, one cell (or sheet) at a time."""

    def __init__(self, fonts: FontChain, size: PageSize):
        from fpdf import FPDF  # half a second to import: only where a PDF is drawn, not at start-up

        self.fonts = fonts
        self.size = size
        self.pdf = FPDF(unit="mm", format=size.sheet_mm)
        self.pdf.set_auto_page_break(False)
        self.pdf.set_margin(0)
        self.pdf.c_margin = 0
        self.pdf.add_font("main", fname=str(fonts.primary))
        self.pdf.set_font("main", size=12)
        self.pdf.set_draw_color(0)
        self.pdf.set_fill_color(0)
        self.pdf.set_text_color(0)
        self.fallbacks: dict[Path, str] = {}
        self.widths: dict[str, float] = {}  # a token's width in mm at 1 pt
        self.checked: set[str] = set()  # texts whose characters all have a font in the document
        self.count = 0
        # Type shrinks slower than the paper: A6 text at half the A4 size would be unreadable.
        self.scale = (size.cell_mm[0] / _A4[0]) ** 0.5
        self.margin = 8 * max(self.scale, 0.6)
        # Paragraphs every poster repeats (how-to, caption, privacy) are wrapped once.
        self.wrapped: dict[tuple[str, float, int, bool], tuple[float, list[str]]] = {}

    def add(self, spec: PosterSpec) -> None:
        self._use_fallbacks(spec.texts())
        modules = qr_matrix(spec.link)
        # The code's side with its quiet zone: `qr_mm` is the code itself.
        qr_side = self.size.qr_mm * len(modules) / (len(modules) - 2 * QUIET_ZONE_MODULES)
        lines = self._lay_out(spec, qr_side)
        slot = self.count % self.size.per_sheet
        if slot == 0:
            self.pdf.add_page()
            if self.size.cut_marks:
                self._cut_marks()
        left = (slot % self.size.across) * self.size.cell_mm[0]
        top = (slot // self.size.across) * self.size.cell_mm[1]
        self._draw(modules, qr_side, lines, left, top)
        self.count += 1

    def output(self) -> bytearray:
        return self.pdf.output()

    def _use_fallbacks(self, texts: Iterable[str]) -> None:
        """Raise MissingGlyphsError if no font has a character; else make sure each character
        the first font lacks has its fallback font in the document."""
        new_texts = [text for text in texts if text not in self.checked]
        self.fonts.require(new_texts)
        self.checked.update(new_texts)
        added = False
        for character in set("".join(new_texts)):
            font = self.fonts.font_for(character)
            if font is not None and font != self.fonts.primary and font not in self.fallbacks:
                name = f"fallback{len(self.fallbacks)}"
                self.pdf.add_font(name, fname=str(font))
                self.fallbacks[font] = name
                added = True
        if added:
            # In the chain's order, so a character goes to the same font whatever came first.
            order = {path: index for index, path in enumerate(self.fonts.paths)}
            self.pdf.set_fallback_fonts(
                [name for path, name in sorted(self.fallbacks.items(), key=lambda item: order[item[0]])]
            )

    def _blocks(self, spec: PosterSpec) -> tuple[list[_Block], list[_Block]]:
        """The texts above the code and those under it."""
        above = [
            _Block([spec.heading], 18, bold=True),
            _Block([spec.title], 32, bold=True, max_lines=3),
            _Block(spec.lines, 15),
        ]
        below = [
            _Block([spec.link], 10),
            _Block([spec.caption], 22, bold=True),
            _Block(spec.how_to, 11),
            _Block([spec.hotline], 15, bold=True),
            _Block([spec.privacy], 9, max_lines=1),
        ]
        return above, below

    def _lay_out(self, spec: PosterSpec, qr_side: float) -> tuple[list[list[_Line]], list[list[_Line]]]:
        """Wrap every text; shrink all of them together until they fit around the code."""
        width_mm, height_mm = self.size.cell_mm
        inner = width_mm - 2 * self.margin
        room = height_mm - 2 * self.margin - qr_side - 2 * self._gap()
        above_blocks, below_blocks = self._blocks(spec)
        shrink = 1.0
        while True:
            above = [self._wrap_block(block, shrink, inner) for block in above_blocks]
            below = [self._wrap_block(block, shrink, inner) for block in below_blocks]
            if self._height(above) + self._height(below) <= room or shrink <= _SMALLEST:
                return above, below
            shrink *= _SHRINK_STEP

    def _wrap_block(self, block: _Block, shrink: float, width: float) -> list[_Line]:
        lines = []
        for text in block.texts:
            if not text.strip():
                continue
            size = block.size_pt * self.scale * shrink
            fitted_size, wrapped = self._fit(text, size, block.max_lines, block.bold, width)
            lines += [_Line(line, fitted_size, block.bold) for line in wrapped]
        return lines

    def _fit(self, text: str, size: float, max_lines: int, bold: bool, width: float) -> tuple[float, list[str]]:
        """`text` in at most `max_lines` lines: smaller type first, then cut with "…"."""
        key = (text, round(size, 3), max_lines, bold)
        if key not in self.wrapped:
            smallest = size * _SMALLEST
            lines = self._wrap(text, size, width)
            while len(lines) > max_lines and size * _SHRINK_STEP >= smallest:
                size *= _SHRINK_STEP
                lines = self._wrap(text, size, width)
            if len(lines) > max_lines:
                lines = lines[: max_lines - 1] + [self._clip(" ".join(lines[max_lines - 1 :]), size, width)]
            self.wrapped[key] = (size, lines)
        return self.wrapped[key]

    def _width(self, text: str, size: float) -> float:
        """Width in mm at `size` points: the sum of its tokens' widths, each measured once
        (fpdf2 runs the bidirectional algorithm on every measurement)."""
        return size * sum(self._unit_width(token) for token in _WRAP_TOKEN.findall(text))

    def _unit_width(self, token: str) -> float:
        if token not in self.widths:
            self.pdf.set_font_size(1)
            self.widths[token] = self.pdf.get_string_width(token)
        return self.widths[token]

    def _wrap(self, text: str, size: float, width: float) -> list[str]:
        lines: list[str] = []
        for paragraph in text.splitlines() or [""]:
            line, line_width = "", 0.0
            for token in _WRAP_TOKEN.findall(paragraph):
                token_width = self._unit_width(token) * size
                if line_width + token_width <= width:
                    line, line_width = line + token, line_width + token_width
                elif token.isspace():
                    continue
                elif token_width <= width:
                    lines.append(line.rstrip())
                    line, line_width = token, token_width
                else:
                    # A word wider than the line: break it between characters.
                    for character in token:
                        character_width = self._unit_width(character) * size
                        if line and line_width + character_width > width:
                            lines.append(line.rstrip())
                            line, line_width = "", 0.0
                        line, line_width = line + character, line_width + character_width
            lines.append(line.rstrip())
        return [line for line in lines if line] or [""]

    def _clip(self, text: str, size: float, width: float) -> str:
        while text and self._width(text + "…", size) > width:
            text = text[:-1]
        return text.rstrip() + "…"

    def _gap(self) -> float:
        return 5 * self.scale

    @staticmethod
    def _line_height(line: _Line) -> float:
        return line.size_pt / _POINTS_PER_MM * 1.3

    def _height(self, blocks: list[list[_Line]]) -> float:
        filled = [block for block in blocks if block]
        return sum(self._line_height(line) for block in filled for line in block) + self._gap() * max(
            0, len(filled) - 1
        )

    def _draw(
        self,
        modules: list[list[bool]],
        qr_side: float,
        lines: tuple[list[list[_Line]], list[list[_Line]]],
        left: float,
        top: float,
    ) -> None:
        above, below = lines
        width_mm, height_mm = self.size.cell_mm
        content = self._height(above) + self._height(below) + qr_side + 2 * self._gap()
        y = top + self.margin + max(0.0, (height_mm - 2 * self.margin - content) / 2)
        y = self._draw_lines(above, left, y) + self._gap()
        self._draw_qr(modules, left + (width_mm - qr_side) / 2, y, qr_side)
        self._draw_lines(below, left, y + qr_side + self._gap())

    def _draw_lines(self, blocks: list[list[_Line]], left: float, y: float) -> float:
        width_mm = self.size.cell_mm[0]
        filled = [block for block in blocks if block]
        for index, block in enumerate(filled):
            if index:
                y += self._gap()
            for line in block:
                height = self._line_height(line)
                self.pdf.set_font_size(line.size_pt)
                self.pdf.set_xy(left + self.margin, y)
                if line.bold:
                    # A local context (q … Q): the PDF keeps a text mode set inside a line for
                    # the lines after it, and fpdf2 does not set it back.
                    stroke = line.size_pt / _POINTS_PER_MM * _BOLD_STROKE
                    with self.pdf.local_context(text_mode="FILL_STROKE", line_width=stroke):
                        self.pdf.cell(width_mm - 2 * self.margin, height, line.text, align="C")
                else:
                    self.pdf.cell(width_mm - 2 * self.margin, height, line.text, align="C")
                y += height
        return y

    def _draw_qr(self, modules: list[list[bool]], left: float, top: float, side: float) -> None:
        """One filled path of a rectangle per run of dark modules in a row: one fill, no seams.

        Written as one piece of the page's content: fpdf2's rect() costs about 10 µs a call and
        a code has some 370 runs, which would be half the time of a thousand posters.
        """
        scale = self.pdf.k  # points per mm; PDF's y runs up from the bottom of the sheet
        module = side / len(modules) * scale
        x0, y0 = left * scale, (self.pdf.h - top) * scale
        rectangles = ["q 0 g"]
        for row_index, row in enumerate(modules):
            column = 0
            for dark, run in itertools.groupby(row):
                length = len(list(run))
                if dark:
                    rectangles.append(
                        "%.2f %.2f %.2f %.2f re"
                        % (x0 + column * module, y0 - (row_index + 1) * module, length * module, module)
                    )
                column += length
        rectangles.append("f Q")
        self.pdf._out("\n".join(rectangles))  # noqa: SLF001 (see above)

    def _cut_marks(self) -> None:
        """Short lines in the margins where the sheet is cut into its cells."""
        sheet_width, sheet_height = self.size.sheet_mm
        cell_width, cell_height = self.size.cell_mm
        mark = 5.0
        self.pdf.set_line_width(0.2)
        for column in range(1, self.size.across):
            x = column * cell_width
            self.pdf.line(x, 0, x, mark)
            self.pdf.line(x, sheet_height - mark, x, sheet_height)
        for row in range(1, self.size.down):
            y = row * cell_height
            self.pdf.line(0, y, mark, y)
            self.pdf.line(sheet_width - mark, y, sheet_width, y)
        for column, row in itertools.product(range(1, self.size.across), range(1, self.size.down)):
            x, y = column * cell_width, row * cell_height
            self.pdf.line(x - mark / 2, y, x + mark / 2, y)
            self.pdf.line(x, y - mark / 2, x, y + mark / 2)


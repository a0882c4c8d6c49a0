"""A centred column of text and one QR code: the shape that cards and posters share.

`lay_out_column` places the pieces; a card draws them onto a PNG (`draw_column`), a poster turns
them into a PDF page with the QR code as vector squares. Sizes are fractions of the width, so
one layout serves a phone-sized card and A4 or A6 posters alike.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from qr.fonts import load_font

# Blank edge of the canvas, and the space between blocks, as fractions of the width.
MARGIN = 0.06
BLOCK_GAP = 0.025
# Stroke width of bold text as a fraction of the font size: the bundled font has one weight.
BOLD_STROKE = 0.025
# Fewer pixels a module and phone cameras start to miss the code on a small print.
MIN_MODULE_PX = 2
# A line breaks at spaces, or between any two CJK characters (which need no spaces).
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_WRAP_TOKEN = re.compile(rf"\s+|[^\s{_CJK}]+|.")


@dataclass(frozen=True)
class TextBlock:
    """Lines of text, each wrapped to the width; `size` is the font size as a fraction of the width."""

    lines: Sequence[str]
    size: float
    bold: bool = False


@dataclass(frozen=True)
class QrBlock:
    """A QR code (`qr.codes.qr_matrix`), at most `size` of the width wide (less if the page runs
    short)."""

    modules: list[list[bool]]
    size: float


@dataclass(frozen=True)
class PlacedText:
    """One line of text: `ink` is a coverage mask (255 or 1 where there is ink) at (`left`, `top`)."""

    ink: Image.Image
    left: int
    top: int


@dataclass(frozen=True)
class PlacedQr:
    """A QR code whose top-left module (quiet zone included) is at (`left`, `top`)."""

    modules: list[list[bool]]
    module_px: int
    left: int
    top: int

    @property
    def side_px(self) -> int:
        return len(self.modules) * self.module_px


@dataclass(frozen=True)
class Column:
    width_px: int
    height_px: int
    pieces: list[PlacedText | PlacedQr]


def lay_out_column(
    blocks: Sequence[TextBlock | QrBlock],
    font_path: Path,
    width_px: int,
    height_px: int | None = None,
    ink_mode: str = "L",
) -> Column:
    """Place `blocks` top to bottom, centred; text blocks without lines are left out.

    Without `height_px` the column is as tall as its content; with it, the content is centred
    vertically and the QR code shrinks to leave room for the text. `ink_mode` is "L" (smooth
    text, for screens) or "1" (black and white, for print). Raises ValueError if the text leaves
    no room for a readable QR code.
    """
    margin = round(MARGIN * width_px)
    gap = round(BLOCK_GAP * width_px)
    inner_width = width_px - 2 * margin
    wrapped = [
        _wrap_block(block, font_path, width_px, inner_width)
        if isinstance(block, TextBlock)
        else block
        for block in blocks
        if not isinstance(block, TextBlock) or block.lines
    ]
    fixed_height = (
        2 * margin
        + sum(lines.height for lines in wrapped if isinstance(lines, _Lines))
        + gap * (len(wrapped) - 1)
    )
    qr_room = inner_width if height_px is None else min(inner_width, height_px - fixed_height)
    sized = [
        _size_qr(block, min(round(block.size * width_px), qr_room))
        if isinstance(block, QrBlock)
        else block
        for block in wrapped
    ]
    content_height = fixed_height + sum(
        qr.side_px for qr in sized if isinstance(qr, PlacedQr)
    )
    column_height = height_px or content_height
    pieces: list[PlacedText | PlacedQr] = []
    top = margin + (column_height - content_height) // 2
    for item in sized:
        if isinstance(item, PlacedQr):
            pieces.append(dataclasses.replace(item, left=(width_px - item.side_px) // 2, top=top))
            top += item.side_px + gap
        else:
            pieces += item.place(width_px // 2, top, ink_mode)
            top += item.height + gap
    return Column(width_px, column_height, pieces)


def draw_column(column: Column) -> Image.Image:
    """The column as a greyscale ("L") image: black ink on white."""
    canvas = Image.new("L", (column.width_px, column.height_px), 255)
    for piece in column.pieces:
        if isinstance(piece, PlacedText):
            canvas.paste(0, (piece.left, piece.top), piece.ink)
        else:
            side = len(piece.modules)
            # One pixel a module, then scaled without smoothing: far faster than drawing squares.
            one_pixel_modules = Image.frombytes(
                "L", (side, side), bytes(0 if dark else 255 for row in piece.modules for dark in row)
            )
            canvas.paste(
                one_pixel_modules.resize((piece.side_px,) * 2, Image.Resampling.NEAREST),
                (piece.left, piece.top),
            )
    return canvas


def wrap_text(text: str, font: ImageFont.FreeTypeFont, max_width_px: int) -> list[str]:
    """Break `text` into lines no wider than `max_width_px`, keeping its own line breaks (the
    text engine cannot measure a string with a newline); a word longer than a line is cut."""
    return [line for paragraph in text.split("\n") for line in _wrap_paragraph(paragraph, font, max_width_px)]


def _wrap_paragraph(text: str, font: ImageFont.FreeTypeFont, max_width_px: int) -> list[str]:
    if font.getlength(text) <= max_width_px:
        return [text]
    lines: list[str] = []
    line = ""
    for token in _WRAP_TOKEN.findall(text):
        if font.getlength(line + token) <= max_width_px:
            line += token
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = token.lstrip()
        while font.getlength(line) > max_width_px:
            fitting = 1
            while font.getlength(line[: fitting + 1]) <= max_width_px:
                fitting += 1
            lines.append(line[:fitting])
            line = line[fitting:]
    if line.strip():
        lines.append(line.rstrip())
    return lines


@dataclass(frozen=True)
class _Lines:
    """A text block wrapped to the width, not yet placed."""

    font: ImageFont.FreeTypeFont
    lines: list[str]
    bold: bool

    @property
    def line_height(self) -> int:
        ascent, descent = self.font.getmetrics()
        return ascent + descent

    @property
    def height(self) -> int:
        return self.line_height * len(self.lines)

    def place(self, centre_x: int, top: int, ink_mode: str) -> list[PlacedText]:
        stroke = round(BOLD_STROKE * self.font.size) if self.bold else 0
        placed = []
        for index, line in enumerate(self.lines):
            rendered = _render_line(self.font, line, stroke, ink_mode)
            placed.append(
                PlacedText(
                    rendered.ink,
                    centre_x - rendered.advance_px // 2 + rendered.offset_x,
                    top + index * self.line_height + rendered.offset_y,
                )
            )
        return placed


def _wrap_block(block: TextBlock, font_path: Path, width_px: int, inner_width: int) -> _Lines:
    font = load_font(font_path, round(block.size * width_px))
    lines = [wrapped for line in block.lines for wrapped in wrap_text(line, font, inner_width)]
    return _Lines(font, lines, block.bold)


def _size_qr(block: QrBlock, max_side_px: int) -> PlacedQr:
    side = len(block.modules)
    module_px = max_side_px // side
    if module_px < MIN_MODULE_PX:
        raise ValueError(
            f"no room for the QR code: {side} modules need {MIN_MODULE_PX * side} px,"
            f" the text leaves {max_side_px} px; shorten the texts"
        )
    return PlacedQr(block.modules, module_px, left=0, top=0)  # placed once all sizes are known


@dataclass(frozen=True)
class _RenderedLine:
    """The ink of a line cropped to its box, the box's offset from the line's top-left corner,
    and the line's advance width (what centring goes by)."""

    ink: Image.Image
    offset_x: int
    offset_y: int
    advance_px: int


# Posters repeat most lines (the bot's name, the how-to) on every page: draw each once.
@functools.lru_cache(maxsize=64)
def _render_line(
    font: ImageFont.FreeTypeFont, line: str, stroke: int, ink_mode: str
) -> _RenderedLine:
    # "la": x is the left of the line, y the top of the ascender.
    left, top, right, bottom = font.getbbox(line, stroke_width=stroke, anchor="la")
    ink = Image.new(ink_mode, (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(ink).text(
        (-left, -top), line, font=font, fill=255, anchor="la", stroke_width=stroke
    )
    return _RenderedLine(ink, left, top, round(font.getlength(line)))

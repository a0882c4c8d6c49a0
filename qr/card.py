"""The card of one code as a PNG, to send in a chat (`/qr`) or save offline (`gridbot qr`)."""

from __future__ import annotations

import io
import os

from qr.codes import qr_matrix
from qr.fonts import find_cjk_font, require_glyphs
from qr.layout import QrBlock, TextBlock, draw_column, lay_out_column

# Wide enough for a version-10 QR code at 10 px a module; Telegram shows photos up to 1280 px.
CARD_WIDTH_PX = 800


def render_grid_card(
    link: str,
    title: str,
    lines: list[str],
    caption: str,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """A PNG card: `title` (the grid's name) in bold, `lines` (village, worker, ...), the QR code
    of `link`, and `caption` (such as "扫码反映问题") under it. Serves shop and supervision codes
    too: pass their link and texts.

    All texts come from the caller, already translated. `font_path` is the FONT_PATH setting
    (None: the bundled Noto Sans SC). Raises FontNotFoundError without a usable CJK font, and
    MissingGlyphsError if the font cannot draw a character of the texts.
    """
    font = find_cjk_font(font_path)
    require_glyphs(font, [title, caption, *lines])
    column = lay_out_column(
        [
            TextBlock([title], size=0.06, bold=True),
            TextBlock(lines, size=0.04),
            QrBlock(qr_matrix(link), size=0.8),
            TextBlock([caption], size=0.055, bold=True),
        ],
        font,
        CARD_WIDTH_PX,
    )
    png = io.BytesIO()
    draw_column(column).save(png, "PNG", optimize=True)
    return png.getvalue()

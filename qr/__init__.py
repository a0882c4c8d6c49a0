"""QR codes for grids, shops and supervised sites: deep links, PNG cards and printable posters.

Pure library code: no Telegram client here, and no user-facing text of its own; callers pass
every text already translated.

- `grid_link`, `shop_link`, `supervision_link` make the t.me deep link of a code;
  `parse_start_payload` reads the `/start` argument back.
- `render_grid_card` draws one code as a PNG (for `/qr` and `gridbot qr`).
- `write_posters` writes a PDF with a poster per `PosterSpec` (for `/posters` and `gridbot posters`).
- `find_cjk_font` resolves the font (FONT_PATH, else the bundled Noto Sans SC) and raises
  `FontNotFoundError` if there is none; `MissingGlyphsError` means a text has a character the font lacks.
"""

from qr.card import render_grid_card
from qr.codes import (
    CodeKind,
    deep_link,
    grid_link,
    parse_start_payload,
    shop_link,
    supervision_link,
)
from qr.fonts import FontNotFoundError, MissingGlyphsError, find_cjk_font
from qr.posters import PAGE_SIZES, PosterSpec, write_posters

__all__ = [
    "PAGE_SIZES",
    "CodeKind",
    "FontNotFoundError",
    "MissingGlyphsError",
    "PosterSpec",
    "deep_link",
    "find_cjk_font",
    "grid_link",
    "parse_start_payload",
    "render_grid_card",
    "shop_link",
    "supervision_link",
    "write_posters",
]

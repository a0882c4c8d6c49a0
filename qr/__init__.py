"""QR codes for grids, shops and supervised sites: deep links, PNG cards and printable posters.

Pure library code: no Telegram client here, and no user-facing text of its own; callers pass
every text already translated.

- `grid_link`, `shop_link`, `supervision_link` make the t.me deep link of a code;
  `parse_start_payload` reads the `/start` argument back.
- `render_card` draws one code's card as a PNG (for `/qr` and `gridbot qr`).
- `write_posters` writes a vector PDF with a poster per `PosterSpec` (for `/posters` and
  `gridbot posters`), in any of PAGE_SIZES.
- `find_fonts` resolves the fonts (FONT_PATH, the bundled Noto Sans SC, fallbacks) and raises
  `FontNotFoundError` if there is none; `MissingGlyphsError` means no font has a character.
"""

from qr.codes import (
    CodeKind,
    deep_link,
    grid_link,
    parse_start_payload,
    shop_link,
    supervision_link,
)
from qr.fonts import FontNotFoundError, MissingGlyphsError, describe_characters, find_cjk_font, find_fonts
from qr.posters import PAGE_SIZES, PosterReport, PosterSpec, render_card, write_posters

__all__ = [
    "PAGE_SIZES",
    "CodeKind",
    "FontNotFoundError",
    "MissingGlyphsError",
    "PosterReport",
    "PosterSpec",
    "deep_link",
    "describe_characters",
    "find_cjk_font",
    "find_fonts",
    "grid_link",
    "parse_start_payload",
    "render_card",
    "shop_link",
    "supervision_link",
    "write_posters",
]

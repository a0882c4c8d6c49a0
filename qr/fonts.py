"""The CJK font for cards and posters, and the check that it can draw every character asked of it.

The font is the one the FONT_PATH setting names, or else Noto Sans SC (SIL Open Font License)
from the PyPI package `pylopdf-fonts-zh-cn`, a dependency of gridbot. Nothing is ever drawn
with a font that lacks a character: that would print tofu boxes on a wall poster.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path

from PIL import ImageFont

# Characters every card and poster of a Chinese town shows; a font without them is no CJK font.
_CJK_PROBE = "网格扫码反映问题"
# Any code point no font maps: FreeType draws the font's .notdef glyph (the tofu box) for it.
_UNMAPPED_CHARACTER = "\U0010fffd"
# Size at which glyphs are compared with .notdef; big enough that distinct glyphs differ.
_PROBE_SIZE_PX = 32


class FontNotFoundError(RuntimeError):
    """No usable CJK font; the message says how to get one (FONT_PATH or the font package)."""


class MissingGlyphsError(ValueError):
    """The font has no glyph for some characters of a text; `characters` lists them."""

    def __init__(self, font_path: Path, characters: str):
        super().__init__(
            f"the font {font_path} has no glyph for {characters!r}; "
            "set FONT_PATH to a font that covers them"
        )
        self.font_path = font_path
        self.characters = characters


def find_cjk_font(font_path: str | os.PathLike[str] | None = None) -> Path:
    """The path of the font to draw Chinese text with.

    `font_path` (the FONT_PATH setting) wins when given; otherwise Noto Sans SC from the
    `pylopdf-fonts-zh-cn` package. Raises FontNotFoundError if the chosen file is missing,
    is not a font FreeType can read, or has no Chinese glyphs.
    """
    if font_path:
        path = Path(font_path)
        origin = "FONT_PATH"
    else:
        try:
            import pylopdf_fonts_zh_cn
        except ImportError:
            raise FontNotFoundError(
                "no CJK font: install the package pylopdf-fonts-zh-cn (pip install -e .) or set "
                "FONT_PATH to a .ttf/.otf/.ttc font with Chinese glyphs"
            ) from None
        path = pylopdf_fonts_zh_cn.sans_path()
        origin = "the package pylopdf-fonts-zh-cn"
    if not path.is_file():
        raise FontNotFoundError(
            f"the font {path} from {origin} is not a file; set FONT_PATH to a .ttf/.otf/.ttc "
            "font with Chinese glyphs"
        )
    try:
        missing = missing_glyphs(path, _CJK_PROBE)
    except OSError as error:
        raise FontNotFoundError(
            f"the font {path} from {origin} cannot be read ({error}); set FONT_PATH to a "
            ".ttf/.otf/.ttc font with Chinese glyphs"
        ) from None
    if missing:
        raise FontNotFoundError(
            f"the font {path} from {origin} has no Chinese glyphs ({missing!r} are missing); "
            "set FONT_PATH to a .ttf/.otf/.ttc font with Chinese glyphs"
        )
    return path


@functools.lru_cache(maxsize=64)
def load_font(font_path: Path, size_px: int) -> ImageFont.FreeTypeFont:
    """The font at one pixel size, loaded once: FreeType parses a CJK font in milliseconds."""
    return ImageFont.truetype(str(font_path), size_px)


def missing_glyphs(font_path: Path, text: str) -> str:
    """The characters of `text` (each once, in order) that the font would draw as .notdef."""
    missing = dict.fromkeys(
        character
        for character in text
        if not character.isspace() and not _has_glyph(font_path, character)
    )
    return "".join(missing)


def require_glyphs(font_path: Path, texts: Iterable[str]) -> None:
    """Raise MissingGlyphsError if the font lacks a glyph for any character of `texts`."""
    missing = missing_glyphs(font_path, "".join(texts))
    if missing:
        raise MissingGlyphsError(font_path, missing)


def _glyph_fingerprint(font_path: Path, character: str) -> tuple[tuple[int, int], bytes]:
    mask = load_font(font_path, _PROBE_SIZE_PX).getmask(character)
    return mask.size, bytes(mask)


@functools.lru_cache(maxsize=16)
def _notdef_fingerprint(font_path: Path) -> tuple[tuple[int, int], bytes]:
    return _glyph_fingerprint(font_path, _UNMAPPED_CHARACTER)


@functools.lru_cache(maxsize=16384)
def _has_glyph(font_path: Path, character: str) -> bool:
    return _glyph_fingerprint(font_path, character) != _notdef_fingerprint(font_path)

"""The fonts of cards and posters: a Chinese font first, then fallbacks for what it lacks.

The first font is the one the FONT_PATH setting names, or else Noto Sans SC (SIL Open Font
License) from the PyPI package `pylopdf-fonts-zh-cn`. A character it lacks is drawn with the
first fallback that has it: the fonts the FALLBACK_FONTS setting names, Noto Sans SC (when
FONT_PATH chose another), the Noto fonts of the package `manimgx-fonts` (emoji, symbols, Arabic
script for Uyghur names, …) and, where the Debian package fonts-hanazono is installed, HanaMin A
and B, which cover CJK Extension A and B ("𪚥"). No PyPI package carries a font for Extension B, so
a character that no font has is never drawn as a tofu box: `FontChain.missing` finds it, the
import refuses the name, and printing says which character of which name is missing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Characters every card and poster of a Chinese town shows; a font without them is no CJK font.
_CJK_PROBE = "网格扫码反映问题"
# Where Debian's fonts-hanazono puts its fonts (Extension A, then Extension B and beyond).
SYSTEM_FALLBACKS = (
    Path("/usr/share/fonts/truetype/hanazono/HanaMinA.ttf"),
    Path("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf"),
)
# Characters that draw nothing and need no glyph: a font may lack them without harm.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufe0e\ufe0f")
FONT_HINT = "set FALLBACK_FONTS to a font that has them, or install the Debian package fonts-hanazono"


class FontNotFoundError(RuntimeError):
    """No usable CJK font; the message says how to get one (FONT_PATH or the font package)."""


class MissingGlyphsError(ValueError):
    """No font of the chain has a glyph for some characters of a text; `characters` lists them."""

    def __init__(self, characters: str, text: str = ""):
        where = f" in {text!r}" if text else ""
        super().__init__(f"no font has {describe_characters(characters)}{where}; {FONT_HINT}")
        self.characters = characters
        self.text = text


def describe_characters(characters: str) -> str:
    """'𪚥' → "𪚥 (U+2A6A5)": the character and its code point, which anyone can look up."""
    return ", ".join(f"{character} (U+{ord(character):04X})" for character in characters)


@dataclass(frozen=True)
class FontChain:
    """The fonts to draw with, in order: `paths[0]` first, the others for what it lacks."""

    paths: tuple[Path, ...]

    @property
    def primary(self) -> Path:
        return self.paths[0]

    @functools.cached_property
    def _primary_characters(self) -> frozenset[str]:
        return _characters(self.primary)

    def font_for(self, character: str) -> Path | None:
        """The first font of the chain that has `character`, or None."""
        return next((path for path in self.paths if ord(character) in _coverage(path)), None)

    def missing(self, text: str) -> str:
        """The characters of `text` (each once, in order) that no font of the chain has."""
        # Nearly every text is all in the first font: one set difference (an import checks
        # every name of a file of a million rows).
        lacking = set(text).difference(self._primary_characters)
        if not lacking:
            return ""
        return "".join(
            dict.fromkeys(
                character
                for character in text
                if character in lacking
                and not character.isspace()
                and character not in _INVISIBLE
                and self.font_for(character) is None
            )
        )

    def require(self, texts: Iterable[str]) -> None:
        """Raise MissingGlyphsError (naming the first text concerned) if a character is missing."""
        for text in texts:
            missing = self.missing(text)
            if missing:
                raise MissingGlyphsError(missing, text)


def find_fonts(
    font_path: str | os.PathLike[str] | None = None,
    fallbacks: Sequence[str | os.PathLike[str]] = (),
) -> FontChain:
    """The font chain for the settings FONT_PATH (`font_path`) and FALLBACK_FONTS (`fallbacks`).

    Raises FontNotFoundError if the first font is missing, unreadable or has no Chinese glyphs,
    or if a fallback the settings name is not a readable font.
    """
    primary = find_cjk_font(font_path)
    chain = [primary]
    for path in map(Path, fallbacks):
        _check_font(path, "FALLBACK_FONTS")
        chain.append(path)
    bundled = _bundled_sans()
    if bundled is not None:
        chain.append(bundled)
    chain += _package_fallbacks()
    chain += [path for path in SYSTEM_FALLBACKS if path.is_file()]
    return FontChain(tuple(dict.fromkeys(chain)))


def find_cjk_font(font_path: str | os.PathLike[str] | None = None) -> Path:
    """The path of the first font, which draws Chinese text.

    `font_path` (the FONT_PATH setting) wins when given; otherwise Noto Sans SC from the
    `pylopdf-fonts-zh-cn` package. Raises FontNotFoundError if the chosen file is missing,
    is not a font, or has no Chinese glyphs.
    """
    if font_path:
        path, origin = Path(font_path), "FONT_PATH"
    else:
        path, origin = _bundled_sans(), "the package pylopdf-fonts-zh-cn"
        if path is None:
            raise FontNotFoundError(
                "no CJK font: install the package pylopdf-fonts-zh-cn (pip install -e .) or set "
                "FONT_PATH to a .ttf/.otf font with Chinese glyphs"
            )
    _check_font(path, origin)
    lacking = "".join(c for c in _CJK_PROBE if ord(c) not in _coverage(path))
    if lacking:
        raise FontNotFoundError(
            f"the font {path} from {origin} has no Chinese glyphs ({lacking!r} are missing); "
            "set FONT_PATH to a .ttf/.otf font with Chinese glyphs"
        )
    return path


def _check_font(path: Path, origin: str) -> None:
    from fontTools.ttLib import TTLibError

    if not path.is_file():
        raise FontNotFoundError(f"the font {path} from {origin} is not a file")
    try:
        _coverage(path)
    except (OSError, TTLibError, KeyError, AssertionError) as error:
        raise FontNotFoundError(
            f"the font {path} from {origin} cannot be read ({error or type(error).__name__}); "
            "use a .ttf or .otf font"
        ) from None


def _bundled_sans() -> Path | None:
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        return None
    return Path(pylopdf_fonts_zh_cn.sans_path())


@functools.cache
def _package_fallbacks() -> tuple[Path, ...]:
    """Noto Emoji, Noto Sans Symbols and the Noto Sans of other scripts, emoji first."""
    try:
        import manimgx_fonts
    except ImportError:
        return ()
    folder = Path(manimgx_fonts.__file__).parent
    fonts = sorted(folder.glob("*.ttf"), key=lambda path: (not path.name.startswith("NotoEmoji"), path.name))
    return tuple(fonts)


def _characters(path: Path) -> frozenset[str]:
    return frozenset(map(chr, _coverage(path)))


@functools.lru_cache(maxsize=64)
def _coverage(path: Path) -> frozenset[int]:
    """The code points the font maps to a glyph (its cmap), read once a process."""
    from fontTools.ttLib import TTFont  # imported where a font is read, not at start-up

    # lazy: only the cmap table is read, not the glyphs (an Extension B font holds 30 MB of them).
    with TTFont(path, lazy=True, fontNumber=0) as font:
        return frozenset(font.getBestCmap() or ())

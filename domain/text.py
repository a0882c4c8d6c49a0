"""Text as people type it, measured as Telegram measures it. Every text the bot takes (descriptions,
notes, reasons, answers, comments) is cleaned here before it is checked for emptiness or length."""

from __future__ import annotations

import unicodedata

# Characters that show nothing but are letters or symbols to Unicode: Hangul fillers, Braille blank.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
KEPT_CONTROLS = frozenset("\n\t")


def is_invisible(char: str) -> bool:
    """Blank, a format character (zero-width space, joiners, direction marks, BOM), a control
    character or a variation selector."""
    return (
        char.isspace()
        or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp")
        or char in BLANK_LETTERS
        or "\ufe00" <= char <= "\ufe0f"
        or "\U000e0100" <= char <= "\U000e01ef"
    )


def clean_text(text: str | None) -> str:
    """The text without control characters (line breaks and tabs stay) and without invisible
    characters at its ends; empty when nothing visible is left. Invisible characters between
    visible ones stay: joiners hold emoji such as 👨‍👩‍👧 together."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(c for c in text if c in KEPT_CONTROLS or unicodedata.category(c) != "Cc")
    start, end = 0, len(text)
    while start < end and is_invisible(text[start]):
        start += 1
    while end > start and is_invisible(text[end - 1]):
        end -= 1
    return text[start:end]


def telegram_length(text: str) -> int:
    """Length as Telegram counts it for its limits: UTF-16 code units (an emoji such as 😡 is two)."""
    return len(text.encode("utf-16-le")) // 2


def units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def clip(text: str, limit: int, tail: str = "…") -> str:
    """At most `limit` UTF-16 units, ending with `tail` when cut (never inside an emoji's pair)."""
    if telegram_length(text) <= limit:
        return text
    budget = limit - telegram_length(tail)
    kept = []
    for char in text:
        budget -= units(char)
        if budget < 0:
            break
        kept.append(char)
    return "".join(kept) + tail


def N_(message: str) -> str:
    """Marks a message id for the catalogs (scripts/update_catalogs.py) where it is made: the domain
    has no catalogs, so the caller that shows the message translates it then."""
    return message

"""Deep links carried by the codes on the walls, and the QR codes that encode them.

A code is `https://t.me/<bot username>?start=<prefix>_<code>`; Telegram hands the part after
`start=` to the bot as the argument of `/start`, and `parse_start_payload` turns it back into
the kind of code and the code.
"""

from __future__ import annotations

import re
from enum import StrEnum

import zxingcpp

from domain.tickets import GRID_CODE_PATTERN

# Telegram usernames: 5 to 32 letters, digits and underscores, starting with a letter.
USERNAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{4,31}$")
# White modules a reader needs around the code (ISO/IEC 18004 asks for four).
QUIET_ZONE_MODULES = 4


class CodeKind(StrEnum):
    GRID = "grid"  # 网格码: a resident files a ticket to the grid's worker
    SHOP = "shop"  # 经营码: a resident rates a shop
    SUPERVISION = "supervision"  # 监管码: a facility's inspection records


_PAYLOAD_PREFIX = {CodeKind.GRID: "g", CodeKind.SHOP: "m", CodeKind.SUPERVISION: "s"}
_KIND_BY_PREFIX = {prefix: kind for kind, prefix in _PAYLOAD_PREFIX.items()}


def deep_link(bot_username: str, kind: CodeKind, code: str) -> str:
    """The t.me link that opens the bot with `/start <prefix>_<code>`.

    Raises ValueError if the username breaks Telegram's rules or the code uses characters
    that a deep link does not allow (see `domain.tickets.GRID_CODE_PATTERN`).
    """
    if not USERNAME_PATTERN.fullmatch(bot_username):
        raise ValueError(
            f"bot username {bot_username!r} is not a Telegram username: 5 to 32 letters, digits "
            "or underscores, starting with a letter, without the '@'"
        )
    # fullmatch: the patterns' "$" would let a trailing newline through.
    if not GRID_CODE_PATTERN.fullmatch(code):
        raise ValueError(
            f"{kind} code {code!r} cannot go into a deep link: use 1 to 60 of A-Z, a-z, 0-9, _ and -"
        )
    return f"https://t.me/{bot_username}?start={_PAYLOAD_PREFIX[kind]}_{code}"


def grid_link(bot_username: str, grid_code: str) -> str:
    """The link of a grid's code (网格码), `...?start=g_<grid_code>`."""
    return deep_link(bot_username, CodeKind.GRID, grid_code)


def shop_link(bot_username: str, shop_code: str) -> str:
    """The link of a shop's code (经营码), `...?start=m_<shop_code>`."""
    return deep_link(bot_username, CodeKind.SHOP, shop_code)


def supervision_link(bot_username: str, site_code: str) -> str:
    """The link of a supervised facility's or street's code (监管码), `...?start=s_<site_code>`."""
    return deep_link(bot_username, CodeKind.SUPERVISION, site_code)


def parse_start_payload(payload: str | None) -> tuple[CodeKind, str] | None:
    """`"g_ABC"` → `(CodeKind.GRID, "ABC")`; `m_` → SHOP, `s_` → SUPERVISION.

    CodeKind is a StrEnum, so the result also equals `("grid", "ABC")`. Anything else (no
    payload, an unknown prefix, a code a deep link cannot carry) gives None.
    """
    prefix, separator, code = (payload or "").partition("_")
    kind = _KIND_BY_PREFIX.get(prefix)
    if kind is None or not separator or not GRID_CODE_PATTERN.fullmatch(code):
        return None
    return kind, code


def qr_matrix(link: str) -> list[list[bool]]:
    """The modules of the QR code of `link`, True for dark, quiet zone included.

    Error correction Q (25 %) keeps a scuffed or dirty code on a wall readable. zxing-cpp's
    encoder (C++) picks the mask as the standard says in about a millisecond, ten times faster
    than the pure-Python qrcode package: a thousand posters need no worker processes.
    """
    symbol = zxingcpp.create_barcode(link, zxingcpp.BarcodeFormat.QRCode, ec_level="Q")
    image = memoryview(symbol.to_image(scale=1, add_quiet_zones=False))
    height, width = image.shape
    pixels = image.tobytes()
    blank = [False] * (width + 2 * QUIET_ZONE_MODULES)
    rows = [list(blank) for _ in range(QUIET_ZONE_MODULES)]
    for top in range(0, height * width, width):
        rows.append(
            [False] * QUIET_ZONE_MODULES
            + [pixel == 0 for pixel in pixels[top : top + width]]  # black pixels are dark modules
            + [False] * QUIET_ZONE_MODULES
        )
    rows += [list(blank) for _ in range(QUIET_ZONE_MODULES)]
    return rows

"""Shops (经营码) and supervised sites (监管码): records, who may do what, and the officials' list of
the lowest-rated shops. No chat code and no SQL here.

- A resident rates a shop's cleanliness, order and service 1 to 5 each, with an optional comment.
  One rating counts per resident, shop and local day (in TIMEZONE): rating again the same day
  replaces the earlier rating, so nobody can stack votes, but a changed mind is kept.
- A shop's owner is the `owner_telegram_id` of its import row, or anyone holding the role
  `shop_owner` with the shop's code as scope. Owners cannot rate their own shop.
- An inspection record of a site is written by someone with the role `inspector` whose scope is
  the site's town (or empty: every town).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from domain.models import Grid, Attachment, Notice, Role, RoleGrant
from domain.stats import DEFAULT_TOP, Scope, PeriodWindow
from domain.tickets import MAX_PHOTOS

if TYPE_CHECKING:
    from storage.base import Storage

STARS = range(1, 6)
# The three things a resident rates, in the order they are asked.
ASPECTS = ("cleanliness", "order", "service")
MAX_INSPECTION_PHOTOS = MAX_PHOTOS
# A site's code shows this many of its latest inspections.
RECENT_INSPECTIONS = 5
# An owner's /myshop shows this many of the latest comments, and averages over this many days.
RECENT_COMMENTS = 10
OWNER_WINDOW_DAYS = 30
# Below this many ratings in the period a shop's average says too little to call it the worst.
MIN_SHOP_RATINGS = 3
# The confirmations to whoever rated or inspected (bot.notices renders them), written with the
# rating or the record, so that a bot killed right after still tells it, once. Storage completes
# their data with what only its transaction knows: {"shop", "comment", "replaced"} and
# {"inspection": id}.
NOTICE_SHOP_RATED = "shop_rated"
NOTICE_INSPECTION_SAVED = "inspection_saved"


class SiteKind(StrEnum):
    FACILITY = "facility"  # a market, a school gate, a public toilet, ...
    STREET = "street"


@dataclass(frozen=True)
class Shop:
    code: str
    name: str
    grid_code: str
    owner_id: int | None = None


@dataclass(frozen=True)
class Site:
    code: str
    name: str
    grid_code: str
    kind: SiteKind


@dataclass(frozen=True)
class ShopRating:
    shop_code: str
    resident_id: int
    day: str  # the local date, YYYY-MM-DD: one rating per resident, shop and day
    cleanliness: int
    order: int
    service: int
    rated_at: int  # Unix seconds, UTC
    comment: str | None = None

    def __post_init__(self) -> None:
        if not all(score in STARS for score in (self.cleanliness, self.order, self.service)):
            raise ValueError("each score must be a whole number from 1 to 5")


@dataclass(frozen=True)
class ShopScore:
    """A shop's ratings over a period: how many, and the mean of each aspect (None without any)."""

    shop: Shop
    ratings: int
    cleanliness: float | None
    order: float | None
    service: float | None

    @property
    def overall(self) -> float | None:
        """The mean of the three aspects' means: every aspect weighs the same."""
        if not self.ratings:
            return None
        return (self.cleanliness + self.order + self.service) / 3


@dataclass(frozen=True)
class NewInspection:
    site_code: str
    inspector_id: int
    inspector_name: str
    note: str
    photos: tuple[Attachment, ...] = ()
    # Identifies the Telegram update that saved it, so a redelivered update saves nothing new.
    source_key: str | None = None


@dataclass(frozen=True)
class Inspection:
    id: int
    site_code: str
    inspector_id: int
    inspector_name: str
    note: str
    at: int  # Unix seconds, UTC
    photo_count: int
    photos: tuple[Attachment, ...] = ()  # filled only when one inspection is read with its photos


def rating_confirmation(rating: ShopRating) -> Notice:
    return Notice(rating.resident_id, NOTICE_SHOP_RATED, None,
                  {"shop": rating.shop_code, "comment": rating.comment is not None}, urgent=True)


def inspection_confirmation(inspection: NewInspection) -> Notice:
    return Notice(inspection.inspector_id, NOTICE_INSPECTION_SAVED, None, urgent=True)


def rating_day(moment: int, tz: ZoneInfo) -> str:
    """The local date of `moment`, the key that makes one rating per resident, shop and day."""
    return datetime.fromtimestamp(moment, tz).date().isoformat()


def owns_shop(grants: Iterable[RoleGrant], user_id: int, shop: Shop) -> bool:
    return shop.owner_id == user_id or any(
        g.role is Role.SHOP_OWNER and g.scope == shop.code for g in grants
    )


def granted_shop_codes(grants: Iterable[RoleGrant]) -> list[str]:
    """The shop codes a person's `shop_owner` roles name (the owner column comes from storage)."""
    return sorted({g.scope for g in grants if g.role is Role.SHOP_OWNER})


def may_inspect(grants: Iterable[RoleGrant], grid: Grid | None) -> bool:
    """Inspectors of the site's town, or with an empty scope (every town)."""
    return grid is not None and any(
        g.role is Role.INSPECTOR and g.scope in ("", grid.town) for g in grants
    )


def _lowest_first(score: ShopScore) -> tuple:
    # Among equal averages, more ratings first (the surer result).
    return (score.overall, -score.ratings, score.shop.code)


def rank_lowest(
    scores: Iterable[ShopScore], min_ratings: int = MIN_SHOP_RATINGS, top: int = DEFAULT_TOP
) -> tuple[ShopScore, ...]:
    """The `top` shops with the lowest overall average among those rated at least `min_ratings`
    times: two ratings of 1 do not make a shop the worst."""
    rankable = [s for s in scores if s.ratings >= max(1, min_ratings)]
    return tuple(sorted(rankable, key=_lowest_first)[:top])


async def lowest_rated_shops(
    storage: Storage,
    window: PeriodWindow,
    scope: Scope = Scope(),
    min_ratings: int = MIN_SHOP_RATINGS,
    top: int = DEFAULT_TOP,
) -> tuple[ShopScore, ...]:
    """The lowest-rated shops of `scope` (their grid's town, village or the grid) by the ratings
    given during `window` (for the weekly statistics: `Week.window(tz)`), lowest first."""
    return rank_lowest(await storage.shop_scores(window.start, window.end, scope), min_ratings, top)



"""The demo town's shops with eight weeks of residents' ratings, and its supervised sites with
weekly inspection records (no photos: the demo has no real Telegram files). Called by
`domain.demo.fill_demo`."""

from __future__ import annotations

import random
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from domain.models import Role, StaffMember
from domain.shops import ASPECTS, NewInspection, Shop, ShopRating, Site, SiteKind, rating_day
from storage.base import Storage

DAY = 24 * 3600
# The demo town lies in Shandong; the default TIMEZONE.
DEMO_TIMEZONE = ZoneInfo("Asia/Shanghai")
DEMO_SHOPS = (
    Shop("XG-SHOP-01", "东里便民超市", "XG-DL-01", 900_501),
    Shop("XG-SHOP-02", "老王早餐店", "XG-DL-02", 900_502),
    Shop("XG-SHOP-03", "南庄农资店", "XG-NZ-01", 900_503),
    Shop("XG-SHOP-04", "西岗理发店", "XG-NZ-02"),
)
# Each shop's usual score, so that the lowest-rated list has a clear last place.
SHOP_QUALITY = {"XG-SHOP-01": 4.5, "XG-SHOP-02": 3.8, "XG-SHOP-03": 2.4, "XG-SHOP-04": 4.1}
SHOP_COMMENTS = ("很干净，服务热情。", "东西摆放有点乱。", "价格标得清楚。", "门口堆放杂物，影响通行。")
DEMO_SITES = (
    Site("XG-SITE-01", "西岗农贸市场", "XG-DL-01", SiteKind.FACILITY),
    Site("XG-SITE-02", "南庄主街", "XG-NZ-01", SiteKind.STREET),
)
DEMO_INSPECTOR = StaffMember(900_601, "市场监管员", Role.INSPECTOR, "西岗镇")
INSPECTION_NOTES = (
    "摊位整齐，卫生良好。",
    "发现两处占道经营，已当场劝离。",
    "垃圾清运及时，消防通道畅通。",
    "部分商户未明码标价，已要求整改。",
)


async def fill_demo_codes(storage: Storage, now: int, residents: Sequence[int], weeks: int,
                          rng: random.Random) -> None:
    await storage.upsert_staff([DEMO_INSPECTOR])
    await storage.upsert_shops(DEMO_SHOPS)
    await storage.upsert_sites(DEMO_SITES)
    start = now - weeks * 7 * DAY
    for shop in DEMO_SHOPS:
        for _ in range(rng.randrange(40, 70)):
            at = rng.randrange(start, now)
            scores = [min(5, max(1, round(rng.gauss(SHOP_QUALITY[shop.code], 0.8)))) for _ in ASPECTS]
            comment = rng.choice(SHOP_COMMENTS) if rng.random() < 0.3 else None
            await storage.save_shop_rating(
                ShopRating(shop.code, rng.choice(residents), rating_day(at, DEMO_TIMEZONE), *scores, at, comment)
            )
    for site in DEMO_SITES:
        for week in range(weeks):
            at = now - week * 7 * DAY - rng.randrange(DAY, 6 * DAY)
            await storage.add_inspection(
                NewInspection(site.code, DEMO_INSPECTOR.telegram_id, DEMO_INSPECTOR.name, rng.choice(INSPECTION_NOTES)),
                at,
            )
    # Made-up people: the bot must not message them.
    for person in {DEMO_INSPECTOR.telegram_id, *(s.owner_id for s in DEMO_SHOPS if s.owner_id)}:
        await storage.mark_unreachable(person)

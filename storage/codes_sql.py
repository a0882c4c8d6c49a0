"""SQL for shops and their ratings, supervised sites and their inspections, mixed into the SQL
backends (storage/sql.py; tables: migration 0005; rules: domain/shops.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from domain.models import Attachment, Notice
from domain.shops import Inspection, NewInspection, Shop, ShopRating, ShopScore, Site, SiteKind
from domain.stats import Scope, ScopeLevel
from storage.statements import Statement, Work, one, run, run_many

_SHOP = "s.code, s.name, s.grid_code, s.owner_id"
# The means are NULL for a shop without ratings in the period (as floats: PostgreSQL's mean of
# whole numbers would be a decimal).
_SCORE = (
    f"{_SHOP}, COUNT(r.resident_id), AVG(CAST(r.cleanliness AS DOUBLE PRECISION)),"
    " AVG(CAST(r.orderliness AS DOUBLE PRECISION)), AVG(CAST(r.service AS DOUBLE PRECISION))"
)
_RATING = "shop_code, resident_id, day, cleanliness, orderliness, service, rated_at, comment"
_INSPECTION = (
    "i.id, i.site_code, i.inspector_id, i.inspector_name, i.note, i.at,"
    " (SELECT COUNT(*) FROM inspection_photos p WHERE p.inspection_id = i.id)"
)
# Which shops a scope holds, as a condition on their grid `g`.
_SCOPE_CONDITION = {
    ScopeLevel.ALL: "TRUE",
    ScopeLevel.TOWN: "g.town = :scope",
    ScopeLevel.VILLAGE: "g.village = :scope",
    ScopeLevel.GRID: "g.code = :scope",
}


def _shop(row: Sequence[Any]) -> Shop:
    return Shop(*row[:4])


def _site(row: Sequence[Any]) -> Site:
    return Site(*row[:3], SiteKind(row[3]))


def _score(row: Sequence[Any]) -> ShopScore:
    return ShopScore(_shop(row), row[4], row[5], row[6], row[7])


def _rating(row: Sequence[Any]) -> ShopRating:
    return ShopRating(*row)


def _inspection(row: Sequence[Any], photos: tuple[Attachment, ...] = ()) -> Inspection:
    return Inspection(*row, photos=photos)


class CodesMixin:
    # Provided by storage.sql.SqlStorage.
    _all: Callable[..., Awaitable[list[Sequence[Any]]]]
    _run_many: Callable[[str, Iterable[Sequence[Any]]], Awaitable[None]]
    _transaction: Callable[..., Awaitable[Any]]
    _insert_notices: Callable[[Sequence[Notice], int], Statement]

    # -- shops --------------------------------------------------------------------------------------
    async def upsert_shops(self, shops: Iterable[Shop]) -> None:
        await self._run_many(
            "INSERT INTO shops(code, name, grid_code, owner_id) VALUES (?,?,?,?)"
            " ON CONFLICT(code) DO UPDATE SET name = excluded.name,"
            " grid_code = excluded.grid_code, owner_id = excluded.owner_id",
            ((s.code, s.name, s.grid_code, s.owner_id) for s in shops),
        )

    async def get_shop(self, code: str) -> Shop | None:
        rows = await self._all(f"SELECT {_SHOP} FROM shops s WHERE s.code = ?", (code,))
        return _shop(rows[0]) if rows else None

    async def shop_codes(self) -> list[str]:
        return [r[0] for r in await self._all("SELECT code FROM shops ORDER BY code")]

    async def list_shops(self) -> list[Shop]:
        return [_shop(row) for row in await self._all(f"SELECT {_SHOP} FROM shops s ORDER BY s.grid_code, s.code")]

    async def owned_shops(self, telegram_id: int, codes: Sequence[str] = ()) -> list[Shop]:
        of_codes = f" OR s.code IN ({','.join('?' * len(codes))})" if codes else ""
        rows = await self._all(
            f"SELECT {_SHOP} FROM shops s WHERE s.owner_id = ?{of_codes} ORDER BY s.name, s.code",
            (telegram_id, *codes),
        )
        return [_shop(r) for r in rows]

    async def save_shop_rating(self, rating: ShopRating, notices: Sequence[Notice] = ()) -> bool:
        def write() -> Work[bool]:
            found = yield one(
                "SELECT 1 FROM shop_ratings WHERE shop_code = ? AND resident_id = ? AND day = ?",
                (rating.shop_code, rating.resident_id, rating.day),
            )
            yield run(
                f"INSERT INTO shop_ratings({_RATING}) VALUES (?,?,?,?,?,?,?,?)"
                " ON CONFLICT(shop_code, resident_id, day) DO UPDATE SET"
                " cleanliness = excluded.cleanliness, orderliness = excluded.orderliness,"
                " service = excluded.service, rated_at = excluded.rated_at, comment = excluded.comment",
                (rating.shop_code, rating.resident_id, rating.day, rating.cleanliness, rating.order,
                 rating.service, rating.rated_at, rating.comment),
            )
            replaced = found is not None
            yield self._insert_notices([replace(n, data={**n.data, "replaced": replaced}) for n in notices],
                                       rating.rated_at)
            return replaced

        return await self._transaction(write)

    async def shop_score(self, shop_code: str, since: int, until: int) -> ShopScore | None:
        rows = await self._all(
            f"SELECT {_SCORE} FROM shops s LEFT JOIN shop_ratings r ON r.shop_code = s.code"
            " AND r.rated_at >= ? AND r.rated_at < ? WHERE s.code = ? GROUP BY s.code",
            (since, until, shop_code),
        )
        return _score(rows[0]) if rows else None

    async def shop_comments(self, shop_code: str, limit: int = 10) -> list[ShopRating]:
        rows = await self._all(
            f"SELECT {_RATING} FROM shop_ratings WHERE shop_code = ? AND comment IS NOT NULL"
            " ORDER BY rated_at DESC, resident_id LIMIT ?",
            (shop_code, limit),
        )
        return [_rating(r) for r in rows]

    async def shop_scores(self, since: int, until: int, scope: Scope) -> list[ShopScore]:
        rows = await self._all(
            f"SELECT {_SCORE} FROM shop_ratings r JOIN shops s ON s.code = r.shop_code"
            " JOIN grids g ON g.code = s.grid_code"
            f" WHERE r.rated_at >= :since AND r.rated_at < :until AND {_SCOPE_CONDITION[scope.level]}"
            " GROUP BY s.code ORDER BY s.code",
            {"since": since, "until": until, "scope": scope.name},
        )
        return [_score(r) for r in rows]

    # -- supervised sites ---------------------------------------------------------------------------
    async def upsert_sites(self, sites: Iterable[Site]) -> None:
        await self._run_many(
            "INSERT INTO sites(code, name, grid_code, kind) VALUES (?,?,?,?)"
            " ON CONFLICT(code) DO UPDATE SET name = excluded.name,"
            " grid_code = excluded.grid_code, kind = excluded.kind",
            ((s.code, s.name, s.grid_code, s.kind.value) for s in sites),
        )

    async def get_site(self, code: str) -> Site | None:
        rows = await self._all("SELECT code, name, grid_code, kind FROM sites WHERE code = ?", (code,))
        return _site(rows[0]) if rows else None

    async def list_sites(self) -> list[Site]:
        rows = await self._all("SELECT code, name, grid_code, kind FROM sites ORDER BY grid_code, code")
        return [_site(row) for row in rows]

    async def add_inspection(
        self, inspection: NewInspection, now: int, notices: Sequence[Notice] = ()
    ) -> tuple[Inspection, bool]:
        def write() -> Work[tuple[int, bool]]:
            # A repeated source_key inserts nothing and finds the record stored the first time.
            inserted = yield one(
                "INSERT INTO inspections(site_code, inspector_id, inspector_name, note, at, source_key)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT(source_key) DO NOTHING RETURNING id",
                (inspection.site_code, inspection.inspector_id, inspection.inspector_name,
                 inspection.note, now, inspection.source_key),
            )
            if inserted is None:
                (existing,) = yield one("SELECT id FROM inspections WHERE source_key = ?", (inspection.source_key,))
                return existing, False
            yield run_many(
                "INSERT INTO inspection_photos(inspection_id, position, file_id, file_unique_id)"
                " VALUES (?,?,?,?)",
                [(inserted[0], i, p.file_id, p.file_unique_id) for i, p in enumerate(inspection.photos)],
            )
            yield self._insert_notices([replace(n, data={**n.data, "inspection": inserted[0]}) for n in notices], now)
            return inserted[0], True

        inspection_id, created = await self._transaction(write)
        stored = await self.get_inspection(inspection_id)
        assert stored is not None
        return stored, created

    async def site_inspections(self, site_code: str, limit: int = 5) -> list[Inspection]:
        rows = await self._all(
            f"SELECT {_INSPECTION} FROM inspections i WHERE i.site_code = ? ORDER BY i.at DESC, i.id DESC LIMIT ?",
            (site_code, limit),
        )
        return [_inspection(r) for r in rows]

    async def get_inspection(self, inspection_id: int) -> Inspection | None:
        rows = await self._all(f"SELECT {_INSPECTION} FROM inspections i WHERE i.id = ?", (inspection_id,))
        if not rows:
            return None
        photos = await self._all(
            "SELECT file_id, file_unique_id FROM inspection_photos WHERE inspection_id = ? ORDER BY position",
            (inspection_id,),
        )
        return _inspection(rows[0], tuple(Attachment(*p) for p in photos))

"""Finding the grid nearest to a resident's shared location."""

from __future__ import annotations

import math
from collections.abc import Iterable

from domain.models import Grid

EARTH_RADIUS_M = 6_371_000.0


def valid_location(lat: float, lon: float) -> bool:
    """A point on Earth: a forged update may carry latitude 999 or NaN."""
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def nearest_grids(grids: Iterable[Grid], lat: float, lon: float, limit: int = 3) -> list[tuple[Grid, float]]:
    """Grids with coordinates, nearest first, with their distance in metres."""
    located = [
        (g, distance_m(lat, lon, g.lat, g.lon))
        for g in grids
        if g.lat is not None and g.lon is not None
    ]
    located.sort(key=lambda pair: pair[1])
    return located[:limit]


def within(found: Iterable[tuple[Grid, float]], max_m: float) -> list[tuple[Grid, float]]:
    """The grids no farther than `max_m`: a point far from every grid is in none of this town's."""
    return [(grid, metres) for grid, metres in found if metres <= max_m]

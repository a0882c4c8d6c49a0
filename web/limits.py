"""Rate limits of the public API: a token bucket per client address, in this process's memory (two
processes serving the same town each allow the full rate)."""

from __future__ import annotations

from collections.abc import Callable, Hashable

# Buckets kept at most; beyond, the full ones (clients quiet long enough) are forgotten.
MAX_BUCKETS = 10_000


class TokenBuckets:
    """`burst` requests at once per key, refilled at `per_second`."""

    def __init__(self, per_second: float, burst: int, clock: Callable[[], float]):
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self.buckets: dict[Hashable, tuple[float, float]] = {}  # key: (tokens, when counted)

    def take(self, key: Hashable) -> bool:
        """One request of `key` now: False when its bucket is empty."""
        now = self.clock()
        tokens, then = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.per_second)
        if len(self.buckets) >= MAX_BUCKETS:
            self.buckets = {k: (t, at) for k, (t, at) in self.buckets.items()
                            if t + (now - at) * self.per_second < self.burst}
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return False
        self.buckets[key] = (tokens - 1, now)
        return True

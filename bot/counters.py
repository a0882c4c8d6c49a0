"""What this process has done since it started, for the operators' figures (web/metrics.py):
updates handled and how long each took, and the handlers' errors. The outbox counts its own."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# Upper bounds, in seconds, of the update-time histogram's buckets (Prometheus's `le`).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class UpdateCounts:
    handled: int = 0
    failed: int = 0  # ended by an error (Telegram's refusal or a bug), logged as such
    seconds: float = 0.0  # all of them together
    in_bucket: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))  # not cumulative

    def count(self, seconds: float, failed: bool) -> None:
        self.handled += 1
        self.failed += failed
        self.seconds += seconds
        place = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        if place < len(LATENCY_BUCKETS):
            self.in_bucket[place] += 1

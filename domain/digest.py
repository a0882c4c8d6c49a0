"""Which digests an official gets: weekly, monthly, both or none (`/digest`); weekly by default."""

from __future__ import annotations

from enum import StrEnum

from domain.stats import PeriodKind


class DigestChoice(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    BOTH = "both"
    OFF = "off"

    @property
    def kinds(self) -> frozenset[PeriodKind]:
        """The periods whose digest this choice asks for."""
        return _KINDS[self]


DEFAULT_DIGEST_CHOICE = DigestChoice.WEEKLY
# The periods a digest is sent for, in the order they are checked.
DIGEST_KINDS = (PeriodKind.WEEK, PeriodKind.MONTH)
_KINDS = {
    DigestChoice.WEEKLY: frozenset({PeriodKind.WEEK}),
    DigestChoice.MONTHLY: frozenset({PeriodKind.MONTH}),
    DigestChoice.BOTH: frozenset(DIGEST_KINDS),
    DigestChoice.OFF: frozenset(),
}
# What officials may type after /digest, in either language.
_WORDS = {
    DigestChoice.WEEKLY: ("weekly", "week", "每周", "周报"),
    DigestChoice.MONTHLY: ("monthly", "month", "每月", "月报"),
    DigestChoice.BOTH: ("both", "全部", "都要", "每周和每月"),
    DigestChoice.OFF: ("off", "none", "stop", "关闭", "不要", "停止"),
}


def parse_digest_choice(text: str) -> DigestChoice | None:
    word = text.strip().lower()
    return next((choice for choice, words in _WORDS.items() if word in words), None)

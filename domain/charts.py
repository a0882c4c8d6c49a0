"""A PNG chart of a period, good enough to show in a meeting: the rates week by week over the last
12 weeks with the number of tickets each counts, and the units with enough samples side by side,
in the order of the one ranking rule (`domain.stats.ranked`) that the text uses.

A week's rate over dozens of tickets says something; a day's over one or two swings between 0%
and 100%, so there are no daily rates. matplotlib is imported only when a chart is drawn, so the
bot starts without paying for it. Text is drawn with the CJK font file the caller passes (see
qr.fonts), every label is the caller's, already translated, and every name is drawn literally.
"""

from __future__ import annotations

import functools
import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from domain.stats import RATE, Figures, Period, Rate, Scope, UnitScore, Week, ranked, score

if TYPE_CHECKING:
    from storage.base import Storage

TREND_WEEKS = 12
# The rates drawn week by week: the three the ranking rule averages, and the completion rate.
TREND_RATES = (RATE["response_rate"], RATE["completion_rate"], RATE["solved_rate"], RATE["satisfaction_rate"])
# At most this many units are drawn: the best and the worst half of it when there are more.
MAX_UNITS = 20

# Sized for Telegram, which shows photos at most 1280 pixels wide: 1200 x 1500 pixels.
_FIGURE_INCHES = (10, 12.5)
_DPI = 120
_RATE_COLORS = ("#31a354", "#3182bd", "#e6550d", "#756bb1")
_SCORE_COLOR = "#3182bd"
_MIN_BAR_ROWS = 10

# matplotlib's settings are global: one chart is drawn at a time even from worker threads.
_drawing = threading.Lock()


@dataclass(frozen=True)
class TrendPoint:
    week: Week
    figures: Figures


@dataclass(frozen=True)
class ChartLabels:
    title: str  # e.g. "2026-11 · 西岗镇"
    trend: str  # the upper panel's title
    rates: tuple[str, ...]  # the names of TREND_RATES, in order
    samples: tuple[str, ...]  # the rows under each week: received, closed, rated
    units: str  # the lower panel's title
    score: str  # the lower panel's axis
    no_units: str  # said instead of bars when no unit has enough samples

    def __post_init__(self) -> None:
        if len(self.rates) != len(TREND_RATES) or len(self.samples) != 3:
            raise ValueError("a label for each trend rate and for received, closed and rated")


async def load_trend(storage: Storage, last: Week, tz: ZoneInfo, scope: Scope,
                     weeks: int = TREND_WEEKS) -> list[TrendPoint]:
    """The figures of the `weeks` weeks up to `last`, oldest first, each as it stood at its end."""
    chosen = [last]
    while len(chosen) < weeks:
        chosen.append(chosen[-1].previous())
    return [
        TrendPoint(week, Figures(await storage.period_totals(Period.of_week(week).window(tz), scope)))
        for week in reversed(chosen)
    ]


def units_shown(units: Sequence[UnitScore], limit: int = MAX_UNITS) -> list[UnitScore]:
    """The ranked units, best first; with more than `limit`, the best and the worst half of it."""
    order = ranked(units)
    if len(order) <= limit:
        return order
    return order[:limit // 2] + order[len(order) - (limit - limit // 2):]


@functools.lru_cache(maxsize=4)
def _font_family(font_path: str) -> str:
    """Register the font file with matplotlib once and return its family name."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(font_path)
    return font_manager.FontProperties(fname=font_path).get_name()


def _percent(rate: Rate) -> float:
    value = rate.value
    return math.nan if value is None else 100 * value


def render_chart(
    trend: Sequence[TrendPoint],
    units: Sequence[UnitScore],
    labels: ChartLabels,
    font_path: str | Path,
) -> bytes:
    """The chart as PNG bytes. Rates with nothing to count (no ratings, say) are left out, not
    drawn as zero. Takes about a second: run it in a worker thread."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    shown = units_shown(units)
    with _drawing, rc_context(
        # Names come from imports and may hold "$": with math parsing on, "网格$\alpha_{$" would
        # be read as a formula and fail to draw.
        {"font.family": [_font_family(str(font_path))], "axes.unicode_minus": False,
         "text.parse_math": False}
    ):
        figure = Figure(figsize=_FIGURE_INCHES, dpi=_DPI, layout="constrained")
        upper, lower = figure.subplots(2, 1, height_ratios=(1, 1))
        figure.suptitle(labels.title, fontsize=16)

        positions = list(range(len(trend)))
        for definition, name, color in zip(TREND_RATES, labels.rates, _RATE_COLORS):
            upper.plot(positions, [_percent(p.figures.rate(definition)) for p in trend],
                       marker="o", color=color, label=name)
        upper.set_xlim(-0.5, len(trend) - 0.5)
        upper.set_ylim(0, 105)
        upper.set_yticks(range(0, 101, 20))
        upper.yaxis.set_major_formatter(PercentFormatter())
        upper.grid(axis="y", alpha=0.3)
        upper.set_title(labels.trend, pad=26)  # room for the legend between it and the axes
        upper.set_xticks(positions, [""] * len(positions))
        # The sample sizes under each week, as a table aligned with the points.
        table = upper.table(
            cellText=[[str(p.figures.received) for p in trend], [str(p.figures.closed) for p in trend],
                      [str(p.figures.rated) for p in trend]],
            rowLabels=list(labels.samples),
            colLabels=["W{:02d}".format(p.week.number) for p in trend],
            cellLoc="center",
            loc="bottom",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        upper.legend(loc="lower center", ncols=len(TREND_RATES), fontsize=9, frameon=False,
                     bbox_to_anchor=(0.5, 1.0))

        lower.set_title(labels.units)
        if shown:
            drawn = list(reversed(shown))  # barh draws bottom-up: the best on top
            values = [100 * (score(u.figures) or 0.0) for u in drawn]
            bars = lower.barh(range(len(drawn)), values, color=_SCORE_COLOR, height=0.6)
            lower.bar_label(bars, [f"{v:.1f}%" for v in values], padding=3, fontsize=9)
            lower.set_yticks(
                list(range(len(drawn))),
                ["{}{} ({})".format(u.name, f" · {u.parent}" if u.parent else "", u.figures.received)
                 for u in drawn],
            )
            # A few units keep the bar height of many, at the top.
            lower.set_ylim(len(drawn) - max(len(drawn), _MIN_BAR_ROWS) - 0.5, len(drawn) - 0.5)
            lower.set_xlim(0, 108)
            lower.set_xticks(range(0, 101, 20))
            lower.xaxis.set_major_formatter(PercentFormatter())
            lower.set_xlabel(labels.score)
        else:
            lower.set_axis_off()
            lower.text(0.5, 0.5, labels.no_units, ha="center", va="center", transform=lower.transAxes)

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()

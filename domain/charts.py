"""A PNG chart of a week's statistics, for the chat: per-day volume and rates, and the grids side
by side.

matplotlib is imported only when a chart is drawn, so the bot starts without paying for it. Text
is drawn with the CJK font file the caller passes (see qr.fonts), and every label is the caller's,
already translated.
"""

from __future__ import annotations

import functools
import io
import math
import threading
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

from domain.stats import DAYS_PER_WEEK, PeriodReport, Rate

# Sized for Telegram, which shows photos at most 1280 pixels wide: 1200 x 1500 pixels.
_FIGURE_INCHES = (10, 12.5)
_DPI = 120
DEFAULT_MAX_GRIDS = 15
_RECEIVED_COLOR = "#9ecae1"
_RESOLVED_COLOR = "#3182bd"
_RATE_GETTERS = (
    attrgetter("completion_rate"), attrgetter("response_rate"), attrgetter("satisfaction_rate")
)
_RATE_COLORS = ("#e6550d", "#31a354", "#756bb1")

# matplotlib's settings are global: one chart is drawn at a time even from worker threads.
_drawing = threading.Lock()


@dataclass(frozen=True)
class ChartLabels:
    title: str  # e.g. "2026-W47 西岗镇"
    per_day: str
    per_grid: str
    tickets: str  # the count axis
    received: str
    resolved: str
    completion_rate: str
    reply_rate: str
    satisfaction_rate: str
    weekdays: tuple[str, ...]  # Monday to Sunday

    def __post_init__(self) -> None:
        if len(self.weekdays) != DAYS_PER_WEEK:
            raise ValueError("weekdays needs seven labels, Monday to Sunday")


@functools.lru_cache(maxsize=4)
def _font_family(font_path: str) -> str:
    """Register the font file with matplotlib once and return its family name."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(font_path)
    return font_manager.FontProperties(fname=font_path).get_name()


def _percent(rate: Rate) -> float:
    value = rate.value
    return math.nan if value is None else 100 * value


def render_week_chart(
    stats: PeriodReport,
    labels: ChartLabels,
    font_path: str | Path,
    max_grids: int = DEFAULT_MAX_GRIDS,
) -> bytes:
    """The chart as PNG bytes: the days, and the `max_grids` grids with enough samples to be
    ranked that received the most.

    Rates with nothing to count (no ratings, say) are left out, not drawn as zero. Takes about a
    second: run it in a worker thread, and once per scope for many readers."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    rate_labels = (labels.completion_rate, labels.reply_rate, labels.satisfaction_rate)
    with _drawing, rc_context(
        # Names come from imports and may hold "$": with math parsing on, "网格$\alpha_{$" would
        # be read as a formula and fail to draw.
        {"font.family": [_font_family(str(font_path))], "axes.unicode_minus": False,
         "text.parse_math": False}
    ):
        figure = Figure(figsize=_FIGURE_INCHES, dpi=_DPI, layout="constrained")
        per_day, per_grid = figure.subplots(2, 1, height_ratios=(2, 3))
        figure.suptitle(labels.title, fontsize=16)

        positions = range(len(stats.days))
        per_day.bar([p - 0.2 for p in positions], [d.received for d in stats.days],
                    width=0.4, color=_RECEIVED_COLOR, label=labels.received)
        per_day.bar([p + 0.2 for p in positions], [d.closed for d in stats.days],
                    width=0.4, color=_RESOLVED_COLOR, label=labels.resolved)
        per_day.set_xticks(
            list(positions),
            [f"{labels.weekdays[d.day.weekday()]}\n{d.day.month}/{d.day.day}" for d in stats.days],
        )
        per_day.set_ylabel(labels.tickets)
        per_day.yaxis.set_major_locator(MaxNLocator(integer=True))
        per_day.set_title(labels.per_day)
        # Below the axis, where it hides no bar. (No daily rates: a day's one or two tickets
        # would swing them between 0% and 100%.)
        per_day.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2, frameon=False)

        busiest = sorted((g for g in stats.grids if g.ranked), key=lambda g: (-g.figures.received, g.key))
        shown = list(reversed(busiest[:max_grids]))  # barh draws bottom-up: busiest on top
        height = 0.8 / len(rate_labels)
        for i, (label, color, rate_of) in enumerate(zip(rate_labels, _RATE_COLORS, _RATE_GETTERS)):
            values = [_percent(rate_of(g.figures)) for g in shown]
            bars = per_grid.barh([p + (i - 1) * height for p in range(len(shown))], values,
                                 height=height, color=color, label=label)
            per_grid.bar_label(bars, ["" if math.isnan(v) else f"{v:.0f}%" for v in values],
                               padding=2, fontsize=8)
        per_grid.set_yticks(
            list(range(len(shown))), [f"{g.name} ({g.figures.received})" for g in shown]
        )
        per_grid.set_xlim(0, 108)
        per_grid.set_xticks(range(0, 101, 20))
        per_grid.xaxis.set_major_formatter(PercentFormatter())
        per_grid.set_title(labels.per_grid)
        per_grid.legend(loc="upper center", bbox_to_anchor=(0.5, -0.05), ncols=3, frameon=False)

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()

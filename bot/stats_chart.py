"""The /stats chart in the viewer's language: its labels, its caption, and the weeks it draws."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from bot.catalogs import gettext as _
from bot.config import Settings
from bot.stats_report import rate_name, unit_level_name
from domain.charts import TREND_RATES, TREND_WEEKS, ChartLabels, load_trend, render_chart, units_shown
from domain.stats import PeriodReport, UnitLevel, Week, ranked
from qr import find_cjk_font
from storage.base import Storage


def trend_end(report: PeriodReport, tz: ZoneInfo) -> Week:
    """The trend's last week: the last one over by the report's end, at the latest the one holding
    the period's last day (a month may end mid-week; a period so far ends now)."""
    week = Week.of_day(report.period.last)
    while week.window(tz).end > report.window.end:
        week = week.previous()
    return week


def chart_labels(report: PeriodReport, title_scope: str) -> ChartLabels:
    return ChartLabels(
        title=_("{title} · {scope}").format(title=str(report.period), scope=title_scope),
        trend=_("Rates week by week, the last {weeks} weeks").format(weeks=TREND_WEEKS),
        rates=tuple(rate_name(d) for d in TREND_RATES),
        samples=(_("Received"), _("Closed"), _("Rated")),
        units=_("{units} with enough samples, by the ranking score (best first)").format(
            units=unit_level_name(UnitLevel.GRID)),
        score=_("Score: mean of the response, solved and satisfaction rates"),
        no_units=_("No grid has enough samples to be ranked."),
    )


def chart_caption(report: PeriodReport, title_scope: str) -> str:
    grids = report.grids
    shown = len(units_shown(grids))
    lines = [_("📈 {title} · {scope}").format(title=str(report.period), scope=title_scope)]
    if not report.final:
        lines.append(_("⏳ So far: the period is not over and these figures will change."))
    lines.append(_("Above: the last {weeks} weeks, with the tickets each rate counts under each week.").format(
        weeks=TREND_WEEKS))
    rankable = len(ranked(grids))
    lines.append(_("Below: {shown} of {ranked} grids with enough samples, by the ranking score.").format(
        shown=shown, ranked=rankable))
    if len(grids) > rankable:
        lines.append(_("Not drawn, too few samples (fewer than {tickets} received or {rated} rated): "
                       "{left} grids.").format(left=len(grids) - rankable, tickets=report.min_tickets,
                                               rated=report.min_rated))
    return "\n".join(lines)


async def chart_png(storage: Storage, settings: Settings, report: PeriodReport, title_scope: str) -> bytes:
    # Every week of the trend ended by the report's end; made with a clock, that was in the past.
    trend = await load_trend(storage, trend_end(report, settings.timezone), settings.timezone, report.scope)
    labels = chart_labels(report, title_scope)
    # matplotlib needs a second or so: off the event loop.
    return await asyncio.to_thread(render_chart, trend, report.grids, labels, str(find_cjk_font(settings.font_path)))

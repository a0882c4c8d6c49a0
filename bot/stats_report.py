"""The words around the weekly statistics: the report text, chart labels and export headers.
Shared by /stats, the Monday digest and `gridbot stats`, so all three say the same."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.texts import format_duration, kind_name, status_name, tier_name, weekday_names
from domain.charts import ChartLabels
from domain.models import Kind, Status, Tier
from domain.shops import ShopScore, lowest_rated_shops
from domain.stats import (
    Duration, GridFigures, Period, Rate, Scope, ScopeLevel, Week, WeekStats, load_week_stats,
)
from storage.base import Storage


def percent(rate: Rate) -> str:
    value = rate.value
    return "–" if value is None else "{:.1f}%".format(value * 100)


def points(delta: float | None) -> str:
    """A rate's change against the week before, in percentage points."""
    if delta is None:
        return ""
    return " " + _("({sign}{value:.1f} pts)").format(sign="+" if delta >= 0 else "−", value=abs(delta) * 100)


def scope_name(scope: Scope, grid_names: Mapping[str, str]) -> str:
    if scope.level is ScopeLevel.ALL:
        return _("all towns")
    if scope.level is ScopeLevel.GRID:
        return grid_names.get(scope.name, scope.name)
    return scope.name


def _duration_line(label: str, duration: Duration) -> str:
    if not duration.count:
        return _("{label}: none yet").format(label=label)
    return _("{label}: mean {mean}, 90% within {p90} ({count} tickets)").format(
        label=label,
        mean=format_duration(int(duration.mean_seconds or 0)),
        p90=format_duration(int(duration.p90_seconds or 0)),
        count=duration.count,
    )


def _grid_label(item: GridFigures, esc: Callable[[str], str]) -> str:
    return esc("{} ({})".format(item.grid.name, item.grid.village))


def week_report(
    stats: WeekStats,
    category_names: Mapping[str, str],
    esc: Callable[[str], str] = str,
    shops: Sequence[ShopScore] = (),
) -> str:
    """The figures of one week as chat or terminal text; `esc` escapes names for HTML."""
    totals, change = stats.totals, stats.change
    grid_names = {g.grid.code: g.grid.name for g in stats.grids}
    days = stats.week.days
    lines = [
        _("📊 {period} ({first} – {last}) · {scope}").format(
            period=str(stats.week), first=days[0].strftime("%m-%d"), last=days[-1].strftime("%m-%d"),
            scope=esc(scope_name(stats.scope, grid_names)),
        ),
        _("Received: {received} ({change:+d} against the period before) · closed in the period: {closed}").format(
            received=totals.received, change=change.received, closed=stats.closed_during_week
        ),
        _("Still open at the period's end: {open} · overdue: {overdue}").format(
            open=totals.open_at_end, overdue=totals.overdue
        ),
        "",
        _("Completion rate (办结率): {rate} of {total}{delta}").format(
            rate=percent(totals.completion_rate), total=totals.received, delta=points(change.completion_rate)
        ),
        _("Reply rate (回复率): {rate}{delta}").format(rate=percent(totals.reply_rate), delta=points(change.reply_rate)),
    ]
    if totals.rated:
        lines.append(
            _("Satisfaction rate (满意率): {rate}, {rated} rated{delta}").format(
                rate=percent(totals.satisfaction_rate), rated=totals.rated, delta=points(change.satisfaction_rate)
            )
        )
    else:
        lines.append(_("Satisfaction rate (满意率): no ratings"))
    lines += [
        _("Solved, confirmed by residents (解决率): {rate}{delta}").format(
            rate=percent(totals.solved_rate), delta=points(change.solved_rate)
        ),
        _("On-time rate: {rate}{delta}").format(rate=percent(totals.on_time_rate), delta=points(change.on_time_rate)),
        _duration_line(_("Time to first reply"), totals.time_to_reply),
        _duration_line(_("Time to resolve"), totals.time_to_resolve),
        _("Closed in the grid {grid} · village {village} · town {town} · department {department}").format(
            grid=percent(totals.closed_by_tier[Tier.GRID]),
            village=percent(totals.closed_by_tier[Tier.VILLAGE]),
            town=percent(totals.closed_by_tier[Tier.TOWN]),
            department=percent(totals.closed_by_tier[Tier.DEPARTMENT]),
        ),
    ]
    if stats.top_categories:
        lines += ["", _("Top categories:")]
        lines += [
            "· {} {} ({})".format(esc(category_names.get(c.category_code, c.category_code)), c.received, percent(c.share))
            for c in stats.top_categories
        ]
    if stats.most_overdue:
        lines += ["", _("Most overdue tickets:")]
        lines += ["· {} {}".format(_grid_label(g, esc), g.figures.overdue) for g in stats.most_overdue]
    if stats.lowest_satisfaction:
        lines += ["", _("Lowest satisfaction:")]
        lines += [
            "· " + _("{grid} {rate} of {rated} rated").format(
                grid=_grid_label(g, esc), rate=percent(g.figures.satisfaction_rate), rated=g.figures.rated
            )
            for g in stats.lowest_satisfaction
        ]
    if shops:
        lines += ["", _("Lowest-rated shops:")]
        lines += [
            "· " + _("{shop}: {overall:.1f} of 5 ({count} ratings)").format(
                shop=esc(score.shop.name), overall=score.overall, count=score.ratings
            )
            for score in shops
        ]
    if stats.not_ranked:
        lines += ["", _("Not ranked, fewer than {min} ratings: {grids}").format(
            min=stats.min_rated, grids=", ".join(_grid_label(g, esc) for g in stats.not_ranked)
        )]
    return "\n".join(lines)


def chart_labels(stats: WeekStats, title_scope: str) -> ChartLabels:
    return ChartLabels(
        title=_("Week {week} · {scope}").format(week=str(stats.week), scope=title_scope),
        per_day=_("Per day"),
        per_grid=_("Per grid"),
        tickets=_("Tickets"),
        received=_("Received"),
        resolved=_("Closed"),
        completion_rate=_("Completion rate"),
        reply_rate=_("Reply rate"),
        satisfaction_rate=_("Satisfaction rate"),
        weekdays=weekday_names(),
    )


def export_headers() -> dict[str, str]:
    return {
        "number": _("Number"),
        "created_at": _("Filed at"),
        "kind": _("Kind"),
        "category": _("Category"),
        "town": _("Town"),
        "village": _("Village"),
        "grid": _("Grid"),
        "status": _("Status"),
        "tier": _("Tier"),
        "department": _("Department"),
        "first_reply_at": _("First reply at"),
        "resolved_at": _("Resolved at"),
        "resolved_tier": _("Resolved at tier"),
        "confirmed_at": _("Confirmed at"),
        "rating": _("Rating"),
        "rating_comment": _("Rating comment"),
        "reply_due_at": _("Reply due"),
        "resolve_due_at": _("Resolve due"),
        "description": _("Description"),
    }


def export_labels() -> dict[str, str]:
    """Kind, status and tier values as words in the export."""
    labels = {k.value: kind_name(k) for k in Kind}
    labels.update({s.value: status_name(s) for s in Status})
    labels.update({t.value: tier_name(t) for t in Tier})
    return labels


async def category_names(storage: Storage, language: str) -> dict[str, str]:
    return {c.code: c.name(language) for c in await storage.list_categories()}


async def report_text(
    storage: Storage, settings: Settings, week: Week | Period, scope: Scope, language: str, esc: Callable[[str], str] = str
) -> str:
    """The whole weekly report, as /stats, the digest and `gridbot stats` show it. The caller sets
    the i18n context."""
    stats = await load_week_stats(storage, week, settings.timezone, scope, settings.stats_min_rated)
    shops = await lowest_rated_shops(storage, week.window(settings.timezone), scope)
    return week_report(stats, await category_names(storage, language), esc, shops)

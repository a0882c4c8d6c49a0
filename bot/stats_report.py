"""The words around the statistics: the report text, its legend, chart labels and export headers.
Shared by /stats, the digests and `gridbot stats`, so all of them say the same."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from bot.catalogs import gettext as _
from bot.config import Settings
from bot.texts import format_duration, format_time
from domain.models import Tier
from domain.shops import ShopScore, lowest_rated_shops
from domain.stats import (
    RATE,
    RATES,
    Base,
    Duration,
    Figures,
    Period,
    PeriodKind,
    PeriodReport,
    Rate,
    RateDefinition,
    Scope,
    ScopeLevel,
    Tally,
    UnitLevel,
    UnitScore,
    load_report,
    ranked,
)
from storage.base import Storage

# How many not-ranked units the text names before it only counts the rest.
NOT_RANKED_NAMED = 10


def percent(rate: Rate) -> str:
    value = rate.value
    return "–" if value is None else "{:.1f}%".format(value * 100)


def points(delta: float | None) -> str:
    """A rate's change against the period before, in percentage points."""
    if delta is None:
        return ""
    return " " + _("({sign}{value:.1f} pts)").format(sign="+" if delta >= 0 else "−", value=abs(delta) * 100)


def scope_name(scope: Scope, grid_names: Mapping[str, str]) -> str:
    if scope.level is ScopeLevel.ALL:
        return _("all towns")
    if scope.level is ScopeLevel.GRID:
        return grid_names.get(scope.name, scope.name)
    return scope.name


def rate_name(definition: RateDefinition) -> str:
    return {
        "response_rate": _("Response rate (响应率)"),
        "completion_rate": _("Completion rate (办结率)"),
        "reopen_rate": _("Reopen rate (重办率)"),
        "return_rate": _("Return rate (退单率)"),
        "on_time_rate": _("On-time rate (按期办结率)"),
        "first_time_rate": _("First-time rate (一次办结率)"),
        "solved_rate": _("Solved rate (解决率)"),
        "rating_rate": _("Rating rate (参评率)"),
        "satisfaction_rate": _("Satisfaction rate (满意率)"),
    }[definition.key]


def rate_meaning(definition: RateDefinition) -> str:
    """What the rate counts, for the legend (the README's table says the same)."""
    return {
        "response_rate": _("received tickets whose first reply, call (已电话联系) or closing came before the "
                           "reply deadline passed, of the tickets received"),
        "completion_rate": _("received tickets closed by staff and not reopened at the period's end, "
                             "of the tickets received"),
        "reopen_rate": _("received tickets a resident reopened (not solved) by the period's end, "
                         "of the tickets received"),
        "return_rate": _("received tickets a department returned to the town by the period's end, "
                         "of the tickets received"),
        "on_time_rate": _("tickets closed without any resolve deadline missed before the closing, "
                          "of the tickets closed"),
        "first_time_rate": _("tickets closed without being reopened or escalated before, of the tickets closed"),
        "solved_rate": _("tickets the resident confirmed as solved, of the tickets closed "
                         "(each resident is asked when staff close the ticket)"),
        "rating_rate": _("tickets rated by the resident, of the tickets closed"),
        "satisfaction_rate": _("ratings of 4 or 5 stars, of the rated tickets closed"),
    }[definition.key]


def base_name(base: Base) -> str:
    return {
        Base.RECEIVED: _("tickets received in the period"),
        Base.CLOSED: _("tickets closed in the period"),
        Base.RATED: _("rated tickets closed in the period"),
    }[base]


def rate_line(figures: Figures, definition: RateDefinition, delta: float | None = None) -> str:
    rate = figures.rate(definition)
    if definition is RATE["satisfaction_rate"] and not rate.denominator:
        return _("Satisfaction rate (满意率): no ratings")
    return _("{name}: {rate} ({numerator} of {denominator}){delta}").format(
        name=rate_name(definition), rate=percent(rate), numerator=rate.numerator,
        denominator=rate.denominator, delta=points(delta),
    )


def _duration_line(label: str, duration: Duration) -> str:
    if not duration.count:
        return _("{label}: none yet").format(label=label)
    if duration.p90_seconds is None:
        return _("{label}: mean {mean} ({count} tickets)").format(
            label=label, mean=format_duration(int(duration.mean_seconds or 0)), count=duration.count
        )
    return _("{label}: mean {mean}, 90% within {p90} ({count} tickets)").format(
        label=label,
        mean=format_duration(int(duration.mean_seconds or 0)),
        p90=format_duration(int(duration.p90_seconds or 0)),
        count=duration.count,
    )


def unit_level_name(level: UnitLevel) -> str:
    return {
        UnitLevel.GRID: _("Grids"),
        UnitLevel.VILLAGE: _("Villages"),
        UnitLevel.TOWN: _("Towns"),
        UnitLevel.DEPARTMENT: _("Departments"),
    }[level]


def unit_label(unit: UnitScore, esc: Callable[[str], str] = str) -> str:
    label = "{} ({})".format(unit.name, unit.parent) if unit.parent else unit.name
    if unit.workers:
        label = _("{unit}, worked by {workers}").format(unit=label, workers="/".join(unit.workers))
    return esc(label)


def score_line(unit: UnitScore, esc: Callable[[str], str] = str) -> str:
    """One unit's scorecard in a line: volume and the rates the ranking rule uses."""
    f = unit.figures
    return _("{unit}: received {received}, response {response}, completion {completion}, solved {solved}, "
             "satisfaction {satisfaction} of {rated} rated").format(
        unit=unit_label(unit, esc), received=f.received, response=percent(f.response_rate),
        completion=percent(f.completion_rate), solved=percent(f.solved_rate),
        satisfaction=percent(f.satisfaction_rate), rated=f.rated,
    )


def scorecards(report: PeriodReport, esc: Callable[[str], str] = str) -> str:
    """Every unit's scorecard, level by level: the ranked ones in rank order, then the others."""
    lines: list[str] = []
    for level in UnitLevel:
        units = report.units[level]
        if not units:
            continue
        order = ranked(units)
        placed = {unit.key for unit in order}
        lines += ["", _("{units}, ranked:").format(units=unit_level_name(level))]
        lines += ["{}. {}".format(place, score_line(unit, esc)) for place, unit in enumerate(order, start=1)]
        lines += ["–  " + score_line(unit, esc) for unit in units if unit.key not in placed]
    return "\n".join(lines).strip()


def _red_black_lines(report: PeriodReport, esc: Callable[[str], str]) -> list[str]:
    lines: list[str] = []
    for level in UnitLevel:
        lists = report.red_black(level)
        if not lists.best:
            continue
        lines += ["", _("🏅 Red list, {units} (best first):").format(units=unit_level_name(level))]
        lines += ["· " + score_line(unit, esc) for unit in lists.best]
        if lists.worst:
            lines += [_("⚫ Black list, {units} (worst first):").format(units=unit_level_name(level))]
            lines += ["· " + score_line(unit, esc) for unit in lists.worst]
    return lines


def _grid_lines(report: PeriodReport, esc: Callable[[str], str]) -> list[str]:
    lines: list[str] = []
    most_overdue = sorted((g for g in report.grids if g.figures.overdue),
                          key=lambda g: (-g.figures.overdue, -g.figures.received, g.key))[:5]
    if most_overdue:
        lines += ["", _("Most overdue tickets:")]
        lines += ["· {} {}".format(unit_label(g, esc), g.figures.overdue) for g in most_overdue]
    lowest = list(reversed(ranked(report.grids)[-5:]))
    if lowest:
        lines += ["", _("Lowest scores, grids with enough samples (worst first):")]
        lines += ["· " + score_line(g, esc) for g in lowest]
    return lines


def period_report(
    report: PeriodReport,
    category_names: Mapping[str, str],
    tz,
    esc: Callable[[str], str] = str,
    shops: Sequence[ShopScore] = (),
) -> str:
    """The figures of one period as chat or terminal text; `esc` escapes names for HTML. Every
    figure says which tickets it counts: those received in the period or those closed in it."""
    totals, change = report.totals, report.change
    grid_names = {g.key: g.name for g in report.grids}
    days = report.period.days
    lines = [
        _("📊 {title} ({first} – {last}) · {scope}").format(
            title=str(report.period), first=days[0].strftime("%m-%d"), last=days[-1].strftime("%m-%d"),
            scope=esc(scope_name(report.scope, grid_names)),
        ),
    ]
    if not report.final:
        lines.append(_("⏳ So far, as of {time}: the period is not over and these figures will change.").format(
            time=format_time(report.window.end, tz)))
    lines += [
        "",
        _("Received: {received} tickets in the period ({change:+d} against the period before)").format(
            received=totals.received, change=change.received),
    ]
    if totals.merged:
        lines.append(_("Merged into other tickets and not counted: {merged}").format(merged=totals.merged))
    if totals.withdrawn:
        lines.append(_("Withdrawn by the resident and not counted: {withdrawn}").format(withdrawn=totals.withdrawn))
    lines += [rate_line(totals, d, change.rates[d.key]) for d in RATES if d.base is Base.RECEIVED]
    lines += [
        _("Open at the period's end: {open} · overdue: {overdue} · urged: {urges} times").format(
            open=totals.open_at_end, overdue=totals.overdue, urges=totals.urges),
        _duration_line(_("Time to first response"), totals.time_to_response),
        "",
        _("Closed: {closed} tickets in the period, whenever received ({change:+d} against the period before)").format(
            closed=totals.closed, change=change.closed),
    ]
    lines += [rate_line(totals, d, change.rates[d.key]) for d in RATES if d.base is not Base.RECEIVED]
    lines += aftercare_lines(totals.tally)
    lines += [
        _duration_line(_("Time to close"), totals.time_to_close),
        _("Closed in the grid {grid} · village {village} · town {town} · department {department}").format(
            grid=percent(totals.closed_by_tier[Tier.GRID]),
            village=percent(totals.closed_by_tier[Tier.VILLAGE]),
            town=percent(totals.closed_by_tier[Tier.TOWN]),
            department=percent(totals.closed_by_tier[Tier.DEPARTMENT]),
        ),
    ]
    if report.top_categories:
        lines += ["", _("Top categories:")]
        lines += [
            "· {} {} ({})".format(esc(category_names.get(c.category_code, c.category_code)), c.received, percent(c.share))
            for c in report.top_categories
        ]
    lines += _red_black_lines(report, esc) if report.period.kind is PeriodKind.MONTH else _grid_lines(report, esc)
    if shops:
        lines += ["", _("Lowest-rated shops:")]
        lines += [
            "· " + _("{shop}: {overall:.1f} of 5 ({count} ratings)").format(
                shop=esc(score.shop.name), overall=score.overall, count=score.ratings
            )
            for score in shops
        ]
    not_ranked = [g for g in report.grids if not g.ranked]
    if not_ranked:
        named = ", ".join(unit_label(g, esc) for g in not_ranked[:NOT_RANKED_NAMED])
        more = len(not_ranked) - NOT_RANKED_NAMED
        lines += ["", _("Not ranked, fewer than {tickets} received or {rated} rated: {grids}").format(
            tickets=report.min_tickets, rated=report.min_rated,
            grids=named + (_(" and {count} more").format(count=more) if more > 0 else ""),
        )]
    return "\n".join(lines)


def aftercare_lines(tally: Tally) -> list[str]:
    """Of the tickets closed: those closed without confirmation, and the return visits (回访)."""
    lines = [_("Closed without the resident's confirmation: {count} (neither solved nor rated)").format(
        count=tally.auto_closed)]
    if tally.visits:
        done = tally.visits_satisfied + tally.visits_basically_satisfied + tally.visits_unsatisfied
        lines.append(_("Return visits (回访): {visits} · satisfied {satisfied} · basically satisfied {basically} · "
                       "unsatisfied {unsatisfied} · not yet visited {pending}").format(
            visits=tally.visits, satisfied=tally.visits_satisfied, basically=tally.visits_basically_satisfied,
            unsatisfied=tally.visits_unsatisfied, pending=tally.visits - done))
    else:
        lines.append(_("Return visits (回访): none"))
    return lines


def legend_text() -> str:
    """ℹ️: what each figure counts, as the README's table says it."""
    lines = [_("ℹ️ How the figures are counted"), ""]
    lines.append(_("Every figure is taken from the tickets' history as it stood at the period's end, so a "
                   "closed period never changes. Merged tickets, and tickets the resident withdrew (撤回), are "
                   "counted apart: neither closed by staff nor solved."))
    for base in Base:
        lines += ["", "<b>{}</b>".format(_("Of the {tickets}:").format(tickets=base_name(base)))]
        lines += ["· {}: {}".format(rate_name(d), rate_meaning(d)) for d in RATES if d.base is base]
    lines += [
        "",
        _("Overdue: received tickets with a resolve deadline missed at any tier by the period's end "
          "(recorded when it happens, so a later escalation does not erase it)."),
        _("Urged: how often the received tickets' holders were urged (催办)."),
        _("Closed without confirmation: tickets closed in the period that the resident did not answer within "
          "AUTO_CLOSE_DAYS of the resolution; they count as closed, neither as solved nor as rated."),
        _("Return visits (回访): tickets closed in the period that got a return visit (a rating of 1 or 2 stars, "
          "or a second “not solved”) by the period's end, by the outcome recorded by then."),
        _("Time to first response: from filing to the first reply, call or closing. Time to close: from filing "
          "to the closing. Mean, and the time 90% of the tickets stayed within."),
        _("Ranking: the mean of the response, solved and satisfaction rates; a unit with fewer than "
          "STATS_MIN_TICKETS received or STATS_MIN_RATED rated tickets is shown but not ranked."),
    ]
    return "\n".join(lines)


async def category_names(storage: Storage, language: str) -> dict[str, str]:
    return {c.code: c.name(language) for c in await storage.list_categories()}


async def load_period_report(storage: Storage, settings: Settings, period: Period, scope: Scope,
                               now: int | None = None) -> PeriodReport:
    """The report with the thresholds from the settings; `now` for the current period so far."""
    return await load_report(storage, period, settings.timezone, scope, now,
                             settings.stats_min_rated, settings.stats_min_tickets)


async def report_text(
    storage: Storage, settings: Settings, period: Period, scope: Scope, language: str,
    esc: Callable[[str], str] = str, now: int | None = None,
) -> str:
    """The whole report, as /stats, the digest and `gridbot stats` show it. The caller sets the
    i18n context."""
    report = await load_period_report(storage, settings, period, scope, now)
    shops = await lowest_rated_shops(storage, report.window, scope)
    return period_report(report, await category_names(storage, language), settings.timezone, esc, shops)

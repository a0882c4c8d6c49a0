"""The exports of /stats and `gridbot stats`, in the reader's language: a period's tickets as CSV,
and an Excel workbook to use as it is: the figures with their definitions, the tickets (each as it
stood at the period's end, its current state after) and the scorecard of every unit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bot.catalogs import gettext as _
from bot.config import Settings
from bot.stats_report import (
    base_name,
    category_names,
    load_period_report,
    rate_meaning,
    rate_name,
    unit_level_name,
)
from bot.texts import format_time, kind_name, status_name, tier_name
from domain.exports import (
    EXPORT_FIELDS,
    PHONE_FIELD,
    NO,
    YES,
    Cell,
    Percent,
    Sheet,
    export_header,
    ticket_column_widths,
    ticket_rows,
    write_csv,
    write_workbook,
)
from domain.models import Grid, Kind, Status, Tier
from domain.stats import (
    RATES,
    Base,
    Duration,
    Period,
    PeriodReport,
    Rate,
    Scope,
    TicketAtEnd,
    UnitLevel,
    ranked,
    ranking_key,
    score,
    tickets_at_end,
)
from storage.base import Storage

_HOUR = 3600


@dataclass(frozen=True)
class Export:
    """What an export shows: the period's report and its tickets as they stood at its end."""

    report: PeriodReport
    tickets: list[TicketAtEnd]
    grids: dict[str, Grid]
    categories: dict[str, str]  # category code -> name in the reader's language


async def load_export(storage: Storage, settings: Settings, period: Period, scope: Scope, language: str,
                      now: int | None = None) -> Export:
    """`now` inside the period: the period so far."""
    return Export(
        report=await load_period_report(storage, settings, period, scope, now),
        tickets=await tickets_at_end(storage, period, settings.timezone, scope, now),
        grids={g.code: g for g in await storage.list_grids()},
        categories=await category_names(storage, language),
    )


def export_headers() -> dict[str, str]:
    at_end, now = _("at the period's end"), _("now")
    return {
        "number": _("Number"),
        "created_at": _("Filed at"),
        "kind": _("Kind"),
        "category": _("Category"),
        "town": _("Town"),
        "village": _("Village"),
        "grid": _("Grid"),
        "status": _("Status ({when})").format(when=at_end),
        "tier": _("Tier ({when})").format(when=at_end),
        "holder": _("Held by ({when})").format(when=at_end),
        "first_response_at": _("First response at"),
        "closed_at": _("Closed at ({when})").format(when=at_end),
        "closed_tier": _("Closed at tier"),
        "overdue": _("Overdue"),
        "reopened": _("Reopened"),
        "returned": _("Returned"),
        "urges": _("Urged"),
        "confirmed": _("Confirmed solved"),
        "rating": _("Rating ({when})").format(when=at_end),
        "status_now": _("Status ({when})").format(when=now),
        "tier_now": _("Tier ({when})").format(when=now),
        "holder_now": _("Held by ({when})").format(when=now),
        "closed_at_now": _("Closed at ({when})").format(when=now),
        "rating_now": _("Rating ({when})").format(when=now),
        "rating_comment_now": _("Rating comment"),
        "description": _("Description"),
        PHONE_FIELD: _("Call-back number (回电)"),
    }


def export_labels() -> dict[str, str]:
    """Kind, status and tier values, yes and no, as words in the export."""
    labels = {k.value: kind_name(k) for k in Kind}
    labels.update({s.value: status_name(s) for s in Status})
    labels.update({t.value: tier_name(t) for t in Tier})
    labels.update({YES: _("yes"), NO: _("no")})
    return labels


def _ticket_rows(export: Export, settings: Settings, with_phones: bool = False) -> list[list[Cell]]:
    return list(ticket_rows(export.tickets, export.grids, export.categories, settings.timezone,
                            settings.ticket_prefix, export_labels(), with_phones))


def write_tickets_csv(out: str | Path | BinaryIO, export: Export, settings: Settings, with_phones: bool = False) -> int:
    """The tickets as CSV (UTF-8 with BOM); returns how many. `with_phones` adds the call-back
    numbers still kept: only when an admin asks (`gridbot stats --with-phones`)."""
    rows = _ticket_rows(export, settings, with_phones)
    write_csv(out, export_header(export_headers(), with_phones), rows)
    return len(rows)


def _share(rate: Rate) -> Percent | None:
    return None if rate.value is None else Percent(rate.value)


def _hours(seconds: float | int | None) -> float | None:
    return None if seconds is None else round(seconds / _HOUR, 1)


def _duration_rows(label: str, duration: Duration, meaning: str) -> list[list[Cell]]:
    return [
        [_("{label}, mean (hours)").format(label=label), _hours(duration.mean_seconds), None, duration.count,
         None, meaning],
        [_("{label}, 90% within (hours)").format(label=label), _hours(duration.p90_seconds), None, duration.count,
         None, meaning],
    ]


def summary_sheet(report: PeriodReport, scope_title: str, settings: Settings) -> Sheet:
    totals = report.totals
    days = report.period.days
    received, closed = base_name(Base.RECEIVED), base_name(Base.CLOSED)
    state = (_("final: the period is over and its figures never change") if report.final else
             _("so far, as of {time}: the period is not over and these figures will change").format(
                 time=format_time(report.window.end, settings.timezone)))
    rows: list[list[Cell]] = [
        [_("Period"), "{} ({} – {})".format(report.period, days[0].isoformat(), days[-1].isoformat())],
        [_("Scope"), scope_title],
        [_("State"), state],
        [_("Received"), totals.received, None, None, received],
        [_("Merged into other tickets (not counted)"), totals.merged, None, None, received],
        [_("Withdrawn by the resident (not counted)"), totals.withdrawn, None, None, received],
        [_("Open at the period's end"), totals.open_at_end, None, None, received],
        [_("Overdue"), totals.overdue, None, None, received,
         _("a resolve deadline missed at any tier by the period's end")],
        [_("Urged (times)"), totals.urges, None, None, received],
        [_("Closed"), totals.closed, None, None, closed],
    ]
    for definition in RATES:
        rate = totals.rate(definition)
        rows.append([rate_name(definition), _share(rate), rate.numerator, rate.denominator,
                     base_name(definition.base), rate_meaning(definition)])
    rows += _duration_rows(_("Time to first response"), totals.time_to_response,
                           _("from filing to the first reply or closing"))
    rows += _duration_rows(_("Time to close"), totals.time_to_close, _("from filing to the closing"))
    header = [_("Figure"), _("Value"), _("Counted"), _("Of"), _("Tickets counted"), _("Definition")]
    return Sheet(_("Summary"), header, rows, widths=(30, 16, 10, 10, 24, 70), wrap=frozenset({0, 1, 5}))


def scorecard_sheet(report: PeriodReport) -> Sheet:
    """Every unit with tickets, level by level, ranked ones first in the order of the ranking rule."""
    header = [_("Level"), _("Unit"), _("Part of"), _("Received"), _("Closed"), _("Rated")]
    header += [rate_name(d) for d in RATES]
    header += [_("Overdue"), _("Urged (times)"), _("Score"), _("Rank"), _("Ranked"), _("Grid workers")]
    rows: list[list[Cell]] = []
    for level in UnitLevel:
        units = report.units[level]
        rank = {unit.key: place for place, unit in enumerate(ranked(units), start=1)}
        for unit in sorted(units, key=ranking_key):
            f = unit.figures
            value = score(f)
            rows.append(
                [unit_level_name(level), unit.name, unit.parent or None, f.received, f.closed, f.rated]
                + [_share(f.rate(d)) for d in RATES]
                + [f.overdue, f.urges, None if value is None else Percent(value), rank.get(unit.key),
                   _("yes") if unit.key in rank else _("no, too few samples"), "/".join(unit.workers) or None]
            )
    return Sheet(_("Scorecards"), header, rows, widths=(10, 18, 14))


def tickets_sheet(export: Export, settings: Settings) -> Sheet:
    return Sheet(_("Ticket list"), export_header(export_headers()), _ticket_rows(export, settings),
                 ticket_column_widths(), wrap=frozenset({EXPORT_FIELDS.index("description")}))


def write_export_xlsx(out: str | Path | BinaryIO, export: Export, settings: Settings, scope_title: str) -> int:
    """The workbook: summary, tickets, scorecards; returns how many tickets."""
    write_workbook(out, [
        summary_sheet(export.report, scope_title, settings),
        tickets_sheet(export, settings),
        scorecard_sheet(export.report),
    ])
    return len(export.tickets)



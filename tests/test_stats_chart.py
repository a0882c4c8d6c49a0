"""The /stats chart: 12 weeks of rates with their sample sizes, ranked units only, names literal."""

from __future__ import annotations

import struct
import warnings
from dataclasses import replace

import pytest

from bot.stats_chart import chart_caption, chart_labels, trend_end
from domain.charts import MAX_UNITS, TREND_WEEKS, load_trend, render_chart, units_shown
from domain.models import Grid
from domain.stats import Period, Scope, Week, load_report, ranked
from tests import test_stats
from tests.test_stats import SHANGHAI, W49, d, i18n_context, week49

storage = test_stats.storage  # the fixture: a database with the scenario's grids


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


async def test_the_trend_is_twelve_weeks_that_agree_with_their_reports(storage):
    await week49(storage)
    trend = await load_trend(storage, W49.next(), SHANGHAI, Scope())
    assert [p.week for p in trend][-2:] == [W49, W49.next()] and len(trend) == TREND_WEEKS
    assert trend[0].week == Week(2026, 39)
    report = await load_report(storage, Period.of_week(W49), SHANGHAI)
    assert trend[-2].figures.tally == report.totals.tally  # the chart's week is the report's week


async def test_the_trend_ends_with_the_last_week_over(storage):
    await week49(storage)
    november = await load_report(storage, Period.parse("2026-11"), SHANGHAI)  # ends on a Monday
    assert trend_end(november, SHANGHAI) == Week(2026, 48)
    so_far = await load_report(storage, Period.of_week(W49), SHANGHAI, now=d(3, 12))
    assert trend_end(so_far, SHANGHAI) == Week(2026, 48)
    assert trend_end(await load_report(storage, Period.of_week(W49), SHANGHAI), SHANGHAI) == W49


async def test_only_units_with_enough_samples_are_drawn_in_ranking_order(storage):
    await week49(storage)
    report = await load_report(storage, Period.of_week(W49), SHANGHAI, min_rated=1, min_tickets=1)
    assert units_shown(report.grids) == ranked(report.grids)
    assert all(u.ranked for u in units_shown(report.grids))
    strict = await load_report(storage, Period.of_week(W49), SHANGHAI, min_rated=99, min_tickets=1)
    assert units_shown(strict.grids) == []
    with i18n_context("en"):
        caption = chart_caption(strict, "all towns")
    assert "0 of 0 grids" in caption and "Not drawn, too few samples" in caption and "3 grids" in caption
    many = [replace(report.grids[0], key=f"G{i:02d}", figures=report.grids[i % 2].figures) for i in range(30)]
    shown = units_shown(many)
    order = ranked(many)
    assert len(shown) == MAX_UNITS and shown == order[:MAX_UNITS // 2] + order[-MAX_UNITS // 2:]


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_chart_is_a_png_with_every_name_drawn_literally(storage, language):
    fonts = pytest.importorskip("qr.fonts")
    try:
        font = fonts.find_cjk_font()
    except fonts.FontNotFoundError:
        pytest.skip("no CJK font installed")
    await storage.upsert_grids([Grid("A", "网格$\\alpha_{$", "V$1$", "T1")])
    await week49(storage)
    report = await load_report(storage, Period.of_week(W49), SHANGHAI, min_rated=1, min_tickets=1)
    assert any(u.name == "网格$\\alpha_{$" for u in units_shown(report.grids))
    trend = await load_trend(storage, W49, SHANGHAI, Scope())
    with i18n_context(language):
        labels = chart_labels(report, "全部")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = render_chart(trend, report.grids, labels, font)
    assert not [w for w in caught if "missing from" in str(w.message)]  # no tofu boxes
    assert png_size(data) == (1200, 1500)
    assert 20_000 < len(data) < 2_000_000

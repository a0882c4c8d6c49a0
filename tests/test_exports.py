"""The Excel workbook officials open as it is: sheets, frozen and filterable headers, print set-up."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl
import pytest

from bot.stats_export import export_headers, load_export, write_export_xlsx, write_tickets_csv
from bot.stats_report import base_name, rate_meaning, rate_name
from bot.texts import status_name, tier_name
from domain.exports import EXPORT_FIELDS, Percent, Sheet, write_csv, write_workbook
from domain.models import Status, Tier
from domain.stats import RATES, Period, Scope, ranked
from tests.conftest import make_settings
from tests import test_stats
from tests.test_stats import W49, after_the_period, i18n_context, week49

storage = test_stats.storage  # the fixture: a database with the scenario's grids


def test_every_sheet_is_ready_to_filter_and_print():
    buffer = io.BytesIO()
    write_workbook(buffer, [
        Sheet("汇总", ["指标", "数值", "定义"], [["办结率", Percent(0.661), "已办结 / 受理"], ["受理量", 56, None]],
              wrap=frozenset({2})),
        Sheet("工单", ["编号", "受理时间"], [["XG-000001", datetime(2026, 11, 30, 10, 0)]] * 3),
        Sheet("空表", ["单位"], []),
    ])
    book = openpyxl.load_workbook(buffer)
    assert book.sheetnames == ["汇总", "工单", "空表"]
    summary, tickets, empty = (book[name] for name in book.sheetnames)
    for sheet, ref in ((summary, "A1:C3"), (tickets, "A1:B4"), (empty, "A1")):
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == ref
        assert sheet.print_title_rows == "$1:$1"
        assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        # one page wide (1 is the file format's default, so it may be left out), any number down
        assert (sheet.page_setup.fitToWidth or 1, sheet.page_setup.fitToHeight) == (1, 0)
        assert sheet["A1"].font.b
    assert summary["B2"].value == 0.661 and summary["B2"].number_format == "0.0%"
    assert summary["C2"].alignment.wrap_text
    assert tickets["B2"].value == datetime(2026, 11, 30, 10, 0)


def test_a_residents_formula_stays_text():
    formula = "=HYPERLINK(\"http://x\")"
    buffer = io.BytesIO()
    write_csv(buffer, ["问题描述"], [[formula], ["-1"]])
    assert buffer.getvalue().decode("utf-8-sig").splitlines()[1:] == ["\"'=HYPERLINK(\"\"http://x\"\")\"", "'-1"]
    buffer = io.BytesIO()
    write_workbook(buffer, [Sheet("工单", ["问题描述"], [[formula]])])
    cell = openpyxl.load_workbook(buffer)["工单"]["A2"]
    assert (cell.value, cell.data_type) == (formula, "s")


def test_csv_writes_shares_as_percentages():
    buffer = io.BytesIO()
    write_csv(buffer, ["指标", "数值"], [["办结率", Percent(0.6612)], ["受理量", 56]])
    text = buffer.getvalue().decode("utf-8-sig")
    assert text.splitlines() == ["指标,数值", "办结率,66.1%", "受理量,56"]


# -- a period's exports, each ticket as it stood at the period's end --------------------------------
def cells(sheet) -> list[tuple]:
    return list(sheet.iter_rows(values_only=True))


async def export_of_w49(storage, settings, language="zh"):
    with i18n_context(language):
        export = await load_export(storage, settings, Period.of_week(W49), Scope(), language)
        buffer = io.BytesIO()
        write_export_xlsx(buffer, export, settings, "全部")
        csv_buffer = io.BytesIO()
        write_tickets_csv(csv_buffer, export, settings)
        headers = export_headers()
        names = {"status": status_name, "tier": tier_name}
    return export, openpyxl.load_workbook(io.BytesIO(buffer.getvalue())), csv_buffer.getvalue(), headers, names


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, stats_min_rated=1, stats_min_tickets=1)


async def test_the_workbook_shows_the_period_as_it_ended_and_today_beside_it(storage, settings):
    town = await week49(storage)
    _, before, csv_before, *_ = await export_of_w49(storage, settings)
    await after_the_period(town)
    export, book, csv_after, headers, names = await export_of_w49(storage, settings)
    assert book.sheetnames == ["汇总", "工单明细", "单位评分"]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
        assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.fitToHeight == 0

    tickets = cells(book["工单明细"])
    column = {name: tickets[0].index(headers[name]) for name in EXPORT_FIELDS}
    rows = {row[column["number"]]: row for row in tickets[1:]}
    assert len(rows) == len(export.tickets) == 10  # W49's received tickets, T7 (merged) too; not T11
    with i18n_context("zh"):
        t10 = rows["XG-{:06d}".format(town.ids["T10"])]
        # closed in the week, rated 1 only the week after
        assert t10[column["status"]] == names["status"](Status.RESOLVED) and t10[column["rating"]] is None
        assert t10[column["status_now"]] == names["status"](Status.CLOSED) and t10[column["rating_now"]] == 1
        t4 = rows["XG-{:06d}".format(town.ids["T4"])]
        assert (t4[column["tier"]], t4[column["holder"]]) == (names["tier"](Tier.GRID), "一网格")
        assert t4[column["tier_now"]] != names["tier"](Tier.GRID) and t4[column["urges"]] == 0
        t8 = rows["XG-{:06d}".format(town.ids["T8"])]
        assert (t8[column["reopened"]], t8[column["returned"]], t8[column["urges"]]) == ("是", "是", 2)
        assert t8[column["holder"]] == "T1"

    # what the tickets were at the period's end does not change: only the "now" columns do
    at_end = [i for i, name in enumerate(EXPORT_FIELDS) if not name.endswith("_now")]
    assert [[row[i] for i in at_end] for row in cells(before["工单明细"])] == [[row[i] for i in at_end] for row in tickets]
    assert cells(before["汇总"]) == cells(book["汇总"]) and cells(before["单位评分"]) == cells(book["单位评分"])
    assert csv_before.startswith(b"\xef\xbb\xbf") and csv_before.count(b"\n") == csv_after.count(b"\n") == 11

    summary = {row[0]: row for row in cells(book["汇总"])}
    totals = export.report.totals
    with i18n_context("zh"):
        for definition in RATES:
            rate = totals.rate(definition)
            row = summary[rate_name(definition)]
            assert row[1] == (None if rate.value is None else pytest.approx(rate.value))
            assert row[2:4] == (rate.numerator, rate.denominator)
            assert row[4] == base_name(definition.base) and row[5] == rate_meaning(definition)
    assert summary["受理"][1] == totals.received

    scorecards = cells(book["单位评分"])
    grid_rows = [row for row in scorecards[1:] if row[0] == "网格"]
    ranked_grids = ranked(export.report.grids)
    assert [row[1] for row in grid_rows[:len(ranked_grids)]] == [g.name for g in ranked_grids]
    assert [row[-3] for row in grid_rows[:len(ranked_grids)]] == list(range(1, len(ranked_grids) + 1))
    assert scorecards[0][-1] == "网格员" and {row[-1] for row in grid_rows} == {"甲", "乙", "丙"}


async def test_english_readers_get_english_sheets(storage, settings):
    await week49(storage)
    _, book, csv_data, headers, _names = await export_of_w49(storage, settings, "en")
    assert book.sheetnames == ["Summary", "Ticket list", "Scorecards"]
    assert cells(book["Ticket list"])[0][0] == "Number" and csv_data.decode("utf-8-sig").startswith("Number,")

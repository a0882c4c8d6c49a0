"""The Excel workbook officials open as it is: sheets, frozen and filterable headers, print set-up."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl

from domain.exports import Percent, Sheet, csv_bytes, workbook_bytes


def test_every_sheet_is_ready_to_filter_and_print():
    data = workbook_bytes([
        Sheet("汇总", ["指标", "数值", "定义"], [["办结率", Percent(0.661), "已办结 / 受理"], ["受理量", 56, None]],
              wrap=frozenset({2})),
        Sheet("工单", ["编号", "受理时间"], [["XG-000001", datetime(2026, 11, 30, 10, 0)]] * 3),
        Sheet("空表", ["单位"], []),
    ])
    book = openpyxl.load_workbook(io.BytesIO(data))
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


def test_csv_writes_shares_as_percentages():
    text = csv_bytes(["指标", "数值"], [["办结率", Percent(0.6612)], ["受理量", 56]]).decode("utf-8-sig")
    assert text.splitlines() == ["指标,数值", "办结率,66.1%", "受理量,56"]

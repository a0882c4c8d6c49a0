"""`gridbot import` with the files a town office has: CSV in UTF-8, UTF-8 with BOM or GB18030 (GBK),
XLSX workbooks, Chinese or English headers in any order, optional columns left out; thousands of
bad rows reported in a few lines; files read row by row, never whole."""

from __future__ import annotations

import asyncio
import itertools
import tracemalloc

import openpyxl
import pytest

from bot.__main__ import main
from domain import imports
from domain.models import Grid, Role
from domain.tables import Table, csv_encoding
from storage.sqlite import SqliteStorage
from tests.test_qr import ext_b_font, no_system_fonts  # noqa: F401 (fixtures)


@pytest.fixture
def town(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for name in ("BOT_TOKEN", "ADMIN_IDS", "DEFAULT_LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "gridbot.sqlite3"))
    return tmp_path


def stored(path, read):
    async def run():
        db = await SqliteStorage.open(path)
        try:
            return await read(db)
        finally:
            await db.close()

    return asyncio.run(run())


def grids_of(town) -> list[Grid]:
    return stored(town / "gridbot.sqlite3", lambda db: db.list_grids())


def workbook(path, rows) -> None:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)


def test_a_gbk_file_from_chinese_excel_with_chinese_headers_in_any_order(town, capsys, monkeypatch, ext_b_font):
    """Chinese Excel's "CSV (逗号分隔)" is GBK; the columns as the office named them, lat/lon left out."""
    monkeypatch.setenv("FALLBACK_FONTS", str(ext_b_font))  # a font that prints 𪚥, or the import refuses it
    path = town / "网格.csv"
    path.write_bytes("镇,村,名称,编码\r\n西岗镇,东里村,东里一网格,DL01\r\n西岗镇,东里村,东里二网格（𪚥）,DL02\r\n"
                     .encode("gb18030"))
    assert csv_encoding(path) == "gb18030"
    assert main(["import", "grids", str(path)]) == 0
    assert "导入 2 个网格" in capsys.readouterr().out
    assert grids_of(town) == [Grid("DL01", "东里一网格", "东里村", "西岗镇", None, None),
                              Grid("DL02", "东里二网格（𪚥）", "东里村", "西岗镇", None, None)]


def test_utf8_with_bom_and_headers_in_either_language_with_units(town, capsys):
    path = town / "grids.csv"
    path.write_text("\ufeff编码,名称,Village,TOWN,纬度,经度,备注\nDL01,东里一网格,东里村,西岗镇,34.81,117.17,新建\n",
                    encoding="utf-8")
    assert csv_encoding(path) == "utf-8-sig"
    assert main(["import", "grids", str(path)]) == 0
    out = capsys.readouterr().out
    assert "未读取的列（不属于 grids）：备注" in out  # said, not silently dropped
    assert grids_of(town) == [Grid("DL01", "东里一网格", "东里村", "西岗镇", 34.81, 117.17)]

    categories = town / "categories.csv"
    categories.write_text("编码,中文名称,英文名称,责任部门,回复时限（小时）,办结时限（小时）\nwater,供水服务,Water,水务局,2,24\n",
                          encoding="utf-8")
    assert main(["import", "categories", str(categories)]) == 0
    water = next(c for c in stored(town / "gridbot.sqlite3", lambda db: db.list_categories()) if c.code == "water")
    assert (water.name_zh, water.department, water.reply_within, water.resolve_within) == ("供水服务", "水务局", 2, 24)


def test_a_gbk_row_after_megabytes_of_ascii_is_still_read_as_gbk(town):
    path = town / "grids.csv"
    with path.open("wb") as file:
        file.write(b"code,name,village,town\n")
        for number in range(60_000):
            file.write(f"G{number},grid {number},East,Xigang\n".encode())
        file.write("Z1,东里,East,Xigang\n".encode("gb18030"))
    assert path.stat().st_size > 1 << 20 and csv_encoding(path) == "gb18030"
    assert main(["import", "grids", str(path)]) == 0
    assert ("Z1", "东里") in {(g.code, g.name) for g in grids_of(town)}


def test_text_in_neither_encoding_is_refused_in_one_line(town, capsys):
    path = town / "grids.csv"
    path.write_bytes(b"code,name,village,town\nA1,\xff\xfe\xff,x,y\n")
    assert main(["import", "grids", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"{path} 既不是 UTF-8 也不是 GB18030（GBK）文本；请另存为“CSV UTF-8”\n"


def test_xlsx_grids_and_staff_with_numbers_as_excel_types_them(town, capsys):
    grids = town / "grids.xlsx"
    workbook(grids, [["网格编码", "网格名称", "所属村", "所属乡镇", "纬度", "经度"],
                     [1001, "东里一网格", "东里村", "西岗镇", 34.81, 117.17],
                     [None, None, None, None, None, None],  # Excel's blank rows are skipped
                     ["DL02", "东里二网格", "东里村", "西岗镇", None, None]])
    assert main(["import", "grids", str(grids)]) == 0
    assert [(g.code, g.lat) for g in grids_of(town)] == [("1001", 34.81), ("DL02", None)]

    staff = town / "staff.xlsx"
    workbook(staff, [["姓名", "Telegram ID", "角色", "范围"],
                     ["王网格", 501.0, "网格员", 1001],  # roles as the bot names them in Chinese, or their values
                     ["李书记", 601, "村工作人员", "东里村"],
                     ["管理员", 9, "admin", None]])
    assert main(["import", "staff", str(staff)]) == 0
    assert "导入 3 个工作人员角色" in capsys.readouterr().out
    members = stored(town / "gridbot.sqlite3", lambda db: db.list_staff())
    assert {(m.telegram_id, m.name, m.role, m.scope) for m in members} == {
        (501, "王网格", Role.GRID_WORKER, "1001"), (601, "李书记", Role.VILLAGE, "东里村"), (9, "管理员", Role.ADMIN, "")}


def test_xlsx_bad_rows_name_their_row_and_the_column_as_the_file_names_it(town, capsys):
    path = town / "grids.xlsx"
    workbook(path, [["编码", "名称", "村", "镇", "纬度", "经度"], ["DL01", None, "东里村", "西岗镇", 34.8, 117]])
    assert main(["import", "grids", str(path)]) == 1
    assert "第 2 行：名称 为空" in capsys.readouterr().err
    workbook(path, [["编码", "名称", "村", "镇", "纬度", "经度"], ["DL01", "东里", "东里村", "西岗镇", 95, 117]])
    assert main(["import", "grids", str(path)]) == 1
    assert "第 2 行：纬度 须在 -90 到 90 之间，而不是 95" in capsys.readouterr().err
    not_a_workbook = town / "broken.xlsx"
    not_a_workbook.write_text("code,name\n", encoding="utf-8")
    assert main(["import", "grids", str(not_a_workbook)]) == 1
    assert "不是 Excel 工作簿（.xlsx）" in capsys.readouterr().err and grids_of(town) == []
    old_excel = town / "grids.xls"
    old_excel.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    assert main(["import", "grids", str(old_excel)]) == 1
    assert "是旧版 Excel 文件（.xls）；请另存为 .xlsx 或 CSV" in capsys.readouterr().err


def test_shops_and_sites_with_chinese_headers(town, capsys):
    grids = town / "grids.csv"
    grids.write_text("编码,名称,村,镇\nDL01,东里一网格,东里村,西岗镇\n", encoding="utf-8")
    assert main(["import", "grids", str(grids)]) == 0
    shops = town / "shops.csv"
    shops.write_text("店名,商户编码,所属网格\n东里小卖部,M001,DL01\n", encoding="gb18030")  # owner left out
    assert main(["import", "shops", str(shops)]) == 0
    sites = town / "sites.csv"
    sites.write_text("场所编码,场所名称,网格,类型\nS001,东里农贸市场,DL01,facility\n", encoding="utf-8")
    assert main(["import", "sites", str(sites)]) == 0
    assert stored(town / "gridbot.sqlite3", lambda db: db.get_shop("M001")).name == "东里小卖部"
    assert stored(town / "gridbot.sqlite3", lambda db: db.get_site("S001")).name == "东里农贸市场"


def test_header_problems_say_what_is_missing_or_named_twice(town, capsys):
    path = town / "grids.csv"
    path.write_text("编码,名称,村\nDL01,东里,东里村\n", encoding="utf-8")
    assert main(["import", "grids", str(path)]) == 1
    assert "第 1 行：表头缺少 town 列（可写作：town, 镇, 乡镇" in capsys.readouterr().err
    path.write_text("编码,code,名称,村,镇\nDL01,DL01,东里,东里村,西岗镇\n", encoding="utf-8")
    assert main(["import", "grids", str(path)]) == 1
    assert "第 1 行：有两列都表示 code：'编码' 和 'code'" in capsys.readouterr().err


def test_a_file_of_900_bad_rows_lists_twenty_and_counts_the_rest(town, capsys, monkeypatch):
    path = town / "grids.csv"
    path.write_text("code,name,village,town\n" + "bad code,名,村,镇\n" * 900, encoding="utf-8")
    assert main(["import", "grids", str(path)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 22
    assert lines[0].startswith(f"{path}: 第 2 行：code 'bad code'") and lines[19].startswith(f"{path}: 第 21 行：")
    assert lines[20] == f"{path}：……另有 880 行有错（共 900 行）"
    assert lines[21] == f"{path} 中的内容都未导入"
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    assert main(["import", "grids", str(path)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (f"{path}: line 2: code 'bad code' may use only Latin letters, digits, '_' and '-' "
                        "(at most 60)")
    assert lines[20:] == [f"{path}: … and 880 more bad rows (900 in all)", f"nothing was imported from {path}"]


class EndlessTable:
    """A table that would never end: reading it whole would never return."""

    def __init__(self):
        self.rows_read = 0

    def rows(self):
        yield 1, ["code", "name", "village", "town"]
        for number in itertools.count():
            self.rows_read += 1
            yield number + 2, [f"G{number}", f"网格{number}", "东里村", "西岗镇"]


def test_rows_are_read_as_they_are_written_not_before():
    table = EndlessTable()
    first = list(itertools.islice(imports.read(table, imports.grids()), 3))
    assert [g.code for g in first] == ["G0", "G1", "G2"] and table.rows_read == 3


def peak_memory_of_check(path) -> tuple[imports.Check, int]:
    tracemalloc.start()
    try:
        result = imports.check(Table(path), imports.grids())
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_checking_a_large_file_of_bad_rows_takes_no_more_memory_than_a_small_one(tmp_path):
    """What grows with the file is the keys of its good rows; bad rows are counted, not kept."""
    sizes = {}
    for rows in (1_000, 40_000):
        path = tmp_path / f"bad{rows}.csv"
        path.write_text("code,name,village,town\n" + "bad code,名称很长的一个网格,东里村,西岗镇\n" * rows, encoding="utf-8")
        result, sizes[rows] = peak_memory_of_check(path)
        assert result.bad == rows and len(result.problems) == imports.MAX_LISTED
    assert path.stat().st_size > 2_000_000
    assert sizes[40_000] < sizes[1_000] + 100_000, sizes


async def test_an_error_while_rows_are_written_writes_none_of_them(tmp_path):
    """A file changed between the check and the write: the rows already written are undone."""
    db = await SqliteStorage.open(tmp_path / "gridbot.sqlite3")
    try:
        def rows():
            yield Grid("A1", "甲", "东里村", "西岗镇", None, None)
            raise imports.RowError("line {line} changed since it was checked: {problem}", line=3, problem="x")

        with pytest.raises(imports.RowError):
            await db.upsert_grids(rows())
        assert await db.list_grids() == []
    finally:
        await db.close()

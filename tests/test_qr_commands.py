"""/qr, /posters, `gridbot qr` and `gridbot posters`: every code decodes back to the grid's link."""

from __future__ import annotations

import io
import os

import pytest
from aiogram.methods import AnswerCallbackQuery, SendDocument, SendPhoto
from PIL import Image

from bot.__main__ import main
from domain.models import Grid
from domain.shops import Shop, Site, SiteKind
from handlers.callbacks import QrGridCb
from tests.conftest import GRIDS, WORKER_DL01, joined, last_buttons
from tests.test_qr import EXT_B, decode_all, ext_b_font, no_system_fonts, pdf_pages, pdf_texts  # noqa: F401 (fixtures)

LINK = "https://t.me/grid_test_bot?start=g_{}"


def photos(calls):
    return [c for c in calls if isinstance(c, SendPhoto)]


def documents(calls):
    return [c for c in calls if isinstance(c, SendDocument)]


async def test_worker_gets_the_card_of_their_grid_as_a_photo_and_as_a_png_to_print(harness):
    h = harness
    calls = await h.send(h.user(WORKER_DL01), "/qr")
    [photo] = photos(calls)
    assert decode_all(Image.open(io.BytesIO(photo.photo.data))) == [LINK.format("DL01")]
    assert "东里一网格" in photo.caption
    [document] = documents(calls)
    assert document.document.data == photo.photo.data
    assert Image.open(io.BytesIO(document.document.data)).format == "PNG"


async def test_village_staff_choose_among_their_grids_only(harness):
    h = harness
    village = h.user(601, "en")
    calls = await h.send(village, "/qr")
    choices = {b[1] for b in last_buttons(calls, 601)}
    assert choices == {QrGridCb(code="DL01").pack(), QrGridCb(code="DL02").pack()}
    calls = await h.tap(village, QrGridCb(code="DL02"))
    assert decode_all(Image.open(io.BytesIO(photos(calls)[0].photo.data))) == [LINK.format("DL02")]
    # a forged button for another village's grid
    calls = await h.tap(village, QrGridCb(code="NZ01"))
    assert not photos(calls) and any(isinstance(c, AnswerCallbackQuery) and c.show_alert for c in calls)
    calls = await h.send(village, "/qr 南庄")
    assert "No grid in your area" in joined(calls, 601)


async def test_residents_have_no_qr_or_posters(harness):
    h = harness
    for command in ("/qr", "/posters"):
        calls = await h.send(h.user(1001, "en"), command)
        assert not photos(calls) and "did not understand" in joined(calls, 1001)
    calls = await h.send(h.user(WORKER_DL01, "en"), "/posters")
    assert not [c for c in calls if isinstance(c, SendDocument)]


async def test_admin_gets_posters_that_decode(harness):
    h = harness
    calls = await h.send(h.user(1, "en"), "/posters A6 东里村")
    [document] = [c for c in calls if isinstance(c, SendDocument)]
    pages = list(pdf_pages(document.document.data, dpi=100))
    assert len(pages) == 2
    assert [decode_all(page) for page in pages] == [[LINK.format("DL01")], [LINK.format("DL02")]]


async def test_a_name_no_font_can_print_is_told_in_words(harness):
    h = harness
    await h.db.upsert_grids([Grid("DL03", f"{EXT_B}家网格", "东里村", "西岗镇", None, None)])
    calls = await h.send(h.user(1, "en"), "/qr DL03")
    assert not photos(calls)
    assert f"{EXT_B}家网格 cannot be printed: no font has {EXT_B} (U+2A6A5)" in joined(calls, 1)
    # The others are printed; the answer names the one left out.
    calls = await h.send(h.user(1, "en"), "/posters 东里村")
    [document] = documents(calls)
    assert [decode_all(page) for page in pdf_pages(document.document.data, dpi=72)] == [
        [LINK.format("DL01")], [LINK.format("DL02")]]
    assert "1 posters were left out" in joined(calls, 1) and "U+2A6A5" in joined(calls, 1)


async def test_posters_none_can_print_or_an_unexpected_error_are_told_in_words(harness, monkeypatch):
    h = harness
    await h.db.upsert_grids([Grid("XX01", f"{EXT_B}家网格", f"{EXT_B}家村", "别的镇", None, None)])
    calls = await h.send(h.user(1, "en"), "/posters 别的镇")
    assert not documents(calls) and "U+2A6A5" in joined(calls, 1)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("bot.codes.write_posters", broken)
    calls = await h.send(h.user(1, "en"), "/posters")
    assert not documents(calls) and "Something went wrong while drawing" in joined(calls, 1)


@pytest.mark.parametrize("size, sheets", [("A5", 2), ("a6x4", 1), ("A6", 2)])
async def test_posters_paper_size_is_never_a_place(harness, size, sheets):
    h = harness
    calls = await h.send(h.user(1, "en"), f"/posters {size} 东里村")
    [document] = documents(calls)
    assert len(list(pdf_pages(document.document.data, dpi=50))) == sheets


async def test_posters_unknown_paper_size_is_refused(harness):
    h = harness
    calls = await h.send(h.user(1, "en"), "/posters A3")
    assert not documents(calls) and "A3 is not a paper size" in joined(calls, 1)
    # A place whose name begins like a paper size is a place.
    calls = await h.send(h.user(1, "en"), "/posters A1村")
    assert "No grids to print" in joined(calls, 1)


async def test_without_a_username_the_answer_is_clear(harness, tmp_path):
    h = harness
    h.dp["settings"] = h.settings.__class__(**{**h.settings.__dict__, "bot_username": None})
    calls = await h.send(h.user(WORKER_DL01, "en"), "/qr")
    assert "username is not known" in joined(calls, WORKER_DL01)


@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "cli.sqlite3"))
    monkeypatch.delenv("BOT_USERNAME", raising=False)
    grids = tmp_path / "grids.csv"
    grids.write_text(
        "code,name,village,town,lat,lon\n" + "".join(
            f"{g.code},{g.name},{g.village},{g.town},{g.lat},{g.lon}\n" for g in GRIDS
        ),
        encoding="utf-8",
    )
    assert main(["import", "grids", str(grids)]) == 0
    return tmp_path


def test_cli_qr_and_posters(cli_db, monkeypatch, capsys):
    out = cli_db / "dl01.png"
    assert main(["qr", "--grid", "DL01", "-o", str(out)]) == 2
    assert "BOT_USERNAME" in capsys.readouterr().err
    monkeypatch.setenv("BOT_USERNAME", "@grid_test_bot")
    assert main(["qr", "--grid", "DL01", "-o", str(out)]) == 0
    assert decode_all(Image.open(out)) == [LINK.format("DL01")]
    assert main(["qr", "--grid", "NOPE", "-o", str(out)]) == 1

    pdf = cli_db / "all.pdf"
    assert main(["posters", "-o", str(pdf)]) == 0  # no filter: every grid, one page each
    pages = list(pdf_pages(pdf.read_bytes(), dpi=72))
    assert [decode_all(p) for p in pages] == [[LINK.format(g.code)] for g in sorted(GRIDS, key=lambda g: (g.town, g.village, g.code))]
    assert main(["posters", "--village", "南庄村", "--size", "A6", "-o", str(pdf)]) == 0
    assert len(list(pdf_pages(pdf.read_bytes(), dpi=72))) == 1
    assert main(["posters", "--town", "nowhere", "-o", str(pdf)]) == 1
    assert os.path.exists(pdf)
    assert main(["posters", "--size", "a6x4", "-o", str(pdf)]) == 0
    assert len(list(pdf_pages(pdf.read_bytes(), dpi=72))) == 1


def test_cli_card_is_written_as_its_file_name_says(cli_db, monkeypatch, capsys):
    monkeypatch.setenv("BOT_USERNAME", "grid_test_bot")
    for name, image_format in [("dl01.jpg", "JPEG"), ("dl01.JPEG", "JPEG"), ("dl01.png", "PNG")]:
        assert main(["qr", "--grid", "DL01", "-o", str(cli_db / name)]) == 0
        card = Image.open(cli_db / name)
        assert card.format == image_format and decode_all(card) == [LINK.format("DL01")]
    assert main(["qr", "--grid", "DL01", "-o", str(cli_db / "dl01.gif")]) == 2
    assert "文件名须以 .png、.jpg 或 .jpeg 结尾" in capsys.readouterr().err  # in DEFAULT_LANGUAGE
    assert not (cli_db / "dl01.gif").exists()


def test_import_refuses_a_name_no_font_can_print_with_its_line_and_character(cli_db, monkeypatch, capsys, ext_b_font):
    grids = cli_db / "more.csv"
    grids.write_text(f"code,name,village,town\nDL08,东里八网格,东里村,西岗镇\nDL09,{EXT_B}家网格,东里村,西岗镇\n",
                     encoding="utf-8")
    assert main(["import", "grids", str(grids)]) == 1
    err = capsys.readouterr().err
    assert f"第 3 行：name '{EXT_B}家网格' 含有 {EXT_B} (U+2A6A5)，没有字体能打印" in err
    staff = cli_db / "staff.csv"
    staff.write_text(f"telegram_id,name,role,scope\n9001,王{EXT_B},grid_worker,DL01\n", encoding="utf-8")
    assert main(["import", "staff", str(staff)]) == 1
    assert "第 2 行：name" in capsys.readouterr().err
    # Names printed nowhere are not checked.
    staff.write_text(f"telegram_id,name,role,scope\n9001,王{EXT_B},village,东里村\n", encoding="utf-8")
    assert main(["import", "staff", str(staff)]) == 0

    # With a font that has it, the name is imported and printed.
    monkeypatch.setenv("FALLBACK_FONTS", str(ext_b_font))
    monkeypatch.setenv("BOT_USERNAME", "grid_test_bot")
    assert main(["import", "grids", str(grids)]) == 0
    pdf = cli_db / "dongli.pdf"
    assert main(["posters", "--village", "东里村", "--size", "A6x4", "-o", str(pdf)]) == 0
    assert f"{EXT_B}家网格" in pdf_texts(pdf.read_bytes())[0]


def test_cli_names_a_name_no_font_can_print_any_more(cli_db, monkeypatch, capsys, ext_b_font):
    monkeypatch.setenv("BOT_USERNAME", "grid_test_bot")
    monkeypatch.setenv("FALLBACK_FONTS", str(ext_b_font))
    grids = cli_db / "more.csv"
    grids.write_text(f"code,name,village,town,lat,lon\nDL09,{EXT_B}家网格,东里村,西岗镇,,\n", encoding="utf-8")
    assert main(["import", "grids", str(grids)]) == 0
    monkeypatch.delenv("FALLBACK_FONTS")  # the font is gone since
    assert main(["qr", "--grid", "DL09", "-o", str(cli_db / "x.png")]) == 2
    assert "U+2A6A5" in capsys.readouterr().err
    pdf = cli_db / "dongli.pdf"
    assert main(["posters", "--village", "东里村", "-o", str(pdf)]) == 1
    err = capsys.readouterr().err
    assert f"未生成 '{EXT_B}家网格'" in err and "U+2A6A5" in err
    assert len(list(pdf_pages(pdf.read_bytes(), dpi=72))) == 2


def test_cli_shop_and_site_cards_and_posters(cli_db, monkeypatch, capsys):
    monkeypatch.setenv("BOT_USERNAME", "grid_test_bot")
    shops = cli_db / "shops.csv"
    shops.write_text("code,name,grid,owner_telegram_id\nM001,东里便民超市,DL01,\nM002,南庄早餐店,NZ01,\n", encoding="utf-8")
    sites = cli_db / "sites.csv"
    sites.write_text("code,name,grid,kind\nS001,西岗农贸市场,DL01,facility\n", encoding="utf-8")
    assert main(["import", "shops", str(shops)]) == 0 and main(["import", "sites", str(sites)]) == 0
    shop_link, site_link = "https://t.me/grid_test_bot?start=m_{}", "https://t.me/grid_test_bot?start=s_{}"

    assert main(["qr", "--shop", "M002", "-o", str(cli_db / "m2.png")]) == 0
    assert decode_all(Image.open(cli_db / "m2.png")) == [shop_link.format("M002")]
    assert main(["qr", "--site", "S001", "-o", str(cli_db / "s1.jpg")]) == 0
    assert decode_all(Image.open(cli_db / "s1.jpg")) == [site_link.format("S001")]
    assert main(["qr", "--site", "NOPE", "-o", str(cli_db / "x.png")]) == 1
    assert "没有编码为 'NOPE' 的场所" in capsys.readouterr().err

    pdf = cli_db / "shops.pdf"
    assert main(["posters", "--shops", "--village", "东里村", "--size", "A5", "-o", str(pdf)]) == 0
    assert [decode_all(page) for page in pdf_pages(pdf.read_bytes(), dpi=72)] == [[shop_link.format("M001")]]
    assert main(["posters", "--sites", "-o", str(pdf)]) == 0
    assert [decode_all(page) for page in pdf_pages(pdf.read_bytes(), dpi=72)] == [[site_link.format("S001")]]
    assert main(["posters", "--sites", "--village", "南庄村", "-o", str(pdf)]) == 1
    assert "没有符合的场所" in capsys.readouterr().err


async def test_admin_gets_posters_of_shops_and_sites(harness):
    h = harness
    await h.db.upsert_shops([Shop("M001", "东里便民超市", "DL01"), Shop("M002", "南庄早餐店", "NZ01")])
    await h.db.upsert_sites([Site("S001", "西岗农贸市场", "DL02", SiteKind.FACILITY)])
    calls = await h.send(h.user(1, "en"), "/posters shops A6 南庄村")
    [document] = documents(calls)
    assert [decode_all(page) for page in pdf_pages(document.document.data, dpi=72)] == [
        ["https://t.me/grid_test_bot?start=m_M002"]]
    calls = await h.send(h.user(1, "en"), "/posters 场所")
    [document] = documents(calls)
    assert [decode_all(page) for page in pdf_pages(document.document.data, dpi=72)] == [
        ["https://t.me/grid_test_bot?start=s_S001"]]
    calls = await h.send(h.user(1, "en"), "/posters sites 南庄村")
    assert not documents(calls) and "No shops or sites to print" in joined(calls, 1)

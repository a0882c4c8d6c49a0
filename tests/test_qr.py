"""QR codes, cards and posters: every code decodes back to its exact link with a real decoder."""

from __future__ import annotations

import dataclasses
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pypdfium2
import pylopdf_fonts_zh_cn
import pytest
import zxingcpp
from PIL import Image, ImageFont

from qr import (
    PAGE_SIZES,
    CodeKind,
    FontNotFoundError,
    MissingGlyphsError,
    PosterSpec,
    deep_link,
    find_cjk_font,
    grid_link,
    parse_start_payload,
    render_grid_card,
    shop_link,
    supervision_link,
    write_posters,
)
from qr.fonts import load_font, missing_glyphs
from qr.layout import wrap_text

BOT = "xigang_service_bot"
HOW_TO = [
    "1. 用手机相机扫描二维码，打开 Telegram",
    "2. 点“开始”，选择问题类型，写下问题并附照片",
    "3. 网格员会尽快处理，并告诉您结果",
]
# Every Chinese text the tests draw; none may come out as tofu.
CHINESE_TEXTS = ["东风村第三网格", "西岗镇 东风村", "网格员：张三", "扫码反映问题", "码上西岗", *HOW_TO]
# A Tangut character: no CJK font for Chinese has it.
UNCOVERED_CHARACTER = "\U00017000"


def decode_all(image: Image.Image) -> list[str]:
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


def poster(link: str, title: str = "东风村第三网格") -> PosterSpec:
    return PosterSpec(
        link=link,
        title=title,
        lines=["西岗镇 东风村", "网格员：张三 13800000000"],
        caption="扫码反映问题",
        how_to=HOW_TO,
        bot_name=f"码上西岗 @{BOT}",
    )


def pdf_pages(pdf: bytes, dpi: int) -> Iterator[Image.Image]:
    """Each page of the PDF rasterised at `dpi`, as a printer or viewer would."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        for index in range(len(document)):
            yield document[index].render(scale=dpi / 72, grayscale=True).to_pil()
    finally:
        document.close()


# --- deep links ---


def test_links_of_each_kind():
    assert grid_link(BOT, "DF-03") == f"https://t.me/{BOT}?start=g_DF-03"
    assert shop_link(BOT, "shop_17") == f"https://t.me/{BOT}?start=m_shop_17"
    assert supervision_link(BOT, "market") == f"https://t.me/{BOT}?start=s_market"


@pytest.mark.parametrize("kind", list(CodeKind))
def test_start_payload_round_trips(kind: CodeKind):
    link = deep_link(BOT, kind, "A_b-9")
    payload = link.partition("?start=")[2]
    assert parse_start_payload(payload) == (kind, "A_b-9")


def test_start_payload_kinds_compare_as_strings():
    assert parse_start_payload("g_ABC") == ("grid", "ABC")
    assert parse_start_payload("m_X") == ("shop", "X")
    assert parse_start_payload("s_X") == ("supervision", "X")


@pytest.mark.parametrize(
    "payload",
    [None, "", "g", "g_", "gABC", "x_ABC", "G_ABC", "g_AB C", "g_ABC\n", "g_网格", "g_" + "A" * 61],
)
def test_malformed_start_payload_is_none(payload: str | None):
    assert parse_start_payload(payload) is None


@pytest.mark.parametrize(
    "username", ["", "abcd", "a" * 33, "1xigang_bot", "xigang-bot", "@xigang_bot", "xigang_bot\n"]
)
def test_bad_username_raises(username: str):
    with pytest.raises(ValueError, match="username"):
        grid_link(username, "DF-03")


@pytest.mark.parametrize("code", ["", "DF 03", "DF/03", "DF03\n", "网格3", "A" * 61])
def test_bad_code_raises(code: str):
    with pytest.raises(ValueError, match="code"):
        shop_link(BOT, code)


# --- fonts ---


def test_bundled_font_is_found_and_explicit_path_wins():
    assert find_cjk_font() == pylopdf_fonts_zh_cn.sans_path()
    serif = pylopdf_fonts_zh_cn.serif_path()
    assert find_cjk_font(str(serif)) == serif


def test_missing_font_file_says_to_set_font_path(tmp_path: Path):
    with pytest.raises(FontNotFoundError, match="FONT_PATH"):
        find_cjk_font(tmp_path / "nothing.ttf")


def test_file_that_is_no_font_is_refused(tmp_path: Path):
    not_a_font = tmp_path / "notes.ttf"
    not_a_font.write_text("not a font")
    with pytest.raises(FontNotFoundError, match="FONT_PATH"):
        find_cjk_font(not_a_font)


def test_font_without_chinese_is_refused(tmp_path: Path):
    # Pillow's built-in font covers Latin only; it is held in memory, so write it out.
    latin_only = tmp_path / "latin.ttf"
    latin_only.write_bytes(ImageFont.load_default(20).path.getvalue())
    with pytest.raises(FontNotFoundError, match="no Chinese glyphs"):
        find_cjk_font(latin_only)


def test_no_font_package_and_no_font_path_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pylopdf_fonts_zh_cn", None)  # import now fails
    with pytest.raises(FontNotFoundError, match="FONT_PATH"):
        find_cjk_font()


def test_chinese_glyphs_are_not_tofu():
    font_path = find_cjk_font()
    assert missing_glyphs(font_path, "".join(CHINESE_TEXTS)) == ""
    # Tofu boxes all look alike; real glyphs of different characters do not.
    font = load_font(font_path, 48)
    characters = set("".join(CHINESE_TEXTS)) - {" "}
    masks = {bytes(font.getmask(character)) for character in characters}
    assert len(masks) == len(characters)


def test_character_the_font_lacks_is_reported():
    assert missing_glyphs(find_cjk_font(), f"网格{UNCOVERED_CHARACTER}") == UNCOVERED_CHARACTER


# --- cards ---


@pytest.mark.parametrize("make_link", [grid_link, shop_link, supervision_link])
def test_card_decodes_to_the_exact_link(make_link):
    link = make_link(BOT, "XG-DongFeng_03")
    png = render_grid_card(link, "东风村第三网格", ["西岗镇 东风村", "网格员：张三"], "扫码反映问题")
    card = Image.open(io.BytesIO(png))
    assert card.format == "PNG"
    assert decode_all(card) == [link]


def test_longest_link_still_decodes():
    link = grid_link("b" * 32, "Z" * 60)
    png = render_grid_card(link, "很长的网格名称" * 6, ["西岗镇"] * 3, "扫码反映问题")
    assert decode_all(Image.open(io.BytesIO(png))) == [link]


def test_card_refuses_characters_the_font_lacks():
    with pytest.raises(MissingGlyphsError) as raised:
        render_grid_card(grid_link(BOT, "DF"), f"网格{UNCOVERED_CHARACTER}", [], "扫码反映问题")
    assert raised.value.characters == UNCOVERED_CHARACTER


def test_text_that_leaves_no_room_for_the_code_raises():
    crowded = dataclasses.replace(poster(grid_link(BOT, "DF")), how_to=HOW_TO * 20)
    with pytest.raises(ValueError, match="no room for the QR code"):
        write_posters(io.BytesIO(), [crowded])


# --- posters ---


@pytest.mark.parametrize("page_size", ["A4", "A6"])
def test_poster_pages_decode_from_the_pdf_at_a_quarter_size(page_size: str):
    links = [grid_link(BOT, f"XG-{number:03d}") for number in range(3)]
    pdf = io.BytesIO()
    # A generator: posters are drawn as the PDF is written.
    pages = write_posters(pdf, (poster(link, f"第{n}网格") for n, link in enumerate(links)), page_size)
    assert pages == 3

    size = PAGE_SIZES[page_size]
    decoded = []
    for page in pdf_pages(pdf.getvalue(), size.dpi):
        assert abs(page.width - size.pixels[0]) <= 1
        quarter = page.resize((page.width // 4, page.height // 4), Image.Resampling.LANCZOS)
        decoded += decode_all(quarter)
    assert decoded == links


def test_posters_encoded_by_worker_processes_keep_their_order(monkeypatch: pytest.MonkeyPatch):
    # Small batches, so that a few posters go through every path of the worker pipeline.
    monkeypatch.setattr("qr.posters._QR_BATCH", 4)
    links = [grid_link(BOT, f"W{number}") for number in range(14)]
    pdf = io.BytesIO()
    assert write_posters(pdf, (poster(link) for link in links), workers=2) == len(links)
    decoded = [text for page in pdf_pages(pdf.getvalue(), 75) for text in decode_all(page)]
    assert decoded == links


def test_poster_page_is_the_paper_size():
    pdf = io.BytesIO()
    write_posters(pdf, [poster(grid_link(BOT, "DF"))], "A4")
    page = pypdfium2.PdfDocument(pdf.getvalue())[0]
    width_pt, height_pt = page.get_size()
    assert width_pt / 72 * 25.4 == pytest.approx(210, abs=0.01)
    assert height_pt / 72 * 25.4 == pytest.approx(297, abs=0.01)


def test_lines_repeated_on_every_poster_are_stored_once():
    pdf = io.BytesIO()
    titles = [f"第{n}网格" for n in range(10)]
    write_posters(pdf, [poster(grid_link(BOT, f"G{n}"), title) for n, title in enumerate(titles)])
    # Shared: the bot's name, two detail lines, the caption and three how-to lines.
    assert pdf.getvalue().count(b"/ImageMask true") == 7 + len(titles)


def test_failed_posters_leave_no_file(tmp_path: Path):
    out = tmp_path / "posters.pdf"
    posters = [poster(grid_link(BOT, "A")), poster(grid_link(BOT, "B"), UNCOVERED_CHARACTER)]
    with pytest.raises(MissingGlyphsError):
        write_posters(out, posters)
    assert not out.exists()


def test_posters_to_a_path(tmp_path: Path):
    out = tmp_path / "posters.pdf"
    assert write_posters(out, [poster(grid_link(BOT, "A"))], "A6") == 1
    assert out.read_bytes().startswith(b"%PDF-")


def test_no_posters_unknown_page_size_or_no_workers_raise():
    with pytest.raises(ValueError, match="no posters"):
        write_posters(io.BytesIO(), [])
    with pytest.raises(ValueError, match="A4"):
        write_posters(io.BytesIO(), [poster(grid_link(BOT, "A"))], "Letter")
    with pytest.raises(ValueError, match="workers"):
        write_posters(io.BytesIO(), [poster(grid_link(BOT, "A"))], workers=0)


# --- wrapping ---


def test_long_lines_wrap_within_the_width():
    font = load_font(find_cjk_font(), 40)
    text = "网格员会尽快处理您反映的问题，并告诉您结果 Telegram supercalifragilisticexpialidocious"
    lines = wrap_text(text, font, 400)
    assert len(lines) > 1
    assert all(font.getlength(line) <= 400 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_line_breaks_in_texts_are_kept():
    font = load_font(find_cjk_font(), 24)
    assert wrap_text("1. 扫码\n2. 选择类别", font, 1000) == ["1. 扫码", "2. 选择类别"]

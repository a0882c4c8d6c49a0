"""QR codes, cards and posters: every code decodes back to its exact link with a real decoder, from
pages rendered as a printer would; text is text, and the code keeps its size in mm."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pypdfium2
import pylopdf_fonts_zh_cn
import pytest
import zxingcpp
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from PIL import Image, ImageFont

import qr.fonts
from qr import (
    PAGE_SIZES,
    CodeKind,
    FontNotFoundError,
    MissingGlyphsError,
    PosterSpec,
    deep_link,
    find_cjk_font,
    find_fonts,
    grid_link,
    parse_start_payload,
    render_card,
    shop_link,
    supervision_link,
    write_posters,
)

BOT = "xigang_service_bot"
HOW_TO = [
    "1. 用手机相机扫描二维码，打开 Telegram",
    "2. 点“开始”，选择问题类型，写下问题并附照片",
    "3. 网格员会尽快处理，并告诉您结果",
]
PRIVACY = "您的姓名只有在您同意时才让网格员看到。"
# A Tangut character: no font of the chain has it.
UNCOVERED = "\U00017000"
# CJK Extension B, in village and family names; no PyPI font package has it.
EXT_B = "𪚥"
# The longest texts a poster may get: names have no length limit.
LONG_TITLE = "东风村第三网格" + "很长的网格名称" * 30
LONG_LINK = grid_link("b" * 32, "Z" * 60)
# The code's side (without the quiet zone) may not go under this on each paper, in mm.
SMALLEST_CODE_MM = {"A4": 80, "A5": 56, "A6": 40, "A6x4": 40}


@pytest.fixture(autouse=True)
def no_system_fonts(monkeypatch: pytest.MonkeyPatch):
    """The tests see the same fonts on every machine: none that a Debian package installed."""
    monkeypatch.setattr(qr.fonts, "SYSTEM_FALLBACKS", ())


@pytest.fixture(scope="session")
def ext_b_font(tmp_path_factory) -> Path:
    """A font with one glyph, for 𪚥: stands in for a Extension B font such as HanaMin B."""
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder([".notdef", "zhe"])
    builder.setupCharacterMap({ord(EXT_B): "zhe"})
    pen = TTGlyphPen(None)
    for left, bottom, right, top in [(100, 0, 900, 100), (100, 700, 900, 800), (450, 0, 550, 800)]:
        pen.moveTo((left, bottom))
        pen.lineTo((left, top))
        pen.lineTo((right, top))
        pen.lineTo((right, bottom))
        pen.closePath()
    builder.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "zhe": pen.glyph()})
    builder.setupHorizontalMetrics({".notdef": (1000, 0), "zhe": (1000, 100)})
    builder.setupHorizontalHeader(ascent=880, descent=-120)
    builder.setupNameTable({"familyName": "ExtB Test", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=880, usWinAscent=880, usWinDescent=120)
    builder.setupPost()
    path = tmp_path_factory.mktemp("fonts") / "extb.ttf"
    builder.save(str(path))
    return path


def decode_all(image: Image.Image) -> list[str]:
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


def poster(link: str, title: str = "东风村第三网格", **texts) -> PosterSpec:
    values = dict(
        heading="西岗镇 · 网格化服务",
        lines=["东风村 · 西岗镇", "网格员：张三 13800000000"],
        caption="扫码反映问题",
        how_to=HOW_TO,
        hotline="服务热线：0632-1234567",
        privacy=PRIVACY,
    )
    values.update(texts)
    return PosterSpec(link=link, title=title, **values)


def pdf_pages(pdf: bytes, dpi: int) -> Iterator[Image.Image]:
    """Each page of the PDF rasterised at `dpi`, as a printer or viewer would."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        for index in range(len(document)):
            yield document[index].render(scale=dpi / 72, grayscale=True).to_pil()
    finally:
        document.close()


def pdf_texts(pdf: bytes) -> list[str]:
    """The text of each page, as a viewer's search or copy finds it."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [document[index].get_textpage().get_text_range() for index in range(len(document))]
    finally:
        document.close()


def codes_with_sides(page: Image.Image, dpi: int) -> list[tuple[str, float]]:
    """Each code on a page, in reading order, with its side in mm (the symbol, no quiet zone)."""
    found = []
    for barcode in zxingcpp.read_barcodes(page):
        corners = barcode.position
        side_px = ((corners.top_right.x - corners.top_left.x) + (corners.bottom_left.y - corners.top_left.y)) / 2
        found.append(((corners.top_left.y // 50, corners.top_left.x), barcode.text, side_px / dpi * 25.4))
    return [(text, side) for _, text, side in sorted(found)]


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
    assert find_fonts(serif).paths[:2] == (serif, pylopdf_fonts_zh_cn.sans_path())


def test_missing_font_file_says_so(tmp_path: Path):
    with pytest.raises(FontNotFoundError, match="FONT_PATH"):
        find_cjk_font(tmp_path / "nothing.ttf")
    with pytest.raises(FontNotFoundError, match="FALLBACK_FONTS"):
        find_fonts(None, [tmp_path / "nothing.ttf"])


def test_file_that_is_no_font_is_refused(tmp_path: Path):
    not_a_font = tmp_path / "notes.ttf"
    not_a_font.write_text("not a font")
    with pytest.raises(FontNotFoundError, match="cannot be read"):
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


def test_emoji_and_symbols_have_a_fallback_and_extension_b_needs_one(ext_b_font: Path):
    fonts = find_fonts()
    assert fonts.missing("网格😡☎✅Ⅻ") == ""
    assert fonts.font_for("😡") != fonts.primary
    assert fonts.missing(f"王{EXT_B}村{UNCOVERED}{EXT_B}") == EXT_B + UNCOVERED
    assert find_fonts(None, [ext_b_font]).missing(f"王{EXT_B}村{UNCOVERED}") == UNCOVERED


def test_missing_character_is_named_with_its_code_point():
    with pytest.raises(MissingGlyphsError) as raised:
        find_fonts().require(["东风村", f"{EXT_B}家村"])
    assert raised.value.characters == EXT_B
    assert raised.value.text == f"{EXT_B}家村"
    assert "U+2A6A5" in str(raised.value) and "fonts-hanazono" in str(raised.value)


# --- cards ---


@pytest.mark.parametrize("make_link", [grid_link, shop_link, supervision_link])
def test_card_decodes_to_the_exact_link(make_link):
    link = make_link(BOT, "XG-DongFeng_03")
    card = Image.open(io.BytesIO(render_card(poster(link))))
    assert card.format == "PNG"
    assert decode_all(card) == [link]


def test_card_as_jpeg_is_jpeg():
    link = grid_link(BOT, "DF")
    card = Image.open(io.BytesIO(render_card(poster(link), image_format="JPEG")))
    assert card.format == "JPEG"
    assert decode_all(card) == [link]


def test_card_with_the_longest_texts_still_decodes():
    card = Image.open(io.BytesIO(render_card(poster(LONG_LINK, LONG_TITLE, lines=["西岗镇" * 40] * 3))))
    assert decode_all(card) == [LONG_LINK]


def test_card_refuses_characters_no_font_has():
    with pytest.raises(MissingGlyphsError) as raised:
        render_card(poster(grid_link(BOT, "DF"), f"网格{UNCOVERED}"))
    assert raised.value.characters == UNCOVERED


# --- posters ---


@pytest.mark.parametrize("page_size", ["A4", "A5", "A6", "A6x4"])
def test_every_code_decodes_at_its_size_with_the_longest_names(page_size: str, ext_b_font: Path):
    titles = ["东风村第一网格", LONG_TITLE, f"{EXT_B}家村😀网格", "第四网格", "第五网格"]
    links = [grid_link(BOT, f"XG-{number:03d}") for number in range(len(titles) - 1)] + [LONG_LINK]
    specs = [
        poster(link, title, lines=[f"{EXT_B}家村 · 西岗镇", "网格员：" + "、".join(["欧阳建国"] * 15)])
        for link, title in zip(links, titles)
    ]
    pdf = io.BytesIO()
    # A generator: posters are drawn one by one.
    report = write_posters(pdf, (spec for spec in specs), page_size, fallback_fonts=[ext_b_font])
    assert (report.written, report.refused) == (len(specs), [])

    size = PAGE_SIZES[page_size]
    pages = list(pdf_pages(pdf.getvalue(), dpi=100))
    assert len(pages) == -(-len(specs) // size.per_sheet)
    found = [code for page in pages for code in codes_with_sides(page, dpi=100)]
    assert [text for text, _ in found] == links
    assert all(side >= SMALLEST_CODE_MM[page_size] for _, side in found), found
    texts = "".join(pdf_texts(pdf.getvalue()))
    for expected in ["东风村第一网格", f"{EXT_B}家村😀网格", "https://t.me/", "0632-1234567", PRIVACY, "西岗镇 · 网格化服务"]:
        assert expected in texts.replace("\r\n", "")


def test_longest_title_wraps_shrinks_and_is_cut_but_the_code_keeps_its_size():
    pdf = io.BytesIO()
    write_posters(pdf, [poster(LONG_LINK, LONG_TITLE * 3)], "A6")
    [page] = pdf_pages(pdf.getvalue(), dpi=150)
    [(text, side)] = codes_with_sides(page, dpi=150)
    assert text == LONG_LINK and side >= 40
    [page_text] = pdf_texts(pdf.getvalue())
    assert "东风村第三网格很长" in page_text and "…" in page_text


def test_fonts_are_embedded_subsets_and_the_file_is_small():
    pdf = io.BytesIO()
    write_posters(pdf, [poster(grid_link(BOT, f"G{n}"), f"第{n}网格 😀") for n in range(20)])
    data = pdf.getvalue()
    # Subset fonts are named with a six-letter tag: "/FontName /ABCDEF+NotoSansSC".
    assert data.count(b"/FontFile") == 2  # Noto Sans SC and Noto Emoji, each once
    assert b"+NotoSansSC" in data
    assert b"/Subtype /Image" not in data  # no raster at all
    assert len(data) < 150_000


def test_four_up_sheet_has_cut_marks_between_the_posters():
    pdf = io.BytesIO()
    write_posters(pdf, [poster(grid_link(BOT, f"G{n}")) for n in range(4)], "A6x4")
    [sheet] = pdf_pages(pdf.getvalue(), dpi=100)
    px = 100 / 25.4
    # On the cut lines in the sheet's margins, and nowhere else near them.
    assert sheet.getpixel((round(105 * px), round(2 * px))) < 128
    assert sheet.getpixel((round(2 * px), round(148.5 * px))) < 128
    assert sheet.getpixel((round(105 * px), round(148.5 * px))) < 128
    assert sheet.getpixel((round(60 * px), round(2 * px))) > 128


def test_page_is_the_paper_size():
    for name, (width_mm, height_mm) in [("A4", (210, 297)), ("A5", (148, 210)), ("A6", (105, 148.5)), ("A6x4", (210, 297))]:
        pdf = io.BytesIO()
        write_posters(pdf, [poster(grid_link(BOT, "DF"))], name)
        page = pypdfium2.PdfDocument(pdf.getvalue())[0]
        width_pt, height_pt = page.get_size()
        assert width_pt / 72 * 25.4 == pytest.approx(width_mm, abs=0.01)
        assert height_pt / 72 * 25.4 == pytest.approx(height_mm, abs=0.01)


def test_poster_no_font_can_print_is_left_out_and_the_others_are_written():
    specs = [poster(grid_link(BOT, "A")), poster(grid_link(BOT, "B"), f"{EXT_B}家村"), poster(grid_link(BOT, "C"))]
    pdf = io.BytesIO()
    report = write_posters(pdf, specs)
    assert report.written == 2
    [refused] = report.refused
    assert refused.spec is specs[1] and refused.error.characters == EXT_B
    assert [decode_all(page) for page in pdf_pages(pdf.getvalue(), dpi=72)] == [[grid_link(BOT, "A")], [grid_link(BOT, "C")]]


def test_when_no_poster_can_be_printed_no_file_is_left(tmp_path: Path):
    out = tmp_path / "posters.pdf"
    with pytest.raises(MissingGlyphsError):
        write_posters(out, [poster(grid_link(BOT, "B"), UNCOVERED)])
    assert list(tmp_path.iterdir()) == []


def test_posters_to_a_path(tmp_path: Path):
    out = tmp_path / "posters.pdf"
    assert write_posters(out, [poster(grid_link(BOT, "A"))], "A6").written == 1
    assert out.read_bytes().startswith(b"%PDF-")
    assert list(tmp_path.iterdir()) == [out]


def test_no_posters_or_unknown_page_size_raise():
    with pytest.raises(ValueError, match="no posters"):
        write_posters(io.BytesIO(), [])
    with pytest.raises(ValueError, match="A4"):
        write_posters(io.BytesIO(), [poster(grid_link(BOT, "A"))], "Letter")


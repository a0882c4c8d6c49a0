"""/stats in the chat, its chart and exports, the Monday digest, and `gridbot stats`."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl
from aiogram import Bot
from aiogram.methods import AnswerCallbackQuery, SendDocument, SendMessage, SendPhoto
from PIL import Image

from bot.__main__ import main
from domain.models import Grid
from domain.stats import Week
from handlers.callbacks import StatsCb, StaffTicketCb
from tests.conftest import START, WORKER_DL01, last_buttons, to_chat
from tests.test_ticket_loop import file_ticket

OFFICIAL = 701  # official of 西岗镇
LAST_WEEK = "2025-W46"  # the last full week at START (Saturday 2025-11-22)


async def tickets_last_week(h):
    """Two tickets filed in 2025-W46; one of them resolved by the worker."""
    h.clock.now = START - 7 * 24 * 3600
    await file_ticket(h, h.user(1001))
    await file_ticket(h, h.user(1002), grid="NZ01", category="roads")
    ticket = (await h.db.resident_tickets(1001))[0]
    worker = h.user(WORKER_DL01)
    await h.tap(worker, StaffTicketCb(action="resolve", ticket_id=ticket.id))
    await h.send(worker, "修好了")
    await h.send(worker, "✅ 完成")
    h.clock.now = START
    return ticket


async def test_official_reads_last_full_week_and_narrows_it(harness):
    h = harness
    ticket = await tickets_last_week(h)
    official = h.user(OFFICIAL)
    calls = await h.send(official, "/stats")
    report = [c for c in to_chat(calls, OFFICIAL) if isinstance(c, SendMessage)][-1]
    assert LAST_WEEK in report.text and "西岗镇" in report.text
    assert "受理：2 件" in report.text and "办结率：50.0%" in report.text
    assert "满意率：暂无评价" in report.text  # nothing rated: no division by zero
    labels = dict(last_buttons(calls, OFFICIAL))
    data = set(labels.values())
    assert labels["◀ 2025-W45"] == StatsCb(period="2025-W45", level="town", name="西岗镇", action="show").pack()
    assert not [text for text in labels if "▶" in text]  # 2025-W47 is not over: only "so far", marked
    assert labels["⏳ 2025-W47 截至目前"] == StatsCb(period="2025-W47", level="town", name="西岗镇", action="show").pack()
    village = StatsCb(period=LAST_WEEK, level="village", name="东里村", action="show")
    assert village.pack() in data

    calls = await h.tap(official, village)
    report = [c for c in to_chat(calls, OFFICIAL) if isinstance(c, SendMessage)][-1]
    assert "东里村" in report.text and "受理：1 件" in report.text and "办结率：100.0%" in report.text

    calls = await h.tap(official, StatsCb(period=LAST_WEEK, level="town", name="西岗镇", action="csv"))
    [document] = [c for c in calls if isinstance(c, SendDocument)]
    csv_text = document.document.data.decode("utf-8")
    assert csv_text.startswith("\ufeff工单编号") and "XG-{:06d}".format(ticket.id) in csv_text

    calls = await h.tap(official, StatsCb(period=LAST_WEEK, level="town", name="西岗镇", action="xlsx"))
    [document] = [c for c in calls if isinstance(c, SendDocument)]
    sheet = openpyxl.load_workbook(io.BytesIO(document.document.data))["工单明细"]
    assert sheet.max_row == 3 and sheet.cell(1, 1).value == "工单编号"

    calls = await h.tap(official, StatsCb(period=LAST_WEEK, level="town", name="西岗镇", action="chart"))
    [photo] = [c for c in calls if isinstance(c, SendPhoto)]
    image = Image.open(io.BytesIO(photo.photo.data))
    assert image.format == "PNG" and image.width >= 800


async def test_scope_and_week_are_checked_on_every_tap(harness):
    h = harness
    official = h.user(OFFICIAL, "en")
    for forged in (
        StatsCb(period=LAST_WEEK, level="town", name="其他镇", action="csv"),
        StatsCb(period=LAST_WEEK, level="all", name="", action="show"),
        StatsCb(period="2025-W48", level="town", name="西岗镇", action="show"),
        "stats:bogus:town:西岗镇:show",  # a period the bot never packs (StatsCb refuses to build it)
    ):
        calls = await h.tap(official, forged)
        assert [c for c in calls if isinstance(c, AnswerCallbackQuery) and c.show_alert], forged
        assert not [c for c in calls if isinstance(c, (SendDocument, SendMessage))]
    for user_id in (1001, WORKER_DL01):
        calls = await h.send(h.user(user_id, "en"), "/stats")
        assert "did not understand" in " ".join(c.text for c in calls if isinstance(c, SendMessage))
    calls = await h.send(official, "/stats 2025-W99")
    assert "no such week" in to_chat(calls, OFFICIAL)[-1].text
    calls = await h.send(official, "/stats 2025-W45")
    assert "2025-W45" in to_chat(calls, OFFICIAL)[-1].text and "no ratings" in to_chat(calls, OFFICIAL)[-1].text


def test_cli_prints_the_same_figures(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "demo.sqlite3"))
    assert main(["demo"]) == 0
    week = str(Week.containing(int(datetime.now().timestamp()), __import__("zoneinfo").ZoneInfo("Asia/Shanghai")).previous())
    capsys.readouterr()
    assert main(["stats", "--week", week, "--village", "东里村", "--csv", str(tmp_path / "w.csv")]) == 0
    out = capsys.readouterr().out
    assert week in out and "东里村" in out and "办结率" in out
    assert (tmp_path / "w.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert main(["stats", "--week", "2026-W99"]) == 2


async def test_report_lists_the_lowest_rated_shops(harness):
    h = harness
    from domain.shops import Shop, ShopRating

    await h.db.upsert_shops([Shop("M1", "好味面馆", "DL01"), Shop("M2", "便民超市", "NZ01"), Shop("M3", "小卖部", "DL02")])
    week_start = START - 7 * 24 * 3600
    for resident in range(3):
        for code, stars in (("M1", 2), ("M2", 5)):
            await h.db.save_shop_rating(
                ShopRating(code, 2000 + resident, "2025-11-1{}".format(resident), stars, stars, stars, week_start)
            )
    await h.db.save_shop_rating(ShopRating("M3", 2000, "2025-11-10", 1, 1, 1, week_start))  # too few to rank
    calls = await h.send(h.user(OFFICIAL), "/stats")
    report = [c for c in to_chat(calls, OFFICIAL) if isinstance(c, SendMessage)][-1].text
    assert "评分最低的商户" in report
    assert report.index("好味面馆：2.0 分") < report.index("便民超市：5.0 分")
    assert "小卖部" not in report


# -- crashes of issue 10 -----------------------------------------------------------------------------
ADMIN = 1  # in ADMIN_IDS: sees every town, so only the button's own validity stops a forged one


def uploadable(document: SendDocument | SendPhoto) -> None:
    """Build the multipart form the real session sends: aiohttp refuses a file name that could
    inject a header (the fake session sends nothing over HTTP, so it would not notice)."""
    from aiogram.client.session.aiohttp import AiohttpSession

    bot = Bot("42:TEST_TOKEN_THAT_IS_LONG_ENOUGH_123456", session=AiohttpSession())
    bot.session.build_form_data(bot, document)


async def test_a_grid_name_with_dollar_signs_is_drawn_literally(harness):
    h = harness
    await h.db.upsert_grids([Grid("DL01", "网格$\\alpha_{$", "东里村", "西岗镇")])
    await tickets_last_week(h)
    calls = await h.tap(h.user(OFFICIAL), StatsCb(period=LAST_WEEK, level="town", name="西岗镇", action="chart"))
    [photo] = [c for c in calls if isinstance(c, SendPhoto)]
    uploadable(photo)


async def test_forged_stats_buttons_are_refused_without_a_traceback(harness):
    h = harness
    await tickets_last_week(h)
    admin = h.user(ADMIN, "en")
    for forged in (
        # as raw data: StatsCb refuses to build these
        "stats:" + LAST_WEEK + ":town:西岗镇\r\nX-Injected 1:csv",
        "stats:" + LAST_WEEK + ":village:东里村\n:xlsx",
        StatsCb(period=LAST_WEEK, level="grid", name="NOPE", action="chart"),
        # over-long fields, as raw data (Telegram's limit is 64 bytes, so no longer than that)
        "stats:" + LAST_WEEK + "x" * 30 + ":town:西岗镇:show",
        "stats:" + LAST_WEEK + ":" + "town" * 8 + ":西岗镇:show",
        "stats:" + LAST_WEEK + ":town:西岗镇:" + "csv" * 10,
        "stats:" + LAST_WEEK + ":town:" + "西" * 14 + ":csv",
    ):
        calls = await h.tap(admin, forged)
        alerts = [c for c in calls if isinstance(c, AnswerCallbackQuery) and c.show_alert]
        assert alerts and "not valid" in alerts[0].text, forged
        assert not [c for c in calls if isinstance(c, (SendDocument, SendMessage, SendPhoto))], forged


async def test_periods_out_of_range_get_an_answer_not_a_traceback(harness):
    h = harness
    official = h.user(OFFICIAL, "en")
    for text, answer in (
        ("/stats 0001-W01", "years 2000 to 2099"),
        ("/stats 9999-W52", "years 2000 to 2099"),
        ("/stats 0000-W01", "years 2000 to 2099"),
        ("/stats 2026-13", "no such week, month"),
        ("/stats 2026-Q5", "no such week, month"),
        ("/stats 2026-02-30..2026-03-02", "no such week, month"),
        ("/stats 2026-11-15..2026-11-01", "ends before it starts"),
        ("/stats 2024-01-01..2025-12-31", "at most 366 days"),
        ("/stats last week", "like 2026-W47"),
        ("/stats 2025-W48", "has not started yet"),
        ("/stats 2026-01", "has not started yet"),
        ("/stats 2025-11-20..2025-11-30", "So far, as of 2025-11-22"),  # under way: so far, marked
    ):
        calls = await h.send(official, text)
        [message] = to_chat(calls, OFFICIAL)
        assert isinstance(message, SendMessage) and answer in message.text, text
    # the first week there is: a report, and no button to a week before it
    calls = await h.send(official, "/stats 2000-W01")
    [report] = to_chat(calls, OFFICIAL)
    assert "2000-W01" in report.text
    assert not [text for text, _ in last_buttons(calls, OFFICIAL) if text.startswith("◀")]
    for forged in ("1999-W52", "0001-W01", "9999-W52"):
        calls = await h.tap(official, StatsCb(period=forged, level="town", name="西岗镇", action="show"))
        assert [c for c in calls if isinstance(c, AnswerCallbackQuery) and c.show_alert], forged
        assert not [c for c in calls if isinstance(c, SendMessage)], forged


async def test_months_quarters_and_ranges_with_their_buttons(harness):
    h = harness
    await tickets_last_week(h)  # 2025-W46: 10 to 16 November
    official = h.user(OFFICIAL)

    calls = await h.send(official, "/stats 2025-11-10..2025-11-16")
    [report] = to_chat(calls, OFFICIAL)
    assert "2025-11-10..2025-11-16" in report.text and "受理：2 件" in report.text
    labels = {text: data for text, data in last_buttons(calls, OFFICIAL)}
    # a range moves by its own length
    assert labels["◀ 2025-11-03..2025-11-09"] == StatsCb(
        period="2025-11-03..2025-11-09", level="town", name="西岗镇", action="show").pack()
    assert "2025-11-17..2025-11-23 ▶" not in labels  # not over at START (Saturday 22 November)

    calls = await h.send(official, "/stats 2025-10")
    [report] = to_chat(calls, OFFICIAL)
    assert "2025-10（10-01 – 10-31）" in report.text and "受理：0 件" in report.text
    labels = {text: data for text, data in last_buttons(calls, OFFICIAL)}
    assert "◀ 2025-09" in labels and "2025-11 ▶" not in labels
    # the other kinds: their last full period
    assert labels["周"] == StatsCb(period=LAST_WEEK, level="town", name="西岗镇", action="show").pack()
    assert labels["季度"] == StatsCb(period="2025-Q3", level="town", name="西岗镇", action="show").pack()
    assert "月" not in labels

    calls = await h.tap(official, StatsCb(period="2025-09", level="town", name="西岗镇", action="show"))
    [report] = [c for c in to_chat(calls, OFFICIAL) if isinstance(c, SendMessage)]
    labels = {text for text, _ in last_buttons(calls, OFFICIAL)}
    assert "2025-09（09-01 – 09-30）" in report.text and {"◀ 2025-08", "2025-10 ▶"} <= labels

    calls = await h.send(official, "/stats 2025-q3")
    [report] = to_chat(calls, OFFICIAL)
    assert "2025-Q3（07-01 – 09-30）" in report.text
    calls = await h.tap(official, StatsCb(period="2025-11-10..2025-11-16", level="town", name="西岗镇", action="csv"))
    [document] = [c for c in calls if isinstance(c, SendDocument)]
    uploadable(document)
    assert document.document.filename == "stats_2025-11-10_2025-11-16_西岗镇.csv"
    assert document.document.data.decode("utf-8-sig").count("\nXG-") == 2


async def test_the_current_period_so_far_is_marked_not_final(harness):
    h = harness
    await tickets_last_week(h)
    official = h.user(OFFICIAL, "en")
    await file_ticket(h, h.user(1003))  # this week, at START (Saturday 22 November)
    h.clock.advance(60)
    so_far = StatsCb(period="2025-W47", level="town", name="西岗镇", action="show")
    calls = await h.tap(official, so_far)
    [report] = [c for c in to_chat(calls, OFFICIAL) if isinstance(c, SendMessage)]
    assert "2025-W47" in report.text and "So far, as of 2025-11-22" in report.text and "not over" in report.text
    labels = dict(last_buttons(calls, OFFICIAL))
    assert "◀ 2025-W46" in labels and not [text for text in labels if "so far" in text]
    calls = await h.tap(official, StatsCb(period="2025-W47", level="town", name="西岗镇", action="xlsx"))
    [document] = [c for c in calls if isinstance(c, SendDocument)]
    assert "1 tickets received in 2025-W47" in document.caption and "not over" in document.caption
    summary = openpyxl.load_workbook(io.BytesIO(document.document.data))["Summary"]
    assert "so far, as of 2025-11-22" in summary["B4"].value
    # a month so far
    calls = await h.send(official, "/stats 2025-11")
    assert "So far, as of 2025-11-22" in to_chat(calls, OFFICIAL)[-1].text


async def test_the_legend_says_what_each_figure_counts(harness):
    h = harness
    calls = await h.send(h.user(OFFICIAL), "/stats")
    legend = dict(last_buttons(calls, OFFICIAL))["ℹ️"]
    assert legend == StatsCb(period=LAST_WEEK, level="town", name="西岗镇", action="legend").pack()
    calls = await h.tap(h.user(OFFICIAL), legend)
    [text] = [c.text for c in to_chat(calls, OFFICIAL) if isinstance(c, SendMessage)]
    assert "响应率" in text and "满意率" in text and "一次办结率" in text


async def test_the_chart_has_a_caption_in_the_viewers_language(harness):
    h = harness
    await tickets_last_week(h)
    for language, words in (("zh", "近 12 周"), ("en", "the last 12 weeks")):
        calls = await h.tap(h.user(OFFICIAL, language),
                            StatsCb(period="2025-11-10..2025-11-16", level="town", name="西岗镇", action="chart"))
        [photo] = [c for c in calls if isinstance(c, SendPhoto)]
        uploadable(photo)
        assert "2025-11-10..2025-11-16" in photo.caption and words in photo.caption
        assert Image.open(io.BytesIO(photo.photo.data)).size == (1200, 1500)

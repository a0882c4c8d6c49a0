"""Shop codes (m_, 经营码) and supervision codes (s_, 监管码), through the real dispatcher: rating a
shop, owners' /myshop, inspections with photos, forged buttons, unknown codes, both languages, CSV
imports, printed codes that decode, the officials' lowest-rated shops and the migration."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from zoneinfo import ZoneInfo

import pytest
from aiogram.methods import AnswerCallbackQuery, SendMediaGroup, SendPhoto
from PIL import Image

from bot.__main__ import main
from bot.commands import commands_for
from bot.i18n import create_i18n
from bot.texts import format_time
from domain.models import Grid, Role, RoleGrant, StaffMember
from domain.shops import Shop, ShopRating, Site, SiteKind, lowest_rated_shops, rank_lowest, rating_day
from domain.stats import Scope, ScopeLevel, Week
from handlers.callbacks import InspectionCb, ShopRateCb, ShopRatingsCb, ShopScoreCb, SiteInspectCb
from storage.sqlite import SqliteStorage, migrations
from tests.conftest import START, joined, last_buttons
from tests.test_qr import decode_all

TZ = ZoneInfo("Asia/Shanghai")
RESIDENT = 1001
OTHER_RESIDENT = 1002
OWNER = 1101  # owner by the import's owner column
MANAGER = 1102  # owner by the role shop_owner
INSPECTOR = 1201  # of 西岗镇
FAR_INSPECTOR = 1202  # of another town
ADMIN = 1  # ADMIN_IDS in the test settings
SHOP = Shop("M001", "东里便民超市", "DL01", OWNER)
OTHER_SHOP = Shop("M002", "南庄早餐店", "NZ01")
SITE = Site("S001", "西岗农贸市场", "DL01", SiteKind.FACILITY)
DAY = 24 * 3600


@pytest.fixture
async def h(harness):
    await harness.db.upsert_shops([SHOP, OTHER_SHOP])
    await harness.db.upsert_sites([SITE])
    await harness.db.upsert_staff([
        StaffMember(MANAGER, "店长", Role.SHOP_OWNER, SHOP.code),
        StaffMember(INSPECTOR, "张监管", Role.INSPECTOR, "西岗镇"),
        StaffMember(FAR_INSPECTOR, "李监管", Role.INSPECTOR, "东风镇"),
    ])
    return harness


def alerted(calls) -> bool:
    return any(isinstance(c, AnswerCallbackQuery) and c.show_alert for c in calls)


def callback_data(calls, chat_id) -> set[str | None]:
    return {data for _text, data in last_buttons(calls, chat_id)}


async def rate(h, user, scores=(4, 3, 5), comment: str | None = None, shop=SHOP.code):
    await h.send(user, f"/start m_{shop}")
    await h.tap(user, ShopRateCb(code=shop))
    calls = []
    for step, stars in enumerate(scores):
        calls = await h.tap(user, ShopScoreCb(step=step, stars=stars))
    if comment is not None:
        calls = await h.send(user, comment)
    return calls


# -- shops ------------------------------------------------------------------------------------------
async def test_resident_scans_a_shop_code_and_rates_it(h):
    resident = h.user(RESIDENT, "en")
    calls = await h.send(resident, "/start m_M001")
    card = joined(calls, RESIDENT)
    assert "东里便民超市" in card and "东里一网格" in card and "no ratings yet" in card
    assert last_buttons(calls, RESIDENT) == [("⭐ Rate this shop", ShopRateCb(code="M001").pack())]

    calls = await h.tap(resident, ShopRateCb(code="M001"))
    assert "How clean is 东里便民超市" in joined(calls, RESIDENT)
    assert callback_data(calls, RESIDENT) == {ShopScoreCb(step=0, stars=n).pack() for n in range(1, 6)}
    calls = await h.tap(resident, ShopScoreCb(step=0, stars=4))
    assert "How orderly" in joined(calls, RESIDENT)
    await h.tap(resident, ShopScoreCb(step=1, stars=3))
    calls = await h.tap(resident, ShopScoreCb(step=2, stars=5))
    assert "Thank you for rating 东里便民超市" in joined(calls, RESIDENT) and "/skip" in joined(calls, RESIDENT)
    # stored at once, before the optional comment
    score = await h.db.shop_score("M001", 0, START + 1)
    assert (score.ratings, score.cleanliness, score.order, score.service) == (1, 4, 3, 5)

    calls = await h.send(resident, "Clean, but the aisle is blocked")
    assert "comment was passed on" in joined(calls, RESIDENT)
    [comment] = await h.db.shop_comments("M001")
    assert comment.comment == "Clean, but the aisle is blocked" and comment.day == rating_day(START, TZ)

    # The same day again replaces the rating (and says so); the next day counts as another one.
    h.clock.advance(3600)
    calls = await rate(h, resident, (1, 1, 1))
    assert "replaces your earlier rating" in joined(calls, RESIDENT)
    await h.send(resident, "/skip")
    score = await h.db.shop_score("M001", 0, h.clock.now + 1)
    assert (score.ratings, score.cleanliness) == (1, 1)
    assert await h.db.shop_comments("M001") == []  # the new rating of the day has no comment
    h.clock.advance(DAY)
    calls = await rate(h, resident, (5, 5, 5))
    assert "replaces" not in joined(calls, RESIDENT)
    assert (await h.db.shop_score("M001", 0, h.clock.now + 1)).ratings == 2


async def test_rating_in_chinese(h):
    resident = h.user(RESIDENT, "zh")
    calls = await h.send(resident, "/start m_M001")
    assert "商户" in joined(calls, RESIDENT)
    assert last_buttons(calls, RESIDENT)[0][0] == "⭐ 评价这家商户"
    calls = await rate(h, resident, (2, 3, 4))
    assert "感谢您对东里便民超市的评价" in joined(calls, RESIDENT)
    calls = await h.send(resident, "/skip")
    assert "谢谢" in joined(calls, RESIDENT)


async def test_forged_and_stale_rating_buttons(h):
    resident = h.user(RESIDENT, "en")
    # a score without a form, a rating of a shop that does not exist
    assert alerted(await h.tap(resident, ShopScoreCb(step=0, stars=5)))
    calls = await h.tap(resident, ShopRateCb(code="NOPE"))
    assert alerted(calls) and "no longer exists" in joined(calls, RESIDENT)
    await h.tap(resident, ShopRateCb(code="M001"))
    # skipping a question, answering an old one, or six stars: refused, nothing stored
    assert alerted(await h.tap(resident, ShopScoreCb(step=2, stars=5)))
    assert alerted(await h.tap(resident, ShopScoreCb(step=0, stars=6)))
    await h.tap(resident, ShopScoreCb(step=0, stars=2))
    assert alerted(await h.tap(resident, ShopScoreCb(step=0, stars=2)))
    calls = await h.send(resident, "five stars")
    assert "choose with the buttons" in joined(calls, RESIDENT)
    assert (await h.db.shop_score("M001", 0, START + 1)).ratings == 0
    # an owner cannot rate their own shop, even with a forged button
    owner = h.user(OWNER, "en")
    calls = await h.send(owner, "/start m_M001")
    assert last_buttons(calls, OWNER) == [("📊 Ratings of my shop", ShopRatingsCb(code="M001").pack())]
    calls = await h.tap(owner, ShopRateCb(code="M001"))
    assert alerted(calls) and "your own shop" in joined(calls, OWNER)


async def test_owner_sees_ratings_and_others_cannot(h):
    await rate(h, h.user(RESIDENT, "en"), (4, 3, 5), "Friendly staff")
    await rate(h, h.user(OTHER_RESIDENT, "en"), (2, 3, 3))
    h.clock.advance(40 * DAY)  # older than the 30 days of the recent averages
    await rate(h, h.user(OTHER_RESIDENT, "en"), (1, 1, 1), "Dirty floor")

    calls = await h.send(h.user(OWNER, "en"), "/myshop")
    view = joined(calls, OWNER)
    assert "东里便民超市" in view
    assert "Last 30 days: cleanliness 1.0 · order 1.0 · service 1.0 · overall <b>1.0</b> of 5 (ratings: 1)" in view
    assert "All time: cleanliness 2.3 · order 2.3 · service 3.0 · overall <b>2.6</b> of 5 (ratings: 3)" in view
    assert view.index("Dirty floor") < view.index("Friendly staff")  # newest first
    assert "1002" not in view and "User100" not in view  # residents stay anonymous

    # the role shop_owner with the shop's code works the same; in Chinese
    calls = await h.send(h.user(MANAGER, "zh"), "/myshop")
    assert "Dirty floor" in joined(calls, MANAGER) and "全部时间" in joined(calls, MANAGER)

    # a resident, or an owner of another shop, gets no ratings, also not with a forged button
    calls = await h.send(h.user(RESIDENT, "en"), "/myshop")
    assert "not registered as the owner" in joined(calls, RESIDENT)
    calls = await h.tap(h.user(RESIDENT, "en"), ShopRatingsCb(code="M001"))
    assert alerted(calls) and "Dirty floor" not in joined(calls)
    await h.db.upsert_shops([Shop("M003", "另一家店", "NZ01", RESIDENT)])
    calls = await h.tap(h.user(RESIDENT, "en"), ShopRatingsCb(code="M001"))
    assert alerted(calls) and "Dirty floor" not in joined(calls)


async def test_owner_of_several_shops_chooses(h):
    await h.db.upsert_shops([Shop("M002", OTHER_SHOP.name, "NZ01", OWNER)])
    calls = await h.send(h.user(OWNER, "en"), "/myshop")
    assert callback_data(calls, OWNER) == {ShopRatingsCb(code="M001").pack(), ShopRatingsCb(code="M002").pack()}
    calls = await h.tap(h.user(OWNER, "en"), ShopRatingsCb(code="M002"))
    assert "南庄早餐店" in joined(calls, OWNER) and "no ratings yet" in joined(calls, OWNER)


# -- supervised sites -------------------------------------------------------------------------------
async def test_inspector_adds_an_inspection_with_photos_and_residents_see_it(h):
    inspector = h.user(INSPECTOR, "en")
    calls = await h.send(inspector, "/start s_S001")
    assert "西岗农贸市场" in joined(calls, INSPECTOR) and "No inspections recorded yet" in joined(calls, INSPECTOR)
    assert last_buttons(calls, INSPECTOR) == [("📝 Add inspection", SiteInspectCb(code="S001").pack())]

    calls = await h.tap(inspector, SiteInspectCb(code="S001"))
    assert "write what you found" in joined(calls, INSPECTOR)
    calls = await h.photo(inspector, "early")
    assert "write the inspection note" in joined(calls, INSPECTOR)  # the note comes first
    calls = await h.send(inspector, "Two stalls block the fire lane; told to clear it by noon.")
    assert "up to 5 photos" in joined(calls, INSPECTOR)
    for i in range(4):
        await h.photo(inspector, f"ph{i}", media_group_id="album")
    await h.photo(inspector, "ph4")
    calls = await h.photo(inspector, "ph5")
    assert "this one was not added" in joined(calls, INSPECTOR)
    calls = await h.send(inspector, "✅ Done")
    assert "saved (photos: 5)" in joined(calls, INSPECTOR)
    [record] = await h.db.site_inspections("S001")
    assert (record.inspector_id, record.inspector_name, record.at, record.photo_count) == (INSPECTOR, "张监管", START, 5)

    resident = h.user(RESIDENT, "en")
    calls = await h.send(resident, "/start s_S001")
    card = joined(calls, RESIDENT)
    shown = format_time(START, TZ)
    assert shown == "2025-11-22 16:26"  # stored in UTC, shown in TIMEZONE
    assert f"{shown} · 张监管 · photos: 5" in card and "block the fire lane" in card
    assert last_buttons(calls, RESIDENT) == [("📄 " + shown, InspectionCb(inspection_id=record.id).pack())]
    calls = await h.tap(resident, InspectionCb(inspection_id=record.id))
    [album] = [c for c in calls if isinstance(c, SendMediaGroup)]
    assert [m.media for m in album.media] == ["ph0", "ph1", "ph2", "ph3", "ph4"]
    assert "told to clear it by noon" in joined(calls, RESIDENT)

    calls = await h.send(h.user(OTHER_RESIDENT, "zh"), "/start s_S001")
    assert "最近的检查" in joined(calls, OTHER_RESIDENT) and "设施" in joined(calls, OTHER_RESIDENT)


async def test_only_inspectors_of_the_town_may_inspect(h):
    for user_id in (RESIDENT, FAR_INSPECTOR, OWNER):
        user = h.user(user_id, "en")
        calls = await h.send(user, "/start s_S001")
        assert not last_buttons(calls, user_id)  # no "Add inspection"
        calls = await h.tap(user, SiteInspectCb(code="S001"))
        assert alerted(calls)
        calls = await h.send(user, "A forged note")
        assert "A forged note" not in joined(calls)
    # an inspector whose role is taken away while the form is open saves nothing
    inspector = h.user(INSPECTOR, "en")
    await h.tap(inspector, SiteInspectCb(code="S001"))
    await h.send(inspector, "All fine")
    await h.db._run_many("DELETE FROM staff WHERE telegram_id = ?", [(INSPECTOR,)])
    calls = await h.send(inspector, "✅ Done")
    assert "no longer add inspections" in joined(calls, INSPECTOR)
    assert await h.db.site_inspections("S001") == []
    assert alerted(await h.tap(inspector, InspectionCb(inspection_id=999)))


async def test_an_inspector_without_a_scope_covers_every_town(h):
    await h.db.upsert_staff([StaffMember(1203, "总监管", Role.INSPECTOR, "")])
    calls = await h.send(h.user(1203, "en"), "/start s_S001")
    assert ("📝 Add inspection", SiteInspectCb(code="S001").pack()) in last_buttons(calls, 1203)


# -- unknown codes ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "english", "chinese"),
    [
        ("m_NOPE", "This shop code is not known", "没有找到这个商户码"),
        ("m_bad!code", "This shop code is not known", "没有找到这个商户码"),
        ("s_NOPE", "This supervision code is not known", "没有找到这个监管码"),
        ("s_", "This supervision code is not known", "没有找到这个监管码"),
    ],
)
async def test_unknown_and_malformed_codes(h, payload, english, chinese):
    calls = await h.send(h.user(RESIDENT, "en"), f"/start {payload}")
    assert english in joined(calls, RESIDENT)
    calls = await h.send(h.user(OTHER_RESIDENT, "zh"), f"/start {payload}")
    assert chinese in joined(calls, OTHER_RESIDENT)


async def test_a_new_scan_discards_a_rating_form(h):
    resident = h.user(RESIDENT, "en")
    await h.tap(resident, ShopRateCb(code="M001"))
    calls = await h.send(resident, "/start s_S001")
    assert "unfinished form was discarded" in joined(calls, RESIDENT)
    assert alerted(await h.tap(resident, ShopScoreCb(step=0, stars=3)))


# -- printed codes ----------------------------------------------------------------------------------
def sent_photos(calls):
    return [c for c in calls if isinstance(c, SendPhoto)]


async def test_shop_and_site_codes_decode(h):
    calls = await h.send(h.user(ADMIN, "en"), "/shopqr M001")
    [photo] = sent_photos(calls)
    assert decode_all(Image.open(io.BytesIO(photo.photo.data))) == ["https://t.me/grid_test_bot?start=m_M001"]
    assert "东里便民超市" in photo.caption
    # an owner prints their own shop's code; nobody else does
    calls = await h.send(h.user(OWNER, "en"), "/shopqr M001")
    assert len(sent_photos(calls)) == 1
    for user_id, command in ((OWNER, "/shopqr M002"), (RESIDENT, "/shopqr M001"), (INSPECTOR, "/shopqr M001")):
        calls = await h.send(h.user(user_id, "en"), command)
        assert not sent_photos(calls) and "is yours to print" in joined(calls, user_id)
    calls = await h.send(h.user(ADMIN, "en"), "/shopqr")
    assert "followed by the shop's code" in joined(calls, ADMIN)

    calls = await h.send(h.user(INSPECTOR, "en"), "/siteqr S001")
    [photo] = sent_photos(calls)
    assert decode_all(Image.open(io.BytesIO(photo.photo.data))) == ["https://t.me/grid_test_bot?start=s_S001"]
    for user_id in (FAR_INSPECTOR, RESIDENT):
        calls = await h.send(h.user(user_id, "en"), "/siteqr S001")
        assert not sent_photos(calls) and "is yours to print" in joined(calls, user_id)


def test_command_menus_for_the_new_roles():
    i18n = create_i18n("en")

    def names(grants):
        with i18n.context(), i18n.use_locale("en"):
            return {c.command for c in commands_for(grants)}

    assert {"myshop", "shopqr"} <= names([RoleGrant(Role.SHOP_OWNER, "M001")])
    assert "siteqr" in names([RoleGrant(Role.INSPECTOR, "西岗镇")])
    assert not {"myshop", "shopqr", "siteqr", "queue"} & names([])
    assert "queue" not in names([RoleGrant(Role.INSPECTOR)])  # inspectors handle no tickets


# -- officials: the lowest-rated shops --------------------------------------------------------------
def score(code, ratings, overall):
    from domain.shops import ShopScore

    return ShopScore(Shop(code, code, "DL01"), ratings, overall, overall, overall)


def test_rank_lowest_needs_enough_ratings():
    scores = [score("A", 2, 1.0), score("B", 3, 2.0), score("C", 9, 2.0), score("D", 4, 4.5)]
    assert [s.shop.code for s in rank_lowest(scores, min_ratings=3, top=2)] == ["C", "B"]
    assert [s.shop.code for s in rank_lowest(scores, min_ratings=1)] == ["A", "C", "B", "D"]


async def test_lowest_rated_shops_of_a_week_and_scope(harness):
    db = harness.db
    await db.upsert_grids([Grid("FD01", "东风一网格", "东风村", "东风镇")])
    shops = [Shop("A", "A", "DL01"), Shop("B", "B", "NZ01"), Shop("C", "C", "FD01"), Shop("D", "D", "DL02")]
    await db.upsert_shops(shops)
    week = Week.containing(START, TZ)
    window = week.window(TZ)
    quality = {"A": 2, "B": 4, "C": 1, "D": 5}
    for shop in shops:
        for resident in range(3):
            at = window.start + 3600 * (resident + 1)
            await db.save_shop_rating(ShopRating(shop.code, resident, rating_day(at, TZ), *[quality[shop.code]] * 3, at))
    # before the week: does not count
    await db.save_shop_rating(ShopRating("D", 9, "2000-01-01", 1, 1, 1, window.start - 1))
    lowest = await lowest_rated_shops(db, window)
    assert [(s.shop.code, s.ratings, s.overall) for s in lowest] == [("C", 3, 1), ("A", 3, 2), ("B", 3, 4), ("D", 3, 5)]
    town = await lowest_rated_shops(db, window, Scope(ScopeLevel.TOWN, "西岗镇"), top=2)
    assert [s.shop.code for s in town] == ["A", "B"]
    village = await lowest_rated_shops(db, window, Scope(ScopeLevel.VILLAGE, "东里村"))
    assert [s.shop.code for s in village] == ["A", "D"]
    assert await lowest_rated_shops(db, window, min_ratings=4) == ()
    assert await lowest_rated_shops(db, week.next().window(TZ)) == ()


# -- imports ----------------------------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "cli.sqlite3"))
    grids = tmp_path / "grids.csv"
    grids.write_text("code,name,village,town,lat,lon\nDL01,东里一网格,东里村,西岗镇,,\nNZ01,南庄一网格,南庄村,西岗镇,,\n",
                     encoding="utf-8")
    assert main(["import", "grids", str(grids)]) == 0
    return tmp_path


def read(path, query):
    async def go():
        db = await SqliteStorage.open(path)
        try:
            return await query(db)
        finally:
            await db.close()

    return asyncio.run(go())


def test_import_shops_and_sites(cli, capsys):
    shops = cli / "shops.csv"
    shops.write_text(
        "\ufeffcode,name,grid,owner_telegram_id\n"
        "M001,东里便民超市,DL01,1101\n"
        "M002,南庄早餐店,NZ01,\n",
        encoding="utf-8",
    )
    assert main(["import", "shops", str(shops)]) == 0
    assert read(cli / "cli.sqlite3", lambda db: db.get_shop("M002")) == Shop("M002", "南庄早餐店", "NZ01", None)
    # imported again with an owner: updated, not duplicated
    shops.write_text("code,name,grid,owner_telegram_id\nM002,南庄早餐店,NZ01,1102\n", encoding="utf-8")
    assert main(["import", "shops", str(shops)]) == 0
    assert read(cli / "cli.sqlite3", lambda db: db.owned_shops(1102)) == [Shop("M002", "南庄早餐店", "NZ01", 1102)]

    sites = cli / "sites.csv"
    sites.write_text("code,name,grid,kind\nS001,西岗农贸市场,DL01,facility\nS002,南庄主街,NZ01,street\n", encoding="utf-8")
    assert main(["import", "sites", str(sites)]) == 0
    assert read(cli / "cli.sqlite3", lambda db: db.get_site("S002")) == Site("S002", "南庄主街", "NZ01", SiteKind.STREET)
    assert "导入 2 个场所" in capsys.readouterr().out

    staff = cli / "staff.csv"
    staff.write_text("telegram_id,name,role,scope\n1201,张监管,inspector,\n1202,店长,shop_owner,M001\n", encoding="utf-8")
    assert main(["import", "staff", str(staff)]) == 0
    assert read(cli / "cli.sqlite3", lambda db: db.roles_of(1201)) == [RoleGrant(Role.INSPECTOR, "")]


def test_import_errors_name_their_lines_and_write_nothing(cli, capsys):
    shops = cli / "shops.csv"
    shops.write_text(
        "code,name,grid,owner_telegram_id\n"
        "M001,好店,DL01,\n"
        "M 2,空格店,DL01,\n"
        "M003,没网格店,XX99,\n"
        "M004,店主错,DL01,abc\n"
        "M001,重复店,NZ01,\n"
        "M005,,DL01,\n",
        encoding="utf-8",
    )
    assert main(["import", "shops", str(shops)]) == 1
    err = capsys.readouterr().err
    assert "第 3 行：code 'M 2' 只能使用" in err
    assert "第 4 行：grid 'XX99' 不是已知的网格" in err
    assert "第 5 行：owner_telegram_id 须为正整数" in err
    assert "第 6 行：与第 2 行重复" in err
    assert "第 7 行：name 为空" in err
    assert "中的内容都未导入" in err
    assert read(cli / "cli.sqlite3", lambda db: db.get_shop("M001")) is None

    sites = cli / "sites.csv"
    sites.write_text("code,name,grid,kind\nS001,市场,DL01,market\nS002,街,,street\n", encoding="utf-8")
    assert main(["import", "sites", str(sites)]) == 1
    err = capsys.readouterr().err
    assert "第 2 行：kind 'market' 不是 facility, street 之一" in err and "第 3 行：grid 为空" in err
    sites.write_text("code,name,grid\nS001,市场,DL01\n", encoding="utf-8")
    assert main(["import", "sites", str(sites)]) == 1
    assert "第 1 行：表头缺少 kind 列" in capsys.readouterr().err


# -- the migration ----------------------------------------------------------------------------------
async def test_migration_keeps_staff_and_allows_the_new_roles(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    for version, script in migrations():
        if version < 5:
            old.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={version};\nCOMMIT;")
    old.execute("INSERT INTO staff VALUES (501, '王网格', 'grid_worker', 'DL01')")
    old.commit()
    with pytest.raises(sqlite3.IntegrityError):
        old.execute("INSERT INTO staff VALUES (1201, '张监管', 'inspector', '')")
    old.close()

    db = await SqliteStorage.open(path)
    try:
        assert await db.roles_of(501) == [RoleGrant(Role.GRID_WORKER, "DL01")]
        await db.upsert_staff([StaffMember(1201, "张监管", Role.INSPECTOR, ""),
                               StaffMember(1102, "店长", Role.SHOP_OWNER, "M001")])
        assert await db.staff_with_role(Role.INSPECTOR) == [StaffMember(1201, "张监管", Role.INSPECTOR, "")]
        # the rebuilt table still has its key and index
        await db.upsert_staff([StaffMember(1201, "张监管二", Role.INSPECTOR, "")])
        assert [s.name for s in await db.staff_with_role(Role.INSPECTOR)] == ["张监管二"]
    finally:
        await db.close()

"""Smaller things residents tripped over (issue 12): their own tickets offered as "me too", a grid
hundreds of kilometres away, "0分钟前", a hint for every photo of an album."""

from __future__ import annotations

from bot.config import SettingsError, load_settings
from handlers.callbacks import CategoryCb, FormCb, KindCb, MeTooCb
from tests.conftest import joined, last_buttons, texts

RESIDENT = 1001
NEIGHBOUR = 1002


async def file_report(h, user, text: str) -> int:
    await h.send(user, "/start g_DL01")
    await h.tap(user, KindCb(kind="report"))
    calls = await h.tap(user, CategoryCb(code="roads"))
    if FormCb(action="new").pack() in {b[1] for b in last_buttons(calls, user.id)}:
        await h.tap(user, FormCb(action="new"))
    await h.send(user, text)
    await h.send(user, "✅ 完成" if user.language_code == "zh" else "✅ Done")
    await h.tap(user, FormCb(action="confirm"))
    return (await h.db.resident_tickets(user.id))[0].id


async def test_me_too_never_offers_a_resident_their_own_ticket(harness):
    h = harness
    resident = h.user(RESIDENT, "zh")
    own = await file_report(h, resident, "路灯坏了")
    await h.send(resident, "/start g_DL01")
    await h.tap(resident, KindCb(kind="report"))
    calls = await h.tap(resident, CategoryCb(code="roads"))
    assert "已有人反映" not in joined(calls, RESIDENT) and "请描述问题" in joined(calls, RESIDENT)

    neighbour = h.user(NEIGHBOUR, "en")  # offered to everyone else; their own is not
    await h.send(neighbour, "/start g_DL01")
    await h.tap(neighbour, KindCb(kind="report"))
    calls = await h.tap(neighbour, CategoryCb(code="roads"))
    assert MeTooCb(ticket_id=own).pack() in {b[1] for b in last_buttons(calls, NEIGHBOUR)}
    await h.tap(neighbour, FormCb(action="new"))
    theirs = await file_report(h, neighbour, "Pothole by the school")
    await h.send(neighbour, "/start g_DL01")
    await h.tap(neighbour, KindCb(kind="report"))
    calls = await h.tap(neighbour, CategoryCb(code="roads"))
    offered = {b[1] for b in last_buttons(calls, NEIGHBOUR)}
    assert MeTooCb(ticket_id=own).pack() in offered and MeTooCb(ticket_id=theirs).pack() not in offered
    calls = await h.tap(neighbour, MeTooCb(ticket_id=theirs))  # a forged button: refused, nothing followed
    assert "not" in joined(calls, NEIGHBOUR) and await h.db.followers(theirs) == []


async def test_a_location_far_from_every_grid_finds_none_and_near_ones_show_their_distance(harness):
    h = harness
    for language, far, near in (("zh", "5 公里", "米"), ("en", "5 km", " m")):
        user = h.user(RESIDENT if language == "zh" else NEIGHBOUR, language)
        await h.send(user, "/start")
        calls = await h.location(user, 31.23, 121.47)  # Shanghai, about 500 km from the town
        out = joined(calls, user.id)
        assert far in out and ("公里外" if language == "zh" else "km away") in out
        assert not [b for b in last_buttons(calls, user.id) if b[1] and b[1].startswith("gp:")]
        calls = await h.location(user, 34.7990, 117.1650)  # next to 南庄一网格
        labels = [b[0] for b in last_buttons(calls, user.id)]
        assert labels[0].startswith("南庄一网格 · 南庄村 · ") and labels[0].endswith(near)


def test_nearest_grid_km_is_a_distance_above_zero():
    assert load_settings({"NEAREST_GRID_KM": "2.5"}, env_file=None).nearest_grid_km == 2.5
    assert load_settings({}, env_file=None).nearest_grid_km == 5
    for bad in ("0", "-1", "five", "1e9"):
        try:
            load_settings({"NEAREST_GRID_KM": bad}, env_file=None)
        except SettingsError as error:
            assert "NEAREST_GRID_KM" in str(error)
        else:
            raise AssertionError(bad)


async def test_a_ticket_filed_this_minute_was_filed_just_now(harness):
    h = harness
    for language, just_now in (("zh", "刚刚"), ("en", "just now")):
        user = h.user(RESIDENT if language == "zh" else NEIGHBOUR, language)
        await file_report(h, user, "路灯坏了")
        calls = await h.send(user, "/my")
        out = joined(calls, user.id)
        assert just_now in out and "0分钟" not in out and "0 min" not in out
        h.clock.advance(120)
        assert ("2分钟前" if language == "zh" else "2 min ago") in joined(await h.send(user, "/my"), user.id)


async def test_an_album_on_the_me_too_screen_gets_one_hint(harness):
    h = harness
    await file_report(h, h.user(NEIGHBOUR, "en"), "Pothole by the school")
    for language in ("zh", "en"):
        user = h.user(RESIDENT if language == "zh" else RESIDENT + 10, language)
        await h.send(user, "/start g_DL01")
        await h.tap(user, KindCb(kind="report"))
        await h.tap(user, CategoryCb(code="roads"))  # the neighbour's report is offered
        hints = []
        for i in range(6):
            hints += texts(await h.photo(user, f"album{i}", media_group_id=f"album-{language}"), user.id)
        assert len(hints) == 1

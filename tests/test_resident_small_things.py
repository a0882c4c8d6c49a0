"""Smaller things residents tripped over (issue 12): their own tickets offered as "me too", a grid
hundreds of kilometres away, "0分钟前", a hint for every photo of an album."""

from __future__ import annotations

from handlers.callbacks import CategoryCb, FormCb, KindCb, MeTooCb
from tests.conftest import joined, last_buttons

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

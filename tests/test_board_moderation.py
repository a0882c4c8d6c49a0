"""The public board's moderation (issue 15): nothing is public until town or village staff decide;
complaints never; suggestions only where the town allows; the text edited, photos hidden, the
original kept, each decision in the ticket's history. Rules (domain/board.py) and the bot's review."""

from __future__ import annotations

import pytest

from domain.board import BoardService, may_moderate, proposed_text
from domain.models import BoardTowns, Decision, EventType, Kind, Role, RoleGrant
from domain.service import Conflict, InvalidInput, NotAllowed
from handlers.callbacks import ModerateCb, StaffTicketCb
from tests.conftest import (
    GRIDS,
    TOWN_STAFF,
    VILLAGE_DL,
    WORKER_DL01,
    buttons,
    joined,
    last_buttons,
    open_harness,
    to_chat,
)
from tests.test_supervision import confirmations
from tests.test_ticket_loop import RESIDENT, file_ticket

TOWN = "西岗镇"
BOARD = BoardTowns(frozenset({TOWN}))
WITH_SUGGESTIONS = BoardTowns(frozenset({TOWN}), frozenset({TOWN}))
VILLAGE = [RoleGrant(Role.VILLAGE, "东里村")]
TEXT = "张三家门口水管漏水，电话13812345678，身份证370481199001011234"


@pytest.fixture
async def board(tmp_path, caplog, database):
    async with open_harness(tmp_path, caplog, database, board=BOARD) as h:
        yield h


async def filed(h, kind="report", photos=0, text=TEXT) -> int:
    await file_ticket(h, h.user(RESIDENT), kind=kind, photos=photos, text=text)
    return max(t.id for t in await h.db.resident_tickets(RESIDENT))


def test_who_may_decide_and_which_kinds():
    dl01 = GRIDS[0]
    assert may_moderate(VILLAGE, dl01) and may_moderate([RoleGrant(Role.TOWN, TOWN)], dl01)
    assert may_moderate([RoleGrant(Role.ADMIN)], dl01)
    assert not may_moderate([RoleGrant(Role.GRID_WORKER, "DL01"), RoleGrant(Role.OFFICIAL, TOWN),
                             RoleGrant(Role.DEPARTMENT, "水务局"), RoleGrant(Role.VILLAGE, "南庄村")], dl01)
    assert BOARD.kinds(TOWN) == {Kind.REPORT} and WITH_SUGGESTIONS.kinds(TOWN) == {Kind.REPORT, Kind.SUGGESTION}
    assert BOARD.kinds("别的镇") == frozenset()
    assert Kind.COMPLAINT not in WITH_SUGGESTIONS.kinds(TOWN)


def test_the_starting_text_masks_mobile_and_id_numbers():
    text = proposed_text(TEXT)
    assert "13812345678" not in text and "138****5678" in text
    assert "370481199001011234" not in text and "张三" in text  # names are for staff to take out


async def test_publish_keeps_the_original_and_logs_the_change(board):
    h = board
    ticket_id = await filed(h, photos=2)
    service = BoardService(h.db, h.clock, BOARD)
    assert [t.id for t in await service.queue(VILLAGE)] == [ticket_id]
    assert await service.board(TOWN) == []  # nothing is public before a decision
    with pytest.raises(InvalidInput):
        await service.publish(ticket_id, VILLAGE_DL, VILLAGE, "\u200b ", [])
    with pytest.raises(InvalidInput):
        await service.publish(ticket_id, VILLAGE_DL, VILLAGE, "门口水管漏水", [2])  # no third photo
    with pytest.raises(NotAllowed):
        await service.publish(ticket_id, WORKER_DL01, [RoleGrant(Role.GRID_WORKER, "DL01")], "门口水管漏水", [])
    post = await service.publish(ticket_id, VILLAGE_DL, VILLAGE, " 门口水管漏水 ", [1])
    assert post.decision is Decision.PUBLIC and post.text == "门口水管漏水" and post.hidden_photos == {1}
    assert (await h.db.get_ticket(ticket_id)).description == TEXT  # the original stays in the ticket
    [(shown, stored)] = await service.board(TOWN)
    assert shown.id == ticket_id and stored == post
    assert await service.queue(VILLAGE) == []
    with pytest.raises(Conflict):  # the same again: nothing to change
        await service.publish(ticket_id, VILLAGE_DL, VILLAGE, "门口水管漏水", [1])
    await service.publish(ticket_id, TOWN_STAFF, [RoleGrant(Role.TOWN, TOWN)], "东里村门口水管漏水", [])
    await service.keep_private(ticket_id, VILLAGE_DL, VILLAGE)
    assert await service.board(TOWN) == []
    events = [e for e in await h.db.events(ticket_id) if e.type in (EventType.PUBLISHED, EventType.KEPT_PRIVATE)]
    assert [(e.type, e.actor_id, e.note, e.data) for e in events] == [
        (EventType.PUBLISHED, VILLAGE_DL, "门口水管漏水", {"hidden_photos": [1], "edit": False}),
        (EventType.PUBLISHED, TOWN_STAFF, "东里村门口水管漏水", {"hidden_photos": [], "edit": True}),
        (EventType.KEPT_PRIVATE, VILLAGE_DL, None, {"was_public": True}),
    ]
    assert await confirmations(h, VILLAGE_DL) == ["published", "kept_private"]


async def test_complaints_never_and_suggestions_only_where_allowed(board):
    h = board
    complaint = await filed(h, kind="complaint")
    suggestion = await filed(h, kind="suggestion")
    admin = [RoleGrant(Role.ADMIN)]
    for towns, allowed in ((BOARD, False), (WITH_SUGGESTIONS, True), (BoardTowns(), False)):
        service = BoardService(h.db, h.clock, towns)
        with pytest.raises(NotAllowed):
            await service.publish(complaint, 1, admin, "投诉", [])
        assert [t.id for t in await service.queue(admin)] == ([suggestion] if allowed else [])
        if allowed:
            await service.publish(suggestion, 1, admin, "建议在村口装路灯", [])
        else:
            with pytest.raises(NotAllowed):
                await service.publish(suggestion, 1, admin, "建议在村口装路灯", [])
    # A town that stops publishing suggestions takes them off its board.
    assert [t.id for t, _ in await BoardService(h.db, h.clock, WITH_SUGGESTIONS).board(TOWN)] == [suggestion]
    assert await BoardService(h.db, h.clock, BOARD).board(TOWN) == []


async def test_village_staff_review_edit_hide_a_photo_and_publish_in_the_bot(board):
    h = board
    ticket_id = await filed(h, photos=2)
    village = h.user(VILLAGE_DL)
    # The grid worker's card has no board button; the village's card has.
    pushed = [c for c in to_chat(h.session.calls, WORKER_DL01) if buttons(c)]
    assert pushed and ModerateCb(action="open", ticket_id=ticket_id).pack() not in {b[1] for b in buttons(pushed[-1])}
    calls = await h.send(village, f"/t {ticket_id}")
    assert ModerateCb(action="open", ticket_id=ticket_id).pack() in {b[1] for b in last_buttons(calls, VILLAGE_DL)}

    calls = await h.send(village, "/moderate")
    assert f"XG-{ticket_id:06d}" in joined(calls, VILLAGE_DL)
    calls = await h.tap(village, ModerateCb(action="open", ticket_id=ticket_id))
    review = joined(calls, VILLAGE_DL)
    assert "138****5678" in review and "13812345678" not in review and "尚未" in review
    calls = await h.tap(village, ModerateCb(action="photo", ticket_id=ticket_id, index=1))
    assert "🚫 照片 2：隐藏" in {b[0] for b in last_buttons(calls, VILLAGE_DL)}
    calls = await h.tap(village, ModerateCb(action="edit", ticket_id=ticket_id))
    assert proposed_text(TEXT) in joined(calls, VILLAGE_DL)  # to copy and edit
    calls = await h.send(village, "东里一网格有户门口水管漏水")
    assert "东里一网格有户门口水管漏水" in joined(calls, VILLAGE_DL)
    calls = await h.tap(village, ModerateCb(action="publish", ticket_id=ticket_id))
    assert "已在曝光台公开" in joined(calls, VILLAGE_DL)  # the confirmation, through the outbox
    post = await h.db.public_post(ticket_id)
    assert post.public and post.text == "东里一网格有户门口水管漏水" and post.hidden_photos == {1}
    calls = await h.send(village, f"/t {ticket_id}")
    assert "📢 已在曝光台公开 (未公开照片：2)" in joined(calls, VILLAGE_DL)  # the history, for staff
    # The resident's view does not show the moderation.
    calls = await h.send(h.user(RESIDENT), f"/t {ticket_id}")
    assert "已在曝光台公开" not in joined(calls, RESIDENT)


async def test_stale_and_forged_review_buttons_change_nothing(board):
    h = board
    report = await filed(h)
    complaint = await filed(h, kind="complaint")
    worker, village = h.user(WORKER_DL01), h.user(VILLAGE_DL)
    for user, data in ((worker, ModerateCb(action="open", ticket_id=report)),
                       (worker, ModerateCb(action="publish", ticket_id=report)),
                       (village, ModerateCb(action="open", ticket_id=complaint)),
                       (village, ModerateCb(action="publish", ticket_id=10**9))):
        calls = await h.tap(user, data)
        assert "不在您的辖区" in joined(calls), joined(calls)
    # A publish button without its review (another form came between) shows the review again.
    calls = await h.tap(village, ModerateCb(action="publish", ticket_id=report))
    assert "审核已过时" in joined(calls, VILLAGE_DL) and await h.db.public_post(report) is None
    await h.tap(village, ModerateCb(action="open", ticket_id=report))
    await h.tap(village, StaffTicketCb(action="note", ticket_id=report))  # another form begins
    calls = await h.tap(village, ModerateCb(action="publish", ticket_id=report))
    assert await h.db.public_post(report) is None and "审核已过时" in joined(calls, VILLAGE_DL)
    calls = await h.tap(village, ModerateCb(action="photo", ticket_id=report, index=3))
    assert await h.db.public_post(report) is None
    assert await h.tap(village, "mod:publish:01:0") and await h.db.public_post(report) is None


async def test_a_town_without_a_board_offers_no_review(harness):
    h = harness
    ticket_id = await filed(h)
    calls = await h.send(h.user(VILLAGE_DL), f"/t {ticket_id}")
    assert ModerateCb(action="open", ticket_id=ticket_id).pack() not in {b[1] for b in last_buttons(calls, VILLAGE_DL)}
    calls = await h.send(h.user(VILLAGE_DL), "/moderate")
    assert "BOARD_TOWNS" in joined(calls, VILLAGE_DL)

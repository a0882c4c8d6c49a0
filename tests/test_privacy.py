"""What one resident sees of another's ticket: no complaints, short texts, masked numbers."""

from __future__ import annotations

import pytest

from domain.tickets import mask_personal
from handlers.callbacks import CategoryCb, KindCb, MeTooCb, ResidentTicketCb
from tests.conftest import joined
from tests.test_ticket_loop import file_ticket

FILER = 1001
NEIGHBOUR = 1002


@pytest.mark.parametrize("text, hidden, shown", [
    ("电话13912345678找我", "13912345678", "139****5678"),
    ("call +86 139 1234 5678 now", "1234 5678", "139****5678"),
    ("手机：139-1234-5678。", "1234-5678", "139****5678"),
    ("身份证370402199001011234", "370402199001011234", "370***********1234"),
    ("ID 37040219900101123X.", "37040219900101123X", "370***********123X"),
    ("全角１３９１２３４５６７８", "１２３４５６７８", "１３９****５６７８"),
])
def test_mobile_and_id_numbers_are_masked(text, hidden, shown):
    masked = mask_personal(text)
    assert hidden not in masked and shown in masked


def test_other_numbers_stay():
    for text in ("3号楼2单元501室", "2025年11月22日", "路灯编号 12345678", "门牌 1391234567"):
        assert mask_personal(text) == text


async def test_me_too_lists_no_complaints_and_masks_numbers(harness):
    h = harness
    filer, neighbour = h.user(FILER, "en"), h.user(NEIGHBOUR, "en")
    await file_ticket(h, filer, text="邻居家暴，我的电话13912345678，请保密", kind="complaint")
    [complaint] = await h.db.resident_tickets(FILER)
    await file_ticket(h, filer, text="路灯坏了，联系13812345678。" + "很暗" * 100, kind="report")
    report = next(t for t in await h.db.resident_tickets(FILER) if t.id != complaint.id)

    await h.send(neighbour, "/start g_DL01")
    await h.tap(neighbour, KindCb(kind="suggestion"))
    calls = await h.tap(neighbour, CategoryCb(code="water"))
    shown = joined(calls, NEIGHBOUR)
    assert "XG-{:06d}".format(report.id) in shown
    assert "XG-{:06d}".format(complaint.id) not in shown and "家暴" not in shown
    assert "13812345678" not in shown and "138****5678" in shown
    assert "很暗" * 40 not in shown  # a short text only

    # A forged "me too" on the complaint is refused and the neighbour learns nothing of it.
    calls = await h.tap(neighbour, MeTooCb(ticket_id=complaint.id))
    assert "no longer valid" in joined(calls) and NEIGHBOUR not in await h.db.followers(complaint.id)

    # A follower of the report reads it masked; the filer reads it whole.
    await h.tap(neighbour, MeTooCb(ticket_id=report.id))
    calls = await h.tap(neighbour, ResidentTicketCb(action="view", ticket_id=report.id))
    assert "138****5678" in joined(calls, NEIGHBOUR) and "13812345678" not in joined(calls, NEIGHBOUR)
    calls = await h.tap(filer, ResidentTicketCb(action="view", ticket_id=report.id))
    assert "13812345678" in joined(calls, FILER)

"""The board's mirror in a Telegram channel (PUBLIC_CHANNEL_ID, issue 15): an approved public report
is posted through the outbox, the post is edited as the ticket moves (status, resolution, the
"after" photo) and deleted when it leaves the board; never the resident's identity or words."""

from __future__ import annotations

import pytest
from aiogram.methods import DeleteMessage, EditMessageMedia, EditMessageText, SendMessage, SendPhoto

from domain.models import Attachment, BoardTowns, Kind, MediaKind, Role, RoleGrant
from domain.service import Draft, NotAllowed
from tests.conftest import TOWN_STAFF, VILLAGE_DL, WORKER_DL01, open_harness

TOWN = "西岗镇"
CHANNEL = -1001234567890
VILLAGE = [RoleGrant(Role.VILLAGE, "东里村")]
WORKER = [RoleGrant(Role.GRID_WORKER, "DL01")]
RESIDENT = 987_650_042
ORIGINAL = "张三家门口水管漏水，电话13812345678"


@pytest.fixture
async def mirrored(tmp_path, caplog, database):
    async with open_harness(tmp_path, caplog, database, board=BoardTowns(frozenset({TOWN})),
                            public_channel_id=CHANNEL, web_base_url="https://gridbot.example.org") as h:
        await h.db.touch_user(RESIDENT, "张三", "zhangsan_private", "zh")
        yield h


async def filed(h, photos: int = 0, kind: Kind = Kind.REPORT) -> int:
    attachments = tuple(Attachment(f"report{i}", f"ur{i}", MediaKind.PHOTO) for i in range(photos))
    ticket, _ = await h.dp["tickets"].file(RESIDENT, Draft(kind, "water", "DL01", ORIGINAL, attachments))
    return ticket.id


async def channel_calls(h) -> list:
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    found = [c for c in h.session.calls[before:] if getattr(c, "chat_id", None) == CHANNEL]
    for call in found:
        shown = getattr(call, "caption", None) or getattr(call, "text", None) or getattr(getattr(call, "media", None), "caption", "")
        for secret in (str(RESIDENT), "张三", "zhangsan", "13812345678"):
            assert secret not in (shown or "")
    return found


async def test_a_post_follows_its_ticket(mirrored):
    h = mirrored
    tickets, board = h.dp["tickets"], h.dp["board"]
    ticket_id = await filed(h, photos=1)
    assert await channel_calls(h) == []  # nothing before staff approve it
    await board.publish(ticket_id, VILLAGE_DL, VILLAGE, "东里一网格水管漏水", [])
    [posted] = await channel_calls(h)
    assert isinstance(posted, SendPhoto) and posted.photo == "report0" and "东里一网格水管漏水" in posted.caption
    assert f'href="https://gridbot.example.org/board/%E8%A5%BF%E5%B2%97%E9%95%87#XG-{ticket_id:06d}"' in posted.caption
    message_id, with_photo = await h.db.channel_post(ticket_id)
    assert with_photo
    await tickets.take(ticket_id, WORKER_DL01, WORKER)
    [taken] = await channel_calls(h)
    assert isinstance(taken, EditMessageMedia) and taken.message_id == message_id and "处理中" in taken.media.caption
    await tickets.reply(ticket_id, WORKER_DL01, WORKER, "明天来修")  # no move: no edit
    assert await channel_calls(h) == []
    await tickets.resolve(ticket_id, WORKER_DL01, WORKER, "换了新水管",
                          [Attachment("after0", "ua0", MediaKind.PHOTO)])
    [resolved] = await channel_calls(h)
    assert resolved.media.media == "after0" and "已办理" in resolved.media.caption
    assert "换了新水管" not in resolved.media.caption  # staff's words stay with the resident
    await board.keep_private(ticket_id, VILLAGE_DL, VILLAGE)
    [deleted] = await channel_calls(h)
    assert isinstance(deleted, DeleteMessage) and deleted.message_id == message_id
    assert await h.db.channel_post(ticket_id) is None


async def test_text_posts_and_hidden_photos(mirrored):
    h = mirrored
    tickets, board = h.dp["tickets"], h.dp["board"]
    plain, pictured, complaint = await filed(h), await filed(h, photos=1), await filed(h, kind=Kind.COMPLAINT)
    await board.publish(plain, VILLAGE_DL, VILLAGE, "路灯不亮", [])
    [posted] = await channel_calls(h)
    assert isinstance(posted, SendMessage) and "路灯不亮" in posted.text
    await tickets.take(plain, WORKER_DL01, WORKER)
    [edited] = await channel_calls(h)
    assert isinstance(edited, EditMessageText) and "处理中" in edited.text
    await board.publish(pictured, VILLAGE_DL, VILLAGE, "井盖丢了", [])
    [with_photo] = await channel_calls(h)
    await board.publish(pictured, VILLAGE_DL, VILLAGE, "井盖丢了", [0])  # staff hide the photo afterwards
    deleted, again = await channel_calls(h)
    assert isinstance(with_photo, SendPhoto) and isinstance(deleted, DeleteMessage)
    assert isinstance(again, SendMessage) and "井盖丢了" in again.text
    assert (await h.db.channel_post(pictured))[1] is False
    with pytest.raises(NotAllowed):
        await board.publish(complaint, VILLAGE_DL, VILLAGE, "投诉", [])
    await tickets.withdraw(plain, RESIDENT, "已经好了")  # off the board: the post goes
    assert [type(c) for c in await channel_calls(h)] == [DeleteMessage]


async def test_moderators_hear_of_what_waits_and_the_resident_of_going_public(mirrored):
    """Village staff are told a ticket waits for their decision (the town's when the village has
    nobody reachable); the filer once it is public, not again at an edit. Complaints wait for nobody."""
    h = mirrored
    before = len(h.session.calls)
    first = await filed(h)
    await filed(h, kind=Kind.COMPLAINT)
    await h.dp["outbox"].deliver_due(h.bot)
    await h.db.mark_unreachable(VILLAGE_DL)
    second = await filed(h)
    await h.dp["outbox"].deliver_due(h.bot)
    told = [c for c in h.session.calls[before:] if "/moderate" in (getattr(c, "text", None) or "")]
    assert [(c.chat_id, f"XG-{ticket:06d}" in c.text) for c, ticket in zip(told, (first, second))] == \
        [(VILLAGE_DL, True), (TOWN_STAFF, True)]
    board = h.dp["board"]
    for text in ("东里一网格水管漏水", "东里一网格水管漏水了"):
        before = len(h.session.calls)
        await board.publish(first, TOWN_STAFF, [RoleGrant(Role.TOWN, TOWN)], text, [])
        await h.dp["outbox"].deliver_due(h.bot)
        public = [c for c in h.session.calls[before:] if c.chat_id == RESIDENT and "公开" in c.text]
        assert len(public) == (1 if text == "东里一网格水管漏水" else 0)
        assert all("https://gridbot.example.org/board/" in c.text for c in public)

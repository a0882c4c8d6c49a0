"""Voice messages, videos and video notes wherever photos go (issue 12): the description, answers
to staff, additions from /my, staff replies and resolutions; end to end, in both languages."""

from __future__ import annotations

import sqlite3

from aiogram.methods import SendMediaGroup, SendMessage, SendPhoto, SendVideo, SendVideoNote, SendVoice
from aiogram.types import InputMediaPhoto, InputMediaVideo

from domain.media import MAX_FILE_BYTES
from domain.models import Attachment, EventType, MediaKind
from handlers.callbacks import CategoryCb, FormCb, KindCb, ResidentTicketCb, StaffTicketCb
from storage.sqlite import SqliteStorage, migrations
from tests.conftest import WORKER_DL01, joined, last_buttons, to_chat

RESIDENT = 1001


async def open_description(h, user) -> None:
    await h.send(user, "/start g_DL01")
    await h.tap(user, KindCb(kind="complaint"))
    calls = await h.tap(user, CategoryCb(code="water"))
    if FormCb(action="new").pack() in {b[1] for b in last_buttons(calls, user.id)}:
        await h.tap(user, FormCb(action="new"))


async def file_with_voice(h, user, done: str) -> list:
    """A description told in a voice message, with a photo and a video; returns the submit's calls."""
    await open_description(h, user)
    await h.voice(user, "voice-1", duration=40)
    await h.photo(user, "photo-1")
    await h.video(user, "video-1")
    calls = await h.send(user, done)
    summary = joined(calls, user.id)
    return summary, await h.tap(user, FormCb(action="confirm"))


async def test_a_voice_description_reaches_the_workers_card_as_voice(harness):
    h = harness
    resident = h.user(RESIDENT, "zh")
    summary, calls = await file_with_voice(h, resident, "✅ 完成")
    assert "语音：1条" in summary and "照片：1张" in summary and "视频：1个" in summary

    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    stored = await h.db.get_ticket(ticket.id)
    assert stored.description == ""  # told in the voice message
    assert [a.kind for a in stored.attachments] == [MediaKind.VOICE, MediaKind.PHOTO, MediaKind.VIDEO]

    worker = to_chat(calls, WORKER_DL01)
    # the photo and the video as one album, the voice message as voice, then the card
    assert [type(c) for c in worker] == [SendMediaGroup, SendVoice, SendMessage]
    album = worker[0].media
    assert [type(m) for m in album] == [InputMediaPhoto, InputMediaVideo]
    assert [m.media for m in album] == ["photo-1", "video-1"]
    assert worker[1].voice == "voice-1"
    assert "语音：1条" in worker[2].text and "照片：1张" in worker[2].text

    # Opening the card again (/t) sends the attachments the same way.
    calls = await h.send(h.user(WORKER_DL01), f"/t {ticket.id}")
    assert [type(c) for c in to_chat(calls, WORKER_DL01)][:2] == [SendMediaGroup, SendVoice]


async def test_english_limits_are_refused_with_the_reason(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await open_description(h, resident)
    calls = await h.video(resident, "huge", size=MAX_FILE_BYTES + 1)
    assert "larger than 20 MB" in joined(calls, RESIDENT)
    calls = await h.video_note(resident, "long", duration=61)
    assert "at most 60 seconds" in joined(calls, RESIDENT)
    calls = await h.send(resident, "✅ Done")
    assert "in words or as a voice message first" in joined(calls, RESIDENT)

    for i in range(5):
        await h.photo(resident, f"p{i}") if i % 2 else await h.voice(resident, f"v{i}")
    calls = await h.video_note(resident, "round")
    assert "At most 5 photos, videos and voice messages" in joined(calls, RESIDENT)
    calls = await h.send(resident, "✅ Done")
    assert "Photos: 2 · Voice messages: 3" in joined(calls, RESIDENT)
    calls = await h.tap(resident, FormCb(action="confirm"))
    worker = to_chat(calls, WORKER_DL01)
    assert [type(c) for c in worker] == [SendMediaGroup, SendVoice, SendVoice, SendVoice, SendMessage]
    assert [c.voice for c in worker[1:4]] == ["v0", "v2", "v4"]


async def test_answers_and_additions_carry_voice_photos_and_videos(harness):
    h = harness
    resident, worker = h.user(RESIDENT, "zh"), h.user(WORKER_DL01, "zh")
    await open_description(h, resident)
    await h.send(resident, "楼下水管漏水")
    await h.send(resident, "✅ 完成")
    await h.tap(resident, FormCb(action="confirm"))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]

    # Staff ask by voice: the resident hears it as voice.
    await h.tap(worker, StaffTicketCb(action="ask", ticket_id=ticket.id))
    calls = await h.voice(worker, "staff-voice")
    to_resident = to_chat(calls, RESIDENT)
    assert [type(c) for c in to_resident] == [SendMessage, SendVoice]
    assert "语音：1条" in to_resident[0].text and to_resident[1].voice == "staff-voice"

    # The answer may be a photo (it was refused with "请用文字回复"), then words.
    await h.tap(resident, ResidentTicketCb(action="answer", ticket_id=ticket.id))
    calls = await h.photo(resident, "answer-photo")
    assert "已添加" in joined(calls, RESIDENT) and "请用文字回复" not in joined(calls, RESIDENT)
    calls = await h.send(resident, "是3号楼")
    to_worker = to_chat(calls, WORKER_DL01)
    assert [type(c) for c in to_worker] == [SendMessage, SendPhoto]
    assert "是3号楼" in to_worker[0].text and "照片：1张" in to_worker[0].text
    assert to_worker[1].photo == "answer-photo"

    # ➕ from /my: a voice message alone sends the addition.
    calls = await h.send(resident, "/my")
    await h.tap(resident, ResidentTicketCb(action="view", ticket_id=ticket.id))
    calls = await h.tap(resident, ResidentTicketCb(action="add", ticket_id=ticket.id))
    assert "补充什么" in joined(calls, RESIDENT)
    calls = await h.voice(resident, "more-voice")
    to_worker = to_chat(calls, WORKER_DL01)
    assert "居民对工单" in to_worker[0].text and "补充" in to_worker[0].text
    assert isinstance(to_worker[1], SendVoice) and to_worker[1].voice == "more-voice"
    assert "已发送给工作人员" in joined(calls, RESIDENT)
    events = [e for e in await h.db.events(ticket.id) if e.type is EventType.RESIDENT_MESSAGE]
    assert events[-1].data == {"addition": True, "attachments": [["voice", "more-voice", "more-voice_u"]]}
    calls = await h.send(worker, f"/t {ticket.id}")
    assert "居民补充了情况 · 语音：1条" in joined(calls, WORKER_DL01)


async def test_additions_waiting_for_the_worker_go_as_one_message(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await open_description(h, resident)
    await h.send(resident, "Pipe leaking")
    await h.send(resident, "✅ Done")
    await h.tap(resident, FormCb(action="confirm"))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    before = len(h.session.calls)
    for words in ("It is getting worse", "Now the stairs are wet"):  # sent before the worker's chat is free
        await h.tap(resident, ResidentTicketCb(action="add", ticket_id=ticket.id), deliver=False)
        await h.photo(resident, f"ph-{words[:3]}", deliver=False)
        await h.send(resident, words, deliver=False)
    await h.dp["outbox"].deliver_due(h.bot)
    calls = h.session.calls[before:]
    to_worker = to_chat(calls, WORKER_DL01)
    texts = [c for c in to_worker if isinstance(c, SendMessage)]
    assert len(texts) == 1
    assert "It is getting worse" in texts[0].text and "Now the stairs are wet" in texts[0].text
    assert "照片：2张" in texts[0].text  # in the worker's language
    assert [c.photo for c in to_worker if isinstance(c, SendPhoto)] == ["ph-It ", "ph-Now"]


async def test_after_media_of_a_resolution_reach_the_resident(harness):
    h = harness
    resident, worker = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en")
    await open_description(h, resident)
    await h.send(resident, "Pipe leaking")
    await h.send(resident, "✅ Done")
    await h.tap(resident, FormCb(action="confirm"))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    await h.tap(worker, StaffTicketCb(action="resolve", ticket_id=ticket.id))
    await h.send(worker, "Pipe replaced")
    await h.video(worker, "after-video")
    await h.video_note(worker, "after-round")
    calls = await h.send(worker, "✅ Done")
    to_resident = to_chat(calls, RESIDENT)
    assert [type(c) for c in to_resident][:2] == [SendVideo, SendVideoNote]
    assert to_resident[0].video == "after-video" and to_resident[1].video_note == "after-round"
    assert "Pipe replaced" in to_resident[-1].text


async def test_migration_0015_keeps_the_photos_of_tickets_filed_before(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    for version, script in migrations():
        if version < 15:
            old.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={version};\nCOMMIT;")
    old.execute("INSERT INTO tickets(id, kind, category_code, grid_code, resident_id, description, status,"
                " created_at) VALUES (7, 'complaint', 'water', 'DL01', 1001, '漏水', 'new', 1)")
    old.executemany("INSERT INTO ticket_photos(ticket_id, stage, position, file_id, file_unique_id)"
                    " VALUES (7, ?, ?, ?, ?)", [("report", 0, "old-1", "u1"), ("report", 1, "old-2", "u2"),
                                                ("after", 0, "old-after", "u3")])
    old.commit()
    old.close()

    db = await SqliteStorage.open(path)
    try:
        ticket = await db.get_ticket(7)
        assert ticket.attachments == (Attachment("old-1", "u1"), Attachment("old-2", "u2"))
        assert ticket.after_attachments == (Attachment("old-after", "u3", MediaKind.PHOTO),)
    finally:
        await db.close()

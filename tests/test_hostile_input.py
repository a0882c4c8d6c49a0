"""Hostile or odd input from Telegram: updates aiogram cannot decode, forged button data, invisible
text, lengths as Telegram counts them, out-of-range locations, group chats and floods of 429s."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import CallbackQuery, Chat, Location, Message, MessageEntity, Update, User

from bot.factory import create_bot, create_dispatcher
from domain.models import EventType, Grid, Kind, Status
from domain.service import Draft, InvalidInput
from domain.shops import Shop
from domain.text import clean_text, telegram_length
from domain.tickets import MAX_NOTE
from handlers.callbacks import CategoryCb, FormCb, KindCb, ResidentTicketCb, ShopRateCb, ShopScoreCb, StaffTicketCb
from storage.sqlite import SqliteStorage
from tests.conftest import (
    GRIDS, STAFF, VILLAGE_DL, WORKER_DL01, WORKER_DL02, buttons, joined, last_buttons, make_settings, texts,
    to_chat,
)
from tests.fake_bot_api import FakeBotApi, message
from tests.test_ticket_loop import file_ticket

TOKEN = "123456789:AAHfakeTokenForTheHostileTest_012345678"
RESIDENT = 1001
OTHER_RESIDENT = 1002


# -- updates aiogram cannot decode ----------------------------------------------------------------
@asynccontextmanager
async def polling_bot(tmp_path: Path):
    """`gridbot run`'s bot and dispatcher, polling the fake Bot API over HTTP in this process."""
    api = FakeBotApi()
    url = await api.start()
    db = await SqliteStorage.open(tmp_path / "test.sqlite3")
    await db.upsert_grids(GRIDS)
    await db.upsert_staff(STAFF)
    settings = make_settings(tmp_path, bot_token=TOKEN, telegram_api_url=url)
    bot = create_bot(settings)
    dp = create_dispatcher(settings, db)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        yield api
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 60)
        await bot.session.close()
        await db.close()
        await api.stop()


def hidden_forward(user_id: int) -> dict:
    """A forwarded message as Telegram sends it for a sender who hides their account, without the
    `sender_user_name` aiogram requires."""
    update = message(user_id, "张三 13812345678 forwarded this")
    update["message"]["from"]["first_name"] = "Zhang"
    update["message"]["from"]["username"] = "zhang_private"
    update["message"]["forward_origin"] = {"type": "hidden_user", "date": 1763800000}
    return update


async def test_an_undecodable_update_is_skipped_and_the_others_answered(tmp_path, caplog):
    caplog.set_level(logging.INFO)  # as `gridbot run` logs
    async with polling_bot(tmp_path) as api:
        bad = await api.push(hidden_forward(OTHER_RESIDENT))
        since = len(api.calls)
        await api.push(message(RESIDENT, "/start"))  # same batch, after the bad one
        await api.wait_for(lambda c: c.chat_id == RESIDENT and c.method == "sendMessage", since, timeout=30)
        # The bad update last in its batch: the next poll confirms it, so it is not fetched again.
        lone = await api.push(hidden_forward(OTHER_RESIDENT))
        await api.wait_for(lambda c: c.method == "getUpdates" and int(c.params.get("offset") or 0) > lone["update_id"],
                           since, timeout=30)
        since = len(api.calls)
        await api.push({"future_kind": {"text": "张三 13812345678"}})  # a kind this aiogram does not know
        await api.push(message(RESIDENT, "/help"))
        await api.wait_for(lambda c: c.chat_id == RESIDENT and c.method == "sendMessage", since, timeout=30)
    assert not [c for c in api.calls if c.chat_id == OTHER_RESIDENT]
    logged = caplog.text
    for private in ("Zhang", "zhang_private", "13812345678", "张三", "forwarded this", "hidden_user"):
        assert private not in logged
    skipped = [r.getMessage() for r in caplog.records if "could not be decoded" in r.getMessage()]
    assert skipped == [f"update {bad['update_id']} (message) could not be decoded; skipped",
                       f"update {lone['update_id']} (message) could not be decoded; skipped",
                       f"update {lone['update_id'] + 1} (future_kind) could not be decoded; skipped"]


async def test_a_flood_of_429s_logs_one_line_each_and_no_traceback(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    residents = range(2001, 2011)
    refused: list[int] = []

    def flood(call):
        if call.method == "sendMessage" and call.chat_id in residents and call.chat_id not in refused:
            refused.append(call.chat_id)
            return 429, "Too Many Requests: retry after 1", 1
        return None

    async with polling_bot(tmp_path) as api:
        api.refuse = flood
        for resident in residents:
            await api.push(message(resident, "/start"))
        # Bounds, not measurements: each 429 holds every send for a second (the flood limit is the bot's).
        await api.wait_for(lambda c: len(refused) == len(residents), timeout=90)
        since = len(api.calls)
        await api.push(message(RESIDENT, "/help"))  # the bot goes on
        await api.wait_for(lambda c: c.chat_id == RESIDENT and c.method == "sendMessage", since, timeout=90)
    assert not [r for r in caplog.records if r.exc_info or r.exc_text]
    assert "Traceback" not in caplog.text
    bot_records = [r for r in caplog.records if not r.name.startswith("aiohttp.access")]  # the fake server's
    # "(429)" as the bot words a refusal: a bare "429" also matches an update's id or its time ("1429.3 ms").
    flood_lines = [r.getMessage() for r in bot_records if "(429)" in r.getMessage() or "retry" in r.getMessage().lower()]
    assert len(flood_lines) <= len(residents)  # at most one line per 429 (none if it is waited out)
    assert all("\n" not in line for line in flood_lines)


# -- forged or odd button data --------------------------------------------------------------------
BIG = str(2**63)
FORGED_DATA = [
    "st:view:" + BIG, "st:take:" + BIG, "rt:view:" + "1" + "0" * 20, "rt:view:-1", "rt:view:0", "rt:view:+1",
    "rt:view:01", "rt:view: 1", "metoo:" + BIG, "rate:" + BIG + ":5", "rate:1:" + BIG, "dep:" + BIG + ":0",
    "dep:1:" + BIG, "dep:1:-1", "ho:" + BIG + ":DL01", "ho:1:DL01\nX", "ir:" + BIG, "ms:" + BIG + ":1",
    "ms:0:" + BIG, "lang:zh\n", "kind:complaint\r\nX", "cat:water\n", "gp:" + "A" * 61, "mr:DL01\n",
    "mo:a b", "si:\u202e", "stats:2026-W47:town:西岗镇\nX-Injected: 1:csv", "stats:2026-W47:town:" + "镇" * 10 + ":show\n",
    "form:confirm\n", "dg:weekly\n", "st:view", "st:view:1:2", "qr:" + "Z" * 70,
]


async def test_every_forged_or_odd_button_gets_an_answer(harness):
    """Ids beyond 64 bits, negative ids, non-canonical numbers, newlines and over-long strings, from
    staff with every role (the admin) and from a resident: each press is answered, none raises."""
    h = harness
    admin, resident = h.user(1, "en"), h.user(RESIDENT, "en")
    await h.send(resident, "/start g_DL01")
    for person in (admin, resident):
        for data in FORGED_DATA:
            calls = await h.tap(person, data)
            answers = [c.text for c in calls if isinstance(c, AnswerCallbackQuery)]
            assert answers == ["This button is not valid (any more) or not meant for you."], (person.id, data, calls)


def test_every_button_field_is_bounded():
    """One mechanism bounds all button data: a new field without a bound fails at import."""
    from handlers import callbacks

    classes = [c for c in vars(callbacks).values()
               if isinstance(c, type) and issubclass(c, CallbackData) and c.model_fields]
    assert len(classes) >= 18
    for cls in classes:
        assert issubclass(cls, callbacks.CheckedCallbackData), cls
        for name, field in cls.model_fields.items():
            assert field.metadata, (cls.__name__, name)
    with pytest.raises(TypeError, match="bound"):
        class Unbounded(callbacks.CheckedCallbackData, prefix="zz"):
            free: str


# -- invisible text -------------------------------------------------------------------------------
# Zero-width space, zero-width joiner, word joiner, byte-order mark, Hangul filler, Braille blank,
# ideographic space, a variation selector, a right-to-left mark, line breaks and tabs.
INVISIBLE = "\u200b\u200d\u2060\ufeff\u3164\u2800\u3000\ufe0f\u200f \n\t"


def test_clean_text_strips_invisible_characters():
    assert clean_text(INVISIBLE) == ""
    assert clean_text(INVISIBLE + "水管\u200b漏水" + INVISIBLE) == "水管\u200b漏水"
    assert clean_text("a\x00b\x1bc\r\nd") == "abc\nd"  # control characters go, line breaks stay
    assert clean_text("👨\u200d👩\u200d👧 ok") == "👨\u200d👩\u200d👧 ok"  # joiners inside an emoji stay


async def test_invisible_text_is_no_text(harness):
    h = harness
    service = h.dp["tickets"]
    with pytest.raises(InvalidInput):
        await service.file(RESIDENT, Draft(Kind.COMPLAINT, "water", "DL01", INVISIBLE))
    resident = h.user(RESIDENT, "en")
    await h.send(resident, "/start g_DL01")
    await h.tap(resident, KindCb(kind="complaint"))
    await h.tap(resident, CategoryCb(code="water"))
    await h.send(resident, INVISIBLE)
    calls = await h.send(resident, "✅ Done")
    assert "Please describe the problem in words or as a voice message first." in joined(calls, RESIDENT)
    assert not await h.db.resident_tickets(RESIDENT)

    await file_ticket(h, resident, lang="en")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    worker = h.user(WORKER_DL01, "en")
    await h.tap(worker, StaffTicketCb(action="resolve", ticket_id=ticket.id))
    calls = await h.send(worker, INVISIBLE)
    assert "no visible text" in joined(calls, WORKER_DL01)
    await h.send(worker, "✅ Done")
    assert (await h.db.get_ticket(ticket.id)).status is not Status.RESOLVED
    await h.tap(worker, StaffTicketCb(action="reply", ticket_id=ticket.id))
    calls = await h.send(worker, "\u2800\u200b")
    assert "no visible text" in joined(calls, WORKER_DL01)
    assert not [e for e in await h.db.events(ticket.id) if e.type is EventType.REPLIED]


async def test_an_invisible_shop_comment_is_not_stored(harness):
    h = harness
    await h.db.upsert_shops([Shop("M001", "东里便民超市", "DL01")])
    resident = h.user(RESIDENT, "en")
    await h.send(resident, "/start m_M001")
    await h.tap(resident, ShopRateCb(code="M001"))
    for step in range(3):
        await h.tap(resident, ShopScoreCb(step=step, stars=4))
    calls = await h.send(resident, INVISIBLE)
    assert "no visible text" in joined(calls, RESIDENT)
    assert await h.db.shop_comments("M001") == []


# -- locations out of range and chats that are not private ----------------------------------------
@pytest.mark.parametrize("lat, lon", [(999, 117.17), (34.81, -181), (-90.5, 0), (float("nan"), 0), (0, float("inf"))])
async def test_a_location_out_of_range_is_refused_not_stored(harness, lat, lon):
    h = harness
    with pytest.raises(InvalidInput):
        await h.dp["tickets"].file(RESIDENT, Draft(Kind.COMPLAINT, "water", "DL01", "水管漏水", lat=lat, lon=lon))
    resident = h.user(RESIDENT, "en")
    await h.send(resident, "/start g_DL01")
    await h.tap(resident, KindCb(kind="complaint"))
    await h.tap(resident, CategoryCb(code="water"))
    await h.send(resident, "Pipe burst")
    calls = await h.send(resident, location=Location.model_construct(latitude=lat, longitude=lon))
    assert "This location is not valid" in joined(calls, RESIDENT)
    await h.send(resident, "✅ Done")
    await h.tap(resident, FormCb(action="confirm"))
    [ticket] = await h.db.resident_tickets(RESIDENT)
    assert ticket.lat is None and ticket.lon is None
    await h.send(resident, "/start")
    calls = await h.send(resident, location=Location.model_construct(latitude=lat, longitude=lon))
    assert "This location is not valid" in joined(calls, RESIDENT)


def group_update(update_id: int, chat_type: str, **fields) -> Update:
    sender = User(id=RESIDENT, is_bot=False, first_name="Zhang", language_code="en")
    chat = Chat(id=-100123, type=chat_type, title="东里村群")
    note = Message(message_id=update_id, date=datetime.now(timezone.utc), chat=chat, from_user=sender, **fields)
    return Update(update_id=update_id, **({"channel_post": note} if chat_type == "channel" else {"message": note}))


async def test_the_bot_ignores_groups_and_channels(harness):
    h = harness
    start = [MessageEntity(type="bot_command", offset=0, length=6)]
    for update_id, chat_type in enumerate(("group", "supergroup", "channel"), start=900):
        calls = await h.feed(group_update(update_id, chat_type, text="/start", entities=start))
        assert calls == [], chat_type
        calls = await h.feed(group_update(update_id + 10, chat_type, text="hello"))
        assert calls == [], chat_type
    query = CallbackQuery(id="gq", from_user=h.user(RESIDENT, "en"), chat_instance="ci", data="lang:en",
                          message=group_update(950, "group", text="(buttons)").message)
    assert await h.feed(Update(update_id=951, callback_query=query)) == []
    assert await h.db.get_user(RESIDENT) is None  # not even a profile
    calls = await h.send(h.user(RESIDENT, "en"), "/start")  # the private chat works
    assert calls


# -- lengths as Telegram counts them --------------------------------------------------------------
async def test_1995_angry_faces_are_too_long_for_a_description(harness):
    """Under 3,000 characters, but 3,990 UTF-16 units: the resident is told, nothing is filed."""
    h = harness
    resident = h.user(RESIDENT, "en")
    await h.send(resident, "/start g_DL01")
    await h.tap(resident, KindCb(kind="complaint"))
    await h.tap(resident, CategoryCb(code="water"))
    calls = await h.send(resident, "😡" * 1995)
    assert "this would be 3990" in joined(calls, RESIDENT)


async def test_long_cards_and_reasons_reach_staff_whole(harness):
    """A description at the limit that HTML makes long (& < >) and emoji that count two; an
    escalation reason at the limit: every card is delivered, and the text can be read whole."""
    h = harness
    description = ("😡 水管 & <漏水> " * 300)[:2700].strip()
    assert telegram_length(description) <= 3000
    calls = await file_ticket(h, h.user(RESIDENT, "en"), text=description, lang="en")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    assert ticket.description == description
    cards = [c for c in to_chat(calls, WORKER_DL01) if isinstance(c, SendMessage)]
    assert cards and not h.session.refused
    visible = html.unescape(re.sub(r"<[^>]*>", "", cards[-1].text))
    assert description in visible  # the whole description on the card

    worker = h.user(WORKER_DL01, "en")
    reason = "🚰" * (MAX_NOTE // 2)  # 1,500 UTF-16 units
    await h.tap(worker, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    calls = await h.send(worker, reason)
    assert not h.session.refused
    [card] = [c for c in to_chat(calls, VILLAGE_DL) if isinstance(c, SendMessage)]
    assert "🚰" * 50 in card.text
    full = [button for button in buttons(card) if button[1] == StaffTicketCb(action="full", ticket_id=ticket.id).pack()]
    assert full, buttons(card)  # shortened: a button reads it whole
    calls = await h.tap(h.user(VILLAGE_DL, "en"), full[0][1])
    parts = "".join(html.unescape(c.text) for c in to_chat(calls, VILLAGE_DL) if isinstance(c, SendMessage))
    assert reason in parts and description in parts and not h.session.refused


async def test_a_residents_long_ticket_reads_whole_and_only_for_those_who_may(harness):
    """The filer's view of a long ticket keeps the newest history and offers 📄 Full text, as staff
    cards do; the button gives the whole to the filer (or the card to staff of the area), nobody else."""
    h = harness
    description = ("楼下水管漏水 & <三天> " * 200)[:2600].strip()
    await file_ticket(h, h.user(RESIDENT, "en"), text=description, lang="en")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    worker = h.user(WORKER_DL01, "en")
    replies = [f"Reply {i}: " + "🚰" * 700 for i in range(8)]
    for reply in replies:
        await h.tap(worker, StaffTicketCb(action="reply", ticket_id=ticket.id))
        await h.send(worker, reply)
    full = ResidentTicketCb(action="full", ticket_id=ticket.id).pack()

    calls = await h.tap(h.user(RESIDENT, "en"), ResidentTicketCb(action="view", ticket_id=ticket.id))
    [view] = [c for c in to_chat(calls, RESIDENT) if isinstance(c, SendMessage)]
    assert "earlier entries" in view.text and replies[0] not in view.text
    assert ("📄 Full text", full) in buttons(view) and ("➕ Add information", ResidentTicketCb(
        action="add", ticket_id=ticket.id).pack()) in buttons(view)
    calls = await h.tap(h.user(RESIDENT, "en"), full)
    parts = [c.text for c in to_chat(calls, RESIDENT) if isinstance(c, SendMessage)]
    whole = html.unescape("".join(parts))
    assert len(parts) > 1 and description in whole and all(reply in whole for reply in replies)
    assert not h.session.refused

    for stranger in (OTHER_RESIDENT, WORKER_DL02):  # not theirs, not their area: refused, nothing sent
        calls = await h.tap(h.user(stranger, "en"), full)
        assert not [c for c in calls if isinstance(c, SendMessage)]
        assert [c for c in calls if isinstance(c, AnswerCallbackQuery) and c.show_alert]
    calls = await h.tap(worker, full)  # staff of the area read the card whole, as from theirs
    assert all(reply in html.unescape("".join(texts(calls, WORKER_DL01))) for reply in replies)


async def test_every_request_keeps_to_telegrams_limits(harness):
    """The last line of defence: whatever a handler composes, no request is refused for its length."""
    h = harness
    bot = h.bot
    await bot.send_message(RESIDENT, "😡" * 3000)
    await bot.answer_callback_query("q1", text="😡" * 150)
    await bot.send_photo(RESIDENT, "file", caption="<b>" + "😡" * 600 + "</b>")
    assert not h.session.refused
    sent = h.session.calls[-3:]
    assert telegram_length(sent[0].text) <= 4096 and sent[0].text.endswith("…")
    assert telegram_length(sent[1].text) <= 200
    assert sent[2].caption.endswith("…</b>")


async def test_a_grid_with_the_longest_code_can_be_chosen(harness):
    """Grid codes may have 60 characters; every button that carries one stays within 64 bytes."""
    h = harness
    code = "L" * 60
    await h.db.upsert_grids([Grid(code, "长码网格", "东里村", "西岗镇", 34.8, 117.17)])
    resident = h.user(RESIDENT, "en")
    await h.send(resident, "/start")
    calls = await h.send(resident, "长码")
    [(_label, data)] = last_buttons(calls, RESIDENT)
    calls = await h.tap(resident, data)
    assert "长码网格" in joined(calls, RESIDENT)

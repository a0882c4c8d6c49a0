"""Bad input, forged or stale buttons, finding a grid, languages, and the staff side of the loop."""

from __future__ import annotations

from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import AnswerCallbackQuery, SendMessage, SetMyCommands
from aiogram.types import BotCommandScopeChat, BotCommandScopeDefault

from bot.texts import visible_length
from domain.models import Status, Tier
from domain.media import MAX_ATTACHMENTS as MAX_PHOTOS
from domain.tickets import MAX_DESCRIPTION
from handlers.callbacks import (
    CategoryCb,
    FormCb,
    GridPickCb,
    HandOverCb,
    KindCb,
    LanguageCb,
    RateCb,
    ResidentTicketCb,
    StaffTicketCb,
)
from tests.conftest import WORKER_DL01, WORKER_DL02, WORKER_NZ01, buttons, joined, last_buttons, texts, to_chat
from tests.test_ticket_loop import file_ticket

RESIDENT = 1001


def alerts(calls) -> list[str]:
    return [c.text for c in calls if isinstance(c, AnswerCallbackQuery) and c.text]


async def start_description(h, user, grid="DL01"):
    await h.send(user, f"/start g_{grid}")
    await h.tap(user, KindCb(kind="complaint"))
    await h.tap(user, CategoryCb(code="roads"))


async def at_summary(h):
    """An English-speaking resident whose form waits at the summary for Submit."""
    user = h.user(RESIDENT, "en")
    await start_description(h, user)
    await h.send(user, "Pothole")
    await h.send(user, "✅ Done")
    return user


async def test_unknown_and_malformed_codes_offer_grid_search(harness):
    h = harness
    user = h.user(RESIDENT, "en")
    for payload in ("g_NOPE", "x_DL01", "g_", "g_%25%25"):
        calls = await h.send(user, "/start " + payload)
        out = joined(calls, RESIDENT)
        assert "This QR code is not known" in out and "Share your location" in out, payload
        assert not any(isinstance(c, SendMessage) and "东里一网格" in c.text for c in calls)


async def test_find_grid_by_location_and_by_name(harness):
    h = harness
    user = h.user(RESIDENT, "en")
    await h.send(user, "/start")
    calls = await h.location(user, 34.7990, 117.1650)  # next to 南庄一网格
    grid_buttons = last_buttons(calls, RESIDENT)
    assert grid_buttons[0][1] == GridPickCb(code="NZ01").pack()

    calls = await h.send(user, "东里")
    assert {b[1] for b in last_buttons(calls, RESIDENT)} == {
        GridPickCb(code="DL01").pack(), GridPickCb(code="DL02").pack()
    }
    calls = await h.send(user, "nowhere")
    assert "No grid matches" in joined(calls, RESIDENT)
    calls = await h.sticker(user)
    assert "type a grid's name or share your location" in joined(calls, RESIDENT)

    calls = await h.tap(user, GridPickCb(code="DL02"))
    assert "东里二网格" in joined(calls, RESIDENT) and "What would you like to do?" in joined(calls, RESIDENT)


async def test_bad_input_in_the_description_step(harness):
    h = harness
    user = h.user(RESIDENT, "en")
    await start_description(h, user)

    calls = await h.sticker(user)
    assert "stickers and files cannot" in joined(calls, RESIDENT)
    calls = await h.document(user)
    assert "as photos, not as files" in joined(calls, RESIDENT)

    calls = await h.send(user, "✅ Done")
    assert "describe the problem in words or as a voice message first" in joined(calls, RESIDENT)

    calls = await h.send(user, "x" * (MAX_DESCRIPTION + 1))
    assert "too long" in joined(calls, RESIDENT)
    await h.send(user, "y" * (MAX_DESCRIPTION - 10))
    calls = await h.send(user, "z" * 20)  # together over the limit: refused, the first part kept
    assert "too long" in joined(calls, RESIDENT)
    calls = await h.send(user, "✅ Done")
    summary = [c for c in to_chat(calls, RESIDENT) if isinstance(c, SendMessage)][-1]
    assert len(summary.text) <= 4096 and "y" * 100 in summary.text

    calls = await h.tap(user, FormCb(action="confirm"))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    card = [c for c in to_chat(calls, WORKER_DL01) if isinstance(c, SendMessage)][-1]
    assert len(card.text) <= 4096 and ticket.description.startswith("yyy")


async def test_album_of_ten_keeps_five_and_warns_once(harness):
    h = harness
    user = h.user(RESIDENT, "en")
    await start_description(h, user)
    await h.send(user, "Broken road")
    warnings = []
    for i in range(10):
        calls = await h.photo(user, f"album{i}", media_group_id="G1")
        warnings += [t for t in texts(calls, RESIDENT) if "At most" in t]
    assert len(warnings) == 1
    calls = await h.send(user, "✅ Done")
    assert "Photos: {}".format(MAX_PHOTOS) in joined(calls, RESIDENT)
    await h.tap(user, FormCb(action="confirm"))
    ticket = await h.db.get_ticket((await h.db.resident_tickets(RESIDENT))[0].id)
    assert [p.file_id for p in ticket.attachments] == [f"album{i}" for i in range(5)]


async def test_second_start_mid_form_discards_it_on_purpose(harness):
    h = harness
    user = h.user(RESIDENT, "en")
    await start_description(h, user)
    await h.send(user, "half-written")
    calls = await h.send(user, "/start g_DL02")
    out = joined(calls, RESIDENT)
    assert "Your unfinished form was discarded" in out and "东里二网格" in out
    assert await h.db.resident_tickets(RESIDENT) == []


async def test_cancel_at_every_step(harness):
    h = harness
    user = h.user(RESIDENT, "en")
    steps = [
        lambda: h.send(user, "/start g_DL01"),
        lambda: h.tap(user, KindCb(kind="complaint")),
        lambda: h.tap(user, CategoryCb(code="roads")),
        lambda: h.send(user, "text"),
        lambda: h.send(user, "✅ Done"),
    ]
    for depth in range(1, len(steps) + 1):
        for step in steps[:depth]:
            await step()
        calls = await h.send(user, "/cancel")
        assert "Cancelled" in joined(calls, RESIDENT)
        # after cancelling, the old form's buttons are stale
        calls = await h.tap(user, FormCb(action="confirm"))
        assert alerts(calls) and await h.db.resident_tickets(RESIDENT) == []
    calls = await h.send(user, "/cancel")
    assert "nothing to cancel" in joined(calls, RESIDENT)


async def test_buttons_instead_of_text_where_a_choice_is_expected(harness):
    h = harness
    user = h.user(RESIDENT, "en")
    await h.send(user, "/start g_DL01")
    calls = await h.send(user, "some text")
    assert "choose with the buttons" in joined(calls, RESIDENT)
    calls = await h.tap(user, KindCb(kind="bogus"))
    assert alerts(calls)  # an unknown kind is not accepted


async def test_resident_cannot_use_staff_buttons(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await file_ticket(h, resident, lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    for action in ("take", "resolve", "reply", "handover"):
        calls = await h.tap(resident, StaffTicketCb(action=action, ticket_id=ticket.id))
        assert alerts(calls), action
    calls = await h.tap(resident, HandOverCb(ticket_id=ticket.id, grid_code="NZ01"))
    assert alerts(calls)
    assert (await h.db.get_ticket(ticket.id)).status is Status.NEW


async def test_worker_cannot_act_on_another_grids_ticket(harness):
    h = harness
    await file_ticket(h, h.user(RESIDENT))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    other = h.user(WORKER_NZ01, "en")
    for action in ("take", "resolve", "reply", "view"):
        calls = await h.tap(other, StaffTicketCb(action=action, ticket_id=ticket.id))
        assert "not in your area" in " ".join(alerts(calls)), action
    assert (await h.db.get_ticket(ticket.id)).status is Status.NEW
    # a forged id that does not exist
    calls = await h.tap(other, StaffTicketCb(action="take", ticket_id=999_999))
    assert alerts(calls)


async def test_stale_take_and_double_resolve(harness):
    h = harness
    await file_ticket(h, h.user(RESIDENT))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    worker = h.user(WORKER_DL01, "en")
    await h.tap(worker, StaffTicketCb(action="take", ticket_id=ticket.id))
    calls = await h.tap(worker, StaffTicketCb(action="take", ticket_id=ticket.id))
    assert "changed in the meantime" in " ".join(alerts(calls))


async def test_resident_cannot_touch_someone_elses_ticket(harness):
    h = harness
    await file_ticket(h, h.user(RESIDENT))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    stranger = h.user(1999, "en")
    for data in (
        ResidentTicketCb(action="view", ticket_id=ticket.id),
        ResidentTicketCb(action="solved", ticket_id=ticket.id),
        ResidentTicketCb(action="unsolved", ticket_id=ticket.id),
        ResidentTicketCb(action="answer", ticket_id=ticket.id),
        RateCb(ticket_id=ticket.id, stars=1),
    ):
        calls = await h.tap(stranger, data)
        assert "not yours" in " ".join(alerts(calls))
    calls = await h.tap(stranger, "garbage:data")
    assert alerts(calls)


async def test_rating_before_resolution_is_refused(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await file_ticket(h, resident, lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    calls = await h.tap(resident, RateCb(ticket_id=ticket.id, stars=5))
    assert "changed in the meantime" in " ".join(alerts(calls))
    assert (await h.db.get_ticket(ticket.id)).rating is None


async def resolve(h, worker, ticket_id, note="done"):
    await h.tap(worker, StaffTicketCb(action="resolve", ticket_id=ticket_id))
    await h.send(worker, note)
    return await h.send(worker, "✅ 完成" if worker.language_code == "zh" else "✅ Done")


async def test_not_solved_reopens_one_tier_higher_within_seven_days(harness):
    h = harness
    resident, worker, village = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en"), h.user(601, "en")
    await file_ticket(h, resident, lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    await resolve(h, worker, ticket.id)
    await h.tap(resident, ResidentTicketCb(action="unsolved", ticket_id=ticket.id))
    calls = await h.send(resident, "Still leaking")
    assert "reopened" in joined(calls, RESIDENT)
    # the grid resolved it, so the village gets it back, with the reason
    card = [c for c in to_chat(calls, 601) if isinstance(c, SendMessage)][-1]
    assert "Still leaking" in card.text
    assert StaffTicketCb(action="take", ticket_id=ticket.id).pack() in {b[1] for b in buttons(card)}
    assert not to_chat(calls, WORKER_DL01)
    reopened = await h.db.get_ticket(ticket.id)
    assert reopened.status is Status.REOPENED and reopened.tier is Tier.VILLAGE
    calls = await h.tap(worker, StaffTicketCb(action="take", ticket_id=ticket.id))
    assert "not in your area" in " ".join(alerts(calls))

    # the village resolves it, and now more than 7 days pass: too late to reopen
    await h.tap(village, StaffTicketCb(action="take", ticket_id=ticket.id))
    await resolve(h, village, ticket.id)
    assert (await h.db.get_ticket(ticket.id)).resolved_tier is Tier.VILLAGE
    h.clock.advance(8 * 24 * 3600)
    await h.tap(resident, ResidentTicketCb(action="unsolved", ticket_id=ticket.id))
    calls = await h.send(resident, "Still leaking again")
    assert "changed in the meantime" in joined(calls, RESIDENT)
    assert (await h.db.get_ticket(ticket.id)).status is Status.RESOLVED


async def test_hand_over_to_another_grid(harness):
    h = harness
    resident, worker = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en")
    await file_ticket(h, resident, lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    calls = await h.tap(worker, StaffTicketCb(action="handover", ticket_id=ticket.id))
    targets = {b[1] for b in last_buttons(calls, WORKER_DL01)}
    assert HandOverCb(ticket_id=ticket.id, grid_code="DL02").pack() in targets
    assert HandOverCb(ticket_id=ticket.id, grid_code="DL01").pack() not in targets
    calls = await h.tap(worker, HandOverCb(ticket_id=ticket.id, grid_code="DL02"))
    assert "Write the reason" in joined(calls, WORKER_DL01)
    calls = await h.send(worker, "Building 7 belongs to DL02")
    assert "东里二网格" in joined(calls, RESIDENT) and "Building 7" not in joined(calls, RESIDENT)
    assert any("Hand" not in t for t in texts(calls, WORKER_DL02)) and to_chat(calls, WORKER_DL02)
    moved = await h.db.get_ticket(ticket.id)
    assert moved.grid_code == "DL02" and moved.status is Status.NEW and moved.tier is Tier.GRID
    # the first worker no longer handles it
    calls = await h.tap(worker, StaffTicketCb(action="take", ticket_id=ticket.id))
    assert alerts(calls)


async def test_queue_lists_open_tickets_oldest_first_with_deadlines(harness):
    h = harness
    worker = h.user(WORKER_DL01, "en")
    calls = await h.send(worker, "/queue")
    assert "queue is empty" in joined(calls, WORKER_DL01)
    await file_ticket(h, h.user(RESIDENT), category="water")
    h.clock.advance(3 * 3600)
    await file_ticket(h, h.user(1002), category="roads")
    calls = await h.send(worker, "/queue")
    out = joined(calls, WORKER_DL01)
    first, second = (await h.db.resident_tickets(RESIDENT))[0], (await h.db.resident_tickets(1002))[0]
    assert out.index("XG-{:06d}".format(first.id)) < out.index("XG-{:06d}".format(second.id))
    # water: reply within 2 h, filed 3 h ago -> overdue by 1 h; resolve within 24 h -> 21 h left
    assert "reply: overdue by 1 h 0 min" in out and "resolve: 21 h 0 min left" in out
    calls = await h.send(h.user(RESIDENT, "en"), "/queue")
    assert "did not understand" in joined(calls, RESIDENT)  # residents have no queue


async def test_worker_never_sees_name_unless_shared(harness):
    h = harness
    calls = await file_ticket(h, h.user(RESIDENT), share=True)
    card = [c for c in to_chat(calls, WORKER_DL01) if isinstance(c, SendMessage)][-1]
    assert "User1001" in card.text and "@user1001" in card.text
    calls = await file_ticket(h, h.user(1002), category="roads")
    card = [c for c in to_chat(calls, WORKER_DL01) if isinstance(c, SendMessage)][-1]
    assert "User1002" not in card.text and "user1002" not in card.text


async def test_language_follows_telegram_and_lang_command(harness):
    h = harness
    user = h.user(RESIDENT, "en-US")
    calls = await h.send(user, "/help")
    assert "/my" in joined(calls, RESIDENT) and "your tickets" in joined(calls, RESIDENT)
    calls = await h.send(user, "/lang")
    assert {b[1] for b in last_buttons(calls, RESIDENT)} == {LanguageCb(code="zh").pack(), LanguageCb(code="en").pack()}
    calls = await h.tap(user, LanguageCb(code="zh"))
    assert "已切换为中文" in joined(calls, RESIDENT)
    calls = await h.send(user, "/help")
    assert "your tickets" not in joined(calls, RESIDENT)
    assert (await h.db.get_user(RESIDENT)).language == "zh"


async def test_chinese_is_default_for_unknown_languages(harness):
    h = harness
    calls = await h.send(h.user(RESIDENT, "de"), "/start g_DL01")
    assert "Complaint" not in [b[0] for b in last_buttons(calls, RESIDENT)]
    assert [b[0] for b in last_buttons(calls, RESIDENT)][0] == "投诉举报"


async def test_command_menus_per_language_and_role(harness):
    h = harness
    # as start_polling calls it
    await h.dp.emit_startup(bot=h.bot, dispatcher=h.dp, **h.dp.workflow_data)
    try:
        menus = [c for c in h.session.calls if isinstance(c, SetMyCommands)]
        default = {(c.language_code or "-"): [x.command for x in c.commands]
                   for c in menus if isinstance(c.scope, BotCommandScopeDefault)}
        assert set(default) == {"zh", "en", "-"}
        assert "queue" not in default["en"] and "my" in default["en"]
        en_texts = [c for c in menus if c.language_code == "en"][0].commands
        zh_texts = [c for c in menus if c.language_code == "zh"][0].commands
        assert en_texts[0].description != zh_texts[0].description
        per_chat = {c.scope.chat_id: [x.command for x in c.commands]
                    for c in menus if isinstance(c.scope, BotCommandScopeChat)}
        assert "queue" in per_chat[WORKER_DL01] and "stats" not in per_chat[WORKER_DL01]
        assert "stats" in per_chat[701]  # the official
        assert "queue" in per_chat[1]  # ADMIN_IDS
        assert await h.db.get_value("bot_username") == "grid_test_bot"
    finally:
        await h.dp.emit_shutdown(bot=h.bot, dispatcher=h.dp, **h.dp.workflow_data)


async def test_followers_do_not_see_what_filer_and_staff_wrote(harness):
    h = harness
    filer, follower, worker = h.user(RESIDENT, "en"), h.user(1002, "en"), h.user(WORKER_DL01, "en")
    await file_ticket(h, filer, lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    await h.dp["tickets"].follow(ticket.id, 1002)
    await h.tap(worker, StaffTicketCb(action="reply", ticket_id=ticket.id))
    await h.send(worker, "Your address please?")
    await h.tap(filer, ResidentTicketCb(action="answer", ticket_id=ticket.id))
    await h.send(filer, "Xingfu Road 8, phone 13800000000")
    calls = await h.tap(follower, ResidentTicketCb(action="view", ticket_id=ticket.id))
    view = joined(calls, 1002)
    assert "Resident answered" in view and "13800000000" not in view and "address" not in view
    calls = await h.tap(filer, ResidentTicketCb(action="view", ticket_id=ticket.id))
    assert "13800000000" in joined(calls, RESIDENT)


async def test_long_histories_still_fit_in_one_message(harness):
    h = harness
    resident, worker = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en")
    await start_description(h, resident)
    await h.send(resident, "<&> " * (MAX_DESCRIPTION // 4))
    await h.send(resident, "✅ Done")
    await h.tap(resident, FormCb(action="confirm"))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    for i in range(6):
        await h.tap(worker, StaffTicketCb(action="reply", ticket_id=ticket.id))
        await h.send(worker, "&" * 1400)
    await h.tap(worker, StaffTicketCb(action="escalate", ticket_id=ticket.id))
    calls = await h.send(worker, "x" * 1400)
    card = [c for c in to_chat(calls, 601) if isinstance(c, SendMessage)][-1]
    assert visible_length(card.text) <= 4096  # as Telegram counts: after HTML, in UTF-16 units
    assert card.text.count("&") == card.text.count("&amp;") + card.text.count("&lt;") + card.text.count("&gt;")
    calls = await h.tap(resident, ResidentTicketCb(action="view", ticket_id=ticket.id))
    view = [c for c in to_chat(calls, RESIDENT) if isinstance(c, SendMessage)][-1]
    assert visible_length(view.text) <= 4096


async def test_done_works_after_switching_language_mid_form(harness):
    h = harness
    user = h.user(RESIDENT, "zh")
    await start_description(h, user)
    await h.send(user, "路灯坏了")
    await h.tap(user, LanguageCb(code="en"))
    calls = await h.send(user, "✅ 完成")  # the old button, in Chinese
    assert "Please check your report" in joined(calls, RESIDENT)


async def test_submit_again_after_a_crash_files_nothing_new(harness):
    h = harness
    user = await at_summary(h)
    form = await h.dp.storage.get_data(key=StorageKey(bot_id=h.bot.id, chat_id=RESIDENT, user_id=RESIDENT))
    await h.tap(user, FormCb(action="confirm"))
    # the bot died after filing but before clearing the form: the form is back as it was
    key = StorageKey(bot_id=h.bot.id, chat_id=RESIDENT, user_id=RESIDENT)
    await h.dp.storage.set_state(key, "TicketForm:confirm")
    await h.dp.storage.set_data(key, form)
    calls = await h.tap(user, FormCb(action="confirm"))  # a new tap, a new callback id
    tickets = await h.db.resident_tickets(RESIDENT)
    assert len(tickets) == 1 and "XG-{:06d}".format(tickets[0].id) in joined(calls, RESIDENT)
    assert not [c for c in calls if "Your ticket number" in str(getattr(c, "text", ""))]  # told once, before


async def test_a_stale_button_answer_does_not_hide_the_ticket_number(harness):
    h = harness
    user = await at_summary(h)
    h.session.fail_next(None, 400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
    calls = await h.tap(user, FormCb(action="confirm"))
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    assert "XG-{:06d}".format(ticket.id) in joined(calls, RESIDENT)


async def test_a_form_left_half_way_is_dropped_openly(harness):
    h = harness
    user = h.user(RESIDENT, "en")
    await file_ticket(h, user, lang="en")
    ticket = (await h.db.resident_tickets(RESIDENT))[0]
    await start_description(h, user)
    calls = await h.tap(user, ResidentTicketCb(action="answer", ticket_id=ticket.id))
    assert "Your unfinished form was discarded" in joined(calls, RESIDENT)


async def test_help_refreshes_a_new_staff_members_menu(harness):
    from domain.models import Role, StaffMember

    h = harness
    await h.db.upsert_staff([StaffMember(777, "新网格员", Role.GRID_WORKER, "DL02")])
    calls = await h.send(h.user(777, "en"), "/help")
    # their first message sets the menu, and /help again
    menus = [c for c in calls if isinstance(c, SetMyCommands)]
    assert menus and all(m.scope.chat_id == 777 and "queue" in [c.command for c in m.commands] for m in menus)

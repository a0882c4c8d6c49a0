"""Weekly and monthly digests: each official's choice (/digest), once per period, through the outbox."""

from __future__ import annotations

from datetime import datetime

from aiogram.methods import AnswerCallbackQuery, EditMessageReplyMarkup, SendMessage, SetMyCommands

from bot.digest import digest_due_period, queue_digest
from domain.digest import DigestChoice
from domain.models import Role, StaffMember
from domain.stats import PeriodKind
from handlers.callbacks import DigestCb
from tests.conftest import to_chat
from tests.test_stats_commands import ADMIN, OFFICIAL, tickets_last_week

MONTHLY_OFFICIAL = 702
SILENT_OFFICIAL = 703


def local(text: str, tz) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp())


async def deliver(h) -> list[SendMessage]:
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    return [c for c in h.session.calls[before:] if isinstance(c, SendMessage)]


async def test_weekly_digest_goes_out_once_even_after_downtime(harness):
    h = harness
    await tickets_last_week(h)
    tz = h.settings.timezone
    assert digest_due_period(PeriodKind.WEEK, local("2025-11-24 07:59", tz), h.settings) is None
    assert str(digest_due_period(PeriodKind.WEEK, local("2025-11-24 08:00", tz), h.settings)) == "2025-W47"
    # the bot was down at 08:00 and comes back at 10:30: the digest still goes, once
    h.clock.now = local("2025-11-24 10:30", tz)
    assert await queue_digest(h.db, h.settings, h.clock.now) == 1
    assert await queue_digest(h.db, h.settings, h.clock.now) == 0
    [digest] = await deliver(h)
    assert digest.chat_id == OFFICIAL and "每周统计简报" in digest.text and "2025-W47" in digest.text
    # next week: a new digest
    assert await queue_digest(h.db, h.settings, local("2025-12-01 08:00", tz)) == 1


async def test_each_official_gets_the_digests_they_chose(harness):
    h = harness
    tz = h.settings.timezone
    await h.db.upsert_staff([
        StaffMember(MONTHLY_OFFICIAL, "副镇长", Role.OFFICIAL, "西岗镇"),
        StaffMember(SILENT_OFFICIAL, "纪委书记", Role.OFFICIAL, ""),
    ])
    # never wrote to the bot: weekly, the default
    assert (await h.db.digest_choices([OFFICIAL]))[OFFICIAL] is DigestChoice.WEEKLY

    calls = await h.send(h.user(MONTHLY_OFFICIAL, "en"), "/digest")
    [answer] = to_chat(calls, MONTHLY_OFFICIAL)
    assert "weekly, every Mon at 08:00" in answer.text
    calls = await h.send(h.user(MONTHLY_OFFICIAL, "en"), "/digest monthly")
    assert "monthly, on the 1st at 08:00" in to_chat(calls, MONTHLY_OFFICIAL)[-1].text
    calls = await h.send(h.user(SILENT_OFFICIAL), "/digest 关闭")
    assert "不接收" in to_chat(calls, SILENT_OFFICIAL)[-1].text
    calls = await h.send(h.user(SILENT_OFFICIAL, "en"), "/digest daily")
    assert "/digest weekly, /digest monthly" in to_chat(calls, SILENT_OFFICIAL)[-1].text
    assert (await h.db.digest_choices([SILENT_OFFICIAL]))[SILENT_OFFICIAL] is DigestChoice.OFF

    # Monday 1 December: the week 2025-W48 and the month 2025-11 are both due, once each
    h.clock.now = local("2025-12-01 09:00", tz)
    assert await queue_digest(h.db, h.settings, h.clock.now) == 2
    assert await queue_digest(h.db, h.settings, h.clock.now + 3600) == 0
    sent = {m.chat_id: m.text for m in await deliver(h)}
    assert set(sent) == {OFFICIAL, MONTHLY_OFFICIAL}
    assert "每周统计简报" in sent[OFFICIAL] and "2025-W48" in sent[OFFICIAL]
    assert "Monthly digest" in sent[MONTHLY_OFFICIAL] and "2025-11 (11-01 – 11-30)" in sent[MONTHLY_OFFICIAL]

    # a button changes the choice; the next Monday brings a weekly digest to both
    calls = await h.tap(h.user(MONTHLY_OFFICIAL, "en"), DigestCb(choice="both"))
    assert [c for c in calls if isinstance(c, EditMessageReplyMarkup)]
    [toast] = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
    assert "weekly every Mon and monthly on the 1st" in toast.text
    h.clock.now = local("2025-12-08 08:00", tz)
    assert await queue_digest(h.db, h.settings, h.clock.now) == 2


async def test_digest_command_is_for_officials(harness):
    h = harness
    calls = await h.send(h.user(ADMIN, "en"), "/digest weekly")
    assert "official" in to_chat(calls, ADMIN)[-1].text
    calls = await h.tap(h.user(ADMIN, "en"), DigestCb(choice="weekly"))
    assert [c for c in calls if isinstance(c, AnswerCallbackQuery) and c.show_alert]
    calls = await h.tap(h.user(OFFICIAL, "en"), DigestCb(choice="daily"))
    assert [c for c in calls if isinstance(c, AnswerCallbackQuery) and c.show_alert]
    calls = await h.send(h.user(OFFICIAL, "en"), "/help")
    [menu] = [c for c in calls if isinstance(c, SetMyCommands)]
    assert "digest" in [c.command for c in menu.commands]

"""A reply that reports a stored change (the ticket number, a status change, a rating saved) is
written to the outbox with the change: a bot killed right after the change still tells it, once,
although Telegram does not deliver the press again (aiogram confirmed it with the next batch)."""

from __future__ import annotations

import asyncio

import pytest

from domain.models import Role, StaffMember
from handlers.callbacks import FormCb, RateCb, ResidentTicketCb, ShopRateCb, ShopScoreCb, SiteInspectCb, StaffTicketCb
from tests.conftest import WORKER_DL01, joined
from tests.test_codes import INSPECTOR, SHOP, SITE
from tests.test_reliability import restart, start_form
from tests.test_ticket_loop import file_ticket

RESIDENT = 1001


def dies_after(h, method_name: str):
    """The storage call `method_name` is written, then the bot dies before anything else happens."""
    stored = getattr(h.db, method_name)

    async def then_killed(*args, **kwargs):
        await stored(*args, **kwargs)
        raise asyncio.CancelledError  # as near to kill -9 as a test in this process gets

    setattr(h.db, method_name, then_killed)


async def everything_sent(h) -> str:
    before = len(h.session.calls)
    await h.dp["outbox"].deliver_due(h.bot)
    return joined(h.session.calls[before:])


async def test_the_ticket_number_survives_a_kill_after_filing(harness):
    h = harness
    resident = h.user(RESIDENT, "en")
    await start_form(h, resident)
    await h.send(resident, "✅ Done")
    dies_after(h, "create_ticket")
    with pytest.raises(asyncio.CancelledError):
        await h.tap(resident, FormCb(action="confirm"))
    [ticket] = await h.db.resident_tickets(RESIDENT)
    await restart(h)  # the tap is not delivered again
    try:
        told = await everything_sent(h)
        assert told.count("Your ticket number is <b>XG-{:06d}</b>".format(ticket.id)) == 1
        assert await everything_sent(h) == ""  # and only once
    finally:
        await h.db.close()


async def test_a_status_change_and_a_rating_survive_a_kill(harness):
    h = harness
    resident, worker = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en")
    await file_ticket(h, resident, lang="en")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    await h.tap(worker, StaffTicketCb(action="resolve", ticket_id=ticket.id))
    await h.send(worker, "Pipe replaced")
    dies_after(h, "change_ticket")
    with pytest.raises(asyncio.CancelledError):
        await h.send(worker, "✅ Done")
    await restart(h)
    try:
        told = await everything_sent(h)
        assert "Ticket XG-{:06d} is marked resolved".format(ticket.id) in told
        assert "Is the problem solved?" in told  # the resident's notice, as before

        await h.tap(resident, ResidentTicketCb(action="solved", ticket_id=ticket.id))
        dies_after(h, "change_ticket")
        with pytest.raises(asyncio.CancelledError):
            await h.tap(resident, RateCb(ticket_id=ticket.id, stars=4))
        await restart(h)
        told = await everything_sent(h)
        assert (await h.db.get_ticket(ticket.id)).rating == 4
        assert told.count("Thank you for rating!") == 1
    finally:
        await h.db.close()


async def test_taking_a_ticket_survives_a_kill(harness):
    h = harness
    resident, worker = h.user(RESIDENT, "en"), h.user(WORKER_DL01, "en")
    await file_ticket(h, resident, lang="en")
    [ticket] = await h.db.resident_tickets(RESIDENT)
    dies_after(h, "change_ticket")
    with pytest.raises(asyncio.CancelledError):
        await h.tap(worker, StaffTicketCb(action="take", ticket_id=ticket.id))
    await restart(h)
    try:
        told = await everything_sent(h)
        assert told.count("You took ticket XG-{:06d}".format(ticket.id)) == 1
        assert await everything_sent(h) == ""
    finally:
        await h.db.close()


async def test_a_shop_rating_and_its_comment_survive_a_kill(harness):
    h = harness
    await h.db.upsert_shops([SHOP])
    resident = h.user(RESIDENT, "en")
    await h.send(resident, f"/start m_{SHOP.code}")
    await h.tap(resident, ShopRateCb(code=SHOP.code))
    await h.tap(resident, ShopScoreCb(step=0, stars=4))
    await h.tap(resident, ShopScoreCb(step=1, stars=3))
    dies_after(h, "save_shop_rating")
    with pytest.raises(asyncio.CancelledError):
        await h.tap(resident, ShopScoreCb(step=2, stars=5))
    await restart(h)
    try:
        assert (await h.db.shop_score(SHOP.code, 0, h.clock.now + 1)).ratings == 1
        told = await everything_sent(h)
        assert told.count("Thank you for rating {}".format(SHOP.name)) == 1
        assert await everything_sent(h) == ""

        await h.tap(resident, ShopRateCb(code=SHOP.code))  # rated again the same day, with a comment
        for step, stars in enumerate((1, 2)):
            await h.tap(resident, ShopScoreCb(step=step, stars=stars))
        told = joined(await h.tap(resident, ShopScoreCb(step=2, stars=3)), RESIDENT)
        assert "replaces your earlier rating" in told
        dies_after(h, "save_shop_rating")
        with pytest.raises(asyncio.CancelledError):
            await h.send(resident, "Aisle blocked")
        await restart(h)
        assert (await h.db.shop_comments(SHOP.code))[0].comment == "Aisle blocked"
        assert (await everything_sent(h)).count("Your comment was passed on") == 1
    finally:
        await h.db.close()


async def test_an_inspection_survives_a_kill(harness):
    h = harness
    await h.db.upsert_sites([SITE])
    await h.db.upsert_staff([StaffMember(INSPECTOR, "张监管", Role.INSPECTOR, "西岗镇")])
    inspector = h.user(INSPECTOR, "en")
    await h.tap(inspector, SiteInspectCb(code=SITE.code))
    await h.send(inspector, "Fire lane blocked")
    await h.photo(inspector, "ph0")
    dies_after(h, "add_inspection")
    with pytest.raises(asyncio.CancelledError):
        await h.send(inspector, "✅ Done")
    await restart(h)
    try:
        assert len(await h.db.site_inspections(SITE.code)) == 1
        told = await everything_sent(h)
        assert told.count("Inspection of {} saved (photos: 1)".format(SITE.name)) == 1
        assert await everything_sent(h) == ""
    finally:
        await h.db.close()

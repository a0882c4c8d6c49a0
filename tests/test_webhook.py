"""Webhook mode (issue 14): Telegram's requests through the web server, on both backends. An
update is stored before the 200, so a process killed after answering loses nothing."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from aiogram.types import Update
from aiohttp.test_utils import TestClient, TestServer

from bot.config import SettingsError, load_settings
from bot.factory import create_dispatcher
from storage import open_storage
from tests.conftest import to_chat
from web.app import create_app
from web.webhook import SECRET_HEADER, UPDATE_CLAIM_SECONDS, add_webhook

SECRET = "s3cret-token_of-the-test"
URL = "https://bot.example.org/telegram/hook"


def start_update(h, update_id: int, user_id: int = 1001) -> str:
    """What Telegram posts when the user sends /start."""
    message = h._message(h.user(user_id), user_id, text="/start",
                         entities=[{"type": "bot_command", "offset": 0, "length": 6}])
    return Update(update_id=update_id, message=message).model_dump_json(exclude_none=True)


@pytest.fixture
async def served(harness):
    """The harness's dispatcher behind the web server, in webhook mode."""
    h = harness
    settings = replace(h.settings, webhook_url=URL, webhook_secret=SECRET)
    app = create_app(settings, h.db, h.clock)
    intake = add_webhook(app, settings, h.dp, h.bot, h.db, h.clock)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield h, client, intake
    await intake.wait_idle()
    await client.close()


async def post(client, body: str, secret: str | None = SECRET):
    headers = {"Content-Type": "application/json"} | ({SECRET_HEADER: secret} if secret is not None else {})
    return await client.post("/telegram/hook", data=body, headers=headers)


async def test_an_update_is_answered_after_it_is_stored_and_handled_once(served):
    h, client, intake = served
    body = start_update(h, 500)
    for _ in range(2):  # Telegram sends it again when it missed the first answer
        assert (await post(client, body)).status == 200
    await intake.wait_idle()
    await h.dp["outbox"].deliver_due(h.bot)
    replies = to_chat(h.session.calls, 1001)
    assert replies and await h.db.stored_updates() == [] and await h.db.update_handled(500)
    assert (await post(client, body)).status == 200
    await intake.wait_idle()
    assert to_chat(h.session.calls, 1001) == replies  # the third delivery did nothing either


async def test_a_request_without_the_secret_is_refused_and_stores_nothing(served):
    h, client, _ = served
    for secret in (None, "", "wrong-secret-of-someone-else"):
        assert (await post(client, start_update(h, 600), secret)).status == 401
    assert (await post(client, "not json")).status == 400
    assert (await post(client, json.dumps({"update_id": "7"}))).status == 400
    assert await h.db.stored_updates() == [] and not h.session.calls


async def test_a_process_killed_after_answering_loses_nothing(served, monkeypatch):
    h, client, intake = served
    started = asyncio.Event()

    async def killed(bot, update, **kwargs):  # the process dies while handling it
        started.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(h.dp, "feed_update", killed)
    assert (await post(client, start_update(h, 700))).status == 200
    await started.wait()
    for task in list(intake._handling):
        task.cancel()
    assert [update_id for update_id, _ in await h.db.stored_updates()] == [700]
    monkeypatch.undo()
    # The next process: the same database, a new dispatcher; what is stored is handled first. (On
    # PostgreSQL, where other processes may be alive, once the dead one's claim has run out.)
    h.clock.advance(UPDATE_CLAIM_SECONDS + 1)
    await h.db.close()
    h.db = await open_storage(h.settings.database)
    try:
        h.dp = create_dispatcher(h.settings, h.db, clock=h.clock, send_intervals=(0.0, 0.0))
        settings = replace(h.settings, webhook_url=URL, webhook_secret=SECRET)
        again = add_webhook(create_app(settings, h.db, h.clock), settings, h.dp, h.bot, h.db, h.clock)
        assert await again.handle_stored() == 1
        assert to_chat(h.session.calls, 1001)
        assert await h.db.stored_updates() == [] and await h.db.update_handled(700)
    finally:
        await h.db.close()


def test_webhook_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"WEBHOOK_URL": URL, "WEBHOOK_SECRET": SECRET})
    assert (settings.webhook_url, settings.webhook_secret) == (URL, SECRET) and SECRET not in repr(settings)
    assert load_settings({}).webhook_url is None
    for bad in ({"WEBHOOK_URL": "http://bot.example.org/hook", "WEBHOOK_SECRET": SECRET},
                {"WEBHOOK_URL": URL, "WEBHOOK_SECRET": "short"}, {"WEBHOOK_URL": URL}):
        with pytest.raises(SettingsError, match="WEBHOOK"):
            load_settings(bad)

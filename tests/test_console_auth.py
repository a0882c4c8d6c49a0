"""Signing in to the console (issue 16): Telegram's initData, checked on every /app/api/ request."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl, urlencode

import pytest

from domain.models import Grid, Role, StaffMember
from storage import open_storage
from tests.conftest import START, FakeClock, make_settings
from tests.console_helpers import console_client, console_headers, sign_init_data

WORKER, RESIDENT, ADMIN = 501, 502, 1  # 1 is in make_settings' ADMIN_IDS
USER = {"id": WORKER, "first_name": "李", "last_name": "四", "language_code": "en"}


@pytest.mark.backends("sqlite")
async def test_forged_replayed_and_tampered_init_data_get_401(tmp_path, database):
    settings, clock = make_settings(tmp_path), FakeClock()
    db = await open_storage(database)
    await db.upsert_staff([StaffMember(WORKER, "李四", Role.GRID_WORKER, "G1")])
    good = sign_init_data(settings.bot_token, USER, clock.now)
    fields = dict(parse_qsl(good))
    tampered = urlencode({**fields, "user": fields["user"].replace(str(WORKER), str(ADMIN))})
    async with console_client(settings, db, clock) as client:
        async def status(authorization: str | None) -> tuple[int, dict]:
            response = await client.get("/app/api/me", headers={"Authorization": authorization} if authorization else {})
            return response.status, await response.json()

        assert (await status(f"tma {good}"))[0] == 200
        refused = [
            None,  # no sign-in at all
            f"Bearer {good}",
            "tma " + sign_init_data("43:ANOTHER_BOTS_TOKEN_THAT_IS_LONG_ENOUGH", USER, clock.now),  # forged
            "tma " + sign_init_data(settings.bot_token, USER, clock.now - 3601),  # replayed after an hour
            f"tma {tampered}",
            f"tma {good}&hash=0",  # a second hash
            "tma " + good.replace("hash=", "hash=0"),
            "tma user=%7B%7D",
        ]
        for authorization in refused:
            code, body = await status(authorization)
            assert code == 401 and body["error"], authorization
        assert "过期" in (await status(refused[3]))[1]["error"]  # the server's default language, Chinese
        clock.advance(3601)  # the good one, an hour later
        assert (await status(f"tma {good}"))[0] == 401
    async with console_client(replace(settings, bot_token=None), db, clock) as client:
        response = await client.get("/app/api/me", headers={"Authorization": f"tma {good}"})
        assert response.status == 503 and "BOT_TOKEN" in (await response.json())["error"]
    await db.close()


async def test_me_says_who_signed_in_and_what_they_may_do(tmp_path, database):
    settings, clock = make_settings(tmp_path), FakeClock()
    db = await open_storage(database)
    await db.upsert_grids([Grid("G1", "一号网格", "东村", "西岗镇")])
    await db.upsert_staff([StaffMember(WORKER, "李四", Role.GRID_WORKER, "G1"),
                           StaffMember(503, "王五", Role.OFFICIAL, "西岗镇"),
                           StaffMember(504, "赵六", Role.TOWN, "西岗镇")])
    await db.touch_user(WORKER, "李四", None, "zh-hans")
    await db.set_language(WORKER, "en")  # chosen with /lang: wins over Telegram's
    async with console_client(settings, db, clock) as client:
        response = await client.get("/app/api/me", headers=console_headers(settings, WORKER, START, "李四"))
        assert await response.json() == {
            "user": {"id": WORKER, "name": "李四"}, "language": "en",
            "roles": [{"role": "grid_worker", "scope": "G1", "text": "grid worker"}],
            "can": {"tickets": True, "act": True, "figures": False},
        }
        official = await (await client.get("/app/api/me", headers=console_headers(settings, 503, START))).json()
        assert official["language"] == "zh" and official["can"] == {"tickets": True, "act": False, "figures": True}
        town = await (await client.get("/app/api/me", headers=console_headers(settings, 504, START))).json()
        assert town["can"] == {"tickets": True, "act": True, "figures": True}  # their town's, as the figures allow
        admin = await (await client.get("/app/api/me", headers=console_headers(settings, ADMIN, START))).json()
        assert admin["roles"] == [{"role": "admin", "scope": "", "text": "管理员"}] and admin["can"]["act"]
        response = await client.get("/app/api/me", headers=console_headers(settings, RESIDENT, START))
        assert response.status == 403 and (await response.json())["error"]
    await db.close()

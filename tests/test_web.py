"""The public web server: its factory, its settings, and `gridbot web` as a process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import SettingsError, load_settings
from tests.conftest import make_settings
from tests.test_cli import ROOT
from storage import open_storage
from web.app import create_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_healthz_answers_from_the_factory(tmp_path, database):
    db = await open_storage(database)
    client = TestClient(TestServer(create_app(make_settings(tmp_path), db)))
    await client.start_server()
    try:
        response = await client.get("/healthz")
        assert response.status == 200 and await response.json() == {"status": "ok"}
    finally:
        await client.close()
        await db.close()


def test_web_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", None)
    settings = load_settings({"WEB_HOST": "0.0.0.0", "WEB_PORT": "8081"})
    assert (settings.web_host, settings.web_port) == ("0.0.0.0", 8081)
    for bad in ("0", "65536", "http", "-1"):
        with pytest.raises(SettingsError, match="WEB_PORT"):
            load_settings({"WEB_PORT": bad})
    with pytest.raises(SettingsError, match="WEB_HOST"):
        load_settings({"WEB_HOST": "bad host"})


def test_board_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).board.towns == frozenset()
    board = load_settings({"BOARD_TOWNS": "西岗镇， 东沙河镇、,", "BOARD_SUGGESTIONS": "西岗镇"}).board
    assert board.towns == {"西岗镇", "东沙河镇"} and board.suggestion_towns == {"西岗镇"}
    tiles = "https://t0.tianditu.gov.cn/DataServer?T=vec_w&x={x}&y={y}&l={z}&tk=KEY"
    assert load_settings({"MAP_TILE_URL": tiles}).map_tile_url == tiles
    for bad in ("https://tiles.example.org/{z}/{x}.png", "file:///{z}/{x}/{y}", "//{z}/{x}/{y}"):
        with pytest.raises(SettingsError, match="MAP_TILE_URL"):
            load_settings({"MAP_TILE_URL": bad})
    with pytest.raises(SettingsError, match="BOARD_SUGGESTIONS .*南庄镇"):
        load_settings({"BOARD_TOWNS": "西岗镇", "BOARD_SUGGESTIONS": "南庄镇"})


def test_gridbot_web_runs_without_a_token_and_stops_on_sigterm(tmp_path):
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key != "BOT_TOKEN"}
    environment.update(PYTHONPATH=str(ROOT), DATABASE_PATH=str(tmp_path / "gridbot.sqlite3"), WEB_PORT=str(port))
    process = subprocess.Popen([sys.executable, "-m", "bot", "web"], cwd=tmp_path, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:  # waits for the server to listen, not for a duration
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "gridbot web did not start listening"
                time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, out + err
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()


async def test_gridbot_run_starts_the_web_server_beside_the_bot(tmp_path):
    import asyncio

    from aiohttp import ClientError, ClientSession

    from tests.fake_bot_api import FakeBotApi
    from tests.test_cli import TOKEN

    api = FakeBotApi()
    url = await api.start()
    port = free_port()
    environment = {key: value for key, value in os.environ.items()}
    environment.update(PYTHONPATH=str(ROOT), DATABASE_PATH=str(tmp_path / "gridbot.sqlite3"), WEB_PORT=str(port),
                       BOT_TOKEN=TOKEN, TELEGRAM_API_URL=url)
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=tmp_path, env=environment,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        async with ClientSession() as client:
            for _ in range(600):  # waits for the server to listen, not for a duration
                try:
                    async with client.get(f"http://127.0.0.1:{port}/healthz") as response:
                        assert response.status == 200
                        break
                except ClientError:
                    assert process.returncode is None, await process.communicate()
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("gridbot run did not start the web server")
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        assert "web server on 127.0.0.1" in err.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await api.stop()

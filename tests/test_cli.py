"""The `gridbot` command: settings, CSV imports and the demo town."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.__main__ import RedactTokenFilter, main
from bot.config import SettingsError, load_settings
from domain.models import Grid, Role, Status
from storage.sqlite import SqliteStorage

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
TOKEN_SECRET = TOKEN.split(":")[1]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for name in ("BOT_TOKEN", "ADMIN_IDS", "TIMEZONE", "DEFAULT_LANGUAGE", "TELEGRAM_API_URL", "TICKET_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db" / "gridbot.sqlite3"))
    return tmp_path


def read_db(path):
    async def read():
        db = await SqliteStorage.open(path)
        try:
            return await db.list_grids(), await db.list_staff(), await db.list_categories()
        finally:
            await db.close()

    return asyncio.run(read())


def test_settings_defaults_and_errors(env, monkeypatch):
    settings = load_settings()
    assert settings.timezone.key == "Asia/Shanghai" and settings.default_language == "zh"
    with pytest.raises(SettingsError, match="BOT_TOKEN is not set"):
        settings.require_token()
    monkeypatch.setenv("BOT_TOKEN", "not-a-token")
    with pytest.raises(SettingsError, match="malformed"):
        load_settings().require_token()
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    assert TOKEN not in repr(load_settings())
    monkeypatch.setenv("ADMIN_IDS", "1, 2,x")
    with pytest.raises(SettingsError, match="ADMIN_IDS"):
        load_settings()
    monkeypatch.setenv("ADMIN_IDS", "1, 2")
    assert load_settings().admin_ids == {1, 2}
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")
    with pytest.raises(SettingsError, match="TIMEZONE"):
        load_settings()


def test_follow_up_days_are_checked(env, monkeypatch):
    for name in ("PHONE_RETENTION_DAYS", "CONFIRM_REMINDER_DAYS", "AUTO_CLOSE_DAYS"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (settings.phone_retention_days, settings.confirm_reminder_days, settings.auto_close_days) == (30, 3, 7)
    for name, value in (("PHONE_RETENTION_DAYS", "0"), ("PHONE_RETENTION_DAYS", "ten"), ("AUTO_CLOSE_DAYS", "-1")):
        monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError, match=name):
            load_settings()
        monkeypatch.delenv(name)
    monkeypatch.setenv("CONFIRM_REMINDER_DAYS", "7")
    with pytest.raises(SettingsError, match="CONFIRM_REMINDER_DAYS"):
        load_settings()
    monkeypatch.setenv("AUTO_CLOSE_DAYS", "14")
    assert load_settings().auto_close_days == 14


def test_dotenv_file_is_read_and_environment_wins(env, monkeypatch):
    (env / ".env").write_text("DEFAULT_LANGUAGE=en\nTICKET_PREFIX=AB\n", encoding="utf-8")
    monkeypatch.setenv("TICKET_PREFIX", "CD")
    settings = load_settings()
    assert settings.default_language == "en" and settings.ticket_prefix == "CD"


def test_run_without_token_is_a_clear_error(env, capsys):
    assert main(["run"]) == 2
    assert "配置错误：未设置 BOT_TOKEN" in capsys.readouterr().err  # in DEFAULT_LANGUAGE, Chinese by default


def test_token_is_redacted_from_logs(caplog):
    caplog.handler.addFilter(RedactTokenFilter(TOKEN))
    logging.getLogger("test.redact").warning("GET https://api.telegram.org/bot%s/getMe failed", TOKEN)
    assert TOKEN not in caplog.text and "<token>" in caplog.text


def test_import_grids_and_update_without_duplicates(env, capsys):
    grids = env / "grids.csv"
    grids.write_text(
        "\ufeffcode,name,village,town,lat,lon\n"
        "DL01,东里一网格,东里村,西岗镇,34.81,117.17\n"
        "DL02,东里二网格,东里村,西岗镇,,\n",
        encoding="utf-8",
    )
    assert main(["import", "grids", str(grids)]) == 0
    grids.write_text(
        "code,name,village,town,lat,lon\nDL01,东里1网格,东里村,西岗镇,34.81,117.17\n", encoding="utf-8"
    )
    assert main(["import", "grids", str(grids)]) == 0
    stored, _staff, categories = read_db(env / "db" / "gridbot.sqlite3")
    assert [(g.code, g.name) for g in stored] == [("DL01", "东里1网格"), ("DL02", "东里二网格")]
    assert stored[1].lat is None
    assert len(categories) >= 20


def test_bad_rows_are_reported_and_nothing_is_written(env, capsys):
    grids = env / "grids.csv"
    grids.write_text(
        "code,name,village,town,lat,lon\n"
        "OK01,好网格,村,镇,,\n"
        "bad code,名,村,镇,,\n"
        "OK02,,村,镇,,\n"
        "OK03,名,村,镇,95,117\n"
        "OK01,重复,村,镇,,\n",
        encoding="utf-8",
    )
    assert main(["import", "grids", str(grids)]) == 1
    err = capsys.readouterr().err
    assert "第 3 行：code 'bad code'" in err
    assert "第 4 行：name 为空" in err
    assert "第 5 行：lat 须在 -90 到 90 之间" in err
    assert "第 6 行：与第 2 行重复" in err
    assert "中的内容都未导入" in err
    assert read_db(env / "db" / "gridbot.sqlite3")[0] == []


def test_import_staff_and_categories(env, capsys):
    grids = env / "grids.csv"
    grids.write_text("code,name,village,town,lat,lon\nDL01,东里一网格,东里村,西岗镇,,\n", encoding="utf-8")
    assert main(["import", "grids", str(grids)]) == 0  # staff scopes must name stored places
    staff = env / "staff.csv"
    staff.write_text(
        "telegram_id,name,role,scope\n501,王网格,grid_worker,DL01\n501,王网格,village,东里村\n9,管理员,admin,\n",
        encoding="utf-8",
    )
    assert main(["import", "staff", str(staff)]) == 0
    bad = env / "bad_staff.csv"
    bad.write_text("telegram_id,name,role,scope\nabc,x,grid_worker,DL01\n5,y,boss,\n6,z,grid_worker,\n",
                   encoding="utf-8")
    assert main(["import", "staff", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "第 2 行：telegram_id" in err and "第 3 行：role 'boss'" in err and "第 4 行：grid_worker 角色需要范围" in err

    categories = env / "categories.csv"
    categories.write_text(
        "code,name_zh,name_en,department,reply_hours,resolve_hours\nwater,供水服务,Water,水务局,1,12\n",
        encoding="utf-8",
    )
    assert main(["import", "categories", str(categories)]) == 0
    categories.write_text("code,name\nwater,x\n", encoding="utf-8")
    assert main(["import", "categories", str(categories)]) == 1
    assert "第 1 行：表头缺少 name_zh 列" in capsys.readouterr().err

    _grids, stored_staff, stored_categories = read_db(env / "db" / "gridbot.sqlite3")
    assert {(s.telegram_id, s.role) for s in stored_staff} == {(501, Role.GRID_WORKER), (501, Role.VILLAGE), (9, Role.ADMIN)}
    water = next(c for c in stored_categories if c.code == "water")
    assert (water.name_zh, water.reply_within, water.resolve_within) == ("供水服务", 1.0, 12.0)


def test_demo_fills_an_empty_database_once(env, capsys):
    assert main(["demo"]) == 0
    path = env / "db" / "gridbot.sqlite3"

    async def check():
        db = await SqliteStorage.open(path)
        try:
            grids = await db.list_grids()
            villages = {g.village for g in grids}
            tickets = [await db.get_ticket(i) for i in range(1, 400)]
            tickets = [t for t in tickets if t]
            statuses = {t.status for t in tickets}
            rated = [t for t in tickets if t.rating]
            assert len(grids) == 6 and len(villages) == 2
            assert 200 <= len(tickets) <= 400
            assert {Status.CLOSED, Status.RESOLVED} <= statuses and rated
            assert min(t.created_at for t in tickets) < max(t.created_at for t in tickets) - 6 * 7 * 24 * 3600
            # the demo people are made up: nothing is queued for anyone reachable
            for item in await db.due_outbox(2**40):
                assert (await db.get_user(item.notice.chat_id)).unreachable
        finally:
            await db.close()

    asyncio.run(check())
    assert main(["demo"]) == 1
    assert "已有数据" in capsys.readouterr().err


def test_a_village_name_stands_in_one_town_only(env, capsys):
    grids = env / "grids.csv"
    grids.write_text("code,name,village,town,lat,lon\nA1,甲一,东村,甲镇,,\n", encoding="utf-8")
    assert main(["import", "grids", str(grids)]) == 0
    grids.write_text("code,name,village,town,lat,lon\nB1,乙一,东村,乙镇,,\nA1,甲一,东村,乙镇,,\n", encoding="utf-8")
    assert main(["import", "grids", str(grids)]) == 1
    assert "第 2 行：村 '东村' 已属于乡镇 '甲镇'" in capsys.readouterr().err
    # moving the only grid of the village to another town is fine
    grids.write_text("code,name,village,town,lat,lon\nA1,甲一,东村,乙镇,,\n", encoding="utf-8")
    assert main(["import", "grids", str(grids)]) == 0


# -- the token never reaches the terminal ---------------------------------------------------------
def run_cli(folder, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key not in ("BOT_TOKEN", "TELEGRAM_API_URL")}
    environment.update(PYTHONPATH=str(ROOT), DATABASE_PATH=str(folder / "gridbot.sqlite3"), BOT_TOKEN=TOKEN, **env)
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=folder, env=environment, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:0", "ftp://127.0.0.1", "http://bad host:8081",
                                 "http://", "http://user:pw@127.0.0.1"])
def test_api_url_is_checked_when_settings_load(env, monkeypatch, url):
    monkeypatch.setenv("TELEGRAM_API_URL", url)
    with pytest.raises(SettingsError, match="TELEGRAM_API_URL"):
        load_settings()


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999"])
def test_a_bad_api_url_is_a_clear_error_without_the_token(tmp_path, url):
    result = run_cli(tmp_path, "run", TELEGRAM_API_URL=url)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "配置错误：TELEGRAM_API_URL" in result.stderr
    assert TOKEN_SECRET not in output and "Traceback" not in output


def test_an_unreachable_api_stops_the_bot_with_one_line_without_the_token(tmp_path):
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = run_cli(tmp_path, "run", TELEGRAM_API_URL=f"http://127.0.0.1:{port}")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output and TOKEN_SECRET not in output
    assert "cannot reach the Bot API" in output


def test_an_unexpected_error_is_logged_without_the_token(caplog):
    """Tracebacks are redacted too, not only messages: an exception's text may hold a URL."""
    caplog.handler.addFilter(RedactTokenFilter(TOKEN))
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{TOKEN}/getMe")
    except RuntimeError:
        logging.getLogger("test.redact").exception("stopped")
    record_text = caplog.handler.format(caplog.records[-1])
    assert "Traceback" in record_text and TOKEN_SECRET not in record_text and "<token>" in record_text


# -- command-line traps (issue 13) ----------------------------------------------------------------
def small_town(path: Path) -> None:
    async def fill():
        db = await SqliteStorage.open(path)
        try:
            await db.upsert_grids([Grid("DL01", "东里一网格", "东里村", "西岗镇", None, None)])
        finally:
            await db.close()

    asyncio.run(fill())


def test_help_and_stats_start_without_aiogram(tmp_path):
    """aiogram takes seconds to import; `--help` and `stats` do without it, and on SQLite without
    PostgreSQL's driver (a fresh interpreter, as this one has them loaded already)."""
    small_town(tmp_path / "gridbot.sqlite3")
    script = (
        "import sys\n"
        "from bot.__main__ import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'aiogram' not in sys.modules, 'aiogram imported by --help'\n"
        "assert main(['stats', '--scorecards']) == 0\n"
        "assert main(['stats', '--month', 'last', '--town', '西岗镇']) == 0\n"
        "assert 'asyncpg' not in sys.modules, 'asyncpg imported for SQLite'\n"
        "print('aiogram' in sys.modules)\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "BOT_TOKEN"}
    environment.update(PYTHONPATH=str(ROOT), DATABASE_PATH=str(tmp_path / "gridbot.sqlite3"))
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False" and "网格化便民服务" in result.stdout


@pytest.mark.parametrize("flag, name, says", [
    ("--town", "不存在镇", "没有名为 '不存在镇' 的乡镇；已有乡镇：西岗镇"),
    ("--village", "西村", "没有名为 '西村' 的村；已有村：东里村"),
    ("--grid", "XX99", "没有编码为 'XX99' 的网格"),
])
def test_stats_of_an_unknown_town_village_or_grid_is_an_error(env, capsys, flag, name, says):
    small_town(env / "db" / "gridbot.sqlite3")
    assert main(["stats", flag, name]) == 2
    captured = capsys.readouterr()
    assert says in captured.err and captured.out == ""


@pytest.mark.parametrize("command", [
    ["stats"], ["staff", "list"], ["staff", "remove", "5"], ["backup", "copy.sqlite3"],
    ["qr", "--grid", "DL01", "-o", "x.png"], ["posters", "-o", "x.pdf"],
])
def test_a_missing_database_is_an_error_not_an_empty_one(tmp_path, monkeypatch, capsys, command):
    """Run from another folder, a relative DATABASE_PATH names no file: said so, nothing created."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEFAULT_LANGUAGE", raising=False)
    monkeypatch.setenv("DATABASE_PATH", "data/gridbot.sqlite3")
    assert main(command) == 1
    err = capsys.readouterr().err
    assert f"数据库 {tmp_path / 'data' / 'gridbot.sqlite3'} 不存在" in err and "DATABASE_PATH" in err
    assert not (tmp_path / "data").exists()


def test_import_makes_the_database(env, capsys):
    grids = env / "grids.csv"
    grids.write_text("code,name,village,town,lat,lon\nDL01,东里一网格,东里村,西岗镇,,\n", encoding="utf-8")
    assert main(["import", "grids", str(grids)]) == 0
    assert (env / "db" / "gridbot.sqlite3").is_file()
    assert f"新建了数据库：{env / 'db' / 'gridbot.sqlite3'}" in capsys.readouterr().out
    assert main(["import", "grids", str(grids)]) == 0
    assert "新建了数据库" not in capsys.readouterr().out


@pytest.mark.parametrize("option", ["--csv", "--xlsx"])
def test_an_export_into_a_missing_folder_is_refused_before_the_report(env, capsys, option):
    small_town(env / "db" / "gridbot.sqlite3")
    assert main(["stats", option, "/no/such/dir/x.csv"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "无法写入 /no/such/dir/x.csv：文件夹 /no/such/dir 不存在\n"
    assert captured.out == "" and "Traceback" not in captured.err
    assert main(["stats", option, str(env)]) == 1
    assert "是一个文件夹" in capsys.readouterr().err


def test_backup_into_a_folder_writes_a_named_copy_there(env, capsys):
    small_town(env / "db" / "gridbot.sqlite3")
    folder = env / "backups"
    folder.mkdir()
    assert main(["backup", str(folder)]) == 0
    (copy,) = folder.iterdir()  # no .partial left beside it
    assert copy.name.startswith("gridbot-") and copy.suffix == ".sqlite3"
    assert [g.code for g in read_db(copy)[0]] == ["DL01"]
    # a folder that does not exist yet, written with a trailing slash
    assert main(["backup", f"{env / 'new'}/"]) == 0
    assert [p.suffix for p in (env / "new").iterdir()] == [".sqlite3"]


@pytest.mark.parametrize("name, value", [
    ("STATS_MIN_RATED", "-1"), ("STATS_MIN_RATED", "0"), ("STATS_MIN_TICKETS", "x"), ("TICKETS_PER_HOUR", "-1"),
])
def test_bad_number_settings_are_refused_by_name(env, monkeypatch, capsys, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()
    small_town(env / "db" / "gridbot.sqlite3")
    assert main(["stats"]) == 2
    assert capsys.readouterr().err.startswith(f"配置错误：{name} 须为")


def test_a_folder_as_database_path_is_refused(env, monkeypatch):
    monkeypatch.setenv("DATABASE_PATH", str(env))
    with pytest.raises(SettingsError, match="DATABASE_PATH"):
        load_settings()


def test_cli_messages_follow_default_language(env, monkeypatch, capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "网格化便民服务" in capsys.readouterr().out
    assert main(["stats"]) == 1
    assert "不存在" in capsys.readouterr().err
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    with pytest.raises(SystemExit):
        main(["stats", "--help"])
    assert "print a period's statistics" in capsys.readouterr().out
    assert main(["stats"]) == 1
    assert "does not exist. DATABASE_PATH is relative" in capsys.readouterr().err
    monkeypatch.setenv("STATS_MIN_RATED", "-1")  # the language holds with another setting wrong
    assert main(["stats"]) == 2
    assert capsys.readouterr().err.startswith("configuration error: STATS_MIN_RATED must be a whole number")


def test_apikey_create_list_revoke(env, capsys):
    """A key is printed once and only its hash is stored; one live key per name; a revoked key is
    refused by the API (tests/test_open311.py) and its name may be given a new key."""
    from domain.open311 import key_hash

    path = env / "db" / "gridbot.sqlite3"

    async def create() -> None:
        await (await SqliteStorage.open(path)).close()

    asyncio.run(create())
    assert main(["apikey", "create", "12345 desk"]) == 0
    key = capsys.readouterr().out.strip()
    stored = b"".join(p.read_bytes() for p in path.parent.iterdir())  # the database and its WAL
    assert len(key) >= 40 and key.encode() not in stored and key_hash(key).encode() in stored

    async def live() -> list:
        db = await SqliteStorage.open(path)
        try:
            return [await db.live_api_key(key_hash(key)), await db.api_keys()]
        finally:
            await db.close()

    found, keys = asyncio.run(live())
    assert found.name == "12345 desk" and [k.name for k in keys] == ["12345 desk"]
    assert main(["apikey", "create", "12345 desk"]) == 1
    assert main(["apikey", "list"]) == 0
    assert "12345 desk" in capsys.readouterr().out
    assert main(["apikey", "revoke", "12345 desk"]) == 0
    assert main(["apikey", "revoke", "12345 desk"]) == 1
    assert asyncio.run(live())[0] is None
    assert main(["apikey", "create", "12345 desk"]) == 0


def test_public_channel_id_is_a_channels_id(env, monkeypatch):
    assert load_settings().public_channel_id is None
    monkeypatch.setenv("PUBLIC_CHANNEL_ID", "@board_channel")  # the Bot API takes it, but notices need the id
    with pytest.raises(SettingsError, match="PUBLIC_CHANNEL_ID"):
        load_settings()
    monkeypatch.setenv("PUBLIC_CHANNEL_ID", "-1001234567890")
    assert load_settings().public_channel_id == -1001234567890

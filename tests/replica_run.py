"""Replica processes of `gridbot run` in webhook mode on one PostgreSQL database, behind a "load
balancer" that spreads residents' webhook requests over them, each replica talking to a fake Bot API
of its own (tests/fake_bot_api.py), so that one replica's sends can be held. Used by the replica test
(tests/test_replica_processes.py) and the bench (bench/replica_bench.py).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Awaitable, Callable

import aiohttp
import asyncpg

from handlers.callbacks import CategoryCb, FormCb, KindCb
from storage import open_storage
from tests.conftest import GRIDS, STAFF, opened_the_bot
from tests.fake_bot_api import Call, FakeBotApi, message, tap

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAHfakeTokenForTheReplicaTest_012345"
SECRET = "replica-test-secret_0123456789"
HOOK_PATH = "/telegram/hook"
NUMBER = re.compile(r"Your ticket number is <b>([^<]+)</b>")
FIRST_RESIDENT = 2000

# Imports the bot once, then forks a replica for each line on stdin ("PORT API_URL") and prints its
# pid: importing aiogram takes seconds on a loaded machine, a fork milliseconds. The claims' leases
# and the leader's checks are shortened from a minute and 5 s, so that a killed replica's share
# moves within seconds; PACE=0 sends as fast as the fake Bot API answers (the bench).
REPLICA_RUN = """
import functools, os, signal, sys
import bot.factory, bot.leadership, bot.outbox, web.webhook
from bot.__main__ import main
from bot.pacing import SharedLimiter
bot.outbox.CLAIM_SECONDS = 3
web.webhook.UPDATE_CLAIM_SECONDS = 3
web.webhook.UPDATE_SWEEP_SECONDS = 1
bot.leadership.LEAD_CHECK_SECONDS = 0.5
if os.environ.get("PACE") == "0":
    bot.factory.SharedLimiter = functools.partial(SharedLimiter, global_interval=0, per_chat_interval=0)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
for line in sys.stdin:
    port, api = line.split()
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.environ.update(WEB_PORT=port, TELEGRAM_API_URL=api)
        os.dup2(2, 1)
        os._exit(main(["run"]))
    print(pid, flush=True)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Replica:
    pid: int
    port: int
    api: FakeBotApi
    alive: bool = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Replicas:
    """Replicas started by one forking parent; `post` spreads requests over the living ones."""

    database: str
    parent: asyncio.subprocess.Process
    session: aiohttp.ClientSession
    replicas: list[Replica] = field(default_factory=list)
    _turn: Any = field(default_factory=itertools.count)

    @classmethod
    async def start(cls, database: str, count: int, folder: Path, log: TextIO, pace: bool = True) -> Replicas:
        env = {**os.environ, "BOT_TOKEN": TOKEN, "DATABASE_URL": database, "ADMIN_IDS": "",
               "WEBHOOK_URL": f"https://bot.example.org{HOOK_PATH}", "WEBHOOK_SECRET": SECRET,
               "WEB_HOST": "127.0.0.1", "PYTHONPATH": str(ROOT), "PACE": "1" if pace else "0"}
        env.pop("DATABASE_PATH", None)
        parent = await asyncio.create_subprocess_exec(
            sys.executable, "-c", REPLICA_RUN, cwd=folder, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log)
        group = cls(database, parent, aiohttp.ClientSession())
        for _ in range(count):
            await group.add()
        return group

    async def add(self) -> Replica:
        api = FakeBotApi()
        url = await api.start()
        port = free_port()
        self.parent.stdin.write(f"{port} {url}\n".encode())
        replica = Replica(int(await self.parent.stdout.readline()), port, api)
        self.replicas.append(replica)
        for _ in range(600):  # up: its web server answers
            try:
                async with self.session.get(replica.url + "/healthz") as response:
                    if response.status == 200:
                        return replica
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise TimeoutError(f"replica {replica.pid} did not start")

    @property
    def living(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive]

    def answered(self) -> list[Call]:
        return [call for replica in self.replicas for call in replica.api.answered]

    async def post(self, update: dict[str, Any]) -> None:
        """As Telegram does: to a replica (the load balancer's turn), again to another while none
        answers 200."""
        while True:
            living = self.living
            replica = living[next(self._turn) % len(living)]
            try:
                async with self.session.post(
                    replica.url + HOOK_PATH, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                ) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)

    @staticmethod
    async def _gone(replica: Replica) -> None:
        # Only living replicas are signalled: a dead one's pid may belong to another process by now.
        while True:
            try:
                os.kill(replica.pid, 0)
            except ProcessLookupError:
                replica.alive = False
                return
            await asyncio.sleep(0.02)

    async def metrics(self, replica: Replica) -> dict[str, float]:
        async with self.session.get(replica.url + "/metrics") as response:
            text = await response.text()
        return {m[1]: float(m[2]) for m in re.finditer(r"^([a-z_]+) (\S+)$", text, re.M)}

    async def leaders(self) -> list[Replica]:
        return [r for r in self.living if (await self.metrics(r))["gridbot_leader"] == 1]

    async def kill(self, replica: Replica) -> None:
        """kill -9, and wait until it is gone."""
        os.kill(replica.pid, signal.SIGKILL)
        replica.alive = False  # the load balancer sends it nothing more
        await self._gone(replica)

    async def close(self) -> None:
        for replica in self.living:
            os.kill(replica.pid, signal.SIGTERM)
        for replica in self.living:
            await self._gone(replica)
        self.parent.kill()
        await self.parent.wait()
        await self.session.close()
        for replica in self.replicas:
            await replica.api.stop()


class HandledUpdates:
    """Polls the database for handled updates, so that a resident waits for the bot's answer
    before the next step, as a person does."""

    def __init__(self, database: str):
        self.database = database
        self.handled: set[int] = set()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> HandledUpdates:
        self._connection = await asyncpg.connect(self.database)
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._connection.close()

    async def _poll(self) -> None:
        while True:
            rows = await self._connection.fetch("SELECT update_id FROM handled_updates")
            self.handled = {row[0] for row in rows}
            self._changed.set()
            self._changed = asyncio.Event()
            await asyncio.sleep(0.05)

    async def wait(self, update_id: int, timeout: float = 60) -> None:
        async def handled() -> None:
            while update_id not in self.handled:
                await self._changed.wait()

        await asyncio.wait_for(handled(), timeout)


_update_ids = itertools.count(1)


def numbered(update: dict[str, Any]) -> dict[str, Any]:
    return {"update_id": next(_update_ids), **update}


async def town(database: str) -> None:
    """The test town's grids and staff, who have all opened the bot."""
    db = await open_storage(database)
    await db.upsert_grids(GRIDS)
    await db.upsert_staff(STAFF)
    await opened_the_bot(db, STAFF)
    await db.close()


async def until(test: Callable[[], Awaitable[Any]], timeout: float = 30, every: float = 0.1) -> Any:
    """Wait until `test()` gives something true, and return it (a bound, not a measurement)."""
    async def poll() -> Any:
        while not (found := await test()):
            await asyncio.sleep(every)
        return found

    return await asyncio.wait_for(poll(), timeout)


def filing(replicas: Replicas, handled: HandledUpdates, residents: range) -> list[asyncio.Task[None]]:
    """These residents (numbered from FIRST_RESIDENT) filing at once, spread over the grids."""
    grids = [g.code for g in GRIDS]
    return [asyncio.create_task(file(replicas, handled, FIRST_RESIDENT + n, grids[n % len(grids)]))
            for n in residents]


@dataclass(frozen=True)
class Share:
    """What a killed replica held: updates it stored and notices it claimed, none of them done."""

    updates: list[int]
    notices: list[int]


async def kill_in_hand(replicas: Replicas, connection: asyncpg.Connection, replica: Replica) -> Share:
    """Hold the replica's sends from now on (so that none is answered and then lost with it) until
    it holds stored updates and claimed notices, then kill it with SIGKILL."""
    replica.api.hold = lambda call: True
    mine = f"%:{replica.pid}:%"
    updates = await until(lambda: connection.fetch(
        "SELECT update_id FROM incoming_updates WHERE claimed_by LIKE $1", mine), timeout=60)
    try:
        notices = await until(lambda: connection.fetch(
            "SELECT id FROM outbox WHERE claimed_by LIKE $1 AND sent_at IS NULL AND dropped_reason IS NULL",
            mine), timeout=20)
    except TimeoutError:
        # The others claimed every notice first (a matter of timing on a busy machine): its share
        # is then its stored updates alone, still checked to be done by the others.
        notices = []
    await asyncio.sleep(0.3)
    await replicas.kill(replica)
    return Share([row[0] for row in updates], [row[0] for row in notices])


@dataclass(frozen=True)
class Outcome:
    """What the residents' filing left, once every notice is out."""

    residents: list[int]  # who filed a ticket, once per ticket, sorted
    numbers_told: list[str]  # every "your ticket number" message answered by the Bot API
    sends: int  # messages the Bot API accepted
    repeated_sends: int  # of them, the same message to the same chat again
    cards: dict[int, int]  # resident: how many cards of their ticket reached staff
    share_done: tuple[int, int]  # of a killed replica's share: updates handled, notices sent
    stored_left: int


async def outcome(replicas: Replicas, connection: asyncpg.Connection, share: Share = Share([], [])) -> Outcome:
    await until(lambda: connection.fetchval(
        "SELECT COUNT(*) = 0 FROM outbox WHERE sent_at IS NULL AND dropped_reason IS NULL"), timeout=120)
    residents = sorted(row[0] for row in await connection.fetch("SELECT resident_id FROM tickets"))
    answered = replicas.answered()
    sends = [(c.method, c.chat_id, c.text) for c in answered if c.method.startswith("send")]
    staff = {s.telegram_id for s in STAFF}
    cards = {resident: sum(description(resident) in text for _, chat, text in sends if chat in staff)
             for resident in residents}
    handled = await connection.fetchval(
        "SELECT COUNT(*) FROM handled_updates WHERE update_id = ANY($1::bigint[])", share.updates)
    sent = await connection.fetchval(
        "SELECT COUNT(*) FROM outbox WHERE id = ANY($1::bigint[]) AND sent_at IS NOT NULL", share.notices)
    return Outcome(residents, [NUMBER.search(c.text)[1] for c in answered if NUMBER.search(c.text)], len(sends),
                   len(sends) - len(set(sends)), cards, (handled, sent),
                   await connection.fetchval("SELECT COUNT(*) FROM incoming_updates"))


async def file(replicas: Replicas, handled: HandledUpdates, resident: int, grid: str) -> None:
    """A resident's whole form through webhook requests, each step after the bot has handled the
    one before: the grid's QR code, complaint, roads, a description, done, confirm."""
    steps = [message(resident, f"/start g_{grid}"), tap(resident, KindCb(kind="complaint").pack()),
             tap(resident, CategoryCb(code="roads").pack()), message(resident, description(resident)),
             message(resident, "✅ Done"), tap(resident, FormCb(action="confirm").pack())]
    for step in steps:
        update = numbered(step)
        await replicas.post(update)
        await handled.wait(update["update_id"])


def description(resident: int) -> str:
    return f"Street lamp {resident} broken at the school gate"

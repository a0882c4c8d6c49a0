"""Cost of a full resident flow (start → kind → category → text → done → confirm) per update,
through the real dispatcher on SQLite and on PostgreSQL, beside a bare aiogram FSM bot doing the
same steps in the same run.

    python bench/flow_bench.py [--flows 300] [--postgres postgresql://root@127.0.0.1:5432/test]

Prints microseconds per update for each and their ratio to the bare bot (aim: at most 2x). The
PostgreSQL run uses a schema of its own in that database, dropped after; `--postgres ""` leaves it out.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Dispatcher, F, Router  # noqa: E402
from aiogram.filters import CommandStart  # noqa: E402
from aiogram.fsm.context import FSMContext  # noqa: E402
from aiogram.fsm.state import State, StatesGroup  # noqa: E402
from aiogram.fsm.storage.memory import MemoryStorage  # noqa: E402
from aiogram.types import CallbackQuery, Message  # noqa: E402
from aiogram.utils.keyboard import InlineKeyboardBuilder  # noqa: E402

from bot.factory import create_dispatcher  # noqa: E402
from handlers.callbacks import CategoryCb, FormCb, KindCb  # noqa: E402
import asyncpg  # noqa: E402

from storage import Storage, open_storage  # noqa: E402
from tests.conftest import GRIDS, STAFF, FakeClock, Harness, make_settings, opened_the_bot  # noqa: E402
from tests.fake_telegram import make_bot  # noqa: E402


class BareForm(StatesGroup):
    kind = State()
    category = State()
    text = State()
    confirm = State()


def bare_dispatcher() -> Dispatcher:
    """The same steps with MemoryStorage, no database, no i18n: the floor aiogram itself sets."""
    router = Router()

    def keyboard(data: str):
        kb = InlineKeyboardBuilder()
        kb.button(text="x", callback_data=data)
        return kb.as_markup()

    @router.message(CommandStart())
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(BareForm.kind)
        await message.answer("grid", reply_markup=keyboard("k"))

    @router.callback_query(BareForm.kind)
    async def kind(query: CallbackQuery, state: FSMContext) -> None:
        await state.update_data(kind=query.data)
        await state.set_state(BareForm.category)
        await query.answer()
        await query.message.answer("category", reply_markup=keyboard("c"))

    @router.callback_query(BareForm.category)
    async def category(query: CallbackQuery, state: FSMContext) -> None:
        await state.update_data(category=query.data)
        await state.set_state(BareForm.text)
        await query.answer()
        await query.message.answer("describe")

    @router.message(BareForm.text, F.text == "✅ 完成")
    async def done(message: Message, state: FSMContext) -> None:
        await state.set_state(BareForm.confirm)
        await message.answer("summary", reply_markup=keyboard("ok"))

    @router.message(BareForm.text, F.text)
    async def text(message: Message, state: FSMContext) -> None:
        await state.update_data(text=message.text)
        await message.answer("noted")

    @router.callback_query(BareForm.confirm)
    async def confirm(query: CallbackQuery, state: FSMContext) -> None:
        await state.clear()
        await query.answer()
        await query.message.answer("number")

    dp = Dispatcher(storage=MemoryStorage())
    dp.include_router(router)
    return dp


async def run_flows(h: Harness, flows: int, first_user: int) -> tuple[float, int]:
    updates = 0
    started = time.perf_counter()
    for i in range(flows):
        user = h.user(first_user + i)
        # Different categories spread the "me too" lists the way real use would.
        category = ("roads", "water", "power", "sanitation")[i % 4]
        steps = [
            lambda: h.send(user, "/start g_DL01"),
            lambda: h.tap(user, KindCb(kind="complaint")),
            lambda: h.tap(user, CategoryCb(code=category)),
            lambda: h.send(user, "路灯坏了"),
            lambda: h.send(user, "✅ 完成"),
            lambda: h.tap(user, FormCb(action="confirm")),
        ]
        for step in steps:
            await step()
            updates += 1
    return time.perf_counter() - started, updates


async def gridbot(db: Storage, folder: Path, clock: FakeClock) -> Harness:
    """The real dispatcher on `db`, with the town's grids and staff."""
    await db.upsert_grids(GRIDS)
    await db.upsert_staff(STAFF)
    await opened_the_bot(db, STAFF)  # so that cards reach the workers
    settings = make_settings(folder)
    return Harness(create_dispatcher(settings, db, clock=clock, send_intervals=(0.0, 0.0)),
                   make_bot(), db, clock, settings)


def without_delivery(h: Harness) -> Harness:
    # The bare bot's steps mean nothing to the real dispatcher's callbacks and vice versa, so the
    # bare harness taps plain data; the outbox delivery step is skipped for both.
    h.feed = lambda update, deliver=False, _h=h: Harness.feed(_h, update, deliver=False)  # type: ignore[method-assign]
    return h


async def measure(flows: int, postgres: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        clock = FakeClock()
        databases = {"SQLite": await open_storage(Path(folder) / "bench.sqlite3")}
        schema = f"bench_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(postgres) if postgres else None
        if admin is not None:
            await admin.execute(f"CREATE SCHEMA {schema}")
            databases["PostgreSQL"] = await open_storage(f"{postgres}?search_path={schema}")
        try:
            runs = {name: without_delivery(await gridbot(db, Path(folder), clock)) for name, db in databases.items()}
            bare = without_delivery(Harness(bare_dispatcher(), make_bot(), databases["SQLite"], clock,
                                            make_settings(Path(folder))))
            for harness in (*runs.values(), bare):
                await run_flows(harness, 20, 10_000)  # warm-up: imports, caches, pages, prepared statements
            order = [("bare", bare, 20_000), *((f"on {n}", h, 30_000) for n, h in runs.items()), ("bare again", bare, 40_000)]
            results = {}
            for name, harness, first in order:
                seconds, updates = await run_flows(harness, flows, first)
                results[name] = seconds / updates * 1e6
                print(f"{name:>14}: {results[name]:8.0f} µs per update ({updates} updates, {seconds:.2f} s)")
            baseline = (results["bare"] + results["bare again"]) / 2
            for name in runs:
                print(f"{'ratio ' + name:>14}: {results['on ' + name] / baseline:8.2f} x the bare aiogram FSM bot (aim: <= 2)")
            for name, db in databases.items():
                chats = len(await db.due_outbox(2**40, limit=10**6))
                print(f"{name:>14}: {flows + 20} tickets filed; {chats} chats with unsent notices (not delivered here)")
        finally:
            for db in databases.values():
                await db.close()
            if admin is not None:
                await admin.execute(f"DROP SCHEMA {schema} CASCADE")
                await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flows", type=int, default=300)
    parser.add_argument("--postgres", default="postgresql://root@127.0.0.1:5432/test",
                        help="a PostgreSQL database to run in too ('' for none)")
    args = parser.parse_args()
    asyncio.run(measure(args.flows, args.postgres))


if __name__ == "__main__":
    main()

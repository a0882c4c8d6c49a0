"""Cost of a full resident flow (start → kind → category → text → done → confirm) per update,
through the real dispatcher, beside a bare aiogram FSM bot doing the same steps in the same run.

    python bench/flow_bench.py [--flows 300]

Prints microseconds per update for both and their ratio (aim: at most 2x the bare bot).
"""

from __future__ import annotations

import argparse
import asyncio
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
from storage.sqlite import SqliteStorage  # noqa: E402
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


async def measure(flows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = await SqliteStorage.open(Path(folder) / "bench.sqlite3")
        await db.upsert_grids(GRIDS)
        await db.upsert_staff(STAFF)
        await opened_the_bot(db, STAFF)  # so that cards reach the workers
        clock = FakeClock()
        settings = make_settings(Path(folder))
        real = Harness(create_dispatcher(settings, db, clock=clock, send_intervals=(0.0, 0.0)),
                       make_bot(), db, clock, settings)
        bare = Harness(bare_dispatcher(), make_bot(), db, clock, settings)
        # The bare bot's steps mean nothing to the real dispatcher's callbacks and vice versa, so
        # the bare harness taps plain data; its outbox delivery step is skipped.
        bare.feed = lambda update, deliver=False, _h=bare: Harness.feed(_h, update, deliver=False)  # type: ignore[method-assign]
        real.feed = lambda update, deliver=False, _h=real: Harness.feed(_h, update, deliver=False)  # type: ignore[method-assign]

        await run_flows(real, 20, 10_000)  # warm-up: imports, caches, SQLite pages
        await run_flows(bare, 20, 10_000)
        results = {}
        for name, harness, first in (("bare", bare, 20_000), ("gridbot", real, 30_000), ("bare again", bare, 40_000)):
            seconds, updates = await run_flows(harness, flows, first)
            results[name] = seconds / updates * 1e6
            print(f"{name:>11}: {results[name]:8.0f} µs per update ({updates} updates, {seconds:.2f} s)")
        baseline = (results["bare"] + results["bare again"]) / 2
        print(f"{'ratio':>11}: {results['gridbot'] / baseline:8.2f} x the bare aiogram FSM bot (aim: <= 2)")
        outbox_items = len(await db.due_outbox(2**40, limit=10**6))
        print(f"{'tickets':>11}: {flows + 20} filed; {outbox_items} chats with unsent notices (not delivered in the bench)")
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flows", type=int, default=300)
    asyncio.run(measure(parser.parse_args().flows))


if __name__ == "__main__":
    main()

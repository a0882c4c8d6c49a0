"""What keeping forms in SQLite costs per update, against aiogram's MemoryStorage.

    python bench/fsm_bench.py [--steps 2000]

One step is what a form step of the resident's flow does to the FSM: the state read before the
handler, the data read, an update of the data and a new state. Three ways are timed in one run:

- memory:        aiogram's MemoryStorage (forms are lost on restart);
- gridbot:       DatabaseFsmStorage as the bot uses it: the step's changes are kept until the update
                 is done, then written in one commit with the update's id (synchronous=NORMAL for
                 that commit), after the check that the update is new;
- write-through: every change its own durable commit (synchronous=FULL), the naive way.

Prints microseconds per step. The database lives in the system's temporary folder (--dir to choose
the disk: fsync costs differ a lot between disks).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram.fsm.state import State, StatesGroup  # noqa: E402
from aiogram.fsm.storage.base import BaseStorage, StorageKey  # noqa: E402
from aiogram.fsm.storage.memory import MemoryStorage  # noqa: E402

from bot.fsm_storage import DatabaseFsmStorage  # noqa: E402
from storage.sqlite import SqliteStorage  # noqa: E402

USERS = 200


class Form(StatesGroup):
    kind = State()
    category = State()
    description = State()


STEPS = [(Form.kind, {"grid": "DL01"}), (Form.category, {"kind": "complaint"}),
         (Form.description, {"category": "water", "text": "楼下水管漏水三天了", "photos": []})]


async def one_step(fsm: BaseStorage, key: StorageKey, number: int) -> None:
    state, data = STEPS[number % len(STEPS)]
    await fsm.get_state(key)
    await fsm.get_data(key)
    await fsm.update_data(key, data)
    await fsm.set_state(key, state)


async def run(fsm: BaseStorage, steps: int, db: SqliteStorage | None = None) -> float:
    started = time.perf_counter()
    for number in range(steps):
        key = StorageKey(bot_id=42, chat_id=number % USERS + 1, user_id=number % USERS + 1)
        if isinstance(fsm, DatabaseFsmStorage) and db is not None:
            # As bot/dedup.py does it: collect, write once with the update's id. (Its check that the
            # update is new costs no query while update ids grow, as Telegram's do.)
            update_id = 10_000_000 + number
            with fsm.collecting() as forms:
                await one_step(fsm, key, number)
            await fsm.commit(forms, update_id)
        else:
            await one_step(fsm, key, number)
    return (time.perf_counter() - started) / steps * 1e6


async def measure(steps: int, folder: Path) -> None:
    gridbot_db = await SqliteStorage.open(folder / "gridbot.sqlite3")
    naive_db = await SqliteStorage.open(folder / "naive.sqlite3")
    # The naive way: each form write is an ordinary durable transaction of its own.
    durable_transaction = naive_db._transaction
    naive_db._transaction = (  # type: ignore[method-assign]
        lambda work, durable=True, write=True: durable_transaction(work, write=write))
    ways: list[tuple[str, BaseStorage, SqliteStorage | None]] = [
        ("memory", MemoryStorage(), None),
        ("gridbot", DatabaseFsmStorage(gridbot_db, lambda: 0), gridbot_db),
        ("write-through", DatabaseFsmStorage(naive_db, lambda: 0), None),
    ]
    for name, fsm, db in ways:  # warm-up
        await run(fsm, 200, db)
    results = {name: await run(fsm, steps, db) for name, fsm, db in ways}
    for name, micros in results.items():
        print(f"{name:>14}: {micros:8.0f} µs per step ({steps} steps, {USERS} users)")
    print(f"{'gridbot - memory':>14}: {results['gridbot'] - results['memory']:8.0f} µs per step for forms that survive restarts")
    await gridbot_db.close()
    await naive_db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="folder for the database files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        asyncio.run(measure(args.steps, Path(folder)))


if __name__ == "__main__":
    main()

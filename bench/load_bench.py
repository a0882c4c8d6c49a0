"""Many residents filing at once, through the real dispatcher on an SQLite file.

    python bench/load_bench.py [--residents 200]

Every resident walks the whole form (start → kind → category → text → done → confirm) at the same
time as all the others, as when a QR poster goes up in a crowded place. Prints how long it took,
updates per second, the time each update took (median, 95th percentile, worst), and checks that
every resident has exactly one ticket and every card reached a worker once. The outbox is drained
without Telegram's pacing (at 30 messages a second, 200 cards would take about 7 seconds more).

Then the same again within Telegram's limits, on a simulated clock: the fake Bot API refuses with 429
more than 30 messages a second or one a second per chat, as Telegram does. Prints how many were
refused (0: replies and outbox keep to the limits), how many residents were told their number
exactly once, and how long the sending took on that clock.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram.methods import SendMessage  # noqa: E402

from bot.factory import create_dispatcher  # noqa: E402
from bot.pacing import Limiter  # noqa: E402
from storage.sqlite import SqliteStorage  # noqa: E402
from tests.conftest import GRIDS, STAFF, FakeClock, Harness, make_settings, opened_the_bot  # noqa: E402
from tests.fake_telegram import make_bot  # noqa: E402
from tests.test_reliability import FakeTime  # noqa: E402
from tests.test_ticket_loop import file_ticket  # noqa: E402

WORKERS = {s.telegram_id for s in STAFF if s.scope in {g.code for g in GRIDS}}


async def measure(residents: int, limited: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = await SqliteStorage.open(Path(folder) / "load.sqlite3")
        await db.upsert_grids(GRIDS)
        await db.upsert_staff(STAFF)
        await opened_the_bot(db, STAFF)  # so that cards reach the workers
        clock = FakeClock()
        settings = make_settings(Path(folder), tickets_per_hour=0)
        h = Harness(create_dispatcher(settings, db, clock=clock, send_intervals=(0.0, 0.0)),
                    make_bot(), db, clock, settings)
        if limited:
            fake = FakeTime()
            h.dp["limiter"] = h.dp["outbox"].limiter = Limiter(monotonic=fake.monotonic, sleep=fake.sleep)
            h.session.enforce_limits(fake.monotonic)
        took: list[float] = []

        async def timed_feed(update, deliver=False, _feed=h.feed):
            started = time.perf_counter()
            try:
                return await _feed(update, deliver=False)
            finally:
                took.append(time.perf_counter() - started)

        h.feed = timed_feed  # type: ignore[method-assign]
        users = [h.user(100_000 + i) for i in range(residents)]
        started = time.perf_counter()
        await asyncio.gather(*(file_ticket(h, user, grid=GRIDS[i % len(GRIDS)].code, text=f"第{i}号：路灯坏了")
                               for i, user in enumerate(users)))
        filing = time.perf_counter() - started
        started = time.perf_counter()
        sent = await h.dp["outbox"].deliver_due(h.bot)
        draining = time.perf_counter() - started

        per_resident = [len(await db.resident_tickets(u.id)) for u in users]
        cards = [c.text for c in h.session.calls if isinstance(c, SendMessage) and c.chat_id in WORKERS]
        if limited:
            told = [sum("您的工单编号是" in c.text for c in h.session.calls if isinstance(c, SendMessage) and c.chat_id == u.id)
                    for u in users]
            print(f"within Telegram's limits: {h.session.refused_429} refused with 429; residents told their "
                  f"number exactly once: {told.count(1)} of {residents}; sending took {fake.now - 1000:.0f} s "
                  f"on the simulated clock; tickets {sum(per_resident)}, cards {len(set(cards))}")
            await db.close()
            return
        quantiles = statistics.quantiles(took, n=20)
        print(f"{residents} residents at once: {len(took)} updates in {filing:.2f} s "
              f"({len(took) / filing:.0f} updates/s)")
        print(f"per update: median {statistics.median(took) * 1000:.1f} ms, "
              f"95th percentile {quantiles[-1] * 1000:.1f} ms, worst {max(took) * 1000:.1f} ms")
        print(f"outbox: {sent} notices sent in {draining:.2f} s")
        print(f"tickets: {sum(per_resident)} filed, residents with exactly one: "
              f"{per_resident.count(1)} of {residents}; cards to workers: {len(cards)}, distinct: {len(set(cards))}")
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=200)
    residents = parser.parse_args().residents
    asyncio.run(measure(residents, limited=False))
    asyncio.run(measure(residents, limited=True))


if __name__ == "__main__":
    main()

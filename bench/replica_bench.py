"""Residents filing at once through webhook requests on loopback: three replicas of `gridbot run` on
one PostgreSQL database beside one replica, in the same run (issue 14).

    python bench/replica_bench.py [--residents 1000] [--replicas 3]

Each resident walks the whole form (QR code, complaint, category, description, done, confirm), each
step after the bot answered the one before, as a person does; the requests go round the replicas as
a load balancer sends them. Prints tickets/s and updates/s for one replica and for three, then for
three again with the leading replica killed with SIGKILL halfway (its sends held first, so that it
dies holding updates and notices; the residents file in two halves there, and the figure includes
the seconds its share waits for the claims to run out: 3 s here, a minute in production). Then checks each run: every resident has one
ticket and was told its number once, no message went out twice, every card reached staff once, the
killed replica's updates and notices were done by the others, and the leadership moved.

Telegram's pacing (30 messages/s for the bot, 1/s per chat) is switched off here, as it would bound
the figure at about 30 / 8 ≈ 4 tickets/s whatever the bot does (README: Scaling out); the bookings
in PostgreSQL that keep it are still made. On a 2-core machine more replicas do not make it faster:
PostgreSQL and the replicas share the two cores.

Needs PostgreSQL at 127.0.0.1:5432 (trust authentication), as the tests do.
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

import asyncpg  # noqa: E402

from tests.conftest import _admin, _local_postgres, _with  # noqa: E402
from tests.replica_run import (  # noqa: E402
    FIRST_RESIDENT, HandledUpdates, Outcome, Replicas, Share, filing, kill_in_hand, outcome, town, until,
)

UPDATES_PER_TICKET = 6


async def one_run(admin: str, count: int, residents: int, kill: bool,
                  folder: Path) -> tuple[float, Outcome, Share, bool]:
    """Seconds for every resident to file, what it left, the killed leader's share, and whether the
    leadership moved."""
    name = f"gridbot_bench_{secrets.token_hex(4)}"
    await _admin(admin, f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
    database = _with(admin, name)
    try:
        await town(database)
        connection = await asyncpg.connect(database)
        with (folder / f"replicas-{count}.log").open("w") as log:
            replicas = await Replicas.start(database, count, folder, log, pace=False)
            try:
                [leader] = await until(replicas.leaders)
                share, moved = Share([], []), True
                async with HandledUpdates(database) as handled:
                    started = time.perf_counter()
                    first = filing(replicas, handled, range(residents // 2))
                    if kill:
                        await asyncio.gather(*first)
                        second = filing(replicas, handled, range(residents // 2, residents))
                        share = await kill_in_hand(replicas, connection, leader)
                    else:
                        second = filing(replicas, handled, range(residents // 2, residents))
                    await asyncio.gather(*first, *second)
                    seconds = time.perf_counter() - started
                result = await outcome(replicas, connection, share)
                if kill:
                    [new_leader] = await until(replicas.leaders, timeout=30)
                    moved = new_leader is not leader
            finally:
                await replicas.close()
                await connection.close()
    finally:
        await _admin(admin, f"DROP DATABASE {name} WITH (FORCE)")
    return seconds, result, share, moved


def report(label: str, residents: int, seconds: float, result: Outcome, share: Share, moved: bool) -> bool:
    checks = {
        "one ticket each": result.residents == [FIRST_RESIDENT + n for n in range(residents)],
        "number told once each": len(result.numbers_told) == len(set(result.numbers_told)) == residents,
        "no message twice": result.repeated_sends == 0,
        "one card each": set(result.cards.values()) == {1},
        "nothing left stored": result.stored_left == 0,
        "the killed replica's share done": result.share_done == (len(share.updates), len(share.notices)),
        "leadership moved": moved,
    }
    print(f"{label:<38} {residents / seconds:7.1f} tickets/s {residents * UPDATES_PER_TICKET / seconds:7.0f} updates/s"
          f"  ({seconds:.1f} s, {result.sends} messages)")
    if share.updates:
        print(f"{'':<38} the killed leader held {len(share.updates)} updates and {len(share.notices)} notices:"
              " done by the others")
    failed = [name for name, ok in checks.items() if not ok]
    print(f"{'':<38} {'checks: all passed' if not failed else 'FAILED: ' + ', '.join(failed)}")
    return not failed


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args()
    admin = await _local_postgres()
    if admin is None:
        print("no PostgreSQL at 127.0.0.1:5432", file=sys.stderr)
        return 2
    ok = True
    print(f"{args.residents} residents filing at once, {UPDATES_PER_TICKET} updates each, Telegram's pacing off")
    with tempfile.TemporaryDirectory() as folder:
        for count, kill in ((1, False), (args.replicas, False), (args.replicas, True)):
            seconds, result, share, moved = await one_run(admin, count, args.residents, kill, Path(folder))
            label = f"{count} replica{'s' if count > 1 else ''}" + (", leader killed halfway" if kill else "")
            ok = report(label, args.residents, seconds, result, share, moved) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

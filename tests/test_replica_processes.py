"""Three replicas of `gridbot run` (webhook mode) on one PostgreSQL database, residents filing through
webhook requests on loopback, and the leading replica killed with SIGKILL in the middle of it (issue
14): every ticket once, every notice once, nothing lost, the dead replica's notices and updates taken
over, the watchers' leadership moved. Small numbers; bench/replica_bench.py runs 1,000 residents."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.replica_run import FIRST_RESIDENT, HandledUpdates, Replicas, filing, kill_in_hand, outcome, town, until

pytestmark = pytest.mark.backends("postgresql")
RESIDENTS = 24


async def test_three_replicas_lose_nothing_when_the_leader_is_killed(database, tmp_path):
    await town(database)
    connection = await asyncpg.connect(database)
    with (tmp_path / "replicas.log").open("w") as log:
        replicas = await Replicas.start(database, 3, tmp_path, log)
        try:
            [leader] = await until(replicas.leaders)
            assert len([c for c in replicas.answered() if c.method == "setWebhook"]) == 1  # by the leader alone
            async with HandledUpdates(database) as handled:
                await asyncio.gather(*filing(replicas, handled, range(RESIDENTS // 2)))
                second_wave = filing(replicas, handled, range(RESIDENTS // 2, RESIDENTS))
                share = await kill_in_hand(replicas, connection, leader)
                await asyncio.gather(*second_wave)
            result = await outcome(replicas, connection, share)
            # Every resident filed one ticket, was told its number once, and no notice went twice.
            assert result.residents == [FIRST_RESIDENT + n for n in range(RESIDENTS)]
            assert len(result.numbers_told) == len(set(result.numbers_told)) == RESIDENTS
            assert result.repeated_sends == 0 and set(result.cards.values()) == {1}
            # The updates the leader stored and the notices it claimed were handled and sent by the
            # others (it answered nothing since its sends were held), and one of them leads now.
            assert result.share_done == (len(share.updates), len(share.notices)) and result.stored_left == 0
            [new_leader] = await until(replicas.leaders, timeout=15)
            assert new_leader is not leader and new_leader.alive
        finally:
            await replicas.close()
            await connection.close()

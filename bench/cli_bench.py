"""How fast the `gridbot` command starts, beside a bare interpreter, in the same run.

    .venv/bin/python bench/cli_bench.py [--runs 10]

Each case is a fresh process (as a user types it), run `--runs` times; the median wall time is
printed beside `python -c pass`, the floor no command can go under. Cases:

- python -c pass: the interpreter alone.
- gridbot --help: settings, the catalog of DEFAULT_LANGUAGE and the argument parser.
- gridbot stats: the last week's report of a small town (one grid), read from SQLite.
- import aiogram: what every command cost before it was imported only by the commands that need it.

Times on a shared machine are noisy: compare the cases of one run, not runs on different days.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

from domain.models import Grid  # noqa: E402
from storage.sqlite import SqliteStorage  # noqa: E402


async def small_town(path: Path) -> None:
    db = await SqliteStorage.open(path)
    try:
        await db.upsert_grids([Grid("DL01", "东里一网格", "东里村", "西岗镇", None, None)])
    finally:
        await db.close()


def wall_time(command: list[str], folder: Path, environment: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=folder, env=environment, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        asyncio.run(small_town(folder / "gridbot.sqlite3"))
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_PATH": str(folder / "gridbot.sqlite3")}
        environment.pop("BOT_TOKEN", None)
        python = sys.executable
        cases = {
            "python -c pass": [python, "-c", "pass"],
            "gridbot --help": [python, "-m", "bot", "--help"],
            "gridbot stats": [python, "-m", "bot", "stats"],
            "import aiogram (before)": [python, "-c", "import aiogram"],
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):  # interleaved, so a busy moment of the machine hits every case alike
            for name, command in cases.items():
                times[name].append(wall_time(command, folder, environment))
    floor = statistics.median(times["python -c pass"])
    print(f"median wall time of {runs} runs each")
    for name, measured in times.items():
        median = statistics.median(measured)
        print(f"  {name:<24} {median * 1000:7.0f} ms   ({median / floor:4.1f}× python -c pass)")


if __name__ == "__main__":
    main()

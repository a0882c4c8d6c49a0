"""`gridbot import grids` on a 50 MB file: peak memory and time, beside what reading it whole costs.

    .venv/bin/python bench/import_bench.py [--megabytes 50] [--xlsx-rows 0]

Each case runs in a fresh process, one after the other, and reports its own peak resident memory
(ru_maxrss) and wall time:

- python, the CLI imported: the floor every case stands on.
- read whole: the file read into one string and parsed into a list of rows, as the import did
  before it streamed (the text alone is twice the file in memory, the rows many times more).
- import, all rows good: checked, then written in one transaction; what grows is the keys of the
  rows (to refuse a repeated code), not the file.
- import, all rows bad: every row refused; 20 listed and the rest counted, nothing kept.
- with --xlsx-rows N: the same good rows as an XLSX workbook, read through openpyxl's read-only mode.

Times on a shared machine are noisy: compare the cases of one run, not runs on different days.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MEASURE = """
import json, resource, sys, time
start = time.perf_counter()
{body}
print(json.dumps({{"seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
CASES = {
    "python, the CLI imported": "import bot.__main__",
    "read whole (before)": (
        "import csv, io\n"
        "text = open(sys.argv[1], encoding='utf-8').read()\n"
        "rows = list(csv.DictReader(io.StringIO(text)))"
    ),
    "import, all rows good": "from bot.__main__ import main\ncode = main(['import', 'grids', sys.argv[1]])",
    "import, all rows bad": "from bot.__main__ import main\ncode = main(['import', 'grids', sys.argv[2]])",
}


def grid_row(number: int) -> str:
    """Grids as a county has them: 20 towns, 500 villages, a numbered grid each."""
    village = number % 500
    return f"G{number:07d},第{number}网格,村{village:03d},镇{village % 20:02d},34.8{number % 10},117.1{number % 7}\n"


def write_files(folder: Path, megabytes: int) -> tuple[Path, Path, int]:
    good, bad = folder / "good.csv", folder / "bad.csv"
    rows = 0
    with good.open("w", encoding="utf-8") as good_file, bad.open("w", encoding="utf-8") as bad_file:
        good_file.write("code,name,village,town,lat,lon\n")
        bad_file.write("code,name,village,town,lat,lon\n")
        while good_file.tell() < megabytes << 20:
            good_file.write(grid_row(rows))
            bad_file.write("bad code" + grid_row(rows)[8:])  # a blank in the code: every row refused
            rows += 1
    return good, bad, rows


def write_workbook(path: Path, rows: int) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["编码", "名称", "村", "镇", "纬度", "经度"])
    for number in range(rows):
        code, name, village, town, lat, lon = grid_row(number).rstrip("\n").split(",")
        sheet.write_row(number + 1, 0, [code, name, village, town, float(lat), float(lon)])
    book.close()


def run(body: str, folder: Path, *paths: Path) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_PATH": str(folder / "gridbot.sqlite3")}
    (folder / "gridbot.sqlite3").unlink(missing_ok=True)
    result = subprocess.run([sys.executable, "-c", MEASURE.format(body=body), *map(str, paths)], cwd=folder,
                            env=environment, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--xlsx-rows", type=int, default=0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        good, bad, rows = write_files(folder, options.megabytes)
        print(f"{good.stat().st_size / 2**20:.0f} MB, {rows:,} rows a file")
        cases = dict(CASES)
        if options.xlsx_rows:
            workbook = folder / "grids.xlsx"
            write_workbook(workbook, options.xlsx_rows)
            print(f"workbook: {workbook.stat().st_size / 2**20:.0f} MB, {options.xlsx_rows:,} rows")
            cases["import, workbook"] = "from bot.__main__ import main\ncode = main(['import', 'grids', sys.argv[3]])"
        for name, body in cases.items():
            paths = (good, bad, workbook) if options.xlsx_rows else (good, bad)
            figures = run(body, folder, *paths)
            print(f"  {name:<26} peak {figures['peak_mb']:7.0f} MB   {figures['seconds']:6.1f} s")


if __name__ == "__main__":
    main()

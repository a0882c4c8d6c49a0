"""Posters for 1,000 grids in one vector PDF: time, peak memory and file size, beside a baseline.

    .venv/bin/python bench/posters_bench.py [--grids 1000] [--page-size A4]

Each case runs in its own fresh process, one after the other, so its peak resident memory
(ru_maxrss) is its own and the cases do not compete for the CPU:

- baseline, codes only: encoding the QR codes and nothing else, the floor under any PDF.
- vector PDF: `qr.write_posters` as the bot and the CLI call it; aim ≤ 10 s and ≤ 300 MB.

The posters have the texts a town's posters have (heading, grid, village, worker, link, how-to,
hotline, privacy line), a seventh of them with long names that wrap and shrink. Times on a
shared machine are noisy: compare the cases of one run, not runs on different days.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from qr import PAGE_SIZES, PosterSpec, find_fonts, grid_link, write_posters  # noqa: E402
from qr.codes import qr_matrix  # noqa: E402

BOT_USERNAME = "xigang_service_bot"
VILLAGES = ["东风村", "红旗村", "向阳村", "前进村", "幸福村", "和平村", "光明村", "新华村"]
SURNAMES = "王李张刘陈杨黄赵吴周"
HOW_TO = [
    "1. 用手机相机扫描二维码，在 Telegram 中打开。",
    "2. 选择投诉举报、曝光台或我要建言，描述问题，可附照片。",
    "3. 网格员会答复您；发送 /my 可查看进度并评价。",
]


def posters(count: int) -> Iterator[PosterSpec]:
    """Grids as a town has them: a handful of villages, a numbered grid and a worker each."""
    for number in range(count):
        village = VILLAGES[number % len(VILLAGES)]
        yield PosterSpec(
            link=grid_link(BOT_USERNAME, f"XG-{number:05d}"),
            heading="西岗镇 · 网格化便民服务",
            title=f"{village}第{number // len(VILLAGES) + 1}网格" + "沿河南路东段商住小区" * (number % 7 == 0) * 4,
            lines=[f"{village} · 西岗镇", f"网格员：{SURNAMES[number % 10]}晓明 138{number:08d}"],
            caption="扫码反映问题",
            how_to=HOW_TO,
            hotline="服务热线：0632-1234567",
            privacy="只有您同意时，工作人员才能看到您的姓名；您反映的问题只用于办理。",
        )


def codes_only(count: int, page_size: str, out: Path) -> None:
    for poster in posters(count):
        qr_matrix(poster.link)


def vector_pdf(count: int, page_size: str, out: Path) -> None:
    write_posters(out, posters(count), page_size)


CASES: dict[str, Callable[[int, str, Path], None]] = {
    "baseline: QR codes only": codes_only,
    "vector PDF (write_posters)": vector_pdf,
}


def run_case(case: str, count: int, page_size: str) -> None:
    """In the child process: warm up (imports, fonts), run one case, print its figures as JSON."""
    find_fonts()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "posters.pdf"
        CASES[case](count, page_size, out)
        seconds = time.perf_counter() - started
        pdf_bytes = out.stat().st_size if out.exists() else 0
    # ru_maxrss is in KiB on Linux. No child processes: this one's peak is the whole peak.
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024, "pdf_bytes": pdf_bytes}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=1000)
    parser.add_argument("--page-size", choices=sorted(PAGE_SIZES), default="A4")
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.case:
        run_case(arguments.case, arguments.grids, arguments.page_size)
        return

    print(f"{arguments.grids} posters, {arguments.page_size}; aim: ≤ 10 s and ≤ 300 MiB")
    print(f"{'case':30} {'time s':>7} {'peak MiB':>9} {'PDF KiB':>9} {'KiB a poster':>13}")
    for case in CASES:
        child = subprocess.run(
            [sys.executable, __file__, "--case", case, "--grids", str(arguments.grids),
             "--page-size", arguments.page_size],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        figures = json.loads(child.stdout.splitlines()[-1])
        size = f"{figures['pdf_bytes'] / 1024:9.0f} {figures['pdf_bytes'] / 1024 / arguments.grids:13.1f}"
        print(
            f"{case:30} {figures['seconds']:7.2f} {figures['peak_mib']:9.0f}"
            f" {size if figures['pdf_bytes'] else '':>23}"
        )


if __name__ == "__main__":
    main()

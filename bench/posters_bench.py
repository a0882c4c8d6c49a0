"""Posters for 1,000 grids in one PDF: time and peak memory, beside two baselines.

    /work/venv/bin/python bench/posters_bench.py [--grids 1000] [--page-size A4]

Each case runs in its own fresh process, one after the other, so its peak resident memory
(ru_maxrss) is its own and the cases do not compete for the CPU:

- qr codes only: encoding the QR codes in one process, no drawing and no PDF.
- streamed PDF, one process: `qr.write_posters(..., workers=1)`.
- streamed PDF: `qr.write_posters` as the bot and the CLI call it, QR codes encoded by one
  worker process a CPU; aim under 15 s and 300 MB (the workers' memory counted in).
- naive Pillow PDF: the same pages drawn as images, all kept in a list, then Pillow's
  `save_all` with `append_images`; what the streamed writer replaces.

Times on a shared machine are noisy: compare the cases of one run, not runs on different days.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from qr import PAGE_SIZES, PosterSpec, find_cjk_font, grid_link, write_posters  # noqa: E402
from qr.codes import qr_matrix  # noqa: E402
from qr.layout import draw_column  # noqa: E402
from qr.posters import lay_out_poster  # noqa: E402

BOT_USERNAME = "xigang_service_bot"
VILLAGES = ["东风村", "红旗村", "向阳村", "前进村", "幸福村", "和平村", "光明村", "新华村"]
SURNAMES = "王李张刘陈杨黄赵吴周"
HOW_TO = [
    "1. 用手机相机扫描二维码，打开 Telegram",
    "2. 点“开始”，选择问题类型，写下问题并附照片",
    "3. 网格员会尽快处理，并告诉您结果",
]


def posters(count: int) -> Iterator[PosterSpec]:
    """Grids as a town has them: a handful of villages, a numbered grid and a worker each."""
    for number in range(count):
        village = VILLAGES[number % len(VILLAGES)]
        yield PosterSpec(
            link=grid_link(BOT_USERNAME, f"XG-{number:05d}"),
            title=f"{village}第{number // len(VILLAGES) + 1}网格",
            lines=[f"西岗镇 {village}", f"网格员：{SURNAMES[number % 10]}晓明 138{number:08d}"],
            caption="扫码反映问题",
            how_to=HOW_TO,
            bot_name=f"码上西岗 @{BOT_USERNAME}",
        )


def qr_codes_only(count: int, page_size: str, out: Path) -> None:
    for poster in posters(count):
        qr_matrix(poster.link)


def streamed_pdf_one_process(count: int, page_size: str, out: Path) -> None:
    write_posters(out, posters(count), page_size, workers=1)


def streamed_pdf(count: int, page_size: str, out: Path) -> None:
    write_posters(out, posters(count), page_size)


def naive_pillow_pdf(count: int, page_size: str, out: Path) -> None:
    size = PAGE_SIZES[page_size]
    font = find_cjk_font()
    pages = [
        draw_column(lay_out_poster(poster, qr_matrix(poster.link), size, font)).convert(
            "1", dither=None
        )
        for poster in posters(count)
    ]
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=size.dpi)


CASES: dict[str, Callable[[int, str, Path], None]] = {
    "qr codes only, one process": qr_codes_only,
    "streamed PDF, one process": streamed_pdf_one_process,
    "streamed PDF (write_posters)": streamed_pdf,
    "naive Pillow PDF, all pages in a list": naive_pillow_pdf,
}


def run_case(case: str, count: int, page_size: str) -> None:
    """In the child process: warm up (imports, font), run one case, print its figures as JSON."""
    find_cjk_font()
    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "posters.pdf"
        started = time.perf_counter()
        CASES[case](count, page_size, out)
        seconds = time.perf_counter() - started
        pdf_bytes = out.stat().st_size if out.exists() else 0
    # ru_maxrss is in KiB on Linux; for children, it is the largest child's peak.
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    worker_peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    workers = (os.cpu_count() or 1) if worker_peak_kib else 0
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mib": peak_kib / 1024,
                "grown_mib": (peak_kib - rss_before_kib) / 1024,
                # An upper bound: every worker counted at the largest one's peak.
                "with_workers_mib": (peak_kib + workers * worker_peak_kib) / 1024,
                "pdf_mib": pdf_bytes / 2**20,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=1000)
    parser.add_argument("--page-size", choices=sorted(PAGE_SIZES), default="A4")
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.case:
        run_case(arguments.case, arguments.grids, arguments.page_size)
        return

    print(f"{arguments.grids} grids, {arguments.page_size}")
    print(
        f"{'case':40} {'time s':>7} {'peak MiB':>9} {'grown MiB':>10} {'+workers MiB':>13}"
        f" {'PDF MiB':>8}"
    )
    for case in CASES:
        child = subprocess.run(
            [sys.executable, __file__, "--case", case, "--grids", str(arguments.grids),
             "--page-size", arguments.page_size],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        figures = json.loads(child.stdout.splitlines()[-1])
        print(
            f"{case:40} {figures['seconds']:7.2f} {figures['peak_mib']:9.0f}"
            f" {figures['grown_mib']:10.0f} {figures['with_workers_mib']:13.0f}"
            f" {figures['pdf_mib']:8.1f}"
        )


if __name__ == "__main__":
    main()

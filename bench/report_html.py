"""Benchmark: the HTML report's size and the cost of making it (issue 12, ADR 0019).

    uv run python bench/run.py --only report-html

On synthetic runs journaled by tests/synthetic_run.py (four probes at 10 Hz, one
of them measuring memory, two load streams, three iterations, a breach, lost
writes, a note):
* the page of a 10-minute run beside the 2 MB the issue allows (goal ≤ 1);
* the page of an hour's run beside the same 2 MB, for information (no goal: its
  load windows alone are about 1 MB);
* making the 10-minute page (``collect`` + ``html_report``: reading the journal,
  the results and the timeline, rendering) beside rebuilding the results alone
  from the same journal, as ``chaoskit results`` does (goal ≤ 1.5).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _timing import Row

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from synthetic_run import write_run

from chaoskit._journal import JOURNAL_NAME
from chaoskit._result_builder import rebuild_from_journal
from chaoskit.report import collect, html_report

LIMIT = 2 * 1024 * 1024
ROUNDS = 5


def _page(run_dir: Path) -> tuple[int, float]:
    """The page's size in bytes and the best of ROUNDS seconds to make it."""
    best, size = float("inf"), 0
    for _ in range(ROUNDS):
        began = time.perf_counter()
        page = html_report(collect(run_dir))
        best = min(best, time.perf_counter() - began)
        size = len(page.encode())
    return size, best


def _rebuild(run_dir: Path) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        began = time.perf_counter()
        rebuild_from_journal(run_dir / JOURNAL_NAME)
        best = min(best, time.perf_counter() - began)
    return best


def benchmark() -> list[Row]:
    with tempfile.TemporaryDirectory() as directory:
        ten = write_run(Path(directory) / "ten", minutes=10).run_dir
        hour = write_run(Path(directory) / "hour", minutes=60).run_dir
        size, made = _page(ten)
        rebuilt = _rebuild(ten)
        hour_size = len(html_report(collect(hour)).encode())
    mib = 1024 * 1024
    return [
        ("HTML page, 10-minute run", size / mib, "MiB", "limit", LIMIT / mib, 1.0),
        ("HTML page, 1-hour run", hour_size / mib, "MiB", "limit", LIMIT / mib, None),
        ("making the 10-minute page", made, "s", "results rebuilt alone", rebuilt, 1.5),
    ]


if __name__ == "__main__":
    for row in benchmark():
        print(row)

"""Benchmark: the HTML report's size, the cost of making it and of drawing it
(issue 12, ADR 0019).

    uv run python bench/run.py --only report-html

On synthetic runs journaled by tests/synthetic_run.py (two load streams, three
iterations, a breach, lost writes, a note):
* the page of a 10-minute run (four probes at 10 Hz) beside the 2 MB the issue
  allows (goal ≤ 1);
* an hour's run of 20 probes at 4 Hz (288,000 samples): its page beside 5 MB
  (goal ≤ 1); rendering it from the collected run beside 2 s (goal ≤ 1); the
  whole ``chaoskit report --html`` (reading the journal, rebuilding the results,
  rendering) beside rebuilding the results alone, as ``chaoskit results`` does
  (goal ≤ 1.5: the page adds little to reading the journal); Debian's Chromium
  drawing it (from navigation to the timeline drawn) beside 1 s (goal ≤ 1).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _timing import Row

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser import ARGS, CHROMIUM, open_report
from playwright.sync_api import sync_playwright
from synthetic_run import probes, write_run

from chaoskit._journal import JOURNAL_NAME
from chaoskit._result_builder import rebuild_from_journal
from chaoskit.report import collect, html_report

MIB = 1024 * 1024
ROUNDS = 3
DRAWS = 5


def _best(action: Callable[[], object], rounds: int = ROUNDS) -> float:
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - began)
    return best


def _drawn_seconds(page: Path) -> float:
    """The best of DRAWS page loads: milliseconds from navigation to drawn, as
    the page itself measures it (``data-drawn-ms``)."""
    best = float("inf")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for _ in range(DRAWS):
                opened = open_report(browser, page)
                assert opened.page.evaluate("document.body.dataset.timeline") == "ready"
                best = min(best, float(opened.page.evaluate("document.body.dataset.drawnMs")))
                opened.context.close()
        finally:
            browser.close()
    return best / 1000


def benchmark() -> list[Row]:
    with tempfile.TemporaryDirectory() as directory:
        ten = write_run(Path(directory) / "ten", minutes=10).run_dir
        size = len(html_report(collect(ten)).encode())
        hour = write_run(Path(directory) / "hour", minutes=60, planned=probes(20, 0.25)).run_dir
        data = collect(hour)
        page = html_report(data)
        (hour / "report.html").write_text(page, encoding="utf-8")
        render = _best(lambda: html_report(data))
        whole = _best(lambda: html_report(collect(hour)), 1)
        rebuilt = _best(lambda: rebuild_from_journal(hour / JOURNAL_NAME), 1)
        drawn = _drawn_seconds(hour / "report.html")
    return [
        ("HTML page, 10-minute run", size / MIB, "MiB", "limit", 2.0, 1.0),
        ("HTML page, 1-hour run, 20 probes", len(page.encode()) / MIB, "MiB", "limit", 5.0, 1.0),
        ("rendering it (collected run)", render, "s", "limit", 2.0, 1.0),
        ("chaoskit report --html of it", whole, "s", "results rebuilt alone", rebuilt, 1.5),
        ("Chromium drawing it", drawn, "s", "limit", 1.0, 1.0),
    ]


if __name__ == "__main__":
    for row in benchmark():
        print(row)

"""Re-make the README's screenshot of an HTML report: runs experiments/db_pool.yaml
against the lab (chaoskit brings it up) with ``--report html``, opens the page in
Debian's Chromium and keeps the verdict and the timeline.

    uv run python docs/report_screenshot.py [--runtime process|docker]

Writes docs/images/report-db_pool.png (and leaves the run in a temporary
directory, printed)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import ARGS, CHROMIUM, open_report  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

OUT = ROOT / "docs" / "images" / "report-db_pool.png"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runtime", default="process", choices=["process", "docker"])
    args = parser.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="chaoskit-screenshot-"))
    done = subprocess.run(
        [sys.executable, "-m", "chaoskit", "run", str(ROOT / "experiments" / "db_pool.yaml"),
         "--runs-dir", str(runs), "--report", "html"],
        env={**os.environ, "CHAOSKIT_LAB_RUNTIME": args.runtime},
        stdin=subprocess.DEVNULL,
        timeout=900,
        check=False,
    )  # fmt: skip
    [run_dir] = list(runs.iterdir())
    print(f"run: {run_dir} (exit {done.returncode})")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            opened = open_report(browser, run_dir / "report.html", width=1280)
            if opened.problems() or opened.off_page():
                print(f"the page reported problems: {opened.problems()} {opened.off_page()}")
                return 1
            bottom = opened.page.eval_on_selector(
                "#timeline-section", "n => n.getBoundingClientRect().bottom + window.scrollY"
            )
            opened.page.screenshot(
                path=str(OUT),
                full_page=True,
                clip={"x": 0, "y": 0, "width": 1280, "height": bottom},
            )
        finally:
            browser.close()
    print(OUT.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())

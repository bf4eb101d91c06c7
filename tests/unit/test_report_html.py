"""The HTML report's page and timeline, read back without a browser (issue 12):
the inlined chart libraries are the ones pinned, the timeline's lanes hold the
run's measured moments, nothing in the data can end the page's scripts, and a
10-minute run's page stays under 2 MB. tests/integration/report draws it in
Chromium."""

from __future__ import annotations

import hashlib
import html.parser
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from synthetic_run import LOST, write_run

from chaoskit.report import collect, html_report
from chaoskit.report._chart import MIN_POINTS, POINT_BUDGET, peaks
from chaoskit.report._html import CHART_LIBRARIES

VENDOR = Path(__file__).parents[2] / "chaoskit" / "report" / "vendor"
LIMIT = 2 * 1024 * 1024


class _Page(html.parser.HTMLParser):
    """The page's scripts (by id when they have one) and its visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.text: list[str] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        else:
            self.text.append(data)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def spec_of(page: str) -> dict[str, Any]:
    [(_, text)] = [(a, t) for a, t in parse(page).scripts if a.get("id") == "timeline-spec"]
    spec: dict[str, Any] = json.loads(text)
    return spec


def rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of the lanes view (its spans and marks)."""
    lanes = spec["vconcat"][0]
    names = [layer["data"]["name"] for layer in lanes["layer"] if "y" in layer["encoding"]]
    return [row for name in names for row in spec["datasets"][name]]


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run = write_run(tmp_path_factory.mktemp("synthetic") / "run", minutes=10)
    return run.run_dir, html_report(collect(run.run_dir))


def test_the_inlined_chart_libraries_are_the_pinned_ones() -> None:
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    files = {item["file"]: item for package in manifest["packages"] for item in package["files"]}
    assert set(CHART_LIBRARIES) <= set(files)
    for name, item in files.items():
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert digest == item["sha256"], f"{name} differs from MANIFEST.json: ./dev vendor-charts"
    for package in manifest["packages"]:
        assert package["license"] == "BSD-3-Clause"
        assert any(item["file"].startswith("LICENSE") for item in package["files"])


def test_a_ten_minute_run_is_one_file_under_2_mb(long_run: tuple[Path, str]) -> None:
    _, page = long_run
    size = len(page.encode())
    assert size < LIMIT, f"{size} bytes"
    scripts = parse(page).scripts
    assert all("src" not in attrs for attrs, _ in scripts), "a script is loaded, not inlined"
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.DOTALL)
    for reference in ("<link", "@import", "url(", "src=", "href="):
        assert reference not in markup, reference
    assert len(scripts) == 1 + len(CHART_LIBRARIES) + 1  # the data, the libraries, the page's


def test_the_lanes_hold_the_measured_moments(long_run: tuple[Path, str]) -> None:
    run_dir, page = long_run
    result = collect(run_dir).result
    assert result.measurements is not None
    found = rows(spec_of(page))
    lanes = {row["lane"] for row in found}
    assert {"phase", "fault · latency", "TTD", "MTTR", "heal", "notes"} <= lanes
    assert {"target · api", "target · db", "target · memory", "outside · neighbour"} <= lanes
    for it in result.measurements.iterations:
        assert it.t_inject is not None
        assert it.t_impact is not None
        assert it.t_recovered is not None
        assert it.t_revert is not None
        [mttr] = [
            r for r in found if r["lane"] == "MTTR" and f"(iteration {it.iteration})" in r["what"]
        ]
        assert (mttr["t"], mttr["t2"]) == (round(it.t_impact, 3), round(it.t_recovered, 3))
        [ttd] = [
            r for r in found if r["lane"] == "TTD" and f"(iteration {it.iteration})" in r["what"]
        ]
        assert (ttd["t"], ttd["t2"]) == (round(it.t_inject, 3), round(it.t_impact, 3))
        [heal] = [
            r for r in found if r["lane"] == "heal" and f"(iteration {it.iteration})" in r["what"]
        ]
        assert (heal["t"], heal["t2"]) == (round(it.t_revert, 3), round(it.t_recovered, 3))
    fault = [r for r in found if r["lane"] == "fault · latency"]
    injected = [f.t_inject for f in result.faults]
    assert [r["t"] for r in fault if r["what"].startswith("inject:")] == [
        round(t or 0, 3) for t in injected
    ]
    assert sum(r["what"].startswith("revert:") for r in fault) == len(result.faults)
    [breach] = [r for r in found if r["what"].startswith("breach")]
    assert breach["lane"] == "outside · neighbour"
    assert "propagation delay +7.00s" in breach["detail"]
    api = [r for r in found if r["lane"] == "target · api" and "failed" in r["what"]]
    assert len(api) == 3
    assert all(r["detail"] == "HTTP 503, expected 200" for r in api)
    spans = sorted((r["t"], r["t2"]) for r in found if r["lane"] == "target · api")
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans)), "runs must meet"


def test_load_and_readings_have_their_own_views(long_run: tuple[Path, str]) -> None:
    _, page = long_run
    spec = spec_of(page)
    titles = [view["title"] for view in spec["vconcat"]]
    assert titles[0] == "timeline"
    assert titles[1].startswith("probe latency (ms)")
    assert "readings (MiB)" in titles  # the memory probe has a unit; the others chart no readings
    assert sum(t.startswith("readings") for t in titles) == 1
    assert {"load: throughput (answers/s)", "load: error rate"} <= set(titles)
    [load] = [v for v in spec["vconcat"] if v["title"] == "load: throughput (answers/s)"]
    windows = spec["datasets"][load["layer"][-1]["data"]["name"]]
    assert {w["series"] for w in windows} == {"writes", "reads"}
    hurt = [w for w in windows if w["series"] == "writes" and w["errors"]]
    assert hurt
    assert all(w["errors"] == pytest.approx(6 / 51, abs=1e-3) for w in hurt)
    points = sum(
        len(spec["datasets"][v["layer"][-1]["data"]["name"]])
        for v in spec["vconcat"]
        if v["title"].startswith(("probe latency", "readings"))
    )
    assert points <= POINT_BUDGET


def test_data_and_notes_cannot_end_a_script_or_inject_markup(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", minutes=1, iterations=1)
    journal = run.run_dir / "journal.jsonl"
    evil = "</script><script>alert(1)</script><!--"
    journal.write_text(journal.read_text().replace("the dashboard goes red <b>now</b>", evil))
    page = html_report(collect(run.run_dir))
    parsed = parse(page)
    assert all(attrs or "alert(1)" not in text for attrs, text in parsed.scripts)
    assert len(parsed.scripts) == 1 + len(CHART_LIBRARIES) + 1
    notes = [row for row in rows(spec_of(page)) if row["lane"] == "notes"]
    assert notes[0]["detail"] == evil  # the JSON reads back exactly
    assert evil in "".join(parsed.text)  # shown as text in the notes table, not as markup


def test_the_lost_ids_and_counts_are_on_the_page(long_run: tuple[Path, str]) -> None:
    _, page = long_run
    cells = " ".join(" ".join(parse(page).text).split())
    assert "writes 27000 26500 12 15 5 2 0 0 0.05%" in cells
    text = " ".join("".join(parse(page).text).split())
    assert "First lost ids of writes: " + ", ".join(LOST) in text


def test_peaks_keeps_each_buckets_highest() -> None:
    starts = [i / 10 for i in range(10_000)]
    values = [1.0] * 10_000
    values[4321] = 50.0
    kept = peaks(starts, values, 500)
    assert len(kept) == 500
    assert (starts[4321], 50.0) in kept
    assert peaks(starts[:100], values[:100], 500) == list(
        zip(starts[:100], values[:100], strict=True)
    )
    assert MIN_POINTS < POINT_BUDGET

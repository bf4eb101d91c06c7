"""The HTML report opened in a real Chromium (issue 12): it draws offline with no
error and asks the network for nothing; its lanes are there, each fault's window
where the journal says; hovering a fault or a sample shows its values; the wheel
zooms every view together and a double-click resets them. On a 10-minute
synthetic run (tests/synthetic_run.py) and on a real run that freezes a real
process. What is drawn is read from Vega's scenegraph (tests/browser.py): the
timeline is a canvas; no pixel is compared."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser import Opened, open_report, point_at, scene
from chaoskit_cli import run_chaoskit, start_chaoskit, wait_for_event
from playwright.sync_api import Browser, Page
from synthetic_run import write_run

from chaoskit._events import FaultInjected, FaultReverted
from chaoskit._journal import read_journal
from chaoskit.report import collect, html_report


@pytest.fixture(scope="module")
def long_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = write_run(tmp_path_factory.mktemp("synthetic") / "run", minutes=10)
    path = run.run_dir / "report.html"
    path.write_text(html_report(collect(run.run_dir)), encoding="utf-8")
    return path


@pytest.fixture
def opened(browser: Browser, long_report: Path) -> Iterator[Opened]:
    page = open_report(browser, long_report)
    yield page
    page.context.close()


def wait_for_span(page: Page, condition: str) -> None:
    """Until the x axis spans ``condition`` seconds (``"< 500"``): a zoom or a
    reset has been drawn."""
    page.wait_for_function(
        "() => { const d = window.chaoskitTimeline.scale('x').domain(); "
        f"return d[1] - d[0] {condition}; }}",
        timeout=5000,
    )


def spec_of(page: Opened) -> dict[str, Any]:
    """The timeline's spec as the page holds it."""
    text = page.page.eval_on_selector("#timeline-spec", "n => n.textContent")
    spec: dict[str, Any] = json.loads(text)
    return spec


def domain(page: Opened) -> tuple[float, float]:
    low, high = page.page.evaluate("window.chaoskitTimeline.scale('x').domain()")
    return float(low), float(high)


def x_labels(page: Opened) -> dict[str, list[float]]:
    """Each view's x-axis tick values as drawn: the numeric axis labels on the
    view's lowest row (its y-axis labels stand in a column)."""
    by_view: dict[str, list[dict[str, Any]]] = {}
    for item in scene(page.page, roles=["axis-label"]):
        value = (item["datum"] or {}).get("value")
        if isinstance(value, int | float):
            by_view.setdefault(item["view"], []).append(item)
    out = {}
    for view, labels in by_view.items():
        bottom = max(label["y1"] for label in labels)
        out[view] = sorted(label["datum"]["value"] for label in labels if label["y1"] == bottom)
    return out


def lane_labels(page: Opened) -> list[str]:
    return [item["text"] for item in scene(page.page, ["view0_group"], roles=["axis-label"])]


def lane_item(page: Opened, what: str) -> dict[str, Any]:
    items = scene(page.page, ["view0_group"], roles=["mark"])
    [item] = [i for i in items if (i["datum"] or {}).get("what") == what]
    return item


def test_the_page_draws_offline_without_errors(opened: Opened, tmp_path: Path) -> None:
    page = opened.page
    assert page.evaluate("document.body.dataset.timeline") == "ready", opened.problems()
    assert opened.problems() == []
    assert opened.off_page() == []
    assert page.eval_on_selector_all("#timeline canvas", "n => n.length") == 1
    rects = scene(page, ["view0_group"], ["rect"], ["mark"])
    lines = scene(page, marktypes=["line"], one_per_mark=True)
    spec = spec_of(opened)
    spans = spec["datasets"][spec["vconcat"][0]["layer"][-2]["data"]["name"]]
    assert len(rects) == len(spans) > 30  # every span of the lanes is drawn
    series = {(i["view"], (i["datum"] or {}).get("series")) for i in lines}
    assert len(series) >= 12  # 4 probes, 3 readings, 2 streams in 3 load views, ...
    height = page.eval_on_selector("#timeline canvas", "n => n.getBoundingClientRect().height")
    assert height > 800
    shot = tmp_path / "timeline.png"
    page.locator("#timeline").screenshot(path=str(shot))
    assert shot.stat().st_size > 40_000  # drawn; a blank timeline of that size is ~10 KB
    assert len(x_labels(opened)) == 6  # lanes, latency, readings, throughput, errors, p99 + p50
    assert domain(opened) == (0.0, 600.0)


def test_every_lane_is_labelled(opened: Opened) -> None:
    labels = lane_labels(opened)
    for lane in (
        "phase",
        "fault · latency",
        "TTD",
        "MTTR",
        "heal",
        "target · api",
        "target · memory",
        "outside · neighbour",
        "notes",
    ):
        assert lane in labels, labels


def test_the_fault_windows_are_where_the_journal_says(opened: Opened, long_report: Path) -> None:
    events = read_journal(long_report.parent / "journal.jsonl")
    injected = {e.iteration: e.t for e in events if isinstance(e, FaultInjected)}
    reverted = {e.iteration: e.t for e in events if isinstance(e, FaultReverted)}
    assert sorted(injected) == sorted(reverted) == [1, 2, 3]
    for n in injected:
        item = lane_item(opened, f"latency (iteration {n})")
        x = opened.page.evaluate(
            "ts => ts.map(t => window.chaoskitTimeline.scale('x')(t))", [injected[n], reverted[n]]
        )
        assert item["x1"] == pytest.approx(item["origin"] + x[0], abs=1.0)
        assert item["x2"] == pytest.approx(item["origin"] + x[1], abs=1.0)


def test_hovering_a_fault_shows_its_tooltip(opened: Opened) -> None:
    page = opened.page
    page.mouse.move(*point_at(page, lane_item(opened, "latency (iteration 2)")))
    tooltip = page.locator("#vg-tooltip-element.visible")
    tooltip.wait_for(state="visible", timeout=5000)
    text = tooltip.inner_text()
    assert "latency (iteration 2)" in text
    assert "toxiproxy.latency on api" in text
    assert "218.333s → 248.333s (30.0s)" in text


def test_hovering_a_sample_shows_its_value(opened: Opened) -> None:
    page = opened.page
    samples = [
        i
        for i in scene(page, ["view1_group"], ["symbol"], ["mark"])
        if (i["datum"] or {}).get("series") == "api"
        and i["datum"]["v"] > 400  # a slow one, during the fault: drawn apart from the rest
    ]
    sample = samples[len(samples) // 2]
    page.mouse.move(*point_at(page, sample))
    tooltip = page.locator("#vg-tooltip-element.visible")
    tooltip.wait_for(state="visible", timeout=5000)
    shown = tooltip_fields(tooltip.inner_text())
    # the samples drawn there overlap (0.1 s apart): the one on top answers
    assert shown["series"] == "api"
    assert abs(float(shown["t (s)"]) - sample["datum"]["t"]) < 2.0
    drawn = {(round(r["t"], 3), round(r["v"], 1)) for r in latency_rows(opened)}
    assert (round(float(shown["t (s)"]), 3), float(shown["ms"])) in drawn
    assert float(shown["ms"]) > 400


def tooltip_fields(text: str) -> dict[str, str]:
    """A vega-tooltip table's text (key, value on lines of their own) as a dict."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return dict(zip(lines[::2], lines[1::2], strict=True))


def latency_rows(page: Opened) -> list[dict[str, Any]]:
    spec = spec_of(page)
    [view] = [v for v in spec["vconcat"] if v["title"].startswith("probe latency")]
    rows: list[dict[str, Any]] = spec["datasets"][view["layer"][-1]["data"]["name"]]
    return rows


def test_the_wheel_zooms_every_view_together(opened: Opened) -> None:
    page = opened.page
    before = x_labels(opened)
    x, y = point_at(page, lane_item(opened, "latency (iteration 2)"))
    page.mouse.move(x, y)
    page.mouse.wheel(0, -600)
    wait_for_span(page, "< 500")
    low, high = domain(opened)
    assert 0 <= low < 233 < high <= 600  # zoomed about the pointer (the fault's middle)
    after = x_labels(opened)
    assert after.keys() == before.keys()
    for view, ticks in after.items():  # every view drew the new range
        assert ticks != before[view], view
        assert low <= ticks[0] <= ticks[-1] <= high, (view, ticks, low, high)
    page.mouse.dblclick(x, y)
    wait_for_span(page, ">= 599")
    assert domain(opened) == (0.0, 600.0)
    assert x_labels(opened) == before


@pytest.mark.parametrize("view", ["view1_group", "view3_group", "view5_group"])
def test_the_wheel_in_any_view_zooms_them_all(opened: Opened, view: str) -> None:
    page = opened.page
    [item] = scene(page, [view], ["symbol"], ["mark"], one_per_mark=True)[:1]
    x, y = point_at(page, item)
    page.mouse.move(x, y)
    page.mouse.wheel(0, -600)
    wait_for_span(page, "< 500")
    low, high = domain(opened)
    assert low <= item["datum"]["t"] <= high  # about the pointer
    page.mouse.dblclick(x, y)
    wait_for_span(page, ">= 599")


FREEZE = """
version: 1
title: a worker frozen for 2s
targets:
  worker: {kind: process, pid_file: WORKER}
steady_state:
  every: 200ms
  stable_for: 600ms
  baseline: 600ms
  probes:
    - name: worker-running
      command: {shell: 'test "$(ps -o state= -p "$(cat WORKER)")" = S'}
    - name: neighbour-running
      scope: outside
      command: {shell: 'test "$(ps -o state= -p "$(cat NEIGHBOUR)")" = S'}
faults:
  - {name: freeze, injector: process.stop, target: worker, at: 300ms, duration: 2s}
recovery:
  timeout: 10s
expect: {mttr: "< 6s", contained: true}
"""


@pytest.fixture
def sleepers(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """Two real processes to freeze and to watch, by pid file; killed after."""
    processes, files = [], {}
    for name in ("WORKER", "NEIGHBOUR"):
        process = subprocess.Popen(["sleep", "120"])
        processes.append(process)
        files[name] = tmp_path / f"{name.lower()}.pid"
        files[name].write_text(f"{process.pid}\n")
    yield files
    for process in processes:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(timeout=10)


def test_a_real_run_writes_a_page_that_draws(
    browser: Browser, tmp_path: Path, sleepers: dict[str, Path]
) -> None:
    text = FREEZE
    for name, path in sleepers.items():
        text = text.replace(name, str(path))
    yaml.safe_load(text)  # the substitution left valid YAML
    experiment = tmp_path / "freeze.yaml"
    experiment.write_text(text)
    code, out, err = run_chaoskit(
        ["run", str(experiment), "--runs-dir", str(tmp_path / "runs"), "--report", "html"], tmp_path
    )
    assert code == 0, out + err
    [run_dir] = (tmp_path / "runs").iterdir()
    page = open_report(browser, run_dir / "report.html")
    try:
        assert page.page.evaluate("document.body.dataset.timeline") == "ready", page.problems()
        assert page.problems() == []
        assert page.off_page() == []
        assert page.page.inner_text("#verdict").startswith("PASSED")
        labels = lane_labels(page)
        for lane in (
            "fault · freeze",
            "MTTR",
            "target · worker-running",
            "outside · neighbour-running",
        ):
            assert lane in labels, labels
        result = collect(run_dir).result
        assert result.measurements is not None
        [it] = result.measurements.iterations
        assert it.mttr is not None
        assert it.mttr > 1.5  # the freeze was seen for about its 2s
    finally:
        page.context.close()


def test_a_killed_run_gets_a_page_that_shows_the_fault_left_applied(
    browser: Browser, tmp_path: Path, sleepers: dict[str, Path]
) -> None:
    text = FREEZE.replace("duration: 2s", "duration: 60s")
    for name, path in sleepers.items():
        text = text.replace(name, str(path))
    experiment = tmp_path / "freeze.yaml"
    experiment.write_text(text)
    run = start_chaoskit(["run", str(experiment)], tmp_path)
    wait_for_event(run, "fault_injected")
    run.send(signal.SIGKILL)
    run.finish()
    run_dir = run.run_dir()
    assert run_dir is not None
    try:
        code, out, err = run_chaoskit(["report", str(run_dir), "--html", "killed.html"], tmp_path)
        assert code == 0, out + err
        page = open_report(browser, tmp_path / "killed.html")
        try:
            assert page.page.evaluate("document.body.dataset.timeline") == "ready"
            assert page.problems() == []
            assert page.page.inner_text("#verdict").startswith("DIRTY")
            assert f"chaoskit rollback {run_dir}" in page.page.inner_text(".left-applied")
            spans = [
                i
                for i in scene(page.page, ["view0_group"], ["rect"], ["mark"])
                if (i["datum"] or {}).get("lane") == "fault · freeze"
            ]
            [held] = spans  # in force from its inject to the journal's last moment
            assert "NOT REVERTED" in held["datum"]["detail"]
            phases = scene(page.page, ["view0_group"], ["rect"], ["mark"])
            last = max(i["x2"] for i in phases if (i["datum"] or {}).get("lane") == "phase")
            assert held["x2"] == pytest.approx(last, abs=1.0)
        finally:
            page.context.close()
    finally:  # thaw the worker the killed run left stopped
        code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
        assert code == 0, out + err

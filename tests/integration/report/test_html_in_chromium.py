"""The HTML report opened in a real Chromium (issue 12): it draws offline with no
error and asks the network for nothing; its lanes are there; hovering a fault
shows its tooltip; the wheel zooms every view together and a double-click
resets them. On a 10-minute synthetic run (tests/synthetic_run.py) and on a
real run that freezes a real process."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from browser import Opened, open_report
from chaoskit_cli import run_chaoskit
from playwright.sync_api import Browser
from synthetic_run import write_run

from chaoskit.report import collect, html_report

AXIS = re.compile(r"values from (-?[\d.]+) to (-?[\d.]+)")


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


def x_axes(page: Opened) -> list[tuple[float, float]]:
    """Each view's x axis, as the domain its aria label says it shows."""
    labels = page.page.eval_on_selector_all(
        "#timeline g[aria-label^='X-axis']", "nodes => nodes.map(n => n.getAttribute('aria-label'))"
    )
    found = [AXIS.search(label) for label in labels]
    return [(float(m.group(1)), float(m.group(2))) for m in found if m]


def lane_labels(page: Opened) -> list[str]:
    return page.page.eval_on_selector_all(
        "#timeline g[aria-label^='Y-axis'] text", "nodes => nodes.map(n => n.textContent)"
    )


def test_the_page_draws_offline_without_errors(opened: Opened, tmp_path: Path) -> None:
    page = opened.page
    assert page.evaluate("document.body.dataset.timeline") == "ready", opened.problems()
    assert opened.problems() == []
    assert opened.off_page() == []
    assert page.eval_on_selector_all("#timeline svg", "n => n.length") == 1
    rects = page.eval_on_selector_all(
        "#timeline [aria-roledescription='rect mark']", "n => n.length"
    )
    lines = page.eval_on_selector_all(
        "#timeline [aria-roledescription='line mark']", "n => n.length"
    )
    assert rects > 40, rects
    assert lines >= 6, lines
    height = page.eval_on_selector("#timeline svg", "n => n.getBoundingClientRect().height")
    assert height > 800
    shot = tmp_path / "timeline.png"
    page.locator("#timeline").screenshot(path=str(shot))
    assert shot.stat().st_size > 40_000  # a drawn timeline; a blank one of that size is ~10 KB
    assert len(x_axes(opened)) == 6  # lanes, latency, readings, throughput, errors, p99 + p50
    assert set(x_axes(opened)) == {(0.0, 600.0)}


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


def test_hovering_a_fault_shows_its_tooltip(opened: Opened) -> None:
    page = opened.page
    page.hover("#timeline path[aria-label='latency (iteration 2)']")
    tooltip = page.locator("#vg-tooltip-element.visible")
    tooltip.wait_for(state="visible", timeout=5000)
    text = tooltip.inner_text()
    assert "latency (iteration 2)" in text
    assert "toxiproxy.latency on api" in text
    assert "218.333s → 248.333s (30.0s)" in text


def test_the_wheel_zooms_every_view_together(opened: Opened) -> None:
    page = opened.page
    box = page.locator("#timeline path[aria-label='latency (iteration 2)']").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -600)
    page.wait_for_function(
        "() => { const d = window.chaoskitTimeline.scale('x').domain(); "
        "return d[1] - d[0] < 500; }",
        timeout=5000,
    )
    low, high = page.evaluate("window.chaoskitTimeline.scale('x').domain()")
    assert 0 <= low < 233 < high <= 600  # zoomed about the pointer (the fault's middle)
    axes = x_axes(opened)
    assert len(set(axes)) == 1, axes  # every view follows
    assert axes[0] != (0.0, 600.0), axes
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "() => { const d = window.chaoskitTimeline.scale('x').domain(); "
        "return d[1] - d[0] >= 599; }",
        timeout=5000,
    )
    assert set(x_axes(opened)) == {(0.0, 600.0)}


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

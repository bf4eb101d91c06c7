"""Every experiment in experiments/ runs for real against the lab and gives the
verdict and headline figures its description promises (the lab's knobs are
the ground truth). Those that run on either runtime run on both; those that
need containers (limits, a restart policy) on docker only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import open_report, scene
from lab_runtime import docker_answers
from playwright.sync_api import Browser

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
LEDGER = "http://127.0.0.1:18100"


def run(name: str, runtime: str, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "chaoskit", "--log-format", "json", "run",
         str(EXPERIMENTS / name), "--runs-dir", str(tmp_path / "runs"), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "CHAOSKIT_LAB_RUNTIME": runtime},
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    [run_dir] = list((tmp_path / "runs").iterdir())
    result: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    output = done.stdout + done.stderr[-3000:]
    assert_figures_carry_resolutions(result, output)
    return done.returncode, result, output


def assert_figures_carry_resolutions(result: dict[str, Any], output: str) -> None:
    """Every measured TTD, MTTR and time to heal comes with its real resolution,
    and a time to heal is said in words: after the revert, or healed before it."""
    measurements = result["measurements"] or {"iterations": []}
    for it in measurements["iterations"]:
        for figure in ("ttd", "time_to_heal"):
            resolution = it[figure.replace("time_to_", "") + "_resolution"]
            assert it[figure] is None or (resolution or 0) > 0, it
        if it["mttr"] is not None and not it["tolerated"]:
            assert (it["mttr_resolution"] or 0) > 0, it
        heal = it["time_to_heal"]
        if heal is not None and len(measurements["iterations"]) == 1:
            [line] = [ln for ln in output.splitlines() if ln.startswith("  heal        ")]
            assert ("before the revert" if heal < 0 else "after the revert") in line, line


def assert_report_draws(browser: Browser, tmp_path: Path, lanes: list[str]) -> None:
    """The run's HTML report draws in Chromium with no error and no request, with
    these lanes and the load's views; a screenshot is left in tmp_path."""
    [run_dir] = list((tmp_path / "runs").iterdir())
    for name in ("report.html", "report.md", "junit.xml"):
        assert (run_dir / name).exists(), name
    page = open_report(browser, run_dir / "report.html")
    try:
        assert page.page.evaluate("document.body.dataset.timeline") == "ready", page.problems()
        assert page.problems() == []
        assert page.off_page() == []
        drawn = {item["text"] for item in scene(page.page, ["view0_group"], roles=["axis-label"])}
        for lane in lanes:
            assert lane in drawn, (lane, drawn)
        titles = {item["text"] for item in scene(page.page, roles=["title-text"])}
        assert "load: throughput (answers/s)" in titles, titles
        page.page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    finally:
        page.context.close()


def lab(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "chaoskit", "lab", *args],
        check=True, capture_output=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_db_pool_is_tolerated(runtime: str, tmp_path: Path, browser: Browser) -> None:
    code, result, output = run("db_pool.yaml", runtime, tmp_path, "--report", "html,markdown,junit")
    assert code == 0, output
    assert_report_draws(
        browser,
        tmp_path,
        ["fault · exhaust-connections", "target · ledger-health", "outside · catalog-read"],
    )
    [iteration] = result["measurements"]["iterations"]
    assert iteration["tolerated"] is True
    [fault] = result["faults"]
    assert fault["verified"] is True  # a new connection was refused while it lasted
    [loss] = result["data_loss"]
    assert loss["lost"] == 0
    assert loss["acknowledged"] > 500


def test_network_partition_recovers_without_loss(runtime: str, tmp_path: Path) -> None:
    code, result, output = run("network_partition.yaml", runtime, tmp_path)
    assert code == 0, output
    [iteration] = result["measurements"]["iterations"]
    # the path is cut for 5 s: the ledger is down at least that long
    assert 4.5 <= iteration["mttr"] <= 25, iteration
    assert result["measurements"]["contained"] is True
    [loss] = result["data_loss"]
    assert loss["lost"] == 0
    assert loss["failed"] + loss["indeterminate"] > 0  # writes were refused, not faked


def test_network_blackhole_commits_writes_it_cannot_acknowledge(
    runtime: str, tmp_path: Path
) -> None:
    code, result, output = run("network_blackhole.yaml", runtime, tmp_path)
    assert code == 0, output
    [fault] = result["faults"]
    assert fault["verified"] is True
    assert fault["reverted"] is True
    [iteration] = result["measurements"]["iterations"]
    # the answers are dropped for 5 s: the ledger is unhealthy at least most of that
    assert 4 <= iteration["mttr"] <= 25, iteration
    assert result["measurements"]["contained"] is True
    [loss] = result["data_loss"]
    assert loss["lost"] == 0
    assert loss["phantom"] == 0
    # the INSERTs reached PostgreSQL and committed; only the answers were lost
    assert loss["indeterminate_present"] > 0, loss
    # and the whole set of proxies read back whole (toxiproxy.proxy_state on the set)
    [restored] = result["recovery_probes"]
    assert restored["ok"] is True, restored
    assert restored["value"]["ledger_postgres"]["toxics"] == []


def test_network_latency_breaks_the_latency_objective_only(runtime: str, tmp_path: Path) -> None:
    code, result, output = run("network_latency.yaml", runtime, tmp_path)
    assert code == 0, output
    [iteration] = result["measurements"]["iterations"]
    assert 7 <= iteration["mttr"] <= 15, iteration
    assert result["measurements"]["contained"] is True


def test_coupled_catalog_breaches_containment(runtime: str, tmp_path: Path) -> None:
    code, result, output = run("containment_breach.yaml", runtime, tmp_path)
    assert code == 1, output
    measurements = result["measurements"]
    assert measurements["blast_radius"] == ["catalog-read"]
    [iteration] = measurements["iterations"]
    [breach] = iteration["blast_radius"]
    assert breach["measured_from"] == "first-target-violation"
    # within a probe interval either way of the ledger's first failure, or later
    assert -0.5 <= breach["propagation_delay"] < 5
    [contained] = [e for e in result["expectations"] if e["name"] == "contained"]
    assert contained["met"] is False


def test_data_loss_equals_what_the_ledger_dropped(runtime: str, tmp_path: Path) -> None:
    # bring the lab up first so that it stays up for the ground truth afterwards
    lab("up", "--runtime", runtime, "--set", "LEDGER_DROP_EVERY_N=25")
    code, result, output = run("data_loss.yaml", runtime, tmp_path)
    stats = httpx.get(f"{LEDGER}/stats", timeout=5, trust_env=False).json()
    assert code == 1, output
    [loss] = result["data_loss"]
    assert stats["dropped"] > 10
    assert loss["lost"] == stats["dropped"], (loss, stats)
    assert loss["phantom"] == 0
    assert loss["unverified"] == 0


def test_http_latency_against_the_mini_lab(tmp_path: Path) -> None:
    """experiments/http_latency.yaml runs against compose/minilab.sh (a real
    toxiproxy-server and a small HTTP service), not the full lab."""
    minilab = ROOT / "compose" / "minilab.sh"
    subprocess.run([str(minilab), "up"], check=True, capture_output=True, timeout=60)
    try:
        code, result, output = run("http_latency.yaml", "process", tmp_path)
    finally:
        subprocess.run([str(minilab), "down"], check=True, capture_output=True, timeout=60)
    assert code == 0, output
    [iteration] = result["measurements"]["iterations"]
    assert 3.5 <= iteration["mttr"] <= 8, iteration
    assert result["measurements"]["contained"] is True


def test_service_kill_mttr_matches_the_ledgers_own_restart_time(tmp_path: Path) -> None:
    """Docker only (restart policy). Ground truth: the ledger logs when it starts
    listening again; MTTR must equal kill-to-listening within a probe interval."""
    if not docker_answers():
        pytest.skip("no Docker engine answers (./dev setup starts one)")
    lab("down", "--runtime", "docker")
    lab("up", "--runtime", "docker", "--set", "LEDGER_STARTUP_DELAY=3")
    try:
        code, result, output = run("service_kill.yaml", "docker", tmp_path)
        logs = subprocess.run(
            ["docker", "logs", "chaoskit-lab-ledger"], capture_output=True, text=True, timeout=30
        )
    finally:
        lab("down", "--runtime", "docker")
    assert code == 0, output
    [run_dir] = list((tmp_path / "runs").iterdir())
    journal = [json.loads(line) for line in (run_dir / "journal.jsonl").open()]
    [injected] = [r for r in journal if r["event"] == "fault_injected"]
    listening = [
        json.loads(line) for line in (logs.stdout + logs.stderr).splitlines()
        if '"listening"' in line
    ]  # fmt: skip
    from datetime import datetime

    back = [
        datetime.fromisoformat(r["ts"]).timestamp()
        for r in listening
        if datetime.fromisoformat(r["ts"]).timestamp() > injected["wall"]
    ]
    assert back, "the ledger never logged listening after the kill"
    truth = back[0] - injected["wall"]
    [iteration] = result["measurements"]["iterations"]
    interval = result["measurements"]["resolution"]
    assert truth >= 3.0  # LEDGER_STARTUP_DELAY
    assert abs(iteration["mttr"] - truth) <= interval + 0.15, (iteration["mttr"], truth)


def samples(tmp_path: Path, probe: str) -> list[dict[str, Any]]:
    """The journaled samples of one probe."""
    [run_dir] = list((tmp_path / "runs").iterdir())
    with (run_dir / "journal.jsonl").open() as journal:
        records = [json.loads(line) for line in journal]
    return [r for r in records if r["event"] == "sample" and r.get("probe") == probe]


def during(result: dict[str, Any], fault: str, readings: list[dict[str, Any]]) -> list[float]:
    """The ledger's readings taken while ``fault`` was in force (one probe interval
    of margin at both ends)."""
    [window] = [f for f in result["faults"] if f["name"] == fault]
    start, end = window["t_inject"] + 1.0, window["t_revert"] - 1.0
    return [r["value"]["chaoskit-lab-ledger"] for r in readings if start <= r["t"] <= end]


def host_config(container: str) -> dict[str, Any]:
    done = subprocess.run(
        ["docker", "inspect", container], capture_output=True, text=True, timeout=30, check=True
    )
    config: dict[str, Any] = json.loads(done.stdout)[0]["HostConfig"]
    return config


def test_memory_pressure_is_tolerated_and_the_limit_restored(
    docker_lab: str, tmp_path: Path
) -> None:
    lab("up", "--runtime", docker_lab)  # stays up: its limits are read afterwards
    code, result, output = run("memory_pressure.yaml", docker_lab, tmp_path)
    assert code == 0, output
    [iteration] = result["measurements"]["iterations"]
    assert iteration["tolerated"] is True
    assert all(f["verified"] and f["reverted"] for f in result["faults"]), result["faults"]
    memory = samples(tmp_path, "ledger-memory")
    before = [r["value"]["chaoskit-lab-ledger"] for r in memory if r["role"] == "steady"][:2]
    held = during(result, "hog", memory)
    assert held, memory
    # the hog's 64 MiB is charged to the ledger's container, under its 128 MiB limit
    assert min(held) >= max(before) + 56, (before, held)
    assert max(held) < 128
    # and results.json says so per phase
    [probe] = [p for p in result["probes"] if p["name"] == "ledger-memory"]
    per_phase = {phase: stats["chaoskit-lab-ledger"] for phase, stats in probe["values"].items()}
    assert per_phase["fault"]["max"] >= per_phase["baseline"]["max"] + 56, per_phase
    assert all(r["ok"] for r in samples(tmp_path, "ledger-not-restarted"))
    [loss] = result["data_loss"]
    assert loss["lost"] == 0
    assert loss["acknowledged"] > 500
    config = host_config("chaoskit-lab-ledger")
    assert (config["Memory"], config["MemorySwap"]) == (256 * 2**20, 256 * 2**20)


def test_cpu_pressure_is_throttled_to_the_quota_and_the_quota_restored(
    docker_lab: str, tmp_path: Path
) -> None:
    lab("up", "--runtime", docker_lab)  # stays up: its limits are read afterwards
    code, result, output = run("cpu_pressure.yaml", docker_lab, tmp_path)
    assert code == 0, output
    assert all(f["verified"] and f["reverted"] for f in result["faults"]), result["faults"]
    busy = during(result, "busy-loop", samples(tmp_path, "ledger-cpu"))
    assert busy, result["faults"]
    # a busy loop would take a whole CPU; the quota holds the container to 20 % of one
    assert all(14 <= percent <= 26 for percent in busy), busy
    [probe] = [p for p in result["probes"] if p["name"] == "ledger-cpu"]
    assert probe["values"]["fault"]["chaoskit-lab-ledger"]["max"] <= 26, probe
    [transfers] = result["load"]
    phases = transfers["phases"]
    # requests wait for the next CFS period: the throttling shows in the latency
    assert phases["fault"]["latency"]["p95"] > 3 * phases["recovery"]["latency"]["p95"]
    assert phases["fault"]["error_rate"] == 0
    [loss] = result["data_loss"]
    assert loss["lost"] == 0
    config = host_config("chaoskit-lab-ledger")
    assert (config["NanoCpus"], config["CpuQuota"]) == (10**9, 0)

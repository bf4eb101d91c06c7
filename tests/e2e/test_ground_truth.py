"""Measurements checked against the lab's ground truth (issue 5): the audit's
lost count equals exactly what the ledger dropped over 10,000+ writes, and is
0 when nothing is dropped, also across a partition (no false positives)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

pytestmark = pytest.mark.integration
LEDGER = "http://127.0.0.1:18100"
RUNTIME = "process"  # the cheaper runtime; both are covered by test_experiments.py


def lab(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "chaoskit", "lab", *args, "--runtime", RUNTIME],
        check=True, capture_output=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture
def lab_down() -> Any:
    subprocess.run(
        [sys.executable, "-m", "chaoskit", "lab", "down", "--runtime", RUNTIME],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    yield
    subprocess.run(
        [sys.executable, "-m", "chaoskit", "lab", "down", "--runtime", RUNTIME],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip


def experiment(tmp_path: Path, fault: dict[str, Any]) -> Path:
    document = {
        "version": 1,
        "title": "ground truth: the audit against the ledger's own count",
        "targets": {
            "ledger-db": {
                "kind": "toxiproxy.proxy",
                "server": "http://127.0.0.1:18474",
                "name": "ledger_postgres",
            }
        },
        "steady_state": {
            "every": "250ms",
            "stable_for": "1s",
            "baseline": "1s",
            "probes": [{"name": "ledger-health", "http": {"url": f"{LEDGER}/health"}}],
        },
        "load": [
            {
                "name": "transfers",
                "rate": "600/s",
                "timeout": "3s",
                "http": {
                    "method": "POST",
                    "url": f"{LEDGER}/transfers",
                    "json": {"id": "{{id}}", "amount": 1},
                },
                "writes": {
                    "lookup": {"http": {"url": f"{LEDGER}/transfers/{{{{id}}}}", "concurrency": 64}}
                },
            }
        ],
        "faults": [{"name": "fault", "target": "ledger-db", "at": "12s", **fault}],
        "recovery": {"timeout": "60s"},
    }
    path = tmp_path / "ground-truth.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run(path: Path, tmp_path: Path) -> dict[str, Any]:
    subprocess.run(
        [sys.executable, "-m", "chaoskit", "--log-format", "json", "run", str(path),
         "--runs-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        env={**os.environ, "CHAOSKIT_LAB_RUNTIME": RUNTIME},
    )  # fmt: skip
    [run_dir] = list((tmp_path / "runs").iterdir())
    result: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return result


@pytest.mark.usefixtures("lab_down")
def test_lost_equals_dropped_over_ten_thousand_writes(tmp_path: Path) -> None:
    lab("up", "--set", "LEDGER_DROP_EVERY_N=97")
    latency = {"injector": "toxiproxy.latency", "with": {"latency": "20ms"}, "duration": "5s"}
    result = run(experiment(tmp_path, latency), tmp_path)
    stats = httpx.get(f"{LEDGER}/stats", timeout=5, trust_env=False).json()
    [loss] = result["data_loss"]
    assert loss["acknowledged"] >= 10_000, loss
    assert loss["unverified"] == 0
    assert stats["dropped"] >= 100
    assert loss["lost"] == stats["dropped"], (loss, stats)
    assert loss["phantom"] == 0


@pytest.mark.usefixtures("lab_down")
def test_no_false_positive_across_a_partition(tmp_path: Path) -> None:
    lab("up", "--set", "LEDGER_DROP_EVERY_N=0")
    partition = {"injector": "toxiproxy.down", "duration": "3s"}
    result = run(experiment(tmp_path, partition), tmp_path)
    [loss] = result["data_loss"]
    assert loss["acknowledged"] >= 5_000, loss
    assert loss["failed"] + loss["indeterminate"] > 0  # the partition did bite
    assert loss["unverified"] == 0
    assert loss["lost"] == 0
    assert loss["phantom"] == 0

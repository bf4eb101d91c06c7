"""The lab heals when its database path heals: each experiment that faults the
ledger's path to PostgreSQL is aborted mid-fault (SIGINT or SIGTERM, at a random
moment of the fault), ten times in a row, and each time the ledger must answer
``/health`` with 200 within 10 s of chaoskit's exit (every fault reverted).

Found this way: psycopg_pool 3.1's async pool gave a connection to a waiter whose
task had been cancelled (aiohttp cancels a handler when its client goes away) and
lost it; after some aborts the ledger's pool was empty for good, never trying to
reconnect (docs/decisions/0013-lab-pool.md). Docker runtime only: that is where the
services run on Debian's packages."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
LEDGER_HEALTH = "http://127.0.0.1:18100/health"
ABORTS = 10
HEAL_WITHIN = 10.0
"""Seconds after chaoskit's exit within which the ledger must be healthy again."""
DATABASE_PATH = [
    "db_pool.yaml",
    "network_partition.yaml",
    "network_blackhole.yaml",
    "network_latency.yaml",
    "data_loss.yaml",
    "containment_breach.yaml",
]


def lab(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chaoskit", "lab", *args, "--runtime", "docker"],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def knobs(experiment: Path) -> list[str]:
    document: dict[str, Any] = yaml.safe_load(experiment.read_text())
    settings = (document.get("lab") or {}).get("knobs") or {}
    return [arg for name, value in settings.items() for arg in ("--set", f"{name}={value}")]


def journal_events(run_dir: Path) -> list[dict[str, Any]]:
    journal = run_dir / "journal.jsonl"
    if not journal.exists():
        return []
    lines = journal.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def wait_for_inject(process: subprocess.Popen[str], runs: Path, timeout: float) -> None:
    """Until the run's journal records its first fault injected (or the run ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        for run_dir in runs.glob("*"):
            if any(e.get("event") == "fault_injected" for e in journal_events(run_dir)):
                return
        time.sleep(0.02)
    raise AssertionError(f"no fault injected within {timeout:g}s (exit {process.poll()})")


def seconds_to_health(limit: float) -> float | None:
    """Seconds until ledger's /health answers 200 (polled), or None past ``limit``."""
    began = time.monotonic()
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() - began < limit:
            try:
                if client.get(LEDGER_HEALTH).status_code == 200:
                    return time.monotonic() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    return None


@pytest.fixture
def docker_lab_down() -> Any:
    from lab_runtime import docker_answers

    if not docker_answers():
        pytest.skip("no Docker engine answers (./dev setup starts one)")
    lab("down")
    yield
    lab("down")


@pytest.mark.usefixtures("docker_lab_down")
@pytest.mark.parametrize("name", DATABASE_PATH)
def test_the_ledger_heals_after_every_abort(name: str, tmp_path: Path) -> None:
    experiment = EXPERIMENTS / name
    lab("up", *knobs(experiment))  # up already: the runs neither start nor stop it
    seed = random.randrange(1 << 30)
    chooser = random.Random(seed)
    heals = []
    for attempt in range(ABORTS):
        runs = tmp_path / f"runs-{attempt}"
        process = subprocess.Popen(
            [sys.executable, "-m", "chaoskit", "--log-format", "json", "run", str(experiment),
             "--runs-dir", str(runs)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL, env={**os.environ, "CHAOSKIT_LAB_RUNTIME": "docker"},
        )  # fmt: skip
        try:
            wait_for_inject(process, runs, timeout=60)
            time.sleep(chooser.uniform(0.0, 1.5))  # somewhere in the fault
            signum = chooser.choice([signal.SIGINT, signal.SIGTERM])
            process.send_signal(signum)
            _, errors = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        context = f"{name} abort {attempt} ({signum.name}, seed {seed})"
        assert process.returncode == 3, f"{context}: exit {process.returncode}\n{errors[-2000:]}"
        [run_dir] = list(runs.iterdir())
        events = journal_events(run_dir)
        injected = {e["fault"] for e in events if e.get("event") == "fault_injected"}
        reverted = {e["fault"] for e in events if e.get("event") == "fault_reverted"}
        assert injected, f"{context}: no fault injected"
        assert injected <= reverted, f"{context}: not every fault reverted"
        heal = seconds_to_health(HEAL_WITHIN)
        assert heal is not None, f"{context}: ledger not healthy within {HEAL_WITHIN:g}s"
        heals.append(round(heal, 2))
    print(f"{name}: healthy again after each of {ABORTS} aborts, seconds {heals}")

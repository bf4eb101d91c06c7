"""Whole experiments through the real ``chaoskit`` command: a self-healing kill
measured end to end, and ``kill -9`` of the runner mid-fault followed by
``chaoskit rollback``, which must leave nothing applied."""

from __future__ import annotations

import glob
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from chaoskit_cli import ChaoskitProcess, journal_events, run_chaoskit, start_chaoskit
from process_victims import Victim, alive_with, helpers_of, status_of, wait_for

pytestmark = pytest.mark.integration


def write_experiment(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump({"version": 1, **document}, sort_keys=False))
    return path


def steady_state(probe: dict[str, Any]) -> dict[str, Any]:
    return {"every": "100ms", "stable_for": "300ms", "baseline": "300ms", "probes": [probe]}


def test_a_supervised_restart_is_measured(tmp_path: Path, spawn: Callable[..., Victim]) -> None:
    victim = spawn()
    path = write_experiment(
        tmp_path,
        {
            "title": "a killed service comes back",
            "targets": {"app": {"kind": "process", "cmdline": victim.marker}},
            "steady_state": steady_state({"name": "up", "process.alive": {"target": "app"}}),
            "faults": [
                {
                    "name": "kill",
                    "injector": "process.kill",
                    "target": "app",
                    "at": "200ms",
                    "duration": "1s",
                    "with": {"restart": {"command": victim.argv, "after": "500ms"}},
                }
            ],
            "expect": {"mttr": "< 5s"},
        },
    )

    code, out, err = run_chaoskit(["run", str(path), "--json"], tmp_path)

    assert code == 0, out + err
    result = json.loads(out)
    assert result["status"] == "passed"
    [fault] = result["faults"]
    assert (fault["verified"], fault["reverted"]) == (True, True)
    assert 0.3 < result["measurements"]["mttr"]["max"] < 5.0  # the restart came after 500ms
    assert victim.process.wait(timeout=5) == -signal.SIGKILL
    copies = alive_with(victim.marker)
    assert len(copies) == 1  # restarted once, by the helper; revert saw it back
    assert copies[0].pid != victim.pid


def wait_for_injected(run: ChaoskitProcess, count: int, timeout: float = 30.0) -> str:
    """Wait until ``count`` faults are injected; the run id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_dir = run.run_dir()
        events = journal_events(run_dir) if run_dir else []
        if sum(e["event"] == "fault_injected" for e in events) >= count:
            return str(next(e for e in events if e["event"] == "run_started")["run_id"])
        if run.process.poll() is not None:
            _, out, err = run.finish()
            raise AssertionError(f"chaoskit exited early:\n{out}\n{err}")
        time.sleep(0.05)
    raise AssertionError(f"{count} faults were not injected within {timeout}s")


def memory_cgroup(pid: int) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, cgroup = line.split(":", 2)
        if "memory" in controllers.split(","):
            return cgroup
    raise AssertionError("no memory cgroup")


def test_kill_9_mid_fault_then_rollback_leaves_nothing_applied(
    tmp_path: Path, spawn: Callable[..., Victim]
) -> None:
    frozen, limited = spawn(), spawn()
    original_memberships = Path(f"/proc/{limited.pid}/cgroup").read_text()
    path = write_experiment(
        tmp_path,
        {
            "title": "everything at once, then the runner dies",
            "targets": {
                "frozen": {"kind": "process", "cmdline": frozen.marker},
                "limited": {"kind": "process", "cmdline": limited.marker},
            },
            "steady_state": steady_state({"name": "up", "process.alive": {"target": "limited"}}),
            "faults": [
                {"name": "stop", "injector": "process.stop", "target": "frozen", "duration": "60s"},
                {
                    "name": "burn",
                    "injector": "process.cpu_pressure",
                    "target": "frozen",
                    "duration": "60s",
                    "with": {"workers": 1, "nice": 19, "max_duration": "70s"},
                },
                {
                    "name": "cap",
                    "injector": "process.memory_limit",
                    "target": "limited",
                    "duration": "60s",
                    "with": {"mib": 256},
                },
            ],
        },
    )
    run = start_chaoskit(["run", str(path)], tmp_path)
    try:
        run_id = wait_for_injected(run, 3)
    finally:
        run.send(signal.SIGKILL)
        run.finish()

    # Left applied by the crash.
    assert status_of(frozen.pid) == psutil.STATUS_STOPPED
    assert len(helpers_of(run_id)) == 1
    assert memory_cgroup(limited.pid).endswith(f"chaoskit-{run_id}-cap")
    run_dir = run.run_dir()
    assert run_dir is not None

    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)

    assert code == 0, out + err
    for name in ("stop", "burn", "cap"):
        assert f"reverted  {name}" in out
    assert status_of(frozen.pid) not in (psutil.STATUS_STOPPED, None)
    wait_for(lambda: not helpers_of(run_id), "the burner to end", timeout=5)
    assert Path(f"/proc/{limited.pid}/cgroup").read_text() == original_memberships
    assert glob.glob(f"/sys/fs/cgroup/*/**/chaoskit-{run_id}-*", recursive=True) == []
    again, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert again == 0, out + err
    assert "nothing to do" in out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_fault_reverts_everything(
    tmp_path: Path, spawn: Callable[..., Victim], signum: signal.Signals
) -> None:
    victim = spawn()
    path = write_experiment(
        tmp_path,
        {
            "title": "interrupted",
            "targets": {"app": {"kind": "process", "cmdline": victim.marker}},
            "steady_state": steady_state({"name": "up", "process.alive": {"target": "app"}}),
            "faults": [
                {"name": "stop", "injector": "process.stop", "target": "app", "duration": "60s"},
                {
                    "name": "hog",
                    "injector": "process.memory_pressure",
                    "target": "app",
                    "duration": "60s",
                    "with": {"mib": 32, "max_duration": "70s"},
                },
            ],
        },
    )
    run = start_chaoskit(["run", str(path)], tmp_path)
    run_id = wait_for_injected(run, 2)
    assert status_of(victim.pid) == psutil.STATUS_STOPPED
    assert len(helpers_of(run_id)) == 1

    run.send(signum)
    code, out, err = run.finish()

    assert code == 3, out + err
    assert status_of(victim.pid) not in (psutil.STATUS_STOPPED, None)
    assert helpers_of(run_id) == []

"""When a sample counts, in real runs: an ok sample shows health when it
answered, so a slow probe in flight across the revert cannot make the system
look healed before the revert; a system that really healed itself before the
revert is said so in words; aborts say ABORTED, not NOT RECOVERED."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import yaml
from chaoskit_cli import run_chaoskit, start_chaoskit, wait_for_event


def write(tmp_path: Path, probe: dict[str, Any], fault: dict[str, Any], **extra: Any) -> Path:
    flags = tmp_path / "flags"
    flags.mkdir(exist_ok=True)
    document = {
        "version": 1,
        "title": "sample timing",
        "targets": {"flags": {"kind": "fake.dir", "path": str(flags)}},
        "steady_state": {
            "every": "250ms",
            "stable_for": "500ms",
            "baseline": "500ms",
            "probes": [probe],
        },
        "faults": [
            {"name": "flag", "injector": "fake.flag", "target": "flags", "at": "100ms", **fault}
        ],
        **extra,
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def results(tmp_path: Path) -> dict[str, Any]:
    [run_dir] = list((tmp_path / "runs").iterdir())
    data: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return data


def test_a_slow_probe_across_the_revert_never_heals_before_it(tmp_path: Path) -> None:
    # the probe looks at the flags 200ms after it starts: of every 250ms slot,
    # 200ms are in flight, so a sample nearly always spans the revert
    flags = tmp_path / "flags"
    slow = {
        "name": "no-flag-after-200ms",
        "command": {"argv": ["sh", "-c", f"sleep 0.2; ! ls {flags} | grep -qv attempts"]},
    }
    path = write(tmp_path, slow, {"duration": "1s"}, repeat=3)
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 0, out + err
    iterations = results(tmp_path)["measurements"]["iterations"]
    assert len(iterations) == 3
    for it in iterations:
        assert it["t_recovered"] >= it["t_revert"], it
        assert it["time_to_heal"] >= 0, it
        # the recovery is known between the last failing sample's start and the
        # first ok one's answer: at least the probe's own 200ms
        assert it["heal_resolution"] >= 0.2, it
    assert "before the revert" not in out


def test_a_system_that_heals_itself_is_said_to_heal_before_the_revert(tmp_path: Path) -> None:
    probe = {"name": "no-flags", "fake.flag_count": {"target": "flags"}}
    path = write(tmp_path, probe, {"duration": "3s", "with": {"heals_after": "1s"}})
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 0, out + err
    [it] = results(tmp_path)["measurements"]["iterations"]
    assert it["time_to_heal"] < -1.0, it
    assert "heal        healed " in out
    assert "before the revert  (resolution " in out
    assert "-1" not in out.split("heal        ")[1].splitlines()[0]


def test_an_abort_says_aborted_why_and_what_was_reverted(tmp_path: Path) -> None:
    probe = {"name": "no-flags", "fake.flag_count": {"target": "flags"}}
    path = write(tmp_path, probe, {"duration": "60s"}, expect={"mttr": "< 20s"})
    run = start_chaoskit(["run", str(path)], tmp_path)
    wait_for_event(run, "fault_injected")
    run.send(signal.SIGTERM)
    code, out, err = run.finish()
    assert code == 3, out + err
    assert "verdict     ABORTED  (exit 3) — received SIGTERM" in out
    reverted = "received SIGTERM; 1 of 1 injected faults reverted"
    assert f"aborted     during fault-phase: {reverted}" in out
    assert "NOT RECOVERED" not in out
    assert "expect      mttr < 20s: measured None → not judged: the run was aborted" in out
    result = results(tmp_path)
    assert result["aborted_in"] == "fault-phase"
    [expectation] = result["expectations"]
    assert expectation["met"] is None

"""Each way a run can end gives its documented exit code, and every fault the
run applied is reverted on every path. Uses the ``fake.flag`` test plugin
(a flag file per applied fault), so a leftover fault is a leftover file."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaoskit_cli import run_chaoskit, start_chaoskit, wait_for_event


def write_experiment(
    tmp_path: Path,
    faults: list[dict[str, Any]] | None = None,
    probes: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Path:
    flags = tmp_path / "flags"
    flags.mkdir(exist_ok=True)
    document = {
        "version": 1,
        "title": "exit code test",
        "targets": {"flags": {"kind": "fake.dir", "path": str(flags)}},
        "steady_state": {
            "every": "100ms",
            "stable_for": "200ms",
            "baseline": "200ms",
            "probes": probes or [{"name": "always-ok", "command": {"argv": ["true"]}}],
        },
        "faults": faults or [],
        **extra,
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def flag_fault(duration: str = "300ms", **params: Any) -> dict[str, Any]:
    fault: dict[str, Any] = {
        "name": params.pop("name", "flag"),
        "injector": "fake.flag",
        "target": "flags",
        "at": params.pop("at", "100ms"),
        "duration": duration,
    }
    if params:
        fault["with"] = params
    return fault


COUNT_PROBE = [{"name": "no-flags", "fake.flag_count": {"target": "flags"}}]


def applied_flags(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "flags").iterdir() if not p.name.endswith("attempts"))


def results(tmp_path: Path) -> dict[str, object]:
    [run_dir] = list((tmp_path / "runs").iterdir())
    data: dict[str, object] = json.loads((run_dir / "results.json").read_text())
    return data


def test_held_exits_0(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, [flag_fault()])
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 0, out + err
    assert "PASSED" in out
    assert applied_flags(tmp_path) == []
    result = results(tmp_path)
    assert result["status"] == "passed"
    [fault] = result["faults"]  # type: ignore[misc]
    assert fault["reverted"] is True
    assert fault["verified"] is True


def test_failed_expectation_exits_1(tmp_path: Path) -> None:
    # the flag-count probe sees the fault, so MTTR > 0 and the expectation fails
    path = write_experiment(tmp_path, [flag_fault()], COUNT_PROBE, expect={"mttr": "< 1ms"})
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 1, out + err
    result = results(tmp_path)
    assert result["status"] == "failed"
    [expectation] = result["expectations"]  # type: ignore[misc]
    assert expectation["name"] == "mttr"
    assert expectation["met"] is False
    assert applied_flags(tmp_path) == []


def test_unsteady_baseline_exits_1_and_injects_nothing(tmp_path: Path) -> None:
    failing = [{"name": "always-fails", "command": {"argv": ["false"]}}]
    path = write_experiment(tmp_path, [flag_fault()], failing)
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 1, out + err
    result = results(tmp_path)
    assert result["status"] == "unsteady-baseline"
    assert result["faults"] == []
    [run_dir] = list((tmp_path / "runs").iterdir())
    assert "fault_intent" not in (run_dir / "journal.jsonl").read_text()


def test_invalid_experiment_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\ntitle: x\nsteady_state: {probes: []}\n")
    code, _, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 2
    assert f"{path}:3:24: steady_state.probes: expected at least 1 item" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_fault_exits_3_and_reverts(tmp_path: Path, signum: signal.Signals) -> None:
    path = write_experiment(tmp_path, [flag_fault("60s")])
    run = start_chaoskit(["run", str(path)], tmp_path)
    wait_for_event(run, "fault_injected")
    assert len(applied_flags(tmp_path)) == 1
    run.send(signum)
    code, out, err = run.finish()
    assert code == 3, out + err
    assert applied_flags(tmp_path) == []
    assert f"received {signum.name}" in results(tmp_path)["reason"]  # type: ignore[operator]


def test_injector_exception_exits_3_and_reverts(tmp_path: Path) -> None:
    faults = [flag_fault("60s"), flag_fault("60s", name="broken", at="200ms", fail_inject=True)]
    path = write_experiment(tmp_path, faults)
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 3, out + err
    assert applied_flags(tmp_path) == []  # both: the good one and the half-applied one
    assert "fail_inject" in str(results(tmp_path)["reason"])


def test_safeguard_exits_3_and_reverts(tmp_path: Path) -> None:
    guard = [{"probe": "no-flags", "abort_if_failing_for": "300ms"}]
    path = write_experiment(tmp_path, [flag_fault("60s")], COUNT_PROBE, safeguards=guard)
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 3, out + err
    assert applied_flags(tmp_path) == []
    assert "safeguard" in str(results(tmp_path)["reason"])


def test_run_timeout_exits_3_and_reverts(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, [flag_fault("60s")])
    code, out, err = run_chaoskit(["run", str(path), "--timeout", "1s"], tmp_path)
    assert code == 3, out + err
    assert applied_flags(tmp_path) == []


def test_failed_revert_exits_4_dirty(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, [flag_fault(revert_failures=-1)])
    code, out, err = run_chaoskit(["run", str(path), "--revert-attempts", "2"], tmp_path)
    assert code == 4, out + err
    assert "DIRTY" in out
    assert "chaoskit rollback" in out
    assert len(applied_flags(tmp_path)) == 1
    result = results(tmp_path)
    assert result["status"] == "dirty"
    assert result["left_applied"]


def test_revert_retried_until_it_succeeds(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, [flag_fault(revert_failures=2)])
    code, out, err = run_chaoskit(["run", str(path), "--revert-attempts", "3"], tmp_path)
    assert code == 0, out + err
    [fault] = results(tmp_path)["faults"]  # type: ignore[misc]
    assert fault["revert_attempts"] == 3
    assert applied_flags(tmp_path) == []


def test_kill_9_then_rollback_reverts_and_is_safe_twice(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, [flag_fault("60s")])
    run = start_chaoskit(["run", str(path)], tmp_path)
    wait_for_event(run, "fault_injected")
    run.send(signal.SIGKILL)
    run.finish()
    assert len(applied_flags(tmp_path)) == 1
    run_dir = run.run_dir()
    assert run_dir is not None
    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 0, out + err
    assert "reverted  flag" in out
    assert applied_flags(tmp_path) == []
    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 0, out + err
    assert "nothing to do" in out


def test_results_of_a_killed_run_are_rebuilt_from_its_journal(tmp_path: Path) -> None:
    """kill -9 mid-fault leaves no results.json; ``chaoskit results`` rebuilds
    them up to the last event: the fault still applied (DIRTY, exit 4) until a
    rollback, then ABORTED (exit 3), and never a verdict on the expectations."""
    path = write_experiment(tmp_path, [flag_fault("60s")], COUNT_PROBE, expect={"mttr": "< 1m"})
    run = start_chaoskit(["run", str(path)], tmp_path)
    wait_for_event(run, "fault_injected")
    run.send(signal.SIGKILL)
    run.finish()
    run_dir = run.run_dir()
    assert run_dir is not None
    assert not (run_dir / "results.json").exists()
    code, out, err = run_chaoskit(["results", str(run_dir)], tmp_path)
    assert code == 4, out + err
    result = results(tmp_path)
    assert result["status"] == "dirty"
    assert str(result["reason"]).startswith("the run ended without a verdict (killed or crashed")
    assert result["aborted_in"] == "fault-phase"
    [left] = result["left_applied"]  # type: ignore[misc]
    assert "fault 'flag' (fake.flag on flags) was never reverted" in left
    [fault] = result["faults"]  # type: ignore[misc]
    assert fault["t_inject"] is not None
    assert fault["reverted"] is False
    [expectation] = result["expectations"]  # type: ignore[misc]
    assert expectation["met"] is None
    assert "DIRTY" in out
    assert "rebuilt from" in out

    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 0, out + err
    code, out, err = run_chaoskit(["results", str(run_dir), "--json"], tmp_path)
    assert code == 3, out + err
    assert json.loads(out) == results(tmp_path)
    assert results(tmp_path)["left_applied"] == []
    assert results(tmp_path)["status"] == "aborted"


def test_results_of_a_finished_run_rebuild_byte_for_byte(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, [flag_fault()], COUNT_PROBE)
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 0, out + err
    [run_dir] = list((tmp_path / "runs").iterdir())
    written = (run_dir / "results.json").read_text()
    rebuilt = tmp_path / "rebuilt.json"
    code, out, err = run_chaoskit(["results", str(run_dir), "-o", str(rebuilt)], tmp_path)
    assert code == 0, out + err
    assert rebuilt.read_text() == written


def test_results_of_a_dir_without_a_journal_exits_2(tmp_path: Path) -> None:
    code, _, err = run_chaoskit(["results", str(tmp_path)], tmp_path)
    assert code == 2
    assert "no journal here" in err


def test_rollback_of_a_missing_dir_exits_2(tmp_path: Path) -> None:
    code, _, err = run_chaoskit(["rollback", str(tmp_path / "nope")], tmp_path)
    assert code == 2
    assert "not a directory" in err


def test_dry_run_touches_nothing(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, [flag_fault()])
    code, out, err = run_chaoskit(["run", str(path), "--dry-run"], tmp_path)
    assert code == 0, out + err
    assert "fake.flag on flags" in out
    assert not (tmp_path / "runs").exists()
    assert applied_flags(tmp_path) == []


def test_a_probe_that_hangs_is_cut_off_at_its_timeout(tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    hanging = [
        {
            "name": "hangs",
            "timeout": "200ms",
            "command": {"shell": f"sleep 3; touch {marker}"},
        }
    ]
    path = write_experiment(tmp_path, [flag_fault()], hanging)
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 1, out + err
    result = results(tmp_path)
    assert result["status"] == "unsteady-baseline"
    [probe] = result["probes"]  # type: ignore[misc]
    assert probe["last_detail"] == "no answer within 0.2s"


def test_rollback_restores_secrets_from_the_environment(tmp_path: Path) -> None:
    """Secrets are journaled as ${env:NAME}; rollback substitutes them again,
    so a revert state that holds a secret still reverts after a crash."""
    secret_dir = tmp_path / "flags"
    env = {"CK_SECRET_FLAGS_DIR": str(secret_dir)}
    path = write_experiment(tmp_path, [flag_fault("60s")])
    path.write_text(path.read_text().replace(str(secret_dir), "${env:CK_SECRET_FLAGS_DIR}"))
    run = start_chaoskit(["run", str(path)], tmp_path, env)
    wait_for_event(run, "fault_injected")
    run.send(signal.SIGKILL)
    run.finish()
    run_dir = run.run_dir()
    assert run_dir is not None
    journal = (run_dir / "journal.jsonl").read_text()
    assert str(secret_dir) not in journal
    assert "${env:CK_SECRET_FLAGS_DIR}" in journal
    assert len(applied_flags(tmp_path)) == 1
    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path, env=env)
    assert code == 0, out + err
    assert applied_flags(tmp_path) == []


def test_export_gives_the_timeline_as_csv(tmp_path: Path) -> None:
    import csv
    import io

    path = write_experiment(tmp_path, [flag_fault()], COUNT_PROBE)
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 0, out + err
    [run_dir] = list((tmp_path / "runs").iterdir())
    code, out, err = run_chaoskit(["export", str(run_dir)], tmp_path)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    kinds = [row["kind"] for row in rows]
    assert kinds.index("fault_injected") < kinds.index("fault_reverted")
    samples = [row for row in rows if row["kind"] == "sample:steady"]
    assert {row["phase"] for row in samples} >= {"baseline", "fault-phase", "recovery"}
    during = [row for row in samples if row["phase"] == "fault-phase"]
    assert any(row["value"] == "1" for row in during)  # the flag was counted

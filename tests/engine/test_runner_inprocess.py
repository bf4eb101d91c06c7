"""The runner driven in-process with the fake plugins: repeat statistics,
phases in order, the journal written ahead, and structured logs."""

from __future__ import annotations

import gc
import json
import re
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from structlog.testing import capture_logs

import chaoskit._faults
from chaoskit._control import Controller, RunControl
from chaoskit._faults import RetryPolicy
from chaoskit._loader import parse_experiment
from chaoskit._results import RunStatus
from chaoskit._runner import RunOptions, run_experiment

pytestmark = pytest.mark.anyio


def experiment(tmp_path: Path, **extra: Any) -> str:
    flags = tmp_path / "flags"
    flags.mkdir()
    document = {
        "version": 1,
        "title": "in-process",
        "targets": {"flags": {"kind": "fake.dir", "path": str(flags)}},
        "steady_state": {
            "every": "50ms",
            "stable_for": "150ms",
            "baseline": "100ms",
            "probes": [{"name": "no-flags", "fake.flag_count": {"target": "flags"}}],
        },
        "faults": [
            {"name": "flag", "injector": "fake.flag", "target": "flags", "duration": "300ms"}
        ],
        **extra,
    }
    return yaml.safe_dump(document)


async def run(tmp_path: Path, text: str, controller: Controller | None = None) -> Any:
    loaded = parse_experiment(text, "inline.yaml")
    options = RunOptions(
        runs_dir=tmp_path / "runs",
        revert_policy=RetryPolicy(attempts=2, first_backoff=0.01),
        handle_signals=False,
        controller=controller,
    )
    return await run_experiment(loaded, options, structlog.get_logger())


async def test_repeat_gives_statistics_over_iterations(tmp_path: Path) -> None:
    result, run_dir = await run(tmp_path, experiment(tmp_path, repeat=3))
    assert result.status is RunStatus.PASSED
    measurements = result.measurements
    assert measurements is not None
    assert len(measurements.iterations) == 3
    assert measurements.mttr is not None
    assert measurements.mttr.n == 3
    # the probe sees the flag for the fault's 300ms: MTTR ≈ duration, within a
    # couple of probe intervals (scheduling on a busy machine may add one)
    for iteration in measurements.iterations:
        assert iteration.mttr is not None
        assert 0.3 - 0.05 <= iteration.mttr <= 0.3 + 3 * 0.05
        assert iteration.ttd is not None
        assert 0 <= iteration.ttd <= 0.05 + 0.05
    assert [f.iteration for f in result.faults] == [1, 2, 3]
    # the probe measures (a value_unit): its readings per phase — the flag is up
    # during the fault window only
    [probe] = result.probes
    assert probe.unit == "flags"
    assert probe.values["baseline"]["value"].max == 0
    assert probe.values["fault"]["value"].max == 1
    assert json.loads((run_dir / "results.json").read_text())["status"] == "passed"


async def test_phases_in_order_and_intent_before_injection(tmp_path: Path) -> None:
    result, run_dir = await run(tmp_path, experiment(tmp_path))
    names = [name for name, _ in result.phases]
    assert names == ["preflight", "baseline", "fault-phase", "recovery", "audit", "verdict"]
    events = [json.loads(line)["event"] for line in (run_dir / "journal.jsonl").open()]
    assert events.index("fault_intent") < events.index("fault_injected")
    assert events.index("fault_injected") < events.index("fault_reverted")
    assert events[-1] == "run_finished"
    # the heap frozen for the probe schedule is handed back to the collector
    assert gc.get_freeze_count() == 0


async def test_logs_are_structured_and_bound(tmp_path: Path) -> None:
    with capture_logs() as logs:
        await run(tmp_path, experiment(tmp_path))
    injected = [e for e in logs if e["event"] == "fault injected"]
    assert len(injected) == 1
    assert injected[0]["fault"] == "flag"
    assert injected[0]["target"] == "flags"
    assert injected[0]["experiment"] == "in-process"


async def test_secrets_never_reach_journal_or_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOSKIT_TEST_SECRET", "hunter2-s3cr3t")
    text = experiment(tmp_path).replace(
        "title: in-process", "title: in-process\ndescription: token ${env:CHAOSKIT_TEST_SECRET}"
    )
    probe = {
        "name": "echo",
        "command": {"argv": ["echo", "${env:CHAOSKIT_TEST_SECRET}"]},
        "expect": {"stdout_matches": "^hunter"},
    }
    document = yaml.safe_load(text)
    document["steady_state"]["probes"].append(probe)
    result, run_dir = await run(tmp_path, yaml.safe_dump(document))
    assert result.status is RunStatus.PASSED
    for name in ("journal.jsonl", "results.json"):
        assert "hunter2-s3cr3t" not in (run_dir / name).read_text()


async def test_an_inject_that_never_answers_is_named_in_the_reason_and_reverted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chaoskit._faults, "INJECT_TIMEOUT", 0.3)  # 60s in a real run
    hung = {"name": "hung", "injector": "fake.flag", "target": "flags", "duration": "60s",
            "with": {"hang_inject": True}}  # fmt: skip
    result, _ = await run(tmp_path, experiment(tmp_path, faults=[hung]))
    assert (result.status, result.exit_code) == (RunStatus.ABORTED, 3)
    assert result.reason.endswith("inject of 'hung' gave no answer within 0.3s")
    left = [p.name for p in (tmp_path / "flags").iterdir() if not p.name.endswith("attempts")]
    assert left == []  # the flag it made is reverted
    assert result.aborted_in == "fault-phase"


class SkipAhead(Controller):
    """Skips the fault of the given iterations before the run begins."""

    def __init__(self, *iterations: int) -> None:
        self.iterations = iterations

    def attach(self, control: RunControl) -> None:
        super().attach(control)
        for iteration in self.iterations:
            control.skip("flag", by="facilitator", iteration=iteration)


async def test_an_iteration_whose_faults_were_all_skipped_is_not_measured(tmp_path: Path) -> None:
    result, _ = await run(tmp_path, experiment(tmp_path, repeat=2), SkipAhead(1))
    assert result.status is RunStatus.PASSED
    assert result.hypothesis_held is True
    assert [it.iteration for it in result.measurements.iterations] == [2]
    assert [(f.name, f.iteration) for f in result.faults] == [("flag", 2)]


async def test_a_run_whose_every_fault_was_skipped_tested_nothing(tmp_path: Path) -> None:
    result, _ = await run(tmp_path, experiment(tmp_path), SkipAhead(1))
    assert (result.status, result.exit_code) == (RunStatus.ABORTED, 3)
    assert result.reason == "every fault was skipped: the hypothesis was not tested"
    assert result.hypothesis_held is None
    assert result.measurements is None
    assert result.faults == []


async def test_the_progress_line_follows_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    held = {"name": "flag", "injector": "fake.flag", "target": "flags", "duration": "1500ms"}
    loaded = parse_experiment(experiment(tmp_path, faults=[held]), "inline.yaml")
    options = RunOptions(runs_dir=tmp_path / "runs", handle_signals=False, progress=True)
    result, _ = await run_experiment(loaded, options, structlog.get_logger())
    assert result.status is RunStatus.PASSED
    lines = capsys.readouterr().err.splitlines()
    progress = [line for line in lines if re.match(r"^ +\d+\.\ds ", line)]
    # the first line is due 1s into the baseline, the flag's revert 1.5s after its inject
    # at the start of the fault phase: timers fire in order, so it is seen in force
    assert any(" fault-phase NOT steady | flag in-force " in line for line in progress), progress

"""Results are a function of the run's events: what a live run writes to
results.json is what ``build_result`` makes of its journal, on every way a run
ends (issue 11, ADR 0018)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from chaoskit._control import Controller, RunControl
from chaoskit._errors import UserError
from chaoskit._events import PhaseChanged, RunStarted
from chaoskit._faults import RetryPolicy
from chaoskit._journal import JOURNAL_NAME, read_journal
from chaoskit._loader import parse_experiment
from chaoskit._phases import Phase
from chaoskit._result_builder import build_result
from chaoskit._results import RESULTS_NAME, RunResult, RunStatus
from chaoskit._runner import RunOptions, run_experiment

pytestmark = pytest.mark.anyio


def flag(**params: Any) -> dict[str, Any]:
    fault: dict[str, Any] = {
        "name": params.pop("name", "flag"),
        "injector": "fake.flag",
        "target": "flags",
        "duration": params.pop("duration", "300ms"),
    }
    return fault | ({"with": params} if params else {})


COUNT = {"name": "no-flags", "fake.flag_count": {"target": "flags"}}
OUTSIDE = {"name": "neighbour", "scope": "outside", "command": {"argv": ["true"]}}
SECRET = {
    "name": "echo",
    "command": {"argv": ["echo", "${env:CK_REBUILD_SECRET}"]},
    "expect": {"stdout_matches": "^hunter"},
}

SCENARIOS: dict[str, tuple[dict[str, Any], RunStatus]] = {
    "held, two iterations, expectations": (
        {"repeat": 2, "expect": {"mttr": "< 30s", "contained": True, "ttd": "< 10s"}},
        RunStatus.PASSED,
    ),
    "an expectation not met": ({"expect": {"mttr": "< 1ms"}}, RunStatus.FAILED),
    "a safeguard": (
        {
            "faults": [flag(duration="60s")],
            "safeguards": [{"probe": "no-flags", "abort_if_failing_for": "200ms"}],
        },
        RunStatus.ABORTED,
    ),
    "an inject that fails": ({"faults": [flag(fail_inject=True)]}, RunStatus.ABORTED),
    "a revert that always fails": ({"faults": [flag(revert_failures=-1)]}, RunStatus.DIRTY),
    "a secret in a probe": ({"probes": [COUNT, SECRET]}, RunStatus.PASSED),
    "not steady at baseline": (
        {"probes": [COUNT, {"name": "down", "command": {"argv": ["false"]}}]},
        RunStatus.UNSTEADY_BASELINE,
    ),
}


def experiment(tmp_path: Path, extra: dict[str, Any]) -> str:
    flags = tmp_path / "flags"
    flags.mkdir(exist_ok=True)
    steady = {
        "every": "50ms",
        "stable_for": "150ms",
        "baseline": "100ms",
        "probes": extra.pop("probes", [COUNT, OUTSIDE]),
    }
    document = {
        "version": 1,
        "title": "rebuilt",
        "targets": {"flags": {"kind": "fake.dir", "path": str(flags)}},
        "steady_state": steady,
        "faults": [flag()],
        **extra,
    }
    return yaml.safe_dump(document)


async def run(
    tmp_path: Path, text: str, controller: Controller | None = None
) -> tuple[RunResult, Path]:
    loaded = parse_experiment(text, "inline.yaml")
    options = RunOptions(
        runs_dir=tmp_path / "runs",
        revert_policy=RetryPolicy(attempts=2, first_backoff=0.01),
        handle_signals=False,
        controller=controller,
    )
    return await run_experiment(loaded, options, structlog.get_logger())


def assert_rebuilt_equal(result: RunResult, run_dir: Path) -> RunResult:
    rebuilt = build_result(read_journal(run_dir / JOURNAL_NAME))
    assert rebuilt == result
    written = (run_dir / RESULTS_NAME).read_text()
    assert written == rebuilt.model_dump_json(indent=2) + "\n"
    return rebuilt


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_the_live_result_is_what_the_journal_rebuilds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("CK_REBUILD_SECRET", "hunter2-s3cr3t")
    extra, status = SCENARIOS[name]
    result, run_dir = await run(tmp_path, experiment(tmp_path, dict(extra)))
    assert result.status is status, result.reason
    rebuilt = assert_rebuilt_equal(result, run_dir)
    assert "hunter2-s3cr3t" not in rebuilt.model_dump_json()


class SkipAhead(Controller):
    def attach(self, control: RunControl) -> None:
        super().attach(control)
        control.skip("flag", by="facilitator", iteration=1)


async def test_a_run_steered_by_a_controller_rebuilds_the_same(tmp_path: Path) -> None:
    text = experiment(tmp_path, {"repeat": 2})
    result, run_dir = await run(tmp_path, text, SkipAhead())
    assert result.status is RunStatus.PASSED
    assert [it.iteration for it in result.measurements.iterations] == [2]  # type: ignore[union-attr]
    assert_rebuilt_equal(result, run_dir)


async def test_the_result_says_what_the_figures_are(tmp_path: Path) -> None:
    """Built from events, the probes' figures and the fault records are there."""
    result, _ = await run(tmp_path, experiment(tmp_path, {}))
    count, neighbour = result.probes
    assert (count.kind, count.unit, count.scope, count.every) == (
        "fake.flag_count", "flags", "target", 0.05,
    )  # fmt: skip
    assert count.failures > 0
    assert neighbour.failures == 0
    assert set(count.latency) >= {"baseline", "fault", "recovery"}
    assert count.values["fault"]["value"].max == 1
    [fault] = result.faults
    assert fault.t_inject is not None
    assert fault.t_revert is not None
    assert fault.reverted
    assert result.duration == result.phases[-1][1]  # the verdict's moment
    assert result.source.endswith("inline.yaml")


def test_events_without_a_run_start_or_a_plan_are_refused() -> None:
    with pytest.raises(UserError, match="no run_started"):
        build_result([PhaseChanged(phase=Phase.PREFLIGHT)])
    old = RunStarted(
        run_id="r", source="/x.yaml", title="t", experiment=None, chaoskit_version="0",
        pid=1, started_at="",
    )  # fmt: skip
    with pytest.raises(UserError, match="older than journal version 3"):
        build_result([old])

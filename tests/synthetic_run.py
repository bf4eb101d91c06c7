"""A long run's journal written without running it: the events a real run of
``minutes`` would journal (phases, probes at 10 Hz, a resource probe, load
windows, three faults, a breach, an audit with lost writes, notes), through the
same journal and event stream, on a simulated clock. For the report's size and
rendering tests and its benchmark, where a real 10-minute run would cost 10
minutes; the short real runs are in tests/engine/test_reports.py."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import JsonValue

from chaoskit._events import (
    Audited,
    BaselineJudged,
    ControlApplied,
    Event,
    FaultInjected,
    FaultIntent,
    FaultReverted,
    FaultStarted,
    FaultVerified,
    IterationEnded,
    LoadWindow,
    PhaseChanged,
    PlannedProbe,
    RunFinished,
    RunPlan,
    RunStarted,
    SampleTaken,
)
from chaoskit._journal import JOURNAL_NAME, Journal
from chaoskit._model import Expectations
from chaoskit._phases import Phase
from chaoskit._secrets import Secrets
from chaoskit._stream import EventStream

__all__ = ["LOST", "PROBES", "SyntheticRun", "probes", "write_run"]

PROBES = [
    PlannedProbe(name="api", kind="http", scope="target", every=0.1),
    PlannedProbe(name="db", kind="postgres.query", scope="target", every=0.1),
    PlannedProbe(name="neighbour", kind="http", scope="outside", every=0.1),
    PlannedProbe(name="memory", kind="docker.memory", scope="target", every=0.5, unit="MiB"),
]
BASELINE = 30.0
FAULT_AT = 5.0
FAULT_FOR = 30.0
LOST = [f"w-{n}" for n in range(1200, 1212)]


@dataclass(frozen=True)
class SyntheticRun:
    run_dir: Path
    seconds: float
    iterations: int
    samples: int


def probes(count: int, every: float) -> list[PlannedProbe]:
    """``count`` steady-state probes sampled every ``every`` seconds: an outside
    one, a memory one, the rest HTTP probes of the target (``api-N``)."""
    return [
        PlannedProbe(name="neighbour", kind="http", scope="outside", every=every),
        PlannedProbe(name="memory", kind="docker.memory", scope="target", every=every, unit="MiB"),
        *(
            PlannedProbe(name=f"api-{n}", kind="http", scope="target", every=every)
            for n in range(1, count - 1)
        ),
    ]


def write_run(
    run_dir: Path,
    minutes: float = 10.0,
    iterations: int = 3,
    planned: list[PlannedProbe] = PROBES,
) -> SyntheticRun:
    """Journal a run of ``minutes`` with the ``planned`` probes into ``run_dir``
    (created)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    journal = Journal(run_dir / JOURNAL_NAME, Secrets(), time.monotonic())
    stream = EventStream(journal)
    seconds = minutes * 60
    samples = 0
    for t, event in sorted(_events(seconds, iterations, planned), key=lambda item: item[0]):
        stream.emit(event, t=t)
        samples += isinstance(event, SampleTaken)
    journal.close()
    return SyntheticRun(run_dir, seconds, iterations, samples)


def _events(
    seconds: float, iterations: int, planned: list[PlannedProbe]
) -> Iterator[tuple[float, Event]]:
    yield 0.0, _started(iterations, planned)
    yield 0.0, PhaseChanged(phase=Phase.PREFLIGHT)
    yield 0.05, PhaseChanged(phase=Phase.BASELINE)
    yield BASELINE - 0.01, BaselineJudged(steady=True)
    span = (seconds - BASELINE - 20) / iterations
    faults = []
    for n in range(1, iterations + 1):
        start = BASELINE + (n - 1) * span
        inject = start + FAULT_AT
        revert = inject + FAULT_FOR
        faults.append((n, inject, revert))
        yield start, PhaseChanged(phase=Phase.FAULTS, iteration=n)
        yield inject - 0.01, _fault(FaultStarted, n, at=FAULT_AT, duration=FAULT_FOR)
        yield inject - 0.005, _fault(FaultIntent, n)
        yield inject, FaultInjected(fault="latency", iteration=n, revert_state=None)
        yield inject + 0.2, FaultVerified(fault="latency", iteration=n)
        yield revert, FaultReverted(fault="latency", iteration=n, attempts=1)
        yield revert + 0.001, PhaseChanged(phase=Phase.RECOVERY, iteration=n)
        yield start + span - 0.01, IterationEnded(iteration=n, complete=True)
    yield 45.0, ControlApplied(action="note", by="alice", why="the dashboard goes red <b>now</b>")
    end_of_load = seconds - 15
    yield end_of_load, PhaseChanged(phase=Phase.AUDIT)
    yield seconds - 1, _audit()
    yield seconds - 0.5, PhaseChanged(phase=Phase.VERDICT)
    yield seconds, RunFinished(status="failed", exit_code=1, reason="12 writes lost")
    yield from _samples(seconds, faults, planned)
    yield from _windows(end_of_load, faults)


def _started(iterations: int, planned: list[PlannedProbe]) -> RunStarted:
    plan = RunPlan(
        probes=planned,
        stable_for=1.0,
        repeat=iterations,
        faults=["latency"],
        expect=Expectations.model_validate({"mttr": "< 10s", "data_loss": 0}),
    )
    experiment = {"version": 1, "title": "a long synthetic run", "repeat": iterations}
    return RunStarted(
        run_id="synthetic",
        source="synthetic.yaml",
        title="a long synthetic run",
        experiment=experiment,
        chaoskit_version="test",
        pid=0,
        started_at="2026-12-04T00:00:00+00:00",
        plan=plan,
    )


def _fault(kind: type[FaultStarted] | type[FaultIntent], n: int, **extra: float) -> Event:
    if kind is FaultStarted:
        return FaultStarted(
            fault="latency",
            iteration=n,
            injector="toxiproxy.latency",
            target_name="api",
            at=extra["at"],
            duration=extra["duration"],
        )
    return FaultIntent(
        fault="latency",
        iteration=n,
        injector="toxiproxy.latency",
        target_name="api",
        target={"proxy": "api"},
        params={"latency": 0.5},
        revert_state=None,
    )


def _segment(t: float, faults: list[tuple[int, float, float]]) -> str:
    if t < BASELINE:
        return "baseline"
    for _, inject, revert in faults:
        if inject <= t < revert:
            return "fault"
        if inject - FAULT_AT <= t < inject:
            return "lead-in"
    return "recovery"


def _samples(
    seconds: float, faults: list[tuple[int, float, float]], planned: list[PlannedProbe]
) -> Iterator[tuple[float, Event]]:
    end = seconds - 15
    for probe in planned:
        count = int((end - 0.05) / probe.every)
        for k in range(count):
            t = 0.05 + k * probe.every
            hurt = any(inject + 1 <= t < revert + 2 for _, inject, revert in faults)
            if probe.name == "neighbour":
                n_hurt = faults[1] if len(faults) > 1 else None
                hurt = n_hurt is not None and n_hurt[1] + 8 <= t < n_hurt[1] + 12
            elif probe.name == "memory":
                hurt = False
            latency = (
                0.012 + 0.004 * math.sin(t) + (0.5 if hurt and probe.name.startswith("api") else 0)
            )
            value: JsonValue = None
            if probe.name == "memory":
                value = {"web": 200 + 40 * math.sin(t / 30), "db": 350 + (t % 60)}
            yield (
                t,
                SampleTaken(
                    role="steady",
                    probe=probe.name,
                    scope=probe.scope,
                    ok=not hurt,
                    latency=round(latency, 6),
                    value=value,
                    detail="HTTP 503, expected 200" if hurt else "",
                    segment=_segment(t, faults),
                ),
            )


def _windows(end: float, faults: list[tuple[int, float, float]]) -> Iterator[tuple[float, Event]]:
    for stream, rate in (("writes", 50), ("reads", 200)):
        t = BASELINE - 5
        while t + 1 <= end:
            hurt = any(inject <= t < revert for _, inject, revert in faults)
            failed = rate // 10 if hurt else 0
            yield (
                t + 1,
                LoadWindow(
                    stream=stream,
                    start=t,
                    end=t + 1,
                    sent=rate,
                    acknowledged=rate - failed,
                    failed=failed,
                    indeterminate=1 if hurt else 0,
                    p50=0.02 + (0.3 if hurt else 0),
                    p95=0.05 + (0.4 if hurt else 0),
                    p99=0.08 + (0.5 if hurt else 0),
                ),
            )
            t += 1


def _audit() -> Audited:
    return Audited(
        stream="writes",
        writes=27000,
        acknowledged=26500,
        failed=480,
        indeterminate=20,
        lost=len(LOST),
        indeterminate_present=15,
        indeterminate_absent=5,
        phantom=2,
        duplicated=0,
        unverified=0,
        data_loss_rate=len(LOST) / 26500,
        lost_ids=LOST,
        audit_seconds=0.8,
    )

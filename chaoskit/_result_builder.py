"""results.json as a function of the run's events (ADR 0018).

``ResultBuilder`` folds the events one at a time: the runner subscribes one,
so the result of a live run is built as the run goes, and reads the steady
samples and the fault records from it. ``build_result`` folds a journal's
events after the fact (``chaoskit results``), a run that was killed or crashed
included: its result covers the run up to its last event. The same events give
the same result, whichever way they come.

A run that never reached its verdict is ABORTED (DIRTY when a fault is still
applied as far as the journal knows: outstanding, and not reverted by a later
``chaoskit rollback`` either); none of its expectations is judged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chaoskit._errors import UserError, still_applied
from chaoskit._events import (
    Aborted,
    Audited,
    BaselineJudged,
    Event,
    FaultIntent,
    FaultReverted,
    FaultRevertFailed,
    IterationEnded,
    LoadFigures,
    PhaseChanged,
    PlannedProbe,
    RollbackStarted,
    RunError,
    RunPlan,
    RunStarted,
    SampleTaken,
    SlotsMissed,
)
from chaoskit._faults import FaultRecords
from chaoskit._histograms import PhasedHistograms
from chaoskit._journal import Malformed, scan_journal
from chaoskit._measure import measure_iteration, summarise
from chaoskit._phases import Phase
from chaoskit._results import (
    DataLoss,
    LoadSummary,
    ProbeSummary,
    RecoveryProbeResult,
    RunResult,
    RunStatus,
)
from chaoskit._stream import Subscriber
from chaoskit._timeline import Sample
from chaoskit._values import PhasedValues
from chaoskit._verdict import check_expectations

__all__ = ["Rebuilt", "ResultBuilder", "build_result", "rebuild_from_journal"]


@dataclass(frozen=True)
class Rebuilt:
    result: RunResult
    warnings: list[str]
    """Each journal line that is not an event (torn, corrupt, malformed): skipped."""


def rebuild_from_journal(path: Path, *also: Subscriber) -> Rebuilt:
    """The result a journal tells (``chaoskit results``), read in one pass that
    keeps what a live run keeps, not the events; UserError as ``build_result``.
    Each of ``also`` is handed every event too (a report's collectors)."""
    builder = ResultBuilder()
    subscribers: list[Subscriber] = [builder, *also]
    malformed: list[Malformed] = []

    def fold(item: Event | Malformed) -> None:
        if isinstance(item, Malformed):
            malformed.append(item)
            return
        for subscriber in subscribers:
            subscriber(item)

    scan = scan_journal(path, into=fold)
    try:
        result = builder.result()
    except UserError as exc:
        raise UserError(f"{path}: {exc} (journal version {scan.version})") from None
    warnings = [problem.describe(path) for problem in scan.problems]
    warnings += [f"{item.describe(path)} (skipped)" for item in malformed]
    return Rebuilt(result, warnings)


def build_result(events: Iterable[Event]) -> RunResult:
    """The result the events tell; UserError when they hold no run start with
    a plan (not a run's journal, or one written before journal version 3)."""
    builder = ResultBuilder()
    for event in events:
        builder(event)
    return builder.result()


@dataclass
class _Window:
    iteration: int
    start: float
    end: float | None = None
    complete: bool = False
    """It ran to its end (recovered or timed out), not cut short."""


@dataclass
class _ProbeFigures:
    plan: PlannedProbe
    samples: int = 0
    failures: int = 0
    skipped_slots: int = 0
    latency_max: float | None = None
    last_detail: str = ""
    histograms: PhasedHistograms = field(default_factory=PhasedHistograms)
    values: PhasedValues | None = None

    def add(self, event: SampleTaken) -> None:
        self.samples += 1
        self.latency_max = max(self.latency_max or 0.0, event.latency)
        self.histograms.record(event.latency, event.segment)
        if self.values is not None:
            self.values.record(event.value, event.segment)
        if not event.ok:
            self.failures += 1
            self.last_detail = event.detail

    def summary(self) -> ProbeSummary:
        return ProbeSummary(
            name=self.plan.name,
            kind=self.plan.kind,
            scope=self.plan.scope,
            every=self.plan.every,
            samples=self.samples,
            failures=self.failures,
            skipped_slots=self.skipped_slots,
            latency_max=self.latency_max,
            last_detail=self.last_detail,
            latency=self.histograms.summary(),
            unit=self.plan.unit,
            values=self.values.summary() if self.values is not None else {},
        )


@dataclass
class _Outstanding:
    intent: FaultIntent
    failed: FaultRevertFailed | None = None


class ResultBuilder:
    """A subscriber: call it with each event in journal order; ``result()``
    any time gives the result of the run so far."""

    def __init__(self) -> None:
        self.started: RunStarted | None = None
        self.plan: RunPlan | None = None
        self.samples: list[Sample] = []
        """The steady-state samples, in the order they completed."""
        self.faults = FaultRecords()
        self.phase = Phase.START
        self.iteration = 0
        """The latest iteration's number (0: none yet)."""
        self.baseline_steady: bool | None = None
        self.abort_reason: str | None = None
        self.error: str | None = None
        self.aborted_in: str | None = None
        self._phases: list[tuple[str, float]] = []
        self._windows: list[_Window] = []
        self._probes: dict[str, _ProbeFigures] = {}
        self._recovery: list[RecoveryProbeResult] = []
        self._load: list[LoadSummary] = []
        self.data_loss: list[DataLoss] = []
        self._outstanding: dict[tuple[str, int], _Outstanding] = {}
        self._last_t = 0.0
        self._rollback = False
        """A rollback's records follow: their times are on another clock."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, SampleTaken):  # the most common by far
            self._sample(event)
            return
        self.faults(event)
        if self._counts_time:
            self._last_t = max(self._last_t, event.t)
        match event:
            case RunStarted():
                self._start(event)
            case PhaseChanged():
                self._enter(event)
            case IterationEnded():
                window = self._window(event.iteration)
                if window is not None:
                    window.end, window.complete = event.t, event.complete
            case BaselineJudged():
                self.baseline_steady = event.steady
            case SlotsMissed():
                if (figures := self._probes.get(event.probe)) is not None:
                    figures.skipped_slots += event.missed
            case LoadFigures():
                self._load.append(event.summary)
            case Audited():
                self.data_loss.append(DataLoss(**event.model_dump(exclude=_EVENT_FIELDS)))
            case Aborted() if self.abort_reason is None:
                self.abort_reason = event.reason
                self.aborted_in = self._where()
            case RunError():
                self.error = self.error or event.error
                self.aborted_in = self.aborted_in or self._where()
            case FaultIntent():
                self._outstanding[(event.fault, event.iteration)] = _Outstanding(event)
            case FaultRevertFailed():
                if (left := self._outstanding.get((event.fault, event.iteration))) is not None:
                    left.failed = event
            case FaultReverted():
                self._outstanding.pop((event.fault, event.iteration), None)
            case RollbackStarted():
                self._rollback = True

    # -- folding ------------------------------------------------------------------

    def _start(self, event: RunStarted) -> None:
        self.started, self.plan = event, event.plan
        for probe in event.plan.probes if event.plan is not None else ():
            values = PhasedValues() if probe.unit is not None else None
            self._probes[probe.name] = _ProbeFigures(probe, values=values)

    def _enter(self, event: PhaseChanged) -> None:
        self.phase = event.phase
        self._phases.append((str(event.phase), event.t))
        if event.phase is Phase.FAULTS and event.iteration is not None:
            self.iteration = event.iteration
            self._windows.append(_Window(event.iteration, event.t))

    @property
    def _counts_time(self) -> bool:
        """The run's duration ends at its verdict (what follows is its record);
        a rollback's records are on another clock."""
        return not self._rollback and not self.reached_verdict

    def _sample(self, event: SampleTaken) -> None:
        if self._counts_time:
            self._last_t = max(self._last_t, event.t + event.latency)
        if event.role == "recovery":
            self._recovery.append(
                RecoveryProbeResult(
                    name=event.probe, ok=event.ok, value=event.value, detail=event.detail
                )
            )
            return
        self.samples.append(
            Sample(
                event.probe,
                event.scope,
                event.t,
                event.latency,
                event.ok,
                event.value,
                event.detail,
            )
        )
        if (figures := self._probes.get(event.probe)) is not None:
            figures.add(event)

    def _window(self, iteration: int) -> _Window | None:
        return next((w for w in reversed(self._windows) if w.iteration == iteration), None)

    def _where(self) -> str:
        """The phase (and iteration, when there are several) the run is in."""
        repeat = self.plan.repeat if self.plan is not None else 1
        if repeat > 1 and self.phase in (Phase.FAULTS, Phase.RECOVERY):
            return f"{self.phase} of iteration {self.iteration}"
        return str(self.phase)

    # -- the result ---------------------------------------------------------------

    @property
    def reached_verdict(self) -> bool:
        return self.phase is Phase.VERDICT

    def skipped(self, iteration: int) -> bool:
        """A controller skipped every fault of the iteration: nothing was started."""
        return not self.faults.of(iteration)

    def left_applied(self) -> list[str]:
        """Each fault still applied as far as the journal knows, newest first."""
        left = []
        for key in reversed(list(self._outstanding)):
            intent, failed = self._outstanding[key].intent, self._outstanding[key].failed
            if failed is not None:
                left.append(
                    still_applied(
                        intent.fault,
                        intent.injector,
                        intent.target_name,
                        failed.attempts,
                        failed.error,
                        failed.revert_state,
                    )
                )
            elif not self.reached_verdict:
                left.append(
                    f"fault {intent.fault!r} ({intent.injector} on {intent.target_name}) was "
                    f"never reverted (the run ended first); revert state: {intent.revert_state}"
                )
        return left

    def result(self) -> RunResult:
        started, plan = self.started, self.plan
        if started is None:
            raise UserError("not a run's journal: it has no run_started record")
        if plan is None:
            raise UserError(
                "the journal was written by a chaoskit older than journal version 3: "
                "it holds no run plan, so its results cannot be rebuilt"
            )
        names = [p.name for p in plan.probes]
        outside = [p.name for p in plan.probes if p.scope == "outside"]
        target = [p.name for p in plan.probes if p.scope == "target"]
        iterations = [
            measure_iteration(
                window.iteration,
                self.samples,
                names,
                outside,
                target,
                self.faults.of(window.iteration),
                plan.stable_for,
                window.end if window.end is not None else self._last_t,
                window.complete,
            )
            for window in self._windows
            if not self.skipped(window.iteration)
        ]
        resolution = max((p.every for p in plan.probes), default=0.0)
        measurements = summarise(iterations, resolution) if iterations else None
        expectations = check_expectations(plan.expect, measurements, self._load, self.data_loss)
        stopped = self.abort_reason is not None or self.error is not None
        if stopped or not self.reached_verdict:
            # what it could measure is kept; whether it meets the bar is not judged
            expectations = [e.model_copy(update={"met": None}) for e in expectations]
        held: bool | None = None
        if self._tested() and not stopped and self.reached_verdict:
            expected = plan.repeat if plan.faults else 0
            expected -= sum(self.skipped(w.iteration) for w in self._windows)
            held = (
                len(iterations) == expected
                and all(it.recovered for it in iterations)
                and all(r.ok for r in self._recovery)
            )
        left_applied = self.left_applied()
        status, reason = self._status(left_applied, held, all(e.met is True for e in expectations))
        return RunResult(
            chaoskit_version=started.chaoskit_version,
            run_id=started.run_id,
            title=started.title,
            source=started.source,
            status=status,
            exit_code=status.exit_code,
            reason=reason,
            started_at=started.started_at,
            duration=round(self._last_t, 6),
            phases=list(self._phases),
            aborted_in=self.aborted_in or (None if self.reached_verdict else self._where()),
            baseline_steady=self.baseline_steady,
            hypothesis_held=held,
            faults=[record.model_copy() for record in self.faults.records],
            probes=[figures.summary() for figures in self._probes.values()],
            recovery_probes=list(self._recovery),
            measurements=measurements,
            expectations=expectations,
            left_applied=left_applied,
            load=list(self._load),
            data_loss=list(self.data_loss),
        )

    def _tested(self) -> bool:
        """The baseline held and some fault was started (not every one skipped)."""
        skipped = bool(self._windows) and all(self.skipped(w.iteration) for w in self._windows)
        return bool(self.baseline_steady) and not skipped

    def _status(
        self, left_applied: list[str], held: bool | None, expectations_met: bool
    ) -> tuple[RunStatus, str]:
        if not self.reached_verdict:
            ended = (
                "the run ended without a verdict (killed or crashed; its journal stops "
                f"at t={self._last_t:.1f}s)"
            )
            if self.abort_reason is not None:
                ended = f"{self.abort_reason}; {ended}"
            if left_applied:
                return RunStatus.DIRTY, f"{ended}; faults left applied: " + "; ".join(left_applied)
            return RunStatus.ABORTED, ended
        if left_applied:
            return RunStatus.DIRTY, "revert failed; faults left applied: " + "; ".join(left_applied)
        if self.abort_reason is not None:
            return RunStatus.ABORTED, self.abort_reason
        if self.error is not None:
            return RunStatus.ABORTED, self.error
        if self.baseline_steady is False:
            return RunStatus.UNSTEADY_BASELINE, "steady state did not hold at baseline"
        if self.baseline_steady and not self._tested():
            return RunStatus.ABORTED, "every fault was skipped: the hypothesis was not tested"
        if not held:
            return RunStatus.FAILED, "steady state not restored, or a recovery probe failed"
        if not expectations_met:
            return RunStatus.FAILED, "expectations not met"
        return RunStatus.PASSED, ""


_EVENT_FIELDS = {"seq", "event", "t", "wall"}

"""What the HTML report's timeline draws, gathered from the run's events in the
same pass as the results (a subscriber): the phases with their iteration, each
fault's moments, each probe's samples in compact arrays and each load
stream's windows (the controller's actions are the report collector's).
Memory grows with the run's samples (16 bytes each, 32 with a reading), not
with the journal's size."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from chaoskit._events import (
    Event,
    FaultInjected,
    FaultInjectFailed,
    FaultIntent,
    FaultReverted,
    FaultRevertFailed,
    FaultStarted,
    FaultVerified,
    LoadWindow,
    PhaseChanged,
    RunFinished,
    SampleTaken,
)
from chaoskit._phases import Phase
from chaoskit._values import MAX_READINGS, readings

__all__ = ["FaultMoments", "PhaseSpan", "ProbeSeries", "StateRun", "TimelineRecorder"]


@dataclass(frozen=True)
class PhaseSpan:
    phase: Phase
    iteration: int | None
    start: float
    end: float


@dataclass
class FaultMoments:
    """One fault of one iteration: when each of its steps happened (seconds since
    the run's origin), None for a step it never reached."""

    name: str
    iteration: int
    injector: str = ""
    target: str = ""
    started: float | None = None
    intent: float | None = None
    injected: float | None = None
    verified: float | None = None
    reverted: float | None = None
    inject_failed: str = ""
    revert_failed: str = ""
    failed_at: float | None = None


@dataclass
class StateRun:
    """Consecutive samples of one probe in the same state (ok or failed)."""

    ok: bool
    start: float
    end: float
    samples: int = 1
    detail: str = ""


@dataclass
class ProbeSeries:
    """One probe's samples: when each started and its latency, the runs of ok and
    failed samples, and its numeric readings (a resource probe's MiB or %)."""

    name: str
    role: str
    scope: str
    starts: array[float] = field(default_factory=lambda: array("d"))
    latencies: array[float] = field(default_factory=lambda: array("d"))
    runs: list[StateRun] = field(default_factory=list)
    readings: dict[str, tuple[array[float], array[float]]] = field(default_factory=dict)

    def add(self, event: SampleTaken) -> None:
        end = event.t + event.latency
        self.starts.append(event.t)
        self.latencies.append(event.latency)
        last = self.runs[-1] if self.runs else None
        if last is not None and last.ok == event.ok:
            last.end = max(last.end, end)
            last.samples += 1
        else:
            if last is not None:
                last.end = max(last.start, event.t)  # runs meet: no gap, no overlap
            self.runs.append(StateRun(event.ok, event.t, end, detail=event.detail))
        for name, number in readings(event.value):
            series = self.readings.get(name)
            if series is None:
                if len(self.readings) >= MAX_READINGS:
                    continue
                series = self.readings[name] = (array("d"), array("d"))
            series[0].append(end)  # a reading is of the moment the sample completed
            series[1].append(number)


@dataclass
class TimelineRecorder:
    """A subscriber: hand it every event of a run in journal order."""

    phases: list[PhaseSpan] = field(default_factory=list)
    faults: dict[tuple[str, int], FaultMoments] = field(default_factory=dict)
    probes: dict[tuple[str, str], ProbeSeries] = field(default_factory=dict)
    """(role, probe) -> its series; steady-state and recovery probes apart."""
    windows: list[LoadWindow] = field(default_factory=list)
    end: float = 0.0
    """The last moment of the run: its last event's ``t`` before any rollback."""
    _phase: tuple[Phase, int | None, float] | None = None
    _finished: bool = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, SampleTaken):
            key = (event.role, event.probe)
            series = self.probes.get(key)
            if series is None:
                series = self.probes[key] = ProbeSeries(event.probe, event.role, event.scope)
            series.add(event)
            self._saw(event.t + event.latency)
            return
        if event.event.startswith("rollback"):
            self._finished = True  # a later process with its own clock follows
            return
        self._saw(event.t)
        match event:
            case PhaseChanged():
                self._close_phase(event.t)
                self._phase = (event.phase, event.iteration, event.t)
            case LoadWindow():
                self.windows.append(event)
            case RunFinished():
                self._finished = True
            case FaultStarted() | FaultIntent() | FaultInjected() | FaultVerified():
                self._fault_step(event)
            case FaultInjectFailed() | FaultReverted() | FaultRevertFailed():
                self._fault_step(event)

    def close(self) -> list[PhaseSpan]:
        """The phases with the last one ended at the end of the run."""
        self._close_phase(self.end)
        return self.phases

    def _saw(self, t: float) -> None:
        if not self._finished:
            self.end = max(self.end, t)

    def _close_phase(self, t: float) -> None:
        if self._phase is not None:
            phase, iteration, start = self._phase
            self.phases.append(PhaseSpan(phase, iteration, start, max(start, t)))
            self._phase = None

    def _fault_step(
        self,
        event: FaultStarted
        | FaultIntent
        | FaultInjected
        | FaultVerified
        | FaultInjectFailed
        | FaultReverted
        | FaultRevertFailed,
    ) -> None:
        if getattr(event, "setup", False) or getattr(event, "by", None) == "rollback":
            return
        key = (event.fault, event.iteration)
        moments = self.faults.get(key)
        if moments is None:
            moments = self.faults[key] = FaultMoments(event.fault, event.iteration)
        match event:
            case FaultStarted():
                moments.started = event.t
                moments.injector, moments.target = event.injector, event.target_name
            case FaultIntent():
                moments.intent = event.t
                moments.injector, moments.target = event.injector, event.target_name
            case FaultInjected():
                moments.injected = event.t
            case FaultVerified():
                moments.verified = event.t
            case FaultInjectFailed():
                moments.inject_failed, moments.failed_at = event.error, event.t
            case FaultReverted():
                moments.reverted = event.t
            case FaultRevertFailed():
                moments.revert_failed, moments.failed_at = event.error, event.t

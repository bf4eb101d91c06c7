"""The live status of a run: what a terminal line, a GameDay console or a web
view shows while it goes on (ADR 0018).

``LiveStatus`` subscribes to the run's event stream and keeps, with constant
work per event: the phase, whether the run is held, each probe's state and its
last few samples, each fault's state and planned end, the notes, and how the
run ended. Load figures are not events (thousands a second): ``snapshot`` reads
them from the streams it was given. ``snapshot(now)`` is a frozen model, safe to
hand to another task or serialise.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from chaoskit._events import (
    Aborted,
    ControlApplied,
    Event,
    FaultInjected,
    FaultInjectFailed,
    FaultNotInForce,
    FaultReverted,
    FaultRevertFailed,
    FaultStarted,
    PhaseChanged,
    RunFinished,
    RunStarted,
    SampleTaken,
)
from chaoskit._histograms import PhasedHistograms
from chaoskit._phases import Phase

__all__ = ["FaultStatus", "LiveStatus", "LoadStatus", "ProbeStatus", "Snapshot"]

RECENT = 20
"""Samples kept per probe for a view to draw."""
NOTES = 50
"""Notes kept for a view (the journal keeps every one)."""

FaultState = Literal["starting", "in-force", "reverted", "failed", "left-applied", "skipped"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RecentSample(_Frozen):
    t: float
    ok: bool
    latency: float
    detail: str = ""


class ProbeStatus(_Frozen):
    name: str
    scope: str
    ok: bool | None
    """Its latest sample; None: none yet."""
    failing_since: float | None
    """When its current run of failures began."""
    samples: int
    failures: int
    recent: tuple[RecentSample, ...]


class FaultStatus(_Frozen):
    name: str
    iteration: int
    state: FaultState
    started: float | None
    injected: float | None
    reverted: float | None
    remaining: float | None
    """Seconds until its planned end (with extensions), while it is in force."""
    error: str = ""


class LoadStatus(_Frozen):
    name: str
    sent: int
    answered: int
    failed: int
    rate: float | None
    """Requests a second since the previous snapshot (None: the first one)."""
    p99: float | None
    """Of the current segment's answers, in seconds."""


class Snapshot(_Frozen):
    run_id: str
    title: str
    t: float
    phase: Phase
    iteration: int | None
    held: bool
    steady: bool | None
    """Every steady-state probe's latest sample is ok (None: not all sampled)."""
    probes: tuple[ProbeStatus, ...]
    faults: tuple[FaultStatus, ...]
    load: tuple[LoadStatus, ...]
    notes: tuple[tuple[float, str, str], ...]
    """(t, by, text)."""
    aborted: str | None
    finished: str | None
    """The run's status once it has ended."""


class LoadFigures(Protocol):
    """What a load stream offers a live view (``LoadStream`` is one)."""

    @property
    def name(self) -> str: ...

    sent: int
    answered: int
    failed: int
    histograms: PhasedHistograms


@dataclass
class _Probe:
    name: str
    scope: str
    ok: bool | None = None
    failing_since: float | None = None
    samples: int = 0
    failures: int = 0
    recent: deque[RecentSample] = field(default_factory=lambda: deque(maxlen=RECENT))


@dataclass
class _Fault:
    name: str
    iteration: int
    state: FaultState
    started: float | None = None
    planned_end: float | None = None
    injected: float | None = None
    reverted: float | None = None
    error: str = ""


class LiveStatus:
    """A subscriber: ``stream.subscribe(status)``, then ``status.snapshot(now)``."""

    def __init__(
        self,
        probes: Sequence[tuple[str, str]],
        streams: Sequence[LoadFigures] = (),
    ) -> None:
        """``probes``: the steady-state probes as (name, scope), in order."""
        self._probes = {name: _Probe(name, scope) for name, scope in probes}
        self._faults: dict[tuple[str, int], _Fault] = {}
        self._extended: dict[tuple[str, int], float] = {}
        """Extensions of faults that had not started yet."""
        self._streams = list(streams)
        self._readings: dict[str, tuple[float, int]] = {}
        self._notes: deque[tuple[float, str, str]] = deque(maxlen=NOTES)
        self._failing = 0
        self._unsampled = len(self._probes)
        self.run_id = ""
        self.title = ""
        self.phase = Phase.START
        self.iteration: int | None = None
        self.held = False
        self.aborted: str | None = None
        self.finished: str | None = None
        self.segment = str(Phase.START)

    def __call__(self, event: Event) -> None:
        if isinstance(event, SampleTaken):
            if event.role == "steady":
                self._sample(event)
        elif isinstance(event, PhaseChanged):
            self.phase, self.iteration = event.phase, event.iteration
        elif isinstance(event, ControlApplied):
            self._control(event)
        elif isinstance(event, RunStarted):
            self.run_id, self.title = event.run_id, event.title
        elif isinstance(event, Aborted):
            self.aborted = event.reason
        elif isinstance(event, RunFinished):
            self.finished = event.status
        else:
            self._fault(event)

    def _sample(self, sample: SampleTaken) -> None:
        probe = self._probes.get(sample.probe)
        if probe is None:
            return
        self.segment = sample.segment or self.segment
        if probe.ok is None:
            self._unsampled -= 1
        else:
            self._failing -= not probe.ok
        self._failing += not sample.ok
        probe.samples += 1
        probe.failures += not sample.ok
        if sample.ok:
            probe.failing_since = None
        elif probe.ok is not False:
            probe.failing_since = sample.t
        probe.ok = sample.ok
        probe.recent.append(
            RecentSample(t=sample.t, ok=sample.ok, latency=sample.latency, detail=sample.detail)
        )

    def _control(self, event: ControlApplied) -> None:
        if event.action == "hold":
            self.held = True
        elif event.action == "release":
            self.held = False
        elif event.action == "note":
            self._notes.append((event.t, event.by, event.why))
        elif event.action == "skip" and event.step is not None:
            key = (event.step, event.iteration or 0)
            self._faults[key] = _Fault(event.step, event.iteration or 0, "skipped")
        elif event.action == "extend" and event.step is not None:
            key = (event.step, event.iteration or 0)
            fault = self._faults.get(key)
            if fault is not None and fault.planned_end is not None:
                fault.planned_end += event.seconds or 0.0
            else:
                self._extended[key] = self._extended.get(key, 0.0) + (event.seconds or 0.0)

    def _fault(self, event: Event) -> None:
        if isinstance(event, FaultStarted):
            key = (event.fault, event.iteration)
            end = event.t + event.duration + self._extended.pop(key, 0.0)
            self._faults[key] = _Fault(event.fault, event.iteration, "starting", event.t, end)
            return
        if not isinstance(
            event,
            FaultInjected | FaultInjectFailed | FaultNotInForce | FaultReverted | FaultRevertFailed,
        ):
            return
        found = self._faults.get((event.fault, event.iteration))
        if found is None:  # a setup step: not a fault of the plan
            return
        if isinstance(event, FaultInjected):
            found.state, found.injected = "in-force", event.t
        elif isinstance(event, FaultReverted):
            found.state, found.reverted = "reverted", event.t
        elif isinstance(event, FaultRevertFailed):
            found.state, found.error = "left-applied", event.error
        else:  # the inject failed, or verify found it not in force
            found.state, found.error = "failed", event.error

    def snapshot(self, now: float) -> Snapshot:
        """The run as of ``now`` (the run's clock, seconds since its start)."""
        return Snapshot(
            run_id=self.run_id,
            title=self.title,
            t=now,
            phase=self.phase,
            iteration=self.iteration,
            held=self.held,
            steady=None if self._unsampled else self._failing == 0,
            probes=tuple(
                ProbeStatus(
                    name=p.name,
                    scope=p.scope,
                    ok=p.ok,
                    failing_since=p.failing_since,
                    samples=p.samples,
                    failures=p.failures,
                    recent=tuple(p.recent),
                )
                for p in self._probes.values()
            ),
            faults=tuple(self._fault_status(f, now) for f in self._faults.values()),
            load=tuple(self._load_status(s, now) for s in self._streams),
            notes=tuple(self._notes),
            aborted=self.aborted,
            finished=self.finished,
        )

    @staticmethod
    def _fault_status(fault: _Fault, now: float) -> FaultStatus:
        remaining = None
        if fault.state in ("starting", "in-force") and fault.planned_end is not None:
            remaining = max(0.0, fault.planned_end - now)
        return FaultStatus(
            name=fault.name,
            iteration=fault.iteration,
            state=fault.state,
            started=fault.started,
            injected=fault.injected,
            reverted=fault.reverted,
            remaining=remaining,
            error=fault.error,
        )

    def _load_status(self, stream: LoadFigures, now: float) -> LoadStatus:
        previous = self._readings.get(stream.name)
        rate = None
        if previous is not None and now > previous[0]:
            rate = (stream.sent - previous[1]) / (now - previous[0])
        self._readings[stream.name] = (now, stream.sent)
        latency = stream.histograms.summary_of(self.segment)
        return LoadStatus(
            name=stream.name,
            sent=stream.sent,
            answered=stream.answered,
            failed=stream.failed,
            rate=rate,
            p99=latency.p99 if latency is not None else None,
        )


def progress_line(snapshot: Snapshot) -> str:
    """The one line a second a run prints on a terminal."""
    steady = {True: "steady", False: "NOT steady", None: "steady?"}[snapshot.steady]
    phase = str(snapshot.phase) + (" (held)" if snapshot.held else "")
    parts = [f"{snapshot.t:7.1f}s {phase:<11} {steady}"]
    for fault in snapshot.faults:
        if fault.remaining is not None:
            parts.append(f"{fault.name} {fault.state} {fault.remaining:.0f}s left")
    for load in snapshot.load:
        rate = f"{load.rate:.0f}/s" if load.rate is not None else "-/s"
        p99 = f"{load.p99 * 1000:.0f}ms" if load.p99 is not None else "-"
        parts.append(f"{load.name} {rate} p99 {p99}")
    return " | ".join(parts)

"""What a report shows beyond results.json, gathered from the same events in
the same pass (a subscriber beside the result builder): the experiment as run,
the controller's actions and notes, each steady-state probe's samples per
iteration, and what the HTML timeline draws."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chaoskit._events import ControlApplied, Event, PhaseChanged, RunStarted, SampleTaken
from chaoskit._journal import JOURNAL_NAME
from chaoskit._phases import Phase
from chaoskit._result_builder import rebuild_from_journal
from chaoskit._results import RunResult
from chaoskit.report._timeline import TimelineRecorder

__all__ = ["ProbeTally", "ReportCollector", "ReportData", "collect"]


@dataclass
class ProbeTally:
    """One steady-state probe's samples in one stretch of the run."""

    samples: int = 0
    failures: int = 0
    last_ok: bool | None = None
    last_end: float | None = None
    last_detail: str = ""

    def add(self, event: SampleTaken) -> None:
        self.samples += 1
        self.failures += not event.ok
        self.last_ok = event.ok
        self.last_end = event.t + event.latency
        if not event.ok:
            self.last_detail = event.detail


@dataclass
class ReportCollector:
    """A subscriber: hand it every event of a run in journal order."""

    started: RunStarted | None = None
    controls: list[ControlApplied] = field(default_factory=list)
    baseline: dict[str, ProbeTally] = field(default_factory=dict)
    iterations: dict[tuple[str, int], ProbeTally] = field(default_factory=dict)
    """(probe, iteration) -> its samples from the iteration's fault phase to its end."""
    timeline: TimelineRecorder = field(default_factory=TimelineRecorder)
    _phase: Phase = Phase.START
    _iteration: int = 0

    def __call__(self, event: Event) -> None:
        self.timeline(event)
        if isinstance(event, SampleTaken):
            if event.role != "steady":
                return
            if self._phase is Phase.BASELINE:
                self.baseline.setdefault(event.probe, ProbeTally()).add(event)
            elif self._phase in (Phase.FAULTS, Phase.RECOVERY):
                key = (event.probe, self._iteration)
                self.iterations.setdefault(key, ProbeTally()).add(event)
        elif isinstance(event, PhaseChanged):
            self._phase = event.phase
            if event.phase is Phase.FAULTS and event.iteration is not None:
                self._iteration = event.iteration
        elif isinstance(event, ControlApplied):
            self.controls.append(event)
        elif isinstance(event, RunStarted):
            self.started = event


@dataclass(frozen=True)
class ReportData:
    run_dir: Path
    result: RunResult
    started: RunStarted
    controls: list[ControlApplied]
    baseline: dict[str, ProbeTally]
    iterations: dict[tuple[str, int], ProbeTally]
    timeline: TimelineRecorder
    warnings: list[str]
    """Journal lines skipped while reading it (torn, corrupt, malformed)."""

    @property
    def notes(self) -> list[ControlApplied]:
        return [control for control in self.controls if control.action == "note"]


def collect(run_dir: Path) -> ReportData:
    """Everything a report of the run shows, from its journal (a run that was
    killed too); UserError when the journal cannot be rebuilt."""
    collector = ReportCollector()
    rebuilt = rebuild_from_journal(run_dir / JOURNAL_NAME, collector)
    assert collector.started is not None  # the rebuild refuses a journal without one
    return ReportData(
        run_dir=run_dir,
        result=rebuilt.result,
        started=collector.started,
        controls=collector.controls,
        baseline=collector.baseline,
        iterations=collector.iterations,
        timeline=collector.timeline,
        warnings=rebuilt.warnings,
    )

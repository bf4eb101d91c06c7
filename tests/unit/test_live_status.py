"""LiveStatus: the snapshot a live view renders, built from the run's events
alone (load figures read from the streams), and the progress line from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chaoskit._events import (
    Aborted,
    ControlAction,
    ControlApplied,
    FaultInjected,
    FaultInjectFailed,
    FaultReverted,
    FaultStarted,
    PhaseChanged,
    RunFinished,
    SampleTaken,
)
from chaoskit._histograms import PhasedHistograms
from chaoskit._live import RECENT, LiveStatus, progress_line
from chaoskit._phases import FAULT_WINDOW, Phase


def sample(probe: str, t: float, ok: bool, segment: str = "baseline") -> SampleTaken:
    return SampleTaken(t=t, role="steady", probe=probe, scope="target", ok=ok, latency=0.01,
                       detail="" if ok else "refused", segment=segment)  # fmt: skip


def control(action: ControlAction, t: float = 0.0, **fields: object) -> ControlApplied:
    return ControlApplied(t=t, action=action, by="facilitator", **fields)  # type: ignore[arg-type]


def started(fault: str, t: float, duration: float, iteration: int = 1) -> FaultStarted:
    return FaultStarted(t=t, fault=fault, iteration=iteration, injector="x", target_name="web",
                        at=0.0, duration=duration)  # fmt: skip


def test_the_steady_state_is_unknown_until_every_probe_has_a_sample() -> None:
    status = LiveStatus([("web", "target"), ("db", "outside")])
    status(sample("web", 1.0, ok=True))
    assert status.snapshot(1.0).steady is None
    status(sample("db", 1.1, ok=True))
    assert status.snapshot(1.1).steady is True
    status(sample("db", 2.0, ok=False))
    status(sample("db", 2.5, ok=False))
    snapshot = status.snapshot(2.5)
    assert snapshot.steady is False
    db = snapshot.probes[1]
    assert (db.ok, db.failing_since, db.samples, db.failures) == (False, 2.0, 3, 2)
    assert [s.detail for s in db.recent] == ["", "refused", "refused"]
    status(sample("db", 3.0, ok=True))
    snapshot = status.snapshot(3.0)
    assert snapshot.steady is True
    assert snapshot.probes[1].failing_since is None


def test_a_probe_keeps_only_its_recent_samples() -> None:
    status = LiveStatus([("web", "target")])
    for i in range(10 * RECENT):
        status(sample("web", i * 0.1, ok=i % 2 == 0))
    web = status.snapshot(100.0).probes[0]
    assert web.samples == 10 * RECENT
    assert len(web.recent) == RECENT
    assert web.recent[-1].t == (10 * RECENT - 1) * 0.1


def test_a_fault_counts_down_to_its_planned_end_with_extensions() -> None:
    status = LiveStatus([])
    status(control("extend", step="cut", iteration=1, seconds=3.0))  # before it started
    status(started("slow", 10.0, 5.0))
    status(started("cut", 10.0, 5.0))
    status(FaultInjected(t=10.2, fault="slow", iteration=1, revert_state=None))
    status(control("extend", t=11.0, step="slow", iteration=1, seconds=2.0))
    faults = {f.name: f for f in status.snapshot(11.0).faults}
    assert (faults["slow"].state, faults["slow"].injected, faults["slow"].remaining) == (
        "in-force", 10.2, 6.0)  # fmt: skip
    assert (faults["cut"].state, faults["cut"].remaining) == ("starting", 7.0)
    status(FaultReverted(t=17.0, fault="slow", iteration=1, attempts=1))
    status(FaultInjectFailed(t=11.5, fault="cut", iteration=1, error="refused"))
    faults = {f.name: f for f in status.snapshot(17.0).faults}
    assert (faults["slow"].state, faults["slow"].reverted, faults["slow"].remaining) == (
        "reverted", 17.0, None)  # fmt: skip
    assert (faults["cut"].state, faults["cut"].error) == ("failed", "refused")


def test_skips_holds_notes_and_the_end_of_the_run() -> None:
    status = LiveStatus([])
    status(PhaseChanged(phase=Phase.FAULTS, iteration=2))
    status(control("hold"))
    status(control("skip", step="cut", iteration=2))
    status(control("note", t=4.0, why="p99 is up on the dashboard"))
    status(FaultInjected(fault="setup:web", iteration=0, revert_state=None, setup=True))
    snapshot = status.snapshot(5.0)
    assert (snapshot.phase, snapshot.iteration, snapshot.held) == (Phase.FAULTS, 2, True)
    assert [(f.name, f.iteration, f.state) for f in snapshot.faults] == [("cut", 2, "skipped")]
    assert snapshot.notes == ((4.0, "facilitator", "p99 is up on the dashboard"),)
    status(control("release"))
    status(Aborted(reason="aborted by facilitator"))
    status(RunFinished(status="aborted", exit_code=3, reason="aborted by facilitator"))
    snapshot = status.snapshot(6.0)
    assert not snapshot.held
    assert (snapshot.aborted, snapshot.finished) == ("aborted by facilitator", "aborted")


@dataclass
class Stream:
    """A load stream's live figures, as a LoadStream offers them."""

    name: str
    segment: list[str] = field(default_factory=lambda: ["baseline"])
    sent: int = 0
    answered: int = 0
    failed: int = 0

    def __post_init__(self) -> None:
        self.histograms = PhasedHistograms()


def test_load_figures_are_read_from_the_streams_at_each_snapshot() -> None:
    stream = Stream("writes")
    status = LiveStatus([("web", "target")], [stream])
    first = status.snapshot(1.0).load[0]
    assert (first.sent, first.rate, first.p99) == (0, None, None)
    stream.segment[0] = FAULT_WINDOW
    for _ in range(50):
        stream.histograms.record(0.012, stream.segment[0])
    stream.sent, stream.answered, stream.failed = 50, 48, 3
    status(sample("web", 2.0, ok=False, segment=FAULT_WINDOW))
    status(PhaseChanged(phase=Phase.FAULTS, iteration=1))
    status(control("hold"))
    status(started("slow", 2.0, 5.0))
    snapshot = status.snapshot(3.0)
    load = snapshot.load[0]
    assert (load.sent, load.answered, load.failed, load.rate) == (50, 48, 3, 25.0)
    assert load.p99 is not None
    assert round(load.p99, 3) == 0.012
    assert progress_line(snapshot) == (
        "    3.0s fault-phase (held) NOT steady | slow starting 4s left | writes 25/s p99 12ms"
    )


def test_the_progress_line_in_the_user_guide_is_what_progress_line_prints() -> None:
    stream = Stream("writes", segment=[FAULT_WINDOW])
    status = LiveStatus([("web", "target")], [stream])
    status.snapshot(11.0)
    for _ in range(100):
        stream.histograms.record(0.041, FAULT_WINDOW)
    stream.sent = 198
    status(PhaseChanged(phase=Phase.FAULTS, iteration=1))
    status(sample("web", 11.5, ok=False, segment=FAULT_WINDOW))
    status(started("slow", 0.0, 30.0))
    status(FaultInjected(t=0.1, fault="slow", iteration=1, revert_state=None))
    line = progress_line(status.snapshot(12.0))
    assert (
        line == "   12.0s fault-phase NOT steady | slow in-force 18s left | writes 198/s p99 41ms"
    )
    guide = (Path(__file__).parents[2] / "docs" / "user-guide.md").read_text()
    assert f"```text\n{line}\n```" in guide

"""Probe samples and the steady state they imply over time (DESIGN §5).

When a sample counts: its result is known only when it completes. An ok sample
shows the system healthy at its *completion*; a failed sample shows it
unhealthy from its *start* (a timeout says nothing answered from then on; a
refusal comes at once). So no figure claims health earlier than it was seen:
a sample in flight across a revert counts after the revert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import JsonValue

__all__ = [
    "Point",
    "Sample",
    "first_violation",
    "holding_since",
    "impact_window",
    "onset_window",
    "recovered_at",
    "recovery_window",
    "steady_series",
    "transitions",
]


@dataclass(frozen=True)
class Sample:
    probe: str
    scope: str
    t: float
    """When the sample started, seconds on the run's monotonic clock."""
    latency: float
    ok: bool
    value: JsonValue = None
    detail: str = ""

    @property
    def end(self) -> float:
        """When the sample completed."""
        return self.t + self.latency

    @property
    def known_at(self) -> float:
        """When the sample counts: an ok one at its completion, a failed one from its start."""
        return self.end if self.ok else self.t


@dataclass(frozen=True)
class Point:
    """The steady state as one sample left it."""

    t: float
    """The sample's ``known_at``."""
    steady: bool
    sample: Sample
    previous: Sample | None
    """The same probe's sample before this one, if any."""


def steady_series(samples: Iterable[Sample], probes: Sequence[str]) -> list[Point]:
    """The steady state after each sample, in the order the samples count.

    Steady at t ⇔ the latest sample of every probe in ``probes`` is ok. Until
    each probe has a sample the state is unknown and nothing is emitted.
    """
    wanted = set(probes)
    latest: dict[str, Sample] = {}
    failing = 0
    series: list[Point] = []
    for sample in sorted((s for s in samples if s.probe in wanted), key=_count_order):
        previous = latest.get(sample.probe)
        failing += (not sample.ok) - (previous is not None and not previous.ok)
        latest[sample.probe] = sample
        if len(latest) == len(wanted):
            series.append(Point(sample.known_at, failing == 0, sample, previous))
    return series


def _count_order(sample: Sample) -> tuple[float, float]:
    return sample.known_at, sample.t


def transitions(series: Sequence[Point]) -> list[Point]:
    """Only the points of ``series`` where the state changes."""
    changes: list[Point] = []
    for point in series:
        if not changes or changes[-1].steady != point.steady:
            changes.append(point)
    return changes


def first_violation(series: Sequence[Point], after: float) -> Point | None:
    """t_impact: the first point at or after ``after`` at which the state is violated."""
    return next((p for p in series if p.t >= after and not p.steady), None)


def recovered_at(
    series: Sequence[Point],
    t_impact: float | None,
    t_revert: float | None,
    stable_for: float,
    evidence_until: float,
) -> Point | None:
    """t_recovered: the start of the steady stretch that is still unbroken at
    the last sample, provided it began after ``t_impact`` and has held for
    ``stable_for`` past the last revert (samples are known up to
    ``evidence_until``). A stretch that broke again does not count: recovered
    means it stayed recovered. The start may precede the revert when the
    system healed itself while the fault was still in force.
    """
    start = holding_since(series)
    if start is None or (t_impact is not None and start.t <= t_impact):
        return None
    held_from = start.t if t_revert is None else max(start.t, t_revert)
    return start if evidence_until - held_from >= stable_for else None


def holding_since(series: Sequence[Point]) -> Point | None:
    """The point that began the steady stretch still unbroken at the last sample."""
    changes = transitions(series)
    if changes and changes[-1].steady:
        return changes[-1]
    return None


def onset_window(failure: Sample, previous: Sample | None) -> tuple[float, float]:
    """Where a failure really began: after the probe's last sample that was
    still ok completed, and by the time the failing sample completed."""
    low = previous.end if previous is not None and previous.ok else failure.t
    return low, failure.end


def impact_window(point: Point) -> tuple[float, float]:
    """Where the violation that ``point`` shows really began (``onset_window``)."""
    low, high = onset_window(point.sample, point.previous)
    return min(low, point.t), max(high, point.t)


def recovery_window(point: Point) -> tuple[float, float]:
    """Where the recovery really happened: after the probe's last failing
    sample started, and by the time the ok sample completed."""
    sample, previous = point.sample, point.previous
    low = previous.t if previous is not None and not previous.ok else sample.t
    return min(low, point.t), max(sample.end, point.t)

"""Probe samples and the steady state they imply over time (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import JsonValue

__all__ = [
    "Sample",
    "first_stable_stretch",
    "first_violation",
    "holding_since",
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


def steady_series(samples: Iterable[Sample], probes: Sequence[str]) -> list[tuple[float, bool]]:
    """The steady state at each sample time, in start order.

    Steady at t ⇔ the latest sample of every probe in ``probes`` is ok. Until
    each probe has a sample the state is unknown and nothing is emitted.
    """
    wanted = set(probes)
    latest: dict[str, bool] = {}
    series: list[tuple[float, bool]] = []
    for sample in sorted(samples, key=lambda s: s.t):
        if sample.probe not in wanted:
            continue
        latest[sample.probe] = sample.ok
        if len(latest) == len(wanted):
            series.append((sample.t, all(latest.values())))
    return series


def transitions(series: Sequence[tuple[float, bool]]) -> list[tuple[float, bool]]:
    """Only the points of ``series`` where the state changes."""
    changes: list[tuple[float, bool]] = []
    for t, steady in series:
        if not changes or changes[-1][1] != steady:
            changes.append((t, steady))
    return changes


def first_violation(series: Sequence[tuple[float, bool]], after: float) -> float | None:
    """t_impact: the first sample time ≥ ``after`` at which the state is violated."""
    return next((t for t, steady in series if t >= after and not steady), None)


def first_stable_stretch(
    series: Sequence[tuple[float, bool]], after: float, stable_for: float, evidence_until: float
) -> float | None:
    """t_recovered: the first time > ``after`` from which the steady state holds
    continuously for ``stable_for``. Samples are known up to ``evidence_until``;
    a stretch still open at that time counts only if it already lasted long enough.
    """
    changes = transitions(series)
    for index, (start, steady) in enumerate(changes):
        if not steady or start <= after:
            continue
        end = changes[index + 1][0] if index + 1 < len(changes) else evidence_until
        if end - start >= stable_for:
            return start
    return None


def holding_since(series: Sequence[tuple[float, bool]]) -> float | None:
    """Start of the steady stretch that is still unbroken at the last sample."""
    changes = transitions(series)
    if changes and changes[-1][1]:
        return changes[-1][0]
    return None

"""Probe samples and the steady state they imply over time (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import JsonValue

__all__ = [
    "Sample",
    "first_violation",
    "holding_since",
    "recovered_at",
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


def recovered_at(
    series: Sequence[tuple[float, bool]],
    t_impact: float | None,
    t_revert: float | None,
    stable_for: float,
    evidence_until: float,
) -> float | None:
    """t_recovered: the start of the steady stretch that is still unbroken at
    the last sample, provided it began after ``t_impact`` and has held for
    ``stable_for`` past the last revert (samples are known up to
    ``evidence_until``). A stretch that broke again does not count: recovered
    means it stayed recovered. The start may precede the revert when the
    system healed itself while the fault was still in force.
    """
    start = holding_since(series)
    if start is None or (t_impact is not None and start <= t_impact):
        return None
    held_from = start if t_revert is None else max(start, t_revert)
    return start if evidence_until - held_from >= stable_for else None


def holding_since(series: Sequence[tuple[float, bool]]) -> float | None:
    """Start of the steady stretch that is still unbroken at the last sample."""
    changes = transitions(series)
    if changes and changes[-1][1]:
        return changes[-1][0]
    return None

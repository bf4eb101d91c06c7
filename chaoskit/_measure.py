"""MTTR, TTD, time to heal and containment, exactly as DESIGN.md §5 defines them."""

from __future__ import annotations

import math
from collections.abc import Sequence

from chaoskit._results import Breach, FaultRecord, IterationMeasurements, Measurements, Stats
from chaoskit._timeline import Sample, first_violation, recovered_at, steady_series

__all__ = ["measure_iteration", "stats", "summarise"]


def measure_iteration(
    iteration: int,
    samples: Sequence[Sample],
    steady_probes: Sequence[str],
    outside_probes: Sequence[str],
    target_probes: Sequence[str],
    faults: Sequence[FaultRecord],
    stable_for: float,
    window_end: float,
) -> IterationMeasurements:
    """Measure one iteration from its samples; ``window_end`` is the end of its
    recovery phase (samples are known up to then)."""
    injects = [f.t_inject for f in faults if f.t_inject is not None]
    reverts = [f.t_revert for f in faults if f.t_revert is not None]
    t_inject = min(injects) if injects else None
    t_revert = max(reverts) if reverts else None
    in_window = [s for s in samples if s.t <= window_end]
    series = steady_series(in_window, steady_probes)
    t_impact = first_violation(series, t_inject) if t_inject is not None else None
    t_recovered = None
    if t_impact is not None:
        t_recovered = recovered_at(series, t_impact, t_revert, stable_for, window_end)
    tolerated = t_inject is not None and t_impact is None
    recovered = tolerated or t_recovered is not None
    mttr = ttd = heal = None
    if tolerated:
        mttr = 0.0
    elif t_impact is not None and t_inject is not None:
        ttd = t_impact - t_inject
        if t_recovered is not None:
            mttr = t_recovered - t_impact
            heal = t_recovered - t_revert if t_revert is not None else None
    # the blast radius counts until the end of recovery, not t_recovered: a
    # neighbour may break late, after the target itself has healed
    blast_radius = _blast_radius(in_window, outside_probes, target_probes, t_inject, window_end)
    return IterationMeasurements(
        iteration=iteration,
        t_inject=t_inject,
        t_revert=t_revert,
        t_impact=t_impact,
        t_recovered=t_recovered,
        tolerated=tolerated,
        recovered=recovered,
        mttr=mttr,
        ttd=ttd,
        time_to_heal=heal,
        blast_radius=blast_radius,
        contained=not blast_radius,
    )


def _blast_radius(
    samples: Sequence[Sample],
    outside: Sequence[str],
    target: Sequence[str],
    t_inject: float | None,
    until: float,
) -> list[Breach]:
    if t_inject is None:
        return []
    window = [s for s in samples if t_inject <= s.t <= until]
    target_failures = [s.t for s in window if s.probe in target and not s.ok]
    origin = min(target_failures) if target_failures else t_inject
    measured_from = "first-target-violation" if target_failures else "first-inject"
    breaches = []
    for probe in outside:
        failures = [s.t for s in window if s.probe == probe and not s.ok]
        if failures:
            first = min(failures)
            breaches.append(
                Breach(
                    probe=probe,
                    t_first_failure=first,
                    propagation_delay=first - origin,
                    measured_from=measured_from,
                )
            )
    return breaches


def stats(values: Sequence[float]) -> Stats | None:
    if not values:
        return None
    ordered = sorted(values)
    return Stats(
        n=len(ordered),
        mean=sum(ordered) / len(ordered),
        p50=_percentile(ordered, 0.50),
        p95=_percentile(ordered, 0.95),
        max=ordered[-1],
    )


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summarise(iterations: Sequence[IterationMeasurements], resolution: float) -> Measurements:
    breached = sorted({b.probe for it in iterations for b in it.blast_radius})
    return Measurements(
        resolution=resolution,
        iterations=list(iterations),
        mttr=stats([it.mttr for it in iterations if it.mttr is not None]),
        ttd=stats([it.ttd for it in iterations if it.ttd is not None]),
        time_to_heal=stats([it.time_to_heal for it in iterations if it.time_to_heal is not None]),
        contained=not breached,
        blast_radius=breached,
    )

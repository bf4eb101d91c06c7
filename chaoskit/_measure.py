"""MTTR, TTD, time to heal and containment, exactly as DESIGN.md §5 defines them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from chaoskit._results import Breach, FaultRecord, IterationMeasurements, Measurements, Stats
from chaoskit._timeline import (
    Sample,
    first_violation,
    impact_window,
    onset_window,
    recovered_at,
    recovery_window,
    steady_series,
)

__all__ = ["fault_span", "measure_iteration", "stats", "summarise"]


def fault_span(faults: Sequence[FaultRecord]) -> tuple[float | None, float | None]:
    """An iteration's first inject and last revert (None: there was none)."""
    t_inject = min((f.t_inject for f in faults if f.t_inject is not None), default=None)
    t_revert = max((f.t_revert for f in faults if f.t_revert is not None), default=None)
    return t_inject, t_revert


def measure_iteration(
    iteration: int,
    samples: Sequence[Sample],
    steady_probes: Sequence[str],
    outside_probes: Sequence[str],
    target_probes: Sequence[str],
    faults: Sequence[FaultRecord],
    stable_for: float,
    window_end: float,
    complete: bool = True,
) -> IterationMeasurements:
    """Measure one iteration from its samples; ``window_end`` is the end of its
    recovery phase (samples are known up to then). Samples count when their
    result is known (``Sample.known_at``); each figure carries its resolution:
    the width of the window its events really fell in. An iteration cut short
    (``complete`` false: an abort) is never "tolerated": it was not watched to the end."""
    t_inject, t_revert = fault_span(faults)
    # what the run knew when the iteration ended: the samples that had completed
    # (a failure that counts from its start may have been caused by what came next)
    in_window = [s for s in samples if s.end <= window_end]
    series = steady_series(in_window, steady_probes)
    impact = first_violation(series, t_inject) if t_inject is not None else None
    t_impact = impact.t if impact is not None else None
    recovered_point = None
    if impact is not None:
        evidence = _evidence_until(in_window, steady_probes)
        recovered_point = recovered_at(series, impact.t, t_revert, stable_for, evidence)
    t_recovered = recovered_point.t if recovered_point is not None else None
    tolerated = complete and t_inject is not None and impact is None
    recovered = tolerated or recovered_point is not None
    mttr = ttd = heal = None
    mttr_res = ttd_res = heal_res = None
    if tolerated:
        mttr = 0.0
    elif impact is not None and t_inject is not None:
        ttd = impact.t - t_inject
        ttd_res = _width(impact_window(impact))
        if recovered_point is not None:
            heal_res = _width(recovery_window(recovered_point))
            mttr = recovered_point.t - impact.t
            mttr_res = ttd_res + heal_res
            heal = recovered_point.t - t_revert if t_revert is not None else None
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
        mttr_resolution=mttr_res,
        ttd_resolution=ttd_res,
        heal_resolution=heal_res if heal is not None else None,
        blast_radius=blast_radius,
        contained=not blast_radius,
    )


def _evidence_until(samples: Sequence[Sample], probes: Sequence[str]) -> float:
    """Every sample that counts before this time is known (``ProbeRunner.horizon``)."""
    latest: dict[str, float] = {}
    for sample in samples:
        latest[sample.probe] = max(latest.get(sample.probe, sample.end), sample.end)
    if any(probe not in latest for probe in probes):
        return float("-inf")
    return min(latest[probe] for probe in probes)


def _width(window: tuple[float, float]) -> float:
    return window[1] - window[0]


def _first_failure(
    samples: Sequence[Sample], probes: Sequence[str], since: float, until: float
) -> tuple[Sample, Sample | None] | None:
    """The first failed sample of ``probes`` known in [since, until], with the
    same probe's sample before it."""
    wanted = set(probes)
    previous: dict[str, Sample] = {}
    first: tuple[Sample, Sample | None] | None = None
    for sample in sorted((s for s in samples if s.probe in wanted), key=lambda s: s.t):
        counts = not sample.ok and since <= sample.known_at <= until
        if counts and (first is None or sample.known_at < first[0].known_at):
            first = (sample, previous.get(sample.probe))
        previous[sample.probe] = sample
    return first


def _blast_radius(
    samples: Sequence[Sample],
    outside: Sequence[str],
    target: Sequence[str],
    t_inject: float | None,
    until: float,
) -> list[Breach]:
    if t_inject is None:
        return []
    origin_failure = _first_failure(samples, target, t_inject, until)
    if origin_failure is not None:
        origin = origin_failure[0].known_at
        origin_width = _width(onset_window(*origin_failure))
        measured_from: Literal["first-target-violation", "first-inject"] = "first-target-violation"
    else:
        origin, origin_width, measured_from = t_inject, 0.0, "first-inject"
    breaches = []
    for probe in outside:
        found = _first_failure(samples, [probe], t_inject, until)
        if found is None:
            continue
        failure, previous = found
        breaches.append(
            Breach(
                probe=probe,
                t_first_failure=failure.known_at,
                propagation_delay=failure.known_at - origin,
                resolution=origin_width + _width(onset_window(failure, previous)),
                measured_from=measured_from,
            )
        )
    return breaches


def stats(values: Sequence[float], resolutions: Sequence[float | None] = ()) -> Stats | None:
    """Mean, p50, p95, min and max; the resolution is the worst of the iterations'."""
    if not values:
        return None
    ordered = sorted(values)
    known = [r for r in resolutions if r is not None]
    return Stats(
        n=len(ordered),
        mean=sum(ordered) / len(ordered),
        min=ordered[0],
        resolution=max(known) if known else None,
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
        mttr=stats(
            [it.mttr for it in iterations if it.mttr is not None],
            [it.mttr_resolution for it in iterations],
        ),
        ttd=stats(
            [it.ttd for it in iterations if it.ttd is not None],
            [it.ttd_resolution for it in iterations],
        ),
        time_to_heal=stats(
            [it.time_to_heal for it in iterations if it.time_to_heal is not None],
            [it.heal_resolution for it in iterations],
        ),
        contained=not breached,
        blast_radius=breached,
    )

"""Expectations (``expect:``) checked against the measurements."""

from __future__ import annotations

from chaoskit._model import Expectations
from chaoskit._results import ExpectationResult, Measurements
from chaoskit._units import Threshold

__all__ = ["check_expectations"]


def check_expectations(expect: Expectations, measured: Measurements) -> list[ExpectationResult]:
    """With ``repeat: N`` a time expectation must hold for every iteration (the
    worst one is compared); an iteration that never recovered fails it."""
    results: list[ExpectationResult] = []
    iterations = measured.iterations
    timed: list[tuple[str, Threshold | None, list[float | None]]] = [
        ("mttr", expect.mttr, [it.mttr for it in iterations]),
        ("ttd", expect.ttd, [it.ttd if not it.tolerated else 0.0 for it in iterations]),
        (
            "time_to_heal",
            expect.time_to_heal,
            [it.time_to_heal if not it.tolerated else 0.0 for it in iterations],
        ),
    ]
    for name, threshold, values in timed:
        if threshold is None:
            continue
        known = [v for v in values if v is not None]
        worst = max(known) if known else None
        met = bool(values) and len(known) == len(values) and threshold.holds(worst or 0.0)
        results.append(
            ExpectationResult(
                name=name,
                expected=str(threshold),
                measured=round(worst, 6) if worst is not None else None,
                met=met,
            )
        )
    if expect.contained is not None:
        results.append(
            ExpectationResult(
                name="contained",
                expected=str(expect.contained).lower(),
                measured=measured.contained,
                met=measured.contained == expect.contained,
            )
        )
    return results

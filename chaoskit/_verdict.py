"""Expectations (``expect:``) checked against the measurements."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import JsonValue

from chaoskit._model import Expectations
from chaoskit._phases import FAULT_WINDOW
from chaoskit._results import DataLoss, ExpectationResult, LoadSummary, Measurements
from chaoskit._units import Threshold

__all__ = ["check_expectations"]


def check_expectations(
    expect: Expectations,
    measured: Measurements | None,
    load: Sequence[LoadSummary] = (),
    data_loss: Sequence[DataLoss] = (),
) -> list[ExpectationResult]:
    """With ``repeat: N`` a time expectation must hold for every iteration (the
    worst one is compared); an iteration that never recovered fails it. A figure
    that was not measured (no load, no writes) fails its expectation."""
    results: list[ExpectationResult] = []
    iterations = measured.iterations if measured is not None else []
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
        worst = max(known) if known and len(known) == len(values) else None
        results.append(_compare(name, threshold, worst))
    if expect.contained is not None:
        contained = measured.contained if measured is not None else None
        results.append(
            ExpectationResult(
                name="contained",
                expected=str(expect.contained).lower(),
                measured=contained,
                met=contained == expect.contained,
            )
        )
    audited = [d for d in data_loss if d.unverified == 0] if data_loss else []
    if expect.data_loss is not None:
        lost = sum(d.lost for d in audited) if audited and len(audited) == len(data_loss) else None
        results.append(_compare("data_loss", expect.data_loss, lost))
    if expect.data_loss_rate is not None:
        acknowledged = sum(d.acknowledged for d in data_loss)
        rate = sum(d.lost for d in data_loss) / acknowledged if acknowledged else None
        results.append(_compare("data_loss_rate", expect.data_loss_rate, rate))
    # during the fault: the fault window (first inject to last revert), not the lead-in
    fault_phases = [s.phases[FAULT_WINDOW] for s in load if FAULT_WINDOW in s.phases]
    if expect.error_rate_during_fault is not None:
        sent = sum(p.sent for p in fault_phases)
        errors = sum(p.failed + p.indeterminate for p in fault_phases)
        rate = errors / sent if sent else None
        results.append(_compare("error_rate_during_fault", expect.error_rate_during_fault, rate))
    if expect.p99_during_fault is not None:
        p99s = [p.latency.p99 for p in fault_phases if p.latency is not None]
        worst = max(p99s) if p99s else None
        results.append(_compare("p99_during_fault", expect.p99_during_fault, worst))
    return results


def _compare(name: str, threshold: Threshold, value: float | None) -> ExpectationResult:
    measured: JsonValue = round(value, 6) if value is not None else None
    return ExpectationResult(
        name=name,
        expected=str(threshold),
        measured=measured,
        met=value is not None and threshold.holds(value),
    )

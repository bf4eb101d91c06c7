"""Numeric probe readings summarised per phase (what resource probes report)."""

from __future__ import annotations

import pytest

from chaoskit._values import MAX_READINGS, PhasedValues, readings


def test_readings_of_each_value_shape() -> None:
    assert list(readings(3)) == [("value", 3.0)]
    assert list(readings(2.5)) == [("value", 2.5)]
    assert list(readings({"ledger": 28.1, "catalog": 20, "up": True, "s": "x"})) == [
        ("ledger", 28.1),
        ("catalog", 20.0),
    ]
    for nothing in (None, True, "text", [1, 2], {"nested": {"mib": 1}}):
        assert list(readings(nothing)) == []


def test_count_min_max_mean_per_phase_and_name() -> None:
    values = PhasedValues()
    for mib in (28.0, 28.5, 29.0):
        values.record({"ledger": mib}, "baseline")
    for mib in (90.0, 94.0):
        values.record({"ledger": mib, "catalog": 20.0}, "fault-phase")
    values.record(None, "fault-phase")  # a failed sample: no reading
    summary = values.summary()
    assert summary["baseline"]["ledger"].model_dump() == {
        "count": 3, "min": 28.0, "max": 29.0, "mean": 28.5,
    }  # fmt: skip
    assert summary["fault-phase"]["ledger"].max == 94.0
    assert summary["fault-phase"]["ledger"].mean == pytest.approx(92.0)
    assert summary["fault-phase"]["catalog"].count == 2
    assert "catalog" not in summary["baseline"]


def test_names_are_bounded() -> None:
    values = PhasedValues()
    values.record({f"c{i}": float(i) for i in range(MAX_READINGS + 10)}, "p")
    assert len(values.summary()["p"]) == MAX_READINGS

"""Latency histograms per phase (HDR histograms: constant relative precision,
cheap to record at thousands of values a second)."""

from __future__ import annotations

from typing import Any

from chaoskit._results import LatencySummary

__all__ = ["PhasedHistograms"]

_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000  # one hour
_DIGITS = 3


class PhasedHistograms:
    """One HDR histogram per phase; values are seconds, stored as microseconds."""

    def __init__(self) -> None:
        self._by_phase: dict[str, Any] = {}

    def record(self, seconds: float, phase: str) -> None:
        histogram = self._by_phase.get(phase)
        if histogram is None:
            from hdrh.histogram import HdrHistogram

            histogram = self._by_phase[phase] = HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)
        micros = min(_HIGHEST_US, max(_LOWEST_US, int(seconds * 1_000_000)))
        histogram.record_value(micros)

    def summary(self) -> dict[str, LatencySummary]:
        return {phase: _summarise(h) for phase, h in self._by_phase.items()}

    def summary_of(self, phase: str) -> LatencySummary | None:
        histogram = self._by_phase.get(phase)
        return _summarise(histogram) if histogram is not None else None


def _summarise(histogram: Any) -> LatencySummary:
    def at(percentile: float) -> float:
        return float(histogram.get_value_at_percentile(percentile)) / 1_000_000

    return LatencySummary(
        count=int(histogram.get_total_count()),
        p50=at(50),
        p95=at(95),
        p99=at(99),
        max=float(histogram.get_max_value()) / 1_000_000,
        mean=float(histogram.get_mean_value()) / 1_000_000,
    )

"""Latency histograms per phase (HDR histograms: constant relative precision,
cheap to record at thousands of values a second)."""

from __future__ import annotations

from typing import Any

from chaoskit._results import LatencySummary

__all__ = ["PhasedHistograms"]

_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000  # one hour
_DIGITS = 3


class _Phase:
    """A phase's histogram and the exact sum of what it recorded: the mean is the
    sum over the count (hdrh's own mean walks every bucket in Python, which cost
    seconds per summary on an hour's samples)."""

    __slots__ = ("histogram", "total")

    def __init__(self) -> None:
        from hdrh.histogram import HdrHistogram

        self.histogram: Any = HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)
        self.total = 0


class PhasedHistograms:
    """One HDR histogram per phase; values are seconds, stored as microseconds."""

    def __init__(self) -> None:
        self._by_phase: dict[str, _Phase] = {}

    def record(self, seconds: float, phase: str) -> None:
        kept = self._by_phase.get(phase)
        if kept is None:
            kept = self._by_phase[phase] = _Phase()
        micros = min(_HIGHEST_US, max(_LOWEST_US, int(seconds * 1_000_000)))
        kept.histogram.record_value(micros)
        kept.total += micros

    def summary(self) -> dict[str, LatencySummary]:
        return {phase: _summarise(kept) for phase, kept in self._by_phase.items()}

    def summary_of(self, phase: str) -> LatencySummary | None:
        kept = self._by_phase.get(phase)
        return _summarise(kept) if kept is not None else None


def _summarise(kept: _Phase) -> LatencySummary:
    histogram = kept.histogram

    def at(percentile: float) -> float:
        return float(histogram.get_value_at_percentile(percentile)) / 1_000_000

    count = int(histogram.get_total_count())
    return LatencySummary(
        count=count,
        p50=at(50),
        p95=at(95),
        p99=at(99),
        max=float(histogram.get_max_value()) / 1_000_000,
        mean=kept.total / count / 1_000_000 if count else 0.0,
    )

"""Numeric probe readings per phase: count, min, max and mean of what resource
probes (and any probe whose value is a number) report, for results.json."""

from __future__ import annotations

from collections.abc import Iterator

from chaoskit._plugin_api import JsonValue
from chaoskit._results import ValueSummary

__all__ = ["MAX_READINGS", "PhasedValues", "readings"]

MAX_READINGS = 64
"""Names kept per probe (a probe over many containers); later names are dropped."""


def readings(value: JsonValue) -> Iterator[tuple[str, float]]:
    """(name, number) pairs of a probe value: a number is ``value``; a mapping of
    names to numbers gives each; anything else (text, booleans, nested) nothing."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        yield "value", float(value)
    elif isinstance(value, dict):
        for name, item in value.items():
            if isinstance(item, int | float) and not isinstance(item, bool):
                yield name, float(item)


class PhasedValues:
    """Running count, min, max and sum of each reading, per phase."""

    def __init__(self) -> None:
        self._by_phase: dict[str, dict[str, list[float]]] = {}
        self._names: set[str] = set()

    def record(self, value: JsonValue, phase: str) -> None:
        stats = None
        for name, number in readings(value):
            if name not in self._names:
                if len(self._names) >= MAX_READINGS:
                    continue
                self._names.add(name)
            if stats is None:
                stats = self._by_phase.setdefault(phase, {})
            entry = stats.get(name)
            if entry is None:
                stats[name] = [1.0, number, number, number]
            else:
                entry[0] += 1
                entry[1] = min(entry[1], number)
                entry[2] = max(entry[2], number)
                entry[3] += number

    def summary(self) -> dict[str, dict[str, ValueSummary]]:
        return {
            phase: {
                name: ValueSummary(
                    count=int(count), min=low, max=high, mean=round(total / count, 6)
                )
                for name, (count, low, high, total) in stats.items()
            }
            for phase, stats in self._by_phase.items()
        }

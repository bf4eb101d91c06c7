"""The template filters every report format shares: how a duration, a moment
of the run and a rate read, and ``-`` for a value that was not measured."""

from __future__ import annotations

from chaoskit._units import format_duration

__all__ = ["FILTERS"]


def duration(value: float | None) -> str:
    return "-" if value is None else format_duration(value)


def moment(value: float | None) -> str:
    """Seconds since the run's origin."""
    return "-" if value is None else f"{value:.2f}s"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


FILTERS = {"d": duration, "t": moment, "pct": percent}
"""By the names the templates use."""

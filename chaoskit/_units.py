"""Durations, rates, percentages and thresholds as they are written in experiments.

Durations are written ``250ms``, ``1.5s``, ``2m``, ``1h`` (or a bare number of
seconds) and become ``float`` seconds. Thresholds are written ``"< 300ms"``,
``">= 99%"`` or ``"== 0"``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "Duration",
    "Percentage",
    "PercentageThreshold",
    "PositiveDuration",
    "Rate",
    "Threshold",
    "format_duration",
    "parse_duration",
    "parse_percentage",
    "parse_rate",
    "parse_threshold",
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
# The value ends at a non-space (no lazy group before a trailing \s*: that backtracks
# quadratically on a long run of spaces, seconds for a few thousand).
_THRESHOLD_RE = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(.*\S)\s*$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
DURATION_HINT = "expected a duration like 250ms, 30s or 2m"


def parse_duration(value: object) -> float:
    """Seconds from ``250ms``/``30s``/``2m``/``1h`` or a non-negative number."""
    if isinstance(value, bool):
        raise ValueError(DURATION_HINT)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION_RE.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(DURATION_HINT)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(DURATION_HINT + " (non-negative)")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human form: ``850ms``, ``12.3s``, ``2m05s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:04.1f}s"


def parse_rate(value: object) -> float:
    """Events per second from ``200/s``, ``60/m`` or a bare number per second."""
    if isinstance(value, bool):
        raise ValueError("expected a rate like 200/s")
    if isinstance(value, int | float):
        rate = float(value)
    elif isinstance(value, str) and (match := _RATE_RE.match(value)):
        rate = float(match.group(1)) / _UNITS[match.group(2)]
    else:
        raise ValueError("expected a rate like 200/s or 30/m")
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError("expected a positive rate like 200/s")
    return rate


def parse_percentage(value: object) -> float:
    """A fraction in [0, 1] from ``50%`` or a number in [0, 1]."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage like 50%")
    if isinstance(value, int | float):
        fraction = float(value)
    elif isinstance(value, str) and (match := _PERCENT_RE.match(value)):
        fraction = float(match.group(1)) / 100
    else:
        raise ValueError("expected a percentage like 50%")
    if not 0 <= fraction <= 1:
        raise ValueError("expected a percentage between 0% and 100%")
    return fraction


@dataclass(frozen=True)
class Threshold:
    """A comparison such as ``< 300ms``: ``op`` applied as ``measured op bound``."""

    op: str
    bound: float
    text: str

    def holds(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.bound)

    def __str__(self) -> str:
        return self.text


def parse_threshold(value: object, parse_bound: Callable[[object], float]) -> Threshold:
    """``"< 300ms"`` → Threshold; a bare value means ``==`` (``0`` → ``== 0``)."""
    if isinstance(value, Threshold):
        return value
    if isinstance(value, str) and (match := _THRESHOLD_RE.match(value)):
        op, raw = match.group(1), match.group(2)
    else:
        op, raw = "==", value
    bound = parse_bound(raw)
    return Threshold(op=op, bound=bound, text=f"{op} {raw}")


def _number(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError("expected a number") from None
    raise ValueError("expected a number")


def _threshold_type(parse_bound: Callable[[object], float], example: str) -> Any:
    def validate(value: object) -> Threshold:
        try:
            return parse_threshold(value, parse_bound)
        except ValueError as exc:
            raise ValueError(f"expected a comparison like {example!r} ({exc})") from None

    return Annotated[
        Threshold,
        BeforeValidator(validate),
        PlainSerializer(str, return_type=str),
        WithJsonSchema({"type": "string", "examples": [example]}),
    ]


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)\s*$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "a duration: 250ms, 30s, 2m, 1h, or seconds",
        }
    ),
]


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("expected a duration greater than 0, like 250ms")
    return seconds


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?/(s|m|h)$", "examples": ["200/s"]}),
]
Percentage = Annotated[
    float,
    BeforeValidator(parse_percentage),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?%$", "examples": ["50%"]}),
]
DurationThreshold = _threshold_type(parse_duration, "< 300ms")
NumberThreshold = _threshold_type(_number, "< 10")
PercentageThreshold = _threshold_type(parse_percentage, "< 5%")

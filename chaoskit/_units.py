"""Durations, rates, percentages and thresholds as they are written in experiments.

Durations are written ``250ms``, ``1.5s``, ``2m``, ``1h`` and become ``float``
seconds. A duration always carries its unit: a bare number (``300``, from YAML
or from Python) is refused, because nobody can tell whether it meant
milliseconds or seconds; only zero, the same in every unit, may go without one.
Thresholds are written ``"< 300ms"``, ``">= 99%"`` or ``"== 0"``; a bound on a
duration must not be an equality (docs/decisions/0014-units-are-explicit.md).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "Duration",
    "DurationThreshold",
    "EqualityRefused",
    "NumberThreshold",
    "Percentage",
    "PercentageThreshold",
    "PositiveDuration",
    "Rate",
    "Threshold",
    "duration_text",
    "format_duration",
    "parse_duration",
    "parse_percentage",
    "parse_rate",
    "parse_threshold",
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_NUMBER_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
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
    """Seconds from ``250ms``/``30s``/``2m``/``1h``, or from ``0``.

    A bare number other than zero (``300``, ``1.5``, ``"300"``) is refused with
    the two readings it could have: ``write 300ms or 300s``.
    """
    if isinstance(value, bool):
        raise ValueError(DURATION_HINT)
    if isinstance(value, str) and (match := _DURATION_RE.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    elif (number := _bare_number(value)) is not None:
        if number == 0:
            return 0.0  # zero is zero in every unit
        if number < 0:
            raise ValueError(DURATION_HINT + " (non-negative)")
        if not math.isfinite(number):
            raise ValueError(DURATION_HINT)
        shown = _as_written(value)
        raise ValueError(f"a duration needs a unit: write {shown}ms or {shown}s")
    else:
        raise ValueError(DURATION_HINT)
    if not math.isfinite(seconds):
        raise ValueError(DURATION_HINT)
    return seconds


def _bare_number(value: object) -> float | None:
    """The number ``value`` is when it is one without a unit (``300``, ``"1.5"``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an int too large for a float
            return math.inf
    if isinstance(value, str) and _NUMBER_RE.match(value):
        return float(value)
    return None


def _as_written(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def duration_text(seconds: float) -> str:
    """``seconds`` as a duration that parses back to exactly the same float
    (``0.25s``, ``300s``): how a Duration is written out as JSON, so that what
    chaoskit writes it can read again."""
    if seconds == 0:
        return "0s"
    text = format(Decimal(repr(float(seconds))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}s"


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


class EqualityRefused(ValueError):
    """A bound that must be a comparison (``< 200ms``) was an equality."""


def parse_threshold(
    value: object, parse_bound: Callable[[object], float], equality: bool = True
) -> Threshold:
    """``"< 300ms"`` → Threshold; a bare value means ``==`` (``0`` → ``== 0``).

    With ``equality`` false, ``==`` (written or implied) raises EqualityRefused:
    a measured duration is never exactly a given number.
    """
    if isinstance(value, Threshold):
        return value
    if isinstance(value, str) and (match := _THRESHOLD_RE.match(value)):
        op, raw = match.group(1), match.group(2)
    else:
        op, raw = "==", value
    bound = parse_bound(raw)
    if op == "==" and not equality:
        shown = raw.strip() if isinstance(raw, str) else duration_text(bound)
        raise EqualityRefused(
            f'equality on a duration is almost never meant; write "< {shown}" or "<= {shown}"'
        )
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


def _threshold_type(
    parse_bound: Callable[[object], float], example: str, equality: bool = True
) -> Any:
    def validate(value: object) -> Threshold:
        try:
            return parse_threshold(value, parse_bound, equality)
        except EqualityRefused:
            raise
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
    PlainSerializer(duration_text, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)\s*$"},
                {"const": 0},
            ],
            "description": "a duration with its unit: 250ms, 30s, 2m, 1h (only 0 needs none)",
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
DurationThreshold = _threshold_type(parse_duration, "< 300ms", equality=False)
NumberThreshold = _threshold_type(_number, "< 10")
PercentageThreshold = _threshold_type(parse_percentage, "< 5%")

"""What the injector benchmarks (bench/injectors_<family>.py) share: timing one
call until an independent probe sees its effect, percentiles, and the rows each
family prints beside its component's round trip."""

from __future__ import annotations

import inspect
import math
import statistics
import time
from collections.abc import Awaitable, Callable

import anyio

__all__ = [
    "PROBE_DEADLINE",
    "TARGET_RATIO",
    "Row",
    "latency_rows",
    "percentile",
    "timed_until",
    "vs_direct_row",
]

Row = tuple[str, float, str, str, float | None, float | None]
"""``(figure, value, unit, anchor_name, anchor_value, target_ratio)``"""
TARGET_RATIO = 2.0
"""Issue 3: inject and revert within twice the component's own round trip."""
PROBE_DEADLINE = 30.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def timed_until(
    action: Callable[[], Awaitable[object]],
    seen: Callable[[], bool | Awaitable[bool]],
    *,
    poll: float = 0.0,
) -> float:
    """Seconds from the start of ``action`` until ``seen()`` (plain or async)
    first holds, polled beside it every ``poll`` seconds; waits for ``action``
    to finish too. The poll sleeps rather than spins: a spinning poll would hold
    the GIL against the worker threads the injectors use."""
    started = time.perf_counter()
    observed: list[float] = []

    async def holds() -> bool:
        answer = seen()
        return await answer if inspect.isawaitable(answer) else answer

    async def watch() -> None:
        with anyio.fail_after(PROBE_DEADLINE):
            while not await holds():
                await anyio.sleep(poll)
        observed.append(time.perf_counter() - started)

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        await action()
    return observed[0]


def latency_rows(
    name: str,
    injects: list[float],
    reverts: list[float],
    anchor_name: str,
    anchor: list[float],
) -> list[Row]:
    """Inject and revert p50 and p99 (ms) of ``name`` beside the same
    percentiles of the anchor, with the target ratio."""
    n = f"n={len(injects)}"
    return [
        (
            f"{name} {what} {label} ({n})",
            percentile(values, q) * 1000,
            "ms",
            f"{anchor_name} {label} (n={len(anchor)})",
            percentile(anchor, q) * 1000,
            TARGET_RATIO,
        )
        for what, values in (("inject", injects), ("revert", reverts))
        for label, q in (("p50", 0.5), ("p99", 0.99))
    ]


def vs_direct_row(
    name: str, injects: list[float], direct_name: str, direct: list[float], *, suffix: str = ""
) -> Row:
    """Inject p50 beside doing the same thing directly (the floor of what an
    injector can do), with the target ratio."""
    return (
        f"{name} inject p50{suffix} (n={len(injects)})",
        statistics.median(injects) * 1000,
        "ms",
        f"{direct_name} p50",
        statistics.median(direct) * 1000,
        TARGET_RATIO,
    )

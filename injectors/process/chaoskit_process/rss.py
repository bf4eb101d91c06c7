"""``process.rss``: the resident memory of the matching processes, in MiB, summed."""

from __future__ import annotations

from typing import ClassVar

import psutil

from chaoskit import Expect, NumberThreshold, Observation, Params, ProbeContext
from chaoskit_process._probe import ProbeParams, ProbeUnanswered, probe_inputs, within_budget
from chaoskit_process._select import find
from chaoskit_process.target import SelectorFields

__all__ = ["RssExpect", "RssProbe"]

MIB = 1024 * 1024


class RssExpect(Expect):
    mib: NumberThreshold | None = None
    """a bound on the total resident memory in MiB, like ``< 512``"""


def _total_rss(selector: SelectorFields) -> tuple[int, float]:
    total, count = 0, 0
    for found in find(selector):
        try:
            total += psutil.Process(found.pid).memory_info().rss
        except psutil.NoSuchProcess:
            continue
        count += 1
    return count, total / MIB


class RssProbe:
    """The value is the total RSS in MiB; no matching process is a failed sample."""

    name: ClassVar[str] = "process.rss"
    value_unit: ClassVar[str] = "MiB"
    """The value is a measurement: chaoskit summarises it per phase."""
    params: ClassVar[type[Params]] = ProbeParams
    expect: ClassVar[type[Expect]] = RssExpect

    async def observe(self, ctx: ProbeContext) -> Observation:
        selector, expect = probe_inputs(ctx, self.name, RssExpect)
        try:
            count, mib = await within_budget(ctx, _total_rss, selector)
        except ProbeUnanswered as exc:
            return Observation(ok=False, detail=str(exc))
        if not count:
            return Observation(ok=False, detail="no process matches")
        value = round(mib, 1)
        if expect.mib is not None and not expect.mib.holds(mib):
            return Observation(ok=False, value=value, detail=f"{value} MiB, expected {expect.mib}")
        return Observation(ok=True, value=value)

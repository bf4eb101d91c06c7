"""``process.cpu``: the CPU use of the matching processes, summed, in percent of
one CPU (like top: two busy cores read 200), sampled over ``interval``."""

from __future__ import annotations

from typing import ClassVar

import anyio
import psutil
from pydantic import Field

from chaoskit import Duration, Expect, NumberThreshold, Observation, Params, ProbeContext
from chaoskit_process._probe import ProbeParams, ProbeUnanswered, probe_inputs, within_budget
from chaoskit_process._select import find
from chaoskit_process.target import SelectorFields

__all__ = ["CpuExpect", "CpuParams", "CpuProbe"]

_SHARE_OF_TIMEOUT = 0.8
"""At most this share of the sample's timeout is spent sampling."""


class CpuParams(ProbeParams):
    interval: Duration = Field(
        default=0.5,
        gt=0,
        description="CPU use is measured over this long (capped at 80% of the probe's timeout)",
    )


class CpuExpect(Expect):
    percent: NumberThreshold | None = None
    """a bound on the total CPU use in percent of one CPU, like ``< 80``"""


def _start(selector: SelectorFields) -> list[psutil.Process]:
    started = []
    for found in find(selector):
        try:
            process = psutil.Process(found.pid)
            process.cpu_percent(None)  # the first call starts the measurement
        except psutil.NoSuchProcess:
            continue
        started.append(process)
    return started


def _finish(processes: list[psutil.Process]) -> tuple[int, float]:
    total, count = 0.0, 0
    for process in processes:
        try:
            total += process.cpu_percent(None)
        except psutil.NoSuchProcess:
            continue
        count += 1
    return count, total


class CpuProbe:
    """The value is the summed CPU percent; no matching process is a failed sample."""

    name: ClassVar[str] = "process.cpu"
    value_unit: ClassVar[str] = "%"
    """The value is a measurement: chaoskit summarises it per phase."""
    params: ClassVar[type[Params]] = CpuParams
    expect: ClassVar[type[Expect]] = CpuExpect

    async def observe(self, ctx: ProbeContext) -> Observation:
        selector, expect = probe_inputs(ctx, self.name, CpuExpect)
        assert isinstance(ctx.params, CpuParams)
        interval = min(ctx.params.interval, ctx.timeout * _SHARE_OF_TIMEOUT)
        try:
            processes = await within_budget(ctx, _start, selector)
            await anyio.sleep(interval)
            count, percent = await within_budget(ctx, _finish, processes)
        except ProbeUnanswered as exc:
            return Observation(ok=False, detail=str(exc))
        if not count:
            return Observation(ok=False, detail="no process matches")
        value = round(percent, 1)
        if expect.percent is not None and not expect.percent.holds(percent):
            return Observation(
                ok=False, value=value, detail=f"{value}% CPU, expected {expect.percent}"
            )
        return Observation(ok=True, value=value)

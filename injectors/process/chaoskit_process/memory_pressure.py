"""``process.memory_pressure``: a helper process allocates ``mib`` MiB and touches
every page, so the memory is really taken from the machine, and holds it until
revert or ``max_duration``.

Refused when ``mib`` is more than ``max_available`` of the memory the kernel
reports available at the time, so that a typo cannot take the machine down.
The helper lives in chaoskit's own cgroup; with swap, the kernel may swap it out.
"""

from __future__ import annotations

import time
from typing import ClassVar

import psutil
from pydantic import Field

from chaoskit import (
    Duration,
    FaultContext,
    FaultNotInForce,
    InjectorError,
    JsonValue,
    Params,
    Percentage,
    params_as,
)
from chaoskit_process._base import (
    blocking,
    select,
)
from chaoskit_process._helpers import Helper, end_helpers, spawn_helper
from chaoskit_process._pressure import (
    MAX_DURATION_DEFAULT,
    MAX_DURATION_HELP,
    PressureInjector,
    PressureState,
)

__all__ = ["MemoryPressure", "MemoryPressureParams"]

MIB = 1024 * 1024
_FILL_TIMEOUT = 30.0
"""Seconds allowed for the helper to allocate and touch its memory."""


class MemoryPressureParams(Params):
    """Hold mib MiB of touched memory in a helper process, until revert or max_duration."""

    mib: int = Field(ge=1, description="MiB to allocate and hold")
    max_available: Percentage = Field(
        default=0.5,
        gt=0,
        description="refuse when mib is more than this share of the memory available now",
    )
    max_duration: Duration = Field(
        default=MAX_DURATION_DEFAULT, gt=0, description=MAX_DURATION_HELP
    )


def _refusal(params: MemoryPressureParams) -> str | None:
    available = psutil.virtual_memory().available
    allowed = params.max_available * available
    if params.mib * MIB > allowed:
        return (
            f"refusing to take {params.mib} MiB: only {available // MIB} MiB is available and "
            f"max_available is {params.max_available:.0%} ({int(allowed // MIB)} MiB)"
        )
    return None


def _rss(helper: Helper) -> int | None:
    """The helper's resident memory in bytes; None when it has ended."""
    try:
        process = psutil.Process(helper.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return None


def _fill(tag: str, params: MemoryPressureParams) -> Helper:
    """Start the hog and wait until it holds ``mib`` MiB (blocking)."""
    helper = spawn_helper(tag, "hog", [f"--mib={params.mib}", f"--seconds={params.max_duration!r}"])
    deadline = time.monotonic() + _FILL_TIMEOUT
    rss: int | None = 0
    while time.monotonic() < deadline:
        rss = _rss(helper)
        if rss is None or rss >= params.mib * MIB:
            break
        time.sleep(0.005)
    if rss is None or rss < params.mib * MIB:
        end_helpers(tag, [helper], "hog")
        why = "ended before it held them" if rss is None else f"holds only {rss // MIB} MiB"
        raise InjectorError(
            f"the memory helper could not take {params.mib} MiB within {_FILL_TIMEOUT:g}s: {why}"
        )
    return helper


class MemoryPressure(PressureInjector):
    """Holds ``mib`` MiB of touched memory in a helper process."""

    name: ClassVar[str] = "process.memory_pressure"
    params: ClassVar[type[Params]] = MemoryPressureParams
    mode: ClassVar[str] = "hog"

    async def preflight(self, ctx: FaultContext) -> None:
        params = params_as(ctx.params, MemoryPressureParams)
        await select(ctx, check_signal=False)
        refusal = await blocking(_refusal, params, what="reading available memory")
        if refusal:
            raise InjectorError(refusal)

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        params_as(ctx.params, MemoryPressureParams)
        return PressureState(mode=self.mode).to_json()

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        state = PressureState.parse(revert_state)
        params = params_as(ctx.params, MemoryPressureParams)
        refusal = await blocking(_refusal, params, what="reading available memory")
        if refusal:
            raise InjectorError(refusal)
        helper = await blocking(
            _fill,
            ctx.tag,
            params,
            what="allocating memory",
            timeout=_FILL_TIMEOUT + 5,
            changes=True,
        )
        ctx.log.info("process.memory_held", mib=params.mib, pid=helper.pid)
        return state.model_copy(update={"helpers": [helper]}).to_json()

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        await super().verify(ctx, revert_state)
        params = params_as(ctx.params, MemoryPressureParams)
        state = PressureState.parse(revert_state)
        for helper in state.helpers:
            rss = await blocking(_rss, helper, what="reading the helper's memory")
            if rss is None or rss < params.mib * MIB:
                held = 0 if rss is None else rss // MIB
                raise FaultNotInForce(f"the memory helper holds {held} MiB, not {params.mib}")

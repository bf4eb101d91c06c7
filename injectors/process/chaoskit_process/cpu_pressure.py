"""``process.cpu_pressure``: start ``workers`` processes that spin on the CPUs the
target's processes may run on, competing with them for CPU time.

The burners end themselves after ``max_duration`` (``signal.alarm``), so a crash
of chaoskit cannot leave them spinning for long; revert kills them by pid and
start time, and finds any that a crash kept out of the revert state by the
fault's tag in their command line.
"""

from __future__ import annotations

from typing import ClassVar

import psutil
from pydantic import Field

from chaoskit import (
    Duration,
    FaultContext,
    JsonValue,
    Params,
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

__all__ = ["CpuPressure", "CpuPressureParams"]


class CpuPressureParams(Params):
    """Spin helper processes on the CPUs the target may use, until revert or max_duration."""

    workers: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="number of spinning processes; default: one per CPU the target may use",
    )
    nice: int | None = Field(
        default=None, ge=0, le=19, description="niceness of the burners (19: yield to everyone)"
    )
    max_duration: Duration = Field(
        default=MAX_DURATION_DEFAULT, gt=0, description=MAX_DURATION_HELP
    )


def _cpus_of(pids: list[int]) -> list[int]:
    """The CPUs any of these processes may run on (all CPUs when unreadable)."""
    cpus: set[int] = set()
    for pid in pids:
        try:
            cpus.update(psutil.Process(pid).cpu_affinity() or [])
        except psutil.Error:
            continue
    return sorted(cpus) or list(range(psutil.cpu_count() or 1))


def _spawn(tag: str, params: CpuPressureParams, cpus: list[int]) -> list[Helper]:
    args = [f"--seconds={params.max_duration!r}", f"--cpus={','.join(map(str, cpus))}"]
    if params.nice is not None:
        args.append(f"--nice={params.nice}")
    started: list[Helper] = []
    try:
        for _ in range(params.workers or len(cpus)):
            started.append(spawn_helper(tag, "burn", args))
    except OSError:
        end_helpers(tag, started, "burn")
        raise
    return started


class CpuPressure(PressureInjector):
    """Spins ``workers`` burner processes until revert or ``max_duration``."""

    name: ClassVar[str] = "process.cpu_pressure"
    params: ClassVar[type[Params]] = CpuPressureParams
    mode: ClassVar[str] = "burn"

    async def preflight(self, ctx: FaultContext) -> None:
        params_as(ctx.params, CpuPressureParams)
        await select(ctx, check_signal=False)

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        params_as(ctx.params, CpuPressureParams)
        return PressureState(mode=self.mode).to_json()

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        state = PressureState.parse(revert_state)
        params = params_as(ctx.params, CpuPressureParams)
        chosen = await select(ctx, check_signal=False)
        cpus = await blocking(
            _cpus_of, [found.pid for found in chosen], what="reading CPU affinity"
        )
        helpers = await blocking(
            _spawn, ctx.tag, params, cpus, what="starting CPU burners", changes=True
        )
        ctx.log.info("process.cpu_burners_started", pids=[h.pid for h in helpers], cpus=cpus)
        return state.model_copy(update={"helpers": helpers}).to_json()

"""``process.cpu_limit``: put the target's processes in a new cpu cgroup with a
CFS bandwidth quota of ``cpus`` CPUs (0.2 = a fifth of one core, 2 = two cores)
per ``period``. Revert moves the processes back to their original cgroups,
exactly, and removes the new one.
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from chaoskit import (
    Duration,
    Params,
    params_as,
)
from chaoskit_process._cgroup import Version
from chaoskit_process._limits import LimitInjector, Setting

__all__ = ["CpuLimit", "CpuLimitParams"]

_MIN_QUOTA_US = 1000  # the kernel refuses a smaller quota


class CpuLimitParams(Params):
    """Move the target's processes into a new cgroup with a CPU quota."""

    cpus: float = Field(gt=0, le=1024, description="CPU time allowed, in CPUs (0.2 = 20% of one)")
    period: Duration = Field(
        default=0.1, ge=0.001, le=1.0, description="the CFS period the quota applies to"
    )

    @model_validator(mode="after")
    def _quota(self) -> Self:
        if self.quota_us() < _MIN_QUOTA_US:
            raise ValueError(
                f"cpus * period is {self.quota_us()}µs; the kernel needs at least "
                f"{_MIN_QUOTA_US}µs: raise cpus or period"
            )
        return self

    def period_us(self) -> int:
        return round(self.period * 1_000_000)

    def quota_us(self) -> int:
        return round(self.cpus * self.period * 1_000_000)


class CpuLimit(LimitInjector):
    """cpu.cfs_quota_us + cpu.cfs_period_us (v1) / cpu.max (v2) on a new cgroup."""

    name: ClassVar[str] = "process.cpu_limit"
    params: ClassVar[type[Params]] = CpuLimitParams
    controller: ClassVar[str] = "cpu"

    def settings(self, params: Params, version: Version) -> list[Setting]:
        limit = params_as(params, CpuLimitParams)
        if version == 1:
            return [
                Setting(file="cpu.cfs_period_us", value=str(limit.period_us())),
                Setting(file="cpu.cfs_quota_us", value=str(limit.quota_us())),
            ]
        return [Setting(file="cpu.max", value=f"{limit.quota_us()} {limit.period_us()}")]

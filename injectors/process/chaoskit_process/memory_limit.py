"""``process.memory_limit``: put the target's processes in a new memory cgroup
limited to ``mib`` MiB (swap included, where the kernel accounts for it). A
process that needs more is reclaimed from and then OOM-killed by the kernel.

Memory a process already holds stays charged to its old cgroup (neither v1 nor
v2 moves it), so the limit is a budget for what it allocates from the start of
the fault. Revert moves the processes back to their original cgroups, exactly,
and removes the new one.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chaoskit import (
    Params,
    params_as,
)
from chaoskit_process._cgroup import Version
from chaoskit_process._limits import LimitInjector, Setting

__all__ = ["MemoryLimit", "MemoryLimitParams"]

MIB = 1024 * 1024


class MemoryLimitParams(Params):
    """Move the target's processes into a new cgroup limited to mib MiB."""

    mib: int = Field(ge=1, description="the memory limit in MiB")


class MemoryLimit(LimitInjector):
    """memory.limit_in_bytes (v1) / memory.max (v2) on a new cgroup."""

    name: ClassVar[str] = "process.memory_limit"
    params: ClassVar[type[Params]] = MemoryLimitParams
    controller: ClassVar[str] = "memory"

    def settings(self, params: Params, version: Version) -> list[Setting]:
        limit = str(params_as(params, MemoryLimitParams).mib * MIB)
        if version == 1:
            return [
                Setting(file="memory.limit_in_bytes", value=limit),
                Setting(file="memory.memsw.limit_in_bytes", value=limit, optional=True),
            ]
        return [
            Setting(file="memory.max", value=limit),
            Setting(file="memory.swap.max", value="0", optional=True),
        ]

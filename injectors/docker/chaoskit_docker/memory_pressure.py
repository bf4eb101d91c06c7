"""``docker.memory_pressure``: allocate memory inside each container."""

from __future__ import annotations

import math

from pydantic import Field, field_validator

from chaoskit import params_as
from chaoskit_docker._base import (
    ByteSize,
)
from chaoskit_docker._hog import MEMORY_HOG, HogParams
from chaoskit_docker._pressure import PressureInjector

__all__ = ["MemoryPressure", "MemoryPressureParams"]


class MemoryPressureParams(HogParams):
    memory: ByteSize = Field(description="how much memory the hog holds, like 256m (whole MiB)")

    @field_validator("memory")
    @classmethod
    def _a_mebibyte_at_least(cls, value: int) -> int:
        if value < 1 << 20:
            raise ValueError("at least 1m: the hog allocates whole MiB")
        return value


class MemoryPressure(PressureInjector):
    """Runs a hog in each container that holds ``memory`` of anonymous memory in
    32 MiB chunks (``dd`` buffers), charged to the container's cgroup: under a
    lower memory limit the kernel reclaims, swaps or OOM-kills (the biggest
    process, usually a chunk). Revert ends the hog; it also ends itself after
    ``max_duration``."""

    name = "docker.memory_pressure"
    params = MemoryPressureParams
    kind = "memory"
    script = MEMORY_HOG
    tools = ["dd"]

    def arguments(self, params: HogParams) -> list[str]:
        params = params_as(params, MemoryPressureParams)
        return [str(math.ceil(params.memory / (1 << 20)))]

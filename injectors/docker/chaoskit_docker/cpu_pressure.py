"""``docker.cpu_pressure``: keep CPUs busy inside each container."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chaoskit import params_as
from chaoskit_docker._hog import CPU_HOG, HogParams
from chaoskit_docker._pressure import PressureInjector

__all__ = ["CpuPressure", "CpuPressureParams"]


class CpuPressureParams(HogParams):
    workers: int = Field(default=1, ge=1, le=256, description="busy loops; each can use one CPU")


class CpuPressure(PressureInjector):
    """Runs ``workers`` busy shell loops in each container. They compete with the
    container's own processes within its CPU quota and cpuset (the cgroup
    throttles them all). Revert ends them; they also stop themselves after
    ``max_duration``."""

    name = "docker.cpu_pressure"
    params = CpuPressureParams
    kind = "cpu"
    script = CPU_HOG
    tools: ClassVar[list[str]] = []

    def arguments(self, params: HogParams) -> list[str]:
        params = params_as(params, CpuPressureParams)
        return [str(params.workers)]

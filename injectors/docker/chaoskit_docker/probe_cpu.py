"""``docker.cpu``: a probe of each container's CPU use."""

from __future__ import annotations

from typing import Any, ClassVar

import anyio
from pydantic import Field

from chaoskit import Duration, Expect, NumberThreshold, Observation, Params, ProbeContext
from chaoskit_docker._client import DockerEngine
from chaoskit_docker._probe import ContainerProbeParams, Reading, observe_containers
from chaoskit_docker._select import container_name, state_of

__all__ = ["CpuExpect", "CpuParams", "CpuProbe", "cpu_percent"]


class CpuParams(ContainerProbeParams):
    window: Duration = Field(
        default=0.5,
        gt=0,
        le=10,
        description="CPU use is measured over this long (two stats reads this far apart); "
        "keep it below the probe's timeout",
    )


class CpuExpect(Expect):
    percent: NumberThreshold | None = None
    """A bound on each container's CPU use, in percent of one CPU (200 = two full CPUs), like
    ``< 80``."""


def _cpu(stats: dict[str, Any]) -> tuple[int, int, int] | None:
    cpu = stats.get("cpu_stats") or {}
    system = cpu.get("system_cpu_usage")
    if system is None:
        return None
    usage = cpu.get("cpu_usage") or {}
    online = cpu.get("online_cpus") or len(usage.get("percpu_usage") or ()) or 1
    return int(usage.get("total_usage") or 0), int(system), int(online)


def cpu_percent(first: dict[str, Any], second: dict[str, Any]) -> float | None:
    """CPU use between two stats documents, as ``docker stats`` computes it
    (100 = one CPU); None when either has no CPU figures (not running)."""
    a, b = _cpu(first), _cpu(second)
    if a is None or b is None:
        return None
    used, system = b[0] - a[0], b[1] - a[1]
    if system <= 0 or used < 0:
        return 0.0
    return used / system * b[2] * 100.0


class CpuProbe:
    """Reads each selected container's CPU use over ``window``, from two one-shot
    stats reads. The value is ``{name: percent}``; a container that is not
    running fails the sample."""

    name: ClassVar[str] = "docker.cpu"
    value_unit: ClassVar[str] = "%"
    """The value is a measurement: chaoskit summarises it per phase."""
    params: ClassVar[type[Params]] = CpuParams
    expect: ClassVar[type[Expect]] = CpuExpect

    async def observe(self, ctx: ProbeContext) -> Observation:
        params, expect = ctx.params, ctx.expect
        assert isinstance(params, CpuParams)
        assert isinstance(expect, CpuExpect)

        async def stats(engine: DockerEngine, info: dict[str, Any]) -> dict[str, Any]:
            found: dict[str, Any] = await engine.call(
                f"read the stats of container {container_name(info)}",
                engine.api.stats,
                info["Id"],
                stream=False,
                one_shot=True,
                read_only=True,
            )
            return found

        async def read(engine: DockerEngine, infos: list[dict[str, Any]]) -> dict[str, Reading]:
            before = [await stats(engine, info) for info in infos]
            await anyio.sleep(min(params.window, ctx.timeout / 2))
            readings: dict[str, Reading] = {}
            for info, first in zip(infos, before, strict=True):
                name = container_name(info)
                percent = cpu_percent(first, await stats(engine, info))
                if percent is None:
                    readings[name] = (None, f"{state_of(info)}, no CPU figures")
                    continue
                percent = round(percent, 1)
                broken = expect.percent is not None and not expect.percent.holds(percent)
                readings[name] = (
                    percent,
                    f"{percent}%, expected {expect.percent}" if broken else None,
                )
            return readings

        return await observe_containers(ctx, self.name, read)

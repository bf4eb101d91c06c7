"""``docker.memory``: a probe of each container's memory use."""

from __future__ import annotations

from typing import Any, ClassVar

from chaoskit import Expect, NumberThreshold, Observation, Params, ProbeContext
from chaoskit_docker._client import DockerEngine
from chaoskit_docker._probe import ContainerProbeParams, Reading, observe_containers
from chaoskit_docker._select import container_name, state_of

__all__ = ["MemoryExpect", "MemoryParams", "MemoryProbe", "memory_used"]


class MemoryParams(ContainerProbeParams):
    """The docker.container target to read."""


class MemoryExpect(Expect):
    mib: NumberThreshold | None = None
    """A bound on each container's memory use in MiB, like ``< 200``."""


def memory_used(stats: dict[str, Any]) -> int | None:
    """Bytes in use as ``docker stats`` counts them (usage minus inactive page
    cache), from one stats document; None when it has no memory figures."""
    memory = stats.get("memory_stats") or {}
    if "usage" not in memory:
        return None
    usage = int(memory["usage"])
    detail = memory.get("stats") or {}
    inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    return usage - int(inactive) if int(inactive) < usage else usage


class MemoryProbe:
    """Reads each selected container's memory use from one-shot stats. The
    value is ``{name: MiB}``; a container that is not running has none and
    fails the sample."""

    name: ClassVar[str] = "docker.memory"
    value_unit: ClassVar[str] = "MiB"
    """The value is a measurement: chaoskit summarises it per phase."""
    params: ClassVar[type[Params]] = MemoryParams
    expect: ClassVar[type[Expect]] = MemoryExpect

    async def observe(self, ctx: ProbeContext) -> Observation:
        expect = ctx.expect
        assert isinstance(expect, MemoryExpect)

        async def read(engine: DockerEngine, infos: list[dict[str, Any]]) -> dict[str, Reading]:
            readings: dict[str, Reading] = {}
            for info in infos:
                name = container_name(info)
                stats = await engine.call(
                    f"read the stats of container {name}",
                    engine.api.stats,
                    info["Id"],
                    stream=False,
                    one_shot=True,
                    read_only=True,
                )
                used = memory_used(stats)
                if used is None:
                    readings[name] = (None, f"{state_of(info)}, no memory figures")
                    continue
                mib = round(used / (1 << 20), 2)
                broken = expect.mib is not None and not expect.mib.holds(mib)
                readings[name] = (mib, f"{mib} MiB, expected {expect.mib}" if broken else None)
            return readings

        return await observe_containers(ctx, self.name, read)

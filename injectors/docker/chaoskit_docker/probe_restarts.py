"""``docker.restarts``: a probe of each container's restart count."""

from __future__ import annotations

from typing import Any, ClassVar

from chaoskit import Expect, NumberThreshold, Observation, Params, ProbeContext
from chaoskit_docker._client import DockerEngine
from chaoskit_docker._probe import ContainerProbeParams, Reading, observe_containers
from chaoskit_docker._select import container_name

__all__ = ["RestartsExpect", "RestartsParams", "RestartsProbe"]


class RestartsParams(ContainerProbeParams):
    """The docker.container target to read."""


class RestartsExpect(Expect):
    count: NumberThreshold | None = None
    """A bound on each container's RestartCount (restarts by its restart policy), like ``== 0``."""


class RestartsProbe:
    """Reads each selected container's ``RestartCount``: how often its restart
    policy restarted it (``docker restart`` does not count). The value is
    ``{name: count}``."""

    name: ClassVar[str] = "docker.restarts"
    value_unit: ClassVar[str] = "restarts"
    """The value is a measurement: chaoskit summarises it per phase."""
    params: ClassVar[type[Params]] = RestartsParams
    expect: ClassVar[type[Expect]] = RestartsExpect

    async def observe(self, ctx: ProbeContext) -> Observation:
        expect = ctx.expect
        assert isinstance(expect, RestartsExpect)

        async def read(engine: DockerEngine, infos: list[dict[str, Any]]) -> dict[str, Reading]:
            readings: dict[str, Reading] = {}
            for info in infos:
                count = int(info.get("RestartCount") or 0)
                broken = expect.count is not None and not expect.count.holds(count)
                readings[container_name(info)] = (
                    count,
                    f"{count} restarts, expected {expect.count}" if broken else None,
                )
            return readings

        return await observe_containers(ctx, self.name, read)

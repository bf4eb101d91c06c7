"""``docker.state``: a probe of each container's status and health."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from chaoskit import Expect, Observation, Params, ProbeContext
from chaoskit_docker._client import DockerEngine
from chaoskit_docker._probe import ContainerProbeParams, Reading, observe_containers
from chaoskit_docker._select import container_name, state_of

__all__ = ["StateExpect", "StateParams", "StateProbe"]

Status = Literal["created", "running", "paused", "restarting", "removing", "exited", "dead"]
Health = Literal["starting", "healthy", "unhealthy", "none"]


class StateParams(ContainerProbeParams):
    """The docker.container target to read."""


class StateExpect(Expect):
    status: Status | None = None
    """The status every selected container must have, like running."""
    health: Health | None = None
    """The health every selected container must have; none = it has no healthcheck."""


def _health(info: dict[str, Any]) -> str:
    health = (info.get("State") or {}).get("Health") or {}
    return str(health.get("Status") or "none")


class StateProbe:
    """Reads each selected container's status and health. The value is
    ``{name: {"status": "running", "health": "healthy"}}``."""

    name: ClassVar[str] = "docker.state"
    params: ClassVar[type[Params]] = StateParams
    expect: ClassVar[type[Expect]] = StateExpect

    async def observe(self, ctx: ProbeContext) -> Observation:
        expect = ctx.expect
        assert isinstance(expect, StateExpect)

        async def read(engine: DockerEngine, infos: list[dict[str, Any]]) -> dict[str, Reading]:
            readings: dict[str, Reading] = {}
            for info in infos:
                status, health = state_of(info), _health(info)
                problems = []
                if expect.status is not None and status != expect.status:
                    problems.append(f"status {status}, expected {expect.status}")
                if expect.health is not None and health != expect.health:
                    problems.append(f"health {health}, expected {expect.health}")
                readings[container_name(info)] = (
                    {"status": status, "health": health},
                    ", ".join(problems) or None,
                )
            return readings

        return await observe_containers(ctx, self.name, read)

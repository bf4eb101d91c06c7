"""``docker.stop``: stop each container (SIGTERM, then SIGKILL after ``timeout``)."""

from __future__ import annotations

import math
from typing import Any

from chaoskit import (
    FaultContext,
    params_as,
)
from chaoskit_docker._base import (
    ContainerInjector,
)
from chaoskit_docker._client import DockerEngine
from chaoskit_docker._lifecycle import (
    GracefulParams,
    LifecycleEntry,
    ensure_running,
    warn_auto_remove,
)
from chaoskit_docker._select import Resolved, state_of

__all__ = ["Stop", "StopParams"]


class StopParams(GracefulParams):
    """``docker.stop`` takes the grace period before SIGKILL."""


class Stop(ContainerInjector[LifecycleEntry]):
    """Stops each container the way ``docker stop`` does; a restart policy does
    not bring a stopped container back. Revert starts it again if it was running."""

    name = "docker.stop"
    params = StopParams
    entry = LifecycleEntry
    gone_is_in_force = True

    async def usable(self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]) -> None:
        warn_auto_remove(ctx, info)

    async def record(
        self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]
    ) -> LifecycleEntry:
        return LifecycleEntry.of_info(info)

    async def apply(
        self, ctx: FaultContext, engine: DockerEngine, entry: LifecycleEntry, info: dict[str, Any]
    ) -> LifecycleEntry:
        if state_of(info) not in ("running", "paused", "restarting"):
            ctx.log.info("docker.stop_skipped", container=entry.name, status=state_of(info))
            return entry
        grace = math.ceil(params_as(ctx.params, StopParams).timeout)
        await engine.call(f"stop container {entry.name}", engine.api.stop, entry.id, timeout=grace)
        ctx.log.info("docker.container_stopped", container=entry.name)
        return entry

    async def restore(
        self, ctx: FaultContext, engine: DockerEngine, entry: LifecycleEntry, found: Resolved
    ) -> None:
        await ensure_running(ctx, engine, entry, found)

    async def check(
        self, ctx: FaultContext, engine: DockerEngine, entry: LifecycleEntry, info: dict[str, Any]
    ) -> str | None:
        status = state_of(info)
        return (
            f"is {status}, not stopped" if status in ("running", "paused", "restarting") else None
        )

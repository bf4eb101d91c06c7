"""``docker.restart``: restart each container (stop with a grace period, then start)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from chaoskit import (
    FaultContext,
    params_as,
)
from chaoskit_docker._base import (
    ContainerInjector,
)
from chaoskit_docker._client import DockerEngine
from chaoskit_docker._lifecycle import GracefulParams, LifecycleEntry, ensure_running
from chaoskit_docker._select import Resolved, state_of

__all__ = ["Restart", "RestartParams"]


class RestartParams(GracefulParams):
    start_on_revert: bool = Field(
        default=True,
        description="revert starts a container that was running and did not come back",
    )


class Restart(ContainerInjector[LifecycleEntry]):
    """Restarts each container like ``docker restart``. There is nothing to undo;
    revert only starts a container that did not come back (unless
    ``start_on_revert: false``)."""

    name = "docker.restart"
    params = RestartParams
    entry = LifecycleEntry

    async def record(
        self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]
    ) -> LifecycleEntry:
        return LifecycleEntry.of_info(info)

    async def apply(
        self, ctx: FaultContext, engine: DockerEngine, entry: LifecycleEntry, info: dict[str, Any]
    ) -> LifecycleEntry:
        if str((info.get("State") or {}).get("StartedAt") or "") != entry.started_at:
            ctx.log.info("docker.restart_skipped", container=entry.name, reason="restarted since")
            return entry
        grace = math.ceil(params_as(ctx.params, RestartParams).timeout)
        await engine.call(
            f"restart container {entry.name}", engine.api.restart, entry.id, timeout=grace
        )
        ctx.log.info("docker.container_restarted", container=entry.name)
        return entry

    async def restore(
        self, ctx: FaultContext, engine: DockerEngine, entry: LifecycleEntry, found: Resolved
    ) -> None:
        if params_as(ctx.params, RestartParams).start_on_revert:
            await ensure_running(ctx, engine, entry, found)

    async def check(
        self, ctx: FaultContext, engine: DockerEngine, entry: LifecycleEntry, info: dict[str, Any]
    ) -> str | None:
        started_at = str((info.get("State") or {}).get("StartedAt") or "")
        if started_at == entry.started_at:
            return "was not restarted (same start time)"
        return None if state_of(info) != "created" else "was not started again"

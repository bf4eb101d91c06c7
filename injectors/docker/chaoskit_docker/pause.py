"""``docker.pause``: freeze every process of each container (cgroup freezer)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chaoskit import FaultContext, InjectorError, Params
from chaoskit_docker._base import ContainerInjector
from chaoskit_docker._client import DockerEngine
from chaoskit_docker._lifecycle import wait_for
from chaoskit_docker._select import ContainerRef, Resolved, state_of

__all__ = ["Pause", "PauseEntry", "PauseParams"]


class PauseParams(Params):
    """``docker.pause`` takes no parameters."""


class PauseEntry(ContainerRef):
    """``paused``: whether it was paused before the fault (then revert leaves it paused)."""

    paused: bool = Field(default=False)


class Pause(ContainerInjector[PauseEntry]):
    """Pauses each container: its processes stop being scheduled, connections
    stay open but nothing answers. Revert unpauses it, if the fault paused it."""

    name = "docker.pause"
    params = PauseParams
    entry = PauseEntry

    async def record(
        self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]
    ) -> PauseEntry:
        return PauseEntry.of(info, paused=state_of(info) == "paused")

    async def apply(
        self, ctx: FaultContext, engine: DockerEngine, entry: PauseEntry, info: dict[str, Any]
    ) -> PauseEntry:
        if state_of(info) == "paused":
            ctx.log.info("docker.pause_skipped", container=entry.name, reason="already paused")
            return entry
        await engine.call(f"pause container {entry.name}", engine.api.pause, entry.id)
        # The engine marks it paused when containerd reports it, a moment after
        # answering: wait, so that a revert right after sees it paused.
        await wait_for(engine, entry.id, lambda i: state_of(i) == "paused", within=2.0)
        ctx.log.info("docker.container_paused", container=entry.name)
        return entry

    async def restore(
        self, ctx: FaultContext, engine: DockerEngine, entry: PauseEntry, found: Resolved
    ) -> None:
        if found.info is None or found.recreated or entry.paused:
            return  # a new container was never paused by this fault
        if state_of(found.info) != "paused":
            return
        await engine.call(f"unpause container {entry.name}", engine.api.unpause, entry.id)
        ctx.log.info("docker.container_unpaused", container=entry.name)
        info = await wait_for(engine, entry.id, lambda i: state_of(i) != "paused", within=2.0)
        if info is not None and state_of(info) == "paused":
            raise InjectorError(f"container {entry.short} is still paused after unpausing it")

    async def check(
        self, ctx: FaultContext, engine: DockerEngine, entry: PauseEntry, info: dict[str, Any]
    ) -> str | None:
        status = state_of(info)
        return None if status == "paused" else f"is {status}, not paused"

"""What memory and CPU pressure share: a hog per container, found by marker."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from chaoskit import (
    FaultContext,
    InjectorError,
    params_as,
)
from chaoskit_docker._base import (
    ContainerInjector,
)
from chaoskit_docker._client import DockerEngine
from chaoskit_docker._hog import (
    HogParams,
    hog_marker,
    missing_tools,
    shown_in_top,
    start_hog,
    stop_hog,
    top,
)
from chaoskit_docker._select import ContainerRef, Resolved, container_name, state_of

__all__ = ["HogEntry", "PressureInjector"]

_KILLER_TOOLS = ["tr", "grep", "kill", "sleep"]


class HogEntry(ContainerRef):
    """``marker``: the value of CHAOSKIT_HOG in every process of the hog."""

    marker: str


class PressureInjector(ContainerInjector[HogEntry]):
    """Runs a hog in each container. Subclasses set ``kind``, ``script``,
    ``tools`` and :meth:`arguments`."""

    entry = HogEntry
    kind: ClassVar[str]
    script: ClassVar[str]
    tools: ClassVar[list[str]]

    def arguments(self, params: HogParams) -> list[str]:
        """The script's arguments before the cap in seconds."""
        raise NotImplementedError

    async def usable(self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]) -> None:
        name = container_name(info)
        missing = await missing_tools(engine, str(info["Id"]), name, self.tools + _KILLER_TOOLS)
        if missing:
            raise InjectorError(
                f"container {name} lacks {', '.join(missing)}, which {self.name} needs "
                "inside the container"
            )

    def creates(self, ctx: FaultContext) -> tuple[str, ...]:
        params = params_as(ctx.params, HogParams)
        marker = hog_marker(ctx.tag, self.kind)
        return (
            f"a {self.kind} hog in each selected container (docker exec sh, its processes "
            f"marked CHAOSKIT_HOG={marker}): revert ends them all; each ends itself after "
            f"max_duration ({math.ceil(params.max_duration)}s) even if never reverted",
        )

    async def record(
        self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]
    ) -> HogEntry:
        return HogEntry.of(info, marker=hog_marker(ctx.tag, self.kind))

    async def apply(
        self, ctx: FaultContext, engine: DockerEngine, entry: HogEntry, info: dict[str, Any]
    ) -> HogEntry:
        if state_of(info) != "running":
            raise InjectorError(f"container {entry.short} is {state_of(info)}, not running")
        if shown_in_top(await top(engine, entry.id, entry.name), entry.marker):
            # An earlier attempt of this inject started it (the marker is the fault's).
            ctx.log.info("docker.hog_already_running", container=entry.name, marker=entry.marker)
            return entry
        params = params_as(ctx.params, HogParams)
        args = [*self.arguments(params), str(math.ceil(params.max_duration))]
        await start_hog(engine, entry.id, entry.name, entry.marker, self.script, args)
        ctx.log.info("docker.hog_started", container=entry.name, marker=entry.marker, args=args)
        return entry

    async def restore(
        self, ctx: FaultContext, engine: DockerEngine, entry: HogEntry, found: Resolved
    ) -> None:
        if found.info is None:
            return  # its processes went with it
        status = state_of(found.info)
        if status == "paused":
            raise InjectorError(
                f"container {entry.short} is paused: its hog {entry.marker} cannot be stopped "
                "until it is unpaused (the hog also stops itself after max_duration)"
            )
        if status != "running":
            return  # a stopped container runs no hog
        await stop_hog(engine, str(found.info["Id"]), entry.name, entry.marker)
        ctx.log.info("docker.hog_stopped", container=entry.name, marker=entry.marker)

    async def check(
        self, ctx: FaultContext, engine: DockerEngine, entry: HogEntry, info: dict[str, Any]
    ) -> str | None:
        listed = await top(engine, entry.id, entry.name)
        return None if shown_in_top(listed, entry.marker) else f"runs no hog {entry.marker}"

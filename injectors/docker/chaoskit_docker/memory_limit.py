"""``docker.memory_limit``: lower each container's memory limit (``docker update
--memory --memory-swap``), and put back exactly what ``HostConfig`` said before.

The engine's update API reads 0 as "leave unchanged" and never writes a swap
limit of -1 to the cgroup, so a limit cannot be *removed* through it. Revert
therefore writes the kernel's own "no limit" value (:data:`NO_LIMIT`, what an
unlimited cgroup v1 reads back) where the original was 0, and sets a swap of
-1 in two steps (the cgroup first, then ``HostConfig``). The container then
behaves exactly as before; ``HostConfig.Memory`` reads NO_LIMIT instead of 0.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from chaoskit import (
    FaultContext,
    InjectorError,
    Params,
    params_as,
)
from chaoskit_docker._base import (
    ByteSize,
    ContainerInjector,
    format_bytes,
    report_foreign,
)
from chaoskit_docker._client import DockerEngine
from chaoskit_docker._select import ContainerRef, Resolved

__all__ = ["NO_LIMIT", "MemoryLimit", "MemoryLimitEntry", "MemoryLimitParams"]

NO_LIMIT = 9223372036854771712
"""An unlimited cgroup v1 memory limit, as the kernel reads it back (LONG_MAX, page aligned)."""
MIN_MEMORY = 6 << 20
"""The engine refuses memory limits below 6 MiB."""
UPDATE = "/containers/{0}/update"


class MemoryLimitParams(Params):
    memory: ByteSize = Field(description="the memory limit, like 64m (at least 6m)")
    memory_swap: ByteSize | Literal["unlimited"] | None = Field(
        default=None,
        description="memory plus swap, like 128m, or unlimited; default: equal to memory (no swap)",
    )

    @field_validator("memory")
    @classmethod
    def _engine_minimum(cls, value: int) -> int:
        if value < MIN_MEMORY:
            raise ValueError("at least 6m: the engine refuses smaller memory limits")
        return value

    @model_validator(mode="after")
    def _swap_covers_memory(self) -> Self:
        if isinstance(self.memory_swap, int) and self.memory_swap < self.memory:
            raise ValueError("memory_swap counts memory plus swap: it cannot be below memory")
        return self

    @property
    def swap_value(self) -> int:
        """``HostConfig.MemorySwap`` as the fault sets it."""
        if self.memory_swap is None:
            return self.memory
        return -1 if self.memory_swap == "unlimited" else self.memory_swap


class MemoryLimitEntry(ContainerRef):
    """``memory``/``memory_swap``: HostConfig.Memory and MemorySwap before the
    fault (0: no limit / unset; -1: unlimited swap). ``set_memory`` and
    ``set_memory_swap``: what the fault sets."""

    memory: int
    memory_swap: int
    set_memory: int
    set_memory_swap: int


def _limits(info: dict[str, Any]) -> tuple[int, int]:
    host_config = info.get("HostConfig") or {}
    return int(host_config.get("Memory") or 0), int(host_config.get("MemorySwap") or 0)


def _same(current: int, wanted: int) -> bool:
    return current == wanted or (wanted == 0 and current == NO_LIMIT)


def _is(current: tuple[int, int], memory: int, swap: int) -> bool:
    return _same(current[0], memory) and _same(current[1], swap)


def _updates(memory: int, swap: int) -> list[dict[str, int]]:
    """The update calls that leave HostConfig (and the cgroup) at these values."""
    first = {
        "Memory": memory if memory > 0 else NO_LIMIT,
        "MemorySwap": swap if swap > 0 else NO_LIMIT,
    }
    return [first, {"MemorySwap": -1}] if swap == -1 else [first]


def _show(memory: int, swap: int) -> str:
    def one(value: int) -> str:
        if value in (0, NO_LIMIT):
            return "none" if value == 0 else "unlimited"
        return "unlimited" if value == -1 else format_bytes(value)

    return f"memory={one(memory)} memory_swap={one(swap)}"


class MemoryLimit(ContainerInjector[MemoryLimitEntry]):
    """Sets each container's memory (and memory+swap) limit. Inject refuses a
    container whose limits changed since prepare; revert restores the journaled
    originals, also on a container recreated with the same name or Compose
    identity if it carries the fault's limit, and reports one that carries some
    other limit instead of overwriting it."""

    name = "docker.memory_limit"
    params = MemoryLimitParams
    entry = MemoryLimitEntry
    states = None

    async def record(
        self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]
    ) -> MemoryLimitEntry:
        params = params_as(ctx.params, MemoryLimitParams)
        memory, swap = _limits(info)
        return MemoryLimitEntry.of(
            info,
            memory=memory,
            memory_swap=swap,
            set_memory=params.memory,
            set_memory_swap=params.swap_value,
        )

    async def apply(
        self,
        ctx: FaultContext,
        engine: DockerEngine,
        entry: MemoryLimitEntry,
        info: dict[str, Any],
    ) -> MemoryLimitEntry:
        current = _limits(info)
        if current[0] == entry.set_memory:
            ctx.log.info("docker.memory_limit_already_set", container=entry.name)
            return entry
        if not _is(current, entry.memory, entry.memory_swap):
            raise InjectorError(
                f"the memory limits of container {entry.short} changed since the fault was "
                f"prepared (now {_show(*current)}, journaled "
                f"{_show(entry.memory, entry.memory_swap)}); refusing to overwrite them"
            )
        after = await _write(engine, entry, entry.set_memory, entry.set_memory_swap)
        if after[0] != entry.set_memory:
            raise InjectorError(
                f"container {entry.short} reads back {_show(*after)} after setting "
                f"{_show(entry.set_memory, entry.set_memory_swap)}"
            )
        if after[1] != entry.set_memory_swap:
            # An engine without swap accounting keeps -1 whatever it is told.
            ctx.log.warning(
                "docker.memory_swap_not_applied", container=entry.name, memory_swap=after[1]
            )
        ctx.log.info(
            "docker.memory_limit_set",
            container=entry.name,
            limits=_show(*after),
            before=_show(entry.memory, entry.memory_swap),
        )
        return entry.model_copy(update={"set_memory_swap": after[1]})

    async def restore(
        self, ctx: FaultContext, engine: DockerEngine, entry: MemoryLimitEntry, found: Resolved
    ) -> None:
        if found.info is None:
            ctx.log.warning("docker.container_gone", container=entry.short, restored="nothing")
            return
        current = _limits(found.info)
        if _is(current, entry.memory, entry.memory_swap):
            return
        which = (
            f"container {entry.name} (recreated as {str(found.info['Id'])[:12]})"
            if found.recreated
            else f"container {entry.short}"
        )
        if current[0] != entry.set_memory and not _same(current[0], entry.memory):
            report_foreign(
                ctx,
                found,
                f"{which} has {_show(*current)}: neither its limits before the fault "
                f"({_show(entry.memory, entry.memory_swap)}) nor the fault's "
                f"({_show(entry.set_memory, entry.set_memory_swap)}); left as they are, "
                "someone else set them",
            )
            return
        after = await _write(engine, entry, entry.memory, entry.memory_swap, str(found.info["Id"]))
        if not _is(after, entry.memory, entry.memory_swap):
            raise InjectorError(
                f"{which} reads back {_show(*after)} after restoring "
                f"{_show(entry.memory, entry.memory_swap)}"
            )
        ctx.log.info("docker.memory_limit_restored", container=entry.name, limits=_show(*after))

    async def check(
        self,
        ctx: FaultContext,
        engine: DockerEngine,
        entry: MemoryLimitEntry,
        info: dict[str, Any],
    ) -> str | None:
        current = _limits(info)
        if current == (entry.set_memory, entry.set_memory_swap):
            return None
        return f"has {_show(*current)}, not {_show(entry.set_memory, entry.set_memory_swap)}"


async def _write(
    engine: DockerEngine,
    entry: MemoryLimitEntry,
    memory: int,
    swap: int,
    container_id: str | None = None,
) -> tuple[int, int]:
    """Set the limits and read them back."""
    container_id = container_id or entry.id
    for body in _updates(memory, swap):
        await engine.post_json(
            f"set the memory limits of container {entry.name} to {_show(memory, swap)}",
            UPDATE,
            container_id,
            body,
        )
    return _limits(await engine.inspect_container(container_id))

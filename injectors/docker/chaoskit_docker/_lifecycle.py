"""What kill, stop and restart share: the journal entry of a running container
and "start it again if nothing brought it back" on revert."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from pydantic import Field

from chaoskit import Duration, FaultContext, InjectorError, Params
from chaoskit_docker._client import DockerEngine
from chaoskit_docker._select import ContainerRef, Resolved, state_of

__all__ = [
    "GracefulParams",
    "LifecycleEntry",
    "ensure_running",
    "wait_for",
    "warn_auto_remove",
]

ALIVE = frozenset({"running", "restarting", "paused"})
"""States in which nothing is to be started: running, or in the hands of a
restart policy, or paused by someone else."""

MAX_GRACE = 40.0


class LifecycleEntry(ContainerRef):
    """``running``: whether it was running before the fault; ``started_at`` and
    ``pid``: its process then, to tell a restarted container from the same one."""

    running: bool
    started_at: str
    pid: int

    @classmethod
    def of_info(cls, info: dict[str, Any]) -> LifecycleEntry:
        state = info.get("State") or {}
        return cls.of(
            info,
            running=state_of(info) == "running",
            started_at=str(state.get("StartedAt") or ""),
            pid=int(state.get("Pid") or 0),
        )


class GracefulParams(Params):
    timeout: Duration = Field(
        default=10.0,
        le=MAX_GRACE,
        description="grace period between SIGTERM and SIGKILL (at most 40s)",
    )


async def wait_for(
    engine: DockerEngine,
    container_id: str,
    done: Callable[[dict[str, Any]], bool],
    *,
    within: float = 5.0,
    every: float = 0.05,
) -> dict[str, Any] | None:
    """Re-inspect the container until ``done(info)`` holds (bounded in time);
    the last inspect document, or None when the container disappeared."""
    info = await engine.find_container(container_id)
    with anyio.move_on_after(within):
        while info is not None and not done(info):
            await anyio.sleep(every)
            info = await engine.find_container(container_id)
    return info


def warn_auto_remove(ctx: FaultContext, info: dict[str, Any]) -> None:
    """A ``--rm`` container removes itself when it stops: revert cannot start it."""
    if (info.get("HostConfig") or {}).get("AutoRemove"):
        ctx.log.warning(
            "docker.auto_remove",
            container=str(info.get("Name", "")).lstrip("/"),
            detail="the container is removed when it stops (--rm); revert cannot start it again",
        )


async def ensure_running(
    ctx: FaultContext, engine: DockerEngine, entry: LifecycleEntry, found: Resolved
) -> None:
    """Start the container (or its successor) if it was running before the
    fault and nothing brought it back since."""
    if not entry.running:
        return
    if found.info is None:
        raise InjectorError(
            f"container {entry.short} was running before the fault and is gone now "
            "(removed, and no container with its name or Compose identity replaced it); "
            "re-create it by hand"
        )
    info = found.info
    if state_of(info) in ALIVE:
        return
    container_id = str(info["Id"])
    await engine.call(f"start container {entry.name}", engine.api.start, container_id)
    ctx.log.info("docker.container_started", container=entry.name, id=container_id[:12])
    after = await wait_for(engine, container_id, lambda i: state_of(i) in ALIVE, within=2.0)
    if after is None or state_of(after) not in ALIVE:
        status = "gone" if after is None else state_of(after)
        code = "" if after is None else f" (exit code {after['State'].get('ExitCode')})"
        raise InjectorError(
            f"container {entry.short} was started again but is {status}{code}; "
            "see docker logs " + entry.name
        )

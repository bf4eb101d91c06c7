"""``docker.kill``: send a signal to each container's main process (``docker kill -s``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from chaoskit import (
    FaultContext,
    Params,
    params_as,
)
from chaoskit_docker._base import (
    ContainerInjector,
)
from chaoskit_docker._client import DockerEngine
from chaoskit_docker._lifecycle import LifecycleEntry, ensure_running, wait_for, warn_auto_remove
from chaoskit_docker._select import Resolved, state_of

__all__ = ["Kill", "KillEntry", "KillParams"]

_SIGNALS = frozenset(
    {
        "HUP",
        "INT",
        "QUIT",
        "ILL",
        "TRAP",
        "ABRT",
        "BUS",
        "FPE",
        "KILL",
        "USR1",
        "SEGV",
        "USR2",
        "PIPE",
        "ALRM",
        "TERM",
        "STKFLT",
        "CHLD",
        "CONT",
        "STOP",
        "TSTP",
        "TTIN",
        "TTOU",
        "URG",
        "XCPU",
        "XFSZ",
        "VTALRM",
        "PROF",
        "WINCH",
        "IO",
        "PWR",
        "SYS",
    }
)
_STOPPING = frozenset({"SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU"})


def _signal_name(value: object) -> str:
    """``KILL``, ``SIGKILL``, ``9`` or 9 → the form docker takes (``SIGKILL``, ``9``)."""
    if isinstance(value, bool):
        raise ValueError("expected a signal like KILL, SIGTERM or 9")
    text = str(value).strip().upper()
    if text.isdigit():
        if not 1 <= int(text) <= 64:
            raise ValueError("signal numbers go from 1 to 64")
        return text
    name = text.removeprefix("SIG")
    if name not in _SIGNALS:
        raise ValueError(f"unknown signal {value!r}; expected one of {', '.join(sorted(_SIGNALS))}")
    return "SIG" + name


class KillParams(Params):
    signal: str = Field(default="SIGKILL", description="the signal: KILL, TERM, HUP, 9 …")
    expect_exit: bool | None = Field(
        default=None,
        description="verify that the main process ended (default: only for KILL)",
    )
    start_on_revert: bool = Field(
        default=True,
        description="revert starts a container that was running and is still down "
        "(no restart policy brought it back)",
    )

    @field_validator("signal", mode="before")
    @classmethod
    def _known_signal(cls, value: object) -> str:
        return _signal_name(value)

    @property
    def exits(self) -> bool:
        if self.expect_exit is not None:
            return self.expect_exit
        return self.signal in ("SIGKILL", "9")


class KillEntry(LifecycleEntry):
    """Also the ``signal`` sent, so that revert can resume a stopped process."""

    signal: str


class Kill(ContainerInjector[KillEntry]):
    """Sends ``signal`` to the main process of each container. Revert starts a
    container that was running before and is down now (unless
    ``start_on_revert: false``), and resumes (SIGCONT) one that a stop signal
    (STOP, TSTP, TTIN, TTOU) froze."""

    name = "docker.kill"
    params = KillParams
    entry = KillEntry
    gone_is_in_force = True

    async def usable(self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]) -> None:
        warn_auto_remove(ctx, info)

    async def record(
        self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]
    ) -> KillEntry:
        params = params_as(ctx.params, KillParams)
        return KillEntry(**LifecycleEntry.of_info(info).model_dump(), signal=params.signal)

    async def apply(
        self, ctx: FaultContext, engine: DockerEngine, entry: KillEntry, info: dict[str, Any]
    ) -> KillEntry:
        if state_of(info) != "running":
            ctx.log.info("docker.kill_skipped", container=entry.name, status=state_of(info))
            return entry
        await engine.call(
            f"kill container {entry.name} with {entry.signal}",
            engine.api.kill,
            entry.id,
            signal=entry.signal,
        )
        ctx.log.info("docker.container_killed", container=entry.name, signal=entry.signal)
        return entry

    async def restore(
        self, ctx: FaultContext, engine: DockerEngine, entry: KillEntry, found: Resolved
    ) -> None:
        params = params_as(ctx.params, KillParams)
        same = found.info if not found.recreated else None
        if entry.signal in _STOPPING and same is not None and state_of(same) == "running":
            await engine.call(
                f"resume container {entry.name}", engine.api.kill, entry.id, signal="SIGCONT"
            )
        if params.start_on_revert:
            await ensure_running(ctx, engine, entry, found)

    async def check(
        self, ctx: FaultContext, engine: DockerEngine, entry: KillEntry, info: dict[str, Any]
    ) -> str | None:
        if not params_as(ctx.params, KillParams).exits:
            return None
        latest = await wait_for(engine, entry.id, lambda i: _ended(entry, i))
        if latest is None or _ended(entry, latest):
            return None
        return f"is still running the same process after {entry.signal}"


def _ended(entry: KillEntry, info: dict[str, Any]) -> bool:
    """The process that was running before the kill is gone: the container
    stopped, or a restart policy started a new process."""
    state = info.get("State") or {}
    return (
        state_of(info) != "running"
        or str(state.get("StartedAt") or "") != entry.started_at
        or int(state.get("Pid") or 0) != entry.pid
    )

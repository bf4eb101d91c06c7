"""``process.stop``: freeze the target's processes with SIGSTOP; revert sends
SIGCONT — only to the same processes (pid and start time), and only to those
that were not already stopped before the fault.

A stopped process keeps its sockets open but answers nothing: clients see
timeouts, not refusals, which is what a hung service or a long GC pause looks
like from outside.
"""

from __future__ import annotations

import signal
from typing import ClassVar

import psutil
from pydantic import BaseModel, ConfigDict

from chaoskit import (
    FaultContext,
    FaultNotInForce,
    Footprint,
    InjectorError,
    JsonValue,
    Params,
    RevertState,
    params_as,
)
from chaoskit_process._base import (
    TARGET_KIND,
    blocking,
    identify,
    poll,
    select,
)

__all__ = ["Stop", "StopParams", "StopState", "StoppedProcess"]

_SETTLE = 1.0
"""Seconds allowed for the kernel to show the new state after a signal."""
_STOPPED = (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)


class StopParams(Params):
    """SIGSTOP the target's processes; SIGCONT on revert. No parameters."""


class StoppedProcess(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int
    create_time: float
    cmdline: list[str]
    was_stopped: bool
    """already stopped before the fault: revert leaves it stopped"""


class StopState(RevertState):
    """The revert state, as JSON::

    {"processes": [{"pid": 4242, "create_time": 1718000000.1,
                    "cmdline": ["ledger"], "was_stopped": false}]}
    """

    processes: list[StoppedProcess]


def _status(pid: int, create_time: float) -> str | None:
    process = identify(pid, create_time)
    try:
        return None if process is None else process.status()
    except psutil.NoSuchProcess:
        return None


def _prior(chosen: list[tuple[int, float, list[str]]]) -> list[StoppedProcess]:
    records = []
    for pid, create_time, cmdline in chosen:
        status = _status(pid, create_time)
        if status is None:
            continue
        records.append(
            StoppedProcess(
                pid=pid, create_time=create_time, cmdline=cmdline, was_stopped=status in _STOPPED
            )
        )
    return records


def _send(state: StopState, signum: int) -> list[int]:
    """Send ``signum`` to the recorded processes that are still the same and were
    not stopped before the fault. SIGCONT goes to them whatever their state now: a
    SIGSTOP sent a moment ago may still be pending, and a SIGCONT discards it."""
    sent = []
    for record in state.processes:
        if record.was_stopped:
            continue
        process = identify(record.pid, record.create_time)
        if process is None:
            continue
        try:
            process.send_signal(signum)
        except psutil.NoSuchProcess:
            continue
        sent.append(record.pid)
    return sent


def _not_stopped(state: StopState) -> list[int]:
    return [
        r.pid
        for r in state.processes
        if (status := _status(r.pid, r.create_time)) is not None and status not in _STOPPED
    ]


def _alive(state: StopState) -> list[int]:
    return [
        r.pid
        for r in state.processes
        if _status(r.pid, r.create_time) not in (None, psutil.STATUS_ZOMBIE)
    ]


def _still_stopped(state: StopState) -> list[int]:
    return [
        r.pid
        for r in state.processes
        if not r.was_stopped and _status(r.pid, r.create_time) in _STOPPED
    ]


class Stop:
    """SIGSTOP now, SIGCONT on revert."""

    name: ClassVar[str] = "process.stop"
    params: ClassVar[type[Params]] = StopParams
    target_kinds: ClassVar[tuple[str, ...]] = (TARGET_KIND,)

    def footprint(self, ctx: FaultContext) -> Footprint:
        """For ``--dry-run``."""
        return Footprint(
            changes=(
                "sends SIGSTOP to the target's processes; revert sends SIGCONT (processes that "
                "were stopped before the fault stay stopped)",
            )
        )

    async def preflight(self, ctx: FaultContext) -> None:
        params_as(ctx.params, StopParams)
        await select(ctx)

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        chosen = [(f.pid, f.create_time, f.cmdline) for f in await select(ctx)]
        records = await blocking(_prior, chosen, what="reading the processes' state")
        return StopState(processes=records).to_json()

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        state = StopState.parse(revert_state)
        stopped = await blocking(_send, state, signal.SIGSTOP, what="sending SIGSTOP", changes=True)
        if not stopped and not any(r.was_stopped for r in state.processes):
            raise InjectorError(
                f"none of the selected processes {[r.pid for r in state.processes]} is "
                "running any more; nothing was stopped"
            )
        # SIGSTOP is delivered when the process is next scheduled, not by kill(2): return
        # once the stop shows in /proc (verify says so if it never does).
        await poll(_not_stopped, state, within=_SETTLE, what="checking SIGSTOP")
        ctx.log.info("process.stopped", pids=stopped)
        return state.to_json()

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = StopState.parse(revert_state)
        continued = await blocking(
            _send, state, signal.SIGCONT, what="sending SIGCONT", changes=True
        )
        if continued:
            ctx.log.info("process.continued", pids=continued)
        left = await poll(_still_stopped, state, within=_SETTLE, what="checking SIGCONT")
        if left:
            raise InjectorError(f"processes {left} are still stopped after SIGCONT")

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = StopState.parse(revert_state)
        running = await poll(_not_stopped, state, within=_SETTLE, what="checking SIGSTOP")
        if running:
            raise FaultNotInForce(f"processes {running} are not stopped")
        if not await blocking(_alive, state, what="checking the stopped processes"):
            raise FaultNotInForce(
                f"none of the processes {[r.pid for r in state.processes]} is alive any more"
            )

"""``process.kill``: send a signal (SIGKILL by default) to the target's processes.

A kill cannot be undone. Without ``restart`` revert changes nothing: bringing the
service back is its supervisor's job, and how long that takes is what the
experiment measures. With ``restart``:

* ``restart.after`` set: inject also starts a detached helper that runs the
  restart command that long after the kill (a self-healing supervisor). Revert
  kills the helper if it has not fired yet.
* either way, revert runs the restart command if the service is not back — fewer
  processes than before the kill match the selector, the ones inject signalled
  left out — and no restart of this fault is already under way. A fault that was
  never injected (the run aborted after prepare) signalled nothing: its processes
  still count, so its revert starts no second copy of the service.
"""

from __future__ import annotations

import signal as signals
import time
from typing import Annotated, ClassVar

import psutil
from pydantic import BeforeValidator, Field, WithJsonSchema

from chaoskit import (
    Duration,
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
    ProcessRecord,
    blocking,
    identify,
    poll,
    process_target,
    select,
    select_counted,
)
from chaoskit_process._helpers import Helper, end_helpers
from chaoskit_process._restart import (
    RestartSpec,
    check_exit,
    launch,
    restart_under_way,
    wait_launched,
)
from chaoskit_process._select import find

__all__ = ["Kill", "KillParams", "KillState", "signal_number"]

_MAX_EXIT_WAIT = 10.0
_RESTART_LAUNCH_WAIT = 5.0


def signal_number(value: object) -> int:
    """A signal from ``SIGKILL``, ``KILL``, ``kill`` or its number."""
    if isinstance(value, bool):
        raise ValueError("expected a signal name like SIGTERM or a number like 15")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    elif isinstance(value, str):
        name = value.strip().upper()
        name = name if name.startswith("SIG") else f"SIG{name}"
        try:
            number = int(signals.Signals[name])
        except KeyError:
            raise ValueError(f"unknown signal {value!r}; expected a name like SIGTERM") from None
    else:
        raise ValueError("expected a signal name like SIGTERM or a number like 15")
    if not 1 <= number < signals.NSIG:
        raise ValueError(f"signal {number} is out of range 1..{signals.NSIG - 1}")
    return number


def signal_name(number: int) -> str:
    try:
        return signals.Signals(number).name
    except ValueError:
        return str(number)


SignalNumber = Annotated[
    int,
    BeforeValidator(signal_number),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "integer", "minimum": 1}],
            "examples": ["SIGTERM", 9],
        }
    ),
]


class KillParams(Params):
    """Send a signal to the target's processes; optionally restart the service."""

    signal: SignalNumber = Field(
        default="SIGKILL",
        validate_default=True,
        description="the signal: a name (SIGTERM, TERM) or a number",
    )
    exit_within: Duration | None = Field(
        default=5.0,
        le=_MAX_EXIT_WAIT,
        description=(
            "verify waits this long for the processes to exit; null for a signal that "
            "is not meant to end them (SIGHUP to reload)"
        ),
    )
    restart: RestartSpec | None = Field(
        default=None, description="how to start the service again (see the injector)"
    )


class KillState(RevertState):
    """The revert state, as JSON::

        {"signal": 9, "since": 1718000000.5, "matched": 1,
         "processes": [{"pid": 4242, "create_time": 1718000000.1, "cmdline": ["ledger"]}],
         "signalled": [4242],
         "restarter": {"pid": 4300, "create_time": 1718000001.2}}

    ``processes`` are the processes to signal (pid plus start time, so a recycled
    pid is never touched); ``signalled`` the pids of those inject delivered the
    signal to (null in the intent: nothing is known to be signalled yet);
    ``since`` is when they were selected (wall clock, to compare with process
    start times); ``matched`` is how many processes the selector matched then,
    before ``pick`` (the service is back when as many match again);
    ``restarter`` is the delayed-restart helper inject started, if any.
    """

    signal: int
    since: float
    matched: int
    processes: list[ProcessRecord]
    signalled: list[int] | None = None
    restarter: Helper | None = None


def _deliver(state: KillState) -> list[int]:
    delivered = []
    for record in state.processes:
        process = identify(record.pid, record.create_time)
        if process is None:
            continue
        try:
            process.send_signal(state.signal)
        except psutil.NoSuchProcess:
            continue
        delivered.append(record.pid)
    return delivered


def _survivors(state: KillState) -> list[int]:
    alive = []
    for record in state.processes:
        process = identify(record.pid, record.create_time)
        try:
            if process is not None and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(record.pid)
        except psutil.NoSuchProcess:
            continue
    return alive


class Kill:
    """Signals the target's processes; see the module for restarts."""

    name: ClassVar[str] = "process.kill"
    params: ClassVar[type[Params]] = KillParams
    target_kinds: ClassVar[tuple[str, ...]] = (TARGET_KIND,)

    def footprint(self, ctx: FaultContext) -> Footprint:
        """For ``--dry-run``: the signal by name, and the restart helper."""
        params = params_as(ctx.params, KillParams)
        signal_name = signals.Signals(params.signal).name
        restart = params.restart
        if restart is None:
            return Footprint(
                changes=(
                    f"sends {signal_name} to the target's processes; revert changes nothing "
                    "(bringing the service back is its supervisor's job)",
                ),
                params={"signal": signal_name},
            )
        creates = [
            "the service's new process when revert finds it not back (the restart command): "
            "it is the service, and is left running"
        ]
        if restart.after is not None:
            creates.insert(
                0,
                f"a detached helper that runs the restart command {restart.after:g}s after the "
                "kill: revert kills it if it has not fired yet",
            )
        return Footprint(
            changes=(
                f"sends {signal_name} to the target's processes; revert runs the restart command "
                "if the service is not back (and no restart of this fault is under way)",
            ),
            creates=tuple(creates),
            params={"signal": signal_name},
        )

    async def preflight(self, ctx: FaultContext) -> None:
        params = params_as(ctx.params, KillParams)
        target = process_target(ctx)
        await select(ctx)
        if params.restart is not None:
            if target.pid is not None:
                raise InjectorError(
                    "process.kill with restart needs a selector that can find the restarted "
                    "process (name, cmdline, port or pid_file), not pid"
                )
            problem = await blocking(params.restart.problem, what="checking the restart command")
            if problem:
                raise InjectorError(problem)

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        params = params_as(ctx.params, KillParams)
        chosen, matched = await select_counted(ctx)
        return KillState(
            signal=params.signal,
            since=time.time(),
            matched=matched,
            processes=[ProcessRecord.of(found) for found in chosen],
        ).to_json()

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        state = KillState.parse(revert_state)
        params = params_as(ctx.params, KillParams)
        delivered = await blocking(
            _deliver, state, what=f"sending {signal_name(state.signal)}", changes=True
        )
        if not delivered:
            raise InjectorError(
                f"none of the selected processes {[r.pid for r in state.processes]} is "
                "running any more; nothing was signalled"
            )
        ctx.log.info("process.signalled", signal=signal_name(state.signal), pids=delivered)
        state = state.model_copy(update={"signalled": delivered})
        if params.restart is not None and params.restart.after is not None:
            restarter = await blocking(
                launch,
                params.restart,
                ctx.tag,
                params.restart.after,
                what="starting the restart helper",
                changes=True,
            )
            ctx.log.info(
                "process.restart_scheduled", after=params.restart.after, helper=restarter.pid
            )
            state = state.model_copy(update={"restarter": restarter})
        return state.to_json()

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = KillState.parse(revert_state)
        params = params_as(ctx.params, KillParams)
        recorded = [state.restarter] if state.restarter is not None else []
        cancelled = await blocking(
            end_helpers, ctx.tag, recorded, "restart", what="ending restart helpers", changes=True
        )
        if cancelled:
            ctx.log.info("process.restart_cancelled", helpers=cancelled)
        if params.restart is None:
            return
        back = await blocking(self._back, ctx, state, what="looking for the restarted service")
        if back:
            ctx.log.info("process.back", pids=back)
            return
        helper = await blocking(
            launch, params.restart, ctx.tag, 0.0, what="starting the restart", changes=True
        )
        code = await blocking(
            wait_launched,
            helper,
            _RESTART_LAUNCH_WAIT,
            what="starting the restart",
            timeout=_RESTART_LAUNCH_WAIT + 1,
        )
        check_exit(code, params.restart)
        ctx.log.info("process.restarted", command=params.restart.argv())

    def _back(self, ctx: FaultContext, state: KillState) -> list[int]:
        """Processes that show the service is back — as many processes as before
        the kill match again, the ones signalled left out (they may still be
        exiting) — or coming back (a restart of this fault is running). Empty when
        neither (blocking). With the intent's state (``signalled`` null) the
        recorded processes that still run count: inject may never have run, and
        a process that died of the signal is not found anyway."""
        signalled = set(state.signalled or [])
        killed = {(r.pid, r.create_time) for r in state.processes if r.pid in signalled}
        matched = [
            found.pid
            for found in find(process_target(ctx))
            if (found.pid, found.create_time) not in killed
        ]
        if len(matched) >= state.matched:
            return matched
        return restart_under_way(ctx.tag, state.since)

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = KillState.parse(revert_state)
        params = params_as(ctx.params, KillParams)
        if params.exit_within is None:
            return
        alive = await poll(
            _survivors, state, within=params.exit_within, what="checking the signalled processes"
        )
        if alive:
            raise FaultNotInForce(
                f"processes {alive} are still running {params.exit_within:g}s after "
                f"{signal_name(state.signal)}"
            )

"""Applying and reverting faults: write-ahead journal, verify, retried reverts.

Every fault whose intent reached the journal stays *outstanding* until its
revert succeeds; ``revert_all`` reverts whatever is outstanding, newest first.
When a fault starts and ends is the run's controller's to say
(``RunControl``: on schedule unless it holds, starts, extends, ends or skips).
What happened to each fault is told as events; ``FaultRecords`` builds the
results' view of them from those events.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

import anyio
from structlog.typing import FilteringBoundLogger

from chaoskit._control import RunControl
from chaoskit._errors import (
    CallTimedOut,
    FaultNotInForce,
    InjectorError,
    RevertFailed,
    still_applied,
)
from chaoskit._events import (
    Event,
    FaultInjected,
    FaultInjectFailed,
    FaultIntent,
    FaultRevertAttemptFailed,
    FaultReverted,
    FaultRevertFailed,
    FaultStarted,
    FaultVerified,
    as_json,
)
from chaoskit._events import (
    FaultNotInForce as NotInForce,
)
from chaoskit._model import Experiment, FaultSpec
from chaoskit._plugin_api import FaultContext, Injector, JsonValue, Provisioning, Verifiable
from chaoskit._registry import Registry
from chaoskit._results import FaultRecord
from chaoskit._stream import EventStream

__all__ = [
    "FaultManager",
    "FaultRecords",
    "RetryPolicy",
    "bounded",
    "revert_with_retry",
    "setup_name",
]

PREFLIGHT_TIMEOUT = 30.0
PREPARE_TIMEOUT = 30.0
INJECT_TIMEOUT = 60.0
VERIFY_TIMEOUT = 15.0
REVERT_TIMEOUT = 30.0

T = TypeVar("T")


def setup_name(target: str) -> str:
    """The journal's name for a target's setup step: never a fault's (``:`` is
    not allowed in those)."""
    return f"setup:{target}"


async def bounded(call: Awaitable[T], seconds: float, what: str) -> T:
    """Await ``call`` for at most ``seconds``; CallTimedOut names ``what``."""
    with anyio.move_on_after(seconds) as scope:
        return await call
    if scope.cancelled_caught:
        raise CallTimedOut(f"{what} gave no answer within {seconds:g}s")
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    first_backoff: float = 0.5

    def backoff(self, attempt: int) -> float:
        return float(self.first_backoff * 2 ** (attempt - 1))


@dataclass
class _Applied:
    name: str
    iteration: int
    injector: Injector
    ctx: FaultContext
    revert_state: JsonValue


class FaultManager:
    def __init__(
        self,
        experiment: Experiment,
        registry: Registry,
        stream: EventStream,
        control: RunControl,
        run_id: str,
        log: FilteringBoundLogger,
        policy: RetryPolicy,
    ) -> None:
        self._experiment = experiment
        self._registry = registry
        self._stream = stream
        self._control = control
        self._run_id = run_id
        self._log = log
        self._policy = policy
        self._outstanding: dict[tuple[str, int], _Applied] = {}

    def context(self, fault: FaultSpec) -> FaultContext:
        return FaultContext(
            run_id=self._run_id,
            fault_name=fault.name,
            target_name=fault.target,
            target=self._experiment.targets[fault.target],
            params=fault.params,
            log=self._log.bind(fault=fault.name, target=fault.target, injector=fault.injector),
            duration=fault.duration,
        )

    async def preflight(self) -> None:
        for fault in self._experiment.faults:
            injector = self._registry.injector(fault.injector)
            what = f"preflight of {fault.name!r}"
            await bounded(
                _as_injector_error(injector.preflight(self.context(fault)), what),
                PREFLIGHT_TIMEOUT,
                what,
            )
        await self._set_up_targets()

    async def _set_up_targets(self) -> None:
        """Once per target, the setup step of the first fault on it whose injector
        gives one (``Provisioning``), applied like a fault of iteration 0. It stays
        outstanding, and is the oldest: ``revert_all`` removes it after every fault,
        and so does ``chaoskit rollback`` (the intent says ``"setup": true``)."""
        done: set[str] = set()
        for fault in self._experiment.faults:
            injector = self._registry.injector(fault.injector)
            if fault.target in done or not isinstance(injector, Provisioning):
                continue
            ctx = replace(self.context(fault), fault_name=setup_name(fault.target), duration=None)
            step = injector.setup(ctx)
            if step is None:
                continue
            done.add(fault.target)
            what = f"prepare of {ctx.fault_name!r}"
            state = await bounded(
                _as_injector_error(step.prepare(ctx), what), PREPARE_TIMEOUT, what
            )
            if state is not None:  # None: nothing to create
                await self._inject(step, ctx, fault, 0, state, setup=True)

    async def run_iteration(self, iteration: int) -> None:
        """Start each fault when the controller says (its offset, by default),
        hold it for its duration, revert it. Returns when every fault of the
        iteration has been reverted or skipped."""
        start = time.monotonic()
        async with anyio.create_task_group() as group:
            for fault in self._experiment.faults:
                group.start_soon(self._lifecycle, fault, iteration, start)

    async def _lifecycle(self, fault: FaultSpec, iteration: int, start: float) -> None:
        control = self._control
        if not await control.until_start(fault.name, iteration, start + fault.at):
            return
        try:
            applied = await self._apply(fault, iteration)
            control.in_force(fault.name, iteration)
            await control.until_end(fault.name, iteration)
            with anyio.CancelScope(shield=True):
                await self._revert(applied)
        finally:
            control.done(fault.name, iteration)

    async def _apply(self, fault: FaultSpec, iteration: int) -> _Applied:
        injector = self._registry.injector(fault.injector)
        ctx = self.context(fault)
        self._stream.emit(
            FaultStarted(
                fault=fault.name,
                iteration=iteration,
                injector=fault.injector,
                target_name=fault.target,
                at=fault.at,
                duration=fault.duration,
            )
        )
        what = f"prepare of {fault.name!r}"
        state = await bounded(
            _as_injector_error(injector.prepare(ctx), what), PREPARE_TIMEOUT, what
        )
        return await self._inject(injector, ctx, fault, iteration, state)

    async def _inject(
        self,
        injector: Injector,
        ctx: FaultContext,
        fault: FaultSpec,
        iteration: int,
        state: JsonValue,
        *,
        setup: bool = False,
    ) -> _Applied:
        """Journal the intent (fsync'd), inject, journal the result, verify."""
        name = ctx.fault_name
        log = ctx.log.bind(iteration=iteration)
        emit = self._stream.emit
        emit(
            FaultIntent(
                fault=name,
                iteration=iteration,
                injector=fault.injector,
                target_name=fault.target,
                target=ctx.target.model_dump(mode="json", by_alias=True),
                params=ctx.params.model_dump(mode="json", by_alias=True),
                revert_state=as_json(state),
                setup=setup,
            ),
            durable=True,
        )
        applied = _Applied(name, iteration, injector, ctx, state)
        self._outstanding[(name, iteration)] = applied
        what = f"inject of {name!r}"
        try:
            state = await bounded(
                _as_injector_error(injector.inject(ctx, state), what), INJECT_TIMEOUT, what
            )
        except Exception as exc:
            emit(
                FaultInjectFailed(fault=name, iteration=iteration, error=str(exc), setup=setup),
                durable=True,
            )
            raise
        applied.revert_state = state
        emit(
            FaultInjected(
                fault=name, iteration=iteration, revert_state=as_json(state), setup=setup
            ),
            durable=True,
        )
        log.info("fault injected", **({"setup": True} if setup else {}))
        if isinstance(injector, Verifiable):
            what = f"verify of {name!r}"
            try:
                await bounded(injector.verify(ctx, state), VERIFY_TIMEOUT, what)
            except InjectorError as exc:
                emit(
                    NotInForce(fault=name, iteration=iteration, error=str(exc), setup=setup),
                    durable=True,
                )
                raise FaultNotInForce(
                    f"fault {name!r} was applied but is not in force: {exc}"
                ) from exc
            emit(FaultVerified(fault=name, iteration=iteration, setup=setup))
        return applied

    async def _revert(self, applied: _Applied) -> None:
        attempts = await revert_with_retry(
            applied.injector,
            applied.ctx,
            applied.revert_state,
            self._policy,
            self._stream,
            iteration=applied.iteration,
        )
        self._outstanding.pop((applied.name, applied.iteration), None)
        applied.ctx.log.info("fault reverted", attempts=attempts)

    async def revert_all(self) -> list[str]:
        """Revert everything outstanding, newest first. Never raises; returns a
        description of each fault left applied."""
        left: list[str] = []
        with anyio.CancelScope(shield=True):
            for key in reversed(list(self._outstanding)):
                applied = self._outstanding[key]
                try:
                    await self._revert(applied)
                except RevertFailed as exc:
                    left.append(str(exc))
        return left


async def revert_with_retry(
    injector: Injector,
    ctx: FaultContext,
    revert_state: JsonValue,
    policy: RetryPolicy,
    stream: EventStream,
    *,
    iteration: int,
    by: Literal["rollback"] | None = None,
) -> int:
    """Revert, retrying with exponential backoff; journal every attempt.
    Returns the number of attempts; raises RevertFailed (with ``attempts`` and
    ``error``) after the last attempt failed."""
    name = ctx.fault_name
    for attempt in range(1, policy.attempts + 1):
        try:
            await bounded(injector.revert(ctx, revert_state), REVERT_TIMEOUT, f"revert of {name!r}")
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            stream.emit(
                FaultRevertAttemptFailed(
                    fault=name, iteration=iteration, attempt=attempt, error=error, by=by
                )
            )
            ctx.log.warning("revert attempt failed", attempt=attempt, error=error)
            if attempt == policy.attempts:
                state = as_json(revert_state)
                stream.emit(
                    FaultRevertFailed(
                        fault=name,
                        iteration=iteration,
                        attempts=attempt,
                        error=error,
                        revert_state=state,
                        by=by,
                    ),
                    durable=True,
                )
                injector_name = getattr(injector, "name", type(injector).__name__)
                raise RevertFailed(
                    still_applied(name, injector_name, ctx.target_name, attempt, error, state),
                    attempts=attempt,
                    error=error,
                ) from exc
            await anyio.sleep(policy.backoff(attempt))
        else:
            stream.emit(
                FaultReverted(fault=name, iteration=iteration, attempts=attempt, by=by),
                durable=True,
            )
            return attempt
    raise AssertionError("unreachable")  # pragma: no cover


_FAULT_EVENTS = (
    FaultIntent,
    FaultInjectFailed,
    FaultInjected,
    FaultVerified,
    NotInForce,
    FaultRevertAttemptFailed,
    FaultRevertFailed,
    FaultReverted,
)


class FaultRecords:
    """The results' record of each fault of each iteration, built from the
    fault events (a subscriber; setup steps are not faults and are left out)."""

    def __init__(self) -> None:
        self.records: list[FaultRecord] = []
        self._by_key: dict[tuple[str, int], FaultRecord] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, FaultStarted):
            record = FaultRecord(
                name=event.fault,
                injector=event.injector,
                target=event.target_name,
                iteration=event.iteration,
                at=event.at,
                duration=event.duration,
            )
            self.records.append(record)
            self._by_key[(event.fault, event.iteration)] = record
            return
        if not isinstance(event, _FAULT_EVENTS):
            return
        found = self._by_key.get((event.fault, event.iteration))
        if found is None:
            return
        record = found
        if isinstance(event, FaultIntent):
            record.revert_state = event.revert_state
        elif isinstance(event, FaultInjectFailed):
            record.inject_error = event.error
        elif isinstance(event, FaultInjected):
            record.t_inject = event.t
            record.revert_state = event.revert_state
        elif isinstance(event, FaultVerified):
            record.verified = True
        elif isinstance(event, NotInForce):
            record.verified = False
        elif isinstance(event, FaultRevertAttemptFailed):
            record.revert_attempts = event.attempt
        elif isinstance(event, FaultRevertFailed):
            record.revert_error = event.error
        elif isinstance(event, FaultReverted):
            record.revert_attempts = event.attempts
            record.reverted = True
            record.t_revert = event.t

    def of(self, iteration: int) -> list[FaultRecord]:
        return [r for r in self.records if r.iteration == iteration]


async def _as_injector_error(call: Awaitable[T], what: str) -> T:
    """Await ``call``; an unexpected exception becomes an InjectorError naming ``what``."""
    try:
        return await call
    except InjectorError:
        raise
    except Exception as exc:
        raise InjectorError(f"{what} failed: {type(exc).__name__}: {exc}") from exc

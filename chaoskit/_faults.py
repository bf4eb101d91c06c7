"""Applying and reverting faults: write-ahead journal, verify, retried reverts.

Every fault whose intent reached the journal stays *outstanding* until its
revert succeeds; ``revert_all`` reverts whatever is outstanding, newest first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import anyio
from structlog.typing import FilteringBoundLogger

from chaoskit._errors import FaultNotInForce, InjectorError, RevertFailed
from chaoskit._journal import Journal
from chaoskit._model import Experiment, FaultSpec
from chaoskit._plugin_api import FaultContext, Injector, JsonValue, Provisioning, Verifiable
from chaoskit._registry import Registry
from chaoskit._results import FaultRecord

__all__ = ["FaultManager", "RetryPolicy", "revert_with_retry", "setup_name"]

PREFLIGHT_TIMEOUT = 30.0
PREPARE_TIMEOUT = 30.0
INJECT_TIMEOUT = 60.0
VERIFY_TIMEOUT = 15.0
REVERT_TIMEOUT = 30.0


def setup_name(target: str) -> str:
    """The journal's name for a target's setup step: never a fault's (``:`` is
    not allowed in those)."""
    return f"setup:{target}"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    first_backoff: float = 0.5

    def backoff(self, attempt: int) -> float:
        return float(self.first_backoff * 2 ** (attempt - 1))


@dataclass
class _Applied:
    record: FaultRecord
    injector: Injector
    ctx: FaultContext
    revert_state: JsonValue


class FaultManager:
    def __init__(
        self,
        experiment: Experiment,
        raw: dict[str, Any],
        registry: Registry,
        journal: Journal,
        run_id: str,
        log: FilteringBoundLogger,
        policy: RetryPolicy,
        on_inject: Callable[[FaultRecord], None] | None = None,
    ) -> None:
        self._experiment = experiment
        self._on_inject = on_inject
        self._raw = raw
        self._registry = registry
        self._journal = journal
        self._run_id = run_id
        self._log = log
        self._policy = policy
        self.records: list[FaultRecord] = []
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
            with anyio.fail_after(PREFLIGHT_TIMEOUT):
                await _as_injector_error(
                    injector.preflight(self.context(fault)), f"preflight of {fault.name!r}"
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
            record = FaultRecord(
                name=ctx.fault_name,
                injector=fault.injector,
                target=fault.target,
                iteration=0,
                at=0.0,
                duration=0.0,
            )
            with anyio.fail_after(PREPARE_TIMEOUT):
                state = await _as_injector_error(step.prepare(ctx), f"prepare of {record.name!r}")
            if state is not None:  # None: nothing to create
                await self._inject(step, ctx, record, fault, state, setup=True)

    async def run_iteration(self, iteration: int) -> None:
        """Start each fault at its offset, hold it for its duration, revert it.
        Returns when every fault of the iteration has been reverted."""
        start = time.monotonic()
        async with anyio.create_task_group() as group:
            for fault in self._experiment.faults:
                group.start_soon(self._lifecycle, fault, iteration, start)

    async def _lifecycle(self, fault: FaultSpec, iteration: int, start: float) -> None:
        await anyio.sleep(max(0.0, start + fault.at - time.monotonic()))
        applied = await self._apply(fault, iteration)
        await anyio.sleep(max(0.0, start + fault.at + fault.duration - time.monotonic()))
        with anyio.CancelScope(shield=True):
            await self._revert(applied)

    async def _apply(self, fault: FaultSpec, iteration: int) -> _Applied:
        injector = self._registry.injector(fault.injector)
        ctx = self.context(fault)
        record = FaultRecord(
            name=fault.name,
            injector=fault.injector,
            target=fault.target,
            iteration=iteration,
            at=fault.at,
            duration=fault.duration,
        )
        self.records.append(record)
        with anyio.fail_after(PREPARE_TIMEOUT):
            state = await _as_injector_error(injector.prepare(ctx), f"prepare of {fault.name!r}")
        return await self._inject(injector, ctx, record, fault, state)

    async def _inject(
        self,
        injector: Injector,
        ctx: FaultContext,
        record: FaultRecord,
        fault: FaultSpec,
        state: JsonValue,
        **marks: Any,
    ) -> _Applied:
        """Journal the intent (fsync'd), inject, journal the result, verify."""
        iteration = record.iteration
        log = ctx.log.bind(iteration=iteration)
        self._journal.write(
            "fault_intent",
            durable=True,
            fault=record.name,
            iteration=iteration,
            injector=fault.injector,
            target_name=fault.target,
            target=self._raw_target(fault.target),
            params=self._raw_params(fault.name),
            revert_state=state,
            **marks,
        )
        applied = _Applied(record, injector, ctx, state)
        self._outstanding[(record.name, iteration)] = applied
        record.revert_state = state
        try:
            with anyio.fail_after(INJECT_TIMEOUT):
                state = await _as_injector_error(
                    injector.inject(ctx, state), f"inject of {record.name!r}"
                )
        except Exception as exc:
            record.inject_error = str(exc)
            self._journal.write(
                "fault_inject_failed",
                durable=True,
                fault=record.name,
                iteration=iteration,
                error=str(exc),
                **marks,
            )
            raise
        applied.revert_state = record.revert_state = state
        record.t_inject = self._journal.now()
        self._journal.write(
            "fault_injected",
            durable=True,
            t=record.t_inject,
            fault=record.name,
            iteration=iteration,
            revert_state=state,
            **marks,
        )
        log.info("fault injected", **marks)
        if self._on_inject is not None and not marks:  # a setup is no fault of an iteration
            self._on_inject(record)
        if isinstance(injector, Verifiable):
            with anyio.fail_after(VERIFY_TIMEOUT):
                try:
                    await injector.verify(ctx, state)
                except InjectorError as exc:
                    record.verified = False
                    self._journal.write(
                        "fault_not_in_force",
                        durable=True,
                        fault=record.name,
                        iteration=iteration,
                        error=str(exc),
                        **marks,
                    )
                    raise FaultNotInForce(
                        f"fault {record.name!r} was applied but is not in force: {exc}"
                    ) from exc
            record.verified = True
        return applied

    async def _revert(self, applied: _Applied) -> None:
        record = applied.record
        await revert_with_retry(
            applied.injector,
            applied.ctx,
            applied.revert_state,
            self._policy,
            self._journal,
            record,
            iteration=record.iteration,
        )
        self._outstanding.pop((record.name, record.iteration), None)
        applied.ctx.log.info("fault reverted", attempts=record.revert_attempts)

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

    def _raw_target(self, name: str) -> Any:
        return (self._raw.get("targets") or {}).get(name)

    def _raw_params(self, fault_name: str) -> Any:
        for fault in self._raw.get("faults") or []:
            if isinstance(fault, dict) and fault.get("name") == fault_name:
                return fault.get("with", {})
        return {}


async def revert_with_retry(
    injector: Injector,
    ctx: FaultContext,
    revert_state: JsonValue,
    policy: RetryPolicy,
    journal: Journal,
    record: FaultRecord,
    **where: Any,
) -> None:
    """Revert, retrying with exponential backoff; journal every attempt.
    Raises RevertFailed after the last attempt failed."""
    for attempt in range(1, policy.attempts + 1):
        record.revert_attempts = attempt
        try:
            with anyio.fail_after(REVERT_TIMEOUT):
                await injector.revert(ctx, revert_state)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            journal.write(
                "fault_revert_attempt_failed",
                fault=record.name,
                attempt=attempt,
                error=error,
                **where,
            )
            ctx.log.warning("revert attempt failed", attempt=attempt, error=error)
            if attempt == policy.attempts:
                record.revert_error = error
                journal.write(
                    "fault_revert_failed",
                    durable=True,
                    fault=record.name,
                    error=error,
                    revert_state=revert_state,
                    **where,
                )
                raise RevertFailed(
                    f"fault {record.name!r} ({record.injector} on {record.target}) is still "
                    f"applied after {attempt} revert attempts: {error}; "
                    f"revert state: {revert_state}"
                ) from exc
            await anyio.sleep(policy.backoff(attempt))
        else:
            record.reverted = True
            record.t_revert = journal.now()
            journal.write(
                "fault_reverted",
                durable=True,
                t=record.t_revert,
                fault=record.name,
                attempts=attempt,
                **where,
            )
            return


async def _as_injector_error(call: Any, what: str) -> Any:
    """Await ``call``; an unexpected exception becomes an InjectorError naming ``what``."""
    try:
        return await call
    except InjectorError:
        raise
    except Exception as exc:
        raise InjectorError(f"{what} failed: {type(exc).__name__}: {exc}") from exc

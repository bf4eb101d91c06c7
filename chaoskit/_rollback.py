"""``chaoskit rollback RUN_DIR``: revert whatever a crashed run left applied.

The journal is written ahead, so every fault whose intent is on disk without a
matching ``fault_reverted`` may be applied. Each is reverted with the revert
state recorded (the ``fault_injected`` one when present, else the intent's).
Targets and parameters are re-read from the journal as written in the
experiment, so ``${env:...}`` secrets come from the environment again.

Contracts (ADR 0011):

* One rollback of a run at a time: ``rollback.lock`` in the run directory is
  held (``flock``) from before the journal is read until the last record is
  written. Another rollback waits up to ``wait`` seconds, then gives up with
  :class:`RollbackInProgress`.
* A fault is never skipped quietly: one that cannot be rebuilt from the journal
  (unknown plugin, target or params that no longer validate, a missing key or
  variable) is reported as failed with what to undo by hand, and every other
  fault is still reverted.
* Before each revert the injector's ``verify`` (where it has one) says whether
  the fault was still in force; the revert runs whatever it says, since revert
  is idempotent and cleans up leftovers.
* What a run created for a target (an intent with ``"setup": true``, iteration
  0, journaled before the baseline) is reverted through the injector's setup
  step (``Provisioning.setup``), and last, since it is the oldest (ADR 0015).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from structlog.typing import FilteringBoundLogger

from chaoskit._errors import CallTimedOut, ChaoskitError, FaultNotInForce, RevertFailed, UserError
from chaoskit._events import (
    Event,
    FaultInjected,
    FaultIntent,
    FaultReverted,
    RollbackFault,
    RollbackFinished,
    RollbackStarted,
    RunStarted,
)
from chaoskit._faults import VERIFY_TIMEOUT, RetryPolicy, bounded, revert_with_retry
from chaoskit._journal import JOURNAL_NAME, Journal, Malformed, scan_journal
from chaoskit._plugin_api import FaultContext, Injector, JsonValue, Provisioning, Verifiable
from chaoskit._registry import Plugin, Registry
from chaoskit._rollback_lock import DEFAULT_WAIT, RollbackInProgress, locked
from chaoskit._rollback_report import Before, FaultReport, Outcome, RollbackReport
from chaoskit._secrets import Secrets, substitute_env
from chaoskit._stream import EventStream

__all__ = [
    "DEFAULT_WAIT",
    "Before",
    "FaultReport",
    "Outcome",
    "Pending",
    "RollbackInProgress",
    "RollbackReport",
    "outstanding_faults",
    "rollback",
    "rollback_secrets",
]


@dataclass
class Pending:
    """A fault whose intent is journaled without a successful revert."""

    fault: str
    iteration: int
    record: dict[str, Any]
    """The intent as written (``${env:...}`` left unexpanded): what to undo by hand."""
    intent: FaultIntent | None
    """None: the intent record is no event (``malformed`` says why)."""
    revert_state: JsonValue
    malformed: str = ""


def outstanding_faults(items: list[Event | Malformed]) -> list[Pending]:
    """Intents without a successful revert, oldest first, with their latest state.
    A fault_intent record that is no event is outstanding too (reported, never
    skipped); a fault_reverted record that is none does not end one."""
    open_faults: dict[tuple[str, str], Pending] = {}
    for item in items:
        if isinstance(item, Malformed):
            record = item.record
            if record.get("event") == "fault_intent":
                iteration = record.get("iteration") or 0
                open_faults[(str(record.get("fault")), str(iteration))] = Pending(
                    fault=str(record.get("fault", "?")),
                    iteration=iteration if isinstance(iteration, int) else 0,
                    record=record,
                    intent=None,
                    revert_state=record.get("revert_state"),
                    malformed=item.error,
                )
            continue
        if isinstance(item, FaultIntent | FaultInjected | FaultReverted):
            key = (item.fault, str(item.iteration))
            if isinstance(item, FaultIntent):
                raw = item.model_dump(mode="json", exclude={"seq", "t", "wall"})
                open_faults[key] = Pending(item.fault, item.iteration, raw, item, item.revert_state)
            elif isinstance(item, FaultInjected) and key in open_faults:
                open_faults[key].revert_state = item.revert_state
            elif isinstance(item, FaultReverted):
                open_faults.pop(key, None)
    return list(open_faults.values())


def rollback_secrets(run_dir: Path) -> Secrets:
    """The secrets the journal's faults bring in from the environment (for the
    logs' redaction, before the rollback starts)."""
    return _secrets_of(outstanding_faults(scan_journal(run_dir / JOURNAL_NAME).items))


async def rollback(
    run_dir: Path,
    registry: Registry,
    log: FilteringBoundLogger,
    policy: RetryPolicy,
    *,
    wait: float = DEFAULT_WAIT,
) -> RollbackReport:
    journal_path = run_dir / JOURNAL_NAME
    if not journal_path.is_file():
        raise UserError(f"{journal_path}: no journal here (expected a run directory)")
    async with locked(run_dir, wait, log):
        scan = scan_journal(journal_path)
        started = next((e for e in scan.events if isinstance(e, RunStarted)), None)
        if started is None:
            raise UserError(f"{journal_path}: not a chaoskit journal (no run_started record)")
        pending = outstanding_faults(scan.items)
        report = RollbackReport(journal_path, [], scan.problems, _secrets_of(pending))
        for problem in scan.problems:
            if problem.torn:
                log.info("torn journal line skipped", line=problem.line)
            else:
                log.warning("corrupt journal line skipped", line=problem.line)
        if not pending:
            return report
        journal = Journal(journal_path, report.secrets, time.monotonic())
        stream = EventStream(journal)
        try:
            problems = [p.describe(journal_path) for p in scan.problems]
            problems += [m.describe(journal_path) for m in scan.malformed]
            stream.emit(
                RollbackStarted(
                    outstanding=len(pending), pid=os.getpid(), journal_problems=problems
                ),
                durable=True,
            )
            for fault_pending in reversed(pending):
                fault = await _rollback_one(
                    fault_pending, started.run_id, registry, stream, log, policy
                )
                stream.emit(RollbackFault(**fault.to_json()), durable=True)
                report.faults.append(fault)
            stream.emit(
                RollbackFinished(reverted=report.reverted, failed=report.failed), durable=True
            )
        finally:
            journal.close()
    return report


async def _rollback_one(
    pending: Pending,
    run_id: str,
    registry: Registry,
    stream: EventStream,
    log: FilteringBoundLogger,
    policy: RetryPolicy,
) -> FaultReport:
    record = pending.record
    report = FaultReport(
        fault=pending.fault,
        iteration=pending.iteration,
        injector=str(record.get("injector", "?")),
        target=str(record.get("target_name", "?")),
    )
    flog = log.bind(fault=report.fault, injector=report.injector)
    try:
        injector, ctx, revert_state = _rebuild(pending, run_id, registry, flog)
    except Exception as exc:  # noqa: BLE001 - reported as failed, with what to undo by hand
        report.error = str(exc) if isinstance(exc, _Unrebuildable) else _name(exc)
        report.exception = exc
        report.undo = _undo(pending)
        flog.error("fault cannot be rebuilt from the journal", error=report.error)
        return report
    report.before, report.before_detail = await _check(injector, ctx, revert_state)
    try:
        report.attempts = await revert_with_retry(
            injector,
            ctx,
            revert_state,
            policy,
            stream,
            iteration=pending.iteration,
            by="rollback",
        )
    except RevertFailed as exc:
        report.outcome = Outcome.REVERT_FAILED
        report.attempts = exc.attempts
        report.error = exc.error or str(exc)
        report.exception = exc
        report.undo = _undo(pending)
        return report
    report.outcome = Outcome.REVERTED
    flog.info("fault reverted by rollback", before=str(report.before))
    return report


class _Unrebuildable(ChaoskitError):
    """The journal's record of a fault no longer makes a fault (the message says why)."""


def _rebuild(
    pending: Pending, run_id: str, registry: Registry, log: FilteringBoundLogger
) -> tuple[Injector, FaultContext, JsonValue]:
    """The injector, context and revert state of a journaled fault, or
    _Unrebuildable saying why not."""
    intent = pending.intent
    if intent is None:
        raise _Unrebuildable(pending.malformed)
    injector_name = intent.injector
    try:
        injector = registry.injector(injector_name)
    except ChaoskitError as exc:
        raise _Unrebuildable(str(exc)) from exc
    target_raw, _, missing_t = substitute_env(intent.target)
    params_raw, _, missing_p = substitute_env(intent.params or {})
    revert_state, _, missing_s = substitute_env(pending.revert_state)
    if missing_t or missing_p or missing_s:
        raise _Unrebuildable("; ".join(message for _, message in missing_t + missing_p + missing_s))
    kind = target_raw.get("kind") if isinstance(target_raw, dict) else None
    if not isinstance(kind, str):
        raise _Unrebuildable("the journaled target has no kind")
    try:
        target_kind = registry.target_kind(kind)
    except ChaoskitError as exc:
        raise _Unrebuildable(str(exc)) from exc
    if kind not in injector.target_kinds:
        raise _Unrebuildable(f"injector {injector_name!r} does not act on {kind!r} targets")
    try:
        target = target_kind.model_validate(target_raw)
    except ValidationError as exc:
        raise _Unrebuildable(_validation("target", exc, registry.targets.get(kind))) from exc
    try:
        params = injector.params.model_validate(params_raw)
    except ValidationError as exc:
        plugin = registry.injectors.get(injector_name)
        raise _Unrebuildable(_validation("params", exc, plugin)) from exc
    ctx = FaultContext(
        run_id=run_id,
        fault_name=intent.fault,
        target_name=intent.target_name,
        target=target,
        params=params,
        log=log,
    )
    if intent.setup:  # what the run created for a target: its setup step
        step = injector.setup(ctx) if isinstance(injector, Provisioning) else None
        if step is None:
            raise _Unrebuildable(
                f"injector {injector_name!r} as installed gives no setup step for target "
                f"{ctx.target_name!r}"
            )
        return step, ctx, revert_state
    return injector, ctx, revert_state


async def _check(
    injector: Injector, ctx: FaultContext, revert_state: JsonValue
) -> tuple[Before, str]:
    """Ask the injector whether its fault is in force, where it can tell."""
    if not isinstance(injector, Verifiable):
        return Before.UNKNOWN, ""
    try:
        await bounded(injector.verify(ctx, revert_state), VERIFY_TIMEOUT, "verify")
    except FaultNotInForce as exc:
        return Before.NOT_IN_FORCE, str(exc)
    except CallTimedOut:
        return Before.VERIFY_FAILED, f"no answer within {VERIFY_TIMEOUT:g}s"
    except Exception as exc:  # noqa: BLE001 - reported; the revert runs all the same
        return Before.VERIFY_FAILED, _name(exc)
    return Before.IN_FORCE, ""


def _validation(where: str, exc: ValidationError, plugin: Plugin[Any] | None) -> str:
    """One ``where.loc: message`` per error, input values left out (they may be
    secrets), and the plugin version that refuses them (it may not be the one
    the run used)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in (where, *error["loc"]))
        lines.append(f"{loc}: {error['msg']}")
    installed = f" (installed: {plugin.distribution} {plugin.version})" if plugin else ""
    return "; ".join(lines) + installed


def _undo(pending: Pending) -> dict[str, Any]:
    """What to undo by hand, as journaled (``${env:...}`` left unexpanded)."""
    record = pending.record
    return {
        "injector": record.get("injector"),
        "target_name": record.get("target_name"),
        "target": record.get("target"),
        "revert_state": pending.revert_state,
    }


def _name(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _secrets_of(pending: list[Pending]) -> Secrets:
    found = Secrets()
    for fault in pending:
        parts = [fault.record.get("target"), fault.record.get("params"), fault.revert_state]
        _, secrets, _ = substitute_env(parts)
        found.names.update(secrets.names)
    return found

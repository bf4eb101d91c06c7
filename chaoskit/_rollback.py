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
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError
from structlog.typing import FilteringBoundLogger

from chaoskit._errors import ChaoskitError, FaultNotInForce, RevertFailed, UserError
from chaoskit._faults import VERIFY_TIMEOUT, RetryPolicy, revert_with_retry
from chaoskit._journal import JOURNAL_NAME, Journal, scan_journal
from chaoskit._plugin_api import FaultContext, Injector, JsonValue, Provisioning, Verifiable
from chaoskit._registry import Plugin, Registry
from chaoskit._results import FaultRecord
from chaoskit._rollback_lock import DEFAULT_WAIT, RollbackInProgress, locked
from chaoskit._rollback_report import Before, FaultReport, Outcome, RollbackReport
from chaoskit._secrets import Secrets, substitute_env

__all__ = [
    "DEFAULT_WAIT",
    "Before",
    "FaultReport",
    "Outcome",
    "RollbackInProgress",
    "RollbackReport",
    "outstanding_faults",
    "rollback",
    "rollback_secrets",
]


def outstanding_faults(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Intents without a successful revert, oldest first, with their latest state."""
    open_faults: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        key = (str(record.get("fault")), str(record.get("iteration") or 0))
        event = record.get("event")
        if event == "fault_intent":
            open_faults[key] = dict(record)
        elif event == "fault_injected" and key in open_faults:
            open_faults[key]["revert_state"] = record.get("revert_state")
        elif event == "fault_reverted":
            open_faults.pop(key, None)
    return list(open_faults.values())


def rollback_secrets(run_dir: Path) -> Secrets:
    """The secrets the journal's faults bring in from the environment (for the
    logs' redaction, before the rollback starts)."""
    return _secrets_of(scan_journal(run_dir / JOURNAL_NAME).records)


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
        started = next((r for r in scan.records if r.get("event") == "run_started"), None)
        if started is None:
            raise UserError(f"{journal_path}: not a chaoskit journal (no run_started record)")
        pending = outstanding_faults(scan.records)
        report = RollbackReport(journal_path, [], scan.problems, _secrets_of(scan.records))
        for problem in scan.problems:
            if problem.torn:
                log.info("torn journal line skipped", line=problem.line)
            else:
                log.warning("corrupt journal line skipped", line=problem.line)
        if not pending:
            return report
        journal = Journal(journal_path, report.secrets, time.monotonic())
        try:
            journal.write(
                "rollback_started",
                durable=True,
                outstanding=len(pending),
                pid=os.getpid(),
                journal_problems=[p.describe(journal_path) for p in scan.problems],
            )
            run_id = started.get("run_id")
            for intent in reversed(pending):
                fault = await _rollback_one(intent, run_id, registry, journal, log, policy)
                journal.write("rollback_fault", durable=True, **fault.to_json())
                report.faults.append(fault)
            journal.write(
                "rollback_finished", durable=True, reverted=report.reverted, failed=report.failed
            )
        finally:
            journal.close()
    return report


async def _rollback_one(
    intent: dict[str, Any],
    run_id: Any,
    registry: Registry,
    journal: Journal,
    log: FilteringBoundLogger,
    policy: RetryPolicy,
) -> FaultReport:
    iteration = intent.get("iteration") or 0
    report = FaultReport(
        fault=str(intent.get("fault", "?")),
        iteration=iteration if isinstance(iteration, int) else None,
        injector=str(intent.get("injector", "?")),
        target=str(intent.get("target_name", "?")),
    )
    flog = log.bind(fault=report.fault, injector=report.injector)
    try:
        injector, ctx, revert_state = _rebuild(intent, run_id, registry, flog)
    except Exception as exc:  # noqa: BLE001 - reported as failed, with what to undo by hand
        report.error = str(exc) if isinstance(exc, _Unrebuildable) else _name(exc)
        report.exception = exc
        report.undo = _undo(intent)
        flog.error("fault cannot be rebuilt from the journal", error=report.error)
        return report
    report.before, report.before_detail = await _check(injector, ctx, revert_state)
    record = FaultRecord(
        name=report.fault,
        injector=report.injector,
        target=report.target,
        iteration=int(iteration),
        at=0.0,
        duration=0.0,
    )
    try:
        await revert_with_retry(
            injector,
            ctx,
            revert_state,
            policy,
            journal,
            record,
            iteration=record.iteration,
            by="rollback",
        )
    except RevertFailed as exc:
        report.outcome = Outcome.REVERT_FAILED
        report.attempts = record.revert_attempts
        report.error = record.revert_error or str(exc)
        report.exception = exc
        report.undo = _undo(intent)
        return report
    report.outcome = Outcome.REVERTED
    report.attempts = record.revert_attempts
    flog.info("fault reverted by rollback", before=str(report.before))
    return report


class _Unrebuildable(ChaoskitError):
    """The journal's record of a fault no longer makes a fault (the message says why)."""


def _rebuild(
    intent: dict[str, Any], run_id: Any, registry: Registry, log: FilteringBoundLogger
) -> tuple[Injector, FaultContext, JsonValue]:
    """The injector, context and revert state of a journaled fault, or
    _Unrebuildable saying why not."""
    for key in ("fault", "injector", "target_name", "target"):
        if key not in intent:
            raise _Unrebuildable(f"the fault_intent record has no {key!r}")
    if not isinstance(run_id, str):
        raise _Unrebuildable("the journal's run_started record has no run_id")
    if not isinstance(intent.get("iteration") or 0, int):
        raise _Unrebuildable(f"iteration: expected an integer, got {intent['iteration']!r}")
    injector_name = str(intent["injector"])
    try:
        injector = registry.injector(injector_name)
    except ChaoskitError as exc:
        raise _Unrebuildable(str(exc)) from exc
    target_raw, _, missing_t = substitute_env(intent["target"])
    params_raw, _, missing_p = substitute_env(intent.get("params") or {})
    revert_state, _, missing_s = substitute_env(intent.get("revert_state"))
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
        fault_name=str(intent["fault"]),
        target_name=str(intent["target_name"]),
        target=target,
        params=params,
        log=log,
    )
    if intent.get("setup") is True:  # what the run created for a target: its setup step
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
        with anyio.fail_after(VERIFY_TIMEOUT):
            await injector.verify(ctx, revert_state)
    except FaultNotInForce as exc:
        return Before.NOT_IN_FORCE, str(exc)
    except TimeoutError:
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


def _undo(intent: dict[str, Any]) -> dict[str, Any]:
    """What to undo by hand, as journaled (``${env:...}`` left unexpanded)."""
    return {
        "injector": intent.get("injector"),
        "target_name": intent.get("target_name"),
        "target": intent.get("target"),
        "revert_state": intent.get("revert_state"),
    }


def _name(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _secrets_of(records: list[dict[str, Any]]) -> Secrets:
    found = Secrets()
    for record in records:
        if record.get("event") in ("fault_intent", "fault_injected"):
            parts = [record.get("target"), record.get("params"), record.get("revert_state")]
            _, secrets, _ = substitute_env(parts)
            found.names.update(secrets.names)
    return found

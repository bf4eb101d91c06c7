"""``chaoskit rollback RUN_DIR``: revert whatever a crashed run left applied.

The journal is written ahead, so every fault whose intent is on disk without a
matching ``fault_reverted`` may be applied. Each is reverted with the revert
state recorded (the ``fault_injected`` one when present, else the intent's).
Targets and parameters are re-read from the journal as written in the
experiment, so ``${env:...}`` secrets come from the environment again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from structlog.typing import FilteringBoundLogger

from chaoskit._errors import ChaoskitError, PluginError, RevertFailed, UserError
from chaoskit._faults import RetryPolicy, revert_with_retry
from chaoskit._journal import JOURNAL_NAME, Journal, read_journal
from chaoskit._plugin_api import FaultContext
from chaoskit._registry import Registry
from chaoskit._results import FaultRecord
from chaoskit._secrets import Secrets, substitute_env

__all__ = ["RollbackReport", "outstanding_faults", "rollback"]


@dataclass
class RollbackReport:
    reverted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def outstanding_faults(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Intents without a successful revert, oldest first, with their latest state."""
    open_faults: dict[tuple[str, int], dict[str, Any]] = {}
    for record in records:
        key = (str(record.get("fault")), int(record.get("iteration") or 0))
        event = record.get("event")
        if event == "fault_intent":
            open_faults[key] = dict(record)
        elif event == "fault_injected" and key in open_faults:
            open_faults[key]["revert_state"] = record.get("revert_state")
        elif event == "fault_reverted":
            open_faults.pop(key, None)
    return list(open_faults.values())


async def rollback(
    run_dir: Path, registry: Registry, log: FilteringBoundLogger, policy: RetryPolicy
) -> RollbackReport:
    journal_path = run_dir / JOURNAL_NAME
    records = read_journal(journal_path)
    started = next((r for r in records if r.get("event") == "run_started"), None)
    if started is None:
        raise UserError(f"{journal_path}: not a chaoskit journal (no run_started record)")
    pending = outstanding_faults(records)
    report = RollbackReport()
    if not pending:
        return report
    journal = Journal(journal_path, _secrets_of(pending), time.monotonic())
    try:
        journal.write("rollback_started", durable=True, outstanding=len(pending))
        for intent in reversed(pending):
            name = str(intent["fault"])
            try:
                await _revert_one(intent, str(started["run_id"]), registry, journal, log, policy)
            except (RevertFailed, ChaoskitError) as exc:
                report.failed.append(f"{name}: {exc}")
            else:
                report.reverted.append(name)
        journal.write(
            "rollback_finished", durable=True, reverted=report.reverted, failed=report.failed
        )
    finally:
        journal.close()
    return report


async def _revert_one(
    intent: dict[str, Any],
    run_id: str,
    registry: Registry,
    journal: Journal,
    log: FilteringBoundLogger,
    policy: RetryPolicy,
) -> None:
    injector_name = str(intent["injector"])
    injector = registry.injector(injector_name)
    target_raw, _, missing_t = substitute_env(intent.get("target"))
    params_raw, _, missing_p = substitute_env(intent.get("params") or {})
    revert_state, _, missing_s = substitute_env(intent.get("revert_state"))
    if missing_t or missing_p or missing_s:
        names = "; ".join(message for _, message in missing_t + missing_p + missing_s)
        raise UserError(f"cannot rebuild fault {intent['fault']!r}: {names}")
    kind = target_raw.get("kind") if isinstance(target_raw, dict) else None
    if not isinstance(kind, str):
        raise PluginError(f"fault {intent['fault']!r}: the journal has no target kind")
    target = registry.target_kind(kind).model_validate(target_raw)
    params = injector.params.model_validate(params_raw)
    ctx = FaultContext(
        run_id=run_id,
        fault_name=str(intent["fault"]),
        target_name=str(intent.get("target_name")),
        target=target,
        params=params,
        log=log.bind(fault=intent["fault"], injector=injector_name),
    )
    record = FaultRecord(
        name=ctx.fault_name,
        injector=injector_name,
        target=ctx.target_name,
        iteration=int(intent.get("iteration") or 0),
        at=0.0,
        duration=0.0,
    )
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
    log.info("fault reverted by rollback", fault=ctx.fault_name)


def _secrets_of(pending: list[dict[str, Any]]) -> Secrets:
    found = Secrets()
    for intent in pending:
        parts = [intent.get("target"), intent.get("params"), intent.get("revert_state")]
        _, secrets, _ = substitute_env(parts)
        found.names.update(secrets.names)
    return found

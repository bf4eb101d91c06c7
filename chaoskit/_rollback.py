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
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError
from structlog.typing import FilteringBoundLogger

from chaoskit._errors import ChaoskitError, FaultNotInForce, RevertFailed, UserError
from chaoskit._faults import VERIFY_TIMEOUT, RetryPolicy, revert_with_retry
from chaoskit._journal import JOURNAL_NAME, Journal, JournalProblem, scan_journal
from chaoskit._plugin_api import FaultContext, Injector, JsonValue, Verifiable
from chaoskit._registry import Plugin, Registry
from chaoskit._results import FaultRecord
from chaoskit._secrets import Secrets, substitute_env

__all__ = [
    "DEFAULT_WAIT",
    "LOCK_NAME",
    "Before",
    "FaultReport",
    "Outcome",
    "RollbackInProgress",
    "RollbackReport",
    "outstanding_faults",
    "rollback",
    "rollback_secrets",
]

LOCK_NAME = "rollback.lock"
DEFAULT_WAIT = 60.0
"""Seconds a second rollback waits for the first: longer than a rollback of a few
faults takes, short enough that a hung one is noticed."""
_POLL = 0.1


class RollbackInProgress(ChaoskitError):
    """Raised by :func:`rollback` when another rollback of the same run still holds
    the run's lock after ``wait`` seconds. The CLI exits 4: this rollback reverted
    nothing, so it cannot say the system is clean."""

    def __init__(self, run_dir: Path, pid: int | None, waited: float) -> None:
        self.pid = pid
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(
            f"another rollback of this run is in progress ({holder}); waited {waited:g}s "
            f"for it; nothing was reverted by this one (lock: {run_dir / LOCK_NAME})"
        )


class Before(StrEnum):
    """Whether a fault was in force when rollback found it."""

    IN_FORCE = "in-force"
    NOT_IN_FORCE = "not-in-force"
    UNKNOWN = "unknown"
    """The injector has no ``verify``."""
    VERIFY_FAILED = "verify-failed"
    """``verify`` raised something other than FaultNotInForce, or timed out."""
    NOT_CHECKED = "not-checked"
    """The fault could not be rebuilt, so nothing could be asked."""


class Outcome(StrEnum):
    REVERTED = "reverted"
    REVERT_FAILED = "revert-failed"
    UNREBUILDABLE = "unrebuildable"


@dataclass
class FaultReport:
    """What rollback found and did for one outstanding fault."""

    fault: str
    iteration: int | None
    injector: str
    target: str
    before: Before = Before.NOT_CHECKED
    before_detail: str = ""
    outcome: Outcome = Outcome.UNREBUILDABLE
    attempts: int = 0
    error: str = ""
    undo: dict[str, Any] | None = None
    """For a fault left applied: its injector, target and revert state as journaled."""
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    """Why it failed, for ``--verbose`` tracebacks; never serialised."""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.REVERTED

    def summary(self) -> str:
        """One sentence: the state found, what was done."""
        found = {
            Before.IN_FORCE: "was in force",
            Before.NOT_IN_FORCE: f"was no longer in force ({self.before_detail})",
            Before.UNKNOWN: "state unknown (the injector cannot tell)",
            Before.VERIFY_FAILED: f"state unknown (verify failed: {self.before_detail})",
            Before.NOT_CHECKED: "",
        }[self.before]
        tries = f" ({self.attempts} attempts)" if self.attempts > 1 else ""
        after = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        if self.outcome is Outcome.REVERTED:
            done = "cleaned up anyway" if self.before is Before.NOT_IN_FORCE else "reverted"
            return f"{found}; {done}{tries}"
        undo = f"; undo by hand: {_describe_undo(self.undo)}"
        if self.outcome is Outcome.REVERT_FAILED:
            return f"{found}; revert FAILED after {after}: {self.error}{undo}"
        return f"cannot be rebuilt from the journal: {self.error}{undo}"

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "iteration": self.iteration,
            "injector": self.injector,
            "target": self.target,
            "before": str(self.before),
            "before_detail": self.before_detail,
            "outcome": str(self.outcome),
            "attempts": self.attempts,
            "error": self.error,
            "undo": self.undo,
        }


@dataclass
class RollbackReport:
    """What one rollback found and did: a :class:`FaultReport` per outstanding
    fault (newest first) and the journal lines it had to skip."""

    journal: Path
    faults: list[FaultReport] = field(default_factory=list)
    journal_problems: list[JournalProblem] = field(default_factory=list)
    secrets: Secrets = field(default_factory=Secrets, repr=False)
    """The values the journal's ``${env:...}`` brought in: redact what is shown."""

    @property
    def reverted(self) -> list[str]:
        return [f.fault for f in self.faults if f.ok]

    @property
    def failed(self) -> list[str]:
        return [f"{f.fault}: {f.summary()}" for f in self.faults if not f.ok]

    @property
    def unreadable_lines(self) -> list[JournalProblem]:
        """Corrupt journal lines: a fault recorded there cannot be seen."""
        return [problem for problem in self.journal_problems if not problem.torn]

    @property
    def exit_code(self) -> int:
        """0 when every outstanding fault was reverted (or none was left) and the
        whole journal was read; 4 otherwise (something may still be applied)."""
        return 4 if self.unreadable_lines or not all(f.ok for f in self.faults) else 0

    def render(self, run_dir: Path) -> str:
        """The report for people: one line per fault, then what is left to do."""
        if not self.faults:
            if self.unreadable_lines:
                return f"{run_dir}: no outstanding fault in the lines that could be read"
            return f"{run_dir}: nothing left applied; nothing to do"
        width = max(len(f.fault) for f in self.faults)
        lines = []
        for fault in self.faults:
            status = "reverted" if fault.ok else "FAILED"
            where = f"{fault.injector} on {fault.target}"
            if fault.iteration not in (None, 0, 1):
                where += f", iteration {fault.iteration}"
            lines.append(f"{status:<9} {fault.fault:<{width}}  {where}: {fault.summary()}")
        left = len(self.faults) - len(self.reverted)
        if left:
            lines.append(
                f"{left} of {len(self.faults)} faults may still be applied: undo by hand what "
                f"each FAILED line says (journal: {self.journal})"
            )
        return str(self.secrets.redact("\n".join(lines)))

    def journal_notes(self) -> list[str]:
        """For stderr: each journal line that was not a complete record."""
        notes = []
        for problem in self.journal_problems:
            if problem.torn:
                notes.append(f"chaoskit: note: {problem.describe(self.journal)}")
            else:
                notes.append(
                    f"chaoskit: warning: {problem.describe(self.journal)}; a fault recorded "
                    "there cannot be seen, so check by hand that nothing of it is applied"
                )
        return notes

    def tracebacks(self) -> list[str]:
        """For ``--verbose``: the traceback of each fault that failed, redacted."""
        return [
            str(self.secrets.redact("".join(traceback.format_exception(f.exception))))
            for f in self.faults
            if f.exception is not None
        ]

    def to_json(self) -> dict[str, Any]:
        document = {
            "journal": str(self.journal),
            "exit_code": self.exit_code,
            "faults": [f.to_json() for f in self.faults],
            "journal_problems": [
                {"line": p.line, "torn": p.torn, "excerpt": p.excerpt}
                for p in self.journal_problems
            ],
        }
        redacted: dict[str, Any] = self.secrets.redact(document)
        return redacted


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
    async with _locked(run_dir, wait, log):
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


@asynccontextmanager
async def _locked(run_dir: Path, wait: float, log: FilteringBoundLogger) -> AsyncIterator[None]:
    """Hold ``rollback.lock`` (an exclusive ``flock``; the kernel drops it when
    the process dies, so a killed rollback never leaves the run locked). The
    file keeps the holder's pid so that a waiting rollback can name it; the file
    itself stays, because unlinking a lock file lets two processes lock two files."""
    path = run_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"{path}: cannot open the rollback lock: {exc.strerror}") from exc
    try:
        deadline = time.monotonic() + wait
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            holder = _holder(fd)
            if time.monotonic() >= deadline:
                raise RollbackInProgress(run_dir, holder, wait)
            if not waiting:
                log.warning("another rollback of this run is in progress", pid=holder, wait=wait)
                waiting = True
            await anyio.sleep(_POLL)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _holder(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


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


def _describe_undo(undo: dict[str, Any] | None) -> str:
    if undo is None:
        return "see the journal"
    as_json = {k: json.dumps(v, default=str) for k, v in undo.items()}
    return (
        f"injector {undo['injector']}, target {undo['target_name']} {as_json['target']}, "
        f"revert state {as_json['revert_state']}"
    )


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

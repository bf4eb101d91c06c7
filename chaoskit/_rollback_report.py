"""What ``chaoskit rollback`` found and did, per fault: the typed report behind
its lines, its journal records and its ``--json``."""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from chaoskit._journal import JournalProblem
from chaoskit._secrets import Secrets

__all__ = ["Before", "FaultReport", "Outcome", "RollbackReport"]


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


def _describe_undo(undo: dict[str, Any] | None) -> str:
    if undo is None:
        return "see the journal"
    as_json = {k: json.dumps(v, default=str) for k, v in undo.items()}
    return (
        f"injector {undo['injector']}, target {undo['target_name']} {as_json['target']}, "
        f"revert state {as_json['revert_state']}"
    )

"""The run's phases as an explicit state machine (DESIGN §4)."""

from __future__ import annotations

from enum import StrEnum

from chaoskit._journal import Journal

__all__ = ["Phase", "PhaseMachine"]


class Phase(StrEnum):
    START = "start"
    PREFLIGHT = "preflight"
    BASELINE = "baseline"
    FAULTS = "fault-phase"
    RECOVERY = "recovery"
    AUDIT = "audit"
    VERDICT = "verdict"


# Every phase may jump to VERDICT: that is how aborts, unsteady baselines and
# errors end a run (the reverts have already run by then).
_ALLOWED: dict[Phase, frozenset[Phase]] = {
    Phase.START: frozenset({Phase.PREFLIGHT, Phase.VERDICT}),
    Phase.PREFLIGHT: frozenset({Phase.BASELINE, Phase.VERDICT}),
    Phase.BASELINE: frozenset({Phase.FAULTS, Phase.AUDIT, Phase.VERDICT}),
    Phase.FAULTS: frozenset({Phase.RECOVERY, Phase.VERDICT}),
    Phase.RECOVERY: frozenset({Phase.FAULTS, Phase.AUDIT, Phase.VERDICT}),
    Phase.AUDIT: frozenset({Phase.VERDICT}),
    Phase.VERDICT: frozenset(),
}


class PhaseMachine:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self.current = Phase.START
        self.history: list[tuple[str, float]] = []

    def move(self, to: Phase, **fields: object) -> None:
        if to not in _ALLOWED[self.current]:
            raise RuntimeError(f"illegal phase change {self.current} -> {to}")
        self.current = to
        record = self._journal.write("phase", durable=True, phase=str(to), **fields)
        self.history.append((str(to), record["t"]))

"""The run's phases as an explicit state machine (DESIGN §4)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FAULT_WINDOW", "LEAD_IN", "SEGMENTS", "Phase", "PhaseMachine"]


class Phase(StrEnum):
    START = "start"
    PREFLIGHT = "preflight"
    BASELINE = "baseline"
    FAULTS = "fault-phase"
    RECOVERY = "recovery"
    AUDIT = "audit"
    VERDICT = "verdict"


# The segments that load and probe figures are kept by: the phases, except that
# an iteration's fault phase is split at its first successful inject into the
# lead-in (nothing injected yet) and the fault window (first inject to last
# revert; the phase ends with the last revert). "During the fault" means this.
LEAD_IN = "lead-in"
FAULT_WINDOW = "fault"
SEGMENTS = (str(Phase.BASELINE), LEAD_IN, FAULT_WINDOW, str(Phase.RECOVERY))
"""The segments a summary shows, in the order they come in an iteration."""

# Every phase may jump to VERDICT: that is how aborts, unsteady baselines and
# errors end a run (the reverts have already run by then).
_ALLOWED: dict[Phase, frozenset[Phase]] = {
    Phase.START: frozenset({Phase.PREFLIGHT, Phase.VERDICT}),
    Phase.PREFLIGHT: frozenset({Phase.BASELINE, Phase.VERDICT}),
    Phase.BASELINE: frozenset({Phase.FAULTS, Phase.AUDIT, Phase.VERDICT}),
    # FAULTS → AUDIT: an aborted run still audits the writes it made
    Phase.FAULTS: frozenset({Phase.RECOVERY, Phase.AUDIT, Phase.VERDICT}),
    Phase.RECOVERY: frozenset({Phase.FAULTS, Phase.AUDIT, Phase.VERDICT}),
    Phase.AUDIT: frozenset({Phase.VERDICT}),
    Phase.VERDICT: frozenset(),
}


class PhaseMachine:
    """Where the run is; ``check`` before a move is journaled, ``entered`` after."""

    def __init__(self) -> None:
        self.current = Phase.START

    def check(self, to: Phase) -> None:
        if to not in _ALLOWED[self.current]:
            raise RuntimeError(f"illegal phase change {self.current} -> {to}")

    def entered(self, phase: Phase) -> None:
        self.current = phase

"""The run's event stream: every journal record is one of these typed, frozen
events (ADR 0018). The runner appends them (``Journal.append``); the journal
writer, rollback, export, results and any live view read them back.

Every event has ``seq`` (its place in this writer's journal), ``t`` (seconds
since the run's origin on the monotonic clock) and ``wall`` (the wall clock
beside it); the journal stamps all three. ``event`` names the kind.

Versions: ``run_started`` carries ``journal_version``. A journal without one is
version 1 (chaoskit before the typed stream) and is migrated as it is read
(:func:`migrate`); a newer version than this chaoskit knows is refused.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError

from chaoskit._model import Expectations
from chaoskit._phases import Phase
from chaoskit._results import LoadSummary

__all__ = [
    "EVENTS",
    "JOURNAL_VERSION",
    "Aborted",
    "AuditStopped",
    "Audited",
    "BaselineJudged",
    "ControlAction",
    "ControlApplied",
    "Event",
    "EventBase",
    "FaultInjectFailed",
    "FaultInjected",
    "FaultIntent",
    "FaultNotInForce",
    "FaultRevertAttemptFailed",
    "FaultRevertFailed",
    "FaultReverted",
    "FaultStarted",
    "FaultVerified",
    "IterationEnded",
    "LoadFigures",
    "LoadWindow",
    "PhaseChanged",
    "PlannedProbe",
    "RollbackFault",
    "RollbackFinished",
    "RollbackStarted",
    "RunError",
    "RunFinished",
    "RunPlan",
    "RunStarted",
    "SafeguardTripped",
    "SampleTaken",
    "SlotsMissed",
    "as_json",
    "migrate",
    "parse_event",
    "parse_event_json",
]

JOURNAL_VERSION = 4


class EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    seq: int = 0
    event: str
    t: float = 0.0
    wall: float = 0.0


class PlannedProbe(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str
    kind: str
    scope: Literal["target", "outside"]
    every: float = Field(description="its sample interval, the default applied")
    unit: str | None = Field(None, description="of its values, for a probe that measures")


class RunPlan(BaseModel):
    """What a run's results are judged by, resolved at its start (defaults
    applied, each probe's unit from its plugin): results are rebuilt from the
    journal with this alone, no plugin needed."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    probes: list[PlannedProbe] = Field(description="the steady-state probes")
    stable_for: float
    repeat: int
    faults: list[str] = Field(description="the faults' names; none: no iteration is run")
    expect: Expectations


class RunStarted(EventBase):
    event: Literal["run_started"] = "run_started"
    journal_version: int = JOURNAL_VERSION
    run_id: str
    source: str
    title: str
    experiment: JsonValue = Field(
        description="the validated experiment as JSON, ${env:NAME} where a secret was"
    )
    chaoskit_version: str
    plugins: dict[str, str] = Field(
        default_factory=dict,
        description="the distributions of the plugins the run used, with their versions "
        "(empty before journal version 4)",
    )
    pid: int
    started_at: str
    plan: RunPlan | None = Field(None, description="None before journal version 3")


class PhaseChanged(EventBase):
    event: Literal["phase"] = "phase"
    phase: Phase
    iteration: int | None = None


class BaselineJudged(EventBase):
    event: Literal["baseline"] = "baseline"
    steady: bool


class SampleTaken(EventBase):
    """One probe sample; ``t`` is when it started, ``t + latency`` when it completed."""

    event: Literal["sample"] = "sample"
    role: Literal["steady", "recovery"]
    probe: str
    scope: str
    ok: bool
    latency: float
    value: JsonValue = None
    detail: str = ""
    segment: str = Field("", description="the segment its figures went to ('' before v2)")


class SlotsMissed(EventBase):
    """A sample overran its interval: the probe's next ``missed`` slots are skipped."""

    event: Literal["slots_missed"] = "slots_missed"
    probe: str
    missed: int


class IterationEnded(EventBase):
    """An iteration's recovery wait is over (``complete``), or an abort or error
    cut the iteration short."""

    event: Literal["iteration_ended"] = "iteration_ended"
    iteration: int
    complete: bool


class LoadFigures(EventBase):
    """A load stream's figures once it has stopped."""

    event: Literal["load_figures"] = "load_figures"
    summary: LoadSummary


class LoadWindow(EventBase):
    """A load stream's answers in one window of the run (a second, the last one
    shorter): what a timeline draws its throughput, errors and latency from.
    Counted by when each answer came; ``sent`` by when each request went."""

    event: Literal["load_window"] = "load_window"
    stream: str
    start: float = Field(description="the window's start, seconds since the run's origin")
    end: float
    sent: int
    acknowledged: int
    failed: int
    indeterminate: int
    p50: float | None = Field(description="of the latencies answered in the window, seconds")
    p95: float | None
    p99: float | None


class _FaultEvent(EventBase):
    fault: str
    iteration: int = 0


class FaultStarted(_FaultEvent):
    """A fault's wait is over (its offset, or the controller said): it is being
    prepared. Not written for a target's setup step."""

    event: Literal["fault_started"] = "fault_started"
    injector: str
    target_name: str
    at: float = Field(description="its planned offset from the start of the fault phase")
    duration: float = Field(description="how long it is planned to stay in force")


class FaultIntent(_FaultEvent):
    """Written (fsync'd) before ``inject``: the fault is outstanding from here."""

    event: Literal["fault_intent"] = "fault_intent"
    injector: str
    target_name: str
    target: JsonValue
    params: JsonValue
    revert_state: JsonValue
    setup: bool = False
    """What the run created for a target (ADR 0015), not a fault of an iteration."""


class FaultInjected(_FaultEvent):
    event: Literal["fault_injected"] = "fault_injected"
    revert_state: JsonValue
    setup: bool = False


class FaultVerified(_FaultEvent):
    """The injector's ``verify`` saw the fault in force."""

    event: Literal["fault_verified"] = "fault_verified"
    setup: bool = False


class FaultInjectFailed(_FaultEvent):
    event: Literal["fault_inject_failed"] = "fault_inject_failed"
    error: str
    setup: bool = False


class FaultNotInForce(_FaultEvent):
    event: Literal["fault_not_in_force"] = "fault_not_in_force"
    error: str
    setup: bool = False


class FaultRevertAttemptFailed(_FaultEvent):
    event: Literal["fault_revert_attempt_failed"] = "fault_revert_attempt_failed"
    attempt: int
    error: str
    by: Literal["rollback"] | None = None


class FaultRevertFailed(_FaultEvent):
    event: Literal["fault_revert_failed"] = "fault_revert_failed"
    attempts: int = 0
    error: str
    revert_state: JsonValue
    by: Literal["rollback"] | None = None


class FaultReverted(_FaultEvent):
    event: Literal["fault_reverted"] = "fault_reverted"
    attempts: int
    by: Literal["rollback"] | None = None


class SafeguardTripped(EventBase):
    event: Literal["safeguard_tripped"] = "safeguard_tripped"
    probe: str
    failing_for: float


ControlAction = Literal["hold", "release", "start", "extend", "end", "skip", "note", "abort"]


class ControlApplied(EventBase):
    """A controller steered the run: who did what, when and why."""

    event: Literal["control"] = "control"
    action: ControlAction
    by: str
    why: str = ""
    step: str | None = Field(None, description="the fault (or 'iteration N') it acted on")
    iteration: int | None = None
    seconds: float | None = Field(None, description="extend: by how long")


class Aborted(EventBase):
    event: Literal["abort"] = "abort"
    reason: str


class RunError(EventBase):
    event: Literal["error"] = "error"
    error: str


class Audited(EventBase):
    event: Literal["audit"] = "audit"
    stream: str
    writes: int
    acknowledged: int
    failed: int
    indeterminate: int
    lost: int
    indeterminate_present: int
    indeterminate_absent: int
    phantom: int
    duplicated: int | None
    unverified: int
    data_loss_rate: float
    lost_ids: list[str] = Field(default_factory=list, description="the first lost ids")
    audit_seconds: float


class AuditStopped(EventBase):
    event: Literal["audit_stopped"] = "audit_stopped"
    after_abort: bool


class RunFinished(EventBase):
    event: Literal["run_finished"] = "run_finished"
    status: str
    exit_code: int
    reason: str


class RollbackStarted(EventBase):
    event: Literal["rollback_started"] = "rollback_started"
    outstanding: int
    pid: int
    journal_problems: list[str] = Field(default_factory=list)


class RollbackFault(EventBase):
    event: Literal["rollback_fault"] = "rollback_fault"
    fault: str
    iteration: int | None
    injector: str
    target: str
    before: str
    before_detail: str
    outcome: str
    attempts: int
    error: str
    undo: dict[str, JsonValue] | None


class RollbackFinished(EventBase):
    event: Literal["rollback_finished"] = "rollback_finished"
    reverted: list[str]
    failed: list[str]


Event = Annotated[
    RunStarted
    | PhaseChanged
    | BaselineJudged
    | SampleTaken
    | SlotsMissed
    | IterationEnded
    | LoadFigures
    | LoadWindow
    | FaultStarted
    | FaultIntent
    | FaultInjected
    | FaultVerified
    | FaultInjectFailed
    | FaultNotInForce
    | FaultRevertAttemptFailed
    | FaultRevertFailed
    | FaultReverted
    | SafeguardTripped
    | ControlApplied
    | Aborted
    | RunError
    | Audited
    | AuditStopped
    | RunFinished
    | RollbackStarted
    | RollbackFault
    | RollbackFinished,
    Field(discriminator="event"),
]

EVENTS: frozenset[str] = frozenset(
    str(model.model_fields["event"].default)
    for model in EventBase.__subclasses__() + _FaultEvent.__subclasses__()
    if model is not _FaultEvent
)


def as_json(value: object) -> JsonValue:
    """``value`` as JSON gives it back (tuples as lists, keys as strings, what
    JSON cannot hold as its ``str``): what the journal holds of it."""
    decoded: JsonValue = json.loads(json.dumps(value, default=str))
    return decoded


@functools.cache
def _adapter() -> TypeAdapter[Event]:
    """Built on first use: a run writes events, only readers of a journal need it."""
    return TypeAdapter(Event)


def parse_event(record: dict[str, Any]) -> Event:
    """The event a journal record holds; ValidationError when it holds none."""
    return _adapter().validate_python(record)


def parse_event_json(line: str) -> Event:
    """The event a journal line of the current version holds, validated from its
    JSON text; ValidationError when it holds none (or is not JSON)."""
    return _adapter().validate_json(line)


def migrate(record: dict[str, Any], version: int) -> dict[str, Any]:
    """A record of journal ``version`` as the current version writes it.

    Versions 1 (no ``journal_version``), 2 and 3 wrote the same records with fewer
    fields (and fewer kinds): every field added since has a default, so nothing
    needs rewriting. Their ``run_started`` has no ``plan``: their results cannot
    be rebuilt.
    """
    if version < JOURNAL_VERSION and record.get("event") == "run_started":
        return {**record, "journal_version": JOURNAL_VERSION}
    return record


def problem_of(error: ValidationError, record: dict[str, Any]) -> str:
    """What is wrong with a record that is JSON but not an event, in one line."""
    event = record.get("event")
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        loc = [str(p) for p in item["loc"]]
        if loc and loc[0] == event:  # the union's tag adds nothing here
            loc = loc[1:]
        where = ".".join(loc)
        if item["type"] == "missing":
            parts.append(f"the {event} record has no {where!r}")
        elif item["type"] == "union_tag_invalid":
            parts.append(f"unknown event {event!r}")
        elif item["type"] == "union_tag_not_found":
            parts.append("the record has no 'event'")
        else:
            parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)

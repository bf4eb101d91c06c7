"""results.json: the typed, versioned outcome of a run.

All ``t_*`` fields are seconds on the run's monotonic clock (0 = run start);
``started_at`` gives the wall-clock time of that origin. Later tools (the HTML
report, baseline comparison, the pytest plugin) read this file and the journal.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = [
    "RESULTS_NAME",
    "SCHEMA_VERSION",
    "Breach",
    "DataLoss",
    "ExpectationResult",
    "FaultRecord",
    "IterationMeasurements",
    "LatencySummary",
    "LoadPhase",
    "LoadSummary",
    "Measurements",
    "ProbeSummary",
    "RecoveryProbeResult",
    "RunResult",
    "RunStatus",
    "Stats",
    "ValueSummary",
]

SCHEMA_VERSION = 1
RESULTS_NAME = "results.json"


class RunStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    UNSTEADY_BASELINE = "unsteady-baseline"
    ABORTED = "aborted"
    DIRTY = "dirty"
    INVALID = "invalid"

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]


_EXIT_CODES = {
    RunStatus.PASSED: 0,
    RunStatus.FAILED: 1,
    RunStatus.UNSTEADY_BASELINE: 1,
    RunStatus.INVALID: 2,
    RunStatus.ABORTED: 3,
    RunStatus.DIRTY: 4,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaultRecord(_Model):
    name: str
    injector: str
    target: str
    iteration: int
    at: float = Field(description="planned offset from the start of the fault phase")
    duration: float
    t_inject: float | None = None
    t_revert: float | None = None
    verified: bool | None = Field(None, description="None: the injector cannot tell")
    inject_error: str | None = None
    revert_attempts: int = 0
    reverted: bool = False
    revert_error: str | None = None
    revert_state: JsonValue = None


class Stats(_Model):
    n: int
    mean: float
    p50: float
    p95: float
    min: float
    max: float
    resolution: float | None = Field(
        None,
        description="the widest resolution among the iterations: the true value of each "
        "lies within this many seconds of the measured one",
    )


class Breach(_Model):
    probe: str
    t_first_failure: float
    propagation_delay: float = Field(
        description="t_first_failure minus the target's first violation (or the first inject); "
        "negative when the neighbour failed first"
    )
    resolution: float = Field(
        description="width of the window the delay really lies in (both onsets are known "
        "only between two samples): a delay smaller than this says nothing about the order"
    )
    measured_from: Literal["first-target-violation", "first-inject"]


class IterationMeasurements(_Model):
    iteration: int
    t_inject: float | None
    t_revert: float | None
    t_impact: float | None
    t_recovered: float | None
    tolerated: bool = Field(description="no steady-state violation after the first inject")
    recovered: bool
    mttr: float | None = Field(description="t_recovered - t_impact; 0 when tolerated")
    ttd: float | None = Field(description="t_impact - t_inject")
    time_to_heal: float | None = Field(
        description="t_recovered - t_revert; negative when the system healed itself "
        "before the revert (a restart, a failover)"
    )
    mttr_resolution: float | None = Field(
        None, description="the impact's window plus the recovery's: where the true MTTR lies"
    )
    ttd_resolution: float | None = Field(
        None,
        description="width of the impact's window: from the completion of the probe's last "
        "ok sample to the completion of its first failing one",
    )
    heal_resolution: float | None = Field(
        None,
        description="width of the recovery's window: from the start of the probe's last "
        "failing sample to the completion of its first ok one",
    )
    blast_radius: list[Breach]
    contained: bool


class Measurements(_Model):
    resolution: float = Field(
        description="the largest steady-state probe interval, seconds (nominal; each "
        "figure carries its real resolution)"
    )
    iterations: list[IterationMeasurements]
    mttr: Stats | None
    ttd: Stats | None
    time_to_heal: Stats | None
    contained: bool
    blast_radius: list[str]


class LatencySummary(_Model):
    """Latency in seconds, from an HDR histogram (3 significant digits)."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float


class LoadPhase(_Model):
    """One load stream in one phase."""

    sent: int
    acknowledged: int
    failed: int
    indeterminate: int
    duration: float = Field(description="seconds the stream ran in this phase")
    throughput: float = Field(description="answered requests per second")
    error_rate: float = Field(description="(failed + indeterminate) / sent")
    latency: LatencySummary | None = Field(
        None,
        description="open loop: from the intended send time (coordinated omission "
        "corrected); closed loop: from the actual send",
    )


class LoadSummary(_Model):
    name: str
    mode: Literal["open", "closed"]
    sent: int
    intended: int = Field(
        description="open loop: requests whose intended send time came before the stop"
    )
    phases: dict[str, LoadPhase]
    writes_file: str | None = None


class DataLoss(_Model):
    """The write-ledger audit (Jepsen-style): every write looked up after recovery."""

    stream: str
    writes: int
    acknowledged: int
    failed: int
    indeterminate: int
    lost: int = Field(description="acknowledged and absent: data loss")
    indeterminate_present: int
    indeterminate_absent: int
    phantom: int = Field(description="failed but present")
    duplicated: int | None = Field(None, description="None: the lookup cannot count copies")
    unverified: int = Field(description="lookups that gave no answer")
    data_loss_rate: float = Field(description="lost / acknowledged")
    lost_ids: list[str] = Field(default_factory=list, description="the first lost ids")
    audit_seconds: float


class ValueSummary(_Model):
    """A probe's numeric readings in one phase (resource usage, a queue depth …)."""

    count: int
    min: float
    max: float
    mean: float


class ProbeSummary(_Model):
    name: str
    kind: str
    scope: Literal["target", "outside"]
    every: float
    samples: int
    failures: int
    skipped_slots: int = Field(0, description="intervals missed because a sample overran")
    latency_max: float | None = None
    last_detail: str = ""
    latency: dict[str, LatencySummary] = Field(
        default_factory=dict, description="per phase, from an HDR histogram"
    )
    unit: str | None = Field(None, description="of the values, for a probe that measures")
    values: dict[str, dict[str, ValueSummary]] = Field(
        default_factory=dict,
        description=(
            "per phase, per reading, for a probe that measures (a value_unit): a value "
            "that is a number is the reading 'value'; one that maps names to numbers (a "
            "container, a process each) gives one reading per name. Resource probes give "
            "resource usage here."
        ),
    )


class RecoveryProbeResult(_Model):
    name: str
    ok: bool
    value: JsonValue = None
    detail: str = ""


class ExpectationResult(_Model):
    name: str
    expected: str
    measured: JsonValue
    met: bool | None = Field(
        description="None: not judged, the run was aborted (the value is what it could measure)"
    )


class RunResult(_Model):
    schema_version: int = SCHEMA_VERSION
    chaoskit_version: str
    run_id: str
    title: str
    source: str
    status: RunStatus
    exit_code: int
    reason: str = ""
    started_at: str = Field(description="wall-clock time of t=0, ISO 8601 UTC")
    duration: float
    phases: list[tuple[str, float]] = Field(description="(phase, t_start)")
    aborted_in: str | None = Field(
        None, description="the phase (and iteration) an abort or error came in"
    )
    baseline_steady: bool | None = None
    hypothesis_held: bool | None = None
    faults: list[FaultRecord] = Field(default_factory=list)
    probes: list[ProbeSummary] = Field(default_factory=list)
    recovery_probes: list[RecoveryProbeResult] = Field(default_factory=list)
    measurements: Measurements | None = None
    expectations: list[ExpectationResult] = Field(default_factory=list)
    load: list[LoadSummary] = Field(default_factory=list)
    data_loss: list[DataLoss] = Field(default_factory=list)
    left_applied: list[str] = Field(
        default_factory=list, description="faults whose revert failed: undo by hand"
    )
    journal: str = "journal.jsonl"

"""Load streams as written in experiments (``load:``).

A stream is open-loop (``rate``, optionally ``stages``, ``ramp`` and
``spikes``: requests are sent at intended times whatever the system does, and
latency is measured from the intended time, so stalls are not hidden) or
closed-loop (``users`` that each send, wait for the answer, think, repeat).
Its requests come from one kind key (``http: {...}``) or a weighted ``tasks:``
list. ``writes:`` turns every request into an audited write.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from chaoskit._plugin_api import Params
from chaoskit._units import Duration, PositiveDuration, Rate

__all__ = ["LoadSpec", "LookupSpec", "Ramp", "Spike", "Stage", "TaskSpec", "WritesSpec"]

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Stage(_Strict):
    rate: Rate
    for_: PositiveDuration = Field(alias="for", description="how long this rate lasts")


class Ramp(_Strict):
    to: Rate = Field(description="the rate reached at the end of the ramp")
    over: PositiveDuration


class Spike(_Strict):
    at: Duration = Field(description="offset from the start of the load")
    for_: PositiveDuration = Field(alias="for")
    factor: float = Field(gt=0, le=100, description="the rate is multiplied by this")


class TaskSpec(_Strict):
    """One kind of request of a stream (a kind key such as ``http:``) and its weight."""

    load_kind: ClassVar[str] = ""
    weight: int = Field(1, ge=1, le=1000)
    kind_params: Params


class LookupSpec(_Strict):
    """How the audit finds writes: one lookup-kind key (``http:``, ``sql:`` ...)."""

    lookup_kind: ClassVar[str] = ""
    timeout: PositiveDuration = Field(5.0, description="per lookup request")
    batch: int = Field(5_000, ge=1, le=1_000_000, description="write ids per lookup call")
    kind_params: Params


class WritesSpec(_Strict):
    """Every request of the stream is a write with id ``{{id}}``, looked up after
    recovery: acknowledged but absent is data loss."""

    lookup: LookupSpec


class LoadSpec(_Strict):
    name: Name
    rate: Rate | None = Field(None, description="open loop: requests per second, e.g. 200/s")
    stages: list[Stage] = Field(default_factory=list, description="open loop: step profile")
    ramp: Ramp | None = Field(None, description="open loop: change the rate linearly")
    spikes: list[Spike] = Field(default_factory=list)
    users: int | None = Field(None, ge=1, le=10_000, description="closed loop: virtual users")
    think: Duration = Field(0.0, description="closed loop: pause after each answer")
    timeout: PositiveDuration = Field(2.0, description="per request")
    max_in_flight: int = Field(512, ge=1, le=100_000, description="open loop: concurrency cap")
    max_requests: int = Field(10_000_000, ge=1, description="stop after this many requests")
    tasks: list[TaskSpec] = Field(default_factory=list, min_length=1)
    writes: WritesSpec | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> LoadSpec:
        open_loop = self.rate is not None or bool(self.stages)
        if open_loop == (self.users is not None):
            raise ValueError("expected either rate/stages (open loop) or users (closed loop)")
        if self.rate is not None and self.stages:
            raise ValueError("expected rate or stages, not both")
        if self.users is not None and (self.ramp or self.spikes):
            raise ValueError("ramp and spikes apply to open-loop streams (rate or stages)")
        return self


def lift_kind_key(value: Any, kinds: set[str]) -> Any:
    """``{name, rate, http: {...}}`` → ``{name, rate, tasks: [{http: {...}}]}``."""
    if not isinstance(value, dict) or "tasks" in value:
        return value
    present = [key for key in value if key in kinds]
    if len(present) != 1:
        return value
    lifted = {k: v for k, v in value.items() if k != present[0]}
    lifted["tasks"] = [{present[0]: value[present[0]]}]
    return lifted

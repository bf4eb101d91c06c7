"""``process.alive``: how many processes the selector matches (zombies, chaoskit
and its helpers left out)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chaoskit import Expect, NumberThreshold, Observation, Params, ProbeContext
from chaoskit_process._probe import ProbeParams, ProbeUnanswered, probe_inputs, within_budget
from chaoskit_process._select import find

__all__ = ["AliveExpect", "AliveProbe"]


class AliveExpect(Expect):
    count: NumberThreshold = Field(
        default=">= 1", validate_default=True, description="a bound on the number of matches"
    )


class AliveProbe:
    """The value is the number of matching processes."""

    name: ClassVar[str] = "process.alive"
    params: ClassVar[type[Params]] = ProbeParams
    expect: ClassVar[type[Expect]] = AliveExpect

    async def observe(self, ctx: ProbeContext) -> Observation:
        selector, expect = probe_inputs(ctx, self.name, AliveExpect)
        try:
            found = await within_budget(ctx, find, selector)
        except ProbeUnanswered as exc:
            return Observation(ok=False, detail=str(exc))
        count = len(found)
        if expect.count.holds(count):
            return Observation(ok=True, value=count)
        return Observation(
            ok=False, value=count, detail=f"{count} processes, expected {expect.count}"
        )

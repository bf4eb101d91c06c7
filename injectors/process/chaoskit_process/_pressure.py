"""What the pressure injectors share: helper processes started by inject,
recorded by pid and start time, ended by revert (and found by their tag when a
crash kept them out of the revert state)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chaoskit import (
    FaultContext,
    FaultNotInForce,
    Footprint,
    InjectorError,
    JsonValue,
    Params,
    RevertState,
)
from chaoskit_process._base import (
    TARGET_KIND,
    blocking,
    poll,
)
from chaoskit_process._helpers import Helper, end_helpers, is_alive, tagged_helpers

__all__ = ["MAX_DURATION_DEFAULT", "MAX_DURATION_HELP", "PressureInjector", "PressureState"]

MAX_DURATION_DEFAULT = 300.0
MAX_DURATION_HELP = (
    "hard cap: the helpers end themselves after this long even if chaoskit dies and "
    "nobody rolls back; set it a little above the fault's duration"
)


class PressureState(RevertState):
    """The revert state of a pressure fault, as JSON::

        {"mode": "burn", "helpers": [{"pid": 5001, "create_time": 1718000000.4}]}

    ``helpers`` are the processes inject started (empty in the intent: they do not
    exist yet; revert then finds them by the fault's tag)."""

    mode: str
    helpers: list[Helper] = Field(default_factory=list)


def _left(tag: str, mode: str) -> list[int]:
    return [process.pid for process in tagged_helpers(tag, mode)]


class PressureInjector:
    """Lifecycle shared by ``process.cpu_pressure`` and ``process.memory_pressure``."""

    name: ClassVar[str]
    params: ClassVar[type[Params]]
    target_kinds: ClassVar[tuple[str, ...]] = (TARGET_KIND,)
    mode: ClassVar[str]
    """the helper's mode in ``_worker.py``"""

    def footprint(self, ctx: FaultContext) -> Footprint:
        """For ``--dry-run``: what the params say, and the helpers."""
        does = (type(ctx.params).__doc__ or "").strip()
        max_duration = getattr(ctx.params, "max_duration", MAX_DURATION_DEFAULT)
        return Footprint(
            changes=(does,),
            creates=(
                f"{self.mode} helper processes (python _worker.py chaoskit-process-helper "
                f"--tag={ctx.tag} {self.mode}): revert kills them, also those a crash kept out "
                f"of the journal (found by the tag); each ends itself after {max_duration:g}s",
            ),
        )

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = PressureState.parse(revert_state)
        killed = await blocking(
            end_helpers,
            ctx.tag,
            state.helpers,
            self.mode,
            what=f"ending the {self.mode} helpers",
            changes=True,
        )
        if killed:
            ctx.log.info("process.helpers_ended", mode=self.mode, pids=killed)
        left = await poll(_left, ctx.tag, self.mode, within=2.0, what="checking the helpers")
        if left:
            raise InjectorError(f"{self.mode} helpers {left} of {ctx.tag} are still running")

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = PressureState.parse(revert_state)
        if not state.helpers:
            raise FaultNotInForce("no helper process was started")
        dead = [
            helper.pid
            for helper in state.helpers
            if not await blocking(is_alive, helper, what="checking the helpers")
        ]
        if dead:
            raise FaultNotInForce(f"{self.mode} helpers {dead} are not running")

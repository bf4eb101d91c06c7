"""Steering a run (ADR 0018): the controller interface, and ``RunControl``, what
a controller may do to a run while it goes on.

A run's *steps* are the start of each iteration and the start of each fault of
each iteration. The default controller (:class:`Scheduled`) does nothing, so
every step happens on the experiment's schedule. Another controller (a GameDay
facilitator's console, a test) may, through ``RunControl``:

* ``hold``: no step starts until ``release`` (a step that fell due meanwhile
  starts at the release). Faults in force stay on their own schedule;
* ``start`` a fault now, before its offset or through a hold;
* ``extend`` a fault that is pending or in force; ``end`` one in force now;
* ``skip`` a fault that has not started;
* ``note`` something for the journal and the report; ``abort`` the run.

Each action is journaled first (``control``: who, when, why), then takes
effect. No action can keep a fault applied past the end of the run: every path
out of a run goes through the runner's ``revert_all``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import anyio

from chaoskit._errors import ChaoskitError
from chaoskit._events import ControlAction, ControlApplied
from chaoskit._stream import EventStream

__all__ = ["ControlRefused", "Controller", "RunControl", "Scheduled", "StepState"]


class ControlRefused(ChaoskitError):
    """An action that does not apply now (an unknown fault, one already reverted …)."""


class StepState(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    """Its wait is over: being prepared and injected."""
    IN_FORCE = "in-force"
    DONE = "done"
    """Reverted, or its inject failed."""
    SKIPPED = "skipped"


@dataclass
class _Step:
    fault: str
    iteration: int
    duration: float
    state: StepState = StepState.PENDING
    start_now: bool = False
    end_now: bool = False
    extended: float = 0.0
    started: float | None = None
    """When its wait ended (monotonic): its time in force counts from here."""

    def end_due(self) -> float:
        assert self.started is not None
        return self.started + self.duration + self.extended


@dataclass
class RunControl:
    """The run's side of steering: the actions a controller calls, and the
    waits the runner makes through them."""

    stream: EventStream
    on_abort: Callable[[str], None]
    _steps: dict[tuple[str, int], _Step] = field(default_factory=dict)
    _changed: anyio.Event = field(default_factory=anyio.Event)
    held: bool = False
    iteration: int = 0
    """The iteration under way (0: none has started)."""
    ended: bool = False

    def plan(self, faults: list[tuple[str, float]], iterations: int) -> None:
        """Register every step: ``faults`` as (name, duration), each iteration."""
        for iteration in range(1, iterations + 1):
            for name, duration in faults:
                self._steps[(name, iteration)] = _Step(name, iteration, duration)

    def state(self, fault: str, iteration: int) -> StepState:
        return self._steps[(fault, iteration)].state

    # -- actions ----------------------------------------------------------------

    def hold(self, *, by: str, why: str = "") -> None:
        """No step starts until ``release``."""
        self._act("hold", by, why)
        self.held = True
        self._wake()

    def release(self, *, by: str, why: str = "") -> None:
        if not self.held:
            raise ControlRefused("the run is not held")
        self._act("release", by, why)
        self.held = False
        self._wake()

    def start(self, fault: str, *, by: str, why: str = "", iteration: int | None = None) -> None:
        """Start a pending fault now: before its offset, or through a hold."""
        step = self._step(fault, iteration, "start", {StepState.PENDING})
        self._act("start", by, why, step)
        step.start_now = True
        self._wake()

    def extend(
        self, fault: str, seconds: float, *, by: str, why: str = "", iteration: int | None = None
    ) -> None:
        """Keep a pending or applied fault in force ``seconds`` longer than planned."""
        if not (math.isfinite(seconds) and seconds > 0):
            raise ControlRefused(f"extend by {seconds!r}: expected a positive number of seconds")
        states = {StepState.PENDING, StepState.STARTING, StepState.IN_FORCE}
        step = self._step(fault, iteration, "extend", states)
        self._act("extend", by, why, step, seconds)
        step.extended += seconds
        self._wake()

    def end(self, fault: str, *, by: str, why: str = "", iteration: int | None = None) -> None:
        """Revert a fault now, before its planned end."""
        states = {StepState.STARTING, StepState.IN_FORCE}
        step = self._step(fault, iteration, "end", states)
        self._act("end", by, why, step)
        step.end_now = True
        self._wake()

    def skip(self, fault: str, *, by: str, why: str = "", iteration: int | None = None) -> None:
        """Leave a fault that has not started out of its iteration."""
        step = self._step(fault, iteration, "skip", {StepState.PENDING})
        self._act("skip", by, why, step)
        step.state = StepState.SKIPPED
        self._wake()

    def note(self, text: str, *, by: str) -> None:
        """A remark for the journal and the report; changes nothing."""
        if not text.strip():
            raise ControlRefused("a note needs some text")
        self._act("note", by, text)

    def abort(self, *, by: str, why: str) -> None:
        """End the run now: every fault is reverted."""
        self._act("abort", by, why)
        self.on_abort(f"aborted by {by}" + (f": {why}" if why else ""))

    # -- the runner's waits -------------------------------------------------------

    async def until_iteration(self, iteration: int) -> None:
        """The gate before an iteration: returns once the run is not held."""
        await self._until(lambda: not self.held, lambda: math.inf)
        self.iteration = iteration

    async def until_start(self, fault: str, iteration: int, due: float) -> bool:
        """Wait for a fault's start (``due``, monotonic, unless held, started
        early or skipped). False: it was skipped."""
        step = self._steps[(fault, iteration)]

        def ready() -> bool:
            if step.state is StepState.SKIPPED or step.start_now:
                return True
            return not self.held and time.monotonic() >= due

        await self._until(ready, lambda: due)
        if step.state is StepState.SKIPPED:
            return False
        step.state = StepState.STARTING
        step.started = time.monotonic()
        return True

    def in_force(self, fault: str, iteration: int) -> None:
        self._steps[(fault, iteration)].state = StepState.IN_FORCE

    async def until_end(self, fault: str, iteration: int) -> None:
        """Wait for a fault's planned end (its duration from its start, plus any
        extension) or an ``end``."""
        step = self._steps[(fault, iteration)]
        await self._until(lambda: step.end_now or time.monotonic() >= step.end_due(), step.end_due)

    def done(self, fault: str, iteration: int) -> None:
        step = self._steps[(fault, iteration)]
        if step.state is not StepState.SKIPPED:
            step.state = StepState.DONE

    def close(self) -> None:
        """The run is over: every action from now on is refused."""
        self.ended = True
        self._wake()

    # -- internals ------------------------------------------------------------------

    def _step(
        self, fault: str, iteration: int | None, action: str, allowed: set[StepState]
    ) -> _Step:
        if self.ended:
            raise ControlRefused(f"{action} {fault!r}: the run has ended")
        number = iteration if iteration is not None else max(self.iteration, 1)
        step = self._steps.get((fault, number))
        if step is None:
            known = sorted({name for name, _ in self._steps})
            raise ControlRefused(
                f"{action} {fault!r}: no such fault in iteration {number} (faults: {known})"
            )
        if step.state not in allowed:
            started = step.state in (StepState.STARTING, StepState.IN_FORCE)
            hint = " (use end)" if started and action in ("start", "skip") else ""
            raise ControlRefused(
                f"{action} {fault!r}: it is {step.state} in iteration {number}{hint}"
            )
        return step

    def _act(
        self,
        action: ControlAction,
        by: str,
        why: str,
        step: _Step | None = None,
        seconds: float | None = None,
    ) -> None:
        if self.ended:
            raise ControlRefused(f"{action}: the run has ended")
        if not by.strip():
            raise ControlRefused(f"{action}: say who acts (by)")
        self.stream.emit(
            ControlApplied(
                action=action,
                by=by,
                why=why,
                step=step.fault if step is not None else None,
                iteration=step.iteration if step is not None else None,
                seconds=seconds,
            ),
            durable=True,
        )

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def _until(self, ready: Callable[[], bool], deadline: Callable[[], float]) -> None:
        """Return once ``ready()``: checked at each action and at ``deadline()``
        (read again after each action: an extension moves it)."""
        while not ready():
            changed = self._changed
            wait = deadline() - time.monotonic()
            if wait > 0:
                with anyio.move_on_after(wait):
                    await changed.wait()
            elif not ready():  # past its deadline, so time cannot make it ready: an action can
                await changed.wait()


class Controller:
    """What steers a run. ``attach`` is called before the run begins (so a
    controller can hold it before its first step); ``drive`` runs beside the
    run and is cancelled when the run ends."""

    control: RunControl | None = None

    def attach(self, control: RunControl) -> None:
        self.control = control

    async def drive(self) -> None:
        return None


class Scheduled(Controller):
    """The default: every step on the experiment's schedule."""

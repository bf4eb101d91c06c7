"""Probe scheduling: every probe samples on its own fixed-rate schedule.

A probe samples at ``start + k·every``. Samples of one probe never overlap: a
sample slower than the interval delays the next one, and the slots it missed
are skipped and counted (``skipped_slots``), never queued up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import anyio
from structlog.typing import FilteringBoundLogger

from chaoskit._errors import ChaoskitError
from chaoskit._events import SampleTaken, SlotsMissed
from chaoskit._model import ProbeSpec
from chaoskit._plugin_api import Observation, Probe, ProbeContext, TargetSpec, latency_verdict
from chaoskit._registry import Registry
from chaoskit._resources import RunResources
from chaoskit._stream import EventStream
from chaoskit._timeline import Sample

__all__ = ["ProbeCrashed", "ProbeRunner", "ProbeSlot"]

MIN_TIMEOUT = 1.0
MAX_SAMPLES_PER_PROBE = 10_000_000
MAX_LATENESS_KEPT = 100_000  # a bound on the loop; the run's time bounds it first


class ProbeCrashed(ChaoskitError):
    """A probe's ``observe`` raised: a bug in the probe, not an observation."""


@dataclass
class ProbeSlot:
    """One probe's schedule. What its samples show is told as events; the
    results' figures of a probe are built from those (``ResultBuilder``)."""

    spec: ProbeSpec
    probe: Probe
    every: float
    timeout: float
    target: TargetSpec | None
    samples: int = 0
    skipped_slots: int = 0
    last_end: float | None = None
    """When its latest sample completed."""
    context: ProbeContext | None = None
    lateness: list[float] = field(default_factory=list)
    """How late each sample started after its intended time (scheduler jitter)."""


class ProbeRunner:
    """Runs a set of probes on their schedules; tells the stream of each sample."""

    def __init__(
        self,
        specs: Sequence[ProbeSpec],
        registry: Registry,
        targets: dict[str, TargetSpec],
        stream: EventStream,
        resources: RunResources,
        log: FilteringBoundLogger,
        default_every: float,
        role: Literal["steady", "recovery"],
        phase_of: Callable[[], str] | None = None,
    ) -> None:
        self.slots = [_slot(spec, registry, targets, default_every) for spec in specs]
        self._stream = stream
        self._phase_of = phase_of
        self._resources = resources
        self._log = log
        self._role: Literal["steady", "recovery"] = role

    def horizon(self) -> float:
        """Every sample that counts before this time is known: each probe's next
        sample starts after its latest completed, and counts no earlier than its start."""
        ends = [slot.last_end for slot in self.slots]
        if any(end is None for end in ends):
            return float("-inf")
        return min(end for end in ends if end is not None)

    def has_sampled_all(self) -> bool:
        return all(slot.samples > 0 for slot in self.slots)

    async def sample(self, slot: ProbeSlot) -> Sample:
        """Take one sample now, judge it, record it, tell the listeners."""
        ctx = slot.context
        if ctx is None:  # built once per probe: everything in it is fixed for the run
            ctx = slot.context = ProbeContext(
                probe_name=slot.spec.name,
                params=slot.spec.kind_params,
                expect=slot.spec.expect,
                timeout=slot.timeout,
                target=slot.target,
                log=self._log.bind(probe=slot.spec.name),
                resources=self._resources,
            )
        started = time.monotonic()
        t = self._stream.now()
        observation: Observation | None = None
        with anyio.move_on_after(slot.timeout):
            try:
                observation = await slot.probe.observe(ctx)
            except Exception as exc:
                raise ProbeCrashed(
                    f"probe {slot.spec.name!r} ({slot.spec.probe_kind}) raised "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        latency = time.monotonic() - started
        if observation is None:
            observation = Observation(ok=False, detail=f"no answer within {slot.timeout:g}s")
        elif observation.ok and (why := latency_verdict(latency, slot.spec.expect.latency)):
            observation = Observation(ok=False, value=observation.value, detail=why)
        sample = Sample(
            probe=slot.spec.name,
            scope=slot.spec.scope,
            t=t,
            latency=latency,
            ok=observation.ok,
            value=observation.value,
            detail=observation.detail,
        )
        self._record(slot, sample)
        return sample

    def _record(self, slot: ProbeSlot, sample: Sample) -> None:
        slot.samples += 1
        slot.last_end = sample.end
        self._stream.emit(
            SampleTaken(
                role=self._role,
                probe=sample.probe,
                scope=sample.scope,
                ok=sample.ok,
                latency=round(sample.latency, 6),
                value=sample.value,
                detail=sample.detail,
                segment=self._phase_of() if self._phase_of is not None else "",
            ),
            t=sample.t,
        )

    async def run(self) -> None:
        """Sample every probe on its schedule until cancelled."""
        async with anyio.create_task_group() as group:
            start = time.monotonic()
            count = len(self.slots)
            for index, slot in enumerate(self.slots):
                # staggered: probes of one interval do not all fall due at one instant
                group.start_soon(self._loop, slot, start + slot.every * index / count)

    async def _loop(self, slot: ProbeSlot, start: float) -> None:
        due = start
        for _ in range(MAX_SAMPLES_PER_PROBE):
            await anyio.sleep(max(0.0, due - time.monotonic()))
            if len(slot.lateness) < MAX_LATENESS_KEPT:
                slot.lateness.append(time.monotonic() - due)
            await self.sample(slot)
            due += slot.every
            late = time.monotonic() - due
            if late > 0:
                missed = int(late // slot.every) + 1
                slot.skipped_slots += missed
                due += missed * slot.every
                self._stream.emit(SlotsMissed(probe=slot.spec.name, missed=missed))


def _slot(
    spec: ProbeSpec, registry: Registry, targets: dict[str, TargetSpec], default_every: float
) -> ProbeSlot:
    every = spec.every if spec.every is not None else default_every
    timeout = spec.timeout if spec.timeout is not None else max(every, MIN_TIMEOUT)
    ref = getattr(spec.kind_params, "target", None)
    target = targets.get(ref) if isinstance(ref, str) else None
    return ProbeSlot(
        spec=spec,
        probe=registry.probe(spec.probe_kind),
        every=every,
        timeout=timeout,
        target=target,
    )

"""Load generation: open-loop streams with coordinated-omission-correct
latencies, and closed-loop virtual users.

Open loop: request k has an intended send time fixed by the rate profile
alone. Workers claim the next intended time, sleep until it, send, and measure
latency from the *intended* time, so a stall of the system shows up in every
request it delayed instead of hiding behind a slower send rate.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import TaskStatus

from chaoskit._errors import ChaoskitError
from chaoskit._events import LoadWindow
from chaoskit._histograms import PhasedHistograms
from chaoskit._ledger import LEDGER_SUFFIX, WriteLedger
from chaoskit._load_model import LoadSpec, TaskSpec
from chaoskit._plugin_api import LoadContext, LoadKind, Outcome, Resources, TargetSpec
from chaoskit._recent import RecentAnswers
from chaoskit._registry import Registry
from chaoskit._results import LoadPhase, LoadSummary

__all__ = ["LOAD_WINDOW", "LoadCrashed", "LoadStream", "rate_at"]

LOAD_WINDOW = 1.0
"""Seconds: each stream's figures are journaled this often (``load_window``)."""

_DRAIN_MARGIN = 1.0
_STOP_SLICE = 0.2


class LoadCrashed(ChaoskitError):
    """A load kind's ``send`` raised: a bug in the plugin, not an observation."""


def rate_at(spec: LoadSpec, elapsed: float) -> float:
    """The intended rate (requests/s) ``elapsed`` seconds after the stream began."""
    if spec.stages:
        rate = spec.stages[-1].rate
        edge = 0.0
        for stage in spec.stages:
            edge += stage.for_
            if elapsed < edge:
                rate = stage.rate
                break
    else:
        assert spec.rate is not None
        rate = spec.rate
    if spec.ramp is not None:
        progress = min(1.0, elapsed / spec.ramp.over)
        rate = rate + (spec.ramp.to - rate) * progress
    for spike in spec.spikes:
        if spike.at <= elapsed < spike.at + spike.for_:
            rate *= spike.factor
    return rate


@dataclass
class _PhaseCounts:
    counts: Counter[str] = field(default_factory=Counter)
    first: float | None = None
    last: float | None = None


@dataclass
class _Window:
    """The answers of the current load window (``LoadStream.take_window``)."""

    start: float
    sent: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


def _nearest_rank(ordered: list[float], quantile: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(quantile * len(ordered)) - 1))]


@dataclass(frozen=True)
class _Task:
    """A task of a stream with what is fixed for the run worked out once."""

    kind: LoadKind
    spec: TaskSpec
    target: TargetSpec | None
    bounds_itself: bool
    """The kind enforces ctx.timeout itself: no extra cancel scope per request."""

    @classmethod
    def of(cls, spec: TaskSpec, registry: Registry, targets: dict[str, TargetSpec]) -> _Task:
        kind = registry.load_kind(spec.load_kind)
        ref = getattr(spec.kind_params, "target", None)
        return cls(
            kind=kind,
            spec=spec,
            target=targets.get(ref) if isinstance(ref, str) else None,
            bounds_itself=bool(getattr(kind, "enforces_timeout", False)),
        )


class LoadStream:
    """One stream of an experiment's ``load:``."""

    def __init__(
        self,
        spec: LoadSpec,
        registry: Registry,
        targets: dict[str, TargetSpec],
        resources: Resources,
        phase_of: Callable[[], str],
        run_dir: Path,
        id_prefix: str,
        clock_origin: float,
    ) -> None:
        self.spec = spec
        self.tasks = [_Task.of(spec_task, registry, targets) for spec_task in spec.tasks]
        self._cumulative = list(itertools.accumulate(t.spec.weight for t in self.tasks))
        self._resources = resources
        self._phase_of = phase_of
        self._origin = clock_origin
        self._prefix = id_prefix
        self._random = random.Random()
        self.histograms = PhasedHistograms()
        self._phases: dict[str, _PhaseCounts] = {}
        ledger_path = run_dir / f"writes-{spec.name}{LEDGER_SUFFIX}"
        self.ledger = WriteLedger(ledger_path) if spec.writes is not None else None
        self.sent = 0
        self.answered = 0
        self.failed = 0
        """Answers, and those not acknowledged (failed or indeterminate), for a live view."""
        self.recent: RecentAnswers | None = None
        """Set (``watch``) when a ``load`` probe reads this stream."""
        self._next_seq = 0
        self._next_due = 0.0
        self._started = 0.0
        self._stopping = False
        self._stopped_at = float("inf")
        self._window = _Window(start=0.0)

    @property
    def name(self) -> str:
        return self.spec.name

    def watch(self, window: float) -> RecentAnswers:
        """Keep the answers of the last ``window`` seconds for a ``load`` probe."""
        if self.recent is None:
            self.recent = RecentAnswers(window, self.spec.timeout)
        self.recent.keep = max(self.recent.keep, window)
        return self.recent

    # -- running ----------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Send until ``stop`` (or max_requests); return once in-flight requests end.

        Started with ``TaskGroup.start``, it reports started once every worker has
        taken its first step: spawning hundreds of workers holds the event loop for
        milliseconds, which must not fall on the probes' schedule."""
        self._started = self._next_due = time.monotonic()
        self._window = _Window(start=self._started - self._origin)
        if self.recent is not None:
            self.recent.start(self._started)
        workers = self.spec.users if self.spec.users is not None else self.spec.max_in_flight
        async with anyio.create_task_group() as group:
            for _ in range(workers):
                group.start_soon(self._closed_user if self.spec.users else self._open_worker)
            await anyio.sleep(0)  # queued behind the workers' first steps
            task_status.started()

    def stop(self) -> None:
        """Claim no more requests; those in flight finish (bounded by their timeout)."""
        self._stopping = True
        self._stopped_at = time.monotonic()

    async def _open_worker(self) -> None:
        while (claim := self._claim()) is not None:
            seq, due = claim
            await self._sleep_until(due)
            if self._stopping:
                return
            await self._send(seq, due)

    async def _closed_user(self) -> None:
        while (claim := self._claim()) is not None:
            seq, _ = claim
            await self._send(seq, time.monotonic())
            if self.spec.think > 0:
                await self._sleep_until(time.monotonic() + self.spec.think)

    async def _sleep_until(self, deadline: float) -> None:
        """Plain sleeps (a cancel scope per request costs more than the request's
        own bookkeeping), in slices short enough that ``stop`` is seen quickly."""
        for _ in range(1_000_000):
            delay = deadline - time.monotonic()
            if delay <= 0 or self._stopping:
                return
            await anyio.sleep(min(delay, _STOP_SLICE))

    def _claim(self) -> tuple[int, float] | None:
        if self._stopping or self._next_seq >= self.spec.max_requests:
            return None
        seq = self._next_seq
        self._next_seq += 1
        due = self._next_due
        if self.spec.users is None:
            self._next_due += 1.0 / rate_at(self.spec, due - self._started)
        return seq, due

    async def _send(self, seq: int, due: float) -> None:
        task = self._pick()
        kind = task.kind
        write_id = f"{self._prefix}-{seq}"
        ctx = LoadContext(
            stream=self.spec.name,
            params=task.spec.kind_params,
            write_id=write_id,
            seq=seq,
            timeout=self.spec.timeout,
            target=task.target,
            resources=self._resources,
        )
        phase = self._phase_of()
        self.sent += 1
        self._window.sent += 1
        outcome: Outcome | None = None
        try:
            if task.bounds_itself:
                outcome = await self._call(kind, ctx)
            else:
                with anyio.move_on_after(self.spec.timeout + _DRAIN_MARGIN):
                    outcome = await self._call(kind, ctx)
        except anyio.get_cancelled_exc_class():
            # an abort cut it off in flight: it may have been applied, so the
            # audit looks it up like any other indeterminate write
            if self.ledger is not None:
                self.ledger.record(write_id, "indeterminate", due - self._origin, None)
            raise
        done = time.monotonic()
        if outcome is None:
            outcome = Outcome("indeterminate", None, "no answer within the timeout")
        self.histograms.record(done - due, self._phase_of())
        self.answered += 1
        self.failed += outcome.outcome != "acknowledged"
        self._window.counts[outcome.outcome] += 1
        self._window.latencies.append(done - due)
        if self.recent is not None:
            self.recent.record(done, outcome.outcome != "acknowledged", done - due)
        counts = self._phases.setdefault(phase, _PhaseCounts())
        counts.counts[outcome.outcome] += 1
        # the segment's span is from its first send to its last answer: from first
        # to last *answer* leaves one inter-arrival out, which overstates the
        # throughput of a short segment (closed loop: by a whole round of users)
        counts.first = due if counts.first is None else min(counts.first, due)
        counts.last = done if counts.last is None else max(counts.last, done)
        if self.ledger is not None:
            self.ledger.record(write_id, outcome.outcome, due - self._origin, outcome.status)

    async def _call(self, kind: LoadKind, ctx: LoadContext) -> Outcome:
        try:
            return await kind.send(ctx)
        except Exception as exc:
            raise LoadCrashed(
                f"load stream {self.spec.name!r} ({kind.name}) raised {type(exc).__name__}: {exc}"
            ) from exc

    def _pick(self) -> _Task:
        if len(self.tasks) == 1:
            return self.tasks[0]
        point = self._random.random() * self._cumulative[-1]
        return self.tasks[bisect.bisect_right(self._cumulative, point)]

    # -- results -----------------------------------------------------------------

    def take_window(self, now: float) -> LoadWindow:
        """The answers since the last window, up to ``now`` (seconds since the
        run's origin), as an event; the next window starts at ``now``."""
        window, self._window = self._window, _Window(start=now)
        ordered = sorted(window.latencies)
        return LoadWindow(
            stream=self.spec.name,
            start=round(window.start, 6),
            end=round(now, 6),
            sent=window.sent,
            acknowledged=window.counts["acknowledged"],
            failed=window.counts["failed"],
            indeterminate=window.counts["indeterminate"],
            p50=_nearest_rank(ordered, 0.50),
            p95=_nearest_rank(ordered, 0.95),
            p99=_nearest_rank(ordered, 0.99),
        )

    def last_window(self, now: float) -> LoadWindow | None:
        """The answers not yet in a window once the stream has ended (None: none),
        up to its stop or ``now``, whichever came first."""
        if not (self._window.sent or self._window.latencies):
            return None
        ended = min(now, self._stopped_at - self._origin)
        return self.take_window(max(ended, self._window.start))

    def _due_before_stop(self) -> int:
        """Requests whose intended send time came before the stop: the schedule
        replayed, so sends that never happened because every worker was busy
        (an overloaded generator) still count as intended."""
        end = min(self._stopped_at, time.monotonic()) - self._started
        due, count = 0.0, 0
        while due <= end and count < self.spec.max_requests:
            count += 1
            due += 1.0 / rate_at(self.spec, due)
        return count

    def summary(self) -> LoadSummary:
        latencies = self.histograms.summary()
        phases = {}
        for phase, data in self._phases.items():
            sent = sum(data.counts.values())
            duration = (data.last or 0.0) - (data.first or 0.0)
            errors = data.counts["failed"] + data.counts["indeterminate"]
            phases[phase] = LoadPhase(
                sent=sent,
                acknowledged=data.counts["acknowledged"],
                failed=data.counts["failed"],
                indeterminate=data.counts["indeterminate"],
                duration=round(duration, 6),
                throughput=round(sent / duration, 3) if duration > 0 else 0.0,
                error_rate=round(errors / sent, 6) if sent else 0.0,
                latency=latencies.get(phase),
            )
        return LoadSummary(
            name=self.spec.name,
            mode="closed" if self.spec.users else "open",
            sent=self.sent,
            intended=self._due_before_stop() if self.spec.users is None else self.sent,
            phases=phases,
            writes_file=self.ledger.path.name if self.ledger is not None else None,
        )

"""The runner: phases, probes, faults, safeguards, signals, and the revert
guarantee. Whatever ends a run — the normal path, a deviation, an exception in
a probe or injector, a safeguard, a controller's abort, SIGINT/SIGTERM, the run
timeout — leads through ``FaultManager.revert_all`` under a shielded cancel scope.

The phases are a table of handlers (``_HANDLERS``), each returning the phase
that follows; what happens is told as events on one stream (ADR 0018), which
the journal, the result builder, the safeguards, the live status and the phase
machine follow. The result is the builder's: a function of the events alone.
A controller (``RunOptions.controller``) steers the steps (``RunControl``).
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio
from anyio.abc import TaskGroup, TaskStatus
from structlog.typing import FilteringBoundLogger

from chaoskit._audit import audit_writes
from chaoskit._control import Controller, RunControl, Scheduled
from chaoskit._errors import ChaoskitError, RevertFailed
from chaoskit._events import (
    Aborted,
    Audited,
    AuditStopped,
    BaselineJudged,
    Event,
    FaultInjected,
    IterationEnded,
    LoadFigures,
    PhaseChanged,
    PlannedProbe,
    RunError,
    RunFinished,
    RunPlan,
    RunStarted,
    SafeguardTripped,
    SampleTaken,
)
from chaoskit._faults import FaultManager, RetryPolicy, bounded
from chaoskit._gc import release_heap, settle_heap
from chaoskit._journal import JOURNAL_NAME, Journal
from chaoskit._live import LiveStatus, progress_line
from chaoskit._loader import LoadedExperiment
from chaoskit._loadgen import LOAD_WINDOW, LoadStream
from chaoskit._measure import fault_span
from chaoskit._phases import FAULT_WINDOW, LEAD_IN, Phase, PhaseMachine
from chaoskit._probing import ProbeRunner
from chaoskit._recent import recent_key
from chaoskit._recovery import RecoveryWatch
from chaoskit._resources import RunResources
from chaoskit._result_builder import ResultBuilder
from chaoskit._results import RESULTS_NAME, RunResult
from chaoskit._stream import EventStream

__all__ = ["RESULTS_NAME", "RunOptions", "run_experiment"]

_POLL = 0.02
_WARM_UP_TIMEOUT = 30.0
_ABORT_AUDIT_LIMIT = 300.0
"""An aborted run's audit stops after this long (or at the next signal)."""
_VERSION = "0.1.0"


@dataclass(frozen=True)
class RunOptions:
    runs_dir: Path = Path(".chaoskit/runs")
    timeout: float | None = None
    """Abort (and revert) when the whole run takes longer than this."""
    revert_policy: RetryPolicy = field(default_factory=RetryPolicy)
    handle_signals: bool = True
    progress: bool = False
    """Print a progress line a second on stderr (the CLI turns it on for a terminal)."""
    controller: Controller | None = None
    """What steers the steps (``None``: ``Scheduled``, every step on time)."""


async def run_experiment(
    loaded: LoadedExperiment, options: RunOptions, log: FilteringBoundLogger
) -> tuple[RunResult, Path]:
    """Run one experiment; returns its result and run directory."""
    run = _Run(loaded, options, log)
    result = await run.execute()
    return result, run.directory


def _new_run_id(title: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = "".join(c if c.isalnum() else "-" for c in title.lower())[:32].strip("-")
    return f"{stamp}-{slug}-{secrets.token_hex(3)}"


class _Run:
    def __init__(
        self, loaded: LoadedExperiment, options: RunOptions, log: FilteringBoundLogger
    ) -> None:
        experiment = loaded.experiment
        self.loaded = loaded
        self.experiment = experiment
        self.options = options
        self.run_id = _new_run_id(experiment.title)
        self.directory = options.runs_dir / self.run_id
        self.directory.mkdir(parents=True, exist_ok=False)
        self.origin = time.monotonic()
        self.started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.journal = Journal(self.directory / JOURNAL_NAME, loaded.secrets, self.origin)
        self.stream = EventStream(self.journal)
        self.log = log.bind(experiment=experiment.title, run_id=self.run_id)
        self.phases = PhaseMachine()
        self.stream.subscribe(self._follow)
        self.record = ResultBuilder()
        """What the events tell so far: the steady samples, the fault records, and
        the result (``record.result()``), which is a function of the events alone."""
        self.stream.subscribe(self.record)
        self.resources = RunResources()
        self.control = RunControl(self.stream, self._abort)
        iterations = experiment.repeat if experiment.faults else 0
        self.control.plan([(f.name, f.duration) for f in experiment.faults], iterations)
        self.controller = options.controller or Scheduled()
        self.steady = ProbeRunner(
            experiment.steady_state.probes,
            loaded.registry,
            dict(experiment.targets),
            self.stream,
            self.resources,
            self.log,
            experiment.steady_state.every,
            "steady",
            self._segment,
        )
        self.faults = FaultManager(
            experiment,
            loaded.registry,
            self.stream,
            self.control,
            self.run_id,
            self.log,
            options.revert_policy,
        )
        self._fault_in_force = False
        self.abort_scope = anyio.CancelScope()
        self.audit_scope = anyio.CancelScope()
        self.abort_reason: str | None = None
        self._iteration_no = 0
        self._load_done: anyio.Event | None = None
        self._watchers: TaskGroup
        self.error: BaseException | None = None
        self.streams = [
            LoadStream(
                spec,
                loaded.registry,
                dict(experiment.targets),
                self.resources,
                self._segment,
                self.directory,
                f"{self.run_id.rsplit('-', 1)[-1]}-{spec.name}",
                self.origin,
            )
            for spec in experiment.load
        ]
        self._offer_recent_answers()
        self._guards = {g.probe: g.abort_if_failing_for for g in experiment.safeguards}
        self._guard_active = False
        self._failing_since: dict[str, float] = {}
        self.stream.subscribe(self._check_safeguards)
        steady_probes = [(p.name, p.scope) for p in experiment.steady_state.probes]
        self.live = LiveStatus(steady_probes, self.streams)
        """What a live view shows (``live.snapshot(now)``); the progress line is one."""
        self.stream.subscribe(self.live)

    def _offer_recent_answers(self) -> None:
        """``load`` probes read their stream's recent answers from the resources."""
        streams = {stream.spec.name: stream for stream in self.streams}
        specs = [*self.experiment.steady_state.probes, *self.experiment.recovery.probes]
        for spec in specs:
            if spec.probe_kind != "load":  # importing the kind for every run costs start-up
                continue
            from chaoskit.probes.load import LoadParams

            params = spec.kind_params
            if isinstance(params, LoadParams) and params.stream in streams:
                recent = streams[params.stream].watch(params.window)
                self.resources.provide(recent_key(params.stream), recent)

    # -- the run --------------------------------------------------------------

    async def execute(self) -> RunResult:
        self.stream.emit(
            RunStarted(
                run_id=self.run_id,
                source=os.path.abspath(self.loaded.source),
                title=self.experiment.title,
                experiment=self.experiment.model_dump(mode="json", by_alias=True),
                chaoskit_version=_VERSION,
                plugins=self.loaded.registry.versions(),
                pid=os.getpid(),
                started_at=self.started_at,
                plan=self._plan(),
            ),
            durable=True,
        )
        self.log.info("run started", run_dir=str(self.directory))
        self.controller.attach(self.control)
        try:
            async with anyio.create_task_group() as group:
                if self.options.handle_signals:
                    group.start_soon(self._watch_signals)
                group.start_soon(self._drive)
                try:
                    await self._guarded()
                finally:
                    self.control.close()
                    with anyio.CancelScope(shield=True):
                        await self.faults.revert_all()
                    try:
                        await self._audit_after_abort()
                    finally:
                        with anyio.CancelScope(shield=True):
                            await self.resources.aclose()
                        group.cancel_scope.cancel()
            return self._finish()
        finally:
            release_heap()
            for stream in self.streams:
                if stream.ledger is not None:
                    stream.ledger.close()
            self.journal.close()

    async def _guarded(self) -> None:
        with self.abort_scope:
            try:
                if self.options.timeout is None:
                    await self._phases()
                else:
                    with anyio.move_on_after(self.options.timeout) as timer:
                        await self._phases()
                    if timer.cancelled_caught:
                        self._abort(f"run timeout of {self.options.timeout:g}s reached")
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported in results
                self.error = _most_telling(exc)
                self.stream.emit(RunError(error=_describe(self.error)), durable=True)
                self.log.error("run failed", error=_describe(self.error))

    async def _drive(self) -> None:
        """The controller's own work, beside the run; a controller that fails
        aborts the run (its steps would go unsteered)."""
        try:
            await self.controller.drive()
        except Exception as exc:  # noqa: BLE001 - reported as the abort reason
            self._abort(f"the controller failed: {type(exc).__name__}: {exc}")

    def _move(self, to: Phase, iteration: int | None = None) -> None:
        self.phases.check(to)
        self.stream.emit(PhaseChanged(phase=to, iteration=iteration), durable=True)

    def _follow(self, event: Event) -> None:
        """The run's own view of its events: the phase, whether a fault is in force."""
        if isinstance(event, PhaseChanged):
            self.phases.entered(event.phase)
        elif isinstance(event, FaultInjected) and not event.setup:
            self._fault_in_force = True

    async def _phases(self) -> None:
        """Drive the handlers: each runs its phase and says which comes next."""
        phase: Phase | None = Phase.PREFLIGHT
        async with anyio.create_task_group() as watchers:
            self._watchers = watchers
            # bounded: each phase once, each iteration's two
            for _ in range(2 * self.experiment.repeat + 8):
                if phase is None or phase is Phase.VERDICT:
                    break
                if phase is Phase.AUDIT and self._load_done is not None:
                    await self._stop_load(self._load_done)
                    watchers.cancel_scope.cancel()
                    break
                phase = await _HANDLERS[phase](self)
            else:
                raise AssertionError("the phase table did not end")  # pragma: no cover
        if phase is Phase.AUDIT:
            await self._recovery_probes()
            self._move(Phase.AUDIT)
            await self._audit()

    async def _preflight(self) -> Phase:
        self._move(Phase.PREFLIGHT)
        await self.faults.preflight()
        await self._warm_up()
        return Phase.BASELINE

    async def _baseline_phase(self) -> Phase | None:
        self._move(Phase.BASELINE)
        self._load_done = anyio.Event()
        # the load first: its start-up burst is over before the first probe is due
        await self._watchers.start(self._run_load, self._load_done)
        if self.streams:
            self._watchers.start_soon(self._load_windows)
        self._watchers.start_soon(self.steady.run)
        if self.options.progress:
            self._watchers.start_soon(self._progress)
        if not await self._baseline():
            self.log.warning("steady state does not hold at baseline; nothing injected")
            await self._stop_load(self._load_done)
            self._watchers.cancel_scope.cancel()
            return None
        return Phase.FAULTS if self.experiment.faults and self.experiment.repeat else Phase.AUDIT

    async def _fault_phase(self) -> Phase:
        iteration = self._iteration_no + 1
        await self.control.until_iteration(iteration)
        self._fault_in_force = False
        self._iteration_no = iteration
        self._move(Phase.FAULTS, iteration)
        self._guard_active = True
        self._failing_since.clear()
        try:
            await self.faults.run_iteration(iteration)
        except BaseException:
            self.stream.emit(IterationEnded(iteration=iteration, complete=False))
            raise
        if self.record.skipped(iteration):
            self.log.info("every fault of the iteration was skipped", iteration=iteration)
        return Phase.RECOVERY

    async def _recovery_phase(self) -> Phase:
        iteration = self._iteration_no
        complete = False
        try:
            self._move(Phase.RECOVERY, iteration)
            recovered = self.record.skipped(iteration) or await self._await_recovery(iteration)
            complete = True
        finally:
            self.stream.emit(IterationEnded(iteration=iteration, complete=complete))
        self._guard_active = False
        if not recovered:
            self.log.warning(
                "steady state not restored within the recovery timeout", iteration=iteration
            )
            return Phase.AUDIT
        return Phase.FAULTS if iteration < self.experiment.repeat else Phase.AUDIT

    async def _progress(self) -> None:
        """One line a second on a terminal: phase, steady state, faults, load."""
        for _ in range(10_000_000):
            await anyio.sleep(1.0)
            line = progress_line(self.live.snapshot(self.journal.now()))
            print(line, file=sys.stderr, flush=True)

    async def _warm_up(self) -> None:
        """Let probe and load kinds import their clients now: an import during
        the baseline would stall the event loop and fail the first samples."""
        kinds: list[object] = [slot.probe for slot in self.steady.slots]
        kinds += [task.kind for stream in self.streams for task in stream.tasks]
        if self.streams:
            import hdrh.histogram  # noqa: F401
        for kind in {id(k): k for k in kinds}.values():
            warm_up = getattr(kind, "warm_up", None)
            if warm_up is not None:
                what = f"warm-up of {type(kind).__name__}"
                await bounded(warm_up(), _WARM_UP_TIMEOUT, what)
        frozen = settle_heap()
        self.log.debug("heap settled", frozen_objects=frozen)

    async def _run_load(
        self, done: anyio.Event, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            async with anyio.create_task_group() as group:
                for stream in self.streams:
                    await group.start(stream.run)
                task_status.started()
        finally:
            done.set()

    async def _load_windows(self) -> None:
        """Each load stream's figures every ``LOAD_WINDOW`` seconds, as events:
        the timeline of a report draws throughput, errors and p99 from them."""
        start = self.journal.now()
        for tick in range(1, 100_000_000):  # bounded: over three years of windows
            await anyio.sleep(max(0.0, start + tick * LOAD_WINDOW - self.journal.now()))
            if self._load_done is None or self._load_done.is_set():
                return
            now = self.journal.now()
            for stream in self.streams:
                self.stream.emit(stream.take_window(now))

    async def _stop_load(self, done: anyio.Event) -> None:
        """Stop sending; let requests in flight finish so every write has an outcome."""
        for stream in self.streams:
            stream.stop()
        slowest = max((s.spec.timeout for s in self.streams), default=0.0)
        with anyio.move_on_after(slowest + 2.0):
            await done.wait()

    def _segment(self) -> str:
        """Where load and probe figures go (see ``FAULT_WINDOW``); called per request."""
        phase = self.phases.current
        if phase is Phase.FAULTS:
            return FAULT_WINDOW if self._fault_in_force else LEAD_IN
        return str(phase)

    async def _audit_after_abort(self) -> None:
        """An aborted run made writes too: whether data was lost is still the
        question. Audited once every fault is reverted; a second signal stops it."""
        if self.abort_reason is None and self.error is None:
            return
        if self.record.data_loss or not any(s.ledger is not None and s.sent for s in self.streams):
            return
        if self.phases.current in (Phase.AUDIT, Phase.VERDICT):
            return
        self.log.info("auditing the writes of the aborted run")
        self.audit_scope = anyio.CancelScope(deadline=anyio.current_time() + _ABORT_AUDIT_LIMIT)
        self._move(Phase.AUDIT)
        with self.audit_scope:
            await self._audit()
        if self.audit_scope.cancelled_caught:
            self.stream.emit(AuditStopped(after_abort=True), durable=True)

    async def _audit(self) -> None:
        for stream in self.streams:
            writes = stream.spec.writes
            if stream.ledger is None or writes is None:
                continue
            self.log.info("auditing writes", stream=stream.spec.name, **stream.ledger.counts)
            lookup = self.loaded.registry.lookup_kind(writes.lookup.lookup_kind)
            result = await audit_writes(
                stream.spec.name,
                stream.ledger,
                writes.lookup,
                lookup,
                dict(self.experiment.targets),
                self.resources,
            )
            self.stream.emit(Audited(**result.model_dump()), durable=True)

    async def _baseline(self) -> bool:
        steady_state = self.experiment.steady_state
        deadline = time.monotonic() + steady_state.baseline_window
        slowest = max(slot.timeout for slot in self.steady.slots)
        give_up = deadline + slowest + 5.0
        while time.monotonic() < give_up:
            if time.monotonic() >= deadline and self.steady.has_sampled_all():
                break
            await anyio.sleep(_POLL)
        failures = [s for s in self.record.samples if not s.ok]
        for sample in failures[:5]:
            self.log.warning("baseline sample failed", probe=sample.probe, detail=sample.detail)
        self.stream.emit(BaselineJudged(steady=not failures and self.steady.has_sampled_all()))
        return not failures and self.steady.has_sampled_all()

    async def _await_recovery(self, iteration: int) -> bool:
        stable_for = self.experiment.steady_state.stable_for
        names = [p.name for p in self.experiment.steady_state.probes]
        t_inject, t_revert = fault_span(self.record.faults.of(iteration))
        samples = self.record.samples
        watch = RecoveryWatch(names, t_inject, t_revert, stable_for, samples)
        seen = len(samples)
        deadline = time.monotonic() + self.experiment.recovery.timeout
        while True:
            for index in range(seen, len(samples)):  # the samples since the last look
                watch.add(samples[index])
            seen = len(samples)
            if watch.recovered(self.steady.horizon()):
                return True
            if time.monotonic() >= deadline:
                return False
            await anyio.sleep(_POLL)

    async def _recovery_probes(self) -> None:
        specs = self.experiment.recovery.probes
        if not specs:
            return
        runner = ProbeRunner(
            specs,
            self.loaded.registry,
            dict(self.experiment.targets),
            self.stream,
            self.resources,
            self.log,
            self.experiment.steady_state.every,
            "recovery",
        )
        for slot in runner.slots:  # each told as a sample: the result reads them there
            await runner.sample(slot)

    # -- aborts -----------------------------------------------------------------

    def _abort(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
            self.stream.emit(Aborted(reason=reason), durable=True)
            self.log.warning("aborting; reverting every fault", reason=reason)
        elif self.phases.current is Phase.AUDIT:
            self.log.warning("audit of the aborted run stopped", reason=reason)
            self.audit_scope.cancel()
        self.abort_scope.cancel()

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if self.abort_reason is not None and self.phases.current is not Phase.AUDIT:
                    self.log.warning("still reverting; please wait")
                self._abort(f"received {signal.Signals(signum).name}")

    def _check_safeguards(self, sample: Event) -> None:
        if not isinstance(sample, SampleTaken) or sample.role != "steady":
            return
        if not self._guard_active or sample.probe not in self._guards:
            return
        if sample.ok:
            self._failing_since.pop(sample.probe, None)
            return
        since = self._failing_since.setdefault(sample.probe, sample.t)
        failing_for = sample.t + sample.latency - since
        if failing_for >= self._guards[sample.probe]:
            self.stream.emit(
                SafeguardTripped(probe=sample.probe, failing_for=round(failing_for, 3)),
                durable=True,
            )
            self._abort(f"safeguard: probe {sample.probe!r} failing for {failing_for:.1f}s")

    # -- verdict ----------------------------------------------------------------

    def _finish(self) -> RunResult:
        for stream in self.streams:
            if (window := stream.last_window(self.journal.now())) is not None:
                self.stream.emit(window)
            self.stream.emit(LoadFigures(summary=stream.summary()))
        if self.phases.current is not Phase.VERDICT:
            self._move(Phase.VERDICT)
        result = self.record.result()
        text = result.model_dump_json(indent=2)
        (self.directory / RESULTS_NAME).write_text(self.loaded.secrets.redact(text) + "\n")
        self.stream.emit(
            RunFinished(
                status=str(result.status), exit_code=result.exit_code, reason=result.reason
            ),
            durable=True,
        )
        return result

    def _plan(self) -> RunPlan:
        """What the result is judged by (journaled: results are rebuilt with it)."""
        experiment = self.experiment
        probes = [
            PlannedProbe(
                name=slot.spec.name,
                kind=slot.spec.probe_kind,
                scope=slot.spec.scope,
                every=slot.every,
                unit=getattr(slot.probe, "value_unit", None),
            )
            for slot in self.steady.slots
        ]
        return RunPlan(
            probes=probes,
            stable_for=experiment.steady_state.stable_for,
            repeat=experiment.repeat,
            faults=[fault.name for fault in experiment.faults],
            expect=experiment.expect,
        )


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _most_telling(exc: BaseException) -> BaseException:
    leaves = _leaves(exc)
    for kind in (RevertFailed, ChaoskitError):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ChaoskitError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


_HANDLERS = {
    Phase.PREFLIGHT: _Run._preflight,
    Phase.BASELINE: _Run._baseline_phase,
    Phase.FAULTS: _Run._fault_phase,
    Phase.RECOVERY: _Run._recovery_phase,
}
"""Phase -> its handler, which returns the phase that follows (None: the run
ends without an audit: the baseline was not steady). AUDIT and VERDICT are the
driver's own: the audit after the watchers stop, the verdict in ``_finish``."""

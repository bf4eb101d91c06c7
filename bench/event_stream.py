"""Benchmark: the runner's cost per event and memory per sample stay flat over a
long run (issue 11, ADR 0018).

    uv run python bench/run.py --only event-stream

A synthetic hour: 20 steady-state probes at 10 Hz, 720,000 samples, 30 s of
them failing in the middle (a fault), each one taken through what a real run
does with a sample — emitted on the event stream, journaled (to a file in a
temporary directory), and handed to the subscribers a run has (the result
builder, which keeps it and its probe's figures; the live status) — while the
recovery wait
looks every 20 ms of simulated time (``RecoveryWatch``). The clock is simulated:
nothing sleeps.

Figures, each beside its anchor:
* µs per sample over the last 72,000 samples, beside the first 72,000: flat
  means a ratio near 1 (goal ≤ 1.25);
* bytes of memory per sample (tracemalloc) over the second half, beside the
  first half (goal ≤ 1.25);
* one recovery look after 720,000 samples, beside the look chaoskit made before
  (sort every sample, ``first_violation``, ``recovered_at``), which grew with
  the run (goal ≤ 0.01 of it);
* ``chaoskit results`` on the hour's journal (131 MiB): reading every event and
  folding it in one pass, beside reading its lines with ``json.loads`` alone
  (goal ≤ 10x: each event is a validated model).
"""

from __future__ import annotations

import json
import tempfile
import time
import tracemalloc
from pathlib import Path

from _timing import Row

from chaoskit._events import PlannedProbe, RunPlan, RunStarted, SampleTaken
from chaoskit._journal import Journal
from chaoskit._live import LiveStatus
from chaoskit._model import Expectations
from chaoskit._recovery import RecoveryWatch
from chaoskit._result_builder import ResultBuilder, rebuild_from_journal
from chaoskit._secrets import Secrets
from chaoskit._stream import EventStream
from chaoskit._timeline import first_violation, recovered_at, steady_series

PROBES = 20
RATE_HZ = 10
SECONDS = 3600
SAMPLES = PROBES * RATE_HZ * SECONDS  # 720,000
TENTH = SAMPLES // 10
FAULT = (1800.0, 1830.0)
LOOK_EVERY = 0.02
LATENCY = 0.002


class _Run:
    """The parts of a run a sample goes through, wired as the runner wires them."""

    def __init__(self, directory: Path) -> None:
        self.names = [f"probe-{i}" for i in range(PROBES)]
        self.journal = Journal(directory / "journal.jsonl", Secrets(), time.monotonic())
        self.stream = EventStream(self.journal)
        self.builder = ResultBuilder()
        self.stream.subscribe(self.builder)
        self.stream.subscribe(LiveStatus([(name, "target") for name in self.names]))
        self.stream.emit(_started(self.names))
        self.samples = self.builder.samples
        self.last_end: dict[str, float] = {}
        self.watch = RecoveryWatch(self.names, FAULT[0], FAULT[1], 1.0)
        self.next_look = 0.0

    def take(self, index: int) -> None:
        t = index / (PROBES * RATE_HZ)
        name = self.names[index % PROBES]
        ok = not (FAULT[0] <= t < FAULT[1] and index % PROBES < 5)
        self.stream.emit(
            SampleTaken(
                role="steady",
                probe=name,
                scope="target",
                ok=ok,
                latency=LATENCY,
                value=200 if ok else None,
                segment="baseline",
            ),
            t=t,
        )
        sample = self.samples[-1]
        self.last_end[name] = sample.end
        self.watch.add(sample)
        if t >= self.next_look and len(self.last_end) == PROBES:
            self.watch.recovered(min(self.last_end.values()))
            self.next_look = t + LOOK_EVERY

    def horizon(self) -> float:
        return min(self.last_end.values())


def _started(names: list[str]) -> RunStarted:
    plan = RunPlan(
        probes=[PlannedProbe(name=name, kind="http", scope="target", every=0.1) for name in names],
        stable_for=1.0,
        repeat=1,
        faults=["fault"],
        expect=Expectations(),
    )
    return RunStarted(
        run_id="bench",
        source="bench.yaml",
        title="bench",
        experiment=None,
        chaoskit_version="bench",
        pid=0,
        started_at="",
        plan=plan,
    )


def _per_sample_us(run: _Run, start: int, stop: int) -> float:
    began = time.perf_counter()
    for index in range(start, stop):
        run.take(index)
    return (time.perf_counter() - began) / (stop - start) * 1e6


def _timing() -> tuple[float, float, float, float]:
    with tempfile.TemporaryDirectory() as directory:
        run = _Run(Path(directory))
        first = _per_sample_us(run, 0, TENTH)
        _per_sample_us(run, TENTH, SAMPLES - TENTH)
        last = _per_sample_us(run, SAMPLES - TENTH, SAMPLES)
        horizon = run.horizon()
        began = time.perf_counter()
        assert run.watch.recovered(horizon)
        look = time.perf_counter() - began
        began = time.perf_counter()
        series = steady_series(run.samples, run.names)
        impact = first_violation(series, FAULT[0])
        assert impact is not None
        assert recovered_at(series, impact.t, FAULT[1], 1.0, horizon) is not None
        batch = time.perf_counter() - began
        run.journal.close()
    return first, last, look * 1e6, batch * 1e6


def _memory() -> tuple[float, float]:
    """Bytes per sample allocated and kept, first half and second half."""
    with tempfile.TemporaryDirectory() as directory:
        tracemalloc.start()
        try:
            run = _Run(Path(directory))
            base = tracemalloc.get_traced_memory()[0]
            half = SAMPLES // 2
            for index in range(half):
                run.take(index)
            middle = tracemalloc.get_traced_memory()[0]
            for index in range(half, SAMPLES):
                run.take(index)
            end = tracemalloc.get_traced_memory()[0]
            run.journal.close()
        finally:
            tracemalloc.stop()
    return (middle - base) / half, (end - middle) / (SAMPLES - half)


def _rebuild() -> tuple[float, float]:
    """Seconds to rebuild the results from the hour's journal (``chaoskit
    results``: read every event, fold them), beside reading its lines as plain JSON."""
    with tempfile.TemporaryDirectory() as directory:
        run = _Run(Path(directory))
        for index in range(SAMPLES):
            run.take(index)
        run.journal.close()
        path = run.journal.path
        began = time.perf_counter()
        with path.open(encoding="utf-8") as lines:
            parsed = sum(1 for line in lines if json.loads(line))
        plain = time.perf_counter() - began
        began = time.perf_counter()
        result = rebuild_from_journal(path).result
        rebuild = time.perf_counter() - began
    assert parsed == SAMPLES + 1
    assert result.probes[0].samples == SAMPLES // PROBES
    return rebuild, plain


def benchmark() -> list[Row]:
    rebuild, plain = _rebuild()
    first, last, look, batch = _timing()
    first_half, second_half = _memory()
    return [
        ("per sample, last 72k of 720k", last, "µs", "first 72k", first, 1.25),
        ("memory per sample, 2nd half", second_half, "B", "1st half", first_half, 1.25),
        ("recovery look at 720k samples", look, "µs", "re-sort (before)", batch, 0.01),
        ("results rebuilt from its journal", rebuild, "s", "json.loads of it", plain, 10.0),
    ]


if __name__ == "__main__":
    for row in benchmark():
        print(row)

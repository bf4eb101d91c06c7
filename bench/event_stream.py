"""Benchmark: the runner's cost per event and memory per sample stay flat over a
long run (issue 11, ADR 0018).

    uv run python bench/run.py --only event-stream

A synthetic hour: 20 steady-state probes at 10 Hz, 720,000 samples, 30 s of
them failing in the middle (a fault), each one taken through what a real run
does with a sample — kept in the probe runner's list, emitted on the event
stream, journaled (to a file in a temporary directory), and handed to the
subscribers a run has (fault records, live status) — while the recovery wait
looks every 20 ms of simulated time (``RecoveryWatch``). The clock is simulated:
nothing sleeps.

Figures, each beside its anchor:
* µs per sample over the last 72,000 samples, beside the first 72,000: flat
  means a ratio near 1 (goal ≤ 1.25);
* bytes of memory per sample (tracemalloc) over the second half, beside the
  first half (goal ≤ 1.25);
* one recovery look after 720,000 samples, beside the look chaoskit made before
  (sort every sample, ``first_violation``, ``recovered_at``), which grew with
  the run (goal ≤ 0.01 of it).
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from pathlib import Path

from _timing import Row

from chaoskit._events import SampleTaken
from chaoskit._faults import FaultRecords
from chaoskit._journal import Journal
from chaoskit._live import LiveStatus
from chaoskit._recovery import RecoveryWatch
from chaoskit._secrets import Secrets
from chaoskit._stream import EventStream
from chaoskit._timeline import Sample, first_violation, recovered_at, steady_series

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
        self.stream.subscribe(FaultRecords())
        self.stream.subscribe(LiveStatus([(name, "target") for name in self.names]))
        self.samples: list[Sample] = []
        self.last_end: dict[str, float] = {}
        self.watch = RecoveryWatch(self.names, FAULT[0], FAULT[1], 1.0)
        self.next_look = 0.0

    def take(self, index: int) -> None:
        t = index / (PROBES * RATE_HZ)
        name = self.names[index % PROBES]
        ok = not (FAULT[0] <= t < FAULT[1] and index % PROBES < 5)
        sample = Sample(name, "target", t, LATENCY, ok, 200 if ok else None)
        self.samples.append(sample)
        self.last_end[name] = sample.end
        self.stream.emit(
            SampleTaken(
                role="steady",
                probe=name,
                scope="target",
                ok=ok,
                latency=LATENCY,
                value=sample.value,
                segment="baseline",
            ),
            t=t,
        )
        self.watch.add(sample)
        if t >= self.next_look and len(self.last_end) == PROBES:
            self.watch.recovered(min(self.last_end.values()))
            self.next_look = t + LOOK_EVERY

    def horizon(self) -> float:
        return min(self.last_end.values())


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


def benchmark() -> list[Row]:
    first, last, look, batch = _timing()
    first_half, second_half = _memory()
    return [
        ("per sample, last 72k of 720k", last, "µs", "first 72k", first, 1.25),
        ("memory per sample, 2nd half", second_half, "B", "1st half", first_half, 1.25),
        ("recovery look at 720k samples", look, "µs", "re-sort (before)", batch, 0.01),
    ]


if __name__ == "__main__":
    for row in benchmark():
        print(row)

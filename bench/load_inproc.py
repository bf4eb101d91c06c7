"""Child process of bench/run.py: chaoskit's own ProbeRunner and LoadStream, in-process.

    python bench/load_inproc.py jitter --url URL --port PORT [--seconds S] [--probes N]
                                       [--every SECONDS] [--rate R]
    python bench/load_inproc.py load --url URL [--seconds S] (--users N | --rate R)

Builds the probes and the stream the way chaoskit/_runner.py does (a generated experiment
document through the loader, a real Journal, RunResources, the kinds' warm-up) and runs them on
one event loop for ``--seconds``; prints one JSON object on stdout. bench/run.py pins this
process to one core with taskset; it is a separate process so that the pin applies to it alone.

``jitter``: ``--probes`` ``tcp`` probes against PORT, each every ``--every`` seconds, while an
open-loop ``http`` stream sends ``--rate`` requests/s to URL. Reports every sample's lateness
(``ProbeSlot.lateness``: actual start minus intended start) and the skipped slots.

``load``: one ``http`` stream alone: ``--users`` closed-loop users without think time, or an
open loop at ``--rate``. Reports what was sent and answered and when.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from chaoskit._events import Event, SampleTaken
from chaoskit._gc import settle_heap
from chaoskit._journal import Journal
from chaoskit._loader import LoadedExperiment, parse_experiment
from chaoskit._loadgen import LoadStream
from chaoskit._logging import configure_logging
from chaoskit._probing import ProbeRunner
from chaoskit._resources import RunResources
from chaoskit._stream import EventStream

PHASE = "bench"
STOP_GRACE = 5.0  # the stream's timeout is 2 s: its requests in flight end before this


def experiment(url: str, port: int, probes: int, every: float, stream: dict[str, Any]) -> str:
    document = {
        "version": 1,
        "title": "bench load",
        "steady_state": {
            "every": every,
            "stable_for": 0,
            "baseline": 0,
            "probes": [{"name": f"tcp-{i}", "tcp": {"port": port}} for i in range(probes)],
        },
        "load": [{"name": "bench", "http": {"url": url}, **stream}],
    }
    return json.dumps(document)  # JSON is YAML


async def warm_up(kinds: Sequence[object]) -> None:
    """As _Run._warm_up: imports happen now, not during the measurement."""
    import hdrh.histogram  # noqa: F401

    for kind in {id(k): k for k in kinds}.values():
        hook = getattr(kind, "warm_up", None)
        if hook is not None:
            with anyio.fail_after(30):
                await hook()
    settle_heap()


def run_delay() -> float:
    """Seconds the event loop's thread has spent runnable but waiting for a CPU (schedstat):
    the share of the run other processes took from it."""
    try:
        fields = Path("/proc/thread-self/schedstat").read_text().split()
    except OSError:
        return float("nan")
    return int(fields[1]) / 1e9


async def drive(
    loaded: LoadedExperiment, run_dir: Path, seconds: float, probes: bool
) -> dict[str, Any]:
    spec = loaded.experiment
    origin = time.monotonic()
    journal = Journal(run_dir / "journal.jsonl", loaded.secrets, origin)
    events = EventStream(journal)
    failures = 0

    def count_failures(event: Event) -> None:
        nonlocal failures
        failures += isinstance(event, SampleTaken) and not event.ok

    events.subscribe(count_failures)
    resources = RunResources()
    log = configure_logging(loaded.secrets)
    targets = dict(spec.targets)
    runner = ProbeRunner(
        spec.steady_state.probes,
        loaded.registry,
        targets,
        events,
        resources,
        log,
        spec.steady_state.every,
        "steady",
        lambda: PHASE,
    )
    [load_spec] = spec.load
    stream = LoadStream(
        load_spec, loaded.registry, targets, resources, lambda: PHASE, run_dir, "bench", origin
    )
    kinds: list[object] = [task.kind for task in stream.tasks]
    if probes:
        kinds += [slot.probe for slot in runner.slots]
    try:
        await warm_up(kinds)
        async with anyio.create_task_group() as group:
            stream_done = anyio.Event()

            async def run_stream(*, task_status: TaskStatus[None]) -> None:
                try:
                    await stream.run(task_status=task_status)
                finally:
                    stream_done.set()

            # as the runner does: the load's start-up burst before the first probe
            started, cpu_started, waited = time.monotonic(), time.process_time(), run_delay()
            await group.start(run_stream)
            if probes:
                group.start_soon(runner.run)
            await anyio.sleep(seconds)
            stream.stop()
            stopped, cpu_stopped = time.monotonic(), time.process_time()
            waited = run_delay() - waited
            sent_at_stop = stream.sent
            with anyio.move_on_after(STOP_GRACE):
                await stream_done.wait()
            drained = time.monotonic()
            group.cancel_scope.cancel()
    finally:
        await resources.aclose()
        journal.close()
    summary = stream.summary()
    [phase] = summary.phases.values()
    latency = phase.latency
    out: dict[str, Any] = {
        "elapsed": stopped - started,
        "cpu_share": (cpu_stopped - cpu_started) / (stopped - started),
        "run_queue_share": waited / (stopped - started),
        "intended_rate": load_spec.rate,
        "drain": drained - stopped,
        "sent_at_stop": sent_at_stop,
        "sent": summary.sent,
        "intended": summary.intended,  # as results.json reports it
        "answered": phase.sent,
        "acknowledged": phase.acknowledged,
        "errors": phase.failed + phase.indeterminate,
        "latency_p50": latency.p50 if latency else None,
        "latency_p99": latency.p99 if latency else None,
        "latency_max": latency.max if latency else None,
    }
    if probes:
        out["lateness"] = [late for slot in runner.slots for late in slot.lateness]
        out["samples"] = sum(slot.samples for slot in runner.slots)
        out["probe_failures"] = failures
        out["skipped_slots"] = sum(slot.skipped_slots for slot in runner.slots)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", choices=["jitter", "load"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--port", type=int, default=0, help="jitter: the tcp probes' port")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--every", type=float, default=0.05)
    parser.add_argument("--users", type=int)
    parser.add_argument("--rate", type=float)
    args = parser.parse_args(argv)
    if (args.users is None) == (args.rate is None):
        parser.error("expected --users or --rate")
    stream: dict[str, Any] = {"users": args.users} if args.users else {"rate": args.rate}
    probes = args.mode == "jitter"
    port = args.port if probes else 1  # load mode: a probe the document needs, never run
    text = experiment(args.url, port, args.probes if probes else 1, args.every, stream)
    loaded = parse_experiment(text, "<bench>")
    with tempfile.TemporaryDirectory(prefix="chaoskit-bench-load-") as tmp:
        # as `chaoskit run` does for experiments with load (cli._loop_options)
        out = anyio.run(
            drive, loaded, Path(tmp), args.seconds, probes, backend_options={"use_uvloop": True}
        )
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

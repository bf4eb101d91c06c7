"""Benchmark of the process injectors against local processes.

    uv run python -c "import sys; sys.path.insert(0,'bench'); \
import injectors_process as m; print(m.benchmark(20))"

For each injector: inject latency (call start → the effect seen by a tight
independent probe) and revert latency (call start → the effect gone), p50 and
p99 over ``trials`` trials, beside the raw round trip of the component — one
``psutil.Process(pid).status()`` call, what any tool pays to ask the kernel about
a process — target ratio 2.0. One more row per injector puts inject beside
doing the same thing directly from this process (a bare ``os.kill``; spawning
the same helper script; writing the same cgroup files), the floor of what an
injector can do; it is reported with the same target.

The probes read /proc directly, nothing shared with the injectors:

* stop — the victim's state letter in /proc/PID/stat is ``T``; gone: it is not.
* kill — the victim (our child) is a zombie; revert of a kill with ``restart``:
  a new process with the victim's command line exists.
* cpu_pressure / memory_pressure — a process that did not exist before the call
  carries the fault's tag in its command line (and, for memory, has the MiB
  resident); gone: it has ended.
* memory_limit / cpu_limit — /proc/PID/cgroup names the fault's cgroup; gone:
  the original one again.

Starts every process it needs and ends it; nothing is left behind.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import psutil
import structlog
from _timing import Row, latency_rows, timed_until, vs_direct_row
from chaoskit_process._helpers import WORKER

from chaoskit import FaultContext, Injector

POLL = 0.0001
MIB = 1024 * 1024
HOG_MIB = 64
SLEEP = "import time; time.sleep(600)"

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # warnings off


def _read(path: str) -> str:
    try:
        with open(path, "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _state_letter(pid: int) -> str:
    """The state letter of /proc/PID/stat ("" when the process is gone)."""
    stat = _read(f"/proc/{pid}/stat")
    return stat.rpartition(")")[2].split()[0] if stat else ""


def _stopped(pid: int) -> bool:
    return _state_letter(pid) == "T"


def _cgroup_line(pid: int, controller: str) -> str:
    for line in _read(f"/proc/{pid}/cgroup").splitlines():
        if controller in line.split(":")[1].split(","):
            return line
    return ""


@dataclass
class NewProcesses:
    """Processes that appeared since it was made, found by listing /proc (cheap)
    and reading the command line of new pids only."""

    before: set[str] = field(default_factory=lambda: set(os.listdir("/proc")))
    cmdlines: dict[int, str] = field(default_factory=dict)

    def with_text(self, text: str) -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or entry in self.before:
                continue
            pid = int(entry)
            if pid not in self.cmdlines or not self.cmdlines[pid]:
                self.cmdlines[pid] = _read(f"/proc/{pid}/cmdline")
            if text in self.cmdlines[pid] and _state_letter(pid) not in ("", "Z", "X"):
                found.append(pid)
        return found


def _context(injector: Injector, target: dict[str, Any], params: dict[str, Any]) -> FaultContext:
    from chaoskit_process import ProcessTarget

    return FaultContext(
        run_id=f"bench{uuid.uuid4().hex[:10]}",
        fault_name="f",
        target_name="victim",
        target=ProcessTarget.model_validate({"kind": "process", **target}),
        params=injector.params.model_validate(params),
        log=structlog.get_logger(),
    )


class Victims:
    """Sleeping victims, each with a unique marker; all ended and reaped at close."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []
        self.markers: list[str] = []

    def start(self) -> tuple[subprocess.Popen[bytes], str, list[str]]:
        marker = f"ck-bench-{uuid.uuid4().hex[:10]}"
        argv = [sys.executable, "-c", SLEEP, marker]
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self.started.append(process)
        self.markers.append(marker)
        deadline = time.monotonic() + 10
        while _state_letter(process.pid) in ("", "R") and time.monotonic() < deadline:
            time.sleep(0.002)  # let it reach its sleep
        return process, marker, argv

    def end(self, process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
        process.wait(timeout=10)

    def close(self) -> None:
        for process in self.started:
            if process.returncode is None:
                self.end(process)
        for process in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(process.info.get("cmdline") or [])
            if any(marker in cmdline for marker in self.markers):
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()


@dataclass
class Timings:
    injects: list[float] = field(default_factory=list)
    reverts: list[float] = field(default_factory=list)
    direct: list[float] = field(default_factory=list)
    direct_name: str = ""


async def _lifecycle(
    injector: Injector,
    ctx: FaultContext,
    in_force: Callable[[], bool],
    gone: Callable[[], bool],
    timings: Timings,
) -> None:
    state = await injector.prepare(ctx)
    applied: list[Any] = []

    async def inject() -> None:
        applied.append(await injector.inject(ctx, state))

    try:
        timings.injects.append(await timed_until(inject, in_force, poll=POLL))
        final = applied[0]
        revert = functools.partial(injector.revert, ctx, final)
        timings.reverts.append(await timed_until(revert, gone, poll=POLL))
    finally:
        await injector.revert(ctx, applied[0] if applied else state)


async def _stop(victims: Victims, trials: int) -> Timings:
    from chaoskit_process import Stop

    process, _, _ = victims.start()
    pid = process.pid
    timings = Timings(direct_name="os.kill(SIGSTOP) directly")
    for _ in range(trials):
        ctx = _context(Stop(), {"pid": pid}, {})
        await _lifecycle(
            Stop(),
            ctx,
            lambda: _state_letter(pid) == "T",
            lambda: _state_letter(pid) != "T",
            timings,
        )
    for _ in range(trials):
        started = time.perf_counter()
        os.kill(pid, signal.SIGSTOP)
        while _state_letter(pid) != "T":
            pass
        timings.direct.append(time.perf_counter() - started)
        os.kill(pid, signal.SIGCONT)
        while _state_letter(pid) == "T":
            time.sleep(0)
    victims.end(process)
    return timings


async def _kill(victims: Victims, trials: int) -> Timings:
    from chaoskit_process import Kill

    timings = Timings(direct_name="os.kill(SIGKILL) directly")
    for _ in range(trials):
        process, marker, argv = victims.start()
        ctx = _context(Kill(), {"cmdline": marker}, {"restart": {"command": argv}})
        fresh = NewProcesses()
        await _lifecycle(
            Kill(),
            ctx,
            lambda pid=process.pid: _state_letter(pid) == "Z",  # type: ignore[misc]
            lambda fresh=fresh, marker=marker: bool(fresh.with_text(marker)),  # type: ignore[misc]
            timings,
        )
        process.wait(timeout=10)
        for pid in fresh.with_text(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for _ in range(trials):
        process, _, _ = victims.start()
        started = time.perf_counter()
        os.kill(process.pid, signal.SIGKILL)
        while _state_letter(process.pid) != "Z":
            pass
        timings.direct.append(time.perf_counter() - started)
        process.wait(timeout=10)
    return timings


def _spawn_worker(args: list[str]) -> int:
    argv = [sys.executable, "-I", "-S", WORKER, "chaoskit-process-helper", "--tag=bench-direct"]
    return os.posix_spawn(sys.executable, [*argv, *args], dict(os.environ), setsid=True)


def _end_worker(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _rss_mib(pid: int) -> float:
    statm = _read(f"/proc/{pid}/statm").split()
    return int(statm[1]) * os.sysconf("SC_PAGE_SIZE") / MIB if len(statm) > 1 else 0.0


async def _pressure(
    victims: Victims, trials: int, injector: Injector, params: dict[str, Any], mode: str
) -> Timings:
    process, _, _ = victims.start()
    timings = Timings(direct_name=f"spawning the same {mode} helper directly")

    def holding(pids: list[int]) -> bool:
        return bool(pids) and (mode != "hog" or _rss_mib(pids[0]) >= HOG_MIB)

    for _ in range(trials):
        ctx = _context(injector, {"pid": process.pid}, params)
        fresh = NewProcesses()
        await _lifecycle(
            injector,
            ctx,
            lambda ctx=ctx, fresh=fresh: holding(fresh.with_text(ctx.tag)),  # type: ignore[misc]
            lambda ctx=ctx, fresh=fresh: not fresh.with_text(ctx.tag),  # type: ignore[misc]
            timings,
        )
    args = ["--seconds=30", f"--mib={HOG_MIB}"] if mode == "hog" else ["--seconds=30"]
    for _ in range(trials):
        started = time.perf_counter()
        pid = _spawn_worker([mode, *args])
        while not holding([pid] if _state_letter(pid) not in ("", "Z") else []):
            time.sleep(0)
        timings.direct.append(time.perf_counter() - started)
        _end_worker(pid)
    victims.end(process)
    return timings


async def _limit(
    victims: Victims, trials: int, injector: Injector, params: dict[str, Any], controller: str
) -> Timings:
    process, _, _ = victims.start()
    pid = process.pid
    original = _cgroup_line(pid, controller)
    timings = Timings(direct_name="mkdir + limit + cgroup.procs directly")
    for _ in range(trials):
        ctx = _context(injector, {"pid": pid}, params)
        await _lifecycle(
            injector,
            ctx,
            lambda ctx=ctx: _cgroup_line(pid, controller).endswith(ctx.tag),  # type: ignore[misc]
            lambda: _cgroup_line(pid, controller) == original,
            timings,
        )
    home = Path("/sys/fs/cgroup", controller) / original.split(":", 2)[2].lstrip("/")
    setting = "memory.limit_in_bytes" if controller == "memory" else "cpu.cfs_quota_us"
    value = str(256 * MIB) if controller == "memory" else "50000"
    for index in range(trials):
        directory = home / f"bench-direct-{os.getpid()}-{index}"
        started = time.perf_counter()
        directory.mkdir()
        (directory / setting).write_text(value)
        (directory / "cgroup.procs").write_text(str(pid))
        while not _cgroup_line(pid, controller).endswith(directory.name):
            time.sleep(0)
        timings.direct.append(time.perf_counter() - started)
        (home / "cgroup.procs").write_text(str(pid))
        directory.rmdir()
    victims.end(process)
    return timings


def _anchor(trials: int) -> list[float]:
    me = os.getpid()
    times = []
    for _ in range(max(trials, 100) * 10):
        started = time.perf_counter()
        psutil.Process(me).status()
        times.append(time.perf_counter() - started)
    return times


async def _measure(trials: int) -> list[Row]:
    from chaoskit_process import CpuLimit, CpuPressure, MemoryLimit, MemoryPressure

    anchor = _anchor(trials)
    anchor_name = "psutil.Process(pid).status() round trip"
    victims = Victims()
    try:
        cases: list[tuple[str, Timings]] = [
            ("process.stop", await _stop(victims, trials)),
            ("process.kill (revert: restart)", await _kill(victims, trials)),
            (
                "process.cpu_pressure (1 worker)",
                await _pressure(
                    victims, trials, CpuPressure(), {"workers": 1, "max_duration": "30s"}, "burn"
                ),
            ),
            (
                f"process.memory_pressure ({HOG_MIB} MiB)",
                await _pressure(victims, trials, MemoryPressure(), {"mib": HOG_MIB}, "hog"),
            ),
            (
                "process.memory_limit",
                await _limit(victims, trials, MemoryLimit(), {"mib": 256}, "memory"),
            ),
            ("process.cpu_limit", await _limit(victims, trials, CpuLimit(), {"cpus": 0.5}, "cpu")),
        ]
    finally:
        victims.close()
    rows: list[Row] = []
    for name, timings in cases:
        rows += latency_rows(name, timings.injects, timings.reverts, anchor_name, anchor)
        rows.append(vs_direct_row(name, timings.injects, timings.direct_name, timings.direct))
    return rows


def benchmark(trials: int) -> list[Row]:
    """Rows ``(figure, value, unit, anchor_name, anchor_value, target_ratio)``."""
    return anyio.run(_measure, trials)


if __name__ == "__main__":
    for row in benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else 100):
        figure, value, unit, anchor, anchor_value, target = row
        ratio = value / anchor_value if anchor_value else float("nan")
        print(f"{figure:52} {value:9.3f} {unit}  {anchor:48} {anchor_value:8.3f}  x{ratio:.1f}")

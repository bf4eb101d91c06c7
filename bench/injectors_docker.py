"""Benchmark of the Docker injectors against a real engine.

    uv run python -c "import sys; sys.path.insert(0,'bench'); \
import injectors_docker as m; print(m.benchmark(20))"

For each injector: inject latency (call start → the effect seen by a tight
independent probe) and revert latency (call start → the effect gone), p50 and
p99 over ``trials`` trials, beside the raw round trip of the component — one
``GET /_ping`` of the Engine API through the Docker SDK — target ratio 2.0.
One more row per injector puts inject beside the same change made with one
bare SDK call from this process (``pause``, ``update``, ``kill`` …), the floor
of what an injector can do through the engine; it is reported with the same
target. Each injector call opens its own client (one ``/version`` round trip)
and inspects the container before acting, as it must to journal and check
prior state.

The probes read the container's cgroup v1 files and /proc on the host,
nothing shared with the injectors or the engine:

* pause — ``freezer.state`` is FROZEN; gone: THAWED.
* kill / stop — the container's ``cgroup.procs`` is empty or gone; revert
  (start): it lists a process again.
* memory_limit / cpu_limit — ``memory.limit_in_bytes`` / ``cpu.cfs_quota_us``
  read the fault's value; gone: the original.
* cpu_pressure / memory_pressure — a process of the container's cgroup carries
  the hog's marker in its command line (memory: and the cgroup's usage grew by
  90 % of the hog's size at least); gone: none does.
* network_disconnect — /proc/PID/net/dev of the container's process lacks the
  second interface; gone: it has it again.

Needs the engine and root (cgroup files; ``./dev setup`` starts dockerd and
installs busybox-static, from which the test image is imported when missing).
Every container and network it creates is labelled ``chaoskit.bench=<id>`` and
removed at the end.
"""

from __future__ import annotations

import contextlib
import functools
import io
import sys
import tarfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import docker
import docker.errors
import structlog
from _timing import Row, latency_rows, timed_until, vs_direct_row

from chaoskit import FaultContext, Injector

POLL = 0.0002
MIB = 1 << 20
HOG_MIB = 32
SLOW_TRIALS = 30
HOG_BYTES = HOG_MIB * MIB
HOLD = f"dd if=/dev/zero bs={HOG_MIB}M count=1 2>/dev/null | sleep 60; :"
IMAGE = "chaoskit-test/busybox:local"
LABEL = "chaoskit.bench"
HTTPD = ["sh", "-c", "mkdir -p /www && echo ok > /www/health && exec httpd -f -p 80 -h /www"]

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # warnings off


def _read(path: str) -> str:
    try:
        with open(path, "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _ensure_image(client: Any) -> None:
    """The test image, imported from Debian's busybox-static when missing."""
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.get(IMAGE)
        return
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "tmp", "www", "proc", "sys", "dev", "etc"):
            entry = tarfile.TarInfo(folder)
            entry.type, entry.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(entry)
        tar.add("/bin/busybox", arcname="bin/busybox")
        for applet in ("sh", "sleep", "httpd", "dd", "tr", "grep", "kill", "cat", "echo"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    repository, tag = IMAGE.split(":")
    client.api.import_image_from_data(
        buffer.getvalue(), repository=repository, tag=tag, changes=["ENV PATH=/bin"]
    )


@dataclass
class Lab:
    """The bench's containers and network, all removed by label at close."""

    client: Any
    value: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    network: str = ""
    second: str = ""

    def open(self) -> None:
        _ensure_image(self.client)
        labels = {LABEL: self.value}
        self.network = f"chaoskit-bench-{self.value}"
        self.second = f"{self.network}-b"
        self.client.networks.create(self.network, labels=labels)
        self.client.networks.create(self.second, labels=labels)

    def container(self, **kwargs: Any) -> Any:
        created = self.client.containers.run(
            IMAGE,
            HTTPD,
            name=f"chaoskit-bench-{self.value}-{uuid.uuid4().hex[:6]}",
            detach=True,
            labels={LABEL: self.value},
            network=self.network,
            **kwargs,
        )
        return created

    def close(self) -> None:
        filters = {"label": f"{LABEL}={self.value}"}
        for container in self.client.containers.list(all=True, filters=filters):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        for network in self.client.networks.list(filters=filters):
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()


def _cgroup(controller: str, container_id: str, name: str) -> str:
    return _read(f"/sys/fs/cgroup/{controller}/docker/{container_id}/{name}")


def _procs(container_id: str) -> list[str]:
    return _cgroup("pids", container_id, "cgroup.procs").split()


def _with_text(container_id: str, text: str) -> bool:
    return any(text in _read(f"/proc/{pid}/cmdline") for pid in _procs(container_id))


def _interfaces(pid: int) -> int:
    return sum(":" in line for line in _read(f"/proc/{pid}/net/dev").splitlines())


def _context(injector: Injector, container: str, params: dict[str, Any]) -> FaultContext:
    from chaoskit_docker import ContainerTarget

    return FaultContext(
        run_id=f"bench{uuid.uuid4().hex[:10]}",
        fault_name="f",
        target_name="bench",
        target=ContainerTarget(container=container),
        params=injector.params.model_validate(params),
        log=structlog.get_logger(),
    )


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


@dataclass
class Case:
    """One injector's trials: how to apply it, what shows it, the direct equivalent."""

    name: str
    injector: Injector
    params: dict[str, Any]
    in_force: Callable[[], bool]
    gone: Callable[[], bool]
    direct_name: str
    direct: Callable[[], object]
    undo_direct: Callable[[], object]
    direct_seen: Callable[[], bool] | None = None
    max_trials: int | None = None
    before_trial: Callable[[], object] | None = None
    """Called before every trial (a fresh memory baseline)."""
    """A cap for injectors whose trial takes about a second (a container start)."""
    """What shows the direct change, when not what shows the fault (pressure)."""

    def seen_direct(self) -> tuple[Callable[[], bool], Callable[[], bool]]:
        if self.direct_seen is None:
            return self.in_force, self.gone
        seen = self.direct_seen
        return seen, lambda: not seen()


async def _run_case(case: Case, container: str, trials: int) -> Timings:
    trials = min(trials, case.max_trials or trials)
    timings = Timings(direct_name=case.direct_name)
    for _ in range(trials):
        if case.before_trial is not None:
            case.before_trial()
        ctx = _context(case.injector, container, case.params)
        await _lifecycle(case.injector, ctx, case.in_force, case.gone, timings)
    seen, gone = case.seen_direct()
    for _ in range(trials):
        if case.before_trial is not None:
            case.before_trial()
        timings.direct.append(
            await timed_until(lambda: anyio.to_thread.run_sync(case.direct), seen, poll=POLL)
        )
        await timed_until(lambda: anyio.to_thread.run_sync(case.undo_direct), gone, poll=POLL)
    return timings


def _settled(api: Any, call: Callable[[str], object], container_id: str, *, paused: bool) -> None:
    """``call`` and then wait until the engine's state agrees: it records a pause
    when containerd reports it, a moment after answering."""
    call(container_id)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        state = api.inspect_container(container_id)["State"]
        if bool(state["Paused"]) == paused:
            return
        time.sleep(0.005)


def _cases(lab: Lab) -> list[tuple[Any, Case]]:
    from chaoskit_docker import (
        CpuLimit,
        CpuPressure,
        Kill,
        MemoryLimit,
        MemoryPressure,
        NetworkDisconnect,
        Pause,
        Stop,
    )

    api = lab.client.api
    cases: list[tuple[Any, Case]] = []

    web = lab.container()
    cid = web.id
    cases.append(
        (
            web,
            Case(
                "docker.pause",
                Pause(),
                {},
                lambda: _cgroup("freezer", cid, "freezer.state") == "FROZEN",
                lambda: _cgroup("freezer", cid, "freezer.state") == "THAWED",
                "SDK pause() directly",
                lambda: _settled(api, api.pause, cid, paused=True),
                lambda: _settled(api, api.unpause, cid, paused=False),
            ),
        )
    )

    def down(container_id: str) -> Callable[[], bool]:
        return lambda: not _procs(container_id)

    def up(container_id: str) -> Callable[[], bool]:
        return lambda: bool(_procs(container_id))

    killed = lab.container()
    cases.append(
        (
            killed,
            Case(
                "docker.kill (revert: start)",
                Kill(),
                {},
                down(killed.id),
                up(killed.id),
                "SDK kill() directly",
                lambda: api.kill(killed.id),
                lambda: api.start(killed.id),
                max_trials=SLOW_TRIALS,
            ),
        )
    )
    stopped = lab.container()
    cases.append(
        (
            stopped,
            Case(
                "docker.stop (timeout 0s; revert: start)",
                Stop(),
                {"timeout": "0s"},
                down(stopped.id),
                up(stopped.id),
                "SDK stop(timeout=0) directly",
                lambda: api.stop(stopped.id, timeout=0),
                lambda: api.start(stopped.id),
                max_trials=SLOW_TRIALS,
            ),
        )
    )

    limited = lab.container()
    lid = limited.id
    original_memory = _cgroup("memory", lid, "memory.limit_in_bytes")
    cases.append(
        (
            limited,
            Case(
                "docker.memory_limit",
                MemoryLimit(),
                {"memory": "64m"},
                lambda: _cgroup("memory", lid, "memory.limit_in_bytes") == str(64 * MIB),
                lambda: _cgroup("memory", lid, "memory.limit_in_bytes") == original_memory,
                "SDK update_container(mem_limit) directly",
                lambda: api.update_container(lid, mem_limit=64 * MIB, memswap_limit=64 * MIB),
                lambda: api.update_container(
                    lid, mem_limit=int(original_memory), memswap_limit=int(original_memory)
                ),
            ),
        )
    )
    quota = _cgroup("cpu", lid, "cpu.cfs_quota_us")
    cases.append(
        (
            limited,
            Case(
                "docker.cpu_limit",
                CpuLimit(),
                {"cpus": 0.5},
                lambda: _cgroup("cpu", lid, "cpu.cfs_quota_us") == "50000",
                lambda: _cgroup("cpu", lid, "cpu.cfs_quota_us") == quota,
                "SDK update_container(cpu_quota) directly",
                lambda: api.update_container(lid, cpu_quota=50000),
                lambda: api.update_container(lid, cpu_quota=int(quota)),
            ),
        )
    )

    hogged = lab.container()
    hid = hogged.id
    direct_marker = f"bench-direct-{lab.value}"

    def exec_detached(command: list[str]) -> None:
        created = api.exec_create(hid, command, stdout=False, stderr=False)
        api.exec_start(created["Id"], detach=True)

    def end_direct() -> None:
        exec_detached(["sh", "-c", "kill $(pidof sleep)"])

    cases.append(
        (
            hogged,
            Case(
                "docker.cpu_pressure (1 worker)",
                CpuPressure(),
                {"workers": 1, "max_duration": "60s"},
                lambda: _with_text(hid, ".cpu-hog"),
                lambda: not _with_text(hid, ".cpu-hog"),
                "SDK exec_create + exec_start(detach) of sleep directly",
                lambda: exec_detached(["sh", "-c", "sleep 60; :", direct_marker]),
                end_direct,
                lambda: _with_text(hid, direct_marker),
            ),
        )
    )

    def memory_used() -> int:
        return int(_cgroup("memory", hid, "memory.usage_in_bytes") or 0)

    baseline = [memory_used()]

    def grown() -> bool:
        return memory_used() - baseline[0] >= 0.9 * HOG_BYTES  # 90 %: the baseline wobbles

    def rebase() -> None:
        """The usage once it has settled (an earlier hog's memory may still be going)."""
        deadline = time.monotonic() + 3
        previous = memory_used()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = memory_used()
            if abs(now - previous) < MIB:
                break
            previous = now
        baseline[0] = memory_used()

    cases.append(
        (
            hogged,
            Case(
                f"docker.memory_pressure ({HOG_MIB} MiB)",
                MemoryPressure(),
                {"memory": f"{HOG_MIB}m", "max_duration": "60s"},
                lambda: _with_text(hid, ".memory-hog") and grown(),
                lambda: not _with_text(hid, ".memory-hog"),
                "SDK exec_create + exec_start(detach) of the same dd | sleep directly",
                lambda: exec_detached(["sh", "-c", HOLD, direct_marker]),
                end_direct,
                lambda: _with_text(hid, direct_marker) and grown(),
                before_trial=rebase,
            ),
        )
    )

    wired = lab.container()
    wired.reload()
    lab.client.networks.get(lab.second).connect(wired.id)
    pid = int(api.inspect_container(wired.id)["State"]["Pid"])
    cases.append(
        (
            wired,
            Case(
                "docker.network_disconnect",
                NetworkDisconnect(),
                {"network": lab.second},
                lambda: _interfaces(pid) == 2,  # lo and eth0 left
                lambda: _interfaces(pid) == 3,
                "SDK disconnect_container_from_network() directly",
                lambda: api.disconnect_container_from_network(wired.id, lab.second),
                lambda: api.connect_container_to_network(wired.id, lab.second),
            ),
        )
    )
    return cases


def _anchor(client: Any, trials: int) -> list[float]:
    times = []
    for _ in range(max(trials, 100) * 5):
        started = time.perf_counter()
        client.api.ping()
        times.append(time.perf_counter() - started)
    return times


async def _measure(trials: int) -> list[Row]:
    client = docker.from_env(timeout=60)
    lab = Lab(client)
    try:
        started = time.monotonic()
        lab.open()
        anchor = _anchor(client, trials)
        print(f"setup and anchor: {time.monotonic() - started:.1f}s", file=sys.stderr)
        results = []
        for container, case in _cases(lab):
            started = time.monotonic()
            results.append((case.name, await _run_case(case, container.name, trials)))
            print(f"{case.name}: {time.monotonic() - started:.1f}s", file=sys.stderr)
    finally:
        lab.close()
        client.close()
    anchor_name = "Docker Engine API ping round trip (SDK)"
    rows: list[Row] = []
    for name, timings in results:
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
        print(f"{figure:64} {value:9.2f} {unit}  {anchor}: {anchor_value:.2f}  x{ratio:.1f}")

"""Benchmark of the Toxiproxy injectors against a private toxiproxy-server.

    uv run python bench/injectors_toxiproxy.py [TRIALS]

For each injector: inject latency (call start → the effect seen by a tight
independent probe) and revert latency (call start → the effect gone), p50 and
p99 over ``trials`` trials, beside the raw round trip of the component — one
``GET /version`` of the Toxiproxy API over a new connection, through httpx, the
HTTP client the injectors use — target ratio 2.0. The anchor is sampled once
before each trial (at least 100 samples), not all at once beforehand, so that
it sees the machine as the trials do. Each trial builds a fresh FaultContext
(a tag of its own) and prepares, then times inject and revert. One more row per
injector puts inject beside the same change made with bare HTTP calls from
this process, each on a new connection (``POST /proxies/NAME {"enabled":
false}``; ``POST /proxies/NAME/toxics``; for a partition one per proxy and
stream, concurrently), timed the same way: the floor of what an injector can
do. Two rows for information put the anchor beside ``GET /version`` on a
kept-alive httpx connection and on a new connection with bare ``http.client``.

What an injector call makes on top of its request: a client of its own (a new
connection) per call; partition's inject lists the proxies first (it refuses
to cut proxies changed since prepare); every revert reads the proxy before
undoing (to re-create it if a restarted Toxiproxy lost it), and a toxic revert
reads the toxics back after removing them.

The probes, nothing shared with the injectors:

* down, partition (refuse) — a TCP connect to the listen port of the proxy (of
  each of the 3) is refused; gone: it connects. One try every POLL seconds.
* latency (200 ms), timeout (0: a black hole), partition (blackhole, both ways)
  — the toxics named after the fault's tag are listed by ``GET /proxies/NAME``
  (partition: ``GET /proxies``; all 3 proxies, a toxic on each stream) on a
  kept-alive connection of its own, parsed by hand to stay lean (httpx costs
  more per request than the server's answer here); gone: none is listed.
  The API rather than the traffic: a data probe sees a latency toxic only once
  a chunk has been held for the latency, which would put the 200 ms itself in
  the figure, and a black hole only as data that does not come within some
  chosen wait.

Starts toxiproxy-server (tests/servers.py) on a free 127.0.0.1 port and an
upstream that accepts and closes connections (a child process, so that it does
not take the GIL from the probes), and stops both at the end.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import structlog
from _timing import Row, latency_rows, percentile, timed_until, vs_direct_row
from anyio.streams.buffered import BufferedByteReceiveStream

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import HOST, create_proxy, start_toxiproxy, stop_process

from chaoskit import FaultContext, Injector, TargetSpec

Probe = Callable[[str], Awaitable[bool]]
"""Whether an effect shows, given the tag of the fault (toxic names start with it)."""
POLL = 0.0002
LATENCY_MS = 200
PARTITION = ("bench_part_a", "bench_part_b", "bench_part_c")
UPSTREAM = """\
import os, socket, sys, time
listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
listener.settimeout(0.2)
print(listener.getsockname()[1], flush=True)
parent, deadline = os.getppid(), time.monotonic() + 1800
while time.monotonic() < deadline and os.getppid() == parent:
    try:
        listener.accept()[0].close()
    except TimeoutError:
        pass
"""

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # warnings off


async def _pause() -> None:
    """Yield to the event loop for POLL seconds (asyncio rounds a sleep up to 1 ms)."""
    until = time.perf_counter() + POLL
    while time.perf_counter() < until:
        await anyio.sleep(0)


def _connects(port: int) -> bool:
    """True when a TCP connect to the port succeeds, False when it is refused (or
    reset: the listener closed while the connection waited to be accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        error = sock.connect_ex((HOST, port))
    if error not in (0, errno.ECONNREFUSED, errno.ECONNRESET):
        raise OSError(error, f"connect to {HOST}:{port}: {errno.errorcode.get(error, error)}")
    return error == 0


class KeptAlive:
    """``GET`` on one kept-alive HTTP/1.1 connection, parsed by hand."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self._stream = stream
        self._reader = BufferedByteReceiveStream(stream)

    async def get(self, path: str) -> Any:
        await self._stream.send(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        head = (await self._reader.receive_until(b"\r\n\r\n", 65536)).decode().lower()
        if not head.startswith("http/1.1 200"):
            raise RuntimeError(f"GET {path}: {head.splitlines()[0]}")
        if "transfer-encoding: chunked" not in head:
            length = int(head.partition("content-length:")[2].split()[0])
            return json.loads(await self._reader.receive_exactly(length))
        body = b""
        for _ in range(10_000):
            size = int(await self._reader.receive_until(b"\r\n", 64), 16)
            body += await self._reader.receive_exactly(size + 2)
            if size == 0:
                return json.loads(body)
        raise RuntimeError(f"GET {path}: more chunks than expected")


def _connect_probes(ports: list[int]) -> tuple[Probe, Probe]:
    """(every port refuses, every port connects), each paced to one try every POLL
    seconds: a connect holds the event loop (and the injector) for some 40 µs."""

    async def refused(tag: str) -> bool:
        await _pause()
        return not any(_connects(port) for port in ports)

    async def connects(tag: str) -> bool:
        await _pause()
        return all(_connects(port) for port in ports)

    return refused, connects


def _toxic_probes(api: KeptAlive, proxies: list[str], streams: set[str]) -> tuple[Probe, Probe]:
    """(every proxy lists a toxic of the tag on each of ``streams``, none lists any)."""

    async def tagged(tag: str) -> list[set[str]]:
        if len(proxies) == 1:
            listed = {proxies[0]: await api.get(f"/proxies/{proxies[0]}")}
        else:
            listed = await api.get("/proxies")
        return [
            {
                toxic["stream"]
                for toxic in listed[name]["toxics"]
                if toxic["name"].startswith(f"{tag}-")
            }
            for name in proxies
        ]

    async def in_force(tag: str) -> bool:
        return all(found >= streams for found in await tagged(tag))

    async def gone(tag: str) -> bool:
        return not any(await tagged(tag))

    return in_force, gone


Call = tuple[str, str, dict[str, Any] | None]
"""(method, path, JSON body) of one bare API call."""


@dataclass
class Case:
    """One injector's trials: what to apply, what shows it, the same change made bare."""

    name: str
    injector: Injector
    target: TargetSpec
    params: dict[str, Any]
    in_force: Probe
    gone: Probe
    direct_name: str
    direct: Callable[[str], list[Call]]
    """The bare calls that make the change, given a tag; made concurrently."""
    undo: Callable[[str], list[Call]]


async def _bare(client: httpx.AsyncClient, calls: list[Call]) -> None:
    async def one(method: str, path: str, body: dict[str, Any] | None) -> None:
        (await client.request(method, path, json=body)).raise_for_status()

    async with anyio.create_task_group() as group:
        for call in calls:
            group.start_soon(one, *call)


def _raw_version(port: int) -> None:
    connection = http.client.HTTPConnection(HOST, port, timeout=5.0)
    try:
        connection.request("GET", "/version")
        connection.getresponse().read()
    finally:
        connection.close()


@dataclass
class Floor:
    """``GET /version`` three ways, sampled between the trials rather than all at
    once before them, so that it sees the machine as they do (it is shared)."""

    fresh: httpx.AsyncClient
    kept: httpx.AsyncClient
    port: int
    samples: dict[str, list[float]] = field(default_factory=dict)

    async def sample(self) -> None:
        for way, client in (("fresh", self.fresh), ("kept", self.kept)):
            started = time.perf_counter()
            (await client.get("/version")).raise_for_status()
            self.samples.setdefault(way, []).append(time.perf_counter() - started)
        started = time.perf_counter()
        _raw_version(self.port)  # blocks the loop, which has nothing else to do now
        self.samples.setdefault("raw", []).append(time.perf_counter() - started)


async def _trial(case: Case) -> tuple[float, float]:
    """Prepare with a fresh context, then time inject and revert."""
    ctx = FaultContext(
        run_id=uuid.uuid4().hex[:12],
        fault_name="bench",
        target_name="proxy",
        target=case.target,
        params=case.injector.params.model_validate(case.params),
        log=structlog.get_logger(),
    )
    state = await case.injector.prepare(ctx)
    applied: list[Any] = []

    async def inject() -> None:
        applied.append(await case.injector.inject(ctx, state))

    try:
        injected = await timed_until(inject, lambda: case.in_force(ctx.tag))
        final = applied[0]
        reverted = await timed_until(
            lambda: case.injector.revert(ctx, final), lambda: case.gone(ctx.tag)
        )
    finally:
        await case.injector.revert(ctx, applied[0] if applied else state)
    return injected, reverted


async def _direct(case: Case, client: httpx.AsyncClient, tag: str) -> float:
    """The same change made with the bare calls; timed as inject is."""
    try:
        return await timed_until(
            lambda: _bare(client, case.direct(tag)), lambda: case.in_force(tag)
        )
    finally:
        await timed_until(lambda: _bare(client, case.undo(tag)), lambda: case.gone(tag))


def _cases(url: str, ports: dict[str, int], api: KeptAlive) -> list[Case]:
    from chaoskit_toxiproxy import Down, Latency, Partition, ProxiesTarget, ProxyTarget, Timeout

    def enable(enabled: bool, *proxies: str) -> Callable[[str], list[Call]]:
        return lambda tag: [("POST", f"/proxies/{name}", {"enabled": enabled}) for name in proxies]

    def add(
        kind: str, attributes: dict[str, int], streams: tuple[str, ...], *proxies: str
    ) -> Callable[[str], list[Call]]:
        return lambda tag: [
            (
                "POST",
                f"/proxies/{name}/toxics",
                {
                    "name": f"{tag}-{stream}",
                    "type": kind,
                    "stream": stream,
                    "attributes": attributes,
                },
            )
            for name in proxies
            for stream in streams
        ]

    def remove(streams: tuple[str, ...], *proxies: str) -> Callable[[str], list[Call]]:
        return lambda tag: [
            ("DELETE", f"/proxies/{name}/toxics/{tag}-{stream}", None)
            for name in proxies
            for stream in streams
        ]

    down, both, partition = (
        ("downstream",),
        ("upstream", "downstream"),
        ProxiesTarget(server=url, names=list(PARTITION)),
    )
    return [
        Case(
            "toxiproxy.down", Down(), ProxyTarget(server=url, name="bench_down"), {},
            *_connect_probes([ports["bench_down"]]),
            "POST /proxies/NAME {enabled: false} directly",
            enable(False, "bench_down"), enable(True, "bench_down"),
        ),
        Case(
            f"toxiproxy.latency ({LATENCY_MS} ms)", Latency(),
            ProxyTarget(server=url, name="bench_latency"), {"latency": f"{LATENCY_MS}ms"},
            *_toxic_probes(api, ["bench_latency"], set(down)),
            "POST /proxies/NAME/toxics (latency) directly",
            add("latency", {"latency": LATENCY_MS}, down, "bench_latency"),
            remove(down, "bench_latency"),
        ),
        Case(
            "toxiproxy.timeout (0: black hole)", Timeout(),
            ProxyTarget(server=url, name="bench_timeout"), {"timeout": 0},
            *_toxic_probes(api, ["bench_timeout"], set(down)),
            "POST /proxies/NAME/toxics (timeout) directly",
            add("timeout", {"timeout": 0}, down, "bench_timeout"), remove(down, "bench_timeout"),
        ),
        Case(
            "toxiproxy.partition (refuse, 3 proxies)", Partition(), partition, {"mode": "refuse"},
            *_connect_probes([ports[name] for name in PARTITION]),
            "3 POST /proxies/NAME {enabled: false} directly, concurrently",
            enable(False, *PARTITION), enable(True, *PARTITION),
        ),
        Case(
            "toxiproxy.partition (blackhole both ways, 3 proxies)", Partition(), partition,
            {"mode": "blackhole", "direction": "both"},
            *_toxic_probes(api, list(PARTITION), set(both)),
            "6 POST /proxies/NAME/toxics (timeout) directly, concurrently",
            add("timeout", {"timeout": 0}, both, *PARTITION), remove(both, *PARTITION),
        ),
    ]  # fmt: skip


async def _measure(url: str, port: int, ports: dict[str, int], trials: int) -> list[Row]:
    async with (
        # Connection: close makes httpx open a new connection for every request.
        httpx.AsyncClient(base_url=url, trust_env=False, headers={"Connection": "close"}) as fresh,
        httpx.AsyncClient(base_url=url, trust_env=False) as kept,
        await anyio.connect_tcp(HOST, port) as stream,
    ):
        floor = Floor(fresh, kept, port)
        for _ in range(10):  # warm-up
            await floor.sample()
        floor.samples.clear()
        cases = _cases(url, ports, KeptAlive(stream))
        for _ in range(max(0, 100 - len(cases) * trials)):  # at least 100 samples in all
            await floor.sample()
        results = []
        for case in cases:
            started = time.monotonic()
            injects, reverts, direct = [], [], []
            for index in range(trials):
                await floor.sample()
                injected, reverted = await _trial(case)
                injects.append(injected)
                reverts.append(reverted)
                direct.append(await _direct(case, fresh, f"bench-direct-{index}"))
            results.append((case, injects, reverts, direct))
            print(f"{case.name}: {time.monotonic() - started:.1f}s", file=sys.stderr)
    anchor = floor.samples["fresh"]
    anchor_name = "Toxiproxy GET /version, new connection (httpx)"
    p50 = percentile(anchor, 0.5) * 1000
    rows: list[Row] = [
        (f"Toxiproxy GET /version, {way} p50 (n={len(floor.samples[key])})",
         statistics.median(floor.samples[key]) * 1000, "ms", f"{anchor_name} p50", p50, None)
        for key, way in (("kept", "kept-alive connection (httpx)"),
                         ("raw", "new connection (http.client)"))
    ]  # fmt: skip
    for case, injects, reverts, direct in results:
        rows += latency_rows(case.name, injects, reverts, anchor_name, anchor)
        rows.append(vs_direct_row(case.name, injects, case.direct_name, direct))
    return rows


@contextlib.contextmanager
def _upstream() -> Iterator[int]:
    """The port of a TCP server on 127.0.0.1 that accepts and closes every connection."""
    process = subprocess.Popen(
        [sys.executable, "-I", "-c", UPSTREAM], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        stop_process(process)


def benchmark(trials: int) -> list[Row]:
    """Rows ``(figure, value, unit, anchor_name, anchor_value, target_ratio)``."""
    binary = shutil.which("toxiproxy-server")
    if binary is None:
        raise RuntimeError("toxiproxy-server is not on PATH: run ./dev setup")
    with (
        tempfile.TemporaryDirectory(prefix="chaoskit-bench-toxiproxy-") as tmp,
        _upstream() as upstream,
    ):
        server = start_toxiproxy(binary, Path(tmp) / "toxiproxy-server.log")
        try:
            names = ["bench_down", "bench_latency", "bench_timeout", *PARTITION]
            ports = {
                name: create_proxy(server.url, name, f"{HOST}:{upstream}").listen_port
                for name in names
            }
            return anyio.run(_measure, server.url, server.port, ports, trials)
        finally:
            stop_process(server.process)


if __name__ == "__main__":
    for row in benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else 100):
        figure, value, unit, anchor, anchor_value, _ = row
        ratio = value / anchor_value if anchor_value else float("nan")
        print(f"{figure:66} {value:8.2f} {unit}  {anchor}: {anchor_value or 0:.2f}  x{ratio:.2f}")

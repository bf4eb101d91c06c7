"""chaoskit benchmarks: each figure beside its anchor, as a ratio, measured side by side in one run.

    uv run python bench/run.py [--only NAME ...] [--runs N] [--load-seconds S] [--json]
                               [--anchors-only]

A benchmark is a function registered with ``@benchmark("name")``; it returns rows
``(figure, value, unit, anchor_name, anchor_value, ratio, target, higher_is_better)`` where
``ratio`` is value / anchor_value and ``target`` is the largest ratio that meets the goal (the
smallest when ``higher_is_better``; None: no goal).

Anchors: Chaos Toolkit (``chaostoolkit==1.19.*``) in its own venv, bench/.venvs/ctk, which this
script creates with uv. Whole-process figures run the venv's console scripts directly (not
``uv run``), each in a temporary directory, alternating anchor and chaoskit after one warm-up of
each, and report the median. Peak RSS comes from GNU time (``/usr/bin/time -f %M``): a child's
ru_maxrss as seen by wait4() from this Python process would include this process's own RSS,
which the kernel carries over at exec, while GNU time is small enough not to matter.

Load figures (scheduler-jitter, load-throughput) run against nginx from Debian (installed with
apt-get when missing, as ./dev does), started by the bench on 127.0.0.1 and pinned to core 0;
each load generator is pinned to core 1 (``taskset -c``) and runs once for ``--load-seconds``:
chaoskit's ProbeRunner and LoadStream in-process (bench/load_inproc.py, a child process so the
pin applies to it alone), Locust (``locust==2.47.*``, FastHttpUser, in bench/.venvs/locust) and
wrk (Debian ``wrk``) as the practical limit.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import math
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CTK_VENV = BENCH_DIR / ".venvs" / "ctk"
CTK_REQUIREMENT = "chaostoolkit==1.19.*"
CTK_VERSION_PREFIX = "1.19."
GNU_TIME = Path("/usr/bin/time")
TRIVIAL_YAML = BENCH_DIR / "trivial.yaml"
TRIVIAL_CTK = BENCH_DIR / "trivial_ctk.json"
DEFAULT_RUNS = 11
DEFAULT_LOAD_SECONDS = 10.0


class BenchError(Exception):
    """A benchmark cannot run; the message says why and what to do."""


class Row(NamedTuple):
    figure: str
    value: float | None  # None with --anchors-only
    unit: str
    anchor_name: str
    anchor_value: float | None  # None: a figure shown for information, with nothing beside it
    ratio: float | None
    target: float | None  # the goal is ratio <= target (ratio >= target if higher_is_better)
    higher_is_better: bool = False

    @property
    def met(self) -> bool | None:
        if self.ratio is None or self.target is None:
            return None
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target


@dataclass
class Context:
    runs: int
    anchors_only: bool
    workdir: Path
    load_seconds: float = DEFAULT_LOAD_SECONDS
    notes: list[str] = field(default_factory=list)
    """Printed under the table: rows skipped and why, conditions worth knowing."""
    _chaoskit: Path | None = None
    _chaos: Path | None = None
    _ctk_version: str = ""

    def chaoskit(self) -> Path:
        if self._chaoskit is None:
            self._chaoskit = find_chaoskit()
        return self._chaoskit

    def chaos(self) -> Path:
        if self._chaos is None:
            self._chaos = ensure_ctk()
            self._ctk_version = ctk_version(self._chaos.parent / "python")
        return self._chaos

    def ctk_label(self, what: str) -> str:
        """How a Chaos Toolkit command is named in the table."""
        self.chaos()
        return f"chaos {what} (CTK {self._ctk_version})"


Benchmark = Callable[[Context], list[Row]]
BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str) -> Callable[[Benchmark], Benchmark]:
    def register(fn: Benchmark) -> Benchmark:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} registered twice")
        BENCHMARKS[name] = fn
        return fn

    return register


# --- the programs under test ------------------------------------------------------------------


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def find_chaoskit() -> Path:
    """The venv's `chaoskit` console script (not `uv run`, whose own start-up would be counted)."""
    candidates = [Path(sysconfig.get_path("scripts")) / "chaoskit", ROOT / ".venv/bin/chaoskit"]
    script = next((p for p in candidates if p.is_file() and os.access(p, os.X_OK)), None)
    if script is None:
        raise BenchError(
            "the chaoskit console script was not found (looked at "
            + ", ".join(str(p) for p in candidates)
            + "): run ./dev setup; or pass --anchors-only to measure only the anchors"
        )
    probe = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, env=child_env(), check=False
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(
            f"{script} --help exited {probe.returncode}: {last}\n"
            "the chaoskit CLI does not run yet; pass --anchors-only to measure only the anchors"
        )
    return script


def ensure_ctk() -> Path:
    """Chaos Toolkit in its own venv, on the same interpreter as chaoskit's; created once."""
    ensure_tool_venv(CTK_VENV, CTK_REQUIREMENT, "chaostoolkit", CTK_VERSION_PREFIX)
    return CTK_VENV / "bin" / "chaos"


def ensure_tool_venv(venv: Path, requirement: str, module: str, version_prefix: str) -> str:
    """A peer tool in its own venv (bench/.venvs/...), created with uv once; its version."""
    python = venv / "bin" / "python"
    version = module_version(python, module)
    if version.startswith(version_prefix):
        return version
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise BenchError(f"uv is needed to create {venv.relative_to(ROOT)}: run ./dev setup")
    log(f"creating {venv.relative_to(ROOT)} with {requirement}")
    run_checked([uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(venv)])
    install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(venv)]
    run_checked([*install, requirement])
    version = module_version(python, module)
    if not version.startswith(version_prefix):
        raise BenchError(f"{venv} has {version or 'no ' + module}, not {requirement}")
    return version


def ctk_version(python: Path) -> str:
    return module_version(python, "chaostoolkit")


def module_version(python: Path, module: str) -> str:
    if not python.is_file():
        return ""
    out = subprocess.run(
        [str(python), "-c", f"import {module}; print({module}.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() if out.returncode == 0 else ""


def run_checked(argv: Sequence[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.strip()}")


def child_env() -> dict[str, str]:
    # This workplace sets PYTHONDONTWRITEBYTECODE=1: without bytecode caches every start would
    # recompile its imports. Users' installs have them; the warm-up run writes them for both.
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


# --- measuring whole processes ----------------------------------------------------------------


class Sample(NamedTuple):
    wall_s: float
    peak_rss_kib: int


def measure(argv: Sequence[str], cwd: Path) -> Sample:
    """Run argv once to completion in cwd; its wall time and peak RSS. Fails on a non-zero exit."""
    if not GNU_TIME.is_file():
        raise BenchError(f"{GNU_TIME} (Debian package `time`) is needed for peak RSS")
    rss_file = cwd / ".maxrss"
    out_file = cwd / ".output"
    with out_file.open("wb") as out:
        start = time.perf_counter()
        done = subprocess.run(
            [str(GNU_TIME), "-f", "%M", "-o", str(rss_file), "--", *argv],
            cwd=cwd,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
        wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = out_file.read_text(errors="replace").strip().splitlines()[-15:]
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}:\n" + "\n".join(tail))
    lines = rss_file.read_text().split()
    return Sample(wall_s=wall, peak_rss_kib=int(lines[-1]))


@dataclass
class Sides:
    anchor: list[Sample]
    ours: list[Sample]


def side_by_side(ctx: Context, anchor: Sequence[str], ours: Sequence[str] | None) -> Sides:
    """One warm-up of each, then ctx.runs alternating runs: anchor, ours, anchor, ours ..."""
    anchor_dir = Path(tempfile.mkdtemp(prefix="anchor-", dir=ctx.workdir))
    ours_dir = Path(tempfile.mkdtemp(prefix="ours-", dir=ctx.workdir))
    measure(anchor, anchor_dir)
    if ours is not None:
        measure(ours, ours_dir)
    sides = Sides(anchor=[], ours=[])
    log(f"  {ctx.runs} alternating runs per side: {' '.join(Path(a).name for a in anchor[:3])}")
    for _ in range(ctx.runs):
        sides.anchor.append(measure(anchor, anchor_dir))
        if ours is not None:
            sides.ours.append(measure(ours, ours_dir))
    return sides


def row(
    figure: str,
    ours: list[float],
    unit: str,
    anchor_name: str,
    anchor: list[float],
    target: float | None,
) -> Row:
    anchor_median = statistics.median(anchor)
    value = statistics.median(ours) if ours else None
    ratio = value / anchor_median if value is not None and anchor_median > 0 else None
    return Row(figure, value, unit, anchor_name, anchor_median, ratio, target)


def wall(samples: list[Sample]) -> list[float]:
    return [s.wall_s for s in samples]


def rss_mib(samples: list[Sample]) -> list[float]:
    return [s.peak_rss_kib / 1024 for s in samples]


# --- the benchmarks ---------------------------------------------------------------------------


INJECTOR_TRIALS = 100


def _family_rows(module_name: str, function: str, *args: object) -> list[Row]:
    """Rows from a family bench module (bench/injectors_<family>.py), whose rows are
    ``(figure, value, unit, anchor_name, anchor_value, target_ratio)``."""
    import importlib

    sys.path.insert(0, str(BENCH_DIR))
    try:
        module = importlib.import_module(module_name)
    finally:
        sys.path.remove(str(BENCH_DIR))
    rows = []
    for figure, value, unit, anchor_name, anchor_value, target in getattr(module, function)(*args):
        ratio = value / anchor_value if anchor_value else None
        rows.append(Row(figure, value, unit, anchor_name, anchor_value, ratio, target))
    return rows


@benchmark("injectors-postgres")
def injectors_postgres(ctx: Context) -> list[Row]:
    """Inject and revert latency of the PostgreSQL faults beside a connect + SELECT 1."""
    return (
        [] if ctx.anchors_only else _family_rows("injectors_postgres", "benchmark", INJECTOR_TRIALS)
    )


@benchmark("injectors-process")
def injectors_process(ctx: Context) -> list[Row]:
    """Inject and revert latency of the process faults beside the raw system call."""
    return (
        [] if ctx.anchors_only else _family_rows("injectors_process", "benchmark", INJECTOR_TRIALS)
    )


@benchmark("injectors-toxiproxy")
def injectors_toxiproxy(ctx: Context) -> list[Row]:
    """Inject and revert latency of the Toxiproxy faults beside a GET /version."""
    return (
        []
        if ctx.anchors_only
        else _family_rows("injectors_toxiproxy", "benchmark", INJECTOR_TRIALS)
    )


@benchmark("injectors-docker")
def injectors_docker(ctx: Context) -> list[Row]:
    """Inject and revert latency of the Docker faults beside a Docker ping."""
    return [] if ctx.anchors_only else _family_rows("injectors_docker", "benchmark", 20)


@benchmark("audit-1m")
def audit_1m(ctx: Context) -> list[Row]:
    """The data-loss audit of 1,000,000 acknowledged writes with the sql lookup."""
    return [] if ctx.anchors_only else _family_rows("injectors_postgres", "audit_benchmark")


@benchmark("hostile-yaml")
def hostile_yaml(ctx: Context) -> list[Row]:
    """`chaoskit validate` on hostile documents (alias bombs ...): wall and peak RSS beside
    the limits, 1 s and 100 MB (docs/decisions/0010-hostile-documents.md)."""
    if ctx.anchors_only:
        return []
    try:
        return _family_rows("hostile_yaml", "benchmark", ctx.chaoskit(), ctx.runs)
    except RuntimeError as exc:
        raise BenchError(str(exc)) from exc


@benchmark("event-stream")
def event_stream(ctx: Context) -> list[Row]:
    """The runner's cost per sample and memory per sample over a synthetic hour of
    720,000 samples, late beside early, and a recovery look beside the re-sort it
    replaced (bench/event_stream.py)."""
    return [] if ctx.anchors_only else _family_rows("event_stream", "benchmark")


@benchmark("report-html")
def report_html(ctx: Context) -> list[Row]:
    """The HTML report's size (10 minutes, an hour of 20 probes), the time to render
    and to draw it in Chromium beside the issue's limits (bench/report_html.py)."""
    return [] if ctx.anchors_only else _family_rows("report_html", "benchmark")


@benchmark("startup-run")
def startup_run(ctx: Context) -> list[Row]:
    """Whole-process wall time and peak RSS of running the trivial experiment."""
    anchor = [str(ctx.chaos()), "--no-version-check", "run", str(TRIVIAL_CTK)]
    ours = None if ctx.anchors_only else [str(ctx.chaoskit()), "run", str(TRIVIAL_YAML)]
    sides = side_by_side(ctx, anchor, ours)
    name = ctx.ctk_label("run")
    return [
        row("run trivial: wall", wall(sides.ours), "s", name, wall(sides.anchor), 0.5),
        row("run trivial: peak RSS", rss_mib(sides.ours), "MiB", name, rss_mib(sides.anchor), 1.0),
    ]


@benchmark("startup-cli")
def startup_cli(ctx: Context) -> list[Row]:
    """Wall time of `--help` and of validating the trivial experiment."""
    chaos = [str(ctx.chaos()), "--no-version-check"]
    ours = None if ctx.anchors_only else str(ctx.chaoskit())
    rows = []
    for figure, anchor_args, our_args in (
        ("--help: wall", ["--help"], ["--help"]),
        ("validate trivial: wall", ["validate", str(TRIVIAL_CTK)], ["validate", str(TRIVIAL_YAML)]),
    ):
        sides = side_by_side(ctx, chaos + anchor_args, None if ours is None else [ours, *our_args])
        label = ctx.ctk_label(anchor_args[0])
        rows.append(row(figure, wall(sides.ours), "s", label, wall(sides.anchor), None))
    return rows


# --- a local HTTP endpoint and the load generators beside chaoskit -----------------------------

NGINX = Path("/usr/sbin/nginx")
WRK = Path("/usr/bin/wrk")
LOCUST_VENV = BENCH_DIR / ".venvs" / "locust"
LOCUST_REQUIREMENT = "locust==2.47.*"
LOCUST_VERSION_PREFIX = "2.47."
INPROC = BENCH_DIR / "load_inproc.py"
ENDPOINT_CORE = 0
CLIENT_CORE = 1
USERS = 64
JITTER_PROBES = 50
JITTER_EVERY = 0.05  # 20 Hz
JITTER_LOAD_RATE = 500.0
JITTER_LIMIT_MS = 5.0
SUSTAINABLE_SHARE = 0.5  # of the closed-loop capacity
OVERLOAD_FACTOR = 2.0
START_TIMEOUT = 10.0
CHILD_MARGIN = 60.0  # a child is killed this long after it should have ended
NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{port};
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
}}
"""
LOCUSTFILE = """\
from locust import FastHttpUser, task


class Bench(FastHttpUser):
    @task
    def get(self) -> None:
        self.client.get("/")
"""


def can_be_root() -> bool:
    if os.geteuid() == 0:
        return True
    sudo = shutil.which("sudo")
    return sudo is not None and subprocess.run([sudo, "-n", "true"], check=False).returncode == 0


def ensure_debian_package(binary: Path, package: str, workdir: Path) -> Path:
    """binary, installing Debian's package with apt-get (as ./dev does) when it is missing.

    On a host whose policy lets packages start services, nginx's package also starts the
    system nginx on port 80; the bench never uses it (its own runs on a free port)."""
    if binary.is_file():
        return binary
    if shutil.which("apt-get") is None or not can_be_root():
        raise BenchError(f"{binary} is missing: apt-get install {package} (as root)")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    apt = [*sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
    log(f"installing Debian package {package} (apt-get)")
    install = [*apt, "install", "-y", "-q", "--no-install-recommends", package]
    with (workdir / f"apt-{package}.log").open("wb") as out:
        done = subprocess.run(
            install, stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=False
        )
        if done.returncode != 0:  # stale package lists: update once and retry
            subprocess.run([*apt, "update", "-q"], stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            done = subprocess.run(install, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    if done.returncode != 0 or not binary.is_file():
        tail = (workdir / f"apt-{package}.log").read_text(errors="replace").splitlines()[-5:]
        raise BenchError(f"apt-get install {package} failed:\n" + "\n".join(tail))
    return binary


def can_pin() -> bool:
    cores = {ENDPOINT_CORE, CLIENT_CORE}
    return shutil.which("taskset") is not None and cores <= os.sched_getaffinity(0)


def pinned(core: int, argv: Sequence[str]) -> list[str]:
    """argv on one core (taskset execs it: the pid stays the command's)."""
    return ["taskset", "-c", str(core), *argv] if can_pin() else list(argv)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def http_status(port: int) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


@contextlib.contextmanager
def nginx_endpoint(workdir: Path) -> Iterator[tuple[str, int]]:
    """A private nginx on 127.0.0.1, one process on ENDPOINT_CORE; yields (url, port)."""
    nginx = ensure_debian_package(NGINX, "nginx-light", workdir)
    home = Path(tempfile.mkdtemp(prefix="nginx-", dir=workdir))
    port = free_port()
    conf, errors = home / "nginx.conf", home / "error.log"
    conf.write_text(NGINX_CONF.format(dir=home, port=port))
    argv = [str(nginx), "-p", str(home), "-c", str(conf), "-e", str(errors)]
    with (home / "output").open("wb") as out:
        process = subprocess.Popen(
            pinned(ENDPOINT_CORE, argv), stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while http_status(port) != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                why = errors.read_text(errors="replace").strip()[-800:] if errors.exists() else ""
                raise BenchError(f"nginx did not start on 127.0.0.1:{port}:\n{why}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/", port
    finally:
        stop_process(process)


class ChildRun(NamedTuple):
    stdout: str
    cpu_share: float | None
    """CPU time used / wall time over the steady part of the run (None: not measured)."""


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process, all its threads (/proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(argv: Sequence[str], seconds: float, what: str, workdir: Path) -> ChildRun:
    """Run a load generator to completion (killed if it overruns), sampling its CPU time.

    The CPU share is taken over the steady part of the run: from 1 + 0.6 x seconds before it
    exited to 1 s before, which leaves out start-up (imports, spawning users) and shut-down."""
    home = Path(tempfile.mkdtemp(prefix="child-", dir=workdir))
    stdout, stderr = home / "stdout", home / "stderr"
    samples: list[tuple[float, float]] = []
    limit = seconds + CHILD_MARGIN
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=child_env()
        )
    try:
        deadline = time.monotonic() + limit
        while process.poll() is None and time.monotonic() < deadline:
            used = cpu_seconds(process.pid)
            if used is not None:
                samples.append((time.monotonic(), used))
            time.sleep(0.2)
        if process.poll() is None:
            raise BenchError(f"{what} did not end within {limit:g}s")
    finally:
        stop_process(process)
    if process.returncode != 0:
        text = stderr.read_text(errors="replace").strip() or stdout.read_text(errors="replace")
        tail = text.strip().splitlines()[-15:]
        raise BenchError(f"{what} exited {process.returncode}:\n" + "\n".join(tail))
    share = None
    if samples:
        last = samples[-1][0]
        window = [(t, c) for t, c in samples if last - 1 - 0.6 * seconds <= t <= last - 1]
        if len(window) >= 2 and window[-1][0] > window[0][0]:
            share = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
    return ChildRun(stdout.read_text(errors="replace"), share)


def chaoskit_load(ctx: Context, mode: str, url: str, seconds: float, *args: str) -> dict[str, Any]:
    """bench/load_inproc.py on the client core, with the interpreter chaoskit is installed in."""
    python = ctx.chaoskit().parent / "python"
    argv = [str(python), str(INPROC), mode, "--url", url, "--seconds", f"{seconds:g}", *args]
    what = f"chaoskit {mode} ({INPROC.name})"
    result: dict[str, Any] = json.loads(
        run_child(pinned(CLIENT_CORE, argv), seconds, what, ctx.workdir).stdout
    )
    return result


class Peer(NamedTuple):
    """A load generator's figure: requests/s, its version, its share of its core."""

    rps: float
    version: str
    cpu_share: float | None


def locust_rps(ctx: Context, url: str, seconds: float) -> Peer:
    """Locust, one process, USERS FastHttpUsers without wait."""
    version = ensure_tool_venv(LOCUST_VENV, LOCUST_REQUIREMENT, "locust", LOCUST_VERSION_PREFIX)
    home = Path(tempfile.mkdtemp(prefix="locust-", dir=ctx.workdir))
    (home / "locustfile.py").write_text(LOCUSTFILE)
    # All users start within a second (spawn rate = USERS/s); --reset-stats then drops what
    # was counted while they started, so the figure is the steady state's.
    run_for = math.ceil(seconds) + 1
    argv = [
        str(LOCUST_VENV / "bin" / "locust"), "-f", str(home / "locustfile.py"), "--headless",
        "--host", url.rstrip("/"), "-u", str(USERS), "-r", str(USERS), "--reset-stats",
        "-t", f"{run_for}s", "--csv", str(home / "out"), "--only-summary", "--skip-log",
    ]  # fmt: skip
    run = run_child(pinned(CLIENT_CORE, argv), run_for, "locust", ctx.workdir)
    with (home / "out_stats.csv").open(newline="") as stats:
        [total] = [r for r in csv.DictReader(stats) if r["Name"] == "Aggregated"]
    if int(total["Failure Count"]) > 0:
        ctx.notes.append(f"Locust: {total['Failure Count']} of {total['Request Count']} failed")
    return Peer(float(total["Requests/s"]), version, run.cpu_share)


def wrk_rps(ctx: Context, url: str, seconds: float) -> Peer | None:
    """wrk, one thread, USERS connections; None when it cannot be installed."""
    try:
        wrk = ensure_debian_package(WRK, "wrk", ctx.workdir)
    except BenchError as exc:
        ctx.notes.append(f"wrk row skipped: {exc}")
        return None
    argv = [str(wrk), "-t1", f"-c{USERS}", f"-d{math.ceil(seconds)}s", url]
    run = run_child(pinned(CLIENT_CORE, argv), seconds, "wrk", ctx.workdir)
    out = run.stdout
    found = re.search(r"^Requests/sec:\s*([\d.]+)", out, re.MULTILINE)
    if found is None:
        raise BenchError(f"wrk printed no Requests/sec:\n{out}")
    if "Non-2xx" in out or "Socket errors" in out:
        ctx.notes.append("wrk reported errors: " + out.strip().splitlines()[-3])
    banner = subprocess.run([str(wrk), "-v"], capture_output=True, text=True, check=False)
    version = re.search(r"^wrk \D*(\d+\.\d+\.\d+)", banner.stdout + banner.stderr)
    return Peer(float(found[1]), version[1] if version else "?", run.cpu_share)


def cpu_note(out: dict[str, Any]) -> str:
    """How busy chaoskit's process was, and how long it waited while other processes ran."""
    return (
        f"; chaoskit used {out['cpu_share']:.0%} of its core and waited for it"
        f" {out['run_queue_share']:.0%} of the time"
    )


def pin_note(ctx: Context) -> None:
    note = (
        f"load: nginx pinned to core {ENDPOINT_CORE}, each load generator to core {CLIENT_CORE}"
        if can_pin()
        else "load: NOT pinned (taskset or a second core is missing): figures are not per core"
    )
    if note not in ctx.notes:
        ctx.notes.append(note)


@benchmark("scheduler-jitter")
def scheduler_jitter(ctx: Context) -> list[Row]:
    """Lateness of probe samples (actual minus intended start) while load runs on the loop."""
    seconds = ctx.load_seconds
    figure = f"probe lateness ({JITTER_PROBES} tcp probes @ {1 / JITTER_EVERY:g} Hz"
    figure += f", {JITTER_LOAD_RATE:g}/s load)"
    anchor = "limit (issue 5)"
    if ctx.anchors_only:
        return [Row(f"{figure}: p99", None, "ms", anchor, JITTER_LIMIT_MS, None, 1.0)]
    pin_note(ctx)
    with nginx_endpoint(ctx.workdir) as (url, port):
        log(f"scheduler-jitter: one {seconds:g}s run against {url}")
        out = chaoskit_load(
            ctx, "jitter", url, seconds,
            "--port", str(port), "--probes", str(JITTER_PROBES), "--every", f"{JITTER_EVERY:g}",
            "--rate", f"{JITTER_LOAD_RATE:g}",
        )  # fmt: skip
    lateness: list[float] = sorted(float(late) * 1000 for late in out["lateness"])
    if not lateness:
        raise BenchError("scheduler-jitter: no probe sample was taken")
    if out["probe_failures"] or out["errors"]:
        ctx.notes.append(
            f"scheduler-jitter: {out['probe_failures']} probe samples and {out['errors']} "
            "load requests failed"
        )
    ctx.notes.append(f"scheduler-jitter: load sent {sent_rate(out):.0f}/s" + cpu_note(out))

    def at(share: float) -> float:
        return lateness[min(len(lateness) - 1, math.ceil(share * len(lateness)) - 1)]

    limit = JITTER_LIMIT_MS
    skipped = float(out["skipped_slots"])
    due = skipped + float(out["samples"])
    return [
        Row(f"{figure}: p99", at(0.99), "ms", anchor, limit, at(0.99) / limit, 1.0),
        Row(f"{figure}: p50", at(0.50), "ms", anchor, limit, at(0.50) / limit, None),
        Row(f"{figure}: max", lateness[-1], "ms", anchor, limit, lateness[-1] / limit, None),
        # lateness counts only the samples taken: a slot skipped because the sample before it
        # overran is never sampled at all; shown beside all the slots that came due
        Row(f"{figure}: slots skipped", skipped, "slots", "slots due", due, skipped / due, None),
    ]


@benchmark("load-throughput")
def load_throughput(ctx: Context) -> list[Row]:
    """Requests/s on one core against nginx: chaoskit's LoadStream beside Locust and wrk."""
    seconds = ctx.load_seconds
    pin_note(ctx)
    closed = overload = sustained = None
    with nginx_endpoint(ctx.workdir) as (url, _):
        log(f"load-throughput: wrk, Locust, then chaoskit, {seconds:g}s each against {url}")
        wrk = wrk_rps(ctx, url, seconds)
        locust = locust_rps(ctx, url, seconds)
        if not ctx.anchors_only:
            closed = chaoskit_load(ctx, "load", url, seconds, "--users", str(USERS))
            capacity = sent_rate(closed)
            overload_rate = str(round(OVERLOAD_FACTOR * capacity))
            overload = chaoskit_load(ctx, "load", url, seconds / 2, "--rate", overload_rate)
            sustainable_rate = str(round(SUSTAINABLE_SHARE * capacity))
            sustained = chaoskit_load(ctx, "load", url, seconds, "--rate", sustainable_rate)

    users = f"closed loop, {USERS} users, no wait"
    ours = None if closed is None else sent_rate(closed)
    locust_name = f"Locust {locust.version} FastHttpUser"
    rows = [
        Row(f"{users}: req/s", ours, "req/s", locust_name, locust.rps, ratio(ours, locust.rps),
            1.0, True),
    ]  # fmt: skip
    if wrk is not None:
        wrk_name = f"wrk {wrk.version}, {USERS} conns (limit)"
        rows.append(
            Row(f"{users}: req/s", ours, "req/s", wrk_name, wrk.rps, ratio(ours, wrk.rps),
                None, True)
        )  # fmt: skip
    # Per CPU-second: what each would do with its core to itself, whatever else ran on it.
    if locust.cpu_share:
        ours_per_cpu = None if closed is None else sent_rate(closed) / closed["cpu_share"]
        theirs = locust.rps / locust.cpu_share
        rows.append(
            Row(f"{users}: req per CPU-second", ours_per_cpu, "req/s", locust_name, theirs,
                ratio(ours_per_cpu, theirs), None, True)
        )  # fmt: skip
    for out, share, target in (
        (sustained, f"{SUSTAINABLE_SHARE:.0%} of", 0.99),
        (overload, f"{OVERLOAD_FACTOR:g}x", None),
    ):
        if out is None:
            continue
        intended = float(out["intended_rate"])
        figure = f"open loop at {share} capacity: sent req/s"
        value = sent_rate(out)
        rows.append(
            Row(figure, value, "req/s", "intended rate", intended, ratio(value, intended),
                target, True)
        )  # fmt: skip
        ctx.notes.append(
            f"open loop at {share} capacity ({intended:.0f}/s): latency from the intended send "
            f"time p50 {out['latency_p50'] * 1000:.1f} ms, p99 {out['latency_p99'] * 1000:.1f} ms,"
            f" max {out['latency_max'] * 1000:.0f} ms; {out['errors']} errors; "
            f"{out['answered'] / out['elapsed']:.0f} answers/s" + cpu_note(out)
        )
    if closed is not None:
        ctx.notes.append(
            f"closed loop: {closed['errors']} errors; latency p50 "
            f"{closed['latency_p50'] * 1000:.1f} ms, p99 {closed['latency_p99'] * 1000:.1f} ms"
            + cpu_note(closed)
        )
    for peer, name in ((locust, "Locust"), (wrk, "wrk")):
        if peer is not None and peer.cpu_share is not None:
            ctx.notes.append(f"{name} used {peer.cpu_share:.0%} of its core")
    return rows


def sent_rate(out: dict[str, Any]) -> float:
    """Requests sent per second while the stream ran (before it was told to stop)."""
    return float(out["sent_at_stop"]) / float(out["elapsed"])


def ratio(value: float | None, anchor: float) -> float | None:
    return None if value is None or anchor <= 0 else value / anchor


# --- output -----------------------------------------------------------------------------------


def fmt_number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit in ("req/s", "slots"):
        return f"{value:,.0f} {unit}"
    return f"{value:.1f} {unit}"


def fmt_target(row: Row) -> str:
    if row.target is None:
        return "-"
    return f"{'>=' if row.higher_is_better else '<='} {row.target:.2f}x"


def table(rows: Sequence[Row]) -> str:
    header = ("figure", "chaoskit", "anchor", "anchor value", "ratio", "target", "met")
    body = [
        (
            r.figure,
            fmt_number(r.value, r.unit),
            r.anchor_name,
            fmt_number(r.anchor_value, r.unit),
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
            fmt_target(r),
            {True: "yes", False: "NO", None: "-"}[r.met],
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]
    numeric = {1, 3, 4}
    lines = []
    for line in (header, *body):
        cells = [
            cell.rjust(w) if i in numeric else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(sorted(BENCHMARKS))}",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="measured runs per side")
    parser.add_argument(
        "--load-seconds", type=float, default=DEFAULT_LOAD_SECONDS,
        help="how long each load generator runs (scheduler-jitter, load-throughput)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--anchors-only", action="store_true", help="measure only the anchors (no chaoskit)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not 1 <= args.load_seconds <= 600:
        parser.error("--load-seconds must be between 1 and 600")
    names = args.only or list(BENCHMARKS)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="chaoskit-bench-") as tmp:
        ctx = Context(
            runs=args.runs,
            anchors_only=args.anchors_only,
            workdir=Path(tmp),
            load_seconds=args.load_seconds,
        )
        try:
            if not ctx.anchors_only:
                ctx.chaoskit()  # fail fast, before creating the anchors' venv
            for name in names:
                log(name)
                rows.extend(BENCHMARKS[name](ctx))
        except BenchError as exc:
            print(f"bench: error: {exc}", file=sys.stderr)
            return 2
    meta = {
        "runs_per_side": args.runs,
        "statistic": "median",
        "load_seconds": args.load_seconds,
        "notes": ctx.notes,
        "python": platform.python_version(),
        "machine": f"{os.cpu_count()} cpus, {platform.machine()}",
    }
    if args.json:
        out = {"meta": meta, "rows": [{**r._asdict(), "met": r.met} for r in rows]}
        print(json.dumps(out, indent=2))
    else:
        print(table(rows))
        print(
            f"\nstart-up figures: median of {args.runs} alternating runs per side after one"
            f" warm-up each; load figures: one {args.load_seconds:g}s run each;"
            " ratio = chaoskit / anchor; target: the ratio must be at most (<=) or at least (>=)"
            " this"
        )
        for note in ctx.notes:
            print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""chaoskit benchmarks: each figure beside its anchor, as a ratio, measured side by side in one run.

    uv run python bench/run.py [--only NAME ...] [--runs N] [--json] [--anchors-only]

A benchmark is a function registered with ``@benchmark("name")``; it returns rows
``(figure, value, unit, anchor_name, anchor_value, ratio, target)`` where ``ratio`` is
value / anchor_value and ``target`` is the largest ratio that meets the goal (None: no goal).

Anchors: Chaos Toolkit (``chaostoolkit==1.19.*``) in its own venv, bench/.venvs/ctk, which this
script creates with uv. Whole-process figures run the venv's console scripts directly (not
``uv run``), each in a temporary directory, alternating anchor and chaoskit after one warm-up of
each, and report the median. Peak RSS comes from GNU time (``/usr/bin/time -f %M``): a child's
ru_maxrss as seen by wait4() from this Python process would include this process's own RSS,
which the kernel carries over at exec, while GNU time is small enough not to matter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CTK_VENV = BENCH_DIR / ".venvs" / "ctk"
CTK_REQUIREMENT = "chaostoolkit==1.19.*"
CTK_VERSION_PREFIX = "1.19."
GNU_TIME = Path("/usr/bin/time")
TRIVIAL_YAML = BENCH_DIR / "trivial.yaml"
TRIVIAL_CTK = BENCH_DIR / "trivial_ctk.json"
DEFAULT_RUNS = 11


class BenchError(Exception):
    """A benchmark cannot run; the message says why and what to do."""


class Row(NamedTuple):
    figure: str
    value: float | None  # None with --anchors-only
    unit: str
    anchor_name: str
    anchor_value: float
    ratio: float | None
    target: float | None  # the goal is ratio <= target

    @property
    def met(self) -> bool | None:
        if self.ratio is None or self.target is None:
            return None
        return self.ratio <= self.target


@dataclass
class Context:
    runs: int
    anchors_only: bool
    workdir: Path
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
    chaos = CTK_VENV / "bin" / "chaos"
    python = CTK_VENV / "bin" / "python"
    if chaos.is_file() and ctk_version(python).startswith(CTK_VERSION_PREFIX):
        return chaos
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise BenchError("uv is needed to create bench/.venvs/ctk: run ./dev setup")
    log(f"creating {CTK_VENV.relative_to(ROOT)} with {CTK_REQUIREMENT}")
    run_checked([uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(CTK_VENV)])
    install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(CTK_VENV)]
    run_checked([*install, CTK_REQUIREMENT])
    version = ctk_version(python)
    if not version.startswith(CTK_VERSION_PREFIX):
        found = version or "no chaostoolkit"
        raise BenchError(f"{CTK_VENV} has {found}, not {CTK_REQUIREMENT}")
    return chaos


def ctk_version(python: Path) -> str:
    if not python.is_file():
        return ""
    out = subprocess.run(
        [str(python), "-c", "import chaostoolkit; print(chaostoolkit.__version__)"],
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


# --- output -----------------------------------------------------------------------------------


def fmt_number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:.1f} {unit}"


def table(rows: Sequence[Row]) -> str:
    header = ("figure", "chaoskit", "anchor", "anchor value", "ratio", "target", "met")
    body = [
        (
            r.figure,
            fmt_number(r.value, r.unit),
            r.anchor_name,
            fmt_number(r.anchor_value, r.unit),
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
            "-" if r.target is None else f"<= {r.target:.2f}x",
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
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--anchors-only", action="store_true", help="measure only the anchors (no chaoskit)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    names = args.only or list(BENCHMARKS)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="chaoskit-bench-") as tmp:
        ctx = Context(runs=args.runs, anchors_only=args.anchors_only, workdir=Path(tmp))
        try:
            if not ctx.anchors_only:
                ctx.chaoskit()  # fail fast, before creating the anchors' venv
            for name in names:
                log(f"{name}: {args.runs} runs per side")
                rows.extend(BENCHMARKS[name](ctx))
        except BenchError as exc:
            print(f"bench: error: {exc}", file=sys.stderr)
            return 2
    meta = {
        "runs_per_side": args.runs,
        "statistic": "median",
        "python": platform.python_version(),
        "machine": f"{os.cpu_count()} cpus, {platform.machine()}",
    }
    if args.json:
        out = {"meta": meta, "rows": [{**r._asdict(), "met": r.met} for r in rows]}
        print(json.dumps(out, indent=2))
    else:
        print(table(rows))
        print(
            f"\nmedian of {args.runs} alternating runs per side after one warm-up each;"
            " ratio = chaoskit / anchor; target: ratio must be at most this"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

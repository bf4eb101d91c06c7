"""Benchmark: hostile experiment documents are refused within 1 s and 100 MB.

    uv run python bench/run.py --only hostile-yaml [--runs N]

Each document is written to a file and given to the real ``chaoskit validate``
(the venv's console script, under GNU time): wall time of the whole process and
its peak RSS over the baseline, the same command validating bench/trivial.yaml.
Both are shown beside the limits of docs/decisions/0010-hostile-documents.md
(1 s, 100 MB), median of ``runs`` runs after one warm-up. The documents: alias
bombs of 3 to 12 levels of fan-out 9, nesting 100,000 deep, an alias inside its
own node, a merge-key bomb, 100,000 documents in one stream, a 64 MiB file, and
the costliest documents that are within the node limit, which are read whole
and validated.
"""

from __future__ import annotations

import functools
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _timing import Row

from chaoskit._yamllimits import MAX_NODES

BENCH_DIR = Path(__file__).resolve().parent
GNU_TIME = Path("/usr/bin/time")
LIMIT_S = 1.0
LIMIT_MIB = 100e6 / 2**20  # 100 MB
TARGET = 1.0
EXIT_INVALID = 2


def alias_bomb(levels: int, fan_out: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * fan_out)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan_out)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int) -> str:
    lines = ["m0: &m0 {k0: 1, k1: 2, k2: 3, k3: 4, k4: 5, k5: 6, k6: 7, k7: 8, k8: 9}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}]}}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


HEADER = "version: 1\ntitle: t\nsteady_state: {probes: []}\n"


def flat_list_under_limit() -> str:
    # root, two keys, "1", the list: five nodes besides the items
    return "version: 1\ntitle: [" + ", ".join(["1"] * (MAX_NODES - 5)) + "]\n"


def faults_under_limit() -> str:
    # the header and `faults:` are 11 nodes; each fault 7, and each is wrong twice
    count = (MAX_NODES - 11) // 7
    items = "".join(f"  - {{name: f{i}, injector: x, target: y}}\n" for i in range(count))
    return HEADER + "faults:\n" + items


# `< a<spaces>b`: a lazy value group before a trailing `\s*` backtracks quadratically here.
SPACED_THRESHOLD = 'expect: {mttr: "< a' + " " * 900_000 + 'b"}\n'


def nested_regex(depth: int) -> str:
    # sre's parser recurses once per group: deep nesting exhausts the stack (RecursionError)
    pattern = "(" * depth + "x" + ")" * depth
    return (
        "steady_state:\n  probes:\n    - name: p\n      http: {url: 'http://127.0.0.1:1/'}\n"
        f"      expect: {{body_matches: '{pattern}'}}\n"
    )


def write_huge(path: Path) -> None:
    with path.open("wb") as out:
        out.write(b"version: 1\ntitle: ")
        out.write(b"x" * (64 * 2**20))


DOCUMENTS: list[tuple[str, Callable[[], str]]] = [
    *((f"alias bomb, {n} levels of 9", functools.partial(alias_bomb, n)) for n in range(3, 13)),
    ("merge-key bomb, 8 levels of 9", lambda: merge_bomb(8)),
    ("nesting [[[... 100,000 deep", lambda: "version: 1\ntitle: " + "[" * 100_000 + "\n"),
    ("alias inside its own node", lambda: "version: 1\ntitle: &a [*a]\n"),
    ("100,000 documents in one stream", lambda: "version: 1\n" + "---\n" * 100_000),
    (f"flat list of {MAX_NODES - 5} items (within limit)", flat_list_under_limit),
    (f"{(MAX_NODES - 11) // 7} bad faults (within limit)", faults_under_limit),
    ("a threshold padded with 900,000 spaces", lambda: HEADER + SPACED_THRESHOLD),
    ("a regular expression of 5,000 nested groups", lambda: HEADER + nested_regex(5000)),
]


def _run(chaoskit: Path, document: Path, workdir: Path) -> tuple[int, float, float]:
    """(exit code, wall s, peak RSS MiB) of one ``chaoskit validate``."""
    rss_file = workdir / ".maxrss"
    start = time.perf_counter()
    done = subprocess.run(
        [str(GNU_TIME), "-f", "%M", "-o", str(rss_file), "--", str(chaoskit), "validate",
         str(document)],
        cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - start
    rss_kib = int(rss_file.read_text().split()[-1])
    if done.returncode not in (0, EXIT_INVALID) or "Traceback" in done.stderr:
        tail = "\n".join(done.stderr.strip().splitlines()[-10:])
        raise RuntimeError(f"chaoskit validate {document.name} exited {done.returncode}:\n{tail}")
    return done.returncode, wall, rss_kib / 1024


def _median_run(chaoskit: Path, document: Path, workdir: Path, runs: int) -> tuple[float, float]:
    _run(chaoskit, document, workdir)  # warm-up: bytecode caches, page cache
    samples = [_run(chaoskit, document, workdir) for _ in range(runs)]
    codes = {code for code, _, _ in samples}
    if document.name != "baseline.yaml" and codes != {EXIT_INVALID}:
        raise RuntimeError(f"{document.name}: expected exit {EXIT_INVALID}, got {codes}")
    return statistics.median(s[1] for s in samples), statistics.median(s[2] for s in samples)


def benchmark(chaoskit: Path, runs: int) -> list[Row]:
    """Rows ``(figure, value, unit, anchor_name, anchor_value, target_ratio)``."""
    if not GNU_TIME.is_file():
        raise RuntimeError(f"{GNU_TIME} (Debian package `time`) is needed for peak RSS")
    with tempfile.TemporaryDirectory(prefix="hostile-yaml-") as tmp:
        workdir = Path(tmp)
        baseline = workdir / "baseline.yaml"
        baseline.write_text((BENCH_DIR / "trivial.yaml").read_text())
        base_wall, base_mib = _median_run(chaoskit, baseline, workdir, runs)
        rows: list[Row] = [
            ("baseline: validate trivial.yaml: wall", base_wall, "s", "-", None, None),
            ("baseline: validate trivial.yaml: peak RSS", base_mib, "MiB", "-", None, None),
        ]
        cases: list[tuple[str, Path]] = []
        for index, (name, make) in enumerate(DOCUMENTS):
            path = workdir / f"doc{index}.yaml"
            path.write_text(make())
            cases.append((name, path))
        huge = workdir / "huge.yaml"
        write_huge(huge)
        cases.append(("a 64 MiB file", huge))
        for name, path in cases:
            wall, mib = _median_run(chaoskit, path, workdir, runs)
            rows.append((f"{name}: wall", wall, "s", "limit", LIMIT_S, TARGET))
            over = max(0.0, mib - base_mib)
            rows.append(
                (f"{name}: peak RSS over baseline", over, "MiB", "limit", LIMIT_MIB, TARGET)
            )
    return rows

"""Check or regenerate the console examples in the docs against the real CLI.

    uv run python docs/console.py --check            # exit 1, listing each stale block with a diff
    uv run python docs/console.py --update           # rewrite stale blocks in place
    uv run python docs/console.py --check README.md  # only these files
    uv run python docs/console.py --update --lab     # also the blocks that need the lab

A checked example is a marker line followed at once by a ``console`` fence::

    <!-- console -->
    ```console
    $ chaoskit validate docs/examples/bomb.yaml
    docs/examples/bomb.yaml:6:8: document expands to more than 20000 nodes here ...
    chaoskit: 1 problem found
    [exit 2]
    ```

The ``$`` lines are the commands: they are what runs, in order, in one bash, so a
background job, ``$!`` or a variable carries over to the next line (a line ending in
``\\`` goes on on the next one). What follows a command up to the next ``$`` line is its
output, stdout and stderr together; ``[exit N]`` ends it when the exit code is not 0.

Every block runs in a fresh temporary directory holding copies of ``experiments/`` and
``docs/examples/``, with the repository's ``chaoskit`` first on PATH, ``COLUMNS=80``,
stdin from /dev/null and no ``CHAOSKIT_*`` variable: nothing in the repository changes,
and what a block leaves behind (files, run directories, background processes: its
process group is killed) goes with it.

Options, after ``console:`` in the marker, separated by spaces:

``timing``
    the output holds measured times and sample counts: they are compared as
    placeholders (``<t>``, ``<n>``; see ``normalise``), everything else exactly.
``pids``
    the output holds process ids (``processes [4242] are not stopped``, ``pid 4242``):
    they are compared as ``<pid>``.
``lock=NAME``
    blocks with the same lock never run at the same time, in this process or another
    (for examples that share a fixed path such as a pid file under /tmp).
``lab``
    needs the lab (docs/lab.md): runs only with ``--lab``; otherwise it is left as
    recorded.
``timeout=SECONDS``
    the bound on the whole block (default 90).

Compared as placeholders in every block: run ids (``<run-id>``) and trailing whitespace.
In what ``--update`` writes, the temporary directory is shown as ``<cwd>``. A ``console``
fence without a marker is an error, except in the files of ``UNMARKED_ALLOWED``.
tests/unit/test_console_examples.py runs ``--check`` on every page, so an example
cannot drift from the CLI.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import difflib
import fcntl
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("experiments", "docs/examples")
"""Trees of the repository copied into every block's directory, at the same paths."""
UNMARKED_ALLOWED = frozenset({"docs/writing-injectors.md"})
"""Pages whose ``console`` fences are not checked yet (a plugin author's session, with
an editable install of a plugin outside this repository)."""
DEFAULT_TIMEOUT = 90.0
PARALLEL = 4

MARKER = re.compile(r"^<!-- console(?::(?P<options>[^>]*?))?\s*-->$")
FENCE_OPEN = "```console"
FENCE_CLOSE = "```"
EXIT_LINE = re.compile(r"^\[exit (?P<code>-?\d+)\]$")
CWD_PLACEHOLDER = "<cwd>"

_RUN_ID = re.compile(r"\b\d{8}T\d{6}Z-(?:[a-z0-9-]*-)?[0-9a-f]{6}\b")
_TIMING = [
    # a wall-clock time (a report's "started"): before the durations, whose digits it holds
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?"), "<time>"),
    (re.compile(r"\b\d+m\d+(?:\.\d+)?s\b"), "<t>"),
    # not a bound after a comparison (`mttr < 6s`): that is written, not measured
    (re.compile(r"(?<![<>=] )-?\b\d+(?:\.\d+)?(?:ms|s)\b"), "<t>"),
    (re.compile(r"\bmeasured -?\d+(?:\.\d+)?(?:e-?\d+)?\b"), "measured <n>"),
    (re.compile(r" *\b\d+ samples +\d+ failed\b"), " <n> samples <n> failed"),
]
_PIDS = [
    (re.compile(r"\[\d+(?:, \d+)*\]"), "[<pid>]"),
    (re.compile(r"\bpid \d+\b"), "pid <pid>"),
]


class ConsoleError(Exception):
    """A page's markup is wrong (a marker without its fence, an unclosed fence, an
    unmarked ``console`` fence), or a block could not be run to its end."""


@dataclass(frozen=True)
class Options:
    timing: bool = False
    pids: bool = False
    lock: str | None = None
    lab: bool = False
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def parse(cls, text: str, where: str) -> Options:
        options = cls()
        for word in text.split():
            name, _, value = word.partition("=")
            if name == "timing" and not value:
                options = replace(options, timing=True)
            elif name == "pids" and not value:
                options = replace(options, pids=True)
            elif name == "lab" and not value:
                options = replace(options, lab=True)
            elif name == "lock" and re.fullmatch(r"[A-Za-z0-9_-]+", value):
                options = replace(options, lock=value)
            elif name == "timeout" and re.fullmatch(r"\d+(?:\.\d+)?", value):
                options = replace(options, timeout=float(value))
            else:
                raise ConsoleError(f"{where}: unknown console option {word!r}")
        return options


@dataclass(frozen=True)
class Step:
    """One command as written (its lines) and what it printed."""

    command: list[str]
    output: list[str] = field(default_factory=list)
    exit_code: int = 0

    @property
    def script(self) -> str:
        return "\n".join(line.removeprefix("$ ") for line in self.command)


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    """1-based line of the opening fence"""
    start: int
    """0-based index of the first body line"""
    end: int
    """0-based index of the closing fence"""
    options: Options
    steps: list[Step]
    page: str = field(repr=False, compare=False, default="")
    """the whole page as it was read"""

    @property
    def where(self) -> str:
        return f"{_shown(self.path)}:{self.line}"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def parse_steps(body: Sequence[str], where: str) -> list[Step]:
    """The commands of a block's body and the output recorded under each."""
    steps: list[Step] = []
    lines = list(body)
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.startswith("$ "):
            raise ConsoleError(f"{where}: expected a '$ ' command line, found {line!r}")
        command = [line]
        while command[-1].endswith("\\") and index + 1 < len(lines):
            index += 1
            command.append(lines[index])
        index += 1
        output: list[str] = []
        while index < len(lines) and not lines[index].startswith("$ "):
            output.append(lines[index])
            index += 1
        exit_code = 0
        if output and (match := EXIT_LINE.match(output[-1])):
            exit_code = int(match["code"])
            output.pop()
        steps.append(Step(command, output, exit_code))
    if not steps:
        raise ConsoleError(f"{where}: a console block needs at least one '$ ' command")
    return steps


def render_steps(steps: Sequence[Step]) -> list[str]:
    lines: list[str] = []
    for step in steps:
        lines += step.command
        lines += step.output
        if step.exit_code:
            lines.append(f"[exit {step.exit_code}]")
    return lines


def find_blocks(path: Path, text: str) -> list[Block]:
    """Every marked block of a page. Markers and fences inside another fence (an
    example of the markup, say) are text. A ``console`` fence without a marker is
    an error unless the page is in ``UNMARKED_ALLOWED``."""
    lines = text.split("\n")
    shown = _shown(path)
    blocks: list[Block] = []
    fence: str | None = None
    """the backticks that opened the fence we are in"""
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        if fence is not None:
            if stripped.startswith(fence) and not stripped.strip("`"):
                fence = None
            index += 1
            continue
        match = MARKER.match(stripped)
        if match is not None:
            blocks.append(replace(_block(path, lines, index, match["options"] or ""), page=text))
            index = blocks[-1].end + 1
            continue
        if stripped == FENCE_OPEN and shown not in UNMARKED_ALLOWED:
            raise ConsoleError(
                f"{shown}:{index + 1}: a {FENCE_OPEN} block without a <!-- console --> "
                "marker: mark it (it is then checked) or use another fence"
            )
        if stripped.startswith("```"):
            fence = stripped[: len(stripped) - len(stripped.lstrip("`"))]
        index += 1
    return blocks


def _block(path: Path, lines: Sequence[str], marker: int, options: str) -> Block:
    where = f"{_shown(path)}:{marker + 1}"
    if marker + 1 >= len(lines) or lines[marker + 1].strip() != FENCE_OPEN:
        raise ConsoleError(f"{where}: a console marker must be followed by a {FENCE_OPEN} line")
    try:
        end = next(i for i in range(marker + 2, len(lines)) if lines[i].strip() == FENCE_CLOSE)
    except StopIteration:
        raise ConsoleError(f"{where}: the console fence is never closed") from None
    steps = parse_steps(lines[marker + 2 : end], f"{_shown(path)}:{marker + 2}")
    return Block(path, marker + 2, marker + 2, end, Options.parse(options, where), steps)


def normalise(lines: Sequence[str], options: Options) -> list[str]:
    """What is compared: each line without trailing whitespace, run ids as
    ``<run-id>``; with ``timing``, durations (``850ms``, ``7.67s``, ``2m05.0s``; not a
    bound after ``<``, ``<=``, ``==`` ...) as ``<t>``, ``measured <number>`` as
    ``measured <n>`` and sample counts (``30 samples   15 failed``) as
    ``<n> samples <n> failed``, wall-clock times (ISO 8601) as ``<time>``; with ``pids``,
    process ids as ``<pid>``."""
    out = []
    for line in lines:
        line = _RUN_ID.sub("<run-id>", line.rstrip())
        if options.timing:
            for pattern, placeholder in _TIMING:
                line = pattern.sub(placeholder, line)
        if options.pids:
            for pattern, placeholder in _PIDS:
                line = pattern.sub(placeholder, line)
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


# -- running ------------------------------------------------------------------------


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def _held(name: str | None) -> Iterator[None]:
    """The named lock, against other threads (flock is per process) and other processes."""
    if name is None:
        yield
        return
    with _THREAD_LOCKS_GUARD:
        thread_lock = _THREAD_LOCKS.setdefault(name, threading.Lock())
    lock_path = Path(tempfile.gettempdir()) / f"chaoskit-docs-{name}.lock"
    with thread_lock, open(lock_path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _environment(options: Options) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if options.lab or not name.startswith("CHAOSKIT_")
    }
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(COLUMNS="80", LC_ALL="C.UTF-8", PYTHONUNBUFFERED="1", NO_COLOR="1", TERM="dumb")
    return env


def run_block(block: Block) -> list[Step]:
    """Run the block's commands in one bash, in a fresh directory; what each printed."""
    separator = f"--chaoskit-docs-{secrets.token_hex(8)}--"
    script = ["exec 2>&1 </dev/null"]
    for step in block.steps:
        script += [step.script, f"printf '\\n%s %d\\n' {separator} $?"]
    with _held(block.options.lock), tempfile.TemporaryDirectory(prefix="chaoskit-docs-") as tmp:
        cwd = Path(tmp)
        for tree in COPIED:
            shutil.copytree(ROOT / tree, cwd / tree)
        captured = cwd.parent / f"{cwd.name}.out"
        try:
            with open(captured, "w+b") as out:
                bash = subprocess.Popen(
                    ["bash", "--noprofile", "--norc", "-c", "\n".join(script)],
                    cwd=cwd,
                    env=_environment(block.options),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                try:
                    bash.wait(timeout=block.options.timeout)
                except subprocess.TimeoutExpired:
                    raise ConsoleError(
                        f"{block.where}: did not finish within {block.options.timeout:g}s"
                    ) from None
                finally:
                    # background jobs of the block stay in its process group
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(bash.pid, signal.SIGKILL)
                    bash.wait()
                out.seek(0)
                text = out.read().decode("utf-8", errors="replace")
        finally:
            captured.unlink(missing_ok=True)
    for shown in {str(cwd), os.path.realpath(cwd)}:
        text = text.replace(shown, CWD_PLACEHOLDER)
    return _split(block, text, separator)


def _split(block: Block, text: str, separator: str) -> list[Step]:
    pattern = re.compile(rf"\n{re.escape(separator)} (-?\d+)\n")
    steps: list[Step] = []
    position = 0
    for step in block.steps:
        match = pattern.search(text, position)
        if match is None:
            raise ConsoleError(f"{block.where}: the block ended before {step.script!r} finished")
        output = text[position : match.start()].removesuffix("\n")
        lines = [line.rstrip() for line in output.split("\n")] if output else []
        steps.append(Step(step.command, lines, int(match[1])))
        position = match.end()
    return steps


@dataclass(frozen=True)
class Outcome:
    block: Block
    fresh: list[Step] | None
    """None: not run (a lab block without --lab)"""
    problem: str | None = None

    @property
    def stale(self) -> bool:
        if self.problem is not None:
            return True
        if self.fresh is None:
            return False
        options = self.block.options
        recorded = normalise(render_steps(self.block.steps), options)
        return recorded != normalise(render_steps(self.fresh), options)

    def diff(self) -> str:
        if self.problem is not None:
            return self.problem
        assert self.fresh is not None
        options = self.block.options
        return "\n".join(
            difflib.unified_diff(
                normalise(render_steps(self.block.steps), options),
                normalise(render_steps(self.fresh), options),
                f"{self.block.where} (in the page)",
                f"{self.block.where} (the CLI now)",
                lineterm="",
            )
        )


def _outcome(block: Block, lab: bool) -> Outcome:
    if block.options.lab and not lab:
        return Outcome(block, None)
    try:
        return Outcome(block, run_block(block))
    except ConsoleError as exc:
        return Outcome(block, None, str(exc))


def check_pages(paths: Sequence[Path], lab: bool = False) -> list[Outcome]:
    """Run every block of ``paths``: blocks that share a lock one after the other
    in one task (started first: they are the long ones), the others side by side."""
    blocks = [block for path in paths for block in find_blocks(path, path.read_text("utf-8"))]
    groups: dict[str | None, list[Block]] = {}
    for block in blocks:
        groups.setdefault(block.options.lock, []).append(block)
    tasks = [group for name, group in groups.items() if name is not None]
    tasks += [[block] for block in groups.get(None, [])]
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        done = pool.map(lambda group: [_outcome(block, lab) for block in group], tasks)
        outcomes = [outcome for group in done for outcome in group]
    return sorted(outcomes, key=lambda o: (str(o.block.path), o.block.line))


def update_page(path: Path, outcomes: Sequence[Outcome]) -> int:
    """Rewrite the stale blocks of ``path`` with what the CLI printed; how many.
    Refuses when the page changed while its examples ran (someone edited it)."""
    text = path.read_text("utf-8")
    lines = text.split("\n")
    changed = 0
    for outcome in sorted(outcomes, key=lambda o: o.block.start, reverse=True):
        if outcome.block.path != path or outcome.fresh is None or not outcome.stale:
            continue
        if outcome.block.page != text:
            raise ConsoleError(f"{_shown(path)} changed while its examples ran: run --update again")
        lines[outcome.block.start : outcome.block.end] = render_steps(outcome.fresh)
        changed += 1
    if changed:
        path.write_text("\n".join(lines), "utf-8")
    return changed


def default_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 if a block is stale")
    mode.add_argument("--update", action="store_true", help="rewrite stale blocks in place")
    parser.add_argument("--lab", action="store_true", help="also run blocks that need the lab")
    parser.add_argument("pages", nargs="*", type=Path, help="default: README.md and docs/**/*.md")
    args = parser.parse_args(argv)
    pages = [page.resolve() for page in args.pages] or default_pages()
    try:
        outcomes = check_pages(pages, lab=args.lab)
    except ConsoleError as exc:
        print(f"console: {exc}", file=sys.stderr)
        return 1
    stale = [outcome for outcome in outcomes if outcome.stale]
    skipped = [outcome for outcome in outcomes if outcome.fresh is None and not outcome.stale]
    if args.update:
        for page in pages:
            try:
                count = update_page(page, outcomes)
            except ConsoleError as exc:
                print(f"console: {exc}", file=sys.stderr)
                return 1
            if count:
                print(f"console: {_shown(page)}: rewrote {count} block(s)")
        problems = [outcome for outcome in stale if outcome.problem is not None]
        for outcome in problems:
            print(f"console: {outcome.problem}", file=sys.stderr)
        return 1 if problems else 0
    for outcome in stale:
        print(f"console: {outcome.block.where}: stale console block\n{outcome.diff()}\n")
    if stale:
        print(
            f"console: {len(stale)} of {len(outcomes)} block(s) stale: "
            "uv run python docs/console.py --update",
            file=sys.stderr,
        )
        return 1
    note = f" ({len(skipped)} need the lab: --lab runs them)" if skipped else ""
    print(f"console: {len(outcomes)} block(s) current{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

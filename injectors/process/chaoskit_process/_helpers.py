"""chaoskit's own helper processes: CPU burners, memory hogs and restarters.

Each is the stdlib-only script ``_worker.py`` run by this Python interpreter in
its own session, with a command line that carries a marker and the fault's tag::

    python -I -S .../_worker.py chaoskit-process-helper --tag=chaoskit-RUN-FAULT burn ...

The tag lets ``revert`` (and so ``chaoskit rollback``) find helpers that a crash
kept out of the revert state. Burners and hogs also end themselves at a hard
time cap (``signal.alarm``), so they die even when chaoskit dies and nobody
rolls back. Blocking: call through a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict

__all__ = [
    "HELPER_MARK",
    "Helper",
    "end_helpers",
    "is_helper",
    "reap",
    "scan",
    "spawn_helper",
    "tagged_helpers",
]

HELPER_MARK = "chaoskit-process-helper"
WORKER = str(Path(__file__).with_name("_worker.py"))
REAP_WAIT = 2.0
"""Seconds to wait for a killed child helper to be reaped."""
VISIBLE_WAIT = 5.0
"""Seconds a just-started helper may take to show its command line in /proc."""


class Helper(BaseModel):
    """A helper process as the revert state records it: pid and start time, so
    that a recycled pid is never signalled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int
    create_time: float


def scan(attrs: list[str]) -> Iterator[tuple[psutil.Process, dict[str, Any]]]:
    """Every process with the ``attrs`` psutil reads for it (None where access is
    denied). Unlike ``psutil.process_iter``, which stores the attributes on Process
    objects cached for all threads, each call builds its own: a probe and an
    injector scanning at the same time cannot see each other's readings."""
    for pid in psutil.pids():
        try:
            process = psutil.Process(pid)
            info = process.as_dict(attrs=attrs, ad_value=None)
        except psutil.NoSuchProcess:
            continue
        yield process, info


def is_helper(cmdline: list[str]) -> bool:
    return len(cmdline) > 4 and HELPER_MARK in cmdline[:5]


def _tag_arg(tag: str) -> str:
    return f"--tag={tag}"


def spawn_helper(tag: str, mode: str, args: list[str], env: dict[str, str] | None = None) -> Helper:
    """Start a helper in its own session, stdio on /dev/null; return its identity
    once the helper can be found by its tag (see :func:`_until_visible`)."""
    argv = [sys.executable, "-I", "-S", WORKER, HELPER_MARK, _tag_arg(tag), mode, *args]
    devnull = os.devnull
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, devnull, os.O_WRONLY, 0),
    ]
    # posix_spawn rather than subprocess.Popen: no Popen object to keep (the
    # injector is stateless), and none to complain when it is dropped.
    pid = os.posix_spawn(
        sys.executable,
        argv,
        env if env is not None else dict(os.environ),
        file_actions=actions,
        setsid=True,
    )
    _until_visible(pid, tag)
    try:
        create_time = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:  # already ended: a zombie keeps its pid until reaped
        create_time = 0.0
    return Helper(pid=pid, create_time=create_time)


def _until_visible(pid: int, tag: str) -> None:
    """Return once the helper ``pid`` shows its tag in /proc/PID/cmdline, or has ended.

    ``posix_spawn`` returns when the child has exec'd, but Linux fills in the new
    program's command line a moment later (it reads empty meanwhile), and helpers
    are found again by that command line — by a revert from the intent's state,
    by ``chaoskit rollback``, by leak checks. A helper nobody can find is a leak,
    so a start counts only once it is visible; one that stays invisible is killed."""
    wanted = _tag_arg(tag)
    deadline = time.monotonic() + VISIBLE_WAIT
    while time.monotonic() < deadline:
        try:
            if wanted in psutil.Process(pid).cmdline():
                return
        except psutil.NoSuchProcess:  # a zombie too: it ended, nothing to find
            return
        time.sleep(0.001)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    reap([pid])
    raise OSError(f"helper {pid} did not show its command line within {VISIBLE_WAIT:g}s")


def _same(helper: Helper) -> psutil.Process | None:
    """The helper's process if it is still that very process (not a recycled pid)."""
    try:
        process = psutil.Process(helper.pid)
        if abs(process.create_time() - helper.create_time) > 0.001:
            return None
        return process
    except psutil.NoSuchProcess:
        return None


def reap(pids: list[int], wait: float = REAP_WAIT) -> None:
    """Collect the exit status of those ``pids`` that are our children, so that no
    zombie is left; pids that are not our children are ignored."""
    pending = set(pids)
    deadline = time.monotonic() + wait
    while pending:
        for pid in list(pending):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pending.discard(pid)  # not ours (a rollback in another process)
                continue
            if done:
                pending.discard(pid)
        if not pending or time.monotonic() > deadline:
            return
        time.sleep(0.005)


def tagged_helpers(tag: str, mode: str | None = None) -> list[psutil.Process]:
    """Live helpers carrying exactly this tag (and running ``mode`` when given)."""
    wanted = _tag_arg(tag)
    found = []
    for process, info in scan(["cmdline", "status"]):
        cmdline = info.get("cmdline") or []
        if info.get("status") == psutil.STATUS_ZOMBIE or not is_helper(cmdline):
            continue
        if wanted in cmdline[:7] and (mode is None or mode in cmdline[:8]):
            found.append(process)
    return found


def is_alive(helper: Helper) -> bool:
    process = _same(helper)
    if process is None:
        return False
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def end_helpers(tag: str, recorded: list[Helper], mode: str | None = None) -> list[int]:
    """SIGKILL the recorded helpers that are still the same processes, and every
    other live helper with this tag; reap our children. Returns the pids killed."""
    targets: dict[int, psutil.Process] = {}
    for helper in recorded:
        process = _same(helper)
        if process is not None:
            targets[helper.pid] = process
    for process in tagged_helpers(tag, mode):
        targets.setdefault(process.pid, process)
    killed = []
    for pid, process in targets.items():
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.status() != psutil.STATUS_ZOMBIE:
                process.send_signal(signal.SIGKILL)  # psutil re-checks the identity
                killed.append(pid)
    reap(list(targets))
    return killed

"""Starting and stopping holder processes (see ``_holder``), from the injector side.

A holder is found again by its command line, which names the fault's
``application_name`` — no memory of this process is needed, so ``chaoskit
rollback`` in another process stops it from the revert state alone. The only
module state is :data:`_children`, the holders this process started, kept so
that they are reaped (no zombies, no "still running" warnings); stopping one
never depends on it. Linux only: holders are found through ``/proc``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from chaoskit import InjectorError, JsonValue

__all__ = [
    "HOLDER_MARKER",
    "HOLDER_SCRIPT",
    "HolderReady",
    "find_holders",
    "holder_alive",
    "start_holder",
    "start_standby",
    "stop_holders",
]

HOLDER_SCRIPT = str(Path(__file__).with_name("_holder.py"))
HOLDER_MARKER = "chaoskit_postgres/_holder.py"
"""How a holder is recognised in a command line (the script's path ends so)."""
STOP_GRACE = 5.0
"""How long a holder gets to release its connections after SIGTERM before SIGKILL."""
KILL_GRACE = 2.0
POLL_INTERVAL = 0.02
VISIBLE_TIMEOUT = 5.0
"""How long a just-started holder may take to show its command line in /proc."""
VISIBLE_POLL = 0.001
MAX_REPORT_BYTES = 1 << 20

_children: dict[int, subprocess.Popen[bytes]] = {}
"""Holders started by this process, by pid: only so that they are reaped."""
_standby: dict[str, subprocess.Popen[bytes]] = {}
"""A holder started ahead for each application_name, waiting for its spec."""


@dataclass(frozen=True)
class HolderReady:
    """A holder's ready report: its pid, the backends it holds, and what it learnt."""

    pid: int
    backends: list[int]
    facts: dict[str, JsonValue]


def _command(application_name: str, libpq: str | None) -> list[str]:
    # -I -S: no site-packages to scan at start-up; the holder needs only the stdlib.
    command = [
        sys.executable,
        "-I",
        "-S",
        HOLDER_SCRIPT,
        "--application-name",
        application_name,
        "--parent",
        str(os.getpid()),
    ]
    return command if libpq is None else [*command, "--libpq", libpq]


def _spawn(application_name: str, libpq: str | None = None) -> subprocess.Popen[bytes]:
    try:
        # Started from the event-loop thread on purpose: PR_SET_PDEATHSIG fires
        # when the *thread* that forked the holder exits, and a worker thread
        # may exit while the fault is still meant to hold.
        process = subprocess.Popen(
            _command(application_name, libpq),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise InjectorError(f"cannot start the holder process {HOLDER_SCRIPT}: {exc}") from exc
    _children[process.pid] = process
    return process


async def _until_visible(process: subprocess.Popen[bytes], application_name: str) -> None:
    """Return once ``process`` can be found as a holder of ``application_name``.

    ``Popen`` returns when the child has exec'd, but Linux fills in the new
    program's ``/proc/PID/cmdline`` a moment later (it reads empty meanwhile),
    and holders are found again by that command line — by a revert, by
    ``chaoskit rollback``, by leak checks. A holder nobody can find is a leak,
    so a start counts only once it is visible. One that exits first is fine
    (its failure is reported through its pipes)."""
    with anyio.move_on_after(VISIBLE_TIMEOUT):
        while process.poll() is None and not _is_holder(process.pid, application_name):
            await anyio.sleep(VISIBLE_POLL)
        return
    raise InjectorError(
        f"holder process {process.pid} did not show its command line within {VISIBLE_TIMEOUT:g}s"
    )


async def _start(application_name: str, libpq: str | None = None) -> subprocess.Popen[bytes]:
    """Spawn a holder and wait until it is visible; stopped again on any failure."""
    process = _spawn(application_name, libpq)
    try:
        await _until_visible(process, application_name)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await _stop_one(process.pid, application_name)
        raise
    return process


async def start_standby(application_name: str, libpq: str) -> None:
    """Start a holder ahead of the fault (at preflight) that loads ``libpq`` and
    waits for its spec, so that inject pays no process start. It holds nothing
    until then; unused, it ends with this process, at the fault's revert (which
    stops every holder of ``application_name``) or after its own idle limit.
    Returns once the standby can be found by its command line. Best effort: if
    it cannot start, inject starts a holder as usual."""
    waiting = _standby.get(application_name)
    if waiting is not None and waiting.poll() is None:
        return
    with contextlib.suppress(InjectorError):
        _standby[application_name] = await _start(application_name, libpq)


def _exchange(process: subprocess.Popen[bytes], spec: bytes) -> dict[str, Any]:
    """Send the spec, read the one-line report; close our ends of the pipes.
    Blocking: runs in a worker thread, which a killed holder always releases (EOF)."""
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(spec + b"\n")
            process.stdin.close()
        line = process.stdout.readline(MAX_REPORT_BYTES)
        if line:
            try:
                report: dict[str, Any] = json.loads(line)
            except ValueError:
                report = {"event": "failed", "error": f"unreadable report {line[:200]!r}"}
            return report
        errors = process.stderr.read(MAX_REPORT_BYTES).decode(errors="replace").strip()
        last = errors.splitlines()[-1] if errors else "no message"
        return {"event": "failed", "error": f"the holder process exited: {last}"}
    finally:
        for pipe in (process.stdin, process.stdout, process.stderr):
            with contextlib.suppress(OSError):
                pipe.close()


async def start_holder(
    spec: dict[str, JsonValue], application_name: str, timeout: float
) -> HolderReady:
    """Start a holder for ``spec`` and wait until it holds (bounded by ``timeout``).

    On any failure, including cancellation, the holder is stopped before this
    returns or raises.
    """
    process = _standby.pop(application_name, None)
    if process is None or process.poll() is not None:
        process = await _start(application_name)
    payload = json.dumps(spec).encode()
    try:
        with anyio.fail_after(timeout):
            report = await anyio.to_thread.run_sync(
                _exchange, process, payload, abandon_on_cancel=True
            )
    except TimeoutError as exc:
        with anyio.CancelScope(shield=True):
            await _stop_one(process.pid, application_name)
        raise InjectorError(f"the holder process did not report within {timeout:g}s") from exc
    except BaseException:
        with anyio.CancelScope(shield=True):
            await _stop_one(process.pid, application_name)
        raise
    if report.get("event") != "ready":
        with anyio.CancelScope(shield=True):
            await _stop_one(process.pid, application_name)
        raise InjectorError(str(report.get("error") or report))
    backends = [int(pid) for pid in report.pop("backends", [])]
    report.pop("event", None)
    report.pop("pid", None)
    return HolderReady(pid=process.pid, backends=backends, facts=report)


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_holder(pid: int, application_name: str) -> bool:
    """Whether ``pid`` is a holder for ``application_name`` (not a reused pid)."""
    args = _cmdline(pid)
    if not any(arg.endswith(HOLDER_MARKER) for arg in args):
        return False
    try:
        return args[args.index("--application-name") + 1] == application_name
    except (ValueError, IndexError):
        return False


def _alive(pid: int) -> bool:
    """Running and not a zombie (a zombie holds no connection)."""
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[:1]
    return state != ["Z"]


def holder_alive(pid: int | None, application_name: str) -> bool:
    """Whether the holder ``pid`` of ``application_name`` is still running."""
    return pid is not None and _alive(pid) and _is_holder(pid, application_name)


def find_holders(application_name: str) -> list[int]:
    """Pids of the running holders for ``application_name`` (a scan of /proc)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                pid = int(entry.name)
                if _is_holder(pid, application_name) and _alive(pid):
                    found.append(pid)
    return found


async def _wait_gone(pid: int, seconds: float) -> bool:
    with anyio.move_on_after(seconds):
        while _alive(pid):
            await anyio.sleep(POLL_INTERVAL)
        return True
    return not _alive(pid)


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


async def _stop_one(pid: int, application_name: str) -> None:
    if pid not in _children and not _is_holder(pid, application_name):
        return  # gone, or the pid now belongs to someone else
    try:
        _signal(pid, signal.SIGTERM)
        if not await _wait_gone(pid, STOP_GRACE):
            _signal(pid, signal.SIGKILL)
            if not await _wait_gone(pid, KILL_GRACE):
                raise InjectorError(
                    f"holder process {pid} ({application_name}) survived SIGKILL; "
                    f"end it by hand: kill -9 {pid}"
                )
    except PermissionError as exc:
        raise InjectorError(
            f"not allowed to signal holder process {pid} ({application_name}): run "
            f"chaoskit as the user that started it, or kill {pid} by hand"
        ) from exc
    finally:
        child = _children.get(pid)
        if child is not None and child.poll() is not None:
            del _children[pid]


async def stop_holders(application_name: str, known_pid: int | None) -> list[int]:
    """Stop every holder of ``application_name`` (``known_pid`` and any other a
    crash left behind): SIGTERM, then SIGKILL after a grace. Returns their pids."""
    pids = set(await anyio.to_thread.run_sync(find_holders, application_name))
    standby = _standby.pop(application_name, None)
    if standby is not None and standby.poll() is None:
        pids.add(standby.pid)  # an unused standby, found even if /proc says nothing yet
    if known_pid is not None and (
        known_pid in _children or holder_alive(known_pid, application_name)
    ):
        pids.add(known_pid)
    for pid in sorted(pids):
        await _stop_one(pid, application_name)
    return sorted(pids)

"""Finding the processes a selector names (blocking: call through a worker thread).

Never selected, whatever the selector says: the calling process (chaoskit, or the
test runner that drives an injector in-process), every one of its ancestors (a
``cmdline`` regular expression could match the shell that started chaoskit),
chaoskit's own helper processes (burners, hogs, restarters), zombies and kernel
threads.
"""

from __future__ import annotations

import os
import random
import re
import socket
from dataclasses import dataclass
from typing import Any

import psutil

from chaoskit import InjectorError
from chaoskit_process._helpers import is_helper, scan
from chaoskit_process.target import SelectorFields, selectors_given

__all__ = [
    "Found",
    "NoMatch",
    "SelectionError",
    "can_signal",
    "find",
    "pick",
    "protected_pids",
]

_ATTRS = ["pid", "ppid", "name", "cmdline", "create_time", "status"]
_LISTEN_ADDRESSES = {"127.0.0.1", "0.0.0.0", "::", "::1", "::ffff:127.0.0.1"}


class SelectionError(InjectorError):
    """The selector cannot be evaluated: an unreadable pid file, a pick: one that
    matches several processes, a port whose owner we may not see."""


class NoMatch(SelectionError):
    """No process matches the selector."""


@dataclass(frozen=True)
class Found:
    """One selected process, as it was when it was selected."""

    pid: int
    create_time: float
    name: str
    cmdline: list[str]


def _parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            return int(file.read().rpartition(b")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        try:
            return psutil.Process(pid).ppid()
        except psutil.Error:
            return 0


def protected_pids() -> set[int]:
    """This process and all its ancestors. (psutil's ``parents()`` maps the parent
    of every process on the machine; walking up is a few reads.)"""
    protected = {os.getpid()}
    pid = os.getppid()
    for _ in range(256):
        if pid <= 0 or pid in protected:
            break
        protected.add(pid)
        pid = _parent_of(pid)
    return protected


def _found(info: dict[str, Any]) -> Found | None:
    """A candidate from psutil's info dict; None when it must never be selected."""
    status = info.get("status")
    cmdline = info.get("cmdline") or []
    assert isinstance(cmdline, list)
    if status in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
        return None
    if not cmdline and (info.get("ppid") == 2 or info.get("pid") == 2):
        return None  # a kernel thread: no signals, no cgroups to speak of
    if is_helper(cmdline):
        return None
    pid, create_time = info.get("pid"), info.get("create_time")
    if not isinstance(pid, int) or not isinstance(create_time, float):
        return None
    return Found(pid, create_time, str(info.get("name") or ""), [str(a) for a in cmdline])


def _one(pid: int) -> list[Found]:
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            info: dict[str, object] = {"pid": pid, "ppid": process.ppid()}
            info["status"] = process.status()
            info["name"] = process.name()
            info["create_time"] = process.create_time()
            try:
                info["cmdline"] = process.cmdline()
            except psutil.AccessDenied:
                info["cmdline"] = [str(info["name"])]
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []
    found = _found(info)
    return [found] if found is not None else []


def _read_pid_file(path: str) -> int | None:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            text = file.read(64).strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SelectionError(f"cannot read pid file {path}: {exc.strerror}") from exc
    if not text.isdigit() or int(text) < 1:
        raise SelectionError(f"pid file {path} does not hold a process id: {text[:20]!r}")
    return int(text)


def _scan(keep: re.Pattern[str] | str) -> list[Found]:
    found: list[Found] = []
    for _, info in scan(_ATTRS):
        if isinstance(keep, str):
            if info.get("name") != keep:
                continue
        elif keep.search(" ".join(info.get("cmdline") or [])) is None:
            continue
        candidate = _found(info)
        if candidate is not None:
            found.append(candidate)
    return found


def _listening_on(port: int) -> list[Found]:
    pids: set[int] = set()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        if conn.laddr.ip not in _LISTEN_ADDRESSES or conn.family not in (
            socket.AF_INET,
            socket.AF_INET6,
        ):
            continue
        if conn.pid is None:
            raise SelectionError(
                f"something listens on port {port} but its process is not visible to uid "
                f"{os.geteuid()}; run chaoskit as the service's user or as root"
            )
        pids.add(conn.pid)
    return [found for pid in sorted(pids) for found in _one(pid)]


def find(selector: SelectorFields) -> list[Found]:
    """Every process the selector matches now, protected ones left out, by pid."""
    [field] = selectors_given(selector)
    if field == "pid":
        assert selector.pid is not None
        candidates = _one(selector.pid)
    elif field == "pid_file":
        assert selector.pid_file is not None
        pid = _read_pid_file(selector.pid_file)
        candidates = [] if pid is None else _one(pid)
    elif field == "name":
        assert selector.name is not None
        candidates = _scan(selector.name)
    elif field == "cmdline":
        assert selector.cmdline is not None
        candidates = _scan(re.compile(selector.cmdline))
    else:
        assert selector.port is not None
        candidates = _listening_on(selector.port)
    protected = protected_pids()
    return sorted((c for c in candidates if c.pid not in protected), key=lambda c: c.pid)


def pick(matches: list[Found], how: str, count: int | None, *, described: str) -> list[Found]:
    """Apply ``pick`` to the matches of a selector described as ``described``."""
    if not matches:
        raise NoMatch(f"no process matches {described} (chaoskit and its ancestors excluded)")
    if how == "one":
        if len(matches) > 1:
            listed = ", ".join(str(m.pid) for m in matches[:10])
            raise SelectionError(
                f"{len(matches)} processes match {described} (pids {listed}) but pick is one; "
                "narrow the selector or use pick: all or pick: random"
            )
        return matches
    if how == "random":
        chosen = random.sample(matches, min(count or 1, len(matches)))
        return sorted(chosen, key=lambda c: c.pid)
    return matches


def can_signal(found: Found) -> str | None:
    """Why this process cannot be signalled by us, or None when it can."""
    try:
        os.kill(found.pid, 0)  # signal 0: a permission check that changes nothing
    except ProcessLookupError:
        return f"process {found.pid} is gone"
    except PermissionError:
        try:
            owner = psutil.Process(found.pid).username()
        except psutil.Error:
            owner = "another user"
        return (
            f"no permission to signal process {found.pid} ({found.name}, owned by {owner}); "
            "run chaoskit as that user or as root"
        )
    return None

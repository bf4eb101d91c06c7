"""Linux control groups, v1 and v2, as far as the limit injectors need them
(blocking: call through a worker thread).

Where the new cgroup goes, so that every limit that applied before still applies:

* v1: a child of the process's current cgroup in the controller's hierarchy.
  v1 allows processes in inner cgroups, and a child inherits its parents' limits.
* v2: a sibling of the current cgroup (a child of its parent), or a child of the
  root when the process is in the root. v2 forbids processes in a cgroup whose
  controllers are delegated to children ("no internal processes"), so a child of
  an occupied cgroup cannot get the controller. The parent must have the
  controller in ``cgroup.subtree_control``; the sibling escapes only the limits
  set on the process's own cgroup, not its ancestors'.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import time
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Hierarchy",
    "cgroup_of",
    "find_hierarchy",
    "fs_path",
    "move",
    "parse_mountinfo",
    "plan_cgroup",
    "procs",
    "read_setting",
    "remove",
    "safe_name",
    "write_setting",
]

Version = Literal[1, 2]
MOUNTINFO = "/proc/self/mountinfo"


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy that carries a controller."""

    version: Version
    mount: str
    """where it is mounted, e.g. /sys/fs/cgroup/memory"""
    root: str
    """the cgroup mounted there (``/`` unless a container sees only part of it)"""
    controller: str


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount point, root, super options) of every cgroup mount."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mounts.append(
            (tail[0], _unescape(fields[4]), _unescape(fields[3]), set(tail[2].split(",")))
        )
    return mounts


def find_hierarchy(controller: str, mountinfo: str | None = None) -> Hierarchy | None:
    """The v1 hierarchy with ``controller``, else the v2 one that offers it."""
    if mountinfo is None:
        with open(MOUNTINFO, encoding="utf-8") as file:
            mountinfo = file.read()
    mounts = parse_mountinfo(mountinfo)
    for fstype, mount, root, options in mounts:
        if fstype == "cgroup" and controller in options:
            return Hierarchy(1, mount, root, controller)
    for fstype, mount, root, _ in mounts:
        if fstype != "cgroup2":
            continue
        try:
            with open(os.path.join(mount, "cgroup.controllers"), encoding="utf-8") as file:
                offered = file.read().split()
        except OSError:
            continue
        if controller in offered:
            return Hierarchy(2, mount, root, controller)
    return None


def cgroup_of(pid: int, hierarchy: Hierarchy, proc: str = "/proc") -> str:
    """The cgroup of ``pid`` in ``hierarchy``, as /proc/PID/cgroup shows it.
    Raises ProcessLookupError when the process is gone."""
    try:
        with open(f"{proc}/{pid}/cgroup", encoding="utf-8") as file:
            lines = file.read().splitlines()
    except FileNotFoundError as exc:
        raise ProcessLookupError(errno.ESRCH, f"process {pid} is gone") from exc
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if hierarchy.version == 2 and controllers == "":
            return path
        if hierarchy.version == 1 and hierarchy.controller in controllers.split(","):
            return path
    raise LookupError(f"process {pid} is in no {hierarchy.controller} cgroup")


def fs_path(hierarchy: Hierarchy, cgroup: str) -> str:
    """The directory of ``cgroup`` under the hierarchy's mount point."""
    relative = cgroup
    if hierarchy.root != "/" and (cgroup + "/").startswith(hierarchy.root.rstrip("/") + "/"):
        relative = cgroup[len(hierarchy.root.rstrip("/")) :]
    return posixpath.normpath(posixpath.join(hierarchy.mount, relative.lstrip("/")))


def safe_name(tag: str) -> str:
    """A cgroup directory name from a fault's tag."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", tag)[:200]


def plan_cgroup(version: Version, original: str, name: str) -> str:
    """Where the new cgroup goes for a process in ``original`` (see the module)."""
    if version == 1 or original == "/":
        return posixpath.join(original, name)
    return posixpath.join(posixpath.dirname(original.rstrip("/")) or "/", name)


def write_setting(directory: str, setting: str, value: str) -> None:
    fd = os.open(os.path.join(directory, setting), os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def read_setting(directory: str, setting: str) -> str:
    with open(os.path.join(directory, setting), encoding="utf-8") as file:
        return file.read().strip()


def procs(directory: str) -> list[int]:
    """The processes in a cgroup; [] when it does not exist."""
    try:
        return [int(line) for line in read_setting(directory, "cgroup.procs").split()]
    except FileNotFoundError:
        return []


def move(pid: int, directory: str) -> bool:
    """Move a process (all its threads) into a cgroup; False when it is gone."""
    try:
        write_setting(directory, "cgroup.procs", str(pid))
    except ProcessLookupError:
        return False
    return True


def remove(directory: str, wait: float = 2.0) -> None:
    """rmdir a cgroup, retrying while the kernel still counts exiting tasks in it."""
    deadline = time.monotonic() + wait
    for _ in range(1000):
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.01)

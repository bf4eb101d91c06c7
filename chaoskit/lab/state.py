"""The lab's state file, ``.chaoskit/lab/state.json``: what ``up`` started, and by whom.

``down`` takes down only what is recorded here. Every change happens under an exclusive lock
(``.chaoskit/lab/lock``) so that two ``up``/``down`` calls do not interleave.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaoskit.lab.errors import LabError

__all__ = ["LabState", "ServiceRecord", "Starter", "lab_lock", "load_state", "save_state"]

STATE_FILE = "state.json"
LOCK_FILE = "lock"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Starter:
    """Who ran ``up``: a process, a user, a command line, a wall-clock time."""

    pid: int
    user: str
    command: str
    at: str

    @classmethod
    def current(cls) -> Starter:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        return cls(pid=os.getpid(), user=user, command=" ".join(sys.argv), at=_now())


@dataclass
class ServiceRecord:
    """One service that ``up`` started.

    ``pid`` and ``start_ticks`` (the kernel's start time of the process, which tells a
    recycled pid apart) are set for the process runtime; ``container`` for docker.
    """

    name: str
    started_by: Starter
    knobs: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    start_ticks: int | None = None
    container: str | None = None
    log: str | None = None
    data_dir: str | None = None


@dataclass
class LabState:
    runtime: str
    services: dict[str, ServiceRecord] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LabState:
        raw: dict[str, Any] = json.loads(text)
        services = {}
        for name, record in raw.get("services", {}).items():
            record = dict(record)
            record["started_by"] = Starter(**record["started_by"])
            services[name] = ServiceRecord(**record)
        return cls(runtime=str(raw["runtime"]), services=services)


def load_state(state_dir: Path) -> LabState | None:
    """The recorded state, or None when nothing is recorded."""
    path = state_dir / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LabError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return LabState.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise LabError(f"{path} is not a lab state file ({exc}); remove it by hand") from exc


def save_state(state_dir: Path, state: LabState) -> None:
    """Write the state atomically; an empty state removes the file."""
    path = state_dir / STATE_FILE
    if not state.services:
        path.unlink(missing_ok=True)
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(state.to_json(), encoding="utf-8")
    temporary.replace(path)


@contextlib.contextmanager
def lab_lock(state_dir: Path, timeout: float = 300.0) -> Iterator[None]:
    """Hold the lab's lock; wait at most ``timeout`` seconds for another holder."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / LOCK_FILE).open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LabError(
                        f"another `chaoskit lab` command holds {state_dir / LOCK_FILE} "
                        f"after {timeout:g}s"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

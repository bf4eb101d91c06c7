"""Helpers to look at the server independently of the PostgreSQL injectors
(plain psycopg, own connections, /proc). Faults are driven with chaoskit.testing
(the ``faults`` fixture)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

__all__ = [
    "MAX_CONNECTIONS",
    "TaggedHelper",
    "connect",
    "holder_processes",
    "load_backends",
    "scalar",
    "tagged_backends",
    "wait_until",
]

MAX_CONNECTIONS = 40
"""max_connections of the tests' private server (small, so exhausting it is quick)."""

HOLDER_MARKER = "chaoskit_postgres/_holder.py"


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
    """An independent observer's connection (autocommit, bounded connect)."""
    kwargs.setdefault("connect_timeout", 5)
    kwargs.setdefault("autocommit", True)
    return psycopg.connect(dsn, **kwargs)


def scalar(dsn: str, query: str, params: list[Any] | None = None) -> Any:
    with connect(dsn) as connection:
        row = connection.execute(query, params).fetchone()
    return row[0] if row else None


def tagged_backends(dsn: str, name: str, *, sleeping: bool = False) -> int:
    """Backends whose application_name is ``name`` (with ``sleeping``: running pg_sleep)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
        "AND pid <> pg_backend_pid()"
    )
    if sleeping:
        query += " AND state = 'active' AND query ILIKE '%%pg_sleep%%'"
    return int(scalar(dsn, query, [name]))


def load_backends(dsn: str) -> int:
    """Backends of the sql load kind's pools and of the sql lookup, by the
    application_name they fall back to."""
    return int(
        scalar(
            dsn,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
            "'chaoskit-load-%%' OR application_name LIKE 'chaoskit-audit-%%'",
        )
    )


def holder_processes(name: str | None = None, *, ours: bool = False) -> list[int]:
    """Pids of running holder processes (for ``name``, or any), from /proc; with
    ``ours``, only this process's children (not another test session's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if not any(arg.endswith(HOLDER_MARKER.encode()) for arg in args) or state == "Z":
            continue
        if ours and _parent(entry) != os.getpid():
            continue
        if name is None or name.encode() in args:
            found.append(int(entry.name))
    return found


def _parent(entry: Path) -> int | None:
    try:
        return int((entry / "stat").read_text().rsplit(")", 1)[-1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.05)


_HELPER = textwrap.dedent(
    """
    import sys, time, psycopg
    dsn, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    held = [psycopg.connect(dsn, application_name=name, connect_timeout=5) for _ in range(count)]
    print("ready", flush=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            for c in held:
                c.execute("select 1")
        except psycopg.OperationalError:
            print("terminated", flush=True)
            sys.exit(0)
        time.sleep(0.1)
    sys.exit(3)
    """
)


@dataclass
class TaggedHelper:
    """A separate process (not a holder) holding connections tagged ``name``:
    what revert must clean up if a fault's connections somehow outlived it."""

    process: subprocess.Popen[str]

    @classmethod
    def start(cls, dsn: str, name: str, count: int = 3) -> TaggedHelper:
        process = subprocess.Popen(
            [sys.executable, "-c", _HELPER, dsn, name, str(count)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        return cls(process)

    def finish(self, timeout: float = 15.0) -> str:
        """Wait for it to notice its connections were ended; its last word."""
        out, _ = self.process.communicate(timeout=timeout)
        return out.strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

"""One rollback of a run at a time: an exclusive ``flock`` on ``rollback.lock`` in
the run directory (ADR 0011)."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from structlog.typing import FilteringBoundLogger

from chaoskit._errors import ChaoskitError, UserError

__all__ = ["DEFAULT_WAIT", "LOCK_NAME", "RollbackInProgress", "locked"]

LOCK_NAME = "rollback.lock"
DEFAULT_WAIT = 60.0
"""Seconds a second rollback waits for the first: longer than a rollback of a few
faults takes, short enough that a hung one is noticed."""
_POLL = 0.1


class RollbackInProgress(ChaoskitError):
    """Raised by :func:`rollback` when another rollback of the same run still holds
    the run's lock after ``wait`` seconds. The CLI exits 4: this rollback reverted
    nothing, so it cannot say the system is clean."""

    def __init__(self, run_dir: Path, pid: int | None, waited: float) -> None:
        self.pid = pid
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(
            f"another rollback of this run is in progress ({holder}); waited {waited:g}s "
            f"for it; nothing was reverted by this one (lock: {run_dir / LOCK_NAME})"
        )


@asynccontextmanager
async def locked(run_dir: Path, wait: float, log: FilteringBoundLogger) -> AsyncIterator[None]:
    """Hold ``rollback.lock`` (an exclusive ``flock``; the kernel drops it when
    the process dies, so a killed rollback never leaves the run locked). The
    file keeps the holder's pid so that a waiting rollback can name it; the file
    itself stays, because unlinking a lock file lets two processes lock two files."""
    path = run_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"{path}: cannot open the rollback lock: {exc.strerror}") from exc
    try:
        deadline = time.monotonic() + wait
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            holder = _holder(fd)
            if time.monotonic() >= deadline:
                raise RollbackInProgress(run_dir, holder, wait)
            if not waiting:
                log.warning("another rollback of this run is in progress", pid=holder, wait=wait)
                waiting = True
            await anyio.sleep(_POLL)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _holder(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None

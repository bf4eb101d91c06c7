"""What the process injectors share: target and params checks, running blocking
psutil and /proc calls in worker threads under a deadline, selecting the
target's processes, and recording them so that a recycled pid is never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import psutil
from pydantic import BaseModel, ConfigDict

from chaoskit import FaultContext, InjectorError, Params
from chaoskit_process._select import Found, SelectionError, can_signal, find, pick
from chaoskit_process.target import ProcessTarget

__all__ = [
    "CALL_TIMEOUT",
    "TARGET_KIND",
    "ProcessRecord",
    "blocking",
    "identify",
    "poll",
    "process_target",
    "select",
    "select_counted",
]

TARGET_KIND = "process"
CALL_TIMEOUT = 10.0
"""Seconds allowed for one blocking call (a /proc scan, a batch of signals)."""
_CREATE_TIME_TOLERANCE = 0.001

P = TypeVar("P", bound=Params)
R = TypeVar("R")


class ProcessRecord(BaseModel):
    """A selected process: its pid, and its start time, which tells whether a pid
    still names the same process (pids are recycled). ``cmdline`` is for people
    reading the journal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int
    create_time: float
    cmdline: list[str]

    @classmethod
    def of(cls, found: Found) -> ProcessRecord:
        return cls(pid=found.pid, create_time=found.create_time, cmdline=found.cmdline)


def identify(pid: int, create_time: float) -> psutil.Process | None:
    """The process with this pid if it is still the one that started at
    ``create_time`` (blocking)."""
    try:
        process = psutil.Process(pid)
        if abs(process.create_time() - create_time) > _CREATE_TIME_TOLERANCE:
            return None
    except psutil.NoSuchProcess:
        return None
    return process


def process_target(ctx: FaultContext) -> ProcessTarget:
    if not isinstance(ctx.target, ProcessTarget):
        raise InjectorError(
            f"fault {ctx.fault_name!r} needs a {TARGET_KIND} target; "
            f"{ctx.target_name!r} is {ctx.target.kind!r}"
        )
    return ctx.target


async def blocking(
    fn: Callable[..., R],
    *args: object,
    what: str,
    timeout: float = CALL_TIMEOUT,
    changes: bool = False,
) -> R:
    """``fn(*args)`` in a worker thread under a deadline. A call that only reads
    is abandoned on cancel; one that ``changes`` something is waited for, so it
    can never land after a revert."""
    try:
        with anyio.fail_after(timeout):
            return await anyio.to_thread.run_sync(lambda: fn(*args), abandon_on_cancel=not changes)
    except TimeoutError as exc:
        raise InjectorError(f"{what} did not finish within {timeout:g}s") from exc
    except psutil.AccessDenied as exc:
        raise InjectorError(f"{what}: permission denied ({exc}); run chaoskit as root") from exc
    except OSError as exc:
        if isinstance(exc, PermissionError):
            raise InjectorError(f"{what}: permission denied: {exc}") from exc
        raise InjectorError(f"{what}: {exc}") from exc


async def poll(
    fn: Callable[..., list[R]],
    *args: object,
    within: float,
    what: str,
    interval: float = 0.02,
) -> list[R]:
    """Call the blocking ``fn(*args)`` until it returns an empty list or
    ``within`` seconds have passed; its last answer."""
    deadline = anyio.current_time() + within
    answer: list[R] = []
    for _ in range(int(within / interval) + 2):
        answer = await blocking(fn, *args, what=what)
        if not answer or anyio.current_time() >= deadline:
            break
        await anyio.sleep(interval)
    return answer


def _select_sync(target: ProcessTarget, check_signal: bool) -> tuple[list[Found], int]:
    matches = find(target)
    chosen = pick(matches, target.pick, target.count, described=target.describe())
    if check_signal:
        problems = [problem for found in chosen if (problem := can_signal(found))]
        if problems:
            raise SelectionError("; ".join(problems))
    return chosen, len(matches)


async def select_counted(
    ctx: FaultContext, *, check_signal: bool = True
) -> tuple[list[Found], int]:
    """The target's processes after ``pick``, and how many matched before it;
    raises when none match, when pick: one matches several, or (``check_signal``)
    when one may not be signalled by us."""
    target = process_target(ctx)
    return await blocking(
        _select_sync, target, check_signal, what=f"selecting processes by {target.describe()}"
    )


async def select(ctx: FaultContext, *, check_signal: bool = True) -> list[Found]:
    """The target's processes after ``pick`` (see :func:`select_counted`)."""
    chosen, _ = await select_counted(ctx, check_signal=check_signal)
    return chosen

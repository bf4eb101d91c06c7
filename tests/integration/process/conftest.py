"""Fixtures for the process family: victims that are always reaped, the
``faults`` fixture (chaoskit.testing), and a check after every test that no
helper process and no cgroup of the test's run is left behind — which fails
the test that left them and then removes them, so that one leak stays one
failure."""

from __future__ import annotations

import contextlib
import glob
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from process_victims import Victim, end_everything_with, helpers_of, wait_for

from chaoskit.testing import FaultTracker

HELPERS_END_WITHIN = 5.0
"""Seconds a helper may still take to exit after its fault ended (a hard cap firing)."""


@pytest.fixture
def run_id() -> str:
    """The run id of this test's fault contexts (so its tags are unique)."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def nothing_left_behind(run_id: str) -> Iterator[None]:
    yield
    with contextlib.suppress(AssertionError):  # reported below, with the rest
        wait_for(lambda: not helpers_of(run_id), f"helpers of {run_id}", HELPERS_END_WITHIN)
    helpers = [process.pid for process in helpers_of(run_id)]
    cgroups = sorted(glob.glob(f"/sys/fs/cgroup/*/**/chaoskit-{run_id}*", recursive=True))
    if not helpers and not cgroups:
        return
    end_everything_with(run_id)
    for cgroup in sorted(cgroups, key=len, reverse=True):  # the deepest first
        _remove_cgroup(Path(cgroup))
    pytest.fail(f"left behind (now removed): helpers {helpers}, cgroups {cgroups}", pytrace=False)


def _remove_cgroup(cgroup: Path) -> None:
    """Move the cgroup's processes to its parent, then remove it."""
    for pid in (cgroup / "cgroup.procs").read_text().split():
        try:
            (cgroup.parent / "cgroup.procs").write_text(pid)
        except ProcessLookupError:
            continue  # it ended meanwhile
    os.rmdir(cgroup)


@pytest.fixture
def spawn() -> Iterator[Callable[..., Victim]]:
    """Factory: ``spawn(code, *args, ...)`` starts a :class:`Victim`. Every victim,
    and every process carrying its marker (restarted copies), is ended afterwards."""
    started: list[Victim] = []

    def start(*args: Any, **kwargs: Any) -> Victim:
        victim = Victim.start(*args, **kwargs)
        started.append(victim)
        return victim

    yield start
    for victim in started:
        victim.stop()
        end_everything_with(victim.marker)


@pytest.fixture
async def faults(run_id: str) -> AsyncIterator[FaultTracker]:
    """``await faults.apply(injector, target, params)`` runs preflight, prepare and
    inject with this test's run id; every fault still applied is reverted at
    teardown, which fails if a revert does."""
    async with FaultTracker(run_id=run_id) as tracker:
        yield tracker

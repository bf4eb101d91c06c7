"""Fixtures for the process family: victims that are always reaped, the
``apply_fault`` fixture, and a check after every test that no helper process
and no cgroup of the test's run is left behind."""

from __future__ import annotations

import glob
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from process_faults import Applied, ApplyFault, fault_context
from process_victims import Victim, end_everything_with, helpers_of, wait_for

from chaoskit import Injector, TargetSpec


@pytest.fixture
def run_id() -> str:
    """The run id of this test's fault contexts (so its tags are unique)."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def nothing_left_behind(run_id: str) -> Iterator[None]:
    yield
    wait_for(lambda: not helpers_of(run_id), f"helpers of {run_id} to end", timeout=5)
    leftovers = glob.glob(f"/sys/fs/cgroup/*/**/chaoskit-{run_id}*", recursive=True)
    assert leftovers == [], leftovers


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
async def apply_fault(run_id: str) -> AsyncIterator[ApplyFault]:
    """``await apply_fault(injector, target, params)`` runs preflight, prepare and
    inject; everything applied is reverted at teardown (a no-op when the test did)."""
    applied: list[Applied] = []

    async def apply(injector: Injector, target: TargetSpec, params: dict[str, Any]) -> Applied:
        ctx = fault_context(injector, target, params, run_id=run_id)
        await injector.preflight(ctx)
        fault = Applied(injector, ctx, await injector.prepare(ctx))
        applied.append(fault)
        fault.revert_state = await injector.inject(ctx, fault.prior_state)
        return fault

    yield apply
    for fault in reversed(applied):
        await fault.revert()

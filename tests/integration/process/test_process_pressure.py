"""process.cpu_pressure and process.memory_pressure: the helpers burn and hold
for real (seen through psutil, not through the injector), end at their hard
cap on their own, and revert leaves none behind. Burning is kept to about two
seconds per test: this machine has two cores and is shared."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import anyio
import psutil
import pytest
from chaoskit_process import CpuPressure, MemoryPressure
from process_faults import target
from process_victims import Victim, helpers_of, wait_for

from chaoskit import FaultNotInForce, InjectorError
from chaoskit.testing import FaultTracker, fault_context

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

MIB = 1024 * 1024


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def test_cpu_pressure_loads_the_machine(
    spawn: Callable[..., Victim], faults: FaultTracker, run_id: str
) -> None:
    victim = spawn()
    before = await anyio.to_thread.run_sync(psutil.cpu_percent, 0.5)

    fault = await faults.apply(
        CpuPressure(), target(pid=victim.pid), {"workers": 2, "max_duration": "30s"}
    )
    await CpuPressure().verify(fault.ctx, fault.revert_state)
    burners = helpers_of(run_id)  # found by their tag, not through the revert state
    spent_before = cpu_seconds(burners)
    during = await anyio.to_thread.run_sync(psutil.cpu_percent, 1.0)
    spent = cpu_seconds(burners) - spent_before

    assert len(burners) == 2
    # Wide margins: the machine is shared, and other work may take most of it.
    assert during >= min(before + 15, 85), (before, during, spent)  # the machine got busier
    assert spent >= 0.2, (before, during, spent)  # ... because the burners spun
    state = fault.revert_state
    assert isinstance(state, dict)
    assert state["mode"] == "burn"
    assert sorted(h["pid"] for h in state["helpers"]) == sorted(p.pid for p in burners)

    await CpuPressure().revert(fault.ctx, json.loads(json.dumps(state)))

    assert helpers_of(run_id) == []
    with pytest.raises(FaultNotInForce, match="are not running"):
        await CpuPressure().verify(fault.ctx, state)
    await fault.revert()  # twice: harmless


async def test_burners_take_nice_and_the_targets_cpus(
    spawn: Callable[..., Victim], faults: FaultTracker, run_id: str
) -> None:
    victim = spawn()
    psutil.Process(victim.pid).cpu_affinity([0])

    await faults.apply(CpuPressure(), target(pid=victim.pid), {"nice": 19, "max_duration": "5s"})

    [burner] = helpers_of(run_id)  # one worker: the target may use one CPU
    wait_for(lambda: burner.nice() == 19 and burner.cpu_affinity() == [0], "nice and affinity")
    assert f"--tag={fault_tag(run_id)}" in burner.cmdline()


def fault_tag(run_id: str) -> str:
    return f"chaoskit-{run_id}-f"


async def test_burners_end_on_their_own_at_the_hard_cap(
    spawn: Callable[..., Victim], run_id: str
) -> None:
    """Nobody reverts (chaoskit died and nobody rolled back): they still end."""
    victim = spawn()
    injector = CpuPressure()
    ctx = fault_context(
        injector, target(pid=victim.pid), {"workers": 1, "max_duration": "500ms"}, run_id=run_id
    )
    started = time.monotonic()
    await injector.inject(ctx, await injector.prepare(ctx))
    assert len(helpers_of(run_id)) == 1

    wait_for(lambda: not helpers_of(run_id), "the burner to end", timeout=5)

    assert time.monotonic() - started < 5
    await injector.revert(ctx, await injector.prepare(ctx))  # reaps the zombie


async def test_revert_from_the_intent_finds_burners_by_tag(
    spawn: Callable[..., Victim], run_id: str
) -> None:
    """A crash between inject and its journal record: the journaled intent names no
    burner, so revert finds them by the fault's tag."""
    victim = spawn()
    injector = CpuPressure()
    ctx = fault_context(
        injector, target(pid=victim.pid), {"workers": 2, "max_duration": "30s"}, run_id=run_id
    )
    intent = await injector.prepare(ctx)
    assert intent == {"mode": "burn", "helpers": []}
    await injector.inject(ctx, intent)
    assert len(helpers_of(run_id)) == 2

    await injector.revert(ctx, intent)

    assert helpers_of(run_id) == []


async def test_revert_leaves_other_faults_burners_alone(
    spawn: Callable[..., Victim], run_id: str
) -> None:
    victim = spawn()
    injector = CpuPressure()
    params = {"workers": 1, "max_duration": "30s"}
    mine = fault_context(injector, target(pid=victim.pid), params, run_id=run_id, fault_name="a")
    other = fault_context(injector, target(pid=victim.pid), params, run_id=run_id, fault_name="a2")
    other_state = await injector.inject(other, await injector.prepare(other))
    try:
        await injector.revert(mine, await injector.prepare(mine))
        assert len(helpers_of(run_id)) == 1  # "a" is a prefix of "a2", and still not it
    finally:
        await injector.revert(other, other_state)


async def test_memory_pressure_holds_the_memory(
    spawn: Callable[..., Victim], faults: FaultTracker, run_id: str
) -> None:
    victim = spawn()
    available = psutil.virtual_memory().available

    fault = await faults.apply(MemoryPressure(), target(pid=victim.pid), {"mib": 200})

    await MemoryPressure().verify(fault.ctx, fault.revert_state)
    [hog] = helpers_of(run_id)
    assert hog.memory_info().rss >= 200 * MIB
    assert psutil.virtual_memory().available < available - 100 * MIB  # wide: a shared machine

    await fault.revert()

    assert helpers_of(run_id) == []
    assert not psutil.pid_exists(hog.pid) or hog.status() == psutil.STATUS_ZOMBIE
    await fault.revert()


async def test_memory_pressure_refuses_too_much(spawn: Callable[..., Victim], run_id: str) -> None:
    victim = spawn()
    too_much = psutil.virtual_memory().available // MIB  # all of it, with the default 50% cap
    injector = MemoryPressure()
    ctx = fault_context(injector, target(pid=victim.pid), {"mib": too_much}, run_id=run_id)

    with pytest.raises(InjectorError, match=r"refusing to take .* max_available is 50%"):
        await injector.preflight(ctx)
    with pytest.raises(InjectorError, match="refusing to take"):
        await injector.inject(ctx, await injector.prepare(ctx))
    assert helpers_of(run_id) == []


async def test_memory_hog_ends_on_its_own_at_the_hard_cap(
    spawn: Callable[..., Victim], run_id: str
) -> None:
    victim = spawn()
    injector = MemoryPressure()
    ctx = fault_context(
        injector, target(pid=victim.pid), {"mib": 16, "max_duration": "500ms"}, run_id=run_id
    )
    state = await injector.inject(ctx, await injector.prepare(ctx))
    assert len(helpers_of(run_id)) == 1

    wait_for(lambda: not helpers_of(run_id), "the hog to end", timeout=5)

    await injector.revert(ctx, state)  # nothing left to end: harmless
    assert helpers_of(run_id) == []

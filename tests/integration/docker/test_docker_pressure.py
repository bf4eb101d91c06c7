"""memory_pressure and cpu_pressure against a real engine: the hog shows in
``docker top``, its effect shows in the container's stats and the engine's
events, revert ends every process of it, and it ends itself at its cap."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from chaoskit_docker import CpuPressure, MemoryPressure
from docker_faults import target
from docker_lab import Container, Lab

from chaoskit import FaultNotInForce, InjectorError
from chaoskit.testing import FaultTracker, fault_context, journal_roundtrip

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

MiB = 1 << 20


def hog_lines(container: Container, marker: str) -> list[str]:
    return [line for line in container.top() if marker in line]


def processes(container: Container) -> int:
    return len(container.top())


def oom_events(container: Container, since: float) -> list[dict[str, Any]]:
    events = container.client.api.events(
        since=int(since) - 1,
        until=int(time.time()) + 1,
        filters={"container": container.id, "event": "oom"},
        decode=True,
    )
    return list(events)


def marker_of(state: object) -> str:
    assert isinstance(state, dict)
    marker = state["containers"][0]["marker"]
    assert isinstance(marker, str)
    return marker


async def test_memory_pressure_under_a_64mib_limit_meets_the_oom_killer(
    lab: Lab, faults: FaultTracker
) -> None:
    web = lab.container(mem_limit="64m", memswap_limit="64m")
    alone = processes(web)
    started = time.time()
    fault = await faults.apply(MemoryPressure(), target(container=web.name), {"memory": "128m"})
    marker = marker_of(fault.revert_state)
    assert marker.endswith(".memory-hog")
    await fault.verify()
    assert hog_lines(web, marker)  # the hog's shell, by its marker, in the host's ps

    await anyio.sleep(1.0)
    memory = web.stats()["memory_stats"]
    assert memory["max_usage"] >= 0.9 * 64 * MiB  # it pressed right up to the limit
    assert oom_events(web, started)  # and the kernel OOM-killed chunks of it
    assert web.status() == "running"  # the container itself lives on

    await MemoryPressure().revert(fault.ctx, journal_roundtrip(fault.revert_state))
    assert hog_lines(web, marker) == []
    assert processes(web) == alone  # every process of the hog is gone, none left as zombie
    await fault.revert()  # twice: harmless
    with pytest.raises(FaultNotInForce, match="runs no hog"):
        await fault.verify()


async def test_memory_pressure_holds_what_fits(lab: Lab, faults: FaultTracker) -> None:
    web = lab.container(mem_limit="256m", memswap_limit="256m")
    before = web.stats()["memory_stats"]["usage"]
    fault = await faults.apply(MemoryPressure(), target(container=web.name), {"memory": "96m"})
    await anyio.sleep(1.0)
    held = web.stats()["memory_stats"]["usage"] - before
    assert 80 * MiB <= held <= 140 * MiB
    await fault.revert()
    await anyio.sleep(0.3)
    assert web.stats()["memory_stats"]["usage"] - before < 16 * MiB


async def test_cpu_pressure_burns_cpu_until_reverted(lab: Lab, faults: FaultTracker) -> None:
    web = lab.container()
    alone = processes(web)
    fault = await faults.apply(CpuPressure(), target(container=web.name), {"workers": 1})
    marker = marker_of(fault.revert_state)
    await fault.verify()

    def used() -> int:
        return int(web.stats()["cpu_stats"]["cpu_usage"]["total_usage"])

    first, started = used(), time.monotonic()
    await anyio.sleep(1.0)
    busy = (used() - first) / ((time.monotonic() - started) * 1e9)
    assert busy > 0.3  # a good part of a CPU (the machine is shared)

    await fault.revert()
    assert hog_lines(web, marker) == []
    assert processes(web) == alone
    first, started = used(), time.monotonic()
    await anyio.sleep(1.0)
    idle = (used() - first) / ((time.monotonic() - started) * 1e9)
    assert idle < busy / 5


async def test_a_hog_ends_itself_at_its_cap(lab: Lab) -> None:
    web = lab.container()
    alone = processes(web)
    for injector, params in (
        (CpuPressure(), {"workers": 2, "max_duration": "1s"}),
        (MemoryPressure(), {"memory": "16m", "max_duration": "1s"}),
    ):
        ctx = fault_context(injector, target(container=web.name), params)
        state = await injector.inject(ctx, await injector.prepare(ctx))
        assert hog_lines(web, marker_of(state))
        deadline = time.monotonic() + 10
        while processes(web) != alone:
            assert time.monotonic() < deadline, web.top()
            await anyio.sleep(0.1)
        await injector.revert(ctx, state)  # nothing left to end: harmless


async def test_inject_twice_starts_one_hog(lab: Lab) -> None:
    web = lab.container()
    ctx = fault_context(CpuPressure(), target(container=web.name), {"workers": 1})
    state = await CpuPressure().prepare(ctx)
    await CpuPressure().inject(ctx, state)
    await CpuPressure().inject(ctx, state)  # a retried inject
    shells = hog_lines(web, marker_of(state))
    assert len(shells) == 2  # one master shell and its one worker (a forked copy)
    await CpuPressure().revert(ctx, state)
    assert hog_lines(web, marker_of(state)) == []


async def test_two_faults_end_only_their_own_hog(lab: Lab) -> None:
    web = lab.container()
    first = fault_context(CpuPressure(), target(container=web.name), {}, fault_name="a")
    second = fault_context(
        CpuPressure(), target(container=web.name), {}, fault_name="a2", run_id=first.run_id
    )
    one = await CpuPressure().inject(first, await CpuPressure().prepare(first))
    two = await CpuPressure().inject(second, await CpuPressure().prepare(second))
    await CpuPressure().revert(first, one)
    assert hog_lines(web, marker_of(one)) == []
    assert hog_lines(web, marker_of(two))
    await CpuPressure().revert(second, two)
    assert hog_lines(web, marker_of(two)) == []


async def test_revert_in_a_paused_container_says_so(lab: Lab) -> None:
    web = lab.container()
    ctx = fault_context(CpuPressure(), target(container=web.name), {})
    state = await CpuPressure().inject(ctx, await CpuPressure().prepare(ctx))
    web.client.api.pause(web.id)
    with pytest.raises(InjectorError, match="is paused"):
        await CpuPressure().revert(ctx, state)
    web.client.api.unpause(web.id)
    await CpuPressure().revert(ctx, state)
    assert hog_lines(web, marker_of(state)) == []


async def test_preflight_needs_a_shell(lab: Lab) -> None:
    web = lab.container(command=["sleep", "600"], publish=False)
    await CpuPressure().preflight(fault_context(CpuPressure(), target(container=web.name), {}))
    code, _ = web.exec("busybox", "rm", "/bin/sh")  # a distroless-like container
    assert code == 0
    ctx = fault_context(MemoryPressure(), target(container=web.name), {"memory": "8m"})
    with pytest.raises(InjectorError, match="a pressure fault needs a shell"):
        await MemoryPressure().preflight(ctx)

"""memory_limit and cpu_limit against a real engine: ``docker inspect`` and the
container's cgroup files (read on the host) show the limits, and revert puts
back exactly what was there, also across a recreated container."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from chaoskit_docker import NO_LIMIT, CpuLimit, CpuPressure, MemoryLimit
from docker_faults import containers_of, target
from docker_lab import Container, Lab

from chaoskit import FaultNotInForce, InjectorError
from chaoskit.testing import FaultTracker, fault_context, journal_roundtrip

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

MiB = 1 << 20


def memory(container: Container) -> tuple[int, int]:
    config = container.host_config()
    return config["Memory"], config["MemorySwap"]


def cgroup_memory(container: Container) -> tuple[str, str]:
    return (
        container.cgroup("memory", "memory.limit_in_bytes"),
        container.cgroup("memory", "memory.memsw.limit_in_bytes"),
    )


@pytest.mark.parametrize(
    ("created", "original"),
    [
        ({}, (0, 0)),
        ({"mem_limit": "128m"}, (128 * MiB, 256 * MiB)),  # the engine doubles it for swap
        ({"mem_limit": "128m", "memswap_limit": "192m"}, (128 * MiB, 192 * MiB)),
        ({"mem_limit": "128m", "memswap_limit": -1}, (128 * MiB, -1)),
    ],
)
async def test_memory_limit_is_set_and_restored_exactly(
    lab: Lab, faults: FaultTracker, created: dict[str, object], original: tuple[int, int]
) -> None:
    web = lab.container(**created)
    assert memory(web) == original
    cgroup_before = cgroup_memory(web)
    fault = await faults.apply(MemoryLimit(), target(container=web.name), {"memory": "64m"})
    await fault.verify()
    assert memory(web) == (64 * MiB, 64 * MiB)
    assert cgroup_memory(web) == (str(64 * MiB), str(64 * MiB))
    [entry] = containers_of(fault)
    assert (entry["memory"], entry["memory_swap"]) == original

    await MemoryLimit().revert(fault.ctx, journal_roundtrip(fault.revert_state))
    assert cgroup_memory(web) == cgroup_before  # the kernel sees exactly what it saw before
    restored = memory(web)
    if original == (0, 0):
        # The engine cannot clear a limit: "none" comes back as the kernel's "no limit".
        assert restored == (NO_LIMIT, NO_LIMIT)
    else:
        assert restored == original
    await fault.revert()  # twice: harmless
    assert memory(web) == restored
    with pytest.raises(FaultNotInForce, match="memory=64MiB"):
        await fault.verify()


async def test_memory_limit_with_swap(lab: Lab, faults: FaultTracker) -> None:
    web = lab.container()
    params = {"memory": "64m", "memory_swap": "unlimited"}
    fault = await faults.apply(MemoryLimit(), target(container=web.name), params)
    await fault.verify()
    assert memory(web) == (64 * MiB, -1)
    await fault.revert()
    assert cgroup_memory(web) == (str(NO_LIMIT), str(NO_LIMIT))


async def test_memory_limit_refuses_limits_changed_since_prepare(lab: Lab) -> None:
    web = lab.container(mem_limit="256m")
    ctx = fault_context(MemoryLimit(), target(container=web.name), {"memory": "64m"})
    state = await MemoryLimit().prepare(ctx)
    web.client.api.update_container(web.id, mem_limit="200m", memswap_limit="400m")
    with pytest.raises(InjectorError, match="changed since the fault was prepared"):
        await MemoryLimit().inject(ctx, state)
    assert memory(web) == (200 * MiB, 400 * MiB)
    await MemoryLimit().revert(ctx, state)  # not ours: left alone, with a report
    assert memory(web) == (200 * MiB, 400 * MiB)


async def test_memory_revert_onto_a_recreated_container(lab: Lab) -> None:
    """The container is removed and re-created under the same name meanwhile
    (a restart policy cannot do that; compose or an operator can)."""
    web = lab.container(mem_limit="256m", memswap_limit="512m")
    ctx = fault_context(MemoryLimit(), target(container=web.name), {"memory": "64m"})
    state = await MemoryLimit().inject(ctx, await MemoryLimit().prepare(ctx))

    # Re-created as a copy of the faulted one: it carries the fault's limit.
    web.client.api.remove_container(web.id, force=True)
    copy = lab.container(web.name, mem_limit="64m", memswap_limit="64m")
    await MemoryLimit().revert(ctx, journal_roundtrip(state))
    assert memory(copy) == (256 * MiB, 512 * MiB)

    # Re-created with limits of its own: reported, not overwritten.
    copy.client.api.remove_container(copy.id, force=True)
    other = lab.container(web.name, mem_limit="100m", memswap_limit="100m")
    with pytest.raises(InjectorError, match=rf"container {web.name} \(recreated as .*100MiB"):
        await MemoryLimit().revert(ctx, journal_roundtrip(state))
    assert memory(other) == (100 * MiB, 100 * MiB)

    # Gone for good: nothing left to restore.
    other.client.api.remove_container(other.id, force=True)
    await MemoryLimit().revert(ctx, journal_roundtrip(state))


async def test_cpu_quota_throttles_and_is_restored(lab: Lab, faults: FaultTracker) -> None:
    web = lab.container()
    quota_before = web.cgroup("cpu", "cpu.cfs_quota_us")
    fault = await faults.apply(CpuLimit(), target(container=web.name), {"cpus": 0.05})
    await fault.verify()
    config = web.host_config()
    assert (config["CpuQuota"], config["CpuPeriod"], config["NanoCpus"]) == (5000, 0, 0)
    assert web.cgroup("cpu", "cpu.cfs_quota_us") == "5000"

    def cpu() -> dict[str, Any]:
        stats: dict[str, Any] = web.stats()["cpu_stats"]
        return stats

    before = cpu()["throttling_data"]["throttled_periods"]
    hog = await faults.apply(CpuPressure(), target(container=web.name), {"workers": 2})
    deadline = time.monotonic() + 10
    while cpu()["throttling_data"]["throttled_periods"] - before < 3:  # 5 ms of every 100 ms
        assert time.monotonic() < deadline, cpu()
        await anyio.sleep(0.1)
    used, started = cpu()["cpu_usage"]["total_usage"], time.monotonic()
    await anyio.sleep(1.0)
    share = (cpu()["cpu_usage"]["total_usage"] - used) / ((time.monotonic() - started) * 1e9)
    assert share < 0.05 * 2  # two busy loops held to the quota (with a wide margin)
    await hog.revert()

    await fault.revert()
    assert web.cgroup("cpu", "cpu.cfs_quota_us") == quota_before == "-1"
    config = web.host_config()
    assert (config["CpuQuota"], config["NanoCpus"]) == (-1, 0)  # -1: the kernel's "no quota"
    await fault.revert()
    assert web.host_config()["CpuQuota"] == -1


async def test_cpu_limit_keeps_to_nano_cpus_and_restores_them(
    lab: Lab, faults: FaultTracker
) -> None:
    web = lab.container(nano_cpus=1_500_000_000)
    fault = await faults.apply(CpuLimit(), target(container=web.name), {"cpus": 0.5})
    await fault.verify()
    assert web.host_config()["NanoCpus"] == 500_000_000
    assert web.cgroup("cpu", "cpu.cfs_quota_us") == "50000"
    await fault.revert()
    assert web.host_config()["NanoCpus"] == 1_500_000_000
    assert web.cgroup("cpu", "cpu.cfs_quota_us") == "150000"


async def test_cpu_quota_with_a_period_of_its_own(lab: Lab, faults: FaultTracker) -> None:
    web = lab.container(cpu_period=50000, cpu_quota=40000)
    fault = await faults.apply(CpuLimit(), target(container=web.name), {"cpus": 0.1})
    assert (web.host_config()["CpuQuota"], web.host_config()["CpuPeriod"]) == (5000, 50000)
    await fault.revert()
    assert (web.host_config()["CpuQuota"], web.host_config()["CpuPeriod"]) == (40000, 50000)


async def test_cpuset_is_set_and_restored(lab: Lab, faults: FaultTracker) -> None:
    web = lab.container()
    cpus_before = web.cgroup("cpuset", "cpuset.cpus")
    fault = await faults.apply(CpuLimit(), target(container=web.name), {"cpuset": "0"})
    await fault.verify()
    assert web.host_config()["CpusetCpus"] == "0"
    assert web.cgroup("cpuset", "cpuset.cpus") == "0"
    await fault.revert()
    assert web.cgroup("cpuset", "cpuset.cpus") == cpus_before
    [entry] = containers_of(fault)
    assert web.host_config()["CpusetCpus"] == entry["all_cpus"]  # "" comes back as every CPU


async def test_cpu_revert_onto_a_recreated_container(lab: Lab) -> None:
    web = lab.container(cpu_quota=80000)
    ctx = fault_context(CpuLimit(), target(container=web.name), {"cpus": 0.3})
    state = await CpuLimit().inject(ctx, await CpuLimit().prepare(ctx))
    web.client.api.remove_container(web.id, force=True)
    copy = lab.container(web.name, cpu_quota=30000)
    await CpuLimit().revert(ctx, journal_roundtrip(state))
    assert copy.host_config()["CpuQuota"] == 80000

"""The four probes against a real engine, each against what the test does to
the container directly (with the SDK, not the injectors)."""

from __future__ import annotations

import anyio
import pytest
from chaoskit_docker import CpuProbe, MemoryProbe, RestartsProbe, StateProbe
from docker_faults import probing, target
from docker_lab import Lab, wait_until

from chaoskit import PluginError

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

HOG = "while :; do :; done"


async def test_state_probe(lab: Lab) -> None:
    web = lab.container()
    selector = target(container=web.name)
    async with probing() as observe:
        seen = await observe(StateProbe(), selector, {"target": "web"}, {"status": "running"})
        assert seen.ok, seen.detail
        assert seen.value == {web.name: {"status": "running", "health": "none"}}
        web.client.api.pause(web.id)
        seen = await observe(StateProbe(), selector, {"target": "web"}, {"status": "running"})
        assert not seen.ok
        assert "status paused, expected running" in seen.detail
        web.client.api.unpause(web.id)
        gone = target(container="chaoskit-test-nothing-here")
        seen = await observe(StateProbe(), gone, {"target": "web"}, {})
        assert not seen.ok
        assert "no container 'chaoskit-test-nothing-here'" in seen.detail


async def test_state_probe_reads_health(lab: Lab) -> None:
    healthcheck = {"test": ["CMD", "true"], "interval": 100_000_000, "retries": 1}
    web = lab.container(healthcheck=healthcheck)
    await anyio.to_thread.run_sync(
        lambda: wait_until(
            lambda: web.inspect()["State"]["Health"]["Status"] == "healthy", "healthy"
        )
    )
    async with probing() as observe:
        seen = await observe(
            StateProbe(), target(labels=lab.labels), {"target": "web"}, {"health": "healthy"}
        )
    assert seen.ok, seen.detail


async def test_restarts_probe_counts_policy_restarts(lab: Lab) -> None:
    crashing = lab.container(
        command=["sh", "-c", "sleep 0.2; exit 3"],
        publish=False,
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
    )
    await anyio.to_thread.run_sync(
        lambda: wait_until(lambda: crashing.inspect()["RestartCount"] >= 1, "a restart")
    )
    async with probing() as observe:
        seen = await observe(
            RestartsProbe(), target(container=crashing.name), {"target": "c"}, {"count": "== 0"}
        )
    assert not seen.ok
    assert isinstance(seen.value, dict)
    assert seen.value[crashing.name] >= 1  # type: ignore[operator]


async def test_memory_probe_sees_what_the_container_holds(lab: Lab) -> None:
    web = lab.container(command=["sleep", "600"], publish=False)
    selector = target(container=web.name)
    async with probing() as observe:
        idle = await observe(MemoryProbe(), selector, {"target": "w"}, {"mib": "< 8"})
        assert idle.ok, idle.detail
        web.client.api.exec_start(
            web.client.api.exec_create(
                web.id, ["sh", "-c", "dd if=/dev/zero bs=40M count=1 | sleep 30"]
            )["Id"],
            detach=True,
        )
        await anyio.sleep(1.0)
        busy = await observe(MemoryProbe(), selector, {"target": "w"}, {"mib": "< 8"})
    assert not busy.ok
    assert isinstance(busy.value, dict)
    assert 35 <= busy.value[web.name] <= 60  # type: ignore[operator]


async def test_cpu_probe_sees_a_busy_container(lab: Lab) -> None:
    web = lab.container(command=["sleep", "600"], publish=False)
    selector = target(container=web.name)
    async with probing() as observe:
        idle = await observe(CpuProbe(), selector, {"target": "w"}, {"percent": "< 10"})
        assert idle.ok, idle.detail
        web.client.api.exec_start(
            web.client.api.exec_create(web.id, ["sh", "-c", HOG])["Id"], detach=True
        )
        busy = await observe(CpuProbe(), selector, {"target": "w"}, {"percent": "< 10"})
    assert not busy.ok
    assert isinstance(busy.value, dict)
    assert busy.value[web.name] > 20  # type: ignore[operator]


async def test_probes_fail_a_sample_for_a_stopped_container(lab: Lab) -> None:
    web = lab.container(command=["sleep", "600"], publish=False)
    web.client.api.kill(web.id)
    selector = target(container=web.name)
    async with probing() as observe:
        for probe in (MemoryProbe(), CpuProbe()):
            seen = await observe(probe, selector, {"target": "w"}, {})
            assert not seen.ok
            assert "exited" in seen.detail


async def test_an_unreachable_engine_is_a_failed_sample() -> None:
    selector = target(container="x", docker_host="unix:///nonexistent/docker.sock")
    async with probing() as observe:
        seen = await observe(StateProbe(), selector, {"target": "x"}, {})
    assert not seen.ok
    assert "cannot reach the Docker engine at unix:///nonexistent/docker.sock" in seen.detail


async def test_a_target_of_another_kind_is_a_plugin_error() -> None:
    from chaoskit_toxiproxy import ProxyTarget

    async with probing() as observe:
        with pytest.raises(PluginError, match=r"needs a docker.container target"):
            await observe(StateProbe(), ProxyTarget(name="p"), {"target": "x"}, {})

"""Preflight (reachability, ensure-exists) and the toxiproxy.proxy_state probe."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, TypeVar

import pytest
import structlog
from chaoskit_toxiproxy import Down, Latency, ProxyStateExpect, ProxyStateProbe, ProxyTarget
from servers import HOST, ProxyHandle, ToxiproxyServer, delete_proxy, free_port
from toxiproxy_checks import proxy_json, toxic_names
from toxiproxy_faults import target_of

from chaoskit import Expect, InjectorError, Params, PluginError, ProbeContext, TargetSpec
from chaoskit.testing import FaultTracker, fault_context

pytestmark = pytest.mark.integration
T = TypeVar("T")


@pytest.fixture
def unique_name(toxiproxy_server: ToxiproxyServer) -> Iterator[str]:
    """A proxy name nobody uses; the proxy is deleted after the test if created."""
    name = f"ensure-{uuid.uuid4().hex[:8]}"
    yield name
    delete_proxy(toxiproxy_server.url, name)


@pytest.mark.anyio
async def test_preflight_leaves_a_missing_proxy_to_the_runs_setup(
    toxiproxy_server: ToxiproxyServer, http_upstream: int, unique_name: str
) -> None:
    """Told how, preflight accepts a missing proxy and changes nothing: the
    run's setup step creates it (journaled) and deletes it at the end
    (test_proxy_cleanup.py)."""
    target = ProxyTarget(
        server=toxiproxy_server.url,
        name=unique_name,
        listen=f"{HOST}:{free_port()}",
        upstream=f"{HOST}:{http_upstream}",
    )

    await Latency().preflight(fault_context(Latency(), target, {"latency": "10ms"}))

    assert proxy_json(toxiproxy_server.url, unique_name) is None
    assert Latency().setup(fault_context(Latency(), target, {"latency": "10ms"})) is not None


@pytest.mark.anyio
async def test_preflight_creates_a_missing_proxy_to_keep(
    toxiproxy_server: ToxiproxyServer, http_upstream: int, unique_name: str
) -> None:
    listen = f"{HOST}:{free_port()}"
    target = ProxyTarget(
        server=toxiproxy_server.url,
        name=unique_name,
        listen=listen,
        upstream=f"{HOST}:{http_upstream}",
        keep=True,
    )
    ctx = fault_context(Latency(), target, {"latency": "10ms"})

    await Latency().preflight(ctx)
    await Latency().preflight(ctx)  # and finds it the second time

    state = proxy_json(toxiproxy_server.url, unique_name)
    assert state is not None
    assert (state["listen"], state["enabled"]) == (listen, True)
    assert Latency().setup(ctx) is None, "a kept proxy is no setup of the run"


@pytest.mark.anyio
async def test_preflight_needs_an_existing_proxy_otherwise(
    toxiproxy_server: ToxiproxyServer, unique_name: str
) -> None:
    target = ProxyTarget(server=toxiproxy_server.url, name=unique_name)

    with pytest.raises(InjectorError, match="does not exist"):
        await Down().preflight(fault_context(Down(), target, {}))
    assert proxy_json(toxiproxy_server.url, unique_name) is None


@pytest.mark.anyio
async def test_preflight_reports_an_unreachable_server() -> None:
    dead = f"http://{HOST}:{free_port()}"
    target = ProxyTarget(server=dead, name="anything")

    with pytest.raises(InjectorError, match=f"cannot reach Toxiproxy at {dead}"):
        await Latency().preflight(fault_context(Latency(), target, {"latency": "10ms"}))


@pytest.mark.anyio
async def test_preflight_refuses_another_target_kind(proxy: ProxyHandle) -> None:
    class OtherTarget(TargetSpec):
        kind: str = "other"

    ctx = fault_context(Latency(), target_of(proxy), {"latency": "10ms"})
    ctx = type(ctx)(**{**ctx.__dict__, "target": OtherTarget()})

    with pytest.raises(InjectorError, match=r"needs a toxiproxy\.proxy target"):
        await Latency().preflight(ctx)


class ResourceStack:
    """Opens each resource on first use and keeps it, like the runner does."""

    def __init__(self, stack: AsyncExitStack) -> None:
        self._stack = stack
        self._items: dict[str, Any] = {}

    async def get(self, key: str, factory: Callable[[], AbstractAsyncContextManager[T]]) -> T:
        if key not in self._items:
            self._items[key] = await self._stack.enter_async_context(factory())
        item: T = self._items[key]
        return item


@pytest.fixture
async def resources() -> AsyncIterator[ResourceStack]:
    async with AsyncExitStack() as stack:
        yield ResourceStack(stack)


def probe_context(
    resources: ResourceStack,
    target: TargetSpec | None,
    expect: dict[str, object],
    timeout: float = 2.0,
) -> ProbeContext:
    return ProbeContext(
        probe_name="proxy-state",
        params=ProxyStateProbe.params.model_validate({"target": "proxy-under-test"}),
        expect=ProxyStateExpect.model_validate(expect),
        timeout=timeout,
        target=target,
        log=structlog.get_logger(),
        resources=resources,
    )


@pytest.mark.anyio
async def test_probe_reports_enabled_and_toxics(
    proxy: ProxyHandle, faults: FaultTracker, resources: ResourceStack
) -> None:
    probe = ProxyStateProbe()
    healthy = {"enabled": True, "toxics": "== 0"}

    before = await probe.observe(probe_context(resources, target_of(proxy), healthy))
    assert before.ok, before.detail
    assert before.value == {"enabled": True, "toxics": []}

    fault = await faults.apply(Latency(), target_of(proxy), {"latency": "10ms"})
    during = await probe.observe(probe_context(resources, target_of(proxy), healthy))
    assert not during.ok
    assert during.value == {
        "enabled": True,
        "toxics": [
            {"name": f"{fault.ctx.tag}-downstream", "type": "latency", "stream": "downstream"}
        ],
    }
    assert "1 toxics, expected == 0" in during.detail

    await fault.revert()
    assert toxic_names(proxy.server_url, proxy.name) == []
    down = await faults.apply(Down(), target_of(proxy), {})
    disabled = await probe.observe(probe_context(resources, target_of(proxy), {"enabled": False}))
    assert disabled.ok, disabled.detail
    await down.revert()


@pytest.mark.anyio
async def test_probe_observes_a_missing_proxy_or_server_as_not_ok(
    toxiproxy_server: ToxiproxyServer, resources: ResourceStack
) -> None:
    probe = ProxyStateProbe()
    missing = ProxyTarget(server=toxiproxy_server.url, name=f"missing-{uuid.uuid4().hex[:8]}")
    dead = ProxyTarget(server=f"http://{HOST}:{free_port()}", name="anything")

    not_found = await probe.observe(probe_context(resources, missing, {}))
    unreachable = await probe.observe(probe_context(resources, dead, {}, timeout=1.0))

    assert not not_found.ok
    assert "not found" in not_found.detail
    assert not unreachable.ok
    assert "cannot reach" in unreachable.detail


@pytest.mark.anyio
async def test_probe_needs_a_proxy_target(resources: ResourceStack) -> None:
    with pytest.raises(PluginError, match=r"needs a toxiproxy\.proxy or toxiproxy\.proxies target"):
        await ProxyStateProbe().observe(probe_context(resources, None, {}))


def test_probe_expectations_validate() -> None:
    assert issubclass(ProxyStateProbe.params, Params)
    assert issubclass(ProxyStateProbe.expect, Expect)
    expect = ProxyStateExpect.model_validate({"enabled": True, "toxics": "< 2"})
    assert expect.toxics is not None
    assert expect.toxics.holds(1)
    assert not expect.toxics.holds(2)

"""toxiproxy.latency against a real Toxiproxy, plus the revert guarantees every
Toxiproxy injector shares (they run through the same base lifecycle)."""

from __future__ import annotations

import functools
import http.client

import anyio
import pytest
from chaoskit_toxiproxy import Latency
from servers import ProxyHandle, delete_proxy
from toxiproxy_checks import get_on, http_get, proxy_json, toxic_names, toxics_by_name
from toxiproxy_faults import target_of

from chaoskit import FaultNotInForce
from chaoskit.testing import FaultTracker

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

# Wide margins: only lower bounds on slowness, and an upper bound on "fast
# again" that is ~100x a loopback request.
LATENCY = "800ms"
SLOW_AT_LEAST = 0.75
FAST_BELOW = 0.4


async def get(port: int, path: str = "/health", timeout: float = 5.0) -> float:
    reply = await anyio.to_thread.run_sync(functools.partial(http_get, port, path, timeout=timeout))
    assert (reply.status, reply.body) == (200, b"ok")
    return reply.elapsed


async def test_latency_slows_requests_and_revert_restores(
    proxy: ProxyHandle, faults: FaultTracker
) -> None:
    assert await get(proxy.listen_port) < FAST_BELOW

    fault = await faults.apply(Latency(), target_of(proxy), {"latency": LATENCY})

    assert fault.revert_state == {
        "server": proxy.server_url,
        "proxy": proxy.name,
        "listen": proxy.listen,
        "upstream": proxy.upstream,
        "enabled": True,
        "toxics": [f"{fault.ctx.tag}-downstream"],
    }
    toxic = toxics_by_name(proxy.server_url, proxy.name)[f"{fault.ctx.tag}-downstream"]
    assert toxic["type"] == "latency"
    assert toxic["stream"] == "downstream"
    assert toxic["attributes"] == {"latency": 800, "jitter": 0}
    await Latency().verify(fault.ctx, fault.revert_state)
    assert await get(proxy.listen_port) >= SLOW_AT_LEAST

    await fault.revert()

    assert toxic_names(proxy.server_url, proxy.name) == []
    assert await get(proxy.listen_port) < FAST_BELOW
    with pytest.raises(FaultNotInForce):
        await Latency().verify(fault.ctx, fault.revert_state)


async def test_both_streams_add_two_toxics(proxy: ProxyHandle, faults: FaultTracker) -> None:
    fault = await faults.apply(
        Latency(), target_of(proxy), {"latency": "400ms", "jitter": "0ms", "stream": "both"}
    )

    toxics = toxics_by_name(proxy.server_url, proxy.name)
    assert {name: toxic["stream"] for name, toxic in toxics.items()} == {
        f"{fault.ctx.tag}-upstream": "upstream",
        f"{fault.ctx.tag}-downstream": "downstream",
    }
    assert await get(proxy.listen_port) >= 0.75  # 400ms each way

    await fault.revert()
    assert toxic_names(proxy.server_url, proxy.name) == []


async def test_latency_reaches_a_connection_opened_before_injection(
    proxy: ProxyHandle, faults: FaultTracker
) -> None:
    """Toxiproxy issue #444: a pooled connection opened before the toxic must
    feel it too. One keep-alive connection carries both requests."""
    connection = http.client.HTTPConnection("127.0.0.1", proxy.listen_port, timeout=5.0)
    try:
        before = await anyio.to_thread.run_sync(get_on, connection)
        assert connection.sock is not None
        local_address = connection.sock.getsockname()
        assert before.elapsed < FAST_BELOW

        await faults.apply(Latency(), target_of(proxy), {"latency": LATENCY})

        after = await anyio.to_thread.run_sync(get_on, connection)
        assert connection.sock is not None
        assert connection.sock.getsockname() == local_address, "the connection was not reused"
        assert (after.status, after.body) == (200, b"ok")
        assert after.elapsed >= SLOW_AT_LEAST
    finally:
        connection.close()


async def test_revert_only_removes_its_own_toxics(proxy: ProxyHandle, faults: FaultTracker) -> None:
    first = await faults.apply(Latency(), target_of(proxy), {"latency": "100ms"})
    second = await faults.apply(Latency(), target_of(proxy), {"latency": "100ms"})

    await first.revert()

    assert toxic_names(proxy.server_url, proxy.name) == [f"{second.ctx.tag}-downstream"]


async def test_revert_recreates_a_proxy_the_server_lost(
    proxy: ProxyHandle, faults: FaultTracker
) -> None:
    fault = await faults.apply(Latency(), target_of(proxy), {"latency": LATENCY})
    delete_proxy(proxy.server_url, proxy.name)  # as if Toxiproxy had restarted
    assert proxy_json(proxy.server_url, proxy.name) is None

    await fault.revert()

    recreated = proxy_json(proxy.server_url, proxy.name)
    assert recreated is not None
    assert recreated["listen"] == proxy.listen
    assert recreated["upstream"] == proxy.upstream
    assert recreated["enabled"] is True
    assert toxic_names(proxy.server_url, proxy.name) == []
    assert await get(proxy.listen_port) < FAST_BELOW


async def test_verify_fails_when_the_proxy_is_gone(
    proxy: ProxyHandle, faults: FaultTracker
) -> None:
    fault = await faults.apply(Latency(), target_of(proxy), {"latency": LATENCY})
    delete_proxy(proxy.server_url, proxy.name)

    with pytest.raises(FaultNotInForce, match="gone"):
        await Latency().verify(fault.ctx, fault.revert_state)

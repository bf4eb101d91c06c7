"""toxiproxy.down against a real Toxiproxy."""

from __future__ import annotations

import http.client

import anyio
import httpx
import pytest
from chaoskit_toxiproxy import Down
from servers import ProxyHandle, delete_proxy
from toxiproxy_checks import get_on, http_get, proxy_json, refuses_connections
from toxiproxy_faults import target_of

from chaoskit import FaultNotInForce, InjectorError
from chaoskit.testing import FaultTracker, fault_context

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def set_enabled(proxy: ProxyHandle, enabled: bool) -> None:
    response = httpx.post(
        f"{proxy.server_url}/proxies/{proxy.name}",
        json={"enabled": enabled},
        timeout=5.0,
        trust_env=False,
    )
    response.raise_for_status()


async def healthy(proxy: ProxyHandle) -> bool:
    reply = await anyio.to_thread.run_sync(http_get, proxy.listen_port)
    return (reply.status, reply.body) == (200, b"ok")


async def test_down_refuses_connections_and_revert_enables(
    proxy: ProxyHandle, faults: FaultTracker
) -> None:
    assert await healthy(proxy)

    fault = await faults.apply(Down(), target_of(proxy), {})

    assert fault.revert_state == {
        "server": proxy.server_url,
        "proxy": proxy.name,
        "listen": proxy.listen,
        "upstream": proxy.upstream,
        "enabled": True,
        "toxics": [],
    }
    await Down().verify(fault.ctx, fault.revert_state)
    assert await anyio.to_thread.run_sync(refuses_connections, proxy.listen_port)

    await fault.revert()

    state = proxy_json(proxy.server_url, proxy.name)
    assert state is not None
    assert state["enabled"] is True
    assert await healthy(proxy)
    with pytest.raises(FaultNotInForce):
        await Down().verify(fault.ctx, fault.revert_state)


async def test_down_cuts_open_connections(proxy: ProxyHandle, faults: FaultTracker) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.listen_port, timeout=5.0)
    try:
        await anyio.to_thread.run_sync(get_on, connection)

        await faults.apply(Down(), target_of(proxy), {})

        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            await anyio.to_thread.run_sync(get_on, connection)
    finally:
        connection.close()


async def test_revert_leaves_a_proxy_disabled_that_was_disabled_before(
    proxy: ProxyHandle, faults: FaultTracker
) -> None:
    set_enabled(proxy, False)

    fault = await faults.apply(Down(), target_of(proxy), {})
    assert isinstance(fault.revert_state, dict)
    assert fault.revert_state["enabled"] is False
    await fault.revert()

    state = proxy_json(proxy.server_url, proxy.name)
    assert state is not None
    assert state["enabled"] is False


async def test_revert_recreates_a_proxy_the_server_lost(
    proxy: ProxyHandle, faults: FaultTracker
) -> None:
    fault = await faults.apply(Down(), target_of(proxy), {})
    delete_proxy(proxy.server_url, proxy.name)  # as if Toxiproxy had restarted

    await fault.revert()

    state = proxy_json(proxy.server_url, proxy.name)
    assert state is not None
    assert (state["listen"], state["upstream"], state["enabled"]) == (
        proxy.listen,
        proxy.upstream,
        True,
    )
    assert await healthy(proxy)


async def test_revert_without_listen_and_upstream_says_what_to_do(proxy: ProxyHandle) -> None:
    """A revert state from a proxy the server lost, with nothing to re-create it from."""
    injector = Down()
    ctx = fault_context(injector, target_of(proxy), {})
    state = {
        "server": proxy.server_url,
        "proxy": f"{proxy.name}-never-existed",
        "enabled": True,
        "toxics": [],
    }

    with pytest.raises(InjectorError, match="re-create it by hand") as raised:
        await injector.revert(ctx, state)
    assert "never-existed" in str(raised.value)


async def test_revert_state_is_checked(proxy: ProxyHandle) -> None:
    injector = Down()
    ctx = fault_context(injector, target_of(proxy), {})

    with pytest.raises(InjectorError, match="malformed Toxiproxy revert state"):
        await injector.revert(ctx, {"proxy": proxy.name})


async def test_verify_fails_on_an_enabled_proxy(proxy: ProxyHandle) -> None:
    injector = Down()
    ctx = fault_context(injector, target_of(proxy), {})
    prior_state = await injector.prepare(ctx)

    with pytest.raises(FaultNotInForce, match="is enabled"):
        await injector.verify(ctx, prior_state)

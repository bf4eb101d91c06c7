"""Each toxic injector against a real Toxiproxy: its effect, seen by an
independent client, and that revert restores normal traffic."""

from __future__ import annotations

import functools

import anyio
import pytest
from chaoskit_toxiproxy import Bandwidth, LimitData, ResetPeer, Slicer, SlowClose, Timeout
from servers import ProxyHandle
from toxiproxy_checks import exchange_until_eof, http_get, toxic_names, toxics_by_name
from toxiproxy_faults import target_of

from chaoskit.testing import AppliedFault, FaultTracker

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

FAST_BELOW = 0.4  # ~100x a loopback request


async def get(port: int, path: str = "/health", timeout: float = 5.0) -> float:
    reply = await anyio.to_thread.run_sync(functools.partial(http_get, port, path, timeout=timeout))
    assert reply.status == 200
    return reply.elapsed


async def revert_and_check_healthy(fault: AppliedFault, proxy: ProxyHandle) -> None:
    await fault.revert()
    assert toxic_names(proxy.server_url, proxy.name) == []
    assert await get(proxy.listen_port) < FAST_BELOW


def attributes_of(fault: AppliedFault, proxy: ProxyHandle) -> object:
    return toxics_by_name(proxy.server_url, proxy.name)[f"{fault.ctx.tag}-downstream"]["attributes"]


async def test_timeout_zero_is_a_black_hole(proxy: ProxyHandle, faults: FaultTracker) -> None:
    fault = await faults.apply(Timeout(), target_of(proxy), {"timeout": 0})

    with pytest.raises(TimeoutError):
        await anyio.to_thread.run_sync(functools.partial(http_get, proxy.listen_port, timeout=1.0))

    await revert_and_check_healthy(fault, proxy)


async def test_timeout_closes_the_connection_after_the_timeout(
    proxy: ProxyHandle, faults: FaultTracker
) -> None:
    fault = await faults.apply(Timeout(), target_of(proxy), {"timeout": "500ms"})
    assert attributes_of(fault, proxy) == {"timeout": 500}

    # Keep-alive: the upstream does not close; only the toxic's timeout does.
    exchange = await anyio.to_thread.run_sync(
        functools.partial(exchange_until_eof, proxy.listen_port, keep_alive=True)
    )

    assert exchange.data == b""  # closed without an answer ...
    assert exchange.eof_after >= 0.45  # ... after the timeout
    await revert_and_check_healthy(fault, proxy)


async def test_reset_peer_resets_the_connection(proxy: ProxyHandle, faults: FaultTracker) -> None:
    fault = await faults.apply(ResetPeer(), target_of(proxy), {})

    with pytest.raises(ConnectionResetError):
        await anyio.to_thread.run_sync(exchange_until_eof, proxy.listen_port)

    await revert_and_check_healthy(fault, proxy)


async def test_bandwidth_limits_throughput(proxy: ProxyHandle, faults: FaultTracker) -> None:
    # 64 KiB at 16 KB/s take about 4 s; unthrottled, well under FAST_BELOW.
    assert await get(proxy.listen_port, "/bytes/65536") < FAST_BELOW
    fault = await faults.apply(Bandwidth(), target_of(proxy), {"rate": 16})
    assert attributes_of(fault, proxy) == {"rate": 16}

    assert await get(proxy.listen_port, "/bytes/65536", timeout=15.0) >= 2.0

    await revert_and_check_healthy(fault, proxy)


async def test_limit_data_cuts_the_connection(proxy: ProxyHandle, faults: FaultTracker) -> None:
    fault = await faults.apply(LimitData(), target_of(proxy), {"bytes": 100})

    exchange = await anyio.to_thread.run_sync(exchange_until_eof, proxy.listen_port, "/bytes/10000")

    assert len(exchange.data) <= 100
    assert exchange.data.startswith(b"HTTP/1.1 200")
    await revert_and_check_healthy(fault, proxy)
    whole = await anyio.to_thread.run_sync(exchange_until_eof, proxy.listen_port, "/bytes/10000")
    assert len(whole.data) > 10000


async def test_slicer_delays_each_slice(proxy: ProxyHandle, faults: FaultTracker) -> None:
    # ~1.1 KB in slices of 100±20 bytes, 100 ms apart: at least ~9 slices, ~0.9 s.
    fault = await faults.apply(
        Slicer(),
        target_of(proxy),
        {"average_size": 100, "size_variation": 20, "delay": "100ms"},
    )
    assert attributes_of(fault, proxy) == {
        "average_size": 100,
        "size_variation": 20,
        "delay": 100_000,  # microseconds
    }

    exchange = await anyio.to_thread.run_sync(exchange_until_eof, proxy.listen_port, "/bytes/1000")

    assert exchange.data.endswith(b"x" * 1000)  # everything arrives ...
    assert exchange.eof_after >= 0.6  # ... slowly
    await revert_and_check_healthy(fault, proxy)


async def test_slow_close_holds_back_the_close(proxy: ProxyHandle, faults: FaultTracker) -> None:
    fault = await faults.apply(SlowClose(), target_of(proxy), {"delay": "800ms"})

    exchange = await anyio.to_thread.run_sync(exchange_until_eof, proxy.listen_port)

    assert exchange.data.endswith(b"\r\n\r\nok")  # the answer comes at once ...
    assert exchange.first_byte_after is not None
    assert exchange.first_byte_after < FAST_BELOW
    assert exchange.eof_after >= 0.75  # ... the close only after the delay
    await revert_and_check_healthy(fault, proxy)
    unhurried = await anyio.to_thread.run_sync(exchange_until_eof, proxy.listen_port)
    assert unhurried.eof_after < FAST_BELOW


async def test_toxicity_zero_affects_nothing(proxy: ProxyHandle, faults: FaultTracker) -> None:
    fault = await faults.apply(Timeout(), target_of(proxy), {"timeout": 0, "toxicity": 0})

    assert await get(proxy.listen_port, timeout=2.0) < FAST_BELOW
    toxic = toxics_by_name(proxy.server_url, proxy.name)[f"{fault.ctx.tag}-downstream"]
    assert toxic["toxicity"] == 0


async def test_upstream_stream_toxic(proxy: ProxyHandle, faults: FaultTracker) -> None:
    """A timeout on the upstream stream: the request never reaches the server."""
    fault = await faults.apply(Timeout(), target_of(proxy), {"timeout": 0, "stream": "upstream"})

    assert toxic_names(proxy.server_url, proxy.name) == [f"{fault.ctx.tag}-upstream"]
    with pytest.raises(TimeoutError):
        await anyio.to_thread.run_sync(functools.partial(http_get, proxy.listen_port, timeout=1.0))
    await revert_and_check_healthy(fault, proxy)

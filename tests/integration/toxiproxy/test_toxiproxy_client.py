"""The async Toxiproxy API client against a real server."""

from __future__ import annotations

import socket
import uuid

import anyio
import pytest
from chaoskit_toxiproxy import (
    ProxyAlreadyExists,
    ProxyNotFound,
    ToxicAlreadyExists,
    ToxicNotFound,
    ToxiproxyApiError,
    ToxiproxyClient,
)
from servers import HOST, ToxiproxyServer, delete_proxy, free_port

from chaoskit import InjectorError

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_proxy_and_toxic_round_trip(
    toxiproxy_server: ToxiproxyServer, http_upstream: int
) -> None:
    name = f"client-{uuid.uuid4().hex[:8]}"
    listen = f"{HOST}:{free_port()}"
    upstream = f"{HOST}:{http_upstream}"
    try:
        async with ToxiproxyClient(toxiproxy_server.url) as client:
            assert (await client.version()).startswith("2.")
            created = await client.create_proxy(name, listen=listen, upstream=upstream)
            assert (created.name, created.listen, created.upstream, created.enabled) == (
                name,
                listen,
                upstream,
                True,
            )
            assert name in await client.list_proxies()
            with pytest.raises(ProxyAlreadyExists):
                await client.create_proxy(name, listen=listen, upstream=upstream)

            toxic = await client.add_toxic(
                name,
                name="slow",
                type="latency",
                stream="upstream",
                toxicity=0.5,
                attributes={"latency": 100, "jitter": 10},
            )
            assert (toxic.name, toxic.type, toxic.stream, toxic.toxicity) == (
                "slow",
                "latency",
                "upstream",
                0.5,
            )
            assert toxic.attributes == {"latency": 100, "jitter": 10}
            with pytest.raises(ToxicAlreadyExists):
                await client.add_toxic(
                    name, name="slow", type="latency", stream="upstream", toxicity=1, attributes={}
                )
            assert [t.name for t in (await client.get_proxy(name)).toxics] == ["slow"]

            assert (await client.set_enabled(name, False)).enabled is False
            assert (await client.set_enabled(name, True)).enabled is True

            await client.remove_toxic(name, "slow")
            assert await client.list_toxics(name) == []
            with pytest.raises(ToxicNotFound):
                await client.remove_toxic(name, "slow")

            await client.delete_proxy(name)
            with pytest.raises(ProxyNotFound):
                await client.get_proxy(name)
            with pytest.raises(ProxyNotFound):
                await client.remove_toxic(name, "slow")
    finally:
        delete_proxy(toxiproxy_server.url, name)


async def test_server_errors_are_injector_errors(toxiproxy_server: ToxiproxyServer) -> None:
    async with ToxiproxyClient(toxiproxy_server.url) as client:
        with pytest.raises(ToxiproxyApiError, match="HTTP 400") as raised:
            await client.create_proxy("", listen=f"{HOST}:{free_port()}", upstream=f"{HOST}:1")
    assert isinstance(raised.value, InjectorError)
    assert raised.value.status == 400


async def test_clients_of_different_servers_do_not_share_state(
    toxiproxy_server: ToxiproxyServer,
) -> None:
    """The reason this client exists: toxiproxy-python keeps host and port in
    class-level state, so a second server would redirect the first client."""
    dead_url = f"http://{HOST}:{free_port()}"
    async with (
        ToxiproxyClient(toxiproxy_server.url) as live,
        ToxiproxyClient(dead_url, timeout=1.0) as dead,
    ):
        with pytest.raises(InjectorError, match=f"cannot reach Toxiproxy at {dead_url}"):
            await dead.list_proxies()
        assert isinstance(await live.list_proxies(), dict)
    assert live.url == toxiproxy_server.url


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ToxiproxyClient("http://127.0.0.1:8474", timeout=0)


async def test_a_server_that_does_not_answer_times_out() -> None:
    # A listening socket nobody accepts on: connecting works, no answer ever comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind((HOST, 0))
        silent.listen(8)
        url = f"http://{HOST}:{silent.getsockname()[1]}"
        async with ToxiproxyClient(url, timeout=0.5) as client:
            with anyio.fail_after(5):
                with pytest.raises(InjectorError, match=url):
                    await client.version()

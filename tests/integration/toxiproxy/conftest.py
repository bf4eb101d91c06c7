"""A check after every test that it left no proxy behind (it deletes what it
reports); the ``faults`` fixture (a chaoskit.testing.FaultTracker: preflight →
prepare → inject like the runner, and at teardown the revert of whatever a test
left applied, failing the test if that revert fails); proxies with chosen
names, and the tick upstream of the partition tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from servers import ProxyHandle, ToxiproxyServer, create_proxy, delete_proxy
from tick_server import TickServer, start_tick_server
from toxiproxy_faults import MakeNamedProxy

from chaoskit.testing import FaultTracker


@pytest.fixture(autouse=True)
def nothing_leaked(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that uses the session's Toxiproxy: no proxy left on it that
    the test's fixtures did not delete (one a preflight created, say). A leak fails
    the test that made it, and is deleted, so that the tests after it start clean."""
    if "toxiproxy_server" not in request.fixturenames:
        yield
        return
    server: ToxiproxyServer = request.getfixturevalue("toxiproxy_server")
    before = set(_proxy_names(server.url))
    yield
    left = sorted(set(_proxy_names(server.url)) - before)
    if not left:
        return
    for name in left:
        delete_proxy(server.url, name)
    pytest.fail(f"left on Toxiproxy (now deleted): proxies {left}", pytrace=False)


def _proxy_names(server_url: str) -> list[str]:
    response = httpx.get(f"{server_url}/proxies", timeout=5.0, trust_env=False)
    response.raise_for_status()
    return list(response.json())


@pytest.fixture
def make_named_proxy(toxiproxy_server: ToxiproxyServer) -> Iterator[MakeNamedProxy]:
    """Factory: ``make_named_proxy(name, upstream)`` creates an enabled proxy
    of that name in the session's Toxiproxy; every one is deleted afterwards."""
    created: list[ProxyHandle] = []

    def make(name: str, upstream: str) -> ProxyHandle:
        handle = create_proxy(toxiproxy_server.url, name, upstream)
        created.append(handle)
        return handle

    yield make
    for handle in created:
        delete_proxy(toxiproxy_server.url, handle.name)


@pytest.fixture
def tick_upstream() -> Iterator[TickServer]:
    """A TCP server on 127.0.0.1 that ticks to every client and keeps what it
    receives (see tick_server.py)."""
    server = start_tick_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def faults(
    # set up first, so torn down after the reverts
    make_proxy: Callable[..., ProxyHandle],
    make_named_proxy: MakeNamedProxy,
) -> AsyncIterator[FaultTracker]:
    """``await faults.apply(injector, target, params)`` runs preflight, prepare
    and inject and returns a chaoskit.testing.AppliedFault. Every fault still
    applied is reverted at teardown, which fails if a revert does."""
    async with FaultTracker() as tracker:
        yield tracker

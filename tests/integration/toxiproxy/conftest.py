"""The ``apply_fault`` fixture: prepare → inject like the runner, and a safety
net that reverts whatever a failing test left applied; proxies with chosen
names, and the tick upstream of the partition tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from servers import ProxyHandle, ToxiproxyServer, create_proxy, delete_proxy
from tick_server import TickServer, start_tick_server
from toxiproxy_faults import Applied, ApplyFault, MakeNamedProxy, fault_context

from chaoskit import Injector, TargetSpec


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
async def apply_fault(
    # set up first, so torn down after the reverts
    make_proxy: Callable[..., ProxyHandle],
    make_named_proxy: MakeNamedProxy,
) -> AsyncIterator[ApplyFault]:
    """``await apply_fault(injector, target, params)`` runs preflight, prepare
    and inject, and returns an :class:`Applied`. Everything applied is reverted
    at teardown; reverting an already reverted fault is a no-op."""
    applied: list[Applied] = []

    async def apply(injector: Injector, target: TargetSpec, params: dict[str, Any]) -> Applied:
        ctx = fault_context(injector, target, params)
        await injector.preflight(ctx)
        prior_state = await injector.prepare(ctx)
        fault = Applied(injector, ctx, prior_state)
        applied.append(fault)
        fault.revert_state = await injector.inject(ctx, prior_state)
        return fault

    yield apply
    for fault in reversed(applied):
        await fault.revert()

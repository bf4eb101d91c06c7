"""The ``apply_fault`` fixture: prepare → inject like the runner, and a safety
net that reverts whatever a failing test left applied."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from chaoskit_toxiproxy import ProxyTarget
from servers import ProxyHandle
from toxiproxy_faults import Applied, ApplyFault, fault_context

from chaoskit import Injector


@pytest.fixture
async def apply_fault(
    make_proxy: Callable[..., ProxyHandle],  # set up first, so torn down after the reverts
) -> AsyncIterator[ApplyFault]:
    """``await apply_fault(injector, target, params)`` runs preflight, prepare
    and inject, and returns an :class:`Applied`. Everything applied is reverted
    at teardown; reverting an already reverted fault is a no-op."""
    applied: list[Applied] = []

    async def apply(injector: Injector, target: ProxyTarget, params: dict[str, Any]) -> Applied:
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

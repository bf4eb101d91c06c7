"""Helpers to drive Toxiproxy injectors the way the runner does."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from chaoskit_toxiproxy import ProxyTarget
from servers import ProxyHandle

from chaoskit import FaultContext, Injector, JsonValue, TargetSpec


def target_of(proxy: ProxyHandle, *, ensure: bool = False) -> ProxyTarget:
    """The chaoskit target of a test proxy; with ``ensure`` it carries
    listen/upstream, so that preflight creates the proxy when it is missing."""
    if ensure:
        return ProxyTarget(
            server=proxy.server_url, name=proxy.name, listen=proxy.listen, upstream=proxy.upstream
        )
    return ProxyTarget(server=proxy.server_url, name=proxy.name)


def fault_context(
    injector: Injector, target: TargetSpec, params: dict[str, Any], *, fault_name: str = "f"
) -> FaultContext:
    """A context as the runner builds it, params validated by the injector's model."""
    return FaultContext(
        run_id=uuid.uuid4().hex[:12],
        fault_name=fault_name,
        target_name="proxy-under-test",
        target=target,
        params=injector.params.model_validate(params),
        log=structlog.get_logger(),
    )


@dataclass
class Applied:
    """A fault that went through preflight, prepare and inject."""

    injector: Injector
    ctx: FaultContext
    revert_state: JsonValue

    async def revert(self) -> None:
        await self.injector.revert(self.ctx, self.revert_state)


ApplyFault = Callable[[Injector, TargetSpec, dict[str, Any]], Awaitable[Applied]]
"""The type of the ``apply_fault`` fixture."""

MakeNamedProxy = Callable[[str, str], ProxyHandle]
"""The type of the ``make_named_proxy`` fixture: ``(name, upstream) -> proxy``."""

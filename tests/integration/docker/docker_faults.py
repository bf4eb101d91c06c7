"""Docker targets, the revert state's container entries, probes driven the way
the runner does, and an independent HTTP check of a container's published
port. Faults are driven with chaoskit.testing (the ``faults`` fixture)."""

from __future__ import annotations

import http.client
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from chaoskit_docker import ContainerTarget

from chaoskit import Observation, Probe, ProbeContext, TargetSpec
from chaoskit.testing import AppliedFault

T = TypeVar("T")


def target(**selector: Any) -> ContainerTarget:
    return ContainerTarget.model_validate({"kind": "docker.container", **selector})


def containers_of(fault: AppliedFault) -> list[dict[str, Any]]:
    """The container entries of a fault's revert state."""
    assert isinstance(fault.revert_state, dict)
    entries = fault.revert_state["containers"]
    assert isinstance(entries, list)
    return [entry for entry in entries if isinstance(entry, dict)]


def http_status(port: int, *, timeout: float = 2.0) -> int | str:
    """The status of ``GET /health`` on 127.0.0.1:port, or what went wrong."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__
    finally:
        connection.close()


def answers(port: int, *, timeout: float = 2.0) -> bool:
    return http_status(port, timeout=timeout) == 200


@dataclass
class Resources:
    """A stand-in for the core's run resources (``ProbeContext.resources``)."""

    stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    items: dict[str, Any] = field(default_factory=dict)

    async def get(self, key: str, factory: Callable[[], AbstractAsyncContextManager[T]]) -> T:
        if key not in self.items:
            self.items[key] = await self.stack.enter_async_context(factory())
        value: T = self.items[key]
        return value


@asynccontextmanager
async def probing() -> AsyncIterator[Callable[..., Awaitable[Observation]]]:
    """``observe(probe, target, params, expect, timeout=5)`` for one sample; the
    resources are closed at the end."""
    resources = Resources()

    async def observe(
        probe: Probe,
        target_spec: TargetSpec,
        params: dict[str, Any],
        expect: dict[str, Any],
        timeout: float = 5.0,
    ) -> Observation:
        ctx = ProbeContext(
            probe_name="p",
            params=probe.params.model_validate(params),
            expect=probe.expect.model_validate(expect),
            timeout=timeout,
            target=target_spec,
            log=structlog.get_logger(),
            resources=resources,
        )
        return await probe.observe(ctx)

    try:
        yield observe
    finally:
        await resources.stack.aclose()

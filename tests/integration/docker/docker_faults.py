"""Driving Docker injectors and probes the way the runner does, and an
independent HTTP check of a container's published port."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from chaoskit_docker import ContainerTarget

from chaoskit import (
    FaultContext,
    Injector,
    JsonValue,
    Observation,
    Probe,
    ProbeContext,
    TargetSpec,
)

T = TypeVar("T")


def fault_context(
    injector: Injector,
    target: TargetSpec,
    params: dict[str, Any],
    *,
    fault_name: str = "f",
    run_id: str | None = None,
) -> FaultContext:
    """A context as the runner builds it, params validated by the injector's model."""
    return FaultContext(
        run_id=run_id or uuid.uuid4().hex[:12],
        fault_name=fault_name,
        target_name="container-under-test",
        target=target,
        params=injector.params.model_validate(params),
        log=structlog.get_logger(),
    )


def target(**selector: Any) -> ContainerTarget:
    return ContainerTarget.model_validate({"kind": "docker.container", **selector})


def roundtrip(state: JsonValue) -> JsonValue:
    """The state as the journal gives it back."""
    loaded: JsonValue = json.loads(json.dumps(state))
    return loaded


@dataclass
class Applied:
    """A fault that went through preflight, prepare and inject."""

    injector: Injector
    ctx: FaultContext
    revert_state: JsonValue

    async def revert(self) -> None:
        await self.injector.revert(self.ctx, roundtrip(self.revert_state))

    async def verify(self) -> None:
        verify = getattr(self.injector, "verify", None)
        assert verify is not None
        await verify(self.ctx, self.revert_state)

    @property
    def containers(self) -> list[dict[str, Any]]:
        assert isinstance(self.revert_state, dict)
        entries = self.revert_state["containers"]
        assert isinstance(entries, list)
        return [entry for entry in entries if isinstance(entry, dict)]


ApplyFault = Callable[[Injector, TargetSpec, dict[str, Any]], Awaitable[Applied]]


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

"""Driving process injectors and probes the way the runner does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from chaoskit_process import ProcessTarget

from chaoskit import Expect, FaultContext, Injector, JsonValue, Params, ProbeContext, TargetSpec

T = TypeVar("T")


def target(**selector: Any) -> ProcessTarget:
    return ProcessTarget.model_validate({"kind": "process", **selector})


def fault_context(
    injector: Injector,
    process_target: TargetSpec,
    params: dict[str, Any],
    *,
    run_id: str,
    fault_name: str = "f",
) -> FaultContext:
    """A context as the runner builds it, params validated by the injector's model."""
    return FaultContext(
        run_id=run_id,
        fault_name=fault_name,
        target_name="victim",
        target=process_target,
        params=injector.params.model_validate(params),
        log=structlog.get_logger(),
    )


class NoResources:
    """Process probes keep no run-long resources."""

    async def get(self, key: str, factory: Callable[[], AbstractAsyncContextManager[T]]) -> T:
        raise AssertionError(f"unexpected resource {key!r}")


def probe_context(
    params: Params, expect: Expect, *, target: TargetSpec | None = None, timeout: float = 2.0
) -> ProbeContext:
    return ProbeContext(
        probe_name="p",
        params=params,
        expect=expect,
        timeout=timeout,
        target=target,
        log=structlog.get_logger(),
        resources=NoResources(),
    )


@dataclass
class Applied:
    """A fault that went through preflight, prepare and inject."""

    injector: Injector
    ctx: FaultContext
    prior_state: JsonValue
    revert_state: JsonValue = None

    async def revert(self) -> None:
        await self.injector.revert(self.ctx, self.revert_state or self.prior_state)


ApplyFault = Callable[[Injector, TargetSpec, dict[str, Any]], Awaitable[Applied]]
"""The type of the ``apply_fault`` fixture."""

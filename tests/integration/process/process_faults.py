"""Targets and probe contexts for the process family's tests. Faults are
driven with chaoskit.testing (the ``faults`` fixture)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import structlog
from chaoskit_process import ProcessTarget

from chaoskit import Expect, Params, ProbeContext, TargetSpec

T = TypeVar("T")


def target(**selector: Any) -> ProcessTarget:
    return ProcessTarget.model_validate({"kind": "process", **selector})


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

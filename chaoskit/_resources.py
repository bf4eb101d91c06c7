"""The run-scoped resource cache behind ``ProbeContext.resources``."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, TypeVar, cast

import anyio

__all__ = ["RunResources"]

T = TypeVar("T")


class RunResources:
    """Opens each resource once, on first use; ``aclose`` closes them all."""

    def __init__(self) -> None:
        self._stack = AsyncExitStack()
        self._items: dict[str, Any] = {}
        self._lock = anyio.Lock()

    async def get(self, key: str, factory: Callable[[], AbstractAsyncContextManager[T]]) -> T:
        if key in self._items:
            return cast(T, self._items[key])
        async with self._lock:
            if key not in self._items:
                self._items[key] = await self._stack.enter_async_context(factory())
            return cast(T, self._items[key])

    def provide(self, key: str, value: object) -> None:
        """Offer something the run owns (a load stream's recent answers) under ``key``."""
        self._items[key] = value

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._stack.aclose()
        self._items.clear()

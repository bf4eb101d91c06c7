"""The injector contract as pytest tests: :class:`InjectorContract`, re-exported
by :mod:`chaoskit.testing` (this module imports pytest; that one does not)."""

from __future__ import annotations

import inspect
import pprint
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import anyio
import pytest

from chaoskit._errors import FaultNotInForce
from chaoskit._plugin_api import Injector, TargetSpec, Verifiable
from chaoskit.testing import AppliedFault, FaultTracker, new_run_id

__all__ = ["InjectorContract"]

POLL_INTERVAL = 0.05


class InjectorContract:
    """The contract every injector keeps, as tests a family's test module
    inherits: ``class TestLatencyContract(InjectorContract): ...``.

    The subclass provides the fault, through fixtures:

    * ``injector`` — the injector instance;
    * ``target`` — a :class:`~chaoskit.TargetSpec` of a real, healthy thing;
    * ``params`` — the fault's ``with:`` block (default: ``{}``);

    and its own eyes on the real system, through methods that may be ``async``
    (a plain method runs in a worker thread, so it may block):

    * :meth:`snapshot` — the real state the fault changes, read without the
      injector; it must be equal before the fault and after its revert;
    * :meth:`in_force` — whether the fault's effect shows on the real system,
      observed without the injector (a request that is slow, refused, a process
      that is gone), so that every test can fail;
    * :meth:`leftovers` — what of this fault is still there after its revert
      (processes, connections, cgroups named by its tag); default: nothing.

    Each test asserts on those observations, not on the injector's word. A change
    may take the component a moment to show (a signal delivered, an engine's
    state updated): each observation is repeated until it shows the expected
    answer, for at most :attr:`settle` seconds, and then asserted.

    Every fault a test prepares is reverted at its end by the ``faults`` fixture
    (a :class:`~chaoskit.testing.FaultTracker`), which fails the test's teardown
    if that revert fails. ``run_id`` is a fixture too: a family whose leak checks
    look for a run's tags overrides it or uses it.
    """

    settle: ClassVar[float] = 5.0
    """Seconds the real system may take to show a change the injector made or undid."""

    @pytest.fixture
    def injector(self) -> Injector:
        pytest.fail(f"{type(self).__name__} must define the fixture 'injector'")

    @pytest.fixture
    def target(self) -> TargetSpec:
        pytest.fail(f"{type(self).__name__} must define the fixture 'target'")

    @pytest.fixture
    def params(self) -> dict[str, Any]:
        return {}

    @pytest.fixture
    def run_id(self) -> str:
        return new_run_id()

    @pytest.fixture
    async def faults(self, run_id: str, target: TargetSpec) -> AsyncIterator[FaultTracker]:
        # After ``target``: its fixtures are torn down after the reverts.
        async with FaultTracker(run_id=run_id) as tracker:
            yield tracker

    def snapshot(self, target: TargetSpec) -> object:
        """The real state of ``target`` that the fault changes (comparable with ==)."""
        raise NotImplementedError(f"{type(self).__name__} must define snapshot(target)")

    def in_force(self, fault: AppliedFault) -> bool | Awaitable[bool]:
        """Whether the real system shows ``fault``'s effect right now."""
        raise NotImplementedError(f"{type(self).__name__} must define in_force(fault)")

    def leftovers(self, fault: AppliedFault) -> list[Any] | Awaitable[list[Any]]:
        """What of ``fault`` is still on the system (empty after a good revert)."""
        return []

    @pytest.mark.anyio
    async def test_inject_then_revert_restores(
        self, injector: Injector, target: TargetSpec, params: dict[str, Any], faults: FaultTracker
    ) -> None:
        before = await self._observe(self.snapshot, target)
        fault = await faults.prepare(injector, target, params)
        await self._expect_in_force(fault, False, "after prepare, before inject")
        await fault.inject()
        await self._expect_in_force(fault, True, "after inject")
        await fault.revert()
        await self._expect_restored(fault, before, "after revert")

    @pytest.mark.anyio
    async def test_revert_is_idempotent(
        self, injector: Injector, target: TargetSpec, params: dict[str, Any], faults: FaultTracker
    ) -> None:
        before = await self._observe(self.snapshot, target)
        fault = await faults.apply(injector, target, params)
        await self._expect_in_force(fault, True, "after inject")
        await fault.revert()
        await fault.revert()
        await self._expect_restored(fault, before, "after reverting twice")

    @pytest.mark.anyio
    async def test_revert_without_inject_leaks_nothing(
        self, injector: Injector, target: TargetSpec, params: dict[str, Any], faults: FaultTracker
    ) -> None:
        """A run aborted between the intent and ``inject``: revert gets the
        intent's state, and must undo whatever preflight and prepare set up."""
        before = await self._observe(self.snapshot, target)
        fault = await faults.prepare(injector, target, params)
        await fault.revert()
        await self._expect_restored(fault, before, "after reverting a fault never injected")
        await fault.revert()
        await self._expect_restored(fault, before, "after reverting it again")

    @pytest.mark.anyio
    async def test_revert_in_a_fresh_process(
        self, injector: Injector, target: TargetSpec, params: dict[str, Any], faults: FaultTracker
    ) -> None:
        """``chaoskit rollback`` after a crash: another process, the JSON alone."""
        before = await self._observe(self.snapshot, target)
        fault = await faults.apply(injector, target, params)
        await self._expect_in_force(fault, True, "after inject")
        await fault.revert_in_fresh_process()
        await self._expect_restored(fault, before, "after the revert in a fresh process")
        await fault.revert()  # the crashed run's own retry, after the rollback
        await self._expect_restored(fault, before, "after reverting again in this process")

    @pytest.mark.anyio
    async def test_verify_sees_the_fault(
        self, injector: Injector, target: TargetSpec, params: dict[str, Any], faults: FaultTracker
    ) -> None:
        if not isinstance(injector, Verifiable):
            pytest.skip(f"{injector.name} has no verify")
        fault = await faults.prepare(injector, target, params)
        await self._expect_in_force(fault, False, "after prepare, before inject")
        with pytest.raises(FaultNotInForce):
            await fault.verify()  # nothing is injected yet: verify must say so
        await fault.inject()
        await self._expect_in_force(fault, True, "after inject")
        await fault.verify()

    async def _expect_in_force(self, fault: AppliedFault, expected: bool, when: str) -> None:
        async def look() -> bool:
            seen = await self._observe(self.in_force, fault)
            if not isinstance(seen, bool):
                raise TypeError(f"in_force must return a bool, not {seen!r}")
            return seen

        state = "in force" if expected else "not in force"
        await self._settled(look, expected, f"{fault.describe()} should be {state} {when}")

    async def _expect_restored(self, fault: AppliedFault, before: object, when: str) -> None:
        await self._expect_in_force(fault, False, when)
        target = fault.ctx.target
        await self._settled(
            lambda: self._observe(self.snapshot, target),
            before,
            f"the state of {fault.ctx.target_name!r} {when} differs from before the fault",
        )
        await self._settled(
            lambda: self._observe(self.leftovers, fault),
            [],
            f"{fault.describe()} left something behind {when}",
        )

    async def _settled(
        self, look: Callable[[], Awaitable[object]], expected: object, message: str
    ) -> None:
        """Look until ``look()`` answers ``expected``, for at most :attr:`settle`
        seconds; then fail with what was seen last."""
        # Each look runs to its end (a look cut short would say nothing).
        deadline = anyio.current_time() + self.settle
        seen = await look()
        while seen != expected and anyio.current_time() < deadline:
            await anyio.sleep(POLL_INTERVAL)
            seen = await look()
        if seen != expected:
            raise AssertionError(
                f"{message} (after {self.settle:g}s)\n"
                f"expected: {pprint.pformat(expected)}\n"
                f"observed: {pprint.pformat(seen)}"
            )

    async def _observe(self, method: Callable[..., Any], *args: Any) -> Any:
        if inspect.iscoroutinefunction(method):
            return await method(*args)
        seen = await anyio.to_thread.run_sync(method, *args)
        return await seen if inspect.isawaitable(seen) else seen

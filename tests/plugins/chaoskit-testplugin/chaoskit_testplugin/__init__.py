"""Fake plugins for chaoskit's engine tests.

``fake.flag`` "injects" by creating a flag file in a directory and reverts by
deleting it, so tests in any process can see what is applied. Knobs make
inject or revert fail on purpose. Named fakes: never used against a real system.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar, Literal

import anyio

from chaoskit import (
    Duration,
    Expect,
    FaultContext,
    FaultNotInForce,
    InjectorError,
    JsonValue,
    Observation,
    Params,
    ProbeContext,
    TargetSpec,
)

__all__ = ["FakeDirTarget", "FakeFlag", "FakeFlagCount"]


class FakeDirTarget(TargetSpec):
    kind: Literal["fake.dir"]
    path: str


class FakeFlagParams(Params):
    fail_inject: bool = False
    """Raise from inject after creating the flag (an injector failing half-way)."""
    revert_failures: int = 0
    """Fail this many revert attempts before succeeding (-1: always fail)."""
    hang_inject: bool = False
    """Never return from inject after creating the flag (a server that stopped answering)."""
    heals_after: Duration | None = None
    """The flag goes away by itself this long after the inject (a system that
    restarts or fails over while the fault is still in force)."""


def _flag(state: JsonValue) -> Path:
    assert isinstance(state, dict)
    return Path(str(state["flag"]))


class FakeFlag:
    name: ClassVar[str] = "fake.flag"
    params: ClassVar[type[Params]] = FakeFlagParams
    target_kinds: ClassVar[tuple[str, ...]] = ("fake.dir",)

    async def preflight(self, ctx: FaultContext) -> None:
        assert isinstance(ctx.target, FakeDirTarget)
        if not Path(ctx.target.path).is_dir():
            raise InjectorError(f"fake.dir {ctx.target.path} is not a directory")

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        assert isinstance(ctx.target, FakeDirTarget)
        assert isinstance(ctx.params, FakeFlagParams)
        return {
            "flag": str(Path(ctx.target.path) / ctx.tag),
            "revert_failures": ctx.params.revert_failures,
        }

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        assert isinstance(ctx.params, FakeFlagParams)
        flag = _flag(revert_state)
        flag.write_text("applied\n")
        if ctx.params.heals_after is not None:
            heal = ctx.params.heals_after
            healer = threading.Timer(heal, flag.unlink, kwargs={"missing_ok": True})
            healer.daemon = True
            healer.start()
        if ctx.params.fail_inject:
            raise InjectorError("fake.flag was told to fail (fail_inject: true)")
        if ctx.params.hang_inject:
            await anyio.sleep_forever()
        return revert_state

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        await anyio.sleep(0)
        assert isinstance(revert_state, dict)
        flag = _flag(revert_state)
        budget = int(str(revert_state["revert_failures"]))
        attempts_file = flag.with_name(flag.name + ".revert-attempts")
        attempts = int(attempts_file.read_text()) if attempts_file.exists() else 0
        attempts_file.write_text(str(attempts + 1))
        if budget < 0 or attempts < budget:
            raise InjectorError(f"fake.flag revert failure {attempts + 1} (on purpose)")
        flag.unlink(missing_ok=True)

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        if not _flag(revert_state).exists():
            raise FaultNotInForce("flag missing")


class FlagCountParams(Params):
    target: str


class FlagCountExpect(Expect):
    max: int = 0


class FakeFlagCount:
    """Counts the flags present in a fake.dir target; ok when at most ``max``."""

    name: ClassVar[str] = "fake.flag_count"
    value_unit: ClassVar[str] = "flags"
    params: ClassVar[type[Params]] = FlagCountParams
    expect: ClassVar[type[Expect]] = FlagCountExpect

    async def observe(self, ctx: ProbeContext) -> Observation:
        assert isinstance(ctx.target, FakeDirTarget)
        assert isinstance(ctx.expect, FlagCountExpect)
        count = sum(1 for p in Path(ctx.target.path).iterdir() if not p.name.endswith("-attempts"))
        ok = count <= ctx.expect.max
        return Observation(ok=ok, value=count, detail="" if ok else f"{count} flags applied")

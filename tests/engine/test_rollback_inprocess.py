"""``rollback()`` in-process, on hand-written journals, with fakes defined here for
what the ``fake.flag`` plugin cannot show: an injector without ``verify`` (state
unknown) and one whose ``verify`` cannot tell (state unknown, verify failed)."""

from __future__ import annotations

import json
import os
import time
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import ClassVar

import pytest
import structlog
from chaoskit_testplugin import FakeFlag

from chaoskit import FaultContext, InjectorError, JsonValue, Params
from chaoskit._events import FaultInjected, FaultIntent, RunStarted
from chaoskit._faults import RetryPolicy
from chaoskit._journal import Journal
from chaoskit._registry import Group, Registry, discover
from chaoskit._rollback import Before, Outcome, RollbackReport, rollback
from chaoskit._secrets import Secrets

pytestmark = pytest.mark.anyio


class FakeBlindFlag:
    """fake.flag without verify: it cannot tell whether its flag is there."""

    name: ClassVar[str] = "fake.blind_flag"
    params: ClassVar[type[Params]] = FakeFlag.params
    target_kinds: ClassVar[tuple[str, ...]] = FakeFlag.target_kinds
    preflight = FakeFlag.preflight
    prepare = FakeFlag.prepare
    inject = FakeFlag.inject
    revert = FakeFlag.revert


class FakeUnsureFlag(FakeFlag):
    """fake.flag whose verify cannot reach what it would look at."""

    name: ClassVar[str] = "fake.unsure_flag"

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        raise InjectorError("cannot reach the flag server")


def registry() -> Registry:
    group: Group = "chaoskit.injectors"
    return discover(
        (EntryPoint(cls.name, f"{__name__}:{cls.__name__}", group), group)
        for cls in (FakeBlindFlag, FakeUnsureFlag)
    )


async def run_rollback(run_dir: Path) -> RollbackReport:
    return await rollback(run_dir, registry(), structlog.get_logger(), RetryPolicy())


def crashed_journal(run_dir: Path, flags: Path, injectors: list[str]) -> list[Path]:
    """The journal a run killed mid-fault leaves, one fault per injector; the
    flags those faults applied."""
    run_dir.mkdir()
    flags.mkdir()
    journal = Journal(run_dir / "journal.jsonl", Secrets(), time.monotonic())
    journal.append(
        RunStarted(
            run_id="r1",
            source=str(run_dir / "inprocess.yaml"),
            title="inprocess",
            experiment={},
            chaoskit_version="0",
            pid=os.getpid(),
            started_at="2026-01-01T00:00:00Z",
        ),
        durable=True,
    )
    applied = []
    for number, injector in enumerate(injectors):
        flag = flags / f"chaoskit-r1-f{number}"
        state: JsonValue = {"flag": str(flag), "revert_failures": 0}
        fault = f"f{number}"
        journal.append(
            FaultIntent(
                fault=fault,
                iteration=1,
                injector=injector,
                target_name="flags",
                target={"kind": "fake.dir", "path": str(flags)},
                params={},
                revert_state=state,
            ),
            durable=True,
        )
        flag.write_text("applied\n")
        journal.append(FaultInjected(fault=fault, iteration=1, revert_state=state), durable=True)
        applied.append(flag)
    journal.close()
    return applied


async def test_without_verify_the_state_is_unknown(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    [flag] = crashed_journal(run_dir, tmp_path / "flags", ["fake.blind_flag"])
    report = await run_rollback(run_dir)
    [fault] = report.faults
    assert (fault.before, fault.outcome) == (Before.UNKNOWN, Outcome.REVERTED)
    assert fault.summary() == "state unknown (the injector cannot tell); reverted"
    assert not flag.exists()
    assert report.exit_code == 0


async def test_a_verify_that_cannot_tell_leaves_the_state_unknown(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    flags = crashed_journal(run_dir, tmp_path / "flags", ["fake.unsure_flag", "fake.flag"])
    report = await run_rollback(run_dir)
    by_name = {f.fault: f for f in report.faults}
    assert by_name["f0"].before is Before.VERIFY_FAILED
    assert by_name["f0"].summary() == (
        "state unknown (verify failed: InjectorError: cannot reach the flag server); reverted"
    )
    assert by_name["f1"].before is Before.IN_FORCE
    assert [f.fault for f in report.faults] == ["f1", "f0"]  # newest first
    assert not any(flag.exists() for flag in flags)
    records = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    checked = [(r["fault"], r["before"]) for r in records if r["event"] == "rollback_fault"]
    assert checked == [("f1", "in-force"), ("f0", "verify-failed")]

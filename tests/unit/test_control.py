"""RunControl on its own: which actions apply in which state, that each one is
journaled (who, why) before it takes effect, and that a refused one journals
nothing. The runner's side (the waits) is driven here by hand; the actions
against a real run are in tests/integration/toxiproxy/test_controller.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from chaoskit._control import ControlRefused, RunControl, StepState
from chaoskit._events import ControlApplied
from chaoskit._journal import Journal, read_journal
from chaoskit._secrets import Secrets
from chaoskit._stream import EventStream

pytestmark = pytest.mark.anyio

BY = "facilitator"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(tmp_path / "journal.jsonl", Secrets(), time.monotonic())
    yield journal
    journal.close()


def make_control(journal: Journal, aborts: list[str] | None = None) -> RunControl:
    sink = aborts if aborts is not None else []
    control = RunControl(EventStream(journal), sink.append)
    control.plan([("slow", 1.0), ("cut", 2.0)], iterations=2)
    return control


def journaled(journal: Journal) -> list[tuple[str, str | None, str]]:
    journal.close()
    events = read_journal(journal.path)
    return [(e.action, e.step, e.why) for e in events if isinstance(e, ControlApplied)]


async def test_each_action_is_journaled_with_who_and_why(journal: Journal) -> None:
    aborts: list[str] = []
    control = make_control(journal, aborts)
    control.hold(by=BY, why="wait for the DBA")
    control.start("slow", by=BY, why="now")
    control.extend("cut", 5, by=BY, why="longer")
    control.skip("cut", by=BY, why="not today", iteration=2)
    control.release(by=BY)
    control.note("p99 went to 2s on the dashboard", by="observer")
    control.abort(by=BY, why="real incident")
    assert journaled(journal) == [
        ("hold", None, "wait for the DBA"),
        ("start", "slow", "now"),
        ("extend", "cut", "longer"),
        ("skip", "cut", "not today"),
        ("release", None, ""),
        ("note", None, "p99 went to 2s on the dashboard"),
        ("abort", None, "real incident"),
    ]
    assert aborts == ["aborted by facilitator: real incident"]
    assert control.state("cut", 2) is StepState.SKIPPED
    assert control.state("cut", 1) is StepState.PENDING


@pytest.mark.parametrize(
    ("act", "message"),
    [
        (lambda c: c.start("nope", by=BY), r"iteration 1 \(faults: \['cut', 'slow'\]\)"),
        (lambda c: c.skip("slow", by=BY, iteration=3), "no such fault in iteration 3"),
        (lambda c: c.end("slow", by=BY), "it is pending"),
        (lambda c: c.extend("slow", 0, by=BY), "expected a positive number of seconds"),
        (lambda c: c.extend("slow", float("nan"), by=BY), "expected a positive number"),
        (lambda c: c.release(by=BY), "the run is not held"),
        (lambda c: c.note("  ", by=BY), "a note needs some text"),
        (lambda c: c.hold(by=" "), r"say who acts \(by\)"),
    ],
)  # fmt: skip
async def test_an_action_that_does_not_apply_is_refused_and_not_journaled(
    journal: Journal, act: object, message: str
) -> None:
    control = make_control(journal)
    with pytest.raises(ControlRefused, match=message):
        act(control)  # type: ignore[operator]
    assert journaled(journal) == []


async def test_a_fault_in_force_can_be_extended_or_ended_but_not_started_or_skipped(
    journal: Journal,
) -> None:
    control = make_control(journal)
    assert await control.until_start("slow", 1, due=time.monotonic())
    control.in_force("slow", 1)
    with pytest.raises(ControlRefused, match=r"start 'slow': it is in-force .*\(use end\)"):
        control.start("slow", by=BY)
    with pytest.raises(ControlRefused, match="skip 'slow': it is in-force"):
        control.skip("slow", by=BY)
    control.extend("slow", 1.5, by=BY)
    control.end("slow", by=BY)
    with anyio.fail_after(5):
        await control.until_end("slow", 1)  # the end, not the 2.5s planned
    control.done("slow", 1)
    with pytest.raises(ControlRefused, match="end 'slow': it is done"):
        control.end("slow", by=BY)
    assert [a for a, _, _ in journaled(journal)] == ["extend", "end"]


async def test_start_and_skip_end_the_wait_for_a_step(journal: Journal) -> None:
    control = make_control(journal)
    far = time.monotonic() + 3600
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            results: dict[str, bool] = {}

            async def wait(fault: str) -> None:
                results[fault] = await control.until_start(fault, 1, far)

            group.start_soon(wait, "slow")
            group.start_soon(wait, "cut")
            await anyio.wait_all_tasks_blocked()
            control.start("slow", by=BY)
            control.skip("cut", by=BY)
    assert results == {"slow": True, "cut": False}
    assert control.state("slow", 1) is StepState.STARTING
    assert control.state("cut", 1) is StepState.SKIPPED


async def test_a_step_that_fell_due_while_held_starts_at_the_release(journal: Journal) -> None:
    control = make_control(journal)
    control.hold(by=BY)
    started = anyio.Event()

    async def wait() -> None:
        await control.until_start("slow", 1, due=time.monotonic())  # already due
        started.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            assert not started.is_set()
            control.release(by=BY)
            await started.wait()


async def test_the_iteration_gate_waits_for_a_release(journal: Journal) -> None:
    control = make_control(journal)
    control.hold(by=BY)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(control.until_iteration, 1)
            await anyio.wait_all_tasks_blocked()
            assert control.iteration == 0
            control.release(by=BY)
    assert control.iteration == 1


async def test_after_close_every_action_is_refused(journal: Journal) -> None:
    control = make_control(journal)
    control.close()
    for act in (
        lambda: control.hold(by=BY),
        lambda: control.start("slow", by=BY),
        lambda: control.note("late", by=BY),
        lambda: control.abort(by=BY, why="late"),
    ):
        with pytest.raises(ControlRefused, match="the run has ended"):
            act()
    assert journaled(journal) == []


async def test_a_wait_whose_deadline_passes_while_it_looks_still_ends(journal: Journal) -> None:
    """The step fell due between the wait's look at it and its reading of the clock
    (a run once waited forever for a fault due at 2s this way)."""
    control = make_control(journal)
    looks: list[float] = []

    def ready() -> bool:  # not yet at the first look; due by the time the clock is read
        looks.append(time.monotonic())
        return len(looks) > 1

    with anyio.fail_after(5):
        await control._until(ready, lambda: time.monotonic() - 1.0)
    assert len(looks) >= 2

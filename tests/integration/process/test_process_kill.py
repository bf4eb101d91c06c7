"""process.kill against real local processes, restarts included."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import anyio
import psutil
import pytest
from chaoskit_process import RESTART_ENV, Kill
from process_faults import target
from process_victims import Victim, alive_with, helpers_of, status_of, wait_for

from chaoskit import FaultNotInForce, InjectorError
from chaoskit.testing import FaultTracker, fault_context

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

IGNORES_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"


def gone(victim: Victim) -> bool:
    return status_of(victim.pid) in (None, psutil.STATUS_ZOMBIE)


def restarted(victim: Victim) -> list[psutil.Process]:
    """Copies of the victim started by a restart (not the victim itself)."""
    return [p for p in alive_with(victim.marker) if p.pid != victim.pid and not helpers_of_p(p)]


def helpers_of_p(process: psutil.Process) -> bool:
    return "chaoskit-process-helper" in (process.info.get("cmdline") or [])


def restart_of(victim: Victim, after: str | None = None) -> dict[str, object]:
    spec: dict[str, object] = {"command": victim.argv}
    if after is not None:
        spec["after"] = after
    return spec


async def test_kill_ends_the_process(spawn: Callable[..., Victim], faults: FaultTracker) -> None:
    victim = spawn()

    fault = await faults.apply(Kill(), target(pid=victim.pid), {})

    await Kill().verify(fault.ctx, fault.revert_state)
    assert victim.process.wait(timeout=5) == -signal.SIGKILL
    state = fault.revert_state
    assert isinstance(state, dict)
    assert state["signal"] == signal.SIGKILL
    assert [p["pid"] for p in state["processes"]] == [victim.pid]
    assert state["processes"][0]["cmdline"] == victim.argv
    assert state["restarter"] is None


async def test_kill_sends_the_signal_asked_for(
    spawn: Callable[..., Victim], faults: FaultTracker
) -> None:
    victim = spawn()

    fault = await faults.apply(Kill(), target(cmdline=victim.marker), {"signal": "TERM"})

    await Kill().verify(fault.ctx, fault.revert_state)
    assert victim.process.wait(timeout=5) == -signal.SIGTERM


async def test_verify_says_when_the_process_survives(
    spawn: Callable[..., Victim], faults: FaultTracker
) -> None:
    victim = spawn(IGNORES_TERM)
    await anyio.sleep(0.3)  # let it install its handler

    fault = await faults.apply(
        Kill(), target(pid=victim.pid), {"signal": "SIGTERM", "exit_within": "300ms"}
    )

    with pytest.raises(FaultNotInForce, match=rf"processes \[{victim.pid}\] are still running"):
        await Kill().verify(fault.ctx, fault.revert_state)
    assert not gone(victim)


async def test_verify_does_not_wait_for_a_signal_not_meant_to_end(
    spawn: Callable[..., Victim], faults: FaultTracker
) -> None:
    victim = spawn(IGNORES_TERM)
    await anyio.sleep(0.3)

    fault = await faults.apply(
        Kill(), target(pid=victim.pid), {"signal": "SIGTERM", "exit_within": None}
    )

    await Kill().verify(fault.ctx, fault.revert_state)
    assert not gone(victim)


async def test_a_recycled_pid_is_never_signalled(spawn: Callable[..., Victim], run_id: str) -> None:
    """A revert state naming this pid with another start time is another process."""
    victim = spawn()
    injector = Kill()
    ctx = fault_context(injector, target(pid=victim.pid), {}, run_id=run_id)
    state = await injector.prepare(ctx)
    assert isinstance(state, dict)
    state["processes"][0]["create_time"] -= 5.0

    with pytest.raises(InjectorError, match="is running any more; nothing was signalled"):
        await injector.inject(ctx, state)
    await anyio.sleep(0.2)
    assert not gone(victim)


async def test_revert_without_restart_changes_nothing_and_twice_is_harmless(
    spawn: Callable[..., Victim], faults: FaultTracker
) -> None:
    victim = spawn()
    fault = await faults.apply(Kill(), target(cmdline=victim.marker), {})

    await fault.revert()
    await fault.revert()

    wait_for(lambda: gone(victim), "the victim to die")
    assert restarted(victim) == []


async def test_revert_restarts_a_service_that_is_not_back(
    spawn: Callable[..., Victim], faults: FaultTracker
) -> None:
    victim = spawn()
    fault = await faults.apply(
        Kill(), target(cmdline=victim.marker), {"restart": restart_of(victim)}
    )
    await Kill().verify(fault.ctx, fault.revert_state)
    assert restarted(victim) == []

    # From the journal's JSON, by a fresh instance, as chaoskit rollback would.
    await Kill().revert(fault.ctx, json.loads(json.dumps(fault.revert_state)))

    wait_for(lambda: len(restarted(victim)) == 1, "the restarted service")
    [copy] = restarted(victim)
    assert copy.cmdline() == victim.argv
    assert copy.environ()[RESTART_ENV] == fault.ctx.tag
    assert copy.ppid() != victim.process.pid  # not a child of ours: it outlives the run

    await fault.revert()  # twice: no second copy
    await anyio.sleep(0.3)
    assert [p.pid for p in restarted(victim)] == [copy.pid]


async def test_a_delayed_restart_fires_on_its_own(
    spawn: Callable[..., Victim], faults: FaultTracker, run_id: str
) -> None:
    victim = spawn()
    fault = await faults.apply(
        Kill(), target(cmdline=victim.marker), {"restart": restart_of(victim, after="300ms")}
    )
    state = fault.revert_state
    assert isinstance(state, dict)
    assert state["restarter"] is not None
    assert [p.pid for p in helpers_of(run_id)] == [state["restarter"]["pid"]]

    wait_for(lambda: len(restarted(victim)) == 1, "the delayed restart")
    [copy] = restarted(victim)
    await fault.revert()  # the service is back: revert starts no second copy

    await anyio.sleep(0.3)
    assert [p.pid for p in restarted(victim)] == [copy.pid]


async def test_revert_cancels_a_pending_restart_and_restarts_itself(
    spawn: Callable[..., Victim], faults: FaultTracker, run_id: str
) -> None:
    victim = spawn()
    fault = await faults.apply(
        Kill(), target(cmdline=victim.marker), {"restart": restart_of(victim, after="60s")}
    )
    assert len(helpers_of(run_id)) == 1

    await fault.revert()

    assert helpers_of(run_id) == []  # the pending restarter is gone ...
    wait_for(lambda: len(restarted(victim)) == 1, "the restart by revert")  # ... revert did it


async def test_revert_from_the_intent_finds_the_restarter_by_its_tag(
    spawn: Callable[..., Victim], run_id: str
) -> None:
    """A crash between inject and its journal record: the state revert gets does
    not name the restarter, which is found by the fault's tag."""
    victim = spawn()
    injector = Kill()
    params = {"restart": restart_of(victim, after="60s")}
    ctx = fault_context(injector, target(cmdline=victim.marker), params, run_id=run_id)
    intent = await injector.prepare(ctx)
    await injector.inject(ctx, intent)
    assert len(helpers_of(run_id)) == 1

    await injector.revert(ctx, intent)

    assert helpers_of(run_id) == []


async def test_restart_needs_a_selector_that_can_find_the_new_process(
    spawn: Callable[..., Victim], run_id: str
) -> None:
    victim = spawn()
    injector = Kill()
    ctx = fault_context(
        injector, target(pid=victim.pid), {"restart": restart_of(victim)}, run_id=run_id
    )

    with pytest.raises(InjectorError, match="not pid"):
        await injector.preflight(ctx)


async def test_restart_of_a_missing_program_fails_preflight(
    spawn: Callable[..., Victim], run_id: str
) -> None:
    victim = spawn()
    injector = Kill()
    params = {"restart": {"command": ["/nonexistent/ledger", "--serve"]}}
    ctx = fault_context(injector, target(cmdline=victim.marker), params, run_id=run_id)

    with pytest.raises(InjectorError, match="'/nonexistent/ledger' is not found"):
        await injector.preflight(ctx)
    assert not gone(victim)


async def test_revert_state_is_checked(run_id: str) -> None:
    injector = Kill()
    ctx = fault_context(injector, target(pid=1), {}, run_id=run_id)

    with pytest.raises(InjectorError, match="malformed KillState revert state"):
        await injector.revert(ctx, {"processes": "nope"})


async def test_back_means_as_many_as_before(
    spawn: Callable[..., Victim], faults: FaultTracker
) -> None:
    """Killing one of two workers: the survivor alone does not make the service
    back, so revert restarts one, and only one."""
    one = spawn()
    two = spawn(marker=one.marker)
    workers = target(cmdline=one.marker, pick="random", count=1)

    fault = await faults.apply(Kill(), workers, {"restart": {"command": one.argv}})
    state = fault.revert_state
    assert isinstance(state, dict)
    assert state["matched"] == 2
    [killed] = state["processes"]
    wait_for(lambda: len(alive_with(one.marker)) == 1, "one worker to die")

    await fault.revert()
    wait_for(lambda: len(alive_with(one.marker)) == 2, "the restarted worker")
    await fault.revert()

    await anyio.sleep(0.3)
    assert len(alive_with(one.marker)) == 2
    assert killed["pid"] in (one.pid, two.pid)

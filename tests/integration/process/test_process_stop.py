"""process.stop against real local processes: an HTTP service stops answering
while stopped and answers again after revert."""

from __future__ import annotations

import http.client
import json
import os
import signal
from collections.abc import Callable

import anyio
import psutil
import pytest
from chaoskit_process import Stop
from process_faults import target
from process_victims import HTTP, Victim, status_of, wait_for
from servers import free_port

from chaoskit import FaultNotInForce, InjectorError
from chaoskit.testing import FaultTracker, fault_context

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

STOPPED = psutil.STATUS_STOPPED


def answers(port: int, timeout: float = 0.5) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/")
        return connection.getresponse().read() == b"ok"
    except OSError:
        return False
    finally:
        connection.close()


async def test_stop_freezes_and_revert_continues(
    spawn: Callable[..., Victim], faults: FaultTracker
) -> None:
    port = free_port()
    victim = spawn(HTTP, str(port))
    wait_for(lambda: answers(port), "the HTTP victim")

    fault = await faults.apply(Stop(), target(port=port), {})

    await Stop().verify(fault.ctx, fault.revert_state)
    assert status_of(victim.pid) == STOPPED
    assert not await anyio.to_thread.run_sync(answers, port)  # a timeout, not a refusal
    assert fault.revert_state == {
        "processes": [
            {
                "pid": victim.pid,
                "create_time": psutil.Process(victim.pid).create_time(),
                "cmdline": victim.argv,
                "was_stopped": False,
            }
        ]
    }

    # From the journal's JSON, by a fresh instance, as chaoskit rollback would.
    await Stop().revert(fault.ctx, json.loads(json.dumps(fault.revert_state)))

    assert status_of(victim.pid) != STOPPED
    assert await anyio.to_thread.run_sync(answers, port)
    with pytest.raises(FaultNotInForce, match="are not stopped"):
        await Stop().verify(fault.ctx, fault.revert_state)


async def test_a_process_stopped_before_the_fault_stays_stopped(
    spawn: Callable[..., Victim], faults: FaultTracker
) -> None:
    victim = spawn()
    os.kill(victim.pid, signal.SIGSTOP)
    wait_for(lambda: status_of(victim.pid) == STOPPED, "the victim to stop")

    fault = await faults.apply(Stop(), target(pid=victim.pid), {})
    state = fault.revert_state
    assert isinstance(state, dict)
    assert state["processes"][0]["was_stopped"] is True
    await fault.revert()

    assert status_of(victim.pid) == STOPPED


async def test_revert_never_continues_a_recycled_pid(
    spawn: Callable[..., Victim], run_id: str
) -> None:
    """Another process under the recorded pid (another start time) is left alone."""
    victim = spawn()
    ctx = fault_context(Stop(), target(pid=victim.pid), {}, run_id=run_id)
    state = await Stop().prepare(ctx)
    assert isinstance(state, dict)
    os.kill(victim.pid, signal.SIGSTOP)  # stopped by someone else
    wait_for(lambda: status_of(victim.pid) == STOPPED, "the victim to stop")
    state["processes"][0]["create_time"] -= 5.0

    await Stop().revert(ctx, state)

    await anyio.sleep(0.2)
    assert status_of(victim.pid) == STOPPED


async def test_inject_refuses_when_every_process_is_gone(
    spawn: Callable[..., Victim], run_id: str
) -> None:
    victim = spawn()
    ctx = fault_context(Stop(), target(pid=victim.pid), {}, run_id=run_id)
    state = await Stop().prepare(ctx)
    victim.stop()

    with pytest.raises(InjectorError, match="nothing was stopped"):
        await Stop().inject(ctx, state)
    await Stop().revert(ctx, state)  # and reverting that is harmless

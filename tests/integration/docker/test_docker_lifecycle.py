"""kill, stop, restart and pause against a real engine: the container's httpd
on its 127.0.0.1 port tells independently whether the fault is in force."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from chaoskit_docker import Kill, Pause, Restart, Stop
from docker_faults import answers, containers_of, http_status, target
from docker_lab import Container, Lab, wait_until

from chaoskit import FaultNotInForce, InjectorError
from chaoskit.testing import FaultTracker, fault_context, journal_roundtrip

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    await anyio.to_thread.run_sync(lambda: wait_until(check, what, timeout=timeout))


async def test_kill_stops_the_service_and_revert_starts_it(lab: Lab, faults: FaultTracker) -> None:
    web = lab.container()
    assert web.port is not None
    assert answers(web.port)
    fault = await faults.apply(Kill(), target(container=web.name), {})
    await fault.verify()
    assert web.status() == "exited"
    assert web.inspect()["State"]["ExitCode"] == 137
    assert not answers(web.port, timeout=1.0)
    [entry] = containers_of(fault)
    assert entry["running"] is True
    assert entry["signal"] == "SIGKILL"

    await Kill().revert(
        fault.ctx, journal_roundtrip(fault.revert_state)
    )  # a fresh instance, JSON only
    assert web.status() == "running"
    port = _port(web)  # a random host port is chosen again on start
    await until(lambda: answers(port), "httpd to answer again")
    await fault.revert()  # twice: harmless
    assert web.status() == "running"


def _port(container: Container) -> int:
    info = container.inspect()
    return int(info["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])


async def test_kill_with_a_stop_signal_freezes_and_revert_resumes(
    lab: Lab, faults: FaultTracker
) -> None:
    web = lab.container()
    assert web.port is not None
    fault = await faults.apply(Kill(), target(container=web.name), {"signal": "STOP"})
    await fault.verify()  # STOP is not expected to end the process
    assert web.status() == "running"
    assert not answers(web.port, timeout=1.0)
    await fault.revert()
    port = web.port
    await until(lambda: answers(port), "httpd to answer after SIGCONT")


async def test_docker_kill_is_a_manual_stop_that_restart_policies_leave_alone(
    lab: Lab, faults: FaultTracker
) -> None:
    web = lab.container(restart_policy={"Name": "always"})
    fault = await faults.apply(Kill(), target(container=web.name), {})
    await fault.verify()
    await anyio.sleep(1.5)
    assert web.status() == "exited"
    assert web.inspect()["RestartCount"] == 0
    await fault.revert()
    assert web.status() == "running"


async def test_kill_without_start_on_revert_leaves_it_down(lab: Lab, faults: FaultTracker) -> None:
    web = lab.container()
    fault = await faults.apply(Kill(), target(container=web.name), {"start_on_revert": False})
    await fault.revert()
    assert web.status() == "exited"


async def test_verify_reports_a_kill_that_did_not_end_the_process(lab: Lab) -> None:
    sleeper = lab.container(command=["sh", "-c", "trap '' TERM; while :; do sleep 1; done"])
    ctx = fault_context(
        Kill(), target(container=sleeper.name), {"signal": "TERM", "expect_exit": True}
    )
    state = await Kill().inject(ctx, await Kill().prepare(ctx))
    with pytest.raises(FaultNotInForce, match="still running the same process"):
        await Kill().verify(ctx, state)
    await Kill().revert(ctx, state)
    assert sleeper.status() == "running"


async def test_stop_and_revert(lab: Lab, faults: FaultTracker) -> None:
    web = lab.container()
    fault = await faults.apply(Stop(), target(container=web.name), {"timeout": "1s"})
    await fault.verify()
    assert web.status() == "exited"
    assert web.port is not None
    assert not answers(web.port, timeout=1.0)
    await fault.revert()
    await fault.revert()
    assert web.status() == "running"
    port = _port(web)
    await until(lambda: answers(port), "httpd to answer after the revert")


async def test_stop_is_not_undone_by_a_restart_policy(lab: Lab, faults: FaultTracker) -> None:
    web = lab.container(restart_policy={"Name": "unless-stopped"})
    fault = await faults.apply(Stop(), target(container=web.name), {"timeout": "1s"})
    await anyio.sleep(1.0)
    assert web.status() == "exited"
    await fault.revert()
    assert web.status() == "running"


async def test_restart_restarts_once(lab: Lab, faults: FaultTracker) -> None:
    web = lab.container()
    before = web.inspect()["State"]["StartedAt"]
    fault = await faults.apply(Restart(), target(container=web.name), {"timeout": "1s"})
    await fault.verify()
    assert web.inspect()["State"]["StartedAt"] != before
    assert web.status() == "running"
    await fault.revert()
    await fault.revert()
    assert web.status() == "running"


async def test_pause_freezes_and_revert_unpauses(lab: Lab, faults: FaultTracker) -> None:
    web = lab.container()
    assert web.port is not None
    fault = await faults.apply(Pause(), target(container=web.name), {})
    await fault.verify()
    assert web.status() == "paused"
    assert http_status(web.port, timeout=1.0) in ("timeout", "TimeoutError")
    await fault.revert()
    assert web.status() == "running"
    port = web.port
    await until(lambda: answers(port), "httpd to answer after unpausing")
    await fault.revert()  # twice: harmless
    assert web.status() == "running"
    with pytest.raises(FaultNotInForce, match="not paused"):
        await fault.verify()


async def test_revert_without_inject_changes_nothing(lab: Lab) -> None:
    web = lab.container()
    for injector in (Kill(), Stop(), Restart(), Pause()):
        ctx = fault_context(injector, target(container=web.name), {})
        started = web.inspect()["State"]["StartedAt"]
        await injector.revert(ctx, await injector.prepare(ctx))
        assert web.status() == "running"
        assert web.inspect()["State"]["StartedAt"] == started


async def test_revert_of_a_removed_container_says_what_is_lost(lab: Lab) -> None:
    web = lab.container()
    ctx = fault_context(Stop(), target(container=web.name), {"timeout": "1s"})
    state = await Stop().inject(ctx, await Stop().prepare(ctx))
    web.client.api.remove_container(web.id, force=True)
    with pytest.raises(
        InjectorError, match=f"{web.name}.*was running before the fault and is gone"
    ):
        await Stop().revert(ctx, state)


async def test_stop_revert_starts_a_recreated_container(lab: Lab) -> None:
    web = lab.container()
    ctx = fault_context(Stop(), target(container=web.name), {"timeout": "1s"})
    state = await Stop().inject(ctx, await Stop().prepare(ctx))
    web.client.api.remove_container(web.id, force=True)
    again = lab.container(web.name)
    web.client.api.stop(again.id, timeout=1)
    await Stop().revert(ctx, state)
    assert again.status() == "running"


async def test_preflight_refuses_what_it_cannot_act_on(lab: Lab) -> None:
    web = lab.container()
    web.client.api.stop(web.id, timeout=1)
    for injector in (Kill(), Pause()):
        ctx = fault_context(injector, target(container=web.name), {})
        with pytest.raises(InjectorError, match=rf"needs running containers: {web.name} is exited"):
            await injector.preflight(ctx)
    ctx = fault_context(Kill(), target(container="chaoskit-test-no-such-container"), {})
    with pytest.raises(InjectorError, match="no container 'chaoskit-test-no-such-container'"):
        await Kill().preflight(ctx)
    ctx = fault_context(Kill(), target(labels={"chaoskit.test": "nothing-has-this"}), {})
    with pytest.raises(InjectorError, match=r"no containers labelled .* is running"):
        await Kill().preflight(ctx)


async def test_stopping_an_auto_removed_container(lab: Lab) -> None:
    web = lab.container(command=["sleep", "600"], publish=False, auto_remove=True)
    ctx = fault_context(Stop(), target(container=web.name), {"timeout": "1s"})
    await Stop().preflight(ctx)  # warns: revert cannot start it again
    state = await Stop().inject(ctx, await Stop().prepare(ctx))
    # the low-level list: containers.list() inspects each one it lists, and the
    # removal can land between the two (a 404)
    await until(lambda: not web.client.api.containers(all=True, filters={"id": web.id}), "removal")
    await Stop().verify(ctx, state)  # gone is stopped
    with pytest.raises(InjectorError, match="is gone now"):
        await Stop().revert(ctx, state)

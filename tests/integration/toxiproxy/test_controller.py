"""Each controller action against a real Toxiproxy: hold and release, start a
fault early, extend it, end it early, skip it, and abort mid-hold — and after
every run, no toxic left and the proxy enabled.

A scripted controller (what a GameDay console will be) steers the run
in-process. Its script waits on the run's own events (it subscribes to the
stream), never on a clock, and reads the proxy's state from Toxiproxy itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
import structlog
import yaml
from servers import ProxyHandle, ToxiproxyServer
from toxiproxy_checks import proxy_json, toxic_names

from chaoskit._control import Controller, ControlRefused, RunControl
from chaoskit._events import (
    BaselineJudged,
    ControlApplied,
    Event,
    FaultInjected,
    FaultReverted,
    FaultStarted,
    PhaseChanged,
    RunFinished,
    SampleTaken,
)
from chaoskit._journal import JOURNAL_NAME, read_journal
from chaoskit._loader import parse_experiment
from chaoskit._phases import Phase
from chaoskit._results import RunResult, RunStatus
from chaoskit._runner import RunOptions, run_experiment

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

E = TypeVar("E", bound=Event)
SCRIPT_LIMIT = 60.0
"""A script that has not finished by then has failed (its wait never came true)."""
BY = "facilitator"


class Watch:
    """The events of a run, as they happen; ``first`` waits for one."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._new = anyio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._new.set()
        self._new = anyio.Event()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    async def first(
        self, kind: type[E], where: Callable[[E], bool] = lambda _: True, *, after: int = 0
    ) -> E:
        """The first ``kind`` event with ``where`` true and ``seq`` above ``after``."""
        for _ in range(1_000_000):  # bounded; the script's deadline ends it sooner
            for event in self.events:
                if isinstance(event, kind) and event.seq > after and where(event):
                    return event
            await self._new.wait()
        raise AssertionError(f"no {kind.__name__}")  # pragma: no cover

    async def samples(self, count: int, *, after: int) -> SampleTaken:
        """Wait until ``count`` steady samples came after ``after``; the last."""
        last = after
        for _ in range(count):
            last = (await self.first(SampleTaken, lambda s: s.role == "steady", after=last)).seq
        return next(s for s in self.of(SampleTaken) if s.seq == last)


Script = Callable[[RunControl, Watch], Awaitable[None]]


class Scripted(Controller):
    """Runs ``script`` beside the run. ``hold_first``: hold before any step."""

    def __init__(self, script: Script, *, hold_first: bool = False) -> None:
        self.script = script
        self.hold_first = hold_first
        self.finished = False
        self.failure: BaseException | None = None

    def attach(self, control: RunControl) -> None:
        super().attach(control)
        self.watch = Watch()
        control.stream.subscribe(self.watch)
        if self.hold_first:
            control.hold(by=BY, why="the room is not ready")

    async def drive(self) -> None:
        assert self.control is not None
        try:
            with anyio.fail_after(SCRIPT_LIMIT):
                await self.script(self.control, self.watch)
        except Exception as exc:
            self.failure = exc  # the run aborts; the test raises it after the reverts
            raise
        self.finished = True


def experiment(server: ToxiproxyServer, proxy: ProxyHandle, faults: list[dict[str, Any]]) -> str:
    return yaml.safe_dump(
        {
            "version": 1,
            "title": "controller",
            "targets": {
                "web": {"kind": "toxiproxy.proxy", "server": server.url, "name": proxy.name}
            },
            "steady_state": {
                "every": "100ms",
                "stable_for": "200ms",
                "baseline": "300ms",
                "probes": [{"name": "web", "http": {"url": f"http://{proxy.listen}/health"}}],
            },
            "faults": faults,
            "recovery": {"timeout": "20s"},
        },
        sort_keys=False,
    )


def slow(at: str = "0s", duration: str = "60s") -> dict[str, Any]:
    return {
        "name": "slow",
        "injector": "toxiproxy.latency",
        "target": "web",
        "with": {"latency": "40ms", "stream": "both"},
        "at": at,
        "duration": duration,
    }


def cut(at: str = "0s", duration: str = "60s") -> dict[str, Any]:
    return {
        "name": "cut",
        "injector": "toxiproxy.down",
        "target": "web",
        "at": at,
        "duration": duration,
    }


async def run(
    tmp_path: Path,
    server: ToxiproxyServer,
    proxy: ProxyHandle,
    faults: list[dict[str, Any]],
    controller: Scripted,
) -> tuple[RunResult, list[Event]]:
    """Run under ``controller``; then the proxy must be clean and the script done."""
    loaded = parse_experiment(experiment(server, proxy, faults), "controller.yaml")
    options = RunOptions(runs_dir=tmp_path / "runs", handle_signals=False, controller=controller)
    result, run_dir = await run_experiment(loaded, options, structlog.get_logger())
    if controller.failure is not None:
        raise controller.failure
    assert controller.finished, "the run ended before its script did"
    await assert_clean(server, proxy)
    assert result.left_applied == []
    return result, read_journal(run_dir / JOURNAL_NAME)


async def toxics(server: ToxiproxyServer, proxy: ProxyHandle) -> list[str]:
    return await anyio.to_thread.run_sync(toxic_names, server.url, proxy.name)


async def toxics_of(server: ToxiproxyServer, proxy: ProxyHandle) -> set[str]:
    """The faults whose toxics are on the proxy (named chaoskit-RUN-FAULT-STREAM)."""
    return {name.split("-")[-2] for name in await toxics(server, proxy)}


async def enabled(server: ToxiproxyServer, proxy: ProxyHandle) -> bool:
    state = await anyio.to_thread.run_sync(proxy_json, server.url, proxy.name)
    assert state is not None, f"proxy {proxy.name} is gone"
    return state["enabled"] is True


async def assert_clean(server: ToxiproxyServer, proxy: ProxyHandle) -> None:
    assert await toxics(server, proxy) == []
    assert await enabled(server, proxy)


def controls(events: list[Event]) -> list[tuple[str, str | None]]:
    return [(e.action, e.step) for e in events if isinstance(e, ControlApplied)]


def one(events: list[Event], kind: type[E], fault: str | None = None) -> E:
    found = [e for e in events if isinstance(e, kind) and getattr(e, "fault", fault) == fault]
    assert len(found) == 1, f"{kind.__name__} of {fault}: {found}"
    return found[0]


def fault_phase(events: list[Event]) -> PhaseChanged:
    return next(e for e in events if isinstance(e, PhaseChanged) and e.phase is Phase.FAULTS)


async def test_a_held_run_starts_no_fault_until_released(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle
) -> None:
    async def script(control: RunControl, watch: Watch) -> None:
        baseline = await watch.first(BaselineJudged)
        assert baseline.steady
        await watch.samples(4, after=baseline.seq)  # the run is held at the gate meanwhile
        assert watch.of(FaultStarted) == []
        assert not [p for p in watch.of(PhaseChanged) if p.phase is Phase.FAULTS]
        assert await toxics(toxiproxy_server, proxy) == []
        control.release(by=BY, why="go")
        await watch.first(FaultInjected, lambda e: e.fault == "slow")
        assert await toxics_of(toxiproxy_server, proxy) == {"slow"}

    controller = Scripted(script, hold_first=True)
    result, events = await run(
        tmp_path, toxiproxy_server, proxy, [slow(duration="300ms")], controller
    )
    assert result.status is RunStatus.PASSED
    assert controls(events) == [("hold", None), ("release", None)]
    release = [e for e in events if isinstance(e, ControlApplied)][1]
    assert release.by == BY
    assert release.why == "go"
    assert fault_phase(events).seq > release.seq
    assert one(events, FaultReverted, "slow").seq > one(events, FaultInjected, "slow").seq


async def test_start_brings_a_fault_forward_and_a_hold_keeps_the_next_one_back(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle
) -> None:
    async def script(control: RunControl, watch: Watch) -> None:
        phase = await watch.first(PhaseChanged, lambda p: p.phase is Phase.FAULTS)
        control.hold(by=BY, why="one at a time")
        control.start("slow", by=BY, why="now rather than in 30s")  # through the hold
        injected = await watch.first(FaultInjected, lambda e: e.fault == "slow")
        assert await toxics_of(toxiproxy_server, proxy) == {"slow"}
        # "cut" is due 300ms into the phase: held, it does not start
        await watch.samples(5, after=max(injected.seq, phase.seq))
        assert [e.fault for e in watch.of(FaultStarted)] == ["slow"]
        assert await enabled(toxiproxy_server, proxy)
        control.end("slow", by=BY)
        await watch.first(FaultReverted, lambda e: e.fault == "slow")
        control.release(by=BY)
        await watch.first(FaultReverted, lambda e: e.fault == "cut")

    faults = [slow(at="30s"), cut(at="300ms", duration="200ms")]
    result, events = await run(tmp_path, toxiproxy_server, proxy, faults, Scripted(script))
    assert result.status is RunStatus.PASSED
    assert controls(events) == [
        ("hold", None),
        ("start", "slow"),
        ("end", "slow"),
        ("release", None),
    ]
    started = one(events, FaultStarted, "slow")
    assert started.t - fault_phase(events).t < started.at  # before its offset of 30s
    release = [e for e in events if isinstance(e, ControlApplied)][-1]
    assert one(events, FaultStarted, "cut").seq > release.seq


async def test_extend_keeps_a_fault_in_force_longer(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle
) -> None:
    extension = 0.8

    async def script(control: RunControl, watch: Watch) -> None:
        await watch.first(FaultInjected, lambda e: e.fault == "slow")
        control.extend("slow", extension, by=BY, why="watch the p99 a bit longer")
        assert await toxics_of(toxiproxy_server, proxy) == {"slow"}
        await watch.first(FaultReverted, lambda e: e.fault == "slow")

    result, events = await run(
        tmp_path, toxiproxy_server, proxy, [slow(duration="400ms")], Scripted(script)
    )
    assert result.status is RunStatus.PASSED
    (extend,) = [e for e in events if isinstance(e, ControlApplied)]
    assert (extend.action, extend.step, extend.seconds, extend.iteration) == (
        "extend",
        "slow",
        extension,
        1,
    )
    started = one(events, FaultStarted, "slow")
    reverted = one(events, FaultReverted, "slow")
    assert reverted.t - started.t >= started.duration + extension


async def test_end_reverts_a_fault_before_its_planned_end(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle
) -> None:
    async def script(control: RunControl, watch: Watch) -> None:
        injected = await watch.first(FaultInjected, lambda e: e.fault == "cut")
        assert not await enabled(toxiproxy_server, proxy)
        control.end("cut", by=BY, why="customers noticed")
        reverted = await watch.first(FaultReverted, lambda e: e.fault == "cut")
        assert reverted.seq > injected.seq
        assert await enabled(toxiproxy_server, proxy)

    result, events = await run(
        tmp_path, toxiproxy_server, proxy, [cut(duration="60s")], Scripted(script)
    )
    assert result.status is RunStatus.PASSED  # it recovered once the cut ended
    reverted = one(events, FaultReverted, "cut")
    assert reverted.t - one(events, FaultStarted, "cut").t < 60
    assert controls(events) == [("end", "cut")]
    (record,) = result.faults
    assert record.reverted
    assert record.t_revert is not None
    assert isinstance(events[-1], RunFinished)


async def test_a_skipped_fault_is_never_started(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle
) -> None:
    async def script(control: RunControl, watch: Watch) -> None:
        await watch.first(PhaseChanged, lambda p: p.phase is Phase.FAULTS)
        control.skip("cut", by=BY, why="the database team is not here")
        await watch.first(FaultReverted, lambda e: e.fault == "slow")

    faults = [slow(duration="300ms"), cut(at="150ms", duration="300ms")]
    result, events = await run(tmp_path, toxiproxy_server, proxy, faults, Scripted(script))
    assert result.status is RunStatus.PASSED
    assert controls(events) == [("skip", "cut")]
    assert [e.fault for e in events if isinstance(e, FaultStarted)] == ["slow"]
    assert [f.name for f in result.faults] == ["slow"]


async def test_abort_mid_hold_leaves_nothing_applied(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle
) -> None:
    async def script(control: RunControl, watch: Watch) -> None:
        injected = await watch.first(FaultInjected, lambda e: e.fault == "slow")
        control.hold(by=BY, why="the pager went off")
        await watch.samples(3, after=injected.seq)  # "cut", due at 200ms, is held back
        assert await toxics_of(toxiproxy_server, proxy) == {"slow"}
        assert [e.fault for e in watch.of(FaultStarted)] == ["slow"]
        control.abort(by=BY, why="real incident")

    controller = Scripted(script)
    faults = [slow(duration="60s"), cut(at="200ms", duration="60s")]
    result, events = await run(tmp_path, toxiproxy_server, proxy, faults, controller)
    assert (result.status, result.exit_code) == (RunStatus.ABORTED, 3)
    assert result.reason == "aborted by facilitator: real incident"
    assert [e.fault for e in events if isinstance(e, FaultStarted)] == ["slow"]
    assert one(events, FaultReverted, "slow").seq > controls_seq(events, "abort")
    assert isinstance(events[-1], RunFinished)
    assert controller.control is not None
    with pytest.raises(ControlRefused, match="the run has ended"):
        controller.control.release(by=BY)


def controls_seq(events: list[Event], action: str) -> int:
    return next(e.seq for e in events if isinstance(e, ControlApplied) and e.action == action)

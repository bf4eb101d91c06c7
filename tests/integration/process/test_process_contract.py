"""The injector contract (chaoskit.testing) for the process injectors against
real local processes. The state is what ps and /proc show of the victim (its
processes' states and cgroups) and of the run (chaoskit helpers, cgroups named
by its tags); the effect is read there too, never through the injector."""

from __future__ import annotations

import glob
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from chaoskit_process import CpuLimit, CpuPressure, Kill, MemoryLimit, MemoryPressure, Stop
from chaoskit_process import _cgroup as cg
from process_faults import target as process_target
from process_victims import Victim, alive_with, helpers_of

from chaoskit import Injector, TargetSpec
from chaoskit.testing import AppliedFault, InjectorContract

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def cgroup_file(pid: int, controller: str, name: str) -> str | None:
    """A file of ``pid``'s cgroup v1 ``controller``, read on the host."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return (
                (Path("/sys/fs/cgroup", controller) / path.lstrip("/") / name).read_text().strip()
            )
    return None


@dataclass(frozen=True)
class Seen:
    """What a check gets: the victim, and the helpers of the fault (by its tag)."""

    victim: Victim
    helpers: list[psutil.Process]


def stopped(seen: Seen) -> bool:
    return [p.status() for p in alive_with(seen.victim.marker)] == [psutil.STATUS_STOPPED]


def down(seen: Seen) -> bool:
    return alive_with(seen.victim.marker) == []


def burning(seen: Seen) -> bool:
    if len(seen.helpers) != 1:
        return False
    [burner] = seen.helpers
    spent = sum(burner.cpu_times()[:2])
    time.sleep(0.3)
    return sum(burner.cpu_times()[:2]) - spent >= 0.03  # it spins, even on a busy machine


def holding_64mib(seen: Seen) -> bool:
    return any(p.memory_info().rss >= 60 * MIB for p in seen.helpers)


def memory_limited(seen: Seen) -> bool:
    limit = cgroup_file(seen.victim.pid, "memory", "memory.limit_in_bytes")
    return limit == str(64 * MIB)


def cpu_limited(seen: Seen) -> bool:
    quota = cgroup_file(seen.victim.pid, "cpu", "cpu.cfs_quota_us")
    period = cgroup_file(seen.victim.pid, "cpu", "cpu.cfs_period_us")
    return quota is not None and period is not None and int(quota) * 2 == int(period)


@dataclass(frozen=True)
class Case:
    injector: Injector
    params: Callable[[Victim], dict[str, Any]]
    effect: Callable[[Seen], bool]
    cgroup: str | None = None
    """The cgroup v1 controller the fault needs."""


CASES = {
    "stop": Case(Stop(), lambda victim: {}, stopped),
    "kill-with-restart": Case(
        Kill(),
        lambda victim: {"exit_within": "1s", "restart": {"command": victim.argv}},
        down,
    ),
    "cpu_pressure": Case(
        CpuPressure(), lambda victim: {"workers": 1, "max_duration": "30s"}, burning
    ),
    "memory_pressure": Case(
        MemoryPressure(), lambda victim: {"mib": 64, "max_duration": "30s"}, holding_64mib
    ),
    "memory_limit": Case(MemoryLimit(), lambda victim: {"mib": 64}, memory_limited, "memory"),
    "cpu_limit": Case(CpuLimit(), lambda victim: {"cpus": 0.5}, cpu_limited, "cpu"),
}


class TestProcessContract(InjectorContract):
    @pytest.fixture(params=sorted(CASES))
    def case(self, request: pytest.FixtureRequest) -> Case:
        case: Case = CASES[request.param]
        if case.cgroup is not None:
            hierarchy = cg.find_hierarchy(case.cgroup)
            if hierarchy is None or hierarchy.version != 1:
                pytest.skip(f"these checks read a cgroup v1 {case.cgroup} hierarchy")
        return case

    @pytest.fixture
    def victim(self, spawn: Callable[..., Victim]) -> Victim:
        victim: Victim = spawn()
        return victim

    @pytest.fixture
    def injector(self, case: Case) -> Injector:
        return case.injector

    @pytest.fixture
    def params(self, case: Case, victim: Victim) -> dict[str, Any]:
        return case.params(victim)

    @pytest.fixture
    def target(self, case: Case, victim: Victim, run_id: str) -> TargetSpec:
        self.case, self.victim, self.run_id = case, victim, run_id
        return process_target(cmdline=victim.marker)

    def snapshot(self, target: TargetSpec) -> object:
        # Whether each victim is stopped, not its exact state: a victim that
        # is starting up runs for a moment, then sleeps.
        victims = alive_with(self.victim.marker)
        return {
            "victims": sorted(
                (p.status() == psutil.STATUS_STOPPED, Path(f"/proc/{p.pid}/cgroup").read_text())
                for p in victims
            ),
            "helpers": [p.pid for p in helpers_of(self.run_id)],
            "cgroups": glob.glob(f"/sys/fs/cgroup/*/**/chaoskit-{self.run_id}*", recursive=True),
        }

    def in_force(self, fault: AppliedFault) -> bool:
        helpers = [p for p in helpers_of(self.run_id) if f"--tag={fault.tag}" in p.cmdline()]
        return self.case.effect(Seen(self.victim, helpers))

    def leftovers(self, fault: AppliedFault) -> list[Any]:
        left: list[Any] = [p.pid for p in helpers_of(self.run_id) if fault.tag in p.cmdline()]
        return left + glob.glob(f"/sys/fs/cgroup/*/**/{fault.tag}*", recursive=True)

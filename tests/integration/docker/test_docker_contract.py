"""The injector contract (chaoskit.testing) for the Docker injectors against a
real engine and BusyBox containers. The state is what the kernel and the engine
show of the container (its cgroup files read on the host, its networks, its
processes in ``docker top``, its state); the effect is read there too.

docker.restart is not here: its fault is a restart that is over when inject
returns, with nothing to revert."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from chaoskit_docker import (
    CpuLimit,
    CpuPressure,
    Kill,
    MemoryLimit,
    MemoryPressure,
    NetworkDisconnect,
    Pause,
    Stop,
)
from docker_faults import target as container_target
from docker_lab import Container, Lab

from chaoskit import Injector, TargetSpec
from chaoskit.testing import AppliedFault, InjectorContract

pytestmark = pytest.mark.integration

MiB = 1 << 20


def exited(web: Container) -> bool:
    return web.status() == "exited"


def frozen(web: Container) -> bool:
    return web.cgroup("freezer", "freezer.state") == "FROZEN"


def memory_limited(web: Container) -> bool:
    return web.cgroup("memory", "memory.limit_in_bytes") == str(64 * MiB)


def cpu_limited(web: Container) -> bool:
    quota = int(web.cgroup("cpu", "cpu.cfs_quota_us"))
    return quota > 0 and quota * 2 == int(web.cgroup("cpu", "cpu.cfs_period_us"))


def disconnected(web: Container) -> bool:
    return not web.inspect()["NetworkSettings"]["Networks"]


def holding_memory(web: Container) -> bool:
    return int(web.cgroup("memory", "memory.usage_in_bytes")) >= 30 * MiB


def burning(web: Container) -> bool:
    used = int(web.cgroup("cpuacct", "cpuacct.usage"))  # nanoseconds of CPU
    time.sleep(0.3)
    return int(web.cgroup("cpuacct", "cpuacct.usage")) - used >= 30_000_000


@dataclass(frozen=True)
class Case:
    injector: Injector
    params: Callable[[Lab], dict[str, Any]]
    effect: Callable[[Container], bool]


CASES = {
    "kill": Case(Kill(), lambda lab: {}, exited),
    "stop": Case(Stop(), lambda lab: {"timeout": "1s"}, exited),
    "pause": Case(Pause(), lambda lab: {}, frozen),
    "memory_limit": Case(MemoryLimit(), lambda lab: {"memory": "64m"}, memory_limited),
    "cpu_limit": Case(CpuLimit(), lambda lab: {"cpus": 0.5}, cpu_limited),
    "network_disconnect": Case(
        NetworkDisconnect(), lambda lab: {"network": lab.default_network()}, disconnected
    ),
    "memory_pressure": Case(
        MemoryPressure(), lambda lab: {"memory": "32m", "max_duration": "60s"}, holding_memory
    ),
    "cpu_pressure": Case(CpuPressure(), lambda lab: {"workers": 1, "max_duration": "60s"}, burning),
}


class TestDockerContract(InjectorContract):
    @pytest.fixture(params=sorted(CASES))
    def case(self, request: pytest.FixtureRequest) -> Case:
        case: Case = CASES[request.param]
        return case

    @pytest.fixture
    def injector(self, case: Case) -> Injector:
        return case.injector

    @pytest.fixture
    def params(self, case: Case, lab: Lab) -> dict[str, Any]:
        return case.params(lab)

    @pytest.fixture
    def target(self, case: Case, lab: Lab) -> TargetSpec:
        self.web = lab.container()
        self.effect = case.effect
        return container_target(container=self.web.name)

    def snapshot(self, target: TargetSpec) -> object:
        web = self.web
        return {
            "state": web.status(),
            "cgroup": {
                (controller, name): web.cgroup(controller, name)
                for controller, name in [
                    ("freezer", "freezer.state"),
                    ("memory", "memory.limit_in_bytes"),
                    ("memory", "memory.memsw.limit_in_bytes"),
                    ("cpu", "cpu.cfs_quota_us"),
                    ("cpu", "cpu.cfs_period_us"),
                    ("cpu", "cpu.shares"),
                    ("cpuset", "cpuset.cpus"),
                ]
            },
            "networks": sorted(web.inspect()["NetworkSettings"]["Networks"]),
            "processes": sorted(web.top()),
        }

    def in_force(self, fault: AppliedFault) -> bool:
        return self.effect(self.web)

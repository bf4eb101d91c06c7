"""Parameter and target validation, byte sizes, registration through entry
points, and a bad experiment shown at file:line:col. No engine needed."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from chaoskit_cli import run_chaoskit
from chaoskit_docker import (
    ContainerTarget,
    CpuLimit,
    CpuPressure,
    Kill,
    MemoryLimit,
    MemoryPressure,
    NetworkDisconnect,
    Pause,
    Restart,
    Stop,
)
from chaoskit_docker._base import parse_bytes
from pydantic import ValidationError

from chaoskit import Injector, Params, Probe, TargetSpec, Verifiable

INJECTORS = {
    "docker.kill": Kill,
    "docker.stop": Stop,
    "docker.restart": Restart,
    "docker.pause": Pause,
    "docker.memory_limit": MemoryLimit,
    "docker.cpu_limit": CpuLimit,
    "docker.memory_pressure": MemoryPressure,
    "docker.cpu_pressure": CpuPressure,
    "docker.network_disconnect": NetworkDisconnect,
}
PROBES = ("docker.state", "docker.restarts", "docker.memory", "docker.cpu")


@pytest.mark.parametrize(
    ("injector", "params", "where"),
    [
        (Kill, {"signal": "SIGFOO"}, "signal"),
        (Kill, {"signal": 99}, "signal"),
        (Kill, {"signal": True}, "signal"),
        (Kill, {"sig": "KILL"}, "sig"),
        (Stop, {"timeout": "forever"}, "timeout"),
        (Stop, {"timeout": "2m"}, "timeout"),
        (Restart, {"timeout": -1}, "timeout"),
        (Pause, {"anything": 1}, "anything"),
        (MemoryLimit, {}, "memory"),
        (MemoryLimit, {"memory": "lots"}, "memory"),
        (MemoryLimit, {"memory": "1m"}, "memory"),
        (MemoryLimit, {"memory": "64m", "memory_swap": "32m"}, "memory_swap"),
        (MemoryLimit, {"memory": "64m", "memory_swap": "infinite"}, "memory_swap"),
        (CpuLimit, {}, "give cpus, cpuset or both"),
        (CpuLimit, {"cpus": 0}, "cpus"),
        (CpuLimit, {"cpus": 0.5, "cpuset": "first"}, "cpuset"),
        (MemoryPressure, {}, "memory"),
        (MemoryPressure, {"memory": "512k"}, "memory"),
        (MemoryPressure, {"memory": "64m", "max_duration": 0}, "max_duration"),
        (CpuPressure, {"workers": 0}, "workers"),
        (CpuPressure, {"max_duration": "2d"}, "max_duration"),
        (NetworkDisconnect, {}, "network"),
        (NetworkDisconnect, {"network": ""}, "network"),
    ],
)
def test_bad_params_are_refused(injector: Any, params: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        injector.params.model_validate(params)
    assert where in str(raised.value)


@pytest.mark.parametrize(
    ("written", "signal"),
    [("KILL", "SIGKILL"), ("sigterm", "SIGTERM"), (9, "9"), ("HUP", "SIGHUP")],
)
def test_signals_are_normalised(written: object, signal: str) -> None:
    assert Kill.params.model_validate({"signal": written}).model_dump()["signal"] == signal


@pytest.mark.parametrize(
    ("written", "size"),
    [("64m", 64 << 20), ("64MiB", 64 << 20), ("1g", 1 << 30), ("1.5G", 3 << 29), (4096, 4096)],
)
def test_byte_sizes(written: object, size: int) -> None:
    assert parse_bytes(written) == size


@pytest.mark.parametrize(
    "target",
    [
        {"kind": "docker.container"},
        {"kind": "docker.container", "container": "a", "labels": {"app": "x"}},
        {"kind": "docker.container", "container": ""},
        {"kind": "docker.container", "labels": {}},
        {"kind": "docker.container", "project": "lab"},
        {"kind": "docker.container", "container": "a", "project": "lab"},
        {"kind": "docker.container", "container": "a", "count": 2},
        {"kind": "docker.container", "container": "a", "pick": "some"},
        {"kind": "docker.container", "container": "a", "pick": "random", "count": 0},
        {"kind": "docker.container", "container": "a", "docker_host": "/var/run/docker.sock"},
        {"kind": "toxiproxy.proxy", "container": "a"},
    ],
)
def test_bad_targets_are_refused(target: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ContainerTarget.model_validate(target)


def test_target_selectors() -> None:
    by_service = ContainerTarget.model_validate(
        {"kind": "docker.container", "service": "ledger", "project": "lab", "pick": "random"}
    )
    assert by_service.label_filters() == [
        "com.docker.compose.service=ledger",
        "com.docker.compose.project=lab",
    ]
    assert by_service.describe() == "containers of Compose service 'ledger' in project 'lab'"
    assert by_service.docker_host is None


def test_entry_points_register_every_plugin() -> None:
    injectors = {ep.name: ep.load() for ep in entry_points(group="chaoskit.injectors")}
    targets = {ep.name: ep.load() for ep in entry_points(group="chaoskit.targets")}
    probes = {ep.name: ep.load() for ep in entry_points(group="chaoskit.probes")}
    for name, cls in INJECTORS.items():
        assert injectors[name] is cls
        injector = cls()
        assert isinstance(injector, Injector)
        assert isinstance(injector, Verifiable)
        assert injector.name == name
        assert issubclass(injector.params, Params)
        assert injector.target_kinds == ("docker.container",)
    assert targets["docker.container"] is ContainerTarget
    assert issubclass(ContainerTarget, TargetSpec)
    for name in PROBES:
        probe = probes[name]()
        assert isinstance(probe, Probe)
        assert probe.name == name


def test_plugins_command_lists_them(tmp_path: Path) -> None:
    _, out, err = run_chaoskit(["plugins"], tmp_path)
    assert "BROKEN" not in out, out + err
    for name in [*INJECTORS, *PROBES, "docker.container"]:
        assert name in out


def test_validate_points_at_the_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        """version: 1
title: bad docker params
targets:
  web: {kind: docker.container, container: web}
steady_state:
  every: 1s
  probes:
    - name: web-state
      docker.state: {target: web}
      expect: {status: runing}
faults:
  - name: squeeze
    injector: docker.memory_limit
    target: web
    with: {memory: 2m}
    at: 0s
    duration: 5s
"""
    )
    code, out, err = run_chaoskit(["validate", str(path)], tmp_path)
    assert code == 2, out + err
    text = out + err
    # the docker.state probe's expect.status, at the value itself
    assert f"{path.name}:10:24: steady_state.probes[0].expect.status: " in text
    assert f"{path.name}:15:20: faults[0].with.memory: " in text
    assert "the engine refuses smaller memory limits" in text

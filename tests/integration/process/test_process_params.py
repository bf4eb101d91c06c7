"""Target, parameter and probe validation, and registration through entry points."""

from __future__ import annotations

import signal
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from chaoskit_cli import run_chaoskit
from chaoskit_process import (
    AliveProbe,
    CpuLimit,
    CpuPressure,
    CpuProbe,
    Kill,
    MemoryLimit,
    MemoryPressure,
    ProcessTarget,
    RssProbe,
    Stop,
)
from pydantic import ValidationError

from chaoskit import Injector, Params, Probe, TargetSpec, Verifiable

pytestmark = pytest.mark.integration

INJECTORS = {
    "process.kill": Kill,
    "process.stop": Stop,
    "process.cpu_pressure": CpuPressure,
    "process.memory_pressure": MemoryPressure,
    "process.memory_limit": MemoryLimit,
    "process.cpu_limit": CpuLimit,
}
PROBES = {"process.alive": AliveProbe, "process.rss": RssProbe, "process.cpu": CpuProbe}


@pytest.mark.parametrize(
    ("target", "where"),
    [
        ({}, "exactly one of"),
        ({"pid": 1, "name": "x"}, "given: pid, name"),
        ({"pid": 0}, "pid"),
        ({"pid_file": "run/app.pid"}, "absolute path"),
        ({"cmdline": "("}, "not a valid regular expression"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"name": ""}, "name"),
        ({"name": "x", "count": 2}, "count goes with pick: random"),
        ({"name": "x", "pick": "some"}, "pick"),
        ({"name": "x", "pick": "random", "count": 0}, "count"),
        ({"name": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_targets_are_refused(target: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ProcessTarget.model_validate({"kind": "process", **target})
    assert where in str(raised.value)


def test_target_defaults() -> None:
    target = ProcessTarget.model_validate({"kind": "process", "cmdline": "ledger"})

    assert (target.pick, target.count) == ("all", None)
    assert target.describe() == "cmdline='ledger'"


@pytest.mark.parametrize(
    ("injector", "params", "where"),
    [
        (Kill, {"signal": "SIGFOO"}, "unknown signal"),
        (Kill, {"signal": 0}, "out of range"),
        (Kill, {"signal": 65}, "out of range"),
        (Kill, {"signal": True}, "signal"),
        (Kill, {"exit_within": "20s"}, "exit_within"),
        (Kill, {"restart": {}}, "exactly one of command or shell"),
        (Kill, {"restart": {"command": ["a"], "shell": "a"}}, "exactly one of command or shell"),
        (Kill, {"restart": {"command": []}}, "command"),
        (Kill, {"restart": {"shell": "a", "cwd": "relative"}}, "absolute path"),
        (Kill, {"restart": {"shell": "a", "after": "soon"}}, "after"),
        (Stop, {"anything": 1}, "anything"),
        (CpuPressure, {"workers": 0}, "workers"),
        (CpuPressure, {"nice": 20}, "nice"),
        (CpuPressure, {"max_duration": 0}, "max_duration"),
        (MemoryPressure, {}, "mib"),
        (MemoryPressure, {"mib": 0}, "mib"),
        (MemoryPressure, {"mib": 10, "max_available": "150%"}, "max_available"),
        (MemoryPressure, {"mib": 10, "max_available": 0}, "max_available"),
        (MemoryLimit, {"mib": 0}, "mib"),
        (CpuLimit, {}, "cpus"),
        (CpuLimit, {"cpus": 0}, "cpus"),
        (CpuLimit, {"cpus": 0.001}, "the kernel needs at least 1000"),
        (CpuLimit, {"cpus": 0.5, "period": "2s"}, "period"),
    ],
)
def test_bad_params_are_refused(injector: Any, params: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        injector.params.model_validate(params)
    assert where in str(raised.value)


@pytest.mark.parametrize(
    ("written", "number"),
    [("SIGTERM", signal.SIGTERM), ("term", signal.SIGTERM), (15, 15), ("9", 9), ("HUP", 1)],
)
def test_signals_by_name_or_number(written: object, number: int) -> None:
    assert Kill.params.model_validate({"signal": written}).signal == number  # type: ignore[attr-defined]


def test_kill_defaults_to_sigkill() -> None:
    params = Kill.params.model_validate({})

    assert params.signal == signal.SIGKILL  # type: ignore[attr-defined]
    assert params.exit_within == 5.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("probe", "params", "where"),
    [
        (AliveProbe, {}, "exactly one of target"),
        (AliveProbe, {"target": "t", "pid": 3}, "given: pid, target"),
        (RssProbe, {"cmdline": "["}, "regular expression"),
        (CpuProbe, {"pid": 3, "interval": 0}, "interval"),
    ],
)
def test_bad_probe_params_are_refused(probe: Any, params: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        probe.params.model_validate(params)
    assert where in str(raised.value)


def test_alive_expects_at_least_one_by_default() -> None:
    expect = AliveProbe.expect.model_validate({})

    assert str(expect.count) == ">= 1"  # type: ignore[attr-defined]


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
        assert injector.target_kinds == ("process",)
    assert targets["process"] is ProcessTarget
    assert issubclass(ProcessTarget, TargetSpec)
    for name, cls in PROBES.items():
        assert probes[name] is cls
        probe = cls()
        assert isinstance(probe, Probe)
        assert probe.name == name


def test_chaoskit_plugins_lists_them_unbroken(tmp_path: Path) -> None:
    _, out, err = run_chaoskit(["plugins"], tmp_path)

    for name in [*INJECTORS, *PROBES, "process"]:
        lines = [line for line in out.splitlines() if f" {name} " in f" {line} "]
        assert lines, out + err
        assert not any(line.startswith("BROKEN") for line in lines), lines


def test_validate_points_at_the_bad_param(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        """version: 1
title: bad process params
targets:
  app: {kind: process, cmdline: "my-service"}
steady_state:
  probes:
    - name: up
      process.alive: {target: app}
faults:
  - name: cap
    injector: process.cpu_limit
    target: app
    duration: 1s
    with:
      cpus: 0
  - name: boom
    injector: process.kill
    target: app
    duration: 1s
    with: {signal: SIGFOO}
"""
    )
    code, out, err = run_chaoskit(["validate", str(path)], tmp_path)

    assert code == 2, out + err
    text = out + err
    assert f"{path.name}:15:13: faults[0].with.cpus" in text, text
    assert f"{path.name}:20:" in text, text
    assert "unknown signal" in text, text

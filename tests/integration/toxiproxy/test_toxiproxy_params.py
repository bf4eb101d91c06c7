"""Parameter and target validation, and registration through entry points.
No server needed."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pytest
from chaoskit_toxiproxy import (
    Bandwidth,
    Down,
    Latency,
    LimitData,
    ProxyTarget,
    ResetPeer,
    Slicer,
    SlowClose,
    Timeout,
)
from pydantic import ValidationError

from chaoskit import Injector, Params, Probe, TargetSpec, Verifiable

INJECTORS = {
    "toxiproxy.latency": Latency,
    "toxiproxy.bandwidth": Bandwidth,
    "toxiproxy.timeout": Timeout,
    "toxiproxy.reset_peer": ResetPeer,
    "toxiproxy.slow_close": SlowClose,
    "toxiproxy.slicer": Slicer,
    "toxiproxy.limit_data": LimitData,
    "toxiproxy.down": Down,
}


@pytest.mark.parametrize(
    ("injector", "params", "where"),
    [
        (Latency, {"latency": -1}, "latency"),
        (Latency, {"latency": "-300ms"}, "latency"),
        (Latency, {"latency": "fast"}, "latency"),
        (Latency, {}, "latency"),
        (Latency, {"latency": "300ms", "toxicity": 2}, "toxicity"),
        (Latency, {"latency": "300ms", "toxicity": -0.1}, "toxicity"),
        (Latency, {"latency": "300ms", "stream": "sideways"}, "stream"),
        (Latency, {"latency": "300ms", "jitter": "a bit"}, "jitter"),
        (Latency, {"latency": "300ms", "colour": "red"}, "colour"),
        (Bandwidth, {"rate": 0}, "rate"),
        (Bandwidth, {"rate": -5}, "rate"),
        (Timeout, {}, "timeout"),
        (Timeout, {"timeout": -1}, "timeout"),
        (ResetPeer, {"timeout": "soon"}, "timeout"),
        (SlowClose, {"delay": -0.5}, "delay"),
        (Slicer, {"average_size": 0}, "average_size"),
        (Slicer, {"average_size": 10, "size_variation": 10}, "size_variation"),
        (LimitData, {"bytes": -1}, "bytes"),
        (Down, {"anything": 1}, "anything"),
    ],
)
def test_bad_params_are_refused(injector: Any, params: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        injector.params.model_validate(params)
    assert where in str(raised.value)


def test_durations_become_seconds() -> None:
    params = Latency.params.model_validate({"latency": "1.5s", "jitter": "20ms"})

    assert Latency().attributes(params) == {"latency": 1500, "jitter": 20}


@pytest.mark.parametrize(
    "target",
    [
        {"kind": "toxiproxy.proxy"},
        {"kind": "toxiproxy.proxy", "name": ""},
        {"kind": "toxiproxy.proxy", "name": "p", "server": "127.0.0.1:8474"},
        {"kind": "toxiproxy.proxy", "name": "p", "listen": "127.0.0.1:21000"},
        {"kind": "toxiproxy.proxy", "name": "p", "listen": "nope", "upstream": "127.0.0.1:1"},
        {"kind": "docker.container", "name": "p"},
    ],
)
def test_bad_targets_are_refused(target: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ProxyTarget.model_validate(target)


def test_target_defaults() -> None:
    target = ProxyTarget.model_validate({"kind": "toxiproxy.proxy", "name": "ledger_postgres"})

    assert target.server == "http://127.0.0.1:8474"
    assert (target.listen, target.upstream) == (None, None)


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
        assert injector.target_kinds == ("toxiproxy.proxy",)
    assert targets["toxiproxy.proxy"] is ProxyTarget
    assert issubclass(ProxyTarget, TargetSpec)
    probe = probes["toxiproxy.proxy_state"]()
    assert isinstance(probe, Probe)
    assert probe.name == "toxiproxy.proxy_state"

"""The injector contract (chaoskit.testing) for every Toxiproxy injector
against a real Toxiproxy; toxiproxy.down is in test_contract_down.py, the
example the docs include.

The state before and after is the proxies as Toxiproxy's API lists them; the
effect is seen by an independent client on real traffic through the proxy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from chaoskit_toxiproxy import (
    Bandwidth,
    Latency,
    LimitData,
    Partition,
    ProxiesTarget,
    ProxyTarget,
    ResetPeer,
    Slicer,
    SlowClose,
    Timeout,
)
from servers import ProxyHandle
from toxiproxy_checks import exchange_until_eof, http_get, refuses_connections

from chaoskit import Injector, TargetSpec
from chaoskit.testing import AppliedFault, InjectorContract

pytestmark = pytest.mark.integration

SLOW = 0.35
"""Seconds that only a fault makes a loopback request take (~100x a normal one)."""


def slow(port: int) -> bool:
    return http_get(port, timeout=5.0).elapsed >= SLOW


def slow_download(port: int) -> bool:
    # 8 KB at 8 KB/s take about a second; unthrottled, a few milliseconds.
    return http_get(port, "/bytes/8192", timeout=15.0).elapsed >= SLOW


def black_hole(port: int) -> bool:
    """No answer at all within half a second (a refusal or reset is not a black hole)."""
    try:
        http_get(port, timeout=0.5)
    except TimeoutError:
        return True
    return False


def reset(port: int) -> bool:
    try:
        exchange_until_eof(port)
    except ConnectionResetError:
        return True
    return False


def late_close(port: int) -> bool:
    exchange = exchange_until_eof(port)
    return exchange.data.endswith(b"\r\n\r\nok") and exchange.eof_after >= SLOW


def sliced(port: int) -> bool:
    exchange = exchange_until_eof(port, "/bytes/1000")
    return exchange.data.endswith(b"x" * 1000) and exchange.eof_after >= SLOW


def cut_short(port: int) -> bool:
    return len(exchange_until_eof(port, "/bytes/10000").data) <= 100


@dataclass(frozen=True)
class Case:
    injector: Injector
    params: dict[str, Any]
    effect: Callable[[int], bool]
    """True when traffic through the proxy on this port shows the fault."""


TOXICS = {
    "latency": Case(Latency(), {"latency": "400ms"}, slow),
    "latency-both-streams": Case(Latency(), {"latency": "200ms", "stream": "both"}, slow),
    "bandwidth": Case(Bandwidth(), {"rate": 8}, slow_download),
    "timeout": Case(Timeout(), {"timeout": 0}, black_hole),
    "timeout-upstream": Case(Timeout(), {"timeout": 0, "stream": "upstream"}, black_hole),
    "reset_peer": Case(ResetPeer(), {}, reset),
    "slow_close": Case(SlowClose(), {"delay": "500ms"}, late_close),
    "slicer": Case(Slicer(), {"average_size": 100, "size_variation": 20, "delay": "50ms"}, sliced),
    "limit_data": Case(LimitData(), {"bytes": 100}, cut_short),
    "partition-refuse": Case(Partition(), {"mode": "refuse"}, refuses_connections),
    "partition-blackhole": Case(Partition(), {"mode": "blackhole"}, black_hole),
}


def listed(server: str, name: str) -> tuple[int, object]:
    """A proxy as Toxiproxy's API lists it (addresses, enabled, toxics), read independently."""
    response = httpx.get(f"{server}/proxies/{name}", timeout=5.0, trust_env=False)
    return response.status_code, response.json()


class TestToxicContract(InjectorContract):
    """Each toxic injector, and partition on a single proxy, on one fresh proxy."""

    @pytest.fixture(params=sorted(TOXICS))
    def case(self, request: pytest.FixtureRequest) -> Case:
        case: Case = TOXICS[request.param]
        return case

    @pytest.fixture
    def injector(self, case: Case) -> Injector:
        return case.injector

    @pytest.fixture
    def params(self, case: Case) -> dict[str, Any]:
        return case.params

    @pytest.fixture
    def target(self, proxy: ProxyHandle, case: Case) -> TargetSpec:
        self.port = proxy.listen_port
        self.effect = case.effect
        return ProxyTarget(server=proxy.server_url, name=proxy.name)

    def snapshot(self, target: TargetSpec) -> object:
        assert isinstance(target, ProxyTarget)
        return listed(target.server, target.name)

    def in_force(self, fault: AppliedFault) -> bool:
        return self.effect(self.port)

    def leftovers(self, fault: AppliedFault) -> list[Any]:
        assert isinstance(fault.ctx.target, ProxyTarget)
        _, proxy = listed(fault.ctx.target.server, fault.ctx.target.name)
        assert isinstance(proxy, dict)
        return [toxic["name"] for toxic in proxy["toxics"] if fault.tag in toxic["name"]]


PARTITIONS = {
    "refuse": ({"mode": "refuse"}, refuses_connections),
    "blackhole": ({"mode": "blackhole"}, black_hole),
    "blackhole-upstream": ({"mode": "blackhole", "direction": "upstream"}, black_hole),
}


class TestPartitionContract(InjectorContract):
    """toxiproxy.partition on a toxiproxy.proxies set of two proxies (a third,
    outside the set, must not change); cut means cut on each of the two."""

    @pytest.fixture
    def injector(self) -> Injector:
        return Partition()

    @pytest.fixture(params=sorted(PARTITIONS))
    def params(self, request: pytest.FixtureRequest) -> dict[str, Any]:
        params, self.effect = PARTITIONS[request.param]
        return params

    @pytest.fixture
    def target(self, make_proxy: Callable[..., ProxyHandle], params: dict[str, Any]) -> TargetSpec:
        self.members = [make_proxy(), make_proxy()]
        self.outsider = make_proxy()
        server = self.outsider.server_url
        return ProxiesTarget(server=server, names=[proxy.name for proxy in self.members])

    def snapshot(self, target: TargetSpec) -> object:
        assert isinstance(target, ProxiesTarget)
        return [listed(target.server, proxy.name) for proxy in [*self.members, self.outsider]]

    def in_force(self, fault: AppliedFault) -> bool:
        reply = http_get(self.outsider.listen_port, timeout=5.0)
        assert reply.status == 200, "the partition reached a proxy outside the set"
        return all(self.effect(proxy.listen_port) for proxy in self.members)

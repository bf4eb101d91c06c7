"""The injector contract for toxiproxy.down: the worked example of
docs/writing-injectors.md ("Testing your injector"), included there verbatim."""

from __future__ import annotations

import httpx
import pytest
from chaoskit_toxiproxy import Down, ProxyTarget
from servers import ProxyHandle
from toxiproxy_checks import refuses_connections

from chaoskit import Injector, TargetSpec
from chaoskit.testing import AppliedFault, InjectorContract

pytestmark = pytest.mark.integration


class TestDownContract(InjectorContract):
    @pytest.fixture
    def injector(self) -> Injector:
        return Down()

    @pytest.fixture
    def target(self, proxy: ProxyHandle) -> TargetSpec:
        self.port = proxy.listen_port  # where in_force connects
        return ProxyTarget(server=proxy.server_url, name=proxy.name)

    def snapshot(self, target: TargetSpec) -> object:
        # The proxy as Toxiproxy's own API lists it: addresses, enabled, toxics.
        assert isinstance(target, ProxyTarget)
        url = f"{target.server}/proxies/{target.name}"
        response = httpx.get(url, timeout=5.0, trust_env=False)
        return response.status_code, response.json()

    def in_force(self, fault: AppliedFault) -> bool:
        # A disabled proxy closes its listener: a new connection is refused.
        return refuses_connections(self.port)

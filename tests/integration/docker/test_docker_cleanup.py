"""The tests' own hygiene: what a lab creates (containers, networks, a running
hog, a container the fault left stopped) is gone after its cleanup, found by
label. The session fixture checks the same for the whole session at its end."""

from __future__ import annotations

from typing import Any

import pytest
from chaoskit_docker import CpuPressure, Stop
from docker_faults import target
from docker_lab import Lab

from chaoskit.testing import fault_context

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_nothing_labelled_is_left_after_cleanup(docker_api: Any, busybox_image: str) -> None:
    own = Lab(docker_api, busybox_image)
    try:
        network = own.network()
        web = own.container(network=network)
        own.container(network=network, publish=False, restart_policy={"Name": "always"})
        ctx = fault_context(CpuPressure(), target(container=web.name), {})
        await CpuPressure().inject(ctx, await CpuPressure().prepare(ctx))
        stopped = own.container(publish=False)
        ctx = fault_context(Stop(), target(container=stopped.name), {"timeout": "1s"})
        await Stop().inject(ctx, await Stop().prepare(ctx))
        containers, networks = own.leftovers()
        assert len(containers) == 3
        assert len(networks) == 2  # its default network and the one made here
    finally:
        own.cleanup()
    assert own.leftovers() == ([], [])

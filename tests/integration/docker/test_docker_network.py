"""network_disconnect against a real engine: a client container on the same
test network reaches the server by its alias until the fault, and again after
the revert, which gives back the same aliases and address."""

from __future__ import annotations

import pytest
from chaoskit_docker import NetworkDisconnect
from docker_faults import containers_of, target
from docker_lab import Container, Lab

from chaoskit import FaultNotInForce, InjectorError
from chaoskit.testing import FaultTracker, fault_context, journal_roundtrip

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def reaches(client: Container, host: str) -> bool:
    """``GET /health`` from inside the client container (BusyBox nc: its static
    wget cannot resolve names)."""
    request = f"printf 'GET /health HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} 80"
    _, output = client.exec("sh", "-c", request)
    return " 200 OK" in output


def endpoint(container: Container, network: str) -> dict[str, object] | None:
    networks = container.inspect()["NetworkSettings"]["Networks"]
    found: dict[str, object] | None = networks.get(network)
    return found


def setup(lab: Lab) -> tuple[str, Container, Container]:
    network = lab.network(subnet="172.31.250.0/24")
    server = lab.container(publish=False, network=network)
    server.client.api.disconnect_container_from_network(server.id, network)
    server.client.api.connect_container_to_network(
        server.id, network, aliases=["backend", "db"], ipv4_address="172.31.250.10"
    )
    client = lab.container(command=["sleep", "600"], publish=False, network=network)
    return network, server, client


async def test_disconnect_cuts_and_revert_reconnects_as_before(
    lab: Lab, faults: FaultTracker
) -> None:
    network, server, client = setup(lab)
    assert reaches(client, "backend")
    before = endpoint(server, network)
    assert before is not None
    fault = await faults.apply(
        NetworkDisconnect(), target(container=server.name), {"network": network}
    )
    await fault.verify()
    assert endpoint(server, network) is None
    assert not reaches(client, "backend")
    assert not reaches(client, "172.31.250.10")
    [entry] = containers_of(fault)
    assert entry["endpoint"] == {
        "Aliases": ["backend", "db"],
        "IPAMConfig": {"IPv4Address": "172.31.250.10"},
    }

    await NetworkDisconnect().revert(fault.ctx, journal_roundtrip(fault.revert_state))
    after = endpoint(server, network)
    assert after is not None
    assert after["IPAddress"] == "172.31.250.10"
    assert set(after["Aliases"]) >= {"backend", "db"}  # type: ignore[arg-type]
    assert reaches(client, "backend")
    assert reaches(client, "db")
    await fault.revert()  # twice: harmless
    assert reaches(client, "backend")
    with pytest.raises(FaultNotInForce, match="still attached"):
        await fault.verify()


async def test_revert_attaches_a_recreated_container(lab: Lab) -> None:
    network, server, client = setup(lab)
    ctx = fault_context(NetworkDisconnect(), target(container=server.name), {"network": network})
    state = await NetworkDisconnect().inject(ctx, await NetworkDisconnect().prepare(ctx))
    server.client.api.remove_container(server.id, force=True)
    again = lab.container(server.name, publish=False, network=lab.network())
    await NetworkDisconnect().revert(ctx, state)
    assert endpoint(again, network) is not None
    assert reaches(client, "db")


async def test_preflight_needs_the_container_on_the_network(lab: Lab) -> None:
    _, server, _ = setup(lab)
    other = lab.network()
    ctx = fault_context(NetworkDisconnect(), target(container=server.name), {"network": other})
    with pytest.raises(InjectorError, match="is not attached to network"):
        await NetworkDisconnect().preflight(ctx)
    ctx = fault_context(
        NetworkDisconnect(), target(container=server.name), {"network": "chaoskit-no-such-net"}
    )
    with pytest.raises(InjectorError, match="there is no network 'chaoskit-no-such-net'"):
        await NetworkDisconnect().preflight(ctx)

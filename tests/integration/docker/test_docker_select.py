"""Selecting containers by labels and Compose service, ``pick``, and finding a
Compose container again after it was recreated under another name."""

from __future__ import annotations

import pytest
from chaoskit_docker import MemoryLimit, Pause
from docker_faults import containers_of, target
from docker_lab import Lab

from chaoskit import InjectorError
from chaoskit.testing import FaultTracker, fault_context, journal_roundtrip

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def compose_labels(project: str, service: str, number: int) -> dict[str, str]:
    return {
        "com.docker.compose.project": project,
        "com.docker.compose.service": service,
        "com.docker.compose.container-number": str(number),
    }


async def test_labels_select_all_of_them(lab: Lab, faults: FaultTracker) -> None:
    web = [lab.container(labels={"app": lab.value}) for _ in range(2)]
    bystander = lab.container(labels={"app": "other"})
    fault = await faults.apply(Pause(), target(labels={"app": lab.value}), {})
    assert sorted(entry["name"] for entry in containers_of(fault)) == sorted(c.name for c in web)
    assert [c.status() for c in web] == ["paused", "paused"]
    assert bystander.status() == "running"
    await fault.revert()
    assert [c.status() for c in web] == ["running", "running"]


async def test_pick_one_wants_exactly_one_and_random_takes_count(
    lab: Lab, faults: FaultTracker
) -> None:
    names = [f"chaoskit-test-{lab.value}-{letter}" for letter in "cab"]
    web = {name: lab.container(name, labels={"app": lab.value}) for name in names}
    ctx = fault_context(Pause(), target(labels={"app": lab.value}, pick="one"), {})
    with pytest.raises(
        InjectorError, match=rf"pick: one, but 3 .*{names[1]}, {names[2]}, {names[0]}"
    ):
        await Pause().preflight(ctx)
    one = await faults.apply(Pause(), target(container=names[0], pick="one"), {})
    assert [entry["name"] for entry in containers_of(one)] == [names[0]]
    await one.revert()

    chosen = set()
    for _ in range(6):
        fault = await faults.apply(
            Pause(), target(labels={"app": lab.value}, pick="random", count=2), {}
        )
        picked = {entry["name"] for entry in containers_of(fault)}
        assert len(picked) == 2
        assert {name for name, c in web.items() if c.status() == "paused"} == picked
        chosen |= picked
        await fault.revert()
        assert all(c.status() == "running" for c in web.values())
    assert len(chosen) == 3  # over six draws of two out of three, all were picked (p > 0.99)


async def test_compose_service_and_successor(lab: Lab) -> None:
    project = f"proj{lab.value[-6:]}"
    first = lab.container(labels=compose_labels(project, "ledger", 1), mem_limit="256m")
    lab.container(labels=compose_labels(f"{project}x", "ledger", 1))  # another project
    selector = target(service="ledger", project=project)
    ctx = fault_context(MemoryLimit(), selector, {"memory": "64m"})
    state = await MemoryLimit().inject(ctx, await MemoryLimit().prepare(ctx))
    assert isinstance(state, dict)
    [entry] = state["containers"]  # type: ignore[misc]
    assert entry["compose"]["com.docker.compose.service"] == "ledger"  # type: ignore[index, call-overload]

    # Compose recreates it, under another name this time, with the fault's limit copied.
    first.client.api.remove_container(first.id, force=True)
    successor = lab.container(
        labels=compose_labels(project, "ledger", 1), mem_limit="64m", memswap_limit="64m"
    )
    await MemoryLimit().revert(ctx, journal_roundtrip(state))
    assert successor.host_config()["Memory"] == 256 << 20

"""Fixtures for the Docker family: the engine, the local BusyBox image, a lab
that removes every container and network it made (by label), and the
``faults`` fixture (chaoskit.testing) that reverts whatever a test left applied
and fails the test if that revert fails."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from docker_lab import Lab, docker_client, ensure_image, labelled_leftovers, remove_labelled

from chaoskit.testing import FaultTracker

SESSION = f"s{uuid.uuid4().hex[:10]}"
"""The label value of this session's containers and networks."""


@pytest.fixture(scope="session")
def docker_api() -> Iterator[Any]:
    """A Docker SDK client for the tests' own (independent) checks."""
    try:
        import docker
    except ImportError:  # pragma: no cover - it is a dependency
        pytest.skip("the docker SDK is not installed")
    try:
        client = docker_client()
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        message = f"the Docker engine does not answer ({exc}): run ./dev setup"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield client
    finally:
        remove_labelled(client, SESSION)
        leftovers = labelled_leftovers(client, SESSION)
        client.close()
        assert leftovers == ([], []), f"left behind: {leftovers}"


@pytest.fixture(scope="session")
def busybox_image(docker_api: Any) -> str:
    """``chaoskit-test/busybox:local``, imported once from busybox-static if missing."""
    if not os.path.exists("/bin/busybox"):
        pytest.skip("/bin/busybox is missing: run ./dev setup (it installs busybox-static)")
    return ensure_image(docker_api)


@pytest.fixture
def lab(docker_api: Any, busybox_image: str) -> Iterator[Lab]:
    """Containers and networks for one test, all removed afterwards."""
    made = Lab(docker_api, busybox_image, value=f"{SESSION}-{uuid.uuid4().hex[:6]}")
    try:
        yield made
    finally:
        made.cleanup()
        remove_labelled(docker_api, SESSION)  # containers a test labelled for the session


@pytest.fixture
async def faults(lab: Lab) -> AsyncIterator[FaultTracker]:
    """``await faults.apply(injector, target, params)`` runs preflight, prepare and
    inject and returns a chaoskit.testing.AppliedFault. Every fault still applied
    is reverted at teardown (before the lab's containers go), which fails if a
    revert does."""
    async with FaultTracker() as tracker:
        yield tracker

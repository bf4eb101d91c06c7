"""End-to-end: the example experiments against the real lab, in both runtimes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from lab_runtime import docker_answers


@pytest.fixture(params=["process", "docker"])
def runtime(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each e2e test runs once per lab runtime; the lab is down before and after."""
    name: str = request.param
    if name == "docker" and not docker_answers():
        pytest.skip("no Docker engine answers (./dev setup starts one)")
    lab = [sys.executable, "-m", "chaoskit", "lab"]
    subprocess.run([*lab, "down", "--runtime", name], capture_output=True, timeout=120, check=False)
    yield name
    subprocess.run([*lab, "down", "--runtime", name], capture_output=True, timeout=120, check=False)


@pytest.fixture
def docker_lab() -> Iterator[str]:
    """For the experiments that need containers (limits, restart policy): the
    docker runtime only; the lab is down before and after."""
    if not docker_answers():
        pytest.skip("no Docker engine answers (./dev setup starts one)")
    lab = [sys.executable, "-m", "chaoskit", "lab"]
    subprocess.run(
        [*lab, "down", "--runtime", "docker"], capture_output=True, timeout=120, check=False
    )
    yield "docker"
    subprocess.run(
        [*lab, "down", "--runtime", "docker"], capture_output=True, timeout=120, check=False
    )

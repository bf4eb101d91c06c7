"""End-to-end: the example experiments against the real lab, in both runtimes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

ROOT_MARKER = "experiments"


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return done.returncode == 0


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

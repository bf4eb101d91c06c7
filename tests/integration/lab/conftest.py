"""Fixtures for the lab's tests: one lab per runtime for the session (tests change its knobs;
``up`` restarts only what a change touches), images built once, nothing left behind."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from labtools import LabDriver

from chaoskit.lab import PROXIES, down, load_config
from chaoskit.lab.core import docker_engine_answers
from chaoskit.lab.health import port_answers
from chaoskit.lab.process import PG_BIN
from chaoskit.lab.state import load_state

ROOT = Path(__file__).resolve().parents[3]
IMAGE_BUILD_TIMEOUT = 1500


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)  # CI sets these up: a skip there would hide a broken set-up
    pytest.skip(message)


def _refuse_running_lab() -> None:
    """These tests use the lab's fixed ports and take the lab down: not someone's lab."""
    config = load_config()
    state = load_state(config.state_dir)
    if state is not None and state.services:
        pytest.fail(
            f"a lab is up ({state.runtime}, {sorted(state.services)}): take it down first "
            "(chaoskit lab down)"
        )
    busy = [port for port in config.ports.all().values() if port_answers(port)]
    if busy:
        pytest.fail(f"lab ports in use on 127.0.0.1: {busy}")


@pytest.fixture(scope="session")
def lab_images() -> None:
    """The docker images, built once per session (idempotent and cached:
    compose/build-images.sh returns in about a second when they are current)."""
    done = subprocess.run(
        ["bash", str(ROOT / "compose" / "build-images.sh")],
        capture_output=True,
        text=True,
        timeout=IMAGE_BUILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _require(runtime: str, request: pytest.FixtureRequest) -> None:
    if runtime == "docker":
        if not docker_engine_answers():
            _unavailable("no Docker engine answers (./dev setup starts dockerd)")
        request.getfixturevalue("lab_images")
        return
    if shutil.which("toxiproxy-server") is None:
        _unavailable("toxiproxy-server is not on PATH: run ./dev setup")
    if not (PG_BIN / "postgres").exists():
        _unavailable(f"PostgreSQL 15 is not in {PG_BIN}: run ./dev setup")
    missing = [m for m in ("aiohttp", "psycopg", "psycopg_pool") if not importlib.util.find_spec(m)]
    if missing:
        pytest.fail(f"the lab's services need {missing} in this Python: uv sync")


@pytest.fixture(scope="session", params=["process", "docker"])
def lab_runtime(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each runtime in turn, for all the tests that use it; the lab is taken down after."""
    runtime: str = request.param
    _require(runtime, request)
    _refuse_running_lab()
    try:
        yield runtime
    finally:
        down(runtime, force=True)


@pytest.fixture
def lab(lab_runtime: str) -> Iterator[LabDriver]:
    """The lab of the current runtime (tests call ``lab.up(KNOB=value)``); proxies are
    re-enabled after each test, whatever it did."""
    driver = LabDriver.for_runtime(lab_runtime)
    yield driver
    for proxy in PROXIES:
        if port_answers(driver.ports.toxiproxy):
            driver.set_proxy(proxy, True)

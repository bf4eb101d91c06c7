"""Whole experiments through the real ``chaoskit`` CLI against a real engine:
a run whose Docker faults are seen, verified and reverted, and ``kill -9`` of
the runner mid-fault followed by ``chaoskit rollback`` leaving nothing applied."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaoskit_cli import ChaoskitProcess, journal_events, run_chaoskit, start_chaoskit
from docker_faults import answers
from docker_lab import Container, Lab, wait_until

pytestmark = pytest.mark.integration

MiB = 1 << 20


def write_experiment(tmp_path: Path, lab: Lab, web: Container, network: str, duration: str) -> Path:
    document: dict[str, Any] = {
        "version": 1,
        "title": "docker faults",
        "targets": {
            "web": {"kind": "docker.container", "labels": {**lab.labels, "role": "web"}},
            "worker": {"kind": "docker.container", "labels": {**lab.labels, "role": "worker"}},
        },
        "steady_state": {
            "every": "200ms",
            "stable_for": "400ms",
            "baseline": "400ms",
            "probes": [
                {"name": "web", "http": {"url": f"http://127.0.0.1:{web.port}/health"}},
                {
                    "name": "worker-state",
                    "docker.state": {"target": "worker"},
                    "expect": {"status": "running"},
                    "scope": "outside",
                },
            ],
        },
        "faults": [
            {
                "name": "squeeze",
                "injector": "docker.memory_limit",
                "target": "web",
                "with": {"memory": "64m"},
                "at": "0s",
                "duration": duration,
            },
            {
                "name": "freeze",
                "injector": "docker.pause",
                "target": "web",
                "at": "300ms",
                "duration": duration,
            },
            {
                "name": "burn",
                "injector": "docker.cpu_pressure",
                "target": "worker",
                "with": {"workers": 1, "max_duration": "2m"},
                "at": "0s",
                "duration": duration,
            },
            {
                "name": "cut",
                "injector": "docker.network_disconnect",
                "target": "worker",
                "with": {"network": network},
                "at": "0s",
                "duration": duration,
            },
        ],
        "expect": {"mttr": "< 20s"},
    }
    path = tmp_path / "docker.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def make_lab(lab: Lab) -> tuple[Container, Container, str]:
    network = lab.default_network()
    web = lab.container(labels={"role": "web"}, mem_limit="256m", memswap_limit="512m")
    worker = lab.container(labels={"role": "worker"}, publish=False)
    return web, worker, network


def hogs(container: Container) -> list[str]:
    return [line for line in container.top() if ".cpu-hog" in line]


def assert_clean(web: Container, worker: Container, network: str) -> None:
    assert web.status() == "running"
    assert (web.host_config()["Memory"], web.host_config()["MemorySwap"]) == (256 * MiB, 512 * MiB)
    port = web.port
    assert port is not None
    wait_until(lambda: answers(port), "the web container to answer")
    assert worker.status() == "running"
    assert hogs(worker) == []
    assert network in worker.inspect()["NetworkSettings"]["Networks"]


def test_a_run_applies_verifies_and_reverts(tmp_path: Path, lab: Lab) -> None:
    web, worker, network = make_lab(lab)
    path = write_experiment(tmp_path, lab, web, network, duration="1500ms")

    code, out, err = run_chaoskit(["run", str(path), "--json"], tmp_path)

    assert code == 0, out + err
    result = json.loads(out)
    assert result["status"] == "passed"
    assert {fault["name"] for fault in result["faults"]} == {"squeeze", "freeze", "burn", "cut"}
    for fault in result["faults"]:
        assert fault["verified"] is True, fault
        assert fault["reverted"] is True, fault
    assert result["measurements"]["mttr"]["max"] > 0  # the web probe saw the pause
    assert_clean(web, worker, network)


def wait_for_injected(run: ChaoskitProcess, count: int, timeout: float = 30.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_dir = run.run_dir()
        if run_dir is not None:
            injected = [e for e in journal_events(run_dir) if e["event"] == "fault_injected"]
            if len(injected) >= count:
                return run_dir
        assert run.process.poll() is None, run.finish()
        time.sleep(0.05)
    raise AssertionError(f"{count} faults were not injected within {timeout}s")


def test_kill_9_then_rollback_leaves_nothing_applied(tmp_path: Path, lab: Lab) -> None:
    web, worker, network = make_lab(lab)
    path = write_experiment(tmp_path, lab, web, network, duration="60s")
    run = start_chaoskit(["run", str(path)], tmp_path)
    run_dir = wait_for_injected(run, 4)

    run.send(signal.SIGKILL)
    run.finish()

    # Everything is still applied: nobody reverted.
    assert web.status() == "paused"
    assert web.host_config()["Memory"] == 64 * MiB
    assert hogs(worker)
    assert network not in worker.inspect()["NetworkSettings"]["Networks"]

    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 0, out + err
    for name in ("squeeze", "freeze", "burn", "cut"):
        assert f"reverted  {name}" in out
    assert_clean(web, worker, network)

    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 0, out + err
    assert "nothing to do" in out
    assert_clean(web, worker, network)

"""A signal while the lab is starting: reported, and whatever the start had begun is
taken down again — by ``chaoskit lab up`` and by ``chaoskit run``'s own bring-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from labtools import assert_nothing_left

from chaoskit.lab import down, load_config
from chaoskit.lab.state import load_state

pytestmark = pytest.mark.integration


def _begun(runtime: str) -> bool:
    """Whether the lab start has visibly begun: a service recorded (process) or a
    container of the lab's project created (docker)."""
    if runtime == "docker":
        listed = subprocess.run(
            ["docker", "container", "ls", "-a", "-q", "--filter",
             "label=com.docker.compose.project=chaoskit-lab"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return bool(listed.stdout.strip())
    state = load_state(load_config().state_dir)
    return state is not None and bool(state.services)


def _signal_once_begun(
    command: list[str], runtime: str, signum: signal.Signals
) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, env={**os.environ, "CHAOSKIT_LAB_RUNTIME": runtime},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not _begun(runtime):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the lab start did not begin within 120 s"
            time.sleep(0.02)
        process.send_signal(signum)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_signal_during_lab_up_takes_down_what_it_began(
    lab_runtime: str, signum: signal.Signals
) -> None:
    down(lab_runtime, force=True)
    done = _signal_once_begun(
        [sys.executable, "-m", "chaoskit", "lab", "up", "--runtime", lab_runtime],
        lab_runtime,
        signum,
    )
    assert done.returncode == 1, done.stderr
    assert f"{signum.name} while bringing the lab up" in done.stderr
    assert "taken down" in done.stderr
    assert_nothing_left(lab_runtime)


def test_a_signal_during_a_runs_lab_start_is_reported(lab_runtime: str, tmp_path: Path) -> None:
    down(lab_runtime, force=True)
    experiment = tmp_path / "lab.yaml"
    experiment.write_text(
        textwrap.dedent(
            """
            version: 1
            title: needs the lab
            lab: {runtime: auto}
            steady_state:
              every: 250ms
              baseline: 1s
              probes:
                - name: ledger
                  http: {url: "http://127.0.0.1:18100/health"}
                  expect: {status: 200}
            """
        )
    )
    done = _signal_once_begun(
        [sys.executable, "-m", "chaoskit", "run", str(experiment), "--runs-dir",
         str(tmp_path / "runs")],
        lab_runtime,
        signal.SIGTERM,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "SIGTERM while bringing the lab up" in done.stderr
    assert "nothing was run" in done.stderr
    assert_nothing_left(lab_runtime)

"""A test's handle on the lab: bring it up with knobs, talk to its services, look into its
database directly (bypassing Toxiproxy), kill ledger the way each runtime allows."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
import psycopg

from chaoskit.lab import LabPorts, UpResult, load_config, up
from chaoskit.lab.docker import CONTAINERS
from chaoskit.lab.health import port_answers
from chaoskit.lab.state import load_state

__all__ = ["LabDriver", "assert_nothing_left", "wait_until"]

UP_TIMEOUT = 120.0


def wait_until(check: object, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``check()`` until it is truthy or ``timeout`` seconds pass."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())


@dataclass
class LabDriver:
    runtime: str
    ports: LabPorts

    @classmethod
    def for_runtime(cls, runtime: str) -> LabDriver:
        return cls(runtime, load_config().ports)

    def up(self, **knobs: object) -> UpResult:
        return up(self.runtime, {k: str(v) for k, v in knobs.items()}, timeout=UP_TIMEOUT)

    def http(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(timeout=timeout, trust_env=False)

    # --- ledger -------------------------------------------------------------------------

    def post_transfers(self, ids: Iterable[str], amount: int = 1) -> list[int]:
        with self.http() as client:
            return [
                client.post(
                    f"{self.ports.ledger_url}/transfers", json={"id": i, "amount": amount}
                ).status_code
                for i in ids
            ]

    def ledger_stats(self) -> dict[str, object]:
        with self.http() as client:
            stats: dict[str, object] = client.get(f"{self.ports.ledger_url}/stats").json()
        return stats

    def stored(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are in the transfers table (straight to PostgreSQL)."""
        wanted = list(ids)
        dsn = f"postgresql://ledger:ledger@127.0.0.1:{self.ports.postgres}/ledger"
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            rows = conn.execute("SELECT id FROM transfers WHERE id = ANY(%s)", (wanted,))
            return {row[0] for row in rows}

    def ledger_pid(self) -> int:
        """The host pid of ledger's Python process."""
        if self.runtime == "process":
            state = load_state(load_config().state_dir)
            assert state is not None
            pid = state.services["ledger"].pid
            assert pid is not None
            return pid
        init = int(_docker("inspect", "-f", "{{.State.Pid}}", CONTAINERS["ledger"]))
        children = _read(f"/proc/{init}/task/{init}/children").split()
        return int(children[0]) if children else init  # docker-init's child, else itself

    def kill_ledger(self) -> int:
        """SIGKILL ledger's process from the host, as a crash would end it."""
        pid = self.ledger_pid()
        os.kill(pid, signal.SIGKILL)
        return pid

    def container_restarts(self, name: str) -> int:
        return int(_docker("inspect", "-f", "{{.RestartCount}}", CONTAINERS[name]))

    # --- toxiproxy ----------------------------------------------------------------------

    def set_proxy(self, name: str, enabled: bool) -> None:
        with self.http() as client:
            response = client.post(
                f"{self.ports.toxiproxy_url}/proxies/{name}", json={"enabled": enabled}
            )
        assert response.status_code == 200, response.text


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.strip()


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""


def assert_nothing_left(runtime: str) -> None:
    """No lab state, no lab port answering, and (docker) no container, network or volume
    of the lab's Compose project."""
    config = load_config()
    assert load_state(config.state_dir) is None
    assert [p for p in config.ports.all().values() if port_answers(p)] == []
    if runtime == "docker":
        project = "label=com.docker.compose.project=chaoskit-lab"
        for kind in ("container", "network", "volume"):
            args = ["docker", kind, "ls", "-q", "--filter", project]
            if kind == "container":
                args.insert(3, "-a")
            listed = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
            assert listed.stdout.strip() == "", f"{kind}s left: {listed.stdout}"

"""The docker runtime: the lab as the Compose project ``chaoskit-lab`` (compose/lab.yml).

Driven through the ``docker compose`` (v2) or ``docker-compose`` (v1) command, never a Python
Docker client. Images come from compose/build-images.sh (public images where a registry
answers, else built offline); ports from compose/ports.env; knobs through the environment.
Containers have fixed names (``chaoskit-lab-ledger`` ...), limits and restart policies.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaoskit.lab.config import LabConfig, read_env_file
from chaoskit.lab.core import LabStatus, ServiceStatus, UpResult, wait_healthy
from chaoskit.lab.errors import LabError
from chaoskit.lab.health import SERVICES, check_service
from chaoskit.lab.knobs import knobs_for
from chaoskit.lab.state import LabState, ServiceRecord, Starter, load_state, save_state

__all__ = ["CONTAINERS", "PROJECT", "ContainerInfo", "DockerRuntime", "compose_command"]

PROJECT = "chaoskit-lab"
CONTAINERS = {name: f"{PROJECT}-{name}" for name in SERVICES}
BUILD_TIMEOUT = 1200.0
COMPOSE_TIMEOUT = 300.0
STOP_GRACE = 10


def compose_command() -> list[str]:
    """``$CHAOSKIT_LAB_COMPOSE`` if set; else ``docker compose`` (v2) if it answers; else
    ``docker-compose`` (v1)."""
    override = os.environ.get("CHAOSKIT_LAB_COMPOSE")
    if override:
        return shlex.split(override)
    if shutil.which("docker") is not None:
        try:
            v2 = subprocess.run(
                ["docker", "compose", "version"], capture_output=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            v2 = None
        if v2 is not None and v2.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose") is not None:
        return ["docker-compose"]
    raise LabError("no Compose: neither `docker compose` nor `docker-compose` works")


@dataclass(frozen=True)
class ContainerInfo:
    name: str
    id: str
    status: str  # created, running, paused, restarting, exited, dead
    restarts: int
    exit_code: int

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class DockerRuntime:
    name = "docker"

    def __init__(self, config: LabConfig) -> None:
        self.config = config
        self.ports = config.ports

    # --- docker and compose ---------------------------------------------------------------

    def containers(self) -> dict[str, ContainerInfo]:
        """The lab's containers that exist, by service name."""
        fmt = "{{.Name}}|{{.Id}}|{{.State.Status}}|{{.RestartCount}}|{{.State.ExitCode}}"
        try:
            done = subprocess.run(
                ["docker", "inspect", "--format", fmt, *CONTAINERS.values()],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LabError(f"docker inspect failed: {exc}") from exc
        by_container = {container: name for name, container in CONTAINERS.items()}
        found: dict[str, ContainerInfo] = {}
        for line in done.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) != 5:
                continue
            name = by_container.get(parts[0].lstrip("/"))
            if name is not None:
                found[name] = ContainerInfo(
                    parts[0].lstrip("/"), parts[1], parts[2], int(parts[3]), int(parts[4])
                )
        return found

    def _env(self, settings: Mapping[str, str], images: Mapping[str, str]) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("LEDGER_", "CATALOG_"))
        }
        env.update(self.ports.env())
        env.update(images)
        env.update(settings)
        return env

    def compose(
        self, args: Sequence[str], env: Mapping[str, str], timeout: float = COMPOSE_TIMEOUT
    ) -> str:
        argv = [*compose_command(), "-p", PROJECT, "--env-file", str(self.config.ports_file)]
        argv += ["-f", str(self.config.compose_file), *args]
        try:
            done = subprocess.run(
                argv,
                env=dict(env),
                cwd=str(self.config.compose_dir),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"{shlex.join(argv)} did not finish in {timeout:g}s") from exc
        except OSError as exc:
            raise LabError(f"cannot run {argv[0]}: {exc.strerror}") from exc
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise LabError(f"{shlex.join(argv)} failed ({done.returncode}):\n{_tail(output)}")
        return output

    def images(self) -> dict[str, str]:
        """Run compose/build-images.sh (idempotent; fast when the images are current) and
        return the image names it chose."""
        script = self.config.compose_dir / "build-images.sh"
        images_env = self.config.state_dir / "images.env"
        env = dict(os.environ, CHAOSKIT_LAB_IMAGES_ENV=str(images_env))
        print("lab: checking images (compose/build-images.sh)", file=sys.stderr)
        try:
            done = subprocess.run(
                ["bash", str(script)],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"{script} did not finish in {BUILD_TIMEOUT:g}s") from exc
        for line in done.stdout.splitlines():
            if not line.startswith("ok:"):
                print(f"lab: {line}", file=sys.stderr)
        if done.returncode != 0:
            raise LabError(f"{script} failed:\n{_tail(done.stdout + done.stderr)}")
        return read_env_file(images_env)

    def _logs(self, container: str) -> str:
        try:
            done = subprocess.run(
                ["docker", "logs", "--tail", "15", container],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return _tail(done.stdout + done.stderr, 15)

    def _gone(self, name: str) -> str | None:
        info = self.containers().get(name)
        if info is None:
            return "its container is gone"
        if info.status in ("exited", "dead"):
            logs = self._logs(info.name)
            return f"container {info.name} {info.status} ({info.exit_code}); its log:\n{logs}"
        return None

    # --- up -------------------------------------------------------------------------------

    def up(self, settings: Mapping[str, str], timeout: float) -> UpResult:
        began = time.monotonic()
        images = self.images()
        before = self.containers()
        state = load_state(self.config.state_dir) or LabState(runtime=self.name)
        state.runtime = self.name
        try:
            self.compose(["up", "-d", "--remove-orphans"], self._env(settings, images))
        except BaseException:
            # Leave nothing half-up (a failure, or a signal): remove what was not running
            # before this call.
            self._remove([n for n in SERVICES if n not in before or not before[n].running], state)
            raise
        after = self.containers()
        started, restarted, already = [], [], []
        for name in SERVICES:
            old = before.get(name)
            if old is None or not old.running:
                started.append(name)
            elif name in after and after[name].id != old.id:
                restarted.append(name)  # recreated: its knobs or image changed
            else:
                already.append(name)
        for name in SERVICES:
            wanted = knobs_for(name, settings)
            if name in started:
                state.services[name] = ServiceRecord(
                    name=name,
                    started_by=Starter.current(),
                    knobs=wanted,
                    container=CONTAINERS[name],
                )
            elif name in state.services:
                state.services[name].knobs = wanted
        save_state(self.config.state_dir, state)
        try:
            wait_healthy(SERVICES, self.ports, time.monotonic() + timeout, self._gone)
        except BaseException:
            if started:
                self._remove(started, state)
            raise
        return UpResult(
            runtime=self.name,
            started=tuple(started),
            already_running=tuple(already),
            restarted=tuple(restarted),
            ports=self.ports,
            seconds=time.monotonic() - began,
        )

    # --- down -----------------------------------------------------------------------------

    def down(self, services: Sequence[str] | None, force: bool) -> tuple[str, ...]:
        state = load_state(self.config.state_dir)
        owned = set(state.services) if state and state.runtime == self.name else set()
        if services is not None:
            targets = set(services) if force else set(services) & owned
        else:
            targets = set(SERVICES) if force else owned
        if not targets:
            return ()
        return self._remove(
            [name for name in SERVICES if name in targets],
            state or LabState(runtime=self.name),
        )

    def _remove(self, names: Sequence[str], state: LabState) -> tuple[str, ...]:
        """Stop and remove the containers of ``names`` (with their anonymous volumes); when
        none of the lab's containers would be left, ``down`` the project (network too)."""
        existing = self.containers()
        env = self._env({}, {})
        if set(existing) <= set(names):
            self.compose(["down", "-v", "--remove-orphans", "-t", str(STOP_GRACE)], env)
        else:
            present = [name for name in names if name in existing]
            if present:
                self.compose(["stop", "-t", str(STOP_GRACE), *present], env)
                self.compose(["rm", "-f", "-v", *present], env)
        for name in names:
            state.services.pop(name, None)
        save_state(self.config.state_dir, state)
        return tuple(name for name in reversed(SERVICES) if name in names and name in existing)

    # --- status ---------------------------------------------------------------------------

    def status(self) -> LabStatus:
        state = load_state(self.config.state_dir)
        owned = set(state.services) if state and state.runtime == self.name else set()
        containers = self.containers()
        rows = []
        for name in SERVICES:
            info = containers.get(name)
            health = check_service(name, self.ports)
            if info is None:
                where = "-"
            else:
                where = f"container {info.name} ({info.status}, restarts {info.restarts})"
            rows.append(
                ServiceStatus(
                    name=name,
                    running=info is not None and info.running,
                    healthy=health.ok,
                    detail=health.detail,
                    where=where,
                    owned=name in owned,
                )
            )
        return LabStatus(runtime=self.name, services=tuple(rows))

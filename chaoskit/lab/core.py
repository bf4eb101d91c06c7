"""The lab's API: ``up``, ``down``, ``status``, whichever the runtime.

Synchronous and blocking (it starts processes and waits for health, every wait bounded);
async callers run it in a worker thread.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from chaoskit.lab.config import LabConfig, LabPorts, load_config
from chaoskit.lab.errors import LabError, LabUsageError
from chaoskit.lab.health import SERVICES, Health, check_service
from chaoskit.lab.interrupt import signals_interrupt
from chaoskit.lab.knobs import check_settings
from chaoskit.lab.state import lab_lock, load_state

__all__ = [
    "RUNTIMES",
    "LabStatus",
    "Runtime",
    "ServiceStatus",
    "UpResult",
    "default_runtime",
    "docker_engine_answers",
    "down",
    "status",
    "up",
    "wait_healthy",
]

RUNTIMES = ("docker", "process")
DEFAULT_UP_TIMEOUT = {"process": 60.0, "docker": 180.0}


@dataclass(frozen=True)
class ServiceStatus:
    """One service as ``status`` sees it. ``owned``: recorded as started by ``lab up``."""

    name: str
    running: bool
    healthy: bool
    detail: str
    where: str
    owned: bool


@dataclass(frozen=True)
class LabStatus:
    runtime: str
    services: tuple[ServiceStatus, ...]

    @property
    def healthy(self) -> bool:
        return all(service.healthy for service in self.services)


@dataclass(frozen=True)
class UpResult:
    """What ``up`` did. ``started``: services it started (``down(services=started)`` takes
    down exactly those); ``restarted``: running services it restarted for new knob values."""

    runtime: str
    started: tuple[str, ...]
    already_running: tuple[str, ...]
    restarted: tuple[str, ...]
    ports: LabPorts
    seconds: float


class Runtime(Protocol):
    """A way to run the lab's services. Callers hold the lab lock around up and down."""

    name: str

    def up(self, settings: Mapping[str, str], timeout: float) -> UpResult:
        """Start what is not running (idempotent), with ``settings`` as the full knob set,
        and wait until every service is healthy or ``timeout`` seconds have passed."""
        ...

    def down(self, services: Sequence[str] | None, force: bool) -> tuple[str, ...]:
        """Stop what ``up`` started (only ``services`` of it when given; with ``force``, the
        lab's services whoever started them). Returns the services stopped."""
        ...

    def status(self) -> LabStatus: ...


def wait_healthy(
    names: Sequence[str],
    ports: LabPorts,
    deadline: float,
    gone: Callable[[str], str | None] = lambda name: None,
) -> None:
    """Poll until every service in ``names`` is healthy. Raises :class:`LabError` when the
    monotonic ``deadline`` passes, or as soon as ``gone(name)`` reports that a service's
    process or container has ended (its answer is the reason)."""
    pending = list(names)
    last: dict[str, Health] = {}
    while pending:
        for name in list(pending):
            reason = gone(name)
            if reason is not None:
                raise LabError(f"{name} ended before it was healthy: {reason}")
            health = check_service(name, ports)
            last[name] = health
            if health.ok:
                pending.remove(name)
        if not pending:
            return
        if time.monotonic() >= deadline:
            details = "; ".join(f"{n}: {last[n].detail}" for n in pending)
            raise LabError(f"not healthy in time: {details}")
        time.sleep(0.2)


def docker_engine_answers(timeout: float = 10.0) -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def default_runtime() -> str:
    """``$CHAOSKIT_LAB_RUNTIME`` if set; else docker when a Docker engine answers and a
    Compose command exists; else process."""
    from chaoskit.lab.docker import compose_command

    chosen = os.environ.get("CHAOSKIT_LAB_RUNTIME")
    if chosen:
        return _check_runtime(chosen)
    if docker_engine_answers():
        try:
            compose_command()
        except LabError:
            return "process"
        return "docker"
    return "process"


def _check_runtime(name: str) -> str:
    if name not in RUNTIMES:
        raise LabUsageError(f"unknown lab runtime {name!r}: expected docker or process")
    return name


def _runtime(config: LabConfig, requested: str | None, *, for_up: bool) -> Runtime:
    state = load_state(config.state_dir)
    recorded = state.runtime if state and state.services else None
    if requested is not None:
        name = _check_runtime(requested)
        if for_up and recorded and recorded != name:
            raise LabUsageError(
                f"the lab is up with the {recorded} runtime; take it down first "
                f"(chaoskit lab down --runtime {recorded})"
            )
    else:
        name = recorded or default_runtime()
    if name == "docker":
        from chaoskit.lab.docker import DockerRuntime

        return DockerRuntime(config)
    from chaoskit.lab.process import ProcessRuntime

    return ProcessRuntime(config)


def up(
    runtime: str | None = None,
    settings: Mapping[str, str] | None = None,
    *,
    timeout: float | None = None,
) -> UpResult:
    """Bring the lab up (idempotent) and wait until every service is healthy.

    ``runtime``: docker or process; default: the running lab's, else :func:`default_runtime`.
    ``settings``: knob values (see :mod:`chaoskit.lab.knobs`); the rest keep their defaults.
    A running service whose knobs differ is restarted with the new values.
    SIGINT and SIGTERM meanwhile raise :class:`~chaoskit.lab.interrupt.LabInterrupted`
    once what this call had begun is taken down again.
    """
    checked = check_settings(settings or {})
    config = load_config()
    with signals_interrupt(), lab_lock(config.state_dir):
        chosen = _runtime(config, runtime, for_up=True)
        limit = DEFAULT_UP_TIMEOUT[chosen.name] if timeout is None else timeout
        return chosen.up(checked, limit)


def down(
    runtime: str | None = None, *, services: Sequence[str] | None = None, force: bool = False
) -> tuple[str, ...]:
    """Take down what ``up`` started, or only ``services`` of it (``()``: nothing — pass
    ``UpResult.started`` to undo exactly one ``up``); ``force``: the lab's services whoever
    started them (docker). Returns the services stopped."""
    unknown = [name for name in services or () if name not in SERVICES]
    if unknown:
        raise LabUsageError(f"unknown lab services {unknown}; expected some of {SERVICES}")
    config = load_config()
    with lab_lock(config.state_dir):
        return _runtime(config, runtime, for_up=False).down(services, force)


def status(runtime: str | None = None) -> LabStatus:
    """Each service: running or not, healthy or not, where, and whether ``up`` started it."""
    config = load_config()
    return _runtime(config, runtime, for_up=False).status()

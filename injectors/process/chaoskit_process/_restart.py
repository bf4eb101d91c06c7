"""Restarting a killed service: the ``restart`` block of ``process.kill``.

A restart is always launched through a ``restart`` helper (see ``_worker.py``):
it waits ``after`` seconds, starts the command in its own session and exits, so
the service is never chaoskit's child and outlives the run. The command gets
``CHAOSKIT_RESTART=<tag>`` in its environment: that is how a later revert (a
retry, or ``chaoskit rollback``) sees that a restart is already under way and
does not start a second copy.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Self

import psutil
from pydantic import Field, field_validator, model_validator

from chaoskit import Duration, InjectorError, Params
from chaoskit_process._helpers import Helper, scan, spawn_helper

__all__ = [
    "RESTART_ENV",
    "RestartSpec",
    "check_exit",
    "launch",
    "restart_under_way",
    "wait_launched",
]

RESTART_ENV = "CHAOSKIT_RESTART"


class RestartSpec(Params):
    """How to start the service again. Exactly one of ``command`` or ``shell``."""

    command: list[str] | None = Field(
        default=None, min_length=1, description="program and arguments, run without a shell"
    )
    shell: str | None = Field(
        default=None, min_length=1, description="a command line for /bin/sh -c"
    )
    cwd: str | None = Field(default=None, description="absolute working directory of the command")
    env: dict[str, str] = Field(
        default_factory=dict, description="added to chaoskit's environment for the command"
    )
    after: Duration | None = Field(
        default=None,
        description=(
            "restart this long after the kill, from a detached helper (a self-healing "
            "supervisor); without it, only revert restarts the service, if it is not back"
        ),
    )

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.command is None) == (self.shell is None):
            raise ValueError("expected exactly one of command or shell")
        return self

    @field_validator("cwd")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isabs(value):
            raise ValueError("expected an absolute path (chaoskit rollback may run elsewhere)")
        return value

    def argv(self) -> list[str]:
        if self.shell is not None:
            return ["/bin/sh", "-c", self.shell]
        assert self.command is not None
        return list(self.command)

    def problem(self) -> str | None:
        """Why the command cannot be started, or None (blocking: reads the file system)."""
        program = self.argv()[0]
        if shutil.which(program, path=os.environ.get("PATH")) is None:
            return f"restart program {program!r} is not found or not executable"
        if self.cwd is not None and not os.path.isdir(self.cwd):
            return f"restart cwd {self.cwd} is not a directory"
        return None


def launch(spec: RestartSpec, tag: str, after: float) -> Helper:
    """Start a restart helper that runs the command ``after`` seconds from now."""
    args = [f"--after={after!r}"]
    if spec.cwd is not None:
        args.append(f"--cwd={spec.cwd}")
    env = {**os.environ, **spec.env, RESTART_ENV: tag}
    return spawn_helper(tag, "restart", [*args, "--", *spec.argv()], env=env)


def wait_launched(helper: Helper, timeout: float) -> int | None:
    """Wait for a restart helper we started with no delay to exit; its exit code,
    or None when it is not our child or did not exit in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, status = os.waitpid(helper.pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    return None


def restart_under_way(tag: str, since: float) -> list[int]:
    """Live processes started since ``since`` (wall clock, as create_time is)
    whose environment says a restart of this fault launched them."""
    found = []
    for process, info in scan(["create_time", "status"]):
        created = info.get("create_time")
        if not isinstance(created, float) or created < since - 1.0:
            continue
        if info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        try:
            if process.environ().get(RESTART_ENV) == tag:
                found.append(process.pid)
        except psutil.Error:
            continue  # gone, or not ours to read: it cannot be our restart then
    return found


def check_exit(code: int | None, spec: RestartSpec) -> None:
    if code == 127:
        raise InjectorError(f"restart failed: {spec.argv()[0]!r} was not found")
    if code not in (None, 0):
        raise InjectorError(f"restart failed: could not run {spec.argv()!r} (exit {code})")

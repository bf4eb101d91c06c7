"""The ``command`` probe: run a program; exit code, stdout match, latency."""

from __future__ import annotations

import re
import subprocess
from typing import ClassVar

import anyio
from pydantic import Field, model_validator

from chaoskit._plugin_api import Expect, Observation, Params, ProbeContext
from chaoskit.probes._regex import Regex

__all__ = ["CommandExpect", "CommandParams", "CommandProbe"]


class CommandParams(Params):
    argv: list[str] | None = Field(None, min_length=1, description="program and arguments")
    shell: str | None = Field(None, description="a command line for /bin/sh -c")
    env: dict[str, str] = Field(default_factory=dict, description="added to the environment")
    cwd: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> CommandParams:
        if (self.argv is None) == (self.shell is None):
            raise ValueError("expected exactly one of argv or shell")
        return self


class CommandExpect(Expect):
    exit_code: int = 0
    stdout_matches: Regex | None = Field(None, description="a regular expression")


class CommandProbe:
    name: ClassVar[str] = "command"
    params: ClassVar[type[Params]] = CommandParams
    expect: ClassVar[type[Expect]] = CommandExpect

    async def observe(self, ctx: ProbeContext) -> Observation:
        params, expect = ctx.params, ctx.expect
        assert isinstance(params, CommandParams)
        assert isinstance(expect, CommandExpect)
        command: str | list[str] = params.shell if params.shell is not None else (params.argv or [])
        env = None
        if params.env:
            import os

            env = {**os.environ, **params.env}
        try:
            # run_process kills the child if the sample is cancelled (timeout)
            done = await anyio.run_process(
                command,
                check=False,
                stdin=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=params.cwd,
            )
        except OSError as exc:
            return Observation(ok=False, detail=f"cannot run: {exc}")
        problems: list[str] = []
        if done.returncode != expect.exit_code:
            problems.append(f"exit code {done.returncode}, expected {expect.exit_code}")
        output = done.stdout.decode(errors="replace")
        if expect.stdout_matches is not None and re.search(expect.stdout_matches, output) is None:
            problems.append(f"output does not match {expect.stdout_matches!r}")
        return Observation(ok=not problems, value=done.returncode, detail="; ".join(problems))

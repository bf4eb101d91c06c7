"""What the Docker probes share: the target, a client kept for the run, and
reading every selected container within the sample's budget."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from pydantic import Field

from chaoskit import InjectorError, JsonValue, Observation, Params, PluginError, ProbeContext
from chaoskit_docker._client import DockerEngine, open_engine
from chaoskit_docker._select import matching
from chaoskit_docker.target import ContainerTarget

__all__ = ["ContainerProbeParams", "Reading", "observe_containers"]

Reading = tuple[JsonValue, str | None]
"""One container's value, and why it breaks the tolerance (None: it holds)."""


class ContainerProbeParams(Params):
    target: str = Field(min_length=1, description="name of a docker.container target")


def _target(ctx: ProbeContext, probe: str) -> ContainerTarget:
    if not isinstance(ctx.target, ContainerTarget):
        raise PluginError(
            f"probe {ctx.probe_name!r} ({probe}) needs a docker.container target, "
            f"got {type(ctx.target).__name__}"
        )
    return ctx.target


async def observe_containers(
    ctx: ProbeContext,
    probe: str,
    read: Callable[[DockerEngine, list[dict[str, Any]]], Awaitable[dict[str, Reading]]],
) -> Observation:
    """Read every container the target selects (stopped ones included; ``pick``
    does not apply: a probe reads them all) with ``read``, which returns a
    reading per container name. The value is ``{name: value}``; ok when every
    reading holds. An unreachable engine or no matching container is a failed
    observation."""
    target = _target(ctx, probe)
    readings: dict[str, Reading] | None = None
    try:
        with anyio.move_on_after(ctx.timeout):
            # One client per engine for the whole run, closed by the core at the end.
            engine = await ctx.resources.get(
                f"docker.engine:{target.docker_host}", lambda: open_engine(target.docker_host)
            )
            infos = await matching(engine, target, include_stopped=True)
            if not infos:
                return Observation(
                    ok=False,
                    detail=f"no {target.describe()} on the Docker engine at {engine.where}",
                )
            readings = await read(engine, infos)
    except InjectorError as exc:
        return Observation(ok=False, detail=str(exc))
    if readings is None:
        return Observation(
            ok=False, detail=f"the Docker engine did not answer within {ctx.timeout:g}s"
        )
    value: dict[str, JsonValue] = {name: reading for name, (reading, _) in readings.items()}
    problems = [f"{name}: {why}" for name, (_, why) in readings.items() if why]
    return Observation(ok=not problems, value=value, detail="; ".join(problems))

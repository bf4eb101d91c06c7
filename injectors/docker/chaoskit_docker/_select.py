"""Which containers a target means: selection for faults and probes, and
finding a container again at revert time, when it may have been recreated."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Self

from pydantic import BaseModel, ConfigDict

from chaoskit import InjectorError
from chaoskit_docker._client import DockerEngine
from chaoskit_docker.target import ContainerTarget

__all__ = [
    "COMPOSE_NUMBER",
    "COMPOSE_PROJECT",
    "COMPOSE_SERVICE",
    "ContainerRef",
    "Resolved",
    "container_name",
    "matching",
    "pick",
    "resolve",
    "selected",
    "state_of",
]

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
_IDENTITY_LABELS = (COMPOSE_PROJECT, COMPOSE_SERVICE, COMPOSE_NUMBER)


def container_name(info: dict[str, Any]) -> str:
    return str(info.get("Name") or info["Id"][:12]).lstrip("/")


def state_of(info: dict[str, Any]) -> str:
    """The container's status: created, running, paused, restarting, removing,
    exited or dead."""
    return str((info.get("State") or {}).get("Status") or "unknown")


class ContainerRef(BaseModel):
    """A container as a revert state names it: its id, and what identifies its
    successor if it is recreated (its name; its Compose project, service and
    number when Compose made it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    compose: dict[str, str] | None = None

    @classmethod
    def identity(cls, info: dict[str, Any]) -> dict[str, Any]:
        """The fields of a reference to the container of ``info``, for a subclass's constructor."""
        labels = (info.get("Config") or {}).get("Labels") or {}
        compose = {key: str(labels[key]) for key in _IDENTITY_LABELS if key in labels}
        return {
            "id": str(info["Id"]),
            "name": container_name(info),
            "compose": compose if COMPOSE_SERVICE in compose else None,
        }

    @classmethod
    def of(cls, info: dict[str, Any], **fields: Any) -> Self:
        return cls(**cls.identity(info), **fields)

    @property
    def short(self) -> str:
        return f"{self.name} ({self.id[:12]})"


async def matching(
    engine: DockerEngine, target: ContainerTarget, *, include_stopped: bool
) -> list[dict[str, Any]]:
    """Inspect documents of every container the target selects, sorted by name.
    A name or id is looked up whatever its state; a label or service selection
    sees stopped containers only with ``include_stopped``."""
    if target.container is not None:
        info = await engine.find_container(target.container)
        return [info] if info is not None else []
    summaries = await engine.call(
        f"list {target.describe()}",
        engine.api.containers,
        all=include_stopped,
        filters={"label": target.label_filters()},
        read_only=True,
    )
    found = []
    for summary in summaries:
        info = await engine.find_container(str(summary["Id"]))
        if info is not None:  # removed meanwhile
            found.append(info)
    return sorted(found, key=container_name)


def pick(target: ContainerTarget, infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The containers a fault acts on, out of ``infos`` (sorted by name)."""
    if target.pick == "random":
        wanted = min(target.count or 1, len(infos))
        return random.sample(infos, wanted)
    return infos


async def selected(
    engine: DockerEngine, target: ContainerTarget, *, states: frozenset[str] | None, action: str
) -> list[dict[str, Any]]:
    """The containers a fault would act on now (before ``pick``); each must be in
    one of ``states`` (None: any). Raises InjectorError naming the problem."""
    infos = await matching(engine, target, include_stopped=target.container is not None)
    if not infos:
        raise InjectorError(
            f"no {target.describe()} on the Docker engine at {engine.where}"
            + ("" if target.container else " is running")
        )
    if target.pick == "one" and len(infos) > 1:
        raise InjectorError(
            f"pick: one, but {len(infos)} {target.describe()} are running: "
            f"{', '.join(container_name(info) for info in infos)}"
        )
    if states is not None:
        wrong = [
            f"{container_name(info)} is {state_of(info)}"
            for info in infos
            if state_of(info) not in states
        ]
        if wrong:
            raise InjectorError(
                f"{action} needs {' or '.join(sorted(states))} containers: {'; '.join(wrong)}"
            )
    return infos


@dataclass(frozen=True)
class Resolved:
    """A journaled container found again: ``info`` is None when neither it nor a
    successor exists; ``recreated`` when ``info`` is a successor (same name, or
    same Compose project/service/number, different id)."""

    info: dict[str, Any] | None
    recreated: bool

    @property
    def gone(self) -> bool:
        return self.info is None


async def resolve(engine: DockerEngine, ref: ContainerRef) -> Resolved:
    """The container of ``ref``: by id, else its successor by name, else by its
    Compose identity (when exactly one container has it)."""
    info = await engine.find_container(ref.id)
    if info is not None:
        return Resolved(info, recreated=False)
    info = await engine.find_container(ref.name)
    if info is not None and container_name(info) == ref.name:
        return Resolved(info, recreated=True)
    if ref.compose is not None:
        filters = [f"{key}={value}" for key, value in sorted(ref.compose.items())]
        summaries = await engine.call(
            f"list the successors of {ref.short}",
            engine.api.containers,
            all=True,
            filters={"label": filters},
            read_only=True,
        )
        if len(summaries) == 1:
            info = await engine.find_container(str(summaries[0]["Id"]))
            if info is not None:
                return Resolved(info, recreated=True)
    return Resolved(None, recreated=False)

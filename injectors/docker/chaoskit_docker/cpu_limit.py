"""``docker.cpu_limit``: lower each container's CPU quota and/or pin it to
fewer CPUs (``docker update --cpus / --cpu-quota / --cpuset-cpus``).

The engine keeps ``NanoCpus`` and ``CpuQuota``/``CpuPeriod`` mutually
exclusive, and its update API reads 0 and "" as "leave unchanged". So the
fault uses whichever the container already uses (``NanoCpus`` if it is set,
else ``CpuQuota`` against the container's period), and revert writes the
original back where it can: a quota of 0 (none) comes back as -1 (the
kernel's "no quota"), an empty cpuset as every CPU of the engine.
"""

from __future__ import annotations

import re
from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from chaoskit import (
    FaultContext,
    InjectorError,
    Params,
    params_as,
)
from chaoskit_docker._base import (
    ContainerInjector,
    report_foreign,
)
from chaoskit_docker._client import DockerEngine
from chaoskit_docker._select import ContainerRef, Resolved

__all__ = ["CpuLimit", "CpuLimitEntry", "CpuLimitParams"]

DEFAULT_PERIOD = 100_000
"""The CFS period (µs) the kernel and the engine use when none is set."""
MIN_QUOTA = 1000
UPDATE = "/containers/{0}/update"
_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")

Setting = int | str


class CpuLimitParams(Params):
    cpus: float | None = Field(
        default=None, ge=0.01, description="CPU time allowed, in CPUs (0.5 = half of one core)"
    )
    cpuset: str | None = Field(
        default=None, description="the CPUs it may run on, like 0 or 0-1,3", examples=["0"]
    )

    @field_validator("cpuset")
    @classmethod
    def _cpu_list(cls, value: str | None) -> str | None:
        if value is not None and not _CPUSET.match(value):
            raise ValueError("expected a CPU list like 0, 0-1 or 0,2")
        return value

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.cpus is None and self.cpuset is None:
            raise ValueError("give cpus, cpuset or both")
        return self


class CpuLimitEntry(ContainerRef):
    """HostConfig before the fault: ``nano_cpus``, ``cpu_quota``, ``cpu_period``
    (0: none), ``cpuset_cpus`` ("": all); ``all_cpus``: the engine's CPUs, what
    an empty cpuset is restored as; ``applied``: the update the fault makes,
    in the engine's field names (``NanoCpus`` or ``CpuQuota``, ``CpusetCpus``)."""

    nano_cpus: int
    cpu_quota: int
    cpu_period: int
    cpuset_cpus: str
    all_cpus: str
    applied: dict[str, Setting]

    def original(self, field: str) -> Setting:
        """The value revert writes for ``field``."""
        if field == "NanoCpus":
            return self.nano_cpus
        if field == "CpuQuota":
            return self.cpu_quota if self.cpu_quota != 0 else -1
        return self.cpuset_cpus or self.all_cpus

    def is_original(self, field: str, current: Setting) -> bool:
        prior = {
            "NanoCpus": self.nano_cpus,
            "CpuQuota": self.cpu_quota,
            "CpusetCpus": self.cpuset_cpus,
        }[field]
        return current == prior or current == self.original(field)


def _current(info: dict[str, Any]) -> dict[str, Setting]:
    host_config = info.get("HostConfig") or {}
    return {
        "NanoCpus": int(host_config.get("NanoCpus") or 0),
        "CpuQuota": int(host_config.get("CpuQuota") or 0),
        "CpuPeriod": int(host_config.get("CpuPeriod") or 0),
        "CpusetCpus": str(host_config.get("CpusetCpus") or ""),
    }


def _show(values: dict[str, Setting]) -> str:
    return " ".join(f"{key}={value!r}" for key, value in values.items())


class CpuLimit(ContainerInjector[CpuLimitEntry]):
    """Limits each container's CPU. Inject refuses a container whose CPU settings
    changed since prepare; revert restores the journaled originals, on a
    recreated container too if it carries the fault's settings, and reports
    settings it finds that are neither."""

    name = "docker.cpu_limit"
    params = CpuLimitParams
    entry = CpuLimitEntry
    states = None

    async def record(
        self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]
    ) -> CpuLimitEntry:
        params = params_as(ctx.params, CpuLimitParams)
        current = _current(info)
        applied: dict[str, Setting] = {}
        if params.cpus is not None:
            if int(current["NanoCpus"]) > 0:
                applied["NanoCpus"] = round(params.cpus * 1e9)
            else:
                period = int(current["CpuPeriod"]) or DEFAULT_PERIOD
                applied["CpuQuota"] = max(MIN_QUOTA, round(params.cpus * period))
        if params.cpuset is not None:
            applied["CpusetCpus"] = params.cpuset
        system = await engine.call("read the engine's info", engine.api.info, read_only=True)
        cpus = int(system.get("NCPU") or 1)
        return CpuLimitEntry.of(
            info,
            nano_cpus=int(current["NanoCpus"]),
            cpu_quota=int(current["CpuQuota"]),
            cpu_period=int(current["CpuPeriod"]),
            cpuset_cpus=str(current["CpusetCpus"]),
            all_cpus="0" if cpus == 1 else f"0-{cpus - 1}",
            applied=applied,
        )

    async def apply(
        self, ctx: FaultContext, engine: DockerEngine, entry: CpuLimitEntry, info: dict[str, Any]
    ) -> CpuLimitEntry:
        current = _current(info)
        changed = {
            field: current[field]
            for field, value in entry.applied.items()
            if current[field] != value and not entry.is_original(field, current[field])
        }
        if changed:
            raise InjectorError(
                f"the CPU settings of container {entry.short} changed since the fault was "
                f"prepared (now {_show(changed)}); refusing to overwrite them"
            )
        todo = {field: value for field, value in entry.applied.items() if current[field] != value}
        if todo:
            after = await _write(engine, entry.name, entry.id, todo)
            wrong = {field: after[field] for field, value in todo.items() if after[field] != value}
            if wrong:
                raise InjectorError(
                    f"container {entry.short} reads back {_show(wrong)} after setting {_show(todo)}"
                )
        ctx.log.info("docker.cpu_limit_set", container=entry.name, settings=_show(entry.applied))
        return entry

    async def restore(
        self, ctx: FaultContext, engine: DockerEngine, entry: CpuLimitEntry, found: Resolved
    ) -> None:
        if found.info is None:
            ctx.log.warning("docker.container_gone", container=entry.short, restored="nothing")
            return
        container_id = str(found.info["Id"])
        which = (
            f"container {entry.name} (recreated as {container_id[:12]})"
            if found.recreated
            else f"container {entry.short}"
        )
        current = _current(found.info)
        todo: dict[str, Setting] = {}
        foreign: dict[str, Setting] = {}
        for field, value in entry.applied.items():
            if entry.is_original(field, current[field]):
                continue
            if current[field] == value:
                todo[field] = entry.original(field)
            else:
                foreign[field] = current[field]
        if todo:
            after = await _write(engine, entry.name, container_id, todo)
            wrong = {f: after[f] for f in todo if not entry.is_original(f, after[f])}
            if wrong:
                raise InjectorError(
                    f"{which} reads back {_show(wrong)} after restoring {_show(todo)}"
                )
            ctx.log.info("docker.cpu_limit_restored", container=entry.name, settings=_show(todo))
        if foreign:
            originals = {field: entry.original(field) for field in foreign}
            report_foreign(
                ctx,
                found,
                f"{which} has {_show(foreign)}: neither its settings before the fault "
                f"({_show(originals)}) nor the fault's; left as they are, someone else set them",
            )

    async def check(
        self, ctx: FaultContext, engine: DockerEngine, entry: CpuLimitEntry, info: dict[str, Any]
    ) -> str | None:
        current = _current(info)
        wrong = {f: current[f] for f, value in entry.applied.items() if current[f] != value}
        return f"has {_show(wrong)}, not {_show(entry.applied)}" if wrong else None


async def _write(
    engine: DockerEngine, name: str, container_id: str, body: dict[str, Setting]
) -> dict[str, Setting]:
    await engine.post_json(
        f"update the CPU settings of container {name} ({_show(body)})", UPDATE, container_id, body
    )
    return _current(await engine.inspect_container(container_id))

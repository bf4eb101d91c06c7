"""What the Docker injectors share: the revert state, the lifecycle of "act on
each selected container, undo on each journaled one", and byte sizes.

Each injector is then a small module: its params, what it records per
container (a :class:`~chaoskit_docker._select.ContainerRef` subclass), how it
applies, restores and checks the fault on one container.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, TypeVar, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, WithJsonSchema

from chaoskit import (
    FaultContext,
    FaultNotInForce,
    Footprint,
    InjectorError,
    JsonValue,
    Params,
    params_as,
)
from chaoskit_docker._client import DockerEngine, open_engine
from chaoskit_docker._select import ContainerRef, Resolved, pick, resolve, selected
from chaoskit_docker.target import ContainerTarget

__all__ = [
    "RUNNING",
    "TARGET_KIND",
    "ByteSize",
    "ContainerInjector",
    "DockerState",
    "container_target",
    "format_bytes",
    "parse_bytes",
    "report_foreign",
]

TARGET_KIND = "docker.container"
RUNNING: frozenset[str] = frozenset({"running"})
E = TypeVar("E", bound=ContainerRef)
P = TypeVar("P", bound=Params)

_BYTES_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_BYTE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
BYTES_HINT = "expected a size like 64m, 512MiB or 1g (binary units, as docker run --memory)"


def parse_bytes(value: object) -> int:
    """Bytes from ``64m``, ``512MiB``, ``1g``, ``100k`` (all binary, like the
    Docker CLI) or a plain number of bytes."""
    if isinstance(value, bool):
        raise ValueError(BYTES_HINT)
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _BYTES_RE.match(value)):
        size = int(float(match.group(1)) * _BYTE_UNITS[match.group(2).lower()])
    else:
        raise ValueError(BYTES_HINT)
    if size <= 0:
        raise ValueError(BYTES_HINT + " (greater than 0)")
    return size


def format_bytes(size: int) -> str:
    if size > 0 and size % (1 << 30) == 0:
        return f"{size >> 30}GiB"
    if size > 0 and size % (1 << 20) == 0:
        return f"{size >> 20}MiB"
    return f"{size}B"


ByteSize = Annotated[
    int,
    BeforeValidator(parse_bytes),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[kKmMgGtT]?([iI]?[bB])?\s*$"},
                {"type": "integer", "minimum": 1},
            ],
            "description": "a size: 64m, 512MiB, 1g (binary units), or bytes",
            "examples": ["64m"],
        }
    ),
]


class _RawState(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    docker_host: str | None
    containers: list[dict[str, Any]]


@dataclass(frozen=True)
class DockerState(Generic[E]):
    """The revert state of every Docker injector, as JSON::

        {"docker_host": null,
         "containers": [{"id": "4f1c…", "name": "ledger",
                         "compose": {"com.docker.compose.project": "lab", …} | null,
                         …what this injector records…}]}

    ``docker_host`` is the target's (null: DOCKER_HOST or the local socket), for
    the record: the calls use the target's as re-read from the experiment.
    Each container entry has its id and what finds its successor (name,
    Compose identity), plus exactly the prior state the fault changes.
    """

    docker_host: str | None
    containers: list[E]

    @classmethod
    def parse(cls, revert_state: JsonValue, entry: type[E]) -> DockerState[E]:
        try:
            raw = _RawState.model_validate(revert_state)
            return cls(raw.docker_host, [entry.model_validate(item) for item in raw.containers])
        except ValidationError as exc:
            raise InjectorError(f"malformed Docker revert state {revert_state!r}: {exc}") from exc

    def to_json(self) -> JsonValue:
        containers: list[JsonValue] = [entry.model_dump(mode="json") for entry in self.containers]
        return {"docker_host": self.docker_host, "containers": containers}


def container_target(ctx: FaultContext) -> ContainerTarget:
    if not isinstance(ctx.target, ContainerTarget):
        raise InjectorError(
            f"fault {ctx.fault_name!r} needs a {TARGET_KIND} target; "
            f"{ctx.target_name!r} is {ctx.target.kind!r}"
        )
    return ctx.target


def report_foreign(ctx: FaultContext, found: Resolved, message: str) -> None:
    """Settings revert finds that are neither the journaled originals nor the
    fault's are someone else's and stay. On the same container the fault is
    simply no longer in force (a warning); on a recreated one the originals
    could not be restored, which is an error the operator must see."""
    if found.recreated:
        raise InjectorError(message)
    ctx.log.warning("docker.revert_found_foreign_settings", detail=message)


def _engine_of(ctx: FaultContext, state: DockerState[E]) -> str | None:
    """The engine to talk to: the target's, as re-read from the experiment (with
    ``${env:...}`` substituted again; the journal may hold it redacted), else the
    one the state names."""
    if isinstance(ctx.target, ContainerTarget):
        return ctx.target.docker_host
    return state.docker_host


async def _each(entries: Iterable[E], action: Callable[[E], Awaitable[None]]) -> None:
    """``action`` on every entry, even after one fails; then one InjectorError
    naming every failure."""
    problems: list[InjectorError] = []
    for entry in entries:
        try:
            await action(entry)
        except InjectorError as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InjectorError("; ".join(str(problem) for problem in problems)) from problems[0]


def _is_size(params: Params, name: str) -> bool:
    """Whether the field is a :data:`ByteSize` (also inside ``X | None``)."""
    field = type(params).model_fields[name]
    metadata = list(field.metadata)
    for arg in get_args(field.annotation):
        metadata += getattr(arg, "__metadata__", ())
    return any(getattr(item, "func", None) is parse_bytes for item in metadata)


class ContainerInjector(Generic[E]):
    """The lifecycle of a fault on each selected container.

    Subclasses set ``name``, ``params``, ``entry`` (what is journaled per
    container), ``states`` (the states a container must be in; None: any) and
    implement :meth:`record`, :meth:`apply`, :meth:`restore` and :meth:`check`.
    """

    name: ClassVar[str]
    params: ClassVar[type[Params]]
    target_kinds: ClassVar[tuple[str, ...]] = (TARGET_KIND,)
    states: ClassVar[frozenset[str] | None] = RUNNING
    gone_is_in_force: ClassVar[bool] = False
    """Whether a container that vanished since inject counts as the fault in
    force (a stopped ``--rm`` container removes itself)."""
    entry: type[E]

    # --- what a subclass implements ------------------------------------------

    async def usable(self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]) -> None:
        """Preflight of one container beyond its state; raise InjectorError."""

    async def record(self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]) -> E:
        """The journal entry of one container: its identity and prior state. No
        side effects."""
        raise NotImplementedError

    async def apply(
        self, ctx: FaultContext, engine: DockerEngine, entry: E, info: dict[str, Any]
    ) -> E:
        """Apply the fault to the container of ``entry`` (``info`` is its inspect
        document now); returns the entry, possibly with details learnt."""
        raise NotImplementedError

    async def restore(
        self, ctx: FaultContext, engine: DockerEngine, entry: E, found: Resolved
    ) -> None:
        """Undo the fault on the container ``found`` again (maybe recreated, maybe
        gone); idempotent; raise InjectorError naming what could not be restored."""
        raise NotImplementedError

    async def check(
        self, ctx: FaultContext, engine: DockerEngine, entry: E, info: dict[str, Any]
    ) -> str | None:
        """Why the fault is not in force on this container, or None when it is."""
        raise NotImplementedError

    def creates(self, ctx: FaultContext) -> tuple[str, ...]:
        """What the fault creates in each container, for ``--dry-run`` (nothing)."""
        return ()

    # --- the lifecycle --------------------------------------------------------

    def footprint(self, ctx: FaultContext) -> Footprint:
        """For ``--dry-run``: the class docstring, sizes in binary units, and
        :meth:`creates`."""
        params = params_as(ctx.params, self.params)
        doc = (inspect.getdoc(type(self)) or "").split("\n\n", 1)[0]
        sizes = {
            name: format_bytes(value)
            for name, value in params
            if isinstance(value, int) and not isinstance(value, bool) and _is_size(params, name)
        }
        return Footprint(
            changes=(" ".join(doc.replace("``", "").split()),),
            creates=self.creates(ctx),
            params=sizes,
        )

    async def preflight(self, ctx: FaultContext) -> None:
        target = container_target(ctx)
        params_as(ctx.params, self.params)
        async with open_engine(target.docker_host) as engine:
            infos = await selected(engine, target, states=self.states, action=self.name)
            for info in infos:
                await self.usable(ctx, engine, info)

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        target = container_target(ctx)
        params_as(ctx.params, self.params)
        async with open_engine(target.docker_host) as engine:
            infos = await selected(engine, target, states=self.states, action=self.name)
            entries = [await self.record(ctx, engine, info) for info in pick(target, infos)]
        return DockerState(target.docker_host, entries).to_json()

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        state = DockerState.parse(revert_state, self.entry)
        applied: list[E] = []
        async with open_engine(_engine_of(ctx, state)) as engine:
            for entry in state.containers:
                info = await engine.find_container(entry.id)
                if info is None:
                    raise InjectorError(
                        f"container {entry.short} is gone since the fault was prepared"
                    )
                applied.append(await self.apply(ctx, engine, entry, info))
        return DockerState(state.docker_host, applied).to_json()

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = DockerState.parse(revert_state, self.entry)
        async with open_engine(_engine_of(ctx, state)) as engine:

            async def restore_one(entry: E) -> None:
                found = await resolve(engine, entry)
                if found.recreated and found.info is not None:
                    ctx.log.warning(
                        "docker.container_recreated",
                        container=entry.name,
                        old_id=entry.id[:12],
                        new_id=str(found.info["Id"])[:12],
                    )
                await self.restore(ctx, engine, entry, found)

            await _each(state.containers, restore_one)

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = DockerState.parse(revert_state, self.entry)
        problems = []
        async with open_engine(_engine_of(ctx, state)) as engine:
            for entry in state.containers:
                info = await engine.find_container(entry.id)
                if info is None:
                    problem = None if self.gone_is_in_force else "is gone"
                else:
                    problem = await self.check(ctx, engine, entry, info)
                if problem is not None:
                    problems.append(f"container {entry.short} {problem}")
        if problems:
            raise FaultNotInForce("; ".join(problems))

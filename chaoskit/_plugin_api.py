"""The plugin API: what an injector, a probe kind and a target kind implement.

Plugins are found through entry points (groups ``chaoskit.injectors``,
``chaoskit.probes``, ``chaoskit.targets``). Each entry point names a class; the
registry instantiates injectors and probes with no arguments. Instances must be
stateless: everything an injector needs to undo its fault travels in the
``revert_state`` it returns, so that ``chaoskit rollback`` can revert a fault in
another process after a crash.

Contract for every async method: it must be cancellable (anyio cancellation),
bound every wait with a timeout, and run blocking client calls through
``anyio.to_thread.run_sync``. See docs/writing-injectors.md.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, JsonValue

from chaoskit._units import DurationThreshold, Threshold

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

__all__ = [
    "Describable",
    "Expect",
    "FaultContext",
    "Footprint",
    "Injector",
    "JsonValue",
    "LoadContext",
    "LoadKind",
    "Lookup",
    "LookupContext",
    "Observation",
    "Outcome",
    "Params",
    "Probe",
    "ProbeContext",
    "Provisioning",
    "Resources",
    "TargetSpec",
    "Verifiable",
    "WriteOutcome",
]

Scope = Literal["target", "outside"]
T = TypeVar("T")


class Resources(Protocol):
    """Long-lived things a probe keeps for the whole run (an HTTP client, a
    connection pool), opened on first use and closed when the run ends."""

    async def get(self, key: str, factory: Callable[[], AbstractAsyncContextManager[T]]) -> T:
        """The resource under ``key``, entering ``factory()`` the first time."""
        ...


class Params(BaseModel):
    """Base for injector and probe parameter models: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class TargetSpec(Params):
    """Base for target kinds. Subclasses narrow ``kind`` to a ``Literal``.

    ``kind`` is the discriminator the loader uses; the entry-point name in
    ``chaoskit.targets`` must equal it.
    """

    kind: str
    description: str = ""


class Expect(Params):
    """Base for a probe kind's tolerances. ``latency`` is checked by the core
    for every kind: a sample slower than the bound is not ok."""

    latency: DurationThreshold | None = None
    """a bound on the sample's own latency, e.g. ``< 300ms``"""


@dataclass(frozen=True)
class Observation:
    """One sample as judged by a probe: ``ok`` against its tolerances, the
    measured ``value`` (JSON-serialisable) and, when not ok, why."""

    ok: bool
    value: JsonValue = None
    detail: str = ""


@dataclass(frozen=True)
class FaultContext:
    """What an injector gets for one fault of one run."""

    run_id: str
    fault_name: str
    target_name: str
    target: TargetSpec
    params: Params
    log: FilteringBoundLogger
    extra: dict[str, Any] = field(default_factory=dict)
    duration: float | None = None
    """How long the fault is meant to stay in force (None in a rollback): helpers
    an injector starts can cap their own lifetime with it."""

    @property
    def tag(self) -> str:
        """A name unique to this fault in this run, for whatever the injector
        creates (toxic names, application_name, hog process titles)."""
        return f"chaoskit-{self.run_id}-{self.fault_name}"


@dataclass(frozen=True)
class ProbeContext:
    """What a probe gets for one sample."""

    probe_name: str
    params: Params
    expect: Expect
    timeout: float
    target: TargetSpec | None
    log: FilteringBoundLogger
    resources: Resources


@runtime_checkable
class Injector(Protocol):
    """A fault. Lifecycle for one fault: ``preflight`` → ``prepare`` → (the
    runner journals the returned revert state, fsync'd) → ``inject`` → …
    → ``revert``.
    """

    name: ClassVar[str]
    """Namespaced name as used in experiments, e.g. ``toxiproxy.latency``."""
    params: ClassVar[type[Params]]
    """The model of the fault's ``with:`` block, validated at load time."""
    target_kinds: ClassVar[tuple[str, ...]]
    """Target kinds this injector acts on."""

    async def preflight(self, ctx: FaultContext) -> None:
        """Check, without changing anything, that the target exists, the
        component is reachable and the injector may act. Raise InjectorError."""
        ...

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        """Read and return exactly the prior state that ``inject`` will change
        (and the names of what it will create). No side effects. The runner
        writes it to the journal before ``inject`` is called."""
        ...

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        """Apply the fault and return the final revert state (usually the one
        given, possibly with details learnt while applying it)."""
        ...

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        """Restore the prior state. Idempotent: reverting twice, or reverting a
        fault whose ``inject`` never ran or failed half-way, is harmless."""
        ...


@runtime_checkable
class Verifiable(Protocol):
    """Optional: an injector that can tell whether its fault is in force."""

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        """Raise FaultNotInForce when the component shows the fault is absent."""
        ...


@dataclass(frozen=True)
class Footprint:
    """What a fault does to the system, in words, for ``chaoskit run --dry-run``."""

    changes: tuple[str, ...] = ()
    """What the fault changes while it is in force, and how revert restores it."""
    creates: tuple[str, ...] = ()
    """Each thing it creates (by name where the name is known), and when it is
    removed. Empty: it creates nothing."""
    params: dict[str, str] = field(default_factory=dict)
    """Parameters in the injector's own words (``memory: 128MiB``), for values
    whose unit the core cannot tell from the type; the core spells out
    durations, rates, percentages and thresholds itself."""


@runtime_checkable
class Describable(Protocol):
    """Optional: an injector that says what its fault will change and create.

    ``--dry-run`` prints it beside the fault's parameters. Without it the plan
    shows the first paragraph of the injector class's docstring, and says
    nothing about what it creates."""

    def footprint(self, ctx: FaultContext) -> Footprint:
        """From ``ctx.target`` and ``ctx.params`` alone: no I/O, nothing
        contacted, nothing changed. ``ctx.run_id`` is ``RUN`` (the run has no
        id yet), so names derived from ``ctx.tag`` read ``chaoskit-RUN-<fault>``."""
        ...


@runtime_checkable
class Provisioning(Protocol):
    """Optional: an injector whose target may need something created for the
    whole run, such as the Toxiproxy proxy a ``toxiproxy.proxy`` target
    describes with ``listen`` and ``upstream``.

    The runner asks once per target (the first fault on it whose injector has
    this method), after every preflight and before the baseline. The step it
    gets is applied like a fault — ``prepare``, the intent journaled and
    fsync'd (``fault_intent`` with ``"setup": true``, iteration 0), ``inject``
    — and reverted after every fault of the run has been, on every path
    (normal end, abort, error); after a crash, ``chaoskit rollback`` reverts it
    last. A ``prepare`` that returns None means there is nothing to create (it
    exists already): nothing is journaled, injected or reverted.
    """

    def setup(self, ctx: FaultContext) -> Injector | None:
        """The step that creates what ``ctx.target`` needs, or None when it
        needs nothing (or the experiment says to keep what is created, in which
        case ``preflight`` creates it and nothing removes it). No I/O: rollback
        calls it again, in another process, to rebuild the step. The step keeps
        the Injector contract: ``prepare`` without side effects, ``revert``
        idempotent and working from the JSON state alone; it removes only what
        its ``inject`` created, and leaves as found what already existed."""
        ...


@runtime_checkable
class Probe(Protocol):
    """A probe kind (``http``, ``tcp``, ``sql`` ...). ``observe`` reads the
    system once and judges the reading against ``ctx.expect``.

    A failing system is an observation, not an exception: return
    ``Observation(ok=False, detail=...)`` for refused connections, timeouts and
    bad answers. An exception escaping ``observe`` is treated as a bug in the
    probe and aborts the run (every fault is still reverted).
    """

    name: ClassVar[str]
    params: ClassVar[type[Params]]
    expect: ClassVar[type[Expect]]

    async def observe(self, ctx: ProbeContext) -> Observation: ...

    # Optional: ``async def warm_up(self) -> None`` is awaited once in preflight
    # (import heavy clients there, not in the first sample).
    # Optional: ``value_unit: ClassVar[str]`` ("MiB", "%" ...) says the value is a
    # measurement, a number or a mapping of names to numbers: results.json then
    # summarises it per phase (``probes[].values``), as resource probes do.


def latency_verdict(latency: float, threshold: Threshold | None) -> str:
    """The reason a sample's latency breaks ``threshold``, or "" when it holds."""
    if threshold is None or threshold.holds(latency):
        return ""
    return f"latency {latency * 1000:.1f}ms not {threshold}"


WriteOutcome = Literal["acknowledged", "failed", "indeterminate"]
"""What a write attempt's client learnt: *acknowledged* (the system said it is
done), *failed* (a definite error: it was not done), *indeterminate* (timeout,
reset, an error after sending: it may or may not have been done)."""


@dataclass(frozen=True)
class Outcome:
    """The result of one load request."""

    outcome: WriteOutcome
    status: int | None = None
    """A protocol status where there is one (HTTP status code)."""
    detail: str = ""


@dataclass(frozen=True)
class LoadContext:
    """What a load kind gets for one request."""

    stream: str
    params: Params
    write_id: str
    """A unique id for this request; templates refer to it as ``{{id}}``."""
    seq: int
    timeout: float
    target: TargetSpec | None
    resources: Resources


@runtime_checkable
class LoadKind(Protocol):
    """A kind of load request (``http``, ``sql`` ...), sent many times a second.

    ``send`` must not raise for a failing system: return an ``Outcome``. It is
    called concurrently; keep clients in ``ctx.resources`` (opened once per run).
    """

    name: ClassVar[str]
    params: ClassVar[type[Params]]

    async def send(self, ctx: LoadContext) -> Outcome: ...

    # Optional: ``enforces_timeout: ClassVar[bool] = True`` when ``send`` bounds
    # itself by ``ctx.timeout`` (the stream then adds no cancel scope per request);
    # ``async def warm_up(self) -> None`` is awaited once before the load starts.


@dataclass(frozen=True)
class LookupContext:
    """What a lookup kind gets for one batch of write ids."""

    stream: str
    params: Params
    timeout: float
    target: TargetSpec | None
    resources: Resources


@runtime_checkable
class Lookup(Protocol):
    """How the audit finds writes after recovery (``writes: {lookup: {http: ...}}``).

    ``find`` gets a batch of write ids and returns, for each id it could check,
    how many copies the system holds (0: absent; 2+: duplicated). An id left out
    of the answer is *unverified* (the lookup could not tell). It must not raise
    for a failing system; a lookup that cannot count copies answers 1 for present.
    """

    name: ClassVar[str]
    params: ClassVar[type[Params]]
    counts_copies: ClassVar[bool]
    """True when ``find`` tells duplicates apart (SQL can; an HTTP GET cannot)."""

    async def find(self, ctx: LookupContext, ids: list[str]) -> dict[str, int]: ...

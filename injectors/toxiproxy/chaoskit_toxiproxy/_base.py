"""What the Toxiproxy injectors share: the revert state, the target and params
checks, and the generic lifecycle of "add named toxics, remove them by name".

Each toxic is then a few lines in its own module: its parameter model, its
Toxiproxy type and how its parameters become the toxic's attributes.
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, ClassVar, Literal, TypeVar

from pydantic import Field

from chaoskit import (
    FaultContext,
    FaultNotInForce,
    Footprint,
    Injector,
    InjectorError,
    JsonValue,
    Params,
    RevertState,
    params_as,
)
from chaoskit_toxiproxy._client import (
    DEFAULT_TIMEOUT,
    Proxy,
    ProxyAlreadyExists,
    ProxyNotFound,
    Stream,
    ToxicAlreadyExists,
    ToxicNotFound,
    ToxiproxyClient,
)
from chaoskit_toxiproxy.proxies_target import ProxiesTarget
from chaoskit_toxiproxy.proxy_setup import proxy_setup
from chaoskit_toxiproxy.target import ProxyTarget

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

__all__ = [
    "TARGET_KIND",
    "ProxyRevertState",
    "ToxicInjector",
    "ToxicParams",
    "add_toxics",
    "connect",
    "ensure_proxy",
    "first_paragraph",
    "kept_proxy",
    "milliseconds",
    "not_in_force",
    "percent",
    "proxy_target",
    "read_proxies",
    "restore_proxy",
    "revert_proxy",
    "toxic_plan",
]

TARGET_KIND = "toxiproxy.proxy"
_STREAMS: dict[str, tuple[Stream, ...]] = {
    "upstream": ("upstream",),
    "downstream": ("downstream",),
    "both": ("upstream", "downstream"),
}
P = TypeVar("P", bound=Params)


class ToxicParams(Params):
    """Parameters every toxic takes."""

    stream: Literal["upstream", "downstream", "both"] = Field(
        default="downstream",
        description="downstream = server to client; both = one toxic on each stream",
    )
    toxicity: float = Field(
        default=1.0, ge=0.0, le=1.0, description="probability that a connection is affected"
    )


class ProxyRevertState(RevertState):
    """The revert state of every Toxiproxy injector, as JSON::

        {"server": "http://127.0.0.1:8474", "proxy": "ledger_postgres",
         "listen": "127.0.0.1:25432", "upstream": "127.0.0.1:5432",
         "enabled": true, "toxics": ["chaoskit-RUN-FAULT-downstream"]}

    ``listen``/``upstream``/``enabled`` are the proxy as it was before the
    fault, kept so that revert can re-create it if the server lost it (a
    restarted Toxiproxy). ``toxics`` names exactly the toxics the fault adds.
    """

    label: ClassVar[str] = "Toxiproxy"

    server: str
    proxy: str
    listen: str | None = None
    upstream: str | None = None
    enabled: bool
    toxics: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, server: str, proxy: Proxy, toxics: list[str] | None = None) -> ProxyRevertState:
        """The state of ``proxy`` as the server lists it now, plus the names of
        the toxics the fault will add."""
        return cls(
            server=server,
            proxy=proxy.name,
            listen=proxy.listen,
            upstream=proxy.upstream,
            enabled=proxy.enabled,
            toxics=toxics or [],
        )


def first_paragraph(cls: type) -> str:
    """The first paragraph of a class's docstring on one line, without the
    reST quoting: what ``--dry-run`` says the fault does."""
    text = (inspect.getdoc(cls) or "").split("\n\n", 1)[0]
    return " ".join(text.replace("``", "").split())


def percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def kept_proxy(target: ProxyTarget) -> tuple[str, ...]:
    """What ``--dry-run`` says preflight creates for a target with ``keep``."""
    if not (target.creates_proxy and target.keep):
        return ()
    return (
        f"proxy {target.name!r} on {target.listen}, forwarding to {target.upstream}, on "
        f"Toxiproxy at {target.server}, created in preflight if the server lacks it and "
        "left there after the run (keep: true)",
    )


def connect(server: str) -> ToxiproxyClient:
    """A client for one call sequence; use it as ``async with connect(url) as client``."""
    return ToxiproxyClient(server, timeout=DEFAULT_TIMEOUT)


def proxy_target(ctx: FaultContext) -> ProxyTarget:
    if not isinstance(ctx.target, ProxyTarget):
        raise InjectorError(
            f"fault {ctx.fault_name!r} needs a {TARGET_KIND} target; "
            f"{ctx.target_name!r} is {ctx.target.kind!r}"
        )
    return ctx.target


def milliseconds(seconds: float) -> int:
    """A chaoskit duration (float seconds) as Toxiproxy's integer milliseconds."""
    return round(seconds * 1000)


async def ensure_proxy(
    client: ToxiproxyClient, target: ProxyTarget, log: FilteringBoundLogger
) -> Proxy | None:
    """Preflight's look at the target's proxy: the proxy, or None when it is
    missing and the run's setup (:mod:`chaoskit_toxiproxy.proxy_setup`) will
    create it before the baseline. Missing with ``keep``: created here, and
    left on the server after the run. Missing, and the target does not say how
    to create it: :class:`InjectorError`."""
    try:
        return await client.get_proxy(target.name)
    except ProxyNotFound as exc:
        if target.listen is None or target.upstream is None:
            raise InjectorError(
                f"proxy {target.name!r} does not exist on Toxiproxy at {target.server}; "
                "create it, or give the target listen and upstream to have it created"
            ) from exc
    if not target.keep:
        log.info("toxiproxy.proxy_missing", proxy=target.name, created="before the baseline")
        return None
    try:
        proxy = await client.create_proxy(
            target.name, listen=target.listen, upstream=target.upstream
        )
    except ProxyAlreadyExists:
        # Created by someone else meanwhile: fine, it exists now.
        return await client.get_proxy(target.name)
    log.info("toxiproxy.proxy_created", proxy=target.name, listen=proxy.listen, kept=True)
    return proxy


async def read_proxies(client: ToxiproxyClient, target: ProxyTarget | ProxiesTarget) -> list[Proxy]:
    """The proxies of a target as the server lists them now, sorted by name: the
    one of a ``toxiproxy.proxy`` (:class:`ProxyNotFound` if missing), or the
    selection of a ``toxiproxy.proxies`` (one request; :class:`InjectorError`
    if a named proxy is missing or nothing is selected)."""
    if isinstance(target, ProxyTarget):
        return [await client.get_proxy(target.name)]
    available = await client.list_proxies()
    return [available[name] for name in target.select(available)]


async def restore_proxy(
    client: ToxiproxyClient, state: ProxyRevertState, log: FilteringBoundLogger
) -> tuple[Proxy, bool]:
    """The proxy of ``state``, re-created as it was when the server lost it.
    Returns it and whether it had to be re-created."""
    try:
        return await client.get_proxy(state.proxy), False
    except ProxyNotFound as exc:
        if state.listen is None or state.upstream is None:
            raise InjectorError(
                f"proxy {state.proxy!r} is gone from Toxiproxy at {state.server} (restarted?) "
                "and the revert state does not say how to re-create it; "
                "re-create it by hand"
            ) from exc
    try:
        proxy = await client.create_proxy(
            state.proxy, listen=state.listen, upstream=state.upstream, enabled=state.enabled
        )
    except ProxyAlreadyExists:
        return await client.get_proxy(state.proxy), False
    log.warning(
        "toxiproxy.proxy_recreated",
        proxy=state.proxy,
        listen=state.listen,
        upstream=state.upstream,
        enabled=state.enabled,
    )
    return proxy, True


def toxic_plan(tag: str, stream: str) -> list[tuple[str, Stream]]:
    """(toxic name, stream) for each toxic a fault adds: ``stream`` is
    upstream, downstream or both. Names derive from the fault's tag, kept to
    characters that are safe in a URL path segment."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", tag)
    return [(f"{base}-{one}", one) for one in _STREAMS[stream]]


async def add_toxics(
    client: ToxiproxyClient,
    proxy: str,
    plan: list[tuple[str, Stream]],
    *,
    toxic_type: str,
    toxicity: float,
    attributes: dict[str, JsonValue],
    log: FilteringBoundLogger,
) -> None:
    """Add the toxics of ``plan`` to ``proxy``. A toxic of that name already
    there is this fault's own (the name derives from its tag) and is kept."""
    for toxic_name, stream in plan:
        try:
            await client.add_toxic(
                proxy,
                name=toxic_name,
                type=toxic_type,
                stream=stream,
                toxicity=toxicity,
                attributes=attributes,
            )
        except ToxicAlreadyExists:
            log.info("toxiproxy.toxic_already_present", proxy=proxy, toxic=toxic_name)
            continue
        log.info(
            "toxiproxy.toxic_added",
            proxy=proxy,
            toxic=toxic_name,
            type=toxic_type,
            stream=stream,
            attributes=attributes,
        )


async def revert_proxy(
    client: ToxiproxyClient,
    state: ProxyRevertState,
    log: FilteringBoundLogger,
    *,
    reenable: bool,
) -> None:
    """Undo a fault on one proxy: remove the toxics the state names (missing ones
    are fine) and, with ``reenable``, enable it again if it was enabled before;
    re-create the proxy if the server lost it. Reads the result back and raises
    :class:`InjectorError` if it did not take.

    The undo is tried first and the proxy looked up only when the server says it
    is gone: the fault ends with the first request, not after a read."""
    if not state.toxics and not (reenable and state.enabled):
        await restore_proxy(client, state, log)  # nothing to undo; only make sure it exists
        return
    try:
        await _undo(client, state, log, reenable=reenable)
    except ProxyNotFound:
        _, recreated = await restore_proxy(client, state, log)
        if not recreated:  # someone else re-created it meanwhile: undo on that one
            await _undo(client, state, log, reenable=reenable)


async def _undo(
    client: ToxiproxyClient,
    state: ProxyRevertState,
    log: FilteringBoundLogger,
    *,
    reenable: bool,
) -> None:
    for toxic_name in state.toxics:
        try:
            await client.remove_toxic(state.proxy, toxic_name)
        except ToxicNotFound:
            continue
        log.info("toxiproxy.toxic_removed", proxy=state.proxy, toxic=toxic_name)
    if reenable and state.enabled:
        enabled = await client.set_enabled(state.proxy, True)  # a no-op when it is
        if not enabled.enabled:
            raise InjectorError(f"proxy {state.proxy!r} is still disabled after enabling it")
        log.info("toxiproxy.proxy_enabled", proxy=state.proxy)
    if state.toxics:
        remaining = {toxic.name for toxic in await client.list_toxics(state.proxy)}
        left = sorted(remaining & set(state.toxics))
        if left:
            raise InjectorError(
                f"toxics {left} are still on proxy {state.proxy!r} after removing them"
            )


async def not_in_force(
    client: ToxiproxyClient, state: ProxyRevertState, *, disabled: bool
) -> str | None:
    """Why the fault of ``state`` is not in force on its proxy, or None when it
    is: the proxy is gone, one of the state's toxics is missing, or (with
    ``disabled``) the proxy is enabled."""
    try:
        proxy = await client.get_proxy(state.proxy)
    except ProxyNotFound:
        # A proxy that is gone passes no traffic either, but it is not the
        # fault we applied: say so rather than pass.
        return f"proxy {state.proxy!r} is gone from Toxiproxy at {state.server}"
    listed = {toxic.name for toxic in proxy.toxics}
    missing = [name for name in state.toxics if name not in listed]
    if missing:
        return f"toxics {missing} are not on proxy {state.proxy!r}"
    if disabled and proxy.enabled:
        return f"proxy {state.proxy!r} is enabled"
    return None


class ToxicInjector:
    """Lifecycle of a fault made of named toxics on one proxy.

    Subclasses set ``name``, ``params`` (a :class:`ToxicParams` subclass) and
    ``toxic_type`` and implement :meth:`attributes`.
    """

    name: ClassVar[str]
    params: ClassVar[type[Params]]
    target_kinds: ClassVar[tuple[str, ...]] = (TARGET_KIND,)
    toxic_type: ClassVar[str]
    """The toxic's type in Toxiproxy's API."""
    units: ClassVar[dict[str, str]] = {}
    """The unit of each integer parameter (``{"rate": "KB/s"}``), for ``--dry-run``."""

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        """The toxic's ``attributes`` in Toxiproxy's units, from the fault's params."""
        raise NotImplementedError

    def _plan(self, ctx: FaultContext) -> tuple[ToxicParams, list[tuple[str, Stream]]]:
        params = params_as(ctx.params, ToxicParams)
        return params, toxic_plan(ctx.tag, params.stream)

    async def preflight(self, ctx: FaultContext) -> None:
        target = proxy_target(ctx)
        _, plan = self._plan(ctx)
        self.attributes(ctx.params)
        async with connect(target.server) as client:
            proxy = await ensure_proxy(client, target, ctx.log)
        present = {toxic.name for toxic in proxy.toxics} if proxy is not None else set()
        leftovers = present & {name for name, _ in plan}
        if leftovers:
            ctx.log.warning("toxiproxy.toxic_already_present", proxy=target.name, toxics=leftovers)

    def setup(self, ctx: FaultContext) -> Injector | None:
        return proxy_setup(ctx)

    def footprint(self, ctx: FaultContext) -> Footprint:
        target = proxy_target(ctx)
        params, plan = self._plan(ctx)
        toxics = [
            f"{self.toxic_type} toxic {name} ({stream}) on proxy {target.name!r} at "
            f"{target.server}: removed by name on revert (other toxics stay)"
            for name, stream in plan
        ]
        return Footprint(
            changes=(first_paragraph(type(self)),),
            creates=(*toxics, *kept_proxy(target)),
            params={
                "toxicity": percent(params.toxicity),
                **{name: f"{getattr(params, name)} {unit}" for name, unit in self.units.items()},
            },
        )

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        target = proxy_target(ctx)
        _, plan = self._plan(ctx)
        async with connect(target.server) as client:
            proxy = await client.get_proxy(target.name)
        return ProxyRevertState.of(target.server, proxy, [name for name, _ in plan]).to_json()

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        state = ProxyRevertState.parse(revert_state)
        params, plan = self._plan(ctx)
        unjournaled = [name for name, _ in plan if name not in state.toxics]
        if unjournaled:
            raise InjectorError(
                f"refusing to add toxics {unjournaled} that the revert state does not name"
            )
        attributes = self.attributes(params)
        async with connect(state.server) as client:
            await add_toxics(
                client,
                state.proxy,
                plan,
                toxic_type=self.toxic_type,
                toxicity=params.toxicity,
                attributes=attributes,
                log=ctx.log,
            )
        return state.to_json()

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = ProxyRevertState.parse(revert_state)
        async with connect(state.server) as client:
            await revert_proxy(client, state, ctx.log, reenable=False)

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = ProxyRevertState.parse(revert_state)
        async with connect(state.server) as client:
            reason = await not_in_force(client, state, disabled=False)
        if reason is not None:
            raise FaultNotInForce(reason)

"""``toxiproxy.partition``: cut a set of proxies at once, as refused
connections (every proxy disabled) or as a black hole (a ``timeout`` toxic
with timeout 0 on the chosen direction of every proxy), one-way or two-way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar, Literal, Self

import anyio
from pydantic import Field, model_validator

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
from chaoskit_toxiproxy._base import (
    TARGET_KIND,
    ProxyRevertState,
    add_toxics,
    connect,
    ensure_proxy,
    kept_proxy,
    not_in_force,
    read_proxies,
    revert_proxy,
    toxic_plan,
)
from chaoskit_toxiproxy._client import Proxy, ToxiproxyClient
from chaoskit_toxiproxy.proxies_target import ProxiesTarget
from chaoskit_toxiproxy.proxy_setup import proxy_setup
from chaoskit_toxiproxy.target import ProxyTarget

__all__ = ["Partition", "PartitionParams", "PartitionRevertState"]

Mode = Literal["refuse", "blackhole"]
BLACKHOLE_TOXIC = "timeout"
BLACKHOLE_ATTRIBUTES: dict[str, JsonValue] = {"timeout": 0}  # 0: hold the connection open


class PartitionParams(Params):
    """Cuts every proxy of the target (a toxiproxy.proxies set or one toxiproxy.proxy) at
    once; see docs/injectors/toxiproxy.md."""

    mode: Mode = "refuse"
    """refuse: every proxy is disabled — its listener closes, open connections are
    cut and new ones refused (always both directions). blackhole: a timeout toxic
    with timeout 0 — connections open and stay open, but no data gets through"""
    direction: Literal["both", "upstream", "downstream"] = "both"
    """the traffic that is cut: upstream = client to server, downstream = server to
    client; one-way needs mode: blackhole"""

    @model_validator(mode="after")
    def _refuse_is_two_way(self) -> Self:
        if self.mode == "refuse" and self.direction != "both":
            raise ValueError(
                "mode: refuse disables the proxies, which cuts both directions; "
                f"for a one-way partition (direction: {self.direction}) use mode: blackhole"
            )
        return self


class PartitionRevertState(RevertState):
    """The revert state of ``toxiproxy.partition``, as JSON::

        {"mode": "blackhole",
         "proxies": [{"server": "http://127.0.0.1:8474", "proxy": "a_to_b",
                      "listen": "127.0.0.1:25001", "upstream": "127.0.0.1:5001",
                      "enabled": true, "toxics": ["chaoskit-RUN-FAULT-upstream", ...]},
                     ...]}

    One :class:`ProxyRevertState` per proxy of the set, as it was before the
    fault, with the names of the toxics the fault adds to it (none for refuse).
    """

    label: ClassVar[str] = "toxiproxy.partition"

    mode: Mode
    proxies: list[ProxyRevertState] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_server(self) -> Self:
        servers = {entry.server for entry in self.proxies}
        if len(servers) > 1:
            raise ValueError(f"the proxies are on several servers: {sorted(servers)}")
        return self

    @property
    def server(self) -> str:
        return self.proxies[0].server


def _target(ctx: FaultContext) -> ProxiesTarget | ProxyTarget:
    if not isinstance(ctx.target, ProxiesTarget | ProxyTarget):
        raise InjectorError(
            f"fault {ctx.fault_name!r} needs a toxiproxy.proxies or {TARGET_KIND} target; "
            f"{ctx.target_name!r} is {ctx.target.kind!r}"
        )
    return ctx.target


async def _resolve(
    client: ToxiproxyClient, target: ProxiesTarget | ProxyTarget, ctx: FaultContext, *, ensure: bool
) -> list[Proxy]:
    """The proxies of the target, sorted by name. With ``ensure`` (preflight), a
    single proxy target may be missing when it says how to create it, as for the
    other injectors: [] then."""
    if ensure and isinstance(target, ProxyTarget):
        proxy = await ensure_proxy(client, target, ctx.log)
        return [proxy] if proxy is not None else []
    return await read_proxies(client, target)


async def _each(
    entries: list[ProxyRevertState], action: Callable[[ProxyRevertState], Awaitable[None]]
) -> dict[str, InjectorError]:
    """``action`` on every proxy concurrently; one failing does not stop the
    others. Returns the failures by proxy name."""
    failures: dict[str, InjectorError] = {}

    async def one(entry: ProxyRevertState) -> None:
        try:
            await action(entry)
        except InjectorError as exc:
            failures[entry.proxy] = exc

    async with anyio.create_task_group() as group:
        for entry in entries:
            group.start_soon(one, entry)
    return failures


def _failed(what: str, failures: dict[str, InjectorError], total: int) -> InjectorError:
    names = ", ".join(repr(name) for name in sorted(failures))
    details = "; ".join(str(failures[name]) for name in sorted(failures))  # each names its proxy
    return InjectorError(
        f"{what} failed on {len(failures)} of {total} proxies ({names}): {details}"
    )


class Partition:
    """Cuts every proxy of the target at once. Revert undoes exactly what the
    fault did, proxy by proxy: it re-creates proxies a restarted Toxiproxy lost,
    removes the toxics it added by name and re-enables only proxies that were
    enabled before."""

    name: ClassVar[str] = "toxiproxy.partition"
    params: ClassVar[type[Params]] = PartitionParams
    target_kinds: ClassVar[tuple[str, ...]] = ("toxiproxy.proxies", TARGET_KIND)

    def _toxic_names(self, ctx: FaultContext, params: PartitionParams) -> list[str]:
        if params.mode == "refuse":
            return []
        return [name for name, _ in toxic_plan(ctx.tag, params.direction)]

    async def preflight(self, ctx: FaultContext) -> None:
        params = params_as(ctx.params, PartitionParams)
        target = _target(ctx)
        async with connect(target.server) as client:
            proxies = await _resolve(client, target, ctx, ensure=True)
        ours = set(self._toxic_names(ctx, params))
        for proxy in proxies:
            leftovers = {toxic.name for toxic in proxy.toxics} & ours
            if leftovers:
                ctx.log.warning(
                    "toxiproxy.toxic_already_present", proxy=proxy.name, toxics=sorted(leftovers)
                )
        ctx.log.info("toxiproxy.partition_selected", proxies=[proxy.name for proxy in proxies])

    def setup(self, ctx: FaultContext) -> Injector | None:
        return proxy_setup(ctx)

    def footprint(self, ctx: FaultContext) -> Footprint:
        params = params_as(ctx.params, PartitionParams)
        target = _target(ctx)
        if isinstance(target, ProxyTarget):
            which = f"proxy {target.name!r} on Toxiproxy at {target.server}"
            kept = kept_proxy(target)
        else:
            which = (
                f"every proxy on Toxiproxy at {target.server} selected by {target.describe()} "
                "(resolved when the fault is prepared)"
            )
            kept = ()
        if params.mode == "refuse":
            return Footprint(
                changes=(
                    f"disables {which}, all at once: connections are cut and refused; revert "
                    "re-enables each proxy that was enabled before",
                ),
                creates=kept,
            )
        toxics = ", ".join(name for name, _ in toxic_plan(ctx.tag, params.direction))
        return Footprint(
            changes=(
                f"black-holes the {params.direction} traffic of {which}, all at once: "
                "connections stay open, no data gets through",
            ),
            creates=(
                f"timeout toxics (timeout 0) {toxics} on each of those proxies: removed by "
                "name on revert (other toxics stay)",
                *kept,
            ),
        )

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        params = params_as(ctx.params, PartitionParams)
        target = _target(ctx)
        async with connect(target.server) as client:
            proxies = await _resolve(client, target, ctx, ensure=False)
        toxics = self._toxic_names(ctx, params)
        return PartitionRevertState(
            mode=params.mode,
            proxies=[ProxyRevertState.of(target.server, proxy, toxics) for proxy in proxies],
        ).to_json()

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        state = PartitionRevertState.parse(revert_state)
        params = params_as(ctx.params, PartitionParams)
        plan = toxic_plan(ctx.tag, params.direction) if params.mode == "blackhole" else []
        expected = [name for name, _ in plan]
        if state.mode != params.mode or any(entry.toxics != expected for entry in state.proxies):
            raise InjectorError(
                f"refusing to inject: the revert state ({state.mode}) does not describe "
                f"this fault (mode {params.mode}, toxics {expected})"
            )
        cut_at: dict[str, float] = {}
        async with connect(state.server) as client:

            async def cut(entry: ProxyRevertState) -> None:
                if state.mode == "refuse":
                    await client.set_enabled(entry.proxy, False)
                else:
                    await add_toxics(
                        client,
                        entry.proxy,
                        plan,
                        toxic_type=BLACKHOLE_TOXIC,
                        toxicity=1.0,
                        attributes=BLACKHOLE_ATTRIBUTES,
                        log=ctx.log,
                    )
                cut_at[entry.proxy] = anyio.current_time()

            await self._refuse_stale(client, state)
            failures = await _each(state.proxies, cut)
        if cut_at:
            ctx.log.info(
                "toxiproxy.partition_applied",
                mode=state.mode,
                direction=params.direction,
                proxies=sorted(cut_at),
                spread_ms=round((max(cut_at.values()) - min(cut_at.values())) * 1000, 1),
            )
        if failures:
            raise _failed("the partition", failures, len(state.proxies))
        return state.to_json()

    async def _refuse_stale(self, client: ToxiproxyClient, state: PartitionRevertState) -> None:
        """Refuse to act when a proxy vanished, or (refuse) was enabled or
        disabled, since prepare: revert would undo someone else's change."""
        current = await client.list_proxies()
        problems: list[str] = []
        for entry in state.proxies:
            proxy = current.get(entry.proxy)
            if proxy is None:
                problems.append(f"proxy {entry.proxy!r} is gone")
            elif state.mode == "refuse" and proxy.enabled != entry.enabled:
                problems.append(
                    f"proxy {entry.proxy!r} is {'enabled' if proxy.enabled else 'disabled'} "
                    f"but was {'enabled' if entry.enabled else 'disabled'} at prepare"
                )
        if problems:
            raise InjectorError(
                f"refusing to cut: the proxies on Toxiproxy at {state.server} changed since "
                f"prepare ({'; '.join(problems)})"
            )

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = PartitionRevertState.parse(revert_state)
        async with connect(state.server) as client:

            async def undo(entry: ProxyRevertState) -> None:
                await revert_proxy(client, entry, ctx.log, reenable=state.mode == "refuse")

            failures = await _each(state.proxies, undo)
        if failures:
            raise _failed("reverting the partition", failures, len(state.proxies))
        ctx.log.info("toxiproxy.partition_reverted", proxies=len(state.proxies))

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = PartitionRevertState.parse(revert_state)
        reasons: dict[str, str] = {}
        async with connect(state.server) as client:

            async def check(entry: ProxyRevertState) -> None:
                reason = await not_in_force(client, entry, disabled=state.mode == "refuse")
                if reason is not None:
                    reasons[entry.proxy] = reason

            failures = await _each(state.proxies, check)
        if reasons:
            names = ", ".join(repr(name) for name in sorted(reasons))
            raise FaultNotInForce(
                f"the partition is not in force on {len(reasons)} of {len(state.proxies)} "
                f"proxies ({names}): " + "; ".join(reasons[name] for name in sorted(reasons))
            )
        if failures:
            raise _failed("checking the partition", failures, len(state.proxies))

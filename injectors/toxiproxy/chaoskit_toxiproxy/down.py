"""``toxiproxy.down``: disable the proxy — its listener closes and every
connection through it is cut; new connections are refused."""

from __future__ import annotations

from typing import ClassVar

from chaoskit import (
    FaultContext,
    FaultNotInForce,
    Footprint,
    Injector,
    JsonValue,
    Params,
    params_as,
)
from chaoskit_toxiproxy._base import (
    TARGET_KIND,
    ProxyRevertState,
    connect,
    ensure_proxy,
    kept_proxy,
    not_in_force,
    proxy_target,
    revert_proxy,
)
from chaoskit_toxiproxy.proxy_setup import proxy_setup

__all__ = ["Down", "DownParams"]


class DownParams(Params):
    """``toxiproxy.down`` takes no parameters."""


class Down:
    """Disables the proxy. Revert re-enables it only if it was enabled before."""

    name: ClassVar[str] = "toxiproxy.down"
    params: ClassVar[type[Params]] = DownParams
    target_kinds: ClassVar[tuple[str, ...]] = (TARGET_KIND,)

    async def preflight(self, ctx: FaultContext) -> None:
        target = proxy_target(ctx)
        params_as(ctx.params, DownParams)
        async with connect(target.server) as client:
            await ensure_proxy(client, target, ctx.log)

    def setup(self, ctx: FaultContext) -> Injector | None:
        return proxy_setup(ctx)

    def footprint(self, ctx: FaultContext) -> Footprint:
        target = proxy_target(ctx)
        return Footprint(
            changes=(
                f"disables proxy {target.name!r} on Toxiproxy at {target.server}: its listener "
                "closes, connections through it are cut and new ones refused; revert "
                "re-enables it if it was enabled before",
            ),
            creates=kept_proxy(target),
        )

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        target = proxy_target(ctx)
        async with connect(target.server) as client:
            proxy = await client.get_proxy(target.name)
        return ProxyRevertState.of(target.server, proxy).to_json()

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        state = ProxyRevertState.parse(revert_state)
        async with connect(state.server) as client:
            await client.set_enabled(state.proxy, False)
        ctx.log.info("toxiproxy.proxy_disabled", proxy=state.proxy)
        return state.to_json()

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = ProxyRevertState.parse(revert_state)
        async with connect(state.server) as client:
            await revert_proxy(client, state, ctx.log, reenable=True)

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = ProxyRevertState.parse(revert_state)
        async with connect(state.server) as client:
            reason = await not_in_force(client, state, disabled=True)
        if reason is not None:
            raise FaultNotInForce(reason)

"""The proxy a ``toxiproxy.proxy`` target describes (``listen`` and
``upstream``), created for the run when the server lacks it and deleted at its
end.

Every Toxiproxy injector hands :class:`ProxySetup` to the runner through
``setup`` (chaoskit's ``Provisioning``). The runner applies it like a fault,
once per target, after every preflight and before the baseline: ``prepare``
says whether there is anything to create, the intent is journaled, ``inject``
creates the proxy. It is reverted after every fault of the run, on every path,
and by ``chaoskit rollback`` after a crash. A proxy that existed before the run
is never touched: ``prepare`` returns None for it, so nothing is journaled.
"""

from __future__ import annotations

from typing import ClassVar

from chaoskit import (
    FaultContext,
    FaultNotInForce,
    Footprint,
    InjectorError,
    JsonValue,
    Params,
    RevertState,
)
from chaoskit_toxiproxy._client import (
    DEFAULT_TIMEOUT,
    ProxyAlreadyExists,
    ProxyNotFound,
    ToxiproxyClient,
)
from chaoskit_toxiproxy.target import ProxyTarget

__all__ = ["ProxySetup", "ProxySetupParams", "ProxySetupState", "proxy_setup"]


class ProxySetupParams(Params):
    """The setup takes no parameters: the target says everything."""


class ProxySetupState(RevertState):
    """The revert state of a proxy created for the run, as JSON::

        {"server": "http://127.0.0.1:8474", "proxy": "chaoskit_demo_web",
         "listen": "127.0.0.1:18081", "upstream": "127.0.0.1:18080",
         "created": true}

    ``created``: true once inject created the proxy; false when someone else
    created it between prepare and inject (it is theirs, left as found); null in
    the intent, before inject answered. Revert deletes the proxy when
    ``created`` is not false and the server's proxy of that name still forwards
    to ``upstream`` (a proxy re-made by someone else since is left alone).
    """

    label: ClassVar[str] = "Toxiproxy proxy setup"

    server: str
    proxy: str
    listen: str
    upstream: str
    created: bool | None = None


def proxy_setup(ctx: FaultContext) -> ProxySetup | None:
    """The setup step of the fault's target: one for a ``toxiproxy.proxy``
    target that says how to create its proxy and does not say ``keep``."""
    target = ctx.target
    if isinstance(target, ProxyTarget) and target.creates_proxy and not target.keep:
        return ProxySetup()
    return None


def _client(server: str) -> ToxiproxyClient:
    return ToxiproxyClient(server, timeout=DEFAULT_TIMEOUT)


def _planned(ctx: FaultContext) -> ProxySetupState:
    """The proxy the fault's target describes, as the intent records it."""
    target = ctx.target
    if not isinstance(target, ProxyTarget) or target.listen is None or target.upstream is None:
        raise InjectorError(
            f"target {ctx.target_name!r} is not a toxiproxy.proxy with listen and upstream"
        )
    return ProxySetupState(
        server=target.server, proxy=target.name, listen=target.listen, upstream=target.upstream
    )


class ProxySetup:
    """Creates the target's proxy when the server lacks it; revert deletes the
    proxy it created (and nothing else)."""

    name: ClassVar[str] = "toxiproxy.proxy_setup"
    params: ClassVar[type[Params]] = ProxySetupParams
    target_kinds: ClassVar[tuple[str, ...]] = ("toxiproxy.proxy",)

    def footprint(self, ctx: FaultContext) -> Footprint:
        planned = _planned(ctx)
        return Footprint(
            creates=(
                f"proxy {planned.proxy!r} on {planned.listen}, forwarding to {planned.upstream}, "
                f"on Toxiproxy at {planned.server}, if the server lacks it: deleted at the end of "
                "the run, after every revert (a proxy that exists already is left as found; "
                "keep: true on the target keeps it)",
            )
        )

    async def preflight(self, ctx: FaultContext) -> None:
        _planned(ctx)  # the faults' own preflights have checked the server

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        planned = _planned(ctx)
        async with _client(planned.server) as client:
            try:
                await client.get_proxy(planned.proxy)
            except ProxyNotFound:
                return planned.to_json()
        return None  # it exists: not ours, nothing to create or remove

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        state = ProxySetupState.parse(revert_state)
        async with _client(state.server) as client:
            try:
                proxy = await client.create_proxy(
                    state.proxy, listen=state.listen, upstream=state.upstream
                )
            except ProxyAlreadyExists as exc:
                try:
                    await client.get_proxy(state.proxy)
                except ProxyNotFound:
                    raise InjectorError(  # another proxy has the listen address
                        f"cannot create proxy {state.proxy!r} on Toxiproxy at {state.server}: {exc}"
                    ) from exc
                # Someone else created it meanwhile: theirs, left as found.
                ctx.log.info("toxiproxy.proxy_exists", proxy=state.proxy)
                return state.model_copy(update={"created": False}).to_json()
        ctx.log.info("toxiproxy.proxy_created", proxy=state.proxy, listen=proxy.listen)
        return state.model_copy(update={"created": True}).to_json()

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = ProxySetupState.parse(revert_state)
        async with _client(state.server) as client:
            try:
                await client.get_proxy(state.proxy)
            except ProxyNotFound as exc:
                raise FaultNotInForce(
                    f"proxy {state.proxy!r} is not on Toxiproxy at {state.server}"
                ) from exc

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = ProxySetupState.parse(revert_state)
        if state.created is False:
            return
        async with _client(state.server) as client:
            try:
                proxy = await client.get_proxy(state.proxy)
            except ProxyNotFound:
                return  # never created, or already deleted
            if proxy.upstream != state.upstream:
                ctx.log.warning(
                    "toxiproxy.proxy_not_ours",
                    proxy=state.proxy,
                    upstream=proxy.upstream,
                    expected=state.upstream,
                )
                return
            try:
                await client.delete_proxy(state.proxy)
            except ProxyNotFound:
                return
            try:
                await client.get_proxy(state.proxy)
            except ProxyNotFound:
                ctx.log.info("toxiproxy.proxy_deleted", proxy=state.proxy)
                return
        raise InjectorError(f"proxy {state.proxy!r} is still on Toxiproxy after deleting it")

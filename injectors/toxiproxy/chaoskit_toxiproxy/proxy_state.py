"""``toxiproxy.proxy_state``: a probe reading whether a proxy is enabled and
which toxics it has."""

from __future__ import annotations

from typing import ClassVar

import anyio
from pydantic import Field

from chaoskit import (
    Expect,
    InjectorError,
    JsonValue,
    NumberThreshold,
    Observation,
    Params,
    PluginError,
    ProbeContext,
)
from chaoskit_toxiproxy._base import read_proxies
from chaoskit_toxiproxy._client import DEFAULT_TIMEOUT, Proxy, ProxyNotFound, ToxiproxyClient
from chaoskit_toxiproxy.proxies_target import ProxiesTarget
from chaoskit_toxiproxy.target import ProxyTarget

__all__ = ["ProxyStateExpect", "ProxyStateParams", "ProxyStateProbe"]


class ProxyStateParams(Params):
    target: str = Field(
        min_length=1, description="name of a toxiproxy.proxy or toxiproxy.proxies target"
    )


class ProxyStateExpect(Expect):
    enabled: bool | None = None
    """Whether the proxy must be enabled (true) or disabled (false)."""
    toxics: NumberThreshold | None = None
    """A bound on the number of toxics, like ``== 0``."""


class ProxyStateProbe:
    """Reads the proxy of a ``toxiproxy.proxy`` target: the value is
    ``{"enabled": bool, "toxics": [{"name", "type", "stream"}, ...]}``. For a
    ``toxiproxy.proxies`` target (a partition's set) it reads every selected
    proxy with one request, the value is ``{proxy name: that}``, and the sample
    is ok when every one of them holds. An unreachable server or a missing
    proxy is a failed observation."""

    name: ClassVar[str] = "toxiproxy.proxy_state"
    params: ClassVar[type[Params]] = ProxyStateParams
    expect: ClassVar[type[Expect]] = ProxyStateExpect

    async def observe(self, ctx: ProbeContext) -> Observation:
        target = ctx.target
        if not isinstance(target, ProxyTarget | ProxiesTarget):
            raise PluginError(
                f"probe {ctx.probe_name!r} ({self.name}) needs a toxiproxy.proxy or "
                f"toxiproxy.proxies target, got {type(target).__name__}"
            )
        expect = ctx.expect
        if not isinstance(expect, ProxyStateExpect):
            raise PluginError(f"probe {ctx.probe_name!r} got {type(expect).__name__} tolerances")
        # One client per server for the whole run, closed by the core at the end.
        client = await ctx.resources.get(
            f"toxiproxy.client:{target.server}",
            lambda: ToxiproxyClient(target.server, timeout=DEFAULT_TIMEOUT),
        )
        proxies: list[Proxy] | None = None
        try:
            with anyio.move_on_after(ctx.timeout):
                proxies = await read_proxies(client, target)
        except ProxyNotFound:
            assert isinstance(target, ProxyTarget)
            return Observation(
                ok=False, detail=f"proxy {target.name!r} not found on Toxiproxy at {target.server}"
            )
        except InjectorError as exc:
            return Observation(ok=False, detail=str(exc))
        if proxies is None:
            return Observation(
                ok=False,
                detail=f"Toxiproxy at {target.server} did not answer within {ctx.timeout:g}s",
            )
        problems = [
            f"{proxy.name}: {problem}" if isinstance(target, ProxiesTarget) else problem
            for proxy in proxies
            for problem in _problems(proxy, expect)
        ]
        value: JsonValue = (
            {proxy.name: _state(proxy) for proxy in proxies}
            if isinstance(target, ProxiesTarget)
            else _state(proxies[0])
        )
        return Observation(ok=not problems, value=value, detail="; ".join(problems))


def _state(proxy: Proxy) -> JsonValue:
    toxics: list[JsonValue] = [
        {"name": toxic.name, "type": toxic.type, "stream": toxic.stream} for toxic in proxy.toxics
    ]
    return {"enabled": proxy.enabled, "toxics": toxics}


def _problems(proxy: Proxy, expect: ProxyStateExpect) -> list[str]:
    problems = []
    if expect.enabled is not None and proxy.enabled != expect.enabled:
        problems.append(f"enabled is {proxy.enabled}, expected {expect.enabled}")
    if expect.toxics is not None and not expect.toxics.holds(len(proxy.toxics)):
        problems.append(f"{len(proxy.toxics)} toxics, expected {expect.toxics}")
    return problems
